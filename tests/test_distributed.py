"""Data-parallel training over 2 CPU processes (gloo): one DDP step equals one step on the global
minibatch, rank 1 writes nothing, an interrupted 2-process run resumes exactly on 2 processes
and validly on 1, and the launcher's and devices' errors are one line.

The 2-process runs start their workers the way torchrun does (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and a free MASTER_PORT in the environment); the interrupt test goes through
`ganlab train --nproc 2` itself, which runs torchrun's launcher.
"""

import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch

import ganlab
from ganlab.cli import main
from ganlab.errors import ConfigError
from ganlab.runs.checkpoints import CheckpointStore
from ganlab.training.distributed import local_batch, resolve_device

SGD = ["g_optimizer.name=sgd", "d_optimizer.name=sgd", "g_optimizer.lr=0.1", "d_optimizer.lr=0.1"]
TINY = [
    "generator.hidden=[8]",
    "discriminator.hidden=[8]",
    "threads=1",
    "m=16",
    "sample_every=100000",
]
ONE_STEP = {  # one iteration of Algorithm 1, dropout off (the preset has none)
    "alternating-k2-stream": ("gauss1d", [*TINY, *SGD, "steps=1", "k=2"]),
    "simultaneous-epochs": ("ring8", [*TINY, *SGD, "steps=1", "update=simultaneous", "data.n=64"]),
}
LONG = 300  # steps of the interrupted run: seconds of 2-process training
LONG_RUN = ("gauss1d", [*TINY, "discriminator.dropout=0.2", "log_every=5", "checkpoint_every=100"])

# Each rank runs the jobs in argv[2] (ganlab.train or ganlab.resume) in one process group.
# Rank 1 records every file it opens for writing, creates, renames or removes under argv[1].
_WORKER = """
import json, os, sys
import torch
torch.set_num_threads(1)
root, jobs = sys.argv[1], json.loads(sys.argv[2])
writes = []
def audit(event, args):
    path = str(args[0]) if args else ""
    if not path.startswith(root):
        return
    if event == "open":
        mode, flags = args[1] or "", args[2] or 0
        if set(mode) & set("wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writes.append(f"open {path}")
    elif event in ("os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "shutil.rmtree"):
        writes.append(f"{event} {path}")
if os.environ["RANK"] != "0":
    sys.addaudithook(audit)
import torch.distributed as dist
import ganlab
dist.init_process_group("gloo")
for job in jobs:
    if job[0] == "resume":
        ganlab.resume(job[1], report=False, device="cpu")
    else:
        preset, out, overrides, report = job[1:]
        ganlab.train(preset, out, overrides=overrides, report=report, device="cpu")
dist.barrier()  # leave together: gloo torn down under a peer's reduction can abort it
dist.destroy_process_group()
print(json.dumps(writes))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(root: Path, jobs: list, world: int = 2) -> list[subprocess.CompletedProcess]:
    """Run _WORKER on `world` ranks with torchrun's environment; their outputs, by rank."""
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "WORLD_SIZE": str(world),
        "OMP_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(root), json.dumps(jobs)],
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in range(world)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    for r, p in enumerate(done):
        assert p.returncode == 0, f"rank {r}: {p.stderr}"
    return done


def metric_rows(run: Path) -> int:
    path = run / "metrics.csv"
    return max(len(path.read_text().splitlines()) - 1, 0) if path.exists() else 0


def interrupted_run(run: Path) -> subprocess.CompletedProcess:
    """`ganlab train --nproc 2` of LONG steps, SIGINT to the launcher after the first log row."""
    sets = [arg for v in [*LONG_RUN[1], f"steps={LONG}"] for arg in ("--set", v)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganlab", "train", LONG_RUN[0], "--out", str(run), "--quiet",
         "--nproc", "2", "--device", "cpu", *sets],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    end = time.monotonic() + 90
    while metric_rows(run) < 1 and proc.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)  # torchrun's launcher forwards it to both ranks
    out, err = proc.communicate(timeout=90)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every 2-process run of this file, with one start of the two worker processes:

    - ONE_STEP's runs, one of them with its report;
    - "long": LONG uninterrupted steps;
    - "run": the same, interrupted (`ganlab train --nproc 2`, SIGINT) then resumed on 2
      ranks; "one": a copy of the interrupted run, for a resume on 1 process.
    """
    root = tmp_path_factory.mktemp("ddp")
    interrupted = interrupted_run(root / "run")
    assert interrupted.returncode == 130, interrupted.stderr
    interrupted.header = CheckpointStore(root / "run" / "checkpoints").load_latest()[2]
    shutil.copytree(root / "run", root / "one")
    jobs = [["train", preset, str(root / name), over, name == "alternating-k2-stream"]
            for name, (preset, over) in ONE_STEP.items()]  # fmt: skip
    jobs.append(["train", LONG_RUN[0], str(root / "long"), [*LONG_RUN[1], f"steps={LONG}"], False])
    jobs.append(["resume", str(root / "run")])  # as `ganlab resume RUN --nproc 2` does
    return root, interrupted, run_ranks(root, jobs)


def networks(run: Path) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to an older checkpoint fails the test
        _, tensors, _ = CheckpointStore(run / "checkpoints").load_latest()
    return {k: v for k, v in tensors.items() if k.startswith(("G.", "D."))}


# ---------------------------------------------------------------------------------------------
# (a) One DDP step on 2 x m/2 rows is one step on the global minibatch of m


@pytest.mark.parametrize("name", list(ONE_STEP))
def test_one_ddp_step_equals_one_step_on_the_global_minibatch(tmp_path, runs, name):
    root, _, _ = runs
    preset, over = ONE_STEP[name]
    one = ganlab.train(preset, tmp_path / "one", overrides=over, report=False, device="cpu")
    ddp, single = networks(root / name), networks(one.path)
    assert ddp.keys() == single.keys()
    for key in single:
        # Both see the same 16 examples and noise (each rank takes its 8 rows of the one-
        # process draws). The gradients differ only in float32 summation order: 16 terms in
        # one reduction vs two sums of 8 averaged by DDP, a few ulps (~1e-7 relative) of
        # gradients of size <= ~1; after one SGD step of lr 0.1 that is ~1e-8. atol 1e-6
        # leaves margin and still fails for a DDP that summed instead of averaging (off by
        # lr * |grad| ~ 1e-2) or a rank that used the wrong rows (test below).
        torch.testing.assert_close(ddp[key], single[key], rtol=0, atol=1e-6, msg=key)


def test_the_tolerance_above_tells_half_a_minibatch_apart(tmp_path, runs):
    root, _, _ = runs
    preset, over = ONE_STEP["alternating-k2-stream"]
    half = ganlab.train(
        preset, tmp_path / "half", overrides=[*over, "m=8"], report=False, device="cpu"
    )
    ddp, other = networks(root / "alternating-k2-stream"), networks(half.path)
    worst = max(float((ddp[k] - other[k]).abs().max()) for k in ddp)
    assert worst > 1e-4  # 100x the tolerance: the test above can fail


# ---------------------------------------------------------------------------------------------
# (c) Rank 1 writes nothing


def test_rank_1_writes_and_prints_nothing(runs):
    root, _, ranks = runs
    assert json.loads(ranks[1].stdout) == []  # in 3 trainings and a resume
    assert ranks[1].stderr == ""
    # ... while rank 0 wrote the runs, the report of the first one included
    assert (root / "alternating-k2-stream" / "index.html").exists()
    meta = json.loads((root / "long" / "meta.json").read_text())
    assert (meta["world_size"], meta["device"]) == (2, "cpu")


# ---------------------------------------------------------------------------------------------
# (b) Interrupt a 2-process run; resume it on 2 processes (exact) and on 1 (valid)


def test_interrupt_stops_both_ranks_at_one_step_with_one_message(runs):
    root, interrupted, _ = runs
    lines = interrupted.stderr.strip().splitlines()
    assert len(lines) == 1, interrupted.stderr  # rank 0 speaks for both
    match = re.fullmatch(r"ganlab: interrupted at step (\d+); checkpoint saved: .*", lines[0])
    assert match, interrupted.stderr
    assert 5 <= int(match[1]) < LONG
    assert interrupted.stdout.count("stopping after this step") == 1
    header = interrupted.header  # of the checkpoint it wrote
    assert (header["step"], header["world_size"]) == (match[1], "2")


def test_resume_on_2_processes_is_exact(runs):
    root, _, _ = runs
    got, want = networks(root / "run"), networks(root / "long")
    assert got.keys() == want.keys()
    for key in want:  # every rank's dropout stream was saved and restored: bit for bit
        assert torch.equal(got[key], want[key]), f"{key} differs from the uninterrupted run"
    assert ganlab.load_run(root / "run").metrics()[-1]["step"] == LONG


def test_resume_on_1_process_continues_validly(runs):
    # G, D, optimisers and the noise/data streams carry over; rank 1's dropout masks are gone,
    # so this continues the run correctly without reproducing the 2-process numbers.
    root, _, _ = runs
    resumed = ganlab.resume(root / "one", report=False, device="cpu")
    assert resumed.step == LONG
    tensors = networks(root / "one")
    assert tensors.keys() == networks(root / "long").keys()
    assert all(torch.isfinite(t).all() for t in tensors.values())
    assert CheckpointStore(root / "one" / "checkpoints").load_latest()[2]["world_size"] == "1"
    meta = json.loads((root / "one" / "meta.json").read_text())
    assert [r["world_size"] for r in meta["resumes"]] == [1]


# ---------------------------------------------------------------------------------------------
# One-line errors of the launcher, the minibatch split and the devices


def test_minibatch_must_split_over_the_processes():
    assert local_batch(16, 2) == 8
    with pytest.raises(ConfigError, match=r"m=15 does not split over 2 processes; set m to a"):
        local_batch(15, 2)
    with pytest.raises(ConfigError, match="into packs of 4; set m to a multiple of 8"):
        local_batch(12, 2, pack=4)


@pytest.mark.parametrize(
    "extra, env, needle",
    [
        (["--nproc", "0"], {}, "--nproc must be >= 1, got 0"),
        (["--nproc", "2"], {"RANK": "0"}, "--nproc inside torchrun"),
        (["--device", "cpu", "--bf16"], {}, "--bf16 needs a CUDA device but training runs on cpu"),
    ],
)
def test_placement_errors_are_one_line(tmp_path, capsys, monkeypatch, extra, env, needle):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = main(["train", "gauss1d", "--out", str(tmp_path / "r"), "--quiet", *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "r").exists()


def test_more_processes_than_gpus_is_a_one_line_error(monkeypatch):
    # nccl would fail at the first collective with a traceback on every rank; checked before.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "r")  # started by torchrun: one environment
    with pytest.raises(
        ConfigError, match=r"^2 processes on this machine but torch sees 1 CUDA GPU;"
    ):
        resolve_device("auto")
    # A launcher that shows each process its own GPU (CUDA_VISIBLE_DEVICES per rank): cuda:0.
    monkeypatch.delenv("TORCHELASTIC_RUN_ID")
    assert resolve_device("cuda") == torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # 2 shared GPUs, 3 processes
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")
    with pytest.raises(ConfigError, match=r"^3 processes on this machine but torch sees 2"):
        resolve_device("cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path, capsys):
    code = main(["train", "gauss1d", "--out", str(tmp_path / "r"), "--device", "cuda"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "torch sees no CUDA device" in err, err


def test_nproc_1_runs_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "ganlab.runs.api.write_report", lambda run, by_class=None: None
    )  # seconds saved
    sets = [arg for v in [*TINY, "steps=2"] for arg in ("--set", v)]
    out = tmp_path / "r"
    assert main(["train", "gauss1d", "--out", str(out), "--quiet", "--nproc", "1", *sets]) == 0
    assert json.loads((out / "meta.json").read_text())["world_size"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_bf16_trains_and_resumes(tmp_path):
    over = [*TINY, "steps=6", "checkpoint_every=3", "log_every=1"]
    run = ganlab.train("gauss1d", tmp_path / "r", overrides=over, device="cuda", bf16=True)
    assert next(run.generator.parameters()).device.type == "cpu"  # handed back on the CPU
    assert run.sample(8).isfinite().all()
    meta = json.loads((run.path / "meta.json").read_text())
    assert meta["device"].startswith("cuda") and meta["bf16"] is True
    assert ganlab.resume(run.path, steps=9, device="cuda", report=False).step == 9
    assert json.loads((run.path / "meta.json").read_text())["resumes"][-1]["bf16"] is True


def test_the_bf16_path_trains_resumes_and_differs_from_float32_on_cpu(tmp_path, monkeypatch):
    """What --bf16 changes in the training code, run through CPU autocast: the CUDA test above
    cannot run without a GPU, but the autocast contexts, the float32 statistics and the
    checkpoints it relies on are the same code. Only the device check is bypassed."""
    monkeypatch.setattr(
        "ganlab.training.distributed.resolve_device", lambda *a, **k: torch.device("cpu")
    )
    over = [*TINY, "steps=6", "checkpoint_every=3", "log_every=1"]
    half = ganlab.train("gauss1d", tmp_path / "bf16", overrides=over, bf16=True, report=False)
    full = ganlab.train("gauss1d", tmp_path / "fp32", overrides=over, report=False)
    assert json.loads((half.path / "meta.json").read_text())["bf16"] is True
    params = [p for net in (half.generator, half.discriminator) for p in net.parameters()]
    assert all(p.dtype == torch.float32 for p in params)  # autocast casts inputs, not weights
    # The same seed and data: only bfloat16's 8-bit mantissa separates the two runs, so G's
    # weights differ, by a rounding-sized amount (5.9e-6 measured) far below what training
    # itself moves them in the last three steps (1.5e-3 measured): bf16 perturbs, not derails.
    gap = _largest_difference(half.generator, full.generator)
    moved = _largest_difference(full.generator, ganlab.load_run(full.path, step=3).generator)
    assert 0 < gap < moved / 10
    rows = half.metrics()
    assert len(rows) == 6 and all(math.isfinite(r["d_loss"]) for r in rows)
    # A resume keeps the run's bf16 where it can have it (on CUDA: stood in for here) ...
    monkeypatch.setattr("ganlab.training.distributed.has_bf16_autocast", lambda world: True)
    resumed = ganlab.resume(half.path, steps=9, report=False)
    assert resumed.step == 9 and resumed.sample(8).isfinite().all()
    assert json.loads((half.path / "meta.json").read_text())["resumes"][-1]["bf16"] is True
    # ... and elsewhere continues in float32, saying so.
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="trained with --bf16, which needs CUDA; on cpu"):
        ganlab.resume(half.path, steps=10, report=False)
    assert json.loads((half.path / "meta.json").read_text())["resumes"][-1]["bf16"] is False
    # A resume follows the run's newest segment, also through train(resume=True).
    monkeypatch.setattr(
        "ganlab.training.distributed.resolve_device", lambda *a, **k: torch.device("cpu")
    )
    monkeypatch.setattr("ganlab.training.distributed.has_bf16_autocast", lambda world: True)

    def segments():
        return [r["bf16"] for r in json.loads((half.path / "meta.json").read_text())["resumes"]]

    ganlab.resume(half.path, steps=11, bf16=True, report=False)
    ganlab.train("gauss1d", half.path, overrides=[*over, "steps=12"], resume=True, report=False)
    ganlab.resume(half.path, steps=13, bf16=False, report=False)
    ganlab.resume(half.path, steps=14, report=False)
    assert segments()[-4:] == [True, True, False, False]


def _largest_difference(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max(
        (p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )
