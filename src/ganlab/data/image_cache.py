"""An image folder decoded once into a uint8 file in the cache, for folders too large for memory.

The cache of a folder is two files under ``cache_dir()/images``: ``<key>.u8``, the pixels of
every image in load order as one C-ordered uint8 array (N, C, H, W), and ``<key>.json``, its
header (shape, file count, the folder). The key hashes the folder's absolute path, its sorted
listing (relative name, size, modification time) and the decoding options (resize, channels),
so a folder whose files change gets a new cache instead of a stale one.

The pixels are a quarter of the float32 tensor an in-memory load makes, and they are decoded
in chunks straight into a temporary file: the folder is never in memory whole. The .u8 file is
fsync'd and renamed into place before its header is written, and a cache counts as present only
when its header is there and names the .u8 file's exact size: an interrupted decode leaves no
cache that looks whole.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ganlab.data.download import cache_dir
from ganlab.data.user import IMAGE_SUFFIXES, decode_images, image_files
from ganlab.errors import DataError
from ganlab.files import atomic_write_bytes, atomic_writer

CACHE_VERSION = 2  # bump when the layout of the .u8 file or the decoding changes (2: 16-bit grey)
CHUNK = 1024  # images decoded per write: ~12 MiB of 64x64 RGB pixels


def cache_key(folder: Path, files: list[Path], resize, channels: int) -> str:
    """Hex SHA-256 naming a folder's cache: its path, listing and the decoding options."""
    h = hashlib.sha256()
    head = {"version": CACHE_VERSION, "folder": str(folder.resolve()), "resize": resize}
    h.update(json.dumps({**head, "channels": channels}, sort_keys=True).encode())
    for file in files:
        st = file.stat()
        h.update(
            f"\n{file.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}".encode()
        )
    return h.hexdigest()


def image_size(files: list[Path], resize, channels: int) -> tuple[int, int, int] | None:
    """(C, H, W) of the folder's images, from resize or the first file's header (not decoded);
    None when the first file is not a readable image (decoding reports it)."""
    if resize is not None:
        return (channels, *resize)
    from PIL import Image, UnidentifiedImageError

    if files[0].suffix.lower() not in IMAGE_SUFFIXES:
        return None
    try:
        with Image.open(files[0]) as im:
            width, height = im.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return channels, height, width


def float_bytes(folder: Path, resize, channels: int) -> int:
    """Bytes of the float32 tensor an in-memory load of the folder would make, estimated from
    the file count and the first image's size before anything is decoded (0: unknown)."""
    files = image_files(folder, channels)
    size = image_size(files, resize, channels)
    return len(files) * int(np.prod(size)) * 4 if size is not None else 0


def image_cache(folder: Path, resize, channels: int, root: Path | None = None) -> CachedPixels:
    """The folder's uint8 cache, decoded now if it is not in the cache yet.

    Args:
        folder: the image folder.
        resize: (H, W) every image is resized to, or None (all must be one size).
        channels: 1 or 3.
        root: the cache folder; default cache_dir() / "images".
    Raises:
        DataError: as load_image_folder (missing folder, unreadable image, sizes differ), or the
            cache cannot be written.
    """
    folder = Path(folder)
    files = image_files(folder, channels)
    root = Path(root) if root is not None else cache_dir() / "images"
    resize = list(resize) if resize is not None else None
    key = cache_key(folder, files, resize, channels)
    found = CachedPixels.open(root, key)
    if found is not None:
        return found
    try:
        root.mkdir(parents=True, exist_ok=True)
        shape = decode_into(root / f"{key}.u8", folder, files, resize, channels)
        header = {"version": CACHE_VERSION, "shape": list(shape), "files": len(files)}
        header |= {"folder": str(folder.resolve()), "resize": resize, "channels": channels}
        atomic_write_bytes(root / f"{key}.json", json.dumps(header, indent=1).encode())
    except OSError as e:
        raise DataError(
            f"cannot write the image cache in {root} ({e.strerror or e}); free disk space there "
            "or set XDG_CACHE_HOME to a folder with room"
        ) from None
    return CachedPixels.open(root, key)


def decode_into(path: Path, folder: Path, files: list[Path], resize, channels: int):
    """Decode the files in order into the uint8 file `path`, chunk by chunk: temp, fsync, rename.

    Returns:
        (N, C, H, W), the shape written.
    """
    shape = None
    with atomic_writer(path, per_process=True) as f:  # two decoders never share a temp file
        chunk = []
        for pixels in decode_images(folder, files, resize, channels):  # (C, H, W) each
            shape = pixels.shape
            chunk.append(pixels)
            if len(chunk) == CHUNK:
                f.write(np.stack(chunk).tobytes())
                chunk = []
        if chunk:
            f.write(np.stack(chunk).tobytes())
    return (len(files), *shape)


class CachedPixels:
    """A decoded folder in the cache: the .u8 file and its shape (N, C, H, W)."""

    def __init__(self, path: Path, shape: tuple[int, ...], header: dict):
        self.path, self.shape, self.header = path, tuple(shape), header

    @classmethod
    def open(cls, root: Path, key: str) -> CachedPixels | None:
        """The cache named key under root, or None when it is absent or incomplete."""
        try:
            header = json.loads((root / f"{key}.json").read_text())
            shape = tuple(int(s) for s in header["shape"])
            if header.get("version") != CACHE_VERSION:
                return None
            size = (root / f"{key}.u8").stat().st_size
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if size != int(np.prod(shape)):  # a .u8 file from another decode: decode again
            return None
        return cls(root / f"{key}.u8", shape, header)
