"""Where an Algorithm 1 iteration spends its time: torch.profiler's table of operators, the
same time summed by kind (matrix products, optimiser, random numbers, the rest), the limit set
by the products and the optimiser alone, and the optimiser step fused against torch's
per-tensor loop (the numbers behind benchmarks/README.md's "what was tried").

    python benchmarks/profile_step.py peer                  # the peer's configuration, batch 64
    python benchmarks/profile_step.py paper                 # the paper's MNIST MLPs, batch 100
    python benchmarks/profile_step.py peer --compile step --threads 1 --peer
    python benchmarks/profile_step.py peer --compile step --threads 2 --kernels --rows 60
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from speed import BENCH, PEER_CONFIG, Loop, matmul_ceiling
from torch.profiler import ProfilerActivity, profile

from ganlab.config import config_from_dict, load_config
from ganlab.training import compiled_step, fused_step
from ganlab.training.runtime import configure_cpu

# Operator names by kind; whatever matches none is "the rest" (elementwise kernels - eager
# aten ops or inductor's fused ones -, dynamo's guards, autograd's and the step's Python).
KINDS = {
    # oneDNN's inner product: gemm onednn's products (training.gemm), eager and compiled
    "matrix products": re.compile(r"^aten::(mm|addmm|bmm|matmul|linear)$|^mkldnn::_linear_point"),
    "optimiser": re.compile(r"^aten::_fused_(adam|adamw|sgd)_$|^Optimizer\.step"),
    "random numbers": re.compile(r"^aten::(bernoulli_?|normal_|uniform_|randn|rand)$"),
    # rows of their own only with --kernels (inductor's per-kernel records); else in the rest
    "compiled kernels": re.compile(r"^graph_\d+_cpp_"),
    "copies": re.compile(r"^aten::copy_$"),
}


def median_ms(step: Callable[[], None], repeats: int = 50) -> float:
    """Median milliseconds of `step()` (an optimiser's step on gradients already in place)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def by_kind(events, steps: int) -> dict[str, float]:
    """Milliseconds per iteration of each kind of operator (self CPU time, so nothing counted
    twice: a product inside a compiled graph counts as a product, the graph's own wrapper as
    the rest)."""
    out = {k: 0.0 for k in (*KINDS, "the rest")}
    for e in events:
        kind = next((k for k, pat in KINDS.items() if pat.search(e.key)), "the rest")
        out[kind] += e.self_cpu_time_total / 1e3 / steps
    return out


def peer_rate(threads: int, steps: int = 300) -> float:
    """The peer script's steps/s on `threads` threads (its batch 64)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, str(BENCH / "peer_vanilla_gan.py"), str(steps), "64"],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return float(re.search(r"steps_per_s ([\d.]+)", out.stdout)[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", choices=["peer", "paper"])
    p.add_argument("--steps", type=int, default=50, help="iterations profiled (50)")
    p.add_argument("--compile", choices=["false", "forwards", "step"], default="false")
    p.add_argument("--update", choices=["alternating", "simultaneous"], default="alternating")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--peer", action="store_true", help="also time the peer script, same threads")
    p.add_argument("--rows", type=int, default=15, help="rows of the operator table (15)")
    p.add_argument(
        "--kernels",
        action="store_true",
        help="compiled graphs' kernels each as a row (inductor's cpp.enable_kernel_profile; "
        "compiles afresh: it is part of inductor's cache key)",
    )
    args = p.parse_args()
    if args.kernels:
        import torch._inductor.config as inductor_config

        inductor_config.cpp.enable_kernel_profile = True
    configure_cpu(args.threads)
    if args.compile == "step":
        # inductor's C++ wrapper hides the graph's products and kernels from the profiler (one
        # call); the generated-Python wrapper shows them, with Python between the kernels
        compiled_step.CPP_WRAPPER = False
    threads = torch.get_num_threads()
    compile_ = False if args.compile == "false" else args.compile
    if args.config == "peer":
        cfg, x = config_from_dict(PEER_CONFIG), torch.rand(10_000, 784) * 2 - 1
    else:
        cfg, x = load_config("paper-mnist", ["data.kind=tensor"]), torch.rand(10_000, 1, 28, 28)
    cfg = cfg.model_copy(update={"compile": compile_, "update": args.update})
    loop = Loop(cfg, x)
    rate = statistics.median(loop.rate(100) for _ in range(3))
    print(
        f"{args.config}, {args.update}, compile={args.compile}, {threads} thread(s): "
        f"{rate:.1f} steps/s (median of 3 x 100 iterations; first {loop.first_s:.1f} s)"
    )
    if args.peer:
        peer = peer_rate(threads)
        print(f"peer script on {threads} thread(s): {peer:.1f} steps/s; ratio {rate / peer:.2f}")

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loop.run(args.steps)
    events = prof.key_averages()
    print(f"operators over {args.steps} iterations (self CPU time):")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.rows))
    kinds = by_kind(events, args.steps)
    print("per iteration, by kind (under the profiler, which adds to the rest):")
    for k, ms in kinds.items():
        print(f"  {k:<16} {ms:6.2f} ms")
    # the products recorded on an eager loop of the same config (the same products: a
    # compiled graph runs them where a dispatch mode does not see them)
    eager = loop if not compile_ else Loop(cfg.model_copy(update={"compile": False}), x, 1)
    products = 1e3 / matmul_ceiling(eager.matmuls(), repeats=3)
    floor = products + kinds["optimiser"]
    print(
        f"the products alone, back to back: {products:.2f} ms; with the optimiser "
        f"{floor:.2f} ms: at most {1e3 / floor:.1f} iterations/s "
        f"({1e3 / rate:.2f} ms measured)"
    )

    # One optimiser step on the last gradients: fused (ganlab's optimiser.step()), the same
    # fused kernel called directly (compile: step's Stepper: why it does not call .step()), and
    # torch's per-tensor loop with the same hyperparameters (state copied: the same step).
    for name in ("opt_g", "opt_d"):
        fused = getattr(loop.state, name)
        # compile: step's step, as CompiledIteration calls it: the kernel on the .grad
        stepper = fused_step.Stepper(fused, getattr(cfg, f"{name[-1]}_optimizer"))
        grads = [q.grad for q in stepper.params]
        direct = median_ms(lambda stepper=stepper, g=grads: stepper.step(g))
        group = {k: v for k, v in fused.param_groups[0].items() if k not in ("params", "fused")}
        params = fused.param_groups[0]["params"]
        loop_opt = type(fused)(params, **{**group, "foreach": False, "fused": False})
        loop_opt.load_state_dict(fused.state_dict())
        for g in loop_opt.param_groups:
            g["fused"], g["foreach"] = False, False
        print(
            f"{name} ({type(fused).__name__}, {sum(q.numel() for q in params):,} parameters): "
            f"fused {median_ms(fused.step):.2f} ms, its kernel called directly {direct:.2f} "
            f"ms, per-tensor loop {median_ms(loop_opt.step):.2f} ms per step"
        )


if __name__ == "__main__":
    main()
