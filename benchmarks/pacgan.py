"""PacGAN Table 1 (Lin et al. 2018) on 2 CPU cores: GAN and PacGAN2 on the ring and the grid,
10 seeds per cell, beside the published numbers and ganlab's own presets.

    OMP_NUM_THREADS=1 python benchmarks/pacgan.py --out /work/runs/pacgan/results.jsonl
    OMP_NUM_THREADS=1 python benchmarks/pacgan.py --seeds 2 --steps 200 --cells gan-ring pac2-ring

The paper's 2-D setup, from its text and its published code (github.com/fjxmlzn/PacGAN,
synthetic_data_experiments/2D*_GAN&PacGAN):
    G: 2-D z ~ N(0, I) -> 4 x (Linear 400, BatchNorm, ReLU) -> Linear 2
    D: 3 maxout layers of 200 units x 5 pieces -> Linear logit; no dropout, no BatchNorm
    weights ~ N(0, 0.02^2), biases 0 (here U(-r, r) with r = 0.02 sqrt 3: the same std)
    Adam lr 1e-4, beta1 0.8 for both; non-saturating G loss; both networks stepped from one
    minibatch (the code's ali_algorithm: ganlab's update=simultaneous)
    a minibatch is 100 packs: m = 100 x pack examples of each kind
    100,000 training points drawn once (data.n), 400 epochs of 1,000 steps in the paper
Scores: ganlab.metrics.coverage.mode_coverage on 2,500 samples (a sample is high quality
within 3 std of its nearest mode; a mode is covered by one high-quality sample; KL of the
high-quality mode histogram to uniform), mean +- standard error over seeds.

One JSON line per (cell, seed, steps) is appended to --out as each run ends; a rerun skips
the lines already there, so an interrupted table resumes where it stopped. The samples of
every run go beside it (samples/CELL-sSEED-STEPS.npy) and the figure of seed 0 to --figure.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ganlab
from ganlab.data import distribution_of
from ganlab.metrics.coverage import mode_coverage
from ganlab.report.figures import pyplot, save_figure

EVAL_SAMPLES = 2500  # the VEEGAN / PacGAN protocol
POINTS = 100_000  # training points drawn once per seed
PACKS_PER_BATCH = 100  # the paper's minibatch: 100 packs (its data set holds packs)
PAPER_INIT_STD = 0.02  # IsotropicGaussian(0.02) in the published code

DATA = {
    "ring": {"kind": "ring", "modes": 8, "radius": 1.0, "std": 0.01},
    "grid": {"kind": "grid", "grid_size": 5, "spacing": 2.0, "std": 0.05},
}

# cell -> (method label, data, pack for the paper's setup or the preset of ganlab's recipe)
CELLS = {
    "gan-ring": ("GAN", "ring", 1),
    "pac2-ring": ("PacGAN2", "ring", 2),
    "gan-grid": ("GAN", "grid", 1),
    "pac2-grid": ("PacGAN2", "grid", 2),
    "best-ring": ("ganlab ring8 preset", "ring", "ring8"),
    "best-grid": ("ganlab grid25 preset", "grid", "grid25"),
}

# PacGAN Table 1: (modes, modes SE, high-quality %, KL), mean over 10 trials.
PUBLISHED = {
    "gan-ring": (6.3, 0.5, 98.2, 0.45),
    "gan-grid": (17.3, 0.8, 94.8, 0.70),
    "pac2-ring": (7.9, 0.1, 95.6, 0.07),
    "pac2-grid": (23.8, 0.7, 91.3, 0.13),
}


def paper_config(data: str, pack: int, seed: int, steps: int, threads: int) -> dict:
    """The PacGAN paper's 2-D GAN (pack 1) or PacGAN-n (pack n) as a ganlab config."""
    adam = {"name": "adam", "lr": 1e-4, "betas": [0.8, 0.999]}
    r = PAPER_INIT_STD * math.sqrt(3.0)  # U(-r, r) has std r / sqrt 3
    return {
        "seed": seed,
        "steps": steps,
        "m": PACKS_PER_BATCH * pack,
        "update": "simultaneous",
        "g_loss": "nonsaturating",
        "noise": {"kind": "gaussian", "dim": 2, "scale": 1.0},
        "generator": {
            "kind": "mlp",
            "hidden": [400] * 4,
            "activation": "relu",
            "batchnorm": True,
            "output": "linear",
            "init_range": r,
        },
        "discriminator": {
            "kind": "maxout",
            "hidden": [200] * 3,
            "pieces": 5,
            "dropout": 0.0,
            "input_dropout": 0.0,
            "init_range": r,
            "pack": pack,
        },
        "g_optimizer": adam,
        "d_optimizer": adam,
        "data": {**DATA[data], "n": POINTS},
        **_quiet_bookkeeping(steps, threads),
    }


def best_config(preset: str, seed: int, steps: int | None, threads: int) -> ganlab.Config:
    """A ganlab preset, on the same fixed 100,000 training points as the paper's cells."""
    cfg = ganlab.load_config(preset)
    steps = steps or cfg.steps
    overrides = [f"seed={seed}", f"steps={steps}", f"data.n={POINTS}"]
    overrides += [f"{k}={v}" for k, v in _quiet_bookkeeping(steps, threads).items()]
    return ganlab.load_config(preset, overrides)


def _quiet_bookkeeping(steps: int, threads: int) -> dict:
    # One sample figure and one checkpoint, at the end: the run directory is thrown away.
    return {
        "log_every": 100,
        "sample_every": steps,
        "checkpoint_every": steps,
        "keep_checkpoints": 1,
        "threads": threads,
    }


def run_cell(cell: str, seed: int, steps: int, best_steps, threads: int, samples_dir: Path):
    """Train one (cell, seed) in a temporary run directory; its scores as a JSON-able dict."""
    _, data, what = CELLS[cell]
    if isinstance(what, int):
        cfg = paper_config(data, what, seed, steps, threads)
    else:
        cfg = best_config(what, seed, best_steps, threads)
    with tempfile.TemporaryDirectory(prefix=f"pacgan-{cell}-") as tmp:
        t0 = time.perf_counter()
        run = ganlab.train(cfg, Path(tmp) / "run", report=False)
        wall = time.perf_counter() - t0
        fake = run.sample(EVAL_SAMPLES)  # (2500, 2), the points run.scores() scores
        config = run.config
    dist = distribution_of(config.data)
    score = mode_coverage(fake, dist.centres, float(dist.stds[0]))
    samples_dir.mkdir(parents=True, exist_ok=True)
    np.save(samples_dir / f"{cell}-s{seed}-{config.steps}.npy", fake.numpy())
    return {
        "cell": cell,
        "seed": seed,
        "steps": config.steps,
        "m": config.m,
        "pack": config.discriminator.pack,
        "epochs": config.steps * config.m / POINTS,
        "wall_s": wall,
        "threads": threads,
        "modes": score["modes"],
        "modes_covered": score["modes_covered"],
        "high_quality": score["high_quality"],
        "kl": score["kl"],
        "counts": score["counts"],
        "torch": torch.__version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def load_results(path: Path) -> list[dict]:
    """The JSON lines of finished runs; a line cut short by a kill is ignored."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _mean_se(values: list[float]) -> tuple[float, float]:
    if not all(math.isfinite(v) for v in values):  # KL is inf when no sample is high quality
        return float("inf"), float("nan")
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, se


def _pm(values: list[float], digits: int) -> str:
    mean, se = _mean_se(values)
    if not math.isfinite(mean):
        return str(mean)
    return f"{mean:.{digits}f} +- {se:.{digits}f}" if math.isfinite(se) else f"{mean:.{digits}f}"


def table(rows: list[dict], cells: list[str], steps: int, best_steps) -> str:
    """The markdown table: ours (mean +- SE over seeds) beside PacGAN Table 1."""
    head = (
        "| data | method | seeds | steps | epochs | wall s/run | modes (ours) | modes (paper) "
        "| HQ % (ours) | HQ % (paper) | KL (ours) | KL (paper) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for cell in sorted(cells, key=lambda c: (CELLS[c][1] == "grid", list(CELLS).index(c))):
        label, data, what = CELLS[cell]
        mine = [r for r in rows if r["cell"] == cell and _wanted(r, steps, best_steps)]
        if not mine:
            continue
        k = mine[0]["modes"]
        paper = PUBLISHED.get(cell)
        p_modes, p_hq, p_kl = ("-",) * 3
        if paper:
            p_modes, p_hq, p_kl = f"{paper[0]} +- {paper[1]}", f"{paper[2]:.1f}", f"{paper[3]:.2f}"
        walls = [r["wall_s"] for r in mine]
        lines.append(
            f"| {data} ({k} modes) | {label} | {len(mine)} | {mine[0]['steps']:,} "
            f"| {mine[0]['epochs']:.1f} | {statistics.median(walls):.0f} "
            f"| {_pm([r['modes_covered'] for r in mine], 1)} | {p_modes} "
            f"| {_pm([100 * r['high_quality'] for r in mine], 1)} | {p_hq} "
            f"| {_pm([r['kl'] for r in mine], 3)} | {p_kl} |"
        )
    used = [r for r in rows if r["cell"] in cells and _wanted(r, steps, best_steps)]
    if used:
        threads = ", ".join(str(t) for t in sorted({r["threads"] for r in used}))
        lines.append(
            f"\nBudget: {steps:,} steps per paper-setup run, {steps * PACKS_PER_BATCH:,} packs "
            f"({steps * PACKS_PER_BATCH / POINTS:.1f} of the paper's epochs of 100,000 packs; it "
            f"trained 400 epochs = 400,000 steps); epochs above count the 100,000 training "
            f"points seen. {len(used)} runs, {sum(r['wall_s'] for r in used) / 60:.0f} min of "
            f"training in all on {threads} thread(s); wall s/run is the median."
        )
    return "\n".join(lines)


def _wanted(row: dict, steps: int, best_steps) -> bool:
    """Whether a stored row belongs to this table's budget."""
    if isinstance(CELLS[row["cell"]][2], int):
        return row["steps"] == steps
    return best_steps is None or row["steps"] == best_steps


def figure(rows: list[dict], samples_dir: Path, path: Path, steps: int, best_steps) -> Path | None:
    """One scatter of 2,500 samples per cell (seed 0), mode centres marked."""
    plt = pyplot()
    done = {r["cell"]: r for r in rows if r["seed"] == 0 and _wanted(r, steps, best_steps)}
    order = [c for c in CELLS if c in done]
    if not order:
        return None
    rows_of = {"ring": [c for c in order if CELLS[c][1] == "ring"]}
    rows_of["grid"] = [c for c in order if CELLS[c][1] == "grid"]
    kinds = [k for k in ("ring", "grid") if rows_of[k]]
    cols = max(len(rows_of[k]) for k in kinds)
    fig, axes = plt.subplots(len(kinds), cols, figsize=(3.2 * cols, 3.3 * len(kinds)))
    axes = np.atleast_2d(axes)
    for i, kind in enumerate(kinds):
        dist = distribution_of(ganlab.Config.model_validate({"data": DATA[kind]}).data)
        lim = 1.6 if kind == "ring" else 5.5
        for j in range(cols):
            ax = axes[i, j]
            if j >= len(rows_of[kind]):
                ax.axis("off")
                continue
            cell = rows_of[kind][j]
            r = done[cell]
            x = np.load(samples_dir / f"{cell}-s0-{r['steps']}.npy")
            ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.3, color="tab:green", linewidths=0)
            c = dist.centres.numpy()
            ax.scatter(c[:, 0], c[:, 1], s=12, marker="x", color="black", linewidths=0.8)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(
                f"{CELLS[cell][0]}, {kind}: {r['modes_covered']}/{r['modes']} modes,\n"
                f"HQ {100 * r['high_quality']:.1f}%, KL {r['kl']:.2f} ({r['steps']:,} steps)",
                fontsize=8,
            )
            ax.tick_params(labelsize=7)
            ax.set_xlabel("x1 (data coordinate)", fontsize=7)
            ax.set_ylabel("x2 (data coordinate)", fontsize=7)
    fig.suptitle("2,500 samples of seed 0 (green), mode centres (x)", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per paper cell")
    p.add_argument("--steps", type=int, default=1500, help="steps of each paper-setup run")
    p.add_argument(
        "--best-seeds", type=int, default=3, help="seeds of the ganlab preset rows (<= --seeds)"
    )
    p.add_argument(
        "--best-steps", type=int, default=None, help="steps of the preset rows; default theirs"
    )
    p.add_argument("--out", type=Path, default=Path("/work/runs/pacgan/results.jsonl"))
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    p.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    p.add_argument(
        "--figure", type=Path, default=Path(__file__).parent / "figures" / "pacgan_samples.png"
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    samples_dir = args.out.parent / "samples"
    rows = load_results(args.out)
    todo = [
        (seed, cell)
        for seed in range(args.seeds)  # seed-major: an unfinished table has every cell
        for cell in args.cells
        if isinstance(CELLS[cell][2], int) or seed < args.best_seeds
    ]
    done_keys = {(r["cell"], r["seed"]) for r in rows if _wanted(r, args.steps, args.best_steps)}
    left = [(seed, cell) for seed, cell in todo if (cell, seed) not in done_keys]
    print(f"{len(todo) - len(left)} of {len(todo)} runs already in {args.out}", flush=True)
    t_start = time.perf_counter()
    for i, (seed, cell) in enumerate(left, 1):
        row = run_cell(cell, seed, args.steps, args.best_steps, args.threads, samples_dir)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
        rows.append(row)
        elapsed = time.perf_counter() - t_start
        print(
            f"[{i}/{len(left)}] {cell} seed {seed}: {row['steps']} steps in {row['wall_s']:.0f} s"
            f", modes {row['modes_covered']}/{row['modes']}, HQ {100 * row['high_quality']:.1f}%"
            f", KL {row['kl']:.3f}  (elapsed {elapsed / 60:.1f} min,"
            f" ~{elapsed / i * (len(left) - i) / 60:.0f} min left)",
            flush=True,
        )
    text = table(rows, args.cells, args.steps, args.best_steps)
    fig = figure(rows, samples_dir, args.figure, args.steps, args.best_steps)
    print(text)
    if fig is not None:
        print(f"figure: {fig}")
    return text


if __name__ == "__main__":
    main()
