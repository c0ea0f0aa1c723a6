"""What a user's data is, before any training: `inspect_path` reads a CSV, a .npy/.npz file or
an image folder far enough to say its kind (points or images), count, shape, value range and
labels, without decoding a whole folder of images.

`ganlab train PATH` chooses its recipe from this (ganlab.runs.recipes).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ganlab.data.columns import check_float32_range, column_warnings
from ganlab.data.streaming import npy_rows
from ganlab.data.table import read_table
from ganlab.data.user import (
    IMAGE_SUFFIXES,
    LABEL_KEYS,
    eight_bit,
    image_files,
    load_array,
    other_files,
)
from ganlab.errors import DataError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")  # delimited text: commas, semicolons or tabs
DATA_SUFFIXES = (*TABLE_SUFFIXES, ".npy", ".npz")
PROBE_IMAGES = 64  # images of a folder opened to learn sizes and colour (evenly spread)
PROBE_ROWS = 10_000  # rows of a .npy file read for its value range (evenly spread)
SKEWED = 2.0  # a positive column's skewness from which it is learned on a log scale


@dataclass(frozen=True)
class DataSummary:
    """A user's data at a glance.

    Attributes:
        path: the file or folder, absolute.
        kind: 'points' or 'images'.
        loader: the data.kind that reads it: 'csv', 'array' or 'images'.
        count: examples.
        shape: one example's shape: (d,) points, (C, H, W) images (a folder: its commonest
            size, C = 3 when any probed image has colour).
        low, high: the smallest and largest value (a folder: of the probed images, in [0, 1];
            a .npy: of up to PROBE_ROWS probed rows).
        classes: number of distinct labels (an .npz 'y' array, a folder's subfolders, a CSV's
            column of classes), or 0.
        sizes: a folder's distinct (H, W) among the probed images, commonest first.
        label_column: a CSV's column of classes (data.table.Table.class_column), not learned.
        notes: what reading leaves out of a CSV (text columns, rows with missing values), and
            which columns are learned on a log scale.
        log_columns: points' columns that are positive and right-skewed (skewed_columns).
        integer_columns: points' columns of whole numbers (ages, counts).
        extremes: points' (smallest, largest) value of each column (a .npy: of the probed
            rows), a 2-row table of points with the data's extremes, for the checks training
            makes on the columns; () for images.
    """

    path: Path
    kind: str
    loader: str
    count: int
    shape: tuple[int, ...]
    low: float
    high: float
    classes: int = 0
    sizes: tuple[tuple[int, int], ...] = field(default_factory=tuple)
    label_column: str | None = None
    notes: tuple[str, ...] = ()
    log_columns: tuple[int, ...] = ()
    integer_columns: tuple[int, ...] = ()
    extremes: tuple[tuple[float, ...], ...] = ()

    def describe(self, conditioned: bool = False) -> str:
        """A few words: '5,000 points in 2-D, values in [-1.2, 2.0]' or '10,000 grey 28x28
        images in 10 subfolders'. conditioned: the run conditions on a CSV's label column."""
        if self.kind == "points":
            points = "point" if self.count == 1 else "points"
            text = f"{self.count:,} {points} in {self.shape[0]}-D, values in "
            text += f"[{self.low:.3g}, {self.high:.3g}]"
        else:
            colour = "colour" if self.shape[0] == 3 else "grey"
            c, h, w = self.shape
            text = f"{self.count:,} {colour} {h}x{w} images"
            if len(self.sizes) > 1:
                text += f" ({len(self.sizes)} sizes among those probed)"
        if self.label_column:
            use = "conditioned on" if conditioned else "set aside"
            text += f", {self.classes} classes in column '{self.label_column}' {use}"
        elif self.classes:  # a folder's subfolders, an .npz's y
            use = "conditioned on" if conditioned else "not used: --set conditional.kind=concat"
            text += f", {self.classes} labels ({use})"
        return ", ".join([text, *self.notes])


def is_data_path(source) -> bool:
    """Whether `source` (what follows `ganlab train`) names data rather than a config: a file
    ending in .csv, .npy or .npz, or an existing folder that is not a run directory (so a
    folder of images named like a preset is trained on; a run directory named like one is
    not)."""
    if not isinstance(source, (str, Path)):
        return False
    path = Path(source).expanduser()
    if path.suffix.lower() in (".yaml", ".yml"):
        return False  # a config, even if a folder by mistake (the config loader says so)
    if path.is_dir():
        return not is_run_dir(path)
    # an image file too: inspect_path then says to give its folder
    return path.suffix.lower() in (*DATA_SUFFIXES, *IMAGE_SUFFIXES)


def is_run_dir(path: Path) -> bool:
    """A run directory ganlab wrote: its config.yaml and meta.json."""
    return (path / "config.yaml").is_file() and (path / "meta.json").is_file()


def inspect_path(
    path: str | Path, label_column: str | None = None, drop_columns: Sequence[str] = ()
) -> DataSummary:
    """A summary of the data at `path`: a CSV or .npy/.npz file, or a folder of images.
    label_column: a CSV's column of classes as data.label_column names it (default: the one
    text column of classes, if any), left out of the points as load_csv leaves it, as are the
    columns drop_columns (data.drop_columns) names.

    Raises:
        DataError: the path does not exist or is not data ganlab reads; one line, with the fix.
    """
    path = Path(path).expanduser().absolute()
    if not path.exists():
        raise DataError(f"{path} does not exist; give a CSV, .npy/.npz file or image folder")
    if path.is_dir():
        if is_run_dir(path):
            raise DataError(
                f"{path} is a run directory, not data; `ganlab resume {path}` continues it"
            )
        return _inspect_folder(path)
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return _inspect_csv(path, label_column, drop_columns)
    if suffix == ".npy":  # the header and a probe of rows: the array may not fit in memory
        return _inspect_npy(path)
    if suffix == ".npz":  # compressed: read whole, as training reads it
        x = load_array(path).numpy()
        kind = "points" if x.ndim == 2 else "images"
        summary = DataSummary(
            path, kind, "array", len(x), x.shape[1:], *_range(x), _npz_classes(path)
        )
        return _with_columns(summary, x) if kind == "points" else summary
    if suffix in IMAGE_SUFFIXES:
        raise DataError(
            f"{path} is one image and a GAN learns from many; give the folder of images: "
            f"`ganlab train {path.parent}`"
        )
    raise DataError(
        f"{path} is not data ganlab reads; give a CSV of points, a .npy/.npz array or a folder "
        "of PNG/JPEG images"
    )


def _inspect_npy(path: Path) -> DataSummary:
    """A .npy file from its header (streaming.npy_rows checks it as training will) and up to
    PROBE_ROWS evenly spaced rows for the value range; shapes as load_array makes them."""
    with npy_rows(path) as rows:
        n, row = rows.shape[0], rows.shape[1:]
        idx = np.unique(np.linspace(0, n - 1, min(n, PROBE_ROWS)).astype(np.int64))
        probe = rows.read(idx).astype(np.float64)
    if not np.isfinite(probe).all():  # found early here; load_array checks every row
        raise DataError(f"{path} contains NaN or Inf values; remove or replace them")
    images = len(row) >= 2
    check_float32_range(probe if images else probe.reshape(len(probe), -1), path)
    if images and rows.dtype == np.uint8:
        probe /= 255.0  # 8-bit pixels, as load_array reads them
    shape = (1, *row) if len(row) == 2 else (row or (1,))
    summary = DataSummary(path, "images" if images else "points", "array", n, tuple(shape),
                          *_range(probe))  # fmt: skip
    return summary if images else _with_columns(summary, probe.reshape(len(probe), -1))


def _inspect_csv(path: Path, label: str | None = None, drop: Sequence[str] = ()) -> DataSummary:
    """The columns of numbers as the points; a text column of classes set aside as labels
    (conditional.kind conditions on it), other text columns, the columns `drop` names and rows
    with gaps left out."""
    table = read_table(path)
    label = label or table.class_column(drop)
    x = table.points(leave_out=label, drop=drop)  # (a column the CSV lacks: one line from here)
    j = table.column(label) if label else None
    cells = table.text.get(j) or (table.numbers[:, j].tolist() if label else [])
    classes = len(set(cells))
    notes = tuple(table.notes(label, drop))
    summary = DataSummary(path, "points", "csv", len(x), x.shape[1:], *_range(x), classes,
                          label_column=label, notes=notes)  # fmt: skip
    learned = table.learned(label, drop)
    # the cells' own float64 values: a column's variation below float32's resolution shows
    return _with_columns(summary, table.numbers[:, learned], [table.names[j] for j in learned])


def skewed_columns(x: np.ndarray) -> tuple[int, ...]:
    """The columns of (N, d) points that are positive and right-skewed, which a GAN learns
    better as log x: skewness >= SKEWED, and under half of it left after the log. Incomes or
    prices (log-normal, skewness 6 for sigma = 1, ~0 after the log) qualify; an exponential
    column (skewness 2, -1.1 after the log), ages or anything that reaches 0 do not."""
    from scipy.stats import skew

    found = []
    for j in range(x.shape[1]):
        col = x[:, j].astype(np.float64)
        if len(col) < 20 or col.min() <= 0 or col.min() == col.max():
            continue
        with warnings.catch_warnings():  # a near-constant column: scipy warns, skew is ~nan
            warnings.simplefilter("ignore", RuntimeWarning)
            before = float(skew(col))
            after = float(skew(np.log(col)))
        if before >= SKEWED and abs(after) < before / 2:
            found.append(j)
    return tuple(found)


def _with_columns(summary: DataSummary, x: np.ndarray, names=None) -> DataSummary:
    """summary with the points' skewed columns and columns of whole numbers, and a note
    naming each kind; a warning line for each column training cannot learn from
    (columns.column_warnings: constant, or finer than float32 resolves).

    Raises:
        DataError: all the points are one point.
    """
    for line in column_warnings(x, summary.path.name, names):
        warnings.warn(line, stacklevel=4)  # the CLI: one stderr line each
    logs = skewed_columns(x)
    whole = tuple(int(j) for j in np.flatnonzero((x == np.round(x)).all(axis=0)))
    names = names or [f"column {j + 1}" for j in range(x.shape[1])]

    def listed(cols: tuple[int, ...]) -> str:
        more = f" and {len(cols) - 3} more" if len(cols) > 3 else ""
        return ", ".join(f"'{names[j]}'" for j in cols[:3]) + more

    notes = [f"{listed(logs)} on a log scale"] if logs else []
    notes += [f"{listed(whole)} in whole numbers"] if whole else []
    notes = (*summary.notes, *notes)
    extremes = (tuple(x.min(0).tolist()), tuple(x.max(0).tolist()))
    return replace(summary, log_columns=logs, integer_columns=whole, notes=notes, extremes=extremes)


def _range(x: np.ndarray) -> tuple[float, float]:
    return float(x.min()), float(x.max())


def _npz_classes(path: Path) -> int:
    if path.suffix.lower() != ".npz":
        return 0
    with np.load(path, allow_pickle=False) as f:
        key = next((k for k in LABEL_KEYS if k in f.files), None)
        if key is None or f[key].dtype.kind not in "iu":
            return 0
        return len(np.unique(f[key]))


def _inspect_folder(path: Path) -> DataSummary:
    from PIL import Image, UnidentifiedImageError

    files = image_files(path, channels=1)  # channels: checked, not used, by the listing
    others = other_files(path)
    notes = ()
    if others:
        kinds = ", ".join(sorted({f.suffix.lower() or f.name for f in others})[:4])
        files_ = "file" if len(others) == 1 else "files"
        notes = (f"{len(others):,} other {files_} skipped ({kinds})",)
    step = max(1, len(files) // PROBE_IMAGES)
    sizes, colour, low, high = Counter(), False, 1.0, 0.0
    for file in files[::step][:PROBE_IMAGES]:
        try:
            with Image.open(file) as im:
                sizes[(im.height, im.width)] += 1
                rgb = np.asarray(eight_bit(im).convert("RGB"), dtype=np.uint8)  # (H, W, 3)
        except (UnidentifiedImageError, OSError, ValueError) as e:
            raise DataError(
                f"cannot read {file} as an image ({type(e).__name__}); remove or replace it"
            ) from None
        # colour: any pixel whose channels differ by more than JPEG's rounding of grey
        spread = rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)
        colour = colour or bool((spread > 8).mean() > 0.01)
        low, high = min(low, rgb.min() / 255.0), max(high, rgb.max() / 255.0)
    (h, w), _ = sizes.most_common(1)[0]
    # labels as user.folder_labels reads them: a class per top sub-folder (as ImageFolder),
    # only where every image lies in one; loose images beside them make the folder unlabelled
    parts = [f.relative_to(path).parts for f in files]
    tops = {p[0] for p in parts if len(p) > 1}
    loose = any(len(p) == 1 for p in parts)
    classes = len(tops) if len(tops) > 1 and not loose else 0
    order = tuple(size for size, _ in sizes.most_common())
    return DataSummary(
        path, "images", "images", len(files), (3 if colour else 1, h, w), low, high, classes, order,
        notes=notes,
    )  # fmt: skip


__all__ = ["DATA_SUFFIXES", "DataSummary", "inspect_path", "is_data_path"]
