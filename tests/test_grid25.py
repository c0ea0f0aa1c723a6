"""The grid25 preset: the benchmark's data and the choices that make it cover the 25 modes.

Training the preset to 25 modes takes ~3 min on one thread, too slow here; these checks take a
few seconds: the benchmark's data, and that a short run of the recipe writes the grid's
coverage (benchmarks/README.md has the 4-seed results).
"""

from ganlab.cli import main
from ganlab.config import load_config
from ganlab.data import distribution_of


def test_grid25_keeps_the_benchmark_data():
    cfg = load_config("grid25")
    assert (cfg.data.kind, cfg.data.grid_size, cfg.data.spacing, cfg.data.std) == (
        "grid",
        5,
        2.0,
        0.05,
    )
    assert cfg.data.n is None  # fresh points every batch
    centres = distribution_of(cfg.data).centres
    axis = [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert centres.shape == (25, 2)
    assert set(map(tuple, centres.tolist())) == {(a, b) for a in axis for b in axis}


def test_grid25_short_run_writes_the_grid_coverage(tmp_path, one_thread):
    out = tmp_path / "run"
    # compile=false: the preset's compile: step would spend ~40 s compiling for 100 steps
    # (tests/test_compiled_step.py checks compiled updates against eager ones)
    args = ["--set", "steps=100", "--set", "sample_every=100", "--set", "checkpoint_every=100",
            "--set", "compile=false"]  # fmt: skip
    assert main(["train", "grid25", "--out", str(out), "--quiet", *args]) == 0
    rows = (out / "coverage.csv").read_text().splitlines()
    assert rows[0] == "step,modes_covered,modes,high_quality,kl"
    step, covered, modes = rows[-1].split(",")[:3]
    assert (step, modes) == ("100", "25") and 0 <= int(covered) <= 25
