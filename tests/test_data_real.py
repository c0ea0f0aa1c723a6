"""Real data: IDX and mnist.pkl.gz parsing, the paper's MNIST split, Fashion-MNIST, digits,
your own images / CSV / arrays, the data config and `ganlab data info`. All offline."""

import dataclasses
import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from datafiles import MNIST_PICKLE as PICKLE
from datafiles import mnist_pickle
from datafiles import needs_mnist as needs_pickle
from PIL import Image

from ganlab.cli import main
from ganlab.config import DataConfig, load_config
from ganlab.data import (
    build_data,
    catalog,
    datasets,
    load_array,
    load_csv,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    load_mnist,
    read_idx,
    read_mnist_pickle,
    sha256_file,
)
from ganlab.data.mnist_pickle import load_arrays
from ganlab.errors import ConfigError, DataError

needs_debian = pytest.mark.skipif(
    not (catalog.DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian package dataset-fashion-mnist is not installed",
)

# Label counts of the official MNIST files (yann.lecun.com/exdb/mnist): an oracle independent
# of every file here. train = the 60,000 training images, test = the 10,000 test images.
OFFICIAL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
OFFICIAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """A private empty cache, no $GANLAB_DATA, and no mirror: nothing here can download."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GANLAB_DATA", raising=False)
    for name, ds in datasets.DATASETS.items():
        monkeypatch.setitem(datasets.DATASETS, name, dataclasses.replace(ds, mirrors=()))


def write_idx(path: Path, arr: np.ndarray, compress: bool = False) -> Path:
    """The IDX format by its spec: 0x00 0x00, a type byte, ndim, big-endian uint32 sizes, data."""
    code = {np.uint8: 0x08, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}[arr.dtype.type]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data, compresslevel=1) if compress else data)
    return path


# ---------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    offset = 0 if dtype is np.uint8 else 7  # negative values for the signed types
    arr = (np.arange(2 * 3 * 5).reshape(2, 3, 5) - offset).astype(dtype)
    back = read_idx(write_idx(tmp_path / "a.idx", arr, compress))
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, arr)  # big-endian on disk, native in memory


def test_idx_errors_name_the_file_and_the_fix(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(DataError) as e:
        read_idx(bad)
    assert str(e.value) == (
        f"{bad} is not an IDX file (magic bytes 89 50 4e 47, expected 00 00 <type> <ndim>); "
        "give the MNIST-format files (e.g. train-images-idx3-ubyte.gz)"
    )
    short = write_idx(tmp_path / "short", np.zeros((4, 28, 28), np.uint8))
    short.write_bytes(short.read_bytes()[:-10])
    with pytest.raises(DataError) as e:
        read_idx(short)
    assert str(e.value) == (
        f"{short} holds 3126 bytes of data but its header says 4x28x28 uint8 (3136 bytes); "
        "the file is truncated or damaged, download it again"
    )
    head = tmp_path / "head"
    head.write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    with pytest.raises(DataError, match="truncated inside its header"):
        read_idx(head)
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(bytes(100))[:-8])
    with pytest.raises(DataError, match="is a damaged gzip file .*delete it and download it"):
        read_idx(gz)


# ---------------------------------------------------------------------------------------------
# mnist.pkl.gz without unpickling arbitrary objects


class Exploit:
    """Unpickling this would run a shell command (pickle calls the global it names)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps((np.zeros(3), Exploit(marker)), protocol=2)
    with pytest.raises(DataError) as e:
        load_arrays(payload, "evil.pkl")
    assert str(e.value).startswith(f"evil.pkl was refused: global '{os.system.__module__}.system'")
    assert "only numpy arrays may be loaded" in str(e.value)
    assert not marker.exists()
    # The same through the file reader, gzip'd like mnist.pkl.gz.
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(DataError, match="was refused: global"):
        read_mnist_pickle(path)
    assert not marker.exists()


def test_pickle_of_plain_arrays_loads(tmp_path):
    rng = np.random.default_rng(0)
    splits = [
        (rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, np.arange(n) % 10)
        for n in (5, 3, 2)
    ]
    for protocol in (2, 4, 5):
        loaded = load_arrays(pickle.dumps(tuple(splits), protocol=protocol))
        for (x, y), (x2, y2) in zip(splits, loaded, strict=True):
            np.testing.assert_array_equal(x, x2)
            np.testing.assert_array_equal(y, y2)
    path = tmp_path / "m.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(tuple(splits), protocol=2)))
    assert read_mnist_pickle(path)["valid"][0].shape == (3, 784)
    path.write_bytes(gzip.compress(pickle.dumps(splits[:2], protocol=2)))
    with pytest.raises(DataError, match="does not hold \\(train, valid, test\\)"):
        read_mnist_pickle(path)
    objects = tuple((np.array([1, "a"], dtype=object), y) for _, y in splits)
    path.write_bytes(gzip.compress(pickle.dumps(objects, protocol=2)))
    with pytest.raises(DataError, match="is not float images"):
        read_mnist_pickle(path)
    path.write_bytes(b"not gzip")
    with pytest.raises(DataError, match="is not a readable gzip file"):
        read_mnist_pickle(path)


@pytest.fixture(scope="module")
def pickled():
    mnist_pickle()
    return read_mnist_pickle(PICKLE)


@needs_pickle
def test_pickle_split_is_the_official_data_in_order(pickled):
    # train + valid together have the official training set's label counts, and test the
    # official test set's: the 50k/10k split is a split of the official 60k.
    train_valid = np.concatenate([pickled["train"][1], pickled["valid"][1]])
    assert np.bincount(train_valid).tolist() == OFFICIAL_TRAIN_COUNTS
    assert np.bincount(pickled["test"][1]).tolist() == OFFICIAL_TEST_COUNTS


@pytest.fixture(scope="module")
def idx_from_pickle(pickled, tmp_path_factory):
    """The four official-format IDX files rebuilt from the pickle (pixel = v * 256): the IDX
    files are not on this machine, so this is how the two readers are compared."""
    folder = tmp_path_factory.mktemp("idx")
    train_x = np.concatenate([pickled["train"][0], pickled["valid"][0]])  # (60000, 784)
    train_y = np.concatenate([pickled["train"][1], pickled["valid"][1]])
    pixels = np.round(train_x * 256).astype(np.uint8).reshape(-1, 28, 28)
    write_idx(folder / "train-images-idx3-ubyte", pixels)  # uncompressed, as unzipped by hand
    write_idx(folder / "train-labels-idx1-ubyte.gz", train_y.astype(np.uint8), compress=True)
    test_pixels = np.round(pickled["test"][0] * 256).astype(np.uint8).reshape(-1, 28, 28)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", test_pixels, compress=True)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", pickled["test"][1].astype(np.uint8), True)
    return folder


@needs_pickle
@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_idx_and_pickle_give_the_same_split(pickled, idx_from_pickle, split):
    x_idx, y_idx = load_mnist(split, idx_from_pickle)
    x_pkl, y_pkl = load_mnist(split, PICKLE)
    n = {"train": 50_000, "valid": 10_000, "test": 10_000}[split]
    assert x_idx.shape == (n, 1, 28, 28) and x_idx.dtype == torch.float32
    assert y_idx.dtype == torch.int64
    torch.testing.assert_close(y_idx, y_pkl, rtol=0, atol=0)
    # Both loaders return pixel / 255: with the pixels equal, the floats are bit-identical.
    torch.testing.assert_close(x_idx, x_pkl, rtol=0, atol=0)
    # And the stored pickle values are the same pixels / 256.
    raw = torch.from_numpy(pickled[split][0]).reshape(-1, 1, 28, 28)
    torch.testing.assert_close(raw * 256, torch.round(x_idx * 255), rtol=0, atol=0)
    assert float(x_idx.min()) == 0.0 and float(x_idx.max()) == 1.0  # /255, not binarised
    assert len(torch.unique(x_idx[:100])) > 2


@needs_pickle
def test_sources_in_order(idx_from_pickle, tmp_path, monkeypatch):
    env = tmp_path / "env"
    env.mkdir()
    (env / "mnist.pkl.gz").symlink_to(PICKLE)
    monkeypatch.setenv("GANLAB_DATA", str(env))
    found = datasets.locate("mnist")
    assert (found.source, found.format, found.files) == ("env", "pickle", [env / "mnist.pkl.gz"])
    # IDX files directly in $GANLAB_DATA are not taken (Fashion-MNIST's have the same names).
    bare = tmp_path / "bare"
    bare.symlink_to(idx_from_pickle)
    monkeypatch.setenv("GANLAB_DATA", str(bare))
    with pytest.raises(DataError, match="mnist not found \\(looked in \\$GANLAB_DATA="):
        datasets.locate("mnist", fetch_missing=False)
    monkeypatch.setenv("GANLAB_DATA", str(env))
    # IDX files in $GANLAB_DATA/mnist/ come before the pickle beside it.
    (env / "mnist").symlink_to(idx_from_pickle)
    assert datasets.locate("mnist").format == "idx"
    # A user path comes before $GANLAB_DATA.
    found = datasets.locate("mnist", PICKLE)
    assert (found.source, found.format) == ("user", "pickle")
    found = datasets.locate("mnist", PICKLE.parent)  # a folder holding mnist.pkl.gz
    assert (found.source, found.location) == ("user", PICKLE.parent / "mnist.pkl.gz")


def test_nothing_found_and_no_download(tmp_path, monkeypatch):
    with pytest.raises(DataError) as e:
        datasets.locate("mnist", fetch_missing=False)
    cache = tmp_path / "cache" / "ganlab" / "mnist"
    assert str(e.value) == (
        f"mnist not found (looked in {cache}); run `ganlab data fetch mnist` or give its folder "
        "with --path / data.path"
    )
    with pytest.raises(DataError) as e:
        load_mnist("train")  # falls through to a download; no mirrors in tests
    assert str(e.value) == (
        f"no download address for train-images-idx3-ubyte.gz; put the file in {cache}"
    )


def test_bad_user_paths(tmp_path):
    with pytest.raises(DataError, match=f"data path {tmp_path / 'nope'} does not exist"):
        load_mnist("train", tmp_path / "nope")
    with pytest.raises(DataError, match="holds no mnist files .*put the files there"):
        load_mnist("train", tmp_path)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="x.txt is a file; give the folder that holds the four"):
        load_mnist("train", tmp_path / "x.txt")
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(10, np.uint8), compress=True)
    with pytest.raises(DataError) as e:
        load_mnist("train", tmp_path)
    assert str(e.value) == (
        f"{tmp_path} holds only part of mnist: train-images-idx3-ubyte.gz, "
        "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz missing; add the missing files "
        "(or remove the others)"
    )
    with pytest.raises(DataError, match="unknown split 'validation' of mnist; use one of train"):
        load_mnist("validation", tmp_path)


def test_wrong_sized_idx_files_are_refused(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((100, 28, 28), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(100, np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((10, 28, 28), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(10, 12, np.uint8))
    with pytest.raises(DataError) as e:
        load_mnist("train", tmp_path)
    assert str(e.value) == (
        f"{tmp_path / 'train-images-idx3-ubyte'} holds uint8 images of shape (100, 28, 28), "
        "expected uint8 (60000, 28, 28); it is not the official file, replace it"
    )


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST and digits


@needs_debian
def test_fashion_mnist_from_the_debian_package():
    x, y = load_fashion_mnist("valid")
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    x_train, y_train = load_fashion_mnist("train")
    assert x_train.shape == (50_000, 1, 28, 28)
    # Fashion-MNIST is balanced (Xiao et al. 2017): 6,000 training and 1,000 test images per
    # class, so train + valid together must give 6,000 of each.
    assert torch.bincount(torch.cat([y_train, y])).tolist() == [6000] * 10
    assert torch.bincount(load_fashion_mnist("test")[1]).tolist() == [1000] * 10
    assert datasets.locate("fashion_mnist").source == "debian"


def test_fashion_mnist_missing_everywhere(monkeypatch, tmp_path, capsys):
    ds = datasets.DATASETS["fashion_mnist"]
    monkeypatch.setitem(
        datasets.DATASETS, "fashion_mnist", dataclasses.replace(ds, debian=tmp_path / "none")
    )
    assert main(["data", "info", "fashion-mnist"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab: error: fashion_mnist not found (looked in ")
    assert "apt-get install dataset-fashion-mnist" in err and err.count("\n") == 1


def test_digits_are_sklearn_digits_over_16():
    from sklearn.datasets import load_digits as sklearn_digits

    x, y = load_digits()
    ref = sklearn_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    # 0..16 counts over 16 are exact in float32.
    torch.testing.assert_close(x.reshape(1797, 64) * 16, torch.from_numpy(ref.data).float())
    assert float(x.max()) == 1.0 and y.tolist() == ref.target.tolist()


# ---------------------------------------------------------------------------------------------
# Your own data


def save_image(path: Path, pixels: np.ndarray) -> np.ndarray:
    Image.fromarray(pixels).save(path)
    return pixels


def test_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    a = save_image(tmp_path / "a.png", rng.integers(0, 256, (6, 5), dtype=np.uint8))
    (tmp_path / "sub").mkdir()
    b = save_image(tmp_path / "sub" / "b.PNG", rng.integers(0, 256, (6, 5), dtype=np.uint8))
    (tmp_path / ".hidden").write_text("skipped")
    x = load_image_folder(tmp_path)
    assert x.shape == (2, 1, 6, 5) and x.dtype == torch.float32
    expected = torch.from_numpy(np.stack([a, b])[:, None].astype(np.float32) / 255)
    torch.testing.assert_close(x, expected, rtol=0, atol=0)  # PNG is lossless
    rgb = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    save_image(tmp_path / "c.jpg", rgb)  # a 4x4 JPEG among 6x5 PNGs: resize them all
    x = load_image_folder(tmp_path, resize=(8, 8), channels=3)
    assert x.shape == (3, 3, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_sixteen_bit_grey_images_keep_their_levels(tmp_path):
    # PIL's own convert("L") clips 16-bit pixels at 255: this folder read as 99.6% white
    from ganlab.data.inspect import inspect_path

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 65536, (3, 6, 5), dtype=np.uint16)
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(tmp_path / f"{i}.png")  # mode I;16
    x = load_image_folder(tmp_path)
    # 8-bit levels of the 16-bit ones: within half an 8-bit step
    torch.testing.assert_close(x[:, 0], torch.from_numpy(pixels / 65535.0).float(), rtol=0,
                               atol=0.5 / 255 + 1e-6)  # fmt: skip
    summary = inspect_path(tmp_path)
    assert summary.shape == (1, 6, 5)
    assert summary.low < 0.05 and summary.high > 0.95  # the range, not all white


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match=f"image folder {tmp_path / 'no'} does not exist"):
        load_image_folder(tmp_path / "no")
    with pytest.raises(DataError) as e:
        load_image_folder(tmp_path)
    assert str(e.value) == f"image folder {tmp_path} holds no images; put PNG or JPEG files in it"
    save_image(tmp_path / "a.png", np.zeros((6, 5), np.uint8))
    save_image(tmp_path / "b.png", np.zeros((7, 5), np.uint8))
    with pytest.raises(DataError) as e:
        load_image_folder(tmp_path)
    assert str(e.value) == (
        f"images in {tmp_path} differ in size: a.png is 6x5 (HxW), b.png is 7x5; set "
        "data.resize: [H, W] to resize them all"
    )
    (tmp_path / "notes.txt").write_text("hello")  # not an image: skipped
    assert load_image_folder(tmp_path, resize=(6, 5)).shape == (2, 1, 6, 5)
    (tmp_path / "c.png").write_bytes(b"not really a png")
    with pytest.raises(DataError) as e:
        load_image_folder(tmp_path, resize=(6, 5))
    assert str(e.value) == (
        f"cannot read {tmp_path / 'c.png'} as an image (UnidentifiedImageError); remove or "
        "replace it"
    )
    with pytest.raises(DataError, match="is not a folder; give a folder of PNG/JPEG images"):
        load_image_folder(tmp_path / "a.png")


def test_csv_of_points(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("x,y\n1,2\n3.5,-4\n# a comment\n5e-1,6\n")
    torch.testing.assert_close(load_csv(path), torch.tensor([[1, 2], [3.5, -4], [0.5, 6.0]]))
    path.write_text("1\n2\n")
    assert load_csv(path).shape == (2, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no rows; write one point per line"),
        ("x,y\n", "holds a header but no rows"),
        ("1,2\n3,abc\n", "data row 2, column 'column 2': 'abc' is not a number; fix the cell"),
        ("1,2\n3,4,5\n", "data row 2 has 3 cells, the first row 2; give every row the same"),
        ("1,inf\n", "data row 1, column 'column 2': 'inf' is infinite"),
        ("x,y\n1,\nnan,2\n", "every one of its 2 rows has a missing value; fill them in"),
        ("name\nann\nbob\n", "has no column of numbers to learn"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    path = tmp_path / "p.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as e:
        load_csv(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_arrays_of_images_and_points(tmp_path):
    np.save(tmp_path / "gray.npy", np.full((4, 6, 6), 255, np.uint8))
    x = load_array(tmp_path / "gray.npy")
    assert x.shape == (4, 1, 6, 6) and float(x.max()) == 1.0  # 8-bit pixels / 255
    np.save(tmp_path / "pts.npy", np.arange(6.0))
    assert load_array(tmp_path / "pts.npy").shape == (6, 1)
    np.savez(tmp_path / "lab.npz", x=np.zeros((3, 2)), y=np.array([0, 1, 1]))
    x, y = load_array(tmp_path / "lab.npz", labels=True)
    assert x.shape == (3, 2) and y.tolist() == [0, 1, 1] and y.dtype == torch.int64
    assert load_array(tmp_path / "lab.npz").shape == (3, 2)


def test_bad_arrays(tmp_path):
    np.save(tmp_path / "hwc.npy", np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(DataError, match="looks channels-last .*x.transpose\\(0, 3, 1, 2\\)"):
        load_array(tmp_path / "hwc.npy")
    np.save(tmp_path / "five.npy", np.zeros((1, 1, 1, 1, 1)))
    with pytest.raises(DataError) as e:
        load_array(tmp_path / "five.npy")
    assert str(e.value) == (
        f"{tmp_path / 'five.npy'} holds an array of shape (1, 1, 1, 1, 1) (5 dimensions); save "
        "points as (N, d) or images as (N, H, W) or (N, C, H, W)"
    )
    # no rows, and images of two channels (the figures draw 1, 3 or 4): refused when read,
    # and before training (found by hand: a traceback in the dry run, and in the first figure)
    from ganlab.data.inspect import inspect_path

    np.save(tmp_path / "zero.npy", np.zeros((0, 2)))
    np.save(tmp_path / "two.npy", np.zeros((5, 2, 8, 8), np.float32))
    for name, needle in (("zero.npy", "holds no examples"), ("two.npy", "of 2 channels")):
        for read in (load_array, inspect_path):
            with pytest.raises(DataError, match=needle):
                read(tmp_path / name)
    np.save(tmp_path / "inf.npy", np.array([[np.inf]]))
    with pytest.raises(DataError, match="inf.npy contains NaN or Inf values"):
        load_array(tmp_path / "inf.npy")
    np.savez(tmp_path / "nolab.npz", x=np.zeros((3, 2)))
    with pytest.raises(DataError) as e:
        load_array(tmp_path / "nolab.npz", labels=True)
    assert str(e.value) == (
        f"{tmp_path / 'nolab.npz'} holds no labels (arrays: ['x']); save them beside the examples "
        "with np.savez(path, x=x, y=labels)"
    )
    with pytest.raises(DataError, match="is a .npy file, which holds no labels"):
        load_array(tmp_path / "inf.npy", labels=True)
    np.savez(tmp_path / "badlab.npz", x=np.zeros((3, 2)), y=np.zeros(2))
    with pytest.raises(DataError, match="labels must be integers of shape \\(3,\\), got float64"):
        load_array(tmp_path / "badlab.npz", labels=True)


# ---------------------------------------------------------------------------------------------
# Config, build_data, training and `ganlab data info`


def test_data_config_kinds(tmp_path):
    with pytest.raises(ConfigError, match="data.kind 'images' needs data.path, the folder"):
        load_config("gauss1d", ["data.kind=images"])
    with pytest.raises(ConfigError, match="data.kind 'csv' needs data.path, the CSV file"):
        load_config("gauss1d", ["data.kind=csv"])
    with pytest.raises(ConfigError, match="'digits' has one split .*leave data.split at train"):
        load_config("gauss1d", ["data.kind=digits", "data.split=test"])
    with pytest.raises(ConfigError, match="data.split"):
        load_config("gauss1d", ["data.kind=mnist", "data.split=validation"])
    src = build_data(DataConfig(kind="digits"), seed=0)
    assert src.size == 1797 and src.x_shape == (1, 8, 8)
    for i in range(3):
        save_image(tmp_path / f"{i}.png", np.full((5 + i, 4), 40 * i, np.uint8))
    src = build_data(DataConfig(kind="images", path=str(tmp_path), resize=[6, 6]), seed=0)
    assert src.size == 3 and src.x_shape == (1, 6, 6)
    (tmp_path / "p.csv").write_text("1,2,3\n4,5,6\n")
    src = build_data(DataConfig(kind="csv", path=str(tmp_path / "p.csv")), seed=0)
    assert src.x_shape == (3,) and src.size == 2


def test_train_on_digits(tmp_path, capsys):
    args = ["train", "gauss1d", "--out", str(tmp_path / "run"), "--quiet"]
    args += ["--set", "data.kind=digits", "--set", "steps=2", "--set", "m=32"]
    assert main(args) == 0
    assert "run directory" in capsys.readouterr().out


@needs_pickle
def test_cli_info_mnist_pickle(capsys):
    assert main(["data", "info", "mnist", "--path", str(PICKLE)]) == 0
    out = capsys.readouterr().out
    assert "mnist: MNIST handwritten digits" in out
    assert f"source: user (pickle) {PICKLE}" in out
    assert "examples: train 50000, valid 10000, test 10000; each of shape (1, 28, 28)" in out
    digest = sha256_file(PICKLE)
    assert f"mnist.pkl.gz  {PICKLE.stat().st_size} bytes  sha256 {digest}" in out


def test_cli_info_digits_and_own_data(tmp_path, capsys):
    assert main(["data", "info", "digits"]) == 0
    out = capsys.readouterr().out
    assert "source: bundled (csv)" in out and "examples: all 1797; each of shape (1, 8, 8)" in out
    (tmp_path / "p.csv").write_text("1,2\n3,4\n5,6\n")
    assert main(["data", "info", "csv", "--path", str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out
    assert f"source: user (csv) {tmp_path / 'p.csv'}" in out and "all 3; each of shape (2,)" in out
    assert main(["data", "info", "images", "--path", str(tmp_path)]) == 2
    assert "holds no images" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["data", "info", "cifar10"], "unknown data set 'cifar10'; use one of mnist, fashion"),
        (["data", "info", "images"], "data info images needs --path"),
        (["data", "info", "mnist"], "mnist not found (looked in "),
        (["data", "info", "mnist", "--path", "/nonexistent"], "data path /nonexistent does not"),
    ],
)
def test_cli_info_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ganlab: error: {message}") and err.count("\n") == 1


def test_image_folders_of_other_formats_and_stray_files(tmp_path):
    from PIL import Image

    from ganlab.data.inspect import inspect_path

    a = (np.random.default_rng(0).random((8, 8)) * 255).astype(np.uint8)
    for ext, kw in [("png", {}), ("bmp", {}), ("gif", {}), ("webp", {"lossless": True}),
                    ("tif", {})]:  # fmt: skip
        Image.fromarray(a).save(tmp_path / f"im.{ext}", **kw)
    (tmp_path / "README.txt").write_text("where these came from")
    x = load_image_folder(tmp_path)
    assert x.shape == (5, 1, 8, 8)
    for image in x:  # lossless formats: the same pixels
        np.testing.assert_array_equal((image[0] * 255).round().numpy().astype(np.uint8), a)
    assert "1 other file skipped (.txt)" in inspect_path(tmp_path).describe()
