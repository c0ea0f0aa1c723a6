"""Faults during training: Ctrl-C / SIGTERM, SIGKILL at random moments, a full disk.

Each test trains a tiny 1-D run (G and D with 8 hidden units) in a real process and checks that
the run directory stays resumable and that resuming gives bit for bit the parameters of a run
that was never stopped. Corrupt and pickled checkpoints are covered in test_cli_errors.py.
"""

import errno
import json
import multiprocessing as mp
import os
import random
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

from ganlab.cli import main
from ganlab.runs.api import resume, train
from ganlab.runs.checkpoints import CheckpointStore

TINY = {
    "generator.hidden": "[8]",
    "discriminator.hidden": "[8]",
    "threads": "1",
    "sample_every": "100000",
    "keep_checkpoints": "3",
}


def overrides(**values) -> list[str]:
    return [f"{k}={v}" for k, v in {**TINY, **values}.items()]


def sets(**values) -> list[str]:
    return [arg for item in overrides(**values) for arg in ("--set", item)]


def ganlab_process(*args, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ganlab", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )  # fmt: skip


def ganlab(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ganlab", *map(str, args)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def wait_for(condition, what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def metric_rows(run: Path) -> int:
    path = run / "metrics.csv"
    return max(len(path.read_text().splitlines()) - 1, 0) if path.exists() else 0


def networks(run: Path) -> dict[str, torch.Tensor]:
    """G's and D's tensors in the run's newest checkpoint, checked against the manifest."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to an older checkpoint fails the test
        _, tensors, _ = CheckpointStore(run / "checkpoints").load_latest()
    return {k: v for k, v in tensors.items() if k.startswith(("G.", "D."))}


def assert_same_networks(run: Path, reference: Path) -> None:
    got, want = networks(run), networks(reference)
    assert got.keys() == want.keys()
    for key in want:
        assert torch.equal(got[key], want[key]), f"{key} differs from the uninterrupted run"


def newest_step(run: Path) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return int(CheckpointStore(run / "checkpoints").load_latest()[2]["step"])


def assert_checkpoints_intact(run: Path, keep: int = 3) -> list[dict]:
    """Every checkpoint the manifest lists exists and matches its SHA-256; at most `keep`."""
    import hashlib

    entries = CheckpointStore(run / "checkpoints").entries()
    assert 1 <= len(entries) <= keep
    for entry in entries:
        data = (run / "checkpoints" / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
    return entries


def tmp_files(run: Path) -> list[str]:
    return sorted(p.name for p in run.rglob(".*.tmp"))


def reference_run(path: Path, steps: int, **values) -> Path:
    """An uninterrupted run, trained in this process (same seed, threads and machine)."""
    values = {"log_every": "1000000", **values, "steps": steps, "checkpoint_every": steps}
    train("gauss1d", path, overrides=overrides(**values), report=False)
    return path


# ---------------------------------------------------------------------------------------------
# Interrupt: SIGINT / SIGTERM finish the step, checkpoint and exit 130; resume is exact

LONG = 800  # steps: seconds of training, so that a signal always lands mid-run
LONG_SET = {"log_every": 1, "checkpoint_every": 100}


@pytest.fixture(scope="module")
def long_reference(tmp_path_factory):
    return reference_run(tmp_path_factory.mktemp("ref") / "run", LONG)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_checkpoints_exits_130_and_resume_is_exact(tmp_path, long_reference, sig):
    run = tmp_path / "run"
    args = sets(steps=LONG, **LONG_SET)
    proc = ganlab_process("train", "gauss1d", "--out", run, "--quiet", *args)
    wait_for(lambda: metric_rows(run) >= 1 or proc.poll() is not None, "the first metrics row")
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    match = re.fullmatch(
        r"ganlab: interrupted at step (\d+); checkpoint saved: continue with "
        r"`ganlab resume (.+)`",
        lines[0],
    )
    assert match, err
    step = int(match[1])
    assert 1 <= step < LONG
    assert Path(match[2]) == run
    assert newest_step(run) == step  # the checkpoint is at the step reached
    assert metric_rows(run) == step
    assert tmp_files(run) == []

    if sig == signal.SIGINT:  # the command the message gives, end to end
        done = ganlab("resume", run, "--quiet")
        assert done.returncode == 0, done.stderr
        assert f"step {LONG}" in done.stdout
    else:  # the same through the API, without a second interpreter start and a report
        assert resume(run, report=False).step == LONG
    assert_same_networks(run, long_reference)


def test_second_sigint_aborts_at_once_and_leaves_the_run_resumable(tmp_path):
    run = tmp_path / "run"
    # A big batch makes one step take about a second: the second Ctrl-C lands inside a step.
    values = {"steps": LONG, "m": 2**20, "log_every": 1, "checkpoint_every": 1}
    proc = ganlab_process(
        "train", "gauss1d", "--out", run, "--quiet", *sets(**values),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # see the first handler's message at once
    )  # fmt: skip
    manifest = run / "checkpoints" / "manifest.json"
    wait_for(lambda: manifest.exists() or proc.poll() is not None, "the first checkpoint")
    proc.send_signal(signal.SIGINT)  # early in step 2
    assert "Ctrl-C again to abort" in proc.stdout.readline()  # the first handler ran
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 5.0, "the second Ctrl-C did not abort at once"

    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("ganlab: aborted; checkpoints written before are intact"), err
    assert f"`ganlab resume {run}` continues" in last
    assert "Traceback" not in err
    assert tmp_files(run) == []  # a half-written checkpoint was removed
    assert_checkpoints_intact(run)
    step = newest_step(run)  # the previous checkpoint loads, without a fallback warning
    assert 1 <= step < LONG
    resumed = resume(run, steps=step + 1, report=False)
    assert resumed.step == step + 1


# A Ctrl-C while torch is still importing (the first seconds of every command) raises
# KeyboardInterrupt inside `import torch`: simulated exactly by an import hook.
_CTRL_C_WHILE_TORCH_LOADS = """
import sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise KeyboardInterrupt
sys.meta_path.insert(0, CtrlC())
import ganlab.cli
assert "torch" not in sys.modules, "importing the CLI imported torch"
sys.exit(ganlab.cli.main(sys.argv[1:]))
"""


def test_ctrl_c_before_training_is_one_line_and_offers_no_resume(tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-c", _CTRL_C_WHILE_TORCH_LOADS, "train", "gauss1d", "--out", str(run)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 130, proc.stderr
    # one line, no traceback, and no `ganlab resume` hint for a run with nothing to resume
    assert proc.stderr.strip() == "ganlab: aborted before the first checkpoint; nothing to resume"
    assert not run.exists()


# ---------------------------------------------------------------------------------------------
# Crash: SIGKILL at 20 random moments, and once surely inside a checkpoint write

KILLS = 20


def started(run: Path, kill: int, resumes: int) -> bool:
    """The first process wrote a checkpoint, or a later one began its resume's loop."""
    if kill == 0:
        return (run / "checkpoints" / "manifest.json").exists()
    try:
        return len(json.loads((run / "meta.json").read_text()).get("resumes", [])) > resumes
    except (OSError, ValueError):
        return False


def test_sigkill_at_random_moments_keeps_the_run_resumable_and_exact(tmp_path):
    """Kill a run 20 times, each time the process resuming the previous kill's run.

    Processes are forked from a server that imported ganlab once, to save interpreter starts.
    A checkpoint every 2 steps makes writes frequent, so some kills may land in the middle of
    one; test_sigkill_inside_a_checkpoint_write_keeps_the_previous_one makes sure of that case.
    """
    rng = random.Random(20)
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["ganlab.cli", "ganlab.runs.api"])  # most of a start's imports
    run = tmp_path / "run"
    values = {"steps": 5000, "checkpoint_every": 2, "log_every": 1}
    argv = ["train", "gauss1d", "--out", str(run), "--quiet", *sets(**values)]
    steps_seen = []
    for kill in range(KILLS):
        resumes = len(json.loads((run / "meta.json").read_text()).get("resumes", [])) if kill else 0
        proc = ctx.Process(target=main, args=(argv,))
        proc.start()
        if kill % 4 == 3:  # any moment from the start: loading, truncating logs, training
            time.sleep(rng.uniform(0.0, 2.0))
        else:  # a moment in the training loop, after the first checkpoint or the resume began
            wait_for(
                lambda p=proc, k=kill, n=resumes: started(run, k, n) or not p.is_alive(), "training"
            )
            time.sleep(rng.uniform(0.0, 0.3))
        proc.kill()
        proc.join(timeout=30)
        assert proc.exitcode == -signal.SIGKILL, f"kill {kill}: exit code {proc.exitcode}"

        assert_checkpoints_intact(run)
        steps_seen.append(newest_step(run))  # loads without a fallback warning
        assert steps_seen == sorted(steps_seen), "a resume went backwards"
        argv = ["resume", str(run), "--quiet"]

    # A kill between a checkpoint's rename and the manifest's update leaves a whole file newer
    # than every listed one; the resume moves it aside with one warning line, and warns of
    # nothing else. (An unlisted older file, left by a kill before the oldest one's deletion,
    # is deleted by the next save without a word.)
    entries = CheckpointStore(run / "checkpoints").entries()
    listed, newest = {e["file"] for e in entries}, max(int(e["step"]) for e in entries)
    files = [p.name for p in (run / "checkpoints").glob("step-*.safetensors")]
    unlisted = sorted((f for f in files if f not in listed and int(f[5:13]) > newest), reverse=True)
    target = steps_seen[-1] + 10
    done = ganlab("resume", run, "--steps", target, "--quiet")
    assert done.returncode == 0, done.stderr
    assert f"step {target}" in done.stdout
    warned = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warned) == len(unlisted), done.stderr
    for line, name in zip(warned, unlisted, strict=True):
        assert f"{name} is newer than the one the run goes on from and not in the manifest" in line
    assert tmp_files(run) == []  # stale temporary files were cleaned up by the next save
    files = sorted(p.name for p in (run / "checkpoints").glob("step-*.safetensors"))
    assert len(files) == 3  # keep_checkpoints: only the newest K remain
    assert [e["file"] for e in assert_checkpoints_intact(run)] == files
    assert_same_networks(run, reference_run(tmp_path / "ref", target))


# Random kills land inside a checkpoint write only by chance (a tiny model writes in well under
# a millisecond), so this test makes sure of it: the child writes half of its second checkpoint
# to the temporary file, fsyncs it and SIGKILLs itself before the rename.
_DIE_MID_WRITE = """
import os, signal, sys
import ganlab.runs.checkpoints as checkpoint
from ganlab.cli import main
real, seen = checkpoint.atomic_write_bytes, []
def half_then_die(path, data):
    if path.suffix == ".safetensors":
        seen.append(path)
        if len(seen) == 2:
            with open(path.with_name(f".{path.name}.tmp"), "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
    return real(path, data)
checkpoint.atomic_write_bytes = half_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_inside_a_checkpoint_write_keeps_the_previous_one(tmp_path):
    run = tmp_path / "run"
    values = {"steps": 10, "checkpoint_every": 2, "log_every": 1}
    proc = subprocess.run(
        [sys.executable, "-c", _DIE_MID_WRITE, "train", "gauss1d", "--out", str(run),
         "--quiet", *sets(**values)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert tmp_files(run) == [".step-00000004.safetensors.tmp"]  # the half-written file
    assert_checkpoints_intact(run)
    assert newest_step(run) == 2  # the previous checkpoint, without a fallback warning
    done = ganlab("resume", run, "--quiet")
    assert done.returncode == 0, done.stderr
    assert tmp_files(run) == []
    assert_same_networks(run, reference_run(tmp_path / "ref", 10))


# ---------------------------------------------------------------------------------------------
# Full disk / unwritable directory while checkpointing

_LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
from ganlab.cli import main
sys.exit(main(sys.argv[1:]))
"""


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_full_disk_while_checkpointing_stops_cleanly_and_keeps_the_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    values = {"steps": 4, "checkpoint_every": 2, "log_every": 1}
    train("gauss1d", run, overrides=overrides(**values), report=False)
    before = snapshot(run / "checkpoints")
    checkpoint_size = len(before["step-00000004.safetensors"])
    limit = checkpoint_size // 2  # config, meta and metrics fit; a checkpoint does not

    full = subprocess.run(
        [sys.executable, "-c", _LIMITED.format(limit=limit), "resume", str(run), "--steps", "8",
         "--quiet"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert full.returncode == 2, full.stderr
    assert full.stderr.count("\n") == 1 and "Traceback" not in full.stderr
    assert full.stderr.startswith("ganlab: error: cannot write checkpoint ")
    assert "step-00000006.safetensors (File too large)" in full.stderr
    assert "the previous checkpoint is intact" in full.stderr
    assert snapshot(run / "checkpoints") == before  # nothing half-written, nothing deleted

    assert resume(run, steps=8, report=False).step == 8  # room again: the run goes on
    assert_same_networks(run, reference_run(tmp_path / "ref", 8))


@pytest.mark.parametrize("where", ["checkpoint", "metrics", "samples"])
def test_write_failure_is_a_one_line_error(capsys, tiny_run, monkeypatch, where):
    """ENOSPC on a checkpoint, metrics.csv or a sample figure: exit 2, one line, checkpoint kept."""
    before = snapshot(tiny_run / "checkpoints")
    no_space = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if where == "checkpoint":
        real_replace = os.replace

        def replace(src, dst):
            if Path(dst).parent.name == "checkpoints":
                raise no_space
            real_replace(src, dst)

        monkeypatch.setattr("ganlab.files.os.replace", replace)
        needles = ["cannot write checkpoint", "step-00000006.safetensors", "No space left"]
    elif where == "metrics":
        (tiny_run / "metrics.csv").unlink()
        (tiny_run / "metrics.csv").mkdir()  # opening it for appending fails
        needles = ["cannot write", "metrics.csv", "is intact"]
    else:

        def save_sample_figure(*args, **kwargs):
            raise no_space

        monkeypatch.setattr("ganlab.runs.monitor.save_sample_figure", save_sample_figure)
        needles = ["cannot write", "samples", "No space left", "step-00000004", "is intact"]

    assert main(["resume", str(tiny_run), "--steps", "6", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganlab: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert snapshot(tiny_run / "checkpoints") == before
