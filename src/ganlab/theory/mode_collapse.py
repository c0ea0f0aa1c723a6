"""Item 8, mode collapse (section 6, the "Helvetica scenario"), seen on the ring of 8 Gaussians.

    modes covered = #{modes i : some sample x has ||x - mu_i|| <= 3 sigma},  2,500 samples G(z)

compute_mode_collapse trains the ring8 preset and a variant whose G learns faster than D, with
the library's Algorithm 1 watched by a ganlab.theory.snapshots.Recorder that scores mode
coverage (ganlab.metrics.mode_coverage) during training; plot draws their samples and
coverage over time; describe says what they show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganlab.config import Config, load_config
from ganlab.data import distribution_of
from ganlab.metrics.coverage import mode_coverage
from ganlab.report.figures import pyplot, save_figure
from ganlab.theory.description import Description
from ganlab.theory.snapshots import Recorder, evaluating, train_recorded
from ganlab.training.algorithm import StepStats
from ganlab.training.prior import NoisePrior
from ganlab.training.state import TrainState

FIGURE = "mode_collapse.png"

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


@dataclass(frozen=True)
class ModeCollapse:
    """A collapsing run beside a covering one: coverage over time and samples at a few steps.

    Attributes:
        steps: training steps of each run; snap_steps: the steps whose samples are kept.
        runs: {"collapsing": coverage_run(...), "covering": coverage_run(...)}.
        centres: (K, 2) the ring's mode centres.
    """

    steps: int
    snap_steps: list[int]
    runs: dict[str, dict]
    centres: np.ndarray

    @property
    def modes(self) -> int:
        return self.runs["covering"]["modes"]


def compute_mode_collapse(quick: bool = False) -> ModeCollapse:
    """Train both runs (1,000 steps when quick, else 2,000), scoring coverage every 100 steps."""
    steps = 1000 if quick else 2000
    every = 100
    snap_steps = [steps // 8, steps // 4, steps // 2, 3 * steps // 4, steps]
    cfgs = mode_collapse_configs(steps)
    runs = {name: coverage_run(cfg, every, set(snap_steps)) for name, cfg in cfgs.items()}
    centres = distribution_of(cfgs["covering"].data).centres.numpy()
    return ModeCollapse(steps=steps, snap_steps=snap_steps, runs=runs, centres=centres)


def plot_mode_collapse(r: ModeCollapse, out: Path) -> list[str]:
    """Both runs' samples at snap_steps over the ring, and modes covered over steps; returns
    the file names."""
    plt = pyplot()
    runs, snap_steps, centres = r.runs, r.snap_steps, r.centres
    shown = [run["samples"][s][:500] for run in runs.values() for s in snap_steps]
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
        run = runs[name]
        covered = dict(zip(run["step"], run["modes_covered"], strict=True))
        for col, s in enumerate(snap_steps):
            ax = fig.add_subplot(grid[row, col])
            fake = run["samples"][s][:500]
            ax.scatter(fake[:, 0], fake[:, 1], s=3, c=colours[name], alpha=0.5, label="G(z), 500")
            ax.scatter(
                centres[:, 0], centres[:, 1], marker="x", c="k", s=20, label="modes (std 0.01)"
            )
            ax.set_xlim(-half, half)
            ax.set_ylim(-half, half)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"step {s}: {covered[s]}/{run['modes']} modes", fontsize=9)
            if col == 0:
                ax.set_ylabel(name, fontsize=11, color=colours[name])
            if row == 1 and col == len(snap_steps) - 1:
                ax.legend(fontsize=7, loc="lower right", markerscale=2)
    ax = fig.add_subplot(grid[2, :])
    for name, run in runs.items():
        ax.plot(run["step"], run["modes_covered"], "o-", color=colours[name], label=labels[name])
    ax.axhline(r.modes, color="0.6", ls=":", lw=1, label="all 8 modes")
    ax.set_ylim(-0.3, r.modes + 2.2)  # headroom for the legend
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
    save_figure(fig, Path(out) / FIGURE)
    return [FIGURE]


def describe_mode_collapse(r: ModeCollapse) -> Description:
    """Item 8's title, equation, claim and numbers."""
    collapsing, covering = r.runs["collapsing"], r.runs["covering"]
    return Description(
        name="mode_collapse",
        title="Mode collapse, seen: G maps many z to one point when it outpaces D",
        equation=(
            "modes covered = #{modes i : some sample x has ||x - mu_i|| <= 3 sigma}, "
            "2,500 samples G(z)\n"
            "G must not be trained too much without updating D (section 6): else G collapses "
            "too many values of z to the same x"
        ),
        claim=(
            f"On the ring of 8 Gaussians (seed 0, {r.steps} steps), swapping the preset's "
            "learning rates so that G learns twice as fast as D, without decay, collapses G: it "
            f"covers at most {max(collapsing['modes_covered'])} of 8 modes at any of its "
            f"{len(collapsing['step'])} checks (final {collapsing['modes_covered'][-1]}), while "
            f"the ring8 preset ends at {covering['modes_covered'][-1]}/8 with "
            f"{100 * covering['high_quality'][-1]:.0f}% of samples within 3 std of a mode."
        ),
        numbers={
            "collapse_setting": f"{MODE_COLLAPSE_PRESET} + {' '.join(COLLAPSE_OVERRIDES)}",
            "covering_setting": f"{MODE_COLLAPSE_PRESET} preset, first {r.steps} steps",
            "steps": collapsing["step"],
            "modes_covered_collapsing": collapsing["modes_covered"],
            "modes_covered_covering": covering["modes_covered"],
            "high_quality_collapsing": collapsing["high_quality"],
            "high_quality_covering": covering["high_quality"],
            "final_modes_collapsing": collapsing["modes_covered"][-1],
            "final_modes_covering": covering["modes_covered"][-1],
        },
    )


def run_mode_collapse(out: Path, quick: bool = False) -> dict:
    """Mode collapse on the ring of 8 Gaussians: samples over time and modes covered, for a
    collapsing run beside one that covers every mode.

    Writes mode_collapse.png.
    """
    result = compute_mode_collapse(quick)
    figures = plot_mode_collapse(result, out)
    return describe_mode_collapse(result).item_result(figures)


__all__ = [
    "COLLAPSE_OVERRIDES",
    "COVERAGE_SAMPLES",
    "MODE_COLLAPSE_PRESET",
    "ModeCollapse",
    "compute_mode_collapse",
    "coverage_run",
    "describe_mode_collapse",
    "mode_collapse_configs",
    "plot_mode_collapse",
    "run_mode_collapse",
]
