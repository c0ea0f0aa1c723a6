"""Metrics of a conditional generator, x ~ p_g(x | y): does a sample show the class it was asked
for (label agreement), does each class look like the data's (per-class FID), and do the samples
teach a classifier the real classes (classification accuracy score, CAS).

Each function takes tensors: generated images x_gen with the labels y_gen they were drawn for,
and real images with their true labels. The classifier is the reference MNIST classifier
(metrics/classifier.py); its penultimate features are FID's feature space, as in
metrics/features.py.

Floors (the real-vs-real value of each metric, as metrics/evaluate.py reports beside every
score): the same function with the generated images replaced by real images of the same
labels, ``matching_real(x, y, y_gen)``, i.e. what a generator that draws exactly from the
data's p(x | y) would score at these sample sizes:

- label_agreement: held-out images (the classifier never trained on them, e.g. MNIST's test
  split) with their true labels: the classifier's accuracy, ~0.99 on MNIST.
- per_class_fid: training images of each class against the same real (test) images of that
  class; the numbers measured are in its docstring.
- classification_accuracy_score: returns its floor itself, ``real_accuracy``: the same recipe
  trained on as many real training images of the same labels.

``conditional_scores`` computes the three metrics and their floors in one call, as metrics.json
entries; metrics/conditional_run.py draws a conditional run's samples for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganlab.metrics import classifier as clf
from ganlab.metrics.features import frechet_distance
from ganlab.report.format import format_value

CONFIDENCE = 0.9  # label_agreement's "confident": p(asked class | x) >= this

DEFINITIONS = {
    "label_agreement": "share of samples drawn for class y that the reference classifier reads "
    "as y (argmax); higher is better",
    "intra_fid": "mean over classes of the FID of the samples drawn for class y against real "
    "images of class y, on classifier features (intra-FID, Miyato & Koyama 2018); lower is better",
    "cas": "classification accuracy score (Ravuri & Vinyals 2019): accuracy on real test images "
    "of a classifier trained only on generated (x, y); the floor trains it on real images",
}


# ---------------------------------------------------------------------------------------------
# Label agreement


def label_agreement(
    classifier: nn.Module,
    x: Tensor,
    labels: Tensor,
    *,
    confidence: float = CONFIDENCE,
    batch: int = 1000,
) -> dict:
    """Share of images the classifier reads as the class they were drawn for, overall and per
    class, and the share it reads so with probability >= confidence.

        agreement   = 1/n sum_i 1[argmax_c p(c | x_i) = y_i]
        confident   = 1/n sum_i 1[p(y_i | x_i) >= confidence]      p = softmax of the logits
        agreement_c = the same over {i : y_i = c}                    (NaN where no y_i = c)

    With confidence > 1/2 a confident sample is also an agreeing one: confident <= agreement.
    Floor: real held-out images with their true labels (the classifier's accuracy on them).

    Args:
        classifier: an nn.Module from (n, *x_shape) images to (n, K) logits (the reference
            DigitClassifier: images (n, 1, 28, 28) in [0, 1]).
        x: (n, *x_shape) images.  labels: (n,) int classes in 0..K-1, those asked for.
        confidence: the probability threshold of ``confident``.  batch: images per forward.
    Returns:
        {"agreement", "confident": floats; "per_class", "confident_per_class": {c: float};
        "counts": {c: n_c}; "n": n; "confidence": the threshold}, c = 0..K-1.
    Raises:
        ValueError: x and labels of different lengths, no images, or a label outside 0..K-1.
    """
    labels = torch.as_tensor(labels).long().reshape(-1)
    if len(x) != len(labels) or len(x) == 0:
        raise ValueError(f"needs as many labels as images (> 0), got {len(labels)} and {len(x)}")
    p = torch.softmax(clf.logits(classifier, x, batch).double(), dim=1)  # (n, K)
    k = p.shape[1]
    if int(labels.min()) < 0 or int(labels.max()) >= k:
        raise ValueError(f"labels must be in 0..{k - 1} (the classifier's classes), got "
                         f"{int(labels.min())}..{int(labels.max())}")  # fmt: skip
    agree = (p.argmax(1) == labels).double()  # (n,)
    sure = (p.gather(1, labels[:, None])[:, 0] >= confidence).double()  # (n,)
    counts = torch.bincount(labels, minlength=k)  # (K,)
    return {
        "agreement": float(agree.mean()),
        "confident": float(sure.mean()),
        "per_class": _class_means(agree, labels, counts),
        "confident_per_class": _class_means(sure, labels, counts),
        "counts": {c: int(n) for c, n in enumerate(counts.tolist())},
        "n": len(labels),
        "confidence": confidence,
    }


def _class_means(v: Tensor, labels: Tensor, counts: Tensor) -> dict[int, float]:
    sums = torch.zeros(len(counts), dtype=torch.float64).index_add_(0, labels, v)
    pairs = enumerate(zip(sums.tolist(), counts.tolist(), strict=True))
    return {c: s / n if n else math.nan for c, (s, n) in pairs}


# ---------------------------------------------------------------------------------------------
# Per-class FID


def per_class_fid(
    features: nn.Module | Callable[[Tensor], Tensor],
    x_gen: Tensor,
    y_gen: Tensor,
    x_real: Tensor,
    y_real: Tensor,
) -> dict[int, float]:
    """FID of each class's generated images against the real images of that class, on the
    classifier's penultimate features (metrics/features.py's frechet_distance, Heusel et al.):

        FID_c = ||mu_r,c - mu_g,c||^2 + Tr(S_r,c + S_g,c - 2 (S_r,c S_g,c)^(1/2))
        mu, S: mean and covariance of the features of {x_i : y_i = c} in each set

    Their mean over classes is intra-FID (Miyato & Koyama 2018). A generator that ignores y
    but draws the data's p(x) gets a small overall FID and large per-class ones.

    n per class: FID is biased upward by the sample size, so compare a value only with a floor
    of the same n. Real-vs-real floor (MNIST training images of class c against test images
    of class c, reference classifier, measured): 5-8 at 100 per class, 3.5-6.3 at 200, 2.3-3.7
    at 500, 0.3-1.0 at ~1,000 (all the test images of a class), while two different digits
    are >= 57 apart at every one of those n (0 against 1: ~115). Use >= 500 per class (10,000
    samples over 10 classes gives 1,000); below 129 (the feature dimension, 128, + 1) the
    covariances are singular and the values still more biased.

    Args:
        features: a DigitClassifier (its ``features``) or a function from (n, *x_shape) images
            to (n, d) features.
        x_gen: (n_g, *x_shape) generated images.  y_gen: (n_g,) the labels they were drawn for.
        x_real: (n_r, *x_shape) real images.  y_real: (n_r,) their true labels.
    Returns:
        {c: FID_c} for each class c in y_gen, ascending; NaN where a set has < 2 images of c
        (or the features are not finite).
    """
    f_gen, f_real = _features(features, x_gen), _features(features, x_real)  # (n, d)
    y_gen, y_real = torch.as_tensor(y_gen).reshape(-1), torch.as_tensor(y_real).reshape(-1)
    out = {}
    for c in sorted(set(y_gen.tolist())):
        fid = frechet_distance(f_real[y_real == c], f_gen[y_gen == c]).value
        out[int(c)] = math.nan if fid is None else fid
    return out


def _features(features, x: Tensor) -> Tensor:
    if isinstance(features, clf.DigitClassifier):
        return clf.features(features, x)
    with torch.no_grad():
        return features(x)


# ---------------------------------------------------------------------------------------------
# Classification accuracy score


@dataclass(frozen=True)
class ClassificationAccuracy:
    """Result of classification_accuracy_score.

    Attributes:
        cas: accuracy on the real test images of the classifier trained on generated (x, y).
        real_accuracy: the same recipe trained on real training images of the same labels
            (the floor; None when no real training images were given).
        n_gen, n_real: images each classifier trained on.  n_test: test images scored.
        epochs, seed: the training budget (passes over the n images) and seed of both.
    """

    cas: float
    real_accuracy: float | None
    n_gen: int
    n_real: int
    n_test: int
    epochs: int
    seed: int


def classification_accuracy_score(
    x_gen: Tensor,
    y_gen: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    x_train: Tensor | None = None,
    y_train: Tensor | None = None,
    *,
    epochs: int = clf.EPOCHS,
    seed: int = clf.SEED,
) -> ClassificationAccuracy:
    """Classification accuracy score (Ravuri & Vinyals 2019): train a fresh classifier only on
    generated (x, y), then score it on real test images; beside it the same recipe trained on
    real images, so a report shows CAS beside real-data accuracy.

        theta_gen = argmin_theta sum_i CE(f_theta(x_gen,i), y_gen,i),  x_gen,i ~ p_g(x | y_gen,i)
        CAS       = 1/n_test sum_j 1[argmax f_theta_gen(x_test,j) = y_test,j]
        real_accuracy: the same with theta trained on matching_real(x_train, y_train, y_gen)

    A generator that draws the data's p(x | y) scores ~real_accuracy; one whose samples do
    not carry their class (labels ignored or shuffled) ~chance (1/K on balanced test sets);
    unlike FID it also falls when G draws too few kinds of each class.

    The recipe is the reference classifier's (classifier.train_classifier: the DigitClassifier,
    Adam, lr decay, +-2 pixel shifts, one thread, seeded, deterministic) with a budget of
    ``epochs`` passes over the n images. Both classifiers get the same seed, n and label counts,
    so their difference is the images alone. Measured on 2 cores shared with another job, 1
    thread: ~3 s per pass over 10,000 images; the default 6 passes: ~20 s per classifier.

    Args:
        x_gen: (n, 1, 28, 28) generated images in [0, 1].  y_gen: (n,) the labels they were
            drawn for.  x_test: (n_test, 1, 28, 28) real images.  y_test: (n_test,) labels.
        x_train, y_train: real training images and labels for real_accuracy (None: skipped);
            the first of each class are used, as many as y_gen asks (matching_real), in the
            same order whatever the order of y_gen.
        epochs: passes over the n images.  seed: seed of init, order and shifts.
    Returns:
        ClassificationAccuracy(cas, real_accuracy, n_gen, n_real, n_test, epochs, seed).
    """
    y_gen = torch.as_tensor(y_gen).long()
    cas = train_and_score(x_gen, y_gen, x_test, y_test, epochs=epochs, seed=seed)
    real_accuracy, n_real = None, 0
    if x_train is not None and y_train is not None:
        # Labels sorted: the real set, and so the floor, depends on the label counts alone,
        # not on the order G was asked in (training visits its examples in a seeded order).
        x_r, y_r = matching_real(x_train, y_train, y_gen.sort().values)
        real_accuracy = train_and_score(x_r, y_r, x_test, y_test, epochs=epochs, seed=seed)
        n_real = len(y_r)
    return ClassificationAccuracy(cas, real_accuracy, len(y_gen), n_real, len(y_test), epochs, seed)


def train_and_score(
    x: Tensor, y: Tensor, x_test: Tensor, y_test: Tensor, *, epochs: int, seed: int
) -> float:
    """Accuracy on (x_test, y_test) of classifier.train_classifier trained on (x, y)."""
    model = clf.train_classifier(
        torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y).long(), epochs=epochs, seed=seed
    )
    return clf.accuracy(model, x_test, torch.as_tensor(y_test).long())


# ---------------------------------------------------------------------------------------------
# Floors


def matching_real(x: Tensor, y: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Real images with the given labels: for each i, the next unused image of class labels_i
    in (x, y) (so the first n_c images of each class c, n_c = #{i : labels_i = c}). Where a
    class has fewer images than asked, its extra positions are dropped.

    The floor of every metric here: real images standing in for a generator that draws
    exactly p(x | y) for the labels it was asked.

    Args:
        x: (N, *x_shape) real images.  y: (N,) their labels.  labels: (n,) labels wanted.
    Returns:
        (x_m, y_m): (m, *x_shape) images and (m,) labels, y_m = labels less dropped positions,
        m <= n (m = n when every class has enough images).
    """
    y, labels = torch.as_tensor(y).reshape(-1), torch.as_tensor(labels).long().reshape(-1)
    index = torch.full((len(labels),), -1, dtype=torch.long)  # (n,) row of x for each label
    for c in labels.unique().tolist():
        wanted = (labels == c).nonzero()[:, 0]  # positions asking for c
        have = (y == c).nonzero()[:, 0]  # rows of x of class c
        k = min(len(wanted), len(have))
        index[wanted[:k]] = have[:k]
    kept = index >= 0
    return x[index[kept]], labels[kept]


def conditional_scores(
    classifier: clf.DigitClassifier,
    x_gen: Tensor,
    y_gen: Tensor,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    *,
    class_names: list[str] | None = None,
    epochs: int = clf.EPOCHS,
    seed: int = clf.SEED,
) -> dict:
    """Label agreement, intra-FID (with each class's FID) and CAS of generated (x, y), each
    beside its real-vs-real floor: the metrics.json entries of a conditional run.

    Real images: x_test (held out from the classifier's training). Floors: label agreement of
    matching_real(x_test, y_test, y_gen); per-class FID of matching_real(x_train, y_train, y_gen)
    against x_test; CAS's real_accuracy (trained on matching_real(x_train, ...)).

    Args:
        classifier: the reference classifier.  x_gen: (n, 1, 28, 28) in [0, 1].  y_gen: (n,).
        x_train, y_train: real training images (the floors' stand-ins for G) and labels.
        x_test, y_test: real held-out images and labels (the reference set; CAS's test set).
        class_names: names of classes 0..K-1 for the per-class entries (default "0", "1", ...).
        epochs, seed: CAS's training budget and seed.
    Returns:
        {"label_agreement": {...}, "intra_fid": {...}, "cas": {...}}: each with its
        definition, value, floor and sample counts (n_fake, n_real, n_floor).
    """
    y_gen = torch.as_tensor(y_gen).long()
    x_tf, y_tf = matching_real(x_test, y_test, y_gen)  # held out: agreement's floor
    x_fl, y_fl = matching_real(x_train, y_train, y_gen)  # FID's floor
    v, fl = label_agreement(classifier, x_gen, y_gen), label_agreement(classifier, x_tf, y_tf)

    def named(d: dict) -> dict:
        return {class_names[c] if class_names else str(c): x for c, x in d.items()}

    counts = {"n_fake": len(y_gen), "n_real": len(y_test)}
    out = {
        "label_agreement": {
            "definition": DEFINITIONS["label_agreement"],
            "value": v["agreement"],
            "floor": fl["agreement"],
            "confident": v["confident"],
            "floor_confident": fl["confident"],
            "confidence": v["confidence"],
            "per_class": named(v["per_class"]),
            "floor_per_class": named(fl["per_class"]),
            **counts,
            "n_floor": len(y_tf),
            "floor_images": "held-out real images of the same labels",
            "note": f"read with p >= {v['confidence']:g}: {format_value(v['confident'])} "
            f"(floor {format_value(fl['confident'])}); each class's share in metrics.json",
        }
    }
    f = {"gen": clf.features(classifier, x_gen), "test": clf.features(classifier, x_test),
         "floor": clf.features(classifier, x_fl)}  # fmt: skip
    per_class = per_class_fid(_given, f["gen"], y_gen, f["test"], y_test)
    per_class_floor = per_class_fid(_given, f["floor"], y_fl, f["test"], y_test)
    out["intra_fid"] = {
        "definition": DEFINITIONS["intra_fid"],
        "value": _mean(per_class.values()),
        "floor": _mean(per_class_floor.values()),
        "per_class": named(per_class),
        "floor_per_class": named(per_class_floor),
        **counts,
        "n_floor": len(y_fl),
        "floor_images": "real training images of the same labels, against the same test images",
        "note": f"mean of {len(per_class)} classes' FIDs (each in metrics.json), "
        f"~{len(y_gen) // max(len(per_class), 1)} samples a class",
    }
    s = classification_accuracy_score(
        x_gen, y_gen, x_test, y_test, x_train, y_train, epochs=epochs, seed=seed
    )
    out["cas"] = {
        "definition": DEFINITIONS["cas"],
        "value": s.cas,
        "floor": s.real_accuracy,
        **counts,
        "n_floor": s.n_real,
        "n_test": s.n_test,
        "epochs": s.epochs,
        "seed": s.seed,
        "floor_images": "real training images of the same labels (real-data accuracy)",
        "note": f"a classifier trained {s.epochs} epochs (seed {s.seed}) on the {s.n_gen} "
        f"generated (x, y), tested on {s.n_test} real images; floor: the same on {s.n_real} real",
    }
    return out


def _given(f: Tensor) -> Tensor:
    return f


def _mean(values) -> float:
    """The mean, NaN where a class has none (a mean of fewer classes would not compare)."""
    v = list(values)
    return sum(v) / len(v) if v else math.nan
