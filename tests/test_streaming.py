"""Data larger than memory (issue 20, part 7): an image folder decoded once into a uint8 cache,
a .npy file read in place, minibatches read from disk with exactly the in-memory batches,
resume state and fingerprint."""

import csv
import json
import os

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganlab.cli import main
from ganlab.config import config_from_dict
from ganlab.data import build_data, load_array, load_image_folder, streaming
from ganlab.data import image_cache as image_cache_module
from ganlab.data.image_cache import image_cache
from ganlab.data.sources import TensorSource
from ganlab.data.streaming import RowFile, StreamingSource, npy_rows, stream_decision
from ganlab.errors import DataError
from ganlab.runs.directory import data_fingerprint, fingerprint


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """40 RGB 8x8 PNGs (random pixels) in two subfolders; the cache under tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for i in range(40):
        sub = root / f"part{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(sub / f"{i:03d}.png")
    return root


def streamed(folder, seed, channels=3):
    cache = image_cache(folder, None, channels)
    return StreamingSource(RowFile(cache.path, 0, cache.shape, np.uint8), seed, pixels=True)


def batches(source, m, n):
    return [source.sample(m) for _ in range(n)]


@pytest.mark.parametrize("scale", [None, (-1.0, 1.0)])
def test_streamed_batches_are_the_in_memory_batches_bit_for_bit(folder, scale):
    memory, disk = TensorSource(load_image_folder(folder, channels=3), 5), streamed(folder, 5)
    if scale is not None:  # a tanh G's range, as build_state asks it
        memory.scale_to(*scale)
        disk.scale_to(*scale)
    assert disk.x_shape == memory.x_shape == (3, 8, 8) and disk.size == memory.size == 40
    # m=16 of 40: two batches an epoch, 8 examples dropped; 7 batches cross three epochs
    for a, b in zip(batches(memory, 16, 7), batches(disk, 16, 7), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(memory.reference(25, seed=3), disk.reference(25, seed=3))
    low = -1.0 if scale else 0.0
    assert float(disk.reference(40).min()) >= low and float(disk.reference(40).max()) <= 1.0


def test_a_streamed_source_resumes_mid_epoch_exactly(folder):
    first = streamed(folder, 11)
    batches(first, 12, 4)  # mid-epoch: 4 batches of 12 from a 40-image epoch of 3
    state = {k: v.clone() for k, v in first.state_dict().items()}
    expected = batches(first, 12, 5)
    again = streamed(folder, 999)  # another seed: the state alone decides the batches
    again.load_state_dict(state)
    for a, b in zip(expected, batches(again, 12, 5), strict=True):
        assert torch.equal(a, b)
    memory = TensorSource(load_image_folder(folder, channels=3), 999)
    memory.load_state_dict(state)  # a checkpoint of a streamed run resumes in memory too
    for a, b in zip(expected, batches(memory, 12, 5), strict=True):
        assert torch.equal(a, b)


def test_each_rank_reads_its_rows_of_the_global_minibatch(folder):
    whole, ranks = streamed(folder, 2), [streamed(folder, 2), streamed(folder, 2)]
    for r, source in enumerate(ranks):
        source.shard = (r, 2)
    for _ in range(3):
        x = whole.sample(10)
        assert torch.equal(torch.cat([s.sample(10) for s in ranks]), x)


def test_the_cache_is_reused_and_made_again_when_a_file_changes(folder, tmp_path, monkeypatch):
    cache = image_cache(folder, None, 3)
    stored = np.fromfile(cache.path, np.uint8).reshape(cache.shape)
    expected = load_image_folder(folder, channels=3).numpy()
    np.testing.assert_array_equal(stored / np.float32(255), expected)
    header = json.loads(cache.path.with_suffix(".json").read_text())
    assert header["shape"] == [40, 3, 8, 8] and header["files"] == 40

    def no_decoding(*args):
        raise AssertionError("decoded again")

    monkeypatch.setattr(image_cache_module, "decode_into", no_decoding)
    assert image_cache(folder, None, 3).path == cache.path  # the second load decodes nothing
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    changed = folder / "part1" / "001.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(changed)
    os.utime(changed, ns=(1, 1))  # a new mtime even where the clock is coarse
    fresh = image_cache(folder, None, 3)
    assert fresh.path != cache.path
    # sorted load order: part0/ holds the 20 even numbers, so part1/001.png is image 20
    assert not np.fromfile(fresh.path, np.uint8).reshape(fresh.shape)[20].any()
    assert image_cache(folder, [4, 4], 3).path not in (cache.path, fresh.path)  # resize: its own


def test_an_incomplete_cache_is_decoded_again(folder):
    cache = image_cache(folder, None, 3)
    with open(cache.path, "r+b") as f:
        f.truncate(100)  # a .u8 file cut short: its header's shape no longer fits it
    again = image_cache(folder, None, 3)
    assert again.path.stat().st_size == 40 * 3 * 8 * 8


def test_the_fingerprint_is_the_same_streamed_or_in_memory(folder):
    x = load_image_folder(folder, channels=3)
    memory, disk = TensorSource(x, 0), streamed(folder, 0)
    assert data_fingerprint(disk) == data_fingerprint(memory) == fingerprint(x)
    memory.scale_to(-1.0, 1.0)
    disk.scale_to(-1.0, 1.0)
    assert data_fingerprint(disk) == data_fingerprint(memory) == fingerprint(2.0 * x - 1.0)


@pytest.mark.parametrize(
    "arr",
    [
        np.random.default_rng(0).normal(size=(30, 2)),  # float64 points
        np.random.default_rng(1).integers(0, 256, (30, 5, 4), dtype=np.uint8),  # gray images
        np.random.default_rng(2).normal(size=(30,)).astype(np.float32),  # (N,) -> (N, 1)
    ],
)
def test_a_npy_file_streams_in_place_as_it_loads(tmp_path, arr):
    np.save(tmp_path / "x.npy", arr)
    cfg = config_from_dict({"data": {"kind": "array", "path": str(tmp_path / "x.npy")}}).data
    disk = build_data(cfg.model_copy(update={"stream": "always"}), 4)
    memory = build_data(cfg.model_copy(update={"stream": "never"}), 4)
    assert isinstance(disk, StreamingSource) and isinstance(memory, TensorSource)
    assert torch.equal(disk.reference(30), memory.reference(30))
    assert torch.equal(
        TensorSource(load_array(tmp_path / "x.npy"), 4).reference(30), memory.reference(30)
    )
    for a, b in zip(batches(memory, 8, 6), batches(disk, 8, 6), strict=True):
        assert torch.equal(a, b)


def test_stream_refusals_are_one_line(tmp_path):
    np.savez(tmp_path / "x.npz", x=np.zeros((10, 2)))
    cfg = config_from_dict({"data": {"kind": "array", "path": str(tmp_path / "x.npz")}}).data
    assert isinstance(build_data(cfg, 0), TensorSource)  # auto: a .npz loads into memory
    with pytest.raises(DataError) as e:
        build_data(cfg.model_copy(update={"stream": "always"}), 0)
    assert str(e.value) == (
        f"{tmp_path / 'x.npz'} is not a .npy file, and only .npy arrays stream from disk; save "
        "the examples with np.save(path, x) or set data.stream=auto"
    )
    bad = np.zeros((10, 2))
    bad[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match=r"nan.npy contains NaN or Inf values; remove or replace"):
        build_data(
            cfg.model_copy(update={"stream": "always", "path": str(tmp_path / "nan.npy")}), 0
        )
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((10, 3))))
    with pytest.raises(DataError, match="Fortran-ordered"):
        npy_rows(tmp_path / "f.npy")
    assert main(["train", "ring8", "--set", "data.stream=always", "--quiet"]) == 2


def test_auto_streams_what_would_take_over_a_quarter_of_free_memory(monkeypatch):
    gib = 1 << 30
    assert stream_decision("auto", 2 * gib, available=4 * gib) is True
    assert stream_decision("auto", gib, available=4 * gib) is False
    monkeypatch.setattr(streaming, "available_memory", lambda: None)  # unreadable: 2 GiB bound
    assert stream_decision("auto", 3 * gib) is True
    assert stream_decision("auto", gib) is False
    assert stream_decision("always", 1, available=4 * gib) is True
    assert stream_decision("never", 100 * gib, available=gib) is False


def image_run(folder, out, stream, steps=20):
    """`ganlab train` on the folder with tiny MLPs and a tanh G (data scaled to [-1, 1])."""
    cfg = {
        "seed": 0, "steps": steps, "m": 8, "objective": "nonsaturating",
        "noise": {"kind": "gaussian", "dim": 4, "scale": 1.0},
        "generator": {"kind": "mlp", "hidden": [16], "output": "tanh"},
        "discriminator": {"kind": "mlp", "hidden": [16], "dropout": 0.0, "input_dropout": 0.0},
        "data": {"kind": "images", "path": str(folder), "channels": 3, "stream": stream},
        "log_every": 5, "sample_every": 20, "checkpoint_every": 10,
    }  # fmt: skip
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return main(["train", str(path), "--out", str(out), "--quiet"])


def test_a_streamed_run_trains_as_the_in_memory_run_and_resumes(folder, tmp_path, one_thread):
    assert image_run(folder, tmp_path / "disk", "always") == 0
    assert image_run(folder, tmp_path / "memory", "never") == 0
    rows = {}
    for name in ("disk", "memory"):
        with open(tmp_path / name / "metrics.csv") as f:
            rows[name] = [(r["step"], r["d_loss"], r["g_loss"]) for r in csv.DictReader(f)]
    assert len(rows["disk"]) == 4 and rows["disk"] == rows["memory"]  # the same run, bit for bit
    meta = {n: json.loads((tmp_path / n / "meta.json").read_text()) for n in ("disk", "memory")}
    assert meta["disk"]["data_fingerprint"] == meta["memory"]["data_fingerprint"]
    assert main(["resume", str(tmp_path / "disk"), "--steps", "30", "--quiet"]) == 0
    changed = folder / "part0" / "000.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(changed)
    assert main(["resume", str(tmp_path / "disk"), "--steps", "40", "--quiet"]) == 2


def test_the_data_logit_of_a_streamed_set_is_the_in_memory_one(folder):
    from ganlab.training.state import data_logit

    memory, disk = TensorSource(load_image_folder(folder, channels=3), 0), streamed(folder, 0)
    # float64 sums of 40 values in [0, 1] in another order: they differ by a few ulps at most
    torch.testing.assert_close(data_logit(disk, "images"), data_logit(memory, "images"))
