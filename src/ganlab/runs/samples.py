"""`ganlab sample RUN_DIR --out FILE`: samples of a trained generator, to an array or a figure."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from ganlab.data import distribution_of
from ganlab.errors import ConfigError, RunDirError
from ganlab.files import atomic_write_bytes
from ganlab.report.class_figures import class_samples, save_class_figure
from ganlab.report.figures import save_sample_figure
from ganlab.runfiles import read_class_examples
from ganlab.runs.api import load_run
from ganlab.runs.labels import label_index


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
    """Write n samples x = G(z) of a run: a .npy array (n, *x_shape) in the data's range, written
    atomically, or a .png figure of them.

    Args:
        run_dir: the run.  out: the .npy or .png file.  n: number of samples.
        step: the checkpoint (default latest).  seed: seed of the noise (default the run's
        seed + EVAL_SEED, as Run.sample).  overwrite: replace `out` if it exists.
        label: a conditional run's class (index or name) for all n; 'all': n of every class,
            in class order (a .png: one row per class); None: classes drawn uniformly.
    Returns:
        (x_shape, the shape of one sample; what was written, e.g. "64 samples of class 7").
    Raises:
        ConfigError: an unknown file type, n < 1, or a label that the run has not (an
            unconditional run, out of range, an unknown name).
        RunDirError: `out` exists (without overwrite), its folder does not, or it cannot be
        written; the run cannot be loaded.
    """
    out = Path(out)
    if out.suffix.lower() not in (".npy", ".png"):
        raise ConfigError(f"--out {out}: unknown file type; use a .npy or .png name")
    if out.exists() and not overwrite:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise RunDirError(
            f"cannot write {out}: folder {out.parent} does not exist; create it first"
        )
    run = load_run(run_dir, step)
    what, y = f"{n} samples", None
    if label == "all":
        label_index(0, run.class_names, f"run {run.path}")  # an unconditional run: its error
        x, y = class_samples(run, n, seed)  # (K n, *x_shape), in class order
        what = f"{n} samples of each of {len(run.class_names)} classes"
    else:
        x = run.sample(n, seed, label=label)  # (n, *x_shape)
        if label is not None:
            name = run.class_names[label_index(label, run.class_names)]
            what = f"{n} samples of class {name}"
    try:
        if out.suffix.lower() == ".npy":
            buf = io.BytesIO()
            np.save(buf, x.numpy())
            atomic_write_bytes(out, buf.getvalue())
        elif y is not None:
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
