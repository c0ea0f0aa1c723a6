"""Checkpoints that never lose a good one (issue 21, part 4): a checkpoint that fails its check
moves to checkpoints/corrupt/ and leaves the manifest, keep-last-K counts only verified ones,
and resuming a finished run changes nothing."""

from __future__ import annotations

import json
import warnings

import pytest

import ganlab
from ganlab.cli import main
from ganlab.config import load_config
from ganlab.runs.checkpoints import CheckpointStore
from ganlab.training.state import build_state, seeded_rng

pytestmark = pytest.mark.usefixtures("one_thread")


def manifest_steps(run_dir) -> list[int]:
    rows = json.loads((run_dir / "checkpoints" / "manifest.json").read_text())["checkpoints"]
    return [r["step"] for r in rows]


def truncate(path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def train(run_dir, steps: int, keep: int) -> None:
    over = [f"steps={steps}", "checkpoint_every=10", "log_every=5", "sample_every=1000",
            f"keep_checkpoints={keep}"]  # fmt: skip
    ganlab.train("gauss1d", run_dir, overrides=over, report=False)


def test_a_resume_past_a_corrupt_newest_keeps_the_good_one_it_started_from(tmp_path):
    # the case: keep 2, the newest (30) truncated, resume to 25 from 20
    run = tmp_path / "run"
    train(run, 30, keep=2)
    assert manifest_steps(run) == [20, 30]
    truncate(run / "checkpoints" / "step-00000030.safetensors")
    with pytest.warns(UserWarning, match="is corrupt.*using step-00000020"):
        ganlab.resume(run, steps=25, report=False)
    assert manifest_steps(run) == [20, 25]  # the corrupt file neither newest nor one of the K
    assert (run / "checkpoints" / "step-00000020.safetensors").exists()  # never deleted
    assert (run / "checkpoints" / "corrupt" / "step-00000030.safetensors").exists()
    assert not (run / "checkpoints" / "step-00000030.safetensors").exists()
    assert ganlab.load_run(run).step == 25


def test_several_corrupt_checkpoints_all_move_aside(tmp_path):
    run = tmp_path / "run"
    train(run, 30, keep=3)
    for step in (20, 30):
        truncate(run / "checkpoints" / f"step-000000{step}.safetensors")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ganlab.resume(run, steps=35, report=False)
    moved_notes = [str(w.message) for w in caught if "moved to" in str(w.message)]
    assert len(moved_notes) == 2  # one line per failing file, each saying where it went
    # training from 10 wrote 20 and 30 afresh: the kept 3 are those, all intact
    assert manifest_steps(run) == [20, 30, 35]
    moved = sorted(p.name for p in (run / "checkpoints" / "corrupt").iterdir())
    assert moved == ["step-00000020.safetensors", "step-00000030.safetensors"]


def test_keep_last_k_counts_only_checkpoints_that_verify(tmp_path):
    cfg = load_config("gauss1d", ["steps=3"])
    with seeded_rng(cfg):
        state = build_state(cfg)
    store = CheckpointStore(tmp_path / "checkpoints", keep=2)
    for step in (1, 2):
        state.step = step
        store.save(state)
    truncate(tmp_path / "checkpoints" / "step-00000002.safetensors")  # corrupted since saved
    state.step = 3
    store.save(state)
    # 2 fails its check: it goes aside, and the intact 1 stays as one of the 2 kept
    assert [e["step"] for e in store.entries()] == [1, 3]
    assert (tmp_path / "checkpoints" / "step-00000001.safetensors").exists()
    assert (tmp_path / "checkpoints" / "corrupt" / "step-00000002.safetensors").exists()
    state.step = 4
    store.save(state)  # now 1 is beyond the 2 newest intact ones and goes
    assert [e["step"] for e in store.entries()] == [3, 4]
    assert not (tmp_path / "checkpoints" / "step-00000001.safetensors").exists()


def test_resume_of_a_finished_run_says_so_and_changes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    train(run, 20, keep=2)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}
    assert main(["resume", str(run), "--quiet"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already at step 20" in err[0] and "--steps 21" in err[0], err
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()}
    assert after == before
