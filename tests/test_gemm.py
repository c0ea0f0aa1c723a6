"""training.gemm: which library multiplies a run's fp32 CPU matrices, the inductor pass that
hands compile: step's to oneDNN and the eager layers that do, each computing MKL's numbers."""

from __future__ import annotations

import json

import pytest
import torch

import ganlab
from ganlab.training.gemm import (
    EAGER_MIN_MACS,
    OneDNNLinear,
    choose_gemm,
    compiling_products,
    cpu_features,
    cpuinfo_features,
    eager_products,
)

AMD, INTEL = ("AuthenticAMD", True), ("GenuineIntel", True)


def test_the_choice_follows_the_setting_the_compile_and_the_cpu():
    # auto: oneDNN only where MKL leaves AVX-512 unused (an AMD CPU that has it)
    assert choose_gemm("auto", True, cpu=AMD).gemm == "onednn"
    assert choose_gemm("auto", True, cpu=("AuthenticAMD", False)).gemm == "mkl"
    assert choose_gemm("auto", True, cpu=INTEL).gemm == "mkl"
    assert choose_gemm("auto", True, cpu=("", False)).reason.endswith("(vendor unknown)")
    # the user's word holds on any CPU
    assert choose_gemm("onednn", True, cpu=INTEL) == ("onednn", "gemm: onednn")
    assert choose_gemm("mkl", True, cpu=AMD) == ("mkl", "gemm: mkl")
    # a torch without oneDNN (some builds): MKL, saying why
    assert choose_gemm("onednn", True, cpu=AMD, onednn=False).reason.endswith("no oneDNN: MKL")
    assert choose_gemm("auto", True, cpu=AMD, onednn=False).gemm == "mkl"
    # eager layers follow the same rule; compile: forwards, a GPU and penalties that
    # differentiate D's gradient again keep torch's products, whatever the setting
    assert choose_gemm("auto", False, cpu=AMD).gemm == "onednn"
    assert choose_gemm("auto", False, cpu=INTEL).gemm == "mkl"
    assert choose_gemm("onednn", "forwards", cpu=AMD).gemm == "mkl"
    assert choose_gemm("onednn", True, "cuda", cpu=AMD).gemm == "mkl"
    assert choose_gemm("onednn", False, cpu=AMD, penalties=True).reason.startswith("gradient pen")


def test_cpuinfo_features_read_the_vendor_and_avx512():
    text = (
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 26\n"
        "flags\t\t: fpu sse2 avx2 avx512f avx512bw\n\nprocessor\t: 1\nvendor_id\t: Other\n"
    )
    assert cpuinfo_features(text) == ("AuthenticAMD", True)  # the first CPU's
    text = "vendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 avx512_bf16\n"
    assert cpuinfo_features(text) == ("GenuineIntel", False)  # avx512_bf16 alone: no avx512f
    assert cpuinfo_features("") == ("", False)
    assert len(cpu_features()) == 2  # this machine's, whatever it is


def test_the_onednn_pass_replaces_the_products_but_matrix_vector_ones_and_keeps_the_numbers():
    # a layer's forward and backward, addmm (x W^T + b), mm (dY W) and mm (dY^T x), then a
    # logit per row; oneDNN sums in another order than MKL: float32 rounding over 784- and 64-term
    # sums, measured 7.5e-7 of the largest value at most, so 1e-5 leaves a decade
    from torch._inductor import config as inductor_config

    def loss(w, b, x):  # a hidden layer, then D's logit: a matrix-vector product
        return (torch.nn.functional.linear(x, w, b).tanh() @ v).square().sum()

    def grads(w, b, x):
        return torch.func.grad_and_value(loss, argnums=(0, 1, 2))(w, b, x)

    gen = torch.Generator().manual_seed(0)
    w, b, x = (torch.randn(*s, generator=gen) for s in ((256, 784), (256,), (64, 784)))
    w = w / 784**0.5  # y ~ N(0, 2): tanh unsaturated, where 1 - tanh^2 would magnify rounding
    v = torch.randn(256, 1, generator=gen)
    eager = grads(w, b, x)
    torch._dynamo.reset()
    with compiling_products("onednn"):
        compiled = torch.compile(grads, fullgraph=True)
        compiled(w, b, x)
    assert inductor_config.post_grad_custom_post_pass is None  # undone: other compiles' own
    with torch.profiler.profile() as prof:
        got = compiled(w, b, x)
    calls = {e.key: e.count for e in prof.key_averages()}
    # oneDNN: the hidden layer's forward, dX and dW; MKL (MIN_SIDE): the logits, 64 x 256 by
    # 256 x 1, and their gradient to the hidden layer, 64 x 1 by 1 x 256 (one inner term; the
    # logit weight's gradient, 1 x 64 by 64 x 256, inductor writes as a reduction)
    assert calls.get("mkldnn::_linear_pointwise") == 3 and calls.get("aten::mm") == 2
    assert "aten::addmm" not in calls
    for g, e in zip((*got[0], got[1]), (*eager[0], eager[1]), strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5 * float(e.abs().max()))


@pytest.mark.parametrize(
    ("compile", "gemm", "reason"),
    [
        ("false", "mkl", "gemm: mkl"),
        ("false", "onednn", "gemm: onednn"),
        ("step", "onednn", "gemm: onednn"),
        ("forwards", "mkl", "compile: forwards: inductor's graphs keep torch's products (MKL)"),
    ],
)
def test_meta_records_the_products_library_and_why(tmp_path, compile, gemm, reason):
    over = ["steps=2", "m=16", f"compile={compile}", "gemm=onednn", "doctor=false"]
    if gemm == "mkl" and compile == "false":
        over[-2] = "gemm=mkl"
    run = ganlab.train("ring8", tmp_path / "run", overrides=over, report=False, quiet=True)
    meta = json.loads((run.path / "meta.json").read_text())
    assert (meta["gemm"], meta["gemm_reason"]) == (gemm, reason)


def _linear_grads(layer, x):
    layer.zero_grad()
    x = x.clone().requires_grad_(True)
    y = layer(x)
    (y.tanh() * torch.linspace(-1, 1, y.shape[-1])).sum().backward()
    return y, x.grad, layer.weight.grad, layer.bias.grad


@pytest.mark.parametrize("shape", [(64, 784), (4, 16, 784)])
def test_eager_onednn_layers_compute_torch_linear_numbers(shape):
    # forward, dX, dW, db of a 784 -> 1024 layer by oneDNN against torch's (MKL): float32
    # rounding over 784- and 64-term sums (7.5e-7 of the largest value measured for the
    # compiled pass), so 1e-5 leaves a decade; a 3-D input is flattened and restored
    gen = torch.Generator().manual_seed(0)
    layer = torch.nn.Linear(784, 1024)
    x = torch.randn(*shape, generator=gen)
    want = _linear_grads(layer, x)
    with eager_products("onednn", layer):
        assert type(layer) is OneDNNLinear
        with torch.profiler.profile() as prof:
            got = _linear_grads(layer, x)
        calls = {e.key: e.count for e in prof.key_averages()}
    assert type(layer) is torch.nn.Linear  # swapped back
    assert calls.get("mkldnn::_linear_pointwise") == 3 and "aten::addmm" not in calls
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5 * float(w.detach().abs().max()))


def test_eager_onednn_layers_skip_a_weight_gradient_the_backward_does_not_ask_for():
    # simultaneous_descend's L_G pass runs through D with backward(inputs=G's parameters): D's
    # weight gradients would be dropped, so they must not be computed (torch's own linear
    # skips them the same way)
    layer = torch.nn.Linear(784, 1024)
    x = torch.randn(64, 784, requires_grad=True)
    with eager_products("onednn", layer):
        y = layer(x).square().sum()
        with torch.profiler.profile() as prof:
            y.backward(inputs=[x], retain_graph=True)
        only_x = {e.key: e.count for e in prof.key_averages()}
        assert layer.weight.grad is None and layer.bias.grad is None and x.grad is not None
        with torch.profiler.profile() as prof:
            (gw,) = torch.autograd.grad(y, [layer.weight])
        only_w = {e.key: e.count for e in prof.key_averages()}
    assert only_x.get("mkldnn::_linear_pointwise") == 1  # dX
    assert only_w.get("mkldnn::_linear_pointwise") == 1  # dW
    want = torch.autograd.grad(layer(x).square().sum(), [layer.weight])[0]
    torch.testing.assert_close(gw, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_eager_onednn_layers_keep_small_products_frozen_weights_and_refuse_a_second_derivative():
    small = torch.nn.Linear(128, 128)  # 64 x 128 x 128 multiply-adds < EAGER_MIN_MACS: MKL
    big = torch.nn.Linear(784, 1024)
    big.requires_grad_(False)  # a frozen D in G's update: no dW, only dX
    x = torch.randn(64, 784, requires_grad=True)
    with eager_products("onednn", small, big), torch.profiler.profile() as prof:
        big(x).sum().backward()
        small(torch.randn(64, 128)).sum()
    calls = {e.key: e.count for e in prof.key_averages()}
    assert 64 * 128 * 128 < EAGER_MIN_MACS <= 64 * 784 * 1024
    assert calls.get("mkldnn::_linear_pointwise") == 2  # big's forward and dX; small: addmm
    assert calls.get("aten::addmm") == 1 and big.weight.grad is None
    torch.testing.assert_close(x.grad, big.weight.sum(0).expand(64, -1), rtol=1e-5, atol=1e-5)
    # R1's gradient of a gradient: an error, never a silently missing term
    big.requires_grad_(True)
    x = torch.randn(64, 784, requires_grad=True)
    with eager_products("onednn", big):
        (grad,) = torch.autograd.grad(big(x).square().sum(), x, create_graph=True)
        with pytest.raises(RuntimeError, match="once_differentiable"):
            grad.square().sum().backward()
