"""Where the tests find real data sets: as the library finds a user's copy, then the workspace's.

MNIST's `mnist.pkl.gz` is looked for in $GANLAB_DATA first (the folder a user points ganlab at;
ganlab.data.datasets.locate reads `$GANLAB_DATA/mnist.pkl.gz`), then in ../shared/data beside
the checkout (CI has it there). A test that needs it skips, saying where it looked, otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def mnist_pickle_places() -> list[Path]:
    """The mnist.pkl.gz paths looked at, in order."""
    env = os.environ.get("GANLAB_DATA")
    return ([Path(env) / "mnist.pkl.gz"] if env else []) + [SHARED_DATA / "mnist.pkl.gz"]


def find_mnist_pickle() -> Path | None:
    return next((p for p in mnist_pickle_places() if p.is_file()), None)


MNIST_PICKLE = find_mnist_pickle()
MNIST_ABSENT = (
    "MNIST not found: no mnist.pkl.gz in "
    + " or ".join(str(p.parent) for p in mnist_pickle_places())
    + " (set $GANLAB_DATA to a folder holding it)"
)
needs_mnist = pytest.mark.skipif(MNIST_PICKLE is None, reason=MNIST_ABSENT)


def mnist_pickle() -> Path:
    """The file, or skip the calling test (for fixtures)."""
    if MNIST_PICKLE is None:
        pytest.skip(MNIST_ABSENT)
    return MNIST_PICKLE
