"""Stacked MNIST: building the data, counting classified triples, the KL to uniform, and
`ganlab eval --metrics stacked`.

The tests on real digits need mnist.pkl.gz ($GANLAB_DATA or ../shared/data, tests/datafiles.py)
and the reference classifier (loaded from the cache, or trained there once, about 70 s on one
core).
"""

import json
import math

import pytest
import torch
from datafiles import MNIST_PICKLE as PICKLE
from datafiles import needs_mnist

from ganlab.cli import main
from ganlab.config import load_config
from ganlab.data import build_data
from ganlab.data.stacked import load_stacked_mnist, mode_index, stack_digits
from ganlab.metrics import classifier as clf
from ganlab.metrics.stacked import MODES, SAMPLES, stacked_modes, triple_histogram_scores


def _tagged_digits(n: int = 40):
    """Images whose every pixel is their own index / n, labels index % 10: a stacked channel
    tells which image it came from."""
    x = (torch.arange(n, dtype=torch.float32) / n).reshape(n, 1, 1, 1).expand(n, 1, 28, 28)
    return x.clone(), torch.arange(n) % 10


def test_stacked_channels_are_drawn_digits_with_their_labels():
    x, y = _tagged_digits()
    images, triples = stack_digits(x, y, 500, torch.Generator().manual_seed(0))
    assert images.shape == (500, 3, 28, 28) and triples.shape == (500, 3)
    source = torch.round(images[:, :, 0, 0] * len(x)).long()  # (500, 3) index of each channel
    assert torch.equal(images, x[source, 0])  # each channel is one whole digit image
    assert torch.equal(triples, y[source])  # and its triple is those digits' labels
    # Channels are drawn independently: some images stack three different digits.
    assert bool((source[:, 0] != source[:, 1]).any())
    again, _ = stack_digits(x, y, 500, torch.Generator().manual_seed(0))
    assert torch.equal(images, again)  # seeded


def test_mode_index_numbers_the_1000_triples():
    t = torch.cartesian_prod(torch.arange(10), torch.arange(10), torch.arange(10))  # (1000, 3)
    assert torch.equal(mode_index(t), torch.arange(1000))
    assert mode_index(torch.tensor([[3, 0, 7]])).item() == 307


def test_histogram_scores_of_known_triple_sets():
    every = torch.cartesian_prod(torch.arange(10), torch.arange(10), torch.arange(10))
    s = triple_histogram_scores(every.repeat(26, 1))  # 26,000 samples, every triple 26 times
    # q is exactly uniform: KL = sum 1/1000 log 1 = 0; float64 rounding only.
    assert s["modes_covered"] == MODES and s["samples"] == SAMPLES
    assert s["kl"] == pytest.approx(0.0, abs=1e-12)
    ten = every[torch.arange(0, 1000, 100)]  # 10 triples
    s = triple_histogram_scores(ten.repeat(2600, 1))
    # 10 equal bins of 1000: KL = 10 * (1/10) log(1000 / 10) = log 100, exactly up to rounding.
    assert s["modes_covered"] == 10 and sum(s["counts"]) == 26_000
    assert s["kl"] == pytest.approx(math.log(100), rel=1e-12)
    one = triple_histogram_scores(ten[:1].repeat(5, 1))
    assert (one["modes_covered"], one["kl"]) == (1, pytest.approx(math.log(1000), rel=1e-12))


# ---------------------------------------------------------------------------------------------
# Real MNIST and the reference classifier


@needs_mnist
@pytest.mark.slow
def test_real_stacked_mnist_covers_all_modes_with_small_kl(mnist, reference):
    x, y = mnist["test"]  # digits the classifier never trained on
    images, triples = stack_digits(x, y, SAMPLES, torch.Generator().manual_seed(1))
    s = stacked_modes(reference.model, images)
    truth = triple_histogram_scores(triples)  # the oracle: the digits' own labels
    # 26,000 uniform draws over 1000 triples: each triple is expected 26 times and missed with
    # probability e^-26, and a ~1% per-digit error moves a few samples between triples, never
    # all 26 of one: every triple occurs, by label and by classifier.
    assert truth["modes_covered"] == MODES and s["modes_covered"] == MODES
    # MNIST's classes are not equally frequent (1: 11.4%, 5: 8.9% of the test digits), so the
    # triples' own KL to uniform is 3 KL(p_y || u_10) (three independent channels). The plug-in
    # KL of N draws over K bins adds (K - 1) / (2N) = 0.0192 on average, with std
    # sqrt(2 (K - 1)) / (2N) = 0.0009 (chi-square / 2N); 0.005 is over 5 std.
    p_y = torch.bincount(y, minlength=10).double() / len(y)
    expected = 3 * float((p_y * torch.log(10 * p_y)).sum()) + (MODES - 1) / (2 * SAMPLES)
    assert truth["kl"] == pytest.approx(expected, abs=0.005)
    # Misread digits (~2% of images) shuffle a few counts by one: the KL barely moves.
    assert s["kl"] == pytest.approx(truth["kl"], abs=0.005)


@needs_mnist
@pytest.mark.slow
def test_ten_triples_give_ten_modes_and_kl_log_100(mnist, reference):
    x, y = mnist["test"]
    # Digits the classifier reads correctly, so that the test checks the counting: a misread
    # channel would create an 11th triple (the classifier's accuracy is test_classifier's).
    right = clf.predict(reference.model, x) == y
    x, y = x[right], y[right]
    g = torch.Generator().manual_seed(2)
    chosen = torch.randint(0, 10, (10, 3), generator=g)
    chosen[:, 0] = torch.arange(10)  # 10 distinct triples
    images = []
    for triple in chosen:  # 260 images of each triple, each channel a random digit of its class
        picks = [torch.nonzero(y == d)[:, 0] for d in triple.tolist()]
        idx = [p[torch.randint(0, len(p), (260,), generator=g)] for p in picks]
        images.append(torch.stack([x[i, 0] for i in idx], dim=1))  # (260, 3, 28, 28)
    s = stacked_modes(reference.model, torch.cat(images))
    assert s["modes_covered"] == 10 and s["samples"] == 2600
    # 10 equal bins of 1000: KL = log(1000 / 10) exactly, float64 rounding only.
    assert s["kl"] == pytest.approx(math.log(100), rel=1e-9)
    assert sorted(i for i, c in enumerate(s["counts"]) if c) == sorted(mode_index(chosen).tolist())


@needs_mnist
def test_stacked_mnist_config_builds_the_data(mnist):
    cfg = load_config(None, ["data.kind=stacked_mnist", "data.n=64", f"data.path={PICKLE}"])
    source = build_data(cfg.data, seed=0)
    assert source.x_shape == (3, 28, 28) and source.size == 64
    images, _ = load_stacked_mnist("train", 64, path=PICKLE)
    torch.testing.assert_close(source.x, images, rtol=0, atol=0)  # one fixed data set
    assert 0.0 <= float(source.x.min()) and float(source.x.max()) <= 1.0


@needs_mnist
@pytest.mark.slow
def test_eval_metrics_stacked_on_a_stacked_mnist_run(mnist, reference, tmp_path, capsys):
    run = tmp_path / "run"
    train = [
        "train", "paper-mnist", "--out", str(run), "--quiet",
        "--set", "data.kind=stacked_mnist", "--set", "data.n=200",
        "--set", f"data.path={PICKLE}", "--set", "steps=2", "--set", "checkpoint_every=2",
        "--set", "generator.kind=dcgan", "--set", "generator.channels=8",
        "--set", "generator.output=tanh", "--set", "generator.output_bias=zero",
        "--set", "discriminator.kind=dcgan", "--set", "discriminator.channels=8",
        "--set", "discriminator.pack=2",
    ]  # fmt: skip
    assert main(train) == 0
    assert main(["eval", str(run), "--metrics", "stacked", "--samples", "300", "--quiet"]) == 0
    out = capsys.readouterr().out
    result = json.loads((run / "metrics.json").read_text())
    m = result["metrics"]["stacked_modes"]
    assert result["feature_extractor"]["sha256"] == reference.sha256
    assert m["samples"] == 300 and sum(m["counts"]) == 300 and m["modes"] == MODES
    assert m["note"] == f"the protocol scores {SAMPLES} samples (--samples)"
    # The floor: 300 real stacked images. 300 uniform draws over 1000 triples hit
    # 1000 (1 - e^-0.3) = 259 distinct ones on average, std ~5; misread digits only move a
    # draw to another triple, so > 200 holds by more than 10 std.
    assert m["floor"]["samples"] == 300 and m["floor"]["modes_covered"] > 200
    assert f"stacked MNIST: {m['modes_covered']}/1000 triples" in out
    assert main(["eval", str(run), "--metrics", "fid"]) == 2
    err = capsys.readouterr().err
    assert "--metrics fid needs a run trained on MNIST" in err
    assert err.rstrip().endswith("use --metrics stacked")


def test_metrics_stacked_needs_a_stacked_mnist_run(ring_run, capsys):
    assert main(["eval", str(ring_run), "--metrics", "stacked"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab: error: --metrics stacked needs a run trained on Stacked MNIST")
    assert "use --metrics coverage" in err
