"""The doctor in the lab: the curve detectors of ganlab.doctor over the newest rows of the
training chart and the frame's mode count, as the findings that hold *now* (a lab run has no
planned length, and a finding goes away once the user's change cures it)."""

from __future__ import annotations

from dataclasses import replace

from ganlab.config import Config
from ganlab.doctor import Doctor, GameFacts
from ganlab.doctor.doctor import game_facts

_facts: dict[tuple, GameFacts] = {}  # game_facts probes D's loss (~25 ms): once per game


def _game(cfg: Config) -> GameFacts:
    key = (cfg.objective, cfg.label_smoothing, *cfg.least_squares.model_dump().values())
    if key not in _facts:
        _facts[key] = game_facts(cfg)
    return _facts[key]


def live_findings(cfg: Config, history: dict[str, list], stats: dict) -> list[dict]:
    """The findings holding at the newest row of the training chart and in this frame.

    Args:
        cfg: the lab's config now (objective, learning rates for the advice).
        history: the training chart's columns (step, d_loss, d_real/d_fake or
            critic_real/critic_fake, g_loss, g_grad), the whole run thinned to 300 rows.
        stats: the frame's stats (modes_covered, modes, high_quality where the data has modes).
    Returns:
        Findings as dicts {kind, step, evidence, advice}.
    """
    steps = history.get("step", [])
    # live: a condition must hold over the newest rows (and G's gradient is compared with its
    # peak over the whole chart); shares of a run's length mean nothing without one
    doctor = Doctor(cfg, replace(_game(cfg), steps=0, live=True))
    column = {
        "d_real": history.get("d_real") or history.get("critic_real"),
        "d_fake": history.get("d_fake") or history.get("critic_fake"),
        "g_grad_norm": history.get("g_grad"),
        "d_loss": history.get("d_loss"),
        "g_loss": history.get("g_loss"),
    }
    if steps and all(v is not None and len(v) == len(steps) for v in column.values()):
        doctor.rows = [
            {"step": s, **{k: _number(v[i]) for k, v in column.items()}}
            for i, s in enumerate(steps)
        ]
        doctor.curve_findings()
    if "modes" in stats and steps:  # this frame's count: its mode_collapse holds now
        keys = ("modes_covered", "modes", "high_quality")
        doctor.coverage = [{"step": steps[-1], **{k: stats[k] for k in keys}}]
        doctor.sample_findings()
    return [f.to_dict() for f in doctor.findings]


def _number(v) -> float:
    return float("nan") if v is None else float(v)
