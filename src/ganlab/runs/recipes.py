"""`ganlab train PATH`: from a user's file or folder to a config, with one line saying what
was chosen.

    plan = plan_run("moons.csv")      # inspects the data, picks a recipe, resolves the config
    print(plan.line)                  # what ganlab chose and how long it should take here

Points get the `points` preset, images the `images` preset (both in ganlab/presets, tuned on
data they were not written for: benchmarks/README.md). The recipe sets what depends on the
data: where it is, how to read it, the image size and channels, and the step budget, which
grows with the data instead of being one number. `--set` items apply on top, last.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from ganlab.config import Config, config_from_dict, load_config
from ganlab.data.inspect import DataSummary, inspect_path, is_data_path
from ganlab.errors import ConfigError
from ganlab.models.dcgan import supported_sides
from ganlab.training.algorithm import algorithm1
from ganlab.training.runtime import configure_cpu, run_threads
from ganlab.training.state import (
    build_state,
    check_columns,
    check_enough_examples,
    seeded_rng,
)

__all__ = [
    "Plan",
    "budget_steps",
    "estimate_seconds",
    "image_clusters",
    "is_data_path",
    "plan_run",
    "recipe_for",
]

# Points: 12,000 steps of 256 reach k-NN precision and recall (k = 5) >= 0.95 on 2-D shapes of
# 5,000 points (benchmarks/README.md, "The points recipe"); 8,000 left precision or recall
# below it on one shape of three; more points or dimensions get more steps, as below.
POINTS_STEPS, POINTS_REFERENCE = 12_000, 5000
POINTS_DECAY = 20.0  # both learning rates fall 20x over a points run, whatever its length
# Images: 5,000 steps for 10,000 28x28 images (MNIST: 83.6% of samples read confidently there,
# 83.8% at 6,000, which would pass 10 minutes on 2 cores; benchmarks/README.md); a set n times
# larger gets n^0.5 times more, a rule not yet measured.
IMAGES_STEPS, IMAGES_REFERENCE = 5000, 10_000
# G's 64 channels (the preset) up to 32x32; beyond, 32: at 64x64 a step of the 64-channel G
# took 1.40 s against 0.78 s (1 busy thread, benchmarks/README.md, "The images recipe")
WIDE_G_MAX_SIDE, NARROW_G_CHANNELS = 32, 32
# Images are conditioned on their own clusters (conditional.clusters: the self-conditioned GAN;
# spectral clustering, the config's default), one cluster per 500 images, 2 to 20: on 10,000
# MNIST PNGs 20 clusters took the confident share from 84% to 96% (k-means) and 98% (spectral).
# More clusters of fewer images each collapse G within a cluster (50 and 200 k-means clusters:
# samples of one cluster spread 0.71x and 0.11x as much as its images; 20: 0.83x),
# (benchmarks/README.md, "The images recipe")
IMAGES_PER_CLUSTER, MAX_CLUSTERS = 500, 20
# ... with MSGAN's term on G (regularizers.mode_seeking, lambda 1 as Mao et al.): a cluster that
# mixes two shapes (MNIST's 4s and 9s) was drawn mostly as one of them; with the term the rarest
# digit went from 7.3 / 7.8 / 6.9% to 8.2 / 8.8 / 8.0% (seeds 0-2) for 2-2.5 points of the
# confident share (98% -> 96%); on Fashion-MNIST the rarest class from 3.7% to 5.5%
MODE_SEEKING = 1.0
MIN_STEPS, MAX_STEPS = 2000, 50_000
MIN_SIDE, MAX_SIDE = 16, 64  # image sides the images recipe trains at (DCGAN's range here)


@dataclass(frozen=True)
class Plan:
    """A resolved run: its config, the name of its default run directory, and the line that
    says what was chosen (for data, what ganlab made of it)."""

    config: Config
    name: str
    line: str
    summary: DataSummary | None = None


def budget_steps(summary: DataSummary) -> int:
    """Training steps for the data: points 12,000 for 5,000 2-D points, x (n / 5,000)^0.25 and
    x sqrt(d / 2) beyond; images 5,000 for 10,000, x (n / 10,000)^0.5; in [2,000, 50,000],
    rounded to 500."""
    if summary.kind == "points":
        size = (summary.count / POINTS_REFERENCE) ** 0.25
        dim = math.sqrt(max(1.0, summary.shape[0] / 2))
        steps = POINTS_STEPS * size * dim
    else:
        steps = IMAGES_STEPS * (summary.count / IMAGES_REFERENCE) ** 0.5
    return int(min(MAX_STEPS, max(MIN_STEPS, round(steps / 500) * 500)))


def image_side(summary: DataSummary) -> int:
    """The side images are trained at: theirs when it is square and DCGAN builds it within
    [16, 64], else the nearest side DCGAN builds (the larger on a tie)."""
    _, h, w = summary.shape
    sides = [s for s in supported_sides(MAX_SIDE) if s >= MIN_SIDE]
    if h == w and h in sides and len(summary.sizes) <= 1:
        return h
    target = min(MAX_SIDE, max(MIN_SIDE, max(h, w)))
    return min(sides, key=lambda s: (abs(s - target), -s))


def recipe_for(summary: DataSummary, typed: str | None = None) -> tuple[str, list[str]]:
    """(preset, overrides) for the data: the preset of its kind and the keys the data decides.
    typed: the path as the user typed it, for data.path (the run directory makes it absolute
    and keeps it as typed for the record); default the summary's absolute path."""
    steps = budget_steps(summary)
    path = json.dumps(str(typed or summary.path))  # quoted: any path reads back as a string
    sets = [f"data.kind={summary.loader}", f"data.path={path}", f"steps={steps}"]
    if summary.kind == "points":
        factor = POINTS_DECAY ** (1.0 / steps)  # the same total decay over any budget
        sets += [f"g_optimizer.lr_decay_factor={factor}", f"d_optimizer.lr_decay_factor={factor}"]
        if summary.label_column:  # left out of the points; conditional.kind conditions on it
            sets.append(f"data.label_column={json.dumps(summary.label_column)}")
        if summary.log_columns:  # positive, right-skewed columns: G and D play on log x
            sets.append(f"data.log_columns={list(summary.log_columns)}")
        if summary.integer_columns:  # whole numbers in the data: samples rounded there
            sets.append(f"data.integer_columns={list(summary.integer_columns)}")
        return "points", sets
    channels, h, w = summary.shape
    if summary.loader == "images":
        sets.append(f"data.channels={channels}")
    side = image_side(summary)  # a folder's or an array's images alike
    if (h, w) != (side, side) or len(summary.sizes) > 1:
        sets.append(f"data.resize=[{side},{side}]")
    if side > WIDE_G_MAX_SIDE:
        sets.append(f"generator.channels={NARROW_G_CHANNELS}")
    if not summary.classes:  # labelled images stay yours to condition on (conditional.kind)
        clusters = image_clusters(summary.count)
        sets += ["conditional.kind=projection", f"conditional.clusters={clusters}"]
        sets.append(f"regularizers.mode_seeking={MODE_SEEKING}")
    return "images", sets


def small_data_minibatch(count: int, m: int) -> int:
    """The recipe's minibatch m, or for data of fewer than 2m examples the largest power of two
    within count / 2 (at least 2): every epoch then holds two minibatches or more (the iris
    set's 150 rows train at m = 64 where the points recipe's m = 256 could not start)."""
    if 2 * m <= count:
        return m
    return max(2, 1 << (max(1, count // 2).bit_length() - 1))


def image_clusters(count: int) -> int:
    """Clusters an image set of `count` images is conditioned on: one per 500, 2 to 20."""
    return min(MAX_CLUSTERS, max(2, count // IMAGES_PER_CLUSTER))


def plan_run(source, overrides: list[str] = ()) -> Plan:
    """The run `ganlab train SOURCE --set ...` makes: SOURCE a config file or preset, or data
    (a CSV, .npy/.npz file or image folder), in which case the recipe is chosen here.

    Raises:
        ConfigError, DataError: one line.
    """
    if not is_data_path(source):
        name = str(source)
        cfg = load_config(source, list(overrides))
        check_data_file(cfg)
        return Plan(cfg, Path(name).stem, f"{name}: {model_text(cfg)}")
    # a label column the user names is left out of the points the recipe inspects, as training
    # leaves it out (the log and whole-number columns are counted without it)
    asked = [o.partition("=")[2].strip().strip("'\"") for o in overrides
             if o.partition("=")[0].strip() == "data.label_column"]  # fmt: skip
    for item in overrides:  # the data is SOURCE: another path or kind would train on other data
        key = item.partition("=")[0].strip()
        if key in ("data.path", "data.kind"):
            raise ConfigError(
                f"--set {key}: the data of this run is {source}, given first; give the other "
                f"data there instead (`ganlab train OTHER ...`), not with --set {key}"
            )
    summary = inspect_path(source, asked[-1] if asked else None, asked_names(overrides))
    preset, sets = recipe_for(summary, str(source))
    cfg = load_config(preset, sets + list(overrides))
    fit = small_data_minibatch(summary.count, cfg.m)
    if fit != cfg.m and not any(o.split("=")[0].strip() == "m" for o in overrides):
        cfg = config_from_dict({**cfg.model_dump(mode="json"), "m": fit}, f"recipe {preset}")
    # training's own checks of the count and the columns (on each column's extremes), here so
    # that --dry-run refuses what training would
    check_enough_examples(cfg, summary.count)
    if summary.extremes:
        check_columns(torch.tensor(summary.extremes, dtype=torch.float64), cfg.data)
    what = summary.describe(conditioned=cfg.conditional_run)
    line = f"{summary.path.name}: {what} -> recipe {preset}: {model_text(cfg)}"
    if cfg.data.resize:
        line += f", images resized to {cfg.data.resize[0]}x{cfg.data.resize[1]}"
    return Plan(cfg, summary.path.stem, line, summary)


def check_data_file(cfg: Config) -> None:
    """For a config whose data.path names a data file or folder: training's checks of its
    count and columns (as plan_run makes them for data given first), so that `--dry-run` of
    such a config refuses what training would. A path that is not there is training's to say.

    Raises:
        DataError: one line.
    """
    path = cfg.data.path
    if path is None or not is_data_path(path) or not Path(path).expanduser().exists():
        return
    summary = inspect_path(path, cfg.data.label_column, cfg.data.drop_columns)
    check_enough_examples(cfg, summary.count)
    if summary.extremes:
        check_columns(torch.tensor(summary.extremes, dtype=torch.float64), cfg.data)


def asked_names(overrides) -> list[str]:
    """The columns the last `--set data.drop_columns=[a, b]` names (YAML, as the config reads
    it), for the inspection to leave out as training will; [] without one, or for a value
    that is no list (the config's own check then says so in one line)."""
    values = [o.partition("=")[2] for o in overrides
              if o.partition("=")[0].strip() == "data.drop_columns"]  # fmt: skip
    try:
        value = yaml.safe_load(values[-1]) if values else []
    except yaml.YAMLError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def model_text(cfg: Config) -> str:
    """'MLP G 128x3 / D 128x3 on standardised data, non-saturating, adam, 8,000 steps of 256'"""

    def net(section) -> str:
        if section.kind == "dcgan":
            dense = f" + FC {section.dense}" if section.dense else ""
            return f"DCGAN {section.channels}ch{dense}"
        widths = section.hidden
        if len(set(widths)) == 1:
            return f"{section.kind} {widths[0]}x{len(widths)}"
        return f"{section.kind} {'-'.join(map(str, widths))}"

    text = f"G {net(cfg.generator)} / D {net(cfg.discriminator)}"
    if cfg.conditional.clusters:
        text += f" on the data's {cfg.conditional.clusters} {cfg.conditional.clustering} clusters"
    if cfg.data.standardize:
        text += " on standardised data"
    game = cfg.objective + (" + mode seeking" if cfg.regularizers.mode_seeking else "")
    return f"{text}, {game}, {cfg.g_optimizer.name}, {cfg.steps:,} steps of m={cfg.m}"


def estimate_seconds(cfg: Config, x_shape: tuple[int, ...], probe_seconds: float = 1.0) -> float:
    """Seconds the run's training steps should take on this machine: the same nets and
    minibatch on random data of the data's shape, timed over about `probe_seconds` after two
    steps to warm up (the previews and checkpoints of a real run add a few percent). Torch's
    random state is left as it was. Other busy processes on the machine slow both the probe
    and the run."""

    def steps(state, n) -> float:
        probe = cfg.model_copy(update={"steps": state.step + n})
        start = time.perf_counter()
        algorithm1(probe, state)
        return time.perf_counter() - start

    x = torch.rand(max(2 * cfg.m, 64), *x_shape)
    if cfg.conditional_run:  # the labels' count barely changes the time: K or 10 classes
        cond = cfg.conditional
        x = (x, torch.arange(len(x)) % (cond.clusters or cond.classes or 10))
        # the probe's labels stand in for the clusters (clusters of random pixels: no time)
        cfg = cfg.model_copy(update={"conditional": cond.model_copy(update={"clusters": 0})})
    threads = torch.get_num_threads()
    try:
        with seeded_rng(cfg):
            state = build_state(cfg.model_copy(update={"steps": 2}), data=x)
            configure_cpu(run_threads(cfg, state).threads)  # as the run will, denormals flushed
            steps(state, 2)  # warm-up: first calls allocate and pick kernels
            n, took = 3, steps(state, 3)
            if took < probe_seconds:
                n = min(100, max(3, math.ceil(3 * probe_seconds / max(took, 1e-6))))
                took = steps(state, n)
    finally:
        torch.set_num_threads(threads)
    return took / n * cfg.steps


def duration(seconds: float) -> str:
    """'40 s', '7 min', '1 h 20 min': a time estimate's precision, no more."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


def announce(plan: Plan) -> str:
    """The plan's line with the expected training time on this machine."""
    shape = plan.summary.shape if plan.summary is not None else None
    if shape is None:
        return plan.line
    if plan.config.data.resize:
        shape = (shape[0], *plan.config.data.resize)
    seconds = estimate_seconds(plan.config, tuple(shape))
    # the clustering's time is not probed (clusters of random pixels take none): said, not hidden
    after = ", after clustering the data" if plan.config.conditional.clusters else ""
    return f"{plan.line}, about {duration(seconds)} of training on this machine{after}"
