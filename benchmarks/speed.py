"""How fast ganlab trains and evaluates on this machine, against the loop users would write and
against the CPU's own matmul peak, all measured in one run.

    python benchmarks/speed.py            # the full table (~10 minutes on 2 cores)
    python benchmarks/speed.py --quick    # fewer steps and repeats (a few minutes)
    python benchmarks/speed.py --only contention [--quick]    # issue 21: the busy-process check

Measures, each as the median of several repeats after a warm-up:
- the peer loop (../shared/bench/peer_vanilla_gan.py, a subprocess) and ganlab's Algorithm 1 on
  the same architecture, optimiser, batch and loss (steps/s; their ratio);
- the paper's MNIST MLPs at batch 100 in GFLOP/s, as a fraction of the fp32 gemm peak measured
  in this run: the higher of ../shared/bench/peak_gemm.py (MKL's sgemm) and the same sizes by
  oneDNN (onednn_peak: on an AMD CPU with AVX-512, MKL runs its AVX2 kernels, so peak_gemm.py
  measures MKL there, not the machine; training.gemm);
- steps/s of the paper's MLPs against batch size and thread count;
- the peak resident memory of `ganlab train paper-mnist` (a subprocess);
- the Parzen evaluation of the paper's protocol (10,000 samples, 10 sigmas on 1,000 validation
  points, 10,000 test points, 784-d) against a straightforward float64 implementation;
- the classifier-feature FID, KID and precision/recall/density/coverage of `ganlab eval` on
  10,000 against 10,000 images;
- contention (issue 21): steps/s of the demo (ring8) and the paper's MLPs (batch 32 and the
  preset's 100) alone and beside one busy process (a pure-Python loop spinning on a core,
  started and killed here), on ganlab's own thread choice (training.runtime.run_threads) and on
  torch's default; and the paper MLPs by batch size and threads beside the busy process.
ganlab is measured eager, with `compile: forwards` (torch.compile of the forward passes) and with
`compile: step` (each update's forward and backward one compiled graph, then the fused step);
the time of a compiled loop's first iteration, compiling included, is printed. The summary line
takes the fastest of the three and names it; the eager numbers stay beside it.
Sections 1-3 run on torch's default thread count, as they always have (their numbers stay
comparable with benchmarks/README.md's); the contention section says what a run now uses.
Ends with one line:
    speedup_vs_peer=X.XX paper_mlp_peak_fraction=Y.YY parzen_speedup=Z.Z contention=W.WW
where contention is the worse busy/alone ratio of steps/s on ganlab's thread choice.
`--only contention` runs that section alone (its last line: contention=W.WW).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ganlab.config import config_from_dict, load_config
from ganlab.metrics.classifier import DigitClassifier, features
from ganlab.metrics.features import (
    frechet_distance,
    kernel_distance,
    precision_recall_density_coverage,
)
from ganlab.metrics.parzen import PAPER_SIGMAS, parzen_select_and_score
from ganlab.training.algorithm import algorithm1
from ganlab.training.runtime import configure_cpu, run_threads
from ganlab.training.state import build_state, seeded_rng

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


def peer_steps_per_s(steps: int) -> float:
    """One run of the peer script (its own 20 warm-up steps, then `steps` timed)."""
    out = subprocess.run(
        [sys.executable, str(BENCH / "peer_vanilla_gan.py"), str(steps), "64"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.search(r"steps_per_s ([\d.]+)", out.stdout)[1])


def gemm_peak() -> float:
    out = subprocess.run(
        [sys.executable, str(BENCH / "peak_gemm.py")], capture_output=True, text=True, check=True
    )
    return float(re.search(r"peak_gflops ([\d.]+)", out.stdout)[1])


def onednn_peak() -> float:
    """peak_gemm.py's measurement (the same sizes and repeats) by oneDNN's fp32 inner product,
    mkldnn._linear_pointwise (a @ b^T), in this process on its thread count."""
    linear, best = torch.ops.mkldnn._linear_pointwise, 0.0
    for n in (512, 1024, 2048):
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(3):
            linear(a, b, None, "none", [], "")
        reps = max(3, int(2e10 / (2 * n**3)))
        t = time.perf_counter()
        for _ in range(reps):
            linear(a, b, None, "none", [], "")
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t) / 1e9)
    return best


class Loop:
    """Algorithm 1 on a built state, timed in chunks (no monitor: the loop's own cost).

    `first_s` is the first iteration's time: with cfg.compile, compiling included.
    """

    def __init__(self, cfg, x: torch.Tensor | None, warmup: int = 20):
        self.cfg = cfg
        with seeded_rng(cfg):
            self.state = build_state(cfg, x)
        t0 = time.perf_counter()
        self.run(1)
        self.first_s = time.perf_counter() - t0
        self.run(warmup - 1)

    def run(self, steps: int) -> None:
        algorithm1(self.cfg.model_copy(update={"steps": self.state.step + steps}), self.state)

    def rate(self, steps: int) -> float:
        t0 = time.perf_counter()
        self.run(steps)
        return steps / (time.perf_counter() - t0)

    def rate_for(self, seconds: float) -> float:
        """Steps/s over at least `seconds`: one step, then chunks sized from the rate so far,
        so the time stays bounded when a busy machine makes one step take half a second."""
        t0, done, n = time.perf_counter(), 0, 1
        while True:
            self.run(n)
            done += n
            took = time.perf_counter() - t0
            if took >= seconds:
                return done / took
            n = max(1, math.ceil(done / took * (seconds - took)))

    def matmuls(self) -> list[tuple[int, int, int]]:
        """(M, K, N) of every matrix product one iteration runs, forward and backward."""
        with MatmulRecorder() as rec:
            self.run(1)
        return rec.shapes


class MatmulRecorder(TorchDispatchMode):
    """Records the shapes of the mm/addmm calls made inside it (autograd's backward included),
    and of oneDNN's inner products (mkldnn._linear_pointwise: x (M, K) times W^T, W (N, K)),
    which eager layers call where gemm is onednn (training.gemm)."""

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[int, int, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.mm.default:
            a, b = args[0], args[1]
            self.shapes.append((a.shape[0], a.shape[1], b.shape[1]))
        elif func is torch.ops.aten.addmm.default:
            a, b = args[1], args[2]
            self.shapes.append((a.shape[0], a.shape[1], b.shape[1]))
        elif func is torch.ops.mkldnn._linear_pointwise.default:
            x, w = args[0], args[1]
            self.shapes.append((x.numel() // x.shape[-1], x.shape[-1], w.shape[0]))
        return func(*args, **(kwargs or {}))


def flops(shapes: list[tuple[int, int, int]]) -> float:
    return float(sum(2 * m * k * n for m, k, n in shapes))


def matmul_ceiling(shapes: list[tuple[int, int, int]], repeats: int, n: int = 50) -> float:
    """Iterations/s if an iteration were its matrix products alone, back to back on
    preallocated operands: the limit of these shapes on this CPU (median of repeats)."""
    g = torch.Generator().manual_seed(0)
    ops = [
        (torch.randn(m, k, generator=g), torch.randn(k, n_, generator=g), torch.empty(m, n_))
        for m, k, n_ in shapes
    ]
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            for a, b, out in ops:
                torch.mm(a, b, out=out)
        rates.append(n / (time.perf_counter() - t0))
    return _median(rates)


def interleaved_rounds(measures: dict, repeats: int) -> dict[str, list[float]]:
    """`repeats` calls of each measure, interleaved (A B C A B C ...) so that the machine's slow
    drifts fall on all of them alike: every call's value, by name."""
    results = {name: [] for name in measures}
    for _ in range(repeats):
        for name, measure in measures.items():
            results[name].append(measure())
    return results


def interleaved(measures: dict, repeats: int) -> dict[str, float]:
    """The median of each measure's interleaved_rounds."""
    return {name: _median(r) for name, r in interleaved_rounds(measures, repeats).items()}


def paired(before: list[float], after: list[float]) -> float:
    """The median of round-by-round ratios after / before (interleaved_rounds' lists): a
    change's effect with the drift between rounds divided out."""
    return _median([b / a for a, b in zip(before, after, strict=True)])


def peak_rss_mib(steps: int) -> float:
    """Peak RSS of a `ganlab train paper-mnist` subprocess on random MNIST-shaped data.

    Read as the child's VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across
    execve, so a child started by this (by then ~1 GiB) process reported the parent's peak."""
    code = (
        "import re, torch, ganlab;"
        "x = torch.rand(10000, 1, 28, 28);"
        f"ganlab.train('paper-mnist', r'{{out}}', overrides=['data.kind=tensor', 'steps={steps}',"
        "'checkpoint_every=100000', 'sample_every=100000'], data=x, report=False);"
        "print('maxrss_kib', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])"
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


def feature_metrics_seconds(n: int = 10_000) -> dict:
    """Seconds for classifier-feature FID, KID and precision/recall/density/coverage of n
    generated against n real 28x28 images: what `ganlab eval --metrics fid,kid,prdc` computes.
    A randomly initialised reference classifier and random images stand in (timing only: the
    same shapes and FLOPs as the trained one)."""
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(n, 1, 28, 28, generator=g), torch.rand(n, 1, 28, 28, generator=g)
    model = DigitClassifier()
    out = {}
    t0 = time.perf_counter()
    f_real, f_fake = features(model, real), features(model, fake)
    out["features_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    frechet_distance(f_real, f_fake)
    out["fid_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    kernel_distance(f_real, f_fake)
    out["kid_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    precision_recall_density_coverage(f_real, f_fake)
    out["prdc_s"] = time.perf_counter() - t0
    return out


@contextlib.contextmanager
def busy_process():
    """One other process keeping a core busy for the block (a pure-Python loop: no threads of
    its own), killed after; a browser tab or another job does the same to a training run."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "while True:\n    pass"], stdin=subprocess.DEVNULL
    )
    time.sleep(0.3)  # spinning before the clock starts
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def contention(
    configs: dict, default_threads: int, seconds: float, repeats: int, warmup: int = 5
) -> dict[str, dict]:
    """Steps/s of each (cfg, x) alone and beside `busy_process`, on ganlab's thread choice
    (run_threads: what a run of that config sets here) and on `default_threads` (torch's
    default: ganlab before issue 21). Medians of `repeats`, each alone then busy, each rate over
    at least `seconds`. Returns, per config: reason, and per behaviour its threads, alone, busy
    and ratio (busy / alone)."""
    out = {}
    for name, (cfg, x) in configs.items():
        loop = Loop(cfg, x, warmup=warmup)
        choice = run_threads(cfg, loop.state)
        behaviours = {"ganlab": choice.threads, "torch default": default_threads}
        rates = {(b, c): [] for b in behaviours for c in ("alone", "busy")}
        for _ in range(repeats):
            for cond in ("alone", "busy"):
                with busy_process() if cond == "busy" else contextlib.nullcontext():
                    for b, threads in behaviours.items():
                        torch.set_num_threads(threads)
                        loop.run(2)  # the thread pool resized before the clock starts
                        rates[b, cond].append(loop.rate_for(seconds))
        torch.set_num_threads(default_threads)
        row = {"reason": choice.reason}
        for b, threads in behaviours.items():
            alone, busy = _median(rates[b, "alone"]), _median(rates[b, "busy"])
            row[b] = {"threads": threads, "alone": alone, "busy": busy, "ratio": busy / alone}
        out[name] = row
    return out


def contention_configs(paper) -> dict:
    """The demo's config on its ring, and the paper's MLPs at batch 32 (issue 21's cliff) and
    at the preset's 100, on random MNIST-shaped data."""
    x_mnist = torch.rand(10_000, 1, 28, 28)
    return {
        "demo (ring8, m=256)": (load_config("ring8"), None),
        "paper MLPs, batch 32": (paper.model_copy(update={"m": 32}), x_mnist),
        "paper MLPs, batch 100": (paper, x_mnist),
    }


def print_contention(rows: dict[str, dict]) -> float:
    """The table; returns contention: the worst busy/alone ratio on ganlab's choice."""
    print("contention: steps/s alone and beside one busy process (a core spinning)")
    print(f"  {'config':<24} {'threads':<20} {'alone':>7} {'busy':>7} {'busy/alone':>10}")
    for name, row in rows.items():
        for b in ("ganlab", "torch default"):
            r = row[b]
            label = f"{b} {r['threads']}"
            print(
                f"  {name if b == 'ganlab' else '':<24} {label:<20} {r['alone']:7.1f} "
                f"{r['busy']:7.1f} {r['ratio']:10.2f}"
            )
        print(f"  {'':<24} ganlab's reason: {row['reason']}")
    return min(row["ganlab"]["ratio"] for row in rows.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (a few minutes)")
    p.add_argument("--only", choices=["contention"], help="run only this section")
    p.add_argument(
        "--seconds", type=float, help="seconds per contention rate (default 2 quick, 4 full)"
    )
    args = p.parse_args()
    steps, repeats = (100, 3) if args.quick else (300, 7)
    busy_seconds, busy_repeats = (2.0, 2) if args.quick else (4.0, 3)
    busy_seconds = args.seconds or busy_seconds
    configure_cpu()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads, {'quick' if args.quick else 'full'}")
    # eager: the preset's compile: step is one of the loops below
    paper = load_config("paper-mnist", ["data.kind=tensor", "compile=false"])
    if args.only == "contention":
        rows = contention(contention_configs(paper), threads, busy_seconds, busy_repeats)
        print(f"contention={print_contention(rows):.2f}")
        return
    peaks, dnn_peaks = [gemm_peak()], [onednn_peak()]
    print(
        f"fp32 gemm peak at the start: MKL (peak_gemm.py) {peaks[0]:.1f} GFLOP/s, oneDNN "
        f"{dnn_peaks[0]:.1f}"
    )

    # 1. The peer's own configuration: the peer script, ganlab eager and compiled, interleaved.
    x_peer = torch.rand(10_000, 784) * 2 - 1
    peer_cfg = config_from_dict(PEER_CONFIG)
    eager = Loop(peer_cfg, x_peer)
    compiled = Loop(peer_cfg.model_copy(update={"compile": "forwards"}), x_peer)
    step = Loop(peer_cfg.model_copy(update={"compile": "step"}), x_peer)
    r = interleaved(
        {
            "peer": lambda: peer_steps_per_s(steps),
            "eager": lambda: eager.rate(steps),
            "compiled": lambda: compiled.rate(steps),
            "step": lambda: step.rate(steps),
        },
        repeats,
    )
    shapes = eager.matmuls()
    ceiling = matmul_ceiling(shapes, repeats)
    peer = r["peer"]
    print(f"peer loop (batch 64):             {peer:7.1f} steps/s")
    names = {"eager": "eager", "compiled": "forwards", "step": "step"}
    for name, loop in (("eager", eager), ("compiled", compiled), ("step", step)):
        extra = (
            f"; first iteration {loop.first_s:.1f} s, compiling included"
            if loop.cfg.compile
            else ""
        )
        print(
            f"ganlab, same config, {names[name]:<9}    {r[name]:7.1f} steps/s  "
            f"{r[name] / peer:5.2f}x{extra}"
        )
    print(
        f"  its matrix products alone:      {ceiling:7.1f} steps/s  {ceiling / peer:5.2f}x "
        f"({len(shapes)} products, {flops(shapes) / 1e9:.3f} GFLOP per iteration)"
    )
    peer_best = max(("eager", "compiled", "step"), key=r.get)
    speedup = r[peer_best] / peer

    # 2. The paper's MNIST MLPs at batch 100: GFLOP/s against the gemm peak.
    x_mnist = torch.rand(10_000, 1, 28, 28)
    loops = {
        "alternating, eager": Loop(paper, x_mnist),
        "alternating, compiled": Loop(paper.model_copy(update={"compile": "forwards"}), x_mnist),
        "alternating, step": Loop(paper.model_copy(update={"compile": "step"}), x_mnist),
        "simultaneous, eager": Loop(paper.model_copy(update={"update": "simultaneous"}), x_mnist),
        "simultaneous, step": Loop(
            paper.model_copy(update={"update": "simultaneous", "compile": "step"}), x_mnist
        ),
    }
    r = interleaved({k: (lambda loop=loop: loop.rate(steps)) for k, loop in loops.items()}, repeats)
    # the products each update computes, counted on its eager loop (by MKL or oneDNN: the same
    # products, tests/test_speed_paths.py)
    paper_flops = {k: flops(loop.matmuls()) for k, loop in loops.items() if "eager" in k}
    for k in loops:  # a compiled loop computes the same products as its eager one
        paper_flops.setdefault(k, paper_flops[k.split(",")[0] + ", eager"])
    paper_ceiling = matmul_ceiling(loops["alternating, eager"].matmuls(), repeats)
    peaks.append(gemm_peak())
    dnn_peaks.append(onednn_peak())
    # the highest of four measurements (two each): the conservative denominator
    peak = max(*peaks, *dnn_peaks)
    print(
        f"paper MLPs, batch 100 (gemm peak {peak:.1f} GFLOP/s, the highest of MKL's "
        f"{max(peaks):.1f} and oneDNN's {max(dnn_peaks):.1f}, two runs each):"
    )
    for k, rate in r.items():
        gflops = paper_flops[k] * rate / 1e9
        extra = f"; first iteration {loops[k].first_s:.1f} s" if loops[k].cfg.compile else ""
        print(
            f"  {k:<22} {rate:6.1f} steps/s  {paper_flops[k] / 1e9:.2f} GFLOP/step  "
            f"{gflops:6.1f} GFLOP/s = {gflops / peak:.2f} of peak{extra}"
        )
    alt = paper_flops["alternating, eager"]
    print(
        f"  matrix products alone (alternating): {paper_ceiling:6.1f} steps/s = "
        f"{alt * paper_ceiling / 1e9 / peak:.2f} of peak"
    )
    paper_best = max((k for k in r if k.startswith("alternating")), key=r.get)
    peak_fraction = alt * r[paper_best] / 1e9 / peak

    print("paper MLPs, alternating, eager: steps/s by batch size and threads")
    batches = (32, 128, 512) if args.quick else (32, 64, 128, 256, 512, 1024)
    print("  batch " + " ".join(f"{b:>7}" for b in batches))
    thread_counts = (1, threads) if threads > 1 else (1,)
    for t in thread_counts:
        torch.set_num_threads(t)
        row = [
            Loop(paper.model_copy(update={"m": b}), x_mnist, warmup=5).rate(max(20, steps // 4))
            for b in batches
        ]
        print(f"  {t} thr " + " ".join(f"{v:7.1f}" for v in row))
    print("  the same beside one busy process (THREADS_MIN_GFLOP's check):")
    with busy_process():
        for t in thread_counts:
            torch.set_num_threads(t)
            row = [
                Loop(paper.model_copy(update={"m": b}), x_mnist, warmup=3).rate_for(busy_seconds)
                for b in batches
            ]
            print(f"  {t} thr " + " ".join(f"{v:7.1f}" for v in row))
    torch.set_num_threads(threads)

    rss = peak_rss_mib(200 if args.quick else 1000)
    print(f"peak RSS, training paper-mnist: {rss:.0f} MiB")

    pz = parzen_times(1 if args.quick else 3, 10_000)
    parzen_speedup = pz["float64_s"] / pz["fast_s"]
    print(
        f"Parzen (paper protocol): {pz['fast_s']:.2f} s vs float64 direct {pz['float64_s']:.1f} s "
        f"({parzen_speedup:.1f}x), |diff| {pz['diff_nats']:.2e} nats, same sigma: "
        f"{pz['same_sigma']}"
    )
    fm = feature_metrics_seconds()
    print(
        f"classifier-feature metrics, 10k vs 10k images: features {fm['features_s']:.1f} s, "
        f"FID {fm['fid_s']:.2f} s, KID {fm['kid_s']:.2f} s, PRDC {fm['prdc_s']:.1f} s "
        f"(total {sum(fm.values()):.1f} s)"
    )
    rows = contention(contention_configs(paper), threads, busy_seconds, busy_repeats)
    worst = print_contention(rows)
    print(
        f"summary: speedup_vs_peer from ganlab {names[peer_best]}, paper_mlp_peak_fraction "
        f"from {paper_best}"
    )
    print(
        f"speedup_vs_peer={speedup:.2f} paper_mlp_peak_fraction={peak_fraction:.2f} "
        f"parzen_speedup={parzen_speedup:.1f} contention={worst:.2f}"
    )


if __name__ == "__main__":
    main()
