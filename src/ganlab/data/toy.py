"""Toy distributions for p_data: 1-D Gaussians and mixtures, the 2-D ring and grid of Gaussians.

All are isotropic Gaussian mixtures, sampled on the fly from a seeded torch.Generator. The
2-D ones follow the mode-collapse literature (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et
al. 2018): 8 modes on a circle of radius 1 with std 0.01, and 25 modes on {-4,-2,0,2,4}^2 with
std 0.05.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class GaussianMixture:
    """p(x) = sum_i w_i N(x; mu_i, sigma_i^2 I) in d dimensions.

    Args:
        centres: (K, d) component means mu_i.
        stds: (K,) component standard deviations sigma_i.
        weights: (K,) mixture weights w_i, normalised here.
    """

    def __init__(self, centres: Tensor, stds: Tensor, weights: Tensor | None = None):
        self.centres = torch.as_tensor(centres, dtype=torch.float64)  # (K, d)
        k = self.centres.shape[0]
        self.stds = torch.as_tensor(stds, dtype=torch.float64).expand(k).clone()  # (K,)
        w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(weights)
        self.weights = (w / w.sum()).to(torch.float64)  # (K,)

    @property
    def dim(self) -> int:
        return self.centres.shape[1]

    @property
    def components(self) -> int:
        """K, the number of Gaussians (a conditional run's classes: the mode is the label)."""
        return self.centres.shape[0]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n float32 samples of shape (n, d): a component by its weight, then its Gaussian."""
        return self.sample_labelled(n, generator)[0]

    def sample_labelled(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """(x, i): the n samples of `sample` (the same draws) and each one's component, (n,)."""
        i = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)  # (n, d)
        return (self.centres[i] + self.stds[i, None] * eps).to(torch.float32), i

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) for x of shape (n, d), in float64, via logsumexp over components."""
        x = torch.as_tensor(x, dtype=torch.float64)
        sq = torch.cdist(x, self.centres) ** 2  # (n, K)
        log_norm = -0.5 * self.dim * torch.log(2 * math.pi * self.stds**2)  # (K,)
        log_comp = log_norm - sq / (2 * self.stds**2) + torch.log(self.weights)
        return torch.logsumexp(log_comp, dim=1)


def gaussian_1d(mean: float = 4.0, std: float = 0.5) -> GaussianMixture:
    """N(mean, std^2) on the line, the p_data of the paper's Figure 1."""
    return GaussianMixture(
        torch.tensor([[mean]], dtype=torch.float64), torch.tensor([std], dtype=torch.float64)
    )


def mixture_1d(means: list[float], std: float = 0.5, weights: list[float] | None = None):
    """A 1-D mixture of Gaussians of equal std at the given means."""
    w = None if weights is None else torch.tensor(weights, dtype=torch.float64)
    return GaussianMixture(
        torch.tensor(means, dtype=torch.float64)[:, None],
        torch.tensor([std], dtype=torch.float64),
        w,
    )


def ring(modes: int = 8, radius: float = 1.0, std: float = 0.01) -> GaussianMixture:
    """`modes` equal Gaussians centred at radius * (cos 2 pi i / modes, sin 2 pi i / modes)."""
    angle = 2 * math.pi * torch.arange(modes, dtype=torch.float64) / modes
    centres = radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    return GaussianMixture(centres, torch.tensor([std], dtype=torch.float64))


def grid(size: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
    """size x size equal Gaussians on a square grid centred at 0: {-4,-2,0,2,4}^2 by default."""
    axis = spacing * (torch.arange(size, dtype=torch.float64) - (size - 1) / 2)
    centres = torch.cartesian_prod(axis, axis)
    return GaussianMixture(centres, torch.tensor([std], dtype=torch.float64))
