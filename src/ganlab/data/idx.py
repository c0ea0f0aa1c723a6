"""The IDX file format of MNIST and Fashion-MNIST, read with numpy (gzip'd or not).

The whole format, from http://yann.lecun.com/exdb/mnist/:

    bytes 0-1   0x00 0x00
    byte  2     the element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                0x0E float64
    byte  3     the number of dimensions, ndim
    then ndim   big-endian uint32 sizes, then the elements, big-endian, in C (row-major) order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ganlab.errors import DataError

IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The bytes of a file, gunzipped when it starts with the gzip magic number (any name)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror}); check the path") from None
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path} is a damaged gzip file ({e}); delete it and download it again"
        ) from None


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """The array an IDX byte string holds, in native byte order.

    Raises:
        DataError: the magic number is wrong, or the data is shorter or longer than the
            header's sizes say.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        head = data[:4].hex(" ") or "nothing"
        raise DataError(
            f"{name} is not an IDX file (magic bytes {head}, expected 00 00 <type> <ndim>); "
            "give the MNIST-format files (e.g. train-images-idx3-ubyte.gz)"
        )
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{name} is truncated inside its header ({len(data)} bytes); download it again"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        sizes = "x".join(map(str, shape))
        raise DataError(
            f"{name} holds {len(data) - header} bytes of data but its header says {sizes} "
            f"{dtype.name} ({expected} bytes); the file is truncated or damaged, download it again"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file (``.gz`` or uncompressed, detected from its first bytes)."""
    return parse_idx(read_bytes(path), str(path))
