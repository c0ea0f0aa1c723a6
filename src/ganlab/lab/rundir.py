"""A `ganlab lab` session as a ganlab run directory: `save_run` writes one (config.yaml,
meta.json, a checkpoint), `read_run` reads one back for the lab to continue.

`ganlab sample`, `ganlab eval`, `ganlab resume` and `load_run` read what `save_run` writes. The
lab's own state (its dataset, update counts and a drawing) goes in meta.json under "lab".
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.config import Config, load_config
from ganlab.data.sources import DistributionSource, TensorSource
from ganlab.data.toy import GaussianMixture
from ganlab.errors import RunDirError
from ganlab.lab.controls import DATASET_OF_KIND, DRAWN_STD
from ganlab.runs.api import restore_newest
from ganlab.runs.checkpoints import CheckpointStore
from ganlab.runs.directory import write_run_files
from ganlab.training.runtime import ThreadChoice
from ganlab.training.state import TrainState

# The lab trains on one thread whatever the nets (LabSession.start): its toy nets are far below
# training.runtime.THREADS_MIN_GFLOP, and the page's frame thread needs the other core.
LAB_THREADS = "lab: one thread, a core left for the page's frames"


def save_run(
    path: str | Path,
    dataset: str,
    cfg: Config,
    state: TrainState,
    counts: dict[str, int],
    drawn: Tensor,
    dist: GaussianMixture | None,
) -> Path:
    """Write a session as a run directory at `path`; returns the directory.

    Drawn data is saved as data.npy (samples of the drawn density `dist`) and the run's
    data.kind is 'array'.
    Args:
        counts: the session's {"d_updates": ..., "g_updates": ...}.
        drawn: (n, 2) the drawn points, kept when `dataset` is "drawn".
    Raises:
        RunDirError: the path exists (never overwritten) or cannot be written.
    """
    out = Path(path).expanduser()
    if out.exists():
        raise RunDirError(f"{out} already exists; the lab never overwrites: pick a new name")
    cfg = cfg.model_copy(update={"steps": max(state.step, 1)})
    lab = {"dataset": dataset, **counts}
    try:
        out.mkdir(parents=True)
        if dataset == "drawn":
            x = dist.sample(10_000, torch.Generator().manual_seed(cfg.seed)).numpy()
            np.save(out / "data.npy", x)
            data_path = str(out.resolve() / "data.npy")
            data = cfg.data.model_copy(update={"kind": "array", "path": data_path})
            cfg = cfg.model_copy(update={"data": data})
            lab["drawn"] = drawn.tolist()
            # a checkpoint whose data state fits what `ganlab resume` builds: epochs over x
            state = copy.copy(state)
            state.data = TensorSource(torch.from_numpy(x), cfg.seed + 1)
        threads = ThreadChoice(1, LAB_THREADS)  # LabSession.start's count
        write_run_files(out, cfg, state, threads, extra_meta={"lab": lab})
        CheckpointStore(out / "checkpoints", cfg.keep_checkpoints).save(state)
    except OSError as e:
        reason = e.strerror or e
        raise RunDirError(f"cannot write {out} ({reason}); pick another folder") from None
    return out


@dataclass
class LabRun:
    """A run directory read back for the lab: its newest checkpoint's state and the lab's view."""

    path: Path
    dataset: str
    cfg: Config
    state: TrainState
    d_updates: int
    g_updates: int
    drawn: Tensor | None  # (n, 2) float64, for a run of drawn points


def read_run(path: str | Path) -> LabRun:
    """A run directory's config and newest checkpoint, for the lab (1-D and 2-D toy data,
    conditional or not).

    Raises:
        RunDirError: the path is no run directory, or its data is not one the lab shows.
    """
    run = Path(path).expanduser()
    if not (run / "config.yaml").is_file():
        raise RunDirError(
            f"{run} is not a ganlab run directory (no config.yaml); give the folder "
            "`ganlab train` or the lab's save made"
        )
    # The lab trains a chunk of iterations per call (and single updates): each would
    # compile afresh, so a run trained with compile: true continues eagerly here.
    cfg = load_config(run / "config.yaml").model_copy(update={"compile": False})
    try:
        lab = json.loads((run / "meta.json").read_text()).get("lab", {})
    except (OSError, json.JSONDecodeError):
        lab = {}
    dataset = DATASET_OF_KIND.get(cfg.data.kind)
    if dataset == "ring" and cfg.conditional_run:  # shown as the conditional ring (cring8's)
        dataset = "cring"
    if dataset is None and "drawn" in lab:
        dataset = "drawn"
    if dataset is None:
        raise RunDirError(
            f"{run} trains on data.kind '{cfg.data.kind}'; the lab shows the toy data "
            f"({', '.join(DATASET_OF_KIND)}) and drawn points"
        )
    state, _ = restore_newest(run, cfg)  # torch's generator: the run's dropout stream
    drawn = None
    if dataset == "drawn":
        drawn = torch.tensor(lab["drawn"], dtype=torch.float64)
        state.data = DistributionSource(
            GaussianMixture(drawn, torch.tensor([DRAWN_STD])), cfg.seed + 1
        )
    d_updates = int(lab.get("d_updates", cfg.k * state.step))
    g_updates = int(lab.get("g_updates", state.step))
    return LabRun(run, dataset, cfg, state, d_updates, g_updates, drawn)


__all__ = ["LabRun", "read_run", "save_run"]
