"""Is SGD with momentum faster inside the compiled graph, right after each weight gradient, than
torch's fused kernel after the graph (what `compile: step` does)? A probe on the paper's MNIST
generator (the paper-mnist preset's G: 100 -> 1200 -> 1200 -> 784, ReLU, sigmoid; 2.5M
parameters) at batch 100, the loss a fixed function of its samples, interleaved in one process:

- after: grad_and_value compiled whole, then fused_step.sgd_step_ (torch's fused kernel) on the
  gradients it returns (compiled_step + fused_step as they are);
- inside: the same graph also updates the momentum buffers and the weights in place
  (buf <- mu buf + g, theta <- theta - lr buf; lr and mu 0-dim tensors, so a schedule would
  not recompile), inductor placing each update after its gradient.

    python benchmarks/sgd_in_graph.py              # 9 rounds of 200 steps
    python benchmarks/sgd_in_graph.py --threads 1

Prints each way's median ms per step, the paired ratio, and the largest difference of the
weights after the same steps (the same arithmetic in another order: float32 rounding).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from ganlab.config import load_config
from ganlab.training.fused_step import sgd_step_
from ganlab.training.gemm import compiling_products
from ganlab.training.runtime import configure_cpu
from ganlab.training.state import build_state, seeded_rng


def generator() -> nn.Module:
    """The paper-mnist preset's G, as ganlab builds it (seeded: two calls give the same)."""
    cfg = load_config("paper-mnist", ["data.kind=tensor"])
    with seeded_rng(cfg):
        return build_state(cfg, torch.rand(100, 1, 28, 28)).G


def loss_of(net: nn.Module, target: torch.Tensor):
    """theta -> L(theta; z): a fixed squared distance of G's samples to `target`."""

    def loss(params: dict, z: torch.Tensor) -> torch.Tensor:
        x = torch.func.functional_call(net, params, (z,))
        return (x - target).square().mean()

    return loss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--gemm", choices=("onednn", "mkl"), default="onednn",
                   help="the graphs' products (training.gemm; default onednn)")  # fmt: skip
    args = p.parse_args()
    configure_cpu(args.threads)
    lr, mu = 0.1, 0.5
    nets = {"after": generator(), "inside": generator()}
    with torch.no_grad():
        target = torch.rand_like(nets["after"](torch.zeros(100, 100)))  # (100, *x_shape)
    state = {}
    for name, net in nets.items():
        params = {k: v.detach() for k, v in net.named_parameters()}
        state[name] = (params, {k: torch.zeros_like(v) for k, v in params.items()})
    grad = torch.func.grad_and_value(loss_of(nets["after"], target))

    def after_graph(params, z):
        return grad(params, z)

    def inside_graph(params, bufs, z, lr_t, mu_t):
        grads, value = grad(params, z)
        for k, g in grads.items():
            bufs[k].mul_(mu_t).add_(g)
            params[k].sub_(lr_t * bufs[k])
        return value

    compiled_after = torch.compile(after_graph, fullgraph=True, dynamic=False)
    compiled_inside = torch.compile(inside_graph, fullgraph=True, dynamic=False)
    lr_t, mu_t = torch.tensor(lr), torch.tensor(mu)

    def step_after(z):
        params, bufs = state["after"]
        grads, _ = compiled_after(params, z)
        names = list(params)
        sgd_step_([params[k] for k in names], [grads[k] for k in names],
                  {"momentum_buffer": [bufs[k] for k in names]}, lr, mu, 0.0)  # fmt: skip

    def step_inside(z):
        params, bufs = state["inside"]
        compiled_inside(params, bufs, z, lr_t, mu_t)

    steps = {"after": step_after, "inside": step_inside}
    gen = torch.Generator().manual_seed(1)
    zs = [torch.rand(100, 100, generator=gen) for _ in range(args.steps)]
    with torch.no_grad():
        for f in steps.values():  # compile, and the same first steps for the comparison
            with compiling_products(args.gemm):
                for z in zs[:5]:
                    f(z)
        a, b = state["after"][0], state["inside"][0]
        diff = max(float((a[k] - b[k]).abs().max()) for k in a)
        times: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(args.rounds):
            for name, f in steps.items():
                t = time.perf_counter()
                for z in zs:
                    f(z)
                times[name].append((time.perf_counter() - t) / args.steps * 1e3)
    paired = statistics.median(i / a for a, i in zip(times["after"], times["inside"], strict=True))
    print(
        f"paper G, batch 100, SGD momentum, gemm {args.gemm}, {torch.get_num_threads()} threads, "
        f"{args.rounds} rounds"
    )
    for name, t in times.items():
        each = " ".join(f"{v:.2f}" for v in t)
        print(f"  {name:<7} {statistics.median(t):6.3f} ms per step ({each})")
    print(
        f"  inside / after: {paired:.3f} (paired median); weights after 5 steps differ by "
        f"{diff:.1e}"
    )


if __name__ == "__main__":
    main()
