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
kernel's reach). p_g is a kernel estimate from samples of G, p_data is smoothed by the same
kernel, and JSD and KL are those of the two: ganlab.lab.densities.

A conditional run's frame (issue 17) draws G(z, y) and D(x, y) for the class picked, or for all
classes; every point carries its class (`real_y`, `fake_y`). What "all" means for D's map, D*
and the statistics: ganlab.lab.classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ganlab.data.toy import GaussianMixture
from ganlab.game.divergences import optimal_discriminator_from_logs
from ganlab.game.objectives import Objective
from ganlab.lab.classes import (
    class_discriminator,
    class_g_loss,
    class_weights,
    component,
    d_map_label,
    label_agreement,
    pictured_labels,
)
from ganlab.lab.densities import (
    View,
    cell_centres,
    divergences,
    grid_points,
    kernel_density,
    smoothed,
)
from ganlab.metrics.coverage import mode_coverage

HEATMAP_CELLS = 40  # per side of the D(x) and D*(x) heatmaps
DENSITY_CELLS = 64  # per side of the grid that JSD and KL are summed over (2-D)
CURVE_POINTS = 240  # x values of the 1-D curves
MANIFOLD_LINES = 13  # noise values per axis of the generator-manifold grid
ARROW_LENGTH = 0.08  # longest gradient arrow, as a share of the view's width
ARROWS = 160  # generated points that get an arrow
DSTAR_2014 = "optimal D*(x) = p_data / (p_data + p_g) (Proposition 1)"


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
    # a conditional run (issue 17): its K classes' names, the picker (None: all classes), the
    # class of each real point, (n,), and AC-GAN's weight of the class term in G's loss
    classes: list[str] | None = None
    picked: int | None = None
    real_y: Tensor | None = None
    acgan_weight: float = 1.0


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


def noise_axis(kind: str, scale: float, n: int) -> Tensor:
    """n evenly spaced values over the bulk of one noise coordinate: [-s, s] (uniform) or
    [-2s, 2s] (Gaussian), (n,)."""
    reach = scale if kind == "uniform" else 2.0 * scale
    return torch.linspace(-reach, reach, n)


def generator_gradient(
    G_x: Tensor,
    D: nn.Module,
    game: Objective,
    pack: int,
    real: Tensor | None = None,
    y: Tensor | None = None,
    real_y: Tensor | None = None,
    acgan_weight: float = 1.0,
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
        y: a conditional G's class of each point, (n,): L_G is then G's loss on D(x, y) as
            training computes it (classes.class_g_loss: AC-GAN's class term included);
            real_y the classes of `real`. None for an unconditional run.
    """
    n = (len(G_x) // pack) * pack
    x = G_x[:n].detach().float().requires_grad_(True)
    d_real = paired = paired_y = None
    if game.g_needs_real:
        assert real is not None, "a relativistic G loss pairs each sample with an example"
        paired = real[torch.arange(n) % len(real)].float()  # (n, d)
        paired_y = None if real_y is None else real_y[torch.arange(n) % len(real)]
        if y is None:
            with torch.no_grad():
                d_real = D(paired)  # (n / pack,)
    with torch.enable_grad():
        if y is None:
            loss = game.g_loss(D(x), d_real)
        else:  # a conditional run's pack is 1
            loss = class_g_loss(D, x, y[:n], game, acgan_weight, paired, paired_y)
        (grad,) = torch.autograd.grad(loss * (n // pack), x)  # mean over packs -> sum
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
        A conditional run's frame adds "classes" (their names), "picked" (the class picked, or
        None: all), "real_y" and "fake_y" (each point's class), "d_map" (what D's map shows)
        and, in 2-D, the manifold's "y" (the class of each of its grids).
    """
    G, D, game = snap.G, snap.D, snap.game
    output = game.output
    K = None if snap.classes is None else len(snap.classes)
    # G's samples of every class (a conditional G without y: the balanced classes i mod K):
    # the statistics and the charts read these, whatever the picker shows
    density_fake = G(snap.density_z).double()  # (N, d)
    if K is None:
        shown, y = density_fake, None

        def d_of(x: Tensor, cells: int) -> Tensor:
            return discriminator_on(D, x, snap.pack, output)

        def G_of(z: Tensor, classes: Tensor | None = None) -> Tensor:
            return G(z).double()

    else:
        y = pictured_labels(len(snap.density_z), K, snap.picked)  # (N,)
        shown = density_fake if snap.picked is None else G(snap.density_z, y).double()

        def d_of(x: Tensor, cells: int) -> Tensor:
            weights = None  # "all": weighted by the classes of the pairs at x (classes.py)
            if snap.picked is None and snap.dist is not None:
                weights = class_weights(view, x, cells, snap.dist, density_fake, K)
            return class_discriminator(D, x, output, K, snap.picked, weights)

        def G_of(z: Tensor, classes: Tensor | None = None) -> Tensor:
            if classes is None:
                classes = pictured_labels(len(z), K, snap.picked)
            return G(z, classes).double()

    # p_data of the picture: class k's component when one is picked
    pictured = snap.dist
    if K is not None and snap.picked is not None and snap.dist is not None:
        pictured = component(snap.dist, snap.picked) if snap.picked < snap.dist.components else None
    fake = shown[: snap.preview]  # (n, d)
    grad = generator_gradient(
        fake[:ARROWS],
        D,
        game,
        snap.pack,
        snap.real,
        None if y is None else y[:ARROWS],
        snap.real_y,
        snap.acgan_weight,
    )
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
    if K is not None:
        frame.update(
            classes=snap.classes,
            picked=snap.picked,
            real_y=snap.real_y.tolist(),
            fake_y=y[: snap.preview].tolist(),
            d_map=d_map_label(D, snap.picked, snap.classes, snap.dist is not None),
        )
    z_dim = snap.density_z.shape[1]
    if view.dim == 2:
        cells = grid_points(view, HEATMAP_CELLS)
        d_map = d_of(cells, HEATMAP_CELLS)  # (HEATMAP_CELLS^2,)
        frame["heatmap"] = _rounded(d_map, 3)
        frame["d_range"] = value_range(d_map, output)
        frame["manifold"] = _manifold_2d(snap, G_of, K, z_dim)
        if pictured is not None:
            # D* on the heatmap's cells
            log_p_data = smoothed(pictured, view.bandwidth).log_prob(cells)
            p_g = kernel_density(shown, view, HEATMAP_CELLS, view.bandwidth)
            frame["dstar"] = _rounded(optimal_discriminator_from_logs(log_p_data, p_g.log()), 3)
    else:
        x = cell_centres(view, CURVE_POINTS)[:, None]  # (k, 1)
        frame["x"] = _rounded(x[:, 0])
        d_curve = d_of(x, CURVE_POINTS)  # (CURVE_POINTS,)
        frame["d"] = _rounded(d_curve)
        frame["d_range"] = value_range(d_curve, output)
        axis = noise_axis(snap.noise_kind, snap.noise_scale, 2 * MANIFOLD_LINES)
        z = torch.zeros(len(axis), z_dim)
        z[:, 0] = axis
        frame["manifold"] = {"z": _rounded(axis), "x": _rounded(G_of(z)[:, 0])}
        if K is not None:
            frame["manifold"]["y"] = pictured_labels(len(z), K, snap.picked).tolist()
        frame["z_reach"] = float(axis[-1])
        if pictured is not None:
            log_p_data = smoothed(pictured, view.bandwidth).log_prob(x)
            p_g = kernel_density(shown, view, CURVE_POINTS, view.bandwidth)
            frame["p_data"] = _rounded(log_p_data.exp())
            frame["p_g"] = _rounded(p_g)
            frame["dstar"] = _rounded(optimal_discriminator_from_logs(log_p_data, p_g.log()))
    frame["stats"] = _stats(view, snap, density_fake, K)
    return frame


def _manifold_2d(snap: Snapshot, G_of, K: int | None, z_dim: int) -> dict:
    """G on a grid of noise values (the first two coordinates; the others 0): {"rows": L,
    "points"}; for a conditional G one grid per class shown ("all": every class), "y" their
    classes, the grids' points one after another."""
    axis = noise_axis(snap.noise_kind, snap.noise_scale, MANIFOLD_LINES)
    if z_dim >= 2:
        z = torch.zeros(MANIFOLD_LINES**2, z_dim)
        z[:, :2] = torch.cartesian_prod(axis, axis)  # (L^2, 2), the first two noise coordinates
        rows = MANIFOLD_LINES
    else:
        z, rows = axis[:, None], 1
    if K is None:
        return {"rows": rows, "points": _rounded(G_of(z))}
    grids = list(range(K)) if snap.picked is None else [snap.picked]
    y = torch.tensor(grids).repeat_interleave(len(z))  # (grids * L^2,)
    points = G_of(z.repeat(len(grids), 1), y)
    return {"rows": rows, "points": _rounded(points), "y": grids}


def _stats(view: View, snap: Snapshot, density_fake: Tensor, K: int | None) -> dict:
    """JSD and KL(p_data || p_g) of the kernel-smoothed densities, mode coverage and, for a
    conditional run, label agreement: always of G's samples of every class (classes.py)."""
    stats: dict[str, Any] = {}
    dist, h = snap.dist, view.bandwidth
    if dist is not None:
        n = DENSITY_CELLS if view.dim == 2 else CURVE_POINTS  # 2-D: finer than the heatmap
        cells = grid_points(view, n) if view.dim == 2 else cell_centres(view, n)[:, None]
        volume = (view.span / n) ** view.dim  # of one cell
        p_data = smoothed(dist, h).log_prob(cells).exp() * volume
        p_g = kernel_density(density_fake, view, n, h) * volume
        stats.update(divergences(p_data, p_g))
    if dist is not None and snap.modes:
        cov = mode_coverage(density_fake, dist.centres, float(dist.stds[0]))
        stats.update(
            modes_covered=cov["modes_covered"], modes=cov["modes"], high_quality=cov["high_quality"]
        )
        if K is not None and K == dist.components:  # a toy mixture's class is its mode
            y = pictured_labels(len(density_fake), K, None)
            stats["label_agreement"] = label_agreement(density_fake, y, dist.centres)
    return stats


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
