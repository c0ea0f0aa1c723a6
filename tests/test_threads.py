"""The intra-op thread count a run chooses (issue 21): one thread below THREADS_MIN_GFLOP of
work per iteration, torch's default above it on the cores allowed, the config and the
environment winning, and meta.json saying which and why."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from torch import nn

import ganlab.runs.monitor
from ganlab.config import load_config
from ganlab.runs.api import resume, train
from ganlab.training import runtime
from ganlab.training.algorithm import algorithm1
from ganlab.training.runtime import (
    THREADS_MIN_GFLOP,
    ThreadChoice,
    choose_threads,
    forward_flops,
    run_threads,
    step_gflop,
)
from ganlab.training.state import build_state, seeded_rng

SPEED = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


def speed_module():
    """benchmarks/speed.py as a module (its product recorder, its contention section)."""
    spec = importlib.util.spec_from_file_location("speed_bench", SPEED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_thread_env(monkeypatch):
    """The automatic choice: no OMP_NUM_THREADS / MKL_NUM_THREADS from the caller's shell."""
    for name in runtime.THREAD_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def torch_threads():
    """Set torch's thread count for a test; restored after."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_small_steps_take_one_thread_whatever_the_cores():
    for gflop in (0.07, 4.0, THREADS_MIN_GFLOP - 0.01):
        choice = choose_threads(gflop, cores=16, torch_default=16)
        assert choice.threads == 1
        assert choice.reason.startswith("auto: ") and "<" in choice.reason


def test_large_steps_keep_torchs_default_on_the_cores_allowed():
    assert choose_threads(THREADS_MIN_GFLOP, cores=2, torch_default=2).threads == 2
    assert choose_threads(80.0, cores=16, torch_default=16).threads == 16
    # an affinity mask (taskset, a container) of 2 of 16 cores: 2, not torch's 16
    assert choose_threads(80.0, cores=2, torch_default=16).threads == 2
    assert choose_threads(80.0, cores=1, torch_default=2).threads == 1
    assert ">=" in choose_threads(80.0, cores=4, torch_default=4).reason


def test_config_then_environment_win_over_the_estimate():
    assert choose_threads(0.1, 2, 2, config_threads=2) == ThreadChoice(2, "config: threads")
    assert choose_threads(500.0, 16, 16, config_threads=1) == ThreadChoice(1, "config: threads")
    # the environment: torch's count, which followed the variable at start-up, is kept
    env = choose_threads(0.1, 2, 3, env="OMP_NUM_THREADS=3")
    assert env == ThreadChoice(3, "env: OMP_NUM_THREADS=3")
    assert choose_threads(0.1, 2, 3, config_threads=2, env="OMP_NUM_THREADS=3").threads == 2


TINY_PAPER = [
    "data.kind=tensor",
    "m=32",
    "generator.hidden=[64,48]",
    "discriminator.hidden=[32,16]",
    "discriminator.pieces=3",
    "compile=false",  # the eager products (the preset compiles each update whole)
]


def test_step_estimate_matches_the_products_one_iteration_runs():
    # An independent count: speed.py's recorder sees every mm/addmm of a real alternating
    # iteration (forward and backward; D's weight gradients skipped while G steps). The
    # estimate assumes every backward costs two forwards: on the full paper MLPs it is 11%
    # high (3.97 vs 3.57 GFLOP); 25% bounds it for these small nets too.
    cfg = load_config("paper-mnist", TINY_PAPER)
    x = torch.rand(256, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    with seeded_rng(cfg):
        state = build_state(cfg, x)
    estimate = step_gflop(cfg, state) * 1e9
    speed = speed_module()
    with speed.MatmulRecorder() as recorder:
        algorithm1(cfg.model_copy(update={"steps": 1}), state)
    recorded = speed.flops(recorder.shapes)
    assert 0.9 * recorded < estimate < 1.25 * recorded, (estimate, recorded)
    # and it scales with the minibatch: m = 64 doubles it
    bigger = cfg.model_copy(update={"m": 64})
    assert step_gflop(bigger, state) == pytest.approx(2 * step_gflop(cfg, state), rel=1e-9)


def test_forward_flops_count_convolutions_per_position():
    # A convolution's weights are used at every output position: the parameter count alone
    # is short by the positions' number (the images preset: 3.8 GFLOP by 6 m parameters,
    # 11.8 counted). Closed form: 2 FLOPs per multiply-add, 8 x 3 x 3 x 3 per position.
    conv = nn.Sequential(nn.Conv2d(3, 8, kernel_size=3, padding=1), nn.Dropout(0.5))
    x = torch.zeros(2, 3, 10, 10)  # 2 rows of 10 x 10 positions
    assert forward_flops(conv, x) == 2 * 2 * 100 * 8 * 27
    assert conv.training  # the module's mode is back


def test_a_run_on_this_machine(no_thread_env, torch_threads, monkeypatch):
    cfg = load_config("ring8")
    with seeded_rng(cfg):
        state = build_state(cfg)
    choice = run_threads(cfg, state)
    assert choice.threads == 1 and choice.reason.startswith("auto: 0.2 GFLOP per step")

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    torch_threads(3)  # what torch would have taken from it at start-up
    assert run_threads(cfg, state) == ThreadChoice(3, "env: OMP_NUM_THREADS=3")
    with_threads = cfg.model_copy(update={"threads": 2})
    assert run_threads(with_threads, state) == ThreadChoice(2, "config: threads")


def test_a_large_run_keeps_torchs_default(no_thread_env, torch_threads, monkeypatch):
    cfg = load_config("paper-mnist", ["data.kind=tensor", "m=1024"])  # ~40 GFLOP per step
    with seeded_rng(cfg):
        state = build_state(cfg, torch.rand(2048, 1, 28, 28))
    torch_threads(2)
    monkeypatch.setattr(runtime, "available_cores", lambda: 2)
    choice = run_threads(cfg, state)
    assert choice.threads == 2 and ">= 8 GFLOP" in choice.reason


def test_meta_json_records_the_threads_used_and_why(
    tmp_path, no_thread_env, torch_threads, monkeypatch
):
    set_to = []
    real = ganlab.runs.monitor.configure_cpu
    monkeypatch.setattr(
        ganlab.runs.monitor, "configure_cpu", lambda n=None: (set_to.append(n), real(n))
    )
    tiny = ["steps=2", "generator.hidden=[8]", "discriminator.hidden=[8]", "sample_every=1000"]
    auto = tmp_path / "auto"
    train("ring8", auto, overrides=tiny, report=False)
    meta = json.loads((auto / "meta.json").read_text())
    assert meta["threads"] == 1 and meta["threads_reason"].startswith("auto: ")
    assert set_to == [1]  # what training set is what meta.json says

    config = tmp_path / "config"
    train("ring8", config, overrides=[*tiny, "threads=3"], report=False)
    meta = json.loads((config / "meta.json").read_text())
    assert (meta["threads"], meta["threads_reason"]) == (3, "config: threads")
    assert set_to == [1, 3]

    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch_threads(2)
    resume(auto, steps=4, report=False)
    meta = json.loads((auto / "meta.json").read_text())
    assert meta["threads_reason"].startswith("auto: ")  # the first start's, kept
    assert meta["resumes"][0]["threads"] == 2
    assert meta["resumes"][0]["threads_reason"] == "env: OMP_NUM_THREADS=2"
    assert set_to == [1, 3, 2]


def test_the_presets_split_at_the_threshold_as_measured(no_thread_env, torch_threads, monkeypatch):
    """The MLP and toy presets below THREADS_MIN_GFLOP (one thread: no cliff beside another
    process), the images recipe's DCGAN above it (both threads: 1.8x alone, what fits its
    budget in 10 minutes); benchmarks/README.md, "Contention"."""
    torch_threads(2)
    monkeypatch.setattr(runtime, "available_cores", lambda: 2)
    chosen = {}
    for preset, shape in (("paper-mnist", (1, 28, 28)), ("images", (1, 28, 28))):
        cfg = load_config(preset, ["data.kind=tensor"])
        with seeded_rng(cfg):
            state = build_state(cfg, torch.rand(256, *shape))
        chosen[preset] = run_threads(cfg, state).threads
    assert chosen == {"paper-mnist": 1, "images": 2}


def test_a_busy_machine_is_named_only_when_the_run_takes_every_core():
    busy = runtime.busy_warning(2, cores=2, load=1.3)
    assert busy is not None and "threads=1" in busy and "load average 1.3 on 2 cores" in busy
    assert runtime.busy_warning(1, cores=2, load=3.0) is None  # one thread: no cliff
    assert runtime.busy_warning(2, cores=2, load=0.2) is None  # quiet
    assert runtime.busy_warning(4, cores=16, load=2.0) is None  # cores to spare


def test_more_threads_than_cores_is_named_in_one_line(tmp_path, no_thread_env, monkeypatch):
    assert runtime.oversubscribed_warning(2, "config: threads", cores=2) is None
    assert runtime.oversubscribed_warning(1, "auto: 0.2 GFLOP", cores=1) is None
    line = runtime.oversubscribed_warning(64, "config: threads", cores=2)
    assert "64 torch threads (--set threads)" in line and "at most 2" in line
    env = runtime.oversubscribed_warning(8, "env: OMP_NUM_THREADS=8", cores=4)
    assert "(OMP_NUM_THREADS=8)" in env and "at most 4" in env
    # a run set to more threads than this process's cores says so once, and still trains
    cores = runtime.available_cores()
    tiny = ["steps=2", "generator.hidden=[8]", "discriminator.hidden=[8]", "sample_every=1000"]
    with pytest.warns(UserWarning) as caught:
        train("ring8", tmp_path / "run", overrides=[*tiny, f"threads={cores + 1}"], report=False)
    lines = [str(w.message) for w in caught if "torch threads" in str(w.message)]
    assert len(lines) == 1 and f"at most {cores}" in lines[0]
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["threads"] == cores + 1
