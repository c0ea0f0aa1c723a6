"""What one frame of `ganlab lab` shows, computed from a snapshot of G and D: pure functions.

For 2-D data: D(x) on a grid (the heatmap), the optimal discriminator D* beside it, real and
generated points, how G maps a grid of noise (the generator manifold) and the direction G's
loss moves each generated point. For 1-D data the same in the paper's Figure 1 view: p_data,
p_g, D and D* as curves over x, and lines from z to x = G(z). The points are those of the G
that samples (`TrainState.sampler`: G's moving average when cfg.ema is on).

    D*_G(x) = p_data(x) / (p_data(x) + p_g(x))                             (Proposition 1)

D(x) is sigmoid(a) for the 2014 objectives, whose D outputs the logit a of a probability; the
others' D is an unbounded critic (Objective.output == "critic"), shown raw on a scale of its
own, from the frame's smallest value to its largest. D* above is the 2014 game's optimum only:
for a critic objective the frame labels it so (`dstar_label`).

D* is ganlab.game.divergences' optimal_discriminator_from_logs: no 0/0 where both densities
underflow, and 1 where the kernel estimate of p_g is exactly 0 (no sample of G within the
kernel's reach). p_g has no closed form: it is a Gaussian kernel estimate from samples of G,
with bandwidth h. So that a perfect G scores 0, p_data is smoothed by the same kernel (for a
mixture of Gaussians of std s this is exact: the same mixture with std sqrt(s^2 + h^2)), and JSD
and KL are those of the two smoothed densities, by a sum over the grid's cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.data.toy import GaussianMixture
from ganlab.game.divergences import optimal_discriminator_from_logs
from ganlab.game.objectives import Objective
from ganlab.metrics.coverage import mode_coverage

HEATMAP_CELLS = 40  # per side of the D(x) and D*(x) heatmaps
DENSITY_CELLS = 64  # per side of the grid that JSD and KL are summed over (2-D)
CURVE_POINTS = 240  # x values of the 1-D curves
MANIFOLD_LINES = 13  # noise values per axis of the generator-manifold grid
ARROW_LENGTH = 0.08  # longest gradient arrow, as a share of the view's width
ARROWS = 160  # generated points that get an arrow
DSTAR_2014 = "optimal D*(x) = p_data / (p_data + p_g) (Proposition 1)"


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


@dataclass
class Snapshot:
    """Copies of what a frame reads, taken under the session's lock; training goes on."""

    G: nn.Module  # the G that samples: G itself, or its moving average
    D: nn.Module
    game: Objective  # the objective: G's loss for the arrows, how D's output reads
    sampler: str  # "G" or "G_ema": which of the two G is
    pack: int  # D's pack size: D judges packs of this many examples
    noise_kind: str
    noise_scale: float
    density_z: Tensor  # (N, z_dim) fixed noise: p_g's estimate and mode coverage
    preview: int  # the first `preview` of G(density_z) are drawn (a multiple of pack)
    real: Tensor  # (n, d) points of p_data shown
    dist: GaussianMixture | None  # p_data when known
    modes: bool  # whether mode coverage of dist's components means something


def cell_centres(view: View, cells: int) -> Tensor:
    """(cells,) centres of `cells` equal cells covering [lo, hi]."""
    width = view.span / cells
    return view.lo + width * (torch.arange(cells, dtype=torch.float64) + 0.5)


def grid_points(view: View, cells: int) -> Tensor:
    """(cells^2, 2) cell centres, row by row from the top (y = hi) as a canvas draws them."""
    c = cell_centres(view, cells)
    ys, xs = torch.meshgrid(c.flip(0), c, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def discriminator_on(D: nn.Module, x: Tensor, pack: int, output: str = "probability") -> Tensor:
    """D(x) per point, (n,): sigmoid(a) for output "probability", the raw critic value for
    "critic" (Objective.output). A packed D judges packs: each point as a pack of copies of
    itself."""
    x = x.float()
    if pack > 1:
        x = x.repeat_interleave(pack, dim=0)  # (n * pack, d): consecutive rows form a pack
    d = D(x).double()
    return torch.sigmoid(d) if output == "probability" else d


def value_range(d: Tensor, output: str) -> list[float]:
    """The colour scale of D's values: [0, 1] for a probability; for a critic, the smallest and
    largest finite value (a flat critic gets a unit-wide range around its value)."""
    if output == "probability":
        return [0.0, 1.0]
    finite = d[torch.isfinite(d)]
    if not len(finite):
        return [0.0, 1.0]
    lo, hi = float(finite.min()), float(finite.max())
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return [round(lo, 4), round(hi, 4)]


def dstar_label(game: Objective) -> str:
    """What the D* picture is for `game`: the optimum of the 2014 game, and only of it."""
    if game.output == "probability":
        return DSTAR_2014
    return (
        f"p_data / (p_data + p_g): the 2014 game's D*, not the optimum of {game.name}'s critic "
        "(shown raw beside it)"
    )


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


def noise_axis(kind: str, scale: float, n: int) -> Tensor:
    """n evenly spaced values over the bulk of one noise coordinate: [-s, s] (uniform) or
    [-2s, 2s] (Gaussian), (n,)."""
    reach = scale if kind == "uniform" else 2.0 * scale
    return torch.linspace(-reach, reach, n)


def generator_gradient(
    G_x: Tensor, D: nn.Module, game: Objective, pack: int, real: Tensor | None = None
) -> Tensor:
    """-dL_G/dx for each generated point x = G(z): the way G's loss pushes it, (n, d).

    G's update moves theta_g along -dL_G/dtheta_g = -sum_i (dL_G/dx_i)(dx_i/dtheta_g): these are
    the per-point factors, with L_G = game.g_loss(D(x), D(x_real)) the summed (not averaged)
    loss, so each arrow is one point's.

    Args:
        G_x: (n, d) generated points.
        game: the objective whose G loss is differentiated.
        pack: D's pack size (the first n // pack * pack points are used).
        real: (r, d) data points, cycled to pair one with each generated point when the G loss
            compares them (game.g_needs_real: relativistic); else unused.
    """
    n = (len(G_x) // pack) * pack
    x = G_x[:n].detach().float().requires_grad_(True)
    d_real = None
    if game.g_needs_real:
        assert real is not None, "a relativistic G loss pairs each sample with an example"
        with torch.no_grad():
            d_real = D(real[torch.arange(n) % len(real)].float())  # (n / pack,)
    with torch.enable_grad():
        loss = game.g_loss(D(x), d_real) * (n // pack)  # mean over packs -> sum
        (grad,) = torch.autograd.grad(loss, x)
    return -grad


def _rounded(t: Tensor, digits: int = 4) -> list:
    return torch.round(t.double(), decimals=digits).tolist()


def _arrows(view: View, grad: Tensor) -> tuple[list, float]:
    """Arrow vectors for display: direction of the gradient, length span * A * |g| / (|g| + 1),
    so a vanishing gradient draws a vanishing arrow. Returns (vectors, mean |g|)."""
    norm = grad.norm(dim=1, keepdim=True)  # (n, 1)
    length = view.span * ARROW_LENGTH * norm / (norm + 1.0)
    vec = grad / norm.clamp_min(1e-30) * length
    return _rounded(vec), float(norm.mean()) if len(norm) else 0.0


@torch.no_grad()
def compute_frame(view: View, snap: Snapshot) -> dict:
    """Everything the page draws of the current G and D, as JSON-ready lists.

    Returns:
        {"dim", "lo", "hi", "real", "fake", "sampler", "arrows", "grad_x", "manifold", "stats",
        "d_output", "d_range", "dstar_label", "minimises", ...}: the 2-D frame adds "heatmap"
        (row-major, HEATMAP_CELLS^2 values of D, in d_range) and "dstar" (in [0, 1]); the 1-D
        frame adds "x", "d", "dstar", "p_data", "p_g" curves. d_output is "probability"
        (D(x) = sigmoid(a), d_range [0, 1]) or "critic" (raw values, d_range their min and max).
    """
    G, D, game = snap.G, snap.D, snap.game
    output = game.output
    density_fake = G(snap.density_z).double()  # (N, d)
    fake = density_fake[: snap.preview]  # (n, d)
    grad = generator_gradient(fake[:ARROWS], D, game, snap.pack, snap.real)
    arrows, grad_x = _arrows(view, grad)
    frame = {
        "dim": view.dim,
        "lo": view.lo,
        "hi": view.hi,
        "real": _rounded(snap.real, 3),
        "fake": _rounded(fake, 3),
        "sampler": snap.sampler,
        "arrows": arrows,
        "grad_x": grad_x,
        "d_output": output,
        "dstar_label": dstar_label(game),
        "minimises": game.minimises,
    }
    z_dim = snap.density_z.shape[1]
    stats = {}
    if view.dim == 2:
        cells = grid_points(view, HEATMAP_CELLS)
        d_map = discriminator_on(D, cells, snap.pack, output)  # (HEATMAP_CELLS^2,)
        frame["heatmap"] = _rounded(d_map, 3)
        frame["d_range"] = value_range(d_map, output)
        axis = noise_axis(snap.noise_kind, snap.noise_scale, MANIFOLD_LINES)
        if z_dim >= 2:
            z = torch.zeros(MANIFOLD_LINES**2, z_dim)
            zz = torch.cartesian_prod(axis, axis)  # (L^2, 2), the first two noise coordinates
            z[:, :2] = zz
            frame["manifold"] = {"rows": MANIFOLD_LINES, "points": _rounded(G(z).double())}
        else:
            frame["manifold"] = {"rows": 1, "points": _rounded(G(axis[:, None]).double())}
        if snap.dist is not None:
            h = view.bandwidth
            # D* on the heatmap's cells; JSD and KL on a finer grid
            log_p_data = smoothed(snap.dist, h).log_prob(cells)
            p_g = kernel_density(density_fake, view, HEATMAP_CELLS, h)
            frame["dstar"] = _rounded(optimal_discriminator_from_logs(log_p_data, p_g.log()), 3)
            fine = grid_points(view, DENSITY_CELLS)
            area = (view.span / DENSITY_CELLS) ** 2
            p_fine = smoothed(snap.dist, h).log_prob(fine).exp() * area
            stats.update(
                divergences(p_fine, kernel_density(density_fake, view, DENSITY_CELLS, h) * area)
            )
    else:
        x = cell_centres(view, CURVE_POINTS)[:, None]  # (k, 1)
        frame["x"] = _rounded(x[:, 0])
        d_curve = discriminator_on(D, x, snap.pack, output)  # (CURVE_POINTS,)
        frame["d"] = _rounded(d_curve)
        frame["d_range"] = value_range(d_curve, output)
        axis = noise_axis(snap.noise_kind, snap.noise_scale, 2 * MANIFOLD_LINES)
        z = torch.zeros(len(axis), z_dim)
        z[:, 0] = axis
        frame["manifold"] = {"z": _rounded(axis), "x": _rounded(G(z).double()[:, 0])}
        frame["z_reach"] = float(axis[-1])
        if snap.dist is not None:
            h = view.bandwidth
            log_p_data = smoothed(snap.dist, h).log_prob(x)
            p_data = log_p_data.exp()
            p_g = kernel_density(density_fake, view, CURVE_POINTS, h)
            frame["p_data"] = _rounded(p_data)
            frame["p_g"] = _rounded(p_g)
            frame["dstar"] = _rounded(optimal_discriminator_from_logs(log_p_data, p_g.log()))
            width = view.span / CURVE_POINTS
            stats.update(divergences(p_data * width, p_g * width))
    if snap.dist is not None and snap.modes:
        cov = mode_coverage(density_fake, snap.dist.centres, float(snap.dist.stds[0]))
        stats.update(
            modes_covered=cov["modes_covered"], modes=cov["modes"], high_quality=cov["high_quality"]
        )
    frame["stats"] = stats
    return frame


def finite(value: Any) -> Any:
    """A frame with every NaN or infinity (a diverged G or D) replaced by None: JSON's null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def packed_rows(n: int, pack: int) -> int:
    """The largest multiple of pack <= n (a packed D takes whole packs), at least pack."""
    return max(pack, (n // pack) * pack)


__all__ = [
    "DSTAR_2014",
    "Snapshot",
    "View",
    "compute_frame",
    "discriminator_on",
    "divergences",
    "dstar_label",
    "finite",
    "generator_gradient",
    "kernel_density",
    "packed_rows",
    "value_range",
]
