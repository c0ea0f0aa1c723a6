"""The run directory: claiming --out (never touching what is not ours), creating it, and the
record of a run in meta.json (seed, versions, git commit, command, resumes)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from ganlab.config import RUNTIME_KEYS, Config, apply_override, config_from_dict, dump_config
from ganlab.data.sources import data_fingerprint
from ganlab.data.user import csv_columns
from ganlab.errors import ConfigError, RunDirError
from ganlab.files import atomic_write_bytes
from ganlab.runfiles import (
    COVERAGE_FIELDS,
    METRIC_FIELDS,
    is_run_dir,
    read_json,
    read_meta,
    truncate_log,
    writing,
)
from ganlab.runs.labels import source_classes
from ganlab.training import distributed
from ganlab.training.distributed import LOCAL, World
from ganlab.training.gemm import run_gemm
from ganlab.training.runtime import ThreadChoice
from ganlab.training.state import TrainState
from ganlab.version import __version__


def claim_out(out: str | Path | None, name: str, resume: bool, overwrite: bool):
    """Rank 0's check of --out before training: (the run directory, whether to resume it)."""
    out = Path(out) if out is not None else default_out(name)
    if out.is_dir() and not any(out.iterdir()):  # an empty folder: nothing to lose, a new run
        if not os.access(out, os.W_OK | os.X_OK):
            raise RunDirError(f"cannot write into {out}: it is not writable; choose another --out")
        return out, False
    if out.exists() and not is_run_dir(out):
        raise RunDirError(
            f"{out} exists and is not a ganlab run directory; refusing to touch it: "
            "choose another --out"
        )
    if out.exists() and resume:
        return out, True
    if out.exists() and not overwrite:
        raise RunDirError(
            f"run directory {out} already exists; pass --resume to continue it, --overwrite to "
            "replace it, or choose another --out"
        )
    check_writable(out)
    return out, False


def create_run_dir(
    out: Path,
    cfg: Config,
    state: TrainState,
    threads: ThreadChoice,
    data,
    world: World,
    typed_path: str | None = None,
) -> None:
    """Rank 0: a fresh run directory with config.yaml and meta.json (replacing an old run);
    `threads`: the count run_loop sets (runtime.run_threads), recorded with its reason.

    typed_path: data.path as the user wrote it, kept in meta.json for the record (config.yaml
    holds the absolute path, absolute_data_path).
    """
    extra = {"data_path_as_typed": typed_path} if typed_path is not None else None
    with writing(out, None):
        if out.exists() and any(out.iterdir()):  # the run --overwrite replaces
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        write_run_files(out, cfg, state, threads, data, extra, world=world)


def absolute_data_path(cfg: Config) -> tuple[Config, str | None]:
    """cfg with data.path made absolute (~ expanded), and the path as typed (None: no path).

    A run directory's config then names the same file from any working directory, so that
    `ganlab resume` works wherever it is typed.
    """
    typed = cfg.data.path
    if typed is None:
        return cfg, None
    absolute = os.path.abspath(os.path.expanduser(str(typed)))
    return cfg.model_copy(update={"data": cfg.data.model_copy(update={"path": absolute})}), typed


def write_run_files(
    out: Path,
    cfg: Config,
    state: TrainState,
    threads: ThreadChoice,
    data=None,
    extra_meta: dict | None = None,
    world: World = LOCAL,
) -> None:
    """config.yaml and meta.json of the run directory `out`, which exists; each written whole.

    config.yaml is the resolved config; meta.json the seed, versions, git commit, command, the
    data's shape and the world trained on (STYLE.md section 6).
    Args:
        threads: the thread count training runs with, and why.
        data: the in-memory data trained on, whose SHA-256 a resume checks; None for data the
            config names.
        extra_meta: more meta.json entries (the lab's counters under "lab").
    Raises:
        OSError: the files cannot be written (callers turn it into a RunDirError).
    """
    atomic_write_bytes(out / "config.yaml", dump_config(cfg).encode())
    meta = {**run_meta(cfg, state, threads, data, world), **(extra_meta or {})}
    atomic_write_bytes(out / "meta.json", json.dumps(meta, indent=1).encode())


def resume_config(run_dir: Path, cfg: Config, steps: int | None, overrides=()) -> Config:
    """The config a resume trains with: the run's `cfg`, with --steps and the RUNTIME_KEYS of
    --set (record_resume then writes it to config.yaml).

    Raises:
        ConfigError: --set of a key outside RUNTIME_KEYS, or a bad value.
    """
    for item in overrides:
        key, runtime = _set_key(item)
        # the data moved: a new data.path is taken where the run's data fingerprint (SHA-256
        # of its examples) lets the resume check that the same examples lie there
        moved = key == "data.path" and "data_fingerprint" in read_meta(run_dir)
        if not (runtime or moved):
            raise ConfigError(
                f"--set {key}: a resume trains what the run trained; it can change "
                f"{', '.join(RUNTIME_KEYS)} and --steps (and data.path, to where the same data "
                f"moved). Start a new run to change {key}"
            )
    if not overrides and steps is None:
        return cfg
    raw = cfg.model_dump(mode="json")
    for item in overrides:
        key, _, value = item.partition("=")
        if key.strip() == "data.path":  # absolute, as a new run records it
            item = f"data.path={os.path.abspath(os.path.expanduser(value.strip()))}"
        apply_override(raw, item)
    if steps is not None:
        raw["steps"] = steps
    origin = f"{run_dir}/config.yaml" if overrides else "--steps"
    return config_from_dict(raw, origin, overrides)


def train_resume_overrides(run_cfg: Config, cfg: Config, overrides=()) -> list[str]:
    """The --set items of `ganlab train ... --resume` that the resume applies: RUNTIME_KEYS
    (resume_config then checks them as `ganlab resume --set`). Another key may repeat the
    run's own value (the run's command again, with --resume); steps goes as --steps.

    Args:
        run_cfg: the run's config.  cfg: the command's config with its overrides applied.
    Raises:
        ConfigError: a key outside RUNTIME_KEYS set to another value than the run trained with.
    """
    runtime = []
    ran_raw, asked_raw = run_cfg.model_dump(mode="json"), cfg.model_dump(mode="json")
    changed = _differences(ran_raw, asked_raw)
    set_keys = {_set_key(item)[0] for item in overrides}
    unset = [k for k in changed if not any(k == s or k.startswith(f"{s}.") for s in set_keys)]
    unset.sort(key=lambda k: (not k.startswith(("objective", "data.")), k))  # the telling first
    if unset:  # another preset or file than the run's: no --set says so
        shown = ", ".join(
            f"{k}={_config_value(asked_raw, k)} (the run: {_config_value(ran_raw, k)})"
            for k in unset[:3]
        )
        more = f" and {len(unset) - 3} more" if len(unset) > 3 else ""
        raise ConfigError(
            f"--resume: this command's config differs from the one the run trained with: "
            f"{shown}{more}; resume the run with its own (`ganlab resume RUN`), or start a new "
            "run (another --out)"
        )
    for item in overrides:
        key, is_runtime = _set_key(item)
        if key == "steps":
            continue
        if is_runtime:
            runtime.append(item)
            continue
        ran, asked = _config_value(ran_raw, key), _config_value(asked_raw, key)
        if ran != asked:
            raise ConfigError(
                f"--set {key}: the run trained with {key}={ran}, and a resume trains what the "
                f"run trained; it can change {', '.join(RUNTIME_KEYS)} and steps. Start a new "
                f"run (another --out) to change {key}"
            )
    return runtime


def _differences(ran: dict, asked: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two dumped configs, less steps and
    RUNTIME_KEYS (what a resume may change)."""
    out = []
    for key in sorted(set(ran) | set(asked)):
        dotted = f"{prefix}{key}"
        if not prefix and (key == "steps" or key in RUNTIME_KEYS):
            continue
        a, b = ran.get(key), asked.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{dotted}.")
        elif a != b:
            out.append(dotted)
    return out


def _set_key(item: str) -> tuple[str, bool]:
    """A --set item's key, and whether it is one of RUNTIME_KEYS (or inside one)."""
    key = item.partition("=")[0].strip()
    return key, key.split(".")[0] in RUNTIME_KEYS


def _config_value(raw: dict, key: str):
    """The value at dotted `key` of a dumped config, None where there is none."""
    value = raw
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def record_resume(
    run_dir: Path,
    cfg: Config,
    meta: dict,
    step: int,
    ckpt: Path,
    world: World,
    threads: ThreadChoice,
):
    """Rank 0: note the resume in meta.json, rewrite config.yaml, drop log rows past `step`.

    The resume's entry records its own thread count and why (another machine, another
    environment), beside the run's first in meta.json's top level."""
    meta.setdefault("resumes", []).append(
        {
            "time": now(),
            "from_step": step,
            "command": command_line(),
            "world_size": world.size,
            "device": str(world.device),
            "bf16": world.bf16,
            "threads": threads.threads,
            "threads_reason": threads.reason,
            **gemm_meta(cfg, world.device),
        }
    )
    truncate_logs(run_dir, step, ckpt)
    with writing(run_dir / "meta.json", ckpt):
        atomic_write_bytes(run_dir / "config.yaml", dump_config(cfg).encode())
        atomic_write_bytes(run_dir / "meta.json", json.dumps(meta, indent=1).encode())


def default_out(name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / f"{name}-{stamp}"
    i = 2
    while out.exists():
        out = Path("runs") / f"{name}-{stamp}-{i}"
        i += 1
    return out


def check_writable(out: Path) -> None:
    """Fail before training if the run directory cannot be created."""
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunDirError(
            f"cannot create run directory {out}: {parent} is a file; choose another --out"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunDirError(
            f"cannot create run directory {out}: {parent} is not writable; choose another --out"
        )


def truncate_logs(run_dir: Path, step: int, checkpoint: Path) -> None:
    """Drop rows logged after `step` (the checkpoint a resume starts from): they are redone."""
    for name, fields in (("metrics.csv", METRIC_FIELDS), ("coverage.csv", COVERAGE_FIELDS)):
        path = run_dir / name
        if path.exists():
            with writing(path, checkpoint):
                truncate_log(path, fields, step)


def fingerprint(data) -> str:
    """SHA-256 of in-memory training data: a tensor on any device, of any dtype, or an array."""
    t = data.detach().cpu() if torch.is_tensor(data) else torch.as_tensor(np.asarray(data))
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: hash its bits
        t = t.view(torch.int16)
    arr = np.ascontiguousarray(t.numpy())
    return hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""


def git_commit() -> str | None:
    """The commit of the ganlab source tree, when it is a git checkout (editable install)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return None


def gemm_meta(cfg: Config, device) -> dict:
    """meta.json's record of the library of the run's compiled products (training.gemm)."""
    choice = run_gemm(cfg, device)
    return {"gemm": choice.gemm, "gemm_reason": choice.reason}


def run_meta(
    cfg: Config, state: TrainState, threads: ThreadChoice, data, world: World = LOCAL
) -> dict:
    meta = {
        "seed": cfg.seed,
        "ganlab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "threads": threads.threads,
        "threads_reason": threads.reason,
        **gemm_meta(cfg, next(state.G.parameters()).device),
        "git_commit": git_commit(),
        "started": now(),
        "command": command_line(),
        "x_shape": list(state.data.x_shape),
        "data_size": state.data.size,
        "world_size": world.size,
        "device": str(world.device),
        "bf16": world.bf16,
    }
    names, weights = source_classes(state.data)
    if names is not None:  # a conditional run: K and the classes' names, in index order
        meta["classes"], meta["class_names"] = len(names), names
        if weights is not None:  # clusters as classes: G's classes follow their sizes
            meta["class_weights"] = weights
    if data is None and cfg.data.kind == "csv":  # `ganlab sample --out s.csv` writes them
        columns = csv_columns(Path(cfg.data.path), cfg.data.label_column, cfg.data.drop_columns)
        if columns is not None:
            meta["columns"] = columns
    if data is not None:
        meta["data_sha256"] = fingerprint(data)
    else:
        found = data_fingerprint(state.data)
        if found is not None:
            meta["data_fingerprint"] = found
    return meta


def with_run_precision(run_dir: Path, world: World) -> World:
    """world with the bf16 autocast the run last trained with (meta.json: its newest resume,
    else its start), where it can have it."""
    meta = distributed.on_main(read_json, run_dir / "meta.json") or {}
    last = (meta.get("resumes") or [meta])[-1]
    if not last.get("bf16"):
        return world
    if not distributed.has_bf16_autocast(world):
        warnings.warn(
            f"the run trained with --bf16, which needs CUDA; on {world.device} it continues in "
            "float32",
            stacklevel=3,
        )
        return world
    return dataclasses.replace(world, bf16=True)
