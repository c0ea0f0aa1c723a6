"""The columns of a user's points as training holds them, float32: values float32 cannot hold
are refused, and columns training cannot learn from are named (constant ones, and ones that
vary less than float32 resolves at their size, which the cast to float32 flattens).

The checks read the values as the file holds them (a CSV's float64 cells, an array's own
dtype), before the cast that would hide the problem: 1e40 becomes inf, 1e9 + N(0, 1) becomes
multiples of 64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ganlab.errors import DataError
from ganlab.models.standardized import constant_coordinates

FLOAT32_MAX = float(np.finfo(np.float32).max)  # 3.4e38: beyond it the cast gives inf
# A column with fewer float32 values than this across one standard deviation around its
# largest magnitude: the cast rounds each value by up to half a step, blurring the shape G
# is shown (at 10 steps the rounding's own std is 3% of the column's)
STEPS_PER_STD = 10


def column_labels(x: np.ndarray, names: Sequence[str] | None) -> list[str]:
    """How a line names each column of (N, d) points: "column 'NAME'" for `names` (a CSV's),
    else 'column 1' .. 'column d' (an array's, 1-based)."""
    if names is None:
        return [f"column {j + 1}" for j in range(x.shape[1])]
    return [f"column '{name}'" for name in names]


def check_float32_range(x: np.ndarray, where, names: Sequence[str] | None = None) -> None:
    """Refuse finite values beyond float32's range, FLOAT32_MAX, which training (float32)
    would hold as inf: one line naming the column of (N, d) points (for images, the value) and
    the power of ten to divide it by. NaN and inf are left to the callers' checks.

    Raises:
        DataError: one line.
    """
    if x.dtype.kind != "f" or x.dtype.itemsize <= 4 or not len(x):
        return
    big = np.isfinite(x) & (np.abs(x) > FLOAT32_MAX)  # NaN and inf: the callers' own line
    if not big.any():
        return
    at = tuple(int(i) for i in np.argwhere(big)[0])
    within = x[:, at[1]] if x.ndim == 2 else x  # the largest of the column, for the fix
    value = float(within.flat[np.argmax(np.where(np.isfinite(within), np.abs(within), 0))])
    scale = f"1e{int(np.floor(np.log10(abs(value))))}"
    if x.ndim == 2:
        column = column_labels(x, names)[at[1]]
        what, fix = f"{column} holds {value:.3g}", f"rescale the column (divide it by {scale})"
    else:
        what, fix = f"holds the value {value:.3g}", f"rescale the array (divide it by {scale})"
    raise DataError(
        f"{where}: {what}, beyond float32's range (+-3.4e+38) that ganlab trains in; {fix}"
    )


def column_warnings(x: np.ndarray, where, names: Sequence[str] | None = None) -> list[str]:
    """One line for the constant columns of (N, d) points, and one for each column that varies
    less than float32 resolves at its size (fewer than STEPS_PER_STD float32 values across one
    standard deviation), measured in float64 on the values as given.

    Raises:
        DataError: every column is constant: all N >= 2 points are one point, nothing to learn.
    """
    if x.ndim != 2 or len(x) < 2:  # a single example: the minibatch check refuses it
        return []
    labels = column_labels(x, names)
    x = x.astype(np.float64)
    mean, std = x.mean(0), x.std(0)
    constant = constant_coordinates(torch.from_numpy(mean), torch.from_numpy(std)).numpy()
    if constant.all():
        point = ", ".join(f"{v:.6g}" for v in x[0, :4]) + (", ..." if x.shape[1] > 4 else "")
        raise DataError(
            f"{where}: all {len(x):,} points are the same point ({point}); a GAN learns how "
            "examples differ and there is nothing to learn here: give data that varies"
        )
    lines = []
    if constant.any():
        found = np.flatnonzero(constant)
        cols = [f"{labels[j]} (= {mean[j]:.6g})" for j in found]
        fix = "leave it out of the array"  # a CSV's by name, without editing the file:
        if names is not None:
            fix = f"--set 'data.drop_columns=[{', '.join(names[j] for j in found)}]' leaves it out"
        lines.append(
            f"{where}: {', '.join(cols)} {'is' if len(cols) == 1 else 'are'} constant: G "
            f"reproduces the value and learns nothing from it; {fix} if it carries nothing"
        )
    step = np.spacing(np.abs(x).max(0).astype(np.float32)).astype(np.float64)
    for j in np.flatnonzero(~constant & (std < STEPS_PER_STD * step)):
        lines.append(
            f"{where}: {labels[j]} varies by {std[j]:.3g} around {mean[j]:.6g}, finer "
            f"than float32 (which ganlab trains in) resolves there (steps of {step[j]:.3g}); "
            f"subtract an offset from the column first (e.g. {mean[j]:.6g})"
        )
    return lines


__all__ = ["FLOAT32_MAX", "STEPS_PER_STD", "check_float32_range", "column_warnings"]
