"""Small measurements behind benchmarks/README.md's account of where `compile: step`'s time goes
on the peer configuration (issue 21, part 1). Each prints its numbers; run alone.

    python benchmarks/probes.py products     # G's forward products: two 64-row against one 128-row
    python benchmarks/probes.py pairs        # backward (dX, dW) pairs: one after the other on 2
                                             # threads against two 1-thread streams
    python benchmarks/probes.py bandwidth    # read bandwidth by working-set size
    python benchmarks/probes.py pieces       # the iteration's pieces, timed in training, with and
                                             # without the optimiser steps [--config paper]
    python benchmarks/probes.py hugepages    # steps/s with and without huge pages (subprocesses)
    python benchmarks/probes.py state-check  # the Stepper's check that its kept state is current
    python benchmarks/probes.py packed       # MKL's packed GEMM against addmm, and the packing
    python benchmarks/probes.py after-product  # an elementwise kernel alone and after a product
    python benchmarks/probes.py random-words # torch's CPU generator: floats against integers
    python benchmarks/probes.py masks        # dropout masks as floats, integers or hashed
                                             # counters, in training
    python benchmarks/probes.py layouts      # each linear layer's three products, row-major
                                             # against feature-major activations
    python benchmarks/probes.py cpp-gemm     # inductor's C++ GEMM template against MKL's, in
                                             # a compiled forward and backward of the peer's G
    python benchmarks/probes.py onednn       # each layer's products by MKL against oneDNN
    python benchmarks/probes.py eager-gemm   # eager training, gemm mkl against onednn
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import torch
from speed import PEER_CONFIG, Loop, interleaved_rounds, paired

from ganlab.config import config_from_dict, load_config
from ganlab.models import mlp
from ganlab.training import compiled_step, fused_step
from ganlab.training.runtime import configure_cpu

# The peer generator's linear layers (in, out) and its discriminator's.
G_LAYERS = [(100, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]
D_LAYERS = [(784, 512), (512, 256)]


def median_us(f: Callable[[], object], n: int = 50, repeats: int = 9) -> float:
    """Median over `repeats` of the mean microseconds of n calls (after 20 warm-up calls)."""
    for _ in range(20):
        f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            f()
        times.append((time.perf_counter() - t0) / n)
    return 1e6 * statistics.median(times)


def products() -> None:
    """Algorithm 1's D step and G step both run G at the same parameters: as one 128-row
    product per layer instead of two 64-row ones."""
    two_total = one_total = 0.0
    for k, n in G_LAYERS:
        w, b = torch.randn(n, k), torch.randn(n)
        o64, o128 = torch.empty(64, n), torch.empty(128, n)
        x1, x2, x = torch.randn(64, k), torch.randn(64, k), torch.randn(128, k)
        two = median_us(functools.partial(_addmm_each, b, w, [(x1, o64), (x2, o64)]))
        one = median_us(functools.partial(_addmm_each, b, w, [(x, o128)]))
        two_total, one_total = two_total + two, one_total + one
        print(f"  {k}x{n}: two 64-row {two:7.1f} us, one 128-row {one:7.1f} us")
    print(
        f"G's five layers: two 64-row {two_total / 1e3:.2f} ms, one 128-row {one_total / 1e3:.2f}"
    )


def _addmm_each(b: torch.Tensor, w: torch.Tensor, inputs: list) -> None:
    for x, out in inputs:
        torch.addmm(b, x, w.t(), out=out)


def pairs() -> None:
    """A linear layer's backward products dX = dY W and dW = dY^T h are independent: both on
    two threads one after the other, against one 1-thread stream each (no synchronisation
    between the streams: the best case)."""
    ops = []
    for k, n in G_LAYERS[1:] + D_LAYERS:
        dy, w, h = torch.randn(64, n), torch.randn(n, k), torch.randn(64, k)
        ops.append((dy, w, h, torch.empty(64, k), torch.empty(n, k)))

    def dx_all():
        for dy, w, _, dx, _ in ops:
            torch.mm(dy, w, out=dx)

    def dw_all():
        for dy, _, h, _, dw in ops:
            torch.mm(dy.t(), h, out=dw)

    def stream(f: Callable[[], None], n: int) -> None:
        torch.set_num_threads(1)
        for _ in range(n):
            f()

    def streams(n: int = 200) -> float:
        threads = [threading.Thread(target=stream, args=(f, n)) for f in (dx_all, dw_all)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return 1e3 * (time.perf_counter() - t0) / n

    for _ in range(3):
        torch.set_num_threads(2)
        sequential = median_us(lambda: (dx_all(), dw_all()), repeats=3) / 1e3
        print(f"{len(ops)} pairs: one after the other on 2 threads {sequential:.3f} ms, "
              f"two 1-thread streams {streams():.3f} ms")  # fmt: skip
    torch.set_num_threads(2)


def bandwidth() -> None:
    """GB/s of summing a float32 tensor of each size, again and again (2 threads)."""
    for mb in (1, 2, 4, 8, 16, 32, 64, 128, 256):
        x = torch.ones(mb * 2**20 // 4)
        us = median_us(x.sum, n=max(3, 500 // mb), repeats=5)
        print(f"  {mb:4d} MB: {mb / 1024 / (us / 1e6):6.1f} GB/s")


def pieces(steps: int = 300, config: str = "peer") -> None:
    """Milliseconds per iteration of each piece of `compile: step`'s iteration (D's graph, G's
    graph, each optimiser step, noise, minibatch), timed around the calls in training; then the
    same with the optimiser steps skipped (training then goes nowhere: only the times count).
    The peer configuration, or with `--config paper` the paper's MLPs (paper-mnist, batch 100)."""
    if config == "paper":
        cfg = load_config("paper-mnist", ["data.kind=tensor", "compile=step"])
        # a third of the steps: its iteration takes 2.4-2.9x the peer's
        loop, steps = Loop(cfg, torch.rand(10_000, 1, 28, 28)), steps // 3
    else:
        cfg = config_from_dict({**PEER_CONFIG, "compile": "step"})
        loop = Loop(cfg, torch.rand(10_000, 784) * 2 - 1)
    times: dict[str, float] = collections.defaultdict(float)
    skip = [False]
    update_call, stepper_step = compiled_step.CompiledUpdate.__call__, fused_step.Stepper.step

    def timed_update(self, *args):
        t0 = time.perf_counter()
        out = update_call(self, *args)
        times[f"graph {self.update.__name__}"] += time.perf_counter() - t0
        return out

    def timed_step(self, grads):
        t0 = time.perf_counter()
        if not skip[0]:
            stepper_step(self, grads)
        times[f"step, {len(grads)} tensors"] += time.perf_counter() - t0

    def timed(name, f):
        @functools.wraps(f)
        def g(*a):
            t0 = time.perf_counter()
            out = f(*a)
            times[name] += time.perf_counter() - t0
            return out

        return g

    prior, data = loop.state.prior, loop.state.data
    prior.sample, data.sample = timed("noise", prior.sample), timed("minibatch", data.sample)
    compiled_step.CompiledUpdate.__call__, fused_step.Stepper.step = timed_update, timed_step
    try:
        for skip[0] in (False, True):
            loop.run(50)
            times.clear()
            t0 = time.perf_counter()
            loop.run(steps)
            total = time.perf_counter() - t0
            print("without the optimiser steps:" if skip[0] else "as trained:")
            for name, t in sorted(times.items(), key=lambda kv: -kv[1]):
                print(f"  {name:<22} {1e3 * t / steps:6.3f} ms")
            print(
                f"  {'iteration':<22} {1e3 * total / steps:6.3f} ms ({steps / total:.1f} steps/s)"
            )
    finally:
        compiled_step.CompiledUpdate.__call__, fused_step.Stepper.step = update_call, stepper_step
    # the same draws back to back, where nothing else runs between them to evict their memory
    draw = functools.partial(prior.sample.__wrapped__, cfg.m)
    print(f"  noise alone, back to back: {2 * median_us(draw) / 1e3:6.3f} ms (two draws)")


def rate() -> None:
    """steps/s of `compile: step` on the peer configuration (median of 5 x 200), and how much
    of this process lies in huge pages (what `hugepages` compares)."""
    loop = Loop(config_from_dict({**PEER_CONFIG, "compile": "step"}), torch.rand(10_000, 784))
    loop.run(100)
    r = statistics.median(loop.rate(200) for _ in range(5))
    with open("/proc/self/smaps_rollup") as f:
        huge = next((line.split()[1] for line in f if line.startswith("AnonHugePages")), "?")
    print(f"{r:.1f} steps/s, {huge} kB in huge pages")


def hugepages(rounds: int = 2) -> None:
    """`rate` in fresh processes, alternately without and with THP_MEM_ALLOC_ENABLE=1 (torch's
    CPU allocator then asks for 2 MB pages; read at its first allocation, so per process)."""
    for _ in range(rounds):
        for thp in ("0", "1"):
            env = {**os.environ, "THP_MEM_ALLOC_ENABLE": thp}
            out = subprocess.run(
                [sys.executable, __file__, "rate"], env=env, capture_output=True, text=True,
                check=True,
            ).stdout.strip().splitlines()[-1]  # fmt: skip
            print(f"  THP_MEM_ALLOC_ENABLE={thp}: {out}")


def state_check() -> None:
    """Microseconds of fused_step.Stepper's check, each step, that the optimiser still holds the
    state tensors it kept (the peer configuration's G and D, Adam after one step)."""
    cfg = config_from_dict({**PEER_CONFIG, "compile": "step"})
    loop = Loop(cfg, torch.rand(1_000, 784), warmup=2)
    for name, opt, ocfg in (("G", loop.state.opt_g, cfg.g_optimizer),
                            ("D", loop.state.opt_d, cfg.d_optimizer)):  # fmt: skip
        stepper = fused_step.Stepper(opt, ocfg)
        stepper.state()
        tensors = len(stepper.params) * len(stepper.fresh)
        print(f"  {name}: {median_us(stepper.current, n=2000):.1f} us ({tensors} tensors)")


def packed() -> None:
    """MKL's packed GEMM (torch.ops.mkl._mkl_linear on a weight packed for the batch size, as
    inductor's freezing does for inference) against addmm, and the packing's own cost: a
    training step must repack every weight after each update."""
    for m, k, n in ((64, 1024, 784), (64, 512, 1024), (64, 784, 512), (128, 784, 512),
                    (100, 1200, 1200), (100, 784, 1200)):  # fmt: skip
        x, w, b = torch.randn(m, k), torch.randn(n, k), torch.randn(n)
        pw = torch.ops.mkl._mkl_reorder_linear_weight(w, m)
        plain = median_us(lambda: torch.addmm(b, x, w.t()))  # noqa: B023 (called at once)
        fast = median_us(lambda: torch.ops.mkl._mkl_linear(x, pw, w, b, m))  # noqa: B023
        pack = median_us(lambda: torch.ops.mkl._mkl_reorder_linear_weight(w, m))  # noqa: B023
        diff = (torch.ops.mkl._mkl_linear(x, pw, w, b, m) - torch.addmm(b, x, w.t())).abs().max()
        print(f"  {m}x{k}x{n}: addmm {plain:.0f} us, packed {fast:.0f} us, packing {pack:.0f} "
              f"us; largest difference {diff:.1e}")  # fmt: skip


def after_product(n: int = 1000) -> None:
    """An elementwise kernel (tanh on the peer G's 64x784 output) alone, and right after the
    1024 -> 784 product, on its output and on an unrelated tensor, on 1 and 2 threads: the
    product's 3.2 MB weight passes through the 2 MB L2 and evicts what the kernel reads."""
    x, w, b = torch.randn(64, 1024), torch.randn(784, 1024) * 0.03, torch.randn(784)
    y, other, out = torch.empty(64, 784), torch.randn(64, 784), torch.empty(64, 784)
    for threads in (2, 1):
        torch.set_num_threads(threads)
        alone = median_us(lambda: torch.tanh(other, out=out), n=n)
        for name, src in (("its output", y), ("another tensor", other)):
            total = 0.0
            for i in range(n + 50):
                torch.addmm(b, x, w.t(), out=y)
                t0 = time.perf_counter()
                torch.tanh(src, out=out)
                total += (time.perf_counter() - t0) if i >= 50 else 0.0
            print(f"  {threads} thread(s): tanh alone {alone:.1f} us, after the product on "
                  f"{name} {1e6 * total / n:.1f} us")  # fmt: skip
    torch.set_num_threads(2)


def random_words(n: int = 252_800) -> None:
    """Torch's CPU generator (one thread, mt19937) filling n numbers - one paper-MNIST D
    update's dropout masks - as floats (torch.rand, what models.mlp.Dropout drew until
    2026-12-07), as 31-bit integers (filled in place, or by randint, which a compiled graph can
    trace), and as 63-bit words (two 31-bit masks each)."""
    f, i32, i64 = torch.empty(n), torch.empty(n, dtype=torch.int32), torch.empty(n // 2).long()
    fills = {"uniform_ floats": f.uniform_, "int32 random_": i32.random_,
             "int32 randint": lambda: torch.randint(0, 2**31, (n,), dtype=torch.int32),
             "int64 random_ (n/2)": i64.random_, "normal_ floats": f.normal_}  # fmt: skip
    for name, fill in fills.items():
        print(f"  {name}: {median_us(fill, n=100):.0f} us")


def masks(rounds: int = 7, steps: int = 60) -> None:
    """steps/s of `compile: step` with dropout masks as torch.rand floats (ganlab's Dropout
    until 2026-12-07), as 31-bit integers (randint on int32, kept where >= p * 2^31) and as
    models.mlp.Dropout draws them now, hashed counters (two 32-bit keys from torch's generator
    per call, each entry's index hashed twice: inductor fuses the hash into the kernels around
    it), interleaved in one process. The paper's MLPs (D's dropout); the peer configuration has
    none."""
    hashed = mlp.Dropout.forward

    def floats(self, x):
        if not self.training or self.p == 0:
            return x
        return x * (torch.rand(x.shape) < 1.0 - self.p) * (1.0 / (1.0 - self.p))

    def integers(self, x):
        if not self.training or self.p == 0:
            return x
        # randint, not random_(): dynamo cannot trace Tensor.random_ (the update then trains
        # eagerly, with a warning)
        words = torch.randint(0, 2**31, x.shape, dtype=torch.int32)
        return x * (words >= round(self.p * 2**31)) * (1.0 / (1.0 - self.p))

    variants = (("float masks", floats), ("integer masks", integers), ("hashed masks", hashed))
    x, loops = torch.rand(10_000, 1, 28, 28), {}
    for i, (name, forward) in enumerate(variants):
        mlp.Dropout.forward = forward
        # log_every (not part of the graphs) differs so that each variant compiles its own
        # graphs: compiled_step caches them by the config
        overrides = ["data.kind=tensor", "compile=step", f"log_every={i + 1}"]
        cfg = load_config("paper-mnist", overrides)
        loops[name] = (Loop(cfg, x), forward)
    rates: dict[str, list[float]] = {name: [] for name in loops}
    try:
        for _ in range(rounds):
            for name, (loop, forward) in loops.items():
                mlp.Dropout.forward = forward
                rates[name].append(loop.rate(steps))
    finally:
        mlp.Dropout.forward = hashed
    base = statistics.median(rates["float masks"])
    for name, r in rates.items():
        rate, each = statistics.median(r), ", ".join(f"{v:.1f}" for v in r)
        print(f"  {name:<14} {rate:6.2f} steps/s ({rate / base:.3f}); rounds {each}")


def layouts() -> None:
    """Each linear layer of the peer's iteration (G's on 64 rows, D's on 128 and 64) as its
    three products - forward, dX, dW - with activations row-major (m, k), as now: y = b + x W^T,
    dX = dY W, dW = dY^T x; and feature-major (k, m): y^T = b + W x^T, dX^T = W^T dY^T,
    dW = dY^T x. The same arithmetic, other operand orders for MKL."""
    _each_layer(_layer_products, "row-major", "feature-major")


def _each_layer(times_of, first: str, second: str) -> None:
    """Each linear layer of the peer's iteration (G's on 64 rows, D's on 128 and 64) timed two
    ways, times_of(m, k, n) -> {first: us, second: us}: a line per layer, then the totals."""
    total = {first: 0.0, second: 0.0}
    for m, layers in ((64, G_LAYERS), (128, D_LAYERS), (64, D_LAYERS)):
        for k, n in layers:
            times = times_of(m, k, n)
            for name, t in times.items():
                total[name] += t
            a, b = times[first], times[second]
            print(f"  m={m} {k}->{n}: {first} {a:7.1f} us, {second} {b:7.1f} us ({b / a:.3f})")
    a, b = total[first], total[second]
    print(f"all: {first} {a / 1e3:.2f} ms, {second} {b / 1e3:.2f} ms ({b / a:.3f})")


def _layer_products(m: int, k: int, n: int) -> dict[str, float]:
    """Microseconds of one layer's three products in each layout (layouts' docstring)."""
    x, w, b, dy = torch.randn(m, k), torch.randn(n, k), torch.randn(n), torch.randn(m, n)
    xt, dyt, bt = x.t().contiguous(), dy.t().contiguous(), b[:, None]
    row = [lambda: torch.addmm(b, x, w.t()), lambda: dy @ w, lambda: dy.t() @ x]
    feature = [lambda: torch.addmm(bt, w, xt), lambda: w.t() @ dyt, lambda: dyt @ xt.t()]
    return {
        name: sum(median_us(f, n=100) for f in fs)
        for name, fs in (("row-major", row), ("feature-major", feature))
    }


def cpp_gemm(rounds: int = 9) -> None:
    """The peer G's forward and backward (functional, compiled whole as compile: step does)
    with MKL's products, and with inductor's C++ GEMM template allowed for weights that are
    graph inputs (torch 2.13 requires constant weights: `require_constant_mat2` lifted here)
    and chosen by max_autotune where it times faster; interleaved, median ms."""
    from torch._inductor import config as inductor_config
    from torch._inductor import utils as inductor_utils
    from torch._inductor.kernel import mm as inductor_mm

    sizes = [k for k, _ in G_LAYERS] + [G_LAYERS[-1][1]]
    ws = [torch.randn(n, k) * 0.05 for k, n in G_LAYERS]
    bs = [torch.zeros(n) for _, n in G_LAYERS]
    z = torch.randn(64, sizes[0])

    def grads(ws, bs, z):
        def loss(ws):
            h = z
            for w, b in zip(ws, bs, strict=True):
                h = torch.nn.functional.leaky_relu(torch.addmm(b, h, w.t()), 0.2)
            return h.square().mean()

        return torch.func.grad_and_value(loss)(ws)

    original = inductor_utils.use_cpp_gemm_template

    def any_weight(*args, **kwargs):
        return original(*args, **{**kwargs, "require_constant_mat2": False})

    with torch.no_grad():
        mkl = torch.compile(grads, fullgraph=True, dynamic=False)
        mkl(ws, bs, z)
        inductor_utils.use_cpp_gemm_template = inductor_mm.use_cpp_gemm_template = any_weight
        try:
            autotune = {"max_autotune": True, "max_autotune_gemm_backends": "CPP,ATEN"}
            with inductor_config.patch(autotune):
                template = torch.compile(lambda *a: grads(*a), fullgraph=True, dynamic=False)
                t0 = time.perf_counter()
                template(ws, bs, z)
                took = time.perf_counter() - t0
                print(f"  compiling with the template's autotuning: {took:.0f} s")
        finally:
            inductor_utils.use_cpp_gemm_template = inductor_mm.use_cpp_gemm_template = original
        times: dict[str, list[float]] = {"MKL": [], "template": []}
        for _ in range(rounds):
            for name, f in (("MKL", mkl), ("template", template)):
                times[name].append(median_us(lambda f=f: f(ws, bs, z), n=50, repeats=1) / 1e3)
    a, t = statistics.median(times["MKL"]), statistics.median(times["template"])
    print(f"  G forward and backward: MKL {a:.3f} ms, C++ template {t:.3f} ms ({t / a:.3f})")


def onednn() -> None:
    """Each linear layer's three products (layouts' docstring, row-major) by MKL (torch's sgemm)
    against oneDNN's fp32 inner product (mkldnn._linear_pointwise, the kernel inductor's CPU
    fusions call), on dense operands: is oneDNN faster on these small (64-, 128-row) shapes?"""
    _each_layer(_mkl_onednn, "MKL", "oneDNN")


def _mkl_onednn(m: int, k: int, n: int) -> dict[str, float]:
    """Microseconds of one layer's forward, dX and dW products by MKL and by oneDNN."""
    lin = torch.ops.mkldnn._linear_pointwise
    x, w, b, dy = torch.randn(m, k), torch.randn(n, k), torch.randn(n), torch.randn(m, n)
    # dX = dY W = linear(dY, W^T), dW = dY^T x = linear(dY^T, x^T): oneDNN takes the weight
    # operand as (out, in), so the transposes are made once, outside the timing.
    wt, dyt, xt = w.t().contiguous(), dy.t().contiguous(), x.t().contiguous()
    mkl = [lambda: torch.addmm(b, x, w.t()), lambda: dy @ w, lambda: dy.t() @ x]
    dnn = [lambda: lin(x, w, b, "none", [], ""), lambda: lin(dy, wt, None, "none", [], ""),
           lambda: lin(dyt, xt, None, "none", [], "")]  # fmt: skip
    return {
        name: sum(median_us(f, n=100) for f in fs) for name, fs in (("MKL", mkl), ("oneDNN", dnn))
    }


def eager_gemm(rounds: int = 5) -> None:
    """steps/s of eager training (compile: false) with gemm: mkl against gemm: onednn (G's and
    D's Linear layers by oneDNN, training.gemm.eager_products), interleaved in one process: the
    peer's configuration, the paper's MLPs (alternating and simultaneous) and the demo's ring8
    (whose small layers stay MKL's)."""
    paper = load_config("paper-mnist", ["data.kind=tensor", "compile=false"])
    mnist = torch.rand(10_000, 1, 28, 28)
    configs = {
        "peer": (config_from_dict(PEER_CONFIG), torch.rand(10_000, 784) * 2 - 1, 60),
        "paper": (paper, mnist, 20),
        "paper, simultaneous": (paper.model_copy(update={"update": "simultaneous"}), mnist, 20),
        "demo": (load_config("ring8"), None, 200),
    }
    loops = {
        (name, gemm): (Loop(cfg.model_copy(update={"gemm": gemm}), x, warmup=5), steps)
        for name, (cfg, x, steps) in configs.items()
        for gemm in ("mkl", "onednn")
    }
    measures = {key: functools.partial(loop.rate, steps) for key, (loop, steps) in loops.items()}
    rates = interleaved_rounds(measures, rounds)
    for name in configs:
        a, b = rates[(name, "mkl")], rates[(name, "onednn")]
        mkl, dnn = statistics.median(a), statistics.median(b)
        print(f"  {name:<19} mkl {mkl:6.1f} steps/s, onednn {dnn:6.1f} "
              f"({paired(a, b):.2f}x paired, {rounds} rounds)")  # fmt: skip


PROBES = {"products": products, "pairs": pairs, "bandwidth": bandwidth, "pieces": pieces,
          "hugepages": hugepages, "rate": rate, "state-check": state_check, "packed": packed,
          "after-product": after_product, "random-words": random_words, "masks": masks,
          "layouts": layouts, "cpp-gemm": cpp_gemm, "onednn": onednn,
          "eager-gemm": eager_gemm}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("probe", choices=PROBES)
    p.add_argument("--config", choices=("peer", "paper"), default="peer", help="for pieces")
    args = p.parse_args()
    configure_cpu(2)
    if args.probe == "pieces":
        PROBES[args.probe](config=args.config)
    else:
        PROBES[args.probe]()


if __name__ == "__main__":
    main()
