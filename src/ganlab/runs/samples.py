"""`ganlab sample RUN_DIR --out FILE`: samples of a trained generator, to an array or a figure."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ganlab.data import distribution_of
from ganlab.errors import ConfigError, RunDirError
from ganlab.files import atomic_write_bytes
from ganlab.report.figures import save_sample_figure
from ganlab.runs.api import load_run


def write_samples(
    run_dir: str | Path,
    out: str | Path,
    n: int = 64,
    *,
    step: int | None = None,
    seed: int | None = None,
    overwrite: bool = False,
) -> tuple[int, ...]:
    """Write n samples x = G(z) of a run: a .npy array (n, *x_shape) in the data's range, written
    atomically, or a .png figure of them.

    Args:
        run_dir: the run.  out: the .npy or .png file.  n: number of samples.
        step: the checkpoint (default latest).  seed: seed of the noise (default the run's
        seed + EVAL_SEED, as Run.sample).  overwrite: replace `out` if it exists.
    Returns:
        x_shape, the shape of one sample.
    Raises:
        ConfigError: an unknown file type, or n < 1.
        RunDirError: `out` exists (without overwrite), its folder does not, or it cannot be
        written; the run cannot be loaded.
    """
    out = Path(out)
    if out.suffix not in (".npy", ".png"):
        raise ConfigError(f"--out {out}: unknown file type; use a .npy or .png name")
    if out.exists() and not overwrite:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        raise RunDirError(
            f"cannot write {out}: folder {out.parent} does not exist; create it first"
        )
    run = load_run(run_dir, step)
    x = run.sample(n, seed)  # (n, *x_shape)
    try:
        if out.suffix == ".npy":
            buf = io.BytesIO()
            np.save(buf, x.numpy())
            atomic_write_bytes(out, buf.getvalue())
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
    return tuple(x.shape[1:])
