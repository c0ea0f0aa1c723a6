"""The monitor around Algorithm 1: progress bar, metrics.csv, TensorBoard, sample figures,
checkpoints, SIGINT/SIGTERM, NaN checks and rollbacks, called once after each iteration.

Over several processes every rank has one and they decide together (stop, divergence,
rollback); rank 0 alone writes and shows the progress bar (ganlab.training.distributed).
"""

from __future__ import annotations

import csv
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ganlab.config import Config
from ganlab.data import distribution_of
from ganlab.errors import ConfigError, Diverged, Interrupted
from ganlab.metrics.coverage import mode_coverage
from ganlab.models.conditional import balanced_labels
from ganlab.report.class_figures import MAX_ROWS, save_class_figure
from ganlab.report.figures import save_sample_figure
from ganlab.report.format import ema_note
from ganlab.runfiles import COVERAGE_FIELDS, METRIC_FIELDS, append_row, read_metrics, writing
from ganlab.runs.checkpoint_file import rank_rng, restore_rank_rng, restore_state
from ganlab.runs.checkpoints import CheckpointStore
from ganlab.runs.diagnosis import RunDoctor
from ganlab.runs.directory import truncate_logs
from ganlab.training import distributed
from ganlab.training.algorithm import StepStats, algorithm1, grad_norm, loss_functions, replicas
from ganlab.training.distributed import LOCAL, World
from ganlab.training.optim import learning_rate
from ganlab.training.prior import NoisePrior
from ganlab.training.runtime import (
    ThreadChoice,
    busy_warning,
    configure_cpu,
    oversubscribed_warning,
)
from ganlab.training.state import PREVIEW_SEED, TrainState, eval_mode, value_range


class RunMonitor:
    """Progress bar, metrics rows, sample figures and checkpoints after each iteration.

    Over several processes every rank has one and they decide together (stop, divergence,
    rollback); rank 0 alone writes and shows the progress bar (ganlab.training.distributed).
    """

    _PROBLEMS = (
        None,
        "the discriminator's loss",
        "the generator's loss",
        "a generator parameter",
        "a discriminator parameter",
    )

    def __init__(
        self, run_dir: Path, cfg: Config, state: TrainState, quiet: bool, world: World = LOCAL
    ):
        self.run_dir, self.cfg, self.world = run_dir, cfg, world
        self.game = loss_functions(cfg)  # its value is metrics.csv's `value`
        # mean D(x) and D(G(z)): probabilities for the 2014 game, raw critic values otherwise
        self.read_d = torch.sigmoid if self.game.output == "probability" else torch.clone
        self.checkpoints = CheckpointStore(run_dir / "checkpoints", cfg.keep_checkpoints)
        self.dist = distribution_of(cfg.data)
        images = len(state.data.x_shape) > 1
        n_preview = 64 if images else 2500  # 2,500: the mode-coverage protocol's sample size
        preview_prior = NoisePrior(cfg.noise, cfg.seed + PREVIEW_SEED).to(world.device)
        self.class_names = getattr(state.data, "class_names", None)
        self.preview_y = None  # a conditional G's classes for the previews, in class order
        if self.class_names is not None:
            k = len(self.class_names)
            n_preview = 8 * min(k, MAX_ROWS) if images else n_preview  # a row of 8 per class
            labels = balanced_labels(n_preview, min(k, MAX_ROWS) if images else k)
            self.preview_y = labels.sort().values.to(world.device)
        self.preview_z = preview_prior.sample(n_preview)
        self.preview_real = state.data.reference(n_preview)  # drawn beside G's samples
        self.preview_real_y = None  # their classes: a conditional image run's rows side by side
        if self.preview_y is not None and images:  # image data come from an EpochSource
            self.preview_real, self.preview_real_y = state.data.class_reference(8)
        self.bar = tqdm(
            total=cfg.steps,
            initial=state.step,
            disable=quiet or not world.is_main,
            unit="step",
            dynamic_ncols=True,
            desc=run_dir.name,
            file=sys.stderr,
        )
        self.t0 = self.t_last = time.perf_counter()
        self.step_last = state.step
        self.elapsed_before = 0.0  # training time of the run before this process (_open)
        self.stop_requested = False
        self.compile_reported = False
        self.divergence = ""  # what _diverged found, for a rollback's warning
        self.metrics_file = None
        self.tensorboard = None  # rank 0's SummaryWriter when cfg.tensorboard
        self.last_checkpoint: Path | None = distributed.on_main(self._open)  # on every rank
        self.doctor = RunDoctor(run_dir, cfg, state) if cfg.doctor and world.is_main else None

    def _open(self) -> Path | None:
        """Rank 0: metrics.csv opened for appending; the checkpoint a resume started from."""
        entries = self.checkpoints.entries()
        self.last_checkpoint = self.checkpoints.folder / entries[-1]["file"] if entries else None
        self.elapsed_before = elapsed_until(self.run_dir, self.step_last)
        self._open_metrics()
        if self.cfg.tensorboard:
            self._open_tensorboard(self.step_last)
        return self.last_checkpoint

    def _open_tensorboard(self, step: int) -> None:
        """Rank 0: the SummaryWriter, hiding events a stopped run logged past `step` (they
        are redone after a resume or rollback, as metrics.csv's rows are)."""
        with writing(self.run_dir / "tensorboard", self.last_checkpoint):
            self.tensorboard = tensorboard_writer(
                self.run_dir / "tensorboard", purge_step=step + 1 if step else None
            )

    def _open_metrics(self) -> None:
        new = not (self.run_dir / "metrics.csv").exists()
        with writing(self.run_dir / "metrics.csv", self.last_checkpoint):
            self.metrics_file = open(self.run_dir / "metrics.csv", "a", newline="")  # noqa: SIM115
            self.writer = csv.DictWriter(self.metrics_file, fieldnames=METRIC_FIELDS)
            if new:
                self.writer.writeheader()

    def after_step(self, state: TrainState, stats: StepStats) -> None:
        step, cfg = state.step, self.cfg
        last = step == cfg.steps
        due = step % cfg.checkpoint_every == 0 or last
        # One exchange a step decides for all ranks together: a signal to any rank stops them
        # all at this step (read once: a later signal waits for the next step), and a NaN or
        # inf in any rank's losses (every step) or parameters (before a checkpoint would save
        # them) is found at the step it appears.
        wants_stop = self.stop_requested
        stop, problem = distributed.max_over_ranks(
            int(wants_stop), nonfinite(state, stats, params=due or wants_stop)
        )
        self.bar.update(1)
        if cfg.compile and not self.compile_reported:  # the first iteration compiled
            self.compile_reported = True
            if self.world.is_main:
                seconds = time.perf_counter() - self.t0
                tqdm.write(f"compile: the first iteration took {seconds:.1f} s, compiling included")
        if problem:
            self._diverged(state, problem)
        checkpoint = due or bool(stop)
        log = step % cfg.log_every == 0 or last
        preview = step % cfg.sample_every == 0 or last
        if log:
            stats = over_ranks(stats)
        if log or preview or checkpoint:
            rngs = distributed.gather(rank_rng(self.world)) if checkpoint else None
            self.last_checkpoint = distributed.on_main(
                self._write, state, stats, log, preview, rngs
            )
        if stop and not last:
            raise Interrupted(
                f"interrupted at step {step}; checkpoint saved: continue with "
                f"`ganlab resume {self.run_dir}`"
            )

    def _write(self, state: TrainState, stats: StepStats, log: bool, preview: bool, rngs):
        """Rank 0's writes for a step; rngs: every rank's RNG states when checkpointing."""
        if log:
            self._log(state, stats)
        if preview:
            self._preview(state)
        if rngs is not None:
            extra = {
                f"rank{r}.rng.{name}" if r else f"rng.{name}": t
                for r, states in enumerate(rngs)
                for name, t in states.items()
                if r or name != "torch"  # rank 0's CPU stream is the state's own rng.torch
            }
            header = {"world_size": str(self.world.size)}
            self.last_checkpoint = self.checkpoints.save(state, extra, header)
        return self.last_checkpoint

    def _diverged(self, state: TrainState, problem: int) -> None:
        """Raise Diverged naming the step, what went non-finite and the last good checkpoint."""
        n = state.rollbacks
        tries = f" after {n} rollback{'s' * (n > 1)}" if n else ""
        self.divergence = (
            f"training diverged at step {state.step}{tries}: "
            f"{self._PROBLEMS[problem]} is NaN or infinite"
        )
        if self.doctor is not None:
            self.doctor.diverged(state.step, self._PROBLEMS[problem], self.last_checkpoint)
        fix = (
            f"last good checkpoint: {self.last_checkpoint}; lower the learning rates in "
            f"{self.run_dir / 'config.yaml'} and resume"
            if self.last_checkpoint
            else "no checkpoint yet; lower the learning rates and train again with --overwrite"
        )
        raise Diverged(f"{self.divergence}; {fix}")

    def roll_back(self, state: TrainState) -> bool:
        """on_nan: rollback after a divergence: reload the newest checkpoint into `state`,
        multiply both learning rates by rollback_lr_factor and warn once.

        Every rank does the same. Returns False, changing nothing, when the run must stop
        instead: on_nan is stop, no checkpoint was written yet, or max_rollbacks are used up.
        """
        cfg = self.cfg
        if cfg.on_nan != "rollback" or self.last_checkpoint is None:
            return False
        if state.rollbacks >= cfg.max_rollbacks:
            return False
        lr_scale, rollbacks = state.lr_scale * cfg.rollback_lr_factor, state.rollbacks + 1
        # rank 0 reads; files newer than the one used move aside (checkpoints/corrupt/)
        path, tensors, header = distributed.on_main(self.checkpoints.load_latest, True)
        restore_state(state, tensors, header, path)  # G, D, optimisers, streams and step
        restore_rank_rng(tensors, header, cfg, self.world, state.step)
        state.lr_scale, state.rollbacks = lr_scale, rollbacks  # saved with the next checkpoint
        distributed.on_main(self._rewind, state.step, path)
        if self.world.is_main:
            warnings.warn(
                f"{self.divergence}; rolled back to step {state.step} ({path.name}) with both "
                f"learning rates x{lr_scale:g} (rollback {rollbacks} of {cfg.max_rollbacks})",
                stacklevel=2,
            )
        return True

    def _rewind(self, step: int, checkpoint: Path) -> None:
        """Drop the log rows past `step` (a rollback redoes those steps) and carry on there."""
        self.metrics_file.close()
        truncate_logs(self.run_dir, step, checkpoint)
        if self.doctor is not None:
            self.doctor.rewind(step)
        self._open_metrics()
        if self.tensorboard is not None:
            self.tensorboard.close()
            self._open_tensorboard(step)
        self.bar.n = self.step_last = step
        self.bar.refresh()
        self.t_last = time.perf_counter()

    def _log(self, state: TrainState, stats: StepStats) -> None:
        now = time.perf_counter()
        rate = (state.step - self.step_last) / max(now - self.t_last, 1e-9)
        self.t_last, self.step_last = now, state.step
        row = {
            "step": state.step,
            "d_loss": stats.d_loss.item(),
            "g_loss": stats.g_loss.item(),
            "value": self.game.value(stats.d_real, stats.d_fake).item(),
            "d_real": self.read_d(stats.d_real).mean().item(),
            "d_fake": self.read_d(stats.d_fake).mean().item(),
            "g_grad_norm": grad_norm(state.G),
            "d_grad_norm": grad_norm(state.D),
            "lr_g": learning_rate(self.cfg.g_optimizer, state.step - 1) * state.lr_scale,
            "lr_d": learning_rate(self.cfg.d_optimizer, state.step - 1) * state.lr_scale,
            "steps_per_s": rate,
            "elapsed_s": self.elapsed_before + now - self.t0,  # over every resume
        }
        with writing(self.run_dir / "metrics.csv", self.last_checkpoint):
            self.writer.writerow(
                {k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()}
            )
            self.metrics_file.flush()
        if self.tensorboard is not None:  # the same numbers under the same names
            for key, value in row.items():
                if key != "step":
                    self.tensorboard.add_scalar(key, value, state.step)
        if self.doctor is not None:
            self.doctor.row(row, self.last_checkpoint)
        self.bar.set_postfix(
            d_loss=f"{row['d_loss']:.3f}",
            g_loss=f"{row['g_loss']:.3f}",
            D_x=f"{row['d_real']:.2f}",
            D_Gz=f"{row['d_fake']:.2f}",
            refresh=False,
        )

    @torch.no_grad()
    def _preview(self, state: TrainState) -> None:
        with eval_mode(state.sampler) as G:  # the average of G's weights when cfg.ema is on
            y = () if self.preview_y is None else (self.preview_y,)
            fake = G(self.preview_z, *y).cpu()
        score = None
        if self.dist is not None and self.dist.dim == 2:
            score = mode_coverage(fake, self.dist.centres, float(self.dist.stds[0]))
            with writing(self.run_dir / "coverage.csv", self.last_checkpoint):
                append_row(
                    self.run_dir / "coverage.csv",
                    COVERAGE_FIELDS,
                    {"step": state.step, **{k: score[k] for k in COVERAGE_FIELDS[1:]}},
                )
        if self.doctor is not None:
            self.doctor.samples(state.sampler, state.step, score, self.last_checkpoint)
        path = self.run_dir / "samples" / f"step-{state.step:08d}.png"
        with writing(path, self.last_checkpoint):
            if self.preview_y is not None:
                save_class_figure(
                    path, fake, self.preview_y.cpu(), self.class_names, self.preview_real,
                    f"step {state.step}: by the class asked for{ema_note(self.cfg)}",
                    value_range(self.cfg), self.preview_real_y,
                )  # fmt: skip
            else:
                save_sample_figure(
                    path, fake, self.preview_real, self.dist, value_range(self.cfg),
                    title=f"step {state.step}{ema_note(self.cfg)}",
                )  # fmt: skip
        if self.tensorboard is not None:  # the very figure samples/ holds
            from PIL import Image

            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
            self.tensorboard.add_image("samples", pixels, state.step, dataformats="HWC")

    def close(self) -> None:
        self.bar.close()
        try:
            if self.metrics_file is not None:
                self.metrics_file.close()
            if self.tensorboard is not None:
                self.tensorboard.close()  # flushes the event file
        except OSError:  # a full disk, already reported by the write that failed first
            pass


def elapsed_until(run_dir: Path, step: int) -> float:
    """The training time metrics.csv logged at its last row at or before `step`: where a
    resumed run's elapsed_s goes on from, so that it is the run's total, not this process's.
    The time between that row and the checkpoint resumed from is not counted (unlogged)."""
    rows = [r for r in read_metrics(run_dir) if r.get("step") and int(r["step"]) <= step]
    try:
        return float(rows[-1]["elapsed_s"]) if rows else 0.0
    except (KeyError, ValueError):  # a row without the column (an older run): from zero
        return 0.0


def require_tensorboard(cfg: Config) -> None:
    """Fail before training when cfg.tensorboard is on and the tensorboard package is not there.

    Raises:
        ConfigError: one line naming the package to install.
    """
    if not cfg.tensorboard:
        return
    try:
        import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
    except ImportError:
        raise ConfigError(
            'tensorboard: true needs the tensorboard package; pip install "ganlab[tensorboard]" '
            "or set tensorboard=false"
        ) from None


def tensorboard_writer(log_dir: Path, purge_step: int | None = None):
    """A torch.utils.tensorboard.SummaryWriter into log_dir (imported only when asked for).

    purge_step: TensorBoard hides the events of earlier files at this step and later.
    """
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)


def nonfinite(state: TrainState, stats: StepStats, params: bool) -> int:
    """What is NaN or infinite on this rank, as an index into RunMonitor._PROBLEMS (0: nothing).

    The losses every step: two scalars, free on the CPU; on a GPU reading them waits for the
    step, as the next step's copy of noise and data from pageable host memory does anyway.
    The parameters only when asked, as they cost a pass over every weight.
    """
    if not torch.isfinite(stats.d_loss):
        return 1
    if not torch.isfinite(stats.g_loss):
        return 2
    if params:
        for index, net in ((3, state.G), (4, state.D)):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                return index
    return 0


def over_ranks(stats: StepStats) -> StepStats:
    """The step's numbers over the global minibatch, from every rank's equal share of it.

    The ranks' mean losses over equally many rows average to the global mean loss.
    """
    if distributed.world_size() == 1:
        return stats
    losses = distributed.all_gather_rows(torch.stack([stats.d_loss, stats.g_loss])[None])
    d_loss, g_loss = losses.mean(0)  # (world, 2) -> (2,)
    return StepStats(
        d_loss,
        g_loss,
        distributed.all_gather_rows(stats.d_real),
        distributed.all_gather_rows(stats.d_fake),
    )


def run_loop(
    run_dir: Path,
    cfg: Config,
    state: TrainState,
    choice: ThreadChoice,
    quiet: bool,
    world: World = LOCAL,
) -> None:
    threads = torch.get_num_threads()
    configure_cpu(choice.threads)  # the count meta.json records (runtime.run_threads), and why
    if choice.reason.startswith("auto") and (busy := busy_warning(choice.threads)):
        warnings.warn(busy, stacklevel=2)
    if over := oversubscribed_warning(choice.threads, choice.reason):
        warnings.warn(over, stacklevel=2)
    monitor = RunMonitor(run_dir, cfg, state, quiet, world)
    sync = replicas(state.G, state.D, world)  # DistributedDataParallel on several ranks
    try:
        with stop_on_signal(monitor):
            train_with_rollbacks(cfg, state, monitor, sync)
    finally:
        monitor.close()
        torch.set_num_threads(threads)


def train_with_rollbacks(cfg: Config, state: TrainState, monitor: RunMonitor, sync) -> None:
    """algorithm1, continued from the newest checkpoint after each rollback (on_nan: rollback)."""
    while True:
        try:
            algorithm1(cfg, state, monitor, sync)
            return
        except Diverged:
            if not monitor.roll_back(state):
                raise


@contextmanager
def stop_on_signal(monitor: RunMonitor):
    """SIGINT/SIGTERM: finish the current iteration, checkpoint, stop. A second SIGINT aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        monitor.stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if monitor.world.is_main:
            tqdm.write("stopping after this step to write a checkpoint (Ctrl-C again to abort)")

    old = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
