"""Inception FID/IS: the weights are read from this machine only, never downloaded.

torch-fidelity is not installed in this project's environment (its torchvision needs the CUDA
build of torch), so what is tested is the refusal when the file or the package is missing, the
Inception Score formula, and ganlab's side of the computation with a stand-in for
torch-fidelity's extractor (the local path handed over, features to FID/IS with floors); the
Inception network itself is not run here.
"""

from __future__ import annotations

import importlib.machinery
import math
import sys
import types

import pytest
import torch

from ganlab.cli import main
from ganlab.errors import ConfigError
from ganlab.metrics import evaluate, inception


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """A torch hub folder without the weights, and no GANLAB_INCEPTION_WEIGHTS."""
    monkeypatch.delenv("GANLAB_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # torch.hub.get_dir() reads it
    return tmp_path / "torch" / "hub" / "checkpoints" / inception.WEIGHTS_FILE


def test_missing_weights_name_the_file_and_where_it_goes(no_weights):
    with pytest.raises(ConfigError) as e:
        evaluate.check_metrics(["fid", "inception_fid"], "mnist", (1, 28, 28), None)
    message = str(e.value)
    assert "\n" not in message
    assert f"weights file {inception.WEIGHTS_FILE}, not found at {no_weights}" in message
    assert "never downloads" in message and "GANLAB_INCEPTION_WEIGHTS" in message


def test_weights_env_var_must_name_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GANLAB_INCEPTION_WEIGHTS", str(tmp_path / "nope.pth"))
    with pytest.raises(ConfigError, match=r"GANLAB_INCEPTION_WEIGHTS=.*nope\.pth is not a file"):
        inception.weights_path()
    weights = tmp_path / inception.WEIGHTS_FILE
    weights.write_bytes(b"not read by this test")
    monkeypatch.setenv("GANLAB_INCEPTION_WEIGHTS", str(weights))
    assert inception.weights_path() == weights


def test_weights_in_the_hub_folder_without_torch_fidelity_is_one_line(no_weights, monkeypatch):
    no_weights.parent.mkdir(parents=True)
    no_weights.write_bytes(b"placeholder")
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"need torch-fidelity and a torchvision") as e:
        evaluate.check_metrics(["inception_score"], "mnist", (1, 28, 28), None)
    assert "\n" not in str(e.value)


def test_inception_metrics_need_an_mnist_run(ring_run, no_weights, capsys):
    code = main(["eval", str(ring_run), "--metrics", "inception_fid", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert "--metrics inception_fid needs a run trained on MNIST" in err
    assert not (ring_run / "metrics.json").exists()


def test_inception_score_closed_forms():
    # Every row the same distribution: p(y|x) = p(y), KL 0, IS = exp(0) = 1.
    same = torch.randn(1, 7).expand(40, 7)
    mean, std = inception.inception_score(same, splits=4)
    assert math.isclose(mean, 1.0, abs_tol=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    # 4 classes used equally in each split of 12 rows, each row sure of its class: KL = log 4
    # per row, IS = 4. The off-class mass is 9 e^-60 per row, so the error is ~1e-25 of 4;
    # 1e-12 leaves margin.
    sure = torch.full((48, 10), -60.0, dtype=torch.float64)
    sure[torch.arange(48), torch.arange(48) % 4] = 0.0
    mean, std = inception.inception_score(sure, splits=4)
    assert math.isclose(mean, 4.0, rel_tol=1e-12) and std == pytest.approx(0.0, abs=1e-9)
    # Against the definition written out in numpy-free float64 for one split of random logits.
    logits = torch.randn(25, 5, dtype=torch.float64)
    p = logits.softmax(1)
    py = p.mean(0)
    expected = torch.exp((p * (p.log() - py.log())).sum(1).mean())
    torch.testing.assert_close(
        torch.tensor(inception.inception_score(logits, splits=1)[0], dtype=torch.float64),
        expected,
        rtol=1e-12,
        atol=0,
    )


def test_images_become_uint8_rgb_for_the_extractor():
    x = torch.tensor([0.0, 0.5, 1.0, 1.2]).reshape(1, 1, 2, 2)
    y = inception.to_uint8_rgb(x)
    assert y.dtype == torch.uint8 and y.shape == (1, 3, 2, 2)
    assert y[0, 2].flatten().tolist() == [0, 128, 255, 255]


class _StandInExtractor(torch.nn.Module):
    """torch-fidelity's FeatureExtractorInceptionV3 interface: uint8 RGB in, (pool, logits) out.
    A fixed random projection stands in for the network."""

    calls: list = []

    def __init__(self, name, features_list, feature_extractor_weights_path=None):
        super().__init__()
        type(self).calls.append((name, features_list, feature_extractor_weights_path))
        g = torch.Generator().manual_seed(0)
        self.pool = torch.randn(3 * 28 * 28, 2048, generator=g) / 40
        self.classes = torch.randn(2048, 1008, generator=g) / 4

    def forward(self, x):
        assert x.dtype == torch.uint8 and x.shape[1] == 3  # what the real extractor takes
        f = (x.float() / 255).flatten(1) @ self.pool
        return f, f @ self.classes


def test_local_weights_reach_the_extractor_and_its_outputs_become_fid_and_is(tmp_path, monkeypatch):
    # torchmetrics' FID (ganlab's Frechet distance) checks for torch-fidelity on import:
    # import it before the stand-in appears, as it would be in an environment without it.
    import torchmetrics.image.fid  # noqa: F401

    for name in ("torch_fidelity", "torch_fidelity.feature_extractor_inceptionv3"):
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
        monkeypatch.setitem(sys.modules, name, module)
    module.FeatureExtractorInceptionV3 = _StandInExtractor
    weights = tmp_path / inception.WEIGHTS_FILE
    weights.write_bytes(b"stand-in")
    monkeypatch.setenv("GANLAB_INCEPTION_WEIGHTS", str(weights))
    _StandInExtractor.calls.clear()

    extractor = inception.inception_extractor(inception.weights_path())
    # the file on this machine is what torch-fidelity gets: its download branch is never taken
    assert _StandInExtractor.calls == [("inception-v3-compat", ["2048", "logits_unbiased"],
                                        str(weights))]  # fmt: skip
    g = torch.Generator().manual_seed(1)
    real = torch.rand(300, 1, 28, 28, generator=g)
    other = torch.rand(300, 1, 28, 28, generator=g) ** 2  # a different distribution
    out = inception.inception_metrics(
        ["inception_fid", "inception_score"], extractor, fake=real.clone(), real=real, floor=other
    )
    fid, score = out["inception_fid"], out["inception_score"]
    # 300 samples of 2,048-d features: singular covariances, handled and said (the note). The
    # same set against itself is ~0 (the eps ridge and sqrtm's error only), far below a
    # different set's distance.
    assert fid["value"] < 1e-3 * fid["floor"] and fid["floor"] > 0
    assert fid["n_fake"] == fid["n_real"] == 300 and fid["note"]
    logits = extractor(inception.to_uint8_rgb(real))[1]
    # inception_metrics runs the extractor in batches of 64, this call on all 300 rows: float32
    # matrix products blocked differently round differently (each logit within a few float32
    # ulps, eps = 1.2e-7), and IS = exp(mean KL) moves by about the logits' absolute error, so
    # the two agree to ~1e-7 relative (measured 1.6e-7), not to float64's 1e-9. rel 1e-5 leaves
    # ~60x margin and still fails for a wrong split or dropped rows (they move IS by > 1e-3).
    assert score["value"] == pytest.approx(inception.inception_score(logits, 10)[0], rel=1e-5)
    assert score["splits"] == 10 and score["floor"] > 0
