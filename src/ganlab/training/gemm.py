"""Which library multiplies a run's fp32 CPU matrices, eager layers' and `compile: step`'s
graphs': MKL or oneDNN.

torch multiplies fp32 matrices on the CPU with MKL's sgemm. MKL dispatches its AVX-512
kernels on Intel CPUs only: on an AMD CPU that has AVX-512 it runs its AVX2 kernels, half the
FLOPs the cores can do. oneDNN, which torch also carries (for convolutions and inductor's CPU
fusions), picks its kernels by the CPU's instruction sets alone. On such a machine (AMD EPYC,
family 26, 2 cores) `python benchmarks/probes.py onednn` ran every product of the peer
configuration's iteration, forward, dX and dW, in 0.49 of MKL's time, at the same float32
accuracy (benchmarks/README.md).

`gemm: auto` (the default) takes oneDNN on an AMD CPU with AVX-512 and MKL everywhere else
(torch's choice, where oneDNN was not measured to win); `gemm: onednn` / `mkl` choose. The
choice is a function of the config and the CPU, never of a timing, so the same seed on the same
machine gives the same numbers; meta.json records it and why (`gemm`, `gemm_reason`).

How: an inductor pass over each compiled update's graph after autograd (post-grad) replaces
every aten.mm / aten.addmm on float32 CPU tensors by oneDNN's inner product,
mkldnn._linear_pointwise (a @ b + bias = linear(a, b^T, bias)), and while the graph compiles
inductor calls that op as it is (a fallback kernel) instead of its own lowering of it, which is
made for inference (weights packed once, as constants) and refuses a weight that changes every
step. A torch.library custom op in its place cost ~29 us of Python a call (33 calls an
iteration of the peer configuration).

Eagerly (compile: false, or step where it cannot compile): while algorithm1's loop runs, each
nn.Linear of G and D is an OneDNNLinear (eager_products swaps the class back after), whose
forward and backward products of at least EAGER_MIN_MACS multiply-adds are oneDNN's inner
product (OneDNNLinearFunction). `python benchmarks/probes.py eager-gemm` (2 threads, 5 paired
rounds): the peer configuration 1.31x, the paper MLPs 1.46x, the demo's small layers (kept
MKL's) 0.98x.
compile: forwards keeps torch's products, and so do runs with R1, R2 or the gradient penalty,
which differentiate D's gradient again (once_differentiable here).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable


class GemmChoice(NamedTuple):
    """The library of a run's compiled fp32 CPU products and why (meta.json's gemm,
    gemm_reason)."""

    gemm: str  # "mkl" or "onednn"
    reason: str


@functools.cache
def cpu_features() -> tuple[str, bool]:
    """(vendor, AVX-512) of this machine's CPU (cpuinfo_features of /proc/cpuinfo); ("", False)
    where the file cannot be read (not Linux)."""
    try:
        return cpuinfo_features(Path("/proc/cpuinfo").read_text(errors="replace"))
    except OSError:
        return "", False


def cpuinfo_features(text: str) -> tuple[str, bool]:
    """(vendor_id, whether the flags hold avx512f) of the first CPU of a /proc/cpuinfo text."""
    first = text.split("\n\n", 1)[0]
    fields = dict(
        (k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in first.split("\n"))
    )
    return fields.get("vendor_id", ""), "avx512f" in fields.get("flags", "").split()


def choose_gemm(
    setting: str,
    compile: str | bool,
    device: str = "cpu",
    cpu: tuple[str, bool] | None = None,
    onednn: bool | None = None,
    penalties: bool = False,
) -> GemmChoice:
    """The products' library for a run: `setting` (config gemm: auto, mkl, onednn), its compile
    mode (False: eager, "forwards", "step"; True: "step"), its device, its CPU (vendor,
    AVX-512), whether this torch has oneDNN (None: torch.backends.mkldnn says) and whether its
    regularizers differentiate D's gradient again (R1, R2, the gradient penalty)."""
    if device != "cpu":
        return GemmChoice("mkl", f"training on {device}: the products are its own")
    if compile == "forwards":
        return GemmChoice("mkl", "compile: forwards: inductor's graphs keep torch's products (MKL)")
    if penalties:
        return GemmChoice(
            "mkl", "gradient penalties differentiate D's gradient again: torch's products (MKL)"
        )
    if setting == "mkl":
        return GemmChoice("mkl", "gemm: mkl")
    if not (torch.backends.mkldnn.is_available() if onednn is None else onednn):
        return GemmChoice("mkl", f"gemm: {setting}, but this torch build has no oneDNN: MKL")
    if setting != "auto":
        return GemmChoice(setting, f"gemm: {setting}")
    vendor, avx512 = cpu_features() if cpu is None else cpu
    if vendor == "AuthenticAMD" and avx512:
        return GemmChoice(
            "onednn", "auto: an AMD CPU with AVX-512, where MKL runs its AVX2 kernels and oneDNN "
            "its AVX-512 ones"
        )  # fmt: skip
    return GemmChoice("mkl", f"auto: torch's MKL on this CPU ({vendor or 'vendor unknown'})")


def run_gemm(cfg, device: torch.device | str = "cpu") -> GemmChoice:
    """choose_gemm for a run's config on `device`."""
    reg = cfg.regularizers
    penalties = bool(reg.r1 or reg.r2 or reg.gradient_penalty)
    return choose_gemm(cfg.gemm, cfg.compile, torch.device(device).type, penalties=penalties)


# A product with fewer rows, columns or inner terms than this stays MKL's: D's one logit per
# row (a matrix-vector product) and its gradient to the layer below (an outer product, one
# inner term), 3-5x faster there than oneDNN's primitive (200x240 by 240x1: 5 against 21 us;
# 100x1 by 1x240: 4.1 against 21.8 us, 200x1 by 1x240: 6.3 against 22.3; while 1200x200 by
# 200x784 took MKL 2146 us, oneDNN 955; 2026-12-07/08, scratch timings of both on these
# shapes, not kept in benchmarks/)
MIN_SIDE = 16


class OneDNNProducts:
    """The post-grad inductor pass: each float32 CPU aten.mm(a, b) and aten.addmm(bias, a, b)
    (alpha = beta = 1, a bias row) becomes mkldnn._linear_pointwise(a, b^T, bias), but for a
    matrix-vector or outer product (MIN_SIDE)."""

    def __call__(self, graph: torch.fx.Graph) -> None:
        aten, linear = torch.ops.aten, torch.ops.mkldnn._linear_pointwise.default
        for node in list(graph.nodes):
            if node.op != "call_function":
                continue
            if node.target is aten.mm.default:
                (a, b), bias = node.args, None
            elif node.target is aten.addmm.default and not node.kwargs:
                bias, a, b = node.args
                if bias.meta["val"].dim() != 1:
                    continue
            else:
                continue
            val, cols = a.meta["val"], b.meta["val"].shape[1]
            if (
                val.dtype != torch.float32
                or val.device.type != "cpu"
                or min(*val.shape, cols) < MIN_SIDE
            ):
                continue
            with graph.inserting_before(node):
                weight = graph.call_function(aten.permute.default, (b, [1, 0]))
                weight.meta["val"] = b.meta["val"].permute(1, 0)
                new = graph.call_function(linear, (a, weight, bias, "none", [], ""))
            new.meta = dict(node.meta)
            node.replace_all_uses_with(new)
            graph.erase_node(node)

    def uuid(self) -> str:
        """inductor's cache key for graphs this pass changed: bump on any change above."""
        return "ganlab.training.gemm.OneDNNProducts/4"


# An eager layer's products below this many multiply-adds stay MKL's: oneDNN's primitive costs
# more a call (a 256-row 128 -> 128 layer's forward and backward: 0.27 against 0.22 ms; 64-row
# 784 -> 1024: 1.14 against 2.38, 100-row 1200 -> 1200: 4.4 against 6.3; 2026-12-07, a scratch
# timing of both, not kept in benchmarks/)
EAGER_MIN_MACS = 1 << 24


def _inner_product(a: Tensor, b_t: Tensor, bias: Tensor | None = None) -> Tensor:
    """a @ b + bias by oneDNN's inner product, given b^T (mkldnn._linear_pointwise)."""
    return torch.ops.mkldnn._linear_pointwise(a, b_t, bias, "none", [], "")


class OneDNNLinearFunction(torch.autograd.Function):
    """y = x W^T + b and its gradients, each product by oneDNN's inner product:

        dX = dY W,   dW = dY^T x,   db = sum_rows dY

    x is 2-D. Once differentiable: a penalty that differentiates D's gradient again (R1, the
    gradient penalty) would get no graph from these products, so such runs keep torch's
    (choose_gemm), and a second derivative here raises instead of being silently wrong."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _inner_product(x, weight, bias)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy: Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = (
            needed and _engine_uses(ctx, i) for i, needed in enumerate(ctx.needs_input_grad)
        )
        dx = _inner_product(dy, weight.t()) if need_x else None
        dw = _inner_product(dy.t(), x.t()) if need_w else None
        db = dy.sum(0) if ctx.has_bias and need_b else None
        return dx, dw, db


def _engine_uses(ctx, i: int) -> bool:
    """Whether this backward pass uses input i's gradient. torch's own ops get that from
    autograd's engine; a Function's needs_input_grad is fixed at its forward, so a pass that
    leaves the weight out (backward(inputs=...), autograd.grad: simultaneous_descend's L_G
    pass through D) would still compute dW, 28% more products in a simultaneous update of the
    paper MLPs (3.93 against 3.07 GFLOP). The engine's own answer is torch._C's
    _will_engine_execute_node, the query torch.autograd.graph's hooks use; where that is
    missing, the gradient is computed (as needs_input_grad says)."""
    node = ctx.next_functions[i][0]
    if node is None:
        return False
    try:
        return bool(torch._C._will_engine_execute_node(node))
    except (AttributeError, RuntimeError):
        return True


class OneDNNLinear(nn.Linear):
    """nn.Linear whose fp32 CPU products of at least EAGER_MIN_MACS multiply-adds (and
    MIN_SIDE rows, inputs and outputs) go to oneDNN (OneDNNLinearFunction); the same parameters,
    state_dict and results to float32 rounding. eager_products gives a Linear this class."""

    def forward(self, x: Tensor) -> Tensor:
        rows = x.numel() // self.in_features if x.dim() else 0
        if (
            x.dtype == torch.float32
            and self.weight.dtype == torch.float32
            and x.device.type == "cpu"
            and min(rows, self.in_features, self.out_features) >= MIN_SIDE
            and rows * self.in_features * self.out_features >= EAGER_MIN_MACS
        ):
            flat = x.reshape(rows, self.in_features)
            y = OneDNNLinearFunction.apply(flat, self.weight, self.bias)
            return y.view(*x.shape[:-1], self.out_features)
        return super().forward(x)


@contextlib.contextmanager
def eager_products(gemm: str, *nets: nn.Module) -> Iterator[None]:
    """While an eager loop runs: with gemm "onednn", every nn.Linear of `nets` an OneDNNLinear
    (its class swapped, so the modules, their parameters and hooks stay the same objects), and
    plain nn.Linear again on leaving; with "mkl", nothing."""
    swapped = [m for net in nets for m in net.modules() if type(m) is nn.Linear]
    if gemm != "onednn" or not swapped:
        yield
        return
    for m in swapped:
        m.__class__ = OneDNNLinear
    try:
        yield
    finally:
        for m in swapped:
            m.__class__ = nn.Linear


@contextlib.contextmanager
def compiling_products(gemm: str) -> Iterator[None]:
    """While inductor compiles a graph: its products by `gemm` ("mkl": inductor as it is;
    "onednn": OneDNNProducts as the post-grad pass, and oneDNN's op called as a fallback
    kernel; both undone on leaving, so other compiles in the process are inductor's own)."""
    if gemm != "onednn":
        yield
        return
    from torch._inductor import config as inductor_config
    from torch._inductor import lowering
    from torch._inductor.custom_graph_pass import CustomGraphPass

    # a CustomGraphPass (inductor's cache keys graphs by its uuid), made here: importing
    # inductor is for compiled runs only
    products = type("OneDNNPass", (OneDNNProducts, CustomGraphPass), {})()
    op = torch.ops.mkldnn._linear_pointwise.default
    own = lowering.lowerings[op]
    lowering.lowerings[op] = lowering.fallback_handler(op, add_to_fallback_set=False)
    try:
        with inductor_config.patch(post_grad_custom_post_pass=products):
            yield
    finally:
        lowering.lowerings[op] = own


__all__ = [
    "EAGER_MIN_MACS", "MIN_SIDE", "GemmChoice", "OneDNNLinear", "OneDNNLinearFunction",
    "OneDNNProducts", "choose_gemm", "compiling_products", "cpu_features", "cpuinfo_features",
    "eager_products", "run_gemm",
]  # fmt: skip
