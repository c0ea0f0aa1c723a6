"""Label agreement of a conditional MNIST run: the reference classifier reads each sample.

    GANLAB_DATA=../shared/data ganlab train cgan-mnist --out runs/cgan-mnist --set threads=1
    GANLAB_DATA=../shared/data python benchmarks/cgan_mnist.py runs/cgan-mnist [--step S] [-n N]

For every class L, N samples asked for L (Run.sample(N, label=L), the draw of
`ganlab sample RUN -n N --label L`) go through ganlab.metrics.classifier.reference_classifier;
the share it reads as L is printed per class, with the mean over classes.
"""

from __future__ import annotations

import argparse
import time

import torch

from ganlab import load_run
from ganlab.metrics.classifier import predict, reference_classifier


def agreement(run_dir: str, step: int | None = None, n: int = 1000) -> dict[str, float]:
    run = load_run(run_dir, step)
    model = reference_classifier().model
    shares = {}
    for label, name in enumerate(run.class_names):
        x = run.sample(n, label=label)  # (n, 1, 28, 28) in [0, 1]
        shares[name] = float((predict(model, x) == label).float().mean())
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--step", type=int, default=None)
    parser.add_argument("-n", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    shares = agreement(args.run, args.step, args.n)
    for name, share in shares.items():
        print(f"class {name}: {100 * share:.1f}%")
    mean = sum(shares.values()) / len(shares)
    print(
        f"mean label agreement: {100 * mean:.2f}% (min {100 * min(shares.values()):.1f}%), "
        f"{args.n} samples per class, {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
