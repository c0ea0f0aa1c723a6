"""How long `ganlab demo` takes and how well it covers the ring, over several seeds.

    python benchmarks/demo.py [--seeds 5] [--threads 1 2]

Trains the demo preset (ring8) once per seed and thread count, in this process, and prints
wall time, steps/s, modes covered of 8, the share of high-quality samples (within 3 std of a
mode) and KL to uniform, on 2,500 samples (the VEEGAN / PacGAN protocol).
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ganlab
from ganlab.runs.demo import DEMO_PRESET


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1])
    args = p.parse_args()
    print(
        f"{'threads':>7} {'seed':>4} {'wall_s':>7} {'steps/s':>8} {'modes':>5} {'HQ%':>6} {'KL':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            walls = []
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                run = ganlab.train(
                    DEMO_PRESET,
                    Path(tmp) / f"t{threads}-s{seed}",
                    overrides=[f"seed={seed}", f"threads={threads}"],
                )
                wall = time.perf_counter() - t0
                walls.append(wall)
                s = run.scores()
                print(
                    f"{threads:>7} {seed:>4} {wall:>7.1f} {run.step / wall:>8.1f} "
                    f"{s['modes_covered']:>3}/8 {100 * s['high_quality']:>6.1f} {s['kl']:>6.3f}"
                )
            print(
                f"threads={threads}: median wall {statistics.median(walls):.1f} s "
                "(training + figures + report)"
            )


if __name__ == "__main__":
    main()
