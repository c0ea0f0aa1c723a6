"""benchmarks/pacgan.py end to end on a tiny budget: the paper's networks as configs, one JSON
line per run, a rerun that trains nothing, the table and the figure."""

import importlib.util
import json
from pathlib import Path

import pytest

from ganlab.config import config_from_dict
from ganlab.models import build_discriminator, build_generator
from ganlab.models.mlp import Maxout

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "pacgan.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("pacgan_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paper_config_is_the_papers_2d_setup(bench):
    cfg = config_from_dict(bench.paper_config("grid", 2, seed=3, steps=10, threads=1))
    assert (cfg.noise.kind, cfg.noise.dim, cfg.noise.scale) == ("gaussian", 2, 1.0)
    assert cfg.m == 200 and cfg.discriminator.pack == 2  # 100 packs of 2 per minibatch
    assert cfg.update == "simultaneous" and cfg.g_loss == "nonsaturating"
    for opt in (cfg.g_optimizer, cfg.d_optimizer):
        assert (opt.name, opt.lr, opt.betas) == ("adam", 1e-4, (0.8, 0.999))
    assert (cfg.data.kind, cfg.data.n, cfg.data.std) == ("grid", 100_000, 0.05)
    G = build_generator(cfg.generator, cfg.noise.dim, (2,))
    layers = [type(m).__name__ for m in G.net]
    # 4 x (Linear 400, BatchNorm, ReLU), then a linear output of 2.
    assert layers == ["Linear", "BatchNorm1d", "ReLU"] * 4 + ["Linear", "Identity"]
    assert [m.out_features for m in G.net if type(m).__name__ == "Linear"] == [400] * 4 + [2]
    D = build_discriminator(cfg.discriminator, (2,))
    maxouts = [m for m in D.modules() if isinstance(m, Maxout)]
    assert [(m.units, m.pieces) for m in maxouts] == [(200, 5)] * 3
    assert maxouts[0].linear.in_features == 4  # a pack of 2 points of 2-D
    assert D.inner.net[-1].out_features == 1  # a linear logit
    # no dropout: every Dropout layer has p = 0
    assert all(m.p == 0 for m in D.modules() if type(m).__name__ == "Dropout")


def test_tiny_table_end_to_end_and_resumed(bench, tmp_path, capsys):
    out, fig = tmp_path / "r" / "results.jsonl", tmp_path / "fig.png"
    args = [
        "--seeds", "2", "--steps", "3", "--best-seeds", "1", "--best-steps", "3",
        "--cells", "gan-ring", "pac2-grid", "best-ring", "--out", str(out), "--figure", str(fig),
    ]  # fmt: skip
    text = bench.main(args)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["cell"], r["seed"]) for r in rows) == [
        ("best-ring", 0),
        ("gan-ring", 0),
        ("gan-ring", 1),
        ("pac2-grid", 0),
        ("pac2-grid", 1),
    ]
    pac = next(r for r in rows if r["cell"] == "pac2-grid")
    assert (pac["steps"], pac["m"], pac["pack"], pac["modes"]) == (3, 200, 2, 25)
    assert pac["epochs"] == pytest.approx(3 * 200 / 100_000)
    assert (out.parent / "samples" / "pac2-grid-s1-3.npy").is_file() and fig.is_file()
    lines = text.splitlines()
    assert lines[0].startswith("| data | method | seeds | steps | epochs | wall s/run |")
    gan_ring = next(line for line in lines if "| GAN |" in line and "ring" in line)
    assert "| 6.3 +- 0.5 |" in gan_ring and "| 98.2 |" in gan_ring and "| 0.45 |" in gan_ring
    assert "| 2 | 3 |" in gan_ring  # 2 seeds of 3 steps
    assert "ganlab ring8 preset" in text
    capsys.readouterr()
    again = bench.main(args)  # everything cached: nothing trains, the same table
    assert capsys.readouterr().out.startswith(f"5 of 5 runs already in {out}")
    assert again == text and len(out.read_text().splitlines()) == 5


def test_a_line_cut_short_is_ignored(bench, tmp_path):
    out = tmp_path / "results.jsonl"
    out.write_text('{"cell": "gan-ring", "seed": 0, "steps": 3}\n{"cell": "gan-r')
    assert bench.load_results(out) == [{"cell": "gan-ring", "seed": 0, "steps": 3}]
