"""Each update of Algorithm 1 (forward, backward and optimiser step) as one compiled graph.

`compile: step`. An update is written as a pure function of tensors and compiled whole:

    (theta, state, lr, mu, x, z) -> grad, L = grad_and_value(L(theta; x, z))     forward, backward
                                    theta, state <- rule(theta, grad, state, lr, mu)   the step

with `torch.func.grad_and_value` over `torch.func.functional_call` of the very forwards the eager
updates call (algorithm.forward_passes, simultaneous.simultaneous_pass), and torch's SGD
(momentum, dampening 0, L2 weight decay) and Adam run inside the graph by torch's own fused
kernels, wrapped as custom ops that read the learning rate and momentum from tensors.
`.backward()` and `optimizer.step()` break a compiled graph; a function of tensors does not, so
the forward's and the backward's small kernels fuse across the whole update
(../shared/PERF_NOTES.md: 1.34x the eager step on the paper MLPs, where compiling the forwards
alone was slower than eager; benchmarks/README.md for what this module measured).

The module's parameters and the optimiser's own state tensors (momentum_buffer; exp_avg,
exp_avg_sq, step) stay the source of truth: the graph reads them and writes the new values into
them in place, so checkpoints, resume, G's moving average, the metrics' gradient norms (each
parameter's .grad is set to the gradient the graph returns) and rollbacks see what eager
training leaves. The learning rate and the momentum are 0-dim tensors filled from the
optimiser's param_groups before each call (optim.apply_schedule sets those), so the paper's
schedules never recompile the graph (one graph per update kind). Dropout draws from torch's own
generator (inductor's fallback_random), in eager's order: a compiled run computes the eager
run's numbers up to float32 rounding (tests/test_compiled_step.py). Adam turns that rounding
into steps of +-lr where a gradient is zero but for rounding (a bias right before BatchNorm,
D's output bias under a relativistic loss): such a parameter follows rounding noise in eager
training too, and `compile: forwards` differs from eager there by as much.

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

from ganlab.training.compile import is_compile_error
from ganlab.training.simultaneous import simultaneous_descend, simultaneous_pass
from ganlab.training.state import TrainState

if TYPE_CHECKING:
    from ganlab.config import Config, OptimizerConfig
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
        if not all(p.is_floating_point() and p.device.type == "cpu" for p in _params(opt)):
            return "parameters off the CPU"
    return None


def _params(opt: torch.optim.Optimizer) -> list[Tensor]:
    return [p for group in opt.param_groups for p in group["params"]]


class Players(nn.Module):
    """G and D under one module, so that functional_call substitutes both parameter sets
    ("G.*", "D.*") while `forward` runs the eager updates' own forward pass on them."""

    def __init__(self, G: nn.Module, D: nn.Module, forward: Callable):
        super().__init__()
        self.G, self.D = G, D
        self.pass_ = forward

    def forward(self, *args):
        return self.pass_(*args)


def sgd_step_(params, grads, state, lr: Tensor, momentum: Tensor, weight_decay: float) -> None:
    """torch.optim.SGD's update (dampening 0, not Nesterov), in place:

        g <- grad + weight_decay theta;  b <- momentum b + g;  theta <- theta - lr b

    With b = 0 before the first step this is torch's b = g then. state: momentum buffers.
    """
    fused_sgd_(params, grads, state.get("momentum_buffer", []), lr, momentum, weight_decay)


def adam_step_(params, grads, state, lr: Tensor, betas, eps: float, weight_decay: float) -> None:
    """torch.optim.Adam's update (L2 weight decay, not AMSGrad), in place; t counts steps:

    g <- grad + weight_decay theta;  t <- t + 1
    m <- beta1 m + (1 - beta1) g;    v <- beta2 v + (1 - beta2) g^2
    theta <- theta - lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    beta1, beta2 = betas
    state_tensors = (state["exp_avg"], state["exp_avg_sq"], state["step"])
    fused_adam_(params, grads, *state_tensors, lr, beta1, beta2, eps, weight_decay)


# The two rules run torch's own fused CPU kernels (the ones eager training's fused optimisers
# call, so the numbers are eager's), wrapped as custom ops: inside the graph they are one
# opaque in-place call that takes the learning rate and momentum as tensors, read when it runs,
# so a new value never recompiles. Written as tensor arithmetic instead, inductor's kernels
# took 3.7 ms for Adam over the peer G's 1.5M parameters against 1.0 ms fused (1 thread).
@torch.library.custom_op("ganlab::fused_sgd_", mutates_args=("params", "momentum_buffers"))
def fused_sgd_(
    params: list[Tensor],
    grads: list[Tensor],
    momentum_buffers: list[Tensor],
    lr: Tensor,
    momentum: Tensor,
    weight_decay: float,
) -> None:
    """torch's fused SGD step with momentum, lr and momentum read from 0-dim tensors."""
    torch._fused_sgd_(
        params, grads, momentum_buffers, weight_decay=weight_decay,
        momentum=float(momentum), lr=float(lr), dampening=0.0, nesterov=False, maximize=False,
        is_first_step=False,
    )  # fmt: skip


@torch.library.custom_op(
    "ganlab::fused_adam_", mutates_args=("params", "exp_avgs", "exp_avg_sqs", "steps")
)
def fused_adam_(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[Tensor],
    lr: Tensor,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:
    """torch's fused Adam step (its step counts first advanced, as torch.optim.Adam does),
    lr read from a 0-dim tensor."""
    torch._foreach_add_(steps, 1)
    torch._fused_adam_(
        params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=float(lr), beta1=beta1,
        beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False,
    )  # fmt: skip


def _sgd(opt: torch.optim.SGD, momentum: bool) -> tuple[Callable, dict[str, Callable]]:
    group = opt.param_groups[0]
    rule = functools.partial(sgd_step_, weight_decay=group["weight_decay"])
    # without momentum torch's SGD keeps no buffers: neither does this (checkpoints alike)
    return rule, {"momentum_buffer": torch.zeros_like} if momentum else {}


def _adam(opt: torch.optim.Adam, momentum: bool = False) -> tuple[Callable, dict[str, Callable]]:
    group = opt.param_groups[0]
    betas, eps, weight_decay = tuple(group["betas"]), group["eps"], group["weight_decay"]
    rule = functools.partial(adam_step_, betas=betas, eps=eps, weight_decay=weight_decay)
    # torch's fused Adam keeps each step count as a float32 0-dim tensor beside its parameter
    fresh = {
        "step": lambda p: torch.zeros((), dtype=torch.float32, device=p.device),
        "exp_avg": functools.partial(torch.zeros_like, memory_format=torch.preserve_format),
        "exp_avg_sq": functools.partial(torch.zeros_like, memory_format=torch.preserve_format),
    }
    return rule, fresh


UPDATE_RULES = {torch.optim.SGD: _sgd, torch.optim.Adam: _adam}


class Stepper:
    """One optimiser's update rule and its state as the compiled graph takes them."""

    def __init__(self, opt: torch.optim.Optimizer, cfg: OptimizerConfig):
        self.opt = opt
        self.momentum = isinstance(opt, torch.optim.SGD)
        buffers = self.momentum and bool(cfg.momentum or cfg.final_momentum)
        self.rule, self.fresh = UPDATE_RULES[type(opt)](opt, buffers)
        self.params = _params(opt)
        # 0-dim tensors, refilled before each call: the schedule never recompiles the graph;
        # float64, as the Python floats eager training hands torch's kernels
        self.lr = torch.zeros((), dtype=torch.float64)
        self.mu = torch.zeros((), dtype=torch.float64)

    def inputs(self) -> tuple[dict[str, list[Tensor]], dict[str, Tensor]]:
        """The optimiser's state tensors (made as torch would at its first step) and the
        schedule's current values: read afresh each call, a resume replaces them."""
        group = self.opt.param_groups[0]
        self.lr.fill_(group["lr"])
        hyper = {"lr": self.lr}
        if self.momentum:
            self.mu.fill_(group["momentum"])
            hyper["momentum"] = self.mu
        state = {}
        for key, fresh in self.fresh.items():
            tensors = []
            for p in self.params:
                s = self.opt.state[p]
                if s.get(key) is None:
                    s[key] = fresh(p)
                tensors.append(s[key])
            state[key] = tensors
        return state, hyper

    def step(self, params, grads, state, hyper) -> None:
        self.rule(params, grads, state, **hyper)


def _update_d(players, stepper, g_params, d_params, buffers, state, hyper, x, z):
    """D's update as a function of tensors: grad and value of L_D at theta_d, then the step.

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
    grads = [grads[n] for n in players.d_names]
    stepper.step(d_params, grads, state, hyper)
    return d_real, d_fake, loss_d, grads


def _update_g(players, stepper, g_params, d_params, buffers, state, hyper, z, x):
    """G's update with D a fixed function: grad and value of L_G at theta_g, then the step."""

    def loss(g_theta, fixed):
        return torch.func.functional_call(players, {**fixed, **g_theta}, (z, x))

    g_theta = dict(zip(players.g_names, g_params, strict=True))
    fixed = {**dict(zip(players.d_names, d_params, strict=True)), **buffers}
    grads, loss_g = torch.func.grad_and_value(loss)(g_theta, fixed)
    grads = [grads[n] for n in players.g_names]
    stepper.step(g_params, grads, state, hyper)
    return loss_g, grads


def _update_both(players, steppers, g_params, d_params, buffers, states, hypers, x, z):
    """The simultaneous update: L_D's gradient for theta_d and L_G's for theta_g, both at the
    same parameters and through the same D pass (one vjp, two cotangents), then both steps.
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
    steppers[1].step(d_params, d_grads, states[1], hypers[1])
    steppers[0].step(g_params, g_grads, states[0], hypers[0])
    return d_real, d_fake, loss_d, loss_g, g_grads, d_grads


class CompiledUpdate:
    """An update compiled whole on its first call. If compiling fails (nothing has moved yet):
    one warning line, and `eager`, the same update by .backward() and optimizer.step(), from
    then on; `after_failure` is told (the iteration's other updates then go eager too, without
    a second line)."""

    def __init__(
        self,
        update: Callable,
        bound: tuple,
        eager: Callable,
        backend="inductor",
        after_failure: Callable[[], None] | None = None,
    ):
        # imported here: compiling is opt-in, importing ganlab is not
        from torch._inductor import config as inductor_config

        # the function itself, its fixed arguments passed at each call: a functools.partial
        # would compile as dynamo's one shared wrapper frame, whose 8 cache entries every
        # compiled partial of the process would then share (training.compile does the same)
        self.compiled = torch.compile(update, dynamic=False, backend=backend)
        self.bound = bound
        self.eager = eager
        self.after_failure = after_failure
        self.inductor_config = inductor_config

    def __call__(self, *args):
        if self.compiled is None:
            return self.eager(*args)
        try:
            # fallback_random: dropout draws from torch's generator as eager does; per call, so
            # that a recompile sees it too. no_grad: the graph's inputs need no autograd record
            # (torch.func's transforms inside ignore an outer no_grad).
            with self.inductor_config.patch(fallback_random=True), torch.no_grad():
                return self.compiled(*self.bound, *args)
        except Exception as e:  # noqa: BLE001 - any compiler failure: train eagerly instead
            if not is_compile_error(e):
                raise
            inner = getattr(e, "inner_exception", None) or e.__cause__ or e
            first = (str(inner).strip().splitlines() or [""])[0]
            warnings.warn(
                f"compile: step failed ({type(inner).__name__}: {first}); training eagerly",
                stacklevel=2,
            )
            self.compiled = None
            if self.after_failure is not None:
                self.after_failure()
            return self.eager(*args)


def _set_grads(params: list[Tensor], grads: list[Tensor]) -> None:
    """.grad as eager training leaves it (the metrics' gradient norms read it)."""
    for p, g in zip(params, grads, strict=True):
        p.grad = g


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
        self.g_params, self.d_params = list(G.parameters()), list(D.parameters())
        self.steppers = (Stepper(state.opt_g, g_cfg), Stepper(state.opt_d, d_cfg))
        assert [id(p) for p in self.steppers[0].params] == [id(p) for p in self.g_params]
        assert [id(p) for p in self.steppers[1].params] == [id(p) for p in self.d_params]
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
            return d_real, d_fake, loss_d, [p.grad for p in self.d_params]

        def eager_g(*args):
            z, x = args[-2:]
            with frozen(D):
                loss_g = forwards.g(z, x)
                descend(opt_g, loss_g)
            return loss_g, [p.grad for p in self.g_params]

        def eager_both(*args):
            x, z = args[-2:]
            d_real, d_fake, loss_d, loss_g = simultaneous(x, z)
            simultaneous_descend(state, loss_d, loss_g)
            grads = [p.grad for p in self.g_params], [p.grad for p in self.d_params]
            return d_real, d_fake, loss_d, loss_g, *grads

        compiled = functools.partial(CompiledUpdate, backend=backend, after_failure=self._eager)
        if simultaneous is not None:
            both = (_players(G, D, simultaneous), self.steppers)
            self.updates = [compiled(_update_both, both, eager_both)]
            self.both = self.updates[0]
        else:
            d = (_players(G, D, forwards.d), self.steppers[1])
            g = (_players(G, D, forwards.g), self.steppers[0])
            self.updates = [compiled(_update_d, d, eager_d), compiled(_update_g, g, eager_g)]
            self.d, self.g = self.updates
            self.both = None

    def _eager(self) -> None:
        """Compiling one update failed: every update of the iteration trains eagerly."""
        for update in self.updates:
            update.compiled = None

    def __call__(self, state: TrainState) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        m, buffers = self.m, self.buffers
        g_opt, d_opt = (s.inputs() for s in self.steppers)
        # detached: the same storage, which the graph updates in place
        g_params = [p.detach() for p in self.g_params]
        d_params = [p.detach() for p in self.d_params]
        if self.both is not None:
            z = state.prior.sample(m)  # (m, z_dim)
            x = state.data.sample(m)  # (m, *x_shape)
            # theta_d <- theta_d - lr grad_d L_D,  theta_g <- theta_g - lr grad_g L_G, at once
            d_real, d_fake, loss_d, loss_g, g_grads, d_grads = self.both(
                g_params, d_params, buffers, (g_opt[0], d_opt[0]), (g_opt[1], d_opt[1]), x, z
            )
            _set_grads(self.d_params, d_grads)
            _set_grads(self.g_params, g_grads)
            return d_real, d_fake, loss_d, loss_g
        for _ in range(self.k):  # "for k steps do"
            z = state.prior.sample(m)  # m noise samples from p_g(z), (m, z_dim)
            x = state.data.sample(m)  # m examples from p_data(x), (m, *x_shape)
            # "update the discriminator by ascending its stochastic gradient"
            d_real, d_fake, loss_d, d_grads = self.d(g_params, d_params, buffers, *d_opt, x, z)
        _set_grads(self.d_params, d_grads)
        z = state.prior.sample(m)  # "sample minibatch of m noise samples", (m, z_dim)
        x = state.data.sample(m) if self.g_needs_real else None  # relativistic losses pair x
        # "update the generator by descending its stochastic gradient"
        loss_g, g_grads = self.g(g_params, d_params, buffers, *g_opt, z, x)
        _set_grads(self.g_params, g_grads)
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
