"""The reference MNIST classifier: deterministic training, the safetensors cache, and (with real
MNIST: mnist.pkl.gz from $GANLAB_DATA or ../shared/data, tests/datafiles.py) its accuracy, FID
on real images, and `ganlab eval --metrics` on an MNIST run.

The real classifier is trained from scratch once per test session (about 70 s on one core)
into a private cache, so that every run checks the training itself, not a file left behind.
"""

import json

import pytest
import torch
from datafiles import MNIST_PICKLE as PICKLE
from datafiles import needs_mnist
from safetensors.torch import safe_open

from ganlab.cli import main
from ganlab.data.download import cache_dir, sha256_file
from ganlab.metrics import classifier as clf
from ganlab.metrics.features import frechet_distance


def toy_digits(n: int, seed: int):
    """Images whose class is where a bright 7x7 square sits (10 positions), plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = 0.2 * torch.rand(n, 1, 28, 28, generator=g)
    for i, c in enumerate(y.tolist()):
        r, q = divmod(c, 5)
        x[i, 0, 4 + 12 * r : 11 + 12 * r, 1 + 5 * q : 8 + 5 * q] += 0.8
    return x, y


def test_training_is_deterministic_and_learns():
    x, y = toy_digits(256, 0)
    a = clf.train_classifier(x, y, epochs=2, batch=64)
    b = clf.train_classifier(x, y, epochs=2, batch=64)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name  # bit for bit: same seed, threads, data
    x_test, y_test = toy_digits(200, 1)
    # The classes are a square's position: 2 epochs learn them far above chance (10%).
    assert clf.accuracy(a, x_test, y_test) > 0.9
    f = clf.features(a, x_test[:7])
    assert f.shape == (7, clf.FEATURES) and bool((f >= 0).all())  # after a ReLU
    assert clf.predict(a, x_test[:7]).shape == (7,) and not a.training


def test_reference_classifier_is_cached_and_loaded_with_safetensors(tmp_path, monkeypatch):
    data = (*toy_digits(256, 2), *toy_digits(100, 3))
    first = clf.reference_classifier(data=data, folder=tmp_path)
    (file,) = tmp_path.glob("*.safetensors")
    assert file.name.startswith(clf.VERSION) and first.sha256 == sha256_file(file)
    assert first.info["key"] == clf.cache_key(data[0], data[1], clf.SEED, clf.VERSION)
    assert first.info["test_accuracy"] == clf.accuracy(first.model, data[2], data[3])
    with safe_open(str(file), "pt") as f:
        assert json.loads(f.metadata()["ganlab"])["test_accuracy"] == first.info["test_accuracy"]
    assert not list(tmp_path.glob(".*tmp"))  # written atomically, nothing left behind

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(clf, "train_classifier", no_training)
    second = clf.reference_classifier(data=data, folder=tmp_path)
    assert second.sha256 == first.sha256 and second.info == first.info
    x = data[2][:5]
    torch.testing.assert_close(clf.features(second.model, x), clf.features(first.model, x))


def test_damaged_cache_file_is_retrained_with_a_warning(tmp_path):
    data = (*toy_digits(128, 4), *toy_digits(50, 5))
    first = clf.reference_classifier(data=data, folder=tmp_path)
    (file,) = tmp_path.glob("*.safetensors")
    file.write_bytes(file.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unusable"):
        again = clf.reference_classifier(data=data, folder=tmp_path)
    assert again.sha256 == first.sha256  # deterministic: the same file again


def test_the_key_changes_with_the_data_seed_and_version():
    x, y = toy_digits(16, 6)
    key = clf.cache_key(x, y, 0, "v")
    x2 = x.clone()
    x2[0, 0, 0, 0] += 1e-3
    others = [
        clf.cache_key(x2, y, 0, "v"),
        clf.cache_key(x, y, 1, "v"),
        clf.cache_key(x, y, 0, "w"),
    ]
    assert len({key, *others}) == 4


# ---------------------------------------------------------------------------------------------
# Real MNIST


@pytest.fixture(scope="session")
def cache_root(tmp_path_factory):
    """A private $XDG_CACHE_HOME for the session's reference classifier."""
    return tmp_path_factory.mktemp("xdg_cache")


@pytest.fixture(scope="session")
def reference(mnist, cache_root):
    """The real reference classifier, trained from scratch into the private cache."""
    folder = cache_root / "ganlab" / "classifier"
    return clf.reference_classifier(data=(*mnist["train"], *mnist["test"]), folder=folder)


@needs_mnist
@pytest.mark.slow
def test_reference_classifier_reaches_99_percent_on_the_official_test_set(reference, mnist):
    x_test, y_test = mnist["test"]
    acc = clf.accuracy(reference.model, x_test, y_test)
    assert len(x_test) == 10_000 and acc >= 0.99
    assert acc == reference.info["test_accuracy"]  # recorded in the file, and reproduced
    assert reference.info["train_examples"] == 50_000 and reference.info["seed"] == clf.SEED
    # Where this machine's own cache holds the classifier too (`ganlab eval` trained it in
    # another process), the two trainings must agree bit for bit.
    own = cache_dir() / "classifier" / f"{clf.VERSION}-{reference.info['key'][:16]}.safetensors"
    if own.is_file():
        assert sha256_file(own) == reference.sha256


@needs_mnist
@pytest.mark.slow
def test_fid_on_real_images_grows_with_pixel_noise(reference, mnist):
    real = clf.features(reference.model, mnist["test"][0][:2000])
    x = mnist["train"][0][:2000]
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    fids = []
    for sigma in (0.0, 0.1, 0.2, 0.4, 0.8):
        fake = clf.features(reference.model, (x + sigma * noise).clamp(0, 1))
        fids.append(frechet_distance(real, fake).value)
    assert all(a < b for a, b in zip(fids, fids[1:], strict=False)), fids
    assert fids[-1] > 10 * fids[0]  # heavy noise is far from digits; train vs test is close


@needs_mnist
@pytest.mark.slow
def test_eval_metrics_on_an_mnist_run(reference, cache_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_root))  # eval finds the session's classifier
    run = tmp_path / "run"
    train = [
        "train", "paper-mnist", "--out", str(run), "--quiet",
        "--set", f"data.path={PICKLE}", "--set", "steps=3", "--set", "checkpoint_every=3",
        "--set", "generator.hidden=[32]", "--set", "discriminator.hidden=[16]",
    ]  # fmt: skip
    assert main(train) == 0
    args = ["eval", str(run), "--metrics", "fid,kid,prdc,digits", "--samples", "300"]
    assert main([*args, "--test", "400", "--quiet"]) == 0
    out = capsys.readouterr().out
    result = json.loads((run / "metrics.json").read_text())
    assert result["feature_extractor"]["sha256"] == reference.sha256
    assert result["samples"] == 300 and result["step"] == 3
    m = result["metrics"]
    assert set(m) == {"fid", "kid", "precision", "recall", "density", "coverage", "digits"}
    for name in ("fid", "kid", "precision", "recall", "density", "coverage"):
        assert m[name]["definition"] and m[name]["n_fake"] == 300 and m[name]["n_real"] == 400
        assert m[name]["floor"] is not None
    # 3 steps of training make noise, not digits: far above the real-vs-real floor.
    assert m["fid"]["value"] > 5 * m["fid"]["floor"]
    assert m["precision"]["value"] < m["precision"]["floor"]
    assert m["digits"]["floor"]["covered"] == 10 and sum(m["digits"]["counts"]) == 300
    assert (run / m["digits"]["figure"]).is_file()
    assert f"fid: {m['fid']['value']:.4g}" in out
