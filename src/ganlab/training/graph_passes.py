"""A rewrite of `compile: step`'s graphs before inductor turns them into kernels.

`UnfuseBias`: a linear layer's `addmm(b, x, W^T)` whose every use is elementwise (LeakyReLU,
tanh, ...) becomes `mm(x, W^T) + b`, the bias add then fused by inductor into the kernel that
follows. addmm on the CPU first copies b into every row of its output and has the matrix product
add onto it: two more passes over the output than the product alone. Inductor makes this rewrite
on GPUs only (torch._inductor.fx_passes.post_grad.unfuse_bias_add_to_pointwise); on this CPU the
peer configuration's iteration ran 1.6% faster with it (`python benchmarks/step_variants.py`,
benchmarks/README.md). The sum is the same up to float32 rounding: b + x W^T added in another
order.
"""

from __future__ import annotations

import torch
from torch._inductor.custom_graph_pass import CustomGraphPass

aten = torch.ops.aten


def elementwise_uses(node: torch.fx.Node) -> bool:
    """Every use of node's value is an elementwise op (through views), so an add before them
    fuses into their kernel."""
    for use in node.users:
        target = use.target
        if use.op != "call_function" or not isinstance(target, torch._ops.OpOverload):
            return False
        if target.is_view:
            if not elementwise_uses(use):
                return False
        elif torch.Tag.pointwise not in target.tags:
            return False
    return True


class UnfuseBias(CustomGraphPass):
    """addmm(b, x, w) -> mm(x, w) + b where every use is elementwise (module docstring)."""

    def __call__(self, graph: torch.fx.Graph) -> None:
        for node in list(graph.nodes):
            if node.op != "call_function" or node.target is not aten.addmm.default:
                continue
            if node.kwargs.get("beta", 1) != 1 or node.kwargs.get("alpha", 1) != 1:
                continue
            if not elementwise_uses(node):
                continue
            bias, x, w = node.args[:3]
            with graph.inserting_before(node):
                product = graph.call_function(aten.mm.default, (x, w))
                total = graph.call_function(aten.add.Tensor, (product, bias))
            # inductor lowers by each node's fake value: the product's is (rows, out) as the sum's
            product.meta = {**node.meta, "val": aten.mm.default(x.meta["val"], w.meta["val"])}
            total.meta = dict(node.meta)
            node.replace_all_uses_with(total)
            graph.erase_node(node)

    def uuid(self) -> str:
        """Inductor's cache key for graphs this pass rewrote (a new rewrite needs a new one)."""
        return "ganlab-unfuse-bias-1"


__all__ = ["UnfuseBias", "elementwise_uses"]
