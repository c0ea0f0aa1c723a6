"""Figures (PNG) and the HTML page of a run.

matplotlib is imported inside the functions, with the Agg backend, so that importing ganlab
stays fast and works without a display.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

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


def save_curves(run_dir: Path, rows: list[dict]) -> dict[str, Path]:
    """losses.png, discriminator.png and grad_norms.png from the rows of metrics.csv."""
    plt = pyplot()
    run_dir = Path(run_dir)
    step = _column(rows, "step")
    out = {}
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(step, _column(rows, "d_loss"), label="D loss")
    ax.plot(step, _column(rows, "g_loss"), label="G loss")
    ax.axhline(np.log(4), color="0.5", ls=":", lw=1, label="log 4 (D loss at equilibrium)")
    ax.set_xlabel("step")
    ax.set_title("Losses")
    ax.legend()
    out["losses"] = save_figure(fig, run_dir / "losses.png")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(step, _column(rows, "d_real"), label="mean D(x)")
    ax.plot(step, _column(rows, "d_fake"), label="mean D(G(z))")
    ax.axhline(0.5, color="0.5", ls=":", lw=1, label="1/2 (equilibrium)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.set_title("Discriminator outputs")
    ax.legend()
    out["discriminator"] = save_figure(fig, run_dir / "discriminator.png")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(step, _column(rows, "g_grad_norm"), label="|grad G|")
    ax.semilogy(step, _column(rows, "d_grad_norm"), label="|grad D|")
    ax.set_xlabel("step")
    ax.set_title("Gradient norms")
    ax.legend()
    out["grad_norms"] = save_figure(fig, run_dir / "grad_norms.png")
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
    summary = "No metrics logged yet."
    if last:
        summary = (
            f"Step {int(float(last['step']))}: D loss {float(last['d_loss']):.4f}, "
            f"G loss {float(last['g_loss']):.4f}, mean D(x) {float(last['d_real']):.3f}, "
            f"mean D(G(z)) {float(last['d_fake']):.3f}."
        )
    score_html = ""
    if scores:
        rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in scores.items())
        score_html = f"<h2>Scores</h2><table>{rows}</table>"
    strip = "".join(
        f'<figure><img src="samples/{p.name}" alt="{p.stem}">'
        f"<figcaption>{p.stem}</figcaption></figure>"
        for p in sorted((run_dir / "samples").glob("step-*.png"))
    )
    meta_rows = "".join(
        f"<tr><th>{e(k)}</th><td>{e(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
        for k, v in meta.items()
    )
    page = _PAGE.format(
        title=e(f"ganlab run {run_dir.name}"),
        summary=e(summary),
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
    tmp = path.with_name(".index.html.tmp")
    tmp.write_text(page)
    tmp.replace(path)
    return path
