"""Each update of Algorithm 1 as one compiled graph (forward and backward), then torch's
fused optimiser kernel.

`compile: step`. An update's gradient is written as a pure function of tensors and compiled whole:

    (theta, x, z) -> grad, L = grad_and_value(L(theta; x, z))     forward and backward, compiled
    theta, state <- rule(theta, grad, state, lr, mu)               the step: torch's fused kernel

with `torch.func.grad_and_value` over `torch.func.functional_call` of the very forwards the eager
updates call (algorithm.forward_passes, simultaneous.simultaneous_pass). `.backward()` breaks a
compiled graph; a function of tensors does not, so the forward's and the backward's small
kernels fuse across the whole update (../shared/PERF_NOTES.md: 1.34x the eager step on the paper
MLPs, where compiling the forwards alone was slower than eager). The step runs torch's own
fused SGD (momentum, dampening 0, L2 weight decay) and Adam kernels, the ones eager training's
fused optimisers call, called directly (training.fused_step, which says why): the learning rate
and momentum are the floats the schedules put in the optimiser's param_groups, so no schedule
ever recompiles anything.

Each graph is compiled ahead of its first call (torch.compile(...).aot_compile, full graph) and
then called without dynamo's per-call guard evaluation: the graph's inputs are the same
parameters, buffers and minibatch shapes every call, which the cache key (the config, the
tensors' shapes, the modules' train/eval mode) pins instead. Measured on the peer's
configuration, 2 threads: `step` went from 1.21x to 1.38-1.44x the peer loop, and with the
later changes (gradient lifetime, the Stepper) 1.44-1.77x (benchmarks/README.md).

The module's parameters and the optimiser's own state tensors (momentum_buffer; exp_avg,
exp_avg_sq, step) stay the source of truth: the graph reads the parameters, the step writes
them and the state in place, so checkpoints, resume, G's moving average, the metrics' gradient
norms (each parameter's .grad is set to the gradient the graph returns) and rollbacks see what
eager training leaves. Dropout's masks are hashed counters keyed by words from torch's own
generator (models.mlp.Dropout; the keys drawn by inductor's fallback_random, in eager's order):
a compiled run computes the eager run's numbers up to float32 rounding
(tests/test_compiled_step.py). Adam turns that rounding into steps of +-lr where a gradient is
zero but for rounding (a bias right before BatchNorm, D's output bias under a relativistic
loss): such a parameter follows rounding noise in eager training too, and `compile: forwards`
differs from eager there by as much.

Supported: one process, unconditional G and D (MLP, maxout, DCGAN, PacGAN, standardised), every
objective of game/objectives, alternating (any k) and simultaneous updates, SGD and Adam.
Anything else (regularizers, augmentation, mode seeking, conditional runs, several processes,
RMSprop, a momentum ramp that starts at 0) trains eagerly with one warning line saying why; so
does a run where compiling fails.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from ganlab.training.fused_step import UPDATE_RULES, Stepper, optimizer_params
from ganlab.training.gemm import compiling_products, eager_products, run_gemm
from ganlab.training.simultaneous import simultaneous_descend, simultaneous_pass
from ganlab.training.state import TrainState

if TYPE_CHECKING:
    from ganlab.config import Config
    from ganlab.training.algorithm import Forwards


def unsupported(cfg: Config, state: TrainState, local: bool, regularized: bool) -> str | None:
    """Why `compile: step` cannot compile this run's updates, or None when it can.

    Args:
        cfg: the run's config.  state: its G, D and optimisers.
        local: one process, G and D unwrapped, no autocast.  regularized: the config has
            penalties, clipping, instance noise, augmentation or mode seeking
            (training.regularization).
    """
    from ganlab.training.algorithm import has_batchnorm

    if cfg.conditional_run:
        return f"conditional.kind '{cfg.conditional.kind}'"
    if regularized:
        return "regularizers (penalties, clipping, instance noise, augmentation or mode seeking)"
    if not local:
        return "several processes or mixed precision"
    if cfg.update == "simultaneous" and any(has_batchnorm(net) for net in (state.G, state.D)):
        return "BatchNorm in a simultaneous update"
    players = (("g", state.opt_g, cfg.g_optimizer), ("d", state.opt_d, cfg.d_optimizer))
    for name, opt, ocfg in players:
        if type(opt) not in UPDATE_RULES:
            return f"{name}_optimizer.name '{ocfg.name}' (SGD and Adam compile)"
        if isinstance(opt, torch.optim.SGD) and not ocfg.momentum and ocfg.final_momentum:
            # torch's SGD starts its buffer at the first step with momentum != 0
            return f"{name}_optimizer's momentum ramp from 0"
        if not all(p.is_floating_point() and p.device.type == "cpu" for p in optimizer_params(opt)):
            return "parameters off the CPU"
    return None


class Players(nn.Module):
    """G and D under one module, so that functional_call substitutes both parameter sets
    ("G.*", "D.*") while `forward` runs the eager updates' own forward pass on them."""

    def __init__(self, G: nn.Module, D: nn.Module, forward: Callable):
        super().__init__()
        self.G, self.D = G, D
        self.pass_ = forward

    def forward(self, *args):
        return self.pass_(*args)


def _update_d(players, g_params, d_params, buffers, x, z):
    """D's update as a function of tensors: grad and value of L_D at theta_d.

    buffers (BatchNorm's running statistics) enter as an argument of the differentiated
    function, not captured: torch.func lets a function update its own inputs in place only.
    """

    def loss(d_theta, fixed):
        d_real, d_fake, loss_d = torch.func.functional_call(players, {**fixed, **d_theta}, (x, z))
        return loss_d, (d_real, d_fake)

    d_theta = dict(zip(players.d_names, d_params, strict=True))
    fixed = {**dict(zip(players.g_names, g_params, strict=True)), **buffers}
    grads, (loss_d, (d_real, d_fake)) = torch.func.grad_and_value(loss, has_aux=True)(
        d_theta, fixed
    )
    return d_real, d_fake, loss_d, [grads[n] for n in players.d_names]


def _update_g(players, g_params, d_params, buffers, z, x):
    """G's update with D a fixed function: grad and value of L_G at theta_g."""

    def loss(g_theta, fixed):
        return torch.func.functional_call(players, {**fixed, **g_theta}, (z, x))

    g_theta = dict(zip(players.g_names, g_params, strict=True))
    fixed = {**dict(zip(players.d_names, d_params, strict=True)), **buffers}
    grads, loss_g = torch.func.grad_and_value(loss)(g_theta, fixed)
    return loss_g, [grads[n] for n in players.g_names]


def _update_both(players, g_params, d_params, buffers, x, z):
    """The simultaneous update: L_D's gradient for theta_d and L_G's for theta_g, both at the
    same parameters and through the same D pass (one vjp, two cotangents).
    (No BatchNorm here: vjp would have to take its running statistics as primals.)"""

    def losses(g_theta, d_theta):
        theta = {**buffers, **g_theta, **d_theta}
        d_real, d_fake, loss_d, loss_g = torch.func.functional_call(players, theta, (x, z))
        return (loss_d, loss_g), (d_real, d_fake)

    g_theta = dict(zip(players.g_names, g_params, strict=True))
    d_theta = dict(zip(players.d_names, d_params, strict=True))
    (loss_d, loss_g), vjp, (d_real, d_fake) = torch.func.vjp(losses, g_theta, d_theta, has_aux=True)
    one, zero = torch.ones_like(loss_d), torch.zeros_like(loss_d)
    _, d_grads = vjp((one, zero))  # dL_D / dtheta_d; its theta_g part is unused: pruned
    g_grads, _ = vjp((zero, one))  # dL_G / dtheta_g
    d_grads = [d_grads[n] for n in players.d_names]
    g_grads = [g_grads[n] for n in players.g_names]
    return d_real, d_fake, loss_d, loss_g, g_grads, d_grads


# Compiled updates by (function, backend, key): algorithm1 builds its iteration afresh on every
# call (a benchmark's chunks, a resumed run), and tracing again costs seconds even with
# inductor's cache warm. A few entries: each holds a compiled graph, not the modules.
_COMPILED: dict[tuple, Callable] = {}
_COMPILED_KEPT = 8
# The graph's kernels called from inductor's C++ wrapper, not from generated Python (no Python
# between kernels; a scratch A/B on the peer's configuration, separate processes, favoured it by
# a few percent). The profiler sees the C++ wrapper as one call: benchmarks/profile_step.py
# turns it off to show the products and kernels inside.
CPP_WRAPPER = True


class CompiledUpdate:
    """An update compiled whole on its first call, then called without dynamo's guards. If
    compiling fails (nothing has moved yet): one warning line, and `eager`, the same update by
    .backward() and optimizer.step(), from then on, its layers multiplying by `gemm` as the
    graph's would have (the library meta.json records); `after_failure` is told (the
    iteration's other updates then go eager too, without a second line).

    Args:
        update: the update as a function of tensors.  bound: its first arguments, the same
            objects every call.  eager: the same update eagerly.
        key: what the compiled graph depends on beyond `update` and the shapes of its tensor
            arguments (CompiledIteration: the config, the parameters' shapes, the modules'
            modes), which must not change while this object calls it; None for nothing.
        gemm: the library of the graph's fp32 CPU products, "mkl" or "onednn" (training.gemm).
    """

    def __init__(
        self,
        update: Callable,
        bound: tuple,
        eager: Callable,
        backend="inductor",
        after_failure: Callable[[], None] | None = None,
        key: tuple | None = None,
        gemm: str = "mkl",
    ):
        self.update, self.bound, self.eager = update, bound, eager
        self.backend, self.gemm = backend, gemm
        self.modules = [b for b in bound if isinstance(b, nn.Module)]  # G and D, for `eager`
        self.after_failure = after_failure
        self.key = (update.__code__, backend, key, gemm)
        self.fns: dict[tuple, Callable] = {}  # by the shapes of the tensor arguments
        self.failed = False

    def __call__(self, *args):
        if self.failed:
            return self._eager_update(*args)
        # the minibatches' shapes: every minibatch holds m examples, but a graph called on
        # other shapes than it was compiled for would read out of bounds
        shapes = tuple(a.shape for a in args if isinstance(a, Tensor))
        fn = self.fns.get(shapes)
        if fn is None:
            try:
                # CPP_WRAPPER (a module switch) makes other graphs
                fn = self.fns[shapes] = self._compile(args, (*self.key, shapes, CPP_WRAPPER))
            # anything raised while compiling: aot_compile passes a backend's own errors on
            # unwrapped (a missing C++ compiler, say); an error of the model's own code
            # recurs in the eager update, which then raises it
            except Exception as e:  # noqa: BLE001 - any compiler failure: train eagerly instead
                inner = getattr(e, "inner_exception", None) or e.__cause__ or e
                first = (str(inner).strip().splitlines() or [""])[0]
                warnings.warn(
                    f"compile: step failed ({type(inner).__name__}: {first}); training eagerly",
                    stacklevel=2,
                )
                self.failed = True
                if self.after_failure is not None:
                    self.after_failure()
                return self._eager_update(*args)
        # no_grad: the graph's inputs need no autograd record (torch.func's transforms inside
        # ignore an outer no_grad)
        with torch.no_grad():
            return fn(*self.bound, *args)

    def _eager_update(self, *args):
        with eager_products(self.gemm, *self.modules):
            return self.eager(*args)

    def descend(self, stepper: Stepper, grads: list[Tensor]) -> None:
        """The step on the gradients this update's graph returned, and .grad set to them. An
        eager update (after a failed compile) has taken its own step and left its .grad."""
        if self.failed:
            return
        stepper.step(grads)
        stepper.set_grads(grads)

    def _compile(self, args: tuple, key: tuple) -> Callable:
        """`update` traced and compiled on these arguments (one graph, or an error), and
        called without guards from then on; from the cache when it has `key`."""
        if key in _COMPILED:
            return _COMPILED[key]
        # imported here: compiling is opt-in, importing ganlab is not
        from torch._inductor import config as inductor_config

        compiled = torch.compile(self.update, dynamic=False, backend=self.backend, fullgraph=True)
        # fallback_random: dropout's keys (any draw) from torch's generator, as eager draws them
        options = {"fallback_random": True, "cpp_wrapper": CPP_WRAPPER}
        with inductor_config.patch(options), compiling_products(self.gemm), torch.no_grad():
            fn = compiled.aot_compile(((*self.bound, *args), {}))
        fn.disable_guard_check()  # `key` stands for the guards (class docstring)
        while len(_COMPILED) >= _COMPILED_KEPT:
            del _COMPILED[next(iter(_COMPILED))]
        _COMPILED[key] = fn
        return fn


def _players(G: nn.Module, D: nn.Module, forward: Callable) -> Players:
    players = Players(G, D, forward)
    players.g_names = [f"G.{n}" for n, _ in G.named_parameters()]
    players.d_names = [f"D.{n}" for n, _ in D.named_parameters()]
    return players


class CompiledIteration:
    """Algorithm 1's iteration with each update one compiled graph: alternating (k updates of D,
    one of G) or simultaneous; state -> (d_real, d_fake, loss_d, loss_g) as eager's.

    Args:
        state: G, D and their optimisers (read here once: the modules stay the same objects).
        forwards: the eager updates' forwards (algorithm.forward_passes), alternating; or
        simultaneous: the eager pass with both losses (simultaneous.simultaneous_pass).
        cfg: k, m and the optimisers' configs.  backend: torch.compile's.
    """

    def __init__(
        self,
        state: TrainState,
        forwards: Forwards | None,
        simultaneous,
        cfg: Config,
        backend="inductor",
    ) -> None:
        from ganlab.training.algorithm import descend, frozen

        G, D = state.G, state.D
        self.k, self.m = cfg.k, cfg.m
        g_cfg, d_cfg = cfg.g_optimizer, cfg.d_optimizer
        self.g_needs_real = forwards.g_needs_real if forwards is not None else False
        # each player's parameters (as modules, detached for the graphs) and optimiser step;
        # the graphs take the parameters in the modules' order, which must be the optimiser's
        self.g_step, self.d_step = Stepper(state.opt_g, g_cfg), Stepper(state.opt_d, d_cfg)
        assert [id(p) for p in self.g_step.params] == [id(p) for p in G.parameters()]
        assert [id(p) for p in self.d_step.params] == [id(p) for p in D.parameters()]
        self.buffers = {
            **{f"G.{n}": b for n, b in G.named_buffers()},
            **{f"D.{n}": b for n, b in D.named_buffers()},
        }
        opt_g, opt_d = state.opt_g, state.opt_d

        # The same updates eagerly (.backward(), optimizer.step()): where compiling fails.
        def eager_d(*args):
            x, z = args[-2:]
            d_real, d_fake, loss_d = forwards.d(x, z)
            descend(opt_d, loss_d)
            return d_real, d_fake, loss_d, [p.grad for p in self.d_step.params]

        def eager_g(*args):
            z, x = args[-2:]
            with frozen(D):
                loss_g = forwards.g(z, x)
                descend(opt_g, loss_g)
            return loss_g, [p.grad for p in self.g_step.params]

        def eager_both(*args):
            x, z = args[-2:]
            d_real, d_fake, loss_d, loss_g = simultaneous(x, z)
            simultaneous_descend(state, loss_d, loss_g)
            grads = [p.grad for p in self.g_step.params], [p.grad for p in self.d_step.params]
            return d_real, d_fake, loss_d, loss_g, *grads

        # what the graphs bake in beyond their minibatches' shapes: the config (architecture,
        # losses, k, m; not the step count), the parameters' and buffers' shapes and the
        # modules' modes. Not the modules themselves: the graph takes their tensors as
        # arguments, so new modules of the same config reuse it (a resume or a time probe's
        # run in the same process, a benchmark's next chunk).
        shapes = tuple(tuple(t.shape) for t in (*G.state_dict().values(), *D.state_dict().values()))
        key = (cfg.model_dump_json(exclude={"steps"}), shapes, G.training, D.training)
        self.gemm = run_gemm(cfg, next(G.parameters()).device)
        compiled = functools.partial(
            CompiledUpdate, backend=backend, after_failure=self._eager, key=key, gemm=self.gemm.gemm
        )
        if simultaneous is not None:
            both = (_players(G, D, simultaneous),)
            self.updates = [compiled(_update_both, both, eager_both)]
            self.both = self.updates[0]
        else:
            d, g = (_players(G, D, forwards.d),), (_players(G, D, forwards.g),)
            self.updates = [compiled(_update_d, d, eager_d), compiled(_update_g, g, eager_g)]
            self.d, self.g = self.updates
            self.both = None

    def _eager(self) -> None:
        """Compiling one update failed: every update of the iteration trains eagerly."""
        for update in self.updates:
            update.failed = True

    def __call__(self, state: TrainState) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        m, buffers = self.m, self.buffers
        g_step, d_step = self.g_step, self.d_step
        g_params, d_params = g_step.detached, d_step.detached
        # the last iteration's gradients are let go before the graphs run (as zero_grad does):
        # their memory, warm in cache, is then what the allocator hands this iteration's
        # (1-4% of the peer configuration's iteration: benchmarks/step_variants.py)
        for p in (*g_step.params, *d_step.params):
            p.grad = None
        if self.both is not None:
            z = state.prior.sample(m)  # (m, z_dim)
            x = state.data.sample(m)  # (m, *x_shape)
            # theta_d <- theta_d - lr grad_d L_D,  theta_g <- theta_g - lr grad_g L_G, at once
            d_real, d_fake, loss_d, loss_g, g_grads, d_grads = self.both(
                g_params, d_params, buffers, x, z
            )
            self.both.descend(d_step, d_grads)
            self.both.descend(g_step, g_grads)
            return d_real, d_fake, loss_d, loss_g
        for _ in range(self.k):  # "for k steps do"
            z = state.prior.sample(m)  # m noise samples from p_g(z), (m, z_dim)
            x = state.data.sample(m)  # m examples from p_data(x), (m, *x_shape)
            # "update the discriminator by ascending its stochastic gradient"
            d_real, d_fake, loss_d, d_grads = self.d(g_params, d_params, buffers, x, z)
            self.d.descend(d_step, d_grads)
        z = state.prior.sample(m)  # "sample minibatch of m noise samples", (m, z_dim)
        x = state.data.sample(m) if self.g_needs_real else None  # relativistic losses pair x
        # "update the generator by descending its stochastic gradient"
        loss_g, g_grads = self.g(g_params, d_params, buffers, z, x)
        self.g.descend(g_step, g_grads)
        return d_real, d_fake, loss_d, loss_g


def compiled_iteration(cfg: Config, state: TrainState, sync, reg) -> Callable | None:
    """The iteration of `compile: step` for this run, or None (and one warning line naming
    why) where its updates cannot be compiled whole: the caller then trains eagerly.

    Args:
        cfg: the run's config.  state: its G, D and optimisers.
        sync: G and D as the updates call them (algorithm.replicas).
        reg: the config's regularization, None for none.
    """
    from ganlab.training import algorithm  # it imports this module where compile is step

    local = (
        sync.G is state.G
        and getattr(sync.discriminate, "D", None) is state.D
        and not isinstance(sync.autocast(), torch.autocast)  # bf16 (CUDA): eager
    )
    why = unsupported(cfg, state, local, reg is not None)
    if why is not None:
        warnings.warn(f"compile: step does not cover {why}; training eagerly", stacklevel=3)
        return None
    eager_cfg = cfg.model_copy(update={"compile": False})
    if cfg.update == "simultaneous":
        forward = simultaneous_pass(algorithm.loss_functions(cfg), False, state.D, sync)
        return CompiledIteration(state, None, forward, cfg)
    forwards = algorithm.forward_passes(eager_cfg, state, sync)
    return CompiledIteration(state, forwards, None, cfg)
