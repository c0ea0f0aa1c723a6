"""Runs: a run directory around Algorithm 1, and the Python API the CLI is a thin shell over.

    run = ganlab.train("ring8", overrides=["steps=200"])   # or a Config, a dict, a YAML path
    x = run.sample(2500)                                    # (2500, 2) generated points
    run = ganlab.resume(run.path, steps=400)
    run = ganlab.load_run(run.path)

A run directory holds:
    config.yaml          the resolved config (every field, defaults filled in)
    meta.json            seed, versions, git commit, times, command lines, example shape
    metrics.csv          one row per logged step
    samples/step-*.png   samples from a fixed batch of noise, at intervals
    checkpoints/         step-*.safetensors and manifest.json (SHA-256 of each)
    samples.png, losses.png, discriminator.png, grad_norms.png, index.html   the report
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ganlab import __version__
from ganlab.algorithm import StepStats, algorithm1
from ganlab.checkpoint import (
    CheckpointStore,
    TrainState,
    atomic_write_bytes,
    restore_models,
    restore_state,
)
from ganlab.config import (
    Config,
    apply_override,
    config_from_dict,
    dump_config,
    load_config,
    preset_names,
)
from ganlab.data import build_data, distribution_of
from ganlab.errors import (
    CheckpointError,
    ConfigError,
    Diverged,
    Interrupted,
    RunDirError,
)
from ganlab.losses import value_function
from ganlab.metrics.coverage import mode_coverage
from ganlab.models import build_discriminator, build_generator
from ganlab.models.mlp import set_output_bias_
from ganlab.optim import build_optimizer, learning_rate
from ganlab.prior import NoisePrior
from ganlab.report import (
    save_coverage_figure,
    save_curves,
    save_discriminator_figure,
    save_sample_figure,
    write_index,
)
from ganlab.runtime import configure_cpu

METRIC_FIELDS = [
    "step", "d_loss", "g_loss", "value", "d_real", "d_fake",
    "g_grad_norm", "d_grad_norm", "lr_g", "lr_d", "steps_per_s", "elapsed_s",
]  # fmt: skip

COVERAGE_FIELDS = ["step", "modes_covered", "modes", "high_quality", "kl"]

# Seeds of the run's independent random streams, offset from cfg.seed so that none shares
# a sequence with another (model init and dropout use torch's global generator, seeded cfg.seed).
_DATA_SEED, _NOISE_SEED, _PREVIEW_SEED, _EVAL_SEED = 1, 2, 3, 4


class Run:
    """A trained (or training) GAN and its directory.

    Attributes:
        path: the run directory.
        config: the resolved Config.
        generator, discriminator: G and D, plain nn.Modules.
        step: iterations of Algorithm 1 done.
    """

    def __init__(self, path: Path, config: Config, G, D, step: int, x_shape: tuple[int, ...]):
        self.path, self.config = Path(path), config
        self.generator, self.discriminator = G, D
        self.step, self.x_shape = step, tuple(x_shape)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, step={self.step})"

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n samples x = G(z), (n, *x_shape), G in eval mode, from noise of its own seed.

        Images come back in the data's [0, 1] range whatever G's output nonlinearity.
        """
        if n < 1:
            raise ConfigError(f"number of samples must be >= 1, got {n}; pass -n 1 or more")
        seed = self.config.seed + _EVAL_SEED if seed is None else seed
        z = NoisePrior(self.config.noise, seed).sample(n)  # (n, z_dim)
        mode = self.generator.training
        self.generator.eval()
        try:
            x = self.generator(z)
        finally:
            self.generator.train(mode)
        return (x + 1.0) / 2.0 if _tanh_images(self.config, self.x_shape) else x

    def metrics(self) -> list[dict[str, float]]:
        """The rows of metrics.csv as dicts of floats."""
        return [{k: float(v) for k, v in row.items()} for row in _read_metrics(self.path)]

    def scores(self, n: int = 2500) -> dict[str, Any]:
        """Scores of n samples against a known toy density: mode coverage (2-D), moments (1-D)."""
        dist = distribution_of(self.config.data)
        if dist is None:
            return {}
        fake = self.sample(n)
        if dist.dim == 2:
            return mode_coverage(fake, dist.centres, float(dist.stds[0]))
        real = dist.sample(n, torch.Generator().manual_seed(self.config.seed + _EVAL_SEED))
        return {
            "generated_mean": float(fake.mean()),
            "generated_std": float(fake.std()),
            "data_mean": float(real.mean()),
            "data_std": float(real.std()),
        }


# ---------------------------------------------------------------------------------------------
# Public API


def train(
    config: Config | dict | str | Path,
    out: str | Path | None = None,
    *,
    overrides: list[str] = (),
    data=None,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = True,
    report: bool = True,
) -> Run:
    """Train a GAN with Algorithm 1 in a new run directory and return the Run.

    Args:
        config: a Config, a dict of config keys, a YAML file path or a preset name.
        out: the run directory to create; default runs/<name>-<time>.
        overrides: ``a.b=value`` strings applied on top of a file or preset.
        data: optional (N, *x_shape) tensor or array to train on instead of config.data.
        resume: if `out` already holds a run, continue it instead of refusing.
        overwrite: if `out` already holds a run, delete it and start again.
        quiet: no progress bar.
        report: write figures and index.html at the end.
    Raises:
        GanlabError: bad config, data or output directory; nothing is written then.
    """
    cfg, name = _resolve_config(config, overrides)
    if data is not None:
        cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"kind": "tensor"})})
    elif cfg.data.kind == "tensor":
        raise ConfigError("data.kind 'tensor' needs the examples: pass ganlab.train(cfg, data=x)")
    out = Path(out) if out is not None else _default_out(name)
    if out.exists() and not _is_run_dir(out):
        raise RunDirError(
            f"{out} exists and is not a ganlab run directory; refusing to touch it: "
            "choose another --out"
        )
    if out.exists() and resume:
        return _resume(out, steps=cfg.steps, data=data, quiet=quiet, report=report)
    if out.exists() and not overwrite:
        raise RunDirError(
            f"run directory {out} already exists; pass --resume to continue it, --overwrite to "
            "replace it, or choose another --out"
        )
    _check_writable(out)
    with seeded_rng(cfg):
        state = build_state(cfg, data)  # before any write: bad data or models write nothing
        with _writing(out, None):
            if out.exists():
                shutil.rmtree(out)
            out.mkdir(parents=True)
            atomic_write_bytes(out / "config.yaml", dump_config(cfg).encode())
            meta = _meta(cfg, state, data)
            atomic_write_bytes(out / "meta.json", json.dumps(meta, indent=1).encode())
        _run_loop(out, cfg, state, quiet)
    run = Run(out, cfg, state.G, state.D, state.step, state.data.x_shape)
    if report:
        with _writing(out / "index.html", "training finished"):
            write_report(run)
    return run


def resume(
    run_dir: str | Path,
    steps: int | None = None,
    *,
    data=None,
    quiet: bool = True,
    report: bool = True,
) -> Run:
    """Continue a run from its newest intact checkpoint, up to `steps` iterations in total.

    Training continues exactly: the same seed and machine give the same parameters as a run
    that was never stopped.
    """
    return _resume(Path(run_dir), steps, data, quiet, report)


def load_run(path: str | Path, step: int | None = None) -> Run:
    """A finished or interrupted run, with G and D loaded from its newest intact checkpoint,
    or from the checkpoint of `step` when given."""
    path = Path(path)
    cfg = _run_config(path)
    meta = _read_meta(path)
    x_shape = tuple(meta["x_shape"])
    G = build_generator(cfg.generator, cfg.noise.dim, x_shape)
    D = build_discriminator(cfg.discriminator, x_shape)
    store = CheckpointStore(path / "checkpoints")
    ckpt, tensors, header = store.load_latest() if step is None else store.load(step)
    restore_models(G, D, tensors, ckpt)
    G.eval()
    D.eval()
    return Run(path, cfg, G, D, int(header.get("step", 0)), x_shape)


def build_state(cfg: Config, data=None) -> TrainState:
    """Fresh G, D, optimisers, noise prior and data source for a config.

    Model initialisation draws from torch's global generator: call this after seeding it
    (train() does, inside an isolated RNG scope).
    """
    source = build_data(cfg.data, cfg.seed + _DATA_SEED, data)
    if _tanh_images(cfg, source.x_shape):
        # Images are stored in [0, 1]; a tanh G outputs [-1, 1]. Scale the data to G's range
        # here, the one place it happens (Run.sample maps samples back).
        source.x = 2.0 * source.x - 1.0
    G = build_generator(cfg.generator, cfg.noise.dim, source.x_shape)
    if cfg.generator.output_bias == "data_logit":
        set_output_bias_(G, data_logit(source, cfg.data.kind))
    D = build_discriminator(cfg.discriminator, source.x_shape)
    return TrainState(
        step=0,
        G=G,
        D=D,
        opt_g=build_optimizer(cfg.g_optimizer, G.parameters()),
        opt_d=build_optimizer(cfg.d_optimizer, D.parameters()),
        prior=NoisePrior(cfg.noise, cfg.seed + _NOISE_SEED),
        data=source,
    )


def data_logit(source, kind: str) -> torch.Tensor:
    """log(p / (1 - p)) of the mean example p, clipped to [1e-3, 1 - 1e-3] as pylearn2's
    init_sigmoid_bias_from_marginals: a sigmoid G whose output bias is this starts out
    producing the average image instead of uniform grey."""
    x = getattr(source, "x", None)
    if x is None:
        raise ConfigError(
            f"generator.output_bias 'data_logit' needs a training set, but data.kind '{kind}' "
            "streams fresh draws; set data.n or generator.output_bias=zero"
        )
    p = x.double().mean(0).clamp(1e-3, 1 - 1e-3)  # (*x_shape,)
    return torch.log(p / (1 - p)).float()


def write_report(run: Run) -> Path:
    """Final samples, curves, scores and index.html of a run; returns the page's path."""
    dist = distribution_of(run.config.data)
    fake = run.sample(2500 if len(run.x_shape) == 1 else 64)
    real = dist.sample(2500, torch.Generator().manual_seed(0)) if dist is not None else None
    save_sample_figure(
        run.path / "samples.png",
        fake,
        real,
        dist,
        (0.0, 1.0),  # Run.sample returns images in the data range
        title=f"step {run.step}: generated (green) and data (black)" if fake.ndim == 2 else "",
    )
    rows = _read_metrics(run.path)
    if rows:
        save_curves(run.path, rows)
    theory = []
    coverage = _read_csv(run.path / "coverage.csv")
    if coverage:
        theory.append(save_coverage_figure(run.path / "coverage.png", coverage).name)
    if dist is not None and dist.dim == 1 and run.config.discriminator.pack == 1:
        # (a packed D scores packs, not points: it has no curve D(x) to draw)
        theory.append(_save_discriminator_view(run, dist).name)
    scores = {k: v for k, v in run.scores().items() if k != "counts"}
    return write_index(
        run.path,
        (run.path / "config.yaml").read_text(),
        _read_meta(run.path),
        rows[-1] if rows else None,
        scores,
        theory,
    )


@torch.no_grad()
def _save_discriminator_view(run: Run, dist) -> Path:
    """The paper's Figure 1 view of a 1-D run's final state: p_data, p_g, D and D*."""
    from scipy.stats import gaussian_kde

    fake = run.sample(10_000)[:, 0].double().numpy()
    lo, hi = np.percentile(fake, [0.1, 99.9])
    centre, spread = float(dist.centres.mean()), float(dist.stds.max())
    lo, hi = min(lo, centre - 4 * spread), max(hi, centre + 4 * spread)
    x = torch.linspace(lo, hi, 400, dtype=torch.float64)
    p_data = dist.log_prob(x[:, None]).exp()
    p_g = torch.from_numpy(gaussian_kde(fake)(x.numpy()))  # KDE: G's density has no closed form
    mode = run.discriminator.training
    run.discriminator.eval()
    d = torch.sigmoid(run.discriminator(x[:, None].float())).double()
    run.discriminator.train(mode)
    d_star = p_data / (p_data + p_g).clamp_min(1e-300)  # Proposition 1
    return save_discriminator_figure(
        run.path / "discriminator_view.png", x, p_data, p_g, d, d_star, f"step {run.step}"
    )


# ---------------------------------------------------------------------------------------------
# The loop's bookkeeping


class RunMonitor:
    """Progress bar, metrics rows, sample figures and checkpoints after each iteration."""

    def __init__(self, run_dir: Path, cfg: Config, state: TrainState, quiet: bool):
        self.run_dir, self.cfg = run_dir, cfg
        self.checkpoints = CheckpointStore(run_dir / "checkpoints", cfg.keep_checkpoints)
        self.dist = distribution_of(cfg.data)
        images = len(state.data.x_shape) > 1
        n_preview = 64 if images else 2500  # 2,500: the mode-coverage protocol's sample size
        self.preview_z = NoisePrior(cfg.noise, cfg.seed + _PREVIEW_SEED).sample(n_preview)
        self.preview_real = None if images else state.data.reference(n_preview)
        self.bar = tqdm(
            total=cfg.steps,
            initial=state.step,
            disable=quiet,
            unit="step",
            dynamic_ncols=True,
            desc=run_dir.name,
            file=sys.stderr,
        )
        self.t0 = self.t_last = time.perf_counter()
        self.step_last = state.step
        self.stop_requested = False
        entries = self.checkpoints.entries()  # on resume, the checkpoint it started from
        self.last_checkpoint = self.checkpoints.folder / entries[-1]["file"] if entries else None
        new = not (run_dir / "metrics.csv").exists()
        with _writing(run_dir / "metrics.csv", self.last_checkpoint):
            self.metrics_file = open(run_dir / "metrics.csv", "a", newline="")  # noqa: SIM115
            self.writer = csv.DictWriter(self.metrics_file, fieldnames=METRIC_FIELDS)
            if new:
                self.writer.writeheader()

    def after_step(self, state: TrainState, stats: StepStats) -> None:
        step, cfg = state.step, self.cfg
        last = step == cfg.steps
        stop = self.stop_requested  # read once: a signal arriving below waits for the next step
        self.bar.update(1)
        checkpoint = step % cfg.checkpoint_every == 0 or last or stop
        if step % cfg.log_every == 0 or last or checkpoint:
            self._check_finite(state, stats, checkpoint)
        if step % cfg.log_every == 0 or last:
            self._log(state, stats)
        if step % cfg.sample_every == 0 or last:
            self._preview(state)
        if checkpoint:
            self.last_checkpoint = self.checkpoints.save(state)
        if stop and not last:
            raise Interrupted(
                f"interrupted at step {step}; checkpoint saved: continue with "
                f"`ganlab resume {self.run_dir}`"
            )

    def _check_finite(self, state: TrainState, stats: StepStats, params: bool) -> None:
        """Stop on a NaN or infinite loss (or parameter, before a checkpoint would save it)."""
        bad = None
        if not torch.isfinite(stats.d_loss):
            bad = "the discriminator's loss"
        elif not torch.isfinite(stats.g_loss):
            bad = "the generator's loss"
        elif params:
            for who, net in (("generator", state.G), ("discriminator", state.D)):
                if not all(torch.isfinite(p).all() for p in net.parameters()):
                    bad = f"a {who} parameter"
                    break
        if bad:
            fix = (
                f"last good checkpoint: {self.last_checkpoint}; lower the learning rates in "
                f"{self.run_dir / 'config.yaml'} and resume"
                if self.last_checkpoint
                else "no checkpoint yet; lower the learning rates and train again with --overwrite"
            )
            raise Diverged(
                f"training diverged at step {state.step}: {bad} is NaN or infinite; {fix}"
            )

    def _log(self, state: TrainState, stats: StepStats) -> None:
        now = time.perf_counter()
        rate = (state.step - self.step_last) / max(now - self.t_last, 1e-9)
        self.t_last, self.step_last = now, state.step
        row = {
            "step": state.step,
            "d_loss": stats.d_loss.item(),
            "g_loss": stats.g_loss.item(),
            "value": value_function(stats.d_real, stats.d_fake).item(),
            "d_real": torch.sigmoid(stats.d_real).mean().item(),
            "d_fake": torch.sigmoid(stats.d_fake).mean().item(),
            "g_grad_norm": _grad_norm(state.G),
            "d_grad_norm": _grad_norm(state.D),
            "lr_g": learning_rate(self.cfg.g_optimizer, state.step - 1),
            "lr_d": learning_rate(self.cfg.d_optimizer, state.step - 1),
            "steps_per_s": rate,
            "elapsed_s": now - self.t0,
        }
        with _writing(self.run_dir / "metrics.csv", self.last_checkpoint):
            self.writer.writerow(
                {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()}
            )
            self.metrics_file.flush()
        self.bar.set_postfix(
            d_loss=f"{row['d_loss']:.3f}",
            g_loss=f"{row['g_loss']:.3f}",
            D_x=f"{row['d_real']:.2f}",
            D_Gz=f"{row['d_fake']:.2f}",
            refresh=False,
        )

    @torch.no_grad()
    def _preview(self, state: TrainState) -> None:
        state.G.eval()
        fake = state.G(self.preview_z)
        state.G.train()
        if self.dist is not None and self.dist.dim == 2:
            score = mode_coverage(fake, self.dist.centres, float(self.dist.stds[0]))
            with _writing(self.run_dir / "coverage.csv", self.last_checkpoint):
                _append_row(
                    self.run_dir / "coverage.csv",
                    COVERAGE_FIELDS,
                    {"step": state.step, **{k: score[k] for k in COVERAGE_FIELDS[1:]}},
                )
        path = self.run_dir / "samples" / f"step-{state.step:08d}.png"
        with _writing(path, self.last_checkpoint):
            save_sample_figure(
                path, fake, self.preview_real, self.dist, value_range(self.cfg),
                title=f"step {state.step}",
            )  # fmt: skip

    def close(self) -> None:
        self.bar.close()
        try:
            self.metrics_file.close()
        except OSError:  # a full disk, already reported by the write that failed first
            pass


def _run_loop(run_dir: Path, cfg: Config, state: TrainState, quiet: bool) -> None:
    threads = torch.get_num_threads()
    configure_cpu(cfg.threads)
    monitor = RunMonitor(run_dir, cfg, state, quiet)
    try:
        with _stop_on_signal(monitor):
            algorithm1(cfg, state, monitor)
    finally:
        monitor.close()
        torch.set_num_threads(threads)


@contextmanager
def _stop_on_signal(monitor: RunMonitor):
    """SIGINT/SIGTERM: finish the current iteration, checkpoint, stop. A second SIGINT aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        monitor.stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        tqdm.write("stopping after this step to write a checkpoint (Ctrl-C again to abort)")

    old = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


@contextmanager
def _writing(path: Path, last_checkpoint: Path | str | None):
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


def _grad_norm(module: torch.nn.Module) -> float:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0


# ---------------------------------------------------------------------------------------------
# Helpers


def _resume(run_dir: Path, steps: int | None, data, quiet: bool, report: bool) -> Run:
    cfg = _run_config(run_dir)
    if steps is not None:
        cfg = config_from_dict({**cfg.model_dump(mode="json"), "steps": steps}, "--steps")
    meta = _read_meta(run_dir)
    if cfg.data.kind == "tensor":
        if data is None:
            raise ConfigError(
                f"run {run_dir} trained on an in-memory tensor; pass it again: "
                "ganlab.resume(path, data=x)"
            )
        if _fingerprint(data) != meta.get("data_sha256"):
            raise ConfigError(
                f"the data passed differs from what run {run_dir} trained on (SHA-256); "
                "pass the same tensor"
            )
    with seeded_rng(cfg):
        state = build_state(cfg, data)
        ckpt, tensors, header = CheckpointStore(run_dir / "checkpoints").load_latest()
        restore_state(state, tensors, header, ckpt)
        if cfg.steps < state.step:
            raise ConfigError(
                f"--steps {cfg.steps} is below the {state.step} steps the run has done; "
                f"pass --steps {state.step} or more"
            )
        meta.setdefault("resumes", []).append(
            {"time": _now(), "from_step": state.step, "command": _command_line()}
        )
        _truncate_logs(run_dir, state.step, ckpt)
        with _writing(run_dir / "meta.json", ckpt):
            atomic_write_bytes(run_dir / "config.yaml", dump_config(cfg).encode())
            atomic_write_bytes(run_dir / "meta.json", json.dumps(meta, indent=1).encode())
        _run_loop(run_dir, cfg, state, quiet)
    run = Run(run_dir, cfg, state.G, state.D, state.step, state.data.x_shape)
    if report:
        with _writing(run_dir / "index.html", "training finished"):
            write_report(run)
    return run


@contextmanager
def seeded_rng(cfg: Config):
    """Seed torch's global generator for the run and give the caller's state back afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        yield


def _resolve_config(config, overrides) -> tuple[Config, str]:
    if isinstance(config, Config):
        config = config.model_dump(mode="json")
    if isinstance(config, dict):
        return config_from_dict(_with_overrides(config, overrides)), "run"
    name = str(config)
    stem = name if name in preset_names() else Path(name).stem
    return load_config(config, list(overrides)), stem


def _with_overrides(raw: dict, overrides) -> dict:
    raw = json.loads(json.dumps(raw))  # a deep copy: the caller's dict is left alone
    for item in overrides:
        apply_override(raw, item)
    return raw


def _default_out(name: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path("runs") / f"{name}-{stamp}"
    i = 2
    while out.exists():
        out = Path("runs") / f"{name}-{stamp}-{i}"
        i += 1
    return out


def _is_run_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.yaml").exists() and (path / "meta.json").exists()


def _check_writable(out: Path) -> None:
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


def _run_config(run_dir: Path) -> Config:
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


def _read_meta(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "meta.json").read_text())
    except (OSError, json.JSONDecodeError):
        raise RunDirError(
            f"{run_dir}/meta.json is missing or unreadable; the run directory is damaged"
        ) from None


def _read_metrics(run_dir: Path) -> list[dict]:
    return _read_csv(run_dir / "metrics.csv")


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _append_row(path: Path, fields: list[str], row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})


def _truncate_logs(run_dir: Path, step: int, checkpoint: Path) -> None:
    """Drop rows logged after `step` (the checkpoint a resume starts from): they are redone."""
    for name, fields in (("metrics.csv", METRIC_FIELDS), ("coverage.csv", COVERAGE_FIELDS)):
        path = run_dir / name
        if path.exists():
            with _writing(path, checkpoint):
                _truncate_log(path, fields, step)


def _truncate_log(path: Path, fields: list[str], step: int) -> None:
    rows = [  # a row a killed process left half-written has missing fields: drop it
        r for r in _read_csv(path) if None not in r.values() and int(float(r["step"])) <= step
    ]
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _tanh_images(cfg: Config, x_shape: tuple[int, ...]) -> bool:
    """Image data (stored in [0, 1]) trained through a tanh generator (outputs in [-1, 1])."""
    return len(x_shape) == 3 and cfg.generator.output == "tanh"


def value_range(cfg: Config) -> tuple[float, float]:
    """The range of G's output: [-1, 1] for a tanh output, else [0, 1] (for drawing images)."""
    return (-1.0, 1.0) if cfg.generator.output == "tanh" else (0.0, 1.0)


def _fingerprint(data) -> str:
    arr = np.ascontiguousarray(
        torch.as_tensor(np.asarray(data) if not torch.is_tensor(data) else data).numpy()
    )
    return hashlib.sha256(arr.tobytes() + str(arr.shape).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _command_line() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else ""


def _git_commit() -> str | None:
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


def _meta(cfg: Config, state: TrainState, data) -> dict:
    meta = {
        "seed": cfg.seed,
        "ganlab": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "threads": cfg.threads or torch.get_num_threads(),
        "git_commit": _git_commit(),
        "started": _now(),
        "command": _command_line(),
        "x_shape": list(state.data.x_shape),
        "data_size": state.data.size,
    }
    if data is not None:
        meta["data_sha256"] = _fingerprint(data)
    return meta


__all__ = ["Run", "build_state", "load_run", "resume", "train", "write_report", "CheckpointError"]
