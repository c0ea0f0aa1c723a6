"""Theory items measured on real training runs: Figure 1, saturation of the minimax G loss, and
mode collapse.

Each ``run_<item>(out, quick)`` writes its figures into `out` and returns an ItemResult dict
(see ganlab.theory). Training is the library's own: a Config from a preset plus overrides,
build_state and algorithm1, watched by a ganlab.theory.snapshots.Recorder. Everything runs on
one torch thread with fixed seeds, so the numbers repeat on the same machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.algorithm import StepStats
from ganlab.checkpoint import TrainState
from ganlab.config import Config, load_config
from ganlab.data import distribution_of
from ganlab.errors import ConfigError
from ganlab.losses import G_LOSSES
from ganlab.metrics.coverage import mode_coverage
from ganlab.prior import NoisePrior
from ganlab.report import pyplot, save_figure
from ganlab.theory.game import optimal_discriminator_from_logs
from ganlab.theory.snapshots import (
    Recorder,
    evaluating,
    grad_norm,
    kde_log_density,
    train_recorded,
    uniform_grid_noise,
)

# Colours of the paper's Figure 1, used for every 1-D drawing here.
DATA_STYLE = {"color": "black", "linestyle": (0, (1, 2)), "lw": 2.2}
G_STYLE = {"color": "tab:green", "lw": 2}
D_STYLE = {"color": "tab:blue", "linestyle": "--", "lw": 2}
D_STAR_STYLE = {"color": "0.55", "lw": 1}

# ---------------------------------------------------------------------------------------------
# Item 3: the paper's Figure 1, from a real run


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
        log_p_g = kde_log_density(fake, snaps["x"])
        p_g = np.exp(log_p_g)
        d_star = optimal_discriminator_from_logs(
            torch.from_numpy(snaps["log_p_data"]), torch.from_numpy(log_p_g)
        ).numpy()
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


def _central_region(snaps: dict, mean: float, std: float) -> np.ndarray:
    """Mask of the x grid within one data std of the data mean (68% of p_data's mass)."""
    return np.abs(snaps["x"] - mean) <= std


def run_figure1(out: Path, quick: bool = False) -> dict:
    """The paper's Figure 1 from a real 1-D run: p_data, p_g, D and the map z -> x = G(z).

    Writes figure1.png (panels (a)-(d)) and figure1_training.gif (the whole run, a frame every
    50 steps; every 200 when quick).
    """
    plt = pyplot()
    from matplotlib.animation import PillowWriter  # Pillow is a dependency of matplotlib

    out = Path(out)
    cfg = figure1_config()
    frames = list(range(0, cfg.steps + 1, 200 if quick else 50))
    snaps = figure1_snapshots(cfg, sorted(set(frames) | set(FIGURE1_PANEL_STEPS)))
    index = {int(s): i for i, s in enumerate(snaps["steps"])}
    mean, std = cfg.data.mean, cfg.data.std
    central = _central_region(snaps, mean, std)

    # Panels (a)-(d).
    panels = [index[s] for s in FIGURE1_PANEL_STEPS]
    lo = min(mean - 4 * std, *(np.quantile(snaps["fake"][i], 0.01) - 0.3 for i in panels))
    hi = max(mean + 4 * std, *(np.quantile(snaps["fake"][i], 0.99) + 0.3 for i in panels))
    fig = plt.figure(figsize=(16, 4.8))
    grid = fig.add_gridspec(2, 4, height_ratios=[3, 1], hspace=0.06, wspace=0.3)
    captions = [
        "G far from the data; D ~ D*",
        "G on the data, too narrow",
        "G spread along D's gradient",
        "p_g ~ p_data, D ~ 1/2",
    ]
    per_panel = []
    for col, (i, caption) in enumerate(zip(panels, captions, strict=True)):
        ax = fig.add_subplot(grid[0, col])
        ax_z = fig.add_subplot(grid[1, col], sharex=ax)
        frame = Figure1Frame(ax, ax_z, snaps, lo, hi)
        drawn = frame.update(i)
        fake, d = snaps["fake"][i], snaps["d"][i]
        gap = float(np.abs(d - drawn["d_star"])[central].mean())
        per_panel.append(
            {
                "step": int(snaps["steps"][i]),
                "generated_mean": float(fake.mean()),
                "generated_std": float(fake.std()),
                "mean_D_central": float(d[central].mean()),
                "mean_abs_D_minus_D_star_central": gap,
            }
        )
        ax.tick_params(labelbottom=False)
        ax.set_title(
            f"({'abcd'[col]}) step {snaps['steps'][i]}: {caption}\n"
            f"G(z): mean {fake.mean():.2f}, std {fake.std():.2f};  mean |D - D*| = {gap:.2f}",
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
    save_figure(fig, out / "figure1.png")

    # The whole run as an animated GIF.
    gif = out / "figure1_training.gif"
    tmp = gif.with_name(f".{gif.name}.tmp.gif")
    fig = plt.figure(figsize=(7, 4.2))
    grid = fig.add_gridspec(2, 1, height_ratios=[3, 1], hspace=0.06)
    ax = fig.add_subplot(grid[0])
    ax_z = fig.add_subplot(grid[1], sharex=ax)
    lo_all = min(-0.3, float(snaps["fake"].min()) - 0.2)
    frame = Figure1Frame(ax, ax_z, snaps, lo_all, mean + 4 * std)
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
        for s in frames:
            frame.update(index[s])
            ax.set_title(f"step {s} of {cfg.steps}: p_data (dots), p_g (green), D (dashes)")
            writer.grab_frame()
    plt.close(fig)
    tmp.replace(gif)

    last = index[cfg.steps]
    fake = snaps["fake"][last]
    d_central = snaps["d"][last][central]
    return {
        "name": "figure1",
        "title": "The paper's Figure 1, from a real run: p_g moves onto p_data and D goes to 1/2",
        "equation": (
            "D*_G(x) = p_data(x) / (p_data(x) + p_g(x))   (Proposition 1)\n"
            "at the optimum p_g = p_data: D*(x) = 1/2   (Theorem 1)\n"
            "x = G(z), z ~ U(-1, 1); p_g by a KDE of G(z) on an even grid of 2,001 z"
        ),
        "claim": (
            f"Training the gauss1d preset (seed {cfg.seed}, {cfg.steps} steps) moves p_g from a "
            f"spike near 0 onto N({mean:g}, {std:g}^2) (final mean {fake.mean():.3f}, std "
            f"{fake.std():.3f}) and D(x) ends at {d_central.mean():.3f} on average within one "
            f"std of the data mean (max |D - 1/2| there {np.abs(d_central - 0.5).max():.3f}). "
            "D stays near 1 in the far tails, where a G of bounded noise puts no mass and "
            "D* = 1 indeed."
        ),
        "figures": ["figure1.png", "figure1_training.gif"],
        "numbers": {
            "panel_steps": [int(snaps["steps"][i]) for i in panels],
            "panels": per_panel,
            "final_mean_D_central": float(d_central.mean()),
            "final_max_abs_D_minus_half_central": float(np.abs(d_central - 0.5).max()),
            "generated_mean": float(fake.mean()),
            "generated_std": float(fake.std()),
            "data_mean": mean,
            "data_std": std,
            "abs_mean_error": abs(float(fake.mean()) - mean),
            "abs_std_error": abs(float(fake.std()) - std),
            "gif_frames": len(frames),
        },
    }


# ---------------------------------------------------------------------------------------------
# Item 4: saturation of the minimax G loss (section 3)


# Where D is confident from the start: the ring8 preset, with a head start for D (its first
# iteration runs k = 100 D steps, then Algorithm 1 continues with k = 1), which takes the mean
# D(G(z)) to ~0.001. G uses the paper's optimiser, SGD with momentum 0.5 (lr 0.01, no decay):
# Adam divides each step by the gradient's running RMS, which hides a vanishing gradient's
# scale; with the preset's Adam G the minimax run reached mean D(G(z)) ~0.1 within 10 steps
# (measured, head start k = 200).
SATURATION_PRESET = "ring8"
SATURATION_HEAD_START_K = 100
SATURATION_OVERRIDES = [
    "g_optimizer.name=sgd",
    "g_optimizer.lr=0.01",
    "g_optimizer.momentum=0.5",
    "g_optimizer.lr_decay_factor=1.0",
]
# "D is confident": mean D(G(z)) below 0.1, where the per-sample factor of the minimax gradient
# against the non-saturating one, D / (1 - D), is below 1/9.
CONFIDENT_D = 0.1
LOSS_LABELS = {
    "minimax": "minimax: log(1 - D(G(z)))",
    "nonsaturating": "non-saturating: -log D(G(z))",
    "maximum_likelihood": "maximum likelihood: -exp(a)",
}
LOSS_STYLES = {
    "minimax": {"color": "tab:red", "lw": 2},
    "nonsaturating": {"color": "tab:blue", "lw": 2},
    "maximum_likelihood": {"color": "tab:purple", "lw": 1.5, "linestyle": "--"},
}


def _one_sample(loss):
    """A minibatch loss as a function of one scalar logit: loss([a])."""
    return lambda logit: loss(logit[None])


def generator_loss_curves(d_fake: Tensor) -> dict[str, dict[str, Tensor]]:
    """Each G loss of ganlab.losses and its derivative in the logit, per sample, via autograd.

        minimax:            L = log(1 - D) = -softplus(a),   dL/da = -D        -> 0 as D -> 0
        non-saturating:     L = -log D = softplus(-a),       dL/da = D - 1     -> -1 as D -> 0
        maximum likelihood: L = -exp(a) = -D / (1 - D),      dL/da = -exp(a)   -> 0 as D -> 0

    with a = sigma^-1(D(G(z))). Each loss is the library's function applied to one logit at a
    time (it averages over its minibatch), so this is what G's backward pass starts from.

    Args:
        d_fake: (n,) values of D(G(z)) in (0, 1).
    Returns:
        {loss name: {"loss": (n,), "dloss_da": (n,)}}, float64.
    """
    a = torch.logit(torch.as_tensor(d_fake, dtype=torch.float64))  # (n,)
    curves = {}
    for name, loss in G_LOSSES.items():
        one = _one_sample(loss)
        curves[name] = {
            "loss": torch.func.vmap(one)(a),
            "dloss_da": torch.func.vmap(torch.func.grad(one))(a),
        }
    return curves


def saturation_configs(g_loss: str, steps: int, seed: int = 0) -> list[Config]:
    """The two phases of the saturation run: D's head start (one iteration with k = 100), then
    Algorithm 1 with k = 1 up to `steps`."""
    base = [*SATURATION_OVERRIDES, f"g_loss={g_loss}", f"seed={seed}"]
    return [
        load_config(SATURATION_PRESET, [*base, "steps=1", f"k={SATURATION_HEAD_START_K}"]),
        load_config(SATURATION_PRESET, [*base, f"steps={steps}", "k=1"]),
    ]


def _saturation_probe(state: TrainState, stats: StepStats | None) -> tuple[float, float, float]:
    return (
        grad_norm(state.G),  # of the G loss just descended
        float(torch.sigmoid(stats.d_fake).mean()),  # mean D(G(z)) on the D step's samples
        float(torch.sigmoid(stats.d_real).mean()),  # mean D(x)
    )


def saturation_run(g_loss: str, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Train with one G loss in the saturation setting, recording every step.

    Returns:
        {"step": (steps,), "g_grad_norm": (steps,) ||dL_G/d theta_g|| of each G step,
         "d_fake": (steps,) mean D(G(z)), "d_real": (steps,) mean D(x)}.
    """
    recorder = Recorder(_saturation_probe)
    train_recorded(saturation_configs(g_loss, steps, seed), recorder)
    values = np.array(recorder.values)  # (steps, 3)
    return {
        "step": np.array(recorder.steps),
        "g_grad_norm": values[:, 0],
        "d_fake": values[:, 1],
        "d_real": values[:, 2],
    }


def confident_window(d_fake: np.ndarray, threshold: float = CONFIDENT_D) -> np.ndarray:
    """Mask of the first steps, up to the first one where the mean D(G(z)) reaches `threshold`."""
    above = np.flatnonzero(d_fake >= threshold)
    end = above[0] if len(above) else len(d_fake)
    mask = np.zeros(len(d_fake), dtype=bool)
    mask[:end] = True
    return mask


def run_saturation(out: Path, quick: bool = False) -> dict:
    """Section 3's saturation: the three G losses and their gradients against D(G(z)), and the G
    gradient norm in real early training while D is confident.

    Writes saturation_losses.png and saturation_training.png.
    """
    plt = pyplot()
    out = Path(out)

    # (i) The losses and dL/da over D(G(z)).
    d = torch.linspace(1e-3, 1 - 1e-3, 999, dtype=torch.float64)
    curves = generator_loss_curves(d)
    fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(12, 4.3))
    for name, c in curves.items():
        ax_l.plot(d, c["loss"], label=LOSS_LABELS[name], **LOSS_STYLES[name])
        ax_g.plot(d, c["dloss_da"], label=LOSS_LABELS[name], **LOSS_STYLES[name])
    ax_l.set_ylim(-4, 4)
    ax_l.set_ylabel("L_G per sample (G minimises)")
    ax_l.set_title("The three generator losses")
    ax_g.set_ylim(-3, 0.8)
    ax_g.axhline(0, color="0.8", lw=1)
    ax_g.axhline(-1, color="0.8", lw=1)
    ax_g.set_ylabel("dL_G / da   (a = logit of D(G(z)))")
    ax_g.set_title("Their gradients: minimax and ML vanish as D(G(z)) -> 0")
    ax_g.annotate(
        "minimax: -D(G(z)) -> 0: no gradient\nwhen D rejects G's samples",
        xy=(0.01, -0.01), xytext=(0.1, 0.35), arrowprops={"arrowstyle": "->"}, fontsize=8,
    )  # fmt: skip
    ax_g.annotate(
        "non-saturating: D(G(z)) - 1 -> -1",
        xy=(0.01, -0.99), xytext=(0.1, -1.6), arrowprops={"arrowstyle": "->"}, fontsize=8,
    )  # fmt: skip
    for ax in (ax_l, ax_g):
        ax.set_xlabel("D(G(z))")
        ax.set_xlim(0, 1)
        ax.legend(fontsize=8, loc="lower left" if ax is ax_l else "lower right")
    fig.suptitle("Section 3: log(1 - D) saturates when D is confident; -log D does not", y=1.02)
    save_figure(fig, out / "saturation_losses.png")

    # (ii) Real early training on the ring, every step recorded.
    steps = 60 if quick else 300
    runs = {name: saturation_run(name, steps) for name in G_LOSSES}
    window = confident_window(runs["nonsaturating"]["d_fake"])
    fig, (ax_n, ax_d) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for name, r in runs.items():
        ax_n.loglog(r["step"], r["g_grad_norm"], label=LOSS_LABELS[name], **LOSS_STYLES[name])
        ax_d.loglog(r["step"], r["d_fake"], label=LOSS_LABELS[name], **LOSS_STYLES[name])
    w_end = runs["nonsaturating"]["step"][window][-1] if window.any() else 0
    for ax in (ax_n, ax_d):
        ax.axvspan(0.9, w_end + 0.5, color="0.9", label=f"D(G(z)) < {CONFIDENT_D:g} in both runs")
    ax_n.set_ylabel("||grad of L_G wrt theta_g||")
    ax_d.set_ylabel("mean D(G(z)) (log scale)")
    ax_d.set_ylim(1e-5, 1.5)
    ax_d.set_xlabel("step (G updates, log scale)")
    minimax, nonsat = runs["minimax"], runs["nonsaturating"]
    in_window = {n: float(r["g_grad_norm"][window].mean()) for n, r in runs.items()}
    ratio = in_window["minimax"] / in_window["nonsaturating"]
    ax_n.legend(fontsize=8, loc="center left")
    ax_n.set_title(
        f"ring8 with a D head start (k = {SATURATION_HEAD_START_K} D steps before the first G "
        "step, then k = 1), G trained by SGD (lr 0.01, momentum 0.5):\nwhile D is confident "
        f"the minimax G gets a {1 / ratio:.0f}x smaller gradient, and it never leaves "
        "D(G(z)) ~ 0; the non-saturating G escapes in a few steps",
        fontsize=9,
    )
    save_figure(fig, out / "saturation_training.png")

    tail = slice(-10, None)
    return {
        "name": "saturation",
        "title": "Saturation: log(1 - D(G(z))) gives G no gradient while D is confident",
        "equation": (
            "minimax: L_G = log(1 - D(G(z))),  dL_G/da = -D(G(z)) -> 0 as D(G(z)) -> 0\n"
            "non-saturating: L_G = -log D(G(z)),  dL_G/da = D(G(z)) - 1 -> -1\n"
            "maximum likelihood: L_G = -exp(a),  dL_G/da = -exp(a) -> 0   (a = logit of D)"
        ),
        "claim": (
            "Section 3: early in learning D rejects G's samples with high confidence and "
            "log(1 - D(G(z))) saturates. On the ring with a confident D (mean D(G(z)) "
            f"{minimax['d_fake'][0]:.4f} at step 1), the minimax G gradient norm is "
            f"{ratio:.1e} times the non-saturating one over the {int(window.sum())} steps while "
            f"D(G(z)) < {CONFIDENT_D:g}; after {steps} steps the minimax G is still at mean "
            f"D(G(z)) = {minimax['d_fake'][tail].mean():.4f}, the non-saturating one at "
            f"{nonsat['d_fake'][tail].mean():.2f}."
        ),
        "figures": ["saturation_losses.png", "saturation_training.png"],
        "numbers": {
            "setting": (
                f"{SATURATION_PRESET}, D head start k={SATURATION_HEAD_START_K} for iteration 1 "
                f"then k=1, {' '.join(SATURATION_OVERRIDES)}, seed 0, {steps} steps"
            ),
            "window_steps": int(window.sum()),
            "g_grad_norm_step1": {n: float(r["g_grad_norm"][0]) for n, r in runs.items()},
            "g_grad_norm_window_mean": in_window,
            "minimax_over_nonsaturating_window": ratio,
            "d_fake_window_mean": {n: float(r["d_fake"][window].mean()) for n, r in runs.items()},
            "d_fake_last10_mean": {n: float(r["d_fake"][tail].mean()) for n, r in runs.items()},
            "g_grad_norm_last10_mean": {
                n: float(r["g_grad_norm"][tail].mean()) for n, r in runs.items()
            },
        },
    }


# ---------------------------------------------------------------------------------------------
# Item 8: mode collapse, seen


# The covering run is the ring8 preset (D learns at twice G's rate, both decay ~11x over its
# 6,000 steps), cut to its first 2,000 steps: 8/8 modes at step 2,000 on seeds 0-4 (measured,
# coverage every 100 steps; it dips to 3-5 on some checks before step 1,000). The collapsing run
# changes only the rates: G at twice D's rate (G 1e-3, D 5e-4) and no decay, the section 6
# warning "G must not be trained too much without updating D". G then outruns D: it moves all
# its samples to wherever D currently scores high, D follows them there and G jumps on, so its
# samples stay in one clump (std ~0.1 against the ring's radius of 1) that wanders around the
# ring. Measured: at most 1 mode covered at every check, on seeds 0-6 at 2,000 steps (checks
# every 250) and seeds 0-4 at 1,000 steps (the quick run; checks every 100).
MODE_COLLAPSE_PRESET = "ring8"
COLLAPSE_OVERRIDES = [
    "g_optimizer.lr=0.001",
    "d_optimizer.lr=0.0005",
    "g_optimizer.lr_decay_factor=1.0",
    "d_optimizer.lr_decay_factor=1.0",
]
COVERAGE_SAMPLES = 2500  # the VEEGAN/PacGAN protocol
_COVERAGE_NOISE_SEED = 10_007  # offset from cfg.seed: a noise stream apart from training's


def mode_collapse_configs(steps: int, seed: int = 0) -> dict[str, Config]:
    """{"collapsing": ring8 with G's rate twice D's and no decay, "covering": ring8}."""
    base = [f"steps={steps}", f"seed={seed}"]
    return {
        "collapsing": load_config(MODE_COLLAPSE_PRESET, [*base, *COLLAPSE_OVERRIDES]),
        "covering": load_config(MODE_COLLAPSE_PRESET, base),
    }


def coverage_run(cfg: Config, every: int, keep_samples: set[int]) -> dict:
    """Train a 2-D mixture config, scoring mode coverage every `every` steps (and at the steps
    in keep_samples, whose samples are kept).

    Coverage is ganlab.metrics.mode_coverage of G on one fixed batch of 2,500 noise samples,
    so that a change in coverage is a change in G.

    Returns:
        {"step": [...], "modes_covered": [...], "high_quality": [...], "modes": K,
         "samples": {step: (2500, 2) array, for steps in keep_samples}}.
    """
    dist = distribution_of(cfg.data)
    z = NoisePrior(cfg.noise, cfg.seed + _COVERAGE_NOISE_SEED).sample(COVERAGE_SAMPLES)

    def probe(state: TrainState, stats: StepStats | None) -> tuple[dict, np.ndarray]:
        with evaluating(state.G):
            fake = state.G(z)  # (2500, 2)
        return mode_coverage(fake, dist.centres, float(dist.stds[0])), fake.numpy()

    wanted = set(range(every, cfg.steps + 1, every)) | set(keep_samples)
    recorder = Recorder(probe, wanted)
    train_recorded([cfg], recorder)
    scored = list(zip(recorder.steps, recorder.values, strict=True))
    return {
        "step": [s for s, _ in scored],
        "modes_covered": [v[0]["modes_covered"] for _, v in scored],
        "high_quality": [v[0]["high_quality"] for _, v in scored],
        "modes": len(dist.centres),
        "samples": {
            s: v[1]
            for s, v in zip(recorder.steps, recorder.values, strict=True)
            if s in keep_samples
        },
    }


def run_mode_collapse(out: Path, quick: bool = False) -> dict:
    """Mode collapse on the ring of 8 Gaussians: samples over time and modes covered, for a
    collapsing run beside one that covers every mode.

    Writes mode_collapse.png.
    """
    plt = pyplot()
    out = Path(out)
    steps = 1000 if quick else 2000
    every = 100
    snap_steps = [steps // 8, steps // 4, steps // 2, 3 * steps // 4, steps]
    cfgs = mode_collapse_configs(steps)
    runs = {name: coverage_run(cfg, every, set(snap_steps)) for name, cfg in cfgs.items()}
    dist = distribution_of(cfgs["covering"].data)
    centres = dist.centres.numpy()
    shown = [r["samples"][s][:500] for r in runs.values() for s in snap_steps]
    # The ring has radius 1; a collapsed G's clump can wander past it, so widen the view to
    # keep 99% of every drawn batch in sight (at most to 3, past which the ring is too small).
    half = min(3.0, max(1.4, max(float(np.quantile(np.abs(f), 0.99)) for f in shown) + 0.15))
    labels = {
        "collapsing": "collapsing: ring8 with G lr 1e-3 > D lr 5e-4, no decay",
        "covering": "covering: the ring8 preset (D lr 1e-3 > G lr 5e-4, decaying)",
    }
    colours = {"collapsing": "tab:red", "covering": "tab:green"}

    fig = plt.figure(figsize=(15, 9.5))
    grid = fig.add_gridspec(3, len(snap_steps), height_ratios=[1, 1, 1.1], hspace=0.35)
    for row, name in enumerate(("collapsing", "covering")):
        r = runs[name]
        covered = dict(zip(r["step"], r["modes_covered"], strict=True))
        for col, s in enumerate(snap_steps):
            ax = fig.add_subplot(grid[row, col])
            fake = r["samples"][s][:500]
            ax.scatter(fake[:, 0], fake[:, 1], s=3, c=colours[name], alpha=0.5, label="G(z), 500")
            ax.scatter(
                centres[:, 0], centres[:, 1], marker="x", c="k", s=20, label="modes (std 0.01)"
            )
            ax.set_xlim(-half, half)
            ax.set_ylim(-half, half)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"step {s}: {covered[s]}/{r['modes']} modes", fontsize=9)
            if col == 0:
                ax.set_ylabel(name, fontsize=11, color=colours[name])
            if row == 1 and col == len(snap_steps) - 1:
                ax.legend(fontsize=7, loc="lower right", markerscale=2)
    ax = fig.add_subplot(grid[2, :])
    for name, r in runs.items():
        ax.plot(r["step"], r["modes_covered"], "o-", color=colours[name], label=labels[name])
    ax.axhline(runs["covering"]["modes"], color="0.6", ls=":", lw=1, label="all 8 modes")
    ax.set_ylim(-0.3, runs["covering"]["modes"] + 2.2)  # headroom for the legend
    ax.set_xlabel("step")
    ax.set_ylabel(f"modes covered ({COVERAGE_SAMPLES:,} samples)")
    ax.legend(fontsize=9, loc="upper center", ncol=3)
    ax.set_title(
        "Modes covered: a sample counts if within 3 std (0.03) of a mode centre; a mode is "
        "covered if one sample counts (VEEGAN/PacGAN protocol)",
        fontsize=9,
    )
    fig.suptitle(
        "Mode collapse (section 6, 'Helvetica scenario'): a G that learns faster than D "
        "maps all z to one clump that hops around the ring;\nthe ring8 preset, where D learns "
        "faster, covers all 8 modes (seed 0, same nets and data)",
        fontsize=11,
    )
    save_figure(fig, out / "mode_collapse.png")

    collapsing, covering = runs["collapsing"], runs["covering"]
    return {
        "name": "mode_collapse",
        "title": "Mode collapse, seen: G maps many z to one point when it outpaces D",
        "equation": (
            "modes covered = #{modes i : some sample x has ||x - mu_i|| <= 3 sigma}, "
            "2,500 samples G(z)\n"
            "G must not be trained too much without updating D (section 6): else G collapses "
            "too many values of z to the same x"
        ),
        "claim": (
            f"On the ring of 8 Gaussians (seed 0, {steps} steps), swapping the preset's learning "
            "rates so that G learns twice as fast as D, without decay, collapses G: it covers "
            f"at most {max(collapsing['modes_covered'])} of 8 modes at any of its "
            f"{len(collapsing['step'])} checks (final {collapsing['modes_covered'][-1]}), while "
            f"the ring8 preset ends at {covering['modes_covered'][-1]}/8 with "
            f"{100 * covering['high_quality'][-1]:.0f}% of samples within 3 std of a mode."
        ),
        "figures": ["mode_collapse.png"],
        "numbers": {
            "collapse_setting": f"{MODE_COLLAPSE_PRESET} + {' '.join(COLLAPSE_OVERRIDES)}",
            "covering_setting": f"{MODE_COLLAPSE_PRESET} preset, first {steps} steps",
            "steps": collapsing["step"],
            "modes_covered_collapsing": collapsing["modes_covered"],
            "modes_covered_covering": covering["modes_covered"],
            "high_quality_collapsing": collapsing["high_quality"],
            "high_quality_covering": covering["high_quality"],
            "final_modes_collapsing": collapsing["modes_covered"][-1],
            "final_modes_covering": covering["modes_covered"][-1],
        },
    }
