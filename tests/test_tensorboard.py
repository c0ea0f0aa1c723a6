"""`tensorboard: true`: rank 0's RunMonitor writes metrics.csv's scalars and the sample figures
to RUN_DIR/tensorboard as well; without the tensorboard package the run refuses to start."""

from __future__ import annotations

import csv
import sys

import pytest
import torch

from ganlab.cli import main

SMALL_RING = [
    "--set", "steps=40", "--set", "threads=1", "--set", "m=64",
    "--set", "generator.hidden=[16]", "--set", "discriminator.hidden=[16]",
    "--set", "log_every=10", "--set", "sample_every=20", "--quiet",
]  # fmt: skip


def test_event_files_hold_the_metrics_csv_scalars_and_the_sample_figures(tmp_path):
    pytest.importorskip("tensorboard", reason='needs pip install "ganlab[tensorboard]"')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    assert (
        main(["train", "ring8", "--out", str(out), *SMALL_RING, "--set", "tensorboard=true"]) == 0
    )
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = [c for c in rows[0] if c != "step"]
    assert sorted(events.Tags()["scalars"]) == sorted(columns)
    for column in columns:
        logged = events.Scalars(column)
        assert [e.step for e in logged] == [int(r["step"]) for r in rows] == [10, 20, 30, 40]
        # metrics.csv keeps 6 significant digits (relative error <= 5e-6); the event file a
        # float32 (~6e-8): 1e-5 relative covers both roundings.
        torch.testing.assert_close(
            torch.tensor([e.value for e in logged], dtype=torch.float64),
            torch.tensor([float(r[column]) for r in rows], dtype=torch.float64),
            rtol=1e-5,
            atol=0,
        )
    images = events.Images("samples")
    assert [e.step for e in images] == [20, 40]  # samples/step-00000020.png and ...40.png
    from PIL import Image

    with Image.open(out / "samples" / "step-00000040.png") as figure:
        assert (images[-1].width, images[-1].height) == figure.size


def test_a_resume_from_an_older_checkpoint_hides_the_redone_steps(tmp_path, capsys):
    pytest.importorskip("tensorboard", reason='needs pip install "ganlab[tensorboard]"')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    args = [*SMALL_RING, "--set", "tensorboard=true", "--set", "checkpoint_every=20"]
    assert main(["train", "ring8", "--out", str(out), *args]) == 0
    # As if killed after logging step 40 but before its checkpoint: resume starts at step 20
    # and logs steps 30 and 40 again, with other numbers (fresh minibatches).
    (out / "checkpoints" / "step-00000040.safetensors").unlink()
    capsys.readouterr()
    assert main(["resume", str(out), "--steps", "60", "--quiet"]) == 0
    assert "using step-00000020.safetensors instead" in capsys.readouterr().err
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    logged = events.Scalars("g_loss")
    assert [e.step for e in logged] == [int(r["step"]) for r in rows] == [10, 20, 30, 40, 50, 60]
    torch.testing.assert_close(  # 1e-5: as above
        torch.tensor([e.value for e in logged], dtype=torch.float64),
        torch.tensor([float(r["g_loss"]) for r in rows], dtype=torch.float64),
        rtol=1e-5,
        atol=0,
    )


def test_tensorboard_is_off_by_default(tiny_run):
    assert not (tiny_run / "tensorboard").exists()


def test_tensorboard_without_the_package_refuses_before_writing(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # `import tensorboard` fails
    out = tmp_path / "run"
    code = main(["train", "ring8", "--out", str(out), *SMALL_RING, "--set", "tensorboard=true"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.splitlines() == [
        "ganlab: error: tensorboard: true needs the tensorboard package; pip install "
        '"ganlab[tensorboard]" or set tensorboard=false'
    ]
    assert not out.exists()
