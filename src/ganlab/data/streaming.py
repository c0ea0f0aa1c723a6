"""Training data larger than memory: examples read from a file on disk, one minibatch at a time.

`StreamingSource` has the interface of `TensorSource` and the same epochs (EpochSource): given
one seed the two return bit-identical minibatches, so a streamed run and an in-memory run of
the same data are the same run. Its rows come from a C-ordered array in a file: an image
folder's uint8 cache (image_cache.py) or a .npy file. `stream_decision` says when to stream.

Rows are read with positioned reads into a buffer, not through np.memmap: the pages of a mapped
file count in the process's resident memory, so after one epoch over a 2.4 GB cache a memmap
reader would hold 2.4 GB of RSS; read() leaves them in the kernel's page cache, which the
kernel gives back under pressure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.data.image_cache import float_bytes, image_cache
from ganlab.data.sources import EpochSource
from ganlab.data.user import check_array_shape
from ganlab.errors import DataError

MEMORY_SHARE = 4  # auto streams when the float32 examples would take over 1/4 of free memory
UNKNOWN_MEMORY_LIMIT = 2 << 30  # ... or over 2 GiB where free memory cannot be read
CHUNK_BYTES = 16 << 20  # float32 bytes of a chunk read in order (fingerprint, mean, checks)


class RowFile:
    """Rows of a C-ordered array stored in a file from byte `offset`: (N, *row_shape) of dtype.

    Args:
        path: the file.
        offset: where the array's bytes start (0 for a .u8 cache, past the header of a .npy).
        shape: (N, *row_shape).
        dtype: the stored numpy dtype.
    """

    def __init__(self, path: Path, offset: int, shape: tuple[int, ...], dtype):
        self.path, self.offset = Path(path), offset
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        self._file = None

    def _handle(self):
        if self._file is None:  # opened on first read: a source can be built, then pickled
            self._file = open(self.path, "rb", buffering=0)  # raw: no copy through a buffer
        return self._file

    def read(self, idx: np.ndarray) -> np.ndarray:
        """The rows at idx, in idx's order. Reads go in ascending file order (the disk's
        readahead helps; the same row twice is read twice)."""
        out = np.empty((len(idx), *self.shape[1:]), self.dtype)
        view, size = memoryview(out.reshape(-1).view(np.uint8)), self.row_bytes
        f = self._handle()
        for i in np.argsort(idx, kind="stable"):
            f.seek(self.offset + int(idx[i]) * size)
            if f.readinto(view[i * size : (i + 1) * size]) != size:
                raise DataError(f"{self.path} ended early; delete it so that it is made again")
        return out

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 in one read."""
        out = np.empty((stop - start, *self.shape[1:]), self.dtype)
        f = self._handle()
        f.seek(self.offset + start * self.row_bytes)
        if f.readinto(memoryview(out.reshape(-1).view(np.uint8))) != out.nbytes:
            raise DataError(f"{self.path} ended early; delete it so that it is made again")
        return out

    def close(self) -> None:
        """Close the file (a later read opens it again)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RowFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # an open handle left to the collector warns (ResourceWarning)
        self.close()

    def __getstate__(self):
        return {**self.__dict__, "_file": None}


class StreamingSource(EpochSource):
    """Minibatches read from a file each step, in the epochs of TensorSource.

    Each row is converted as an in-memory load converts it: float32, divided by 255 when the
    file holds uint8 pixels, then mapped by `scale_to`'s affine map; the same float32 operations
    in the same order, hence the same bits.

    Args:
        rows: the stored examples (RowFile), (N, *x_shape) or (N,) / (N, H, W) to be viewed as
            (N, 1) / (N, 1, H, W).
        seed: seed of this source's torch.Generator (the shuffling).
        pixels: the file holds uint8 pixel values (divided by 255).
    """

    distribution = None  # examples from a file: no known density

    def __init__(self, rows: RowFile, seed: int, pixels: bool):
        n, *rest = rows.shape
        if n == 0:
            raise DataError(f"{rows.path} holds no examples; save one example per row")
        self.file, self.pixels = rows, pixels
        self.x_shape = (1, *rest) if len(rest) == 2 else tuple(rest) if rest else (1,)
        self.affine: tuple[float, float] | None = None  # (scale, shift), set by scale_to
        self.device = torch.device("cpu")
        super().__init__(n, seed)

    def to(self, device: torch.device) -> StreamingSource:
        """Return minibatches on `device` (read and converted on the CPU: the same numbers)."""
        self.device = torch.device(device)
        return self

    def scale_to(self, lo: float, hi: float) -> None:
        """Map the examples from [0, 1] (pixels / 255) to [lo, hi] as each batch is read."""
        self.affine = (hi - lo, lo)

    def convert(self, stored: np.ndarray) -> Tensor:
        """Stored rows -> float32 examples (k, *x_shape), as TensorSource holds them."""
        if self.pixels:  # torch converts uint8 ~3x faster than numpy's astype (same values)
            x = torch.from_numpy(stored).to(torch.float32).div_(255.0)
        else:
            x = torch.from_numpy(stored.astype(np.float32, copy=False))
        if self.affine is not None:  # in place: a batch is converted in 3 passes over it
            x.mul_(self.affine[0]).add_(self.affine[1])
        return x.reshape(-1, *self.x_shape)

    def rows(self, idx: Tensor) -> Tensor:
        return self.convert(self.file.read(idx.numpy())).to(self.device)

    def chunks(self, n: int | None = None) -> Iterator[Tensor]:
        """The examples in order, n at a time (default: 16 MiB of float32), on the CPU (for
        means and fingerprints)."""
        n = n or max(1, CHUNK_BYTES // (4 * int(np.prod(self.x_shape))))
        for start in range(0, self.size, n):
            yield self.convert(self.file.read_range(start, min(start + n, self.size)))


def npy_rows(path: Path) -> RowFile:
    """The array of a .npy file as a RowFile, its header read and checked, nothing else loaded.

    Raises:
        DataError: not a .npy file, a Fortran-ordered or object array, or not numbers.
    """
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"cannot read {path} as a .npy array ({e}); save it with np.save") from None
    if dtype.kind not in "fiub" or dtype.hasobject:
        raise DataError(f"{path} holds {dtype} values; save numbers (float32)")
    check_array_shape(tuple(shape), path)
    if fortran and len(shape) > 1:
        raise DataError(
            f"{path} is stored Fortran-ordered, which cannot be read a row at a time; save it "
            "with np.save(path, np.ascontiguousarray(x))"
        )
    return RowFile(path, offset, shape, dtype)


def streamed_source(cfg, seed: int) -> StreamingSource | None:
    """The streaming source of an image folder or .npy config when cfg.stream says to stream it
    (decoding the folder into the cache the first time), else None: load it into memory.

    Args:
        cfg: the data section of the config (DataConfig).
        seed: seed of the source's torch.Generator.
    Raises:
        DataError: unreadable data, or data.stream 'always' for a .npz file.
    """
    path = Path(cfg.path) if cfg.path else None
    if cfg.kind == "images":
        if not stream_decision(cfg.stream, float_bytes(path, cfg.resize, cfg.channels)):
            return None
        cache = image_cache(path, cfg.resize, cfg.channels)
        return StreamingSource(RowFile(cache.path, 0, cache.shape, np.uint8), seed, pixels=True)
    if cfg.kind != "array" or cfg.stream == "never" or not path.is_file():
        return None  # an in-memory load says what is wrong with a missing file
    with open(path, "rb") as f:
        npy = f.read(6) == b"\x93NUMPY"
    if not npy:
        if cfg.stream == "always":
            raise DataError(
                f"{path} is not a .npy file, and only .npy arrays stream from disk; save the "
                "examples with np.save(path, x) or set data.stream=auto"
            )
        return None
    rows = npy_rows(path)
    if not stream_decision(cfg.stream, int(np.prod(rows.shape)) * 4):
        return None
    if cfg.resize is not None:
        raise DataError(
            f"data.resize resizes arrays in memory, and {path} streams from disk (too large to "
            "load, or data.stream=always); save the images at the size to train at"
        )
    # as load_array: uint8 images are pixel values; other arrays are kept as they are
    source = StreamingSource(rows, seed, pixels=rows.dtype == np.uint8 and len(rows.shape) >= 3)
    check_finite(source)
    return source


def check_finite(source: StreamingSource) -> None:
    """Refuse float data holding NaN or Inf, as an in-memory load does (read once, in chunks)."""
    if source.file.dtype.kind != "f":
        return
    for chunk in source.chunks():
        if not torch.isfinite(chunk).all():
            raise DataError(
                f"{source.file.path} contains NaN or Inf values; remove or replace them"
            )


def available_memory() -> int | None:
    """Bytes of memory free for a new allocation: MemAvailable of /proc/meminfo (Linux), else
    the free physical pages; None when neither can be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def stream_decision(mode: str, nbytes: int, available: int | None = None) -> bool:
    """Whether to stream data whose float32 examples take nbytes.

    mode "always"/"never" decide alone; "auto" streams when the examples would take over
    1/MEMORY_SHARE of the available memory (leaving room for the models, a copy made while
    loading, and the rest of the machine), or over UNKNOWN_MEMORY_LIMIT when the free memory
    cannot be read.

    Args:
        available: bytes of free memory; default available_memory().
    """
    if mode != "auto":
        return mode == "always"
    available = available_memory() if available is None else available
    if available is None:
        return nbytes > UNKNOWN_MEMORY_LIMIT
    return nbytes * MEMORY_SHARE > available
