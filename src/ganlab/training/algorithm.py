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

`update: simultaneous` is the variant of the paper's published pylearn2 code instead: one
minibatch of m data and m noise, both networks' gradients taken at the same parameters (D's of
its loss, G's of its loss, through the same dropout masks), then both updated at once.

Over several processes (ganlab.training.distributed) the same loop runs on every rank with
m / world rows of each minibatch; the forwards whose backward updates a network go through
`Replicas`, G and D wrapped in DistributedDataParallel, which average the gradients over the
ranks.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch
from torch import Tensor, nn

from ganlab.config import Config
from ganlab.data.sources import steps_per_epoch
from ganlab.game.objectives import Objective, objective
from ganlab.training.compile import maybe_compiled
from ganlab.training.compiled_step import CompiledIteration, compiled_iteration
from ganlab.training.distributed import LOCAL, World, replicate
from ganlab.training.ema import averaging
from ganlab.training.gemm import eager_products, run_gemm
from ganlab.training.optim import apply_schedule
from ganlab.training.regularization import Regularization, regularization
from ganlab.training.simultaneous import simultaneous_pass, simultaneous_step
from ganlab.training.state import TrainState


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


def grad_norm(module: nn.Module) -> float:
    """Euclidean norm of all parameter gradients of `module` (0 when none is present).

    After an iteration of algorithm1, G's .grad still holds the gradient of its last step's
    loss: descend() zeroes gradients before backward, not after the optimiser step.
    """
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0


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


def discriminate(D: nn.Module, x: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """D's logits on a data minibatch and a generated one, (m,) each.

    Without BatchNorm every row of D's output depends on that row alone (dropout masks are
    drawn per element), so one forward pass over the concatenated 2m rows computes exactly the
    two separate passes with larger matrix products: the same function, faster. BatchNorm
    would mix the two batches' statistics, so such a D sees them separately.
    """
    if has_batchnorm(D):
        return D(x), D(fake)
    logits = D(torch.cat([x, fake]))  # (2m,), or (2m / n,) for a D that packs n examples
    half = len(logits) // 2  # x and fake have m rows each
    return logits[:half], logits[half:]


def has_batchnorm(module: nn.Module) -> bool:
    """Whether a BatchNorm layer mixes the rows of a minibatch in `module`."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class Discriminate(nn.Module):
    """`discriminate` as a module: D's logits on (x, fake) from one forward call.

    DistributedDataParallel expects one forward per backward; a D with BatchNorm makes two
    passes, which this wraps into one call.
    """

    def __init__(self, D: nn.Module):
        super().__init__()
        self.D = D

    def forward(self, x: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        return discriminate(self.D, x, fake)


class Replicas(NamedTuple):
    """The forwards whose backward updates a network, as the loop calls them.

    In one process: G and Discriminate(D) themselves. Over several ranks each is wrapped in
    DistributedDataParallel, whose backward averages the gradient over the ranks: with m / world
    rows per rank, the gradient of the mean loss over the global minibatch of m. Forwards that
    update no network call the plain modules and synchronise nothing: G in D's step (its output
    is detached) and D in G's step (frozen).
    """

    G: nn.Module  # z -> x, (m, z_dim) -> (m, *x_shape)
    discriminate: nn.Module  # (x, fake) -> (d_real, d_fake) logits, (m,) each
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext


def replicas(G: nn.Module, D: nn.Module, world: World = LOCAL) -> Replicas:
    """G and D's forward for Algorithm 1 on this world: the one place DDP wraps them."""
    return Replicas(replicate(G, world), replicate(Discriminate(D), world), world.autocast)


def algorithm1(
    cfg: Config,
    state: TrainState,
    monitor: Monitor | None = None,
    sync: Replicas | None = None,
) -> TrainState:
    """Run Algorithm 1 from `state.step` up to `cfg.steps` iterations, updating `state` in place.

    Args:
        cfg: the run's config (k, m, losses, optimiser schedules).
        state: G, D, their optimisers, the noise prior and data source, and the step.
        monitor: called once after every iteration (logging, samples, checkpoints).
        sync: G and D as the updates call them (`replicas`); default the modules themselves.
    Returns:
        The same state, advanced to cfg.steps.
    """
    sync = sync or replicas(state.G, state.D)
    state.G.train()  # (before the iteration is built: compile: step keys its graphs on modes)
    state.D.train()
    reg = regularization(cfg)  # R1, R2, gradient penalty, clipping, instance noise; or None
    iteration = iteration_step(cfg, state, sync, reg)  # alternating or simultaneous
    average = averaging(cfg)  # the moving average of G's weights, or None
    epoch = steps_per_epoch(state.data.size, cfg.m, cfg.epoch_size)
    # eager layers multiply by the run's library (training.gemm); compiled graphs by their own
    gemm = "mkl" if isinstance(iteration, CompiledIteration) else products_library(cfg, state)
    with eager_products(gemm, state.G, state.D):
        for step in range(state.step, cfg.steps):  # "for number of training iterations do"
            # learning rate decay and momentum ramp; lr_scale < 1 after an on_nan rollback
            apply_schedule(state.opt_d, cfg.d_optimizer, step, epoch, state.lr_scale)
            apply_schedule(state.opt_g, cfg.g_optimizer, step, epoch, state.lr_scale)
            if reg is not None:
                reg.at_step(step)  # instance noise's decay
            # "for k steps do ... update the discriminator by ascending ..." then "update the
            # generator by descending ..." (alternating_step), or both at once
            d_real, d_fake, loss_d, loss_g = iteration(state)
            state.step = step + 1
            if average is not None:
                average(state)  # theta_ema <- beta theta_ema + (1 - beta) theta_G
            if monitor is not None:  # progress bar, metrics row, samples, checkpoint: one call
                stats = StepStats(*(t.detach().float() for t in (loss_d, loss_g, d_real, d_fake)))
                monitor.after_step(state, stats)
    return state


def products_library(cfg: Config, state: TrainState) -> str:
    """The library of the run's eager fp32 CPU products, "mkl" or "onednn" (training.gemm)."""
    return run_gemm(cfg, next(state.G.parameters()).device).gemm


Iteration = Callable[[TrainState], tuple[Tensor, Tensor, Tensor, Tensor]]


def iteration_step(
    cfg: Config,
    state: TrainState,
    sync: Replicas | None = None,
    reg: Regularization | None = None,
) -> Iteration:
    """One training iteration of cfg.update's kind: eager, its forwards compiled (compile:
    forwards) or each update compiled whole (compile: step, training.compiled_step).

    Args:
        cfg: the run's config: update, k, m, the losses, label smoothing and compile.
        state: its G and D.
        sync: G and D as the updates call them (`replicas`); default the modules themselves.
        reg: the config's regularization (training.regularization), None for none.
    Returns:
        state -> (d_real, d_fake, loss_d, loss_g): alternating_step or simultaneous_step with
        their forwards bound; logits (m,) of D's last update and the two scalar losses.
    """
    sync = sync or replicas(state.G, state.D)
    if cfg.compile == "step":  # each update one compiled graph, where it can be
        iteration = compiled_iteration(cfg, state, sync, reg)
        if iteration is not None:
            return iteration
    if cfg.conditional_run:  # G(z, y) and D(x, y): the labelled updates (one process)
        from ganlab.training.conditional import conditional_iteration

        return conditional_iteration(cfg, state, reg, sync.autocast)
    if cfg.update == "simultaneous":
        forward = simultaneous_pass(loss_functions(cfg), cfg.compile, state.D, sync, reg)
        return functools.partial(
            simultaneous_step, m=cfg.m, forward=forward, autocast=sync.autocast, reg=reg
        )
    forwards = forward_passes(cfg, state, sync, reg)
    return functools.partial(
        alternating_step, k=cfg.k, m=cfg.m, forwards=forwards, autocast=sync.autocast
    )


def alternating_step(
    state: TrainState,
    k: int,
    m: int,
    forwards: Forwards,
    autocast: Callable = contextlib.nullcontext,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One iteration of Algorithm 1: k updates of D, then one of G.

    Returns:
        (d_real, d_fake, loss_d, loss_g): the last D update's logits (m,) each and loss, and
        G's loss.
    """
    for _ in range(k):  # "for k steps do"
        # m noise samples, m examples; "update the discriminator by ascending ..."
        d_real, d_fake, loss_d = update_discriminator(state, m, forwards, autocast)
    # m noise samples; "update the generator by descending ..."
    loss_g = update_generator(state, m, forwards, autocast)
    return d_real, d_fake, loss_d, loss_g


def update_discriminator(
    state: TrainState, m: int, forwards: Forwards, autocast: Callable = contextlib.nullcontext
) -> tuple[Tensor, Tensor, Tensor]:
    """One update of D, the body of Algorithm 1's inner loop. D ascends V(D, G) of eq. 1:

        sample z_1..z_m ~ p_g(z) and x_1..x_m ~ p_data(x); descend L_D = -V(D, G) on them

    Args:
        state: its prior and data source give the minibatches, opt_d takes the step.
        m: minibatch size (on several ranks each keeps its m / world rows;
            ganlab.training.distributed).
        forwards: the two forwards as forward_passes binds them; D's is (x, z) -> (d_real,
            d_fake, loss), discriminator_forward.
        autocast: the world's mixed-precision context for the forward pass.
    Returns:
        (d_real, d_fake, loss_d): logits (m,) each and the scalar loss descended.
    """
    z = state.prior.sample(m)  # m noise samples from p_g(z), (m, z_dim)
    x = state.data.sample(m)  # m examples from p_data(x), (m, *x_shape)
    with autocast():
        d_real, d_fake, loss_d = forwards.d(x, z)
    descend(state.opt_d, loss_d)  # "update the discriminator by ascending ..."
    if forwards.regularization is not None:
        forwards.regularization.after_d_step(state.D)  # WGAN's weight clipping
    return d_real, d_fake, loss_d


def update_generator(
    state: TrainState, m: int, forwards: Forwards, autocast: Callable = contextlib.nullcontext
) -> Tensor:
    """One update of G, the last line of Algorithm 1's iteration, with D a fixed function:

        sample z_1..z_m ~ p_g(z); descend L_G(D(G(z)))  (eq. 1's G term, or a variant of it)

    Args:
        state: its prior gives the noise, opt_g takes the step; state.D is frozen meanwhile.
        m: minibatch size.
        forwards: the two forwards as forward_passes binds them; G's is (z, x) -> loss,
            generator_forward (x: m examples for a G loss that pairs them, else None).
        autocast: the world's mixed-precision context for the forward pass.
    Returns:
        The scalar loss descended.
    """
    z = state.prior.sample(m)  # "sample minibatch of m noise samples", (m, z_dim)
    # the relativistic G loss compares each G(z_i) with an example x_i; the others need none
    x = state.data.sample(m) if forwards.g_needs_real else None
    with frozen(state.D):
        with autocast():
            loss_g = forwards.g(z, x)
        descend(state.opt_g, loss_g)  # "update the generator by descending ..."
    return loss_g


def loss_functions(cfg: Config) -> Objective:
    """The game of cfg.objective: D's loss, G's loss, the value logged (game.objectives)."""
    ls = cfg.least_squares
    return objective(cfg.objective, cfg.label_smoothing, ls.a, ls.b, ls.c)


class Forwards(NamedTuple):
    """The two forward passes whose gradients the updates take, and what they need besides."""

    d: Callable  # (x, z) -> (d_real, d_fake, loss_d)
    g: Callable  # (z, x or None) -> loss_g
    g_needs_real: bool  # G's loss pairs each G(z_i) with an example x_i (relativistic)
    regularization: Regularization | None  # D's penalties, clipping, instance noise


def forward_passes(
    cfg: Config,
    state: TrainState,
    sync: Replicas | None = None,
    reg: Regularization | None = None,
) -> Forwards:
    """The two forward passes whose gradients the updates take, compiled when cfg.compile asks.

    Args:
        cfg: the run's config: the objective, label smoothing and compile.
        state: its G and D.
        sync: G and D as the updates call them (`replicas`); default the modules themselves.
        reg: the config's regularization (training.regularization), None for none.
    Returns:
        Forwards: d (x, z) -> (d_real, d_fake, loss_d) and g (z, x) -> loss_g.
    """
    G, D = state.G, state.D
    sync = sync or replicas(G, D)
    game = loss_functions(cfg)
    d_forward = functools.partial(discriminator_forward, G, sync.discriminate, game.d_loss)
    g_forward = functools.partial(generator_forward, sync.G, D, game.g_loss)
    if reg is not None:
        d_forward = functools.partial(d_forward, D=D, reg=reg)
        g_forward = functools.partial(g_forward, reg=reg)
    return Forwards(
        maybe_compiled(d_forward, cfg.compile),
        maybe_compiled(g_forward, cfg.compile),
        game.g_needs_real,
        reg,
    )


def discriminator_forward(
    G: nn.Module,
    discriminate: nn.Module,
    d_loss_fn,
    x: Tensor,
    z: Tensor,
    D: nn.Module | None = None,
    reg: Regularization | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """D's outputs on data x and samples G(z), and D's loss on them (-V(D, G) for eq. 1).

    D's update treats G(z) as fixed data, so G runs without recording a graph: the same
    numbers as G(z).detach(), without the autograd bookkeeping a detach throws away.
    With reg: instance noise on both inputs, and the gradient penalties added to the loss
    (D: the discriminator itself, for the interpolates' pass).
    Returns:
        (d_real, d_fake, loss): D's outputs (m,) each and the scalar loss.
    """
    with torch.no_grad():
        fake = G(z)  # (m, *x_shape)
    if reg is None:
        d_real, d_fake = discriminate(x, fake)
        return d_real, d_fake, d_loss_fn(d_real, d_fake)
    x, fake = reg.d_inputs(x, fake)
    d_real, d_fake = discriminate(x, fake)
    return d_real, d_fake, d_loss_fn(d_real, d_fake) + reg.penalty(D, x, fake, d_real, d_fake)


def generator_forward(
    G: nn.Module,
    D: nn.Module,
    g_loss_fn,
    z: Tensor,
    x: Tensor | None = None,
    reg: Regularization | None = None,
) -> Tensor:
    """G's loss on D(G(z)) (D frozen by the caller), the scalar G's update descends.

    x: examples paired with the samples, for a G loss that compares them (relativistic).
    reg: instance noise on what D sees, as in D's update; MSGAN's term on G's loss.
    """
    fake = G(z)  # (m, *x_shape)
    if reg is None:
        return g_loss_fn(D(fake), D(x) if x is not None else None)
    spread = reg.g_penalty(z, fake)  # 0.0 unless mode seeking
    fake = reg.noisy(fake)
    x = reg.noisy(x) if x is not None else None
    return g_loss_fn(D(fake), D(x) if x is not None else None) + spread
