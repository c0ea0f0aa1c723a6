"""Real image sets: MNIST in the paper's split, Fashion-MNIST, scikit-learn's 8x8 digits, and
what `ganlab data info` says about a data set.

The loaders read the files `catalog.locate` finds (the order of the sources is in catalog.py;
`fetch` downloads them). The split is the paper's (Goodfellow et al. 2014 trained on 50,000 MNIST
images, picked the Parzen width on 10,000 and tested on 10,000): train = the first 50,000 of the
official 60,000 training images, valid = the last 10,000, test = the official 10,000.
Fashion-MNIST is split the same way. Images are float32 (N, 1, 28, 28), pixel / 255 in [0, 1],
not binarised; labels int64.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.data.catalog import (
    DATASETS,
    NAMES,
    USER_KINDS,
    IdxDataset,
    Located,
    canonical_name,
    fetch,
    locate,
)
from ganlab.data.download import sha256_file
from ganlab.data.idx import read_idx
from ganlab.data.mnist_pickle import read_mnist_pickle
from ganlab.errors import DataError

SPLITS = ("train", "valid", "test")


# ---------------------------------------------------------------------------------------------
# Public loaders


def load_mnist(split: str = "train", path: str | Path | None = None) -> tuple[Tensor, Tensor]:
    """MNIST in the paper's split: images (N, 1, 28, 28) float32 in [0, 1], labels (N,) int64.

    Args:
        split: "train" (50,000), "valid" (10,000) or "test" (10,000).
        path: a folder of the IDX files or an ``mnist.pkl.gz``; default: $GANLAB_DATA, the
            cache, then a download.
    Raises:
        DataError: the split is unknown, the files are missing, damaged or of the wrong size,
            or the download fails.
    """
    return load_split("mnist", split, path)


def load_fashion_mnist(
    split: str = "train", path: str | Path | None = None
) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST split like MNIST (50,000 / 10,000 / 10,000), (N, 1, 28, 28) in [0, 1].

    Sources after ``path``, $GANLAB_DATA and the cache: the Debian package
    ``dataset-fashion-mnist``, then a download.
    """
    return load_split("fashion_mnist", split, path)


def load_digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's bundled 8x8 digits: images (1797, 1, 8, 8) float32 in [0, 1], labels.

    The images are 4x4-block counts of an original 32x32 bitmap, integers 0..16, divided here by
    16. No download: the file ships with scikit-learn.
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DataError(
            "the digits data set needs scikit-learn; pip install scikit-learn"
        ) from None
    bunch = sklearn_digits()
    x = torch.from_numpy((bunch.data / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)
    return x, torch.from_numpy(bunch.target.astype(np.int64))


def load_split(name: str, split: str = "train", path: str | Path | None = None):
    """One split of an IDX data set by name ("mnist" or "fashion_mnist"); see load_mnist."""
    name = canonical_name(name)
    if name not in DATASETS:
        raise DataError(f"'{name}' is not an IDX data set; use mnist or fashion_mnist")
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}' of {name}; use one of {', '.join(SPLITS)}")
    found = locate(name, path)
    if found.format == "pickle":
        x, y = _pickle_split(found.files[0], split)
    else:
        x, y = _idx_split(DATASETS[name], found, split)
    return torch.from_numpy(x).reshape(-1, 1, 28, 28), torch.from_numpy(y)


# ---------------------------------------------------------------------------------------------
# Reading the files


def _idx_split(ds: IdxDataset, found: Located, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split from the IDX files: train/valid slice the official training set."""
    by_role = dict(zip(ds.files, found.files, strict=True))
    part = "test" if split == "test" else "train"
    if found.source in ("cache", "download"):
        _check_cached(ds, by_role[f"{part}_images"], by_role[f"{part}_labels"])
    images = _read_images(by_role[f"{part}_images"], ds.counts[part])
    labels = _read_labels(by_role[f"{part}_labels"], ds.counts[part])
    sl = _split_slice(split)
    x = images[sl].astype(np.float32) / np.float32(255.0)  # (N, 28, 28) pixel / 255
    return x, labels[sl].astype(np.int64)


def _split_slice(split: str) -> slice:
    """The paper's split of the official 60,000 training images (test is used whole)."""
    return {"train": slice(0, 50_000), "valid": slice(50_000, 60_000), "test": slice(None)}[split]


def _check_cached(ds: IdxDataset, *paths: Path) -> None:
    for p in paths:
        expected = ds.sha256.get(p.name)
        if expected is not None and sha256_file(p) != expected:
            raise DataError(
                f"cached file {p} fails its SHA-256 check (damaged or replaced); run "
                f"`ganlab data fetch {ds.name}` to download it again"
            )


def _read_images(path: Path, count: int) -> np.ndarray:
    x = read_idx(path)
    if x.dtype != np.uint8 or x.shape != (count, 28, 28):
        raise DataError(
            f"{path} holds {x.dtype} images of shape {x.shape}, expected uint8 ({count}, 28, 28); "
            "it is not the official file, replace it"
        )
    return x


def _read_labels(path: Path, count: int) -> np.ndarray:
    y = read_idx(path)
    if y.dtype != np.uint8 or y.shape != (count,) or (len(y) and y.max() > 9):
        raise DataError(
            f"{path} holds {y.dtype} labels of shape {y.shape}, expected uint8 0..9 of shape "
            f"({count},); it is not the official file, replace it"
        )
    return y


def _pickle_split(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split of mnist.pkl.gz, rescaled from its pixel / 256 to pixel / 255."""
    splits = read_mnist_pickle(path)
    expected = {"train": 50_000, "valid": 10_000, "test": 10_000}
    for s, (x, _) in splits.items():
        if x.shape != (expected[s], 784):
            raise DataError(
                f"{path}: the {s} split has shape {x.shape}, expected ({expected[s]}, 784); "
                "it is not the paper's MNIST pickle"
            )
    x, y = splits[split]
    pixels = x * np.float32(256.0)  # exact: the stored values are k / 256 in float32
    if not np.array_equal(pixels, np.round(pixels)) or pixels.max() > 255:
        raise DataError(
            f"{path} does not hold pixel / 256 values (e.g. {x.ravel()[np.argmax(pixels)]}); "
            "it is not the mnist.pkl.gz format"
        )
    return (pixels / np.float32(255.0)).astype(np.float32), y


# ---------------------------------------------------------------------------------------------
# What `ganlab data info` shows


@dataclass
class DataInfo:
    """Where a data set came from and what it holds, for `ganlab data info`."""

    name: str
    title: str
    source: str  # user, env, cache, debian, download, bundled
    format: str  # idx, pickle, csv, npy, images
    location: Path
    splits: dict[str, int]
    x_shape: tuple[int, ...]
    files: list[tuple[Path, int, str, str]]  # (path, bytes, sha256, what the sha256 is checked to)


def describe(
    name: str,
    path: str | Path | None = None,
    resize: tuple[int, int] | None = None,
    channels: int = 1,
) -> DataInfo:
    """Source, split sizes and file checksums of a data set; never downloads.

    Args:
        name: mnist, fashion_mnist, digits, or for your own data images, csv, array (with path).
        path: where to look first (required for images, csv, array).
    Raises:
        DataError: the data set is unknown, not found, or unreadable.
    """
    name = canonical_name(name)
    if name == "digits":
        return _describe_digits()
    if name in USER_KINDS:
        return _describe_user(name, path, resize, channels)
    if name not in DATASETS:
        raise DataError(f"unknown data set '{name}'; use one of {', '.join(NAMES + USER_KINDS)}")
    ds = DATASETS[name]
    found = locate(name, path, fetch_missing=False)
    if found.format == "pickle":
        splits = {s: len(y) for s, (_, y) in read_mnist_pickle(found.files[0]).items()}
    else:
        by_role = dict(zip(ds.files, found.files, strict=True))
        n_train = len(_read_labels(by_role["train_labels"], ds.counts["train"]))
        n_test = len(_read_labels(by_role["test_labels"], ds.counts["test"]))
        _read_images(by_role["train_images"], ds.counts["train"])
        _read_images(by_role["test_images"], ds.counts["test"])
        splits = {"train": 50_000, "valid": n_train - 50_000, "test": n_test}
    files = []
    for p in found.files:
        digest, published = sha256_file(p), ds.sha256.get(p.name)
        if published is None:
            check = "no published SHA-256 for this file"
        elif digest == published:
            check = "matches the published SHA-256"
        elif found.source == "debian":
            check = "Debian's recompressed copy: the published SHA-256 is of the upstream .gz"
        else:
            check = f"differs from the published SHA-256 {published}"
        files.append((p, p.stat().st_size, digest, check))
    return DataInfo(
        name, ds.title, found.source, found.format, found.location, splits, (1, 28, 28), files
    )


def _describe_user(kind: str, path, resize, channels) -> DataInfo:
    from ganlab.data.user import load_array, load_csv, load_image_folder

    if path is None:
        raise DataError(f"data info {kind} needs --path, the file or folder to describe")
    path = Path(path)
    if kind == "images":
        x = load_image_folder(path, resize, channels)
        files = sorted(p for p in path.rglob("*") if p.is_file())
        tree = hashlib.sha256()
        for p in files:
            tree.update(f"{p.relative_to(path)}\0{sha256_file(p)}\n".encode())
        size = sum(p.stat().st_size for p in files)
        rows = [(path, size, tree.hexdigest(), f"{len(files)} files: SHA-256 of (name, SHA-256)s")]
    else:
        x = load_csv(path) if kind == "csv" else load_array(path)
        rows = [(path, path.stat().st_size, sha256_file(path), "your file")]
    title = {"images": "a folder of images", "csv": "a CSV of points", "array": "a NumPy array"}
    fmt = "npy" if kind == "array" else kind
    return DataInfo(kind, title[kind], "user", fmt, path, {"all": len(x)}, tuple(x.shape[1:]), rows)


def _describe_digits() -> DataInfo:
    from importlib import resources

    try:
        csv = resources.files("sklearn.datasets.data") / "digits.csv.gz"
    except ModuleNotFoundError:
        raise DataError(
            "the digits data set needs scikit-learn; pip install scikit-learn"
        ) from None
    x, _ = load_digits()
    p = Path(str(csv))
    return DataInfo(
        "digits",
        "scikit-learn's 8x8 handwritten digits (UCI optical recognition of handwritten digits)",
        "bundled",
        "csv",
        p.parent,
        {"all": len(x)},
        (1, 8, 8),
        [(p, p.stat().st_size, sha256_file(p), "shipped inside scikit-learn")],
    )


# fetch and locate live in catalog.py; they are named here too, as the real sets' public API.
__all__ = [
    "DATASETS",
    "SPLITS",
    "DataInfo",
    "describe",
    "fetch",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_split",
    "locate",
]
