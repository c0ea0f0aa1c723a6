"""Every bad input to the `ganlab` CLI: exit 2, one `ganlab: error:` line, no traceback, no writes.

Most cases call `ganlab.cli.main` in-process (fast); a few run `python -m ganlab` in a
subprocess to prove the real exit status and the absence of a traceback end to end.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from ganlab.cli import main

TINY = ["--set", "steps=4", "--set", "checkpoint_every=2", "--set", "log_every=2",
        "--set", "sample_every=4", "--quiet"]  # fmt: skip
NEWEST, EARLIER = "step-00000004.safetensors", "step-00000002.safetensors"


# ---------------------------------------------------------------------------------------------
# Helpers


def cli(capsys, *args) -> tuple[int, str, str]:
    """Run `ganlab ARGS` in-process; (exit code, stdout, stderr)."""
    capsys.readouterr()  # drop output of fixtures (e.g. the session's tiny training run)
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(result: tuple[int, str, str], *needles: str) -> str:
    """Exit 2 and exactly one stderr line `ganlab: error: ...` containing every needle."""
    code, out, err = result
    assert "Traceback" not in out + err
    assert code == 2, f"exit {code}, stderr {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("ganlab: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under root (hidden ones too) with its bytes; None for a directory."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
    }


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current directory, so that a default runs/ folder would show up too."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def keep_only_newest(run: Path) -> None:
    """Delete the step-2 checkpoint and its manifest entry: step 4 is the only one left."""
    folder = run / "checkpoints"
    (folder / EARLIER).unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["checkpoints"] = [e for e in manifest["checkpoints"] if e["file"] != EARLIER]
    (folder / "manifest.json").write_text(json.dumps(manifest))


def rehash_manifest(run: Path) -> None:
    """Make the manifest's SHA-256s match the files as they are now (a 'consistent' manifest)."""
    folder = run / "checkpoints"
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["checkpoints"]:
        entry["sha256"] = hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def set_manifest(run: Path, mode: str) -> None:
    """stale: checksums of the old files; rehashed: of the current files; absent: no manifest."""
    if mode == "rehashed":
        rehash_manifest(run)
    elif mode == "absent":
        (run / "checkpoints" / "manifest.json").unlink()


def corrupt(path: Path, kind: str) -> None:
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:  # random bytes of the same length, fixed seed so the test is reproducible
        path.write_bytes(random.Random(0).randbytes(len(data)))


def edit_config(run: Path, **sections) -> None:
    """Change keys of the run's config.yaml, e.g. generator={"hidden": [8, 8]}."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    for section, values in sections.items():
        cfg[section].update(values)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


# ---------------------------------------------------------------------------------------------
# 1-5. Config sources, YAML, values and keys: refused before anything is written


def assert_train_refused(capsys, workdir: Path, config, *extra, needles=()) -> None:
    before = snapshot(workdir)
    out = workdir / "out"
    result = cli(capsys, "train", config, "--out", out, *extra)
    assert_refused(result, *needles)
    assert not out.exists()
    assert snapshot(workdir) == before


def test_missing_config_file(capsys, workdir):
    needles = ["config file nope.yaml does not exist", "preset"]
    assert_train_refused(capsys, workdir, "nope.yaml", needles=needles)


@pytest.mark.parametrize("source", ["configs/nope", "my_images/"])
def test_a_missing_path_names_what_it_could_have_been(capsys, workdir, source):
    # the README's own `ganlab train my_images/` once said "config file my_images does not exist"
    needles = ["does not exist", "data file", "folder of images", "preset"]
    assert_train_refused(capsys, workdir, source, needles=needles)


def test_missing_config_file_without_out_creates_no_runs_folder(capsys, workdir):
    assert_refused(cli(capsys, "train", "nope.yaml"), "nope.yaml", "does not exist")
    assert list(workdir.iterdir()) == []


def test_unknown_preset_suggests_the_nearest(capsys, workdir):
    assert_train_refused(
        capsys, workdir, "ring9",
        needles=["'ring9'", "did you mean 'ring8'?", "ganlab presets"],
    )  # fmt: skip


def test_directory_given_as_config(capsys, workdir):
    (workdir / "dir.yaml").mkdir()
    assert_train_refused(
        capsys, workdir, "dir.yaml",
        needles=["cannot read config file dir.yaml", "check the path"],
    )  # fmt: skip


def test_config_that_is_not_utf8(capsys, workdir):
    (workdir / "latin1.yaml").write_bytes(b"steps: 10\n# caf\xe9\n")
    assert_train_refused(
        capsys, workdir, "latin1.yaml",
        needles=["latin1.yaml is not UTF-8", "0xe9", "save it as UTF-8"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "steps: [1, 2\n",
            ["invalid YAML in bad.yaml", "line 2", "starts at line 1", "fix the file"],
        ),
        ("seed: 0\nsteps: [1, 2\nk: 1\n", ["line 3", "flow sequence that starts at line 2"]),
        ("seed: 0\nsteps: 10\n  k: 1\n", ["line 3", "mapping values are not allowed"]),
        ("\tsteps: 1\n", ["line 1", "'\\t'"]),
        ("- 1\n- 2\n", ["bad.yaml must hold a mapping", "got a list", "`key: value`"]),
    ],
)
def test_invalid_yaml_names_the_line(capsys, workdir, text, needles):
    (workdir / "bad.yaml").write_text(text)
    assert_train_refused(capsys, workdir, "bad.yaml", needles=needles)


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        # wrong type
        ("steps=abc", ["'steps'", "valid integer", "got 'abc'", "--set steps="]),
        # out of range
        ("k=0", ["'k'", "greater than or equal to 1", "got 0", "--set k="]),
        ("m=0", ["'m'", "greater than or equal to 1", "got 0", "--set m="]),
        ("m=-5", ["'m'", "greater than or equal to 1", "got -5", "--set m="]),
        ("g_optimizer.lr=-1", ["'g_optimizer.lr'", "greater than 0", "got -1",
                               "--set g_optimizer.lr="]),
        ("d_optimizer.lr=0", ["'d_optimizer.lr'", "greater than 0", "got 0"]),
        ("generator.hidden=[8, 0]", ["'generator.hidden'", "greater than 0", "got 0"]),
        ("discriminator.hidden=[]", ["'discriminator.hidden'", "at least 1 item"]),
        # unknown names
        # g_loss is the 2014 name of objective: its errors name the key it now sets
        ("g_loss=wgan", ["'objective'", "'nonsaturating'", "'hinge'", "got 'wgan'",
                         "--set objective="]),
        ("objective=wgan", ["'objective'", "'relativistic'", "got 'wgan'", "--set objective="]),
        ("g_optimizer.name=adagrad", ["'g_optimizer.name'", "'sgd', 'adam' or 'rmsprop'",
                                      "got 'adagrad'"]),
        ("d_optimizer.name=lbfgs", ["'d_optimizer.name'", "got 'lbfgs'"]),
        ("generator.kind=resnet", ["'generator.kind'", "'mlp' or 'dcgan'", "got 'resnet'",
                                   "--set generator.kind="]),
        ("discriminator.kind=resnet", ["'discriminator.kind'", "'maxout'", "got 'resnet'"]),
        # unknown keys
        ("generatr.hidden=[8]", ["unknown config key 'generatr'", "did you mean 'generator'?"]),
        ("generator.hiden=[8]", ["unknown config key 'generator.hiden'",
                                 "did you mean 'generator.hidden'?"]),
        ("qqqzzz=1", ["unknown config key 'qqqzzz'", "ganlab presets --fields"]),
        # malformed --set
        ("steps", ["--set expects KEY=VALUE", "got 'steps'", "--set steps=200"]),
        ("steps=[1", ["--set steps=[1", "not valid YAML", "[a, b]"]),
        ("steps.x=1", ["'steps' is a value, not a section"]),
    ],
)  # fmt: skip
def test_bad_override(capsys, workdir, override, needles):
    assert_train_refused(capsys, workdir, "gauss1d", "--set", override, needles=needles)


@pytest.mark.parametrize(
    ("override", "needles"),
    [
        ("k=abc", ["in --set k=abc:", "expected a valid integer", "got 'abc'",
                   "e.g. --set k=1 (the default)"]),
        ("k=0", ["in --set k=0:", "expected a number greater than or equal to 1",
                 "e.g. --set k=1 (the default)"]),
        ("objective=wgan", ["in --set objective=wgan:", "expected 'minimax'",
                            "e.g. --set objective=nonsaturating (the default)"]),
        # a list default is shown without spaces, so it can be typed into the shell as is
        ("generator.hidden=[8,0]", ["in --set generator.hidden=[8,0]:",
                                    "e.g. --set generator.hidden=[1200,1200] (the default)"]),
    ],
)  # fmt: skip
def test_bad_set_value_names_the_item_typed_and_a_valid_value(capsys, workdir, override, needles):
    # the user just passed --set: "fix it or pass --set k=..." would tell them to do it again
    result = cli(capsys, "train", "gauss1d", "--out", workdir / "out", "--set", override)
    assert "fix it" not in assert_refused(result, *needles)
    assert not (workdir / "out").exists()


def test_bad_value_in_a_file_offers_a_valid_override(capsys, workdir):
    (workdir / "typo.yaml").write_text("k: 0\n")
    assert_train_refused(
        capsys, workdir, "typo.yaml",
        needles=["'k' in typo.yaml", "got 0", "e.g. --set k=1 (the default)"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["trian"], ["unknown command 'trian'", "did you mean 'train'?"]),
        (["evl", "run"], ["unknown command 'evl'", "did you mean 'eval'?"]),
        (["data", "fetc", "mnist"], ["unknown command 'fetc'", "did you mean 'fetch'?"]),
        (["zzzzzz"], ["unknown command 'zzzzzz'", "choose from train, resume"]),
        (["train", "ring8", "--device", "gpu"], ["invalid --device 'gpu'", "did you mean"]),
    ],
)  # fmt: skip
def test_unknown_command_is_one_line_with_the_nearest(capsys, argv, needles):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    assert_refused((exit_.value.code, out, err), *needles)


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("stpes: 10\n", ["unknown config key 'stpes' in typo.yaml", "did you mean 'steps'?"]),
        ("generator:\n  hiddn: [8]\n", ["'generator.hiddn' in typo.yaml",
                                        "did you mean 'generator.hidden'?"]),
        ("k: 0\n", ["'k' in typo.yaml", "got 0"]),
        ("g_loss: wgan\n", ["'objective' in typo.yaml", "got 'wgan'"]),
    ],
)  # fmt: skip
def test_bad_key_or_value_in_yaml_file(capsys, workdir, text, needles):
    (workdir / "typo.yaml").write_text(text)
    assert_train_refused(capsys, workdir, "typo.yaml", needles=needles)


# ---------------------------------------------------------------------------------------------
# 6-7. Output directories


def test_training_twice_into_one_out_refuses_and_keeps_the_first_run(capsys, tmp_path):
    out = tmp_path / "run"
    assert cli(capsys, "train", "gauss1d", "--out", out, *TINY)[0] == 0
    first = snapshot(tmp_path)
    assert any(name.endswith(".safetensors") for name in first)
    result = cli(capsys, "train", "gauss1d", "--out", out, *TINY, "--set", "seed=1")
    assert_refused(result, f"run directory {out} already exists", "--resume", "--overwrite")
    assert snapshot(tmp_path) == first
    # The refusal is only for want of a flag: --overwrite replaces the run.
    assert cli(capsys, "train", "gauss1d", "--out", out, *TINY, "--set", "seed=1",
               "--overwrite")[0] == 0  # fmt: skip
    assert "seed: 1" in (out / "config.yaml").read_text()


def test_train_resume_with_another_preset_refuses_and_keeps_the_run(capsys, tmp_path):
    # `train grid25 --out RUN --resume` of a gauss1d run trained gauss1d before, silently
    out = tmp_path / "run"
    assert cli(capsys, "train", "gauss1d", "--out", out, *TINY)[0] == 0
    first = snapshot(tmp_path)
    result = cli(capsys, "train", "grid25", "--out", out, *TINY, "--resume")
    assert_refused(result, "differs from the one the run trained with", "data.kind=grid")
    assert snapshot(tmp_path) == first
    # the run's own preset again, with more steps: a resume
    more = [a if a != "steps=4" else "steps=6" for a in TINY]
    assert cli(capsys, "train", "gauss1d", "--out", out, *more, "--resume")[0] == 0


def test_an_empty_folder_as_out_takes_the_run(capsys, tmp_path):
    # refused before ("exists and is not a ganlab run directory"), even with --overwrite
    out = tmp_path / "empty"
    out.mkdir()
    assert cli(capsys, "train", "gauss1d", "--out", out, *TINY)[0] == 0
    assert (out / "config.yaml").exists() and (out / "meta.json").exists()


@pytest.mark.parametrize("flag", [None, "--resume", "--overwrite"])
def test_existing_directory_that_is_not_a_run_is_never_touched(capsys, tmp_path, flag):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    before = snapshot(tmp_path)
    result = cli(capsys, "train", "gauss1d", "--out", out, *TINY, *([flag] if flag else []))
    assert_refused(result, f"{out} exists and is not a ganlab run directory", "another --out")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("out", ["afile", "afile/run", "afile/a/b"])
def test_out_under_a_regular_file(capsys, tmp_path, out):
    (tmp_path / "afile").write_bytes(b"precious")
    before = snapshot(tmp_path)
    result = cli(capsys, "train", "gauss1d", "--out", tmp_path / out, *TINY)
    assert_refused(result, str(tmp_path / "afile"), "another --out")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# 8. Missing, corrupt and incompatible checkpoints


def run_command(command: str, run: Path, tmp_path: Path) -> list:
    if command == "sample":
        return ["sample", run, "--out", tmp_path / "s.npy"]
    return ["resume", run, "--quiet"]


@pytest.mark.parametrize("command", ["resume", "sample"])
@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_run_without_checkpoints(capsys, tiny_run, tmp_path, command, how):
    folder = tiny_run / "checkpoints"
    for f in folder.iterdir():
        f.unlink()
    if how == "deleted":
        folder.rmdir()
    before = snapshot(tmp_path)
    result = cli(capsys, *run_command(command, tiny_run, tmp_path))
    assert_refused(result, f"no checkpoint in {folder}", "--overwrite")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["resume", "sample"])
def test_directory_that_is_not_a_run(capsys, tmp_path, command):
    (tmp_path / "plain").mkdir()
    before = snapshot(tmp_path)
    result = cli(capsys, *run_command(command, tmp_path / "plain", tmp_path))
    assert_refused(result, "is not a ganlab run directory (no config.yaml)", "`ganlab train`")
    result = cli(capsys, *run_command(command, tmp_path / "nowhere", tmp_path))
    assert_refused(result, "nowhere does not exist", "`ganlab train`")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["resume", "sample"])
@pytest.mark.parametrize("manifest", ["stale", "rehashed", "absent"])
@pytest.mark.parametrize("kind", ["truncated", "random"])
def test_only_checkpoint_corrupt(capsys, tiny_run, tmp_path, command, manifest, kind):
    keep_only_newest(tiny_run)
    corrupt(tiny_run / "checkpoints" / NEWEST, kind)
    set_manifest(tiny_run, manifest)
    before = snapshot(tmp_path)
    result = cli(capsys, *run_command(command, tiny_run, tmp_path))
    problem = "SHA-256 differs" if manifest == "stale" else "corrupt or truncated"
    assert_refused(result, "no intact checkpoint", NEWEST, problem, "start a new run")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("manifest", ["stale", "rehashed", "absent"])
@pytest.mark.parametrize("kind", ["truncated", "random"])
def test_corrupt_newest_checkpoint_falls_back_to_an_earlier_one(
    capsys, tiny_run, tmp_path, manifest, kind
):
    corrupt(tiny_run / "checkpoints" / NEWEST, kind)
    set_manifest(tiny_run, manifest)
    code, out, err = cli(capsys, "sample", tiny_run, "--out", tmp_path / "s.npy")
    assert "Traceback" not in out + err
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganlab: warning: "), err
    assert NEWEST in lines[0] and f"using {EARLIER} instead" in lines[0]
    assert np.load(tmp_path / "s.npy").shape == (64, 1)


def test_resume_falls_back_to_an_earlier_checkpoint_and_retrains(capsys, tiny_run):
    corrupt(tiny_run / "checkpoints" / NEWEST, "truncated")
    code, out, err = cli(capsys, "resume", tiny_run, "--quiet")
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganlab: warning: "), err
    assert f"using {EARLIER} instead" in lines[0]
    assert json.loads((tiny_run / "meta.json").read_text())["resumes"][0]["from_step"] == 2
    # The corrupt file was replaced by a fresh step-4 checkpoint that loads without a warning.
    assert cli(capsys, "sample", tiny_run, "--out", tiny_run / "s.npy")[2] == ""


def wrong_tensors(path: Path, how: str) -> None:
    tensors = load_file(path)
    if how == "foreign":  # a valid safetensors file, but not of this run at all
        save_file({"foo": torch.zeros(3)}, path, metadata={"format": "ganlab-checkpoint/1",
                                                           "step": "4"})  # fmt: skip
        return
    key = next(k for k, v in tensors.items() if k.startswith("G.") and v.ndim == 2)
    rows, cols = tensors[key].shape
    tensors[key] = torch.zeros(rows + 1, cols)  # a G weight of the wrong shape
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))["__metadata__"]
    save_file(tensors, path, metadata=header)


@pytest.mark.parametrize("command", ["resume", "sample"])
@pytest.mark.parametrize(
    ("how", "needles"),
    [
        ("foreign", ["has no tensor G.", "incompatible config"]),
        ("reshaped", ["of shape", "incompatible config"]),
    ],
)
def test_checkpoint_with_the_wrong_tensors(capsys, tiny_run, tmp_path, command, how, needles):
    keep_only_newest(tiny_run)
    wrong_tensors(tiny_run / "checkpoints" / NEWEST, how)
    rehash_manifest(tiny_run)  # an intact file, so the store hands it over
    before = snapshot(tmp_path)
    assert_refused(cli(capsys, *run_command(command, tiny_run, tmp_path)), NEWEST, *needles)
    assert snapshot(tmp_path) == before


def test_checkpoint_without_the_ganlab_header(capsys, tiny_run, tmp_path):
    keep_only_newest(tiny_run)
    path = tiny_run / "checkpoints" / NEWEST
    save_file(load_file(path), path)  # the right tensors, no metadata
    rehash_manifest(tiny_run)
    before = snapshot(tmp_path)
    result = cli(capsys, "resume", tiny_run, "--quiet")
    assert_refused(result, "is not a ganlab checkpoint", "checkpoints/ folder")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["resume", "sample"])
@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        ({"generator": {"hidden": [8, 8]}}, ["G.", "of shape", "incompatible config"]),
        ({"discriminator": {"hidden": [8]}}, ["D.", "incompatible config"]),
    ],
)
def test_checkpoint_from_an_incompatible_config(capsys, tiny_run, tmp_path, command, edit,
                                                needles):  # fmt: skip
    edit_config(tiny_run, **edit)
    before = snapshot(tmp_path)
    result = cli(capsys, *run_command(command, tiny_run, tmp_path))
    assert_refused(result, *needles, "restore the run's original config.yaml")
    assert snapshot(tmp_path) == before


def test_resume_with_another_optimizer_in_the_config(capsys, tiny_run, tmp_path):
    edit_config(tiny_run, g_optimizer={"name": "sgd"})
    before = snapshot(tmp_path)
    result = cli(capsys, "resume", tiny_run, "--quiet")
    assert_refused(result, "Adam state for opt_g", "asks for SGD", "config.yaml")
    assert snapshot(tmp_path) == before


def test_resume_to_fewer_steps_than_done_is_nothing_to_do(capsys, tiny_run, tmp_path):
    # not an error: the run has its 2 steps and more; one line says so, exit 0, nothing written
    before = snapshot(tmp_path)
    code, out, err = cli(capsys, "resume", tiny_run, "--steps", "2")
    assert (code, err) == (0, "")
    assert out == (f"ganlab: run {tiny_run} is already at step 4 (steps: 2); nothing to do: "
                   "pass --steps 5 or more to train on\n")  # fmt: skip
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "manifest",
    [
        '{"checkpoints": [1]}',
        '{"checkpoints": "step-00000004.safetensors"}',
        '{"checkpoints": [{"file": "../config.yaml", "step": 9, "sha256": null}]}',
        "not json",
    ],
)
def test_malformed_manifest_falls_back_to_file_names(capsys, tiny_run, tmp_path, manifest):
    (tiny_run / "checkpoints" / "manifest.json").write_text(manifest)
    code, out, err = cli(capsys, "sample", tiny_run, "--out", tmp_path / "s.npy")
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganlab: warning: "), err
    assert "manifest.json is unreadable; using file names" in lines[0]


# ---------------------------------------------------------------------------------------------
# 9. `ganlab sample --out`


def test_sample_refuses_to_overwrite_without_the_flag(capsys, tiny_run, tmp_path):
    out = tmp_path / "s.npy"
    out.write_bytes(b"precious")
    before = snapshot(tmp_path)
    result = cli(capsys, "sample", tiny_run, "--out", out)
    assert_refused(result, f"{out} already exists", "--overwrite")
    assert snapshot(tmp_path) == before
    assert cli(capsys, "sample", tiny_run, "--out", out, "--overwrite")[0] == 0
    assert np.load(out).shape == (64, 1)


@pytest.mark.parametrize(
    ("out", "needles"),
    [
        ("s.txt", ["s.txt: unknown file type", "use a .npy, .npz, .csv or .png name"]),
        ("samples", ["unknown file type", ".npy, .npz, .csv or .png"]),
        ("nodir/s.npy", ["folder", "nodir does not exist", "create it first"]),
    ],
)
def test_sample_bad_out(capsys, tiny_run, tmp_path, out, needles):
    before = snapshot(tmp_path)
    assert_refused(cli(capsys, "sample", tiny_run, "--out", tmp_path / out), *needles)
    assert snapshot(tmp_path) == before


def test_sample_count_below_one(capsys, tiny_run, tmp_path):
    before = snapshot(tmp_path)
    result = cli(capsys, "sample", tiny_run, "-n", "0", "--out", tmp_path / "s.npy")
    assert_refused(result, "got 0", "-n 1 or more")
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# 10. A checkpoint that would run code if unpickled


class _TouchOnUnpickle:
    """Unpickling this calls Path.touch(marker): proof that a loader ran pickled code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def malicious_payload(marker: Path, fmt: str) -> bytes:
    if fmt == "pickle":
        return pickle.dumps(_TouchOnUnpickle(marker))
    import io

    buf = io.BytesIO()
    torch.save({"G.net.0.weight": _TouchOnUnpickle(marker)}, buf)  # zip + pickle
    return buf.getvalue()


def plant_malicious_checkpoint(run: Path, marker: Path, fmt: str, manifest: str) -> None:
    """step-00000010.safetensors holding a pickle; the only checkpoint of the run."""
    folder = run / "checkpoints"
    for f in folder.glob("step-*.safetensors"):
        f.unlink()
    data = malicious_payload(marker, fmt)
    name = "step-00000010.safetensors"
    (folder / name).write_bytes(data)
    if manifest == "listed":
        entry = {"file": name, "step": 10, "sha256": hashlib.sha256(data).hexdigest()}
        (folder / "manifest.json").write_text(json.dumps({"checkpoints": [entry]}))
    else:
        (folder / "manifest.json").unlink()


@pytest.mark.parametrize("fmt", ["pickle", "torch.save"])
def test_the_payload_is_live(tmp_path, fmt):
    """The oracle: loading the payload with pickle does run its code."""
    marker = tmp_path / "pwned"
    data = malicious_payload(marker, fmt)
    if fmt == "pickle":
        pickle.loads(data)
    else:
        import io

        torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("command", ["resume", "sample"])
@pytest.mark.parametrize("manifest", ["listed", "absent"])
@pytest.mark.parametrize("fmt", ["pickle", "torch.save"])
def test_pickled_checkpoint_is_never_unpickled(capsys, tiny_run, tmp_path, command, manifest,
                                               fmt):  # fmt: skip
    marker = tmp_path / "pwned"
    plant_malicious_checkpoint(tiny_run, marker, fmt, manifest)
    before = snapshot(tmp_path)
    result = cli(capsys, *run_command(command, tiny_run, tmp_path))
    assert_refused(result, "step-00000010.safetensors", "corrupt or truncated", "start a new run")
    assert not marker.exists()
    assert snapshot(tmp_path) == before


def test_pickled_checkpoint_left_out_of_the_manifest_is_ignored(capsys, tiny_run, tmp_path):
    marker = tmp_path / "pwned"
    (tiny_run / "checkpoints" / "step-00000010.safetensors").write_bytes(
        malicious_payload(marker, "pickle")
    )
    code, out, err = cli(capsys, "sample", tiny_run, "--out", tmp_path / "s.npy")
    assert (code, err) == (0, "")  # the manifest names step 4, which is intact
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# End to end: the real process's exit status and stderr


def ganlab(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ganlab", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )  # fmt: skip


def assert_process_refused(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert_refused((proc.returncode, proc.stdout, proc.stderr), *needles)


def test_subprocess_missing_config(tmp_path):
    proc = ganlab("train", "nope.yaml", "--out", "out", cwd=tmp_path)
    assert_process_refused(proc, "config file nope.yaml does not exist")
    assert list(tmp_path.iterdir()) == []


def test_subprocess_resume_with_incompatible_config(tiny_run, tmp_path):
    edit_config(tiny_run, generator={"hidden": [8, 8]})
    before = snapshot(tmp_path)
    proc = ganlab("resume", tiny_run, "--quiet", cwd=tmp_path)
    assert_process_refused(proc, "of shape", "incompatible config")
    assert snapshot(tmp_path) == before


def test_subprocess_sample_of_a_pickled_checkpoint(tiny_run, tmp_path):
    marker = tmp_path / "pwned"
    plant_malicious_checkpoint(tiny_run, marker, "pickle", "listed")
    before = snapshot(tmp_path)
    proc = ganlab("sample", tiny_run, "--out", tmp_path / "s.npy", cwd=tmp_path)
    assert_process_refused(proc, "step-00000010.safetensors", "corrupt or truncated")
    assert not marker.exists()
    assert snapshot(tmp_path) == before


def test_a_closed_pipe_ends_quietly():
    """`ganlab presets --fields | head -1`: no BrokenPipeError traceback once head exits."""
    import subprocess
    import sys

    proc = subprocess.run(
        f"{sys.executable} -m ganlab presets --fields | head -1",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_too_little_data_names_the_file_and_the_fix(tmp_path, capsys):
    """Fewer rows than the minibatch, or a single image: one line naming the data and a value
    of m that fits (the largest power of two within the count)."""
    import numpy as np
    from PIL import Image

    few = tmp_path / "few.csv"
    np.savetxt(few, np.random.default_rng(0).normal(size=(10, 2)), delimiter=",")
    result = cli(capsys, "train", "ring8", "--out", tmp_path / "a", "--quiet",
                 "--set", "data.kind=csv", "--set", f"data.path={few}")  # fmt: skip
    assert_refused(result, str(few), "10 examples", "--set m=8")
    one = tmp_path / "one"
    one.mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(one / "a.png")
    result = cli(capsys, "train", "ring8", "--out", tmp_path / "b", "--quiet",
                 "--set", "data.kind=images", "--set", f"data.path={one}")  # fmt: skip
    assert_refused(result, str(one), "holds 1 example")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing written


def test_library_deprecation_notes_are_not_shown_but_warnings_are(monkeypatch, capsys):
    import warnings

    from ganlab import cli

    def command(args):
        warnings.warn("`torch.jit.script_method` is deprecated.", DeprecationWarning, stacklevel=1)
        warnings.warn("the machine is busy", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setitem(cli.COMMANDS, "demo", command)
    assert cli.main(["demo"]) == 0
    err = capsys.readouterr().err
    assert "deprecated" not in err and "ganlab: warning: the machine is busy" in err


def test_a_file_where_a_run_goes_and_an_upper_case_suffix(capsys, tiny_run, tmp_path):
    # `ganlab report data.csv` said the path "does not exist"; `--out S.PNG` was refused
    (tmp_path / "plain.csv").write_text("1,2\n")
    assert_refused(cli(capsys, "report", tmp_path / "plain.csv"), "is a file, not a run")
    code, _, err = cli(capsys, "sample", tiny_run, "-n", "16", "--out", tmp_path / "S.PNG")
    assert code == 0 and (tmp_path / "S.PNG").stat().st_size > 0, err


def test_data_given_first_and_another_data_path_set_is_refused(capsys, tmp_path):
    # the plan and step budget came from the first file, the training from the --set one
    for name in ("a.csv", "b.csv"):
        np.savetxt(tmp_path / name, np.random.default_rng(0).normal(size=(50, 2)), delimiter=",")
    before = snapshot(tmp_path)
    result = cli(capsys, "train", tmp_path / "a.csv", "--out", tmp_path / "r", "--quiet",
                 "--set", f"data.path={tmp_path / 'b.csv'}")  # fmt: skip
    assert_refused(result, "--set data.path", "a.csv", "given first")
    assert snapshot(tmp_path) == before
