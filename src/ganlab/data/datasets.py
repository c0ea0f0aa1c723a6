"""Real image sets: MNIST in the paper's split, Fashion-MNIST, scikit-learn's 8x8 digits.

Where the files come from, in order (the first that has them wins):

    1. ``path``, given by the user: a folder of the four IDX files (``.gz`` or not), or for MNIST
       an ``mnist.pkl.gz`` file (or a folder holding one);
    2. ``$GANLAB_DATA``: its ``mnist/`` or ``fashion_mnist/`` folder (IDX files), or its
       ``mnist.pkl.gz``;
    3. the cache, ``$XDG_CACHE_HOME/ganlab/<name>/`` else ``~/.cache/ganlab/<name>/``;
    4. Fashion-MNIST only: the Debian package ``dataset-fashion-mnist``
       (``/usr/share/datasets/fashion-mnist``);
    5. a download of the official IDX files into the cache, SHA-256 checked.

The split is the paper's (Goodfellow et al. 2014 trained on 50,000 MNIST images, picked the
Parzen width on 10,000 and tested on 10,000): train = the first 50,000 of the official 60,000
training images, valid = the last 10,000, test = the official 10,000. Fashion-MNIST is split the
same way. Images are float32 (N, 1, 28, 28), pixel / 255 in [0, 1], not binarised; labels int64.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.data.download import cache_dir, download, sha256_file
from ganlab.data.idx import read_idx
from ganlab.data.mnist_pickle import read_mnist_pickle
from ganlab.errors import DataError

SPLITS = ("train", "valid", "test")
PICKLE_NAME = "mnist.pkl.gz"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class IdxDataset:
    """An MNIST-format image set: its four files, their SHA-256 and the mirrors that serve them."""

    name: str
    title: str
    files: dict[str, str]  # role -> file name
    sha256: dict[str, str]  # file name -> hex digest of the .gz file
    mirrors: tuple[str, ...]  # base URLs, tried in order
    counts: dict[str, int] = field(default_factory=lambda: {"train": 60_000, "test": 10_000})
    debian: Path | None = None


_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

DATASETS: dict[str, IdxDataset] = {
    # SHA-256 of the .gz files from TensorFlow Datasets' checksum list,
    # github.com/tensorflow/datasets tensorflow_datasets/url_checksums/mnist.txt (sizes 9912422,
    # 28881, 1648877, 4542 bytes). torchvision lists only MD5s for these files. Mirrors:
    # torchvision's (ossci-datasets S3, then LeCun's page) and TFDS's (cvdf-datasets).
    "mnist": IdxDataset(
        name="mnist",
        title="MNIST handwritten digits (LeCun, Cortes & Burges; CC BY-SA 3.0)",
        files=_IDX_FILES,
        sha256={
            "train-images-idx3-ubyte.gz": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
            ),
            "train-labels-idx1-ubyte.gz": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
            ),
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist",
            "https://storage.googleapis.com/cvdf-datasets/mnist",
            "http://yann.lecun.com/exdb/mnist",
        ),
    ),
    # SHA-256 from TensorFlow Datasets, tensorflow_datasets/url_checksums/fashion_mnist.txt
    # (sizes 26421880, 29515, 4422102, 5148 bytes); the mirror is Zalando's, which TFDS and
    # torchvision both use. The Debian package's files are recompressed without the original
    # file name in the gzip header (24 bytes shorter), so these digests do not apply to them;
    # their IDX headers and sizes are checked instead.
    "fashion_mnist": IdxDataset(
        name="fashion_mnist",
        title="Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando; MIT licence)",
        files=_IDX_FILES,
        sha256={
            "train-images-idx3-ubyte.gz": (
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
            ),
            "train-labels-idx1-ubyte.gz": (
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
            ),
            "t10k-images-idx3-ubyte.gz": (
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
            ),
            "t10k-labels-idx1-ubyte.gz": (
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
            ),
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",),
        debian=DEBIAN_FASHION_MNIST,
    ),
}
ALIASES = {"fashion-mnist": "fashion_mnist", "fashionmnist": "fashion_mnist"}
NAMES = ("mnist", "fashion_mnist", "digits")
USER_KINDS = ("images", "csv", "array")  # your own data, for `ganlab data info`


@dataclass
class Located:
    """Where a data set was found: the source (user, env, cache, debian, download), the format
    (idx, pickle, bundled) and the files."""

    name: str
    source: str
    format: str
    location: Path
    files: list[Path]


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


def canonical_name(name: str) -> str:
    return ALIASES.get(name.lower(), name.lower())


# ---------------------------------------------------------------------------------------------
# Finding the files


def locate(name: str, path: str | Path | None = None, fetch_missing: bool = True) -> Located:
    """Find a data set's files, in the order of the module docstring; download if allowed.

    Raises:
        DataError: ``path`` does not hold the data set, or nothing holds it and the download
            fails (or ``fetch_missing`` is False).
    """
    name = canonical_name(name)
    if name not in DATASETS:
        raise DataError(f"'{name}' has no files to locate; use mnist or fashion_mnist")
    ds = DATASETS[name]
    if path is not None:
        found = _look_in(ds, Path(path), "user", strict=True)
        assert found is not None  # strict: raises instead
        return found
    looked = []
    env = os.environ.get("GANLAB_DATA")
    if env:
        found = _look_in(ds, Path(env), "env")
        if found:
            return found
        looked.append(f"$GANLAB_DATA={env}")
    cached = cache_dir() / name
    found = _idx_set(ds, cached, "cache")
    if found:
        return found
    looked.append(str(cached))
    if ds.debian is not None:
        found = _idx_set(ds, ds.debian, "debian")
        if found:
            return found
        looked.append(f"{ds.debian} (apt-get install dataset-{name.replace('_', '-')})")
    if not fetch_missing:
        raise DataError(
            f"{name} not found (looked in {', '.join(looked)}); run `ganlab data fetch {name}` "
            "or give its folder with --path / data.path"
        )
    fetch(name)
    return Located(name, "download", "idx", cached, [cached / f for f in ds.files.values()])


def fetch(
    name: str,
    mirrors: list[str] | None = None,
    progress: bool = True,
    retries: int = 3,
    backoff: float = 1.0,
) -> list[Path]:
    """Download a data set's IDX files into the cache, skipping files already there intact.

    A cached file whose SHA-256 is wrong is downloaded again.

    Args:
        name: "mnist" or "fashion_mnist".
        mirrors: base URLs to use instead of the data set's public mirrors.
    Returns:
        The paths of the four cached files.
    Raises:
        DataError: a file cannot be downloaded from any mirror or fails its checksum.
    """
    name = canonical_name(name)
    if name == "digits":
        raise DataError("digits ships with scikit-learn: nothing to download; pip install it")
    if name not in DATASETS:
        raise DataError(
            f"nothing to fetch for '{name}'; downloadable data sets: {', '.join(DATASETS)}"
        )
    ds = DATASETS[name]
    folder = cache_dir() / name
    bases = list(mirrors) if mirrors else list(ds.mirrors)
    paths = []
    for filename in ds.files.values():
        dest = folder / filename
        expected = ds.sha256.get(filename)
        if not (dest.is_file() and sha256_file(dest) == expected):
            urls = [b.rstrip("/") + "/" + filename for b in bases]
            download(urls, dest, expected, progress=progress, retries=retries, backoff=backoff)
        paths.append(dest)
    return paths


def _look_in(ds: IdxDataset, root: Path, source: str, strict: bool = False) -> Located | None:
    """The data set under a user path (IDX files in root or root/<name>, or for MNIST a pickle
    at root or root/mnist.pkl.gz) or under $GANLAB_DATA (root/<name>/ or root/mnist.pkl.gz
    only: MNIST and Fashion-MNIST files have the same names, so a shared root cannot hold both).
    """
    if not root.exists():
        if strict:
            raise DataError(f"data path {root} does not exist; check --path / data.path")
        return None
    if root.is_file():
        if ds.name == "mnist" and root.name.endswith((".pkl.gz", ".pkl")):
            return Located(ds.name, source, "pickle", root, [root])
        if strict:
            raise DataError(
                f"{root} is a file; give the folder that holds the four IDX files"
                + (" or an mnist.pkl.gz file" if ds.name == "mnist" else "")
            )
        return None
    for folder in (root, root / ds.name) if source == "user" else (root / ds.name,):
        found = _idx_set(ds, folder, source, partial_is_error=True)
        if found:
            return found
    if ds.name == "mnist" and (root / PICKLE_NAME).is_file():
        return Located(ds.name, source, "pickle", root / PICKLE_NAME, [root / PICKLE_NAME])
    if strict:
        extra = f" or {PICKLE_NAME}" if ds.name == "mnist" else ""
        raise DataError(
            f"{root} holds no {ds.name} files (looked for {', '.join(ds.files.values())}{extra}, "
            f"also in {root / ds.name}); put the files there or give the right folder"
        )
    return None


def _idx_set(
    ds: IdxDataset, folder: Path, source: str, partial_is_error: bool = False
) -> Located | None:
    """The four IDX files in a folder, each as ``name.gz`` or uncompressed ``name``."""
    if not folder.is_dir():
        return None
    files, missing = [], []
    for filename in ds.files.values():
        candidates = [folder / filename, folder / filename.removesuffix(".gz")]
        hit = next((c for c in candidates if c.is_file()), None)
        (files.append(hit) if hit else missing.append(filename))
    if not missing:
        return Located(ds.name, source, "idx", folder, files)
    if files and partial_is_error:
        raise DataError(
            f"{folder} holds only part of {ds.name}: {', '.join(missing)} missing; add the "
            "missing files (or remove the others)"
        )
    return None


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
