"""The fast paths compute what the plain ones do: fused optimisers, D's update without a graph
through G, and compiled forward passes (with their eager fallback); and benchmarks/speed.py's
contention section runs."""

import functools
import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from ganlab.config import load_config
from ganlab.game.losses import d_loss
from ganlab.training.algorithm import algorithm1, discriminator_forward
from ganlab.training.compile import CompiledForward
from ganlab.training.optim import build_optimizer
from ganlab.training.state import build_state, seeded_rng


def _train(params, opt, steps=20):
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    return torch.cat([p.detach().flatten() for p in params])


def test_fused_optimisers_take_the_per_tensor_loops_steps():
    cfgs = {
        "adam": load_config(None, ["d_optimizer.name=adam", "d_optimizer.lr=0.002"]).d_optimizer,
        "sgd": load_config(None, ["d_optimizer.name=sgd", "d_optimizer.lr=0.1"]).d_optimizer,
    }
    torch.manual_seed(0)
    shapes = [(300, 200), (200,), (7, 3)]  # odd sizes: vector loop tails
    start = [torch.randn(s) for s in shapes]
    for name, cfg in cfgs.items():
        fast_params = [nn.Parameter(w.clone()) for w in start]
        fast = build_optimizer(cfg, fast_params)
        assert fast.defaults["fused"], name
        loop_params = [nn.Parameter(w.clone()) for w in start]
        kw = {"betas": cfg.betas} if name == "adam" else {"momentum": cfg.momentum}
        loop = getattr(torch.optim, "Adam" if name == "adam" else "SGD")(
            loop_params, lr=cfg.lr, foreach=False, **kw
        )
        # The same update rule, vectorised differently: differences are float32 rounding (an
        # ulp of |w| ~ 3 is 2.4e-7) accumulated over 20 steps, far below one step's change.
        diff = (_train(fast_params, fast) - _train(loop_params, loop)).abs().max()
        assert diff < 1e-5, (name, float(diff))


def test_discriminator_forward_runs_g_without_a_graph():
    torch.manual_seed(0)
    G, D = nn.Linear(3, 4), nn.Linear(4, 1)
    x, z = torch.randn(5, 4), torch.randn(5, 3)

    def discriminate(x, fake):
        logits = D(torch.cat([x, fake])).squeeze(1)
        return logits[:5], logits[5:]

    d_real, d_fake, loss = discriminator_forward(G, discriminate, d_loss, x, z)
    expected = d_loss(D(x).squeeze(1), D(G(z).detach()).squeeze(1))
    assert torch.equal(loss, expected)
    loss.backward()
    assert G.weight.grad is None and D.weight.grad is not None


TINY_PAPER = [
    "steps=30",
    "m=32",
    "data.kind=tensor",
    "generator.hidden=[64]",
    "discriminator.hidden=[32,32]",
    "discriminator.pieces=2",
    "compile=false",  # the eager reference (the preset compiles each update whole)
]


def _trained(overrides):
    cfg = load_config("paper-mnist", TINY_PAPER + overrides)
    x = torch.rand(512, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with seeded_rng(cfg):
        state = build_state(cfg, x)
        algorithm1(cfg, state)
    return torch.cat([p.detach().flatten() for p in [*state.G.parameters(), *state.D.parameters()]])


def test_compiled_training_computes_the_eager_numbers():
    # The paper's MLPs, small, with D's dropout: compiled dropout draws eager's masks, so 30
    # steps agree to rounding. Measured max difference 1.2e-9 (weights ~0.2); a different mask
    # or a skipped update would differ by > 1e-3.
    diff = (_trained(["compile=true"]) - _trained([])).abs().max()
    assert diff < 1e-6, float(diff)


@pytest.mark.filterwarnings("error:torch.compile failed")  # an eager fallback would pass
def test_compiled_simultaneous_training_computes_the_eager_numbers():
    # The same 30 steps with update=simultaneous: G's forward and D's pass with both losses are
    # compiled, both backward calls go through them. Compiled kernels sum in another order, so
    # float32 rounding (an ulp of a weight ~0.16 is 1.5e-8) differs and 30 steps carry it:
    # measured max difference 4.7e-10. 1e-6 leaves three orders of margin and fails a wrong
    # update: alternating instead of simultaneous, from the same seed, differs by 5.7e-4.
    simultaneous = ["update=simultaneous"]
    diff = (_trained([*simultaneous, "compile=true"]) - _trained(simultaneous)).abs().max()
    assert diff < 1e-6, float(diff)


def test_compile_failure_falls_back_to_eager():
    def failing_backend(gm, example_inputs):
        raise RuntimeError("no C++ compiler here")

    forward = CompiledForward(lambda a, b: (a * b).sum(), backend=failing_backend)
    a, b = torch.randn(4), torch.randn(4)
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler here.*training eagerly"):
        assert torch.equal(forward(a, b), (a * b).sum())
    assert torch.equal(forward(b, b), (b * b).sum())  # eager from then on, no second warning


def test_compiled_partials_do_not_share_one_cache():
    # Each compiled forward is a functools.partial. Compiled as such, they all traced dynamo's
    # one wrapper frame and shared its 8 cache entries: a process's 9th forward (here: 5 losses
    # in one place, 5 in another) ran eagerly. Their own functions keep 8 entries each.
    from torch._dynamo.utils import counters

    def weighted(x, w, loss):
        return loss(x * w)

    def shifted(x, b, loss):
        return loss(x + b)

    losses = [torch.sum, torch.mean, torch.amax, torch.amin, torch.norm]
    x = torch.randn(4)
    graphs = counters["stats"]["unique_graphs"]
    for outer, bound in ((weighted, 2.0), (shifted, 1.0)):
        for loss in losses:
            forward = CompiledForward(functools.partial(outer, loss=loss), backend="eager")
            assert torch.equal(forward(x, bound), outer(x, bound, loss))
    assert counters["stats"]["unique_graphs"] - graphs == 10  # every one compiled


def _speed_bench():
    """benchmarks/speed.py as a module."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"
    spec = importlib.util.spec_from_file_location("speed_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_contention_section_runs_both_choices_alone_and_busy(monkeypatch, capsys):
    # The code path of `speed.py --only contention` at a size a test affords (not a timing:
    # the rates of 0.05 s on a shared machine mean nothing, their bookkeeping does).
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    speed = _speed_bench()
    cfg = load_config("ring8", ["m=16", "generator.hidden=[8]", "discriminator.hidden=[8]"])
    threads = torch.get_num_threads()
    rows = speed.contention({"tiny": (cfg, None)}, 2, seconds=0.05, repeats=1, warmup=1)
    assert torch.get_num_threads() == 2  # the default it was given, set back
    torch.set_num_threads(threads)
    row = rows["tiny"]
    assert row["reason"].startswith("auto: ")
    assert (row["ganlab"]["threads"], row["torch default"]["threads"]) == (1, 2)
    for behaviour in ("ganlab", "torch default"):
        r = row[behaviour]
        assert r["alone"] > 0 and r["busy"] > 0
        assert r["ratio"] == pytest.approx(r["busy"] / r["alone"])
    assert speed.print_contention(rows) == row["ganlab"]["ratio"]
    assert "ganlab's reason: auto: " in capsys.readouterr().out


def test_speed_counts_the_same_products_whichever_library_multiplies():
    # speed.py's FLOPs per step come from the products it sees run: eager layers by oneDNN
    # (gemm onednn) call mkldnn._linear_pointwise, not aten's mm/addmm, and were once missed
    # (a peak fraction of 0.01); and a simultaneous update's L_G pass through D once computed
    # D's weight gradients by oneDNN that backward(inputs=...) dropped (3.93 against 3.07
    # GFLOP on the paper MLPs). The peer's configuration, one iteration each way
    from torch.profiler import profile

    speed = _speed_bench()
    cfg, x = speed.config_from_dict(speed.PEER_CONFIG), torch.rand(1024, 784)
    for update, gflop in (("alternating", 1.211), ("simultaneous", 1.019)):
        counted = {}
        for gemm in ("mkl", "onednn"):
            run = cfg.model_copy(update={"gemm": gemm, "update": update})
            loop = speed.Loop(run, x, warmup=1)
            with profile() as prof:
                counted[gemm] = speed.flops(loop.matmuls())
            calls = {e.key: e.count for e in prof.key_averages()}
            assert (calls.get("mkldnn::_linear_pointwise", 0) > 0) == (gemm == "onednn")
        assert counted["onednn"] == counted["mkl"], update
        assert counted["mkl"] / 1e9 == pytest.approx(gflop, abs=1e-3), update


def test_speed_busy_process_is_killed_after_the_block():
    speed = _speed_bench()
    with speed.busy_process() as proc:
        assert proc.poll() is None  # spinning
    assert proc.poll() is not None
