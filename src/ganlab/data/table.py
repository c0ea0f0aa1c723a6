"""CSV files as people write them: comma, semicolon or tab between cells (a decimal comma where
cells are split by semicolons), a header row or none, '#' comment lines, missing cells,
and columns of text (a class, a date, a name) beside the columns of numbers.

A table of numbers alone is parsed by numpy's C reader (loadtxt); any other goes through
Python's csv module cell by cell, since loadtxt stops at the first cell that is not a number and a
table with a text column or an empty cell is the common case, not an error.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganlab.data.columns import check_float32_range
from ganlab.errors import DATA_MOVED_HINT, DataError

# Cells read as missing values (compared lower-cased, stripped): what spreadsheets, R and pandas
# write for "no value". A row with one is left out, and the plan line says how many.
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
# A text column with at most this many distinct values, each shared by two rows on average,
# reads as classes (species, a category); more (dates, names, ids) as text that is left out.
MAX_CLASSES = 50
# tried in this order: a comma inside cells split by semicolons is a decimal comma, so a
# semicolon that splits every line goes first
DELIMITERS = ("\t", ";", ",")
# The headers pandas gives its row index: to_csv writes it unnamed, and a file read back
# without index_col and written again gets a second one named "Unnamed: 0"
INDEX_HEADERS = ("", "Unnamed: 0")


@dataclass(frozen=True)
class Table:
    """A CSV's rows that have no missing cell, column by column.

    Attributes:
        names: each column's header, or "column j" (1-based) without a header.
        numbers: (N, C) float64, the kept rows' values; NaN in text columns.
        text: a text column's index -> its kept rows' cells.
        skipped: rows left out for a missing cell.
        left_out: what reading left out of the file besides (an index column), a few words
            each for the plan line.
        index_names: the headers of the index columns left out ('' or 'Unnamed: 0').
        header: the names are the file's header row (else made up).
    """

    path: Path
    names: list[str]
    numbers: np.ndarray
    text: dict[int, list[str]]
    skipped: int
    left_out: tuple[str, ...] = ()
    index_names: tuple[str, ...] = ()
    header: bool = True

    def column(self, name: str, key: str = "data.label_column") -> int:
        """The index of the column headed `name`, which config key `key` gave.

        Raises:
            DataError: no such column; the line lists the columns.
        """
        if name not in self.names:
            raise DataError(
                f"{self.path} has no column '{name}' (columns: {', '.join(self.names)}); set "
                f"{key} to {'one' if key == 'data.label_column' else 'some'} of them"
            )
        return self.names.index(name)

    def dropped(self, drop: Sequence[str] = ()) -> list[int]:
        """The indices of the columns data.drop_columns names (an index column already left
        out may be named too).

        Raises:
            DataError: a name that is no column of the file.
        """
        names = [name for name in drop if name not in self.index_names]
        return [self.column(name, "data.drop_columns") for name in names]

    def learned(self, leave_out: str | None = None, drop: Sequence[str] = ()) -> list[int]:
        """The indices of the columns the points hold: those of numbers, but `leave_out` (a
        label column) and `drop` (data.drop_columns)."""
        skip = set(self.text) | ({self.column(leave_out)} if leave_out else set())
        skip |= set(self.dropped(drop))
        keep = [j for j in range(len(self.names)) if j not in skip]
        if not keep:
            dropped = f"; data.drop_columns leaves out {', '.join(drop)}" if drop else ""
            raise DataError(
                f"{self.path} has no column of numbers to learn (columns: "
                f"{', '.join(self.names)}{dropped}); a GAN here learns points of numbers"
            )
        return keep

    def points(self, leave_out: str | None = None, drop: Sequence[str] = ()) -> np.ndarray:
        """(N, d) float32: the columns of numbers, but `leave_out` (a label column) and `drop`.

        Raises:
            DataError: a value beyond float32's range (columns.check_float32_range).
        """
        keep = self.learned(leave_out, drop)
        check_float32_range(self.numbers[:, keep], self.path, [self.names[j] for j in keep])
        return self.numbers[:, keep].astype(np.float32)

    def point_names(
        self, leave_out: str | None = None, drop: Sequence[str] = ()
    ) -> list[str] | None:
        """The header names of points()' d columns, in order; None without a header row."""
        return [self.names[j] for j in self.learned(leave_out, drop)] if self.header else None

    def class_column(self, drop: Sequence[str] = ()) -> str | None:
        """The one text column that reads as classes (MAX_CLASSES), else None; columns `drop`
        names are not candidates."""
        found = [
            self.names[j]
            for j, cells in self.text.items()
            if 2 <= len(set(cells)) <= min(MAX_CLASSES, len(cells) / 2)
            and self.names[j] not in drop
        ]
        return found[0] if len(found) == 1 else None

    def notes(self, label_column: str | None = None, drop: Sequence[str] = ()) -> list[str]:
        """What the points leave out, in a few words each, for the plan line."""
        out = list(self.left_out)
        named = [self.names[j] for j in self.dropped(drop)]
        if named:
            columns = "column" if len(named) == 1 else "columns"
            listed = ", ".join(f"'{name}'" for name in named)
            out.append(f"{columns} {listed} left out (data.drop_columns)")
        for j in sorted(self.text):
            if self.names[j] != label_column and self.names[j] not in named:
                out.append(f"text column '{self.names[j]}' left out")
        if self.skipped:
            rows = "row" if self.skipped == 1 else "rows"
            out.append(f"{self.skipped:,} {rows} with missing values left out")
        return out


# read_table's last Table, by (path, digest of its bytes): one entry
_LAST_READ: dict[tuple[str, bytes], Table] = {}


def read_table(path: Path) -> Table:
    """The CSV at `path` as a Table.

    The last file read is kept (one entry, keyed by its bytes' digest): `ganlab train MY.csv`
    inspects the file and then loads it, and parsing a large CSV again cost 0.60 s per 38 MB
    (the digest 0.04 s, the whole read again 0.06 s). The kept Table's numbers are read-only,
    so no caller can change what the next one gets (`points` returns a copy).

    Raises:
        DataError: the file is missing, not UTF-8 or empty; rows differ in length; a cell of a
            column of numbers is not a number or is infinite; every row has a missing cell.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"CSV file {path} does not exist; check data.path" + DATA_MOVED_HINT)
    raw = path.read_bytes()
    key = (str(path), hashlib.blake2b(raw, digest_size=16).digest())
    if key not in _LAST_READ:
        table = _parse(path, raw)
        table.numbers.flags.writeable = False
        _LAST_READ.clear()
        _LAST_READ[key] = table
    return _LAST_READ[key]


def _parse(path: Path, raw: bytes) -> Table:
    """read_table's work on the file's bytes."""
    try:
        lines = raw.decode("utf-8-sig").splitlines()  # -sig: Excel's BOM
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text; save the CSV as UTF-8") from None
    lines = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise DataError(f"CSV file {path} holds no rows; write one point per line")
    delimiter = _delimiter(lines[:20])
    lines = _without_trailing_delimiter(lines, delimiter)
    decimal_comma = delimiter == ";"  # the European convention; a tab file's "1,234" is ambiguous
    first = [[cell.strip() for cell in row] for row in csv.reader(lines[:6], delimiter=delimiter)]
    header = _is_header(first, decimal_comma)
    names = first[0] if header else [f"column {j + 1}" for j in range(len(first[0]))]
    data = lines[1:] if header else lines
    if not data:
        raise DataError(f"CSV file {path} holds a header but no rows; write one point per line")
    values = _all_numbers(data, delimiter)
    if values is not None and values.shape[1] == len(names):
        gaps = np.isnan(values).any(axis=1)  # 'nan' cells: missing
        kept = values[~gaps]
        if len(kept) and not np.isfinite(kept).all():
            i, k = (int(v) for v in np.argwhere(~np.isfinite(kept))[0])
            r = int(np.flatnonzero(~gaps)[i]) + 1
            cell = next(csv.reader([data[r - 1]], delimiter=delimiter))[k].strip()
            raise DataError(
                f"{path}: data row {r}, column '{names[k]}': '{cell}' is infinite; fix the cell "
                "or leave it empty (rows with missing values are left out)"
            )
        if len(kept):
            table = Table(path, names, kept, {}, int(gaps.sum()), header=header)
            return _without_index(table, ~gaps)
    body = [[cell.strip() for cell in row] for row in csv.reader(data, delimiter=delimiter)]
    for r, row in enumerate(body):
        if len(row) != len(names):
            raise DataError(
                f"{path}: data row {r + 1} has {len(row)} cells, the "
                f"{'header' if header else 'first row'} {len(names)}; give every row the same "
                "columns"
            )
    kept = [row for row in body if not any(_missing(c) for c in row)]
    if not kept:
        raise DataError(
            f"{path}: every one of its {len(body):,} rows has a missing value; fill them in"
        )
    # a column is text where its first kept cell is not a number; a later word in a column of
    # numbers is a broken cell, not a class
    text_cols = [j for j, c in enumerate(kept[0]) if _number(c, decimal_comma) is None]
    num_cols = [j for j in range(len(names)) if j not in text_cols]
    numbers = np.full((len(kept), len(names)), np.nan)
    point = _decimal_points if decimal_comma else str
    cells = np.array([[point(row[j]) for j in num_cols] for row in kept], dtype=str)
    try:
        values = cells.astype(np.float64).reshape(len(kept), len(num_cols))
    except ValueError:
        values = None
    if values is None or not np.isfinite(values).all():
        i, k = _first_bad(cells, values)
        r, cell = body.index(kept[i]) + 1, kept[i][num_cols[k]]
        what = "is infinite" if _number(cell, decimal_comma) is not None else "is not a number"
        raise DataError(
            f"{path}: data row {r}, column '{names[num_cols[k]]}': '{cell}' {what}; fix the "
            "cell or leave it empty (rows with missing values are left out)"
        )
    numbers[:, num_cols] = values
    text = {j: [row[j] for row in kept] for j in text_cols}
    rows = np.array([not any(_missing(c) for c in row) for row in body])
    table = Table(path, names, numbers, text, len(body) - len(kept), header=header)
    return _without_index(table, rows)


def _without_trailing_delimiter(lines: list[str], delimiter: str) -> list[str]:
    """The lines less the delimiter that ends every one of them (header included): a spreadsheet
    or a script that writes `a,b,` makes an unnamed last column with no value in any row, which
    read as a column would leave out every row for its missing cell."""
    ends = [line.rstrip(" ") for line in lines]
    if len(lines) and all(line.endswith(delimiter) for line in ends):
        return [line[:-1] for line in ends]
    return lines


def _without_index(table: Table, kept: np.ndarray) -> Table:
    """`table` less its first column where that is a row index: headed '' or 'Unnamed: 0' (as
    pandas' to_csv writes its index) and numbering the file's rows 0..N-1 or 1..N (the rows left
    out for a missing cell keep their numbers). A coordinate that counts rows would teach G the
    row number as a dimension of the data.

    Args:
        kept: (N_file,) bool, which of the file's data rows the table kept.
    """
    rows = np.flatnonzero(kept)  # (N,) each kept row's 0-based place in the file
    names, numbers = table.names, table.numbers
    if len(names) < 2 or names[0] not in INDEX_HEADERS or 0 in table.text:
        return table
    start = next((s for s in (0, 1) if np.array_equal(numbers[:, 0], rows + s)), None)
    if start is None:
        return table
    header = f"'{names[0]}'" if names[0] else "unnamed"
    note = f"index column ({header}, {start}..{len(kept) - 1 + start}) left out"
    text = {j - 1: cells for j, cells in table.text.items()}
    numbers = np.ascontiguousarray(numbers[:, 1:])
    shorter = Table(
        table.path, names[1:], numbers, text, table.skipped, (*table.left_out, note),
        (*table.index_names, names[0]), table.header,
    )  # fmt: skip
    return _without_index(shorter, kept)  # pandas' index read back and written again: two


def _delimiter(lines: list[str]) -> str:
    """The first of DELIMITERS that splits every sampled line into the same number (> 1) of
    cells; a comma where none does (one column)."""
    for d in DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=d)}
        if len(counts) == 1 and counts.pop() > 1:
            return d
    return ","


def _all_numbers(lines: list[str], delimiter: str) -> np.ndarray | None:
    """The common case, a table of numbers alone, parsed by numpy's C reader (several times
    faster than cell by cell); None where any cell is not a number ('nan' is: missing)."""
    if delimiter == ";":  # decimal commas
        lines = [_decimal_points(line) for line in lines]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return np.loadtxt(lines, delimiter=delimiter, ndmin=2, quotechar='"')
    except ValueError:
        return None


def _is_header(rows: list[list[str]], decimal_comma: bool) -> bool:
    """A first row with a word where the rows below have numbers (a header of names over a
    text column of classes is told apart from a first row of data by the columns beside it);
    a lone row of words too."""

    def word(cell: str) -> bool:
        return _number(cell, decimal_comma) is None and not _missing(cell)

    below = rows[1:6]
    if not below:
        return any(word(c) for c in rows[0])
    return any(
        word(cell) and any(j < len(r) and not word(r[j]) and not _missing(r[j]) for r in below)
        for j, cell in enumerate(rows[0])
    )


def _first_bad(cells: np.ndarray, values: np.ndarray | None) -> tuple[int, int]:
    """(row, column) of the first cell that is not a finite number."""
    if values is not None:
        i, k = np.argwhere(~np.isfinite(values))[0]
        return int(i), int(k)
    for i, row in enumerate(cells):
        for k, cell in enumerate(row):
            try:
                float(cell)
            except ValueError:
                return i, k
    raise AssertionError("a cell failed to parse")


def _missing(cell: str) -> bool:
    return cell.lower() in MISSING


def _decimal_points(text: str) -> str:
    """A semicolon file's decimal commas as points (the European convention): '3,5' -> '3.5'."""
    return text.replace(",", ".")


def _number(cell: str, decimal_comma: bool) -> float | None:
    if decimal_comma and "," in cell and "." not in cell:
        cell = _decimal_points(cell)
    try:
        return float(cell)
    except ValueError:
        return None


__all__ = ["MAX_CLASSES", "MISSING", "Table", "read_table"]
