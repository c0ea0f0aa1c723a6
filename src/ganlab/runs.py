"""Runs: a run directory around Algorithm 1, and the Python API the CLI is a thin shell over.

    run = ganlab.train("ring8", overrides=["steps=200"])   # or a Config, a dict, a YAML path
    x = run.sample(2500)                                    # (2500, 2) generated points
    run = ganlab.resume(run.path, steps=400)
    run = ganlab.load_run(run.path)

A run directory holds:
    config.yaml          the resolved config (every field, defaults filled in)
    meta.json            seed, versions, git commit, times, command lines, example shape
    metrics.csv          one row per logged step
    samples/step-*.png   samples from a fixed batch of noise, at intervals
    checkpoints/         step-*.safetensors and manifest.json (SHA-256 of each)
    samples.png, losses.png, discriminator.png, grad_norms.png, index.html   the report

Under torchrun (WORLD_SIZE > 1) every rank calls train() or resume() with the same arguments and
they train together (ganlab.distributed); rank 0 alone writes the run directory.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import html
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ganlab import __version__, distributed
from ganlab.algorithm import StepStats, algorithm1, grad_norm, replicas
from ganlab.checkpoint import (
    CheckpointStore,
    TrainState,
    atomic_write_bytes,
    restore_models,
    restore_state,
)
from ganlab.config import (
    Config,
    apply_override,
    config_from_dict,
    dump_config,
    load_config,
    preset_names,
)
from ganlab.data import build_data, distribution_of
from ganlab.distributed import LOCAL, World
from ganlab.errors import (
    CheckpointError,
    ConfigError,
    Diverged,
    GanlabError,
    Interrupted,
    RunDirError,
)
from ganlab.losses import value_function
from ganlab.metrics.coverage import mode_coverage
from ganlab.models import build_discriminator, build_generator
from ganlab.models.mlp import set_output_bias_
from ganlab.optim import build_optimizer, learning_rate
from ganlab.prior import NoisePrior
from ganlab.report import (
    CURVE_PANELS,
    check_page_out,
    format_value,
    img_html,
    last_row_summary,
    metrics_json_html,
    parzen_json_html,
    save_coverage_figure,
    save_curves,
    save_discriminator_figure,
    save_discriminator_map,
    save_sample_figure,
    self_contained_page,
    table_html,
    verbatim,
    write_index,
)
from ganlab.runtime import configure_cpu
from ganlab.theory.game import optimal_discriminator_from_logs

METRIC_FIELDS = [
    "step", "d_loss", "g_loss", "value", "d_real", "d_fake",
    "g_grad_norm", "d_grad_norm", "lr_g", "lr_d", "steps_per_s", "elapsed_s",
]  # fmt: skip

COVERAGE_FIELDS = ["step", "modes_covered", "modes", "high_quality", "kl"]

# Seeds of the run's independent random streams, offset from cfg.seed so that none shares
# a sequence with another (model init and dropout use torch's global generator, seeded cfg.seed).
_DATA_SEED, _NOISE_SEED, _PREVIEW_SEED, _EVAL_SEED = 1, 2, 3, 4


class Run:
    """A trained (or training) GAN and its directory.

    Attributes:
        path: the run directory.
        config: the resolved Config.
        generator, discriminator: G and D, plain nn.Modules.
        step: iterations of Algorithm 1 done.
    """

    def __init__(self, path: Path, config: Config, G, D, step: int, x_shape: tuple[int, ...]):
        self.path, self.config = Path(path), config
        self.generator, self.discriminator = G, D
        self.step, self.x_shape = step, tuple(x_shape)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, step={self.step})"

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n samples x = G(z), (n, *x_shape), G in eval mode, from noise of its own seed.

        Images come back in the data's [0, 1] range whatever G's output nonlinearity.
        """
        if n < 1:
            raise ConfigError(f"number of samples must be >= 1, got {n}; pass -n 1 or more")
        seed = self.config.seed + _EVAL_SEED if seed is None else seed
        device = next(self.generator.parameters()).device
        z = NoisePrior(self.config.noise, seed).to(device).sample(n)  # (n, z_dim)
        with _eval_mode(self.generator) as G:
            x = G(z).cpu()
        return (x + 1.0) / 2.0 if _tanh_images(self.config, self.x_shape) else x

    def metrics(self) -> list[dict[str, float]]:
        """The rows of metrics.csv as dicts of floats."""
        return [{k: float(v) for k, v in row.items()} for row in _read_metrics(self.path)]

    def scores(self, n: int = 2500, samples: torch.Tensor | None = None) -> dict[str, Any]:
        """Scores of n samples against a known toy density: mode coverage (2-D), moments (1-D).

        samples: G's samples when the caller has drawn them already (a report: self.sample(n)),
            else n are drawn here.
        """
        dist = distribution_of(self.config.data)
        if dist is None:
            return {}
        fake = self.sample(n) if samples is None else samples
        if dist.dim == 2:
            return mode_coverage(fake, dist.centres, float(dist.stds[0]))
        real = dist.sample(
            len(fake), torch.Generator().manual_seed(self.config.seed + _EVAL_SEED)
        )  # as many as were scored, also when the caller handed samples of another count
        return {
            "generated_mean": float(fake.mean()),
            "generated_std": float(fake.std()),
            "data_mean": float(real.mean()),
            "data_std": float(real.std()),
        }


# ---------------------------------------------------------------------------------------------
# Public API


def train(
    config: Config | dict | str | Path,
    out: str | Path | None = None,
    *,
    overrides: list[str] = (),
    data=None,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = True,
    report: bool = True,
    device: str = "auto",
    bf16: bool | None = None,
) -> Run:
    """Train a GAN with Algorithm 1 in a new run directory and return the Run.

    Args:
        config: a Config, a dict of config keys, a YAML file path or a preset name.
        out: the run directory to create; default runs/<name>-<time>.
        overrides: ``a.b=value`` strings applied on top of a file or preset.
        data: optional (N, *x_shape) tensor or array to train on instead of config.data.
        resume: if `out` already holds a run, continue it instead of refusing.
        overwrite: if `out` already holds a run, delete it and start again.
        quiet: no progress bar.
        report: write figures and index.html at the end.
        device: 'auto' (CUDA when torch sees a GPU), 'cpu' or 'cuda'.
        bf16: forward passes under bfloat16 autocast (CUDA only); None: off for a new run,
            the run's own choice when `resume` continues one (as ganlab.resume).
    Raises:
        GanlabError: bad config, data or output directory; nothing is written then.
    """
    with distributed.session(device, bool(bf16)) as world:
        # Rank 0 reads the config and checks --out; the other ranks take its answers, so that
        # the files need to be on rank 0's machine only.
        cfg, name = distributed.on_main(_resolve_config, config, overrides)
        distributed.on_main(require_tensorboard, cfg)
        if data is not None:
            cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"kind": "tensor"})})
        elif cfg.data.kind == "tensor":
            raise ConfigError(
                "data.kind 'tensor' needs the examples: pass ganlab.train(cfg, data=x)"
            )
        distributed.local_batch(cfg.m, world.size, cfg.discriminator.pack)
        out, existing = distributed.on_main(_claim_out, out, name, resume, overwrite)
        if existing:
            if bf16 is None:
                world = _with_run_precision(out, world)
            return _resume(out, cfg.steps, data, quiet, report, world)
        with seeded_rng(cfg, world):
            state = build_state(cfg, data, world)  # before any write: bad data writes nothing
            distributed.on_main(_create_run_dir, out, cfg, state, data, world)
            _run_loop(out, cfg, state, quiet, world)
        return _finish(out, cfg, state, report, world)


def resume(
    run_dir: str | Path,
    steps: int | None = None,
    *,
    data=None,
    quiet: bool = True,
    report: bool = True,
    device: str = "auto",
    bf16: bool | None = None,
) -> Run:
    """Continue a run from its newest intact checkpoint, up to `steps` iterations in total.

    Training continues exactly: the same seed, machine and number of processes give the same
    parameters as a run that was never stopped. Resuming on another number of processes
    restores G, D and both optimisers exactly, and the noise and data streams too (every rank
    holds the same ones); only the dropout streams of ranks 1.. are then started afresh from
    (seed, rank, step), ganlab.distributed. device as for train; bf16 None keeps the run's own
    choice where the run continues on a GPU (in float32 elsewhere, with a warning).
    """
    with distributed.session(device, bool(bf16)) as world:
        if bf16 is None:
            world = _with_run_precision(Path(run_dir), world)
        return _resume(Path(run_dir), steps, data, quiet, report, world)


def _with_run_precision(run_dir: Path, world: World) -> World:
    """world with the bf16 autocast the run last trained with (meta.json: its newest resume,
    else its start), where it can have it."""
    meta = distributed.on_main(_read_json, run_dir / "meta.json") or {}
    last = (meta.get("resumes") or [meta])[-1]
    if not last.get("bf16"):
        return world
    if not distributed.has_bf16_autocast(world):
        warnings.warn(
            f"the run trained with --bf16, which needs CUDA; on {world.device} it continues in "
            "float32",
            stacklevel=3,
        )
        return world
    return dataclasses.replace(world, bf16=True)


def load_run(path: str | Path, step: int | None = None) -> Run:
    """A finished or interrupted run, with G and D loaded from its newest intact checkpoint,
    or from the checkpoint of `step` when given."""
    path = Path(path)
    cfg = _run_config(path)
    meta = _read_meta(path)
    x_shape = tuple(meta["x_shape"])
    G = build_generator(cfg.generator, cfg.noise.dim, x_shape)
    D = build_discriminator(cfg.discriminator, x_shape)
    store = CheckpointStore(path / "checkpoints")
    ckpt, tensors, header = store.load_latest() if step is None else store.load(step)
    restore_models(G, D, tensors, ckpt)
    G.eval()
    D.eval()
    return Run(path, cfg, G, D, int(header.get("step", 0)), x_shape)


def build_state(cfg: Config, data=None, world: World = LOCAL) -> TrainState:
    """Fresh G, D, optimisers, noise prior and data source for a config, on world's device.

    Model initialisation draws from torch's global generator: call this after seeding it
    (train() does, inside an isolated RNG scope). On a rank r > 0 of several, the generator is
    then reseeded for r's own dropout masks, and the prior and data source return r's rows of
    every minibatch (ganlab.distributed).
    """
    source = build_data(cfg.data, cfg.seed + _DATA_SEED, data)
    if _tanh_images(cfg, source.x_shape):
        # Images are stored in [0, 1]; a tanh G outputs [-1, 1]. Scale the data to G's range
        # here, the one place it happens (Run.sample maps samples back).
        source.x = 2.0 * source.x - 1.0
    G = build_generator(cfg.generator, cfg.noise.dim, source.x_shape)
    if cfg.generator.output_bias == "data_logit":
        set_output_bias_(G, data_logit(source, cfg.data.kind))
    D = build_discriminator(cfg.discriminator, source.x_shape)
    G, D = (distributed.sync_batchnorm(net, world).to(world.device) for net in (G, D))
    prior = NoisePrior(cfg.noise, cfg.seed + _NOISE_SEED).to(world.device)
    source.to(world.device)
    prior.shard = source.shard = (world.rank, world.size)
    if world.rank:
        torch.manual_seed(distributed.rank_seed(cfg.seed, world.rank, 0))
    return TrainState(
        step=0,
        G=G,
        D=D,
        opt_g=build_optimizer(cfg.g_optimizer, G.parameters()),
        opt_d=build_optimizer(cfg.d_optimizer, D.parameters()),
        prior=prior,
        data=source,
    )


def data_logit(source, kind: str) -> torch.Tensor:
    """log(p / (1 - p)) of the mean example p, clipped to [1e-3, 1 - 1e-3] as pylearn2's
    init_sigmoid_bias_from_marginals: a sigmoid G whose output bias is this starts out
    producing the average image instead of uniform grey."""
    x = getattr(source, "x", None)
    if x is None:
        raise ConfigError(
            f"generator.output_bias 'data_logit' needs a training set, but data.kind '{kind}' "
            "streams fresh draws; set data.n or generator.output_bias=zero"
        )
    p = x.double().mean(0).clamp(1e-3, 1 - 1e-3)  # (*x_shape,)
    return torch.log(p / (1 - p)).float()


def write_report(run: Run) -> Path:
    """Final samples, curves, scores and index.html of a run; returns the page's path."""
    dist = distribution_of(run.config.data)
    fake = _report_samples(run, dist)
    _save_final_samples(run, dist, fake, run.path / "samples.png")
    rows = _read_metrics(run.path)
    if rows:
        save_curves(run.path, rows)
    theory = []
    coverage = _read_csv(run.path / "coverage.csv")
    if coverage:
        theory.append(save_coverage_figure(run.path / "coverage.png", coverage).name)
    if _has_figure_1_view(run, dist):
        theory.append(_save_discriminator_view(run, dist, fake).name)
    return write_index(
        run.path,
        (run.path / "config.yaml").read_text(),
        _read_meta(run.path),
        rows[-1] if rows else None,
        _toy_scores(run, dist, fake),
        theory,
    )


# How many of the final G's samples each piece of a report shows. A report draws the most any
# piece needs once, with Run.sample's seed, and the figures take its first rows (for uniform
# noise the rows of a draw of their own size; for Gaussian noise nearly so, see _toy_scores).
_FIGURE_IMAGES = 64  # an 8 x 8 grid
_FIGURE_POINTS = 2500  # the VEEGAN/PacGAN protocol's count, as Run.scores draws
_VIEW_POINTS = 10_000  # the KDE of p_g in the Figure 1 view


def _report_samples(run: Run, dist) -> torch.Tensor:
    """One batch of the final generator's samples for every figure and score of a report."""
    if len(run.x_shape) != 1:
        return run.sample(_FIGURE_IMAGES)  # (64, C, H, W)
    return run.sample(_VIEW_POINTS if _has_figure_1_view(run, dist) else _FIGURE_POINTS)


def _has_figure_1_view(run: Run, dist) -> bool:
    """A 1-D run with a known p_data and an unpacked D (a packed D scores packs, not points:
    it has no curve D(x) to draw)."""
    return run.x_shape == (1,) and dist is not None and run.config.discriminator.pack == 1


def _toy_scores(run: Run, dist, fake: torch.Tensor) -> dict[str, Any]:
    """Run.scores, less the per-mode counts: the numbers `ganlab eval` and the API give.

    The report's draw is Run.scores' own when it has 2,500 rows. The 1-D view's 10,000 are not a
    superset of it: torch.randn fills a small z in blocks, so the first 2,500 rows of a bigger
    Gaussian draw are not the 2,500-row draw. Then Run.scores draws its own.
    """
    if dist is None:
        return {}
    scores = run.scores(_FIGURE_POINTS, fake if len(fake) == _FIGURE_POINTS else None)
    return {k: v for k, v in scores.items() if k != "counts"}


def _save_final_samples(run: Run, dist, fake: torch.Tensor, path: Path) -> Path:
    """The final generator's samples (2,500 points or 64 images) drawn over the data."""
    fake = fake[: _FIGURE_POINTS if fake.ndim == 2 else _FIGURE_IMAGES]
    real = dist.sample(2500, torch.Generator().manual_seed(0)) if dist is not None else None
    return save_sample_figure(
        path,
        fake,
        real,
        dist,
        (0.0, 1.0),  # Run.sample returns images in the data range
        title=f"step {run.step}: generated (green) and data (black)" if fake.ndim == 2 else "",
    )


# Sample figures over time embedded in report.html: evenly spaced, the last always among them,
# so that a long run's page stays a few MB (each figure is ~30-60 kB).
_MAX_PROGRESS_FIGURES = 24


def write_html_report(
    run_dir: str | Path, out: str | Path | None = None, overwrite: bool = False
) -> Path:
    """report.html: the whole run in one self-contained page (every image a data: URI).

    Final samples; losses, mean D(x) and D(G(z)) and gradient norms over training; D over the
    data space (2-D: a heatmap of D(x) under generated and real points; 1-D: the paper's
    Figure 1 view with D* of Proposition 1); mode coverage over training (coverage.csv);
    samples over training (samples/step-*.png); the metrics with their provenance
    (metrics*.json of `ganlab eval --metrics`, parzen*.json of `--parzen`, toy scores);
    meta.json (versions, seed, git commit, commands) and the resolved config.

    Args:
        run_dir: a run directory.  out: the page to write; default run_dir/report.html.
        overwrite: replace `out` even if it is not a page ganlab wrote.
    Returns:
        The path of the page.
    Raises:
        RunDirError: run_dir is not a run directory, or `out` is refused or cannot be written.
    """
    run_dir = Path(run_dir)
    cfg = _run_config(run_dir)
    meta = _read_meta(run_dir)
    out = run_dir / "report.html" if out is None else Path(out)
    check_page_out(out, overwrite)
    try:
        run = load_run(run_dir)
        missing = ""
    except CheckpointError as e:  # a run stopped before its first checkpoint still has logs
        run, missing = None, f"No generator to sample: {e}"
    dist = distribution_of(cfg.data)
    fake = _report_samples(run, dist) if run is not None else None
    rows = _read_metrics(run_dir)
    coverage = _read_csv(run_dir / "coverage.csv")
    with tempfile.TemporaryDirectory(prefix="ganlab-report-") as tmp:
        tmp = Path(tmp)
        sections = [
            ("samples", "Final samples", _final_samples_html(run, dist, fake, tmp, missing)),
            ("curves", "Training curves", _curves_html(rows, tmp)),
        ]
        view = _discriminator_html(run, dist, fake, tmp)
        if view:
            sections.append(view)
        if coverage:
            figure = save_coverage_figure(tmp / "coverage.png", coverage)
            body = f'<div class="figs">{img_html(figure, "mode coverage over training")}</div>'
            sections.append(("coverage", "Mode coverage over training", body))
        scores = _toy_scores(run, dist, fake) if run is not None else {}
        sections += [
            ("progress", "Samples during training", _progress_html(run_dir)),
            ("metrics", "Metrics", _metrics_html(scores, run_dir)),
            ("run", "Run and environment", _meta_html(meta)),
            ("config", "Resolved config", f"<pre>{html.escape(dump_config(cfg))}</pre>"),
        ]
        page = self_contained_page(f"ganlab run {run_dir.name}", _summary(rows, run), sections)
    with _writing(out, "the run directory is unchanged"):
        atomic_write_bytes(out, page.encode())
    return out


def _summary(rows: list[dict], run: Run | None) -> str:
    if not rows:
        return last_row_summary(None)
    checkpoint = f" Newest checkpoint: step {run.step}." if run is not None else ""
    return last_row_summary(rows[-1]) + checkpoint


def _final_samples_html(run: Run | None, dist, fake, tmp: Path, missing: str) -> str:
    if run is None:
        return f'<p class="note">{html.escape(missing)}</p>'
    figure = _save_final_samples(run, dist, fake, tmp / "samples.png")
    return '<div class="figs">' + img_html(figure, f"samples at step {run.step}") + "</div>"


def _curves_html(rows: list[dict], tmp: Path) -> str:
    if not rows:
        return '<p class="note">metrics.csv has no rows yet.</p>'
    figures = save_curves(tmp, rows)
    return (
        '<div class="figs">'
        + "".join(img_html(figures[panel.name], panel.alt) for panel in CURVE_PANELS)
        + "</div>"
    )


def _discriminator_html(run: Run | None, dist, fake, tmp: Path) -> tuple[str, str, str] | None:
    """The section of D over the data space, for 1-D and 2-D points with an unpacked D."""
    if run is None or run.config.discriminator.pack != 1:
        return None  # (a packed D scores packs, not points: it has no D(x) to draw)
    if _has_figure_1_view(run, dist):
        figure = _save_discriminator_view(run, dist, fake, tmp / "discriminator_view.png")
        note = (
            "p_data, p_g and the learned D(x) as in the paper's Figure 1, with the optimal "
            "D*(x) = p_data / (p_data + p_g) of Proposition 1."
        )
    elif run.x_shape == (2,):
        figure = _save_discriminator_map(run, dist, fake, tmp / "discriminator_map.png")
        note = (
            "D(x) on a grid over the data space (red: D says data, blue: D says generated; "
            "contour at 1/2), generated points (green) and data (black) on top. At the "
            "equilibrium of Proposition 1, D = 1/2 everywhere."
        )
    else:
        return None
    body = f'<p class="note">{note}</p><div class="figs">{img_html(figure, "D over x")}</div>'
    return ("discriminator", "The discriminator over the data space", body)


def _on_cpu(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """net(x) for CPU figures, wherever the caller has put net (a Run may be moved to a GPU)."""
    return net(x.to(next(net.parameters()).device)).cpu()


@contextmanager
def _eval_mode(module: torch.nn.Module):
    """`module` in eval mode (dropout off, as in Run.sample) inside the block; its own mode
    back after, also when the block raises (a caller may go on training it)."""
    mode = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(mode)


@torch.no_grad()
def _save_discriminator_map(run: Run, dist, fake: torch.Tensor, path: Path) -> Path:
    """A 2-D run's final D(x) on a 200 x 200 grid, its samples and the data over it."""
    fake = fake[:_FIGURE_POINTS]  # (2500, 2)
    real = None
    if dist is not None:
        real = dist.sample(2500, torch.Generator().manual_seed(0))  # (2500, 2)
    else:
        try:
            real = build_data(run.config.data, run.config.seed + _DATA_SEED).reference(2500)
        except GanlabError:  # the data file moved: draw G and D alone
            real = None
    points = torch.cat([fake, real]) if real is not None else fake
    points = points[torch.isfinite(points).all(1)].double()
    if not len(points):  # a diverged G and no data to frame: the unit square around 0
        points = torch.tensor([[-1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)
    # 0.5-99.5 percentiles: a few far-off samples of a poor G would shrink the data to a dot
    lo, hi = torch.quantile(points, 0.005, dim=0), torch.quantile(points, 0.995, dim=0)
    if real is not None:
        lo, hi = torch.minimum(lo, real.min(0).values), torch.maximum(hi, real.max(0).values)
    pad = 0.15 * float((hi - lo).max().clamp_min(1e-3))
    x1 = torch.linspace(float(lo[0]) - pad, float(hi[0]) + pad, 200)
    x2 = torch.linspace(float(lo[1]) - pad, float(hi[1]) + pad, 200)
    grid = torch.stack(torch.meshgrid(x1, x2, indexing="xy"), -1).reshape(-1, 2)  # (40000, 2)
    with _eval_mode(run.discriminator) as D:
        d = torch.sigmoid(_on_cpu(D, grid)).reshape(len(x2), len(x1))  # (200, 200)
    return save_discriminator_map(
        path,
        x1,
        x2,
        d,
        fake,
        real,
        dist.centres if dist is not None and dist.dim == 2 else None,
        title=f"step {run.step}: D(x) under generated (green) and data (black) points",
    )


def _progress_html(run_dir: Path) -> str:
    figures = sorted((run_dir / "samples").glob("step-*.png"))
    if not figures:
        return '<p class="note">No sample figures in samples/.</p>'
    shown = figures
    if len(figures) > _MAX_PROGRESS_FIGURES:
        index = np.linspace(0, len(figures) - 1, _MAX_PROGRESS_FIGURES).round().astype(int)
        shown = [figures[i] for i in sorted(set(index.tolist()))]
    note = (
        f'<p class="note">{len(shown)} of the {len(figures)} figures in samples/, evenly '
        "spaced.</p>"
        if len(shown) < len(figures)
        else ""
    )
    strip = "".join(img_html(p, p.stem, f"step {int(p.stem.split('-')[1])}") for p in shown)
    return f'{note}<div class="figs strip">{strip}</div>'


def _metrics_html(scores: dict[str, Any], run_dir: Path) -> str:
    """Every score the run has: the final G's toy scores, metrics*.json and parzen*.json."""
    e = html.escape
    parts = []
    if scores:
        n = "2,500 samples of the final generator"
        parts.append(f"<h3>Scores of the known toy density ({n})</h3>")
        parts.append(table_html(None, [[k, format_value(v)] for k, v in scores.items()]))
    for pattern, option, render in (
        ("metrics*.json", "--metrics", metrics_json_html),
        ("parzen*.json", "--parzen", parzen_json_html),
    ):
        for path in sorted(run_dir.glob(pattern)):
            doc = _read_json(path)
            if doc is None:
                parts.append(f'<p class="note">{e(path.name)} is unreadable; skipped.</p>')
                continue
            parts.append(f"<h3>ganlab eval {option}: {e(path.name)}</h3>")
            parts.append(render(path.name, doc))
            figure = doc.get("metrics", {}).get("digits", {}).get("figure")
            if figure and (run_dir / figure).is_file():
                parts.append('<div class="figs">' + img_html(run_dir / figure, figure) + "</div>")
    if not parts:
        return (
            '<p class="note">No scores: run <code>ganlab eval RUN_DIR --metrics ...</code> or '
            "<code>--parzen</code>, then this command again.</p>"
        )
    return "".join(parts)


def _meta_html(meta: dict) -> str:
    return table_html(None, [[k, verbatim(v)] for k, v in meta.items()])


def _read_json(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


@torch.no_grad()
def _save_discriminator_view(run: Run, dist, fake: torch.Tensor, path: Path | None = None) -> Path:
    """The paper's Figure 1 view of a 1-D run's final state: p_data, p_g, D and D*.

    Args:
        fake: (n, 1) samples of the final G, from which p_g is estimated (a report's 10,000).
    """
    from scipy.stats import gaussian_kde

    fake = fake[:, 0].double().numpy()
    lo, hi = np.percentile(fake, [0.1, 99.9])
    centre, spread = float(dist.centres.mean()), float(dist.stds.max())
    lo, hi = min(lo, centre - 4 * spread), max(hi, centre + 4 * spread)
    x = torch.linspace(lo, hi, 400, dtype=torch.float64)
    log_p_data = dist.log_prob(x[:, None])
    p_g = torch.from_numpy(gaussian_kde(fake)(x.numpy()))  # KDE: G's density has no closed form
    with _eval_mode(run.discriminator) as D:
        d = torch.sigmoid(_on_cpu(D, x[:, None].float())).double()
    # Proposition 1 from log densities: exact where both densities underflow to 0
    d_star = optimal_discriminator_from_logs(log_p_data, p_g.log())
    p_data = log_p_data.exp()
    return save_discriminator_figure(
        path or run.path / "discriminator_view.png", x, p_data, p_g, d, d_star, f"step {run.step}"
    )


# ---------------------------------------------------------------------------------------------
# The loop's bookkeeping


class RunMonitor:
    """Progress bar, metrics rows, sample figures and checkpoints after each iteration.

    Over several processes every rank has one and they decide together (stop, divergence,
    rollback); rank 0 alone writes and shows the progress bar (ganlab.distributed).
    """

    _PROBLEMS = (
        None,
        "the discriminator's loss",
        "the generator's loss",
        "a generator parameter",
        "a discriminator parameter",
    )

    def __init__(
        self, run_dir: Path, cfg: Config, state: TrainState, quiet: bool, world: World = LOCAL
    ):
        self.run_dir, self.cfg, self.world = run_dir, cfg, world
        self.checkpoints = CheckpointStore(run_dir / "checkpoints", cfg.keep_checkpoints)
        self.dist = distribution_of(cfg.data)
        images = len(state.data.x_shape) > 1
        n_preview = 64 if images else 2500  # 2,500: the mode-coverage protocol's sample size
        preview_prior = NoisePrior(cfg.noise, cfg.seed + _PREVIEW_SEED).to(world.device)
        self.preview_z = preview_prior.sample(n_preview)
        self.preview_real = None if images else state.data.reference(n_preview)
        self.bar = tqdm(
            total=cfg.steps,
            initial=state.step,
            disable=quiet or not world.is_main,
            unit="step",
            dynamic_ncols=True,
            desc=run_dir.name,
            file=sys.stderr,
        )
        self.t0 = self.t_last = time.perf_counter()
        self.step_last = state.step
        self.stop_requested = False
        self.compile_reported = False
        self.divergence = ""  # what _diverged found, for a rollback's warning
        self.metrics_file = None
        self.tensorboard = None  # rank 0's SummaryWriter when cfg.tensorboard
        self.last_checkpoint: Path | None = distributed.on_main(self._open)  # on every rank

    def _open(self) -> Path | None:
        """Rank 0: metrics.csv opened for appending; the checkpoint a resume started from."""
        entries = self.checkpoints.entries()
        self.last_checkpoint = self.checkpoints.folder / entries[-1]["file"] if entries else None
        self._open_metrics()
        if self.cfg.tensorboard:
            self._open_tensorboard(self.step_last)
        return self.last_checkpoint

    def _open_tensorboard(self, step: int) -> None:
        """Rank 0: the SummaryWriter, hiding events a stopped run logged past `step` (they
        are redone after a resume or rollback, as metrics.csv's rows are)."""
        with _writing(self.run_dir / "tensorboard", self.last_checkpoint):
            self.tensorboard = tensorboard_writer(
                self.run_dir / "tensorboard", purge_step=step + 1 if step else None
            )

    def _open_metrics(self) -> None:
        new = not (self.run_dir / "metrics.csv").exists()
        with _writing(self.run_dir / "metrics.csv", self.last_checkpoint):
            self.metrics_file = open(self.run_dir / "metrics.csv", "a", newline="")  # noqa: SIM115
            self.writer = csv.DictWriter(self.metrics_file, fieldnames=METRIC_FIELDS)
            if new:
                self.writer.writeheader()

    def after_step(self, state: TrainState, stats: StepStats) -> None:
        step, cfg = state.step, self.cfg
        last = step == cfg.steps
        due = step % cfg.checkpoint_every == 0 or last
        # One exchange a step decides for all ranks together: a signal to any rank stops them
        # all at this step (read once: a later signal waits for the next step), and a NaN or
        # inf in any rank's losses (every step) or parameters (before a checkpoint would save
        # them) is found at the step it appears.
        wants_stop = self.stop_requested
        stop, problem = distributed.max_over_ranks(
            int(wants_stop), _nonfinite(state, stats, params=due or wants_stop)
        )
        self.bar.update(1)
        if cfg.compile and not self.compile_reported:  # the first iteration compiled
            self.compile_reported = True
            if self.world.is_main:
                seconds = time.perf_counter() - self.t0
                tqdm.write(f"compile: the first iteration took {seconds:.1f} s, compiling included")
        if problem:
            self._diverged(state, problem)
        checkpoint = due or bool(stop)
        log = step % cfg.log_every == 0 or last
        preview = step % cfg.sample_every == 0 or last
        if log:
            stats = _over_ranks(stats)
        if log or preview or checkpoint:
            rngs = distributed.gather(_rank_rng(self.world)) if checkpoint else None
            self.last_checkpoint = distributed.on_main(
                self._write, state, stats, log, preview, rngs
            )
        if stop and not last:
            raise Interrupted(
                f"interrupted at step {step}; checkpoint saved: continue with "
                f"`ganlab resume {self.run_dir}`"
            )

    def _write(self, state: TrainState, stats: StepStats, log: bool, preview: bool, rngs):
        """Rank 0's writes for a step; rngs: every rank's RNG states when checkpointing."""
        if log:
            self._log(state, stats)
        if preview:
            self._preview(state)
        if rngs is not None:
            extra = {
                f"rank{r}.rng.{name}" if r else f"rng.{name}": t
                for r, states in enumerate(rngs)
                for name, t in states.items()
                if r or name != "torch"  # rank 0's CPU stream is the state's own rng.torch
            }
            header = {"world_size": str(self.world.size)}
            self.last_checkpoint = self.checkpoints.save(state, extra, header)
        return self.last_checkpoint

    def _diverged(self, state: TrainState, problem: int) -> None:
        """Raise Diverged naming the step, what went non-finite and the last good checkpoint."""
        n = state.rollbacks
        tries = f" after {n} rollback{'s' * (n > 1)}" if n else ""
        self.divergence = (
            f"training diverged at step {state.step}{tries}: "
            f"{self._PROBLEMS[problem]} is NaN or infinite"
        )
        fix = (
            f"last good checkpoint: {self.last_checkpoint}; lower the learning rates in "
            f"{self.run_dir / 'config.yaml'} and resume"
            if self.last_checkpoint
            else "no checkpoint yet; lower the learning rates and train again with --overwrite"
        )
        raise Diverged(f"{self.divergence}; {fix}")

    def roll_back(self, state: TrainState) -> bool:
        """on_nan: rollback after a divergence: reload the newest checkpoint into `state`,
        multiply both learning rates by rollback_lr_factor and warn once.

        Every rank does the same. Returns False, changing nothing, when the run must stop
        instead: on_nan is stop, no checkpoint was written yet, or max_rollbacks are used up.
        """
        cfg = self.cfg
        if cfg.on_nan != "rollback" or self.last_checkpoint is None:
            return False
        if state.rollbacks >= cfg.max_rollbacks:
            return False
        lr_scale, rollbacks = state.lr_scale * cfg.rollback_lr_factor, state.rollbacks + 1
        path, tensors, header = distributed.on_main(self.checkpoints.load_latest)  # rank 0 reads
        restore_state(state, tensors, header, path)  # G, D, optimisers, streams and step
        _restore_rank_rng(tensors, header, cfg, self.world, state.step)
        state.lr_scale, state.rollbacks = lr_scale, rollbacks  # saved with the next checkpoint
        distributed.on_main(self._rewind, state.step, path)
        if self.world.is_main:
            warnings.warn(
                f"{self.divergence}; rolled back to step {state.step} ({path.name}) with both "
                f"learning rates x{lr_scale:g} (rollback {rollbacks} of {cfg.max_rollbacks})",
                stacklevel=2,
            )
        return True

    def _rewind(self, step: int, checkpoint: Path) -> None:
        """Drop the log rows past `step` (a rollback redoes those steps) and carry on there."""
        self.metrics_file.close()
        _truncate_logs(self.run_dir, step, checkpoint)
        self._open_metrics()
        if self.tensorboard is not None:
            self.tensorboard.close()
            self._open_tensorboard(step)
        self.bar.n = self.step_last = step
        self.bar.refresh()
        self.t_last = time.perf_counter()

    def _log(self, state: TrainState, stats: StepStats) -> None:
        now = time.perf_counter()
        rate = (state.step - self.step_last) / max(now - self.t_last, 1e-9)
        self.t_last, self.step_last = now, state.step
        row = {
            "step": state.step,
            "d_loss": stats.d_loss.item(),
            "g_loss": stats.g_loss.item(),
            "value": value_function(stats.d_real, stats.d_fake).item(),
            "d_real": torch.sigmoid(stats.d_real).mean().item(),
            "d_fake": torch.sigmoid(stats.d_fake).mean().item(),
            "g_grad_norm": grad_norm(state.G),
            "d_grad_norm": grad_norm(state.D),
            "lr_g": learning_rate(self.cfg.g_optimizer, state.step - 1) * state.lr_scale,
            "lr_d": learning_rate(self.cfg.d_optimizer, state.step - 1) * state.lr_scale,
            "steps_per_s": rate,
            "elapsed_s": now - self.t0,
        }
        with _writing(self.run_dir / "metrics.csv", self.last_checkpoint):
            self.writer.writerow(
                {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()}
            )
            self.metrics_file.flush()
        if self.tensorboard is not None:  # the same numbers under the same names
            for key, value in row.items():
                if key != "step":
                    self.tensorboard.add_scalar(key, value, state.step)
        self.bar.set_postfix(
            d_loss=f"{row['d_loss']:.3f}",
            g_loss=f"{row['g_loss']:.3f}",
            D_x=f"{row['d_real']:.2f}",
            D_Gz=f"{row['d_fake']:.2f}",
            refresh=False,
        )

    @torch.no_grad()
    def _preview(self, state: TrainState) -> None:
        state.G.eval()
        fake = state.G(self.preview_z).cpu()
        state.G.train()
        if self.dist is not None and self.dist.dim == 2:
            score = mode_coverage(fake, self.dist.centres, float(self.dist.stds[0]))
            with _writing(self.run_dir / "coverage.csv", self.last_checkpoint):
                _append_row(
                    self.run_dir / "coverage.csv",
                    COVERAGE_FIELDS,
                    {"step": state.step, **{k: score[k] for k in COVERAGE_FIELDS[1:]}},
                )
        path = self.run_dir / "samples" / f"step-{state.step:08d}.png"
        with _writing(path, self.last_checkpoint):
            save_sample_figure(
                path, fake, self.preview_real, self.dist, value_range(self.cfg),
                title=f"step {state.step}",
            )  # fmt: skip
        if self.tensorboard is not None:  # the very figure samples/ holds
            from PIL import Image

            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
            self.tensorboard.add_image("samples", pixels, state.step, dataformats="HWC")

    def close(self) -> None:
        self.bar.close()
        try:
            if self.metrics_file is not None:
                self.metrics_file.close()
            if self.tensorboard is not None:
                self.tensorboard.close()  # flushes the event file
        except OSError:  # a full disk, already reported by the write that failed first
            pass


def require_tensorboard(cfg: Config) -> None:
    """Fail before training when cfg.tensorboard is on and the tensorboard package is not there.

    Raises:
        ConfigError: one line naming the package to install.
    """
    if not cfg.tensorboard:
        return
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
    except ImportError:
        raise ConfigError(
            'tensorboard: true needs the tensorboard package; pip install "ganlab[tensorboard]" '
            "or set tensorboard=false"
        ) from None


def tensorboard_writer(log_dir: Path, purge_step: int | None = None):
    """A torch.utils.tensorboard.SummaryWriter into log_dir (imported only when asked for).

    purge_step: TensorBoard hides the events of earlier files at this step and later.
    """
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def _nonfinite(state: TrainState, stats: StepStats, params: bool) -> int:
    """What is NaN or infinite on this rank, as an index into RunMonitor._PROBLEMS (0: nothing).

    The losses every step: two scalars, free on the CPU; on a GPU reading them waits for the
    step, as the next step's copy of noise and data from pageable host memory does anyway.
    The parameters only when asked, as they cost a pass over every weight.
    """
    if not torch.isfinite(stats.d_loss):
        return 1
    if not torch.isfinite(stats.g_loss):
        return 2
    if params:
        for index, net in ((3, state.G), (4, state.D)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                return index
    return 0


def _over_ranks(stats: StepStats) -> StepStats:
    """The step's numbers over the global minibatch, from every rank's equal share of it.

    The ranks' mean losses over equally many rows average to the global mean loss.
    """
    if distributed.world_size() == 1:
        return stats
    losses = distributed.all_gather_rows(torch.stack([stats.d_loss, stats.g_loss])[None])
    d_loss, g_loss = losses.mean(0)  # (world, 2) -> (2,)
    return StepStats(
        d_loss,
        g_loss,
        distributed.all_gather_rows(stats.d_real),
        distributed.all_gather_rows(stats.d_fake),
    )


def _run_loop(
    run_dir: Path, cfg: Config, state: TrainState, quiet: bool, world: World = LOCAL
) -> None:
    threads = torch.get_num_threads()
    configure_cpu(cfg.threads)
    monitor = RunMonitor(run_dir, cfg, state, quiet, world)
    sync = replicas(state.G, state.D, world)  # DistributedDataParallel on several ranks
    try:
        with _stop_on_signal(monitor):
            _train_with_rollbacks(cfg, state, monitor, sync)
    finally:
        monitor.close()
        torch.set_num_threads(threads)


def _train_with_rollbacks(cfg: Config, state: TrainState, monitor: RunMonitor, sync) -> None:
    """algorithm1, continued from the newest checkpoint after each rollback (on_nan: rollback)."""
    while True:
        try:
            algorithm1(cfg, state, monitor, sync)
            return
        except Diverged:
            if not monitor.roll_back(state):
                raise


@contextmanager
def _stop_on_signal(monitor: RunMonitor):
    """SIGINT/SIGTERM: finish the current iteration, checkpoint, stop. A second SIGINT aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        monitor.stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if monitor.world.is_main:
            tqdm.write("stopping after this step to write a checkpoint (Ctrl-C again to abort)")

    old = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def _writing(path: Path, last_checkpoint: Path | str | None):
    """Turn an OSError (full disk, no permission) while writing `path` into one RunDirError.

    last_checkpoint: the checkpoint a resume would start from (or a note such as
    "training finished"), named in the message so the user knows what is safe.
    """
    try:
        yield
    except OSError as e:
        if last_checkpoint is None:
            safe = "no checkpoint was written yet"
        elif isinstance(last_checkpoint, str):
            safe = last_checkpoint
        else:
            safe = f"the last checkpoint {last_checkpoint} is intact; then `ganlab resume`"
        raise RunDirError(
            f"cannot write {path} ({e.strerror or e}); free disk space or fix the folder's "
            f"permissions ({safe})"
        ) from None


# ---------------------------------------------------------------------------------------------
# Helpers


def _claim_out(out: str | Path | None, name: str, resume: bool, overwrite: bool):
    """Rank 0's check of --out before training: (the run directory, whether to resume it)."""
    out = Path(out) if out is not None else _default_out(name)
    if out.exists() and not _is_run_dir(out):
        raise RunDirError(
            f"{out} exists and is not a ganlab run directory; refusing to touch it: "
            "choose another --out"
        )
    if out.exists() and resume:
        return out, True
    if out.exists() and not overwrite:
        raise RunDirError(
            f"run directory {out} already exists; pass --resume to continue it, --overwrite to "
            "replace it, or choose another --out"
        )
    _check_writable(out)
    return out, False


def _create_run_dir(out: Path, cfg: Config, state: TrainState, data, world: World) -> None:
    """Rank 0: a fresh run directory with config.yaml and meta.json (replacing an old run)."""
    with _writing(out, None):
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        write_run_files(out, cfg, state, data, world=world)


def write_run_files(
    out: Path,
    cfg: Config,
    state: TrainState,
    data=None,
    extra_meta: dict | None = None,
    world: World = LOCAL,
) -> None:
    """config.yaml and meta.json of the run directory `out`, which exists; each written whole.

    config.yaml is the resolved config; meta.json the seed, versions, git commit, command, the
    data's shape and the world trained on (STYLE.md section 6).
    Args:
        data: the in-memory data trained on, whose SHA-256 a resume checks; None for data the
            config names.
        extra_meta: more meta.json entries (the lab's counters under "lab").
    Raises:
        OSError: the files cannot be written (callers turn it into a RunDirError).
    """
    atomic_write_bytes(out / "config.yaml", dump_config(cfg).encode())
    meta = {**_meta(cfg, state, data, world), **(extra_meta or {})}
    atomic_write_bytes(out / "meta.json", json.dumps(meta, indent=1).encode())


def _finish(out: Path, cfg: Config, state: TrainState, report: bool, world: World) -> Run:
    """The trained Run, its G and D on the CPU, and (rank 0) its report."""
    run = Run(out, cfg, state.G.cpu(), state.D.cpu(), state.step, state.data.x_shape)
    if report and world.is_main:
        with _writing(out / "index.html", "training finished"):
            write_report(run)
    return run


def _rank_rng(world: World) -> dict[str, torch.Tensor]:
    """This rank's dropout streams: torch's CPU generator, and the GPU's when on one."""
    states = {"torch": torch.get_rng_state()}
    if world.device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(world.device)
    return states


def _restore_rank_rng(tensors, header: dict[str, str], cfg: Config, world: World, step: int):
    """This rank's dropout streams from a checkpoint (restore_state set rank 0's CPU one).

    On as many ranks as the checkpoint was written by, every rank gets its own saved streams
    back: resuming is exact. On another number, rank 0 keeps its saved streams and rank r > 0
    starts afresh from distributed.rank_seed(seed, r, step).
    """
    if world.rank and header.get("world_size", "1") != str(world.size):
        torch.manual_seed(distributed.rank_seed(cfg.seed, world.rank, step))
        return
    prefix = f"rank{world.rank}.rng." if world.rank else "rng."
    try:
        if world.rank:
            torch.set_rng_state(tensors[prefix + "torch"])
        if world.device.type == "cuda" and prefix + "cuda" in tensors:
            torch.cuda.set_rng_state(tensors[prefix + "cuda"], world.device)
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(
            f"checkpoint lacks or mangles rank {world.rank}'s RNG state ({e}); it was altered: "
            "resume on another number of processes to start that rank's stream afresh"
        ) from None


def _record_resume(run_dir: Path, cfg: Config, meta: dict, step: int, ckpt: Path, world: World):
    """Rank 0: note the resume in meta.json, rewrite config.yaml, drop log rows past `step`."""
    meta.setdefault("resumes", []).append(
        {
            "time": _now(),
            "from_step": step,
            "command": _command_line(),
            "world_size": world.size,
            "device": str(world.device),
            "bf16": world.bf16,
        }
    )
    _truncate_logs(run_dir, step, ckpt)
    with _writing(run_dir / "meta.json", ckpt):
        atomic_write_bytes(run_dir / "config.yaml", dump_config(cfg).encode())
        atomic_write_bytes(run_dir / "meta.json", json.dumps(meta, indent=1).encode())


def _resume(
    run_dir: Path, steps: int | None, data, quiet: bool, report: bool, world: World = LOCAL
) -> Run:
    # Rank 0 reads the run directory and hands it to the other ranks: only rank 0's machine
    # needs it (a shared filesystem is not required).
    cfg = distributed.on_main(_run_config, run_dir)
    if steps is not None:
        cfg = config_from_dict({**cfg.model_dump(mode="json"), "steps": steps}, "--steps")
    distributed.on_main(require_tensorboard, cfg)
    meta = distributed.on_main(_read_meta, run_dir)
    if cfg.data.kind == "tensor":
        if data is None:
            raise ConfigError(
                f"run {run_dir} trained on an in-memory tensor; pass it again: "
                "ganlab.resume(path, data=x)"
            )
        if _fingerprint(data) != meta.get("data_sha256"):
            raise ConfigError(
                f"the data passed differs from what run {run_dir} trained on (SHA-256); "
                "pass the same tensor"
            )
    distributed.local_batch(cfg.m, world.size, cfg.discriminator.pack)
    with seeded_rng(cfg, world):  # the checkpoint's dropout streams in training, the caller's after
        state, ckpt = restore_newest(run_dir, cfg, data, world)
        if cfg.steps < state.step:
            raise ConfigError(
                f"--steps {cfg.steps} is below the {state.step} steps the run has done; "
                f"pass --steps {state.step} or more"
            )
        distributed.on_main(_record_resume, run_dir, cfg, meta, state.step, ckpt, world)
        _run_loop(run_dir, cfg, state, quiet, world)
    return _finish(run_dir, cfg, state, report, world)


def restore_newest(
    run_dir: Path, cfg: Config, data=None, world: World = LOCAL
) -> tuple[TrainState, Path]:
    """The run's state at its newest checkpoint: built from cfg as training builds it (under
    seeded_rng), then G, D, optimisers, noise and data streams and step restored into it.

    torch's generator is left at the checkpoint's dropout stream (this rank's, on several), so
    the next iteration is the one the run would have made; enter seeded_rng(cfg) around the call
    and the training to give the caller's stream back afterwards.
    Args:
        run_dir: a run directory with a checkpoints/ folder; rank 0 reads it.
        cfg: the run's config, which the checkpoint must fit.
        data: the in-memory data the run trained on, for data.kind 'tensor'.
    Returns:
        (state, path of the checkpoint restored).
    Raises:
        CheckpointError: no checkpoint, or one that does not fit cfg.
    """
    with seeded_rng(cfg, world):
        state = build_state(cfg, data, world)
    store = CheckpointStore(run_dir / "checkpoints")
    ckpt, tensors, header = distributed.on_main(store.load_latest)
    restore_state(state, tensors, header, ckpt)
    _restore_rank_rng(tensors, header, cfg, world, state.step)
    return state, ckpt


@contextmanager
def seeded_rng(cfg: Config, world: World = LOCAL):
    """Seed torch's generators for the run and give the caller's states back afterwards: the
    CPU's, and the GPU's when the run is on one (manual_seed and dropout advance it)."""
    gpu = [world.device.index] if world.device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpu):
        torch.manual_seed(cfg.seed)
        yield


def _resolve_config(config, overrides) -> tuple[Config, str]:
    if isinstance(config, Config):
        config = config.model_dump(mode="json")
    if isinstance(config, dict):
        return config_from_dict(_with_overrides(config, overrides)), "run"
    name = str(config)
    stem = name if name in preset_names() else Path(name).stem
    return load_config(config, list(overrides)), stem


def _with_overrides(raw: dict, overrides) -> dict:
    raw = json.loads(json.dumps(raw))  # a deep copy: the caller's dict is left alone
    for item in overrides:
        apply_override(raw, item)
    return raw


def _default_out(name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / f"{name}-{stamp}"
    i = 2
    while out.exists():
        out = Path("runs") / f"{name}-{stamp}-{i}"
        i += 1
    return out


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").exists() and (path / "meta.json").exists()


def _check_writable(out: Path) -> None:
    """Fail before training if the run directory cannot be created."""
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(
            f"cannot create run directory {out}: {parent} is a file; choose another --out"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(
            f"cannot create run directory {out}: {parent} is not writable; choose another --out"
        )


def _run_config(run_dir: Path) -> Config:
    if not run_dir.is_dir():
        raise RunDirError(
            f"run directory {run_dir} does not exist; pass the folder `ganlab train` made"
        )
    if not (run_dir / "config.yaml").exists():
        raise RunDirError(
            f"{run_dir} is not a ganlab run directory (no config.yaml); pass the folder "
            "`ganlab train` made"
        )
    return load_config(run_dir / "config.yaml")


def _read_meta(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise RunDirError(
            f"{run_dir}/meta.json is missing or unreadable; the run directory is damaged"
        ) from None


def _read_metrics(run_dir: Path) -> list[dict]:
    return _read_csv(run_dir / "metrics.csv")


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _append_row(path: Path, fields: list[str], row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})


def _truncate_logs(run_dir: Path, step: int, checkpoint: Path) -> None:
    """Drop rows logged after `step` (the checkpoint a resume starts from): they are redone."""
    for name, fields in (("metrics.csv", METRIC_FIELDS), ("coverage.csv", COVERAGE_FIELDS)):
        path = run_dir / name
        if path.exists():
            with _writing(path, checkpoint):
                _truncate_log(path, fields, step)


def _truncate_log(path: Path, fields: list[str], step: int) -> None:
    rows = [  # a row a killed process left half-written has missing fields: drop it
        r for r in _read_csv(path) if None not in r.values() and int(float(r["step"])) <= step
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _tanh_images(cfg: Config, x_shape: tuple[int, ...]) -> bool:
    """Image data (stored in [0, 1]) trained through a tanh generator (outputs in [-1, 1])."""
    return len(x_shape) == 3 and cfg.generator.output == "tanh"


def value_range(cfg: Config) -> tuple[float, float]:
    """The range of G's output: [-1, 1] for a tanh output, else [0, 1] (for drawing images)."""
    return (-1.0, 1.0) if cfg.generator.output == "tanh" else (0.0, 1.0)


def _fingerprint(data) -> str:
    """SHA-256 of in-memory training data: a tensor on any device, of any dtype, or an array."""
    t = data.detach().cpu() if torch.is_tensor(data) else torch.as_tensor(np.asarray(data))
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: hash its bits
        t = t.view(torch.int16)
    arr = np.ascontiguousarray(t.numpy())
    return hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""


def _git_commit() -> str | None:
    """The commit of the ganlab source tree, when it is a git checkout (editable install)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def _meta(cfg: Config, state: TrainState, data, world: World = LOCAL) -> dict:
    meta = {
        "seed": cfg.seed,
        "ganlab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "threads": cfg.threads or torch.get_num_threads(),
        "git_commit": _git_commit(),
        "started": _now(),
        "command": _command_line(),
        "x_shape": list(state.data.x_shape),
        "data_size": state.data.size,
        "world_size": world.size,
        "device": str(world.device),
        "bf16": world.bf16,
    }
    if data is not None:
        meta["data_sha256"] = _fingerprint(data)
    return meta


__all__ = [
    "Run",
    "build_state",
    "load_run",
    "restore_newest",
    "resume",
    "seeded_rng",
    "train",
    "write_run_files",
    "write_html_report",
    "write_report",
    "CheckpointError",
]
