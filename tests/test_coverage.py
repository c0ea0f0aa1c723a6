"""The 2-D mode metric against an independent implementation on planted samples."""

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree
from scipy.stats import entropy

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
