"""Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN): three MNIST digits as the three channels
of one image, so that the data has 10^3 = 1000 modes, one per triple of classes.

Each image draws its three digits independently and uniformly from the chosen split; its mode
is the triple (y_1, y_2, y_3), numbered 100 y_1 + 10 y_2 + y_3. PacGAN's code trains on 128,000
such images (``num_training_sample``) and scores 26,000 samples.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

TRAIN_IMAGES = 128_000  # PacGAN's stacked MNIST training set
STACK_SEED = 0  # one fixed data set, like MNIST itself: every run of a config sees the same


def stack_digits(x: Tensor, y: Tensor, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """n stacked images, channel c of image i a digit drawn uniformly from x.

    Args:
        x: (N, 1, H, W) digit images.  y: (N,) their classes in 0..9.
        n: images to build.  generator: draws the digits.
    Returns:
        images (n, 3, H, W) float32 and their class triples (n, 3) int64.
    """
    idx = torch.randint(0, len(x), (n, 3), generator=generator)  # (n, 3) indices into x
    return x[idx, 0].to(torch.float32), y[idx]


def mode_index(triples: Tensor) -> Tensor:
    """The mode number 100 y_1 + 10 y_2 + y_3 of each triple: (n, 3) -> (n,) in 0..999."""
    return triples[:, 0] * 100 + triples[:, 1] * 10 + triples[:, 2]


def load_stacked_mnist(
    split: str = "train",
    n: int = TRAIN_IMAGES,
    seed: int = STACK_SEED,
    path: str | Path | None = None,
) -> tuple[Tensor, Tensor]:
    """n Stacked MNIST images built from one split of MNIST (ganlab.data.load_split).

    Returns:
        images (n, 3, 28, 28) in [0, 1] and class triples (n, 3).
    Raises:
        DataError: MNIST cannot be found.
    """
    from ganlab.data.datasets import load_split

    x, y = load_split("mnist", split, path)  # (N, 1, 28, 28), (N,)
    return stack_digits(x, y, n, torch.Generator().manual_seed(seed))
