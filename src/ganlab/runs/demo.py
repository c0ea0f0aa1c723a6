"""`ganlab demo`: the non-saturating GAN on the ring of 8 Gaussians, trained with its report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ganlab.runs.api import Run, train

DEMO_PRESET = "ring8"


def train_demo(out: str | Path | None = None, quiet: bool = True) -> Run:
    """Train preset ring8 into `out` (default runs/demo-<time>); the run's index.html is its
    report and Run.scores() its mode coverage."""
    out = out or Path("runs") / f"demo-{dt.datetime.now():%Y%m%d-%H%M%S}"
    return train(DEMO_PRESET, out, quiet=quiet)
