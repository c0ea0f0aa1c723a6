"""`compile: step` against variants of itself on the peer's configuration, interleaved in one
process: effects of a few percent, which the machine's drift between runs (the peer script alone
moves 81-107 steps/s between speed.py runs, benchmarks/README.md) hides from separate runs.

    python benchmarks/step_variants.py              # 9 rounds of 150 iterations each
    python benchmarks/step_variants.py --rounds 5 --steps 100

Variants (each its own loop, the same compiled graphs):
- current: CompiledIteration as it is;
- keep-grads: the last iteration's gradients held (by .grad) while this iteration's graphs run,
  as before 2026-12-07: their memory cannot be handed to the new gradients, which land in
  memory not in cache.
Prints each variant's median steps/s, its ratio to `current`, and every round's rate.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from speed import PEER_CONFIG, Loop

from ganlab.config import config_from_dict
from ganlab.training.compiled_step import CompiledIteration
from ganlab.training.runtime import configure_cpu

CURRENT = CompiledIteration.__call__


def keep_grads(self, state):
    """The iteration with the last gradients alive until it returns (the old lifetime)."""
    held = [p.grad for p in (*self.g_step.params, *self.d_step.params)]
    out = CURRENT(self, state)
    del held
    return out


VARIANTS = {"current": CURRENT, "keep-grads": keep_grads}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds (9)")
    p.add_argument("--steps", type=int, default=150, help="iterations per rate (150)")
    args = p.parse_args()
    configure_cpu()
    cfg = config_from_dict({**PEER_CONFIG, "compile": "step"})
    x = torch.rand(10_000, 784) * 2 - 1
    loops = {name: Loop(cfg, x) for name in VARIANTS}
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    try:
        for _ in range(args.rounds):
            for name, loop in loops.items():
                CompiledIteration.__call__ = VARIANTS[name]
                rates[name].append(loop.rate(args.steps))
    finally:
        CompiledIteration.__call__ = CURRENT
    base = statistics.median(rates["current"])
    print(f"peer configuration, compile: step, {torch.get_num_threads()} threads")
    for name, r in rates.items():
        med, each = statistics.median(r), " ".join(f"{v:.0f}" for v in r)
        print(f"  {name:<11} {med:6.1f} steps/s  {med / base:5.3f}  ({each})")


if __name__ == "__main__":
    main()
