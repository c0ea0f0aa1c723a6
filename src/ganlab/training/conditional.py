"""Algorithm 1 for a conditional GAN: each example comes with its class, each sample with the
class G was asked for.

    for k steps do
        sample z_1..z_m ~ p_g(z) and classes y'_1..y'_m ~ U{0..K-1}
        sample (x_1, y_1)..(x_m, y_m) from p_data(x, y)
        update D by descending L_D(D(x_i, y_i), D(G(z_i, y'_i), y'_i))   [+ AC-GAN's w L_C]
    end for
    sample z_1..z_m ~ p_g(z) and y'_1..y'_m ~ U{0..K-1}
    update G by descending L_G(D(G(z_i, y'_i), y'_i))                    [+ AC-GAN's w CE]

L_D and L_G are the objective's (ganlab.game.objectives: every one of them), on the (m,)
logits of a conditional D (ganlab.models.conditional); AC-GAN adds its class cross-entropy
(ganlab.game.conditional). The data's labels come from the same permutation as x
(EpochSource.sample_labelled), G's from the prior's own label stream (NoisePrior.sample_labels):
both are in every checkpoint, so a resumed run draws what the uninterrupted one would.
Resolved before the loop like the unconditional updates: algorithm.iteration_step picks this
one for a config whose conditional.kind is not none.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ganlab.config import Config
from ganlab.game.conditional import acgan_d_loss, acgan_g_loss
from ganlab.game.objectives import Objective
from ganlab.models.conditional import ACGANDiscriminator
from ganlab.models.standardized import StandardizedDiscriminator
from ganlab.training.algorithm import descend, frozen, has_batchnorm, loss_functions
from ganlab.training.compile import maybe_compiled
from ganlab.training.regularization import Regularization
from ganlab.training.state import TrainState

Judge = Callable[[Tensor], tuple[Tensor, Tensor]]  # x -> ((m,) logits, (m, K) class logits)


def class_judge(D: nn.Module) -> Judge | None:
    """An AC-GAN D's two heads as one call, x -> (logits, class logits); None for a D without
    a class head (concat, projection)."""
    if isinstance(D, StandardizedDiscriminator) and isinstance(D.net, ACGANDiscriminator):
        return lambda x: D.net.judge(D.standardise(x))
    return D.judge if isinstance(D, ACGANDiscriminator) else None


def discriminate_labelled(
    D: nn.Module, x: Tensor, y: Tensor, fake: Tensor, y_fake: Tensor, judge: Judge | None
) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
    """D's logits on (x, y) and (G(z, y'), y'), (m,) each, and with a class head its class
    logits (m, K) on both (else None).

    One pass over the 2m rows when D has no BatchNorm (each row's output is its own: the same
    numbers, larger products); two passes otherwise, as algorithm.discriminate.
    """
    if judge is not None:
        if has_batchnorm(D):
            (d_real, c_real), (d_fake, c_fake) = judge(x), judge(fake)
            return d_real, d_fake, c_real, c_fake
        logits, classes = judge(torch.cat([x, fake]))  # (2m,), (2m, K)
        m = len(x)
        return logits[:m], logits[m:], classes[:m], classes[m:]
    if has_batchnorm(D):
        return D(x, y), D(fake, y_fake), None, None
    logits = D(torch.cat([x, fake]), torch.cat([y, y_fake]))  # (2m,)
    return logits[: len(x)], logits[len(x) :], None, None


def conditional_discriminator_forward(
    G: nn.Module,
    D: nn.Module,
    game: Objective,
    weight: float,
    reg: Regularization | None,
    x: Tensor,
    y: Tensor,
    z: Tensor,
    y_fake: Tensor,
    fake_term: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """D's logits on data (x, y) and samples G(z, y'), and D's loss on them: the objective's,
    plus AC-GAN's class term, plus the regularizers' penalties (on x's labels).

    Returns:
        (d_real, d_fake, loss): (m,) logits each and the scalar D descends.
    """
    with torch.no_grad():
        fake = G(z, y_fake)  # (m, *x_shape), fixed data for D's update
    if reg is not None:
        x, fake = reg.d_inputs(x, fake)
    d_real, d_fake, c_real, c_fake = discriminate_labelled(D, x, y, fake, y_fake, class_judge(D))
    loss = game.d_loss(d_real, d_fake)
    if c_real is not None:
        loss = loss + acgan_d_loss(c_real, y, c_fake, y_fake, weight, fake_term)
    if reg is not None:
        loss = loss + reg.penalty(D, x, fake, d_real, d_fake, labels=y)
    return d_real, d_fake, loss


def conditional_generator_forward(
    G: nn.Module,
    D: nn.Module,
    game: Objective,
    weight: float,
    reg: Regularization | None,
    z: Tensor,
    y_fake: Tensor,
    x: Tensor | None = None,
    y: Tensor | None = None,
) -> Tensor:
    """G's loss on D(G(z, y'), y') (D frozen by the caller), plus AC-GAN's CE on y' and
    MSGAN's term (reg.mode_seeking: the pairs it compares are asked for one class).

    x, y: examples and their classes paired with the samples, for a G loss that compares them
    (relativistic); else None.
    """
    spread = 0.0
    if reg is not None:
        y_fake = reg.paired(y_fake)
    fake = G(z, y_fake)  # (m, *x_shape)
    if reg is not None:
        spread = reg.g_penalty(z, fake)  # 0.0 unless mode seeking
        fake = reg.noisy(fake)
        x = reg.noisy(x) if x is not None else None
    d_real = D(x, y) if x is not None else None
    judge = class_judge(D)
    if judge is None:
        return game.g_loss(D(fake, y_fake), d_real) + spread
    d_fake, c_fake = judge(fake)
    return game.g_loss(d_fake, d_real) + acgan_g_loss(c_fake, y_fake, weight) + spread


class ConditionalForwards(NamedTuple):
    """The conditional updates' two forward passes and what they need besides."""

    d: Callable  # (x, y, z, y_fake) -> (d_real, d_fake, loss_d)
    g: Callable  # (z, y_fake, x or None, y or None) -> loss_g
    g_needs_real: bool  # G's loss pairs each sample with an example (relativistic)
    regularization: Regularization | None


def conditional_forwards(
    cfg: Config, state: TrainState, reg: Regularization | None = None
) -> ConditionalForwards:
    """The two forwards of cfg's objective on state's conditional G and D, compiled when
    cfg.compile asks."""
    game, weight = loss_functions(cfg), cfg.conditional.acgan_weight
    d = functools.partial(
        conditional_discriminator_forward,
        state.G,
        state.D,
        game,
        weight,
        reg,
        fake_term=cfg.conditional.acgan_fake_term,
    )
    g = functools.partial(conditional_generator_forward, state.G, state.D, game, weight, reg)
    return ConditionalForwards(
        maybe_compiled(d, cfg.compile), maybe_compiled(g, cfg.compile), game.g_needs_real, reg
    )


def conditional_step(
    state: TrainState,
    k: int,
    m: int,
    forwards: ConditionalForwards,
    autocast: Callable = contextlib.nullcontext,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One iteration of the conditional Algorithm 1: k updates of D, then one of G.

    Returns:
        (d_real, d_fake, loss_d, loss_g), as algorithm.alternating_step.
    """
    for _ in range(k):  # "for k steps do"
        z = state.prior.sample(m)  # (m, z_dim)
        y_fake = state.prior.sample_labels(m)  # (m,) the classes G is asked for
        x, y = state.data.sample_labelled(m)  # (m, *x_shape), (m,) from p_data(x, y)
        with autocast():
            d_real, d_fake, loss_d = forwards.d(x, y, z, y_fake)
        descend(state.opt_d, loss_d)
        if forwards.regularization is not None:
            forwards.regularization.after_d_step(state.D)  # WGAN's weight clipping
    z = state.prior.sample(m)
    y_fake = state.prior.sample_labels(m)
    x, y = state.data.sample_labelled(m) if forwards.g_needs_real else (None, None)
    with frozen(state.D):
        with autocast():
            loss_g = forwards.g(z, y_fake, x, y)
        descend(state.opt_g, loss_g)
    return d_real, d_fake, loss_d, loss_g


def conditional_iteration(
    cfg: Config, state: TrainState, reg: Regularization | None, autocast: Callable
) -> Callable[[TrainState], tuple[Tensor, Tensor, Tensor, Tensor]]:
    """conditional_step with cfg's k, m and forwards bound: what algorithm1 calls each step."""
    forwards = conditional_forwards(cfg, state, reg)
    return functools.partial(
        conditional_step, k=cfg.k, m=cfg.m, forwards=forwards, autocast=autocast
    )


__all__ = [
    "ConditionalForwards",
    "class_judge",
    "conditional_discriminator_forward",
    "conditional_forwards",
    "conditional_generator_forward",
    "conditional_iteration",
    "conditional_step",
    "discriminate_labelled",
]
