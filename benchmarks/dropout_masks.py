"""Dropout masks on the CPU, eagerly: torch's bernoulli_ (nn.Dropout), u < 1 - p from torch.rand
(ganlab's Dropout until 2026-12-07) and hashed counters (ganlab.models.mlp.Dropout now), for
the 252,800 entries of a paper-MNIST D update (200 rows of 784 + 240 + 240), and the whole
Dropout layer against nn.Dropout on those rows. (Inside `compile: step`'s graphs the hashed
masks are fused into the kernels around them: `python benchmarks/probes.py masks`.)

    python benchmarks/dropout_masks.py            # 2 threads (torch's default on 2 cores)
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from ganlab.models import Dropout
from ganlab.models.mlp import hashed_words


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
    key = torch.randint(0, 2**32, (2,), dtype=torch.int64)
    masks = {
        "bernoulli_(0.5)": lambda: buf.bernoulli_(0.5),
        "torch.rand < 0.5": lambda: torch.rand(n) < 0.5,
        "hashed words >= 2^31": lambda: hashed_words((n,), key) >= 2**31,
    }
    print(f"{torch.get_num_threads()} threads, {n:,} mask entries")
    base = None
    for name, draw in masks.items():
        t = ms(draw)
        base = base or t
        print(f"  {name:<22} {t:.3f} ms   {base / t:.1f}x bernoulli_'s speed")
    rows = [torch.randn(200, w) for w in (784, 240, 240)]
    layers = {"nn.Dropout": nn.Dropout(0.5), "ganlab Dropout": Dropout(0.5)}
    for name, layer in layers.items():
        print(f"  {name:<16}  {ms(lambda layer=layer: [layer(r) for r in rows]):.3f} ms per D pass")


if __name__ == "__main__":
    main()
