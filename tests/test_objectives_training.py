"""The objectives, regularizers and EMA of issue 16 inside Algorithm 1: every objective trains
and samples through the CLI, the regularizers do what they say, EMA resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ganlab
from ganlab.cli import main
from ganlab.config import OBJECTIVES, load_config
from ganlab.errors import ConfigError
from ganlab.runs.checkpoints import CheckpointStore
from ganlab.training.algorithm import algorithm1
from ganlab.training.regularization import check_world
from ganlab.training.state import build_state, seeded_rng

SHORT = ["--set", "steps=30", "--set", "log_every=10", "--set", "sample_every=30",
         "--set", "checkpoint_every=30", "--quiet"]  # fmt: skip


@pytest.mark.parametrize("name", OBJECTIVES)
def test_every_objective_trains_and_samples_from_the_cli(name, tmp_path, capsys):
    run = tmp_path / name
    assert main(["train", "ring8", "--set", f"objective={name}", *SHORT, "--out", str(run)]) == 0
    out = tmp_path / "s.npy"
    assert main(["sample", str(run), "-n", "50", "--out", str(out)]) == 0
    x = np.load(out)
    assert x.shape == (50, 2) and np.isfinite(x).all()
    assert "objective: " + name in (run / "config.yaml").read_text()
    rows = ganlab.load_run(run).metrics()
    assert len(rows) == 3 and all(np.isfinite(list(r.values())).all() for r in rows)


@pytest.mark.parametrize("name", ["least_squares", "hinge", "relativistic", "f_js", "wasserstein"])
def test_simultaneous_update_takes_every_kind_of_objective(name, tmp_path):
    over = [f"objective={name}", "update=simultaneous", "steps=20", "log_every=10"]
    run = ganlab.train("ring8", tmp_path / "r", overrides=over, report=False)
    assert run.step == 20 and torch.isfinite(run.sample(10)).all()


def test_old_g_loss_configs_still_mean_the_objective():
    assert load_config("ring8", ["g_loss=minimax"]).objective == "minimax"
    assert load_config("ring8", ["g_loss=minimax"]).g_loss == "minimax"
    # --set objective replaces a file's g_loss, and the other way round
    assert load_config(None, ["g_loss=minimax", "objective=hinge"]).objective == "hinge"
    with pytest.raises(ConfigError, match="g_loss 'minimax' and objective 'hinge' disagree"):
        ganlab.config.config_from_dict({"g_loss": "minimax", "objective": "hinge"})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["objective=hinge", "regularizers.weight_clip=0.01"], "weight_clip keeps a Wasserstein"),
        (["objective=hinge", "label_smoothing=0.1"], "has none: set label_smoothing=0"),
        (["regularizers.r1=1", "compile=true"], "double backward"),
        (["objective=nothing"], "objective"),
    ],
)
def test_invalid_combinations_are_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as e:
        load_config("ring8", overrides)
    assert "\n" not in str(e.value)


def test_wasserstein_without_a_lipschitz_method_gets_wgan_gp():
    cfg = load_config("ring8", ["objective=wasserstein"])
    assert cfg.regularizers.gradient_penalty == 10.0  # Gulrajani et al. 2017's lambda
    clipped = load_config("ring8", ["objective=wasserstein", "regularizers.weight_clip=0.01"])
    assert clipped.regularizers.gradient_penalty == 0.0


def test_gradient_penalties_refuse_several_processes():
    check_world(load_config("ring8", ["regularizers.r1=1"]), 1)
    with pytest.raises(ConfigError, match="one process only"):
        check_world(load_config("ring8", ["regularizers.r1=1"]), 2)


def trained(overrides: list[str], steps: int = 10):
    cfg = load_config("ring8", [*overrides, f"steps={steps}"])
    with seeded_rng(cfg):
        state = build_state(cfg)
        algorithm1(cfg, state)
    return state


def test_weight_clipping_holds_every_weight_of_d_in_bounds():
    state = trained(["objective=wasserstein", "regularizers.weight_clip=0.01"])
    assert max(float(p.detach().abs().max()) for p in state.D.parameters()) <= 0.01


@pytest.mark.parametrize("key", ["r1", "r2", "gradient_penalty", "instance_noise"])
def test_each_regularizer_changes_training_and_zero_changes_nothing(key):
    base = trained([])
    zero = trained([f"regularizers.{key}=0"])
    on = trained([f"regularizers.{key}=1"])
    flat = [torch.cat([p.flatten() for p in s.G.parameters()]) for s in (base, zero, on)]
    assert torch.equal(flat[0], flat[1])  # off is the 2014 update, bit for bit
    assert not torch.allclose(flat[0], flat[2])


def test_instance_noise_decays_to_zero():
    from ganlab.training.regularization import regularization

    reg = regularization(
        load_config(
            "ring8",
            ["regularizers.instance_noise=0.5", "regularizers.instance_noise_decay_steps=100"],
        )  # fmt: skip
    )
    stds = []
    for step in (0, 50, 100, 200):
        reg.at_step(step)
        stds.append(float(reg.noise_std))
    assert stds == pytest.approx([0.5, 0.25, 0.0, 0.0], abs=1e-7)  # float32 of 0.25: exact


def test_ema_resumes_bit_exactly_and_is_what_samples_show(tmp_path, monkeypatch):
    over = ["ema.beta=0.9", "ema.start=5", "steps=40", "checkpoint_every=20", "log_every=10",
            "sample_every=20"]  # fmt: skip
    titles = []
    import ganlab.runs.monitor as monitor

    real = monitor.save_sample_figure
    monkeypatch.setattr(
        monitor, "save_sample_figure", lambda *a, **k: titles.append(k["title"]) or real(*a, **k)
    )
    full = ganlab.train("ring8", tmp_path / "full", overrides=over, report=False)
    part = ganlab.train("ring8", tmp_path / "part", overrides=[*over[:-4], "steps=20",
                        *over[3:]], report=False)  # fmt: skip
    part = ganlab.resume(tmp_path / "part", steps=40, report=False)
    a = CheckpointStore(tmp_path / "full" / "checkpoints").load_latest()[1]
    b = CheckpointStore(tmp_path / "part" / "checkpoints").load_latest()[1]
    assert any(k.startswith("G_ema.") for k in a) and set(a) == set(b)
    assert all(torch.equal(a[k], b[k]) for k in a)  # G, D, the average, optimisers, streams
    # the average differs from G, and Run.sample draws from it
    loaded = ganlab.load_run(tmp_path / "full")
    g = torch.cat([p.flatten() for p in loaded.generator.parameters()])
    ema = torch.cat([p.flatten() for p in loaded.ema.parameters()])
    assert not torch.allclose(g, ema)
    z = ganlab.training.prior.NoisePrior(loaded.config.noise, loaded.config.seed + 4).sample(5)
    torch.testing.assert_close(loaded.sample(5), loaded.ema(z), rtol=0, atol=0)
    assert titles and all("EMA of G's weights" in t for t in titles)
    assert full.step == part.step == 40
