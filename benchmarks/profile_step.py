"""Where an Algorithm 1 iteration spends its time: torch.profiler's table of operators, and the
optimiser step fused against torch's per-tensor loop (the numbers behind benchmarks/README.md's
"what was tried").

    python benchmarks/profile_step.py peer     # the peer's configuration (speed.py), batch 64
    python benchmarks/profile_step.py paper    # the paper's MNIST MLPs, batch 100
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from speed import PEER_CONFIG, Loop
from torch.profiler import ProfilerActivity, profile

from ganlab.config import config_from_dict, load_config
from ganlab.training.runtime import configure_cpu


def optimiser_step_ms(optimizer: torch.optim.Optimizer, repeats: int = 50) -> float:
    """Median milliseconds of optimizer.step() on gradients already in place."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", choices=["peer", "paper"])
    p.add_argument("--steps", type=int, default=50, help="iterations profiled (50)")
    args = p.parse_args()
    configure_cpu()
    if args.config == "peer":
        cfg, x = config_from_dict(PEER_CONFIG), torch.rand(10_000, 784) * 2 - 1
    else:
        paper = ["data.kind=tensor", "compile=false"]  # the eager iteration
        cfg, x = load_config("paper-mnist", paper), torch.rand(10_000, 1, 28, 28)
    loop = Loop(cfg, x)
    print(f"{loop.rate(200):.1f} steps/s over 200 iterations")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loop.run(args.steps)
    print(f"operators over {args.steps} iterations (self CPU time):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))

    # One optimiser step on the last gradients, fused (ganlab) and as torch's per-tensor loop
    # with the same hyperparameters (state copied, so both take the same step).
    for name in ("opt_g", "opt_d"):
        fused = getattr(loop.state, name)
        group = {k: v for k, v in fused.param_groups[0].items() if k not in ("params", "fused")}
        params = fused.param_groups[0]["params"]
        loop_opt = type(fused)(params, **{**group, "foreach": False, "fused": False})
        loop_opt.load_state_dict(fused.state_dict())
        for g in loop_opt.param_groups:
            g["fused"], g["foreach"] = False, False
        print(
            f"{name} ({type(fused).__name__}, {sum(q.numel() for q in params):,} parameters): "
            f"fused {optimiser_step_ms(fused):.2f} ms, per-tensor loop "
            f"{optimiser_step_ms(loop_opt):.2f} ms per step"
        )


if __name__ == "__main__":
    main()
