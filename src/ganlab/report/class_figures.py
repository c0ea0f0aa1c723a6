"""Figures of a conditional run: G's samples class by class.

Images: a grid with one row per class, its name at the left. Points: the samples coloured by
the class they were asked for, over the data in grey. The run is anything with Run's
attributes (`sample(n, label=...)`, `class_names`, `x_shape`): the report layer never imports
runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.report.figures import image_grid, principal_plane, pyplot, save_figure

MAX_ROWS = 20  # classes drawn in an image grid; a row each (more would shrink every digit)


def class_samples(run, per_class: int, seed: int | None = None) -> tuple[Tensor, Tensor]:
    """per_class samples of each class, in class order: ((K * per_class, *x_shape), (K*pc,))."""
    y = torch.arange(len(run.class_names)).repeat_interleave(per_class)  # (K * per_class,)
    return run.sample(len(y), seed, label=y), y


def rows_by_class(x: Tensor, y: Tensor, k: int, per_class: int, fill: float) -> Tensor:
    """Examples x, (n, *shape), of classes y, (n,), as k rows of per_class: row j holds the
    first per_class examples of class j, and `fill` where class j has fewer."""
    out = torch.full((k * per_class, *x.shape[1:]), fill, dtype=x.dtype)
    for j in range(k):
        mine = x[y == j][:per_class]
        out[j * per_class : j * per_class + len(mine)] = mine
    return out


def save_class_figure(
    path: Path,
    x: Tensor,
    y: Tensor,
    class_names: list[str],
    real: Tensor | None = None,
    title: str = "",
    value_range: tuple[float, float] = (0.0, 1.0),
    real_y: Tensor | None = None,
) -> Path:
    """x: samples (images in value_range) or points, y: (n,) the class each was asked for, in class
    order with an equal count per class for images. Images: one row per class (the first
    MAX_ROWS classes), with `real` images in a grid of the same size beside them: with their
    classes `real_y`, row j shows data of class j (blank cells where it has fewer), else
    examples of any class; points: a scatter coloured by class (2-D, or the data's principal
    plane)."""
    plt = pyplot()
    if x.ndim == 4:
        k = min(len(class_names), MAX_ROWS)
        per_class = int((y == 0).sum())
        grids = [image_grid(x[: k * per_class], value_range, cols=per_class)]  # (k(H+1)+1, ...)
        if real is not None and len(real):
            if real_y is not None:  # white cells: a class with fewer examples than a row
                real = rows_by_class(real, real_y, k, per_class, value_range[1])
            grids.append(image_grid(real[: k * per_class], value_range, cols=per_class))
        width = 0.5 * per_class * len(grids) + 1.5
        fig, axes = plt.subplots(1, len(grids), figsize=(width, 0.5 * k + 0.8), squeeze=False)
        h = x.shape[2] + 1
        data = "data of the same class" if real_y is not None else "data (examples of every class)"
        names = [title or "generated, one row per class", data]
        for ax, grid, name in zip(axes[0], grids, names, strict=False):
            ax.imshow(grid.squeeze(-1) if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0,
                      vmax=1)  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ("top", "right", "bottom", "left"):
                ax.spines[side].set_visible(False)
            ax.set_title(name, fontsize=9 if len(grids) > 1 else None)
        axes[0, 0].set_yticks([1 + h * i + h / 2 for i in range(k)], class_names[:k])
        axes[0, 0].set_ylabel("class asked for")
        return save_figure(fig, path)
    fake = x.float()
    names = ("x1 (data coordinate)", "x2 (data coordinate)")
    if fake.shape[1] > 2:
        fake, real, names = principal_plane(fake, real)
    fig, ax = plt.subplots(figsize=(6.5, 6))
    if fake.shape[1] == 1:
        both = fake if real is None else torch.cat([fake, real.float()])
        edges = np.linspace(float(both.min()), float(both.max()), 81)  # shared bins
        if real is not None:
            ax.hist(real[:, 0].numpy(), edges, density=True, color="0.6", label="data")
        for j, name in enumerate(class_names):
            share = float((y == j).float().mean())  # each class's part of p_g's density
            weights = np.full(int((y == j).sum()), 1 / (len(y) * (edges[1] - edges[0])))
            ax.hist(fake[y == j, 0].numpy(), edges, weights=weights, alpha=0.6,
                    label=f"class {name} ({100 * share:.0f}%)")  # fmt: skip
        ax.set_xlabel("x")
        ax.set_ylabel("density")
    else:
        if real is not None:
            ax.scatter(real[:, 0], real[:, 1], s=1, c="k", label="data")
        cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
        for j, name in enumerate(class_names[: cmap.N]):
            pts = fake[y == j]
            ax.scatter(pts[:, 0], pts[:, 1], s=3, color=cmap(j), label=f"class {name}")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    ax.legend(markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or "generated, coloured by the class asked for")
    return save_figure(fig, path)


__all__ = ["MAX_ROWS", "class_samples", "rows_by_class", "save_class_figure"]
