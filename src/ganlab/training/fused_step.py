"""The optimiser's step on gradients handed to it: torch's own fused SGD and Adam kernels, called
directly (compile: step's graphs return the gradients; compiled_step.CompiledIteration then
steps here).

Why not `optimizer.step()` on the .grad the graph sets: the same kernel behind torch.optim's
Python costs 0.63 against 0.49 ms on the peer configuration's G (Adam, 1.5M parameters) and
0.27 against 0.18 ms on its D (`python benchmarks/profile_step.py peer`, its last lines). The
state stays the optimiser's own (`optimizer.state`), in torch's format, so checkpoints, resume
and an eager step in between see and advance the same tensors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ganlab.config import OptimizerConfig


def optimizer_params(opt: torch.optim.Optimizer) -> list[Tensor]:
    """The optimiser's parameters, in its order."""
    return [p for group in opt.param_groups for p in group["params"]]


def sgd_step_(params, grads, state, lr: float, momentum: float, weight_decay: float) -> None:
    """torch.optim.SGD's update (dampening 0, not Nesterov), in place, by its fused kernel:

        g <- grad + weight_decay theta;  b <- momentum b + g;  theta <- theta - lr b

    With b = 0 before the first step this is torch's b = g then. state: momentum buffers.
    """
    torch._fused_sgd_(
        params, grads, state.get("momentum_buffer", []), weight_decay=weight_decay,
        momentum=momentum, lr=lr, dampening=0.0, nesterov=False, maximize=False,
        is_first_step=False,
    )  # fmt: skip


def adam_step_(params, grads, state, lr: float, betas, eps: float, weight_decay: float) -> None:
    """torch.optim.Adam's update (L2 weight decay, not AMSGrad), in place, by its fused kernel;
    t counts steps (advanced first, as torch.optim.Adam does; state["step"], each parameter's t,
    are views of state["t"], so one add advances them all: Stepper.state):

    g <- grad + weight_decay theta;  t <- t + 1
    m <- beta1 m + (1 - beta1) g;    v <- beta2 v + (1 - beta2) g^2
    theta <- theta - lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """
    beta1, beta2 = betas
    state["t"].add_(1)  # every parameter's t: state["step"] are views of this one tensor
    torch._fused_adam_(
        params, grads, state["exp_avg"], state["exp_avg_sq"], [], state["step"], lr=lr,
        beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False,
        maximize=False,
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
    """One optimiser's parameters, update rule and state, and its step on the gradients a graph
    returns.

    `params` are the modules' parameters (the metrics read their .grad); `detached` the same
    storage without autograd, which the graphs take as inputs and the step updates in place (as
    does load_state_dict, a resume's or a rollback's, copying into the parameters).
    """

    def __init__(self, opt: torch.optim.Optimizer, cfg: OptimizerConfig):
        self.opt = opt
        self.momentum = isinstance(opt, torch.optim.SGD)
        buffers = self.momentum and bool(cfg.momentum or cfg.final_momentum)
        self.rule, self.fresh = UPDATE_RULES[type(opt)](opt, buffers)
        self.params = optimizer_params(opt)
        self.detached = [p.detach() for p in self.params]
        self._state: dict[str, list[Tensor]] = {}

    def state(self) -> dict[str, list[Tensor]]:
        """The optimiser's state tensors (made as torch would at its first step). Kept between
        steps, and read afresh when the optimiser holds any other tensor (load_state_dict
        replaces them all: a resume, a rollback; code may replace one). Adam's per-parameter
        step counts become views of one tensor, "t" (the same values; torch's own step
        advances each view)."""
        if self._state and self.current():
            return self._state
        state = {}
        for key, fresh in self.fresh.items():
            tensors = []
            for p in self.params:
                s = self.opt.state[p]
                if s.get(key) is None:
                    s[key] = fresh(p)
                tensors.append(s[key])
            state[key] = tensors
        if "step" in state:  # one add a step instead of one per parameter
            state["t"] = torch.stack(state["step"])
            state["step"] = list(state["t"].unbind())
            for p, t in zip(self.params, state["step"], strict=True):
                self.opt.state[p]["step"] = t
        self._state = state
        return state

    def current(self) -> bool:
        """Whether the optimiser still holds every tensor of the kept state (identity checks:
        10.6 us a step for the peer configuration's G, 54 tensors, and 4.4 us for its D:
        `python benchmarks/probes.py state-check`)."""
        opt_state = self.opt.state
        return all(
            opt_state.get(p, {}).get(key) is kept
            for key in self.fresh
            for p, kept in zip(self.params, self._state[key], strict=True)
        )

    def step(self, grads: list[Tensor]) -> None:
        """theta <- rule(theta, grad) at the learning rate (and momentum) the schedule set."""
        group = self.opt.param_groups[0]
        hyper = {"momentum": group["momentum"]} if self.momentum else {}
        self.rule(self.detached, grads, self.state(), lr=group["lr"], **hyper)

    def set_grads(self, grads: list[Tensor]) -> None:
        """.grad as eager training leaves it (the metrics' gradient norms read it)."""
        for p, g in zip(self.params, grads, strict=True):
            p.grad = g


__all__ = ["UPDATE_RULES", "Stepper", "adam_step_", "optimizer_params", "sgd_step_"]
