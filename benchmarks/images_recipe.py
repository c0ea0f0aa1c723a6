"""The search for issue 20's `images` recipe: `ganlab train FOLDER` on folders of PNGs made
from MNIST and Fashion-MNIST (10,000 training images each), scored by a classifier of that set
(ganlab.metrics.classifier, trained on its 50,000 training images): the share of 5,000 samples
it reads with confidence >= 0.9, the rarest class's share, and the class histogram's KL to
uniform. Real test images score 97.6% (MNIST) on the first.

    python benchmarks/images_recipe.py make --out /tmp/img          # the PNG folders
    python benchmarks/images_recipe.py run --folder /tmp/img/mnist --set steps=3000 \\
        --out /tmp/img/run1                                          # one run, scored
    python benchmarks/images_recipe.py real --folder /tmp/img/mnist  # real images, scored
    python benchmarks/images_recipe.py score /tmp/img/run1 --step 1000 --step 2000 \\
        [--psi 1,0.8] [--rank-by-d 2,4]                             # checkpoints, scored
    python benchmarks/images_recipe.py clusters --k 20,30           # clusterings against labels
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

SETS = ("mnist", "fashion_mnist")


def make(args):
    from PIL import Image

    from ganlab.data import load_split

    for name in SETS:
        x = load_split(name, "train", args.data)[0][: args.n, 0].numpy()
        folder = Path(args.out) / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, im in enumerate((x * 255).round().astype(np.uint8)):
            Image.fromarray(im).save(folder / f"{i:05d}.png")
        print(folder, len(x))


def classifier(name, data):
    from ganlab.data import load_split
    from ganlab.metrics.classifier import reference_classifier

    splits = (*load_split(name, "train", data)[:2], *load_split(name, "test", data)[:2])
    return reference_classifier(data=splits).model


@torch.no_grad()
def score(model, x):
    p = torch.softmax(model.eval()(x), 1)
    conf, cls = p.max(1)
    share = torch.bincount(cls, minlength=10).double() / len(cls)
    kl = float((share * (share.clamp_min(1e-12) / 0.1).log()).sum())
    return {
        "confident": round(float((conf >= 0.9).double().mean()), 4),
        "rarest_class": round(float(share.min()), 4),
        "kl_uniform": round(kl, 4),
    }


def run(args):
    name = "fashion_mnist" if "fashion" in Path(args.folder).name else "mnist"
    cmd = ["ganlab", "train", args.folder, "--out", args.out, "--quiet"]
    for s in args.set:
        cmd += ["--set", s]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    seconds = time.time() - t0
    subprocess.run(
        ["ganlab", "sample", args.out, "-n", "5000", "--out", f"{args.out}/s.npy", "--overwrite"],
        check=True,
    )
    x = torch.from_numpy(np.load(f"{args.out}/s.npy")).float()
    row = {"set": name, "sets": args.set, "seconds": round(seconds, 1)}
    row.update(score(classifier(name, args.data), x))
    print(json.dumps(row), flush=True)
    with open(args.log, "a") as f:
        f.write(json.dumps(row) + "\n")


def score_run(args):
    """Each checkpoint's 5,000 samples of G's average (z from seed + 123, the same z for every
    checkpoint), scored; with --psi, z scaled by psi (truncation); with --rank-by-d, the
    5,000 that D ranks most real of r x 5,000 draws. A conditional run's classes are drawn with
    its class weights (a run whose classes are clusters: their sizes), or the frequencies of
    the labels in --labels (an .npz with y), else uniformly."""
    from ganlab.runfiles import run_config
    from ganlab.runs.api import load_run
    from ganlab.training.prior import draw_classes

    data_path = str(run_config(Path(args.run)).data.path)  # the folder it trained on
    model = classifier("fashion_mnist" if "fashion" in data_path else "mnist", args.data)
    psis = [float(p) for p in args.psi.split(",")]
    ranks = [int(r) for r in args.rank_by_d.split(",")] if args.rank_by_d else []
    for step in args.step or [None]:
        run = load_run(args.run, step)
        G, D = run.sampler.eval(), run.discriminator.eval()
        seed = torch.Generator().manual_seed(run.config.seed + 123)
        y = None
        if run.class_names is not None:
            freq = run.class_weights  # None: uniform
            if args.labels:
                freq = torch.bincount(torch.from_numpy(np.load(args.labels)["y"]).long())
            n, k = 5000 * max([1, *ranks]), len(run.class_names)
            y = draw_classes(n, k, freq, seed)
        z = torch.randn(5000 * max([1, *ranks]), run.config.noise.dim, generator=seed)
        with torch.no_grad():
            for psi in psis:
                x = in_chunks(G, z[:5000] * psi, None if y is None else y[:5000])
                row = {"run": args.run, "step": run.step, "psi": psi}
                print(json.dumps({**row, **score(model, (x + 1) / 2)}), flush=True)
            if args.spread:
                ratio = spread_ratio(run, args.labels)
                print(json.dumps({"run": args.run, "step": run.step, **ratio}), flush=True)
            for r in ranks:
                yr = None if y is None else y[: 5000 * r]
                x = in_chunks(G, z[: 5000 * r], yr)
                keep = in_chunks(D, x, yr).argsort(descending=True)[:5000]
                row = {"run": args.run, "step": run.step, "rank_by_d": r}
                print(json.dumps({**row, **score(model, (x[keep] + 1) / 2)}), flush=True)


def spread(x):
    """Mean L2 distance between two different examples of x (pixels in [0, 1])."""
    flat = x.reshape(len(x), -1).double()
    return float(torch.cdist(flat, flat).sum() / (len(x) * (len(x) - 1)))


def spread_ratio(run, labels=None, per_class=50, seed=11):
    """How varied G's samples are beside the data: mean pairwise distance of samples over that
    of training images (1: as varied; a collapsed G: near 0). A conditional run: within each
    class (its clusters, recomputed as training computed them, or the labels of --labels),
    averaged with the classes' sizes; the lowest class's ratio beside it."""
    from ganlab.training.state import labelled_source

    cfg, G = run.config, run.sampler.eval()
    gen = torch.Generator().manual_seed(seed)
    source = labelled_source(cfg)  # the clusters of a cluster run, as training computed them
    x = source.rows(torch.arange(source.size)).float()  # [0, 1]: nothing scaled it yet
    z = torch.randn(1000, cfg.noise.dim, generator=gen)
    if run.class_names is None:
        real = x[torch.randperm(len(x), generator=gen)[:1000]]
        return {"spread": round(spread((in_chunks(G, z) + 1) / 2) / spread(real), 3)}
    y = torch.from_numpy(np.load(labels)["y"]).long() if labels else source.labels
    ratios, sizes = [], []
    for c in range(len(run.class_names)):
        real = x[y == c][torch.randperm(int((y == c).sum()), generator=gen)[:100]]
        if len(real) < 5:
            continue
        fake = (G(z[:per_class], torch.full((per_class,), c)) + 1) / 2
        ratios.append(spread(fake) / spread(real))
        sizes.append(int((y == c).sum()))
    mean = sum(r * s for r, s in zip(ratios, sizes, strict=True)) / sum(sizes)
    return {"spread_within_class": round(mean, 3), "lowest_class": round(min(ratios), 3)}


def in_chunks(net, inputs, y=None, size=1000):
    """net(inputs) (or net(inputs, y) for a conditional net), 1,000 rows at a time."""
    if y is None:
        return torch.cat([net(c) for c in inputs.split(size)])
    return torch.cat([net(c, yc) for c, yc in zip(inputs.split(size), y.split(size), strict=True)])


def clusters(args):
    """How well each clustering of conditional.clusters finds a set's classes (its first n
    training images, the labels hidden from it): purity, the share of images whose cluster's
    most common class is their own; and `led`, each class's share of the images in clusters it
    leads (what G draws if it draws each cluster as its most common class), its lowest beside."""
    from ganlab.data import load_split
    from ganlab.data.clusters import cluster_labels
    from ganlab.data.sources import TensorSource

    for name in SETS:
        x, y = load_split(name, "train", args.data)[:2]
        source, y = TensorSource(x[: args.n], 0), y[: args.n]
        for k in [int(k) for k in args.k.split(",")]:
            for method in args.method.split(","):
                start = time.perf_counter()
                labels = cluster_labels(source, k, seed=args.seed, method=method)
                seconds = time.perf_counter() - start
                counts = torch.zeros(k, 10).index_put_((labels, y), torch.ones(len(y)), True)
                led = torch.zeros(10).index_add_(0, counts.argmax(1), counts.sum(1)) / len(y)
                row = {"set": name, "k": k, "method": method, "seconds": round(seconds, 1)}
                row["purity"] = round(float(counts.max(1).values.sum() / len(y)), 3)
                row["lowest_led"] = round(float(led.min()), 3)
                row["led"] = [round(float(v), 3) for v in led]
                print(json.dumps(row), flush=True)


def real(args):
    """The classifiers' reading of real images: each set's test images and a PNG folder."""
    from ganlab.data import load_image_folder, load_split

    for name in SETS:
        x = load_split(name, "test", args.data)[0][:5000]
        print(json.dumps({"set": name, "test images": score(classifier(name, args.data), x)}))
    if args.folder:
        name = "fashion_mnist" if "fashion" in Path(args.folder).name else "mnist"
        x = load_image_folder(Path(args.folder))[:5000]
        print(json.dumps({"set": name, args.folder: score(classifier(name, args.data), x)}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--n", type=int, default=10_000)
    r = sub.add_parser("run")
    r.add_argument("--folder", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--set", action="append", default=[])
    r.add_argument("--log", default="images_search.jsonl")
    b = sub.add_parser("real")
    b.add_argument("--folder", default=None, help="also score this folder's first 5,000 images")
    k = sub.add_parser("clusters")
    k.add_argument("--n", type=int, default=10_000)
    k.add_argument("--k", default="20,30", help="comma-separated cluster counts")
    k.add_argument("--method", default="kmeans,spectral")
    k.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("score")
    c.add_argument("run")
    c.add_argument("--step", type=int, action="append", help="default: the newest checkpoint")
    c.add_argument("--psi", default="1", help="comma-separated truncation factors for z")
    c.add_argument("--rank-by-d", default="", help="comma-separated r: keep D's best of r x")
    c.add_argument("--labels", default=None, help="conditional runs: class frequencies (.npz y)")
    c.add_argument("--spread", action="store_true", help="also how varied samples are (1: as data)")
    for p in (m, r, b, k, c):
        p.add_argument("--data", default=None, help="where MNIST is (default $GANLAB_DATA)")
    args = ap.parse_args()
    commands = {"make": make, "run": run, "real": real, "clusters": clusters, "score": score_run}
    commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
