"""`ganlab eval` of a conditional MNIST run: samples drawn for balanced labels, scored by
metrics/conditional.py (label agreement, intra-FID, CAS), each beside its real-vs-real floor.

What a conditional run offers (the interface agreed for issue 17's conditional GANs; a run
offering it is a ganlab.runs.Run or anything of its shape):

- ``run.config.conditional.kind != "none"``;
- ``run.classes``: the class names, index c meaning the data's label c;
- ``run.sample(n, seed=..., label=...)``: label an int class or an (n,) LongTensor.

An unconditional run (no ``config.conditional``, or its kind "none") gets nothing added. A run
whose config is conditional but which lacks ``classes`` or ``sample``'s ``label``, or whose
classes are not the reference classifier's, gets one line in metrics.json
(``conditional_skipped``) and a warning saying why, and the other metrics as before: never a
crash.
"""

from __future__ import annotations

import inspect
import warnings
from typing import TYPE_CHECKING

import torch

from ganlab.errors import DataError
from ganlab.metrics import classifier as clf
from ganlab.metrics.conditional import conditional_scores

if TYPE_CHECKING:
    from ganlab.metrics.evaluate import LoadedRun, MnistSplits


def is_conditional(run: LoadedRun) -> bool:
    """Whether the run's config asks for a conditional G: config.conditional.kind != "none"
    (False where the config has no such section, as before conditional GANs)."""
    kind = getattr(getattr(run.config, "conditional", None), "kind", "none")
    return kind not in (None, "none")


def skip_reason(run: LoadedRun, classes: int = clf.CLASSES) -> str | None:
    """Why a conditional run's samples cannot be scored per class, or None when they can.

    Args:
        run: a run whose config is conditional.  classes: the reference classifier's classes.
    """
    names = getattr(run, "classes", None)
    if getattr(getattr(run.config, "conditional", None), "clusters", 0):
        return "the run's classes are its data's own clusters, not the digits"
    if not isinstance(names, list | tuple) or not names:
        return "the run has no class names (run.classes)"
    if len(names) != classes:
        return f"the run has {len(names)} classes, the reference classifier {classes}"
    sample = getattr(run, "sample", None)
    try:
        params = inspect.signature(sample).parameters
    except (TypeError, ValueError):
        return "the run has no sample(n, label=...)"
    kinds = {p.kind for p in params.values()}
    if "label" not in params and inspect.Parameter.VAR_KEYWORD not in kinds:
        return "the run has a sample() without label"
    return None


def add_conditional_metrics(
    result: dict,
    run: LoadedRun,
    mnist: MnistSplits,
    samples: int,
    n_real: int,
    seed: int,
    progress: bool = False,
) -> None:
    """Add a conditional run's label agreement, intra-FID and CAS to ``result`` (the
    metrics.json dict of evaluate_run, its "metrics" already there); nothing for an
    unconditional run, ``result["conditional_skipped"]`` where a conditional one lacks the
    interface (module docstring).

    G draws ``samples`` images for the labels 0, 1, ..., K-1, 0, 1, ... (balanced: per-class
    FID needs each class; 10,000 gives 1,000 a class), from noise of ``seed``. The real set is
    the first n_real test images; the floors stand MNIST's training images of the same labels
    in for G (metrics/conditional.py). Cost at 10,000 samples, 1 thread: ~60 s, most of it
    CAS's two classifiers (~25 s each).

    Raises:
        DataError: G's samples are not finite or not of the data's shape.
    """
    if not is_conditional(run):
        return
    reason = skip_reason(run)
    if reason is not None:
        result["conditional_skipped"] = f"conditional metrics skipped: {reason}"
        warnings.warn(result["conditional_skipped"], stacklevel=2)  # the CLI: one stderr line
        return
    ref = clf.reference_classifier(data=mnist, progress=progress)
    y = torch.arange(samples) % len(run.classes)  # (n,) balanced labels
    x = run.sample(samples, seed=seed, label=y)  # (n, 1, 28, 28) in [0, 1]
    if tuple(x.shape) != (samples, *mnist.x_test.shape[1:]) or not bool(torch.isfinite(x).all()):
        raise DataError(
            f"{run.path}: G's samples for labels are {tuple(x.shape)} or not finite; "
            f"expected ({samples}, {', '.join(map(str, mnist.x_test.shape[1:]))}), finite"
        )
    scores = conditional_scores(
        ref.model,
        x,
        y,
        mnist.x_train,
        mnist.y_train,
        mnist.x_test[:n_real],
        mnist.y_test[:n_real],
        class_names=[str(c) for c in run.classes],
    )
    result.setdefault("metrics", {}).update(scores)
    result["conditional"] = {
        "labels": f"0..{len(run.classes) - 1} in turn, {samples} samples",
        "classes": [str(c) for c in run.classes],
        "real": f"mnist test, first {n_real} images with their labels",
        "floor": "mnist images of the same labels standing in for G (train; test for "
        "label_agreement, whose classifier trained on train)",
    }
