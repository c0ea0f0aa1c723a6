"""One live training session of `ganlab lab`: ganlab's own G, D and Algorithm 1, driven by a page.

A `LabSession` holds a Config, the TrainState that `runs.build_state` makes from it, and two
threads: one trains (`algorithm1` a few iterations at a time while playing), one computes a
frame of what G and D do (`frames.compute_frame`) about ten times a second from a copy of them
taken under the lock, and hands the same JSON text to every listener (every open tab).

The training lock guards G, D, their optimisers and the TrainState; only what touches them is
done under it. Each update queues its stats; turning them into numbers and chart rows happens
after the lock is let go (`_chart`, under a lock of its own), so a frame's snapshot waits for
training alone.

Controls arrive as JSON messages (`control`), validated here: settings go through ganlab's own
Config, so a learning rate of -1 or k = 0 is refused with ganlab's message, and the session
keeps its last good state. The one-update buttons call the two functions algorithm1's loop calls:

    D update: z ~ p_z, x ~ p_data (m each); descend L_D(D(x), D(G(z)))          (eq. 1, ascend V)
              algorithm.update_discriminator
    G update: z ~ p_z (m); descend L_G(D(G(z))) with D frozen: algorithm.update_generator
"""

from __future__ import annotations

import copy
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ganlab.algorithm import (
    StepStats,
    algorithm1,
    forward_passes,
    grad_norm,
    update_discriminator,
    update_generator,
)
from ganlab.checkpoint import CheckpointStore, TrainState
from ganlab.config import Config, config_from_dict, load_config
from ganlab.data import distribution_of
from ganlab.data.sources import DistributionSource, TensorSource, steps_per_epoch
from ganlab.data.toy import GaussianMixture
from ganlab.errors import ConfigError, DataError, GanlabError, RunDirError
from ganlab.lab.frames import Snapshot, View, compute_frame, packed_rows
from ganlab.optim import apply_schedule
from ganlab.prior import NoisePrior
from ganlab.runs import build_state, restore_newest, seeded_rng, write_run_files

DATASETS = ("line", "mixture", "ring", "grid", "drawn")
MAX_POINTS = 5000  # drawn points: more is no drawing, and each D step would not notice them
DRAWN_STD = 0.06  # std of the Gaussian around each drawn point (the view is [-2, 2]^2)
FPS = 10.0  # frames per second sent to the page
CHUNK_SECONDS = 0.02  # training holds the lock this long at most between frame snapshots
HISTORY = 300  # points kept per chart; older ones are thinned, never dropped wholesale
PREVIEW_POINTS = 500  # generated and real points drawn
# Samples of G for p_g, JSD/KL and mode coverage. The coverage protocol takes 2,500; 1,000
# keeps a frame of the grid's 256-unit G and D under ~40 ms of one core.
DENSITY_POINTS = 1000

# Views: where each dataset lives on the page.
VIEWS = {
    "line": View(1, -1.0, 7.0),
    "mixture": View(1, -5.0, 5.0),
    "ring": View(2, -1.6, 1.6),
    "grid": View(2, -6.0, 6.0),
    "drawn": View(2, -2.0, 2.0),
}

# Each dataset's lab defaults: a shipped preset and the lab's changes to it (ganlab's own
# `--set` overrides). The ring: ring8 with wider modes (std 0.05, visible on the page), k = 2, no
# learning-rate decay and, for G, the paper's SGD with momentum instead of Adam: Adam divides
# each step by the gradient's running RMS and so hides a vanishing gradient
# (theory/training_items.py, item 4). Measured (minimax for 500-4,000 iterations, then
# non-saturating): on seeds 0 and 2 minimax starves G (mean D(G(z)) < 1e-4, G's gradient norm
# ~1e-4 to 1e-5 at 1,000 iterations, falling) and non-saturating then covers the 8 modes within
# 250 iterations and keeps them; on seed 1 the minimax G escaped after ~500 iterations into one
# mode. G's lr at 0.005 made seed 1 starve too but left seed 0, the default, on 3 modes.
_RING = [
    "k=2",
    "g_optimizer={name: sgd, lr: 0.01, momentum: 0.5}",
    "d_optimizer={name: adam, lr: 0.001, betas: [0.5, 0.999]}",
]
DEFAULTS: dict[str, tuple[str, list[str]]] = {
    "ring": ("ring8", [*_RING, "data.std=0.05"]),
    "drawn": ("ring8", [*_RING, "data={kind: tensor}"]),
    "grid": ("grid25", []),
    "line": ("gauss1d", []),  # the paper's Figure 1
    "mixture": (
        "gauss1d",
        ["generator.hidden=[32, 32]", "data={kind: mixture1d, means: [-2.0, 2.0], std: 0.5}"],
    ),
}
# data.kind of a loaded run -> the lab's dataset showing it
DATASET_OF_KIND = {"gauss1d": "line", "mixture1d": "mixture", "ring": "ring", "grid": "grid"}


def lab_defaults(dataset: str) -> dict[str, Any]:
    """The dataset's lab config as a raw dict: its preset with the lab's overrides."""
    preset, overrides = DEFAULTS[dataset]
    return load_config(preset, overrides).model_dump(mode="json")


# Settings the page may change, by their config key; the first group applies to the running
# session (algorithm1 and the one-update buttons read them every iteration), the rest rebuild
# G, D and their optimisers from the seed.
LIVE_KEYS = ("g_loss", "k", "m", "label_smoothing", "g_optimizer.lr", "d_optimizer.lr")
REBUILD_KEYS = (
    "seed",
    "noise.kind",
    "noise.dim",
    "generator.hidden",
    "discriminator.hidden",
    "discriminator.pack",
    "g_optimizer.name",
    "d_optimizer.name",
)
SETTING_KEYS = ("dataset", *LIVE_KEYS, *REBUILD_KEYS)
# Sizes the lab accepts, so that one setting cannot stall the server for minutes.
LIMITS = {"k": 100, "m": 4096, "noise.dim": 64, "discriminator.pack": 16}
MAX_LAYERS, MAX_WIDTH = 6, 1024


class LabError(GanlabError):
    """A control message the session refuses: one line, shown on the page."""


# ---------------------------------------------------------------------------------------------
# Control messages


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Simple(_Message):
    action: Literal["play", "pause", "reset", "step", "step_d", "step_g"]


class SetValues(_Message):
    action: Literal["set"]
    values: dict[str, Any]


class Draw(_Message):
    action: Literal["draw"]
    points: list[tuple[float, float]] = Field(min_length=1, max_length=MAX_POINTS)


class RunPath(_Message):
    action: Literal["save", "load"]
    path: str = Field(min_length=1, max_length=4096)


Message = Annotated[Simple | SetValues | Draw | RunPath, Field(discriminator="action")]
_MESSAGE = TypeAdapter(Message)
ACTIONS = ("play", "pause", "reset", "step", "step_d", "step_g", "set", "draw", "save", "load")


def parse_message(raw: str | bytes | dict) -> Simple | SetValues | Draw | RunPath:
    """A control message from the page, validated; LabError with one line if it is not one."""
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise LabError(
                f"malformed JSON in the control message: {e}; send a JSON object"
            ) from None
    if not isinstance(raw, dict):
        raise LabError(
            f"a control message must be a JSON object, got {type(raw).__name__}; "
            'send e.g. {"action": "play"}'
        )
    action = raw.get("action")
    if action not in ACTIONS:
        raise LabError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
    points = raw.get("points")
    if action == "draw" and isinstance(points, list) and len(points) > MAX_POINTS:
        raise LabError(
            f"too many drawn points: {len(points)}, at most {MAX_POINTS}; draw fewer or clear "
            "the drawing"
        )
    try:
        return _MESSAGE.validate_python(raw)
    except ValidationError as e:
        raise LabError(_one_line(e)) from None


def _one_line(error: ValidationError) -> str:
    err = error.errors()[0]
    where = ".".join(str(p) for p in err["loc"][1:]) or "message"  # [0] is the action's tag
    seen = repr(err.get("input"))
    seen = seen if len(seen) <= 60 else seen[:57] + "..."
    return f"invalid {where} in the control message: {err['msg']}, got {seen}"


def settings_config(
    dataset: str, values: dict[str, Any], seed: int = 0, base: Config | None = None
) -> Config:
    """The page's settings on top of `base` (the session's config), or of the dataset's lab
    defaults when there is none.

    Raises:
        LabError: an unknown setting or one past the lab's limits.
        ConfigError: a value ganlab's Config refuses (its own one-line message).
    """
    if base is not None:
        raw = base.model_dump(mode="json")
    else:
        raw = lab_defaults(dataset)
        raw.update(seed=seed, steps=1)
    for key, value in values.items():
        if key not in SETTING_KEYS or key == "dataset":
            raise LabError(f"unknown setting '{key}'; the lab sets {', '.join(SETTING_KEYS)}")
        _check_limit(key, value)
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    try:
        return config_from_dict(raw, "the lab's settings")
    except ConfigError as e:
        text = re.sub(r"; fix it or pass --set \S+$", "; fix it in the panel", str(e))
        raise ConfigError(text) from None


def _check_limit(key: str, value: Any) -> None:
    limit = LIMITS.get(key)
    if limit is not None and isinstance(value, int | float) and value > limit:
        raise LabError(f"{key} = {value} is more than the lab allows ({limit}); pick a smaller one")
    if key.endswith(".hidden") and isinstance(value, list):
        if len(value) > MAX_LAYERS or any(
            isinstance(w, int | float) and w > MAX_WIDTH for w in value
        ):
            raise LabError(
                f"{key} = {value}: the lab builds at most {MAX_LAYERS} layers of at most "
                f"{MAX_WIDTH} units; pick a smaller network"
            )


def lab_settings(dataset: str, cfg: Config) -> dict[str, Any]:
    """The page's view of a session's settings: dataset and each SETTING_KEYS value."""
    flat = cfg.model_dump(mode="json")
    out: dict[str, Any] = {"dataset": dataset}
    for key in (*LIVE_KEYS, *REBUILD_KEYS):
        node = flat
        for part in key.split("."):
            node = node[part]
        out[key] = node
    return out


# ---------------------------------------------------------------------------------------------
# One D update, one G update: the functions algorithm1's loop calls, one call at a time


def d_update(cfg: Config, state: TrainState) -> StepStats:
    """One discriminator update of Algorithm 1 (algorithm.update_discriminator): m noise
    samples, m examples, descend L_D. D's learning-rate schedule is that of iteration state.step.
    """
    apply_schedule(state.opt_d, cfg.d_optimizer, state.step, _epoch(cfg, state), state.lr_scale)
    state.G.train()
    state.D.train()
    d_forward, _ = forward_passes(cfg, state)
    d_real, d_fake, loss_d = update_discriminator(state, cfg.m, d_forward)  # logits (m,) each
    nan = torch.tensor(float("nan"))
    return StepStats(loss_d.detach(), nan, d_real.detach(), d_fake.detach())


def g_update(cfg: Config, state: TrainState) -> torch.Tensor:
    """One generator update of Algorithm 1 (algorithm.update_generator): m noise samples,
    descend L_G with D frozen. G's learning-rate schedule is that of iteration state.step.

    Advances state.step: ganlab counts iterations by generator updates.
    """
    apply_schedule(state.opt_g, cfg.g_optimizer, state.step, _epoch(cfg, state), state.lr_scale)
    state.G.train()
    state.D.train()
    _, g_forward = forward_passes(cfg, state)
    loss_g = update_generator(state, cfg.m, g_forward)
    state.step += 1
    return loss_g.detach()


def _epoch(cfg: Config, state: TrainState) -> float:
    return steps_per_epoch(state.data.size, cfg.m, cfg.epoch_size)


# ---------------------------------------------------------------------------------------------
# Charts


class History:
    """A series of dict rows kept to at most `size` rows: when full, every other row goes and
    rows are then kept at twice the stride, so the whole run stays on the chart."""

    def __init__(self, size: int = HISTORY):
        self.size, self.stride, self.rows, self._seen = size, 1, [], 0

    def add(self, row: dict) -> None:
        if self._seen % self.stride == 0:
            self.rows.append(row)
            if len(self.rows) > self.size:
                self.rows = self.rows[::2]
                self.stride *= 2
        self._seen += 1

    def clear(self) -> None:
        self.__init__(self.size)

    def columns(self) -> dict[str, list]:
        """The rows as {key: [value per row]} with 4 significant digits: a third of the JSON."""
        keys = dict.fromkeys(k for row in self.rows for k in row)
        return {k: [_short(row.get(k)) for row in self.rows] for k in keys}


def _short(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.4g}")
    return value


class _Recorder:
    """A Monitor for algorithm1 (called under the training lock): counts every iteration's
    updates and queues its stats for the charts."""

    def __init__(self, session: LabSession):
        self.session = session

    def after_step(self, state: TrainState, stats: StepStats) -> None:
        self.session._count(stats, d_updates=self.session.cfg.k, g_updates=1)


# ---------------------------------------------------------------------------------------------
# The session


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
        self.drawn = _default_drawing()
        # The charts: `_last`, the two histories and the queue of stats not yet charted
        # (appended to under the training lock only, so in the order the updates were made).
        self._chart_lock = threading.Lock()
        self._pending: deque[tuple[int, int, int, StepStats, float | None]] = deque()
        self._last: dict[str, float] = {}
        self.train_history = History()
        self.frame_history = History()
        self._listeners: list[Callable[[str], None]] = []
        self._listeners_lock = threading.Lock()
        self._frame_lock = threading.Lock()
        self._copies: dict[str, tuple[torch.nn.Module, torch.nn.Module]] = {}
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
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
        with self._chart_lock:  # the old G and D's queued stats go with them
            self._pending.clear()
            self._last = {}
            self.train_history.clear()
            self.frame_history.clear()
        # fixed noise: the points drawn move only because G does
        self.density_z = NoisePrior(cfg.noise, cfg.seed + 3).sample(DENSITY_POINTS)
        self.real = (
            self.dist.sample(PREVIEW_POINTS, torch.Generator().manual_seed(cfg.seed))
            if dataset != "drawn"
            else self.drawn.float()
        )
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
        """Count updates and queue their stats for `_chart`, under the training lock.

        G's gradient norm is read here: the next update overwrites G's .grad. A NaN or infinite
        loss stops training here too, before another update builds on it.
        Raises:
            LabError: a loss of these updates is NaN or infinite.
        """
        self.d_updates += d_updates
        self.g_updates += g_updates
        g_grad = grad_norm(self.state.G) if g_updates else None
        self._pending.append((self.state.step, d_updates, g_updates, stats, g_grad))
        for who, loss, updates in (
            ("discriminator", stats.d_loss, d_updates),
            ("generator", stats.g_loss, g_updates),
        ):
            if updates and not torch.isfinite(loss):
                raise LabError(
                    f"training diverged at step {self.state.step}: the {who}'s loss is NaN or "
                    "infinite; lower the learning rates and press reset"
                )

    def _chart(self) -> None:
        """The queued stats as numbers: `last` and a row of the training chart per update.

        Needs no training lock: the stats are tensors no later update writes to.
        """
        with self._chart_lock:
            last = self._last
            while self._pending:
                step, d_updates, g_updates, stats, g_grad = self._pending.popleft()
                if d_updates:
                    last["d_loss"] = float(stats.d_loss)
                    last["d_real"] = float(torch.sigmoid(stats.d_real).mean())
                    last["d_fake"] = float(torch.sigmoid(stats.d_fake).mean())
                if g_updates:
                    last["g_loss"] = float(stats.g_loss)
                    last["g_grad"] = g_grad
                if all(math.isfinite(last[k]) for k in ("d_loss", "g_loss") if k in last):
                    self.train_history.add({"step": step, **last})

    @property
    def last(self) -> dict[str, float]:
        """The newest value of each series: d_loss, d_real, d_fake (mean D(x) and D(G(z))),
        g_loss and g_grad (G's gradient norm)."""
        self._chart()
        with self._chart_lock:
            return dict(self._last)

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
            raise LabError('no settings given; send e.g. {"values": {"g_loss": "minimax"}}')
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
        changed = [k for k in rest if current[k] != new[k]]
        if not changed:
            return "settings unchanged"
        summary = ", ".join(f"{k}={new[k]}" for k in changed)
        if all(k in LIVE_KEYS for k in changed):
            self.cfg = cfg  # algorithm1 and the update buttons read it every iteration
            self.settings_version += 1
            return f"applied {summary} (training continues from step {self.state.step})"
        self._rebuild(dataset, cfg)
        return f"applied {summary}: new G and D from the seed, step 0"

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
        """Write the session as a ganlab run directory (config.yaml, meta.json, checkpoint).

        `ganlab sample`, `ganlab eval`, `ganlab resume` and `load_run` read it. Drawn data is
        saved as data.npy (samples of the drawn density) and the run's data.kind is 'array'.
        Raises:
            RunDirError: the path exists (never overwritten) or cannot be written.
        """
        out = Path(path).expanduser()
        if out.exists():
            raise RunDirError(f"{out} already exists; the lab never overwrites: pick a new name")
        cfg = self.cfg.model_copy(update={"steps": max(self.state.step, 1)})
        state = self.state
        lab = {"dataset": self.dataset, "d_updates": self.d_updates, "g_updates": self.g_updates}
        try:
            out.mkdir(parents=True)
            if self.dataset == "drawn":
                x = self.dist.sample(10_000, torch.Generator().manual_seed(cfg.seed)).numpy()
                np.save(out / "data.npy", x)
                path = str(out.resolve() / "data.npy")
                data = cfg.data.model_copy(update={"kind": "array", "path": path})
                cfg = cfg.model_copy(update={"data": data})
                lab["drawn"] = self.drawn.tolist()
                # a checkpoint whose data state fits what `ganlab resume` builds: epochs over x
                state = copy.copy(state)
                state.data = TensorSource(torch.from_numpy(x), cfg.seed + 1)
            write_run_files(out, cfg, state, extra_meta={"lab": lab})
            CheckpointStore(out / "checkpoints", cfg.keep_checkpoints).save(state)
        except OSError as e:
            reason = e.strerror or e
            raise RunDirError(f"cannot write {out} ({reason}); pick another folder") from None
        return f"saved step {self.state.step} to {out}"

    def load(self, path: str | Path) -> str:
        """Continue a run directory's newest checkpoint in the lab (1-D and 2-D toy data)."""
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
        if dataset is None and "drawn" in lab:
            dataset = "drawn"
        if dataset is None:
            raise RunDirError(
                f"{run} trains on data.kind '{cfg.data.kind}'; the lab shows the toy data "
                f"({', '.join(DATASET_OF_KIND)}) and drawn points"
            )
        state, _ = restore_newest(run, cfg)  # torch's generator: the run's dropout stream
        if dataset == "drawn":
            self.drawn = torch.tensor(lab["drawn"], dtype=torch.float64)
            state.data = DistributionSource(
                GaussianMixture(self.drawn, torch.tensor([DRAWN_STD])), cfg.seed + 1
            )
        self._rebuild(dataset, cfg, state)
        self.d_updates = int(lab.get("d_updates", cfg.k * state.step))
        self.g_updates = int(lab.get("g_updates", state.step))
        self.playing = False
        return f"loaded {run} at step {state.step}"

    # --- frames --------------------------------------------------------------------------

    def snapshot(self) -> tuple[Snapshot, dict]:
        """Copies of G, D and the counters, under the lock: training goes on meanwhile; the
        settings and charts after it."""
        with self.lock:
            G, D = self._copy(self.state.G, "G"), self._copy(self.state.D, "D")
            dataset, cfg = self.dataset, self.cfg  # replaced on a change, never changed
            snap = Snapshot(
                G=G,
                D=D,
                g_loss=self.cfg.g_loss,
                pack=self.cfg.discriminator.pack,
                noise_kind=self.cfg.noise.kind,
                noise_scale=self.cfg.noise.scale,
                density_z=self.density_z,
                preview=packed_rows(PREVIEW_POINTS, self.cfg.discriminator.pack),
                real=self.real,
                dist=self.dist,
                modes=self.dataset != "drawn",
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
        self._chart()
        with self._chart_lock:
            meta["last"] = dict(self._last)
            meta["train_history"] = self.train_history.columns()
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
        row = {"step": meta["step"], **frame["stats"]}
        with self._chart_lock:
            if row["step"] != (self.frame_history.rows or [{}])[-1].get("step"):
                self.frame_history.add(row)
            frame["frame_history"] = self.frame_history.columns()
        return frame

    def frame_text(self) -> str:
        """The frame as compact JSON; a NaN or infinity (a diverged G) is sent as null."""
        frame = self.frame()
        try:
            return json.dumps(frame, separators=(",", ":"), allow_nan=False)
        except ValueError:
            return json.dumps(_finite(frame), separators=(",", ":"), allow_nan=False)

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
        torch.set_num_threads(1)  # tiny nets: one thread is fastest, and leaves a core free
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
            self._chart()  # after letting go: a snapshot need not wait for the charts
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


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _default_drawing() -> torch.Tensor:
    """A first drawing, before the user makes one: two short strokes, (40, 2)."""
    t = torch.linspace(-1.0, 1.0, 20, dtype=torch.float64)
    return torch.cat([torch.stack([t, 0.8 * t], 1), torch.stack([t, -0.8 * t + 0.5], 1)])


__all__ = [
    "DATASETS",
    "LabError",
    "LabSession",
    "MAX_POINTS",
    "d_update",
    "g_update",
    "parse_message",
    "settings_config",
]
