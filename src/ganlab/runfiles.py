"""A run directory's files: their names, and plain readers and writers of config.yaml,
meta.json, metrics.csv, coverage.csv, findings.json and class_examples.safetensors.

Below every layer that reads a run (report pages, runs, the lab), beside config: the files are a
format, and nothing here trains or draws.
"""

from __future__ import annotations

import csv
import json
import math
from contextlib import contextmanager
from pathlib import Path

import torch

from ganlab.config import Config, load_config
from ganlab.errors import RunDirError
from ganlab.files import atomic_write_bytes

METRIC_FIELDS = [
    "step", "d_loss", "g_loss", "value", "d_real", "d_fake",
    "g_grad_norm", "d_grad_norm", "lr_g", "lr_d", "steps_per_s", "elapsed_s",
]  # fmt: skip


COVERAGE_FIELDS = ["step", "modes_covered", "modes", "high_quality", "kl"]

FINDINGS_FILE = "findings.json"  # the doctor's findings: {"findings": [{kind, step, ...}]}

# A conditional image run's training examples, a few of each class in class order (uint8 "x",
# (n, C, H, W); int64 "y", (n,)): what the figures draw beside G's row for class j, kept so that
# `ganlab report` and `ganlab sample --label all` draw them without the data (or its clustering).
CLASS_EXAMPLES_FILE = "class_examples.safetensors"


def read_json(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


@contextmanager
def writing(path: Path, last_checkpoint: Path | str | None):
    """Turn an OSError (full disk, no permission) while writing `path` into one RunDirError.

    last_checkpoint: the checkpoint a resume would start from (or a note such as
    "training finished"), named in the message so the user knows what is safe.
    """
    try:
        yield
    except OSError as e:
        if last_checkpoint is None:
            safe = "no checkpoint was written yet"
        elif isinstance(last_checkpoint, str):
            safe = last_checkpoint
        else:
            safe = f"the last checkpoint {last_checkpoint} is intact; then `ganlab resume`"
        raise RunDirError(
            f"cannot write {path} ({e.strerror or e}); free disk space or fix the folder's "
            f"permissions ({safe})"
        ) from None


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").exists() and (path / "meta.json").exists()


def run_config(run_dir: Path) -> Config:
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(
            f"{run_dir} is a file, not a run directory; pass the folder `ganlab train` made"
        )
    if not run_dir.is_dir():
        raise RunDirError(
            f"run directory {run_dir} does not exist; pass the folder `ganlab train` made"
        )
    if not (run_dir / "config.yaml").exists():
        raise RunDirError(
            f"{run_dir} is not a ganlab run directory (no config.yaml); pass the folder "
            "`ganlab train` made"
        )
    return load_config(run_dir / "config.yaml")


def read_meta(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise RunDirError(
            f"{run_dir}/meta.json is missing or unreadable; the run directory is damaged"
        ) from None


def read_findings(run_dir: Path) -> list[dict] | None:
    """The doctor's findings stored in a run directory; None when the run has no findings.json
    (made before the doctor, or with doctor: false)."""
    doc = read_json(Path(run_dir) / FINDINGS_FILE)
    if doc is None or not isinstance(doc.get("findings"), list):
        return None
    return [f for f in doc["findings"] if isinstance(f, dict) and {"kind", "step"} <= f.keys()]


def write_findings(run_dir: Path, findings: list[dict]) -> None:
    """findings.json, atomically (a reader never sees half a file)."""
    doc = json.dumps({"findings": findings}, indent=1, allow_nan=False)
    atomic_write_bytes(Path(run_dir) / FINDINGS_FILE, (doc + "\n").encode())


def write_class_examples(run_dir: Path, x: torch.Tensor, y: torch.Tensor) -> None:
    """x: images in [0, 1], y: their classes; stored at 8 bits (within half a level of x),
    atomically."""
    from safetensors.torch import save

    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8).contiguous()
    blob = save({"x": pixels, "y": y.to(torch.int64).contiguous()})
    atomic_write_bytes(Path(run_dir) / CLASS_EXAMPLES_FILE, blob)


def read_class_examples(run_dir: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(images in [0, 1], classes) of write_class_examples; None where the run has none (not a
    conditional image run, made before the file existed) or the file is unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        found = load_file(Path(run_dir) / CLASS_EXAMPLES_FILE)
        return found["x"].float() / 255, found["y"]
    except (OSError, KeyError, SafetensorError):
        return None


def read_metrics(run_dir: Path) -> list[dict]:
    return read_csv(run_dir / "metrics.csv")


def read_csv(path: Path) -> list[dict]:
    """A run's CSV log as rows of strings; a row whose step is not a number (a line training
    did not write, or half of one) is left out, so that readers can rely on it."""
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [r for r in csv.DictReader(f) if "step" not in r or _number(r["step"])]


def _number(text) -> bool:
    try:
        return math.isfinite(float(text))
    except (TypeError, ValueError):
        return False


def append_row(path: Path, fields: list[str], row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})


def truncate_log(path: Path, fields: list[str], step: int) -> None:
    rows = [  # a row a killed process left half-written has missing fields: drop it
        r for r in read_csv(path) if None not in r.values() and int(float(r["step"])) <= step
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
