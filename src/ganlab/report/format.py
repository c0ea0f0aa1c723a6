"""How ganlab shows numbers: `format_value` (every number on every page and the console),
metrics.json entries as text (`read_metric`, `metric_texts`), and what each toy score means
(`SCORE_DEFINITIONS`)."""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass


def format_value(v) -> str:
    """Every number ganlab shows: 4 significant digits, whole numbers in full; None (JSON's
    NaN) as n/a. A string that reads as a number (a CSV cell) is one; other text is kept."""
    if v is None:
        return "n/a"
    if isinstance(v, str):
        try:
            return format_value(float(v))
        except ValueError:
            return v
    if isinstance(v, bool | numbers.Integral):
        return str(v)
    if isinstance(v, numbers.Real):
        v = float(v)
        # whole: a step of 12000 reads 12000, not 1.2e+04 as 4 significant digits would
        return str(int(v)) if v.is_integer() and abs(v) < 1e9 else f"{v:.4g}"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return ", ".join(f"{k} {format_value(x)}" for k, x in v.items())
    return str(v)


def plus_minus(v, std=None) -> str:
    """A value and its spread, "v +- std"; the value alone where there is none."""
    return format_value(v) + (f" +- {format_value(std)}" if std is not None else "")


def verbatim(v) -> str:
    """A config or meta.json value as written, not rounded: "lr 2e-4" and "2.0001e-4" differ."""
    return v if isinstance(v, str) else json.dumps(v)


# Sample counts of a metrics.json entry, shown apart from its scores (stacked_modes'
# "samples" repeats n_fake; the floor is shown beside the value).
COUNT_KEYS = ("n_fake", "n_real", "n_floor")


_NOT_SCORES = (*COUNT_KEYS, "samples", "floor")


# What a several-number metric counts where it is not "modes": Stacked MNIST's are triples.
_COUNTED = {"stacked_modes": "triples"}


@dataclass(frozen=True)
class MetricReading:
    """A metrics.json entry as every page and the console show it.

    Attributes:
        value, floor: the score and its real-vs-real floor: a number, or for a metric of
            several numbers (mode_coverage, digits, stacked_modes) a dict of them.
        std, floor_std: their spread over subsets or splits (KID, IS), or None.
    """

    value: object
    std: float | None
    floor: object
    floor_std: float | None


def read_metric(m: dict) -> MetricReading:
    """The value, floor and spreads of one metrics.json entry."""
    floor = m.get("floor")
    floor = _scores(floor) if isinstance(floor, dict) else floor
    if "value" in m:
        return MetricReading(m["value"], m.get("std"), floor, m.get("floor_std"))
    return MetricReading(_scores(m), None, floor, None)


def metric_texts(name: str, m: dict) -> tuple[str, str]:
    """(value, floor) of the metrics.json entry `name` as text, each with its spread:
    ("0.1234 +- 0.005", "0.01 +- 0.002") or ("7/8 modes, 91.2% high quality, KL 0.1 nats", ...).
    """
    r = read_metric(m)
    unit = _COUNTED.get(name, "modes")
    return _reading_text(r.value, r.std, unit), _reading_text(r.floor, r.floor_std, unit)


def _reading_text(v, std, unit: str) -> str:
    return _several_text(v, unit) if isinstance(v, dict) else plus_minus(v, std)


def _scores(m: dict) -> dict:
    """The numbers of a metric's entry, less its sample counts."""
    return {
        k: v
        for k, v in m.items()
        if (v is None or isinstance(v, int | float)) and k not in _NOT_SCORES
    }


def _several_text(scores: dict, unit: str) -> str:
    """A metric of several numbers in words: "7/8 modes, 91.2% high quality, KL 0.1 nats"."""
    f = format_value
    rest = dict(scores)
    parts = []
    if "modes_covered" in rest:
        parts.append(f"{f(rest.pop('modes_covered'))}/{f(rest.pop('modes', None))} {unit}")
    if "covered" in rest:
        parts.append(f"{f(rest.pop('covered'))}/{f(rest.pop('classes', None))} classes")
    if "high_quality" in rest:
        share = rest.pop("high_quality")
        parts.append(f"{'n/a' if share is None else f(100 * share) + '%'} high quality")
    if "kl" in rest:
        parts.append(f"KL {f(rest.pop('kl'))} nats")
    return ", ".join(parts + [f"{k} {f(v)}" for k, v in rest.items()])


# One line per score of Run.scores (the toy scores on a run's pages): a reader of a page sees
# "kl" or "high_quality" and needs to know what was counted, over what.
SCORE_DEFINITIONS = {
    "modes": "mixture components of p_data",
    "modes_covered": "modes with at least one high-quality sample nearest them (VEEGAN protocol)",
    "high_quality": "share of samples within 3 std of their nearest mode centre",
    "kl": "KL(q || uniform) in nats, q = share of high-quality samples per mode; 0: balanced",
    "generated_mean": "mean of G's samples",
    "generated_std": "standard deviation of G's samples",
    "data_mean": "mean of as many samples of p_data",
    "data_std": "standard deviation of as many samples of p_data",
}


def score_rows(scores: dict) -> list[list[str]]:
    """[score, value, definition] for each toy score, for a page's table."""
    return [[k, format_value(v), SCORE_DEFINITIONS.get(k, "")] for k, v in scores.items()]


def ema_note(cfg) -> str:
    """What a figure of G's samples must say when they come from the average of G's weights."""
    return f" (EMA of G's weights, beta {cfg.ema.beta:g})" if cfg.ema.beta else ""
