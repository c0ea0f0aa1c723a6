"""`ganlab eval RUN_DIR --parzen`: the Parzen-window log-likelihood of a run's samples on
held-out data, as in Table 1 of Goodfellow et al. (2014), written to parzen.json.

The estimator itself is metrics/parzen.py; this module picks the held-out data of a run and
records the score.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ganlab.errors import ConfigError, DataError
from ganlab.metrics import evaluate
from ganlab.metrics.evaluate import LoadedRun
from ganlab.metrics.parzen import PAPER_SIGMAS, parzen_select_and_score
from ganlab.report.format import format_value, plus_minus

PARZEN_DATASETS = ("mnist", "fashion_mnist", "fashion-mnist")  # sets with a held-out test split


def sigma_grid(text: str | None) -> np.ndarray:
    """The kernel widths --sigma-grid LO,HI asks for: len(PAPER_SIGMAS) of them spaced evenly in
    log sigma from LO to HI, both included; None: the paper's grid, logspace(-1, 0, 10).

    Raises:
        ConfigError: not two numbers with 0 < LO < HI.
    """
    if text is None:
        return PAPER_SIGMAS
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        lo = hi = float("nan")
    if not 0 < lo < hi < float("inf"):
        raise ConfigError(
            f"--sigma-grid must be LO,HI with 0 < LO < HI, got {text!r}; e.g. --sigma-grid 0.01,1"
        )
    return np.logspace(np.log10(lo), np.log10(hi), len(PAPER_SIGMAS))


def check_dataset(
    dataset: str | None, parzen: bool, data_kind: str, x_shape: tuple[int, ...], toy: bool
) -> None:
    """Refuse a --dataset that no evaluation of this request would read, before any sampling.

    --dataset names the held-out images the Parzen window scores (held_out_sets): it means
    nothing to --metrics, to a toy run (its own density gives fresh held-out draws) or to a
    run on points.
    Args:
        dataset: --dataset, or None.  parzen: the Parzen window is scored.  data_kind,
        x_shape: the run's data.kind and example shape.  toy: its data is a known density.
    Raises:
        ConfigError: one line saying what --dataset applies to.
    """
    if dataset is None:
        return
    applies = "--dataset (mnist or fashion_mnist) applies only to --parzen on an image run"
    if not parzen:
        raise ConfigError(f"{applies}, and this evaluation has no --parzen; drop --dataset")
    if toy or len(x_shape) != 3:
        data = f"{data_kind} ({'x'.join(map(str, x_shape))})"
        what = "a toy density, scored on fresh draws of itself" if toy else "not images"
        raise ConfigError(f"{applies}; this run's data {data} is {what}; drop --dataset")
    if dataset.lower() not in PARZEN_DATASETS:
        raise ConfigError(f"--dataset {dataset}: no Parzen test set; use mnist or fashion_mnist")


def held_out_sets(
    run: LoadedRun, dataset: str | None, n_valid: int, n_test: int
) -> tuple[str, torch.Tensor, torch.Tensor]:
    """Validation points (they choose sigma) and test points (they are scored) for a run.

    Args:
        run: the loaded run.  dataset: mnist or fashion_mnist, or None for the run's own data:
        a toy density gives fresh draws, an image set its valid and test splits.
        n_valid, n_test: how many points of each (the first ones of a split).
    Returns:
        (source, valid, test): the data's name as reported, (n_valid, *shape), (n_test, *shape).
    Raises:
        DataError: a data set without a Parzen test split, or one that cannot be loaded.
    """
    from ganlab.data import distribution_of, load_split

    dist = distribution_of(run.config.data)
    name = dataset or (None if dist is not None else run.config.data.kind)
    if name is None:
        # Toy data: its own distribution gives fresh validation and test sets, from fixed seeds
        # so that two evaluations of one run agree.
        valid = dist.sample(n_valid, torch.Generator().manual_seed(run.config.seed + 101))
        test = dist.sample(n_test, torch.Generator().manual_seed(run.config.seed + 202))
        return f"{run.config.data.kind} (fresh draws)", valid, test
    if name.lower() not in PARZEN_DATASETS:
        raise DataError(f"--dataset {name}: no Parzen test set; use mnist or fashion_mnist")
    own = name.lower().replace("-", "_") == run.config.data.kind
    path = run.config.data.path if own else None  # where the run read its training set
    valid = load_split(name, "valid", path)[0][:n_valid]
    test = load_split(name, "test", path)[0][:n_test]
    return name, valid, test


def parzen_of_run(
    run: LoadedRun,
    *,
    samples: int,
    valid: int,
    test: int,
    seed: int,
    dataset: str | None = None,
    suffix: str = "",
    options: str | None = None,
    sigmas: np.ndarray = PAPER_SIGMAS,
) -> tuple[dict, Path]:
    """Parzen log-likelihood of `samples` draws of G on held-out points, in nats.

        sigma* = argmax_sigma mean_{x in valid} log p_sigma(x)
        LL = mean_{x in test} log p_sigma*(x),  p_sigma = (1/N) sum_i N(x; G(z_i), sigma^2 I)

    Args:
        run: the loaded run.  samples: N, generated samples.  valid, test: held-out points.
        seed: seed of G's noise.  dataset: see held_out_sets.
        suffix: appended to the file name (``parzen{suffix}.json``).
        options: how the evaluation was asked, recorded first in the file (runs/evaluation.py
        finds an evaluation asked alike by it).  sigmas: the grid sigma is chosen from.
    Returns:
        (result, path): the parzen.json dict and where it was written.
    Raises:
        DataError: G's samples are not finite, no test set, or its dimension is not G's.
        RunDirError: parzen.json cannot be written.
    Warns:
        UserWarning: sigma* is the grid's smallest or largest width, one line.
    """
    mu = run.sample(samples, seed).reshape(samples, -1)  # (N, d)
    if not bool(torch.isfinite(mu).all()):
        raise DataError(f"{run.path}: G produced NaN or inf samples; the run diverged")
    source, x_valid, x_test = held_out_sets(run, dataset, valid, test)
    x_valid, x_test = x_valid.reshape(len(x_valid), -1), x_test.reshape(len(x_test), -1)
    if x_valid.shape[1] != mu.shape[1]:
        raise DataError(
            f"{source} points have {x_valid.shape[1]} dims but the run's samples have "
            f"{mu.shape[1]}; pass the --dataset the run was trained on"
        )
    score = parzen_select_and_score(mu, x_valid, x_test, sigmas)
    edge = grid_edge_note(score.sigma, score.sigmas)
    if edge:
        warnings.warn(edge, stacklevel=2)  # the CLI: one stderr line
    result = {} if options is None else {"options": options}
    result |= {
        "dataset": source,
        "step": run.step,
        "samples": samples,
        "valid": len(x_valid),
        "test": len(x_test),
        "sigma": score.sigma,
        "mean_ll": score.mean,
        "se": score.se,
        "sigmas": list(score.sigmas),
        "valid_ll": list(score.valid_ll),
    }
    # evaluate.write_metrics: one writer (atomic, non-finite numbers as null) of every result
    return result, evaluate.write_metrics(run.path / f"parzen{suffix}.json", result)


def grid_edge_note(sigma: float, sigmas: tuple[float, ...]) -> str | None:
    """What to say when the chosen sigma is the smallest or largest of its grid: the validation
    optimum may lie beyond it, and the test log-likelihood is then an underestimate."""
    lo, hi = sigmas[0], sigmas[-1]
    if lo < sigma < hi:
        return None
    end, wider = ("smallest", (lo / 10, hi)) if sigma <= lo else ("largest", (lo, hi * 10))
    return (
        f"Parzen: sigma {format_value(sigma)} is the {end} of the grid {format_value(lo)}.."
        f"{format_value(hi)}, so the best sigma lies at or beyond its edge and the "
        "log-likelihood may be an underestimate; widen the grid: --sigma-grid "
        f"{format_value(wider[0])},{format_value(wider[1])}"
    )


def parzen_summary(result: dict) -> str:
    """The console line of a parzen.json dict: LL +- SE, sigma* and the counts."""
    ll = plus_minus(result["mean_ll"], result["se"])
    return (
        f"Parzen log-likelihood on {result['dataset']}: {ll} nats (sigma "
        f"{format_value(result['sigma'])}, {result['samples']} samples, {result['test']} test "
        "points)"
    )
