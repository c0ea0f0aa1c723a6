"""Discriminators learned against a frozen G on 1-D toy densities, and how far they are from D*.

Algorithm 1's D step alone (G frozen, so p_g is a fixed distribution sampled directly), and the
quantities that compare the D it learns with D* = p_data / (p_data + p_g) (Proposition 1) and
its value V(D, G) with C(G) (Theorem 1): exactly by quadrature on a grid, or by Monte Carlo on
held-out samples. Used by theory items 1 and 2 (ganlab.theory.optimal_discriminator and
ganlab.theory.virtual_criterion).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ganlab.data.toy import GaussianMixture
from ganlab.game.losses import d_loss, value_function
from ganlab.models import MLPDiscriminator
from ganlab.theory.snapshots import one_thread
from ganlab.training.algorithm import descend

LogDensity = Callable[[Tensor], Tensor]
DObjective = Callable[[torch.nn.Module, Tensor, Tensor, int, torch.Generator], Tensor]


def log_density(distribution: GaussianMixture) -> LogDensity:
    """x (n,) -> log p(x) (n,) in float64, for a 1-D toy distribution."""
    return lambda x: distribution.log_prob(x[:, None])


def train_discriminator(
    p_data: GaussianMixture,
    p_g: GaussianMixture,
    steps: int,
    m: int = 1024,
    seed: int = 0,
    hidden: Sequence[int] = (64, 64),
    lr: float = 3e-3,
    on_step: Callable[[int, MLPDiscriminator], None] | None = None,
    d_objective: DObjective | None = None,
) -> MLPDiscriminator:
    """Algorithm 1's inner loop alone: D ascends V(D, G) against a fixed p_g.

        for step in 1..steps:  x ~ p_data (m),  x_fake ~ p_g (m),  descend d_loss = -V(D, G)

    G is frozen, so p_g is a fixed distribution and its samples are drawn directly. Adam's
    learning rate decays linearly to 0: the late small steps average the minibatch noise, so
    D ends near the maximiser of the expected V, D*, instead of at a noisy iterate.

    Args:
        p_data, p_g: 1-D toy distributions.
        steps: D updates.
        m: minibatch size of each of data and samples.
        seed: seeds D's initialisation and the sampling generator.
        hidden: widths of the MLP's hidden layers (leaky ReLU).
        lr: Adam's initial learning rate.
        on_step: called as on_step(step, D) after every update.
        d_objective: what D descends instead of -V(D, G) (another objective's loss, its
            penalties): (D, x, x_fake, step, generator) -> scalar; `generator` is the sampling
            generator, for the penalties' own draws.
    Returns:
        The trained MLPDiscriminator, in eval mode.
    """
    with torch.random.fork_rng(devices=[]):  # D's init from `seed`, the caller's stream intact
        torch.manual_seed(seed)
        D = MLPDiscriminator((p_data.dim,), list(hidden))
    generator = torch.Generator().manual_seed(seed)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr)
    with one_thread():
        for step in range(steps):
            for group in opt_d.param_groups:
                group["lr"] = lr * (1.0 - step / steps)
            x = p_data.sample(m, generator)  # (m, 1) examples
            x_fake = p_g.sample(m, generator)  # (m, 1) samples of the frozen G
            if d_objective is None:
                descend(opt_d, d_loss(D(x), D(x_fake)))  # descending -V ascends V
            else:
                descend(opt_d, d_objective(D, x, x_fake, step, generator))
            if on_step is not None:
                on_step(step + 1, D)
    return D.eval()


@torch.no_grad()
def logits_on_grid(D: torch.nn.Module, x: Tensor) -> Tensor:
    """D's logits at the points x (n,), as float64 (n,) for quadrature."""
    return D(x[:, None].to(torch.float32)).to(torch.float64)


@torch.no_grad()
def value_estimate(
    D: torch.nn.Module,
    p_data: GaussianMixture,
    p_g: GaussianMixture,
    n: int,
    generator: torch.Generator,
) -> tuple[float, float]:
    """Monte Carlo V(D, G) on n fresh (held-out) examples and n samples, and its standard error.

        V_hat = 1/n sum log D(x_i) + 1/n sum log(1 - D(x'_j)),  x_i ~ p_data, x'_j ~ p_g

    Returns:
        (V_hat, standard error), the error from the two independent sample variances.
    """
    d_real = D(p_data.sample(n, generator)).to(torch.float64)  # (n,) logits
    d_fake = D(p_g.sample(n, generator)).to(torch.float64)  # (n,) logits
    v = value_function(d_real, d_fake)
    log_d, log_one_minus_d = F.logsigmoid(d_real), F.logsigmoid(-d_fake)
    se = math.sqrt(log_d.var().item() / n + log_one_minus_d.var().item() / n)
    return v.item(), se


@torch.no_grad()
def value_gap_estimate(
    D: torch.nn.Module,
    p_data: GaussianMixture,
    p_g: GaussianMixture,
    n: int,
    generator: torch.Generator,
) -> tuple[float, float]:
    """Monte Carlo C(G) - V(D, G) on n fresh examples and n samples, paired with D*, and its SE.

        C(G) - V(D, G) = E_p_data[log D*(x) - log D(x)] + E_p_g[log(1 - D*(x)) - log(1 - D(x))]
                       = integral (p_data + p_g)(x) KL(Bernoulli(D*(x)) || Bernoulli(D(x))) dx

    The second line is why V(D, G) <= C(G) for every D (Proposition 1). Pairing each sample's
    log D with its log D* removes most of the spread of log D over x, so this estimate's error
    is ~30x smaller than value_estimate's (a control variate; it needs the known densities of
    a toy problem).

    Returns:
        (gap estimate, standard error).
    """
    x, x_fake = p_data.sample(n, generator), p_g.sample(n, generator)  # (n, 1) each
    a_real, a_fake = D(x).to(torch.float64), D(x_fake).to(torch.float64)  # (n,) logits
    a_star_real = p_data.log_prob(x) - p_g.log_prob(x)  # (n,) logits of D*
    a_star_fake = p_data.log_prob(x_fake) - p_g.log_prob(x_fake)
    real = F.logsigmoid(a_star_real) - F.logsigmoid(a_real)  # log D* - log D
    fake = F.logsigmoid(-a_star_fake) - F.logsigmoid(-a_fake)  # log(1 - D*) - log(1 - D)
    se = math.sqrt(real.var().item() / n + fake.var().item() / n)
    return (real.mean() + fake.mean()).item(), se


def central_interval(log_p: Tensor, x: Tensor, mass: float = 0.99) -> tuple[float, float]:
    """The interval [lo, hi] holding the central `mass` of a density tabulated on x.

    Args:
        log_p: (n,) log density on the uniform grid x.
        x: (n,) grid covering the density's mass.
    Returns:
        (lo, hi): the (1 - mass)/2 and (1 + mass)/2 quantiles, to the grid's spacing.
    """
    cdf = torch.cumulative_trapezoid(log_p.exp(), x)  # (n - 1,) P(X <= x[1:])
    tail = (1.0 - mass) / 2
    lo = x[1:][torch.searchsorted(cdf, torch.tensor(tail, dtype=cdf.dtype))]
    hi = x[1:][torch.searchsorted(cdf, torch.tensor(1.0 - tail, dtype=cdf.dtype))]
    return lo.item(), hi.item()


__all__ = [
    "LogDensity",
    "central_interval",
    "log_density",
    "logits_on_grid",
    "train_discriminator",
    "value_estimate",
    "value_gap_estimate",
]
