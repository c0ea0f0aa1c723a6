"""Your own data: a folder of PNG/JPEG images, a .npy/.npz array, a CSV of points.

Every loader returns float32 examples, ``(N, C, H, W)`` images with values in [0, 1] or
``(N, d)`` points, and refuses unusable files with one line that names the file and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.data.columns import check_float32_range
from ganlab.data.table import read_table
from ganlab.errors import DATA_MOVED_HINT, DataError

# The formats Pillow decodes that image sets come in (a GIF's first frame, a TIFF's first page)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
LABEL_KEYS = ("y", "labels")


def load_image_folder(
    path: Path, resize: tuple[int, int] | None = None, channels: int = 1
) -> Tensor:
    """The PNG/JPEG images under a folder (and its subfolders), as (N, C, H, W) in [0, 1].

    Files are read in sorted path order; hidden files and folders (names starting with '.')
    are skipped.

    Args:
        path: the folder.
        resize: (H, W) to resize every image to (Lanczos); None requires one size throughout.
        channels: 1 (converted to grayscale) or 3 (RGB).
    Returns:
        float32 (N, channels, H, W), pixel / 255.
    Raises:
        DataError: the folder is missing or empty, a file is not a PNG/JPEG image, or the images
            differ in size and ``resize`` is None.
    """
    path = Path(path)
    files = image_files(path, channels)
    x = np.stack(list(decode_images(path, files, resize, channels)))  # (N, C, H, W) uint8
    return torch.from_numpy(x.astype(np.float32) / 255.0)  # (N, C, H, W)


def image_files(path: Path, channels: int) -> list[Path]:
    """The image files of a folder in the order they are loaded (sorted); hidden ones and files
    of other kinds (a README, a labels file, Thumbs.db: other_files) skipped.

    Raises:
        DataError: the folder is missing, not a folder or empty, or channels is not 1 or 3.
    """
    if not path.exists():
        raise DataError(f"image folder {path} does not exist; check data.path" + DATA_MOVED_HINT)
    if not path.is_dir():
        raise DataError(
            f"{path} is not a folder; give a folder of PNG/JPEG images (for a .npy/.npz file use "
            "data.kind=array, for a CSV data.kind=csv)"
        )
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}; set data.channels to 1 or 3")
    files = [p for p in _visible_files(path) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"image folder {path} holds no images; put PNG or JPEG files in it")
    return files


def other_files(path: Path) -> list[Path]:
    """The files of an image folder that image_files skips for their kind (hidden ones aside)."""
    return [p for p in _visible_files(path) if p.suffix.lower() not in IMAGE_SUFFIXES]


def _visible_files(path: Path) -> list[Path]:
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def folder_labels(path: Path, files: list[Path]) -> tuple[Tensor, list[str]]:
    """Each image's class, the name of its sub-folder of `path`: (N,) int64 indices into the
    class names, which are the sub-folders' names sorted.

    Raises:
        DataError: an image lies directly in `path` (not in a class sub-folder), or all images
            are in one sub-folder (a single class).
    """
    path = Path(path)
    parts = [f.relative_to(path).parts for f in files]
    loose = next((p for p in parts if len(p) == 1), None)
    if loose is not None:
        raise DataError(
            f"{path / loose[0]} is not in a class sub-folder; a conditional run reads each "
            f"image's class from its folder: move the images into {path}/CLASS_NAME/"
        )
    names = sorted({p[0] for p in parts})
    if len(names) < 2:
        raise DataError(
            f"image folder {path} holds a single class ('{names[0]}'); a conditional run needs "
            "one sub-folder per class and at least 2 of them"
        )
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[p[0]] for p in parts], dtype=torch.int64), names


def class_indices(values: np.ndarray, where: str) -> tuple[Tensor, list[str]]:
    """Labels as class indices and the classes' names: integer labels 0..K-1 are their own
    indices (names '0'..'K-1'); other values (names) are indexed in sorted order.

    Raises:
        DataError: a negative integer label, or a single class.
    """
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        if len(values) and values.min() < 0:
            raise DataError(
                f"{where}: labels must be class indices >= 0, got {values.min()}; number the "
                "classes 0..K-1"
            )
        y = values.astype(np.int64)
        names = [str(i) for i in range(int(y.max()) + 1 if len(y) else 0)]
    else:
        names = sorted({str(v) for v in values})
        index = {name: i for i, name in enumerate(names)}
        y = np.array([index[str(v)] for v in values], dtype=np.int64)
    if len(names) < 2:
        raise DataError(
            f"{where}: the labels hold a single class; a conditional run needs at least 2"
        )
    return torch.from_numpy(y), names


def load_csv_labelled(
    path: Path, column: str, drop_columns: Sequence[str] = ()
) -> tuple[Tensor, Tensor, list[str]]:
    """Points and their classes from a CSV with a header: the column named `column` is the
    class (integers 0..K-1 or names), the other columns of numbers the point's coordinates
    (read as load_csv reads them, `drop_columns` left out).

    Returns:
        (x, y, names): (N, d) float32, (N,) int64 class indices, the K class names.
    Raises:
        DataError: as load_csv, or no header, no such column, or a single class.
    """
    table = read_table(path)
    j = table.column(column)
    labels = table.text.get(j) or [f"{v:g}" for v in table.numbers[:, j]]
    try:
        values = np.array([int(v) for v in labels])
    except ValueError:
        values = np.array(labels)
    y, names = class_indices(values, f"{path} column '{column}'")
    return torch.from_numpy(table.points(leave_out=column, drop=drop_columns)), y, names


# PIL's modes of 16-bit grey (PNG) images, 0-65535 per pixel
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def eight_bit(im):
    """A PIL image with 8-bit pixels: 16-bit grey scaled by 255/65535. (PIL's own convert("L")
    clips such pixels at 255: an image of 0-65535 became nearly all white.)"""
    from PIL import Image

    if im.mode not in SIXTEEN_BIT_MODES:
        return im
    pixels = np.asarray(im).astype(np.float64) * (255.0 / 65535.0)
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "L")


def decode_images(
    path: Path, files: list[Path], resize: tuple[int, int] | None, channels: int
) -> Iterator[np.ndarray]:
    """Each file of a folder decoded, in order, as uint8 pixels (channels, H, W).

    One image at a time, so a caller can write them out without holding the folder in memory.

    Raises:
        DataError: a file is not a PNG/JPEG image, or the images differ in size and ``resize``
            is None.
    """
    from PIL import Image, UnidentifiedImageError

    mode = "L" if channels == 1 else "RGB"
    first = None
    for file in files:
        if file.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(
                f"{file} is not a PNG or JPEG image; remove it from {path} (or convert it)"
            )
        try:
            with Image.open(file) as im:
                im = eight_bit(im).convert(mode)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise DataError(
                f"cannot read {file} as an image ({type(e).__name__}); remove or replace it"
            ) from None
        if resize is not None:
            height, width = resize
            im = im.resize((width, height), Image.Resampling.LANCZOS)
        elif first is None:
            first = (file, im.size)
        elif im.size != first[1]:
            (w0, h0), (w1, h1) = first[1], im.size
            raise DataError(
                f"images in {path} differ in size: {first[0].name} is {h0}x{w0} (HxW), "
                f"{file.name} is {h1}x{w1}; set data.resize: [H, W] to resize them all"
            )
        pixels = np.asarray(im, dtype=np.uint8)  # (H, W) or (H, W, 3)
        yield pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)


def load_csv(
    path: Path, label_column: str | None = None, drop_columns: Sequence[str] = ()
) -> Tensor:
    """Points from a CSV file: one example per row, one coordinate per column of numbers, as
    (N, d) (data.table.read_table: comma, semicolon or tab; a header where the first row has
    names; '#' comment lines). Rows with a missing cell and columns of text are left out, and
    so are `label_column`, a column of classes, and the columns `drop_columns` names.

    Raises:
        DataError: the file is missing or empty, a cell of a column of numbers is not a finite
            number, rows differ in length, no column holds numbers, or `drop_columns` names a
            column the file lacks.
    """
    table = read_table(path)
    return torch.from_numpy(table.points(leave_out=label_column, drop=drop_columns))


def csv_columns(
    path: Path, label_column: str | None = None, drop_columns: Sequence[str] = ()
) -> list[str] | None:
    """The header names of load_csv's columns, in order; None for a CSV without a header."""
    return read_table(path).point_names(leave_out=label_column, drop=drop_columns)


def load_array(path: Path, labels: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Examples from a .npy file, or a .npz file holding one array (or one named 'x').

    Shapes: (N,) and (N, d) are points ((N,) becomes (N, 1)); (N, H, W) are grayscale images
    (they become (N, 1, H, W)); (N, C, H, W) are images. uint8 images are pixel values and are
    divided by 255; other arrays are kept as they are.

    Args:
        path: the .npy or .npz file.
        labels: also return labels, the .npz array named 'y' (or 'labels'): int, shape (N,).
    Returns:
        float32 examples, or (examples, int64 labels) when ``labels`` is True.
    Raises:
        DataError: the file is missing or unreadable, holds non-numbers, NaN or Inf or values
            beyond float32's range, has the wrong number of dimensions, or lacks labels when
            they are asked for.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist; check data.path" + DATA_MOVED_HINT)
    try:
        # allow_pickle=False: a data file must never run code when loaded.
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(
            f"cannot read {path} as a .npy/.npz array ({e}); save it with np.save"
        ) from None
    y = None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        keys = list(loaded.keys())
        label_key = next((k for k in LABEL_KEYS if k in keys), None)
        rest = [k for k in keys if k != label_key]
        key = "x" if "x" in keys else (rest[0] if len(rest) == 1 else None)
        if key is None:
            raise DataError(f"{path} holds arrays {keys}; name the examples 'x' or keep one array")
        if labels and label_key is None:
            raise DataError(
                f"{path} holds no labels (arrays: {keys}); save them beside the examples with "
                "np.savez(path, x=x, y=labels)"
            )
        arr = loaded[key]
        y = loaded[label_key] if labels else None
    elif labels:
        raise DataError(
            f"{path} is a .npy file, which holds no labels; save examples and labels together "
            "with np.savez(path, x=x, y=labels)"
        )
    else:
        arr = loaded
    x = _as_examples(arr, path)
    if not labels:
        return x
    return x, _as_labels(y, len(x), path)


def check_array_shape(shape: tuple[int, ...], path) -> None:
    """An array file's shape as examples: (N, d) points, (N, H, W) or (N, C, H, W) images
    with C of 1 (grey), 3 (RGB) or 4 (RGBA), at least one example.

    Raises:
        DataError: naming the shape and how to save it instead.
    """
    if len(shape) == 0 or len(shape) > 4:
        raise DataError(
            f"{path} holds an array of shape {shape} ({len(shape)} dimensions); save points "
            "as (N, d) or images as (N, H, W) or (N, C, H, W)"
        )
    if shape[0] == 0:
        raise DataError(f"{path} holds no examples (shape {shape}); save at least one row")
    if len(shape) == 4 and shape[1] not in (1, 3, 4):
        if shape[3] in (1, 3, 4):
            raise DataError(
                f"{path} holds images of shape {shape}, which looks channels-last (N, H, W, C);"
                " save them as (N, C, H, W): x.transpose(0, 3, 1, 2)"
            )
        raise DataError(
            f"{path} holds images of {shape[1]} channels (shape {shape}); ganlab trains on "
            "1 (grey), 3 (RGB) or 4 (RGBA) channels: save those, or the channels as separate "
            "files"
        )


def _as_examples(arr: np.ndarray, path: Path) -> Tensor:
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{path} holds {arr.dtype} values; save numbers (float32)")
    check_array_shape(arr.shape, path)
    check_float32_range(arr[:, None] if arr.ndim == 1 else arr, path)
    images = arr.ndim >= 3
    x = arr.astype(np.float32)
    if images and arr.dtype == np.uint8:
        x /= 255.0  # 8-bit pixels -> [0, 1], the range of a sigmoid G
    if arr.ndim == 1:
        x = x[:, None]
    elif arr.ndim == 3:
        x = x[:, None]  # (N, H, W) -> (N, 1, H, W)
    if not np.isfinite(x).all():
        raise DataError(f"{path} contains NaN or Inf values; remove or replace them")
    return torch.from_numpy(np.ascontiguousarray(x))


def _as_labels(y: np.ndarray, n: int, path: Path) -> Tensor:
    if y.dtype.kind not in "iu" or y.ndim != 1 or len(y) != n:
        raise DataError(
            f"{path}: labels must be integers of shape ({n},), got {y.dtype} {y.shape}; save one "
            "class index per example"
        )
    return torch.from_numpy(y.astype(np.int64))
