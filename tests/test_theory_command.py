"""`ganlab theory`: the command's files, its refusal to overwrite, and its errors."""

import json

from ganlab.cli import main
from ganlab.theory.command import ITEMS, item_function


def test_every_item_resolves_to_a_function():
    for name in ITEMS:
        assert callable(item_function(name)), name


def test_only_one_item_writes_png_json_and_html(tmp_path, capsys):
    out = tmp_path / "theory"
    assert main(["theory", "--only", "xy_game", "--out", str(out), "--quick", "--quiet"]) == 0
    report = json.loads((out / "theory.json").read_text())
    item = report["items"]["xy_game"]
    assert item["figures"] and all(
        (out / f).read_bytes()[:4] == b"\x89PNG" for f in item["figures"]
    )
    page = (out / "index.html").read_text()
    assert item["equation"].split("\n")[0][:20] in page.replace("&amp;", "&")
    assert f'src="{item["figures"][0]}"' in page
    # A second run into the same folder refuses, then adds an item with --overwrite.
    capsys.readouterr()
    assert main(["theory", "--only", "kl_directions", "--out", str(out), "--quick"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        main(
            [
                "theory",
                "--only",
                "kl_directions",
                "--out",
                str(out),
                "--quick",
                "--overwrite",
                "--quiet",
            ]
        )
        == 0
    )
    assert set(json.loads((out / "theory.json").read_text())["items"]) == {
        "kl_directions",
        "xy_game",
    }


def test_unknown_item_is_a_one_line_error(tmp_path, capsys):
    assert main(["theory", "--only", "figure2", "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown theory item 'figure2'" in err[0]
    assert not (tmp_path / "t").exists()
