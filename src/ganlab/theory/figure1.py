"""Item 3: the paper's Figure 1, from a real run: p_g moves onto p_data and D goes to 1/2.

    D*_G(x) = p_data(x) / (p_data(x) + p_g(x))   (Proposition 1),  = 1/2 at p_g = p_data

compute_figure1 trains the gauss1d preset with the library's Algorithm 1, watched by a
ganlab.theory.snapshots.Recorder that keeps G(z) on a grid of z and D(x) on a grid of x, and
measures each panel's G and |D - D*| (p_g by a KDE of G(z)); plot draws the panels and an
animation of the whole run the way the paper draws Figure 1; describe says what they show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.config import Config, load_config
from ganlab.data import distribution_of
from ganlab.errors import ConfigError
from ganlab.game.divergences import optimal_discriminator_from_logs
from ganlab.report.figures import pyplot, save_figure
from ganlab.theory.description import Description
from ganlab.theory.snapshots import (
    Recorder,
    evaluating,
    kde_log_density,
    train_recorded,
    uniform_grid_noise,
)
from ganlab.training.algorithm import StepStats
from ganlab.training.state import TrainState

# Colours of the paper's Figure 1, used for every drawing here.
DATA_STYLE = {"color": "black", "linestyle": (0, (1, 2)), "lw": 2.2}
G_STYLE = {"color": "tab:green", "lw": 2}
D_STYLE = {"color": "tab:blue", "linestyle": "--", "lw": 2}
D_STAR_STYLE = {"color": "0.55", "lw": 1}
FIGURES = ["figure1.png", "figure1_training.gif"]


# The gauss1d preset as shipped: N(4, 0.5^2) from z ~ U(-1, 1) through a [16, 16] ReLU G, Adam,
# 2,000 steps (its comment gives the recipe and its measurements over seeds 0-9). Its
# half-width-1 uniform noise is drawn as the paper draws z: a line below the x axis.
FIGURE1_PRESET = "gauss1d"
# Snapshots for the panels, chosen from the seed-0 run's frames every 25 steps (measured there,
# mean |D - D*| within one std of the data mean): (a) step 150, G(z) at 2.25 +- 0.17, half-way
# to the data, and D ~ D* (gap 0.001): 1 on the data, 0 on G's samples; (b) step 250, G on the
# data's mean (4.10) but 2.7x too narrow (std 0.18), D lagging D* (gap 0.29); (c) step 650, G
# spread out (std 0.42) towards where D is high (gap 0.11); (d) the end, step 2,000: mean 4.00,
# std 0.42, gap 0.10, D ~ 0.40 on the data, oscillating around 1/2 (re-measured with the fused
# Adam of the third session; the other panels' numbers did not move; over seeds 0-9 the final
# gap is 0.017-0.100, tests/test_theory_training.py).
FIGURE1_PANEL_STEPS = (150, 250, 650, 2000)


def figure1_config() -> Config:
    """The config of the Figure 1 run. The quick variant trains the same run and only draws
    fewer animation frames: the claim, D -> 1/2, needs the whole run."""
    return load_config(FIGURE1_PRESET)


def _figure1_probe(z: Tensor, x_grid: Tensor):
    """What a Figure 1 frame needs: G(z) on the noise grid and D(x) on the x grid."""

    def probe(state: TrainState, stats: StepStats | None) -> dict[str, np.ndarray]:
        with evaluating(state.G, state.D):
            fake = state.G(z)[:, 0]  # (n_z,)
            d = torch.sigmoid(state.D(x_grid))  # (n_x,)
        return {"fake": fake.double().numpy(), "d": d.double().numpy()}

    return probe


def figure1_snapshots(cfg: Config, steps: list[int], n_z: int = 2001, n_x: int = 561) -> dict:
    """Train the 1-D GAN of `cfg` and record G(z) on a uniform z grid and D(x) on an x grid.

    Args:
        cfg: a 1-D config with uniform noise of dimension 1 (gauss1d).
        steps: the steps to record (step 0 is the state before training).
        n_z: noise grid size; n_x: x grid size (on [-0.5, 7.5], spacing ~ 0.014).
    Returns:
        {"steps": (s,), "x": (n_x,), "z": (n_z,), "fake": (s, n_z) G(z), "d": (s, n_x) D(x),
         "log_p_data": (n_x,)}.
    """
    if cfg.noise.dim != 1 or cfg.noise.kind != "uniform" or cfg.data.kind != "gauss1d":
        raise ConfigError(
            "Figure 1 draws z ~ U(-s, s) on a line over 1-D Gaussian data: needs noise.kind "
            f"uniform, noise.dim 1, data.kind gauss1d; got {cfg.noise.kind}, {cfg.noise.dim}, "
            f"{cfg.data.kind}"
        )
    z = uniform_grid_noise(n_z, cfg.noise.scale)  # (n_z, 1)
    x_grid = torch.linspace(-0.5, 7.5, n_x)[:, None]  # (n_x, 1)
    recorder = Recorder(_figure1_probe(z, x_grid), set(steps))
    train_recorded([cfg], recorder, record_start=0 in steps)
    dist = distribution_of(cfg.data)
    return {
        "steps": np.array(recorder.steps),
        "x": x_grid[:, 0].double().numpy(),
        "z": z[:, 0].double().numpy(),
        "fake": np.stack([v["fake"] for v in recorder.values]),
        "d": np.stack([v["d"] for v in recorder.values]),
        "log_p_data": dist.log_prob(x_grid.double()).numpy(),
    }


def snapshot_densities(snaps: dict, i: int) -> tuple[np.ndarray, np.ndarray]:
    """p_g (a KDE of G(z)) and D* = p_data / (p_data + p_g) on the x grid, for snapshot i.

    Args:
        snaps: the output of figure1_snapshots; i: a row of it.
    Returns:
        (p_g, d_star), each (n_x,).
    """
    log_p_g = kde_log_density(snaps["fake"][i], snaps["x"])
    d_star = optimal_discriminator_from_logs(
        torch.from_numpy(snaps["log_p_data"]), torch.from_numpy(log_p_g)
    ).numpy()
    return np.exp(log_p_g), d_star


def central_region(snaps: dict, mean: float, std: float) -> np.ndarray:
    """Mask of the x grid within one data std of the data mean (68% of p_data's mass)."""
    return np.abs(snaps["x"] - mean) <= std


@dataclass(frozen=True)
class Figure1:
    """The Figure 1 run's snapshots and what its panels measure.

    Attributes:
        cfg: the run's config (figure1_config).
        frames: the steps the animation draws (every 50; every 200 when quick).
        snaps: the output of figure1_snapshots at the frames and the panels' steps.
        index: step -> row of snaps.
        central: (n_x,) mask of x within one data std of the data mean.
        panels: per panel (a)-(d), a dict of "step", "generated_mean", "generated_std" (of
            G(z) on the z grid), "mean_D_central" and "mean_abs_D_minus_D_star_central".
    """

    cfg: Config
    frames: list[int]
    snaps: dict
    index: dict[int, int]
    central: np.ndarray
    panels: list[dict]

    @property
    def final_fake(self) -> np.ndarray:
        """(n_z,) G(z) at the end of the run."""
        return self.snaps["fake"][self.index[self.cfg.steps]]

    @property
    def final_d_central(self) -> np.ndarray:
        """D(x) at the end of the run, on the central region."""
        return self.snaps["d"][self.index[self.cfg.steps]][self.central]


def compute_figure1(quick: bool = False) -> Figure1:
    """Train the Figure 1 run, snapshot it, and measure G and |D - D*| at each panel's step.

    The quick variant trains the same run and keeps fewer animation frames.
    """
    cfg = figure1_config()
    frames = list(range(0, cfg.steps + 1, 200 if quick else 50))
    snaps = figure1_snapshots(cfg, sorted(set(frames) | set(FIGURE1_PANEL_STEPS)))
    index = {int(s): i for i, s in enumerate(snaps["steps"])}
    central = central_region(snaps, cfg.data.mean, cfg.data.std)
    panels = []
    for step in FIGURE1_PANEL_STEPS:
        i = index[step]
        fake, d = snaps["fake"][i], snaps["d"][i]
        _, d_star = snapshot_densities(snaps, i)
        panels.append(
            {
                "step": int(snaps["steps"][i]),
                "generated_mean": float(fake.mean()),
                "generated_std": float(fake.std()),
                "mean_D_central": float(d[central].mean()),
                "mean_abs_D_minus_D_star_central": float(np.abs(d - d_star)[central].mean()),
            }
        )
    return Figure1(cfg, frames, snaps, index, central, panels)


class Figure1Frame:
    """One frame in the paper's drawing: p_data, p_g and D above, the map z -> x = G(z) below.

    The artists are made once and updated per snapshot, so that an animation of the whole run
    redraws lines instead of rebuilding axes.

    Args:
        ax, ax_z: the axes for the densities (D goes on a twin axis) and for the z line.
        snaps: the output of figure1_snapshots.
        lo, hi: the x range drawn; the noise range [-s, s] is spread over it on the z line.
        arrows: how many z -> G(z) arrows (evenly spaced quantiles of p_z).
    """

    def __init__(self, ax, ax_z, snaps: dict, lo: float, hi: float, arrows: int = 21):
        from matplotlib.collections import LineCollection

        self.ax, self.snaps, self.lo, self.hi = ax, snaps, lo, hi
        x = snaps["x"]
        self.p_data = np.exp(snaps["log_p_data"])
        ax.plot(x, self.p_data, label="p_data (data density)", **DATA_STYLE)
        (self.g_line,) = ax.plot(x, self.p_data, label="p_g (KDE of G(z))", **G_STYLE)
        ax.set_xlim(lo, hi)
        self.ax_d = ax.twinx()
        self.ax_d.axhline(0.5, color="0.85", lw=1)
        (self.d_star_line,) = self.ax_d.plot(
            x, self.p_data, label="D* = p_data / (p_data + p_g)", **D_STAR_STYLE
        )
        (self.d_line,) = self.ax_d.plot(x, self.p_data, label="D(x) learned", **D_STYLE)
        self.ax_d.set_ylim(0, 1.05)
        self.ax_d.set_yticks([0, 0.5, 1])
        # The z line: z ~ U(-s, s) spread over the drawing's width, as in the paper; each arrow
        # goes from a z on the lower line to x = G(z) on the upper one.
        z = snaps["z"]
        s = float(np.abs(z).max())
        self.idx = np.linspace(0, len(z) - 1, arrows).round().astype(int)
        self.z_pos = lo + (z[self.idx] + s) / (2 * s) * (hi - lo)
        ax_z.axhline(0, color="k", lw=1)
        ax_z.axhline(1, color="k", lw=1)
        self.arrows = LineCollection([], colors="0.3", lw=0.8)
        ax_z.add_collection(self.arrows)
        (self.heads,) = ax_z.plot([], [], "v", color="0.3", ms=3)
        ax_z.set_ylim(-0.4, 1.15)
        ax_z.set_yticks([0, 1], ["z", "x"])
        for zv in (-s, 0.0, s):
            ax_z.text(
                lo + (zv + s) / (2 * s) * (hi - lo), -0.35, f"{zv:g}", ha="center", fontsize=7
            )
        ax_z.tick_params(axis="x", labelsize=8)

    def update(self, i: int) -> dict[str, np.ndarray]:
        """Draw snapshot i; returns its p_g and D* on the x grid."""
        snaps = self.snaps
        fake = snaps["fake"][i]
        p_g, d_star = snapshot_densities(snaps, i)
        # D* is 0/0 where neither density has mass (below 1e-3, against p_data's peak of 0.8):
        # the KDE's and p_data's tails decide it there, so it is not drawn.
        d_star_drawn = np.where(self.p_data + p_g > 1e-3, d_star, np.nan)
        self.g_line.set_ydata(p_g)
        self.d_star_line.set_ydata(d_star_drawn)
        self.d_line.set_ydata(snaps["d"][i])
        # A G that maps all z to nearly one point has a density spike far above p_data's peak:
        # cap the axis at 3x that peak so p_data stays readable (the spike runs off the top).
        peak = self.p_data.max()
        self.ax.set_ylim(0, 1.15 * max(peak, min(p_g.max(), 3 * peak)))
        ends = np.clip(fake[self.idx], self.lo, self.hi)
        self.arrows.set_segments(
            [[(a, 0), (b, 0.93)] for a, b in zip(self.z_pos, ends, strict=True)]
        )
        self.heads.set_data(ends, np.full_like(ends, 0.93))
        return {"p_g": p_g, "d_star": d_star}


def plot_figure1(r: Figure1, out: Path) -> list[str]:
    """figure1.png (panels (a)-(d)) and figure1_training.gif (every frame); returns the names."""
    _plot_panels(r, Path(out) / FIGURES[0])
    _plot_animation(r, Path(out) / FIGURES[1])
    return list(FIGURES)


def _plot_panels(r: Figure1, path: Path) -> None:
    plt = pyplot()
    snaps, cfg = r.snaps, r.cfg
    mean, std = cfg.data.mean, cfg.data.std
    rows = [r.index[p["step"]] for p in r.panels]
    lo = min(mean - 4 * std, *(np.quantile(snaps["fake"][i], 0.01) - 0.3 for i in rows))
    hi = max(mean + 4 * std, *(np.quantile(snaps["fake"][i], 0.99) + 0.3 for i in rows))
    fig = plt.figure(figsize=(16, 4.8))
    grid = fig.add_gridspec(2, 4, height_ratios=[3, 1], hspace=0.06, wspace=0.3)
    captions = [
        "G far from the data; D ~ D*",
        "G on the data, too narrow",
        "G spread along D's gradient",
        "p_g ~ p_data, D ~ 1/2",
    ]
    for col, (i, panel, caption) in enumerate(zip(rows, r.panels, captions, strict=True)):
        ax = fig.add_subplot(grid[0, col])
        ax_z = fig.add_subplot(grid[1, col], sharex=ax)
        frame = Figure1Frame(ax, ax_z, snaps, lo, hi)
        frame.update(i)
        ax.tick_params(labelbottom=False)
        ax.set_title(
            f"({'abcd'[col]}) step {snaps['steps'][i]}: {caption}\n"
            f"G(z): mean {panel['generated_mean']:.2f}, std {panel['generated_std']:.2f};  "
            f"mean |D - D*| = {panel['mean_abs_D_minus_D_star_central']:.2f}",
            fontsize=9,
        )
        if col == 0:
            ax.set_ylabel("density")
        if col == 3:
            frame.ax_d.set_ylabel("D(x)")
            ax_z.set_xlabel("x (upper line); z spread over the same width (lower line)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = frame.ax_d.get_legend_handles_labels()
    fig.legend(
        h1 + h2, l1 + l2, loc="lower center", ncol=4, fontsize=9, bbox_to_anchor=(0.5, -0.06)
    )
    fig.suptitle(
        f"Figure 1, measured: trained on p_data = N({mean:g}, {std:g}^2) from "
        f"z ~ U(-{cfg.noise.scale:g}, {cfg.noise.scale:g}), G moves p_g onto p_data and D(x) "
        f"ends near 1/2 on the data (gauss1d preset, seed {cfg.seed}; D* from a KDE of p_g)",
        fontsize=11,
        y=1.03,
    )
    save_figure(fig, path)


def _plot_animation(r: Figure1, gif: Path) -> None:
    plt = pyplot()
    from matplotlib.animation import PillowWriter  # Pillow is a dependency of matplotlib

    snaps, cfg = r.snaps, r.cfg
    tmp = gif.with_name(f".{gif.name}.tmp.gif")
    fig = plt.figure(figsize=(7, 4.2))
    grid = fig.add_gridspec(2, 1, height_ratios=[3, 1], hspace=0.06)
    ax = fig.add_subplot(grid[0])
    ax_z = fig.add_subplot(grid[1], sharex=ax)
    lo_all = min(-0.3, float(snaps["fake"].min()) - 0.2)
    frame = Figure1Frame(ax, ax_z, snaps, lo_all, cfg.data.mean + 4 * cfg.data.std)
    ax.tick_params(labelbottom=False)
    ax.set_ylabel("density")
    frame.ax_d.set_ylabel("D(x)")
    ax.legend(
        [*ax.get_lines()[:2], *frame.ax_d.get_lines()[1:]],
        ["p_data", "p_g", "D*", "D learned"],
        loc="center left",
        fontsize=7,
    )
    writer = PillowWriter(fps=6)
    with writer.saving(fig, str(tmp), dpi=80):
        for s in r.frames:
            frame.update(r.index[s])
            ax.set_title(f"step {s} of {cfg.steps}: p_data (dots), p_g (green), D (dashes)")
            writer.grab_frame()
    plt.close(fig)
    tmp.replace(gif)


def describe_figure1(r: Figure1) -> Description:
    """Item 3's title, equation, claim and numbers."""
    cfg = r.cfg
    mean, std = cfg.data.mean, cfg.data.std
    fake, d_central = r.final_fake, r.final_d_central
    return Description(
        name="figure1",
        title="The paper's Figure 1, from a real run: p_g moves onto p_data and D goes to 1/2",
        equation=(
            "D*_G(x) = p_data(x) / (p_data(x) + p_g(x))   (Proposition 1)\n"
            "at the optimum p_g = p_data: D*(x) = 1/2   (Theorem 1)\n"
            "x = G(z), z ~ U(-1, 1); p_g by a KDE of G(z) on an even grid of 2,001 z"
        ),
        claim=(
            f"Training the gauss1d preset (seed {cfg.seed}, {cfg.steps} steps) moves p_g from a "
            f"spike near 0 onto N({mean:g}, {std:g}^2) (final mean {fake.mean():.3f}, std "
            f"{fake.std():.3f}) and D(x) ends at {d_central.mean():.3f} on average within one "
            f"std of the data mean (max |D - 1/2| there {np.abs(d_central - 0.5).max():.3f}). "
            "D stays near 1 in the far tails, where a G of bounded noise puts no mass and "
            "D* = 1 indeed."
        ),
        numbers={
            "panel_steps": [p["step"] for p in r.panels],
            "panels": r.panels,
            "final_mean_D_central": float(d_central.mean()),
            "final_max_abs_D_minus_half_central": float(np.abs(d_central - 0.5).max()),
            "generated_mean": float(fake.mean()),
            "generated_std": float(fake.std()),
            "data_mean": mean,
            "data_std": std,
            "abs_mean_error": abs(float(fake.mean()) - mean),
            "abs_std_error": abs(float(fake.std()) - std),
            "gif_frames": len(r.frames),
        },
    )


def run_figure1(out: Path, quick: bool = False) -> dict:
    """The paper's Figure 1 from a real 1-D run: p_data, p_g, D and the map z -> x = G(z).

    Writes figure1.png (panels (a)-(d)) and figure1_training.gif (the whole run, a frame every
    50 steps; every 200 when quick).
    """
    result = compute_figure1(quick)
    figures = plot_figure1(result, out)
    return describe_figure1(result).item_result(figures)


__all__ = [
    "FIGURE1_PANEL_STEPS",
    "FIGURE1_PRESET",
    "Figure1",
    "Figure1Frame",
    "central_region",
    "compute_figure1",
    "describe_figure1",
    "figure1_config",
    "figure1_snapshots",
    "plot_figure1",
    "run_figure1",
    "snapshot_densities",
]
