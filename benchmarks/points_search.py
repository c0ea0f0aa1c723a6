"""A search for issue 20's `points` recipe (in progress): ring8's recipe on 2-D shapes of 5,000
points standardised by hand (mean 0, std 1 per axis; samples mapped back), scored by k-NN
precision and recall (ganlab.metrics.precision_recall_density_coverage, k = 3) of 3,000
samples against 3,000 fresh points of the same shape. Seed 0 only; one run at a time.

    cd $(mktemp -d) && python /path/to/benchmarks/points_search.py   # appends search.jsonl
"""

import itertools
import json
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


SHAPES = {"moons": moons, "spiral": spiral, "pinwheel": pinwheel}
VARIANTS = {  # the three rounds of 2026-12-06
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
}
out = open("search.jsonl", "a")
for shape, (name, sets) in itertools.product(SHAPES, VARIANTS.items()):
    x = SHAPES[shape](5000, 0)
    mu, sd = x.mean(0), x.std(0)
    np.savetxt(f"{shape}.csv", (x - mu) / sd, delimiter=",")
    t0 = time.time()
    cmd = [
        "ganlab",
        "train",
        "ring8",
        "--out",
        "r",
        "--overwrite",
        "--quiet",
        "--set",
        "data.kind=csv",
        "--set",
        f"data.path={shape}.csv",
        "--set",
        "steps=4000",
    ]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, capture_output=True)
    secs = time.time() - t0
    subprocess.run(
        ["ganlab", "sample", "r", "-n", "3000", "--out", "s.npy", "--overwrite"],
        check=True,
        capture_output=True,
    )
    s = np.load("s.npy") * sd + mu
    fresh = SHAPES[shape](3000, 1)
    p = prdc(torch.tensor(fresh, dtype=torch.float32), torch.tensor(s, dtype=torch.float32))
    row = {
        "shape": shape,
        "variant": name,
        "precision": round(p.precision, 3),
        "recall": round(p.recall, 3),
        "seconds": round(secs, 1),
    }
    print(row, flush=True)
    out.write(json.dumps(row) + "\n")
    out.flush()
