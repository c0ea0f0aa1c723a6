"""Optimisers for G and D, and the paper code's schedules as pure functions of the step.

The schedules are written here rather than with torch.optim.lr_scheduler because the paper's
pylearn2 code has a learning-rate floor and a momentum ramp that torch does not provide, and
because a pure function of the step makes resuming exact: there is no scheduler state to save.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ganlab.config import OptimizerConfig


def build_optimizer(cfg: OptimizerConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimiser a config names, at its initial learning rate and momentum.

    Adam and SGD run fused (one kernel over all parameters) where every parameter is a float
    tensor on the CPU or CUDA: the same update rule as torch's per-tensor loop, measured ~10x
    faster for Adam on the 2-core reference CPU (benchmarks/README.md). RMSprop has no fused
    kernel and uses the multi-tensor (foreach) form.
    """
    params = list(params)
    fast = {"fused": True} if _fusable(params) else {}
    if cfg.name == "adam":
        return torch.optim.Adam(
            params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay, **fast
        )
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True
        )
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **fast
    )


def _fusable(params: list[nn.Parameter]) -> bool:
    return bool(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params
    )


def learning_rate(cfg: OptimizerConfig, step: int) -> float:
    """pylearn2 ExponentialDecay: the rate is divided by `lr_decay_factor` after every minibatch.

        lr_t = max(lr_0 / factor^t, min_lr)

    The paper's MNIST model uses lr_0 = 0.1, factor = 1.000004, min_lr = 1e-6.
    """
    return max(cfg.lr / cfg.lr_decay_factor**step, cfg.min_lr)


def momentum(cfg: OptimizerConfig, step: int, steps_per_epoch: float) -> float:
    """pylearn2 MomentumAdjustor(start=1, saturate=S): momentum moves linearly from its initial
    to its final value between the end of epoch 1 and the end of epoch S.

        alpha = clip((e - 1) / (S - 1), 0, 1),  e = completed epochs
        momentum_t = (1 - alpha) momentum_0 + alpha final_momentum

    The paper's MNIST model ramps 0.5 -> 0.7 by epoch 250. Without final_momentum it is constant.
    """
    if cfg.final_momentum is None:
        return cfg.momentum
    epochs = int(step // steps_per_epoch)
    alpha = min(max((epochs - 1) / (cfg.momentum_saturate_epochs - 1), 0.0), 1.0)
    return (1 - alpha) * cfg.momentum + alpha * cfg.final_momentum


def apply_schedule(
    optimizer: torch.optim.Optimizer,
    cfg: OptimizerConfig,
    step: int,
    steps_per_epoch: float,
    lr_scale: float = 1.0,
) -> None:
    """Set the optimiser's learning rate (and momentum, where it has one) for this step.

    lr_scale multiplies the scheduled rate: on_nan: rollback lowers it after a divergence.
    """
    lr = learning_rate(cfg, step) * lr_scale
    mu = momentum(cfg, step, steps_per_epoch)
    for group in optimizer.param_groups:
        group["lr"] = lr
        if "momentum" in group:
            group["momentum"] = mu
