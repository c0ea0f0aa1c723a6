"""Training data: toy mixtures, real image sets, your own files, checksummed downloads, batches.

toy.py           the 1-D Gaussians and mixtures, the 2-D ring and grid (densities known)
datasets.py      MNIST in the paper's split, Fashion-MNIST, digits; `ganlab data info`
catalog.py       the real image sets' files, SHA-256 and mirrors; where they are found
download.py      checksummed downloads into the cache
idx.py           the IDX file format
mnist_pickle.py  the mnist.pkl.gz format, read without running its code
stacked.py       Stacked MNIST: three digits as the three channels of one image
user.py          your own data: a folder of images, a .npy/.npz array, a CSV of points
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
from ganlab.data.user import load_array, load_csv, load_image_folder
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
    cfg: DataConfig, seed: int, x=None
) -> DistributionSource | TensorSource | StreamingSource:
    """The minibatch source a config asks for. ``x``, when given, is trained on instead.

    An image folder or .npy file streams from disk when cfg.stream says so (StreamingSource:
    the same minibatches as in memory); other file data is loaded whole (TensorSource).

    Args:
        cfg: the data section of the config.
        seed: seed of the source's own torch.Generator.
        x: optional (N, *x_shape) tensor or array of examples (the Python API's adapter).
    """
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
    """The examples of a file or real-data config: (N, C, H, W) images or (N, d) points."""
    if cfg.kind in ("mnist", "fashion_mnist"):
        return load_split(cfg.kind, cfg.split, cfg.path)[0]
    if cfg.kind == "stacked_mnist":
        return load_stacked_mnist(cfg.split, cfg.n or STACKED_TRAIN_IMAGES, path=cfg.path)[0]
    if cfg.kind == "digits":
        return load_digits()[0]
    if cfg.kind == "images":
        return load_image_folder(Path(cfg.path), cfg.resize, cfg.channels)
    if cfg.kind == "csv":
        return load_csv(Path(cfg.path))
    if cfg.kind == "array":
        return load_array(Path(cfg.path))
    raise DataError(
        f"data.kind '{cfg.kind}' needs its examples passed in (ganlab.train(..., data=x))"
    )
