"""The page's controls in `ganlab lab`: the control messages, their validation, the datasets
the lab shows and the mapping between the page's settings and ganlab's Config.

Controls arrive as JSON messages (`parse_message`); a conditional session's class picker is the
`pick` message (`pick_class`). Settings go through ganlab's own Config
(`settings_config`), so a learning rate of -1 or k = 0 is refused with ganlab's message, and the
session keeps its last good state. LIVE_KEYS apply to the running session; REBUILD_KEYS make
new G and D from the seed.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

import torch
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)

from ganlab.config import Config, config_from_dict, load_config
from ganlab.errors import ConfigError, GanlabError
from ganlab.lab.densities import View
from ganlab.runs.labels import label_index

DATASETS = ("line", "mixture", "ring", "cring", "grid", "drawn")
MAX_POINTS = 5000  # drawn points: more is no drawing, and each D step would not notice them
DRAWN_STD = 0.06  # std of the Gaussian around each drawn point (the view is [-2, 2]^2)


def default_drawing() -> torch.Tensor:
    """A first drawing, before the user makes one: two short strokes, (40, 2)."""
    t = torch.linspace(-1.0, 1.0, 20, dtype=torch.float64)
    return torch.cat([torch.stack([t, 0.8 * t], 1), torch.stack([t, -0.8 * t + 0.5], 1)])


# Views: where each dataset lives on the page.
VIEWS = {
    "line": View(1, -1.0, 7.0),
    "mixture": View(1, -5.0, 5.0),
    "ring": View(2, -1.6, 1.6),
    "cring": View(2, -1.6, 1.6),
    "grid": View(2, -6.0, 6.0),
    "drawn": View(2, -2.0, 2.0),
}

# Each dataset's lab defaults: a shipped preset and the lab's changes to it (ganlab's own
# `--set` overrides). The ring: ring8 with wider modes (std 0.05, visible on the page), k = 2, no
# learning-rate decay and, for G, the paper's SGD with momentum instead of Adam: Adam divides
# each step by the gradient's running RMS and so hides a vanishing gradient
# (theory/saturation.py, item 4). Measured (minimax for 500-4,000 iterations, then
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
    # the conditional ring (issue 17): cring8 as trained (projection D, Adam for both), with the
    # ring's visible modes and no learning-rate decay (a lab session has no planned length)
    "cring": (
        "cring8",
        ["data.std=0.05", "g_optimizer.lr_decay_factor=1.0", "d_optimizer.lr_decay_factor=1.0"],
    ),
    "grid": ("grid25", []),
    "line": ("gauss1d", []),  # the paper's Figure 1
    "mixture": (
        "gauss1d",
        ["generator.hidden=[32, 32]", "data={kind: mixture1d, means: [-2.0, 2.0], std: 0.5}"],
    ),
}
# data.kind of a loaded run -> the lab's dataset showing it (a conditional ring: "cring")
DATASET_OF_KIND = {"gauss1d": "line", "mixture1d": "mixture", "ring": "ring", "grid": "grid"}
ALL_CLASSES = "all"  # the class picker's value for every class


def lab_defaults(dataset: str) -> dict[str, Any]:
    """The dataset's lab config as a raw dict: its preset with the lab's overrides."""
    preset, overrides = DEFAULTS[dataset]
    return load_config(preset, overrides).model_dump(mode="json")


# Settings the page may change, by their config key; the first group applies to the running
# session (algorithm1 and the one-update buttons read them every iteration), the rest rebuild
# G, D and their optimisers from the seed. A new objective reads the same D's raw output as a
# logit or a critic value from the next update on; the regularizers are resolved from the config
# at every call of algorithm1 and of the update buttons; EMA on starts the average at today's G.
LIVE_KEYS = (
    "objective",
    "k",
    "m",
    "label_smoothing",
    "g_optimizer.lr",
    "d_optimizer.lr",
    "regularizers.r1",
    "regularizers.r2",
    "regularizers.gradient_penalty",
    "regularizers.weight_clip",
    "regularizers.instance_noise",
    "regularizers.instance_noise_decay_steps",
    "ema.beta",
)
REBUILD_KEYS = (
    "seed",
    "noise.kind",
    "noise.dim",
    "generator.hidden",
    "discriminator.hidden",
    "discriminator.pack",
    "g_optimizer.name",
    "d_optimizer.name",
    "conditional.kind",
)
SETTING_KEYS = ("dataset", *LIVE_KEYS, *REBUILD_KEYS)
ALIASES = {"g_loss": "objective"}  # the page before issue 16 set the objective as its G loss
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


class Pick(_Message):
    """The class picker of a conditional session: a class index or name, or "all"."""

    action: Literal["pick"]
    label: StrictInt | StrictStr


Message = Annotated[Simple | SetValues | Draw | RunPath | Pick, Field(discriminator="action")]
_MESSAGE = TypeAdapter(Message)
ACTIONS = (
    "play", "pause", "reset", "step", "step_d", "step_g", "set", "draw", "save", "load", "pick",
)  # fmt: skip


def parse_message(raw: str | bytes | dict) -> Simple | SetValues | Draw | RunPath | Pick:
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
    label = raw.get("label")
    if action == "pick" and (isinstance(label, bool) or not isinstance(label, int | str)):
        raise LabError(
            f'a class pick takes "label": a class index, a class name or "all", got {label!r}'
        )
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


def pick_class(label: int | str, class_names: list[str] | None) -> int | None:
    """The class picker's new value: None for "all", else the index of `label` (an index or a
    class name).

    Raises:
        LabError: the session is unconditional.
        ConfigError: no such class (runs.labels.label_index's one line).
    """
    if class_names is None:
        raise LabError(
            "this session is unconditional (conditional.kind none): it has no classes to pick; "
            "set conditional.kind under Classes, or pick the dataset 'ring of 8, conditional'"
        )
    if label == ALL_CLASSES:
        return None
    return label_index(label, class_names, "this session")


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
    for key, value in canonical(values).items():
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
        text = re.sub(r"; fix it there or override it, .*$", "; fix it in the panel", str(e))
        raise ConfigError(text) from None


def canonical(values: dict[str, Any]) -> dict[str, Any]:
    """The settings by their config keys: `g_loss` (older clients) means `objective`.

    Raises:
        LabError: both names given, with different values.
    """
    out = dict(values)
    for alias, key in ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            if out.setdefault(key, value) != value:
                raise LabError(
                    f"{alias} {value!r} and {key} {out[key]!r} disagree; send only {key}"
                )
    return out


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


def kept_penalty(cfg: Config, sent: dict[str, Any]) -> str:
    """A note for the reply when the config kept the gradient penalty the page set to 0: the
    before-validator gives a Wasserstein critic with no Lipschitz method lambda = 10."""
    key, penalty = "regularizers.gradient_penalty", cfg.regularizers.gradient_penalty
    if key in sent and sent[key] != penalty:
        return (
            f"; {key} stays {penalty}: a Wasserstein critic must be kept 1-Lipschitz, by the "
            "penalty or by regularizers.weight_clip"
        )
    return ""


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


__all__ = [
    "ALL_CLASSES",
    "DATASETS",
    "DATASET_OF_KIND",
    "DEFAULTS",
    "ALIASES",
    "DRAWN_STD",
    "LIVE_KEYS",
    "MAX_POINTS",
    "Pick",
    "REBUILD_KEYS",
    "SETTING_KEYS",
    "VIEWS",
    "Draw",
    "LabError",
    "Message",
    "RunPath",
    "SetValues",
    "Simple",
    "canonical",
    "default_drawing",
    "kept_penalty",
    "lab_defaults",
    "lab_settings",
    "parse_message",
    "pick_class",
    "settings_config",
]
