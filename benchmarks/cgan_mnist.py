"""Label agreement of a conditional MNIST run: the reference classifier reads each sample.

    GANLAB_DATA=../shared/data ganlab train cgan-mnist --out runs/cgan-mnist --set threads=1
    GANLAB_DATA=../shared/data python benchmarks/cgan_mnist.py runs/cgan-mnist [--step S] [-n N]

For every class L, N samples asked for L (Run.sample(N, label=L), the draw of
`ganlab sample RUN -n N --label L`) go through ganlab.metrics.classifier.reference_classifier;
the share it reads as L is printed per class, with the mean over classes. --independent reads
the same samples with a second classifier of another kind, trained here (an MLP 784-512-256-10,
4 epochs of Adam on the 50,000 training images, seed 0: 97.7% on the test images), as a check
that the samples are digits and not images tuned to the reference classifier.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from ganlab import load_run
from ganlab.data import load_mnist
from ganlab.metrics.classifier import predict, reference_classifier


def independent_classifier() -> nn.Module:
    """An MLP digit classifier, trained here in ~10 s: another judge than the reference CNN."""
    torch.manual_seed(0)
    x, y = load_mnist("train")
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(4):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    xt, yt = load_mnist("test")
    with torch.no_grad():
        accuracy = float((net.eval()(xt).argmax(1) == yt).float().mean())
    print(f"independent MLP: {100 * accuracy:.1f}% of the test images")
    return net


def agreement(
    run_dir: str, step: int | None = None, n: int = 1000, independent: bool = False
) -> dict[str, float]:
    run = load_run(run_dir, step)
    if independent:
        net = independent_classifier()
        read = lambda x: net(x).argmax(1)  # noqa: E731
    else:
        model = reference_classifier().model
        read = lambda x: predict(model, x)  # noqa: E731
    shares = {}
    with torch.no_grad():
        for label, name in enumerate(run.class_names):
            x = run.sample(n, label=label)  # (n, 1, 28, 28) in [0, 1]
            shares[name] = float((read(x) == label).float().mean())
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--step", type=int, default=None)
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--independent", action="store_true", help="read with an MLP trained here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    shares = agreement(args.run, args.step, args.n, args.independent)
    for name, share in shares.items():
        print(f"class {name}: {100 * share:.1f}%")
    mean = sum(shares.values()) / len(shares)
    print(
        f"mean label agreement: {100 * mean:.2f}% (min {100 * min(shares.values()):.1f}%), "
        f"{args.n} samples per class, {time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
