"""Algorithm 1 of Goodfellow et al. (2014): minibatch stochastic gradient training of a GAN.

    for number of training iterations do
        for k steps do
            sample m noise samples {z_1..z_m} from p_g(z)
            sample m examples {x_1..x_m} from p_data(x)
            update D by ascending its stochastic gradient of
                1/m sum_i [log D(x_i) + log(1 - D(G(z_i)))]
        end for
        sample m noise samples {z_1..z_m} from p_g(z)
        update G by descending its stochastic gradient of 1/m sum_i log(1 - D(G(z_i)))
    end for

The generator's objective is pluggable (minimax, non-saturating, maximum likelihood), the
updates use any gradient-based rule (the paper: momentum), and one "training iteration" is
one step of the run: `steps` counts generator updates.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor, nn

from ganlab.checkpoint import TrainState
from ganlab.config import Config
from ganlab.data.sources import steps_per_epoch
from ganlab.losses import G_LOSSES, d_loss
from ganlab.optim import apply_schedule


@dataclass
class StepStats:
    """What one iteration computed, kept as tensors: reading them is the monitor's choice."""

    d_loss: Tensor  # () the discriminator's loss on its last minibatch
    g_loss: Tensor  # () the generator's loss
    d_real: Tensor  # (m,) logits of D on the last data minibatch
    d_fake: Tensor  # (m,) logits of D on the last generated minibatch of the D step


class Monitor(Protocol):
    """Bookkeeping around the loop: progress, metrics, samples, checkpoints."""

    def after_step(self, state: TrainState, stats: StepStats) -> None: ...


def descend(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    """One gradient step on `loss` for the optimiser's parameters."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@contextmanager
def frozen(module: nn.Module):
    """No gradients for `module`'s parameters inside the block.

    During G's update D is a fixed function: its parameter gradients would be computed and
    thrown away (D's optimiser zeroes them before its next step), so skipping them changes no
    number and saves a third of D's backward pass.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)


def algorithm1(cfg: Config, state: TrainState, monitor: Monitor | None = None) -> TrainState:
    """Run Algorithm 1 from `state.step` up to `cfg.steps` iterations, updating `state` in place.

    Args:
        cfg: the run's config (k, m, losses, optimiser schedules).
        state: G, D, their optimisers, the noise prior and data source, and the step.
        monitor: called once after every iteration (logging, samples, checkpoints).
    Returns:
        The same state, advanced to cfg.steps.
    """
    G, D, opt_g, opt_d = state.G, state.D, state.opt_g, state.opt_d
    d_loss_fn = functools.partial(d_loss, label_smoothing=cfg.label_smoothing)
    g_loss_fn = G_LOSSES[cfg.g_loss]
    epoch = steps_per_epoch(state.data.size, cfg.m, cfg.epoch_size)
    G.train()
    D.train()
    for step in range(state.step, cfg.steps):  # "for number of training iterations do"
        apply_schedule(opt_d, cfg.d_optimizer, step, epoch)  # learning rate decay, momentum ramp
        apply_schedule(opt_g, cfg.g_optimizer, step, epoch)
        for _ in range(cfg.k):  # "for k steps do"
            z = state.prior.sample(cfg.m)  # m noise samples from p_g(z), (m, z_dim)
            x = state.data.sample(cfg.m)  # m examples from p_data(x), (m, *x_shape)
            d_real, d_fake = D(x), D(G(z).detach())  # logits, (m,) each
            loss_d = d_loss_fn(d_real, d_fake)  # -V(D, G): descending it ascends V
            descend(opt_d, loss_d)  # "update the discriminator by ascending ..."
        z = state.prior.sample(cfg.m)  # "sample minibatch of m noise samples", (m, z_dim)
        with frozen(D):
            loss_g = g_loss_fn(D(G(z)))
            descend(opt_g, loss_g)  # "update the generator by descending ..."
        state.step = step + 1
        if monitor is not None:  # progress bar, metrics row, samples, checkpoint: one call
            stats = StepStats(loss_d.detach(), loss_g.detach(), d_real.detach(), d_fake.detach())
            monitor.after_step(state, stats)
    return state
