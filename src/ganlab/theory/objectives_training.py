"""Discriminators trained with each objective's d_loss against a fixed G, on 1-D densities.

The trained half of the item `objectives` (ganlab.theory.objectives): D alone descends a game's
d_loss of ganlab.game.objectives on samples of p_data and of a frozen p_g, as
ganlab.theory.learned_discriminator does for the 2014 D, and its value -L_D is estimated on
held-out samples with a standard error.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganlab.data.toy import GaussianMixture
from ganlab.game.regularizers import interpolate_gradient_penalty
from ganlab.models import MLPDiscriminator
from ganlab.theory.learned_discriminator import train_discriminator
from ganlab.theory.objectives_optimum import GAMES, sample_terms

GP_WEIGHT = 10.0
"""lambda of WGAN-GP (Gulrajani et al. 2017, Algorithm 1), reached halfway through training."""


def penalty_weight(step: int, steps: int) -> float:
    """The gradient penalty's weight at a step: 10^-2 lambda rising geometrically to lambda
    at steps / 2, then lambda.

        lambda_t = lambda * 10^(-3 (1 - min(1, 2 t / T)))

    At full weight from the start, WGAN-GP's critic here settles in a local optimum (value
    0.26 against W1 = 0.359, seeds 0-2, measured): its slope has to pass through 0 to flip sign
    across p_data's mass, and the two-sided penalty charges lambda times that mass for it.
    Annealing lambda up lets the slopes' signs form first (within 1e-2 of W1, measured).
    """
    return GP_WEIGHT * 10.0 ** (-3.0 * (1.0 - min(1.0, 2.0 * step / steps)))


def train_critic(
    game: str,
    p_data: GaussianMixture,
    p_g: GaussianMixture,
    steps: int,
    m: int = 512,
    seed: int = 0,
    hidden: tuple[int, ...] = (64, 64),
    lr: float = 3e-3,
) -> MLPDiscriminator:
    """D alone descends a game's d_loss against a fixed p_g (Algorithm 1's inner loop, G frozen).

        for step in 1..steps:  x ~ p_data (m), x_fake ~ p_g (m),  descend L_D(D(x), D(x_fake))
                               (+ lambda_t GP for wasserstein, penalty_weight)

    As ganlab.theory.learned_discriminator.train_discriminator, for any game: Adam's learning
    rate decays linearly to 0, so D ends near the minimiser of the expected loss rather than at
    a noisy iterate; `seed` seeds D's initialisation and the sampling.

    Returns:
        The trained MLPDiscriminator (raw output (m,)), in eval mode.
    """
    game_loss = GAMES[game].d_loss

    def d_objective(D, x, x_fake, step, generator):
        loss = game_loss(D(x), D(x_fake))
        if game == "wasserstein":
            eps = torch.rand(m, 1, generator=generator)  # (m, 1) interpolation weights
            gp = interpolate_gradient_penalty(D, x, x_fake, eps)
            loss = loss + penalty_weight(step, steps) * gp
        return loss

    return train_discriminator(
        p_data, p_g, steps, m=m, seed=seed, hidden=hidden, lr=lr, d_objective=d_objective
    )


@torch.no_grad()
def heldout_value(
    game: str,
    D: torch.nn.Module,
    p_data: GaussianMixture,
    p_g: GaussianMixture,
    n: int,
    generator: torch.Generator,
) -> tuple[float, float]:
    """-L_D of a trained D on n fresh examples and n samples, and its standard error.

    The estimate is the library's d_loss on the whole held-out batch; the error comes from its
    per-example terms (sample_terms; for relativistic, the n independent pairs' terms).
    """
    d_real = D(p_data.sample(n, generator)).to(torch.float64)  # (n,)
    d_fake = D(p_g.sample(n, generator)).to(torch.float64)  # (n,)
    d_loss = GAMES[game].d_loss
    value = -d_loss(d_real, d_fake).item()
    if game == "relativistic":
        pairs = torch.vmap(lambda a, b: d_loss(a[None], b[None]))(d_real, d_fake)
        return value, math.sqrt(pairs.var().item() / n)
    real, fake = sample_terms(d_loss, d_real, d_fake)
    return value, math.sqrt(real.var().item() / n + fake.var().item() / n)


def centred(f: Tensor, log_p_data: Tensor, log_p_g: Tensor) -> Tensor:
    """f minus its mean under (p_data + p_g) / 2: the representative of a critic defined up to
    a constant (wasserstein, relativistic) that the figure compares."""
    mix = (log_p_data.exp() + log_p_g.exp()) / 2
    return f - (mix * f).sum() / mix.sum()


__all__ = ["GP_WEIGHT", "centred", "heldout_value", "penalty_weight", "train_critic"]
