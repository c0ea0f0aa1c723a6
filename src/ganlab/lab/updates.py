"""The lab's one-update buttons: one D update, one G update, with the two functions
algorithm1's loop calls, one call at a time.

    D update: z ~ p_z, x ~ p_data (m each); descend L_D(D(x), D(G(z)))          (eq. 1, ascend V)
              algorithm.update_discriminator
    G update: z ~ p_z (m); descend L_G(D(G(z))) with D frozen: algorithm.update_generator
"""

from __future__ import annotations

import torch

from ganlab.config import Config
from ganlab.data.sources import steps_per_epoch
from ganlab.training.algorithm import (
    StepStats,
    forward_passes,
    update_discriminator,
    update_generator,
)
from ganlab.training.ema import averaging
from ganlab.training.optim import apply_schedule
from ganlab.training.regularization import regularization
from ganlab.training.state import TrainState


def d_update(cfg: Config, state: TrainState) -> StepStats:
    """One discriminator update of Algorithm 1 (algorithm.update_discriminator): m noise
    samples, m examples, descend L_D. D's learning-rate schedule is that of iteration state.step.
    """
    apply_schedule(state.opt_d, cfg.d_optimizer, state.step, _epoch(cfg, state), state.lr_scale)
    state.G.train()
    state.D.train()
    reg = regularization(cfg)
    if reg is not None:
        reg.at_step(state.step)  # instance noise at this iteration's std
    forwards = forward_passes(cfg, state, reg=reg)
    d_real, d_fake, loss_d = update_discriminator(state, cfg.m, forwards)  # (m,) each
    nan = torch.tensor(float("nan"))
    return StepStats(loss_d.detach(), nan, d_real.detach(), d_fake.detach())


def g_update(cfg: Config, state: TrainState) -> torch.Tensor:
    """One generator update of Algorithm 1 (algorithm.update_generator): m noise samples,
    descend L_G with D frozen. G's learning-rate schedule is that of iteration state.step.

    Advances state.step: ganlab counts iterations by generator updates.
    """
    apply_schedule(state.opt_g, cfg.g_optimizer, state.step, _epoch(cfg, state), state.lr_scale)
    state.G.train()
    state.D.train()
    reg = regularization(cfg)
    if reg is not None:
        reg.at_step(state.step)
    loss_g = update_generator(state, cfg.m, forward_passes(cfg, state, reg=reg))
    state.step += 1
    average = averaging(cfg)
    if average is not None:
        average(state)  # G's moving average, as algorithm1 keeps it
    return loss_g.detach()


def _epoch(cfg: Config, state: TrainState) -> float:
    return steps_per_epoch(state.data.size, cfg.m, cfg.epoch_size)


__all__ = ["d_update", "g_update"]
