"""The classes of a conditional run: which one a user asks for, by index or by name."""

from __future__ import annotations

import torch

from ganlab.errors import ConfigError
from ganlab.report.class_figures import MAX_ROWS
from ganlab.training.prior import draw_classes
from ganlab.training.state import unit_images


def label_index(label: int | str, class_names: list[str] | None, run: object = "the run") -> int:
    """The class index of `label`: an index 0..K-1 (an int, or a string of digits that is no
    class's name), or a class name (an image folder's sub-folder, Fashion-MNIST's 'Trouser').

    Raises:
        ConfigError: the run is not conditional, the index is out of range, or no class has
            that name; one line naming the classes.
    """
    if class_names is None:
        raise ConfigError(
            f"{run} is unconditional (conditional.kind none): it has no classes to ask for; "
            "drop --label, or train with --set conditional.kind=concat|projection|acgan"
        )
    k = len(class_names)
    if isinstance(label, str) and label in class_names:
        return class_names.index(label)
    if isinstance(label, str) and label.lstrip("-").isdigit():
        label = int(label)
    if isinstance(label, int) and not isinstance(label, bool):
        if 0 <= label < k:
            return label
        raise ConfigError(f"label {label} is out of range: {run} has classes 0..{k - 1}")
    shown = ", ".join(class_names[:12]) + (", ..." if k > 12 else "")
    raise ConfigError(
        f"unknown class {label!r}: {run} has classes {shown}; pass a name or an index 0..{k - 1}"
    )


def class_labels(
    n: int,
    label,
    class_names: list[str] | None,
    seed: int,
    run: object = "the run",
    weights: list[float] | None = None,
) -> torch.Tensor | None:
    """The (n,) classes G is asked for: None for an unconditional run without a label; each
    drawn from `seed` when `label` is None (uniformly, or with the class frequencies `weights`
    of a run whose classes are clusters); `label` (index or name) n times; or a sequence/tensor
    of n indices as given.

    Raises:
        ConfigError: as label_index, or n labels that do not fit.
    """
    if label is None:
        if class_names is None:
            return None
        gen = torch.Generator().manual_seed(seed)
        return draw_classes(n, len(class_names), weights, gen)
    if not isinstance(label, (int, str)) and torch.as_tensor(label).ndim == 0:
        label = int(label)  # a numpy or 0-dim torch integer: one class for all n
    if isinstance(label, (int, str)):
        return torch.full((n,), label_index(label, class_names, run), dtype=torch.int64)
    y = torch.as_tensor(label, dtype=torch.int64).reshape(-1)
    if len(y) != n:
        raise ConfigError(f"{len(y)} labels for {n} samples; give one label per sample")
    for value in y.unique().tolist():
        label_index(int(value), class_names, run)
    return y


def examples_by_class(cfg, data, per_class: int = 8) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A conditional image run's training data, per_class examples of each class in class
    order (images in [0, 1], their classes), to draw beside G's rows; None for other runs."""
    if getattr(data, "class_names", None) is None or len(data.x_shape) != 3:
        return None
    x, y = data.class_reference(per_class)  # in G's output range, as the source holds them
    drawn = y < MAX_ROWS  # the classes a figure has rows for
    return unit_images(x[drawn], cfg, data.x_shape), y[drawn]


def source_classes(data) -> tuple[list[str] | None, list[float] | None]:
    """A training source's class names (None: an unconditional run) and, where its classes
    are its clusters, the weights p(y) G's classes follow (None: uniform), as meta.json and Run
    hold them."""
    weights = getattr(data, "class_weights", None)
    return getattr(data, "class_names", None), (
        None if weights is None else [float(w) for w in weights]
    )


__all__ = ["class_labels", "examples_by_class", "label_index", "source_classes"]
