"""Data without labels, conditioned on its own clusters (conditional.clusters)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_conditional import SMALL
from test_recipes import write_images

import ganlab
from ganlab.cli import main
from ganlab.config import load_config
from ganlab.data import build_data
from ganlab.data.clusters import cluster_labels, fit_rows
from ganlab.data.sources import TensorSource
from ganlab.errors import ConfigError, DataError
from ganlab.runfiles import read_meta
from ganlab.runs.labels import class_labels
from ganlab.runs.recipes import plan_run
from ganlab.training.state import build_state


def blob_images(sizes=(60, 30, 10), side=8, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey images of three kinds (a bright square in a different corner, plus noise), the
    kinds in blocks of the given sizes: (N, 1, side, side) in [0, 1] and each image's kind."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(sum(sizes), 1, side, side, generator=g)
    kind = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    h = side // 2
    for i, k in enumerate(kind.tolist()):
        r, c = divmod(k, 2)
        x[i, 0, r * h : (r + 1) * h, c * h : (c + 1) * h] += 0.8
    return x, kind


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two labellings group the examples alike (cluster numbers may differ)."""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_clusters_find_the_kinds_of_examples_and_are_the_same_every_time():
    x, kind = blob_images()
    labels = cluster_labels(TensorSource(x, 0), 3, seed=7)
    assert labels.shape == (100,) and labels.dtype == torch.int64
    assert same_partition(labels, kind)
    assert torch.equal(labels, cluster_labels(TensorSource(x, 0), 3, seed=7))


def two_moons(n=600, noise=0.06, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half circles (the two-moons shape), n points and each one's moon: no
    ball around a centre holds one moon without a piece of the other."""
    from sklearn.datasets import make_moons

    x, moon = make_moons(n, noise=noise, random_state=seed)
    return torch.from_numpy(x).float(), torch.from_numpy(moon).long()


def test_spectral_clusters_follow_the_shape_of_the_data_where_k_means_cuts_across_it():
    x, moon = two_moons()
    spectral = cluster_labels(TensorSource(x, 0), 2, seed=0)
    kmeans = cluster_labels(TensorSource(x, 0), 2, seed=0, method="kmeans")

    def agreement(labels):  # the share of points in their cluster's majority moon
        return max((labels == moon).double().mean(), (labels != moon).double().mean())

    assert agreement(spectral) == 1.0  # moons 0.06 apart per point: the graph never joins them
    assert agreement(kmeans) < 0.9  # k-means cuts both moons: 0.75-0.76 on seeds 0-3 of it


def test_examples_beyond_the_fitted_subsample_join_their_neighbours_cluster(monkeypatch):
    import ganlab.data.clusters as clusters

    x, moon = two_moons(2000)
    for method in clusters.METHODS:
        monkeypatch.setitem(clusters.FIT_ROWS, method, 500)  # 1,500 assigned, not fitted
        labels = cluster_labels(TensorSource(x, 0), 2, seed=0, method=method)
        assert labels.shape == (2000,) and set(labels.tolist()) == {0, 1}
        if method == "spectral":  # the assigned points follow the moons as the fitted ones do
            assert same_partition(labels, moon)


def test_large_examples_are_fitted_on_a_subsample_that_fits_in_memory():
    assert fit_rows(500, 784) == 500
    assert fit_rows(200_000, 784) == 20_000
    assert fit_rows(200_000, 784, "spectral") == 10_000  # its eigenvectors: 6.4 s on 10,000
    assert fit_rows(200_000, 3 * 64 * 64) * 3 * 64 * 64 * 4 <= 256 * 2**20


def test_streamed_and_in_memory_data_get_the_same_clusters(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    x, _ = blob_images()
    np.save(tmp_path / "x.npy", x.numpy())
    over = ["data.kind=array", f"data.path={tmp_path / 'x.npy'}"]
    memory = build_data(load_config("images", [*over, "data.stream=never"]).data, 1)
    disk = build_data(load_config("images", [*over, "data.stream=always"]).data, 1)
    assert type(memory).__name__ != type(disk).__name__
    assert torch.equal(cluster_labels(memory, 3, 5), cluster_labels(disk, 3, 5))


def test_class_draws_follow_the_cluster_sizes():
    weights = [0.6, 0.3, 0.1]
    y = class_labels(20_000, None, ["a", "b", "c"], seed=3, weights=weights)
    share = torch.bincount(y, minlength=3).double() / len(y)
    # a share's standard error is at most sqrt(0.25 / 20,000) = 0.0035: 0.02 is over 5 of them
    assert torch.allclose(share, torch.tensor(weights, dtype=torch.float64), atol=0.02)
    uniform = torch.bincount(class_labels(20_000, None, ["a", "b", "c"], seed=3), minlength=3)
    assert torch.allclose(uniform.double() / 20_000, torch.full((3,), 1 / 3.0).double(), atol=0.02)


@pytest.fixture(scope="module")
def points(tmp_path_factory):
    """2-D points in three blobs of 60%, 30% and 10% of 1,000, as an .npy file (no labels)."""
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]])
    kind = torch.repeat_interleave(torch.arange(3), torch.tensor([600, 300, 100]))
    x = centres[kind] + 0.3 * torch.randn(1000, 2, generator=g)
    path = tmp_path_factory.mktemp("points") / "blobs.npy"
    np.save(path, x.numpy())
    return path, kind


def _over(points, *extra):
    path, _ = points
    data = ["data.kind=array", f"data.path={path}", "data.standardize=true"]
    cond = ["conditional.kind=projection", "conditional.clusters=3"]
    return [*SMALL, "m=32", *data, *cond, *extra]


def test_a_self_conditioned_run_keeps_the_clusters_and_their_sizes(points, tmp_path):
    run = ganlab.train("cring8", tmp_path / "r", overrides=_over(points, "steps=20"), report=False)
    meta = read_meta(run.path)
    assert meta["class_names"] == ["cluster 0", "cluster 1", "cluster 2"]
    assert sorted(meta["class_weights"]) == pytest.approx([0.1, 0.3, 0.6])
    loaded = ganlab.load_run(run.path)
    assert loaded.class_weights == pytest.approx(meta["class_weights"])
    # the same clusters every time the data is loaded (a resume's), and the training prior
    # draws G's classes with their sizes
    cfg = load_config("cring8", _over(points, "steps=20"))
    state = build_state(cfg)
    assert torch.equal(state.data.labels, build_state(cfg).data.labels)
    assert same_partition(state.data.labels, points[1])
    drawn = torch.bincount(state.prior.sample_labels(20_000), minlength=3).double() / 20_000
    assert torch.allclose(drawn, state.data.class_weights, atol=0.02)  # as in the test above
    assert loaded.sample(5).shape == (5, 2)


def test_resume_of_a_self_conditioned_run_is_exact(points, tmp_path):
    over = _over(points)
    straight = ganlab.train("cring8", tmp_path / "a", overrides=[*over, "steps=30"], report=False)
    half = ganlab.train("cring8", tmp_path / "b", overrides=[*over, "steps=13"], report=False)
    resumed = ganlab.resume(half.path, steps=30, report=False)
    a, b = straight.generator.state_dict(), resumed.generator.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_clusters_need_a_conditional_kind_and_a_fixed_set_of_examples(capsys, tmp_path):
    with pytest.raises(ConfigError, match="conditional.kind=projection"):
        load_config("images", ["conditional.kind=none", "conditional.clusters=10"])
    with pytest.raises(ConfigError, match="at least 2"):
        load_config("images", ["conditional.kind=projection", "conditional.clusters=1"])
    with pytest.raises(ConfigError, match="equal conditional.classes"):
        load_config("images", ["conditional.kind=acgan", "conditional.clusters=4",
                               "conditional.classes=5"])  # fmt: skip
    with pytest.raises(DataError, match="data.n=N"):
        build_state(load_config("ring8", ["conditional.kind=projection", "conditional.clusters=4"]))
    capsys.readouterr()
    code = main(["train", "ring8", "--out", str(tmp_path / "r"), "--set",
                 "conditional.kind=concat", "--set", "conditional.clusters=4"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert "data.n=N" in err


def test_more_clusters_than_examples_is_one_line(tmp_path):
    x, _ = blob_images(sizes=(3, 2, 1))
    with pytest.raises(DataError, match="lower conditional.clusters"):
        cluster_labels(TensorSource(x, 0), 10, seed=0)


def test_the_images_recipe_conditions_on_clusters_that_grow_with_the_data(tmp_path):
    few = plan_run(write_images(tmp_path / "few", 40, size=(28, 28)))
    assert few.config.conditional.kind == "projection"
    assert few.config.conditional.clusters == 2
    assert few.config.regularizers.mode_seeking == 1.0  # G spreads its samples within a cluster
    assert "clusters" in few.line
    # images with labels (a sub-folder per class) stay unconditional unless asked, on the labels
    for name in ("cat", "dog"):
        write_images(tmp_path / "pets" / name, 20, size=(28, 28))
    pets = plan_run(tmp_path / "pets")
    assert pets.config.conditional.kind == "none" and not pets.config.conditional.clusters
    assert pets.config.regularizers.mode_seeking == 0
    asked = plan_run(tmp_path / "pets", ["conditional.kind=projection"])
    assert asked.config.conditional.clusters == 0


def test_image_class_figures_put_real_images_beside_the_generated_rows(tmp_path):
    from PIL import Image

    from ganlab.report.class_figures import save_class_figure

    x, y = torch.rand(3 * 8, 1, 16, 16), torch.arange(3).repeat_interleave(8)
    names = ["cluster 0", "cluster 1", "cluster 2"]
    alone = save_class_figure(tmp_path / "a.png", x, y, names)
    beside = save_class_figure(tmp_path / "b.png", x, y, names, torch.rand(24, 1, 16, 16))
    with Image.open(alone) as a, Image.open(beside) as b:
        assert b.width > 1.5 * a.width  # a second grid as wide as the first
        assert abs(b.height - a.height) < 0.25 * a.height  # the same rows (titles differ)


def _corner(images: torch.Tensor) -> list[int]:
    """The kind of each blob image: the quadrant of its bright square (blob_images)."""
    h = images.shape[-1] // 2
    quadrants = [images[:, 0, r * h : (r + 1) * h, c * h : (c + 1) * h] for r in (0, 1)
                 for c in (0, 1)]  # fmt: skip
    return torch.stack([q.mean((1, 2)) for q in quadrants], 1).argmax(1).tolist()


def test_class_figures_draw_the_data_of_each_class_beside_its_generated_row(tmp_path, monkeypatch):
    from ganlab.report import run_report
    from ganlab.report.class_figures import rows_by_class
    from ganlab.runs import monitor

    # row j: class j's examples in their order, `fill` where the class has fewer than a row
    x = torch.arange(5.0).reshape(5, 1, 1, 1)
    rows = rows_by_class(x, torch.tensor([1, 0, 1, 1, 0]), k=3, per_class=2, fill=9.0)
    assert rows.flatten().tolist() == [1.0, 4.0, 0.0, 2.0, 9.0, 9.0]

    drawn = {}  # figure -> (the real images beside G's rows, their classes)

    def recorder(module, name):
        real_figure = module.save_class_figure

        def record(path, x, y, class_names, real=None, title="", value_range=(0, 1), real_y=None):
            drawn[name] = (real, real_y)
            return real_figure(path, x, y, class_names, real, title, value_range, real_y)

        monkeypatch.setattr(module, "save_class_figure", record)

    recorder(run_report, "report")
    recorder(monitor, "preview")
    images, kind = blob_images(sizes=(40, 40, 40))  # three kinds, 40 images each
    over = [*SMALL, "steps=2", "sample_every=2", "conditional.kind=concat",
            "conditional.clusters=3", "data.kind=tensor", "generator.output_bias=zero",
            "compile=false"]  # fmt: skip
    run = ganlab.train("paper-mnist", tmp_path / "r", overrides=over, data=images)
    cluster_kind = {}  # the clusters are the three kinds, under numbers of their own
    for name in ("preview", "report"):
        real, real_y = drawn[name]
        assert real_y.tolist() == [0] * 8 + [1] * 8 + [2] * 8  # 8 of each class, in order
        for cluster, image_kind in zip(real_y.tolist(), _corner(real), strict=True):
            assert cluster_kind.setdefault(cluster, image_kind) == image_kind
    assert sorted(cluster_kind.values()) == [0, 1, 2]
    assert (run.path / "samples.png").exists()

    # Later, without the data: `ganlab report` and `ganlab sample --label all` draw the same
    # classes' examples (kept in the run directory at training's end, not clustered again).
    from ganlab.runs import samples, write_html_report

    recorder(samples, "sample")
    drawn.clear()
    write_html_report(run.path)
    samples.write_samples(run.path, tmp_path / "all.png", 4, label="all")
    for name in ("report", "sample"):
        real, real_y = drawn[name]
        assert real_y.tolist() == [0] * 8 + [1] * 8 + [2] * 8
        assert [cluster_kind[c] for c in real_y.tolist()] == _corner(real)


def test_eval_does_not_read_clusters_as_digits():
    from types import SimpleNamespace

    from ganlab.metrics.conditional_run import skip_reason

    cfg = load_config("images", ["conditional.kind=projection", "conditional.clusters=10"])
    run = SimpleNamespace(config=cfg, classes=[f"cluster {c}" for c in range(10)], sample=None)
    assert "own clusters" in skip_reason(run)
