"""Training data: toy distributions, in-memory tensors and files, as minibatch sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ganlab.config import DataConfig
from ganlab.data.sources import DistributionSource, TensorSource, steps_per_epoch
from ganlab.data.toy import GaussianMixture, gaussian_1d, grid, mixture_1d, ring
from ganlab.errors import DataError

__all__ = [
    "DistributionSource",
    "GaussianMixture",
    "TensorSource",
    "build_data",
    "distribution_of",
    "gaussian_1d",
    "grid",
    "load_array",
    "mixture_1d",
    "ring",
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


def build_data(cfg: DataConfig, seed: int, x=None) -> DistributionSource | TensorSource:
    """The minibatch source a config asks for. ``x``, when given, is trained on instead.

    Args:
        cfg: the data section of the config.
        seed: seed of the source's own torch.Generator.
        x: optional (N, *x_shape) tensor or array of examples (the Python API's adapter).
    """
    if x is not None:
        return TensorSource(torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x), seed)
    dist = distribution_of(cfg)
    if dist is None:
        return TensorSource(load_array(Path(cfg.path)), seed)
    if cfg.n is None:
        return DistributionSource(dist, seed)
    # A fixed training set of n points, as in PacGAN's protocol; drawn from its own seed so
    # the set does not depend on the minibatch order.
    points = dist.sample(cfg.n, torch.Generator().manual_seed(seed + 7919))
    return TensorSource(points, seed, distribution=dist)


def load_array(path: Path) -> torch.Tensor:
    """Examples from a .npy file, or a .npz file holding one array (or one named 'x')."""
    if not path.exists():
        raise DataError(f"data file {path} does not exist; check data.path")
    try:
        # allow_pickle=False: a data file must never run code when loaded.
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise DataError(
            f"cannot read {path} as a .npy/.npz array ({e}); save it with np.save"
        ) from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        keys = list(loaded.keys())
        key = "x" if "x" in keys else (keys[0] if len(keys) == 1 else None)
        if key is None:
            raise DataError(f"{path} holds arrays {keys}; name the examples 'x' or keep one array")
        loaded = loaded[key]
    if loaded.dtype.kind not in "fiub":
        raise DataError(f"{path} holds {loaded.dtype} values; save numbers (float32)")
    arr = loaded.astype(np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if not np.isfinite(arr).all():
        raise DataError(f"{path} contains NaN or Inf values; remove or replace them")
    return torch.from_numpy(arr)
