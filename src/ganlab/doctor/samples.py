"""Detectors on G's samples: mode collapse (modes covered, or the samples' spread against the
data's own), memorisation (samples nearer to training examples than unseen data is), an
unfinished run (k-NN precision or recall still rising when the step budget ran out) and a poor
fit (k-NN precision near 0 at the run's end: samples away from the data).

Both rest on nearest-neighbour distances: torch.cdist in chunks, so 500 samples against 50,000
MNIST images stay a few hundred MB and well under a second.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ganlab.config import Config
from ganlab.doctor.curves import GameFacts
from ganlab.doctor.findings import (
    Finding,
    advice_collapse,
    advice_memorisation,
    advice_poor_fit,
    advice_unfinished,
)
from ganlab.metrics.features import KNN_MIN_POINTS, precision_recall_density_coverage

# Mode collapse on a mixture: modes covered (3-std protocol, metrics.coverage) fall below
# COLLAPSED_SHARE of the modes, or lose DROP_SHARE of the best count seen, at a check past
# WARMUP_SHARE of the run where at least MIN_QUALITY of the samples lie on some mode (G has
# found the data; before that, which modes its few good samples hit is chance: healthy grid25
# runs went 23 -> 15 modes with 1-3% of samples on modes). Healthy gallery runs cover 8/8
# (ring) and >= 23/25 (grid) from that point on; collapsed ones 1/8 (tiny G) and 17/25 (the
# grid's old recipe: z of dimension 8, equal rates, no decay).
COLLAPSED_SHARE = 0.75
DROP_SHARE = 0.25
WARMUP_SHARE = 0.25
MIN_QUALITY = 0.3
# Any data: the median nearest-neighbour distance among n samples over that among n data
# examples. Points: healthy gallery runs stay above 0.7, a G collapsed to a few points gives
# < 0.11. Images: pixel distances say less - short healthy MNIST runs measured 0.035-0.053
# (early samples are blurred averages, close to each other), so only a G whose samples are
# near copies of one another (< 0.01) is called collapsed; partial collapse on images needs a
# classifier's view that this check does not take.
SPREAD_FLOOR = 0.3
IMAGE_SPREAD_FLOOR = 0.01
# Neither is judged before MIN_STEP: an untrained G maps all z near one point (a 10-step
# gauss1d run ends at a spread of 0.02; 3 steps of a packed D's grid run put every sample on
# one mode), which is a run too short to judge, not a collapse.
MIN_STEP = 500
CONFIRM = 2  # consecutive checks a collapse must hold at (a lab frame, the run's last: one)
# Memorisation: the samples' median distance to the nearest training example over unseen
# examples' (held-out, or each training example's to the others). A G that copies its training
# set gives ~0; the healthy gallery runs give 0.8-1.2.
MEMORISED_RATIO = 0.5
SAMPLES = 500  # samples each check draws from G
# Unfinished: at the run's last check, k-NN precision or recall (k = 3, SAMPLES samples against
# SAMPLES examples) averaged over the last two checks exceeds its average over the checks of
# the half before by more than UNFINISHED_GAIN. Between two checks of a converged G these
# scores move by about 0.01-0.02 (sampling noise of 500 against 500, measured on ring8 and the
# points recipe), so 0.05 is noise only by a >= 3 sigma fluke of two averaged checks.
UNFINISHED_GAIN = 0.05
# ... and only while the run does not fit the data yet: at the end precision or recall (the
# last two checks' mean) under GOOD_FIT, or the gain more than STEEP_SHARE of the gap to 1 that
# the half before left. Healthy grid25 runs (seeds 0, 1) still creep up over their last half:
# precision 0.69 -> 0.79 and 0.57 -> 0.71 (recall 0.88-0.90, seed 0), closing 0.34 and 0.31 of
# their gap. Runs stopped early end far lower (ring8 at m = 64 for 1,500 steps: precision 0.45,
# recall 0.58 -> 0.77; grid25's old recipe at 3,000 steps: precision 0.14 -> 0.28); GOOD_FIT
# sits between the two. Closing over half the gap in half a run is a curve still steep where it
# ends: at that rate the doubled budget the advice names would close 3/4 of what is left.
GOOD_FIT = 0.6
STEEP_SHARE = 0.5
# ... but recall rising while precision stays under OFF_DATA_PRECISION is samples spread over
# everything: not a run to go on with as it is, and a poor fit.
# Poor fit: the mean k-NN precision of the run's last two checks is under OFF_DATA_PRECISION,
# at the end of a run of at least MIN_STEP steps. Measured with the doctor's own checks (500
# samples against 500 examples, k = 3) at each checkpoint: the presets' healthy runs (seed 0)
# end at 0.88 (ring8), 0.97 (gauss1d), 0.82 (grid25) and 0.87 (paper-mnist at 1,500 steps,
# 16x16 pooled); ring8 at m = 64 for 1,500 steps is at 0.22 by step 1,000 and 0.45 at its end.
# A ring8 run at m = 2 for 1,500 steps ends at 0.006 and 0.018 (recall 0.74, 0.92: samples
# spread over everything), a weight-clipped WGAN on ring8 at 0.0 after 600 steps. 0.1 sits 5x
# above the failing runs and 2x under the slowest healthy start.
OFF_DATA_PRECISION = 0.1
FIT_SIDE = 16  # images are compared at most 16x16 (average pooling): shape, not pixel noise


def nearest_distances(a: Tensor, b: Tensor, skip: Tensor | None = None) -> Tensor:
    """(n_a,) Euclidean distance from each row of `a` to its nearest row of `b`.

    skip: (n_a,) for each row of `a`, the row of `b` that is itself and does not count
    (leave-one-out); arange(n) when `a` is `b`.
    Points of up to 64 dimensions are compared in float64 without cdist's |a|^2 + |b|^2 - 2ab
    shortcut, which loses small distances between points far from 0 to cancellation (1-D
    samples at 4 +- 0.001 came out as multiples of float32's spacing there); images keep it,
    their distances being of the size of their norms.
    """
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    exact = a.shape[1] <= 64
    if exact:
        a, b = a.double(), b.double()
    else:
        a, b = a.float(), b.float()
    mode = "donot_use_mm_for_euclid_dist" if exact else "use_mm_for_euclid_dist_if_necessary"
    out = []
    for start in range(0, len(a), 256):
        d = torch.cdist(a[start : start + 256], b, compute_mode=mode)  # (chunk, n_b)
        if skip is not None:
            d[torch.arange(d.shape[0]), skip[start : start + 256]] = float("inf")
        out.append(d.min(dim=1).values)
    return torch.cat(out)


def spread_ratio(fake: Tensor, real: Tensor) -> float:
    """median NN distance among the samples / median NN distance among as many data examples."""
    n = min(len(fake), len(real))
    fake, real = fake[:n], real[:n]
    among_real = float(nearest_distances(real, real, skip=torch.arange(n)).median())
    among_fake = float(nearest_distances(fake, fake, skip=torch.arange(n)).median())
    return among_fake / among_real if among_real > 0 else float("inf")


def unseen_distance(train: Tensor, heldout: Tensor | None = None) -> float:
    """Median distance from unseen examples to their nearest training example.

    Held-out examples when given; else each of 500 training examples against the *other*
    training examples (leave-one-out), a stand-in for unseen data of the same kind.
    """
    if heldout is not None:
        return float(nearest_distances(heldout[:SAMPLES], train).median())
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:SAMPLES]
    return float(nearest_distances(train[pick], train, skip=pick).median())


def memorisation_ratio(fake: Tensor, train: Tensor, unseen: float) -> dict[str, float]:
    """How near the samples are to the training set, against unseen data.

        ratio = median_i min_j |G(z_i) - x_j| / unseen,  unseen = median_h min_j |x_h - x_j|

    x_j: training examples; x_h: unseen examples (unseen_distance).
    """
    to_train = float(nearest_distances(fake, train).median())
    ratio = to_train / unseen if unseen > 0 else float("inf")
    return {"ratio": ratio, "sample_to_train": to_train, "unseen_to_train": unseen}


def coverage_collapse(rows: list[dict], facts: GameFacts, cfg: Config) -> Finding | None:
    """mode_collapse from (step, modes_covered, modes, ...) checks of a mixture, holding at
    CONFIRM consecutive checks (or at the run's last): one low count may be G between modes."""
    best, held = 0, []
    for row in rows:
        step, covered, modes = int(row["step"]), int(row["modes_covered"]), int(row["modes"])
        past_warmup = step >= max(WARMUP_SHARE * facts.steps, MIN_STEP)
        dropped = covered <= best - max(1, int(np.ceil(DROP_SHARE * best)))
        few = covered < COLLAPSED_SHARE * modes
        landed = float(row.get("high_quality", 1.0)) >= MIN_QUALITY
        if past_warmup and landed and (few or dropped):
            evidence = {"modes_covered": covered, "modes": modes, "best_before": best}
            if "high_quality" in row:
                evidence["high_quality"] = float(row["high_quality"])
            held.append((step, evidence))
            if len(held) >= CONFIRM or step >= facts.steps:
                return Finding("mode_collapse", held[0][0], held[0][1], advice_collapse(cfg))
            continue
        held = []
        if landed:
            best = max(best, covered)
    return None


def spread_floor(x_shape: tuple[int, ...]) -> float:
    """The spread ratio under which samples of this shape count as collapsed."""
    return IMAGE_SPREAD_FLOOR if len(x_shape) > 1 else SPREAD_FLOOR


def spread_collapse(rows: list[dict], facts: GameFacts, cfg: Config) -> Finding | None:
    """mode_collapse from (step, spread, floor) checks: samples bunched far tighter than the
    data past the warm-up, at CONFIRM consecutive checks (or at the run's last). A row's other
    keys (off_the_modes': modes covered, share on modes) join the evidence."""
    held = []
    for row in rows:
        judged = row["step"] >= max(WARMUP_SHARE * facts.steps, MIN_STEP)
        if not (judged and row["spread"] < row["floor"]):
            held = []
            continue
        held.append(row)
        if len(held) >= CONFIRM or row["step"] >= facts.steps:
            first = held[0]
            evidence = {"spread_ratio": first["spread"], "threshold": first["floor"]}
            extra = {k: v for k, v in first.items() if k not in ("step", "spread", "floor")}
            evidence.update(extra)
            return Finding("mode_collapse", int(first["step"]), evidence, advice_collapse(cfg))
    return None


def off_the_modes(spread: list[dict], coverage: list[dict]) -> list[dict]:
    """The spread checks of a mixture run taken while under MIN_QUALITY of its samples lay on
    any mode (the latest coverage check at or before each), where coverage_collapse cannot
    judge; the others with an infinite spread, so that they break a streak. A G that put every
    sample on one point off the data (a ring8 run at learning rate 1: 0 of 8 modes, spread 0)
    is collapsed whatever the modes say."""
    out = []
    for row in spread:
        before = [c for c in coverage if c["step"] <= row["step"]]
        quality = float(before[-1].get("high_quality", 1.0)) if before else 1.0
        if quality >= MIN_QUALITY:
            out.append({**row, "spread": float("inf")})
            continue
        last = before[-1]
        modes = {"modes_covered": int(last["modes_covered"]), "modes": int(last["modes"])}
        out.append({**row, **modes, "high_quality": quality})
    return out


def memorised(rows: list[dict], facts: GameFacts, cfg: Config) -> Finding | None:
    """memorisation from (step, ratio, ...) checks."""
    for row in rows:
        if row["ratio"] < MEMORISED_RATIO:
            evidence = {k: row[k] for k in ("ratio", "sample_to_train", "unseen_to_train")}
            evidence["threshold"] = MEMORISED_RATIO
            step = int(row["step"])
            return Finding("memorisation", step, evidence, advice_memorisation(cfg, step))
    return None


def fit_scores(fake: Tensor, real: Tensor) -> dict[str, float]:
    """k-NN precision and recall (Kynkaanniemi et al. 2019, k = 3) of samples against data;
    images average-pooled to at most FIT_SIDE x FIT_SIDE first."""
    if fake.ndim == 4 and fake.shape[-1] > FIT_SIDE:
        pool = torch.nn.AdaptiveAvgPool2d(FIT_SIDE)
        fake, real = pool(fake), pool(real)
    n = min(len(fake), len(real))
    if n < KNN_MIN_POINTS:  # a data set of a handful of examples: no k-th neighbour to measure by
        return {"precision": float("nan"), "recall": float("nan")}
    scores = precision_recall_density_coverage(real[:n].reshape(n, -1), fake[:n].reshape(n, -1))
    return {"precision": scores.precision, "recall": scores.recall}


def unfinished(rows: list[dict], facts: GameFacts, cfg: Config) -> Finding | None:
    """unfinished from (step, precision, recall) checks: at the run's end (a check at its last
    step), the last two checks' mean `now` beats the mean `then` of the checks over the half of
    the run before them in precision or recall by

        now - then > UNFINISHED_GAIN,  and
        min(precision_now, recall_now) < GOOD_FIT  or  now - then > STEEP_SHARE * (1 - then):

    still rising, and either not fitting the data yet or rising steeply for what is left."""
    if len(rows) < 4 or rows[-1]["step"] < facts.steps:
        return None
    last = rows[-2:]
    start = rows[-1]["step"] / 2
    before = [r for r in rows[:-2] if r["step"] >= start] or rows[:-2][-1:]
    at_end = {m: float(np.mean([r[m] for r in last])) for m in ("precision", "recall")}
    off_the_data = at_end["precision"] < OFF_DATA_PRECISION
    fits = min(at_end.values()) >= GOOD_FIT
    for measure in ("recall", "precision"):
        then = float(np.mean([r[measure] for r in before]))
        now = at_end[measure]
        steep = now - then > STEEP_SHARE * (1.0 - then)
        rising = now - then > UNFINISHED_GAIN and (steep or not fits)
        if rising and not (measure == "recall" and off_the_data):
            evidence = {f"{measure}_before": then, f"{measure}_at_end": now}
            evidence["threshold"] = UNFINISHED_GAIN
            advice = advice_unfinished(cfg, measure, then, now)
            return Finding("unfinished", int(rows[-1]["step"]), evidence, advice)
    return None


def poor_fit(rows: list[dict], facts: GameFacts, cfg: Config) -> Finding | None:
    """poor_fit from (step, precision, recall) checks: at the end of a run of at least MIN_STEP
    steps (a check at its last step), the last two checks' mean k-NN precision is under
    OFF_DATA_PRECISION; found at the first of the checks under it that run to the end."""
    if not rows or rows[-1]["step"] < max(facts.steps, MIN_STEP):
        return None
    last = rows[-2:]
    precision = float(np.mean([r["precision"] for r in last]))
    if not precision < OFF_DATA_PRECISION:  # NaN: too few examples to measure by
        return None
    first = len(rows) - 1
    while first > 0 and rows[first - 1]["precision"] < OFF_DATA_PRECISION:
        first -= 1
    recall = float(np.mean([r["recall"] for r in last]))
    evidence = {"precision_at_end": precision, "recall_at_end": recall}
    evidence["threshold"] = OFF_DATA_PRECISION
    advice = advice_poor_fit(cfg, precision, recall)
    return Finding("poor_fit", int(rows[first]["step"]), evidence, advice)
