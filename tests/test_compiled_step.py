"""`compile: step` (training.compiled_step): each update compiled whole computes the eager
updates' numbers, its learning-rate and momentum schedules never recompile it, a run resumes
from its checkpoint exactly, and what it does not cover trains eagerly after one warning line.

Each compiled run here compiles two small graphs (D's and G's update) or one (simultaneous):
~10-50 s on the 2-core machine with a cold inductor cache, seconds warm.
"""

from __future__ import annotations

import copy
import functools
import warnings

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

import ganlab
from ganlab.config import OptimizerConfig, load_config
from ganlab.errors import ConfigError
from ganlab.training.algorithm import algorithm1
from ganlab.training.compiled_step import CompiledUpdate
from ganlab.training.fused_step import Stepper, adam_step_, sgd_step_
from ganlab.training.state import build_state, seeded_rng

pytestmark = pytest.mark.usefixtures("one_thread")

# The paper's MLPs, small: D with maxout pieces and dropout (input and hidden), G with ReLU and
# a sigmoid output. lr_decay_factor 1.01 changes both learning rates by 1% a step, and epochs
# of 64 examples (2 minibatches) with a momentum ramp saturating at epoch 3 change the momentum
# within the 20 steps: a schedule baked into the graph as a constant would recompile each step.
TINY_PAPER = [
    "steps=20", "m=32", "data.kind=tensor", "epoch_size=64",
    "generator.hidden=[64]", "discriminator.hidden=[32,32]", "discriminator.pieces=2",
    "g_optimizer.lr_decay_factor=1.01", "d_optimizer.lr_decay_factor=1.01",
    "g_optimizer.momentum_saturate_epochs=3", "d_optimizer.momentum_saturate_epochs=3",
    "d_optimizer.weight_decay=0.001",
    "compile=false",  # the eager reference (the preset compiles its updates); tests set step
]  # fmt: skip


def _trained(overrides: list[str]):
    cfg = load_config("paper-mnist", TINY_PAPER + overrides)
    x = torch.rand(512, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with seeded_rng(cfg):
        state = build_state(cfg, x)
        algorithm1(cfg, state)
    return state


def _tensors(state) -> dict[str, torch.Tensor]:
    """Every number training leaves: weights, buffers, gradients, optimiser state."""
    out = {}
    for net, module, opt in (("G", state.G, state.opt_g), ("D", state.D, state.opt_d)):
        out |= {f"{net}.{k}": v for k, v in module.state_dict().items()}
        out |= {f"{net}.{n}.grad": p.grad for n, p in module.named_parameters()}
        for i, s in opt.state_dict()["state"].items():
            out |= {f"{net}.opt.{i}.{k}": v for k, v in s.items()}
    return out


def _max_difference(a: dict, b: dict, skip=()) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if k not in skip)


@pytest.mark.filterwarnings("error:compile. step")  # an eager fallback would pass
@pytest.mark.parametrize(
    ("update", "gemm"),
    [("alternating", "mkl"), ("simultaneous", "mkl"), ("alternating", "onednn")],
)
def test_compiled_step_computes_the_eager_numbers_and_compiles_once(update, gemm):
    # 20 iterations (k=2 alternating) with D's dropout: compiled dropout draws eager's masks
    # (fallback_random), so every weight, gradient and momentum buffer agrees to float32
    # rounding: measured max difference 8.6e-9 alternating, 8.3e-9 simultaneous (weights ~0.2,
    # an ulp 1.5e-8). D's weight decay left out differs by 4.7e-5, alternating instead of
    # simultaneous by 2.0e-3: 1e-6 fails those and leaves two orders of margin for rounding.
    k = ["k=2"] if update == "alternating" else ["update=simultaneous"]
    graphs = counters["stats"]["unique_graphs"]
    # oneDNN's products (training.gemm) sum in another order than MKL's: rounding only
    compiled = _tensors(_trained([*k, "compile=step", f"gemm={gemm}"]))
    # one graph per update kind: the schedules (20 learning rates, 3 momenta) never recompile
    assert counters["stats"]["unique_graphs"] - graphs == (2 if update == "alternating" else 1)
    eager = _tensors(_trained(k))
    assert _max_difference(compiled, eager) < 1e-6


def _bn_fed_biases(G: nn.Module) -> set[str]:
    """G's Linear biases right before a BatchNorm, which subtracts them out again, and the
    running means they shift."""
    layers = list(G.net)
    names = set()
    for i in range(len(layers) - 1):
        if isinstance(layers[i + 1], nn.BatchNorm1d):
            names |= {f"G.net.{i}.bias", f"G.net.{i}.bias.grad", f"G.net.{i + 1}.running_mean"}
    return names


@pytest.mark.filterwarnings("error:compile. step")
def test_compiled_step_takes_adams_steps_through_batchnorm():
    # Adam on both players, G with BatchNorm (the peer benchmark's architecture, small):
    # running statistics are updated inside the compiled graph. Adam normalises a gradient
    # that is zero but for rounding (~1e-9) to a step of up to +-lr, so such a parameter follows
    # rounding noise in eager training too: a bias right before a BatchNorm (which subtracts it
    # out again; it and the running mean it shifts are left out), and D's last biases while
    # D's outputs are all 1/2 to 1e-9 (the preset's init range 0.005: D starts at init range
    # 0.1 here, and without dropout, whose dropped units were another such case: 8e-6 here,
    # seed 0). Measured max difference 1.2e-7 over 10 steps, against steps of lr = 2e-4 per
    # parameter; the SGD test above covers dropout.
    adam = [
        "g_optimizer.name=adam", "d_optimizer.name=adam", "g_optimizer.lr=0.0002",
        "d_optimizer.lr=0.0002", "generator.batchnorm=true", "generator.hidden=[32,64]",
        "steps=10", "discriminator.init_range=0.1", "discriminator.dropout=0",
        "discriminator.input_dropout=0",
    ]  # fmt: skip
    compiled = _trained([*adam, "compile=step"])
    eager = _trained(adam)
    skip = _bn_fed_biases(eager.G)
    diff = _max_difference(_tensors(compiled), _tensors(eager), skip)
    assert diff < 2e-6, diff
    assert torch.equal(compiled.G.net[1].num_batches_tracked, eager.G.net[1].num_batches_tracked)


def test_update_rules_are_torchs_sgd_and_adam():
    # sgd_step_ and adam_step_ (torch's fused kernels) eagerly against torch's own per-tensor
    # loops, weight decay on, a new learning rate each step. Float32 rounding of the same
    # formulas: < 1e-6 after 20 steps of size ~1e-2 (test_speed_paths: the fused optimisers
    # against the loops); a wrong momentum or bias correction differs by > 1e-3.
    g = torch.Generator().manual_seed(0)
    shapes = [(30, 20), (20,), (7, 3)]
    start = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) for s in shapes] for _ in range(20)]
    lrs = [0.01 * 0.9**t for t in range(20)]
    for name in ("sgd", "plain sgd", "adam"):
        ours = [w.clone() for w in start]
        theirs = [nn.Parameter(w.clone()) for w in start]
        mu = 0.5 if name == "sgd" else 0.0
        if "sgd" in name:
            opt = torch.optim.SGD(theirs, lr=1.0, momentum=mu, weight_decay=0.01, foreach=False)
            # without momentum, no buffers: torch's SGD keeps none either
            state = {"momentum_buffer": [torch.zeros_like(w) for w in ours]} if mu else {}
        else:
            opt = torch.optim.Adam(theirs, lr=1.0, betas=(0.5, 0.999), weight_decay=0.01)
            t = torch.zeros(len(ours))  # the step counts, one tensor (Stepper.state)
            state = {
                "exp_avg": [torch.zeros_like(w) for w in ours],
                "exp_avg_sq": [torch.zeros_like(w) for w in ours],
                "t": t,
                "step": list(t.unbind()),
            }
        for lr, step_grads in zip(lrs, grads, strict=True):
            if "sgd" in name:
                sgd_step_(ours, step_grads, state, lr, mu, weight_decay=0.01)
            else:
                adam_step_(ours, step_grads, state, lr, (0.5, 0.999), 1e-8, weight_decay=0.01)
            for p, grad in zip(theirs, step_grads, strict=True):
                p.grad = grad.clone()
            opt.param_groups[0]["lr"] = lr
            opt.step()
        for a, b in zip(ours, theirs, strict=True):
            torch.testing.assert_close(a, b.detach(), rtol=0, atol=1e-6)


def test_the_stepper_reads_an_optimiser_state_loaded_between_steps():
    # Stepper keeps the state lists between steps (Adam's step counts as views of one tensor);
    # a load_state_dict (a resume, a rollback) replaces the optimiser's tensors and the next
    # step must use those: 2 steps, a 3rd undone by reloading, a 4th == torch's Adam on 1, 2, 4
    # (the same fused kernel: float32 rounding, < 1e-6; a stale state differs by ~lr = 0.1).
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(4, 3, generator=g), torch.randn(3, generator=g)]
    grads = [[torch.randn(w.shape, generator=g) for w in start] for _ in range(4)]
    params = [nn.Parameter(w.clone()) for w in start]
    opt = torch.optim.Adam(params, lr=0.1, betas=(0.5, 0.999), fused=True)
    stepper = Stepper(opt, OptimizerConfig(name="adam", lr=0.1, betas=[0.5, 0.999]))
    for step_grads in grads[:2]:
        stepper.step(step_grads)
    saved_params = [p.detach().clone() for p in params]
    saved_state = copy.deepcopy(opt.state_dict())
    stepper.step(grads[2])
    for p, w in zip(params, saved_params, strict=True):
        p.data.copy_(w)
    opt.load_state_dict(saved_state)
    stepper.step(grads[3])

    ref = [nn.Parameter(w.clone()) for w in start]
    ref_opt = torch.optim.Adam(ref, lr=0.1, betas=(0.5, 0.999), fused=True)
    for step_grads in (grads[0], grads[1], grads[3]):
        for p, grad in zip(ref, step_grads, strict=True):
            p.grad = grad.clone()
        ref_opt.step()
    for a, b in zip(params, ref, strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=0, atol=1e-6)
    assert [float(opt.state[p]["step"]) for p in params] == [3.0, 3.0]
    # torch's own step (the eager fallback) advances the views one by one: the counts agree
    for p, grad in zip(params, grads[0], strict=True):
        p.grad = grad.clone()
    opt.step()
    assert stepper.state()["t"].tolist() == [4.0, 4.0]


def test_the_stepper_uses_a_state_tensor_replaced_by_hand():
    # The kept state is checked tensor by tensor, not by the first parameter's alone: a moment
    # replaced on the second parameter is the one the next step reads and updates.
    params = [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2))]
    opt = torch.optim.Adam(params, lr=0.1, fused=True)
    stepper = Stepper(opt, OptimizerConfig(name="adam", lr=0.1))
    stepper.step([torch.ones(3), torch.ones(2)])
    replaced = torch.full((2,), 7.0)
    opt.state[params[1]]["exp_avg"] = replaced
    stepper.step([torch.ones(3), torch.ones(2)])
    assert stepper.state()["exp_avg"][1] is replaced
    # beta1 = 0.9: 0.9 * 7 + 0.1 * 1 (a stale list would have moved its own copy instead)
    torch.testing.assert_close(replaced, torch.full((2,), 6.4))


GAUSS = ["generator.hidden=[8]", "discriminator.hidden=[8]", "m=16", "checkpoint_every=3",
         "log_every=3", "sample_every=1000", "doctor=false", "compile=step"]  # fmt: skip


@pytest.mark.filterwarnings("error:compile. step")
def test_compiled_step_resumes_from_a_checkpoint_exactly(tmp_path):
    # 6 steps straight against 3, a checkpoint, and 3 more in a resume: the graph reads the
    # optimiser's state tensors afresh each call (a resume loads new ones) and the streams
    # come back from the checkpoint, so the two runs end on the same bits.
    straight = ganlab.train("gauss1d", tmp_path / "a", overrides=[*GAUSS, "steps=6"], report=False)
    ganlab.train("gauss1d", tmp_path / "b", overrides=[*GAUSS, "steps=3"], report=False)
    resumed = ganlab.resume(tmp_path / "b", steps=6, report=False)
    a = straight.generator.state_dict() | straight.discriminator.state_dict()
    b = resumed.generator.state_dict() | resumed.discriminator.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_unsupported_config_trains_eagerly_after_one_line():
    # RMSprop has no compiled rule: one warning naming it, then eager training's exact numbers
    rms = ["steps=3", "d_optimizer.name=rmsprop"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = _tensors(_trained([*rms, "compile=step"]))
    lines = [str(w.message) for w in caught if "compile: step" in str(w.message)]
    assert lines == ["compile: step does not cover d_optimizer.name 'rmsprop' (SGD and Adam "
                     "compile); training eagerly"]  # fmt: skip
    eager = _tensors(_trained(rms))
    assert all(torch.equal(fallback[k], eager[k]) for k in eager)


def test_penalties_with_compile_step_train_eagerly():
    # compile: forwards refuses gradient penalties (a double backward); step trains them eagerly
    with pytest.raises(ConfigError, match="double backward"):
        load_config("gauss1d", ["regularizers.r1=1", "compile=forwards"])
    with pytest.warns(UserWarning, match="compile: step does not cover regularizers"):
        _trained(["steps=2", "regularizers.r1=1", "compile=step"])
    with pytest.warns(UserWarning, match="or mode seeking"):
        _trained(["steps=2", "regularizers.mode_seeking=1", "compile=step"])


def test_compile_failure_falls_back_to_the_eager_update():
    def failing_backend(gm, example_inputs):
        raise RuntimeError("no C++ compiler here")

    calls = []

    def eager(a, b):
        calls.append("eager")
        return (a * b).sum()

    update = CompiledUpdate(lambda a, b: (a * b).sum(), (), eager, backend=failing_backend)
    a, b = torch.randn(4), torch.randn(4)
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler here.*training eagerly"):
        assert torch.equal(update(a, b), (a * b).sum())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # eager from then on, no second line
        assert torch.equal(update(b, b), (b * b).sum())
    assert calls == ["eager", "eager"]


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="oneDNN not built in")
def test_an_update_that_fails_to_compile_multiplies_by_the_runs_library():
    # meta.json records the run's gemm ("onednn" on an AMD CPU with AVX-512): an update that
    # falls back to eager must multiply by it too, not by torch's default (MKL)
    def failing_backend(gm, example_inputs):
        raise RuntimeError("no C++ compiler here")

    net = nn.Sequential(nn.Linear(784, 1024))  # 64 x 784 x 1024 >= gemm.EAGER_MIN_MACS

    def eager(x):  # the update's own arguments, not the bound ones (as CompiledIteration's)
        return net(x).sum()

    update = CompiledUpdate(lambda module, x: module(x).sum(), (net,), eager,
                            backend=failing_backend, gemm="onednn")  # fmt: skip
    x = torch.randn(64, 784)
    with pytest.warns(UserWarning, match="training eagerly"):
        update(x)  # the failed compile traces the module: its records are not the update's
    with torch.profiler.profile() as prof:
        got = update(x)
    calls = {e.key: e.count for e in prof.key_averages()}
    assert calls.get("mkldnn::_linear_pointwise") == 1 and "aten::addmm" not in calls
    assert type(net[0]) is nn.Linear  # the layer's class restored after the update
    # float32 rounding over 64 x 1024 sums of 784 terms, in two libraries' orders
    torch.testing.assert_close(got, net(x).sum(), rtol=1e-4, atol=1e-2)


@pytest.mark.filterwarnings("error:compile. step")
def test_a_compiled_update_is_reused_and_recompiled_for_new_shapes():
    # The graph is called without dynamo's guards: a tensor argument of another shape must
    # get a graph of its own (the old one would read out of bounds), and an update built
    # afresh with the same key (algorithm1 builds its iteration on every call) reuses the
    # compiled graph instead of tracing again.
    def update(a, b):
        return (a * b).sum()

    def build():
        return CompiledUpdate(update, (), update, key=("test_compiled_step",))

    a4, b4, a5, b5 = torch.randn(4), torch.randn(4), torch.randn(5), torch.randn(5)
    first = build()
    for _ in range(3):
        torch.testing.assert_close(first(a4, b4), (a4 * b4).sum())
    torch.testing.assert_close(first(a5, b5), (a5 * b5).sum())
    four, five = first.fns[(a4.shape, b4.shape)], first.fns[(a5.shape, b5.shape)]
    assert four is not five and len(first.fns) == 2
    again = build()
    torch.testing.assert_close(again(b4, a4), (a4 * b4).sum())
    assert again.fns[(a4.shape, b4.shape)] is four


def test_an_iteration_that_fails_to_compile_trains_eagerly_after_one_line(monkeypatch):
    # Both updates fail to compile (a backend that raises, as where no C++ compiler is): one
    # warning for the iteration, and from D's first update on the eager updates, whose numbers
    # are eager training's own.
    from ganlab.training import compiled_step

    def failing_backend(gm, example_inputs):
        raise RuntimeError("no C++ compiler here")

    iteration = functools.partial(compiled_step.CompiledIteration, backend=failing_backend)
    monkeypatch.setattr(compiled_step, "CompiledIteration", iteration)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fallback = _tensors(_trained(["steps=4", "k=2", "compile=step"]))
    lines = [str(w.message) for w in caught if "compile: step" in str(w.message)]
    assert len(lines) == 1 and "no C++ compiler here" in lines[0], lines
    eager = _tensors(_trained(["steps=4", "k=2"]))
    assert all(torch.equal(fallback[k], eager[k]) for k in eager)


def test_compile_config_values():
    assert load_config("gauss1d", ["compile=true"]).compile == "forwards"  # configs before step
    assert load_config("gauss1d", ["compile=step"]).compile == "step"
    assert load_config("gauss1d", ["compile=false"]).compile is False
    with pytest.raises(ConfigError, match="compile"):
        load_config("gauss1d", ["compile=graph"])
