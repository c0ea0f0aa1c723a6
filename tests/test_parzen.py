"""Parzen-window log-likelihood against independent float64 oracles, and `ganlab eval`."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from ganlab.cli import main
from ganlab.errors import ConfigError
from ganlab.metrics import parzen_log_likelihood, parzen_select_and_score
from ganlab.metrics.parzen import parzen_log_likelihoods
from ganlab.report.format import format_value


def direct_parzen(mu: np.ndarray, x: np.ndarray, sigma: float) -> np.ndarray:
    """The equation written out in float64: explicit differences, scipy's logsumexp."""
    d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(-1)  # (n, N)
    d = mu.shape[1]
    return (
        logsumexp(-d2 / (2 * sigma**2), axis=1)
        - math.log(len(mu))
        - d * math.log(sigma * math.sqrt(2 * math.pi))
    )


def image_like(n: int, d: int, seed: int) -> np.ndarray:
    """Points in [0, 1]^d, like flattened MNIST pixels (the float32 risk: ||x||^2 ~ d / 3)."""
    return np.random.default_rng(seed).random((n, d))


@pytest.mark.parametrize("sigma", [0.1, 0.3, 1.0])
def test_float64_matches_direct_computation(sigma):
    mu, x = image_like(300, 50, 0), image_like(120, 50, 1)
    got = parzen_log_likelihood(
        torch.from_numpy(mu), torch.from_numpy(x), sigma, chunk=50, dtype=torch.float64
    )
    # Both sides are float64 sums of ~50 products and one logsumexp over 300 terms; the
    # matrix-product form of ||x - mu||^2 loses ~eps * ||x||^2 / (2 sigma^2) ~ 1e-13 nats.
    torch.testing.assert_close(
        got, torch.from_numpy(direct_parzen(mu, x, sigma)), rtol=0, atol=1e-6
    )


def test_float32_mean_within_001_nats_of_float64_on_image_like_data():
    # MNIST-sized rows at the smallest sigma of the grid, where float32 cancellation in
    # ||x||^2 + ||mu||^2 - 2 x.mu is amplified most (by 1 / (2 sigma^2) = 50).
    mu, x = image_like(1000, 784, 2), image_like(200, 784, 3)
    mu[:200] = np.clip(x + 0.02 * np.random.default_rng(4).standard_normal(x.shape), 0, 1)
    for sigma in (0.1, 0.2):
        ref = direct_parzen(mu, x, sigma)
        got = parzen_log_likelihood(
            torch.from_numpy(mu), torch.from_numpy(x), sigma, dtype=torch.float32
        )
        # The requirement: float32 distances are used only if the mean LL stays
        # within 0.01 nats of float64.
        assert abs(float(got.mean()) - ref.mean()) < 0.01
        assert float((got - torch.from_numpy(ref)).abs().max()) < 0.1


def test_one_sample_is_the_gaussian_density():
    mu = np.array([[0.3, -1.2, 2.0]])
    x = np.random.default_rng(5).standard_normal((20, 3))
    for sigma in (0.1, 0.5, 2.0):
        got = parzen_log_likelihood(
            torch.from_numpy(mu), torch.from_numpy(x), sigma, dtype=torch.float64
        )
        want = multivariate_normal(mu[0], sigma**2 * np.eye(3)).logpdf(x)
        # With N = 1, log p(x) = log N(x; mu, sigma^2 I) exactly; float64 rounding only.
        torch.testing.assert_close(got, torch.from_numpy(want), rtol=0, atol=1e-9)


def test_sigma_selection_maximises_validation_ll_and_se_formula():
    rng = np.random.default_rng(6)
    mu, valid, test = rng.random((200, 10)), rng.random((80, 10)), rng.random((90, 10))
    sigmas = np.logspace(-1, 0, 10)
    score = parzen_select_and_score(
        torch.from_numpy(mu),
        torch.from_numpy(valid),
        torch.from_numpy(test),
        sigmas,
        dtype=torch.float64,
    )
    brute = [direct_parzen(mu, valid, s).mean() for s in sigmas]
    assert score.sigma == sigmas[int(np.argmax(brute))]
    # The argmax must be interior here, or the test could pass by picking an end of the grid.
    assert 0 < int(np.argmax(brute)) < len(sigmas) - 1
    np.testing.assert_allclose(score.valid_ll, brute, rtol=0, atol=1e-6)
    ll = direct_parzen(mu, test, score.sigma)
    # parzen_ll.py: mean of the test LLs, SE = numpy std (ddof=0) / sqrt(n).
    assert score.mean == pytest.approx(ll.mean(), abs=1e-6)
    assert score.se == pytest.approx(ll.std() / math.sqrt(len(ll)), abs=1e-9)


# BLAS blocks a (1, d) x (d, N) product differently from a (50, d) x (d, N) one, so distances
# may differ in the last bit: ~eps * ||x||^2 ~ 1e-6 (float32) or 2e-15 (float64), amplified by
# 1 / (2 sigma^2) = 50 at sigma = 0.1. The tolerances are ~10x those bounds.
@pytest.mark.parametrize("dtype, atol", [(torch.float32, 5e-4), (torch.float64, 1e-12)])
def test_chunking_does_not_change_the_result(dtype, atol):
    mu, x = torch.from_numpy(image_like(150, 20, 7)), torch.from_numpy(image_like(101, 20, 8))
    sigmas = [0.1, 0.4, 1.0]
    whole = parzen_log_likelihoods(mu, x, sigmas, chunk=1000, dtype=dtype)
    for chunk in (1, 7, 50):
        got = parzen_log_likelihoods(mu, x, sigmas, chunk, dtype)
        torch.testing.assert_close(got, whole, rtol=0, atol=atol)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="dims"):
        parzen_log_likelihood(torch.zeros(3, 2), torch.zeros(4, 3), 0.5)
    with pytest.raises(ValueError, match="sigma"):
        parzen_log_likelihood(torch.zeros(3, 2), torch.zeros(4, 2), 0.0)


def test_eval_parzen_on_a_toy_run_writes_parzen_json(ring_run, capsys):
    args = [
        "eval",
        str(ring_run),
        "--parzen",
        "--samples",
        "500",
        "--valid",
        "200",
        "--test",
        "300",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    result = json.loads((ring_run / "parzen.json").read_text())
    assert result["sigma"] in result["sigmas"]
    assert result["valid_ll"][result["sigmas"].index(result["sigma"])] == max(result["valid_ll"])
    assert (result["samples"], result["valid"], result["test"]) == (500, 200, 300)
    assert f"{format_value(result['mean_ll'])} +- {format_value(result['se'])} nats" in out
    assert np.isfinite(result["mean_ll"]) and result["se"] > 0
    # Same seeds for samples and test points: a second evaluation gives the same number.
    assert main(args) == 0
    assert json.loads((ring_run / "parzen.json").read_text())["mean_ll"] == result["mean_ll"]


def test_eval_errors_are_one_line(ring_run, tmp_path, capsys):
    assert main(["eval", str(tmp_path / "nope"), "--parzen"]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1
    # no metric named: what fits is chosen (test_features), but a bad count is still refused
    assert main(["eval", str(ring_run), "--samples", "0"]) == 2
    assert "--samples must be >= 1" in capsys.readouterr().err
    assert main(["eval", str(ring_run), "--parzen", "--dataset", "cifar10"]) == 2
    assert "applies only to --parzen on an image run" in capsys.readouterr().err
    from ganlab.metrics.parzen_run import check_dataset

    with pytest.raises(ConfigError, match="--dataset cifar10: no Parzen test set; use mnist or"):
        check_dataset("cifar10", True, "folder", (3, 32, 32), False)  # an image run
    assert main(["eval", str(ring_run), "--parzen", "--samples", "0"]) == 2
    assert "--samples must be >= 1" in capsys.readouterr().err


def test_eval_dimension_mismatch_is_one_line(ring_run, monkeypatch):
    # MNIST test images (784-d) against the ring's 2-d samples, without touching the network;
    # the CLI refuses --dataset on a toy run before this (test_eval_refuses_a_dataset_...), so
    # the library's own check is called here.
    import ganlab.data
    from ganlab.errors import DataError
    from ganlab.metrics.parzen_run import parzen_of_run
    from ganlab.runs.api import load_run

    fake_split = lambda name, split, path=None: (torch.rand(5, 1, 28, 28),)  # noqa: E731
    monkeypatch.setattr(ganlab.data, "load_split", fake_split)
    with pytest.raises(DataError, match="784 dims but the run's samples have 2"):
        parzen_of_run(load_run(ring_run), samples=50, valid=5, test=5, seed=0, dataset="mnist")


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--dataset", "mnist"], "and this evaluation has no --parzen; drop --dataset"),
        (["--metrics", "coverage", "--dataset", "mnist"], "has no --parzen; drop --dataset"),
        (
            ["--parzen", "--dataset", "mnist"],
            "this run's data ring (2) is a toy density, scored on fresh draws of itself; drop "
            "--dataset",
        ),
    ],
)
def test_eval_refuses_a_dataset_it_would_not_read(ring_run, capsys, flags, says):
    before = sorted(p.name for p in ring_run.iterdir())
    assert main(["eval", str(ring_run), "--quiet", *flags]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(
        "ganlab: error: --dataset (mnist or fashion_mnist) applies only to --parzen on an image run"
    )
    assert says in captured.err and captured.err.count("\n") == 1
    assert captured.out == ""  # refused before anything is evaluated or said
    assert sorted(p.name for p in ring_run.iterdir()) == before


@pytest.mark.parametrize(
    ("grid", "end", "wider"),
    [("10,100", "smallest", "--sigma-grid 1,100"), ("0.0001,0.001", "largest", "0.0001,0.01")],
)
def test_eval_parzen_warns_when_sigma_is_at_the_edge_of_its_grid(
    ring_run, tmp_path, capsys, grid, end, wider
):
    # The ring's points lie ~0.1 from its modes; widths of 10 or more blur every sample over
    # the whole ring (the smallest wins), widths of 1e-3 or less give a validation point almost
    # no density (the largest wins).
    run = shutil.copytree(ring_run, tmp_path / "run")
    for path in run.glob("parzen*.json"):  # what this module's other tests left
        path.unlink()
    args = ["eval", str(run), "--parzen", "--samples", "200", "--valid", "100", "--test", "100"]
    assert main([*args, "--quiet", "--sigma-grid", grid]) == 0
    err = capsys.readouterr().err
    doc = json.loads((run / "parzen.json").read_text())
    assert doc["sigma"] == doc["sigmas"][0 if end == "smallest" else -1]
    assert err.startswith(
        f"ganlab: warning: Parzen: sigma {format_value(doc['sigma'])} is the {end}"
    )
    assert "lies at or beyond its edge" in err and err.rstrip().endswith(wider)
    assert err.count("\n") == 1
    # a grid wide enough for the optimum inside it: nothing to say
    assert main([*args, "--quiet", "--sigma-grid", "0.001,100"]) == 0
    assert capsys.readouterr().err == ""
    doc = json.loads((run / "parzen-2.json").read_text())
    assert doc["sigmas"][0] < doc["sigma"] < doc["sigmas"][-1]
    assert doc["options"].endswith("--sigma-grid 0.001,100")


def test_eval_sigma_grid_errors_are_one_line(ring_run, capsys):
    for flags, says in (
        (["--parzen", "--sigma-grid", "1,0.1"], "--sigma-grid must be LO,HI with 0 < LO < HI"),
        (["--parzen", "--sigma-grid", "0.1"], "got '0.1'; e.g. --sigma-grid 0.01,1"),
        (["--metrics", "coverage", "--sigma-grid", "0.01,1"], "applies only to --parzen"),
    ):
        assert main(["eval", str(ring_run), *flags]) == 2
        captured = capsys.readouterr()
        assert says in captured.err and captured.err.count("\n") == 1 and not captured.out
