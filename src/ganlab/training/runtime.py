"""Process-wide CPU settings that make training faster without changing what it computes.

Measured on the 2-core reference machine (../shared/PERF_NOTES.md, benchmarks/README.md):
glibc returning large freed buffers to the OS made every step fault them back in (20-30% of an
eager MLP step), and denormal floats from saturated sigmoids slow matmuls by up to ~70x.

The intra-op thread count is chosen from the work of one training iteration (`run_threads`):
with one other busy process on the 2 cores, the paper's MLPs at batch 32 fell from 38 steps/s
on 1 thread to 1.9 on torch's default 2 threads (PERF_NOTES.md), while alone the second thread
gains only 1.0-1.3x up to batch 128 (benchmarks/README.md). Small nets therefore train on one
thread; `threads:` in the config, or OMP_NUM_THREADS / MKL_NUM_THREADS in the environment, win.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganlab.config import Config
from ganlab.training.state import TrainState, eval_mode

# glibc mallopt parameters (malloc.h): M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc to keep freed buffers of up to 32 MiB in the heap instead of unmapping them.

    A training step frees and reallocates the same activation buffers every iteration; glibc's
    default hands blocks above 128 KiB back to the OS and takes page faults to get them again.
    This is the runtime form of MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_, done here
    because those environment variables must be set before the process starts. It changes
    where memory lives, never a number. Returns False where there is no glibc (nothing done).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024) and mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    )


def configure_cpu(threads: int | None = None) -> None:
    """Threads (when given), flushing of denormals to zero, and the allocator setting above.

    Denormals (|x| < 1.2e-38) are flushed to zero: every value a GAN's loss depends on is far
    above that, and a saturated sigmoid's tiny gradients otherwise fall into the slow path.
    """
    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    keep_freed_memory()


# Below this many GFLOP (matrix products and convolutions, forward and backward) per training
# iteration, one thread; at or above it, torch's default (one per core, at most the cores this
# process may run on). Measured with benchmarks/speed.py --quick, twice, and the images preset,
# on a quiet 2-core machine, 2026-12-06 (benchmarks/README.md, "Contention"):
# - beside one busy process a second thread is a cliff at every size measured: paper MLPs
#   batch 32 (1.3 GFLOP) 6-12 steps/s against 47 on one thread, batch 512 (~20 GFLOP) 1.5-2.0
#   against 5.2, the images preset's DCGAN (11.8 GFLOP) 1.3 against 5.6: each parallel region
#   waits for a worker the scheduler has put behind the other process;
# - alone, the second thread gains 1.6-1.8x at every size (paper MLPs 1.7x at batch 32, the
#   DCGAN 1.8x), the demo's ring8 1.1x.
# No size escapes the trade, so the line is drawn where the time at stake is: the toy and MLP
# presets (ring8 0.2, grid25 0.4, cgan-mnist 2.8, paper-mnist 4.0) take one thread and never
# fall off the cliff; the images recipe (11.8) keeps both threads, which is what brings its
# 5,000 steps inside 10 minutes alone (9.8 against 5.5 steps/s), and warns when the machine is
# busy (busy_warning). The choice depends on the config and the machine only, never on the
# load: the thread count changes the float rounding, and a seed must give the same numbers.
THREADS_MIN_GFLOP = 8.0

# Environment variables that set torch's thread count when the process starts; a user who sets
# one has chosen, and ganlab keeps the count torch took from it.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


class ThreadChoice(NamedTuple):
    """The intra-op thread count a run uses and why (meta.json's threads, threads_reason)."""

    threads: int
    reason: str


def choose_threads(
    gflop_per_step: float,
    cores: int,
    torch_default: int,
    config_threads: int | None = None,
    env: str | None = None,
) -> ThreadChoice:
    """The thread count for a training iteration of `gflop_per_step`, first rule that applies:

    1. `threads:` in the config (`config_threads`): that count.
    2. an environment setting (`env`, e.g. "OMP_NUM_THREADS=4"): torch's count, which
       followed it when the process started (`torch_default`): nothing changed.
    3. gflop_per_step < THREADS_MIN_GFLOP: 1 (changed from torch's default).
    4. otherwise torch's default kept, capped at the `cores` this process may run on (a
       container or taskset can allow fewer cores than torch counts).
    Args:
        gflop_per_step: matrix-product work of one iteration (`step_gflop`), in GFLOP.
        cores: CPUs this process may run on (os.sched_getaffinity).
        torch_default: torch's thread count before ganlab sets one.
    Returns:
        ThreadChoice(threads, reason): reason starts with config, env or auto.
    """
    if config_threads:
        return ThreadChoice(config_threads, "config: threads")
    if env:
        return ThreadChoice(torch_default, f"env: {env}")
    if gflop_per_step < THREADS_MIN_GFLOP:
        return ThreadChoice(
            1, f"auto: {gflop_per_step:.2g} GFLOP per step < {THREADS_MIN_GFLOP:g} GFLOP"
        )
    threads = max(1, min(cores, torch_default))
    return ThreadChoice(
        threads,
        f"auto: {gflop_per_step:.3g} GFLOP per step >= {THREADS_MIN_GFLOP:g} GFLOP; "
        f"torch's default {torch_default} on {cores} cores",
    )


def forward_flops(module: nn.Module, *inputs) -> float:
    """FLOPs of the matrix products and convolutions of one forward pass (eval mode, no
    gradient: batch statistics and dropout streams are left as they were)."""
    with torch.no_grad(), eval_mode(module), FlopCounterMode(display=False) as counter:
        module(*inputs)
    return float(counter.get_total_flops())


def step_gflop(cfg: Config, state: TrainState) -> float:
    """GFLOP of the matrix products of one iteration of Algorithm 1, estimated from one
    forward pass of G and of D on a few rows (counted by torch's FlopCounterMode from the
    layers' shapes, convolutions included; nothing trained, no random stream touched).

    With F_G, F_D the forward FLOPs per row and a backward pass ~2 forwards:
        k D updates:  G forward on m rows, D forward and backward on 2m:  k (F_G + 6 F_D) m
        one G update: G forward and backward, D forward and its input gradient:  (3 F_G + 2 F_D) m
    For the paper's MLPs at m = 100 this gives 3.97 GFLOP against the 3.57 speed.py records
    product by product (its simultaneous update, 3.07, is lighter): the order of magnitude is
    what the choice needs.
    """
    rows = 2 * cfg.discriminator.pack  # a packed D takes whole packs
    G, D = state.G, state.D
    device = next(G.parameters()).device
    z = torch.zeros(rows, cfg.noise.dim, device=device)  # (rows, z_dim): no noise drawn
    f_g = forward_flops(G, z)
    with torch.no_grad(), eval_mode(G):
        fake = G(z)  # (rows, *x_shape)
    labels = (torch.zeros(rows, dtype=torch.long, device=device),) if cfg.conditional_run else ()
    f_d = forward_flops(D, fake, *labels)
    per_row_g, per_row_d = f_g / rows, f_d / rows
    flops = cfg.m * (cfg.k * (per_row_g + 6 * per_row_d) + 3 * per_row_g + 2 * per_row_d)
    return flops / 1e9


def available_cores() -> int:
    """CPUs this process may run on (its affinity mask; os.cpu_count where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_env() -> str | None:
    """'NAME=value' of the first thread variable the user set, or None."""
    for name in THREAD_ENV:
        value = os.environ.get(name, "").strip()
        if value:
            return f"{name}={value}"
    return None


def busy_warning(threads: int, cores: int | None = None, load: float | None = None) -> str | None:
    """A line for a run about to use `threads` > 1 on a machine already busy, else None.

    Busy: the 1-minute load average (os.getloadavg) is at least 0.7, about one other process
    running, while the run's threads would take every core (THREADS_MIN_GFLOP: then each
    parallel region waits behind the other process, 4-8x slower measured). Only a warning:
    the thread count stays a function of the config and the machine, never of the load.
    """
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not Unix
            return None
    if threads < 2 or threads < cores or load < 0.7:
        return None
    return (
        f"the machine is busy (load average {load:.1f} on {cores} cores): this run's {threads} "
        f"torch threads can run 4-8x slower beside another process; --set threads=1 keeps it "
        f"steady there"
    )


def oversubscribed_warning(threads: int, reason: str, cores: int | None = None) -> str | None:
    """A line for a run set to use more torch threads than the cores it may run on, else None.

    Each parallel region then waits for workers the scheduler time-slices on the same cores,
    the cliff busy_warning describes brought on by the run itself (torch's default never does
    this: run_threads caps it at the cores). `reason` is ThreadChoice.reason: what set it."""
    cores = available_cores() if cores is None else cores
    if threads <= cores:
        return None
    where = "--set threads" if reason.startswith("config") else reason.removeprefix("env: ")
    return (
        f"{threads} torch threads ({where}) on the {cores} cores this process may use: parallel "
        f"work waits for time-sliced threads and runs slower; use at most {cores}"
    )


def run_threads(cfg: Config, state: TrainState) -> ThreadChoice:
    """The thread count a run on `state` uses (choose_threads's rules, read off this process:
    the config, the environment, the cores, torch's current count, the nets' work). On a GPU
    the CPU does little of the work: torch's default is kept."""
    default = torch.get_num_threads()
    env = thread_env()
    if cfg.threads or env:
        return choose_threads(0.0, available_cores(), default, cfg.threads, env)
    if next(state.G.parameters()).device.type != "cpu":
        return ThreadChoice(default, "auto: training on a GPU, torch's default kept")
    return choose_threads(step_gflop(cfg, state), available_cores(), default)
