"""How fast ganlab trains and evaluates on this machine, against the loop users would write and
against the CPU's own matmul peak, all measured in one run.

    python benchmarks/speed.py            # the full table (~10 minutes on 2 cores)
    python benchmarks/speed.py --quick    # fewer steps and repeats (< 3 minutes)

Measures, each as the median of several repeats after a warm-up:
- the peer loop (../shared/bench/peer_vanilla_gan.py, a subprocess) and ganlab's Algorithm 1 on
  the same architecture, optimiser, batch and loss (steps/s; their ratio);
- the paper's MNIST MLPs at batch 100 in GFLOP/s, as a fraction of the fp32 gemm peak measured
  by ../shared/bench/peak_gemm.py in this run;
- steps/s of the paper's MLPs against batch size and thread count;
- the peak resident memory of `ganlab train paper-mnist` (a subprocess);
- the Parzen evaluation of the paper's protocol (10,000 samples, 10 sigmas on 1,000 validation
  points, 10,000 test points, 784-d) against a straightforward float64 implementation.
Ends with one line:
    speedup_vs_peer=X.XX paper_mlp_peak_fraction=Y.YY parzen_speedup=Z.Z
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ganlab.algorithm import algorithm1
from ganlab.config import config_from_dict, load_config
from ganlab.metrics.parzen import PAPER_SIGMAS, parzen_select_and_score
from ganlab.runs import build_state, seeded_rng
from ganlab.runtime import configure_cpu

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"

# The peer's configuration (PyTorch-GAN gan.py) as a ganlab config: the same layer sizes,
# LeakyReLU 0.2, BatchNorm in G, tanh output, BCE (ganlab: on logits), Adam 2e-4 (0.5, 0.999),
# batch 64. ganlab draws fresh noise for G's step, as Algorithm 1 says; the peer reuses the
# D step's samples, one G forward fewer per iteration: the comparison favours the peer.
PEER_CONFIG = {
    "m": 64,
    "noise": {"kind": "gaussian", "dim": 100, "scale": 1.0},
    "generator": {
        "kind": "mlp", "hidden": [128, 256, 512, 1024], "activation": "leaky_relu",
        "batchnorm": True, "output": "tanh",
    },
    "discriminator": {
        "kind": "mlp", "hidden": [512, 256], "activation": "leaky_relu",
        "dropout": 0.0, "input_dropout": 0.0,
    },
    "g_optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
    "d_optimizer": {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
    "data": {"kind": "tensor"},
}  # fmt: skip


def _median(values: list[float]) -> float:
    return statistics.median(values)


def peer_steps_per_s(steps: int, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, str(BENCH / "peer_vanilla_gan.py"), str(steps), "64"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rates.append(float(re.search(r"steps_per_s ([\d.]+)", out.stdout)[1]))
    return _median(rates)


def gemm_peak() -> float:
    out = subprocess.run(
        [sys.executable, str(BENCH / "peak_gemm.py")], capture_output=True, text=True, check=True
    )
    return float(re.search(r"peak_gflops ([\d.]+)", out.stdout)[1])


def ganlab_steps_per_s(cfg, x: torch.Tensor, steps: int, repeats: int, warmup: int = 20):
    """Median steps/s of algorithm1 (no monitor: the loop's own cost) on a built state."""
    with seeded_rng(cfg):
        state = build_state(cfg, x)
        algorithm1(cfg.model_copy(update={"steps": warmup}), state)
        rates = []
        for _ in range(repeats):
            target = cfg.model_copy(update={"steps": state.step + steps})
            t0 = time.perf_counter()
            algorithm1(target, state)
            rates.append(steps / (time.perf_counter() - t0))
    return _median(rates)


def paper_mlp_flops(cfg) -> float:
    """FLOPs of one Algorithm 1 iteration (k = 1) of the paper's MLPs, counting matmuls only.

    With P_g, P_d the weights of G and D and m the batch, a forward pass costs 2 m P; the D
    step runs G forward (2 m P_g), D forward and backward on 2m rows (input gradients of D's
    first layer are not needed: ~ 2 * 2m P_d + 2 * 2 * 2m P_d less the first layer's input
    gradient); the G step runs G forward, D forward, D's input gradients and G's backward.
    """
    m, z = cfg.m, cfg.noise.dim
    g_layers = [z, *cfg.generator.hidden, 784]
    g_w = [a * b for a, b in zip(g_layers[:-1], g_layers[1:], strict=True)]
    d = cfg.discriminator
    d_layers = [784, *d.hidden]
    d_w = [a * b * d.pieces for a, b in zip(d_layers[:-1], d_layers[1:], strict=True)]
    d_w.append(d.hidden[-1])
    pg, pd = sum(g_w), sum(d_w)
    pd_in = d_w[0]  # D's first layer: its input gradient is skipped where x needs none
    d_step = 2 * m * pg + 2 * (2 * m) * pd + 2 * 2 * (2 * m) * pd - 2 * (2 * m) * pd_in
    g_step = 2 * m * pg + 2 * m * pd + 2 * m * pd + 2 * 2 * m * pg - 2 * m * g_w[0]
    return float(d_step + g_step)


def peak_rss_mib(steps: int) -> float:
    """Peak RSS of a `ganlab train paper-mnist` subprocess on random MNIST-shaped data."""
    code = (
        "import resource, torch, ganlab;"
        "x = torch.rand(10000, 1, 28, 28);"
        f"ganlab.train('paper-mnist', r'{{out}}', overrides=['data.kind=tensor', 'steps={steps}',"
        "'checkpoint_every=100000', 'sample_every=100000'], data=x, report=False);"
        "print('maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", code.replace("{out}", str(Path(tmp) / "run"))],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    return int(re.search(r"maxrss_kib (\d+)", out.stdout)[1]) / 1024


def parzen_float64_direct(mu, valid, test, sigmas) -> tuple[float, float]:
    """The straightforward version: float64, distances recomputed per sigma, logsumexp."""
    mu, valid, test = mu.double(), valid.double(), test.double()
    n, d = mu.shape

    def ll(x, sigma):
        out = []
        for chunk in x.split(500):
            d2 = torch.cdist(chunk, mu).square()  # (c, N)
            out.append(
                torch.logsumexp(-d2 / (2 * sigma**2), 1)
                - math.log(n)
                - d * math.log(sigma * math.sqrt(2 * math.pi))
            )
        return torch.cat(out)

    best = max(sigmas, key=lambda s: float(ll(valid, s).mean()))
    scores = ll(test, best)
    return float(scores.mean()), float(best)


def parzen_times(repeats: int, n: int) -> dict:
    g = torch.Generator().manual_seed(0)
    mu = torch.rand(n, 784, generator=g)  # stands in for generated images (timing only)
    valid, test = torch.rand(1000, 784, generator=g), torch.rand(n, 784, generator=g)
    fast, slow = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        score = parzen_select_and_score(mu, valid, test)
        fast.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref_mean, ref_sigma = parzen_float64_direct(mu, valid, test, PAPER_SIGMAS)
        slow.append(time.perf_counter() - t0)
    return {
        "fast_s": _median(fast), "float64_s": _median(slow),
        "diff_nats": abs(score.mean - ref_mean), "same_sigma": score.sigma == ref_sigma,
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (< 3 minutes)")
    args = p.parse_args()
    steps, repeats = (100, 3) if args.quick else (300, 5)
    configure_cpu()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, {'quick' if args.quick else 'full'}")

    peak = gemm_peak()
    print(f"fp32 gemm peak (peak_gemm.py): {peak:.1f} GFLOP/s")

    peer = peer_steps_per_s(steps, repeats)
    x_peer = torch.rand(10_000, 784) * 2 - 1
    ours = ganlab_steps_per_s(config_from_dict(PEER_CONFIG), x_peer, steps, repeats)
    print(f"peer loop, batch 64:          {peer:7.1f} steps/s")
    print(f"ganlab, same configuration:   {ours:7.1f} steps/s   ({ours / peer:.2f}x)")

    paper = load_config("paper-mnist", ["data.kind=tensor"])
    x_mnist = torch.rand(10_000, 1, 28, 28)
    rate = ganlab_steps_per_s(paper, x_mnist, steps, repeats)
    gflops = paper_mlp_flops(paper) * rate / 1e9
    print(
        f"paper MLPs, batch 100:        {rate:7.1f} steps/s   {gflops:.1f} GFLOP/s = "
        f"{gflops / peak:.2f} of peak"
    )
    simult = ganlab_steps_per_s(paper.model_copy(update={"update": "simultaneous"}), x_mnist,
                                steps, repeats)  # fmt: skip
    print(f"  same, update: simultaneous: {simult:7.1f} steps/s")

    print("paper MLPs: steps/s by batch size and threads")
    batches = (32, 128, 512) if args.quick else (32, 64, 128, 256, 512, 1024)
    print("  batch " + " ".join(f"{b:>7}" for b in batches))
    for t in (1, threads) if threads > 1 else (1,):
        torch.set_num_threads(t)
        row = []
        for b in batches:
            cfg = paper.model_copy(update={"m": b})
            row.append(ganlab_steps_per_s(cfg, x_mnist, max(20, steps // 4), 1, warmup=5))
        print(f"  {t} thr " + " ".join(f"{r:7.1f}" for r in row))
    torch.set_num_threads(threads)

    rss = peak_rss_mib(200 if args.quick else 1000)
    print(f"peak RSS, training paper-mnist: {rss:.0f} MiB")

    pz = parzen_times(1 if args.quick else 3, 10_000)
    parzen_speedup = pz["float64_s"] / pz["fast_s"]
    print(
        f"Parzen (paper protocol): {pz['fast_s']:.1f} s vs float64 direct {pz['float64_s']:.1f} s "
        f"({parzen_speedup:.1f}x), |diff| {pz['diff_nats']:.2e} nats, same sigma: "
        f"{pz['same_sigma']}"
    )
    print("FID-like metrics on 10k images: not measured (ganlab eval has no FID yet)")
    print(
        f"speedup_vs_peer={ours / peer:.2f} paper_mlp_peak_fraction={gflops / peak:.2f} "
        f"parzen_speedup={parzen_speedup:.1f}"
    )


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
