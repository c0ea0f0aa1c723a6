"""The figures and pages of one run: index.html at the end of training (`write_report`) and the
self-contained report.html (`write_run_page`), drawn from a loaded run's G and D and its files.

A run here is anything with the attributes of ganlab.runs.Run (path, config, generator,
discriminator, step, x_shape, sample, scores): this layer sits below runs and never imports it.
"""

from __future__ import annotations

import html
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlab.data import build_data, distribution_of
from ganlab.errors import GanlabError
from ganlab.files import atomic_write_bytes
from ganlab.game.divergences import optimal_discriminator_from_logs
from ganlab.report.class_figures import MAX_ROWS, class_samples, save_class_figure
from ganlab.report.figures import (
    CURVE_PANELS,
    save_coverage_figure,
    save_curves,
    save_discriminator_figure,
    save_discriminator_map,
    save_sample_figure,
)
from ganlab.report.format import ema_note, format_value, score_rows, verbatim
from ganlab.report.pages import (
    config_html,
    findings_html,
    img_html,
    last_row_summary,
    metrics_json_html,
    parzen_json_html,
    parzen_results_html,
    self_contained_page,
    table_html,
    write_index,
)
from ganlab.runfiles import (
    read_class_examples,
    read_csv,
    read_findings,
    read_json,
    read_meta,
    read_metrics,
    run_config,
    writing,
)
from ganlab.training.state import DATA_SEED, eval_mode


def write_report(run, by_class: tuple[torch.Tensor, torch.Tensor] | None = None) -> Path:
    """Final samples, curves, scores and index.html of a run; returns the page's path.

    by_class: a conditional image run's data (images in [0, 1], their classes), drawn row by
        row beside G's rows of the same class; None draws examples of any class.
    """
    dist = distribution_of(run.config.data)
    fake = report_samples(run, dist)
    save_final_samples(run, dist, fake, run.path / "samples.png", by_class)
    rows = read_metrics(run.path)
    if rows:
        save_curves(run.path, rows)
    theory = []
    coverage = read_csv(run.path / "coverage.csv")
    if coverage:
        theory.append(save_coverage_figure(run.path / "coverage.png", coverage).name)
    if has_figure_1_view(run, dist):
        theory.append(save_discriminator_view(run, dist, fake).name)
    return write_index(
        run.path,
        run.config,
        read_meta(run.path),
        rows[-1] if rows else None,
        toy_scores(run, dist, fake),
        theory,
        read_findings(run.path),
    )


# How many of the final G's samples each piece of a report shows. A report draws the most any
# piece needs once, with Run.sample's seed, and the figures take its first rows (for uniform
# noise the rows of a draw of their own size; for Gaussian noise nearly so, see toy_scores).
_FIGURE_IMAGES = 64  # an 8 x 8 grid


_FIGURE_POINTS = 2500  # the VEEGAN/PacGAN protocol's count, as Run.scores draws


_VIEW_POINTS = 10_000  # the KDE of p_g in the Figure 1 view


def report_samples(run, dist) -> torch.Tensor:
    """One batch of the final generator's samples for every figure and score of a report."""
    if len(run.x_shape) != 1:
        return run.sample(_FIGURE_IMAGES)  # (64, C, H, W)
    return run.sample(_VIEW_POINTS if has_figure_1_view(run, dist) else _FIGURE_POINTS)


def has_figure_1_view(run, dist) -> bool:
    """A 1-D run with a known p_data and an unpacked D whose output is a probability (a packed
    D scores packs, not points: it has no curve D(x) to draw; a critic's raw value has no D*
    = p_data / (p_data + p_g) to draw it against; a conditional D scores (x, y) pairs)."""
    cfg = run.config
    return (
        run.x_shape == (1,)
        and dist is not None
        and cfg.discriminator.pack == 1
        and not cfg.critic
        and not cfg.conditional_run
    )


def toy_scores(run, dist, fake: torch.Tensor) -> dict[str, Any]:
    """Run.scores, less the per-mode counts: the numbers `ganlab eval` and the API give.

    The report's draw is Run.scores' own when it has 2,500 rows. The 1-D view's 10,000 are not a
    superset of it: torch.randn fills a small z in blocks, so the first 2,500 rows of a bigger
    Gaussian draw are not the 2,500-row draw. Then Run.scores draws its own.
    """
    if dist is None:
        return {}
    scores = run.scores(_FIGURE_POINTS, fake if len(fake) == _FIGURE_POINTS else None)
    return {k: v for k, v in scores.items() if k != "counts"}


def save_final_samples(run, dist, fake: torch.Tensor, path: Path, by_class=None) -> Path:
    """The final generator's samples (2,500 points or 64 images) drawn over the data; a
    conditional run's class by class (one row of 8 images per class, or points by colour),
    beside `by_class`'s (images, classes) row by row where given (write_report)."""
    fake = fake[: _FIGURE_POINTS if fake.ndim == 2 else _FIGURE_IMAGES]
    real = dist.sample(2500, torch.Generator().manual_seed(0)) if dist is not None else None
    if real is None:
        real = data_examples(run.config, len(fake))
    if getattr(run, "class_names", None) is not None:
        per_class = 8 if fake.ndim == 4 else max(1, _FIGURE_POINTS // len(run.class_names))
        x, y = class_samples(run, per_class)
        real_y = None
        if fake.ndim == 4 and by_class is not None:
            real, real_y = by_class
        elif fake.ndim == 4 and dist is None:  # a real grid as large as the generated one
            real = data_examples(run.config, min(len(run.class_names), MAX_ROWS) * per_class)
        title = f"step {run.step}: generated, by the class asked for{ema_note(run.config)}"
        return save_class_figure(path, x, y, run.class_names, real, title, real_y=real_y)
    data = " and data (black)" if real is not None else ""
    return save_sample_figure(
        path,
        fake,
        real,
        dist,
        (0.0, 1.0),  # Run.sample returns images in the data range
        title=(
            f"step {run.step}: generated (green){data}{ema_note(run.config)}"
            if fake.ndim == 2
            else ema_note(run.config).strip()
        ),
    )


def data_examples(cfg, n: int) -> torch.Tensor | None:
    """n training examples of a run on data from a file or set (points or images), to draw
    beside G's; None where they cannot be had (data given to the Python API, a moved file)."""
    try:
        return build_data(cfg.data, cfg.seed + DATA_SEED).reference(n)
    except GanlabError:
        return None


# Sample figures over time embedded in report.html: evenly spaced, the last always among them,
# so that a long run's page stays a few MB (each figure is ~30-60 kB).
_MAX_PROGRESS_FIGURES = 24


def write_run_page(run_dir: Path, run, missing: str, out: Path) -> Path:
    """report.html: the whole run in one self-contained page (every image a data: URI).

    Final samples; losses, mean D(x) and D(G(z)) and gradient norms over training; D over the
    data space (2-D: a heatmap of D(x) under generated and real points; 1-D: the paper's
    Figure 1 view with D* of Proposition 1); mode coverage over training (coverage.csv);
    samples over training (samples/step-*.png); the metrics with their provenance
    (metrics*.json of `ganlab eval --metrics`, parzen*.json of `--parzen`, toy scores);
    meta.json (versions, seed, git commit, commands) and the resolved config.

    Args:
        run_dir: a run directory.
        run: the run loaded from its newest checkpoint (ganlab.runs.load_run), or None when it
            has none yet; missing then says why, in place of the samples.
        out: the page to write, already checked (check_page_out).
    Returns:
        The path of the page.
    Raises:
        RunDirError: `out` cannot be written.
    """
    cfg = run_config(run_dir)
    meta = read_meta(run_dir)
    dist = distribution_of(cfg.data)
    fake = report_samples(run, dist) if run is not None else None
    rows = read_metrics(run_dir)
    coverage = read_csv(run_dir / "coverage.csv")
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
        scores = toy_scores(run, dist, fake) if run is not None else {}
        sections += [
            ("progress", "Samples during training", _progress_html(run_dir)),
            ("metrics", "Metrics", _metrics_html(scores, run_dir, run.step if run else None)),
            ("run", "Run and environment", _meta_html(meta)),
            ("config", "Resolved config", config_html(cfg)),
        ]
        page = self_contained_page(
            f"ganlab run {run_dir.name}",
            _summary(rows, run),
            sections,
            head=findings_html(read_findings(run_dir)),
        )
    with writing(out, "the run directory is unchanged"):
        atomic_write_bytes(out, page.encode())
    return out


def _summary(rows: list[dict], run) -> str:
    if not rows:
        return last_row_summary(None)
    checkpoint = f" Newest checkpoint: step {run.step}." if run is not None else ""
    return last_row_summary(rows[-1]) + checkpoint


def _final_samples_html(run, dist, fake, tmp: Path, missing: str) -> str:
    if run is None:
        return f'<p class="note">{html.escape(missing)}</p>'
    by_class = read_class_examples(run.path)  # the data of each class, kept at training's end
    figure = save_final_samples(run, dist, fake, tmp / "samples.png", by_class)
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


def _discriminator_html(run, dist, fake, tmp: Path) -> tuple[str, str, str] | None:
    """The section of D over the data space, for 1-D and 2-D points with an unpacked D."""
    if run is None or run.config.discriminator.pack != 1 or run.config.conditional_run:
        # a packed D scores packs, not points; a conditional D scores (x, y): no one D(x) to draw
        return None
    if has_figure_1_view(run, dist):
        figure = save_discriminator_view(run, dist, fake, tmp / "discriminator_view.png")
        note = (
            "p_data, p_g and the learned D(x) as in the paper's Figure 1, with the optimal "
            "D*(x) = p_data / (p_data + p_g) of Proposition 1."
        )
    elif run.x_shape == (2,):
        figure = _save_discriminator_map(run, dist, fake, tmp / "discriminator_map.png")
        note = (
            "D(x) on a grid over the data space (red: D says data, blue: D says generated, "
            "white: undecided; dashed black contour: D = 1/2, or the legend says D never "
            "reaches it), generated points (green) and data (black) on top. At the "
            "equilibrium of Proposition 1, D = 1/2 everywhere."
        )
        if run.config.critic:
            note = (
                f"The critic D(x) of objective {run.config.objective} on a grid over the data "
                "space, its raw value on its own colour scale (red: higher, data-like), "
                "generated points (green) and data (black) on top."
            )
    else:
        return None
    body = f'<p class="note">{note}</p><div class="figs">{img_html(figure, "D over x")}</div>'
    return ("discriminator", "The discriminator over the data space", body)


def _on_cpu(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """net(x) for CPU figures, wherever the caller has put net (a Run may be moved to a GPU)."""
    return net(x.to(next(net.parameters()).device)).cpu()


@torch.no_grad()
def _save_discriminator_map(run, dist, fake: torch.Tensor, path: Path) -> Path:
    """A 2-D run's final D(x) on a 200 x 200 grid, its samples and the data over it."""
    fake = fake[:_FIGURE_POINTS]  # (2500, 2)
    real = None
    if dist is not None:
        real = dist.sample(2500, torch.Generator().manual_seed(0))  # (2500, 2)
    else:
        try:
            real = build_data(run.config.data, run.config.seed + DATA_SEED).reference(2500)
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
    with eval_mode(run.discriminator) as D:
        d = _on_cpu(D, grid).reshape(len(x2), len(x1))  # (200, 200) raw outputs
    critic = run.config.critic
    if not critic:
        d = torch.sigmoid(d)  # D(x), a probability, for the 2014 game
    return save_discriminator_map(
        path,
        x1,
        x2,
        d,
        fake,
        real,
        dist.centres if dist is not None and dist.dim == 2 else None,
        title=f"step {run.step}: D(x) under generated (green) and data (black) points"
        + ema_note(run.config),
        critic=critic,
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


def _metrics_html(scores: dict[str, Any], run_dir: Path, step: int | None = None) -> str:
    """Every score the run has: the final G's toy scores, metrics*.json and parzen*.json."""
    e = html.escape
    parts = []
    if scores:
        n = f"2,500 samples of the generator at step {format_value(step)}, its newest checkpoint"
        parts.append(f"<h3>Scores of the known toy density ({n})</h3>")
        parts.append(table_html(["score", "value", "what it is"], score_rows(scores)))
    for pattern, option, render in (
        ("metrics*.json", "--metrics", metrics_json_html),
        ("parzen*.json", "--parzen", parzen_json_html),
    ):
        for path in sorted(run_dir.glob(pattern)):
            doc = read_json(path)
            if doc is None:
                parts.append(f'<p class="note">{e(path.name)} is unreadable; skipped.</p>')
                continue
            if option == "--parzen" and "mean_ll" not in doc:  # several results, or none
                body = parzen_results_html(path.name, doc)
                if body is None:
                    parts.append(f'<p class="note">{e(path.name)} holds no Parzen result; '
                                 "skipped.</p>")  # fmt: skip
                else:
                    parts += [f"<h3>Parzen results: {e(path.name)}</h3>", body]
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


@torch.no_grad()
def save_discriminator_view(run, dist, fake: torch.Tensor, path: Path | None = None) -> Path:
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
    width = float(x[1] - x[0])
    if fake.std() < width:
        # G collapsed below the grid's resolution (a point mass): a KDE's covariance would be
        # singular, so p_g is drawn as a Gaussian one grid cell wide at the samples' mean
        z = (x - float(fake.mean())) / width
        p_g = torch.exp(-0.5 * z**2) / (width * math.sqrt(2 * math.pi))
    else:
        p_g = torch.from_numpy(gaussian_kde(fake)(x.numpy()))  # G's density: no closed form
    with eval_mode(run.discriminator) as D:
        d = torch.sigmoid(_on_cpu(D, x[:, None].float())).double()
    # Proposition 1 from log densities: exact where both densities underflow to 0
    d_star = optimal_discriminator_from_logs(log_p_data, p_g.log())
    p_data = log_p_data.exp()
    return save_discriminator_figure(
        path or run.path / "discriminator_view.png", x, p_data, p_g, d, d_star, f"step {run.step}"
    )
