"""Training data: toy mixtures, real image sets, your own files, checksummed downloads, batches.

toy.py           the 1-D Gaussians and mixtures, the 2-D ring and grid (densities known)
datasets.py      MNIST in the paper's split, Fashion-MNIST, digits; `ganlab data info`
catalog.py       the real image sets' files, SHA-256 and mirrors; where they are found
download.py      checksummed downloads into the cache
idx.py           the IDX file format
mnist_pickle.py  the mnist.pkl.gz format, read without running its code
stacked.py       Stacked MNIST: three digits as the three channels of one image
user.py          your own data: a folder of images, a .npy/.npz array, a CSV of points
table.py         CSV tables: delimiter, header, missing cells, text columns and classes
sources.py       minibatch sources: a stream from a distribution, or epochs over a tensor
image_cache.py   an image folder decoded once into a uint8 file in the cache
streaming.py     epochs over examples read from disk a minibatch at a time (data.stream)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganlab.config import DataConfig
from ganlab.data.datasets import (
    describe,
    fetch,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_split,
)
from ganlab.data.download import cache_dir, sha256_file
from ganlab.data.idx import read_idx
from ganlab.data.mnist_pickle import read_mnist_pickle
from ganlab.data.sources import DistributionSource, TensorSource, steps_per_epoch
from ganlab.data.stacked import TRAIN_IMAGES as STACKED_TRAIN_IMAGES
from ganlab.data.stacked import load_stacked_mnist
from ganlab.data.streaming import StreamingSource, streamed_source
from ganlab.data.toy import GaussianMixture, gaussian_1d, grid, mixture_1d, ring
from ganlab.data.user import (
    class_indices,
    folder_labels,
    image_files,
    load_array,
    load_csv,
    load_csv_labelled,
    load_image_folder,
)
from ganlab.errors import DataError

__all__ = [
    "DistributionSource",
    "GaussianMixture",
    "StreamingSource",
    "TensorSource",
    "build_data",
    "cache_dir",
    "describe",
    "distribution_of",
    "fetch",
    "gaussian_1d",
    "grid",
    "load_array",
    "load_csv",
    "load_data",
    "load_labelled",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "load_stacked_mnist",
    "mixture_1d",
    "read_idx",
    "read_mnist_pickle",
    "ring",
    "sha256_file",
    "steps_per_epoch",
]

DEFAULT_STD = {"gauss1d": 0.5, "mixture1d": 0.5, "ring": 0.01, "grid": 0.05}
DIGIT_NAMES = [str(i) for i in range(10)]
FASHION_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
"""Fashion-MNIST's classes in label order (Xiao et al. 2017)."""


def distribution_of(cfg: DataConfig) -> GaussianMixture | None:
    """The known density of a toy data config, or None for data from a file."""
    std = cfg.std if cfg.std is not None else DEFAULT_STD.get(cfg.kind)
    if cfg.kind == "gauss1d":
        return gaussian_1d(cfg.mean, std)
    if cfg.kind == "mixture1d":
        return mixture_1d(cfg.means, std, cfg.weights)
    if cfg.kind == "ring":
        return ring(cfg.modes, cfg.radius, std)
    if cfg.kind == "grid":
        return grid(cfg.grid_size, cfg.spacing, std)
    return None


def build_data(
    cfg: DataConfig, seed: int, x=None, labelled: bool = False
) -> DistributionSource | TensorSource | StreamingSource:
    """The minibatch source a config asks for. ``x``, when given, is trained on instead.

    An image folder or .npy file streams from disk when cfg.stream says so (StreamingSource:
    the same minibatches as in memory); other file data is loaded whole (TensorSource).

    Args:
        cfg: the data section of the config.
        seed: seed of the source's own torch.Generator.
        x: optional (N, *x_shape) tensor or array of examples (the Python API's adapter).
        labelled: a conditional run's source, whose sample_labelled gives each example's class
            (class_names: the K classes); the examples and their order are those of the
            unlabelled source.
    Raises:
        DataError: labelled data that has no labels, or a single class.
    """
    if labelled:
        return _labelled_source(cfg, seed, x)
    if x is not None:
        return TensorSource(torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x), seed)
    dist = distribution_of(cfg)
    if dist is None:
        streamed = streamed_source(cfg, seed)
        return streamed if streamed is not None else TensorSource(load_data(cfg), seed)
    if cfg.n is None:
        return DistributionSource(dist, seed)
    # A fixed training set of n points, as in PacGAN's protocol; drawn from its own seed so
    # the set does not depend on the minibatch order.
    points = dist.sample(cfg.n, torch.Generator().manual_seed(seed + 7919))
    return TensorSource(points, seed, distribution=dist)


def load_data(cfg: DataConfig) -> torch.Tensor:
    """The examples of a file or real-data config: (N, C, H, W) images or (N, d) points, at
    data.resize's size where it is set."""
    x = _examples(cfg)
    return x if cfg.kind == "images" else resized(x, cfg)  # a folder resizes as it decodes


def _examples(cfg: DataConfig) -> torch.Tensor:
    if cfg.kind in ("mnist", "fashion_mnist"):
        return load_split(cfg.kind, cfg.split, cfg.path)[0]
    if cfg.kind == "stacked_mnist":
        return load_stacked_mnist(cfg.split, cfg.n or STACKED_TRAIN_IMAGES, path=cfg.path)[0]
    if cfg.kind == "digits":
        return load_digits()[0]
    if cfg.kind == "images":
        return load_image_folder(Path(cfg.path), cfg.resize, cfg.channels)
    if cfg.kind == "csv":
        return load_csv(Path(cfg.path), cfg.label_column, cfg.drop_columns)
    if cfg.kind == "array":
        return load_array(Path(cfg.path))
    raise DataError(
        f"data.kind '{cfg.kind}' needs its examples passed in (ganlab.train(..., data=x))"
    )


def resized(x: torch.Tensor, cfg: DataConfig) -> torch.Tensor:
    """Images (N, C, H, W) at data.resize's [H, W] (antialiased bilinear: each new pixel a
    weighted mean of old ones, so the value range stays); x itself without data.resize.

    Raises:
        DataError: data.resize on data that is not images.
    """
    if cfg.resize is None:
        return x
    if x.ndim != 4:
        raise DataError(
            f"data.resize resizes images, but data.kind '{cfg.kind}' holds examples of shape "
            f"{tuple(x.shape[1:])}; remove data.resize"
        )
    return torch.nn.functional.interpolate(
        x, size=tuple(cfg.resize), mode="bilinear", antialias=True, align_corners=False
    )


def load_labelled(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A file or real-data config's examples with their classes: (x, y, class names), y (N,)
    int64 in 0..K-1, x at data.resize's size where it is set. MNIST and digits: the digit;
    Fashion-MNIST: its 10 classes; an image folder: the sub-folder of each image (names
    sorted); a CSV: data.label_column; an .npz: its 'y' array.

    Raises:
        DataError: the data holds no labels, or a single class.
    """
    x, y, names = _labelled_examples(cfg)
    return (x if cfg.kind == "images" else resized(x, cfg)), y, names


def _labelled_examples(cfg: DataConfig) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    if cfg.kind in ("mnist", "fashion_mnist"):
        x, y = load_split(cfg.kind, cfg.split, cfg.path)
        return x, y, DIGIT_NAMES if cfg.kind == "mnist" else FASHION_NAMES
    if cfg.kind == "digits":
        return (*load_digits(), DIGIT_NAMES)
    if cfg.kind == "images":
        y, names = folder_labels(Path(cfg.path), image_files(Path(cfg.path), cfg.channels))
        return load_image_folder(Path(cfg.path), cfg.resize, cfg.channels), y, names
    if cfg.kind == "csv":
        return load_csv_labelled(Path(cfg.path), cfg.label_column, cfg.drop_columns)
    if cfg.kind == "array":
        x, y = load_array(Path(cfg.path), labels=True)
        return (x, *class_indices(y.numpy(), str(cfg.path)))
    raise DataError(
        f"data.kind '{cfg.kind}' holds no labels for a conditional run; use labelled data "
        "(mnist, an image folder of class sub-folders, an .npz with y) or conditional.kind=none"
    )


def _labelled_source(cfg: DataConfig, seed: int, x) -> DistributionSource | TensorSource:
    if isinstance(x, tuple):  # (examples, labels 0..K-1): a timing probe's random data
        source = TensorSource(torch.as_tensor(x[0]), seed)
        source.set_labels(x[1], [str(i) for i in range(int(x[1].max()) + 1)])
        return source
    if x is not None:
        raise DataError(
            "a conditional run reads labels from its data file; save examples and labels with "
            "np.savez(path, x=x, y=labels) and train on data.kind=array, data.path=path"
        )
    dist = distribution_of(cfg)
    if dist is None:
        streamed = streamed_source(cfg, seed)
        if streamed is not None:  # only an image folder streams with labels: its sub-folders
            if cfg.kind != "images":
                load_array(Path(cfg.path), labels=True)  # a .npy holds no labels: its message
            path = Path(cfg.path)
            streamed.set_labels(*folder_labels(path, image_files(path, cfg.channels)))
            return streamed
        x, y, names = load_labelled(cfg)
        source = TensorSource(x, seed)
        source.set_labels(y, names)
        return source
    names = [str(i) for i in range(dist.components)]
    if cfg.n is None:
        source = DistributionSource(dist, seed)
        source.class_names = names
        return source
    points, y = dist.sample_labelled(cfg.n, torch.Generator().manual_seed(seed + 7919))
    source = TensorSource(points, seed, distribution=dist)
    source.set_labels(y, names)
    return source
