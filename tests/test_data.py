"""Toy distributions and minibatch sources."""

import math

import numpy as np
import pytest
import torch

from ganlab.config import DataConfig
from ganlab.data import TensorSource, build_data, distribution_of, grid, load_array, ring
from ganlab.errors import DataError


def test_ring_and_grid_centres_follow_the_literature():
    r = ring()
    assert r.centres.shape == (8, 2)
    torch.testing.assert_close(r.centres.norm(dim=1), torch.ones(8, dtype=torch.float64))
    assert float(r.stds[0]) == 0.01
    g = grid()
    assert sorted(set(g.centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert g.centres.shape == (25, 2) and float(g.stds[0]) == 0.05
    assert ring(modes=5, radius=2.0, std=0.1).centres.norm(dim=1).max() == pytest.approx(2.0)


def test_samples_have_the_stated_moments():
    gen = torch.Generator().manual_seed(0)
    x = distribution_of(DataConfig(kind="gauss1d", mean=4.0, std=0.5)).sample(200_000, gen)
    # Standard errors: 0.5/sqrt(2e5) ~ 1.1e-3 for the mean, ~7.9e-4 for the std; 5e-3 is > 4 SE.
    assert float(x.mean()) == pytest.approx(4.0, abs=5e-3)
    assert float(x.std()) == pytest.approx(0.5, abs=5e-3)
    pts = ring().sample(80_000, gen)
    nearest = torch.cdist(pts.double(), ring().centres).min(dim=1)
    # Distances to the centre are Rayleigh(0.01): mean 0.01 sqrt(pi/2); SE ~ 1.8e-5.
    assert float(nearest.values.mean()) == pytest.approx(0.01 * math.sqrt(math.pi / 2), rel=0.01)
    counts = torch.bincount(nearest.indices, minlength=8).double()
    assert float(counts.min()) > 0.95 * 10_000  # 10,000 expected per mode, SD ~ 94


def test_log_prob_integrates_to_one():
    d = distribution_of(DataConfig(kind="mixture1d", means=[-2.0, 1.0], weights=[1.0, 3.0]))
    x = torch.linspace(-10, 10, 20001, dtype=torch.float64)[:, None]
    mass = torch.trapezoid(d.log_prob(x).exp(), x[:, 0])
    assert float(mass) == pytest.approx(1.0, abs=1e-9)  # trapezoid error ~1e-12 on smooth tails


def test_sources_are_seeded_and_restorable():
    a = build_data(DataConfig(kind="ring"), seed=3)
    b = build_data(DataConfig(kind="ring"), seed=3)
    torch.testing.assert_close(a.sample(16), b.sample(16))
    state = a.state_dict()
    first = a.sample(16)
    a.load_state_dict(state)
    torch.testing.assert_close(a.sample(16), first)


def test_tensor_source_visits_every_example_once_per_epoch():
    x = torch.arange(10.0)[:, None]
    src = TensorSource(x, seed=0)
    seen = torch.cat([src.sample(5), src.sample(5)])[:, 0]
    assert sorted(seen.tolist()) == list(range(10))
    state = src.state_dict()
    nxt = src.sample(3)
    src.load_state_dict(state)
    torch.testing.assert_close(src.sample(3), nxt)
    with pytest.raises(DataError, match="larger than the 10 training examples"):
        src.sample(11)


def test_fixed_training_set_of_n_points():
    src = build_data(DataConfig(kind="grid", n=100), seed=0)
    assert src.size == 100 and src.x_shape == (2,)


def test_bad_arrays_are_rejected(tmp_path):
    bad = tmp_path / "nan.npy"
    np.save(bad, np.array([[0.0, np.nan]]))
    with pytest.raises(DataError, match="NaN or Inf"):
        load_array(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_array(tmp_path / "missing.npy")
    two = tmp_path / "two.npz"
    np.savez(two, a=np.zeros((3, 2)), b=np.zeros(3))
    with pytest.raises(DataError, match="name the examples 'x'"):
        load_array(two)
    good = tmp_path / "pts.npz"
    np.savez(good, x=np.ones((5, 2)))
    assert load_array(good).shape == (5, 2)
