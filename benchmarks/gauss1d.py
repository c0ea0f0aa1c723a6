"""The gauss1d preset over seeds: how well Algorithm 1 learns N(4, 0.5^2), and how fast.

    python benchmarks/gauss1d.py [--seeds 10]

Prints, per seed, the mean and std of 10,000 generated samples, the mean of D(x) over 10,000
data samples (1/2 at the equilibrium) and the wall time; then the worst case over seeds. These
are the numbers behind the tolerances of tests/test_algorithm.py.
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

import ganlab
from ganlab.data import gaussian_1d


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    args = p.parse_args()
    real = gaussian_1d(4.0, 0.5).sample(10_000, torch.Generator().manual_seed(1))
    rows = []
    print(f"{'seed':>4} {'mean':>7} {'std':>7} {'D(x)':>7} {'wall_s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            run = ganlab.train(
                "gauss1d", Path(tmp) / f"s{seed}", overrides=[f"seed={seed}"], report=False
            )
            wall = time.perf_counter() - t0
            x = run.sample(10_000)
            with torch.no_grad():
                d = float(torch.sigmoid(run.discriminator.eval()(real)).mean())
            rows.append((float(x.mean()), float(x.std()), d))
            print(f"{seed:>4} {rows[-1][0]:>7.3f} {rows[-1][1]:>7.3f} {d:>7.3f} {wall:>7.1f}")
    print(
        f"worst |mean - 4| = {max(abs(m - 4) for m, _, _ in rows):.3f}, "
        f"worst |std - 0.5| = {max(abs(s - 0.5) for _, s, _ in rows):.3f}, "
        f"mean D(x) in [{min(d for *_, d in rows):.3f}, {max(d for *_, d in rows):.3f}]"
    )


if __name__ == "__main__":
    main()
