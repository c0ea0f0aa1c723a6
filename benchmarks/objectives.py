"""What each objective buys on the ring and the grid, at one fixed budget (issue 16).

    python benchmarks/objectives.py --out benchmarks/objectives.jsonl          # the table's runs
    python benchmarks/objectives.py --out benchmarks/objectives.jsonl --table  # the table only

Each cell is one objective (or one objective with R1 + R2) on one data set, trained from that
data set's preset (ring8 / grid25: the same models, optimisers, learning-rate decay and noise)
with only `objective` changed, for a fixed budget of steps (ring 2,000, grid 3,000: a third and
a fifth of the presets' own). label_smoothing is 0 everywhere (the objectives after 2014 have no
cross-entropy D to smooth; the grid25 preset's 0.2 is dropped for the 2014 three too, so every
cell differs from the next in its objective alone). Wasserstein gets WGAN-GP's lambda = 10 (the
config's default for it). Scores: ganlab.metrics.coverage.mode_coverage on 2,500 samples (the
VEEGAN / PacGAN protocol): modes covered, the share of samples within 3 std of a mode, KL of the
high-quality mode histogram to uniform.

One JSON line per (cell, seed) is appended to --out as each run ends; a rerun skips the lines
already there. Runs go two at a time, one torch thread each (2 cores), seeds in the outer loop
so that an interrupted table has every cell at the same number of seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import statistics
import tempfile
import time
from pathlib import Path

OBJECTIVES = (
    "minimax", "nonsaturating", "maximum_likelihood", "least_squares", "wasserstein", "hinge",
    "relativistic", "f_kl", "f_reverse_kl", "f_pearson", "f_hellinger", "f_js",
)  # fmt: skip
# R1 + R2 (Mescheder et al. 2018; R3GAN's pairing is relativistic + R1 + R2), gamma for both
WITH_R1_R2 = ("nonsaturating", "least_squares", "hinge", "relativistic")
GAMMA = 0.1
DATA = {"ring": ("ring8", 2000), "grid": ("grid25", 3000)}


def cells() -> list[tuple[str, str, bool]]:
    """(data, objective, with R1 + R2) for every cell of the table."""
    out = []
    for data in DATA:
        out += [(data, name, False) for name in OBJECTIVES]
        out += [(data, name, True) for name in WITH_R1_R2]
    return out


def cell_name(data: str, objective: str, r1r2: bool) -> str:
    return f"{data}-{objective}" + ("+r1r2" if r1r2 else "")


def run_cell(job: tuple[str, str, bool, int]) -> dict:
    import torch

    import ganlab

    torch.set_num_threads(1)
    data, objective, r1r2, seed = job
    preset, steps = DATA[data]
    over = [f"objective={objective}", "label_smoothing=0", f"seed={seed}", f"steps={steps}",
            "checkpoint_every=100000", "sample_every=100000", "log_every=500"]  # fmt: skip
    if r1r2:
        over += [f"regularizers.r1={GAMMA}", f"regularizers.r2={GAMMA}"]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run = ganlab.train(preset, Path(tmp) / "run", overrides=over, report=False)
            scores = run.scores(2500)
            result = {k: scores[k] for k in ("modes_covered", "modes", "high_quality", "kl")}
        except ganlab.GanlabError as e:  # a diverged run is a result too
            result = {"error": str(e)}
    return {"cell": cell_name(data, objective, r1r2), "seed": seed, "steps": steps,
            "seconds": round(time.perf_counter() - t0, 1), **result}  # fmt: skip


def done(out: Path) -> set[tuple[str, int]]:
    if not out.exists():
        return set()
    return {(r["cell"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())}


def table(out: Path) -> str:
    rows: dict[str, list[dict]] = {}
    for r in map(json.loads, out.read_text().splitlines()):
        rows.setdefault(r["cell"], []).append(r)
    lines = [
        "| data | objective | seeds | modes (mean, min-max) | all modes on every seed | "
        "high quality % (mean +- se) | KL (mean +- se) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for data, objective, r1r2 in cells():
        runs = rows.get(cell_name(data, objective, r1r2), [])
        if not runs:
            continue
        ok = [r for r in runs if "error" not in r]
        label = objective + (f" + R1 + R2 (gamma {GAMMA:g})" if r1r2 else "")
        if not ok:
            lines.append(f"| {data} | {label} | {len(runs)} | diverged | no | - | - |")
            continue
        modes = [r["modes_covered"] for r in ok]
        full = len(ok) == len(runs) and all(m == r["modes"] for m, r in zip(modes, ok, strict=True))
        hq = [100 * r["high_quality"] for r in ok]
        kl = [r["kl"] for r in ok]
        failed = f" ({len(runs) - len(ok)} diverged)" if len(ok) < len(runs) else ""
        lines.append(
            f"| {data} | {label} | {len(runs)}{failed} | {statistics.mean(modes):.1f} "
            f"({min(modes)}-{max(modes)}) of {ok[0]['modes']} | {'yes' if full else 'no'} | "
            f"{statistics.mean(hq):.1f} +- {se(hq):.1f} | {kl_text(kl)} |"
        )
    return "\n".join(lines)


def kl_text(kl: list[float]) -> str:
    """Mean +- SE of the KLs; a run without one high-quality sample has KL = inf."""
    finite = [v for v in kl if math.isfinite(v)]
    if not finite:
        return "inf (no mode)"
    note = f", {len(kl) - len(finite)} inf" if len(finite) < len(kl) else ""
    return f"{statistics.mean(finite):.3f} +- {se(finite):.3f}{note}"


def se(values: list[float]) -> float:
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/objectives.jsonl"))
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = p.parse_args()
    if not args.table:
        seen = done(args.out)
        jobs = [
            (d, o, r, s)
            for s in range(args.seeds)
            for d, o, r in cells()
            if (cell_name(d, o, r), s) not in seen
        ]
        with mp.get_context("spawn").Pool(args.workers) as pool:
            for result in pool.imap_unordered(run_cell, jobs):
                with open(args.out, "a") as f:
                    f.write(json.dumps(result) + "\n")
                print(json.dumps(result), flush=True)
    print(table(args.out))


if __name__ == "__main__":
    main()
