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
from ganlab.errors import DataError

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


def _columns_csv(path, **columns):
    """A CSV of the given columns (name -> values), the cells written as float64 repr."""
    names = list(columns)
    rows = zip(*(columns[n] for n in names), strict=True)
    path.write_text(",".join(names) + "\n" + "".join(",".join(map(repr, r)) + "\n" for r in rows))
    return path


def test_a_constant_column_is_named_in_one_warning_line(tmp_path, capsys):
    a, b = (float(v) for v in POINTS[:, 0]), (float(v) for v in POINTS[:, 1])
    path = _columns_csv(tmp_path / "c.csv", a=list(a), b=list(b), c=[5.0] * len(POINTS))
    with pytest.warns(UserWarning, match=r"c.csv: column 'c' \(= 5\) is constant"):
        assert inspect_path(path).shape == (3,)  # still learned: G reproduces the value
    assert main(["train", str(path), "--dry-run"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("ganlab: warning: c.csv: column 'c'"), err
    assert "--set 'data.drop_columns=[c]' leaves it out" in err[0], err
    assert main(["train", str(path), "--dry-run", "--set", "data.drop_columns=[c]"]) == 0
    assert "warning" not in capsys.readouterr().err  # left out: nothing to warn about


def test_data_that_is_one_point_is_refused_in_one_line(tmp_path, capsys):
    path = _columns_csv(tmp_path / "same.csv", a=[1.0] * 40, b=[2.0] * 40)
    assert main(["train", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "all 40 points are the same point (1, 2)" in err, err
    assert "nothing to learn" in err


def test_moments_of_a_tiny_column_are_its_own_and_a_constant_one_divides_by_one():
    from ganlab.models import data_moments

    gen = torch.Generator().manual_seed(0)
    tiny = 1e-30 * (1 + 0.1 * torch.randn(500, generator=gen))  # float32 holds it (min 1e-38)
    x = torch.stack([tiny, torch.full((500,), 0.1), torch.randn(500, generator=gen)], 1)
    mu, sigma = data_moments(x)
    # the tiny column's spread is 1e-31, not 'constant' (an absolute 1e-12 made it 1, and G's
    # samples spread ~1 around 1e-30); float64 sums of 500 float32 values: 1e-6 relative
    torch.testing.assert_close(sigma[0], tiny.double().std(correction=0).float(), rtol=1e-6, atol=0)
    assert sigma[1] == 1.0 and mu[1] == torch.tensor(0.1)  # constant: nothing divides by 0
    assert torch.isfinite((x - mu) / sigma).all()


def test_values_float32_cannot_hold_are_refused_naming_the_column(tmp_path, capsys):
    from ganlab.data.user import load_array

    a = [float(v) * 1e40 for v in POINTS[:, 0]]
    path = _columns_csv(tmp_path / "huge.csv", a=a, b=[float(v) for v in POINTS[:, 1]])
    assert main(["train", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "column 'a' holds" in err, err
    assert "beyond float32's range" in err and "divide it by 1e40" in err, err
    np.save(tmp_path / "huge.npy", np.c_[POINTS[:, 1], np.array(a)])  # float64 as saved
    with pytest.raises(DataError, match=r"column 2 holds .* beyond float32's range"):
        load_array(tmp_path / "huge.npy")  # it said 'contains NaN or Inf values'
    assert main(["train", str(tmp_path / "huge.npy"), "--dry-run"]) == 2
    assert "column 2 holds" in capsys.readouterr().err


def test_a_column_finer_than_float32_resolves_is_named(tmp_path, capsys):
    noise = [float(v) for v in POINTS[:, 0]]
    path = _columns_csv(tmp_path / "big.csv", a=[1e9 + v for v in noise], b=noise)
    assert main(["train", str(path), "--dry-run"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "big.csv: column 'a' varies by" in err[0], err
    assert "steps of 64" in err[0] and "subtract an offset" in err[0], err
    # 1e3 + N(0, 1): float32's steps there are 6e-5, far below the spread: no warning
    _columns_csv(path, a=[1e3 + v for v in noise], b=noise)
    assert main(["train", str(path), "--dry-run"]) == 0
    assert "warning" not in capsys.readouterr().err


def _refused(capsys, *argv) -> str:
    """The one error line of `ganlab ARGV`, which must exit 2."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("ganlab: error: "), err
    return err.strip()


def test_dry_run_refuses_a_single_example_as_training_does(tmp_path, capsys):
    from PIL import Image

    (tmp_path / "one.csv").write_text("a,b\n1,2\n")
    np.save(tmp_path / "one.npy", np.random.default_rng(0).random((1, 28, 28), np.float32))
    (tmp_path / "folder").mkdir()
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "folder" / "a.png")
    for name in ("one.csv", "one.npy", "folder"):
        path = tmp_path / name
        dry = _refused(capsys, "train", path, "--dry-run")  # it exited 0 with a plan
        assert f"{path} holds 1 example; a GAN learns a distribution from many" in dry, dry
        # training, with nothing written
        assert _refused(capsys, "train", path, "--out", tmp_path / "run") == dry
        assert not (tmp_path / "run").exists()


def test_dry_run_of_a_config_naming_a_data_file_refuses_what_training_does(tmp_path, capsys):
    # a config file whose data.path is a one-row CSV: --dry-run exited 0 with a plan (only data
    # given first was inspected), and training then refused
    import yaml

    from ganlab.config import dump_config, load_config

    (tmp_path / "one.csv").write_text("a,b\n1,2\n")
    cfg = yaml.safe_load(dump_config(load_config("ring8")))
    cfg["data"] = {"kind": "csv", "path": str(tmp_path / "one.csv")}
    config = tmp_path / "one.yaml"
    config.write_text(yaml.safe_dump(cfg))
    dry = _refused(capsys, "train", config, "--dry-run")
    assert "one.csv holds 1 example; a GAN learns a distribution from many" in dry, dry
    assert _refused(capsys, "train", config, "--out", tmp_path / "run") == dry
    assert not (tmp_path / "run").exists()
    # the count against m, as training says it
    (tmp_path / "one.csv").write_text("a,b\n1,2\n3,4\n5,7\n")
    dry = _refused(capsys, "train", config, "--dry-run")
    assert "holds 3 examples, fewer than the minibatch m=256; add examples or lower m" in dry
    assert main(["train", str(config), "--dry-run", "--set", "m=2"]) == 0


def test_dry_run_refuses_columns_training_refuses(tmp_path, capsys):
    path = _pandas_csv(tmp_path / "p.csv")  # column 0, 'a', holds values below 0
    over = ("--set", "data.log_columns=[0]")
    dry = _refused(capsys, "train", path, "--dry-run", *over)
    assert "data.log_columns: column 0 holds" in dry and "log needs values > 0" in dry, dry
    assert _refused(capsys, "train", path, "--out", tmp_path / "run", *over) == dry
    # a column the points lack: training raised a traceback (ValueError) from G's wrapper
    over = ("--set", "data.log_columns=[5]", "--set", "steps=2")
    dry = _refused(capsys, "train", path, "--dry-run", *over)
    assert "data.log_columns names column 5, but the examples have shape (2,)" in dry, dry
    assert _refused(capsys, "train", path, "--out", tmp_path / "run", *over) == dry
    assert not (tmp_path / "run").exists()


def _ids_csv(path):
    """POINTS beside an id column, a code of whole numbers and a text column of dates."""
    rows = [
        f"{1000 + 7 * i},{a},{b},{i % 3},2020-01-{i + 1:02d}" for i, (a, b) in enumerate(POINTS)
    ]
    path.write_text("id,a,b,code,when\n" + "\n".join(rows) + "\n")
    return path


def test_drop_columns_leaves_named_columns_out_of_the_points(tmp_path, capsys):
    from ganlab.config import load_config
    from ganlab.data import load_data

    path = _ids_csv(tmp_path / "ids.csv")
    assert load_csv(path).shape == (40, 4)  # id and code are numbers: learned by default
    cfg = load_config(
        "points", ["data.kind=csv", f"data.path={path}", "data.drop_columns=[id, code]"]
    )
    torch.testing.assert_close(load_data(cfg.data), torch.tensor(POINTS, dtype=torch.float32))
    assert main(["train", str(path), "--dry-run", "--set", "data.drop_columns=[id, code]"]) == 0
    out = capsys.readouterr().out
    assert "40 points in 2-D" in out and "columns 'id', 'code' left out (data.drop_columns)" in out
    assert "drop_columns:\n  - id\n  - code\n" in out  # the run's config keeps it
    # pandas' index, already left out, may be named too
    idx = _pandas_csv(tmp_path / "idx.csv", "Unnamed: 0")
    assert load_csv(idx, drop_columns=["Unnamed: 0"]).shape == (40, 2)


def test_drop_columns_of_a_name_the_file_lacks_is_one_line_listing_the_columns(tmp_path, capsys):
    path = _ids_csv(tmp_path / "ids.csv")
    line = _refused(capsys, "train", path, "--dry-run", "--set", "data.drop_columns=[ID]")
    assert line.endswith(
        "ids.csv has no column 'ID' (columns: id, a, b, code, when); set data.drop_columns to "
        "some of them"
    ), line
    np.save(tmp_path / "p.npy", POINTS)
    line = _refused(
        capsys, "train", tmp_path / "p.npy", "--dry-run", "--set", "data.drop_columns=[a]"
    )
    assert "data.drop_columns names a CSV's columns, but data.kind is 'array'" in line, line
    over = ("--set", "data.drop_columns=[code]", "--set", "data.label_column=code")
    line = _refused(capsys, "train", path, "--dry-run", *over)
    assert "data.label_column 'code' is also in data.drop_columns" in line, line
