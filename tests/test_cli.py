"""The command line's happy paths: presets, train with --set, sample, resume, demo."""

import json
import subprocess
import sys

import numpy as np
import pytest

from ganlab.cli import main
from ganlab.config import load_config
from ganlab.data import ring
from ganlab.metrics import mode_coverage
from ganlab.runfiles import read_metrics


def test_presets_lists_the_toy_presets(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("gauss1d", "ring8", "grid25"):
        assert name in out
    assert main(["presets", "--fields"]) == 0
    out = capsys.readouterr().out
    assert "g_optimizer.lr" in out
    # a header row names the three columns
    assert out.splitlines()[0].split() == ["KEY", "DEFAULT", "MEANING"]


def test_train_preset_with_set_writes_a_complete_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "ring8", "--set", "steps=200", "--out", str(out), "--quiet"]) == 0
    assert str(out) in capsys.readouterr().out
    for name in (
        "config.yaml",
        "meta.json",
        "metrics.csv",
        "index.html",
        "samples.png",
        "losses.png",
        "discriminator.png",
        "grad_norms.png",
    ):
        assert (out / name).is_file(), name
    assert list((out / "samples").glob("step-*.png"))
    manifest = json.loads((out / "checkpoints" / "manifest.json").read_text())
    assert manifest["checkpoints"][-1]["step"] == 200
    meta = json.loads((out / "meta.json").read_text())
    for key in ("seed", "python", "torch", "ganlab", "git_commit", "started", "command"):
        assert key in meta
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    for col in (
        "step",
        "d_loss",
        "g_loss",
        "d_real",
        "d_fake",
        "g_grad_norm",
        "d_grad_norm",
        "steps_per_s",
    ):
        assert col in header
    assert "steps: 200" in (out / "config.yaml").read_text()
    coverage = (out / "coverage.csv").read_text().splitlines()
    assert coverage[0] == "step,modes_covered,modes,high_quality,kl" and coverage[1].startswith(
        "200,"
    )
    assert 'src="coverage.png"' in (out / "index.html").read_text()


def test_sample_resume_and_sample_png(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "gauss1d", "--set", "steps=20", "--out", str(out), "--quiet"]) == 0
    assert (out / "discriminator_view.png").is_file()  # Figure 1 view of a 1-D run
    assert main(["sample", str(out), "-n", "50", "--out", str(tmp_path / "s.npy")]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (50, 1) and np.isfinite(x).all()
    assert main(["sample", str(out), "-n", "50", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["resume", str(out), "--steps", "30", "--quiet"]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["resumes"][0]["from_step"] == 20


def test_elapsed_time_goes_on_across_a_resume(tmp_path):
    # metrics.csv's elapsed_s is the run's training time: a resume continues it from the
    # last row at or before the step it resumes from, instead of starting again at zero.
    out = tmp_path / "run"
    every = ["--set", "log_every=20", "--set", "checkpoint_every=200", "--quiet"]
    assert main(["train", "gauss1d", "--set", "steps=200", "--out", str(out), *every]) == 0
    before = [float(r["elapsed_s"]) for r in read_metrics(out)]
    assert main(["resume", str(out), "--steps", "400", "--quiet"]) == 0
    rows = read_metrics(out)
    assert [int(r["step"]) for r in rows] == list(range(20, 401, 20))
    elapsed = [float(r["elapsed_s"]) for r in rows]
    assert elapsed[:10] == before  # the first 200 steps' rows are kept as they were
    # past the resume, each row adds this process's time to the 200 steps' total
    assert all(b > a for a, b in zip(elapsed[:-1], elapsed[1:], strict=True)), elapsed
    assert elapsed[10] > before[-1]


def test_a_short_preset_run_logs_enough_rows_and_trains_the_same(tmp_path):
    # gauss1d logs every 20 steps: a 100-step run logs every 2 steps instead (LOG_ROWS rows).
    # Logging draws no random number, so the checkpoint is bit for bit that of a run logging
    # once (log_every set by hand, which is kept).
    import torch
    from safetensors.torch import load_file

    from ganlab.config import LOG_ROWS

    adapted, once = tmp_path / "adapted", tmp_path / "once"
    common = ["--set", "steps=100", "--set", "checkpoint_every=100", "--quiet"]
    assert main(["train", "gauss1d", "--out", str(adapted), *common]) == 0
    assert main(["train", "gauss1d", "--out", str(once), *common, "--set", "log_every=500"]) == 0
    assert len(read_metrics(adapted)) == LOG_ROWS and len(read_metrics(once)) == 1
    a = load_file(adapted / "checkpoints" / "step-00000100.safetensors")
    b = load_file(once / "checkpoints" / "step-00000100.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_module_entry_point_runs():
    proc = subprocess.run(
        [sys.executable, "-m", "ganlab", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and "ganlab" in proc.stdout


@pytest.mark.slow
def test_demo_covers_the_ring(tmp_path):
    """The main job: `ganlab demo`, then 2,500 samples scored on the ring of 8."""
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "ganlab", "demo", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "modes covered" in proc.stdout and str(out) in proc.stdout
    for name in ("index.html", "samples.png", "losses.png", "discriminator.png"):
        assert (out / name).is_file()
    samples = tmp_path / "s.npy"
    assert main(["sample", str(out), "-n", "2500", "--out", str(samples)]) == 0
    score = mode_coverage(np.load(samples), ring().centres, std=0.01)
    assert score["modes_covered"] >= 7
    assert score["high_quality"] > 0.5  # "most samples within 3 std of a mode"


def test_divergence_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad"
    # Learning rates of 1e6 overflow D's loss at step 4 (seed 0): step 3 is kept. (The exp(a)
    # of the maximum-likelihood loss, which overflowed before issue 16, is now finite.)
    code = main(
        [
            "train",
            "gauss1d",
            "--out",
            str(bad),
            "--quiet",
            "--set",
            "steps=300",
            "--set",
            "checkpoint_every=1",
            "--set",
            "log_every=1",
            "--set",
            "d_optimizer.lr=1e6",
            "--set",
            "g_optimizer.lr=1e6",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "training diverged at step" in err[0] and "NaN or infinite" in err[0]
    entries = json.loads((bad / "checkpoints" / "manifest.json").read_text())["checkpoints"]
    assert entries[-1]["file"] in err[0], "the message names the last good checkpoint"
    from ganlab.runs.api import load_run

    run = load_run(bad)  # the last good checkpoint loads and has finite weights
    assert all(np.isfinite(p.detach().numpy()).all() for p in run.generator.parameters())
    assert all(np.isfinite(p.detach().numpy()).all() for p in run.discriminator.parameters())


def test_dcgan_on_an_image_array(tmp_path):
    images = np.random.default_rng(0).random((64, 1, 28, 28), dtype=np.float32)
    np.save(tmp_path / "imgs.npy", images)
    out = tmp_path / "run"
    args = [
        "train",
        "ring8",
        "--out",
        str(out),
        "--quiet",
        "--set",
        "data.kind=array",
        "--set",
        f"data.path={tmp_path / 'imgs.npy'}",
        "--set",
        "generator.kind=dcgan",
        "--set",
        "discriminator.kind=dcgan",
        "--set",
        "generator.output=sigmoid",
        "--set",
        "generator.channels=4",
        "--set",
        "discriminator.channels=4",
        "--set",
        "noise.dim=8",
        "--set",
        "m=8",
        "--set",
        "steps=4",
    ]
    assert main(args) == 0
    assert main(["sample", str(out), "-n", "6", "--out", str(tmp_path / "s.npy")]) == 0
    x = np.load(tmp_path / "s.npy")
    assert x.shape == (6, 1, 28, 28) and x.min() >= 0 and x.max() <= 1
    assert (out / "samples.png").is_file()


def test_tanh_generator_trains_on_images_scaled_to_its_range(tmp_path):
    from ganlab.config import load_config
    from ganlab.runs.api import train
    from ganlab.training.state import build_state, seeded_rng

    images = np.random.default_rng(0).random((32, 1, 28, 28), dtype=np.float32)
    overrides = [
        "generator.kind=dcgan",
        "discriminator.kind=dcgan",
        "generator.output=tanh",
        "generator.channels=4",
        "discriminator.channels=4",
        "noise.dim=8",
        "m=8",
        "steps=2",
    ]
    cfg = load_config("ring8", overrides)
    with seeded_rng(cfg):
        state = build_state(cfg, images)
    assert float(state.data.x.min()) < -0.99 and float(state.data.x.max()) > 0.99  # [-1, 1]
    run = train("ring8", tmp_path / "run", overrides=overrides, data=images, report=False)
    x = run.sample(4)
    assert x.min() >= 0 and x.max() <= 1  # samples come back in the data's [0, 1]


def test_eval_parzen_writes_its_json_through_write_metrics(tiny_run, monkeypatch, capsys):
    from ganlab.metrics import evaluate

    written = []
    write_metrics = evaluate.write_metrics

    def recorded(path, result):
        written.append(path)
        return write_metrics(path, result)

    monkeypatch.setattr(evaluate, "write_metrics", recorded)
    args = ["--samples", "200", "--valid", "50", "--test", "50", "--quiet"]
    assert main(["eval", str(tiny_run), "--parzen", *args]) == 0
    assert written == [tiny_run / "parzen.json"]  # atomic, non-finite numbers as null
    doc = json.loads(written[0].read_text())
    assert doc["samples"] == 200 and doc["test"] == 50 and len(doc["sigmas"]) > 1
    assert f"Parzen log-likelihood on gauss1d (fresh draws): {doc['mean_ll']:.4g} +- " in (
        capsys.readouterr().out
    )
    assert not list(tiny_run.glob(".*tmp*"))


def test_train_resume_applies_runtime_keys_and_refuses_other_changes(tiny_run, capsys):
    # the run's own command again with --resume: its keys repeat the run's values (accepted),
    # a runtime key goes on (it was dropped silently before), another value of m is refused
    same = ["train", "gauss1d", "--out", str(tiny_run), "--resume", "--set", "log_every=2"]
    before = (tiny_run / "config.yaml").read_text()
    assert main([*same, "--set", "steps=6", "--set", "m=2", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganlab: error: --set m: the run trained with m=") and "\n" not in err
    assert (tiny_run / "config.yaml").read_text() == before
    ran = load_config(tiny_run / "config.yaml")
    argv = [*same, "--set", f"m={ran.m}", "--set", "steps=6", "--set", "threads=1",
            "--set", "checkpoint_every=3", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    cfg = load_config(tiny_run / "config.yaml")
    assert (cfg.steps, cfg.threads, cfg.checkpoint_every, cfg.m) == (6, 1, 3, ran.m)
    assert json.loads((tiny_run / "meta.json").read_text())["resumes"][-1]["threads"] == 1


def test_the_package_api_loads_on_first_use_and_lists_itself():
    # ganlab/__init__.py imports the training API lazily (a quick CLI start, a clean Ctrl-C):
    # it must still look like an eager package to dir(), help() and attribute probes.
    import ganlab

    assert {"train", "resume", "load_run", "Run", "Config"} <= set(dir(ganlab))
    assert ganlab.train is ganlab.runs.train
    assert getattr(ganlab, "__main__", None) is None  # probing never runs the CLI
    assert not hasattr(ganlab, "no_such_module")


def test_resume_changes_how_a_run_goes_on_but_not_what_it_trains(tiny_run, capsys):
    # a week-long run moved to a busier machine: one thread, fewer checkpoints
    before = (tiny_run / "config.yaml").read_text()
    refused = ["resume", str(tiny_run), "--steps", "8", "--set", "m=2"]
    assert main(refused) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganlab: error: --set m: a resume trains what the run trained")
    assert "threads, compile" in err and "\n" not in err
    assert (tiny_run / "config.yaml").read_text() == before  # nothing changed
    argv = ["resume", str(tiny_run), "--steps", "8", "--set", "threads=1",
            "--set", "checkpoint_every=3", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    cfg, ran = load_config(tiny_run / "config.yaml"), load_config("gauss1d")
    assert (cfg.steps, cfg.threads, cfg.checkpoint_every, cfg.m) == (8, 1, 3, ran.m)
    kept = sorted(int(p.stem[5:]) for p in (tiny_run / "checkpoints").glob("step-*.safetensors"))
    assert 6 in kept and 8 in kept  # every 3 steps after the resume, and the last
    assert json.loads((tiny_run / "meta.json").read_text())["resumes"][-1]["threads"] == 1
