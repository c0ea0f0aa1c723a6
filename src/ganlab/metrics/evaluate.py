"""`ganlab eval RUN_DIR --metrics ...`: a run's generated samples scored against real data,
each score beside its real-vs-real floor.

MNIST runs (fid, kid, prdc, digits): n generated images and the first n_real official test
images go through the reference classifier (metrics/classifier.py); the floor scores the first
n_real training images against the same test images, i.e. what a perfect generator of the
training distribution would get at these sample sizes. 2-D mixture runs (coverage): the mode
coverage of n samples, and of n fresh draws of the mixture as the floor. Stacked MNIST runs
(stacked): the triples of digits the classifier reads in n samples (the protocol: 26,000), and
in n real stacked images built from the test split as the floor. A conditional MNIST run
also gets label agreement, intra-FID and CAS (metrics/conditional_run.py).
The Parzen window of a run is metrics/parzen_run.py; runs/evaluation.py loads a run for both.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import torch
from tqdm import tqdm

from ganlab.errors import ConfigError, DataError, RunDirError
from ganlab.files import atomic_write_bytes
from ganlab.metrics import inception
from ganlab.metrics.conditional_run import add_conditional_metrics
from ganlab.metrics.data_space import KNN_METRICS, KNN_NAMES, knn_metrics
from ganlab.metrics.inception import INCEPTION_METRICS
from ganlab.report.format import metric_texts

if TYPE_CHECKING:
    from ganlab.config import Config

IMAGE_METRICS = ("fid", "kid", "prdc", "digits")
TOY_METRICS = ("coverage",)
STACKED_METRICS = ("stacked",)
METRICS = IMAGE_METRICS + TOY_METRICS + STACKED_METRICS + INCEPTION_METRICS + KNN_METRICS
MNIST_METRICS = IMAGE_METRICS + STACKED_METRICS + INCEPTION_METRICS  # scored against MNIST

DEFINITIONS = {
    "fid": "Frechet distance of Gaussians fitted to classifier features: "
    "||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)); lower is better",
    "kid": "unbiased MMD^2 of classifier features, kernel (x.y/d + 1)^3, mean (std) over random "
    "subsets (Binkowski et al. 2018); ~0 for one distribution",
    "precision": "share of generated samples inside the union of real k-NN balls, k = 3 "
    "(Kynkaanniemi et al. 2019): quality",
    "recall": "share of real samples inside the union of generated k-NN balls, k = 3 "
    "(Kynkaanniemi et al. 2019): diversity",
    "density": "real k-NN balls (k = 5) holding each generated sample, averaged and divided by k "
    "(Naeem et al. 2020); ~1 when the sets match",
    "coverage": "share of real samples whose k-NN ball (k = 5) holds a generated sample "
    "(Naeem et al. 2020)",
    "digits": "histogram of the classifier's predicted digit over generated images: classes "
    "predicted at least once, KL(q || p_data) in nats",
    "mode_coverage": "2-D mixture: modes with a generated sample within 3 std nearest them, share "
    "of such samples, KL of their mode histogram to uniform (VEEGAN protocol)",
    "stacked_modes": "Stacked MNIST: triples of digits (one per channel, read by the reference "
    "classifier) that occur among the samples, of 1000, and KL of the triple histogram to "
    "uniform in nats (VEEGAN/PacGAN protocol: 26,000 samples)",
}


def parse_metrics(text: str) -> list[str]:
    """'fid,kid' -> ['fid', 'kid'] (order kept, duplicates dropped).

    Raises:
        ConfigError: an unknown name, or none.
    """
    names = list(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    for name in names:
        if name not in METRICS:
            raise ConfigError(
                f"--metrics: unknown metric '{name}'; choose from {','.join(METRICS)}"
            )
    if not names:
        raise ConfigError(f"--metrics is empty; pass some of {','.join(METRICS)}")
    return names


COVERAGE_SAMPLES = 2500  # the VEEGAN/PacGAN 2-D protocol's number of generated samples
DEFAULT_SAMPLES = 10_000  # FID/KID/PRDC/digits, and the paper's Parzen protocol


def default_samples(names: list[str]) -> int:
    """The number of generated samples each protocol scores: 2,500 for the 2-D mode coverage,
    26,000 for Stacked MNIST, 10,000 otherwise."""
    from ganlab.metrics.stacked import SAMPLES

    if "coverage" in names:
        return COVERAGE_SAMPLES
    return SAMPLES if "stacked" in names else DEFAULT_SAMPLES


class LoadedRun(Protocol):
    """What the metrics read of a trained run; ganlab.runs.Run is one (runs sits above metrics,
    so the metrics name the shape of a run instead of importing it)."""

    config: Config
    path: Path  # the run directory, where metrics.json, parzen.json and figures go
    step: int  # iterations of Algorithm 1 behind the loaded checkpoint
    x_shape: tuple[int, ...]

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor: ...  # (n, *x_shape)


@dataclasses.dataclass(frozen=True)
class EvalRequest:
    """What `ganlab eval` was asked for, each protocol's sample count resolved."""

    parzen: bool
    names: list[str]  # metrics, [] for Parzen alone
    samples: int  # generated samples the metrics score
    parzen_samples: int  # generated samples of the Parzen window (the paper: 10,000)
    valid: int  # validation points that choose sigma
    test: int  # test points Parzen scores; the metrics' real set and floor


def eval_request(
    parzen: bool, metrics: str | None, samples: int | None, valid: int, test: int
) -> EvalRequest:
    """Check an evaluation request before any run is loaded.

    Args:
        parzen: score the Parzen window.  metrics: comma-separated names, or None.
        samples: generated samples, or None for each protocol's own (default_samples; Parzen:
        DEFAULT_SAMPLES).  valid, test: validation and test points.
    Raises:
        ConfigError: nothing to evaluate, an unknown metric, a count below 1, or prdc with
        5 or fewer points (its k = 5 neighbours).
    """
    if not parzen and not metrics:  # `ganlab eval RUN` chooses by fitting_metrics first
        raise ConfigError(
            "nothing to evaluate; pass --parzen, or --metrics fid,kid,prdc,digits (MNIST runs) "
            "or --metrics coverage (2-D mixture runs)"
        )
    names = parse_metrics(metrics) if metrics else []
    given = samples is not None  # else each protocol's own count: metrics and Parzen may differ
    n_fake = samples if given else default_samples(names)
    parzen_samples = samples if given else DEFAULT_SAMPLES
    for flag, n in (("--samples", n_fake), ("--valid", valid), ("--test", test)):
        if n < 1:
            raise ConfigError(f"{flag} must be >= 1, got {n}; pass a positive count")
    for name in ("prdc", "knn"):
        if name in names and min(n_fake, test) <= 5:
            raise ConfigError(
                f"--metrics {name} needs more than 5 samples and test points (k = 5 "
                f"neighbours), got --samples {n_fake} --test {test}; pass 6 or more"
            )
    return EvalRequest(parzen, names, n_fake, parzen_samples, valid, test)


def _families(data_kind: str, x_shape: tuple[int, ...], toy_dim) -> tuple[bool, bool, bool]:
    """(MNIST digits, Stacked MNIST, a 2-D mixture): the data each metric family is made for."""
    mnist = data_kind == "mnist" and tuple(x_shape) == (1, 28, 28)
    stacked = data_kind == "stacked_mnist" and tuple(x_shape) == (3, 28, 28)
    return mnist, stacked, toy_dim == 2


def fitting_metrics(
    data_kind: str, x_shape: tuple[int, ...], toy_dim
) -> tuple[list[str], bool, str]:
    """What `ganlab eval RUN` scores without --metrics or --parzen: what fits the run's data.

    2-D mixtures: mode coverage. MNIST: FID, KID, PRDC and digits, from the reference
    classifier trained here (the Inception metrics need a weights file, so they are asked for
    by name). Stacked MNIST: its modes. Other toy densities and Fashion-MNIST: the Parzen
    window, on fresh draws or the held-out split. Your own data: metrics.data_space's k-NN.
    Returns:
        (metric names, parzen, a line saying what was chosen and why).
    """
    from ganlab.metrics.parzen_run import PARZEN_DATASETS  # parzen_run imports this module

    mnist, stacked, toy_2d = _families(data_kind, x_shape, toy_dim)
    data = f"{data_kind} ({'x'.join(map(str, x_shape))})"
    if toy_2d:
        names, what = ["coverage"], "mode coverage"
    elif mnist:
        names, what = list(IMAGE_METRICS), "FID, KID, PRDC and digits (reference classifier)"
    elif stacked:
        names, what = ["stacked"], "Stacked MNIST modes"
    elif toy_dim is not None or data_kind in PARZEN_DATASETS:
        names, what = [], "the Parzen window"
    else:  # your own data: no known density, classifier or held-out split
        names, what = ["knn"], "k-NN precision, recall, density and coverage in the data's space"
    flag = f"--metrics {','.join(names)}" if names else "--parzen"
    line = f"evaluating {what} ({flag}): what fits a run on {data}; name others to choose"
    return names, not names, line


def check_metrics(names: list[str], data_kind: str, x_shape: tuple[int, ...], toy_dim) -> None:
    """Refuse metrics that do not fit the run's data, before any sampling or training.

    Args:
        names: parsed metric names.  data_kind: the run's data.kind.  x_shape: its example
        shape.  toy_dim: the dimension of its known toy density, or None.
    Raises:
        ConfigError: one line naming the metric, the run's data and what to use instead.
    """
    mnist, stacked, toy_2d = _families(data_kind, x_shape, toy_dim)
    data = f"{data_kind} ({'x'.join(map(str, x_shape))})"
    for name in names:
        if name in IMAGE_METRICS + INCEPTION_METRICS and not mnist:
            fix = (
                "use --metrics coverage or --parzen"
                if toy_2d
                else "use --metrics stacked"
                if stacked
                else "the reference classifier knows only MNIST digits; use --parzen"
            )
            raise ConfigError(
                f"--metrics {name} needs a run trained on MNIST (data.kind mnist, 1x28x28); "
                f"this run's data is {data}: {fix}"
            )
        if name in TOY_METRICS and not toy_2d:
            fix = "use --metrics fid,kid,prdc,digits" if mnist else "use --parzen"
            raise ConfigError(
                f"--metrics {name} needs a 2-D mixture run (data.kind ring or grid); this run's "
                f"data is {data}: {fix}"
            )
        if name in STACKED_METRICS and not stacked:
            fix = (
                "use --metrics fid,kid,prdc,digits"
                if mnist
                else "use --metrics coverage"
                if toy_2d
                else "use --parzen"
            )
            raise ConfigError(
                f"--metrics {name} needs a run trained on Stacked MNIST (data.kind "
                f"stacked_mnist, 3x28x28); this run's data is {data}: {fix}"
            )
    if any(name in INCEPTION_METRICS for name in names):
        inception.weights_path()  # never downloaded: the error says where to put the file
        inception.check_backend()


def evaluate_run(
    run: LoadedRun,
    names: list[str],
    *,
    samples: int,
    n_real: int,
    seed: int,
    suffix: str = "",
    progress: bool = False,
) -> dict:
    """Score a run's samples with the given metrics and the real-vs-real floor of each.

    Args:
        run: a loaded run (ganlab.runs.Run).  names: from parse_metrics, checked by check_metrics.
        samples: generated samples.  n_real: real images in the reference set and the floor.
        seed: seed of G's noise (and of KID's subsets).
        suffix: appended to figure names (``digits{suffix}.png``).  progress: tqdm bars.
    Returns:
        The metrics.json dict: step, seed, sample counts, and per metric its definition,
        value(s) and floor; for images also the feature extractor's checksum.
    Raises:
        DataError: G's samples are not finite, or the data cannot be loaded.
    """
    fake = run.sample(samples, seed)
    if not bool(torch.isfinite(fake).all()):
        raise DataError(f"{run.path}: G produced NaN or inf samples; the run diverged")
    # read once for every metric family: ~190 MB of float32, ~5 s from the pickle
    mnist = load_mnist_splits(run.config.data.path) if set(names) & set(MNIST_METRICS) else None
    result = {"step": run.step, "seed": seed, "samples": samples}
    if any(n in IMAGE_METRICS for n in names):
        result.update(_image_metrics(run, fake, mnist, names, n_real, seed, suffix, progress))
        add_conditional_metrics(result, run, mnist, samples, n_real, seed, progress)
    if "coverage" in names:
        result.update(_toy_coverage(run, fake, seed))
    if "stacked" in names:
        result.update(_stacked_modes(run, fake, mnist, seed, progress))
    parts = []  # families added beside others: their metrics join, the first provenance stays
    if "knn" in names:  # against the training data, in its own space
        parts.append(knn_metrics(run, fake, n_real, seed, progress))
    if any(n in INCEPTION_METRICS for n in names):
        parts.append(_inception_metrics(fake, mnist, names, n_real))
    for part in parts:
        result["metrics"] = {**result.get("metrics", {}), **part.pop("metrics")}
        result = {**part, **result}
    return result


def write_metrics(path: Path, result: dict) -> Path:
    """metrics.json or parzen.json, atomically; a non-finite number (an undefined KL) is
    written as null, since JSON has no inf or NaN."""
    try:
        text = json.dumps(_finite(result), indent=2, allow_nan=False)
        atomic_write_bytes(path, (text + "\n").encode())
    except OSError as e:
        raise RunDirError(f"cannot write {path} ({e.strerror}); check the run directory") from None
    return path


# The console's name of a metric, where not its metrics.json key.
_CONSOLE_NAMES = {"mode_coverage": "mode coverage", "stacked_modes": "stacked MNIST", **KNN_NAMES}


def summary_lines(result: dict) -> list[str]:
    """One line per metric: value and floor, as the HTML report shows them."""
    lines = []
    for name, m in result["metrics"].items():
        value, floor = metric_texts(name, m)
        lines.append(f"{_CONSOLE_NAMES.get(name, name)}: {value} (real-vs-real floor {floor})")
    return lines


class MnistSplits(NamedTuple):
    """MNIST's official splits, (n, 1, 28, 28) images in [0, 1] and (n,) labels; as a tuple,
    the `data` of metrics.classifier.reference_classifier."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_mnist_splits(path) -> MnistSplits:
    """The train and test splits, from where the run read MNIST (its data.path)."""
    from ganlab.data.datasets import load_split

    return MnistSplits(*load_split("mnist", "train", path), *load_split("mnist", "test", path))


def _finite(x):
    """Non-finite floats -> None, recursively: JSON has no inf or NaN."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _image_metrics(run, fake, mnist: MnistSplits, names, n_real, seed, suffix, progress) -> dict:
    from ganlab.metrics import classifier as clf
    from ganlab.metrics import features as ft

    ref = clf.reference_classifier(data=mnist, progress=progress)
    real, floor = mnist.x_test[:n_real], mnist.x_train[:n_real]
    stages = ["features"] + names
    bar = tqdm(total=len(stages), desc="metrics", file=sys.stderr, disable=not progress)
    sets = {"fake": fake, "real": real, "floor": floor}
    f = {}
    for key, images in sets.items():
        bar.set_postfix_str(f"classifier features of {key} images")
        f[key] = clf.features(ref.model, images)  # (n, 128)
    bar.update()
    counts = {"n_fake": len(fake), "n_real": len(real), "n_floor": len(floor)}
    out = {}
    for name in names:
        bar.set_postfix_str(name)
        if name == "fid":
            v = ft.frechet_distance(f["real"], f["fake"])
            fl = ft.frechet_distance(f["real"], f["floor"])
            out["fid"] = {
                "definition": DEFINITIONS["fid"],
                "value": v.value,
                "floor": fl.value,
                **counts,
                "eps": v.eps,
                "note": v.note,
                "floor_note": fl.note,
            }
        elif name == "kid":
            m = min(1000, len(fake), len(real), len(floor))  # one subset size for both
            v = ft.kernel_distance(f["real"], f["fake"], subset_size=m, seed=seed)
            fl = ft.kernel_distance(f["real"], f["floor"], subset_size=m, seed=seed)
            out["kid"] = {
                "definition": DEFINITIONS["kid"],
                "value": v.value,
                "std": v.std,
                "floor": fl.value,
                "floor_std": fl.std,
                "subsets": v.subsets,
                "subset_size": v.subset_size,
                **counts,
                "note": v.note,
            }
        elif name == "prdc":
            v = ft.precision_recall_density_coverage(f["real"], f["fake"], progress=progress)
            fl = ft.precision_recall_density_coverage(f["real"], f["floor"], progress=progress)
            for key in ("precision", "recall", "density", "coverage"):
                k = v.k_pr if key in ("precision", "recall") else v.k_dc
                out[key] = {
                    "definition": DEFINITIONS[key],
                    "value": getattr(v, key),
                    "floor": getattr(fl, key),
                    "k": k,
                    **counts,
                }
        elif name == "digits":
            v = ft.digit_coverage(clf.predict(ref.model, fake), mnist.y_train)
            fl = ft.digit_coverage(clf.predict(ref.model, floor), mnist.y_train)
            figure = run.path / f"digits{suffix}.png"
            ft.save_digit_figure(
                figure,
                v,
                fl,
                f"step {run.step}: digits covered {v.covered}/{v.classes}, KL {v.kl:.3f} nats",
            )
            out["digits"] = {
                "definition": DEFINITIONS["digits"],
                **dataclasses.asdict(v),
                "floor": dataclasses.asdict(fl),
                "data": "labels of mnist train",
                "n_fake": len(fake),
                "n_floor": len(floor),
                "figure": figure.name,
            }
        bar.update()
    bar.close()
    return {
        "dataset": "mnist",
        "real": f"mnist test, first {len(real)} images",
        "floor": f"mnist train, first {len(floor)} images, scored against the same test images",
        "feature_extractor": {
            "name": clf.VERSION,
            "sha256": ref.sha256,
            "layer": "penultimate (fc1 after ReLU)",
            "dim": ref.model.num_features,
            "test_accuracy": ref.info.get("test_accuracy"),
        },
        "metrics": out,
    }


def _inception_metrics(fake, mnist: MnistSplits, names, n_real) -> dict:
    """Inception FID/IS of an MNIST run: the real and floor images of _image_metrics."""
    path = inception.weights_path()
    extractor = inception.inception_extractor(path)
    real, floor = mnist.x_test[:n_real], mnist.x_train[:n_real]
    return {
        "dataset": "mnist",
        "real": f"mnist test, first {len(real)} images",
        "floor": f"mnist train, first {len(floor)} images, scored against the same test images",
        "inception_extractor": inception.extractor_provenance(path),
        "metrics": inception.inception_metrics(names, extractor, fake, real, floor),
    }


def _toy_coverage(run, fake, seed) -> dict:
    from ganlab.data import distribution_of
    from ganlab.metrics.coverage import mode_coverage

    dist = distribution_of(run.config.data)
    std = float(dist.stds[0])
    real = dist.sample(len(fake), torch.Generator().manual_seed(seed))
    v, fl = mode_coverage(fake, dist.centres, std), mode_coverage(real, dist.centres, std)
    return {
        "dataset": f"{run.config.data.kind} (fresh draws as the floor)",
        "metrics": {
            "mode_coverage": {
                "definition": DEFINITIONS["mode_coverage"],
                **v,
                "floor": fl,
                "n_fake": len(fake),
                "n_floor": len(real),
            }
        },
    }


def _stacked_modes(run, fake, mnist: MnistSplits, seed, progress) -> dict:
    from ganlab.data.stacked import stack_digits
    from ganlab.metrics import classifier as clf
    from ganlab.metrics.stacked import SAMPLES, stacked_modes

    ref = clf.reference_classifier(data=mnist, progress=progress)
    # The floor: as many real stacked images, built from the test split (digits the classifier
    # never saw), read by the same classifier.
    generator = torch.Generator().manual_seed(seed)
    real, _ = stack_digits(mnist.x_test, mnist.y_test, len(fake), generator)
    v, fl = stacked_modes(ref.model, fake), stacked_modes(ref.model, real)
    note = "" if len(fake) == SAMPLES else f"the protocol scores {SAMPLES} samples (--samples)"
    return {
        "dataset": "stacked_mnist",
        "floor": f"{len(real)} stacked images of mnist test digits (seed {seed})",
        "feature_extractor": {
            "name": clf.VERSION,
            "sha256": ref.sha256,
            "layer": "predicted class of each channel",
            "test_accuracy": ref.info.get("test_accuracy"),
        },
        "metrics": {
            "stacked_modes": {
                "definition": DEFINITIONS["stacked_modes"],
                **v,
                "floor": fl,
                "n_fake": len(fake),
                "n_floor": len(real),
                "note": note,
            }
        },
    }
