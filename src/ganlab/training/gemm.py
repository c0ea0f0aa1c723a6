"""Which library multiplies the fp32 matrices inside `compile: step`'s graphs: MKL or oneDNN.

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
iteration of the peer configuration). Eager layers keep torch's products.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch


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
    compiled: bool,
    device: str = "cpu",
    cpu: tuple[str, bool] | None = None,
    onednn: bool | None = None,
) -> GemmChoice:
    """The products' library for a run: `setting` (config gemm: auto, mkl, onednn), whether its
    updates are compiled whole (compile: step), its device, its CPU (vendor, AVX-512) and
    whether this torch has oneDNN (None: torch.backends.mkldnn says)."""
    if device != "cpu":
        return GemmChoice("mkl", f"training on {device}: the products are its own")
    if not compiled:
        return GemmChoice("mkl", "not compile: step: eager layers use torch's products (MKL)")
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
    return choose_gemm(cfg.gemm, cfg.compile == "step", torch.device(device).type)


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
    "MIN_SIDE", "GemmChoice", "OneDNNProducts", "choose_gemm", "compiling_products",
    "cpu_features", "cpuinfo_features", "run_gemm",
]  # fmt: skip
