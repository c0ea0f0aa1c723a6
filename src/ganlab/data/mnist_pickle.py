"""The ``mnist.pkl.gz`` format (deeplearning.net's MNIST), read without running its code.

The file is a gzip'd pickle of ``(train, valid, test)``, each ``(images, labels)``: images
float32 (N, 784), pixel / 256; labels int64 (N,). Plain ``pickle.load`` would call any global a
crafted file names (``os.system`` included), so the unpickler here resolves only the globals
that rebuild a numpy array (and the bytes inside it) and refuses every other: loading a file
builds arrays, tuples and numbers, nothing else. Object arrays are refused too, after loading
(they could hold anything a pickle can build from builtins).
"""

from __future__ import annotations

import codecs
import gzip
import io
import pickle
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ganlab.errors import DataError

# numpy pickles arrays as _reconstruct(ndarray, shape, dtype) + __setstate__. The module of
# _reconstruct moved from numpy.core to numpy._core in numpy 2; files name either. Taking the
# function from ndarray.__reduce__ avoids importing the deprecated numpy.core path.
# Protocol 5 pickles (numpy >= 1.16) name numeric._frombuffer(buffer, dtype, shape, order) instead.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_FROMBUFFER = np.empty(0).__reduce_ex__(5)[0]
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python 3 writes bytes into a protocol-2 pickle as _codecs.encode(text, "latin1"); a codec
    # turns data into data, it cannot name a callable.
    ("_codecs", "encode"): codecs.encode,
}


class ArrayUnpickler(pickle.Unpickler):
    """An unpickler that can build numpy arrays and builtin containers, and nothing else."""

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed") from None


def load_arrays(data: bytes | BinaryIO, name: str = "pickle") -> object:
    """Unpickle bytes (or a binary file) that may name only numpy's array globals.

    Raises:
        DataError: the pickle names any other global, or is not a pickle.
    """
    f = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    try:
        # latin1: the file was written by Python 2, whose str held the arrays' raw bytes.
        return ArrayUnpickler(f, encoding="latin1").load()
    except pickle.UnpicklingError as e:
        raise DataError(
            f"{name} was refused: {e} (only numpy arrays may be loaded from a pickle); "
            "use a file from a source you trust, or the IDX files"
        ) from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise DataError(
            f"{name} is not a readable MNIST pickle ({type(e).__name__}: {e}); download it again"
        ) from None


def read_mnist_pickle(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The three splits of an ``mnist.pkl.gz`` file, as stored (pixel / 256, float32).

    Returns:
        {"train": (x, y), "valid": (x, y), "test": (x, y)} with x float32 (N, 784) and
        y int64 (N,).
    Raises:
        DataError: the file is missing, damaged, names a disallowed global, or does not hold
            three (images, labels) pairs of numeric arrays.
    """
    if not Path(path).is_file():
        raise DataError(f"{path} does not exist; check the path")
    try:
        # Streamed: the unpickled arrays (220 MB) are never held twice.
        with gzip.open(path, "rb") as f:
            loaded = load_arrays(f, str(path))
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path} is not a readable gzip file ({e}); download mnist.pkl.gz again"
        ) from None
    if not (isinstance(loaded, tuple | list) and len(loaded) == 3):
        raise DataError(
            f"{path} does not hold (train, valid, test); it is not the mnist.pkl.gz format"
        )
    splits = {}
    for split, pair in zip(("train", "valid", "test"), loaded, strict=True):
        if not (isinstance(pair, tuple | list) and len(pair) == 2):
            raise DataError(f"{path}: the {split} split is not an (images, labels) pair")
        x, y = pair
        ok = (
            isinstance(x, np.ndarray)
            and isinstance(y, np.ndarray)
            and x.dtype.kind == "f"
            and y.dtype.kind in "iu"
            and x.ndim == 2
            and y.ndim == 1
            and len(x) == len(y)
        )
        if not ok:
            raise DataError(
                f"{path}: the {split} split is not float images (N, 784) with integer labels "
                "(N,); it is not the mnist.pkl.gz format"
            )
        splits[split] = (x, y.astype(np.int64))
    return splits
