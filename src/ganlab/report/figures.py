"""Figures (PNG) and the HTML page of a run.

matplotlib is imported inside the functions, with the Agg backend, so that importing ganlab
stays fast and works without a display.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.data.toy import GaussianMixture
from ganlab.report.layout import FigureLayoutWarning, layout_problems, wrapped_title

# Legend text: matplotlib's default 10 pt is ~14 px at 100 dpi, readable on a page
LEGEND_PT = 10


def pyplot():
    """matplotlib.pyplot with the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Save a figure as PNG atomically (temp file, rename) and close it; a FigureLayoutWarning
    for each of layout_problems(fig)."""
    path = Path(path)
    for problem in layout_problems(fig):
        warnings.warn(f"{path.name}: {problem}", FigureLayoutWarning, stacklevel=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    tmp.replace(path)
    pyplot().close(fig)
    return path


def principal_plane(fake: Tensor, real: Tensor | None) -> tuple[Tensor, Tensor | None, tuple]:
    """Points of d > 2 dimensions projected on the first two principal components of the data
    (of the samples when there is no data), both sets by the same map; and the axis names,
    with the share of the data's variance each component holds."""
    basis = (real if real is not None else fake).double()
    mean = basis.mean(0)
    _, s, v = torch.linalg.svd(basis - mean, full_matrices=False)  # v: (d, d) rows = components
    share = (s**2 / (s**2).sum()).tolist()
    project = lambda x: ((x.double() - mean) @ v[:2].T).float()  # noqa: E731  (n, 2)
    names = tuple(f"PC{i + 1} of the data ({100 * share[i]:.0f}% of its variance)" for i in (0, 1))
    return project(fake), project(real) if real is not None else None, names


def image_grid(images: Tensor, value_range: tuple[float, float] = (0.0, 1.0), cols: int = 8):
    """(n, C, H, W) images -> one (rows*H, cols*W, C) array in [0, 1], a pixel of gap between."""
    x = torch.as_tensor(images, dtype=torch.float32)
    lo, hi = value_range
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    n, c, h, w = x.shape
    rows = -(-n // cols)
    canvas = torch.ones(c, rows * (h + 1) + 1, cols * (w + 1) + 1)
    for i in range(n):
        r, q = divmod(i, cols)
        canvas[:, 1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + q * (w + 1) : 1 + q * (w + 1) + w] = x[
            i
        ]
    return canvas.permute(1, 2, 0).numpy()


def save_sample_figure(
    path: Path,
    fake: Tensor,
    real: Tensor | None = None,
    distribution: GaussianMixture | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    title: str = "",
) -> Path:
    """Generated samples drawn the way their kind of data is looked at, beside the data.

    Points in 2-D: a scatter over the data; in more dimensions the same in the plane of the
    data's first two principal components; in 1-D: histograms with the data density;
    images: a grid of up to 64, with a grid of as many training images beside it.
    """
    plt = pyplot()
    fake = torch.as_tensor(fake).detach().float()
    if fake.ndim == 4:
        panels = [("generated", fake[:64])]
        if real is not None:
            panels.append(("data (training examples)", torch.as_tensor(real).float()[:64]))
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 6.4), squeeze=False)
        for ax, (name, images) in zip(axes[0], panels, strict=True):
            grid = image_grid(images, value_range)
            ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0,
                      vmax=1)  # fmt: skip
            ax.axis("off")
            ax.set_title(name)
        if title:
            fig.suptitle(title)
        return save_figure(fig, path)
    if fake.shape[1] > 2:
        fake, real, axis_names = principal_plane(fake, real)
        distribution = None
    else:
        axis_names = ("x1 (data coordinate)", "x2 (data coordinate)")
    if fake.shape[1] == 1:
        fig, ax = plt.subplots(figsize=(7, 4))
        values = fake[:, 0].numpy()
        lo, hi = np.percentile(values, [0.5, 99.5])
        if real is not None:
            r = real[:, 0].numpy()
            lo, hi = min(lo, r.min()), max(hi, r.max())
            ax.hist(r, bins=80, range=(lo, hi), density=True, color="0.6", alpha=0.6, label="data")
        ax.hist(
            values,
            bins=80,
            range=(lo, hi),
            density=True,
            color="tab:green",
            alpha=0.6,
            label="generated",
        )
        if distribution is not None:
            grid = torch.linspace(lo, hi, 400, dtype=torch.float64)[:, None]
            ax.plot(grid[:, 0], distribution.log_prob(grid).exp(), "k:", label="p_data")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        ax.legend()
    else:
        fig, ax = plt.subplots(figsize=(6, 6))
        # Generated first, data on top: with sharp modes the data would hide under G's points.
        ax.scatter(fake[:, 0], fake[:, 1], s=6, c="tab:green", alpha=0.5, label="generated")
        if real is not None:
            ax.scatter(real[:, 0], real[:, 1], s=1, c="k", alpha=0.4, label="data")
        if distribution is not None and distribution.dim == 2:
            c = distribution.centres
            ax.scatter(
                c[:, 0], c[:, 1], marker="+", c="tab:red", s=40, lw=0.8, label="mode centres"
            )
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel(axis_names[0])
        ax.set_ylabel(axis_names[1])
        ax.legend(loc="upper right", fontsize=9, markerscale=2)
    if title:
        ax.set_title(wrapped_title(ax, title))
    return save_figure(fig, path)


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows])


@dataclass(frozen=True)
class CurvePanel:
    """One figure of training curves: which columns it draws and how.

    Attributes:
        name: the figure's file stem (losses.png).  title: its title.  alt: its image's alt text.
        keys: (column, label) pairs, drawn in order.
        styles: which key is which line style when several runs share the figure, one colour
            per run ("solid: D, dashed: G"); "" for one key.
        hline: (y, label) reference line, or None.  log: a log y axis (gradient norms span
            decades).  ylim: y range, or None.  ylabel: y axis label.
        marker: matplotlib marker of each point ("o" for sparse rows such as coverage.csv).
    """

    name: str
    title: str
    alt: str
    keys: tuple[tuple[str, str], ...]
    styles: str = ""
    hline: tuple[float, str] | None = None
    log: bool = False
    ylim: tuple[float, float] | None = None
    ylabel: str = ""
    marker: str = ""


# The figures of metrics.csv, drawn for one run (save_curves) and for several (compare).
CURVE_PANELS = (
    CurvePanel(
        "losses",
        "Losses",
        "losses",
        (("d_loss", "D loss"), ("g_loss", "G loss")),
        styles="solid: D, dashed: G",
        hline=(math.log(4), "log 4 (D loss at equilibrium)"),
        ylabel="loss (nats, minibatch mean)",
    ),
    CurvePanel(
        "discriminator",
        "Discriminator outputs",
        "mean D(x) and D(G(z))",
        (("d_real", "mean D(x)"), ("d_fake", "mean D(G(z))")),
        styles="solid: D(x), dashed: D(G(z))",
        hline=(0.5, "1/2 (equilibrium)"),
        ylim=(-0.02, 1.02),
        ylabel="mean D output",
    ),
    CurvePanel(
        "grad_norms",
        "Gradient norms",
        "gradient norms",
        (("g_grad_norm", "|grad G|"), ("d_grad_norm", "|grad D|")),
        styles="solid: G, dashed: D",
        log=True,
        ylabel="gradient norm (L2, log scale)",
    ),
)

# coverage.csv over several runs (one run's coverage figure is save_coverage_figure)
COVERAGE_PANEL = CurvePanel(
    "coverage",
    "Mode coverage over training (2,500 samples per point)",
    "mode coverage",
    (("modes_covered", "modes covered"),),
    ylabel="modes covered",
    marker="o",
)


def _finish_panel(ax, panel: CurvePanel, title: str) -> None:
    """Reference line, axes and title of a panel whose lines are drawn (the caller places
    the legend: one run's is small, several runs' is long)."""
    if panel.hline is not None:
        ax.axhline(panel.hline[0], color="0.5", ls=":", lw=1, label=panel.hline[1])
    if panel.log:
        ax.set_yscale("log")
    if panel.ylim is not None:
        ax.set_ylim(*panel.ylim)
    ax.set_xlabel("step")
    if panel.ylabel:
        ax.set_ylabel(panel.ylabel)
    ax.set_title(wrapped_title(ax, title))


def save_curves(run_dir: Path, rows: list[dict]) -> dict[str, Path]:
    """losses.png, discriminator.png and grad_norms.png (CURVE_PANELS) from metrics.csv rows."""
    plt = pyplot()
    run_dir = Path(run_dir)
    step = _column(rows, "step")
    out = {}
    for panel in CURVE_PANELS:
        fig, ax = plt.subplots(figsize=(7, 4))
        if len(rows) < 2:  # one row is a dot without a marker: an empty-looking figure
            too_few_rows(ax, str(len(rows)), "metrics.csv gets a row every log_every steps")
        else:
            for key, label in panel.keys:
                ax.plot(step, _column(rows, key), marker=panel.marker or None, label=label)
        _finish_panel(ax, panel, panel.title)
        if len(rows) >= 2:
            ax.legend()
        out[panel.name] = save_figure(fig, run_dir / f"{panel.name}.png")
    return out


def too_few_rows(ax, count: str, why: str) -> None:
    """Say in the plot that it has too few rows for a curve, rather than leave it blank."""
    ax.text(
        0.5, 0.5, f"too few rows to draw ({count})\n{why}", ha="center", va="center",
        transform=ax.transAxes, fontsize=12, color="0.3",
    )  # fmt: skip


def save_coverage_figure(path: Path, rows: list[dict]) -> Path:
    """Modes covered and the share of high-quality samples over training (2-D mixtures)."""
    plt = pyplot()
    step = _column(rows, "step")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(step, _column(rows, "modes_covered"), "o-", color="tab:blue", label="modes covered")
    ax.axhline(_column(rows, "modes")[0], color="0.5", ls=":", lw=1, label="all modes")
    ax.set_xlabel("step")
    ax.set_ylabel("modes covered (2,500 samples)")
    ax.set_ylim(bottom=0)
    ax2 = ax.twinx()
    ax2.plot(
        step, 100 * _column(rows, "high_quality"), "s--", color="tab:orange", label="high quality %"
    )
    ax2.set_ylabel("% samples within 3 std of a mode")
    ax2.set_ylim(0, 100)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="lower right")
    ax.set_title("Mode coverage over training (mode collapse shows as a drop)")
    return save_figure(fig, path)


def save_discriminator_figure(path: Path, x, p_data, p_g, d, d_star, title: str = "") -> Path:
    """1-D: p_data (black dots), p_g (green), D (blue dashes) as in the paper's Figure 1, and
    the optimal D* = p_data / (p_data + p_g) of Proposition 1 (grey) for comparison."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, p_data, "k:", lw=2, label="p_data")
    ax.plot(x, p_g, color="tab:green", label="p_g (KDE of 10,000 samples)")
    ax.set_ylabel("density")
    ax.set_xlabel("x")
    ax2 = ax.twinx()
    ax2.plot(x, d, "b--", label="D(x) learned")
    ax2.plot(x, d_star, color="0.5", lw=1, label="D*(x) = p_data / (p_data + p_g)")
    ax2.axhline(0.5, color="0.8", lw=1)
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("D(x)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=8)
    ax.set_title(f"{title}: the paper's Figure 1 view" if title else "The paper's Figure 1 view")
    return save_figure(fig, path)


def save_discriminator_map(
    path: Path,
    x1: Tensor,
    x2: Tensor,
    d: Tensor,
    fake: Tensor,
    real: Tensor | None = None,
    centres: Tensor | None = None,
    title: str = "",
    critic: bool = False,
) -> Path:
    """2-D: D(x) as a heatmap over a grid, generated and real points on top.

    The 2-D analogue of the paper's Figure 1: where D says "data" (D -> 1) and "generated"
    (D -> 0), and where G's samples lie relative to the data. At the equilibrium of
    Proposition 1 (p_g = p_data) the map is 1/2 everywhere.

    Args:
        x1, x2: (n1,), (n2,) grid coordinates.  d: (n2, n1) D(x) in [0, 1] on that grid.
        fake: (n, 2) generated points.  real: (n, 2) data points.  centres: (modes, 2).
        critic: d is an unbounded critic value (the objectives after 2014), not a probability:
            its own colour scale over the grid's range, and no contour at 1/2.
    """
    plt = pyplot()
    from matplotlib.lines import Line2D

    x1, x2, d = (torch.as_tensor(t).double().numpy() for t in (x1, x2, d))
    fig, ax = plt.subplots(figsize=(7, 6))
    handles = []
    if critic:
        finite = d[np.isfinite(d)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
        mesh = ax.pcolormesh(x1, x2, d, cmap="RdBu_r", vmin=lo, vmax=max(hi, lo + 1e-9))
        fig.colorbar(mesh, ax=ax, label="D(x), the critic's raw value (red: higher, data-like)")
    else:
        # 1/2 is white on a fixed 0..1 scale: red where D says data, blue where it says
        # generated, whatever the range of this D
        mesh = ax.pcolormesh(x1, x2, d, cmap="RdBu_r", vmin=0, vmax=1, shading="auto")
        fig.colorbar(mesh, ax=ax, label="D(x)  (red: D says data, blue: D says generated)")
        half = dict(colors="k", linewidths=1.6, linestyles="--")
        if np.nanmin(d) < 0.5 < np.nanmax(d):
            # over the points: near equilibrium D = 1/2 hugs the modes, under the data
            ax.contour(x1, x2, d, levels=[0.5], zorder=5, **half)
            handles.append(Line2D([], [], color="k", ls="--", lw=1.6, label="D(x) = 1/2"))
        else:  # said in the legend, so that a missing contour is not taken for a bug
            side = "<" if np.nanmax(d) <= 0.5 else ">"
            label = f"D(x) = 1/2: nowhere (D {side} 1/2 everywhere)"
            handles.append(Line2D([], [], color="k", ls="--", lw=1.6, label=label))
    fake = torch.as_tensor(fake).float()
    ax.scatter(fake[:, 0], fake[:, 1], s=5, c="tab:green", alpha=0.5, label="generated")
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=1, c="k", alpha=0.4, label="data")
    if centres is not None:
        ax.scatter(
            centres[:, 0], centres[:, 1], marker="+", c="yellow", s=40, lw=0.8,
            label="mode centres",
        )  # fmt: skip
    ax.set_xlim(float(x1[0]), float(x1[-1]))
    ax.set_ylim(float(x2[0]), float(x2[-1]))
    ax.set_aspect("equal")
    ax.set_xlabel("x1 (data coordinate)")
    ax.set_ylabel("x2 (data coordinate)")
    points, labels = ax.get_legend_handles_labels()
    ax.legend(
        points + handles, labels + [h.get_label() for h in handles], loc="upper right",
        fontsize=9, markerscale=2, framealpha=0.9,
    )  # fmt: skip
    default = "the critic D(x) over the data space" if critic else "D(x) over the data space"
    ax.set_title(wrapped_title(ax, title or default))
    return save_figure(fig, path)


def save_overlaid_curves(path: Path, runs: dict[str, list[dict]], panel: CurvePanel) -> Path:
    """A panel's curves of several runs in one plot: one colour per run, one line style per key.

    Args:
        runs: run label -> its rows (metrics.csv or coverage.csv as dicts).
        panel: what to draw; its first key solid, the next dashed, then dotted.
    """
    plt = pyplot()
    # The page shows a figure at most 560 px wide: 6.4 in at 100 dpi is about that, so text
    # keeps the size it is drawn at (an 8 in figure shrank 7 pt legends to 5 px).
    fig, ax = plt.subplots(figsize=(6.4, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    short = []
    for i, (name, rows) in enumerate(runs.items()):
        if len(rows) < 2:
            short.append(f"{name}: {len(rows)}")
            continue
        step = _column(rows, "step")
        for j, (key, label) in enumerate(panel.keys):
            ax.plot(
                step,
                _column(rows, key),
                styles[j % len(styles)],
                marker=panel.marker or None,
                color=colours[i % len(colours)],
                label=f"{name}: {label}",
            )
    note = None
    if short:
        log = (
            ("coverage.csv", "sample_every")
            if panel is COVERAGE_PANEL
            else ("metrics.csv", "log_every")
        )
        note = f"too few rows to draw ({', '.join(short)})\n" + (
            "{} gets a row every {} steps".format(*log)
        )
        if not ax.lines:
            too_few_rows(ax, ", ".join(short), "{} gets a row every {} steps".format(*log))
            note = None
    _finish_panel(ax, panel, f"{panel.title} ({panel.styles})" if panel.styles else panel.title)
    # below the axes, where a long legend (runs x keys) covers no curve; a run too short to
    # draw is named in its title rather than over the other runs' curves. Where every run is
    # too short and the panel has no reference line, nothing is labelled: matplotlib would
    # warn of an empty legend, and the plot already says why it is empty.
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            fontsize=LEGEND_PT, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2,
            frameon=False, title=note, title_fontsize=LEGEND_PT - 1,
        )  # fmt: skip
    return save_figure(fig, path)
