"""A run's data path and fingerprint (issue 20, part 4): the saved config holds the absolute
path (the path as typed is kept in meta.json), so a run resumes from any directory; a data file
that changed since the run started is refused on resume unless --force."""

import json

import numpy as np
import pytest
import yaml

from ganlab.cli import main


@pytest.fixture
def csv_run(tmp_path, monkeypatch):
    """A 40-step run on a CSV given by a relative path from its own folder."""
    home = tmp_path / "home"
    home.mkdir()
    rng = np.random.default_rng(0)
    np.savetxt(home / "pts.csv", rng.normal(size=(600, 2)), delimiter=",", header="a,b",
               comments="")  # fmt: skip
    monkeypatch.chdir(home)
    assert main(["train", "ring8", "--out", "run", "--quiet", "--set", "steps=40",
                 "--set", "checkpoint_every=20", "--set", "data.kind=csv",
                 "--set", "data.path=pts.csv"]) == 0  # fmt: skip
    return home


def test_the_saved_config_holds_the_absolute_path_and_meta_the_typed_one(csv_run):
    cfg = yaml.safe_load((csv_run / "run" / "config.yaml").read_text())
    assert cfg["data"]["path"] == str(csv_run / "pts.csv")
    meta = json.loads((csv_run / "run" / "meta.json").read_text())
    assert meta["data_path_as_typed"] == "pts.csv"
    assert len(meta["data_fingerprint"]) == 64


def test_a_run_resumes_from_another_directory(csv_run, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["resume", str(csv_run / "run"), "--steps", "60", "--quiet"]) == 0
    assert "step 60" in capsys.readouterr().out


def test_changed_data_is_refused_on_resume_unless_forced(csv_run, capsys):
    rng = np.random.default_rng(1)  # other points, same file
    np.savetxt(csv_run / "pts.csv", rng.normal(size=(600, 2)), delimiter=",", header="a,b",
               comments="")  # fmt: skip
    capsys.readouterr()
    assert main(["resume", "run", "--steps", "60", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "changed since run" in err and "--force" in err
    assert "Traceback" not in err
    manifest = json.loads((csv_run / "run" / "checkpoints" / "manifest.json").read_text())
    assert [c["step"] for c in manifest["checkpoints"]] == [20, 40]  # nothing touched
    assert main(["resume", "run", "--steps", "60", "--quiet", "--force"]) == 0


def test_a_run_whose_data_moved_resumes_from_the_new_path_if_the_data_is_the_same(csv_run, capsys):
    (csv_run / "pts.csv").rename(csv_run / "moved.csv")
    capsys.readouterr()
    assert main(["resume", "run", "--steps", "60", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "--set data.path=NEW" in err and err.count("\n") == 1
    assert main(["resume", "run", "--steps", "60", "--quiet", "--set", "data.path=moved.csv"]) == 0
    cfg = yaml.safe_load((csv_run / "run" / "config.yaml").read_text())
    assert cfg["data"]["path"] == str(csv_run / "moved.csv") and cfg["steps"] == 60
    # other examples at a new path: the fingerprint says so, as for a file changed in place
    rng = np.random.default_rng(1)
    np.savetxt(csv_run / "other.csv", rng.normal(size=(600, 2)), delimiter=",", header="a,b",
               comments="")  # fmt: skip
    capsys.readouterr()
    assert main(["resume", "run", "--steps", "80", "--quiet", "--set", "data.path=other.csv"]) == 2
    assert "changed since run" in capsys.readouterr().err
    cfg = yaml.safe_load((csv_run / "run" / "config.yaml").read_text())
    assert cfg["data"]["path"] == str(csv_run / "moved.csv")  # the refused resume wrote nothing


def test_eval_against_changed_data_says_so(csv_run, capsys):
    assert main(["eval", "run", "--samples", "500"]) == 0
    assert "changed since run" not in capsys.readouterr().err
    rng = np.random.default_rng(1)  # other points, same file: the scores would mean other data
    np.savetxt(csv_run / "pts.csv", rng.normal(size=(600, 2)), delimiter=",", header="a,b",
               comments="")  # fmt: skip
    assert main(["eval", "run", "--samples", "500"]) == 0
    err = capsys.readouterr().err
    assert "changed since run" in err and "SHA-256" in err and "Traceback" not in err


def test_a_handful_of_rows_trains_and_eval_says_why_it_cannot_judge(tmp_path, capsys):
    # 3 rows: the doctor's k-NN checks (k = 5) raised in training's first figure; eval's
    # real-against-real halves need 2 x 6 examples
    rows = np.random.default_rng(1).normal(size=(3, 2))
    np.savetxt(tmp_path / "rows3.csv", rows, delimiter=",")
    out = tmp_path / "r3"
    args = ["--out", str(out), "--set", "threads=1", "--set", "steps=20", "--quiet"]
    assert main(["train", str(tmp_path / "rows3.csv"), *args]) == 0
    capsys.readouterr()
    assert main(["eval", str(out)]) == 2
    err = capsys.readouterr().err
    assert "has 3 examples" in err and "at least 12" in err and "Traceback" not in err
