"""The real image sets ganlab knows, where their files are found, and their download.

Each IDX set (MNIST, Fashion-MNIST) has its four files, their published SHA-256 and the mirrors
that serve them. `locate` looks for the files in this order (the first that has them wins):

    1. ``path``, given by the user: a folder of the four IDX files (``.gz`` or not), or for MNIST
       an ``mnist.pkl.gz`` file (or a folder holding one);
    2. ``$GANLAB_DATA``: its ``mnist/`` or ``fashion_mnist/`` folder (IDX files), or its
       ``mnist.pkl.gz``;
    3. the cache, ``$XDG_CACHE_HOME/ganlab/<name>/`` else ``~/.cache/ganlab/<name>/``;
    4. Fashion-MNIST only: the Debian package ``dataset-fashion-mnist``
       (``/usr/share/datasets/fashion-mnist``);
    5. a download of the official IDX files into the cache, SHA-256 checked (`fetch`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ganlab.data.download import cache_dir, download, sha256_file
from ganlab.errors import DataError

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


def canonical_name(name: str) -> str:
    """A data set's name as the DATASETS table spells it ("Fashion-MNIST" -> "fashion_mnist")."""
    return ALIASES.get(name.lower(), name.lower())


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


__all__ = [
    "ALIASES",
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "NAMES",
    "PICKLE_NAME",
    "USER_KINDS",
    "IdxDataset",
    "Located",
    "canonical_name",
    "fetch",
    "locate",
]
