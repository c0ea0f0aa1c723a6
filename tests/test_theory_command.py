"""`ganlab theory`: the command's files, its refusal to overwrite, and its errors."""

import json
import subprocess
import sys

from ganlab.cli import main
from ganlab.theory.command import ITEMS, item_function


def test_every_item_resolves_to_a_function():
    # The report's order (theory.json, index.html, --list): the paper's section 4, then
    # training, then the divergences and the game.
    assert list(ITEMS) == [
        "optimal_discriminator",
        "virtual_criterion",
        "figure1",
        "saturation",
        "loss_objectives",
        "kl_directions",
        "xy_game",
        "mode_collapse",
        "dirac_gan",
        "objectives",
    ]
    for name in ITEMS:
        assert callable(item_function(name)), name
        assert item_function(name).__name__ == f"run_{name}"


# Imports every item module and runs two compute functions in a fresh interpreter: none of it
# may import matplotlib (figures are drawn only by plot_<item>, which imports it on first use).
_COMPUTE_ONLY = """
import sys
from ganlab.theory.command import ITEMS, item_function
from ganlab.theory.divergence_fits import compute_kl_directions
from ganlab.theory.xy_game import compute_xy_game

runs = [item_function(name) for name in ITEMS]
fits, game = compute_kl_directions(quick=True), compute_xy_game(quick=True)
assert abs(fits.reverse.mu - 2) < 0.01 and game.simultaneous_ratio_error < 1e-14
print(sorted(m for m in sys.modules if m.split(".")[0] == "matplotlib"))
"""


def test_item_modules_and_compute_import_no_matplotlib():
    done = subprocess.run(
        [sys.executable, "-c", _COMPUTE_ONLY], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


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
