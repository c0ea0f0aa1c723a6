"""The search for issue 20's `points` recipe: variants of a recipe on 2-D shapes of 5,000
points standardised to mean 0 and std 1 per axis (samples mapped back), scored by k-NN
precision and recall (ganlab.metrics.precision_recall_density_coverage, k = 3; from round 6
also k = 5, where fresh points against fresh points score 0.99 / 0.99) of 3,000 samples
against 3,000 fresh points of the same shape.

    cd $(mktemp -d) && python /path/to/benchmarks/points_search.py --round 4   # search.jsonl

The first rounds ran ring8's preset (`--set` on it); round 4 onward starts from z of
dimension 8 and 8,000 steps, the best of round 3.
"""

import argparse
import itertools
import json
import os
import subprocess
import time

import numpy as np
import torch

from ganlab.metrics import precision_recall_density_coverage as prdc


def moons(n, seed):
    from sklearn.datasets import make_moons

    return make_moons(n, noise=0.05, random_state=seed)[0]


def spiral(n, seed):
    r = np.random.default_rng(seed)
    t = np.sqrt(r.uniform(0, 1, n)) * 3 * np.pi
    x = np.stack([t * np.cos(t), t * np.sin(t)], 1) / (3 * np.pi)
    return x + 0.02 * r.standard_normal((n, 2))


def pinwheel(n, seed, arms=5):
    r = np.random.default_rng(seed)
    k = r.integers(0, arms, n)
    feats = r.standard_normal((n, 2)) * [0.3, 0.05] + [1, 0]
    ang = 2 * np.pi * k / arms + 0.25 * np.exp(feats[:, 0])
    c, s = np.cos(ang), np.sin(ang)
    return np.stack([c * feats[:, 0] - s * feats[:, 1], s * feats[:, 0] + c * feats[:, 1]], 1)


def checkerboard(n, seed):
    r = np.random.default_rng(seed)
    x1 = r.uniform(-2, 2, n)
    x2 = r.uniform(0, 1, n) + r.integers(0, 2, n) - 2 + (np.floor(x1) % 2)
    return np.stack([x1, x2 * 2], 1)


def circles(n, seed):
    from sklearn.datasets import make_circles

    return make_circles(n, noise=0.04, factor=0.5, random_state=seed)[0] * 3.0


def blobs(n, seed):
    """Gaussians of very different spreads and weights: wide data beside narrow modes."""
    r = np.random.default_rng(seed)
    centres = np.array([[0, 0], [6, 0], [0, 6], [-5, -5]])
    stds = np.array([1.5, 0.1, 0.4, 0.05])
    k = r.choice(4, n, p=[0.4, 0.2, 0.25, 0.15])
    return centres[k] + stds[k, None] * r.standard_normal((n, 2))


def swissroll(n, seed):
    from sklearn.datasets import make_swiss_roll

    return make_swiss_roll(n, noise=0.3, random_state=seed)[0][:, [0, 2]] * 10.0


DECAY_12K = [f"{who}_optimizer.lr_decay_factor={20 ** (1 / 12000)}" for who in "gd"]
DECAY_16K = [f"{who}_optimizer.lr_decay_factor={20 ** (1 / 16000)}" for who in "gd"]
TUNE = {"moons": moons, "spiral": spiral, "pinwheel": pinwheel, "checkerboard": checkerboard}
HELD_OUT = {"circles": circles, "blobs": blobs, "swissroll": swissroll}
SHAPES = TUNE | HELD_OUT

ROUNDS = {
    "1-3": {  # --set on ring8, steps=4000 unless said (rounds 1-3 of 2026-12-06)
        "ring8": [],
        "8k steps": ["steps=8000"],
        "no decay": ["g_optimizer.lr_decay_factor=1.0", "d_optimizer.lr_decay_factor=1.0"],
        "z4": ["noise.dim=4"],
        "ema": ["ema.beta=0.999"],
        "z8": ["noise.dim=8"],
        "z4 8k": ["noise.dim=4", "steps=8000"],
        "z8 8k": ["noise.dim=8", "steps=8000"],
        "z4 G256": ["noise.dim=4", "generator.hidden=[256,256,256]"],
        "z16 8k": ["noise.dim=16", "steps=8000"],
        "z8 8k m512": ["noise.dim=8", "steps=8000", "m=512"],
        "z8 16k": [
            "noise.dim=8",
            "steps=16000",
            "g_optimizer.lr_decay_factor=1.00015",
            "d_optimizer.lr_decay_factor=1.00015",
        ],
    },
    "4": {  # on ring8 + noise.dim=8 + steps=8000
        "z8 8k": [],
        "r1=0.1": ["regularizers.r1=0.1"],
        "r1=1": ["regularizers.r1=1"],
        "lr floor x4": ["g_optimizer.min_lr=0.0001", "d_optimizer.min_lr=0.0002"],
        "256 wide": ["generator.hidden=[256,256,256]", "discriminator.hidden=[256,256,256]"],
        "hinge": ["objective=hinge"],
        "ema 0.999": ["ema.beta=0.999"],
    },
    "5": {  # the points preset (its data pointed at the file), and variants on it
        "points": [],
        "z16": ["noise.dim=16"],
        "12k": [
            "steps=12000",
            f"g_optimizer.lr_decay_factor={20 ** (1 / 12000)}",
            f"d_optimizer.lr_decay_factor={20 ** (1 / 12000)}",
        ],
        "r1=0.1": ["regularizers.r1=0.1"],
    },
    "6": {"points": []},  # the preset as shipped, over seeds and shapes it was not tuned on
    "7": {  # `ganlab train SHAPE.csv --set ...`: R1's strength against a longer run
        "r1=1 12k": ["steps=12000", *DECAY_12K],
        "r1=0.3 12k": ["regularizers.r1=0.3", "steps=12000", *DECAY_12K],
        "r1=0.3": ["regularizers.r1=0.3"],
    },
    "8": {  # `ganlab train SHAPE.csv --set ...` on the shipped recipe: the weakest two shapes
        "r1=0.5": ["regularizers.r1=0.5"],
        "G 256x3": ["generator.hidden=[256,256,256]"],
        "D 256x3": ["discriminator.hidden=[256,256,256]"],
        "16k": ["steps=16000", *DECAY_16K],
        "m=512": ["m=512"],
    },
}
BASE = {"1-3": ["steps=4000"], "4": ["noise.dim=8", "steps=8000"]}
BASE |= {r: [] for r in ("5", "6", "7", "8")}
# round 6 runs `ganlab train SHAPE.csv` on the raw points, as a user would (the recipe chooses)
PRESET = {"1-3": "ring8", "4": "ring8", "5": "points", "6": None, "7": None, "8": None}


def score(shape, samples, k=3):
    fresh = SHAPES[shape](3000, 1)
    real, fake = (torch.tensor(a, dtype=torch.float32) for a in (fresh, samples))
    p = prdc(real, fake, k_pr=k, k_dc=max(k, 5))
    return round(p.precision, 3), round(p.recall, 3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--round", default="4", choices=sorted(ROUNDS))
    ap.add_argument("--shapes", default=",".join(TUNE))
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--variants", default="", help="comma-separated names; default all")
    ap.add_argument("--threads", type=int, default=1, help="round 6: torch threads per run")
    args = ap.parse_args()
    out = open("search.jsonl", "a")
    variants = ROUNDS[args.round]
    names = args.variants.split(",") if args.variants else list(variants)
    shapes, seeds = args.shapes.split(","), [int(s) for s in args.seeds.split(",")]
    for shape in shapes:  # the metric's ceiling: fresh points against fresh points
        p, r = score(shape, SHAPES[shape](3000, 2))
        p5, r5 = score(shape, SHAPES[shape](3000, 2), k=5)
        print({"shape": shape, "variant": "real vs real", "precision": p, "recall": r,
               "precision_k5": p5, "recall_k5": r5})  # fmt: skip
    for seed, shape, name in itertools.product(seeds, shapes, names):
        x = SHAPES[shape](5000, 0)
        mu, sd = x.mean(0), x.std(0)
        preset = PRESET[args.round]
        if preset is None:  # the user's way: the raw file, nothing else
            mu, sd = 0.0, 1.0
            cmd = ["ganlab", "train", f"{shape}.csv", "--out", "r", "--overwrite", "--quiet"]
            for s in [f"seed={seed}", f"threads={args.threads}", *variants[name]]:
                cmd += ["--set", s]
        else:
            cmd = ["ganlab", "train", preset, "--out", "r", "--overwrite", "--quiet"]
            sets = ["data.kind=csv", f"data.path={shape}.csv", f"seed={seed}", "threads=1"]
            for s in sets + BASE[args.round] + variants[name]:
                cmd += ["--set", s]
        np.savetxt(f"{shape}.csv", (x - mu) / sd, delimiter=",")
        t0 = time.time()
        subprocess.run(cmd, check=True, capture_output=True)
        secs = time.time() - t0
        subprocess.run(
            ["ganlab", "sample", "r", "-n", "3000", "--out", "s.npy", "--overwrite"],
            check=True,
            capture_output=True,
        )
        samples = np.load("s.npy") * sd + mu
        p, r = score(shape, samples)
        p5, r5 = score(shape, samples, k=5)
        row = dict(shape=shape, variant=name, seed=seed, precision=p, recall=r, seconds=secs)
        row.update(precision_k5=p5, recall_k5=r5)
        findings = "r/findings.json"  # the doctor's, e.g. unfinished
        found = json.loads(open(findings).read()) if os.path.exists(findings) else {}
        row["findings"] = [f["kind"] for f in (found or {}).get("findings", [])]
        row["round"], row["seconds"] = args.round, round(secs, 1)
        print(row, flush=True)
        out.write(json.dumps(row) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
