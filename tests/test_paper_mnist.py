"""The paper-mnist preset and what it needs: the code's simultaneous update, G's output bias
from the data, the one-pass discriminator, and evaluating a chosen checkpoint."""

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import ganlab
from ganlab.config import load_config
from ganlab.errors import CheckpointError, ConfigError
from ganlab.game.losses import d_loss, g_loss_nonsaturating
from ganlab.metrics.parzen import parzen_log_likelihood, parzen_select_and_score
from ganlab.runs.api import load_run
from ganlab.training.algorithm import algorithm1, discriminate
from ganlab.training.state import build_state, data_logit, seeded_rng

SMALL = [  # paper-mnist's structure at a size a test can afford, on a tensor of "images"
    "data.kind=tensor",
    "m=8",
    "noise.dim=4",
    "generator.hidden=[16]",
    "discriminator.hidden=[8]",
    "discriminator.pieces=3",
]


def _images(n=64, seed=0):
    return torch.rand(n, 1, 6, 6, generator=torch.Generator().manual_seed(seed))


def test_preset_has_the_papers_values():
    cfg = load_config("paper-mnist")
    assert (cfg.noise.kind, cfg.noise.dim, cfg.noise.scale) == ("uniform", 100, 3**0.5)
    assert cfg.generator.hidden == [1200, 1200] and cfg.generator.output == "sigmoid"
    assert cfg.generator.init_range == 0.05 and cfg.generator.output_bias == "data_logit"
    d = cfg.discriminator
    assert (d.kind, d.hidden, d.pieces, d.init_range) == ("maxout", [240, 240], 5, 0.005)
    assert (d.input_dropout, d.dropout) == pytest.approx((0.2, 0.5))  # keep 0.8 and 0.5
    assert cfg.g_loss == "nonsaturating" and cfg.m == 100 and cfg.k == 1
    assert cfg.update == "alternating"  # Algorithm 1 by default; the code's is an option
    for opt in (cfg.g_optimizer, cfg.d_optimizer):
        assert (opt.name, opt.momentum, opt.final_momentum) == ("sgd", 0.5, 0.7)
        assert (opt.lr_decay_factor, opt.min_lr, opt.momentum_saturate_epochs) == (
            1.000004,
            1e-6,
            250,
        )
    # The code's D cost is half of ganlab's L_D, so its lr 0.1 is 0.05 here; G's is the same.
    assert cfg.g_optimizer.lr == 0.1 and cfg.d_optimizer.lr == 0.05
    assert cfg.data.kind == "mnist" and cfg.data.split == "train"
    # an hour of training: each update compiled whole (the eager numbers to float32 rounding)
    assert cfg.compile == "step"


def test_output_bias_is_the_logit_of_the_mean_pixel():
    x = _images()
    cfg = load_config("paper-mnist", SMALL)
    with seeded_rng(cfg):
        state = build_state(cfg, x)
    z = torch.zeros(1, cfg.noise.dim)
    last = state.G.net[-2]  # the output Linear, before the sigmoid
    expected = torch.logit(x.double().mean(0).clamp(1e-3, 1 - 1e-3)).float().reshape(-1)
    torch.testing.assert_close(last.bias, expected)
    # G's output is sigmoid(W h + b) with small W: it starts near the data's mean image.
    mean_image = torch.sigmoid(last.bias).reshape(1, 1, 6, 6)
    torch.testing.assert_close(mean_image, x.mean(0, keepdim=True), atol=1e-6, rtol=0)
    assert state.G(z).shape == (1, 1, 6, 6)


def test_output_bias_needs_a_training_set_and_a_sigmoid():
    with pytest.raises(ConfigError, match="output 'sigmoid'"):
        load_config("paper-mnist", ["generator.output=tanh"])
    cfg = load_config("ring8", ["generator.output=sigmoid", "generator.output_bias=data_logit"])
    with pytest.raises(ConfigError, match="set data.n"):
        build_state(cfg)
    assert data_logit(type("S", (), {"x": torch.full((3, 2), 0.5)})(), "x").abs().max() == 0


def test_simultaneous_needs_k_1():
    with pytest.raises(ConfigError, match="k must be 1"):
        load_config("paper-mnist", ["update=simultaneous", "k=2"])


def test_one_pass_discriminator_equals_two_passes():
    torch.manual_seed(0)
    cfg = load_config(
        "paper-mnist", SMALL + ["discriminator.dropout=0", "discriminator.input_dropout=0"]
    )
    state = build_state(cfg, _images())
    x, fake = torch.rand(8, 1, 6, 6), torch.rand(8, 1, 6, 6)
    real_logits, fake_logits = discriminate(state.D, x, fake)
    # Row-independent D: equal up to float32 rounding of a differently shaped matmul.
    torch.testing.assert_close(real_logits, state.D(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fake_logits, state.D(fake), rtol=1e-5, atol=1e-6)


def test_simultaneous_update_takes_both_gradients_before_either_step():
    cfg = load_config("paper-mnist", SMALL + ["update=simultaneous", "steps=1"])
    x = _images()
    with seeded_rng(cfg):
        state = build_state(cfg, x)
    ref = copy.deepcopy(state)  # the same parameters, RNG streams and data order
    dropout_rng = torch.get_rng_state()

    torch.set_rng_state(dropout_rng)
    algorithm1(cfg, state)

    # By hand: one forward, both losses, autograd per network, then plain SGD steps.
    torch.set_rng_state(dropout_rng)
    z, xb = ref.prior.sample(cfg.m), ref.data.sample(cfg.m)
    logits = ref.D(torch.cat([xb, ref.G(z)]))
    real, fake = logits[: cfg.m], logits[cfg.m :]
    gd = torch.autograd.grad(d_loss(real, fake), list(ref.D.parameters()), retain_graph=True)
    gg = torch.autograd.grad(g_loss_nonsaturating(fake), list(ref.G.parameters()))
    for new, old, grads, lr in ((state.D, ref.D, gd, 0.05), (state.G, ref.G, gg, 0.1)):
        for p, p0, g in zip(new.parameters(), old.parameters(), grads, strict=True):
            # First step of momentum SGD: the velocity is the gradient itself.
            torch.testing.assert_close(p, p0.detach() - lr * g, rtol=0, atol=1e-7)


def test_simultaneous_run_resumes_bit_exactly(tmp_path):
    x = _images()
    over = SMALL + ["update=simultaneous", "steps=12", "checkpoint_every=5", "log_every=1"]
    full = ganlab.train("paper-mnist", tmp_path / "full", overrides=over, data=x, report=False)
    part = ganlab.train(
        "paper-mnist", tmp_path / "part", overrides=[*over, "steps=5"], data=x, report=False
    )
    part = ganlab.resume(tmp_path / "part", steps=12, data=x, report=False)
    for a, b in zip(full.generator.parameters(), part.generator.parameters(), strict=True):
        assert torch.equal(a, b)


def test_load_run_and_eval_at_a_chosen_step(tmp_path):
    x = torch.rand(200, 2)
    over = ["data.kind=tensor", "m=50", "steps=20", "checkpoint_every=5", "keep_checkpoints=10"]
    ganlab.train("ring8", tmp_path / "r", overrides=over, data=x, report=False)
    assert load_run(tmp_path / "r").step == 20
    assert load_run(tmp_path / "r", 10).step == 10
    with pytest.raises(CheckpointError, match=r"kept steps: 5, 10, 15, 20"):
        load_run(tmp_path / "r", 7)
    a, b = load_run(tmp_path / "r", 5).sample(10), load_run(tmp_path / "r", 20).sample(10)
    assert not torch.equal(a, b)


def test_eval_step_on_a_toy_run(tmp_path):
    over = ["steps=20", "checkpoint_every=10", "keep_checkpoints=5"]
    ganlab.train("ring8", tmp_path / "r", overrides=over, report=False)
    cmd = [sys.executable, "-m", "ganlab.cli", "eval", str(tmp_path / "r"), "--parzen"]
    small = ["--samples", "200", "--valid", "50", "--test", "100"]
    out = subprocess.run([*cmd, *small, "--step", "10"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "r" / "parzen-step-10.json").read_text())
    assert result["step"] == 10 and result["samples"] == 200
    bad = subprocess.run([*cmd, *small, "--step", "3"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no checkpoint of step 3" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["steps"] == 20


def test_sample_at_a_chosen_step(tmp_path):
    over = ["steps=20", "checkpoint_every=10", "keep_checkpoints=5"]
    run = ganlab.train("ring8", tmp_path / "r", overrides=over, report=False)
    cmd = [sys.executable, "-m", "ganlab.cli", "sample", str(tmp_path / "r"), "-n", "5"]
    out = subprocess.run([*cmd, "--step", "10", "--out", str(tmp_path / "s.npy")], text=True,
                         capture_output=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    at_10 = torch.from_numpy(np.load(tmp_path / "s.npy"))
    # Same weights, same noise; only the matmuls' thread split may differ between this process
    # (another test may have set 1 thread) and the CLI's: float32 rounding, ~1e-7 here.
    assert torch.allclose(at_10, load_run(tmp_path / "r", 10).sample(5), atol=1e-5)
    assert not torch.allclose(at_10, run.sample(5), atol=1e-3)  # step 20's G differs


def _paper_bench():
    """benchmarks/paper_mnist.py as a module."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "paper_mnist.py"
    spec = importlib.util.spec_from_file_location("paper_mnist_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checkpoint_is_selected_on_validation_never_on_test():
    bench = _paper_bench()
    rows = [  # the test score prefers step 10, the validation score step 20
        {"step": 10, "mean_ll": 190.0, "se": 2.0, "sigma": 0.2, "select_ll": 170.0},
        {"step": 20, "mean_ll": 180.0, "se": 2.0, "sigma": 0.2, "select_ll": 175.0},
    ]
    assert bench.select_checkpoint(rows)["step"] == 20


def test_training_stops_when_the_validation_best_is_a_patience_old():
    bench = _paper_bench()
    rising = [{"epoch": 5 * i, "select_ll": float(i), "mean_ll": 0.0} for i in range(1, 40)]
    assert not bench.stopping(rising, patience=100)["stopped"]  # the newest is the best
    # a plateau after epoch 150: the best at 150, then 100 epochs below it
    flat = rising[:30] + [{"epoch": 150 + 5 * i, "select_ll": 29.0, "mean_ll": 0.0} for i in
                          range(1, 21)]  # fmt: skip
    stop = bench.stopping(flat, patience=100)
    assert stop == {"patience_epochs": 100, "best_epoch": 150, "last_epoch": 250, "stopped": True}
    assert not bench.stopping(flat[:-1], patience=100)["stopped"]  # 95 epochs: not yet


def test_curve_scores_test_and_selects_on_the_other_validation_images(tmp_path, monkeypatch):
    bench = _paper_bench()
    x = _images(64)
    over = SMALL + ["steps=4", "checkpoint_every=2", "keep_checkpoints=10", "sample_every=100"]
    ganlab.train("paper-mnist", tmp_path / "r", overrides=over, data=x, report=False)
    g = torch.Generator().manual_seed(1)
    valid, test = torch.rand(30, 36, generator=g), torch.rand(20, 36, generator=g)
    splits = bench.Splits(x.reshape(64, -1), valid[:10], valid[10:], test)
    monkeypatch.setattr(bench, "_splits", lambda dataset, path: splits)
    bench.curve(tmp_path / "r", "mnist")
    out = json.loads((tmp_path / "r" / "parzen_curve.json").read_text())
    assert [r["step"] for r in out["rows"]] == [2, 4]
    assert out["best"] == max(out["rows"], key=lambda r: r["select_ll"])
    assert "never used to select" in out["selection"]
    assert out["stopping"]["best_epoch"] == out["best"]["epoch"]
    # each row: the paper's protocol on test (sigma from the first validation images), and the
    # selecting score recomputed here from the other validation images at the same sigma
    row = out["rows"][-1]
    samples = load_run(tmp_path / "r", row["step"]).sample(10_000)
    samples = samples.reshape(len(samples), -1)
    paper = parzen_select_and_score(samples, splits.valid, splits.test)
    assert (row["sigma"], row["se"]) == (paper.sigma, pytest.approx(paper.se))
    assert row["mean_ll"] == pytest.approx(paper.mean)
    selecting = parzen_log_likelihood(samples, splits.select, paper.sigma).mean()
    assert row["select_ll"] == pytest.approx(float(selecting)) and row["select_n"] == 20
