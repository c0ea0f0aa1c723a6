"""Time and peak RSS of `conditional.clusters` (ganlab.data.clusters) on data streamed from disk:
a .npy of N uint8 colour images, 64x64 (made once; random pixels: the clustering does the same
work whatever they show).

    python benchmarks/clusters_memory.py --n 200000 --k 20 --path /tmp/big200k.npy \\
        [--method spectral|kmeans]

Run it twice: the first run also writes the file, whose pages count in its RSS.
"""

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch


def make(path: Path, n: int, side: int = 64) -> None:
    a = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 3, side, side))
    rng = np.random.default_rng(0)
    for i in range(0, n, 10_000):
        rows = min(10_000, n - i)
        a[i : i + rows] = rng.integers(0, 256, (rows, 3, side, side), dtype=np.uint8)
    a.flush()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--path", default="/tmp/big200k.npy")
    ap.add_argument("--method", default="spectral", choices=("spectral", "kmeans"))
    args = ap.parse_args()
    path = Path(args.path)
    if not path.exists():
        make(path, args.n)
    from ganlab.config import load_config
    from ganlab.data import build_data
    from ganlab.data.clusters import cluster_labels

    torch.set_num_threads(1)
    cfg = load_config("images", ["data.kind=array", f"data.path={path}", "data.stream=always"])
    source = build_data(cfg.data, 1)
    start = time.perf_counter()
    y = cluster_labels(source, args.k, 6, args.method)
    sizes = torch.bincount(y, minlength=args.k)
    print(
        f"{type(source).__name__} of {source.size} {tuple(source.x_shape)}: {args.k} {args.method} "
        f"clusters in "
        f"{time.perf_counter() - start:.1f} s, sizes {int(sizes.min())}-{int(sizes.max())}, "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB"
    )


if __name__ == "__main__":
    main()
