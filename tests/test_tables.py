"""CSV files as people write them (data.table): delimiters, decimal commas, headers, missing
cells, a text column of classes; and what `ganlab train FILE.csv` makes of them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganlab.data import load_csv
from ganlab.data.inspect import inspect_path
from ganlab.data.table import read_table
from ganlab.data.user import load_csv_labelled
from ganlab.runs.recipes import plan_run

IRIS_LIKE = [
    (5.1, 3.5, "setosa"), (4.9, 3.0, "setosa"), (7.0, 3.2, "versicolor"),
    (6.4, 3.2, "versicolor"), (6.3, 3.3, "virginica"), (5.8, 2.7, "virginica"),
]  # fmt: skip


def _write(path, header, rows, sep=","):
    lines = ([sep.join(header)] if header else []) + [sep.join(map(str, r)) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_delimiters_and_a_text_column_of_classes(tmp_path, sep):
    path = _write(tmp_path / "t.csv", ["a", "b", "species"], IRIS_LIKE, sep)
    table = read_table(path)
    assert table.names == ["a", "b", "species"] and table.class_column() == "species"
    x = load_csv(path)  # the columns of numbers; the classes are not coordinates
    torch.testing.assert_close(x, torch.tensor([r[:2] for r in IRIS_LIKE], dtype=torch.float32))
    _, y, names = load_csv_labelled(path, "species")
    assert names == ["setosa", "versicolor", "virginica"] and y.tolist() == [0, 0, 1, 1, 2, 2]


@pytest.mark.parametrize("suffix", [".tsv", ".txt"])
def test_tab_separated_files_by_their_own_suffix_are_data(tmp_path, suffix):
    # a .tsv was read as a YAML config ("found character '\\t'")
    from ganlab.data.inspect import is_data_path

    path = _write(tmp_path / f"t{suffix}", ["a", "b", "species"], IRIS_LIKE, "\t")
    assert is_data_path(path)
    summary = inspect_path(path)
    assert summary.loader == "csv" and summary.count == len(IRIS_LIKE) and summary.classes == 3


def test_decimal_commas_where_semicolons_split_the_cells(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("l\u00e4nge;breite\n5,1;3,5\n4,9;3\n")
    torch.testing.assert_close(load_csv(path), torch.tensor([[5.1, 3.5], [4.9, 3.0]]))
    path.write_text("5,1;3,5\n4,9;3,0\n")  # no header: still semicolons, not commas
    torch.testing.assert_close(load_csv(path), torch.tensor([[5.1, 3.5], [4.9, 3.0]]))


def test_a_first_row_of_data_with_a_text_column_is_not_a_header(tmp_path):
    path = _write(tmp_path / "t.csv", None, IRIS_LIKE)
    table = read_table(path)
    assert table.names == ["column 1", "column 2", "column 3"] and len(table.numbers) == 6
    assert table.class_column() == "column 3"


def test_rows_with_missing_cells_are_left_out_and_said(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("a,b\n1,2\n3,\nNA,4\n5,6\n7,nan\n")
    torch.testing.assert_close(load_csv(path), torch.tensor([[1.0, 2.0], [5.0, 6.0]]))
    summary = inspect_path(path)
    assert summary.count == 2 and "3 rows with missing values left out" in summary.describe()


def test_text_columns_that_are_not_classes_are_left_out_and_said(tmp_path):
    rows = [(f"2020-01-{i + 1:02d}", float(i), float(i * i)) for i in range(20)]
    path = _write(tmp_path / "dated.csv", ["date", "u", "v"], rows)
    summary = inspect_path(path)
    assert summary.shape == (2,) and summary.label_column is None  # 20 dates: no classes
    assert "text column 'date' left out" in summary.describe()


def test_the_recipe_sets_the_classes_aside_and_conditions_on_them_when_asked(tmp_path):
    rows = [(*r[:2], r[2]) for r in IRIS_LIKE * 25]  # 150 rows, 3 classes
    path = _write(tmp_path / "iris.csv", ["a", "b", "species"], rows)
    plan = plan_run(path)
    assert plan.config.data.label_column == "species" and not plan.config.conditional_run
    assert "3 classes in column 'species' set aside" in plan.line
    # 150 rows: the points recipe's m = 256 could not start; the largest power of two <= 75
    assert plan.config.m == 64 and "m=64" in plan.line
    assert plan_run(path, ["m=32"]).config.m == 32  # the user's m wins
    asked = plan_run(path, ["conditional.kind=concat"])
    assert asked.config.conditional_run and "classes in column 'species' conditioned on" in (
        asked.line
    )


def test_a_small_csv_trains_with_its_classes_end_to_end(tmp_path):
    import ganlab

    gen = np.random.default_rng(0)
    centres = {"a": (0.0, 0.0), "b": (5.0, 5.0)}
    rows = [(*(np.array(centres[c]) + gen.normal(0, 0.3, 2)).round(4), c)
            for c in ("a", "b") for _ in range(50)]  # fmt: skip
    path = _write(tmp_path / "two.csv", ["u", "v", "group"], rows)
    over = ["steps=300", "conditional.kind=concat", "compile=false"]
    run = ganlab.train(path, tmp_path / "run", overrides=over)
    assert run.class_names == ["a", "b"]
    for label, centre in centres.items():
        mean = run.sample(200, label=label).mean(0)
        # 300 steps place each class's samples near its centre (5 apart): within 1.5 of it
        assert torch.dist(mean, torch.tensor(centre)) < 1.5, (label, mean)


def test_sample_to_csv_writes_the_data_columns_and_the_class_names(tmp_path, capsys):
    import csv

    import ganlab
    from ganlab.cli import main

    gen = np.random.default_rng(0)
    rows = [(*gen.normal(0, 1, 2).round(4), c) for c in ("a", "b") for _ in range(40)]
    over = [
        "steps=10",
        "conditional.kind=concat",
        "compile=false",
        "m=16",
        "threads=1",
        "doctor=false",
    ]
    run = ganlab.train(_write(tmp_path / "two.csv", ["u", "v", "group"], rows),
                       tmp_path / "run", overrides=over, report=False)  # fmt: skip
    out, npz = tmp_path / "s.csv", tmp_path / "s.npz"
    for path in (out, npz):
        assert main(["sample", str(run.path), "-n", "3", "--label", "all", "--out", str(path)]) == 0
    with open(out, newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["u", "v", "group"]  # the data's own names; its class column's name
    assert [row[2] for row in table[1:]] == ["a"] * 3 + ["b"] * 3
    arrays = np.load(npz)  # the same draws: x, y and the class names beside them
    assert arrays["y"].tolist() == [0] * 3 + [1] * 3 and arrays["class_names"].tolist() == [
        "a",
        "b",
    ]
    got = np.array([[float(v) for v in row[:2]] for row in table[1:]], dtype=np.float32)
    np.testing.assert_array_equal(got, arrays["x"])  # the text reads back to the same float32
    # a CSV without a header: x0, x1 ...; an unconditional run: no class column
    plain = _write(tmp_path / "plain.csv", None, [r[:2] for r in rows])
    over = ["steps=10", "compile=false", "m=16", "threads=1", "doctor=false"]
    run = ganlab.train(plain, tmp_path / "run2", overrides=over, report=False)
    assert main(["sample", str(run.path), "-n", "4", "--out", str(tmp_path / "p.csv")]) == 0
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "x0,x1" and len(lines) == 5 and all(len(l.split(",")) == 2 for l in lines)
    assert "wrote 4 samples of shape (2,)" in capsys.readouterr().out


def test_excel_byte_order_mark_and_quoted_cells(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff5.1,3.5\r\n4.9,3.0\r\n".encode())  # Excel's UTF-8: a BOM, CRLF
    assert read_table(path).names == ["column 1", "column 2"]  # the BOM is not a header
    torch.testing.assert_close(load_csv(path), torch.tensor([[5.1, 3.5], [4.9, 3.0]]))
    path.write_text('city,x\n"Paris, FR",1\n"Rome, IT",2\n"Paris, FR",3\n"Rome, IT",4\n')
    table = read_table(path)  # a comma inside quotes splits no cell
    assert table.class_column() == "city" and table.points().tolist() == [[1], [2], [3], [4]]


def test_a_table_of_numbers_reads_as_numpy_reads_it(tmp_path):
    x = np.random.default_rng(0).normal(size=(500, 7))
    path = tmp_path / "n.csv"
    np.savetxt(path, x, delimiter=",", header="a,b,c,d,e,f,g", comments="")
    np.testing.assert_array_equal(load_csv(path).numpy(), x.astype(np.float32))


def test_a_csv_read_again_unchanged_is_parsed_once_and_an_edit_is_seen(tmp_path):
    # `ganlab train MY.csv` inspects the file and then loads it: the second read returns the
    # first parse; an edit of the same size within the filesystem's timestamp granularity is
    # still seen (the cache key is the bytes' digest, not the modification time).
    path = _write(tmp_path / "t.csv", ["a", "b"], [(1, 2), (3, 4)])
    first = read_table(path)
    assert read_table(path) is first
    with pytest.raises(ValueError, match="read-only"):
        first.numbers[0, 0] = 9.0  # what the next read returns cannot be changed by a caller
    path.write_text("a,b\n1,2\n3,5\n")  # same size, one cell changed
    again = read_table(path)
    assert again is not first and again.numbers.tolist() == [[1.0, 2.0], [3.0, 5.0]]


def test_sample_to_csv_names_the_columns_learned_not_an_index_or_dropped_ones(tmp_path):
    # pandas' unnamed index and a column data.drop_columns leaves out are not coordinates, so
    # the samples' header must not name them (their names would shift onto the wrong values)
    import ganlab
    from ganlab.cli import main

    gen = np.random.default_rng(1)
    rows = [(i, *gen.normal(0, 1, 3).round(4)) for i in range(60)]
    path = _write(tmp_path / "idx.csv", ["", "id", "u", "v"], rows)
    over = ["steps=5", "compile=false", "m=16", "threads=1", "doctor=false"]
    over.append("data.drop_columns=[id]")
    run = ganlab.train(path, tmp_path / "run", overrides=over, report=False)
    assert main(["sample", str(run.path), "-n", "2", "--out", str(tmp_path / "s.csv")]) == 0
    assert (tmp_path / "s.csv").read_text().splitlines()[0] == "u,v"
