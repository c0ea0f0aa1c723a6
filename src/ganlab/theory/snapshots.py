"""Watching real training runs: a monitor that records snapshots, and what the snapshots show.

The theory items that train a GAN (figure1, saturation, mode_collapse) run the library's own
Algorithm 1 on a config, with a `Recorder` as the monitor: after chosen steps it calls a
function of the training state and keeps what it returns (samples, D on a grid, gradient
norms). Nothing here changes training; it only reads G, D and their gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ganlab.config import Config
from ganlab.training.algorithm import StepStats, algorithm1, grad_norm  # noqa: F401 (re-exported)
from ganlab.training.state import TrainState, build_state, seeded_rng

Probe = Callable[[TrainState, StepStats | None], Any]


class Recorder:
    """A Monitor for algorithm1 that keeps ``probe(state, stats)`` after the chosen steps.

    Args:
        probe: called with the state (G, D, step, ...) and the iteration's StepStats (None
            for the snapshot before training); its return value is kept.
        steps: the steps (iterations done, 1-based as state.step) to record; None: every step.
    Attributes:
        steps, values: the recorded steps and the probe's values, in order.
    """

    def __init__(self, probe: Probe, steps: Container[int] | None = None):
        self.probe, self.wanted = probe, steps
        self.steps: list[int] = []
        self.values: list[Any] = []

    def record(self, state: TrainState, stats: StepStats | None = None) -> None:
        self.steps.append(state.step)
        self.values.append(self.probe(state, stats))

    def after_step(self, state: TrainState, stats: StepStats) -> None:
        if self.wanted is None or state.step in self.wanted:
            self.record(state, stats)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (the caller's setting comes back after).

    The toy nets here (1-2 inputs, <= 128 units) train ~20x slower on two threads when another
    process keeps a core busy, as torch's worker threads wait on a descheduled peer
    (benchmarks/README.md); one thread is never slower for them.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train_recorded(
    phases: Sequence[Config], recorder: Recorder, record_start: bool = False
) -> TrainState:
    """Algorithm 1 on a fresh state, run through one or more configs in turn, recorded.

    Each phase continues the same state up to its own `steps` (so phases must have increasing
    `steps`); the first phase's seed builds the state. A phase can differ from the next only in
    what algorithm1 reads each step (k, losses, schedules): e.g. a first phase of one iteration
    with k = 100 gives D a head start before Algorithm 1 with k = 1 continues.

    Args:
        phases: the configs, in order; phases[0] builds G, D, optimisers, noise and data.
        recorder: the monitor that records snapshots.
        record_start: also record the state before the first iteration (step 0, stats None).
    Returns:
        The trained state.
    """
    with one_thread(), seeded_rng(phases[0]):
        state = build_state(phases[0])
        if record_start:
            recorder.record(state)
        for cfg in phases:
            algorithm1(cfg, state, recorder)
    return state


@contextmanager
def evaluating(*modules: nn.Module) -> Iterator[None]:
    """Modules in eval mode inside the block, no gradients; their modes come back after."""
    modes = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, mode in zip(modules, modes, strict=True):
            m.train(mode)


def uniform_grid_noise(n: int, scale: float) -> Tensor:
    """n noise values z evenly spaced on [-scale, scale], (n, 1): the quantiles of U(-s, s).

    G(z) on this grid is a sample of p_g without Monte Carlo noise, so a density estimate of
    it changes between snapshots only because G did.
    """
    return torch.linspace(-scale, scale, n)[:, None]


def kde_log_density(samples: np.ndarray, x: np.ndarray) -> np.ndarray:
    """log p_g(x) by a Gaussian kernel density estimate of 1-D samples (Scott's bandwidth).

        p_g(x) ~ 1/n sum_i N(x; x_i, h^2),  h = std(x_i) n^(-1/5)

    Args:
        samples: (n,) points G(z_i).
        x: (k,) where to evaluate.
    Returns:
        (k,) log densities (float64; -inf where the estimate underflows).
    """
    from scipy.stats import gaussian_kde

    return gaussian_kde(np.asarray(samples, dtype=np.float64)).logpdf(np.asarray(x, np.float64))


__all__ = [
    "Recorder",
    "evaluating",
    "grad_norm",
    "kde_log_density",
    "one_thread",
    "train_recorded",
    "uniform_grid_noise",
]
