"""FID, KID, precision/recall, density/coverage and digit coverage on synthetic features, against
closed forms and independent brute-force oracles; `ganlab eval --metrics` errors and the 2-D
mode coverage. Seconds, no MNIST."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from ganlab.cli import main
from ganlab.metrics import features as ft
from ganlab.metrics.features import (
    digit_coverage,
    frechet_distance,
    kernel_distance,
    knn_radii,
    precision_recall_density_coverage,
)
from ganlab.runs.evaluation import evaluation_file


def gaussian(n, d, seed, scale=1.0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64) * scale + shift


def fid_oracle_nuclear(a: np.ndarray, b: np.ndarray) -> float:
    """FID from the data matrices, valid at any rank: with S_a = A^T A, S_b = B^T B (centred
    rows / sqrt(n - 1)), the non-zero eigenvalues of S_a S_b are those of (A B^T)(A B^T)^T, so
    Tr (S_a S_b)^(1/2) is the sum of the singular values of A B^T; with thin QR factors
    A = Q_a R_a, B = Q_b R_b, those of the small R_a R_b^T."""
    A = (a - a.mean(0)) / math.sqrt(len(a) - 1)
    B = (b - b.mean(0)) / math.sqrt(len(b) - 1)
    r_a, r_b = np.linalg.qr(A, mode="r"), np.linalg.qr(B, mode="r")
    trace_root = np.linalg.svd(r_a @ r_b.T, compute_uv=False).sum()
    mean_term = ((a.mean(0) - b.mean(0)) ** 2).sum()
    return float(mean_term + (A * A).sum() + (B * B).sum() - 2 * trace_root)


# ---------------------------------------------------------------------------------------------
# FID


def test_fid_matches_scipy_sqrtm_on_well_conditioned_covariances():
    a, b = gaussian(3000, 8, 0), gaussian(3000, 8, 1, scale=1.5, shift=0.3)
    got = frechet_distance(a, b)
    mu_a, mu_b = a.numpy().mean(0), b.numpy().mean(0)
    s_a, s_b = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    want = ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * sqrtm(s_a @ s_b).real)
    # Two float64 routes (eigenvalues of S_a S_b vs scipy's Schur sqrtm) on covariances of
    # condition ~3: both accurate to ~1e-12 relative.
    assert got.value == pytest.approx(want, rel=1e-9)
    assert (got.eps, got.note) == (0.0, "")
    assert got.value == pytest.approx(fid_oracle_nuclear(a.numpy(), b.numpy()), rel=1e-9)


def test_fid_of_a_set_with_itself_is_zero():
    f = torch.exp(gaussian(500, 32, 2))  # skewed, like ReLU features
    got = frechet_distance(f, f)
    scale = 2 * float(torch.cov(f.T).trace())
    # Equal moments: 0 up to the rounding of d square roots of eigenvalues (~1e-8 relative).
    assert got.value == pytest.approx(0.0, abs=1e-7 * scale) and got.eps == 0.0


def test_fid_grows_monotonically_with_gaussian_noise_and_follows_the_closed_form():
    d = 16
    real, base = gaussian(4000, d, 3), gaussian(4000, d, 4)
    noise = gaussian(4000, d, 5)  # one draw scaled, so that only sigma changes between points
    sigmas = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]
    fids = [frechet_distance(real, base + s * noise).value for s in sigmas]
    assert all(a < b for a, b in zip(fids, fids[1:], strict=False)), fids
    # N(0, I) vs N(0, (1 + sigma^2) I): FID = d (sqrt(1 + sigma^2) - 1)^2. The sample estimate
    # adds a bias ~ d^2 / n ~ 0.06 and sampling error of the same size.
    for s, got in zip(sigmas, fids, strict=True):
        assert got == pytest.approx(d * (math.sqrt(1 + s**2) - 1) ** 2, abs=0.15, rel=0.05)


def test_fid_with_fewer_samples_than_features():
    a, b = gaussian(20, 64, 6), gaussian(30, 64, 7, scale=2.0)
    got = frechet_distance(a, b)
    assert "fewer samples (20) than features (64)" in got.note and got.eps == 0.0
    # Rank-19 and rank-29 covariances: eigenvalues that are 0 come out as +-1e-14, whose square
    # roots reach ~1e-7 each; 1e-6 relative covers d of them.
    assert got.value == pytest.approx(fid_oracle_nuclear(a.numpy(), b.numpy()), rel=1e-6)
    assert frechet_distance(a, a).value == pytest.approx(0.0, abs=1e-3)


def test_fid_with_singular_covariances():
    a, b = gaussian(400, 24, 8), gaussian(400, 24, 9, scale=0.5, shift=1.0)
    for f in (a, b):
        f[:, 12:18] = 3.0  # constant features: zero variance
        f[:, 18:] = f[:, :6] * 2.0  # exactly collinear features
    got = frechet_distance(a, b)
    assert got.eps == 0.0 and got.note == ""
    assert got.value == pytest.approx(fid_oracle_nuclear(a.numpy(), b.numpy()), rel=1e-6)


def test_fid_falls_back_to_eps_and_says_so(monkeypatch):
    monkeypatch.setattr(ft, "_torchmetrics_fid", lambda real, fake: float("nan"))
    a, b = gaussian(2000, 16, 10), gaussian(2000, 16, 11, shift=0.2)
    got = frechet_distance(a, b, eps=1e-6)
    assert got.eps == 1e-6 and "eps=1e-06 added" in got.note
    # Covariances of condition ~1.5: eps I moves each of the d terms by ~eps.
    assert got.value == pytest.approx(fid_oracle_nuclear(a.numpy(), b.numpy()), abs=1e-4)
    monkeypatch.setattr(ft, "frechet_from_moments", lambda *moments: float("nan"))
    failed = frechet_distance(a, b)
    assert failed.value is None and failed.note.startswith("cannot:")


def test_fid_reports_when_it_cannot():
    one = frechet_distance(gaussian(1, 4, 12), gaussian(10, 4, 13))
    assert one.value is None and "needs >= 2 samples" in one.note
    bad = gaussian(10, 4, 14)
    bad[3, 1] = float("nan")
    assert frechet_distance(bad, gaussian(10, 4, 15)).note == (
        "cannot: the features contain NaN or inf"
    )


# ---------------------------------------------------------------------------------------------
# KID


def unbiased_mmd2_poly(x: np.ndarray, y: np.ndarray) -> float:
    """Binkowski et al.'s estimator written out: off-diagonal means and the full cross mean."""
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = ~np.eye(m, dtype=bool)
    return float(kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean())


def test_kid_with_one_full_subset_is_the_unbiased_mmd():
    x, y = gaussian(120, 6, 16), gaussian(120, 6, 17, shift=0.5)
    got = kernel_distance(x, y, subsets=1, subset_size=120)
    # One subset of every sample: a permutation of each set, which the estimator ignores.
    assert got.value == pytest.approx(unbiased_mmd2_poly(x.numpy(), y.numpy()), rel=1e-10)
    assert got.std == 0.0


def test_kid_is_near_zero_for_one_distribution_and_not_for_two():
    same = kernel_distance(gaussian(2000, 16, 18), gaussian(2000, 16, 19), 50, 500, seed=1)
    shifted = kernel_distance(gaussian(2000, 16, 18), gaussian(2000, 16, 20, shift=0.3), 50, 500)
    # Unbiased: mean 0 for one distribution; one subset's estimate spreads by `std`, and the
    # mean of 50 (overlapping) subsets spreads less.
    assert abs(same.value) < same.std
    assert shifted.value > 20 * abs(same.value) and shifted.value > 3 * shifted.std
    again = kernel_distance(gaussian(2000, 16, 18), gaussian(2000, 16, 19), 50, 500, seed=1)
    assert again.value == same.value  # subsets come from the seed


def test_kid_cuts_the_subset_to_the_sets():
    got = kernel_distance(gaussian(50, 4, 21), gaussian(40, 4, 22), subsets=5, subset_size=1000)
    assert got.subset_size == 40 and "cut to 40" in got.note
    assert kernel_distance(gaussian(1, 4, 23), gaussian(40, 4, 24)).value is None


# ---------------------------------------------------------------------------------------------
# Precision / recall / density / coverage


def prdc_oracle(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> tuple:
    """The four equations with explicit differences and full sorts (no chunks, no matmul)."""
    d_rr = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    d_ff = np.sqrt(((fake[:, None] - fake[None]) ** 2).sum(-1))
    d_rf = np.sqrt(((real[:, None] - fake[None]) ** 2).sum(-1))  # (N, M)
    r_pr = np.sort(d_rr, axis=1)[:, k_pr]  # column 0 is the point itself
    r_dc = np.sort(d_rr, axis=1)[:, k_dc]
    f_pr = np.sort(d_ff, axis=1)[:, k_pr]
    precision = (d_rf < r_pr[:, None]).any(0).mean()
    recall = (d_rf < f_pr[None, :]).any(1).mean()
    density = (d_rf < r_dc[:, None]).sum() / (k_dc * len(fake))
    coverage = (d_rf.min(1) < r_dc).mean()
    return precision, recall, density, coverage


def test_prdc_matches_brute_force_oracle():
    real = gaussian(90, 5, 25).numpy()
    fake = (gaussian(70, 5, 26, scale=1.3, shift=0.4)).numpy()
    got = precision_recall_density_coverage(torch.from_numpy(real), torch.from_numpy(fake), chunk=7)
    want = prdc_oracle(real, fake)
    # Continuous random points: no distance lies within rounding (1e-15) of a radius, so the
    # counts, and the shares, agree exactly.
    assert (got.precision, got.recall, got.density, got.coverage) == pytest.approx(want, abs=0)
    whole = precision_recall_density_coverage(torch.from_numpy(real), torch.from_numpy(fake))
    assert whole == got  # chunking changes nothing


def test_prdc_planted_copies_of_half_the_modes():
    # Real: two far-apart clusters of 40 points. Fake: exact copies of cluster A only.
    a, b = gaussian(40, 3, 27, scale=0.01), gaussian(40, 3, 28, scale=0.01, shift=10.0)
    got = precision_recall_density_coverage(torch.cat([a, b]), a.clone())
    # Every fake sits on a real point (distance ~1e-9 after rounding, radius ~1e-2): precision
    # 1; cluster A's reals sit on fakes, B's are 17 units from any: recall = coverage = 1/2.
    assert (got.precision, got.recall, got.coverage) == (1.0, 0.5, 0.5)
    far = precision_recall_density_coverage(torch.cat([a, b]), a + 100.0)
    assert (far.precision, far.recall, far.density, far.coverage) == (0.0, 0.0, 0.0, 0.0)


def test_density_and_coverage_expectations_for_one_distribution():
    got = precision_recall_density_coverage(gaussian(3000, 4, 29), gaussian(3000, 4, 30))
    # Naeem et al.: E[density] = 1, and E[coverage] = 1 - (1/2)^k for N = M large (0.969, k=5).
    # Sampling spread at n = 3,000 is ~0.02 (density) and ~0.003 (coverage).
    assert got.density == pytest.approx(1.0, abs=0.06)
    assert got.coverage == pytest.approx(1 - 0.5**5, abs=0.012)
    assert got.precision > 0.7 and got.recall > 0.7


def test_knn_radii_on_a_line():
    x = torch.arange(10, dtype=torch.float64)[:, None]  # 0, 1, ..., 9
    r = knn_radii(x, (1, 3), chunk=4)
    torch.testing.assert_close(r[1], torch.ones(10, dtype=torch.float64))
    # 3rd nearest: interior points have neighbours at 1, 1, 2 (points 1..8); the ends 1, 2, 3.
    want = torch.tensor([3, 2, 2, 2, 2, 2, 2, 2, 2, 3], dtype=torch.float64)
    torch.testing.assert_close(r[3], want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="more than 3 points"):
        knn_radii(x[:3], (3,))


# ---------------------------------------------------------------------------------------------
# Digit coverage


def test_digit_coverage_histogram_and_kl():
    labels = torch.tensor([0, 1, 2, 3] * 25)  # uniform over 4 classes
    got = digit_coverage(torch.tensor([0] * 6 + [1] * 2), labels, classes=4)
    assert got.counts == [6, 2, 0, 0] and got.covered == 2 and got.classes == 4
    # q = (3/4, 1/4, 0, 0), p = 1/4 each: KL = 3/4 log 3 + 1/4 log 1.
    assert got.kl == pytest.approx(0.75 * math.log(3), abs=1e-12)
    same = digit_coverage(labels, labels, classes=4)
    assert same.kl == 0.0 and same.covered == 4


def test_digit_figure_is_written(tmp_path):
    labels = torch.arange(10).repeat(10)
    fake = digit_coverage(torch.tensor([1] * 50 + [7] * 50), labels)
    path = ft.save_digit_figure(tmp_path / "digits.png", fake, digit_coverage(labels, labels))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
# ganlab eval --metrics


def test_eval_coverage_on_a_toy_run_writes_metrics_json(ring_run, capsys):
    assert main(["eval", str(ring_run), "--metrics", "coverage", "--samples", "2500"]) == 0
    out = capsys.readouterr().out
    result = json.loads((ring_run / "metrics.json").read_text())
    m = result["metrics"]["mode_coverage"]
    assert result["samples"] == 2500 and result["seed"] == 4  # ring8's seed 0, + 4
    assert m["modes"] == 8 and sum(m["counts"]) == round(m["high_quality"] * 2500)
    # The floor: 2,500 draws of the ring itself cover every mode, and a 2-D Gaussian puts
    # 1 - exp(-3^2 / 2) = 98.9% within 3 std (binomial spread at n = 2,500: 0.2%).
    assert m["floor"]["modes_covered"] == 8
    assert m["floor"]["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.008)
    assert m["definition"] and f"{m['modes_covered']}/8 modes" in out


def test_eval_keeps_an_earlier_evaluation_asked_with_other_options(ring_run, tmp_path, capsys):
    run = shutil.copytree(ring_run, tmp_path / "run")
    for path in run.glob("metrics*.json"):  # what this module's other tests left
        path.unlink()
    args = ["eval", str(run), "--metrics", "coverage", "--quiet", "--samples"]
    assert main([*args, "300"]) == 0
    first = (run / "metrics.json").read_bytes()
    assert json.loads(first)["samples"] == 300
    capsys.readouterr()
    assert main([*args, "200"]) == 0
    out = capsys.readouterr().out
    assert (run / "metrics.json").read_bytes() == first  # the user's earlier numbers stay
    second = json.loads((run / "metrics-2.json").read_text())
    assert second["samples"] == 200
    assert second["options"] == "--step 20 --metrics coverage --samples 200 --test 10000 --seed 4"
    assert f"wrote {run / 'metrics-2.json'} (metrics.json keeps an earlier evaluation" in out
    # the same request again: its own file, rewritten with the same numbers, and no third
    assert main([*args, "200"]) == 0
    assert sorted(p.name for p in run.glob("metrics*.json")) == ["metrics-2.json", "metrics.json"]
    assert json.loads((run / "metrics-2.json").read_text()) == second
    assert (run / "metrics.json").read_bytes() == first
    assert not list(run.glob(".*tmp*"))
    # an evaluation another process is running holds its name: this one takes the next
    claim = run / ".metrics-3.json.claim"
    claim.touch()
    assert main([*args, "100"]) == 0
    assert json.loads((run / "metrics-4.json").read_text())["samples"] == 100
    assert claim.exists() and not (run / "metrics-3.json").exists()
    assert not list(run.glob(".metrics-4*"))  # its own claim is gone


def test_two_evaluations_at_once_never_pick_the_same_file(tmp_path):
    # evaluation_file is held while an evaluation runs: a second one with other options, started
    # meanwhile, must get another name (both saw only metrics.json in the folder)
    (tmp_path / "metrics.json").write_text(json.dumps({"options": "a"}))
    with evaluation_file(tmp_path, "metrics", "b") as first:
        with evaluation_file(tmp_path, "metrics", "c") as second:
            assert (first.name, second.name) == ("metrics-2.json", "metrics-3.json")
            assert (tmp_path / ".metrics-2.json.claim").exists()
        first.write_text(json.dumps({"options": "b"}))
    assert not list(tmp_path.glob(".*.claim"))
    with evaluation_file(tmp_path, "metrics", "b") as again:  # the same options: its file
        assert again.name == "metrics-2.json"
    with pytest.raises(RuntimeError), evaluation_file(tmp_path, "metrics", "d"):
        raise RuntimeError("the evaluation failed")
    assert not list(tmp_path.glob(".*.claim"))  # a failed evaluation leaves no claim


def test_eval_without_flags_evaluates_what_fits_the_run(ring_run, tiny_run, capsys):
    # a 2-D mixture: mode coverage, said first, written to metrics.json as --metrics coverage
    (ring_run / "metrics.json").unlink(missing_ok=True)
    assert main(["eval", str(ring_run), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("evaluating mode coverage (--metrics coverage)"), out[0]
    assert "ring (2)" in out[0]
    assert "mode_coverage" in json.loads((ring_run / "metrics.json").read_text())["metrics"]
    # a 1-D density: the Parzen window on fresh draws
    args = ["--samples", "50", "--valid", "20", "--test", "30", "--quiet"]
    assert main(["eval", str(tiny_run), *args]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("evaluating the Parzen window (--parzen)"), out[0]
    assert json.loads((tiny_run / "parzen.json").read_text())["test"] == 30
    assert not (tiny_run / "metrics.json").exists()


@pytest.mark.parametrize(
    ("kind", "shape", "toy_dim", "names", "parzen"),
    [
        ("ring", (2,), 2, ["coverage"], False),
        ("grid", (2,), 2, ["coverage"], False),
        # the image metrics that need no download: the classifier is trained here, not Inception
        ("mnist", (1, 28, 28), None, ["fid", "kid", "prdc", "digits"], False),
        ("stacked_mnist", (3, 28, 28), None, ["stacked"], False),
        ("gauss1d", (1,), 1, [], True),
        ("fashion_mnist", (1, 28, 28), None, [], True),
    ],
)
def test_fitting_metrics_by_data(kind, shape, toy_dim, names, parzen):
    from ganlab.metrics.evaluate import fitting_metrics

    got_names, got_parzen, line = fitting_metrics(kind, shape, toy_dim)
    assert (got_names, got_parzen) == (names, parzen)
    assert line.startswith("evaluating ") and kind in line


def test_eval_without_flags_scores_your_own_data_against_its_training_examples():
    from ganlab.metrics.evaluate import fitting_metrics

    for kind, shape in (("digits", (1, 8, 8)), ("csv", (2,)), ("images", (3, 32, 32))):
        names, parzen, line = fitting_metrics(kind, shape, None)
        assert (names, parzen) == (["knn"], False) and "k-NN precision" in line


def _moons(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g) * math.pi
    upper = torch.rand(n, generator=g) < 0.5
    x = torch.where(upper[:, None], torch.stack([t.cos(), t.sin()], 1),
                    torch.stack([1 - t.cos(), 0.5 - t.sin()], 1))  # fmt: skip
    return x + 0.1 * torch.randn(n, 2, generator=g) + shift


def test_knn_metrics_read_quality_and_diversity_in_the_datas_own_space(tmp_path):
    from types import SimpleNamespace

    from ganlab.config import DataConfig
    from ganlab.metrics.data_space import FEATURES, data_features, knn_metrics

    np.savetxt(tmp_path / "moons.csv", _moons(4000, 0).numpy(), delimiter=",")
    data = DataConfig(kind="csv", path=str(tmp_path / "moons.csv"))
    run = SimpleNamespace(path=tmp_path, config=SimpleNamespace(data=data))  # no meta.json

    def scores(fake):
        out = knn_metrics(run, fake, n_real=2000, seed=0)["metrics"]
        return {k.removeprefix("knn_"): (m["value"], m["floor"]) for k, m in out.items()}

    # Fresh draws of the data score as its own examples do. The floor of 2,000 examples
    # against 2,000 measured 0.96-0.99 on every share (density ~1); 0.05 covers two
    # independent 2,000-point estimates of shares near 0.97 (binomial sd ~0.004 each) and the
    # k-NN balls' own spread from one subset to another.
    same = scores(_moons(3000, 1))
    for key in ("precision", "recall", "coverage"):
        value, floor = same[key]
        assert floor > 0.9 and abs(value - floor) < 0.05, (key, same)
    assert abs(same["density"][0] - 1) < 0.15
    # G collapsed onto one point of the data: precise, with nothing of the rest
    collapsed = scores(_moons(1, 2).repeat(3000, 1) + 0.001 * torch.randn(3000, 2))
    assert collapsed["precision"][0] > 0.9 and collapsed["recall"][0] < 0.05
    assert collapsed["coverage"][0] < 0.05
    # G off the data by 3 of its standard deviations: nothing is precise
    assert scores(_moons(3000, 3, shift=3.0))["precision"][0] < 0.05
    # data handed to the Python API: nothing on disk to compare with, one line saying so
    from ganlab.errors import DataError

    api = SimpleNamespace(path="runs/api", config=SimpleNamespace(data=DataConfig(kind="tensor")))
    with pytest.raises(DataError, match="handed to the Python API.*np.save"):
        knn_metrics(api, _moons(10, 0), n_real=10, seed=0)
    # images: principal components of the examples, at most FEATURES and a tenth of them
    fit = torch.rand(200, 1, 16, 16)
    (f,) = data_features(fit, torch.rand(7, 1, 16, 16))
    assert f.shape == (7, 20) and FEATURES == 64
    (f,) = data_features(torch.rand(2000, 1, 16, 16), fit)
    assert f.shape == (200, FEATURES)


def test_eval_metric_errors_are_one_line(ring_run, tiny_run, capsys):
    cases = [
        (["--metrics", "fid"], "needs a run trained on MNIST", "use --metrics coverage"),
        (["--metrics", "fid,nope"], "unknown metric 'nope'", "choose from fid,kid"),
        (["--metrics", ","], "--metrics is empty", "pass some of"),
        (["--metrics", "prdc", "--samples", "5"], "more than 5 samples", "pass 6 or more"),
    ]
    for extra, what, fix in cases:
        assert main(["eval", str(ring_run), *extra]) == 2
        err = capsys.readouterr().err
        assert what in err and fix in err and err.count("\n") == 1, err
    assert main(["eval", str(tiny_run), "--metrics", "coverage"]) == 2  # a 1-D run
    err = capsys.readouterr().err
    assert "needs a 2-D mixture run" in err and "gauss1d (1)" in err and "use --parzen" in err


def test_evaluate_run_reads_mnist_once_for_every_metric_family(tmp_path, monkeypatch):
    # fid/digits (the classifier) and inception_fid each need MNIST's splits; evaluate_run
    # reads them once and hands the same tensors to both. Stand-ins for the files, the
    # trained classifier and the Inception network keep this to a second, without MNIST.
    from types import SimpleNamespace

    from ganlab.data import datasets
    from ganlab.metrics import classifier as clf
    from ganlab.metrics import evaluate, inception

    g = torch.Generator().manual_seed(0)
    splits = {s: (torch.rand(40, 1, 28, 28, generator=g), torch.arange(40) % 10)
              for s in ("train", "test")}  # fmt: skip
    reads = []

    def load_split(name, split, path=None):
        reads.append(split)
        return splits[split]

    seen = {}

    def inception_metrics(names, extractor, fake, real, floor):
        seen.update(real=real, floor=floor)
        return {}

    def reference_classifier(data, progress):
        seen["classifier_data"] = data
        return clf.ReferenceClassifier(clf.DigitClassifier(width=4, features=8).eval(), "0", {})

    monkeypatch.setattr(datasets, "load_split", load_split)
    monkeypatch.setattr(clf, "reference_classifier", reference_classifier)
    monkeypatch.setattr(inception, "weights_path", lambda: tmp_path / "weights.pth")
    monkeypatch.setattr(inception, "inception_extractor", lambda path: None)
    monkeypatch.setattr(inception, "extractor_provenance", lambda path: {})
    monkeypatch.setattr(inception, "inception_metrics", inception_metrics)
    run = SimpleNamespace(
        path=tmp_path,
        step=3,
        config=SimpleNamespace(data=SimpleNamespace(path=None)),
        sample=lambda n, seed: torch.rand(n, 1, 28, 28, generator=g),
    )
    result = evaluate.evaluate_run(
        run, ["fid", "digits", "inception_fid"], samples=30, n_real=20, seed=0
    )
    assert sorted(reads) == ["test", "train"]  # once each, not once per family
    assert seen["real"].data_ptr() == splits["test"][0].data_ptr() and len(seen["real"]) == 20
    assert seen["floor"].data_ptr() == splits["train"][0].data_ptr()
    assert seen["classifier_data"][0] is splits["train"][0]
    assert set(result["metrics"]) == {"fid", "digits"}


def test_summary_lines_show_each_metric_as_the_report_does():
    from ganlab.metrics.evaluate import summary_lines
    from ganlab.report.format import metric_texts

    metrics = {
        "kid": {"value": 0.012341, "std": 0.0021, "floor": 0.0004, "floor_std": 0.0003},
        "mode_coverage": {"modes": 8, "modes_covered": 7, "high_quality": 0.9125, "kl": 0.05,
                          "counts": [1] * 8, "n_fake": 2500,
                          "floor": {"modes": 8, "modes_covered": 8, "high_quality": 0.99,
                                    "kl": None, "counts": [1] * 8}},
        "stacked_modes": {"modes": 1000, "modes_covered": 990, "kl": 0.1, "samples": 26000,
                          "floor": {"modes": 1000, "modes_covered": 1000, "kl": 0.02}},
        "digits": {"covered": 9, "classes": 10, "kl": 0.25, "counts": [1] * 10,
                   "floor": {"covered": 10, "classes": 10, "kl": 0.003}},
    }  # fmt: skip
    assert summary_lines({"metrics": metrics}) == [
        "kid: 0.01234 +- 0.0021 (real-vs-real floor 0.0004 +- 0.0003)",
        "mode coverage: 7/8 modes, 91.25% high quality, KL 0.05 nats (real-vs-real floor "
        "8/8 modes, 99% high quality, KL n/a nats)",
        "stacked MNIST: 990/1000 triples, KL 0.1 nats (real-vs-real floor 1000/1000 triples, "
        "KL 0.02 nats)",
        "digits: 9/10 classes, KL 0.25 nats (real-vs-real floor 10/10 classes, KL 0.003 nats)",
    ]
    # the pages read the same entry the same way
    assert metric_texts("kid", metrics["kid"]) == ("0.01234 +- 0.0021", "0.0004 +- 0.0003")
