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
from ganlab.game.losses import G_LOSSES, d_loss
from ganlab.training.compile import maybe_compiled
from ganlab.training.distributed import LOCAL, World, replicate
from ganlab.training.optim import apply_schedule
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
    if _has_batchnorm(D):
        return D(x), D(fake)
    logits = D(torch.cat([x, fake]))  # (2m,), or (2m / n,) for a D that packs n examples
    half = len(logits) // 2  # x and fake have m rows each
    return logits[:half], logits[half:]


def _has_batchnorm(module: nn.Module) -> bool:
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
    iteration = iteration_step(cfg, state, sync)  # alternating or simultaneous, maybe compiled
    epoch = steps_per_epoch(state.data.size, cfg.m, cfg.epoch_size)
    state.G.train()
    state.D.train()
    for step in range(state.step, cfg.steps):  # "for number of training iterations do"
        # learning rate decay and momentum ramp; lr_scale < 1 after an on_nan rollback
        apply_schedule(state.opt_d, cfg.d_optimizer, step, epoch, state.lr_scale)
        apply_schedule(state.opt_g, cfg.g_optimizer, step, epoch, state.lr_scale)
        # "for k steps do ... update the discriminator by ascending ..." then "update the
        # generator by descending ..." (alternating_step), or both at once (simultaneous_step)
        d_real, d_fake, loss_d, loss_g = iteration(state)
        state.step = step + 1
        if monitor is not None:  # progress bar, metrics row, samples, checkpoint: one call
            stats = StepStats(*(t.detach().float() for t in (loss_d, loss_g, d_real, d_fake)))
            monitor.after_step(state, stats)
    return state


Iteration = Callable[[TrainState], tuple[Tensor, Tensor, Tensor, Tensor]]


def iteration_step(cfg: Config, state: TrainState, sync: Replicas | None = None) -> Iteration:
    """One training iteration of cfg.update's kind, with its forwards compiled if cfg.compile.

    Args:
        cfg: the run's config: update, k, m, the losses, label smoothing and compile.
        state: its G and D.
        sync: G and D as the updates call them (`replicas`); default the modules themselves.
    Returns:
        state -> (d_real, d_fake, loss_d, loss_g): alternating_step or simultaneous_step with
        their forwards bound; logits (m,) of D's last update and the two scalar losses.
    """
    sync = sync or replicas(state.G, state.D)
    if cfg.update == "simultaneous":
        forward = simultaneous_pass(cfg, sync)
        return functools.partial(
            simultaneous_step, m=cfg.m, forward=forward, autocast=sync.autocast
        )
    d_forward, g_forward = forward_passes(cfg, state, sync)
    return functools.partial(
        alternating_step,
        k=cfg.k,
        m=cfg.m,
        d_forward=d_forward,
        g_forward=g_forward,
        autocast=sync.autocast,
    )


def alternating_step(
    state: TrainState,
    k: int,
    m: int,
    d_forward: Callable,
    g_forward: Callable,
    autocast: Callable = contextlib.nullcontext,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One iteration of Algorithm 1: k updates of D, then one of G.

    Returns:
        (d_real, d_fake, loss_d, loss_g): the last D update's logits (m,) each and loss, and
        G's loss.
    """
    for _ in range(k):  # "for k steps do"
        # m noise samples, m examples; "update the discriminator by ascending ..."
        d_real, d_fake, loss_d = update_discriminator(state, m, d_forward, autocast)
    # m noise samples; "update the generator by descending ..."
    loss_g = update_generator(state, m, g_forward, autocast)
    return d_real, d_fake, loss_d, loss_g


def update_discriminator(
    state: TrainState, m: int, d_forward: Callable, autocast: Callable = contextlib.nullcontext
) -> tuple[Tensor, Tensor, Tensor]:
    """One update of D, the body of Algorithm 1's inner loop. D ascends V(D, G) of eq. 1:

        sample z_1..z_m ~ p_g(z) and x_1..x_m ~ p_data(x); descend L_D = -V(D, G) on them

    Args:
        state: its prior and data source give the minibatches, opt_d takes the step.
        m: minibatch size (on several ranks each keeps its m / world rows;
            ganlab.training.distributed).
        d_forward: (x, z) -> (d_real, d_fake, loss), discriminator_forward as forward_passes
            binds it.
        autocast: the world's mixed-precision context for the forward pass.
    Returns:
        (d_real, d_fake, loss_d): logits (m,) each and the scalar loss descended.
    """
    z = state.prior.sample(m)  # m noise samples from p_g(z), (m, z_dim)
    x = state.data.sample(m)  # m examples from p_data(x), (m, *x_shape)
    with autocast():
        d_real, d_fake, loss_d = d_forward(x, z)
    descend(state.opt_d, loss_d)  # "update the discriminator by ascending ..."
    return d_real, d_fake, loss_d


def update_generator(
    state: TrainState, m: int, g_forward: Callable, autocast: Callable = contextlib.nullcontext
) -> Tensor:
    """One update of G, the last line of Algorithm 1's iteration, with D a fixed function:

        sample z_1..z_m ~ p_g(z); descend L_G(D(G(z)))  (eq. 1's G term, or a variant of it)

    Args:
        state: its prior gives the noise, opt_g takes the step; state.D is frozen meanwhile.
        m: minibatch size.
        g_forward: z -> loss, generator_forward as forward_passes binds it.
        autocast: the world's mixed-precision context for the forward pass.
    Returns:
        The scalar loss descended.
    """
    z = state.prior.sample(m)  # "sample minibatch of m noise samples", (m, z_dim)
    with frozen(state.D):
        with autocast():
            loss_g = g_forward(z)
        descend(state.opt_g, loss_g)  # "update the generator by descending ..."
    return loss_g


def loss_functions(cfg: Config) -> tuple[Callable, Callable]:
    """D's loss (-V with cfg's label smoothing) and G's loss (cfg.g_loss), logits -> scalar."""
    return functools.partial(d_loss, label_smoothing=cfg.label_smoothing), G_LOSSES[cfg.g_loss]


def forward_passes(
    cfg: Config, state: TrainState, sync: Replicas | None = None
) -> tuple[Callable, Callable]:
    """The two forward passes whose gradients the updates take, compiled when cfg.compile asks.

    Args:
        cfg: the run's config: the losses, label smoothing and compile.
        state: its G and D.
        sync: G and D as the updates call them (`replicas`); default the modules themselves.
    Returns:
        (d_forward, g_forward): (x, z) -> (d_real, d_fake, loss_d) and z -> loss_g.
    """
    G, D = state.G, state.D
    sync = sync or replicas(G, D)
    d_loss_fn, g_loss_fn = loss_functions(cfg)
    d_forward = functools.partial(discriminator_forward, G, sync.discriminate, d_loss_fn)
    g_forward = functools.partial(generator_forward, sync.G, D, g_loss_fn)
    return maybe_compiled(d_forward, cfg.compile), maybe_compiled(g_forward, cfg.compile)


def discriminator_forward(
    G: nn.Module, discriminate: nn.Module, d_loss_fn, x: Tensor, z: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """D's logits on data x and samples G(z), and D's loss -V(D, G) on them.

    D's update treats G(z) as fixed data, so G runs without recording a graph: the same
    numbers as G(z).detach(), without the autograd bookkeeping a detach throws away.
    Returns:
        (d_real, d_fake, loss): logits (m,) each and the scalar loss.
    """
    with torch.no_grad():
        fake = G(z)  # (m, *x_shape)
    d_real, d_fake = discriminate(x, fake)
    return d_real, d_fake, d_loss_fn(d_real, d_fake)


def generator_forward(G: nn.Module, D: nn.Module, g_loss_fn, z: Tensor) -> Tensor:
    """G's loss on D(G(z)) (D frozen by the caller), the scalar G's update descends."""
    return g_loss_fn(D(G(z)))


def simultaneous_pass(cfg: Config, sync: Replicas) -> Callable:
    """simultaneous_forward with sync's G and D and cfg's losses bound: (x, z) -> 4 tensors.

    With cfg.compile, G's forward and D's pass are compiled as two graphs, not one: a compiled
    backward computes the gradient of every input of its graph however few the caller asks for
    (AOTAutograd prunes nothing at run time), so as one graph D's backward call would run G's
    whole backward too. Apart, it skips G's graph: paper-mnist's MLPs on one CPU thread took
    72 ms a step, 83 ms as one graph.
    """
    d_loss_fn, g_loss_fn = loss_functions(cfg)
    d_pass = functools.partial(discriminator_losses, sync.discriminate, d_loss_fn, g_loss_fn)
    G = maybe_compiled(sync.G, cfg.compile)
    return functools.partial(simultaneous_forward, G, maybe_compiled(d_pass, cfg.compile))


def simultaneous_forward(
    G: Callable, d_pass: Callable, x: Tensor, z: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """D's logits on x and G(z) and both losses from that one D pass; G(z) keeps its graph.

    Returns:
        (d_real, d_fake, loss_d, loss_g): discriminator_losses of (x, G(z)).
    """
    return d_pass(x, G(z))  # fake keeps its graph back to G, (m, *x_shape)


def discriminator_losses(
    discriminate: nn.Module, d_loss_fn, g_loss_fn, x: Tensor, fake: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """D's logits on x and fake and both players' losses on them: L_D = -V(D, G), L_G(d_fake).

    Returns:
        (d_real, d_fake, loss_d, loss_g): logits (m,) each and the two scalar losses.
    """
    d_real, d_fake = discriminate(x, fake)
    return d_real, d_fake, d_loss_fn(d_real, d_fake), g_loss_fn(d_fake)


def simultaneous_step(
    state: TrainState, m: int, forward: Callable, autocast: Callable = contextlib.nullcontext
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One update of D and G from the same minibatch and the same D forward pass.

        theta_d <- theta_d - lr grad_d L_D(x, G(z)),   theta_g <- theta_g - lr grad_g L_G(G(z))

    both gradients taken before either network moves, as the paper's pylearn2 code
    (AdversaryCost2.get_gradients: T.grad(d_obj, d_params), T.grad(g_obj, g_params)).

    Args:
        state: its prior and data source give the minibatches, opt_d and opt_g take the steps.
        m: minibatch size.
        forward: (x, z) -> (d_real, d_fake, loss_d, loss_g), simultaneous_forward as
            iteration_step binds it.
        autocast: the world's mixed-precision context for the forward pass.
    Returns:
        (d_real, d_fake, loss_d, loss_g): logits (m,) and the two scalar losses.
    """
    z = state.prior.sample(m)  # (m, z_dim)
    x = state.data.sample(m)  # (m, *x_shape)
    with autocast():
        d_real, d_fake, loss_d, loss_g = forward(x, z)
    d_params = [p for p in state.D.parameters() if p.requires_grad]
    g_params = [p for p in state.G.parameters() if p.requires_grad]
    state.opt_d.zero_grad(set_to_none=True)
    state.opt_g.zero_grad(set_to_none=True)
    # backward(inputs=...) takes each loss's gradient for one network only, like autograd.grad,
    # but fills .grad through the hooks by which DistributedDataParallel averages over ranks.
    loss_d.backward(inputs=d_params, retain_graph=True)
    loss_g.backward(inputs=g_params)
    state.opt_d.step()
    state.opt_g.step()
    return d_real, d_fake, loss_d, loss_g
