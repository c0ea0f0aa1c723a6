"""The search for issue 20's `images` recipe: `ganlab train FOLDER` on folders of PNGs made
from MNIST and Fashion-MNIST (10,000 training images each), scored by a classifier of that set
(ganlab.metrics.classifier, trained on its 50,000 training images): the share of 5,000 samples
it reads with confidence >= 0.9, the rarest class's share, and the class histogram's KL to
uniform. Real test images score 97.6% (MNIST) on the first.

    python benchmarks/images_recipe.py make --out /tmp/img          # the PNG folders
    python benchmarks/images_recipe.py run --folder /tmp/img/mnist --set steps=3000 \\
        --out /tmp/img/run1                                          # one run, scored
    python benchmarks/images_recipe.py real --folder /tmp/img/mnist  # real images, scored
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
    for p in (m, r, b):
        p.add_argument("--data", default=None, help="where MNIST is (default $GANLAB_DATA)")
    args = ap.parse_args()
    {"make": make, "run": run, "real": real}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
