"""The doctor's gallery (issue 18): for each kind of finding, a config that produces it, the step
it was found, and the same config with the printed advice applied; then the false alarms of the
shipped presets over seeds, and what the doctor costs per step.

    python benchmarks/doctor_gallery.py --out benchmarks/doctor_gallery.jsonl          # all
    python benchmarks/doctor_gallery.py --out benchmarks/doctor_gallery.jsonl --table  # table
    python benchmarks/doctor_gallery.py --out runs.jsonl --quick  # healthy presets: 2 seeds

Every run is `ganlab train PRESET --set ...` in a subprocess, as a user runs it; its findings
are read from findings.json and its warning lines counted on stderr (each finding must print
once). A failing case holds when its kind is found; its fix holds when that kind is gone. Each
fix is the `--set` fragment of the advice the failing run printed: the script checks the advice
contains it before applying it. One JSON line per run is appended to --out as it ends; a rerun
skips lines already there. Runs go two at a time with one torch thread each (2 cores); the
doctor's cost is timed last, alone: the demo with `doctor=true` and `doctor=false` alternately.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# (kind, preset, overrides that make it fail, the fix: overrides its advice prints, seeds)
CASES = [
    ("g_saturation", "gauss1d", ["objective=minimax"], ["objective=nonsaturating"], (0, 1)),
    (
        "g_saturation",
        "paper-mnist",
        ["objective=minimax", "steps=1000", "log_every=20", "sample_every=500", "compile=false"],
        ["objective=nonsaturating"],
        (0,),
    ),
    (
        "d_overpowers",
        "gauss1d",
        ["k=5", "d_optimizer.lr=0.02", "generator.hidden=[4]"],
        ["k=1", "regularizers.r1=1"],
        (0, 1),
    ),
    (
        "d_overpowers",
        "gauss1d",
        ["objective=least_squares", "k=5", "d_optimizer.lr=0.02", "generator.hidden=[4]"],
        ["k=1", "regularizers.r1=1"],
        (0,),
    ),
    (
        "mode_collapse",
        "ring8",
        [
            "steps=1500",
            "sample_every=250",
            "k=5",
            "d_optimizer.lr=0.01",
            "generator.hidden=[16]",
            "discriminator.hidden=[256,256,256]",
        ],
        ["generator.hidden=[256,256,256]"],
        (0, 1),
    ),  # fmt: skip
    (
        "mode_collapse",
        "grid25",  # the grid's old recipe: z of dimension 8, equal rates, no decay
        [
            "steps=3000",
            "sample_every=250",
            "noise.dim=8",
            "generator.hidden=[256,256,256]",
            "discriminator.hidden=[256,256,256]",
            "objective=nonsaturating",
            "label_smoothing=0.0",
            "g_optimizer.lr=0.001",
            "d_optimizer.lr=0.001",
            "g_optimizer.lr_decay_factor=1.0",
            "d_optimizer.lr_decay_factor=1.0",
            "discriminator.dropout=0.0",
        ],
        ["discriminator.pack=2"],
        (0, 1),
    ),  # fmt: skip
    (
        "oscillation",
        "gauss1d",
        [
            "g_optimizer.lr=0.01",
            "d_optimizer.lr=0.01",
            "g_optimizer.betas=[0.9,0.999]",
            "d_optimizer.betas=[0.9,0.999]",
        ],
        ["regularizers.r1=1", "g_optimizer.lr=0.0025", "d_optimizer.lr=0.0025"],
        (0, 1),
    ),  # fmt: skip
    (
        "oscillation",
        "gauss1d",
        ["objective=wasserstein", "g_optimizer.lr=0.001", "d_optimizer.lr=0.001"],
        ["regularizers.r1=1", "g_optimizer.lr=0.00025", "d_optimizer.lr=0.00025"],
        (0,),
    ),
    (
        "divergence",
        "gauss1d",
        [
            "g_optimizer.name=sgd",
            "d_optimizer.name=sgd",
            "g_optimizer.lr=0.05",
            "d_optimizer.lr=0.05",
            "g_optimizer.momentum=0.9",
            "d_optimizer.momentum=0.9",
        ],
        ["g_optimizer.lr=0.005", "d_optimizer.lr=0.005"],
        (0,),
    ),  # fmt: skip
    (
        "memorisation",
        "ring8",
        # 4,000 steps were enough until the training changes of 2026-12-07 (ratio 0.54 there)
        ["data.n=16", "m=16", "steps=6000", "sample_every=250"],
        ["data.n=256"],
        (0,),
    ),
    # a minibatch of 2: k-NN precision 0.006-0.018 at the end, which the doctor called healthy
    ("poor_fit", "ring8", ["m=2", "steps=1500", "sample_every=250"], ["m=64"], (0,)),
]
# (preset, overrides, seeds): the shipped presets as users run them; any finding is false
HEALTHY = [
    ("ring8", [], range(10)),  # `ganlab demo`'s run
    ("grid25", [], range(5)),
    # eager, as measured before the preset compiled its updates (the same numbers to rounding)
    ("paper-mnist", ["steps=1500", "log_every=50", "compile=false"], range(3)),
    ("gauss1d", [], range(5)),
    # a critic learning from weights clipped to [-0.01, 0.01]: its curves once read as
    # d_overpowers and oscillation (300 steps: before the sample checks judge a fit)
    ("ring8", ["objective=wasserstein", "regularizers.weight_clip=0.01", "steps=300"], range(3)),
]


def train(preset: str, overrides: list[str], seed: int, threads: int = 1) -> dict:
    """One `ganlab train` run; its findings, warning lines and wall time."""
    with tempfile.TemporaryDirectory(prefix="doctor-") as tmp:
        out = Path(tmp) / "run"
        sets = [f"seed={seed}", f"threads={threads}", *overrides]
        cmd = [sys.executable, "-m", "ganlab", "train", preset, "--out", str(out), "--quiet"]
        cmd += [a for s in sets for a in ("--set", s)]
        env = dict(os.environ, PYTHONWARNINGS="default")
        shared = Path(__file__).resolve().parents[2] / "shared" / "data"  # MNIST beside the repo
        if "GANLAB_DATA" not in env and shared.is_dir():
            env["GANLAB_DATA"] = str(shared)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        seconds = time.perf_counter() - t0
        path = out / "findings.json"
        findings = json.loads(path.read_text())["findings"] if path.exists() else None
        warned = [line for line in proc.stderr.splitlines() if "doctor: " in line]
        return {
            "preset": preset,
            "overrides": overrides,
            "seed": seed,
            "rc": proc.returncode,
            "seconds": round(seconds, 1),
            "findings": findings,
            "warning_lines": len(warned),
            "stderr_tail": proc.stderr.strip().splitlines()[-1:] if proc.returncode else [],
        }


def kinds(row: dict) -> list[str]:
    return [f["kind"] for f in row["findings"] or []]


def jobs(healthy_seeds: int | None = None) -> list[dict]:
    """Every failing case and its fix, then the healthy presets (at their first
    `healthy_seeds` seeds when given)."""
    out = []
    for case, (kind, preset, fail, fix, seeds) in enumerate(CASES):
        for seed in seeds:
            common = {"case": case, "kind": kind, "preset": preset, "seed": seed, "fix": fix}
            out.append({"role": "fails", "sets": fail, **common})
            out.append({"role": "fixed", "sets": fail + fix, **common})
    for preset, sets, seeds in HEALTHY:
        seeds = list(seeds)[:healthy_seeds]
        out += [{"role": "healthy", "preset": preset, "sets": sets, "seed": s} for s in seeds]
    return out


def key(job: dict) -> str:
    return json.dumps([job["role"], job["preset"], job["sets"], job["seed"]])


def run_job(job: dict) -> dict:
    row = {**job, **train(job["preset"], job["sets"], job["seed"])}
    if job["role"] == "fails":  # the fix applied later must be what this run advised
        advice = " ".join(f["advice"] for f in row["findings"] or [] if f["kind"] == job["kind"])
        row["advice_has_fix"] = all(f"--set {s}" in advice for s in job["fix"])
    return row


def overhead(repeats: int = 2) -> dict:
    """Seconds of the demo's 6,000 steps with the doctor on and off, alternating, alone."""
    times = {"on": [], "off": []}
    for _ in range(repeats):
        for flag in ("on", "off"):
            row = train("ring8", [f"doctor={'true' if flag == 'on' else 'false'}"], 0, threads=1)
            times[flag].append(row["seconds"])
    on, off = min(times["on"]), min(times["off"])
    return {"role": "overhead", "on_s": on, "off_s": off, "ratio": round(on / off, 4), **times}


def table(rows: list[dict]) -> str:
    lines = ["| kind | config (`--set`) | seed | found (step) | fix (`--set`) | after the fix |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    fixed = {(r["case"], r["seed"]): r for r in rows if r["role"] == "fixed"}
    for r in rows:
        if r["role"] != "fails":
            continue
        steps = {f["kind"]: f["step"] for f in r["findings"] or []}
        found = ", ".join(f"{k} ({s})" for k, s in steps.items()) or "nothing"
        after = fixed.get((r["case"], r["seed"]))
        after_text = "-" if after is None else (", ".join(kinds(after)) or "nothing")
        if after is not None and after["rc"]:
            after_text += f" (exit {after['rc']})"
        fix = " ".join(after["fix"]) if after else "-"
        ok = "" if r.get("advice_has_fix", True) else " (not in the advice)"
        lines.append(f"| {r['kind']} | {r['preset']} {' '.join(r['sets'])} | {r['seed']} | "
                     f"{found} | {fix}{ok} | {after_text} |")  # fmt: skip
    lines += ["", "| preset | seeds | runs with a finding | findings |", "|---|---|---|---|"]
    for preset, sets, _ in HEALTHY:
        runs = [r for r in rows if r["role"] == "healthy" and r["preset"] == preset
                and r["sets"] == sets]  # fmt: skip
        alarms = [f"{k} (seed {r['seed']})" for r in runs for k in kinds(r)]
        name = f"{preset} {' '.join(sets)}".strip()
        lines.append(f"| {name} | {len(runs)} | {sum(bool(kinds(r)) for r in runs)} | "
                     f"{', '.join(alarms) or 'none'} |")  # fmt: skip
    for r in rows:
        if r["role"] == "overhead":
            lines += ["", f"Doctor's cost on the demo (6,000 steps, 1 thread, best of "
                      f"{len(r['on'])}): {r['on_s']} s on, {r['off_s']} s off: "
                      f"x{r['ratio']}."]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("benchmarks/doctor_gallery.jsonl"))
    p.add_argument("--table", action="store_true", help="print the table of --out and stop")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument(
        "--quick",
        action="store_true",
        help="the healthy presets at their first 2 seeds only (all failing cases still run)",
    )
    args = p.parse_args()
    lines = args.out.read_text().splitlines() if args.out.exists() else []
    done = [json.loads(line) for line in lines]
    if not args.table:
        seen = {key(r) for r in done if r["role"] != "overhead"}
        todo = [j for j in jobs(2 if args.quick else None) if key(j) not in seen]
        with ThreadPoolExecutor(args.workers) as pool, open(args.out, "a") as f:
            for row in pool.map(run_job, todo):
                done.append(row)
                f.write(json.dumps(row) + "\n")
                f.flush()
                print(row["role"], row["preset"], row["sets"], row["seed"], kinds(row),
                      row["seconds"], "s", flush=True)  # fmt: skip
            if not any(r["role"] == "overhead" for r in done):
                row = overhead()
                done.append(row)
                f.write(json.dumps(row) + "\n")
    print(table(done))


if __name__ == "__main__":
    main()
