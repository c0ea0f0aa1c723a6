"""Data larger than memory (issue 20 part 7): a folder of N 64x64 colour PNGs streamed from its
uint8 cache against the in-memory path on a subset that fits, in one run.

    python benchmarks/streaming.py                 # N = 200,000 (makes the folder once: long)
    python benchmarks/streaming.py --n 2000 --memory-n 1000 --steps 100   # a quick check

Makes (if absent) a folder of N deterministic PNGs under --root (a gradient, three coloured
shapes and mild noise each, so PNG compression is realistic; two writer processes), and a
folder of symlinks to its first --memory-n images. Then, each in its own subprocess so that its
peak RSS (VmHWM) is its own:
- decode: the one-time decode of the whole folder into the uint8 cache (the cache is removed
  first; --keep-cache measures the reuse instead);
- streamed: `data.stream=always` on the whole folder (the cache found: the second load);
- in-memory: `data.stream=never` on the subset (decoded into a float32 tensor).
Both train the same MLP G and D (64x64x3 = 12,288 inputs; an MLP's step is the cheapest per
image, so reading from disk weighs most against it) with the same m, timed over --steps steps
after --warmup. "start s" is building the state (loading the data) plus the data fingerprint a
run records. Ends with one line:
    streamed_steps_per_s=A in_memory_steps_per_s=B ratio=C streamed_peak_rss_mib=D
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

SIDE = 64
PER_FOLDER = 1000  # images per subfolder: no folder of 200,000 entries


def draw(i: int) -> np.ndarray:
    """Image i: (64, 64, 3) uint8, a function of i alone."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(i)
    a, b = rng.integers(0, 256, (2, 3))
    t = np.linspace(0.0, 1.0, SIDE)[:, None, None]  # a vertical or horizontal gradient
    grad = a + (b - a) * (t if rng.random() < 0.5 else t.transpose(1, 0, 2))
    im = Image.fromarray(np.broadcast_to(grad, (SIDE, SIDE, 3)).astype(np.uint8))
    pen = ImageDraw.Draw(im)
    for _ in range(3):
        x0, y0 = rng.integers(-8, SIDE - 8, 2)
        x1, y1 = x0 + rng.integers(8, 40), y0 + rng.integers(8, 40)
        shape = pen.ellipse if rng.random() < 0.5 else pen.rectangle
        shape(
            (int(x0), int(y0), int(x1), int(y1)),
            fill=tuple(int(c) for c in rng.integers(0, 256, 3)),
        )
    pixels = np.asarray(im, np.int16) + rng.integers(-4, 5, (SIDE, SIDE, 3))  # sensor-like noise
    return np.clip(pixels, 0, 255).astype(np.uint8)


def write_block(args: tuple[Path, int, int]) -> None:
    from PIL import Image

    folder, start, stop = args
    sub = folder / f"d{start // PER_FOLDER:04d}"
    sub.mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        Image.fromarray(draw(i)).save(sub / f"{i:06d}.png")


def make_folder(folder: Path, n: int) -> None:
    """N PNGs in subfolders of 1,000, once: a hidden marker says the folder is whole."""
    done = folder / ".complete"
    if done.exists():
        return
    print(f"writing {n} images to {folder} (once) ...", flush=True)
    blocks = [(folder, s, min(s + PER_FOLDER, n)) for s in range(0, n, PER_FOLDER)]
    with Pool(2) as pool:  # the machine is shared: two writers at most
        pool.map(write_block, blocks)
    done.write_text(str(n))


def make_subset(folder: Path, subset: Path, k: int) -> None:
    """A folder of symlinks to the first k images of folder, in the same load order."""
    if (subset / ".complete").exists():
        return
    for i in range(k):
        link = subset / f"d{i // PER_FOLDER:04d}" / f"{i:06d}.png"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(folder / link.relative_to(subset))
    (subset / ".complete").write_text(str(k))


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), MiB."""
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kib / 1024


def child(args) -> dict:
    """One measurement in this process (run by the parent as a subprocess)."""
    import torch

    from ganlab.config import config_from_dict
    from ganlab.data.image_cache import image_cache
    from ganlab.runs.directory import data_fingerprint
    from ganlab.training.algorithm import algorithm1
    from ganlab.training.distributed import World, resolve_device
    from ganlab.training.state import build_state, seeded_rng

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child == "decode":
        t0 = time.perf_counter()
        image_cache(Path(args.folder), None, 3)
        return {"start_s": time.perf_counter() - t0, "peak_rss_mib": peak_rss_mib()}
    stream = "always" if args.child == "streamed" else "never"
    cfg = config_from_dict(
        {
            "seed": 0, "m": args.m, "objective": "nonsaturating",
            "noise": {"kind": "gaussian", "dim": 100, "scale": 1.0},
            "generator": {"kind": "mlp", "hidden": args.hidden, "output": "tanh"},
            "discriminator": {"kind": "mlp", "hidden": args.hidden, "dropout": 0.0,
                              "input_dropout": 0.0, "activation": "leaky_relu"},
            "g_optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
            "d_optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
            "data": {"kind": "images", "path": args.folder, "channels": 3, "stream": stream},
        }
    )  # fmt: skip
    world = World(device=resolve_device(args.device, False, 0))
    t0 = time.perf_counter()
    with seeded_rng(cfg, world):
        state = build_state(cfg, world=world)
    data_fingerprint(state.data)
    start = time.perf_counter() - t0

    def run(steps):
        algorithm1(cfg.model_copy(update={"steps": state.step + steps}), state)
        if world.device.type == "cuda":
            torch.cuda.synchronize()

    run(args.warmup)
    t0 = time.perf_counter()
    run(args.steps)
    rate = args.steps / (time.perf_counter() - t0)
    return {"start_s": start, "steps_per_s": rate, "peak_rss_mib": peak_rss_mib(),
            "size": state.data.size, "device": str(world.device)}  # fmt: skip


def measure(args, kind: str, folder: Path, cache: Path) -> dict:
    """Run `kind` in a subprocess with the cache under `cache`; its JSON result."""
    cmd = [sys.executable, __file__, "--child", kind, "--folder", str(folder), "--m", str(args.m),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device,
           "--threads", str(args.threads), "--hidden", *map(str, args.hidden)]  # fmt: skip
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{kind} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="images in the streamed folder")
    p.add_argument("--memory-n", type=int, default=20_000, help="images of the in-memory run")
    p.add_argument("--root", default=None, help="where the folders and the cache go")
    p.add_argument("--m", type=int, default=64)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    p.add_argument("--keep-cache", action="store_true", help="time the reuse, not the decode")
    p.add_argument("--child", choices=["decode", "streamed", "memory"], help=argparse.SUPPRESS)
    p.add_argument("--folder", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    from ganlab.data.download import cache_dir

    root = Path(args.root) if args.root else cache_dir() / "bench-streaming"
    folder, subset = root / f"images-{args.n}", root / f"images-{args.n}-first-{args.memory_n}"
    cache = root / "cache"
    t0 = time.perf_counter()
    make_folder(folder, args.n)
    make_subset(folder, subset, min(args.memory_n, args.n))
    print(f"folders ready in {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.keep_cache:
        shutil.rmtree(cache / "ganlab" / "images", ignore_errors=True)
    rows = {
        "decode": measure(args, "decode", folder, cache),
        "streamed": measure(args, "streamed", folder, cache),
        "in-memory": measure(args, "memory", subset, cache),
    }
    print(f"\nm={args.m}, MLP G and D hidden {args.hidden}, {args.steps} steps after "
          f"{args.warmup}, device {rows['streamed']['device']}\n")  # fmt: skip
    print("| path | images | start s | steps/s | peak RSS MiB |")
    print("|---|---|---|---|---|")
    sizes = {"decode": args.n, "streamed": args.n, "in-memory": min(args.memory_n, args.n)}
    for name, r in rows.items():
        rate = f"{r['steps_per_s']:.1f}" if "steps_per_s" in r else "-"
        print(
            f"| {name} | {sizes[name]:,} | {r['start_s']:.1f} | {rate} | {r['peak_rss_mib']:.0f} |"
        )
    ratio = rows["streamed"]["steps_per_s"] / rows["in-memory"]["steps_per_s"]
    floats_gib = args.n * 3 * SIDE * SIDE * 4 / 2**30
    print(f"\nthe float32 tensor of all {args.n:,} images would take {floats_gib:.1f} GiB")
    print(f"streamed_steps_per_s={rows['streamed']['steps_per_s']:.1f} "
          f"in_memory_steps_per_s={rows['in-memory']['steps_per_s']:.1f} ratio={ratio:.3f} "
          f"streamed_peak_rss_mib={rows['streamed']['peak_rss_mib']:.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
