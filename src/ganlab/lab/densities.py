"""The densities a frame of `ganlab lab` compares, on the view's grid: pure functions.

p_g has no closed form: it is a Gaussian kernel estimate from samples of G, with bandwidth h
(`kernel_density`, binned). So that a perfect G scores 0, p_data is smoothed by the same kernel
(`smoothed`: for a mixture of Gaussians of std s this is exact, the same mixture with std
sqrt(s^2 + h^2)), and JSD and KL are those of the two smoothed densities, by a sum over the
grid's cells (`divergences`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ganlab.data.toy import GaussianMixture


@dataclass(frozen=True)
class View:
    """The region of data space a dataset is shown in.

    Attributes:
        dim: 1 or 2, the dimension of x.
        lo, hi: the view's bounds on each axis (the same on both axes in 2-D).
    """

    dim: int
    lo: float
    hi: float

    @property
    def span(self) -> float:
        return self.hi - self.lo

    @property
    def bandwidth(self) -> float:
        """h of the kernel estimate of p_g: 1/60 of the view in 2-D, 1/80 in 1-D."""
        return self.span / (60 if self.dim == 2 else 80)


def cell_centres(view: View, cells: int) -> Tensor:
    """(cells,) centres of `cells` equal cells covering [lo, hi]."""
    width = view.span / cells
    return view.lo + width * (torch.arange(cells, dtype=torch.float64) + 0.5)


def grid_points(view: View, cells: int) -> Tensor:
    """(cells^2, 2) cell centres, row by row from the top (y = hi) as a canvas draws them."""
    c = cell_centres(view, cells)
    ys, xs = torch.meshgrid(c.flip(0), c, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def kernel_density(samples: Tensor, view: View, cells: int, h: float) -> Tensor:
    """Gaussian kernel estimate p(x) = 1/N sum_i N(x; x_i, h^2 I) at the view's cell centres.

    Samples are binned into the cells, then the counts blurred by the kernel (separably), which
    is the kernel estimate up to moving each sample to its cell's centre: O(N + cells^d) instead
    of O(N cells^d). Samples outside the view are left out.

    Returns:
        (cells,) in 1-D; (cells^2,) in 2-D, in grid_points' order (rows from the top).
    """
    width = view.span / cells
    idx = ((samples.double() - view.lo) / width).floor().long()  # (N, d)
    idx = idx[((idx >= 0) & (idx < cells)).all(dim=1)]
    sigma = h / width  # the kernel's std in cells
    r = max(1, math.ceil(4 * sigma))
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float64) ** 2) / (2 * sigma**2))
    k = k / k.sum()  # (2r + 1,)
    if view.dim == 1:
        counts = torch.bincount(idx[:, 0], minlength=cells).double()
        blurred = F.conv1d(counts[None, None], k[None, None], padding=r)[0, 0]
        return blurred / (len(samples) * width)
    row = cells - 1 - idx[:, 1]  # y grows upwards, rows downwards
    counts = torch.bincount(row * cells + idx[:, 0], minlength=cells * cells).double()
    img = counts.reshape(1, 1, cells, cells)
    img = F.conv2d(img, k.reshape(1, 1, -1, 1), padding=(r, 0))
    img = F.conv2d(img, k.reshape(1, 1, 1, -1), padding=(0, r))
    return img.reshape(-1) / (len(samples) * width * width)


def smoothed(dist: GaussianMixture, h: float) -> GaussianMixture:
    """p_data convolved with N(0, h^2 I): the same mixture with each std^2 raised by h^2."""
    return GaussianMixture(dist.centres, torch.sqrt(dist.stds**2 + h * h), dist.weights)


def divergences(p: Tensor, q: Tensor) -> dict[str, float]:
    """JSD(p || q) and KL(p || q) of two distributions given by their masses on the same cells.

        KL(p || q) = sum_c p_c log(p_c / q_c),  JSD = KL(p || m) / 2 + KL(q || m) / 2,  m = (p+q)/2

    Mass missing from a sum below 1 (samples of G outside the view) is one more cell, "outside",
    so G leaving the view raises JSD towards log 2 instead of vanishing from the sum. q is
    floored at 1e-12 so that KL stays finite where G puts no sample.

    Args:
        p, q: (cells,) masses >= 0, each summing to at most ~1.
    """
    p = torch.cat([p, (1 - p.sum()).clamp_min(0)[None]])
    q = torch.cat([q, (1 - q.sum()).clamp_min(0)[None]])
    p = p / p.sum()
    q = q / q.sum()
    q = (q + 1e-12) / (1 + 1e-12 * len(q))
    m = 0.5 * (p + q)

    def kl(a: Tensor, b: Tensor) -> float:
        nz = a > 0
        return float((a[nz] * torch.log(a[nz] / b[nz])).sum())

    return {"jsd": 0.5 * kl(p, m) + 0.5 * kl(q, m), "kl": kl(p, q)}


__all__ = [
    "View",
    "cell_centres",
    "divergences",
    "grid_points",
    "kernel_density",
    "smoothed",
]
