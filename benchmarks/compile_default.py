"""Where `compile: step` is the default (issue 21 part 1: "default on where it wins on this
machine type, measured"): for each preset, eager against `step` steps/s, interleaved in one
process (a fresh one per preset, as a run starts) on the thread count the run itself would
use, the first iteration's time (compiling included, from an empty inductor cache unless
--warm), and what the preset's own step budget
gains or loses end to end. Presets whose updates `step` does not cover (regularizers,
conditional runs) train eagerly whatever the setting: named, not timed.

    python benchmarks/compile_default.py                      # every preset, cold compiles
    python benchmarks/compile_default.py ring8 images --warm  # some, with this user's cache
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time

if "--warm" not in sys.argv:  # before torch is imported: inductor reads it once
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="ganlab-cold-inductor-")

import torch
from speed import Loop, interleaved_rounds, paired

from ganlab.config import load_config
from ganlab.training.compiled_step import unsupported
from ganlab.training.regularization import regularization
from ganlab.training.runtime import configure_cpu, run_threads
from ganlab.training.state import build_state, seeded_rng

PRESETS = ("ring8", "grid25", "gauss1d", "points", "paper-mnist", "images", "cring8", "cgan-mnist")
# presets that read MNIST train here on random images of its shape (nothing downloaded)
IMAGE_DATA = {"paper-mnist": (0.0, 1.0), "images": (-1.0, 1.0)}


def preset_case(name: str):
    """(config with compile false, data tensor or None, why step does not cover it or None,
    the run's thread count)."""
    cfg = load_config(name, ["compile=false"])
    if cfg.conditional_run:  # needs its labelled data to build; step covers none of them
        return cfg, None, f"conditional.kind '{cfg.conditional.kind}'", None
    overrides = ["compile=false"]
    x = None
    if name in IMAGE_DATA:
        lo, hi = IMAGE_DATA[name]
        overrides.append("data.kind=tensor")
        x = lo + (hi - lo) * torch.rand(5_000, 1, 28, 28)
    cfg = load_config(name, overrides)
    with seeded_rng(cfg):
        state = build_state(cfg, x)
    why = unsupported(cfg, state, True, regularization(cfg) is not None)
    return cfg, x, why, run_threads(cfg, state).threads


def measure(cfg, x, rounds: int, seconds: float) -> dict:
    """Eager and step loops built (the step one compiling in its first iteration), then
    `rounds` interleaved timings of about `seconds` each."""
    loops = {}
    for mode in (False, "step"):
        loops[mode] = Loop(cfg.model_copy(update={"compile": mode}), x, warmup=5)
    rates = interleaved_rounds(
        {mode: functools.partial(loop.rate_for, seconds) for mode, loop in loops.items()}, rounds
    )
    eager, step = statistics.median(rates[False]), statistics.median(rates["step"])
    ratio = paired(rates[False], rates["step"])
    return {"eager": eager, "step": step, "paired": ratio, "first_s": loops["step"].first_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("presets", nargs="*", help=f"default all: {', '.join(PRESETS)}")
    p.add_argument("--warm", action="store_true", help="keep this user's inductor cache")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=float, default=2.0, help="per timing (default 2)")
    args = p.parse_args()
    if unknown := set(args.presets) - set(PRESETS):
        p.error(f"unknown preset(s) {', '.join(sorted(unknown))}; choose from {', '.join(PRESETS)}")
    cache = "this user's inductor cache" if args.warm else "an empty inductor cache"
    print(f"torch {torch.__version__}; compiling from {cache}; {args.rounds} rounds")
    names = args.presets or PRESETS
    if len(names) > 1:  # each preset in a process of its own, as a user's run starts
        flags = [*(["--warm"] if args.warm else []), "--rounds", str(args.rounds),
                 "--seconds", str(args.seconds)]  # fmt: skip
        for name in names:
            out = subprocess.run([sys.executable, __file__, name, *flags], check=True,
                                 capture_output=True, text=True).stdout  # fmt: skip
            print(out.splitlines()[1], flush=True)
        return
    for name in names:
        cfg, x, why, threads = preset_case(name)
        if why is not None:
            print(f"{name:<12} eager: compile: step does not cover {why}")
            continue
        configure_cpu(threads)
        r = measure(cfg, x, args.rounds, args.seconds)
        # the preset's whole budget: eager, against step's compile plus its faster steps
        eager_s = cfg.steps / r["eager"]
        step_s = r["first_s"] + (cfg.steps - 1) / r["step"]
        verdict = "step wins" if step_s < eager_s else "eager wins"
        print(
            f"{name:<12} {threads} thread(s): eager {r['eager']:7.1f} steps/s, step "
            f"{r['step']:7.1f} ({r['paired']:.2f}x paired); first iteration {r['first_s']:.1f} s; "
            f"{cfg.steps:,} steps: eager {eager_s:.0f} s, step {step_s:.0f} s -> {verdict}"
        )


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
