"""Table 1 of Goodfellow et al. (2014) on a laptop CPU: the Parzen curve of a paper-mnist run,
and the Theis et al. (2016) caveat beside it.

    # 1. train (the recorded command; ~1 h on 2 cores): a checkpoint every 5 epochs, all kept
    GANLAB_DATA=../shared/data ganlab train paper-mnist --out runs/paper-mnist \\
        --set update=simultaneous --set checkpoint_every=2500 --set keep_checkpoints=100
    # 2. the Parzen log-likelihood of every kept checkpoint against training time
    python benchmarks/paper_mnist.py curve runs/paper-mnist
    # 3. what "real images" and k-means centroids score under the same protocol
    python benchmarks/paper_mnist.py caveat --out runs/paper-mnist

`curve` writes parzen_curve.json and parzen_curve.png into the run directory, and a sample grid
of the selected checkpoint; `caveat` writes parzen_caveat.json. Each evaluation is the paper's
protocol (ganlab.metrics.parzen): 10,000 samples, sigma chosen from logspace(-1, 0, 10) on the
first 1,000 validation images, then the mean log-likelihood of the 10,000 test images in nats
with its standard error.

The checkpoint is selected on validation data only: the mean log-likelihood, at the sigma chosen
above, of the rest of the validation split (MNIST's images 1,000-9,999: neither the sigma
images nor the test set). The test score of the selected checkpoint is reported; it never
selects (before issue 21 part 5, `curve` took the checkpoint with the best test score).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ganlab.data import load_split
from ganlab.files import atomic_write_bytes
from ganlab.metrics.parzen import parzen_log_likelihood, parzen_select_and_score
from ganlab.report.figures import pyplot, save_figure, save_sample_figure
from ganlab.runs.api import load_run
from ganlab.runs.checkpoints import CheckpointStore

PAPER = {"GAN": (225, 2), "Deep GSN": (214, 1.1), "DBN": (138, 2), "Stacked CAE": (121, 1.6)}


SIGMA_VALID = 1000  # validation images 0-999 choose sigma (the paper's parzen_ll.py)


class Splits(NamedTuple):
    """Images flattened to rows of 784: train; validation images that choose sigma; the other
    validation images, which select the checkpoint; test, which only reports."""

    train: torch.Tensor
    valid: torch.Tensor
    select: torch.Tensor
    test: torch.Tensor


def _splits(dataset: str, path: str | None) -> Splits:
    train, valid, test = (load_split(dataset, s, path)[0] for s in ("train", "valid", "test"))
    valid = valid.reshape(len(valid), -1)
    return Splits(
        train.reshape(len(train), -1), valid[:SIGMA_VALID], valid[SIGMA_VALID:],
        test.reshape(len(test), -1),
    )  # fmt: skip


def _score(
    samples: torch.Tensor, valid: torch.Tensor, test: torch.Tensor, select: torch.Tensor | None
) -> dict:
    """The paper's protocol (sigma on `valid`, mean LL of `test` +- SE): mean_ll, se, sigma;
    with `select`, also its mean LL at the same sigma (select_ll +- select_se, select_n): the
    number a checkpoint is chosen by."""
    mu = samples.reshape(len(samples), -1)
    score = parzen_select_and_score(mu, valid, test)
    out = {"mean_ll": score.mean, "se": score.se, "sigma": score.sigma}
    if select is not None:
        ll = parzen_log_likelihood(mu, select, score.sigma)  # (n_select,)
        out["select_ll"] = float(ll.mean())
        out["select_se"] = float(ll.std(unbiased=False)) / math.sqrt(len(ll))
        out["select_n"] = len(ll)
    return out


def select_checkpoint(rows: list[dict]) -> dict:
    """The row with the highest validation log-likelihood (select_ll); test never enters."""
    return max(rows, key=lambda r: r["select_ll"])


# Validation has stopped improving when its best checkpoint lies this many epochs before the
# newest one scored: 20 checkpoints at the recorded 5 epochs each, all below it. Between epochs
# 150 and 250 the estimate rose ~12 nats per 100 epochs, several of its ~2.3-nat standard
# errors: a run still rising that fast beats its old best within the window.
PATIENCE_EPOCHS = 100


def stopping(rows: list[dict], patience: float = PATIENCE_EPOCHS) -> dict:
    """Whether training can stop: `stopped` is true when the checkpoint selected on validation
    (select_checkpoint) is at least `patience` epochs older than the newest row."""
    best, last = select_checkpoint(rows), rows[-1]
    return {
        "patience_epochs": patience, "best_epoch": best["epoch"], "last_epoch": last["epoch"],
        "stopped": last["epoch"] - best["epoch"] >= patience,
    }  # fmt: skip


def curve(run_dir: Path, dataset: str | None) -> None:
    """Parzen LL of every kept checkpoint, against the training time recorded in metrics.csv."""
    first = load_run(run_dir)
    dataset = dataset or first.config.data.kind
    data = _splits(dataset, first.config.data.path)
    elapsed = {}  # step -> seconds of training, from metrics.csv (evaluation time excluded)
    offset = last = 0.0
    for row in first.metrics():
        if row["elapsed_s"] < last:  # runs logged before elapsed_s went on across resumes
            offset += last
        last = row["elapsed_s"]
        elapsed[int(row["step"])] = offset + last
    done = {}  # rows of an earlier `curve` of this run: a resumed run scores only new steps
    if (run_dir / "parzen_curve.json").exists():  # (rows without a validation score: again)
        done = {
            r["step"]: r
            for r in json.loads((run_dir / "parzen_curve.json").read_text())["rows"]
            if "select_ll" in r
        }
    rows = []
    for entry in CheckpointStore(run_dir / "checkpoints").entries():
        step = int(entry["step"])
        if step in done:
            rows.append(done[step])
            continue
        run = load_run(run_dir, step)
        t0 = time.perf_counter()
        result = _score(run.sample(10_000), data.valid, data.test, data.select)
        rows.append(
            {"step": step, "epoch": step * run.config.m / 50_000, "train_s": elapsed.get(step),
             **result, "eval_s": time.perf_counter() - t0}
        )  # fmt: skip
        r = rows[-1]
        print(
            f"step {step:>7}  epoch {r['epoch']:6.1f}  train {r['train_s'] or 0:7.0f} s  "
            f"validation LL {r['select_ll']:7.2f} +- {r['select_se']:.2f}  "
            f"test LL {r['mean_ll']:7.2f} +- {r['se']:.2f}  sigma {r['sigma']:.3f}",
            flush=True,
        )
    best, stop = select_checkpoint(rows), stopping(rows)
    out = {
        "run": str(run_dir), "dataset": dataset, "rows": rows, "best": best, "stopping": stop,
        "selection": f"highest mean LL of validation images {SIGMA_VALID}-"
        f"{SIGMA_VALID + best['select_n'] - 1} at each checkpoint's sigma (chosen on validation "
        f"images 0-{SIGMA_VALID - 1}); the test LL is reported, never used to select",
    }  # fmt: skip
    atomic_write_bytes(run_dir / "parzen_curve.json", (json.dumps(out, indent=1) + "\n").encode())
    _plot_curve(run_dir / "parzen_curve.png", rows, dataset, best)
    best_run = load_run(run_dir, best["step"])
    save_sample_figure(
        run_dir / "parzen_best_samples.png", best_run.sample(64), None, None, (0.0, 1.0),
        title=f"step {best['step']}: Parzen LL {best['mean_ll']:.1f} nats (test)",
    )  # fmt: skip
    print(
        f"selected on validation: step {best['step']}  validation LL {best['select_ll']:.2f} "
        f"+- {best['select_se']:.2f}  test LL {best['mean_ll']:.2f} +- {best['se']:.2f} nats"
    )
    since = stop["last_epoch"] - stop["best_epoch"]
    print(
        f"validation {'stopped improving' if stop['stopped'] else 'may still improve'}: best "
        f"at epoch {stop['best_epoch']:g}, {since:g} epochs before the newest checkpoint "
        f"(stop at {stop['patience_epochs']:g})"
    )
    print(f"wrote {run_dir / 'parzen_curve.json'} and parzen_curve.png")


def _plot_curve(path: Path, rows: list[dict], dataset: str, best: dict) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    # epochs, not minutes: a long run's wall time depends on what else shared the machine
    epochs = np.array([r["epoch"] for r in rows])
    ll = np.array([r["mean_ll"] for r in rows])
    se = np.array([r["se"] for r in rows])
    ax.plot(epochs, ll, "o-", color="tab:green", label="test (reported)")
    ax.fill_between(epochs, ll - se, ll + se, color="tab:green", alpha=0.25)
    ax.plot(epochs, [r["select_ll"] for r in rows], "--", color="tab:blue",
            label="validation (selects the checkpoint)")  # fmt: skip
    i = rows.index(best)
    ax.plot(epochs[i], ll[i], "*", color="black", markersize=12, label="selected")
    ax.legend(loc="lower right", fontsize=8)
    if dataset == "mnist":
        for name, (value, err) in PAPER.items():
            if value > ll.min() - 30:
                ax.axhspan(value - err, value + err, color="0.7", alpha=0.5)
                ax.annotate(f"{name} (paper) {value}", (0, value), fontsize=8, va="bottom")
    ax.set_xlabel("epoch (50,000 training images)")
    ax.set_ylabel("Parzen log-likelihood (nats)")
    ax.set_title(f"{dataset}: Parzen window estimate during training (+- 1 SE)")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def caveat(dataset: str, path: str | None, out: Path, clusters: int) -> None:
    """The same protocol scoring real training images and k-means centroids as "samples"."""
    from sklearn.cluster import KMeans

    train, valid, _, test = _splits(dataset, path)
    results = {"dataset": dataset}
    t0 = time.perf_counter()
    results["train_images"] = _score(train[:10_000], valid, test, None)
    print(f"10,000 training images as samples: {results['train_images']}", flush=True)
    # init="random" with one run: k-means++ seeding of 10,000 centres costs more than the
    # Lloyd iterations themselves here, and any reasonable centres make the point.
    km = KMeans(n_clusters=clusters, init="random", n_init=1, max_iter=30, random_state=0)
    km.fit(train.double().numpy())
    centres = torch.from_numpy(km.cluster_centers_).float()
    results["kmeans_centroids"] = {**_score(centres, valid, test, None), "k": clusters}
    results["kmeans_centroids"]["iterations"] = int(km.n_iter_)
    print(f"k-means ({clusters}) centroids as samples: {results['kmeans_centroids']}")
    results["wall_s"] = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"parzen_caveat_{dataset}.json"
    atomic_write_bytes(target, (json.dumps(results, indent=1) + "\n").encode())
    print(f"wrote {target}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curve", help="Parzen LL of every kept checkpoint of a run")
    c.add_argument("run_dir", type=Path)
    c.add_argument("--dataset", help="mnist or fashion_mnist (default: the run's data)")
    k = sub.add_parser("caveat", help="Parzen LL of training images and k-means centroids")
    k.add_argument("--dataset", default="mnist")
    k.add_argument("--path", help="the data set's file or folder (default: ganlab's search)")
    k.add_argument("--out", type=Path, default=Path("."))
    k.add_argument("--clusters", type=int, default=10_000)
    args = p.parse_args()
    torch.manual_seed(0)
    if args.cmd == "curve":
        curve(args.run_dir, args.dataset)
    else:
        caveat(args.dataset, args.path, args.out, args.clusters)


if __name__ == "__main__":
    main()
