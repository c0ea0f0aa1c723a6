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

Over several processes (ganlab.distributed) the same loop runs on every rank with m / world rows
of each minibatch; the forwards whose backward updates a network go through `Replicas`, G and D
wrapped in DistributedDataParallel, which average the gradients over the ranks.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch
from torch import Tensor, nn

from ganlab.checkpoint import TrainState
from ganlab.config import Config
from ganlab.data.sources import steps_per_epoch
from ganlab.distributed import LOCAL, World, replicate
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
    G, D, opt_g, opt_d = state.G, state.D, state.opt_g, state.opt_d
    sync = sync or replicas(G, D)
    d_loss_fn, g_loss_fn = loss_functions(cfg)
    d_forward, g_forward = forward_passes(cfg, state, sync)
    epoch = steps_per_epoch(state.data.size, cfg.m, cfg.epoch_size)
    G.train()
    D.train()
    for step in range(state.step, cfg.steps):  # "for number of training iterations do"
        # learning rate decay and momentum ramp; lr_scale < 1 after an on_nan rollback
        apply_schedule(opt_d, cfg.d_optimizer, step, epoch, state.lr_scale)
        apply_schedule(opt_g, cfg.g_optimizer, step, epoch, state.lr_scale)
        if cfg.update == "simultaneous":
            d_real, d_fake, loss_d, loss_g = simultaneous_step(
                cfg, state, sync, d_loss_fn, g_loss_fn
            )
        else:
            for _ in range(cfg.k):  # "for k steps do"
                # m noise samples, m examples; "update the discriminator by ascending ..."
                d_real, d_fake, loss_d = update_discriminator(
                    state, cfg.m, d_forward, sync.autocast
                )
            # m noise samples; "update the generator by descending ..."
            loss_g = update_generator(state, cfg.m, g_forward, sync.autocast)
        state.step = step + 1
        if monitor is not None:  # progress bar, metrics row, samples, checkpoint: one call
            stats = StepStats(*(t.detach().float() for t in (loss_d, loss_g, d_real, d_fake)))
            monitor.after_step(state, stats)
    return state


def update_discriminator(
    state: TrainState, m: int, d_forward: Callable, autocast: Callable = contextlib.nullcontext
) -> tuple[Tensor, Tensor, Tensor]:
    """One update of D, the body of Algorithm 1's inner loop. D ascends V(D, G) of eq. 1:

        sample z_1..z_m ~ p_g(z) and x_1..x_m ~ p_data(x); descend L_D = -V(D, G) on them

    Args:
        state: its prior and data source give the minibatches, opt_d takes the step.
        m: minibatch size (on several ranks each keeps its m / world rows; ganlab.distributed).
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


def maybe_compiled(forward: Callable, compile: bool) -> Callable:
    """`forward` itself, or a CompiledForward of it when `compile` is set."""
    return CompiledForward(forward) if compile else forward


class CompiledForward:
    """A forward pass compiled with torch.compile, its backward by AOTAutograd; if compiling
    fails (no C++ compiler, an unsupported op), a one-line warning and the eager function.

    Only forward passes (and so their backward) are compiled: the optimiser steps stay eager
    (and fused), because a compiled step would take the learning rate, which the schedules
    change every step, as a constant and recompile. Compiled random ops draw from torch's own
    generator (inductor's fallback_random), so dropout masks are the ones eager mode draws and
    a compiled run computes the eager run's numbers up to floating-point rounding
    (tests/test_speed_paths.py). Compiling happens on the first call and the first backward.
    """

    def __init__(self, forward: Callable, backend="inductor"):
        import torch._inductor.config  # imported here: compiling is opt-in, importing it is not

        self.forward = forward
        self.compiled = torch.compile(forward, dynamic=False, backend=backend)
        self.inductor_config = torch._inductor.config

    def __call__(self, *args):
        if self.compiled is None:
            return self.forward(*args)
        try:
            # per call: a recompile (a guard that fails later) must see the setting too
            with self.inductor_config.patch(fallback_random=True):
                return self.compiled(*args)
        except Exception as e:  # noqa: BLE001 - any compiler failure: train eagerly instead
            if not _is_compile_error(e):
                raise
            # dynamo wraps the backend's own error
            inner = getattr(e, "inner_exception", None) or e.__cause__ or e
            reason = f"{type(inner).__name__}: {(str(inner).strip().splitlines() or [''])[0]}"
            warnings.warn(f"torch.compile failed ({reason}); training eagerly", stacklevel=2)
            self.compiled = None
            return self.forward(*args)


def _is_compile_error(e: Exception) -> bool:
    """Errors of dynamo/inductor themselves, not of the model's own code run eagerly."""
    import torch._dynamo.exc

    return isinstance(e, torch._dynamo.exc.TorchDynamoException) or "torch._inductor" in str(
        type(e).__module__
    )


def simultaneous_step(cfg: Config, state: TrainState, sync: Replicas, d_loss_fn, g_loss_fn):
    """One update of D and G from the same minibatch and the same D forward pass.

        theta_d <- theta_d - lr grad_d L_D(x, G(z)),   theta_g <- theta_g - lr grad_g L_G(G(z))

    both gradients taken before either network moves, as the paper's pylearn2 code
    (AdversaryCost2.get_gradients: T.grad(d_obj, d_params), T.grad(g_obj, g_params)).
    Returns:
        (d_real, d_fake, loss_d, loss_g): logits (m,) and the two scalar losses.
    """
    G, D, opt_g, opt_d = state.G, state.D, state.opt_g, state.opt_d
    z = state.prior.sample(cfg.m)  # (m, z_dim)
    x = state.data.sample(cfg.m)  # (m, *x_shape)
    with sync.autocast():
        d_real, d_fake = sync.discriminate(x, sync.G(z))  # fake keeps its graph back to G
        loss_d, loss_g = d_loss_fn(d_real, d_fake), g_loss_fn(d_fake)
    d_params = [p for p in D.parameters() if p.requires_grad]
    g_params = [p for p in G.parameters() if p.requires_grad]
    opt_d.zero_grad(set_to_none=True)
    opt_g.zero_grad(set_to_none=True)
    # backward(inputs=...) takes each loss's gradient for one network only, like autograd.grad,
    # but fills .grad through the hooks by which DistributedDataParallel averages over ranks.
    loss_d.backward(inputs=d_params, retain_graph=True)
    loss_g.backward(inputs=g_params)
    opt_d.step()
    opt_g.step()
    return d_real, d_fake, loss_d, loss_g
