"""Dropout masks on the CPU: torch's bernoulli_ (nn.Dropout) against u < 1 - p from torch.rand
(ganlab.models.mlp.Dropout), for the 252,800 entries of a paper-MNIST D update (200 rows of
784 + 240 + 240), and the whole Dropout layer against nn.Dropout on those rows.

    python benchmarks/dropout_masks.py            # 2 threads (torch's default on 2 cores)
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from ganlab.models import Dropout


def ms(f, n: int = 30, repeats: int = 7) -> float:
    """Median milliseconds of one call of f over `repeats` runs of n calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        times.append((time.perf_counter() - t0) / n * 1e3)
    return statistics.median(times)


def main() -> None:
    n = 200 * (784 + 240 + 240)
    buf = torch.empty(n)
    bern = ms(lambda: buf.bernoulli_(0.5))
    rand = ms(lambda: torch.rand(n) < 0.5)
    print(f"{torch.get_num_threads()} threads, {n:,} mask entries")
    print(f"  bernoulli_(0.5)   {bern:.3f} ms")
    print(f"  torch.rand < 0.5  {rand:.3f} ms   {bern / rand:.1f}x faster")
    rows = [torch.randn(200, w) for w in (784, 240, 240)]
    layers = {"nn.Dropout": nn.Dropout(0.5), "ganlab Dropout": Dropout(0.5)}
    for name, layer in layers.items():
        print(f"  {name:<16}  {ms(lambda layer=layer: [layer(r) for r in rows]):.3f} ms per D pass")


if __name__ == "__main__":
    main()
