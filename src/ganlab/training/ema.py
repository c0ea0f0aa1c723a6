"""An exponential moving average of G's weights (Yazici et al. 2019; StudioGAN, R3GAN use it).

    theta_ema <- beta theta_ema + (1 - beta) theta_G      after each G step from `start` on
    theta_ema <- theta_G                                  before `start`

The average is a second copy of G (`state.ema`), saved in every checkpoint beside G, and it is
what samples, figures and metrics show when cfg.ema.beta > 0. Buffers (BatchNorm's running
statistics) are copied from G, not averaged: they are statistics of G's own activations.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from ganlab.config import Config


def ema_copy(G: nn.Module) -> nn.Module:
    """A copy of G that no optimiser updates: the average starts at G's initial weights."""
    ema = copy.deepcopy(G)
    for p in ema.parameters():
        p.requires_grad_(False)
    return ema.eval()


@torch.no_grad()
def ema_update_(ema: nn.Module, G: nn.Module, beta: float) -> None:
    """theta_ema <- beta theta_ema + (1 - beta) theta_G in place; buffers copied from G."""
    for p_ema, p in zip(ema.parameters(), G.parameters(), strict=True):
        p_ema.lerp_(p, 1.0 - beta)  # beta p_ema + (1 - beta) p, in one kernel
    for b_ema, b in zip(ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)


def averaging(cfg: Config) -> Callable | None:
    """(state) -> None: the average's update after iteration state.step, or None when off."""
    beta, start = cfg.ema.beta, cfg.ema.start
    if not beta:
        return None

    def average(state) -> None:
        # state.step counts iterations done: the average starts after `start` of them
        ema_update_(state.ema, state.G, beta if state.step > start else 0.0)

    return average
