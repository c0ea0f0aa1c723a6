"""Detectors on the training curves (metrics.csv's rows): saturation, an overpowering D,
oscillation and non-finite values.

Each is a pure function of the rows so far (numpy arrays by column) and the game's facts, and
returns the finding with the first step its condition held, or None. A condition must hold for
`sustain` consecutive rows spanning a share of the run: one bad minibatch is noise, not a
diagnosis. The thresholds are set from the healthy and failing runs of
benchmarks/doctor_gallery.py (numbers in benchmarks/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganlab.config import Config
from ganlab.doctor.findings import (
    Finding,
    advice_divergence,
    advice_oscillation,
    advice_overpowers,
    advice_saturation,
)

# The minimax loss's gradient through D's logit a is -D(G(z)) per sample, the non-saturating
# one's -(1 - D(G(z))): below 0.01 G gets under 1% of the push the non-saturating loss would
# give it. Healthy minimax runs of the gallery keep mean D(G(z)) above 0.1 after their first
# rows; starving ones sit at 1e-4 to 1e-7.
SATURATED_D_FAKE = 0.01
# D "wins outright": mean D(G(z)) under 0.005 while mean D(x) is within 0.05 of its target
# (1, or 1 - alpha under one-sided label smoothing); for a critic, D's loss has closed 95% of
# the gap between the best constant D (chance) and its floor. Healthy runs touch this early
# (gauss1d: D(G(z)) ~ 0.003 for its first ~150 of 2,000 steps, until G reaches the data;
# paper-mnist: single rows at 0.004 among rows at 0.01-0.1), so it must last OVERPOWER_SHARE
# of the planned steps.
WON_D_FAKE = 0.005
WON_MARGIN = 0.05
WON_ADVANTAGE = 0.95
OVERPOWER_SHARE = 0.2
# G's gradient "explodes" at 10x and "vanishes" at 1/10 of its median over the first quarter
# of the rows: the gallery's healthy runs stay within 4x of it.
GRAD_FACTOR = 10.0
# For a critic without a floor (Wasserstein) the explosion is measured against the median of
# all the rows before, not the first quarter's: a critic starts nearly flat and G's push grows
# from ~0 as it learns. Under weight clipping (c = 0.01) D's weights fill their box over the
# first ~100 steps and G's gradient norm climbs from ~3e-5 to ~1e-3 (ring8, 150-600 steps):
# 10-40x its first rows, but never above 5.3x the median of the rows before it. WGAN-GP's
# gallery run (gauss1d, lr 1e-3) passes 10x of that median at one row only.
# How long a condition must last: 5 rows and 5% of the planned steps, whichever is longer
# (a healthy D may win a few hundred steps while G moves to the next mode).
SUSTAIN_ROWS = 5
SUSTAIN_SHARE = 0.05
# Oscillation: in a window of WINDOW rows past the first tenth of the rows (or 2x, 4x as
# many, for slow cycles: a WGAN-GP sawtooth of the gallery has a period of 50 rows), the
# autocorrelation of the detrended ranks (ranks: the sawtooth's crashes are 5x its rise)
# falls to ACF_TROUGH at some lag, and in the short window climbs back to ACF_PEAK at a later
# one: a cycle. Measured on the gallery: healthy ring8, grid25, gauss1d runs reach at most
# -0.43 (peak 0.33) in 40 rows and -0.38 in 80; the cycling runs -0.62 to -0.68. And the
# swing must be above noise: a standard deviation of at least MIN_SWING (D's mean output, as
# a probability) or MIN_REL_SWING of the loss's typical size.
WINDOW = 40
ACF_TROUGH = -0.55
ACF_PEAK = 0.3
MIN_SWING = 0.05
MIN_REL_SWING = 0.25
# ... where the loss's typical size is at least the objective's own unit: D's loss at chance
# (2 log 2 for BCE, 1 for least squares, 2 for hinge), and for a critic whose chance loss is 0
# (Wasserstein: any constant output scores 0) the size of its outputs, at most 1. A relative
# swing of a loss near 0 is no cycle: a healthy weight-clipped WGAN on ring8 logs D's loss at
# ~1e-4 with a std of 6e-5 beside outputs of ~0.011 (0.5% of them). The gallery's cycles swing
# by 1.0 (BCE) and 7.7 (the WGAN-GP critic's gap, outputs of ~5): far above either unit.
CRITIC_UNIT = 1.0
# Divergence without a NaN: D's loss LOSS_BLOWUP times that of a D that outputs one value
# everywhere (log 4 for the 2014 game; 1 where that is 0, a critic). The BCE losses are at
# most |logit| + log 2 per example, so 1.4e4 needs logits of ~1e4: D's outputs have blown up
# (a ring8 run at learning rate 1 logged 6.4e5 at its first row; Adam at 1e6, 1e33). The
# threshold was not measured against the gallery's healthy runs: it rests on that bound.
LOSS_BLOWUP = 1e4


@dataclass(frozen=True)
class GameFacts:
    """What the detectors need to know about the run's game.

    Attributes:
        objective: the config's objective name.
        output: "probability" (the 2014 three: D(x) in [0, 1]) or "critic" (raw values).
        real_target: D(x)'s target: 1, or 1 - alpha under one-sided label smoothing.
        chance_loss: D's loss at the best constant output (it has learned nothing).
        floor_loss: D's lowest loss (it separates perfectly), None when unbounded below.
        steps: the run's planned step count.
        live: judge only what holds at the newest row (the lab: a cured failure goes away).
    """

    objective: str
    output: str
    real_target: float
    chance_loss: float
    floor_loss: float | None
    steps: int
    live: bool = False


def columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """metrics.csv rows (dicts of numbers or strings) as float arrays by column."""
    keys = rows[0].keys() if rows else ()
    return {k: np.array([_float(r.get(k)) for r in rows], dtype=np.float64) for k in keys}


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def first_sustained(
    mask: np.ndarray, steps: np.ndarray, facts: GameFacts, share: float = SUSTAIN_SHARE
) -> int | None:
    """Row index where the first run of True lasting SUSTAIN_ROWS rows and `share` of the
    planned steps begins, else None."""
    min_span = share * facts.steps
    if facts.live:  # the run of True that reaches the newest row
        false = np.flatnonzero(~mask)
        start = int(false[-1]) + 1 if len(false) else 0
        long = len(mask) - start >= SUSTAIN_ROWS and steps[-1] - steps[start] >= min_span
        return start if start < len(mask) and long else None
    start = None
    for i, ok in enumerate(mask):
        if not ok:
            start = None
            continue
        start = i if start is None else start
        if i - start + 1 >= SUSTAIN_ROWS and steps[i] - steps[start] >= min_span:
            return start
    return None


def early_median(values: np.ndarray) -> float:
    """The median of the first quarter of the rows (at least 3): the run's own normal level."""
    n = max(3, len(values) // 4)
    head = values[:n]
    head = head[np.isfinite(head)]
    return float(np.median(head)) if len(head) else float("nan")


def saturation(c: dict[str, np.ndarray], facts: GameFacts, cfg: Config) -> Finding | None:
    """g_saturation: the minimax G loss with mean D(G(z)) near 0 and G's gradient collapsed."""
    if facts.objective != "minimax" or len(c.get("step", ())) < SUSTAIN_ROWS:
        return None
    peak = np.fmax.accumulate(np.nan_to_num(c["g_grad_norm"], nan=0.0))  # G's largest push so far
    mask = (c["d_fake"] < SATURATED_D_FAKE) & (c["g_grad_norm"] < peak / GRAD_FACTOR)
    i = first_sustained(mask, c["step"], facts)
    if i is None:
        return None
    d_fake = float(np.median(c["d_fake"][i : i + SUSTAIN_ROWS]))
    return Finding(
        "g_saturation",
        int(c["step"][i]),
        {
            "mean_d_fake": d_fake,
            "g_grad_norm": float(c["g_grad_norm"][i]),
            "g_grad_norm_peak": float(peak[i]),
            "threshold_d_fake": SATURATED_D_FAKE,
        },
        advice_saturation(cfg, d_fake),
    )


def overpowers(c: dict[str, np.ndarray], facts: GameFacts, cfg: Config) -> Finding | None:
    """d_overpowers: D wins (D(x) -> target, D(G(z)) -> 0, or D's loss -> its floor) for a
    sustained stretch; where D's loss has no floor, G's gradient jumping to GRAD_FACTOR times
    its median so far stands in (its growth from ~0 while a critic learns is no jump)."""
    if len(c.get("step", ())) < SUSTAIN_ROWS:
        return None
    g_grad = c["g_grad_norm"]
    normal = early_median(g_grad)
    evidence = {}
    if facts.output == "probability":
        mask = (c["d_fake"] < WON_D_FAKE) & (c["d_real"] > facts.real_target - WON_MARGIN)
    elif facts.floor_loss is not None:
        advantage = (facts.chance_loss - c["d_loss"]) / (facts.chance_loss - facts.floor_loss)
        mask = advantage > WON_ADVANTAGE
        evidence["d_loss_chance"] = facts.chance_loss
        evidence["d_loss_floor"] = facts.floor_loss
    else:
        before = median_before(g_grad)
        mask = g_grad > GRAD_FACTOR * before
    i = first_sustained(mask, c["step"], facts, OVERPOWER_SHARE)
    if i is None:
        return None
    window = slice(i, i + SUSTAIN_ROWS)
    evidence = {
        "mean_d_real": float(np.median(c["d_real"][window])),
        "mean_d_fake": float(np.median(c["d_fake"][window])),
        "d_loss": float(np.median(c["d_loss"][window])),
        **evidence,
        "g_grad_norm": float(np.median(g_grad[window])),
        "g_grad_norm_early": normal,
    }
    if facts.output != "probability" and facts.floor_loss is None:
        evidence["g_grad_norm_before"] = float(before[i])
    return Finding("d_overpowers", int(c["step"][i]), evidence, advice_overpowers(cfg))


def median_before(values: np.ndarray) -> np.ndarray:
    """For each row, the median of the finite values of the rows before it (NaN for the
    first SUSTAIN_ROWS rows: too few to call a level)."""
    out = np.full(len(values), np.nan)
    for i in range(SUSTAIN_ROWS, len(values)):
        head = values[:i][np.isfinite(values[:i])]
        out[i] = np.median(head) if len(head) else np.nan
    return out


def cycling(x: np.ndarray) -> tuple[float, float, int]:
    """(trough, peak, period) of the autocorrelation of x after removing its linear trend.

    trough: the ACF's minimum over lags 1..n/2; peak: its maximum at a lag past the trough;
    period: twice the trough's lag (the lag of a half cycle).
    """
    n = len(x)
    t = np.arange(n)
    x = x - np.polyval(np.polyfit(t, x, 1), t)
    var = float(x @ x)
    if var <= 0:
        return 0.0, 0.0, 0
    acf = np.array([float(x[: n - lag] @ x[lag:]) / var for lag in range(n // 2 + 1)])
    lag = int(np.argmin(acf[1:])) + 1
    peak = float(acf[lag + 1 :].max()) if lag + 1 < len(acf) else 0.0
    return float(acf[lag]), peak, 2 * lag


def oscillation(c: dict[str, np.ndarray], facts: GameFacts, cfg: Config) -> Finding | None:
    """oscillation: D's outputs or D's loss cycle without trend past the first tenth (G's
    first approach to the data is a transient, not a cycle)."""
    n = len(c.get("step", ()))
    signals = {"d_loss": c.get("d_loss")}
    if facts.output == "probability":
        signals["mean_d_fake"] = c.get("d_fake")
    else:
        signals["critic_gap"] = c["d_real"] - c["d_fake"] if n else None
    for window in (WINDOW, 2 * WINDOW, 4 * WINDOW):
        start = n - window if facts.live else n // 10
        if start < 0 or n - start < window:
            return None
        for i in range(start, n - window + 1, window // 4):
            for name, series in signals.items():
                unit = loss_unit(c, facts, slice(i, i + window))
                found = _cycle(c["step"], series, i, window, name, unit)
                if found is not None:
                    return Finding("oscillation", found[0], found[1], advice_oscillation(cfg))
    return None


def loss_unit(c: dict[str, np.ndarray], facts: GameFacts, window: slice) -> float:
    """The objective's own size of D's loss: |D's loss at chance|, or where that is 0 (a
    Wasserstein critic) the mean of |D(x)| and |D(G(z))| over the window, at most CRITIC_UNIT."""
    if abs(facts.chance_loss) > 1e-9:
        return abs(facts.chance_loss)
    size = np.abs(np.concatenate([c["d_real"][window], c["d_fake"][window]]))
    size = size[np.isfinite(size)]
    return min(CRITIC_UNIT, float(size.mean())) if len(size) else CRITIC_UNIT


def _cycle(steps, series, i: int, window: int, name: str, unit: float) -> tuple[int, dict] | None:
    """(first step, evidence) when series[i : i + window] cycles with a swing above noise:
    MIN_SWING for D's mean output, MIN_REL_SWING of max(its mean size, `unit`) for a loss."""
    x = series[i : i + window]
    if not np.isfinite(x).all():
        return None  # divergence's business
    swing = float(x.std())
    typical = max(float(np.abs(x).mean()), unit)
    size = MIN_SWING if name == "mean_d_fake" else MIN_REL_SWING * typical
    if swing < size:
        return None
    trough, peak, period = cycling(np.argsort(np.argsort(x)).astype(np.float64))  # ranks
    if trough > ACF_TROUGH or (window == WINDOW and peak < ACF_PEAK):
        return None
    evidence = {
        "signal": name,
        "acf_trough": trough,
        "acf_peak": peak,
        "period_steps": float(period * np.median(np.diff(steps[i : i + window]))),
        "std": swing,
        "window_steps": f"{int(steps[i])}-{int(steps[i + window - 1])}",
    }
    return int(steps[i]), evidence


def nonfinite(c: dict[str, np.ndarray], facts: GameFacts, cfg: Config) -> Finding | None:
    """divergence: the first logged row where a loss or a gradient norm is NaN or infinite,
    or where D's loss has blown up to LOSS_BLOWUP times that of a D that guesses."""
    names = {
        "d_loss": "the discriminator's loss",
        "g_loss": "the generator's loss",
        "g_grad_norm": "the generator's gradient norm",
        "d_grad_norm": "the discriminator's gradient norm",
    }
    blowup = LOSS_BLOWUP * max(1.0, abs(facts.chance_loss))
    for i in range(len(c.get("step", ()))):
        for key, what in names.items():
            if key not in c:
                continue
            value = c[key][i]
            if not np.isfinite(value) and not (key.endswith("norm") and np.isnan(value)):
                evidence = {"value": str(value), "where": key}
                advice = advice_divergence(cfg, what)
            elif key == "d_loss" and abs(value) > blowup:
                evidence = {"value": float(value), "where": key, "threshold": blowup}
                advice = advice_divergence(cfg, what, f"blew up to {value:.2g}")
            else:
                continue
            return Finding("divergence", int(c["step"][i]), evidence, advice)
    return None
