"""One live training session of `ganlab lab`: ganlab's own G, D and Algorithm 1, driven by a page.

A `LabSession` holds a Config, the TrainState that `training.state.build_state` makes from it,
and two threads: one trains (`algorithm1` a few iterations at a time while playing), one computes
a frame of what G and D do (`frames.compute_frame`) about ten times a second from a copy of them
taken under the lock, and hands the same JSON text to every listener (every open tab).

The training lock guards G, D, their optimisers and the TrainState; only what touches them is
done under it. Each update queues its stats; turning them into numbers and chart rows happens
after the lock is let go (`charts.Charts`, under a lock of its own), so a frame's snapshot waits
for training alone.

Controls arrive as JSON messages, validated by `controls.parse_message`; settings go through
ganlab's own Config, so the session keeps its last good state. A conditional run's class picker
(`picked`: a class index, None for all) changes what frames draw, never training. The
one-update buttons are `updates.d_update` and `updates.g_update`; save and load are
`rundir.save_run` and `read_run`.
Both, like algorithm1, resolve the objective, the regularizers (instance noise at the step's
std) and G's moving average from the config at every call, so those settings apply live.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ganlab.config import Config
from ganlab.data import distribution_of
from ganlab.data.sources import DistributionSource
from ganlab.data.toy import GaussianMixture
from ganlab.errors import DataError, GanlabError
from ganlab.lab.charts import Charts
from ganlab.lab.controls import (
    DATASETS,
    DRAWN_STD,
    LIVE_KEYS,
    VIEWS,
    LabError,
    canonical,
    default_drawing,
    kept_penalty,
    lab_settings,
    parse_message,
    pick_class,
    settings_config,
)
from ganlab.lab.findings import live_findings
from ganlab.lab.frames import Snapshot, compute_frame, finite, packed_rows
from ganlab.lab.rundir import read_run, save_run
from ganlab.lab.updates import d_update, g_update
from ganlab.training.algorithm import StepStats, algorithm1, grad_norm, loss_functions
from ganlab.training.ema import ema_copy
from ganlab.training.prior import NoisePrior
from ganlab.training.state import TrainState, build_state, seeded_rng

FPS = 10.0  # frames per second sent to the page
CHUNK_SECONDS = 0.02  # training holds the lock this long at most between frame snapshots
PREVIEW_POINTS = 500  # generated and real points drawn
# Samples of G for p_g, JSD/KL and mode coverage. The coverage protocol takes 2,500; 1,000
# keeps a frame of the grid's 256-unit G and D under ~40 ms of one core.
DENSITY_POINTS = 1000


class _Recorder:
    """A Monitor for algorithm1 (called under the training lock): counts every iteration's
    updates and queues its stats for the charts."""

    def __init__(self, session: LabSession):
        self.session = session

    def after_step(self, state: TrainState, stats: StepStats) -> None:
        self.session._count(stats, d_updates=self.session.cfg.k, g_updates=1)


class LabSession:
    """A GAN in training, its controls and its frames.

    Args:
        dataset: one of DATASETS to start with.
        seed: seed of the models, noise and data.
        fps: frames per second computed while someone listens.
    """

    def __init__(self, dataset: str = "ring", seed: int = 0, fps: float = FPS):
        self.lock = threading.RLock()
        self.fps = fps
        self.playing = False
        self.error: str | None = None  # why training stopped (a divergence), shown on the page
        self.notice = ""  # what the last control did, shown on every tab
        self.notice_id = 0
        self.settings_version = 0
        self.steps_per_s = 0.0
        self.drawn = default_drawing()
        self.picked: int | None = None  # the class picker: a class index, or None for all
        self.charts = Charts()
        self._listeners: list[Callable[[str], None]] = []
        self._listeners_lock = threading.Lock()
        self._frame_lock = threading.Lock()
        self._copies: dict[str, tuple[torch.nn.Module, torch.nn.Module]] = {}
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        if dataset not in DATASETS:
            raise LabError(f"unknown dataset {dataset!r}; pick one of {', '.join(DATASETS)}")
        self._rebuild(dataset, settings_config(dataset, {}, seed))

    # --- state ---------------------------------------------------------------------------

    def _rebuild(self, dataset: str, cfg: Config, state: TrainState | None = None) -> None:
        """Fresh G, D and optimisers for cfg (or the given state), with the counters at 0."""
        if state is None:
            state = self._build_state(dataset, cfg)
        self.dataset, self.cfg, self.state = dataset, cfg, state
        self.view = VIEWS[dataset]
        self.dist = self._distribution()
        self.d_updates = self.g_updates = 0
        self.charts.clear()  # the old G and D's queued stats go with them
        # fixed noise: the points drawn move only because G does
        self.density_z = NoisePrior(cfg.noise, cfg.seed + 3).sample(DENSITY_POINTS)
        self.real, self.real_y = self.drawn.float(), None
        if dataset != "drawn":  # the same points as `sample`, with each one's mode
            gen = torch.Generator().manual_seed(cfg.seed)
            self.real, self.real_y = self.dist.sample_labelled(PREVIEW_POINTS, gen)
        self.classes = state.data.class_names if cfg.conditional_run else None
        if self.classes is None or self.picked not in range(len(self.classes)):
            self.picked = None  # a class the new session has
        self.settings_version += 1

    def _build_state(self, dataset: str, cfg: Config) -> TrainState:
        with seeded_rng(cfg):
            if dataset == "drawn":
                mixture = GaussianMixture(self.drawn, torch.tensor([DRAWN_STD]))
                x = mixture.sample(cfg.m, torch.Generator().manual_seed(cfg.seed))
                state = build_state(cfg, x)
                state.data = DistributionSource(mixture, cfg.seed + 1)
                return state
            return build_state(cfg)

    def _distribution(self) -> GaussianMixture | None:
        if self.dataset == "drawn":
            return GaussianMixture(self.drawn, torch.tensor([DRAWN_STD], dtype=torch.float64))
        return distribution_of(self.cfg.data)

    def _count(self, stats: StepStats, d_updates: int, g_updates: int) -> None:
        """Count updates and queue their stats for the charts, under the training lock.

        G's gradient norm is read here: the next update overwrites G's .grad. A NaN or infinite
        loss stops training here too, before another update builds on it.
        Raises:
            LabError: a loss of these updates is NaN or infinite.
        """
        self.d_updates += d_updates
        self.g_updates += g_updates
        g_grad = grad_norm(self.state.G) if g_updates else None
        self.charts.queue(self.state.step, d_updates, g_updates, stats, g_grad, self.cfg.critic)
        for who, loss, updates in (
            ("discriminator", stats.d_loss, d_updates),
            ("generator", stats.g_loss, g_updates),
        ):
            if updates and not torch.isfinite(loss):
                raise LabError(
                    f"training diverged at step {self.state.step}: the {who}'s loss is NaN or "
                    "infinite; lower the learning rates and press reset"
                )

    @property
    def last(self) -> dict[str, float]:
        """The newest value of each series: d_loss, d_real, d_fake (mean D(x) and D(G(z)); for a
        critic objective critic_real, critic_fake: D's mean raw output), g_loss and g_grad (G's
        gradient norm)."""
        return self.charts.newest()

    # --- controls ------------------------------------------------------------------------

    def control(self, raw: str | bytes | dict) -> dict:
        """Apply one control message; returns {"ok": True, "message": ...}.

        Raises:
            GanlabError: the message is malformed or refused (one line); nothing changed.
        """
        msg = parse_message(raw)
        action = msg.action
        with self.lock:
            if action == "play":
                self.error = None
                self.playing = True
                text = "playing"
            elif action == "pause":
                self.playing = False
                text = f"paused at step {self.state.step}"
            elif action == "reset":
                self._rebuild(self.dataset, self.cfg)
                self.error = None
                text = "reset: new G and D from the seed, step 0"
            elif action in ("step", "step_d", "step_g"):
                self.playing = False
                text = self._one_update(action)
            elif action == "set":
                text = self._set(msg.values)
            elif action == "draw":
                text = self._draw(msg.points)
            elif action == "pick":
                self.picked = pick_class(msg.label, self.classes)
                text = "all classes: G(z, i mod K); D(x, y) weighted by the classes at x"
                if self.picked is not None:
                    k = self.classes[self.picked]
                    text = f"class {k}: G(z, {k}) and D(x, {k})"
            elif action == "save":
                text = self.save(msg.path)
            else:
                text = self.load(msg.path)
            self.notice, self.notice_id = text, self.notice_id + 1
        return {"ok": True, "message": text}

    def _one_update(self, action: str) -> str:
        cfg, state = self.cfg, self.state
        try:
            if action == "step_d":
                self._count(d_update(cfg, state), d_updates=1, g_updates=0)
                return f"one discriminator update (D updates: {self.d_updates})"
            if action == "step_g":
                nan = torch.tensor(float("nan"))
                loss_g = g_update(cfg, state)
                self._count(StepStats(nan, loss_g, nan, nan), d_updates=0, g_updates=1)
                return f"one generator update (step {state.step})"
            algorithm1(cfg.model_copy(update={"steps": state.step + 1}), state, _Recorder(self))
        except DataError as e:
            raise LabError(str(e)) from None
        return f"one iteration: {cfg.k} D update(s) and one G update (step {state.step})"

    def _set(self, values: dict[str, Any]) -> str:
        if not values:
            raise LabError('no settings given; send e.g. {"values": {"objective": "minimax"}}')
        values = canonical(values)
        dataset = values.get("dataset", self.dataset)
        if dataset not in DATASETS:
            raise LabError(f"unknown dataset {dataset!r}; pick one of {', '.join(DATASETS)}")
        rest = {k: v for k, v in values.items() if k != "dataset"}
        if dataset != self.dataset:  # a new dataset starts from its own defaults
            cfg = settings_config(dataset, rest, self.cfg.seed)
            self._rebuild(dataset, cfg)
            return f"dataset {dataset}: its default settings, new G and D, step 0"
        # on top of the session's own config: a loaded run keeps what the panel does not show
        cfg = settings_config(dataset, rest, base=self.cfg)
        current, new = lab_settings(dataset, self.cfg), lab_settings(dataset, cfg)
        # all keys, not only those sent: the config adds wasserstein's gradient penalty itself
        changed = [k for k in new if current[k] != new[k]]
        note = kept_penalty(cfg, rest)
        if not changed:
            return "settings unchanged" + note
        summary = ", ".join(f"{k}={new[k]}" for k in changed)
        if all(k in LIVE_KEYS for k in changed):
            self._follow_ema(cfg)
            self.cfg = cfg  # algorithm1 and the update buttons read it every iteration
            self.settings_version += 1
            return f"applied {summary} (training continues from step {self.state.step}){note}"
        self._rebuild(dataset, cfg)
        return f"applied {summary}: new G and D from the seed, step 0{note}"

    def _follow_ema(self, cfg: Config) -> None:
        """G's moving average switched on live starts at today's G (a fresh run's starts at the
        initial G); switched off, samples come from G again."""
        if cfg.ema.beta and self.state.ema is None:
            self.state.ema = ema_copy(self.state.G)
        elif not cfg.ema.beta:
            self.state.ema = None

    def _draw(self, points: list[tuple[float, float]]) -> str:
        lo, hi = VIEWS["drawn"].lo, VIEWS["drawn"].hi
        x = torch.tensor(points, dtype=torch.float64)  # (n, 2)
        if ((x < lo) | (x > hi)).any():
            raise LabError(
                f"drawn points must lie in [{lo}, {hi}] on both axes (the drawing area); got "
                f"one at {x[((x < lo) | (x > hi)).any(1)][0].tolist()}"
            )
        self.drawn = x
        if self.dataset != "drawn":
            self._rebuild("drawn", settings_config("drawn", {}, self.cfg.seed))
            return f"dataset: your {len(x)} drawn points; new G and D, step 0"
        # Same G and D, new p_data: training goes on against the new drawing.
        self.dist = self._distribution()
        self.state.data = DistributionSource(self.dist, self.cfg.seed + 1)
        self.real = self.drawn.float()
        return f"data: your {len(x)} drawn points (training continues)"

    # --- save and load -------------------------------------------------------------------

    def save(self, path: str | Path) -> str:
        """Write the session as a ganlab run directory (rundir.save_run).

        Raises:
            RunDirError: the path exists (never overwritten) or cannot be written.
        """
        counts = {"d_updates": self.d_updates, "g_updates": self.g_updates}
        out = save_run(path, self.dataset, self.cfg, self.state, counts, self.drawn, self.dist)
        return f"saved step {self.state.step} to {out}"

    def load(self, path: str | Path) -> str:
        """Continue a run directory's newest checkpoint in the lab (rundir.read_run)."""
        run = read_run(path)
        if run.drawn is not None:
            self.drawn = run.drawn
        self._rebuild(run.dataset, run.cfg, run.state)
        self.d_updates, self.g_updates = run.d_updates, run.g_updates
        self.playing = False
        return f"loaded {run.path} at step {run.state.step}"

    # --- frames --------------------------------------------------------------------------

    def snapshot(self) -> tuple[Snapshot, dict]:
        """Copies of G, D and the counters, under the lock: training goes on meanwhile; the
        settings and charts after it."""
        with self.lock:
            # the G whose samples the run shows: the moving average when cfg.ema is on
            G, D = self._copy(self.state.sampler, "sampler"), self._copy(self.state.D, "D")
            dataset, cfg = self.dataset, self.cfg  # replaced on a change, never changed
            snap = Snapshot(
                G=G,
                D=D,
                game=loss_functions(self.cfg),
                sampler="G" if self.state.ema is None else "G_ema",
                pack=self.cfg.discriminator.pack,
                noise_kind=self.cfg.noise.kind,
                noise_scale=self.cfg.noise.scale,
                density_z=self.density_z,
                preview=packed_rows(PREVIEW_POINTS, self.cfg.discriminator.pack),
                real=self.real,
                dist=self.dist,
                modes=self.dataset != "drawn",
                classes=self.classes,
                picked=self.picked,
                real_y=self.real_y if self.classes else None,
                acgan_weight=self.cfg.conditional.acgan_weight,
            )
            meta = {
                "step": self.state.step,
                "d_updates": self.d_updates,
                "g_updates": self.g_updates,
                "playing": self.playing,
                "error": self.error,
                "notice": self.notice,
                "notice_id": self.notice_id,
                "steps_per_s": round(self.steps_per_s, 1),
                "view": self.view,
                "settings_version": self.settings_version,
            }
        meta["settings"] = lab_settings(dataset, cfg)
        meta["last"], meta["train_history"] = self.charts.read()
        return snap, meta

    def _copy(self, net: torch.nn.Module, name: str) -> torch.nn.Module:
        """A frozen eval-mode copy of `net` for frames, made once per network and refreshed
        in place after (a deepcopy every frame would hold the lock ten times longer)."""
        held = self._copies.get(name)
        if held is None or held[0] is not net:
            twin = copy.deepcopy(net).eval().requires_grad_(False)
            self._copies[name] = held = (net, twin)
        twin = held[1]
        with torch.no_grad():
            for dst, src in zip(twin.state_dict().values(), net.state_dict().values(), strict=True):
                dst.copy_(src)
        return twin

    def frame(self) -> dict:
        """One frame: the snapshot's pictures, the counters and the charts."""
        with self._frame_lock:  # the frame thread and GET /api/frame share the copies
            snap, meta = self.snapshot()
            view = meta.pop("view")
            frame = compute_frame(view, snap)
        frame.update(meta)
        frame["findings"] = live_findings(self.cfg, meta["train_history"], frame["stats"])
        row = {"step": meta["step"], **frame["stats"]}
        frame["frame_history"] = self.charts.add_frame(row)
        return frame

    def frame_text(self) -> str:
        """The frame as compact JSON; a NaN or infinity (a diverged G) is sent as null."""
        frame = self.frame()
        try:
            return json.dumps(frame, separators=(",", ":"), allow_nan=False)
        except ValueError:
            return json.dumps(finite(frame), separators=(",", ":"), allow_nan=False)

    # --- threads -------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[str], None]) -> None:
        with self._listeners_lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str], None]) -> None:
        with self._listeners_lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    def start(self) -> None:
        """Start the training and frame threads (daemons; `close` stops them)."""
        torch.set_num_threads(1)  # rundir.LAB_THREADS: why, in a saved run's meta.json
        for target in (self._train_loop, self._frame_loop):
            t = threading.Thread(target=target, name=f"ganlab-lab-{target.__name__}", daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        self._closing.set()
        for t in self._threads:
            t.join(timeout=5)

    def _train_loop(self) -> None:
        n, rate_t, rate_steps = 1, time.perf_counter(), 0
        while not self._closing.is_set():
            if not self.playing:
                self.steps_per_s = 0.0
                self._closing.wait(0.02)
                rate_t, rate_steps = time.perf_counter(), 0
                continue
            t0 = time.perf_counter()
            with self.lock:
                if not self.playing:
                    continue
                state = self.state
                start = state.step
                stopped = None
                try:
                    cfg = self.cfg.model_copy(update={"steps": state.step + n})
                    algorithm1(cfg, state, _Recorder(self))
                except GanlabError as e:
                    stopped = str(e)
                except Exception as e:  # the server goes on: say why training stopped
                    stopped = f"training stopped at step {state.step}: {type(e).__name__}: {e}"
                if stopped is not None:
                    self.playing, self.error = False, stopped
                done = state.step - start
            dt = time.perf_counter() - t0
            self.charts.update()  # after letting go: a snapshot need not wait for the charts
            if stopped is not None:
                continue
            # as many iterations per lock hold as fit in CHUNK_SECONDS
            n = max(1, min(1000, int(n * CHUNK_SECONDS / max(dt, 1e-6))))
            rate_steps += done
            now = time.perf_counter()
            if now - rate_t >= 1.0:
                self.steps_per_s, rate_t, rate_steps = rate_steps / (now - rate_t), now, 0
            time.sleep(0)  # let the frame thread and the server take the GIL

    def _frame_loop(self) -> None:
        period = 1.0 / self.fps
        next_t = time.perf_counter()
        while not self._closing.is_set():
            next_t += period
            with self._listeners_lock:
                listeners = list(self._listeners)
            spent = 0.0
            if listeners:
                t0 = time.perf_counter()
                try:
                    text = self.frame_text()
                except Exception as e:  # a frame must never kill the server: say it instead
                    text = json.dumps({"frame_error": f"{type(e).__name__}: {e}"})
                for fn in listeners:
                    fn(text)
                spent = time.perf_counter() - t0
            # frames take at most 40% of a core: on a busy machine fewer frames, same training
            next_t = max(next_t, time.perf_counter() + 1.5 * spent)
            delay = next_t - time.perf_counter()
            if delay < 0:  # fell behind: start the schedule again from now
                next_t, delay = time.perf_counter(), 0
            self._closing.wait(delay)


__all__ = ["CHUNK_SECONDS", "DENSITY_POINTS", "FPS", "PREVIEW_POINTS", "LabSession"]
