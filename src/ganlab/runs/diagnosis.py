"""The doctor on a run: watching one as it trains (`RunDoctor`, rank 0 of the monitor) and
diagnosing a run directory afterwards (`diagnose`, behind `ganlab doctor`), including runs made
before the doctor existed: their metrics.csv, coverage.csv and checkpoints say enough.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from ganlab.config import Config
from ganlab.data import build_data, distribution_of
from ganlab.data.sources import TensorSource
from ganlab.data.streaming import StreamingSource
from ganlab.doctor import Doctor, Finding
from ganlab.doctor.doctor import END_KINDS
from ganlab.doctor.samples import MIN_STEP, SAMPLES
from ganlab.errors import CheckpointError
from ganlab.runfiles import (
    read_csv,
    read_findings,
    read_metrics,
    run_config,
    write_findings,
    writing,
)
from ganlab.runs.checkpoints import CheckpointStore
from ganlab.training.prior import NoisePrior
from ganlab.training.state import DATA_SEED, EVAL_SEED, TrainState, eval_mode, tanh_images

STREAMED_TRAIN = 5000  # examples of a streamed set the doctor compares samples with
DOCTOR_SEED = 6  # the doctor's own noise stream: cfg.seed + 6 (the run's streams are 1-4)


def doctor_noise(cfg: Config) -> torch.Tensor:
    """The fixed z of every sample check of a run, training-time and afterwards alike."""
    return NoisePrior(cfg.noise, cfg.seed + DOCTOR_SEED).sample(SAMPLES)


def heldout_draws(distribution, cfg: Config) -> torch.Tensor | None:
    """SAMPLES fresh draws of a toy's law (None for data from files), from the doctor's seed."""
    if distribution is None:
        return None
    g = torch.Generator().manual_seed(cfg.seed + DOCTOR_SEED)
    return distribution.sample(SAMPLES, g).float()


def training_set(source) -> torch.Tensor | None:
    """The finite training set a run samples minibatches from (None for fresh toy draws); of a
    set streamed from disk, a fixed subset of STREAMED_TRAIN examples (the whole set need not
    fit in memory; the memorisation check's leave-one-out yardstick is then the subset's too)."""
    if isinstance(source, StreamingSource):
        return source.reference(STREAMED_TRAIN, seed=0)
    return source.x if isinstance(source, TensorSource) else None


def recorded_findings(run_dir: Path) -> list[Finding]:
    """The findings training stored in findings.json (entries it cannot read are skipped)."""
    out = []
    for doc in read_findings(run_dir) or []:
        try:
            out.append(Finding.from_dict(doc))
        except (KeyError, ValueError, TypeError):
            continue
    return out


class RunDoctor:
    """The doctor of a training run on rank 0: each finding is warned once and findings.json
    rewritten (atomically) whenever one is added.

    Args:
        run_dir: the run directory.
        cfg: its config.
        state: the training state (its data source gives the yardstick and the training set).
    """

    def __init__(self, run_dir: Path, cfg: Config, state: TrainState):
        self.run_dir, self.cfg = run_dir, cfg
        self.doctor = Doctor(cfg)
        self.z = doctor_noise(cfg)
        self.real = state.data.reference(SAMPLES, seed=cfg.seed + EVAL_SEED)
        self.train = training_set(state.data)
        self.distribution = distribution_of(cfg.data)
        # unseen examples for memorisation: fresh draws where the data's law is known (a toy
        # with a fixed set of n points); else leave-one-out within the training set
        self.heldout = heldout_draws(self.distribution, cfg) if self.train is not None else None
        # A resumed run: its findings so far are not warned again, and its rows are history.
        # Not what was found past the step it goes on from (a divergence it ran into after its
        # last checkpoint: those steps are trained again, perhaps with other rates), nor an
        # unfinished run or a poor fit, which are judged at the run's new end.
        for finding in recorded_findings(run_dir):
            if finding.step <= state.step and finding.kind not in ("unfinished", "poor_fit"):
                self.doctor.found.setdefault(finding.kind, finding)
        for row in read_metrics(run_dir):
            self.doctor.rows.append(row)
        self._store()

    def row(self, row: dict, last_checkpoint) -> None:
        self._report(self.doctor.observe_row(row), last_checkpoint)

    def samples(self, G: torch.nn.Module, step: int, coverage: dict | None, last_checkpoint):
        with torch.no_grad(), eval_mode(G):
            fake = G(self.z.to(next(G.parameters()).device)).cpu()
        distribution = None if coverage is not None else self.distribution
        found = self.doctor.check_samples(
            step, fake, self.real, distribution, coverage, self.train, self.heldout
        )
        self._report(found, last_checkpoint)

    def diverged(self, step: int, what: str, last_checkpoint) -> None:
        """Stored, not warned: the monitor's one error line (or rollback warning) says it."""
        if self.doctor.observe_divergence(step, what):
            with writing(self.run_dir / "findings.json", last_checkpoint):
                self._store()

    def rewind(self, step: int) -> None:
        """A rollback redoes the steps past `step`: their rows are forgotten (findings stay)."""
        self.doctor.rows = [r for r in self.doctor.rows if float(r["step"]) <= step]

    def _report(self, found: list[Finding], last_checkpoint) -> None:
        if not found:
            return
        for finding in found:
            warnings.warn(with_run(finding.line(), self.run_dir), stacklevel=3)
        with writing(self.run_dir / "findings.json", last_checkpoint):
            self._store()

    def _store(self) -> None:
        write_findings(self.run_dir, [f.to_dict() for f in self.doctor.findings])


def with_run(text: str, run_dir) -> str:
    """Advice with the run's own directory where it says `ganlab resume RUN` or `sample RUN`
    (findings.json keeps RUN: a run directory may be moved)."""
    for command in ("ganlab resume", "ganlab sample"):
        text = text.replace(f"{command} RUN ", f"{command} {run_dir} ")
    return text


def findings_text(
    findings: list[Finding], run_dir, as_json: bool = False, last_step: int | None = None
) -> str:
    """What `ganlab doctor` prints: each finding's kind, step, evidence and advice, a line
    saying there is none (and, for a run that stopped before step MIN_STEP, that mode collapse
    was not judged), or (as_json) {"findings": [{kind, step, evidence, advice}, ...]}."""
    if as_json:
        return json.dumps({"findings": [f.to_dict() for f in findings]}, indent=1)
    if not findings:
        short = last_step is not None and last_step < MIN_STEP
        kinds = "saturation, an overpowering D, " + ("" if short else "mode collapse, ")
        line = (
            f"{run_dir}: the doctor found nothing wrong ({kinds}oscillation, divergence, "
            "memorisation, an unfinished run, samples that do not fit the data)"
        )
        if short:
            line += (
                f"; mode collapse is not judged before step {MIN_STEP} (an untrained G maps "
                f"every z near one point) and this run stopped at step {last_step}"
            )
        return line
    lines = []
    for f in findings:
        evidence = ", ".join(f"{k} {v}" for k, v in f.to_dict()["evidence"].items())
        advice = with_run(f.advice, run_dir)
        lines.append(f"{f.kind} from step {f.step}\n  evidence: {evidence}\n  advice: {advice}")
    return "\n".join(lines)


def diagnose(run_dir: Path | str, data=None) -> list[Finding]:
    """The findings of a run directory, from its files (training-time findings, metrics.csv,
    coverage.csv) and a sample check at every checkpoint kept.

    Args:
        run_dir: the run directory.
        data: the examples a run of data.kind 'tensor' trained on (ganlab.train(..., data=x)),
            which its directory does not hold; without them its samples are not checked (one
            warning line) and the curves still are.

    Raises:
        RunDirError: not a run directory.
    """
    # imported here: runs.api imports the monitor, which imports this module
    from ganlab.runs.api import load_run

    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    doctor = Doctor(cfg)
    doctor.rows = read_metrics(run_dir)
    doctor.curve_findings()
    doctor.coverage = [
        {k: float(v) for k, v in row.items() if v not in (None, "")}
        for row in read_csv(run_dir / "coverage.csv")
    ]
    steps = [int(e["step"]) for e in CheckpointStore(run_dir / "checkpoints").entries()]
    if steps and cfg.data.kind == "tensor" and data is None:
        warnings.warn(
            f"the samples of {run_dir} were not checked (mode collapse, memorisation, an "
            "unfinished run, a poor fit): it trained on a tensor passed in Python, which its "
            f"directory does not hold; ganlab.diagnose({str(run_dir)!r}, data=x) checks them",
            stacklevel=2,
        )
        steps = []
    if steps:
        source = build_data(cfg.data, cfg.seed + DATA_SEED, data)
        real = source.reference(SAMPLES, seed=cfg.seed + EVAL_SEED)
        train, z = training_set(source), doctor_noise(cfg)
        law = distribution_of(cfg.data)
        heldout = heldout_draws(law, cfg) if train is not None else None
        distribution = None if doctor.coverage else law
        for step in sorted(steps):
            try:
                run = load_run(run_dir, step)
            except CheckpointError:
                continue  # a damaged file: the others still speak
            with torch.no_grad():
                fake = run.sampler(z)
            if tanh_images(cfg, run.x_shape):  # G's [-1, 1] against the data's [0, 1]
                fake = (fake + 1.0) / 2.0
            doctor.check_samples(step, fake, real, distribution, None, train, heldout)
    doctor.sample_findings()
    for finding in recorded_findings(run_dir):  # what only training saw: a NaN between rows
        if finding.kind not in doctor.found or finding.step < doctor.found[finding.kind].step:
            doctor.found[finding.kind] = finding
    if doctor.explained():  # a run trained before that rule stored both
        for kind in END_KINDS:
            doctor.found.pop(kind, None)
    return doctor.findings
