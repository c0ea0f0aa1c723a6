"""`ganlab sample RUN_DIR --out FILE`: samples of a trained generator, to an array (.npy; .npz
with their classes), a table of points (.csv) or a figure (.png)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch

from ganlab.data import distribution_of
from ganlab.errors import ConfigError, RunDirError
from ganlab.files import atomic_write_bytes
from ganlab.report.class_figures import class_samples, save_class_figure
from ganlab.report.figures import save_sample_figure
from ganlab.runfiles import read_class_examples, read_meta
from ganlab.runs.api import load_run
from ganlab.runs.labels import label_index

FILE_TYPES = (".npy", ".npz", ".csv", ".png")


def write_samples(
    run_dir: str | Path,
    out: str | Path,
    n: int = 64,
    *,
    step: int | None = None,
    seed: int | None = None,
    overwrite: bool = False,
    label: int | str | None = None,
) -> tuple[tuple[int, ...], str]:
    """Write n samples x = G(z) of a run, in the data's range, atomically: a .npy array
    (n, *x_shape); a .npz of x and, where a label was asked for, y (class indices) and
    class_names; a .csv of points (points_csv); or a .png figure of them.

    Args:
        run_dir: the run.  out: the .npy, .npz, .csv or .png file.  n: number of samples.
        step: the checkpoint (default latest).  seed: seed of the noise (default the run's
        seed + EVAL_SEED, as Run.sample).  overwrite: replace `out` if it exists.
        label: a conditional run's class (index or name) for all n; 'all': n of every class,
            in class order (a .png: one row per class); None: classes drawn uniformly.
    Returns:
        (x_shape, the shape of one sample; what was written, e.g. "64 samples of class 7").
    Raises:
        ConfigError: an unknown file type, a .csv of images, --label all to a .npy (it has no
            place for the classes), n < 1, or a label that the run has not (an unconditional
            run, out of range, an unknown name).
        RunDirError: `out` exists (without overwrite), its folder does not, or it cannot be
        written; the run cannot be loaded.
    """
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in FILE_TYPES:
        raise ConfigError(f"--out {out}: unknown file type; use a .npy, .npz, .csv or .png name")
    if kind == ".npy" and label == "all":
        raise ConfigError(
            f"--out {out}: --label all draws every class and a .npy holds no labels; use a .npz "
            "(x, y and class_names) or, for points, a .csv (a class column)"
        )
    if out.exists() and not overwrite:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise RunDirError(
            f"cannot write {out}: folder {out.parent} does not exist; create it first"
        )
    run = load_run(run_dir, step)
    if kind == ".csv" and len(run.x_shape) != 1:
        raise ConfigError(
            f"--out {out}: a .csv holds points and this run's samples are images "
            f"({'x'.join(map(str, run.x_shape))}); use a .npy, .npz or .png name"
        )
    what, y = f"{n} samples", None
    if label == "all":
        label_index(0, run.class_names, f"run {run.path}")  # an unconditional run: its error
        x, y = class_samples(run, n, seed)  # (K n, *x_shape), in class order
        what = f"{n} samples of each of {len(run.class_names)} classes"
    else:
        x = run.sample(n, seed, label=label)  # (n, *x_shape)
        if label is not None:
            index = label_index(label, run.class_names)
            y = torch.full((n,), index, dtype=torch.int64)  # (n,)
            what = f"{n} samples of class {run.class_names[index]}"
    try:
        if kind in (".npy", ".npz"):
            buf = io.BytesIO()
            if kind == ".npy":
                np.save(buf, x.numpy())
            elif y is None:
                np.savez(buf, x=x.numpy())
            else:
                np.savez(buf, x=x.numpy(), y=y.numpy(), class_names=np.array(run.class_names))
            atomic_write_bytes(out, buf.getvalue())
        elif kind == ".csv":
            atomic_write_bytes(out, points_csv(x, y, run).encode())
        elif label == "all":
            dist, real_y = distribution_of(run.config.data), None
            real = dist.sample(2500, torch.Generator().manual_seed(0)) if dist else None
            if x.ndim == 4:  # images: the data of class j beside G's row j, where the run kept it
                real, real_y = read_class_examples(run.path) or (None, None)
            title = f"{n} samples of each class, step {run.step}"
            save_class_figure(out, x, y, run.class_names, real, title, real_y=real_y)
        else:
            save_sample_figure(
                out,
                x,
                None,
                distribution_of(run.config.data),
                (0.0, 1.0),  # Run.sample returns images in the data range
                title=f"{n} samples, step {run.step}",
            )
    except OSError as e:
        raise RunDirError(f"cannot write {out} ({e.strerror}); choose another --out") from None
    return tuple(x.shape[1:]), what


def points_csv(x: torch.Tensor, y: torch.Tensor | None, run) -> str:
    """(n, d) points as CSV text: a header of the data's column names (meta.json's `columns`,
    recorded when the run trained on a CSV with a header; else x0 ... x{d-1}), then one row per
    point, each value as float32 holds it; with y, a last column of class names, headed by the
    run's data.label_column (else "class")."""
    d = x.shape[1]
    columns = read_meta(run.path).get("columns")
    header = list(columns) if isinstance(columns, list) and len(columns) == d else None
    header = header or [f"x{j}" for j in range(d)]
    # numpy's str of a float32 is the shortest text that reads back to the same float32
    rows = [[str(v) for v in point] for point in x.numpy()]
    if y is not None:
        header.append(run.config.data.label_column or "class")
        rows = [row + [run.class_names[c]] for row, c in zip(rows, y.tolist(), strict=True)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()
