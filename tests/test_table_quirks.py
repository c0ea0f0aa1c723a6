"""Tables as users' tools write them: pandas' index column, a delimiter ending every line,
constant columns, values float32 cannot hold; and that `ganlab train FILE --dry-run` refuses
what training refuses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.cli import main
from ganlab.data import load_csv
from ganlab.data.inspect import inspect_path
from ganlab.data.table import read_table
from ganlab.data.user import load_csv_labelled

POINTS = np.random.default_rng(0).normal(size=(40, 2)).round(4)  # (40, 2)


def _pandas_csv(path, index_header="", start=0, extra=None):
    """A CSV as DataFrame(POINTS, columns=['a', 'b']).to_csv(path) writes it (pandas is no
    dependency of ganlab): an index column first, headed index_header, numbering the rows."""
    header = [index_header, "a", "b"] + (["kind"] if extra else [])
    lines = [",".join(header)]
    for i, (a, b) in enumerate(POINTS):
        lines.append(",".join([str(i + start), str(a), str(b)] + ([extra(i)] if extra else [])))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("header,start", [("", 0), ("Unnamed: 0", 0), ("", 1)])
def test_a_pandas_index_column_is_left_out_and_said(tmp_path, header, start):
    path = _pandas_csv(tmp_path / "idx.csv", header, start)
    torch.testing.assert_close(load_csv(path), torch.tensor(POINTS, dtype=torch.float32))
    summary = inspect_path(path)
    assert summary.shape == (2,)
    name = f"'{header}'" if header else "unnamed"
    assert f"index column ({name}, {start}..{len(POINTS) - 1 + start}) left out" in (
        summary.describe()
    )


def test_an_index_beside_a_class_column_and_a_row_with_a_gap(tmp_path):
    path = _pandas_csv(tmp_path / "idx.csv", extra=lambda i: "xy"[i % 2])
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(str(POINTS[2, 0]), "")  # row 2 missing 'a': left out
    path.write_text("\n".join(lines) + "\n")
    x, y, names = load_csv_labelled(path, "kind")
    keep = [i for i in range(len(POINTS)) if i != 2]  # the index still numbers the file's rows
    torch.testing.assert_close(x, torch.tensor(POINTS[keep], dtype=torch.float32))
    assert names == ["x", "y"] and y.tolist() == [i % 2 for i in keep]


def test_a_first_column_that_is_not_an_index_is_learned(tmp_path):
    path = _pandas_csv(tmp_path / "named.csv", "id")  # a name: the user's column
    assert read_table(path).names == ["id", "a", "b"]
    values = np.arange(len(POINTS))[::-1]  # unnamed, but not the rows' numbers
    path.write_text(
        ",a,b\n" + "".join(f"{v},{a},{b}\n" for v, (a, b) in zip(values, POINTS, strict=True))
    )
    assert read_table(path).names == ["", "a", "b"] and load_csv(path).shape == (40, 3)


def test_train_dry_run_says_the_index_is_left_out(tmp_path, capsys):
    path = _pandas_csv(tmp_path / "idx.csv")
    assert main(["train", str(path), "--dry-run"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("ganlab: idx.csv: 40 points in 2-D"), line
    assert "index column (unnamed, 0..39) left out" in line, line


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_a_delimiter_ending_every_line_is_no_column(tmp_path, sep):
    path = tmp_path / "t.csv"
    path.write_text(f"a{sep}b{sep}\n1{sep}2{sep}\n3{sep}4{sep}\n5{sep}6{sep}\n")
    table = read_table(path)
    assert table.names == ["a", "b"] and table.skipped == 0
    torch.testing.assert_close(load_csv(path), torch.tensor([[1.0, 2], [3, 4], [5, 6]]))
    path.write_text("1,2,\n3,4,\n")  # no header
    torch.testing.assert_close(load_csv(path), torch.tensor([[1.0, 2], [3, 4]]))


def test_train_dry_run_of_a_file_with_trailing_delimiters(tmp_path, capsys):
    path = tmp_path / "trail.csv"
    path.write_text("a,b,\n" + "".join(f"{a},{b},\n" for a, b in POINTS))
    assert main(["train", str(path), "--dry-run"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("ganlab: trail.csv: 40 points in 2-D"), line
