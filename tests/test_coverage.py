"""The 2-D mode metric against an independent implementation on planted samples."""

import json

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from scipy.stats import entropy

from ganlab.cli import main
from ganlab.data import grid, ring
from ganlab.metrics import mode_coverage


def reference(samples: np.ndarray, centres: np.ndarray, std: float) -> dict:
    """The VEEGAN/PacGAN protocol written another way: a k-d tree for nearest centres and
    scipy's entropy for KL(q || uniform)."""
    dist, nearest = cKDTree(centres).query(samples)
    good = nearest[dist <= 3 * std]
    counts = np.bincount(good, minlength=len(centres))
    kl = entropy(counts, np.ones(len(centres))) if len(good) else float("inf")
    return {"modes_covered": int((counts > 0).sum()), "high_quality": len(good) / len(samples),
            "kl": float(kl)}  # fmt: skip


def planted(kind: str, dist, rng: np.random.Generator) -> np.ndarray:
    c, s = dist.centres.numpy(), float(dist.stds[0])
    if kind == "all modes":
        return c[rng.integers(len(c), size=2500)] + s * rng.standard_normal((2500, 2))
    if kind == "one mode":
        return c[3] + s * rng.standard_normal((2500, 2))
    # off-manifold noise: uniform over the data's bounding box, most of it far from any mode
    lo, hi = c.min(0) - 1, c.max(0) + 1
    return rng.uniform(lo, hi, size=(2500, 2))


@pytest.mark.parametrize("name,dist", [("ring", ring(8, 1.0, 0.01)), ("grid", grid(5, 2.0, 0.05))])
@pytest.mark.parametrize("kind", ["all modes", "one mode", "off-manifold noise"])
def test_agrees_with_an_independent_implementation(name, dist, kind):
    x = planted(kind, dist, np.random.default_rng(0))
    ours = mode_coverage(torch.from_numpy(x), dist.centres, float(dist.stds[0]))
    ref = reference(x, dist.centres.numpy(), float(dist.stds[0]))
    assert ours["modes_covered"] == ref["modes_covered"]
    assert ours["high_quality"] == ref["high_quality"]
    assert ours["kl"] == pytest.approx(ref["kl"], abs=1e-12)  # same sums, float64 both
    if kind == "all modes":  # 3 std holds 98.9% of a 2-D Gaussian's mass
        assert ours["modes_covered"] == len(dist.centres) and ours["high_quality"] > 0.97
        assert ours["kl"] < 0.02  # 2,500 draws over 8 or 25 modes: small sampling KL
    if kind == "one mode":
        assert ours["modes_covered"] == 1
        assert ours["kl"] == pytest.approx(np.log(len(dist.centres)))  # log K: all on one
    if kind == "off-manifold noise":
        assert ours["high_quality"] < 0.05


def test_sample_output_scored_separately_matches_ganlab_eval(tmp_path):
    # What a reviewer does: `ganlab sample` 2,500 points, score them with their own evaluator
    # (the k-d tree one above), and compare with `ganlab eval --metrics coverage`.
    run = tmp_path / "run"
    assert main(["train", "ring8", "--set", "steps=400", "--set", "threads=1", "--out", str(run),
                 "--quiet"]) == 0  # fmt: skip
    assert main(["sample", str(run), "-n", "2500", "--out", str(tmp_path / "s.npy")]) == 0
    assert main(["eval", str(run), "--metrics", "coverage", "--quiet"]) == 0
    doc = json.loads((run / "metrics.json").read_text())
    ours = doc["metrics"]["mode_coverage"]
    assert doc["samples"] == ours["n_fake"] == 2500  # the protocol's sample size by default
    dist = ring(8, 1.0, 0.01)
    ref = reference(np.load(tmp_path / "s.npy"), dist.centres.numpy(), 0.01)
    assert ours["modes_covered"] == ref["modes_covered"] > 0
    # high_quality is rounded to 4 decimals in metrics.json
    assert ours["high_quality"] == pytest.approx(ref["high_quality"], abs=5e-5)
    assert ours["kl"] == pytest.approx(ref["kl"], abs=1e-9)
