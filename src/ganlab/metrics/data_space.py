"""k-NN precision, recall, density and coverage of a run's samples against its training data,
in the data's own space: `ganlab eval` of a run on data that no reference classifier knows
(your points and images; any data, asked for by name).

The features are the data's own coordinates, standardised by the training examples' mean and
standard deviation (points), or their first FEATURES principal components (examples of more
coordinates, such as images): Euclidean k-NN balls then mean what they mean in the data,
with no network trained on other data in between. The real set and the real-vs-real
floor are two disjoint random subsets of the training examples (the user's data has no
held-out split), so the floor says what a G that drew fresh examples of the data would score.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor

from ganlab.errors import DataError
from ganlab.runfiles import read_json

FEATURES = 64  # principal components kept for examples of more coordinates than this
PCA_ROWS = 5_000  # examples the principal directions are fitted on
CHUNK = 2_048  # rows projected at a time
DATA_SEED_OFFSET = 7  # the subsets' own seed, apart from G's noise seed

KNN_METRICS = ("knn",)
KNN_NAMES = {f"knn_{k}": f"k-NN {k}" for k in ("precision", "recall", "density", "coverage")}
_SPACE = (
    "in the data's coordinates standardised over the real set and the floor (more than 64 "
    "coordinates, such as images: their first principal components, at most 64 and a tenth "
    "of their count), real = training examples"
)
DEFINITIONS = {
    "knn_precision": "share of samples inside the union of the real examples' k-NN balls, k = 3 "
    f"(Kynkaanniemi et al. 2019), {_SPACE}: quality",
    "knn_recall": "share of real examples inside the union of the samples' k-NN balls, k = 3 "
    f"(Kynkaanniemi et al. 2019), {_SPACE}: diversity",
    "knn_density": "real k-NN balls (k = 5) holding each sample, averaged and divided by k "
    f"(Naeem et al. 2020), {_SPACE}; ~1 when the sets match",
    "knn_coverage": "share of real examples whose k-NN ball (k = 5) holds a sample (Naeem et al. "
    f"2020), {_SPACE}",
}


def data_features(fit: Tensor, *sets: Tensor) -> list[Tensor]:
    """Each of `sets` flattened and mapped into the data's space, the map fitted on `fit`:

        d <= FEATURES:  f(x) = (x - mean) / std           (per coordinate, over fit)
        d >  FEATURES:  f(x) = V^T (x - mean), V fit's top q principal directions
                        (torch.pca_lowrank, seeded, on at most PCA_ROWS of fit's rows),
                        q = min(FEATURES, len(fit) // 10)

    `fit` holds the real set and the floor alike: fitted on one of them, the map would spread
    that one and squeeze any other set towards its centre. q stays well below the number of
    examples, whose own last directions are noise. A coordinate constant over `fit` keeps a
    unit scale instead of dividing by zero. Images stay float32 until projected (10,000 64x64
    colour images are 0.5 GB so), in chunks of CHUNK rows; the features are float64.
    """
    fit = fit.reshape(len(fit), -1)
    if fit.shape[1] <= FEATURES:
        fit = fit.double()
        mean, std = fit.mean(0), fit.std(0)
        std = torch.where(std > 0, std, torch.ones_like(std))
        return [(x.reshape(len(x), -1).double() - mean) / std for x in sets]
    q = max(1, min(FEATURES, len(fit) // 10))
    fit = fit[:PCA_ROWS].float()
    mean = fit.mean(0)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # pca_lowrank's random projections: the same features every time
        _, _, v = torch.pca_lowrank(fit - mean, q=q, center=False, niter=4)  # (d, q)
    out = []
    for x in sets:
        x = x.reshape(len(x), -1)
        out.append(torch.cat([((c.float() - mean) @ v).double() for c in x.split(CHUNK)]))
    return out


def knn_metrics(run, fake: Tensor, n_real: int, seed: int, progress: bool = False) -> dict:
    """k-NN precision, recall, density and coverage of `fake` against the run's training data,
    and of as many other training examples against the same real set (the floor).

    Args:
        run: a loaded run (metrics.evaluate.LoadedRun).  fake: (M, *x_shape) samples.
        n_real: training examples in the real set and in the floor (fewer when the data holds
            fewer than 2 n_real: half of it each).  seed: the subsets' seed.
    Raises:
        DataError: the run's data cannot be loaded (moved, or given to the Python API).
    """
    from ganlab.data import build_data
    from ganlab.data.sources import data_fingerprint
    from ganlab.metrics.features import KNN_MIN_POINTS, precision_recall_density_coverage

    if run.config.data.kind == "tensor":
        raise DataError(
            f"{run.path}: its examples were handed to the Python API (data.kind tensor), so "
            "there is nothing on disk to compare with; save them with np.save and train on "
            "the file to evaluate with --metrics knn"
        )
    source = build_data(run.config.data, seed + DATA_SEED_OFFSET)
    expected = (read_json(Path(run.path) / "meta.json") or {}).get("data_fingerprint")
    if expected and data_fingerprint(source) != expected:  # as a resume checks (SHA-256)
        warnings.warn(
            f"the data at {run.config.data.path} changed since run {run.path} trained on it "
            "(SHA-256 of its examples differs): these scores compare its samples with the new "
            "data",
            stacklevel=2,
        )
    examples = source.reference(2 * n_real, seed + DATA_SEED_OFFSET)  # (<= 2 n, *x_shape)
    n = min(n_real, len(examples) // 2)
    if n < KNN_MIN_POINTS:  # each half needs a k-th nearest neighbour
        raise DataError(
            f"{run.path}: its data has {len(examples)} examples, and the k-NN metrics compare "
            f"samples with half of them and that half with the other: at least "
            f"{2 * KNN_MIN_POINTS} are needed; train on more data to evaluate this way"
        )
    real, floor = examples[:n], examples[n : 2 * n]
    f_real, f_fake, f_floor = data_features(examples[: 2 * n], real, fake, floor)
    v = precision_recall_density_coverage(f_real, f_fake, progress=progress)
    fl = precision_recall_density_coverage(f_real, f_floor, progress=progress)
    counts = {"n_fake": len(fake), "n_real": n, "n_floor": n}
    metrics = {}
    for key in ("precision", "recall", "density", "coverage"):
        k = v.k_pr if key in ("precision", "recall") else v.k_dc
        metrics[f"knn_{key}"] = {
            "definition": DEFINITIONS[f"knn_{key}"],
            "value": getattr(v, key),
            "floor": getattr(fl, key),
            "k": k,
            **counts,
        }
    where = run.config.data.path or run.config.data.kind
    return {
        "dataset": f"{run.config.data.kind} {where}",
        "real": f"{n} training examples, drawn with seed {seed + DATA_SEED_OFFSET}",
        "floor": f"{n} other training examples, scored against the same real set",
        "metrics": metrics,
    }


__all__ = [
    "DEFINITIONS",
    "FEATURES",
    "KNN_METRICS",
    "KNN_NAMES",
    "PCA_ROWS",
    "data_features",
    "knn_metrics",
]
