"""Checkpoints that never lose a good one (issue 21, part 4): a checkpoint that fails its check
moves to checkpoints/corrupt/ and leaves the manifest, so do the ones newer than the checkpoint
a run goes on from (never deleted, never written over), keep-last-K counts only verified ones,
and resuming a run already at its steps says so in one line and changes nothing."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

import ganlab
from ganlab.cli import main
from ganlab.config import load_config
from ganlab.errors import AlreadyDone
from ganlab.runs.checkpoints import CheckpointStore
from ganlab.training.state import build_state, seeded_rng

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ["generator.hidden=[8]", "discriminator.hidden=[8]", "m=16", "checkpoint_every=10",
        "log_every=5", "sample_every=1000", "doctor=false"]  # fmt: skip


def cli(capsys, *args) -> tuple[int, str, str]:
    """`ganlab ARGS` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def train(capsys, run: Path, steps: int, keep: int) -> None:
    settings = [*TINY, f"steps={steps}", f"keep_checkpoints={keep}"]
    sets = [a for s in settings for a in ("--set", s)]
    assert cli(capsys, "train", "gauss1d", "--out", run, *sets, "--quiet")[0] == 0


def ckpt(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step-{step:08d}.safetensors"


def aside(run: Path, name: str) -> Path:
    return run / "checkpoints" / "corrupt" / name


def manifest_steps(run: Path) -> list[int]:
    rows = json.loads((run / "checkpoints" / "manifest.json").read_text())["checkpoints"]
    return [r["step"] for r in rows]


def truncate(path: Path) -> bytes:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path.read_bytes()


def garble(path: Path) -> bytes:
    """Random bytes of the same length (a fixed seed: the test is reproducible)."""
    path.write_bytes(random.Random(0).randbytes(path.stat().st_size))
    return path.read_bytes()


def files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under root (hidden ones too) with its bytes and mtime."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def warning_lines(err: str) -> list[str]:
    lines = err.splitlines()
    assert all(line.startswith("ganlab: warning: ") for line in lines), err
    return lines


# ---------------------------------------------------------------------------------------------
# The issue's scenario, at 1/100 scale: keep 2, the newest (30) truncated, resume to 25


def test_issue_scenario_falls_back_moves_the_corrupt_file_aside_and_keeps_the_good_one(
    tmp_path, capsys
):
    run = tmp_path / "run"
    train(capsys, run, 30, keep=2)
    assert manifest_steps(run) == [20, 30]
    good = ckpt(run, 20).read_bytes()
    bad = truncate(ckpt(run, 30))

    code, out, err = cli(capsys, "resume", run, "--steps", 25, "--quiet")
    assert code == 0, err
    [line] = warning_lines(err)  # one line for the one failing file
    moved = aside(run, "step-00000030.safetensors")
    assert str(ckpt(run, 30)) in line and "is corrupt" in line
    assert f"using step-00000020.safetensors instead (moved to {moved})" in line
    # The corrupt file is neither the newest nor one of the K: the good one it fell back to
    # survives the pruning after step 25, byte for byte.
    assert manifest_steps(run) == [20, 25]
    assert ckpt(run, 20).read_bytes() == good
    assert moved.read_bytes() == bad and not ckpt(run, 30).exists()
    assert json.loads((run / "meta.json").read_text())["resumes"][-1]["from_step"] == 20
    assert ganlab.load_run(run).step == 25

    # Training on writes a new step 30 beside the one set aside, never over it.
    code, _, err = cli(capsys, "resume", run, "--steps", 40, "--quiet")
    assert (code, err) == (0, "")
    assert manifest_steps(run) == [30, 40]
    assert moved.read_bytes() == bad
    assert CheckpointStore(run / "checkpoints").load(30)[2]["step"] == "30"


def test_several_corrupt_files_all_move_aside_and_the_run_goes_on_from_the_newest_good_one(
    tmp_path, capsys
):
    run = tmp_path / "run"
    train(capsys, run, 40, keep=4)
    bad = {20: truncate(ckpt(run, 20)), 30: garble(ckpt(run, 30)), 40: truncate(ckpt(run, 40))}

    code, _, err = cli(capsys, "resume", run, "--quiet")  # to its config's 40 steps
    assert code == 0, err
    lines = warning_lines(err)
    assert len(lines) == 3  # one line per failing file, newest first, each saying where it went
    for line, step in zip(lines, (40, 30, 20), strict=True):
        name = f"step-{step:08d}.safetensors"
        assert f"{ckpt(run, step)} is corrupt" in line
        assert f"using step-00000010.safetensors instead (moved to {aside(run, name)})" in line
        assert aside(run, name).read_bytes() == bad[step]
    assert json.loads((run / "meta.json").read_text())["resumes"][-1]["from_step"] == 10
    assert manifest_steps(run) == [10, 20, 30, 40]  # retrained from 10, every one verifying
    store = CheckpointStore(run / "checkpoints")
    assert [store.load(s)[2]["step"] for s in (20, 30, 40)] == ["20", "30", "40"]

    # A second corrupt file of step 40 goes beside the first, which stays as it was.
    second = truncate(ckpt(run, 40))
    code, _, err = cli(capsys, "resume", run, "--quiet")
    assert code == 0 and "step-00000040-2.safetensors" in err, err
    assert aside(run, "step-00000040.safetensors").read_bytes() == bad[40]
    assert aside(run, "step-00000040-2.safetensors").read_bytes() == second
    assert manifest_steps(run) == [10, 20, 30, 40]


def test_no_checkpoint_verifies_refused_in_one_line_and_nothing_moves(tmp_path, capsys):
    run = tmp_path / "run"
    train(capsys, run, 20, keep=2)
    truncate(ckpt(run, 10))
    garble(ckpt(run, 20))
    before = files(tmp_path)
    code, out, err = cli(capsys, "resume", run, "--steps", 30, "--quiet")
    assert code == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith("ganlab: error: no intact checkpoint") and "--overwrite" in line
    assert files(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# Newer than the checkpoint a run goes on from: moved aside, never deleted or written over


def test_an_unlisted_newer_file_is_moved_aside_before_the_run_reaches_its_step(tmp_path, capsys):
    run = tmp_path / "run"
    train(capsys, run, 30, keep=3)
    # a run killed after writing step 40 and before listing it in the manifest
    stray = ckpt(run, 40)
    stray.write_bytes(b"written by a run that stopped before listing it")
    code, _, err = cli(capsys, "resume", run, "--steps", 50, "--quiet")
    assert code == 0, err
    [line] = warning_lines(err)
    assert "not in the manifest" in line and "using step-00000030.safetensors instead" in line
    assert aside(run, stray.name).read_bytes() == b"written by a run that stopped before listing it"
    assert manifest_steps(run) == [30, 40, 50]
    assert CheckpointStore(run / "checkpoints").load(40)[2]["step"] == "40"


def test_a_rollback_past_a_corrupt_newest_moves_it_aside(tmp_path, monkeypatch):
    """on_nan: rollback falls back like a resume: the newest checkpoint, corrupted while the run
    went on, moves aside and the run rolls back to the one before."""
    real_game = ganlab.training.algorithm.loss_functions
    run, calls = tmp_path / "run", [0]

    def loss_functions(cfg):
        game = real_game(cfg)

        def g_loss(d_fake, d_real=None):
            calls[0] += 1
            loss = game.g_loss(d_fake, d_real)
            if calls[0] == 13:  # step 13: checkpoints 5 and 10 written; 10 then corrupted
                truncate(ckpt(run, 10))
                return loss * float("nan")
            return loss

        return dataclasses.replace(game, g_loss=g_loss)

    monkeypatch.setattr(ganlab.training.algorithm, "loss_functions", loss_functions)
    over = [*TINY, "steps=20", "checkpoint_every=5", "on_nan=rollback", "keep_checkpoints=3"]
    with pytest.warns(UserWarning) as caught:
        ganlab.train("gauss1d", run, overrides=over, report=False)
    messages = [str(w.message) for w in caught]
    assert any("step-00000010.safetensors is corrupt" in m and "moved to" in m for m in messages)
    assert any("rolled back to step 5 " in m for m in messages), messages
    assert aside(run, "step-00000010.safetensors").exists()
    assert manifest_steps(run) == [10, 15, 20]  # 10 written again after the rollback


# ---------------------------------------------------------------------------------------------
# keep-last-K counts only checkpoints that verify


@pytest.fixture
def gauss_state():
    cfg = load_config("gauss1d", ["steps=9", "generator.hidden=[8]", "discriminator.hidden=[8]"])
    with seeded_rng(cfg):
        return build_state(cfg)


def save_steps(store: CheckpointStore, state, *steps: int) -> None:
    for step in steps:
        state.step = step
        store.save(state)


def listed(store: CheckpointStore) -> list[int]:
    return [e["step"] for e in store.entries()]


def test_keep_last_k_counts_only_checkpoints_that_verify(tmp_path, gauss_state):
    store = CheckpointStore(tmp_path / "checkpoints", keep=2)
    save_steps(store, gauss_state, 1, 2)
    bad = truncate(ckpt(tmp_path, 2))  # corrupted since saved
    with pytest.warns(UserWarning, match="step-00000002.safetensors is corrupt.*moved to"):
        save_steps(store, gauss_state, 3)
    # 2 fails its check: it goes aside, and the intact 1 stays as one of the 2 kept
    assert listed(store) == [1, 3]
    assert ckpt(tmp_path, 1).exists()
    assert aside(tmp_path, "step-00000002.safetensors").read_bytes() == bad
    save_steps(store, gauss_state, 4)  # now 1 is beyond the 2 newest intact ones and goes
    assert listed(store) == [3, 4]
    assert not ckpt(tmp_path, 1).exists()


def test_a_corrupt_file_beyond_the_k_is_moved_aside_too_never_deleted(tmp_path, gauss_state):
    store = CheckpointStore(tmp_path / "checkpoints", keep=1)
    save_steps(store, gauss_state, 1, 2)
    assert listed(store) == [2] and not ckpt(tmp_path, 1).exists()  # intact: pruned
    bad = garble(ckpt(tmp_path, 2))
    with pytest.warns(UserWarning, match="is corrupt"):
        save_steps(store, gauss_state, 3)
    assert listed(store) == [3]
    assert aside(tmp_path, "step-00000002.safetensors").read_bytes() == bad


def test_a_manifest_rebuilt_from_file_names_still_counts_only_files_that_parse(
    tmp_path, gauss_state
):
    store = CheckpointStore(tmp_path / "checkpoints", keep=2)
    save_steps(store, gauss_state, 1, 2, 3)
    (tmp_path / "checkpoints" / "manifest.json").unlink()  # no checksums to compare with
    bad = truncate(ckpt(tmp_path, 3))
    state_files = sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*"))
    assert state_files == ["step-00000002.safetensors", "step-00000003.safetensors"]
    with pytest.warns(UserWarning) as caught:
        save_steps(store, gauss_state, 4)
    assert any("corrupt or truncated" in str(w.message) for w in caught)
    assert listed(store) == [2, 4]  # 3 does not parse: 2 is kept in its place
    assert aside(tmp_path, "step-00000003.safetensors").read_bytes() == bad
    assert all(e["sha256"] for e in store.entries())  # 2 verified, and listed with its checksum


def test_save_never_writes_over_a_file_already_at_its_name(tmp_path, gauss_state):
    store = CheckpointStore(tmp_path / "checkpoints", keep=3)
    save_steps(store, gauss_state, 1)
    ckpt(tmp_path, 2).write_bytes(b"a file nobody listed")
    with pytest.warns(UserWarning, match="was already there.*moved to"):
        save_steps(store, gauss_state, 2)
    assert aside(tmp_path, "step-00000002.safetensors").read_bytes() == b"a file nobody listed"
    assert listed(store) == [1, 2] and store.load(2)[2]["step"] == "2"


# ---------------------------------------------------------------------------------------------
# Resume of a run already at its steps: one line, exit 0, every file untouched


@pytest.mark.parametrize("how", ["resume", "resume --steps 20", "resume --steps 5", "train"])
def test_resume_of_a_finished_run_says_so_in_one_line_and_changes_nothing(tmp_path, capsys, how):
    run = tmp_path / "run"
    train(capsys, run, 20, keep=2)
    before = files(tmp_path)
    if how == "train":  # train --resume of the same config goes the same way
        sets = [a for s in [*TINY, "steps=20", "keep_checkpoints=2"] for a in ("--set", s)]
        args = ["train", "gauss1d", "--out", run, *sets, "--resume", "--quiet"]
    else:
        args = [*how.split()[:1], run, *how.split()[1:], "--quiet"]
    code, out, err = cli(capsys, *args)
    assert (code, err) == (0, "")
    asked = how.split()[-1] if "--steps" in how else "20"
    assert out == (
        f"ganlab: run {run} is already at step 20 (steps: {asked}); nothing to do: pass "
        "--steps 21 or more to train on\n"
    )
    assert files(tmp_path) == before  # meta.json, figures, index.html: bytes and mtimes


def test_a_finished_run_with_a_corrupt_newer_file_is_left_as_it_is(tmp_path, capsys):
    # --steps at the newest good checkpoint: nothing to train, so nothing moves either
    run = tmp_path / "run"
    train(capsys, run, 30, keep=3)
    truncate(ckpt(run, 30))
    before = files(tmp_path)
    code, out, err = cli(capsys, "resume", run, "--steps", 20, "--quiet")
    assert code == 0 and "already at step 20 (steps: 20)" in out
    [line] = warning_lines(err)
    assert "step-00000030.safetensors is corrupt" in line and "moved" not in line
    assert files(tmp_path) == before


def test_the_api_warns_already_done_and_returns_the_run(tmp_path, capsys):
    run = tmp_path / "run"
    train(capsys, run, 20, keep=2)
    before = files(tmp_path)
    with pytest.warns(AlreadyDone, match="already at step 20"):
        resumed = ganlab.resume(run)
    assert resumed.step == 20 and resumed.sample(5).shape == (5, 1)
    assert files(tmp_path) == before
