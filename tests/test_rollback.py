"""on_nan: rollback. A NaN loss reloads the newest checkpoint with lower learning rates and the
run goes on; on_nan: stop (the default), no checkpoint yet, or max_rollbacks used up still stop
with the one-line Diverged error."""

import dataclasses
import json
import re

import pytest
import torch

import ganlab
from ganlab.cli import main
from ganlab.errors import ConfigError, Diverged
from ganlab.runs.checkpoints import CheckpointStore

TINY = [
    "generator.hidden=[8]",
    "discriminator.hidden=[8]",
    "threads=1",
    "m=16",
    "log_every=1",
    "checkpoint_every=5",
    "sample_every=100000",
]
LR_G, LR_D = 0.0005, 0.002  # the gauss1d preset's Adam rates, without decay


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def nan_at(monkeypatch):
    """Make G's loss NaN at the given calls (one call per step of Algorithm 1 with k = 1)."""

    def install(*calls):
        real_game = ganlab.training.algorithm.loss_functions
        count = [0]

        def loss_functions(cfg):
            game = real_game(cfg)

            def g_loss(d_fake, d_real=None):
                count[0] += 1
                loss = game.g_loss(d_fake, d_real)
                return loss * float("nan") if count[0] in calls else loss

            return dataclasses.replace(game, g_loss=g_loss)

        monkeypatch.setattr(ganlab.training.algorithm, "loss_functions", loss_functions)

    return install


def header(run_dir):
    return CheckpointStore(run_dir / "checkpoints").load_latest()[2]


def test_rollback_reloads_the_checkpoint_halves_the_rates_and_finishes(tmp_path, nan_at):
    nan_at(8)  # step 8: two steps past the checkpoint of step 5 (seven of them had run)
    over = [*TINY, "steps=12", "on_nan=rollback"]
    with pytest.warns(UserWarning) as caught:
        run = ganlab.train("gauss1d", tmp_path / "r", overrides=over, report=False)
    messages = [str(w.message) for w in caught if "rolled back" in str(w.message)]
    assert messages == [
        "training diverged at step 8: the generator's loss is NaN or infinite; rolled back to "
        "step 5 (step-00000005.safetensors) with both learning rates x0.5 (rollback 1 of 3)"
    ]
    assert run.step == 12
    assert (header(run.path)["lr_scale"], header(run.path)["rollbacks"]) == ("0.5", "1")
    rows = run.metrics()
    assert [r["step"] for r in rows] == list(range(1, 13))  # steps 6-8 logged once, redone
    for r in rows:
        scale = 1.0 if r["step"] <= 5 else 0.5
        assert (r["lr_g"], r["lr_d"]) == pytest.approx((LR_G * scale, LR_D * scale))
    _, tensors, head = CheckpointStore(run.path / "checkpoints").load_latest()
    groups = json.loads(head["opt_g.param_groups"]) + json.loads(head["opt_d.param_groups"])
    assert [g["lr"] for g in groups] == pytest.approx([LR_G / 2, LR_D / 2])
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k[:2] in ("G.", "D."))

    # The lower rates are part of the run: a resume keeps them.
    resumed = ganlab.resume(run.path, steps=15, report=False)
    assert [r["lr_g"] for r in resumed.metrics()[-3:]] == pytest.approx([LR_G / 2] * 3)
    assert header(run.path)["lr_scale"] == "0.5"


def test_rollbacks_compound_and_are_counted(tmp_path, nan_at):
    nan_at(8, 10)  # call 10 is step 7 of the second attempt: back to step 5 again
    over = [*TINY, "steps=12", "on_nan=rollback", "rollback_lr_factor=0.25"]
    with pytest.warns(UserWarning) as caught:
        run = ganlab.train("gauss1d", tmp_path / "r", overrides=over, report=False)
    ends = [str(w.message).split("; rolled back to ")[1] for w in caught]
    assert ends == [
        "step 5 (step-00000005.safetensors) with both learning rates x0.25 (rollback 1 of 3)",
        "step 5 (step-00000005.safetensors) with both learning rates x0.0625 (rollback 2 of 3)",
    ]
    assert "diverged at step 7 after 1 rollback:" in str(caught[1].message)
    assert (header(run.path)["lr_scale"], header(run.path)["rollbacks"]) == ("0.0625", "2")


def test_stop_is_the_default_and_raises_diverged(tmp_path, nan_at):
    nan_at(8)
    with pytest.raises(Diverged) as e:
        ganlab.train("gauss1d", tmp_path / "r", overrides=[*TINY, "steps=12"], report=False)
    assert re.fullmatch(
        r"training diverged at step 8: the generator's loss is NaN or infinite; last good "
        r"checkpoint: .*step-00000005\.safetensors; lower the learning rates in .*config\.yaml "
        r"and resume",
        str(e.value),
    )


def test_divergence_is_found_at_its_step_between_log_rows(tmp_path, nan_at):
    nan_at(8)  # metrics.csv gets a row every 1000 steps only: the losses are checked every step
    over = [*TINY, "steps=12", "log_every=1000"]
    with pytest.raises(Diverged, match=r"^training diverged at step 8: the generator's loss"):
        ganlab.train("gauss1d", tmp_path / "r", overrides=over, report=False)


def test_without_a_checkpoint_rollback_stops(tmp_path, nan_at):
    nan_at(3)  # before the first checkpoint (step 5)
    over = [*TINY, "steps=12", "on_nan=rollback"]
    with pytest.raises(Diverged, match="step 3: .* no checkpoint yet"):
        ganlab.train("gauss1d", tmp_path / "r", overrides=over, report=False)


def test_a_huge_learning_rate_stops_after_max_rollbacks(tmp_path, capsys):
    # Plain SGD with D's rate at 1000 overflows at step 4 (losses ~1e16 at step 3); from the
    # checkpoint of step 2, rates 500, 250 and 125 overflow again (a scan: 100 lasted 8 steps),
    # so every rollback fails until max_rollbacks is used up.
    values = [
        *TINY,
        "steps=100",
        "checkpoint_every=2",
        "on_nan=rollback",
        "g_optimizer.name=sgd",
        "d_optimizer.name=sgd",
        "d_optimizer.lr=1000",
    ]
    sets = [arg for v in values for arg in ("--set", v)]
    code = main(["train", "gauss1d", "--out", str(tmp_path / "r"), "--quiet", *sets])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 4, err
    for i, line in enumerate(err[:3], start=1):
        assert line.startswith("ganlab: warning: training diverged at step ")
        assert line.endswith(f"x{0.5**i:g} (rollback {i} of 3)")
    assert re.fullmatch(
        r"ganlab: error: training diverged at step \d+ after 3 rollbacks: .* is NaN or "
        r"infinite; last good checkpoint: .*; lower the learning rates in .* and resume",
        err[3],
    )
    _, tensors, head = CheckpointStore(tmp_path / "r" / "checkpoints").load_latest()
    assert head["step"] == "2"  # the last good checkpoint, never one of a failed attempt
    assert all(torch.isfinite(t).all() for k, t in tensors.items() if k[:2] in ("G.", "D."))


@pytest.mark.parametrize(
    "override, needle",
    [
        ("on_nan=retry", "on_nan"),
        ("rollback_lr_factor=1", "rollback_lr_factor"),
        ("rollback_lr_factor=0", "rollback_lr_factor"),
        ("max_rollbacks=0", "max_rollbacks"),
    ],
)
def test_rollback_settings_are_checked(override, needle):
    with pytest.raises(ConfigError, match=needle):
        ganlab.load_config("gauss1d", [override])
