"""Shared fixtures: a tiny finished run, trained once per session and copied per test."""

import shutil

import pytest
import torch

from ganlab.cli import main

# 4 steps of the 1-D preset with a checkpoint at steps 2 and 4: about a second to train.
TINY_RUN_ARGS = [
    "--set", "steps=4", "--set", "checkpoint_every=2", "--set", "log_every=2",
    "--set", "sample_every=4", "--quiet",
]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_run_template(tmp_path_factory):
    """A finished `gauss1d` run of 4 steps (checkpoints step 2 and 4). Do not modify it."""
    out = tmp_path_factory.mktemp("template") / "run"
    assert main(["train", "gauss1d", "--out", str(out), *TINY_RUN_ARGS]) == 0
    return out


@pytest.fixture
def tiny_run(tiny_run_template, tmp_path):
    """A private copy of the tiny finished run, at tmp_path / "run"."""
    return shutil.copytree(tiny_run_template, tmp_path / "run")


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    """A 20-step ring8 run directory, shared by a test module's eval tests."""
    out = tmp_path_factory.mktemp("ring") / "run"
    assert main(["train", "ring8", "--set", "steps=20", "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture
def one_thread():
    """torch on one thread for the test, restored after: the tests that train many small steps
    (their timings and their neighbours' are steadier on a shared 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def mnist():
    """MNIST's train and test splits as (images, labels) (skips where mnist.pkl.gz is absent)."""
    from datafiles import MNIST_PICKLE, mnist_pickle

    from ganlab.data import load_mnist

    mnist_pickle()
    return {split: load_mnist(split, MNIST_PICKLE) for split in ("train", "test")}


@pytest.fixture(scope="module")
def reference(mnist):
    """The reference classifier from this machine's cache (trained into it on a first run)."""
    from ganlab.metrics import classifier as clf

    return clf.reference_classifier(data=(*mnist["train"], *mnist["test"]))
