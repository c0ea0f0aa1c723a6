"""Figures (PNG) and the HTML page of a run.

matplotlib is imported inside the functions, with the Agg backend, so that importing ganlab
stays fast and works without a display.
"""

from __future__ import annotations

import html
import json
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.checkpoint import atomic_write_bytes
from ganlab.data.toy import GaussianMixture


def pyplot():
    """matplotlib.pyplot with the Agg backend (no display needed), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> Path:
    """Save a figure as PNG atomically (temp file, rename) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    tmp.replace(path)
    pyplot().close(fig)
    return path


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
    """Generated samples drawn the way their kind of data is looked at.

    Points in 2-D: a scatter over the data; in 1-D: histograms with the data density;
    images: a grid of up to 64.
    """
    plt = pyplot()
    fake = torch.as_tensor(fake).detach().float()
    if fake.ndim == 4:
        fig, ax = plt.subplots(figsize=(6, 6))
        grid = image_grid(fake[:64], value_range)
        ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1)
        ax.axis("off")
    elif fake.shape[1] == 1:
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
        ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
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
    ),
    CurvePanel(
        "discriminator",
        "Discriminator outputs",
        "mean D(x) and D(G(z))",
        (("d_real", "mean D(x)"), ("d_fake", "mean D(G(z))")),
        styles="solid: D(x), dashed: D(G(z))",
        hline=(0.5, "1/2 (equilibrium)"),
        ylim=(-0.02, 1.02),
    ),
    CurvePanel(
        "grad_norms",
        "Gradient norms",
        "gradient norms",
        (("g_grad_norm", "|grad G|"), ("d_grad_norm", "|grad D|")),
        styles="solid: G, dashed: D",
        log=True,
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
    ax.set_title(title)


def save_curves(run_dir: Path, rows: list[dict]) -> dict[str, Path]:
    """losses.png, discriminator.png and grad_norms.png (CURVE_PANELS) from metrics.csv rows."""
    plt = pyplot()
    run_dir = Path(run_dir)
    step = _column(rows, "step")
    out = {}
    for panel in CURVE_PANELS:
        fig, ax = plt.subplots(figsize=(7, 4))
        for key, label in panel.keys:
            ax.plot(step, _column(rows, key), marker=panel.marker or None, label=label)
        _finish_panel(ax, panel, panel.title)
        ax.legend()
        out[panel.name] = save_figure(fig, run_dir / f"{panel.name}.png")
    return out


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


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 1.6em; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 12px; }} .figs img {{ max-width: 520px; }}
.strip img {{ width: 180px; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 0.9em; }}
pre {{ background: #f6f6f6; padding: 8px; font-size: 0.85em; overflow-x: auto; }}
</style></head><body>
<h1>{title}</h1>
<p>{summary}</p>
{scores}
<h2>Samples</h2><div class="figs"><img src="samples.png" alt="final samples"></div>
<h2>Training curves</h2>
<div class="figs"><img src="losses.png" alt="losses"><img src="discriminator.png" alt="D outputs">
<img src="grad_norms.png" alt="gradient norms"></div>
{theory}
<h2>Samples during training</h2><div class="figs strip">{strip}</div>
<h2>Run</h2><table>{meta}</table>
<h2>Resolved config</h2><pre>{config}</pre>
</body></html>
"""


def write_index(
    run_dir: Path,
    config_yaml: str,
    meta: dict,
    last: dict | None,
    scores: dict | None,
    theory: list[str] = (),
) -> Path:
    """index.html of a run: final samples, curves, samples over time, provenance and config."""
    run_dir = Path(run_dir)
    e = html.escape
    score_html = ""
    if scores:
        rows = "".join(
            f"<tr><th>{e(k)}</th><td>{e(format_value(v))}</td></tr>" for k, v in scores.items()
        )
        score_html = f"<h2>Scores</h2><table>{rows}</table>"
    strip = "".join(
        f'<figure><img src="samples/{p.name}" alt="{p.stem}">'
        f"<figcaption>{p.stem}</figcaption></figure>"
        for p in sorted((run_dir / "samples").glob("step-*.png"))
    )
    meta_rows = "".join(
        f"<tr><th>{e(k)}</th><td>{e(verbatim(v))}</td></tr>" for k, v in meta.items()
    )
    page = _PAGE.format(
        title=e(f"ganlab run {run_dir.name}"),
        summary=e(last_row_summary(last)),
        scores=score_html,
        strip=strip,
        meta=meta_rows,
        config=e(config_yaml),
        theory=(
            '<h2>Theory, on this run</h2><div class="figs">'
            + "".join(f'<img src="{e(name)}" alt="{e(name)}">' for name in theory)
            + "</div>"
        )
        if theory
        else "",
    )
    path = run_dir / "index.html"
    atomic_write_bytes(path, page.encode())
    return path


def last_row_summary(last: dict | None) -> str:
    """One sentence of the last metrics.csv row: step, both losses, mean D(x) and D(G(z))."""
    if not last:
        return "No metrics logged yet."
    f = format_value
    return (
        f"Step {f(last['step'])}: D loss {f(last['d_loss'])}, G loss {f(last['g_loss'])}, "
        f"mean D(x) {f(last['d_real'])}, mean D(G(z)) {f(last['d_fake'])}."
    )


def save_discriminator_map(
    path: Path,
    x1: Tensor,
    x2: Tensor,
    d: Tensor,
    fake: Tensor,
    real: Tensor | None = None,
    centres: Tensor | None = None,
    title: str = "",
) -> Path:
    """2-D: D(x) as a heatmap over a grid, generated and real points on top.

    The 2-D analogue of the paper's Figure 1: where D says "data" (D -> 1) and "generated"
    (D -> 0), and where G's samples lie relative to the data. At the equilibrium of
    Proposition 1 (p_g = p_data) the map is 1/2 everywhere.

    Args:
        x1, x2: (n1,), (n2,) grid coordinates.  d: (n2, n1) D(x) in [0, 1] on that grid.
        fake: (n, 2) generated points.  real: (n, 2) data points.  centres: (modes, 2).
    """
    plt = pyplot()
    x1, x2, d = (torch.as_tensor(t).double().numpy() for t in (x1, x2, d))
    fig, ax = plt.subplots(figsize=(7, 6))
    mesh = ax.pcolormesh(x1, x2, d, cmap="RdBu_r", vmin=0, vmax=1, shading="auto")
    fig.colorbar(mesh, ax=ax, label="D(x)")
    ax.contour(x1, x2, d, levels=[0.5], colors="0.3", linewidths=0.8)
    fake = torch.as_tensor(fake).float()
    ax.scatter(fake[:, 0], fake[:, 1], s=5, c="tab:green", alpha=0.5, label="generated")
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=1, c="k", alpha=0.4, label="data")
    if centres is not None:
        ax.scatter(centres[:, 0], centres[:, 1], marker="+", c="yellow", s=40, lw=0.8)
    ax.set_xlim(float(x1[0]), float(x1[-1]))
    ax.set_ylim(float(x2[0]), float(x2[-1]))
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "D(x) over the data space (contour: D = 1/2)")
    return save_figure(fig, path)


def save_overlaid_curves(path: Path, runs: dict[str, list[dict]], panel: CurvePanel) -> Path:
    """A panel's curves of several runs in one plot: one colour per run, one line style per key.

    Args:
        runs: run label -> its rows (metrics.csv or coverage.csv as dicts).
        panel: what to draw; its first key solid, the next dashed, then dotted.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    for i, (name, rows) in enumerate(runs.items()):
        if not rows:
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
    _finish_panel(ax, panel, f"{panel.title} ({panel.styles})" if panel.styles else panel.title)
    ax.legend(fontsize=7, loc="best")
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# Self-contained HTML pages (`ganlab report`, `ganlab compare`): every image a data: URI, the
# style inline, no script, so that the one file can be mailed, archived or opened offline.

PAGE_MARKER = '<meta name="generator" content="ganlab report">'

_SELF_CONTAINED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{marker}
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.2em; margin-top: 1.8em;
      border-bottom: 1px solid #ddd; }}
h3 {{ font-size: 1em; }}
nav a {{ margin-right: 1em; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }}
.figs img {{ max-width: 560px; width: 100%; }}
.strip figure {{ margin: 0; }} .strip img {{ width: 200px; }}
.side figure {{ margin: 0; flex: 1 1 300px; }} .side img {{ max-width: 100%; }}
figcaption {{ font-size: 0.85em; color: #555; text-align: center; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 0.9em;
         vertical-align: top; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.note {{ color: #555; font-size: 0.9em; }}
code, .hash {{ font-family: ui-monospace, monospace; font-size: 0.85em; word-break: break-all; }}
pre {{ background: #f6f6f6; padding: 8px; font-size: 0.85em; overflow-x: auto; }}
</style></head><body>
<h1>{title}</h1>
{summary}
<nav>{nav}</nav>
{sections}
</body></html>
"""


def data_uri(path: Path) -> str:
    """A PNG file as a data: URI, to embed it in a page that needs no other file."""
    import base64

    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def img_html(path: Path, alt: str, caption: str = "") -> str:
    """An <img> of a PNG embedded as a data: URI, in a <figure> when captioned."""
    e = html.escape
    img = f'<img src="{data_uri(path)}" alt="{e(alt)}">'
    return f"<figure>{img}<figcaption>{e(caption)}</figcaption></figure>" if caption else img


def table_html(header: list[str] | None, rows: list[list], numeric: bool = False) -> str:
    """An HTML table of escaped cells; the first cell of each row is a row heading."""
    e = html.escape
    head = "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>" if header else ""
    cls = ' class="num"' if numeric else ""
    body = "".join(
        "<tr>"
        + f"<th>{e(str(r[0]))}</th>"
        + "".join(f"<td{cls}>{e(str(c))}</td>" for c in r[1:])
        + "</tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def self_contained_page(title: str, summary: str, sections: list[tuple[str, str, str]]) -> str:
    """A whole page: title, summary line, a table of contents and (id, heading, html) sections."""
    e = html.escape
    nav = " ".join(f'<a href="#{e(i)}">{e(h)}</a>' for i, h, _ in sections)
    body = "\n".join(f'<section id="{e(i)}"><h2>{e(h)}</h2>\n{b}</section>' for i, h, b in sections)
    return _SELF_CONTAINED.format(
        marker=PAGE_MARKER,
        title=e(title),
        summary=f"<p>{e(summary)}</p>" if summary else "",
        nav=nav,
        sections=body,
    )


def is_ganlab_page(path: Path) -> bool:
    """Whether a file is a page `ganlab report` or `ganlab compare` wrote (its marker tag)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return PAGE_MARKER.encode() in head


def check_page_out(path: Path, overwrite: bool) -> None:
    """Refuse to write a page over a file that is not one of ours, unless asked to.

    Raises:
        RunDirError: `path` is a folder, its folder does not exist, or it is some other file
            and overwrite is False.
    """
    from ganlab.errors import RunDirError

    path = Path(path)
    if path.is_dir():
        raise RunDirError(f"--out {path} is a folder; give a file name such as {path}/report.html")
    if not path.parent.is_dir():
        raise RunDirError(
            f"cannot write {path}: folder {path.parent} does not exist; create it first"
        )
    if path.exists() and not overwrite and not is_ganlab_page(path):
        raise RunDirError(
            f"{path} exists and is not a ganlab report; pass --overwrite to replace it or "
            "choose another --out"
        )


def format_value(v) -> str:
    """Every number ganlab shows: 4 significant digits, whole numbers in full; None (JSON's
    NaN) as n/a. A string that reads as a number (a CSV cell) is one; other text is kept."""
    if v is None:
        return "n/a"
    if isinstance(v, str):
        try:
            return format_value(float(v))
        except ValueError:
            return v
    if isinstance(v, bool | numbers.Integral):
        return str(v)
    if isinstance(v, numbers.Real):
        v = float(v)
        # whole: a step of 12000 reads 12000, not 1.2e+04 as 4 significant digits would
        return str(int(v)) if v.is_integer() and abs(v) < 1e9 else f"{v:.4g}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k} {format_value(x)}" for k, x in v.items())
    return str(v)


def plus_minus(v, std=None) -> str:
    """A value and its spread, "v +- std"; the value alone where there is none."""
    return format_value(v) + (f" +- {format_value(std)}" if std is not None else "")


def verbatim(v) -> str:
    """A config or meta.json value as written, not rounded: "lr 2e-4" and "2.0001e-4" differ."""
    return v if isinstance(v, str) else json.dumps(v)


# Sample counts of a metrics.json entry, shown apart from its scores (stacked_modes'
# "samples" repeats n_fake; the floor is shown beside the value).
_COUNT_KEYS = ("n_fake", "n_real", "n_floor")
_NOT_SCORES = (*_COUNT_KEYS, "samples", "floor")

# What a several-number metric counts where it is not "modes": Stacked MNIST's are triples.
_COUNTED = {"stacked_modes": "triples"}


@dataclass(frozen=True)
class MetricReading:
    """A metrics.json entry as every page and the console show it.

    Attributes:
        value, floor: the score and its real-vs-real floor: a number, or for a metric of
            several numbers (mode_coverage, digits, stacked_modes) a dict of them.
        std, floor_std: their spread over subsets or splits (KID, IS), or None.
    """

    value: object
    std: float | None
    floor: object
    floor_std: float | None


def read_metric(m: dict) -> MetricReading:
    """The value, floor and spreads of one metrics.json entry."""
    floor = m.get("floor")
    floor = _scores(floor) if isinstance(floor, dict) else floor
    if "value" in m:
        return MetricReading(m["value"], m.get("std"), floor, m.get("floor_std"))
    return MetricReading(_scores(m), None, floor, None)


def metric_texts(name: str, m: dict) -> tuple[str, str]:
    """(value, floor) of the metrics.json entry `name` as text, each with its spread:
    ("0.1234 +- 0.005", "0.01 +- 0.002") or ("7/8 modes, 91.2% high quality, KL 0.1 nats", ...).
    """
    r = read_metric(m)
    unit = _COUNTED.get(name, "modes")
    return _reading_text(r.value, r.std, unit), _reading_text(r.floor, r.floor_std, unit)


def _reading_text(v, std, unit: str) -> str:
    return _several_text(v, unit) if isinstance(v, dict) else plus_minus(v, std)


def _scores(m: dict) -> dict:
    """The numbers of a metric's entry, less its sample counts."""
    return {
        k: v
        for k, v in m.items()
        if (v is None or isinstance(v, int | float)) and k not in _NOT_SCORES
    }


def _several_text(scores: dict, unit: str) -> str:
    """A metric of several numbers in words: "7/8 modes, 91.2% high quality, KL 0.1 nats"."""
    f = format_value
    rest = dict(scores)
    parts = []
    if "modes_covered" in rest:
        parts.append(f"{f(rest.pop('modes_covered'))}/{f(rest.pop('modes', None))} {unit}")
    if "covered" in rest:
        parts.append(f"{f(rest.pop('covered'))}/{f(rest.pop('classes', None))} classes")
    if "high_quality" in rest:
        share = rest.pop("high_quality")
        parts.append(f"{'n/a' if share is None else f(100 * share) + '%'} high quality")
    if "kl" in rest:
        parts.append(f"KL {f(rest.pop('kl'))} nats")
    return ", ".join(parts + [f"{k} {f(v)}" for k, v in rest.items()])


def metrics_json_html(name: str, doc: dict) -> str:
    """metrics.json (from `ganlab eval --metrics`) as a provenance list and one table:
    each metric's value, real-vs-real floor, sample counts, details and definition."""
    e = html.escape
    facts = [
        ["file", name],
        ["step", doc.get("step")],
        ["seed of G's noise", doc.get("seed")],
        ["generated samples", doc.get("samples")],
    ]
    for key in ("dataset", "real", "floor"):
        if key in doc:
            facts.append([key, doc[key]])
    fx = doc.get("feature_extractor")
    if fx:
        accuracy = format_value(fx.get("test_accuracy"))
        facts.append(
            [
                "feature extractor",
                f"{fx.get('name')}, {fx.get('layer')}, dim {fx.get('dim')}, "
                f"test accuracy {accuracy}",
            ]
        )
        facts.append(["extractor SHA-256", fx.get("sha256")])
    ix = doc.get("inception_extractor")
    if ix:
        facts.append(["Inception network", f"{ix.get('name')}, {ix.get('layer')}"])
        facts.append(["Inception weights", f"{ix.get('file')}, SHA-256 {ix.get('sha256')}"])
    rows = []
    for metric, m in doc.get("metrics", {}).items():
        if not isinstance(m, dict):
            continue
        value, floor = metric_texts(metric, m)
        counts = ", ".join(f"{k} {m[k]}" for k in _COUNT_KEYS if k in m)
        details = ", ".join(
            f"{k} {format_value(v)}"
            for k, v in m.items()
            if k in ("k", "eps", "subsets", "subset_size", "note", "floor_note") and v is not None
        )
        rows.append([metric, value, floor, counts, details, m.get("definition", "")])
    header = ["metric", "value", "real-vs-real floor", "samples", "details", "definition"]
    return (
        table_html(None, facts)
        + table_html(header, rows)
        + (f'<p class="note">{e(name)}: no metrics in the file.</p>' if not rows else "")
    )


def parzen_json_html(name: str, doc: dict) -> str:
    """parzen.json (from `ganlab eval --parzen`): the test log-likelihood and how it was got."""
    rows = [
        ["file", name],
        [
            "Parzen log-likelihood (nats)",
            f"{plus_minus(doc.get('mean_ll'), doc.get('se'))} (standard error over test points)",
        ],
        ["sigma (chosen on validation)", format_value(doc.get("sigma"))],
        ["data", doc.get("dataset")],
        ["step", doc.get("step")],
        [
            "samples / validation / test points",
            f"{doc.get('samples')} / {doc.get('valid')} / {doc.get('test')}",
        ],
    ]
    return table_html(None, rows)
