"""A finding of the doctor: its kind, the first step it held, the numbers, and what to change.

The advice is grounded in the theory item that explains the failure (`ganlab theory --only
NAME` draws it) and, where one fits, ends in a command fragment to paste after `ganlab train`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ganlab.config import Config

KINDS = (
    "g_saturation",
    "d_overpowers",
    "mode_collapse",
    "oscillation",
    "divergence",
    "memorisation",
    "unfinished",
    "poor_fit",
)


@dataclass(frozen=True)
class Finding:
    """What the doctor found.

    Attributes:
        kind: one of KINDS.
        step: the first training step at which it held.
        evidence: the numbers that triggered it, by name.
        advice: why, in one sentence, and the concrete change.
    """

    kind: str
    step: int
    evidence: dict[str, Any] = field(default_factory=dict)
    advice: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown finding kind {self.kind!r}; one of {', '.join(KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: {"kind", "step", "evidence", "advice"} (non-finite numbers as text)."""
        return {
            "kind": self.kind,
            "step": int(self.step),
            "evidence": {k: _json_number(v) for k, v in self.evidence.items()},
            "advice": self.advice,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Finding:
        return cls(doc["kind"], int(doc["step"]), dict(doc.get("evidence", {})), doc["advice"])

    def line(self) -> str:
        """The one warning line printed during training."""
        return f"doctor: {self.kind} from step {self.step}: {self.advice}"


def _json_number(v: Any) -> Any:
    """Round floats to 4 significant digits; NaN and infinities as strings (JSON has none)."""
    if isinstance(v, float):
        return float(f"{v:.4g}") if math.isfinite(v) else str(v)
    return v


def _lr(value: float) -> str:
    return f"{value:.2g}"


def advice_saturation(cfg: Config, d_fake: float) -> str:
    return (
        f"D rejects G's samples (mean D(G(z)) = {d_fake:.2g}) and the minimax loss "
        "log(1 - D(G(z))) has gradient -D(G(z)) -> 0 there, so G stops learning (paper section 3; "
        "`ganlab theory --only saturation`); use the non-saturating loss: "
        "--set objective=nonsaturating"
    )


def advice_overpowers(cfg: Config) -> str:
    """A zero-centred gradient penalty first: on the gallery's gauss1d (G of 4 units, D 40x
    G's rate, k = 5) k=1 with R1 ended the overpowering on both seeds, while k=1 with D's
    rate quartered, or even equal to G's, left it on one; slower D is the second choice (and
    the only one where compile refuses penalties)."""
    steps = "--set k=1 " if cfg.k > 1 else ""
    slower = (
        f"--set d_optimizer.lr={_lr(cfg.d_optimizer.lr / 4)} (a quarter of "
        f"{_lr(cfg.d_optimizer.lr)})"
    )
    why = (
        "D separates data from samples almost perfectly, so its gradient gives G little "
        "direction (D* of Proposition 1 is 1 on the data and 0 on the samples when they do not "
        "overlap; `ganlab theory --only optimal_discriminator`); "
    )
    if cfg.compile == "forwards":
        return why + f"slow D down: {steps}{slower}"
    return why + (
        f"smooth D with a zero-centred gradient penalty (R1, Mescheder et al. 2018): {steps}"
        f"--set regularizers.r1=1, or slow it down: {slower}"
    )


def advice_collapse(cfg: Config) -> str:
    """The first change fits the config: a G far narrower than D gets widened (the gallery's
    ring8 with a 16-unit G against a 256 x 3 D stayed on 1 of 8 modes with packing and with
    k = 1; a 128 x 3 G covered 8/8); k > 1 goes to 1 (grid25's preset notes: k = 3 collapsed
    to 11 of 25 modes); otherwise packing (PacGAN)."""
    why = (
        "G puts its mass on a few places of p_data: the reverse-KL-like pull of the game lets it "
        "drop modes (`ganlab theory --only mode_collapse`, `kl_directions`); "
    )
    g, d = cfg.generator, cfg.discriminator
    options = []
    if g.kind == d.kind == "mlp" and 4 * sum(g.hidden) <= sum(d.hidden):
        wide = ",".join(str(max(w, 128)) for w in d.hidden)
        options.append(
            f"G ({sum(g.hidden)} hidden units) is far narrower than D ({sum(d.hidden)}) and "
            f"cannot hold every mode: widen it: --set generator.hidden=[{wide}]"
        )
    if cfg.k > 1:
        options.append(
            f"with k = {cfg.k} D overfits G's current samples and chases G from mode to mode: "
            "take one D step per G step: --set k=1"
        )
    pack = 2 if d.pack == 1 else d.pack * 2
    options.append(f"let D judge packs of samples (PacGAN): --set discriminator.pack={pack}")
    if cfg.objective == "minimax":
        options[-1] += " and use the non-saturating loss: --set objective=nonsaturating"
    return why + "; or ".join(options)


def advice_oscillation(cfg: Config) -> str:
    return (
        "G and D circle the equilibrium instead of reaching it, as simultaneous gradient play "
        "does on V = xy (`ganlab theory --only xy_game`, `dirac_gan`); damp the rotation with a "
        "zero-centred gradient penalty on D and smaller steps: --set regularizers.r1=1 "
        f"--set g_optimizer.lr={_lr(cfg.g_optimizer.lr / 4)} "
        f"--set d_optimizer.lr={_lr(cfg.d_optimizer.lr / 4)}"
    )


def advice_divergence(cfg: Config, what: str, how: str = "became NaN or infinite") -> str:
    return (
        f"{what} {how}: a step too large for the curvature it met; lower both "
        f"learning rates (--set g_optimizer.lr={_lr(cfg.g_optimizer.lr / 10)} "
        f"--set d_optimizer.lr={_lr(cfg.d_optimizer.lr / 10)}) or let ganlab roll back to the "
        "last checkpoint with smaller steps: --set on_nan=rollback"
    )


def advice_memorisation(cfg: Config, step: int) -> str:
    return (
        "G's samples are nearer to training examples than unseen examples of the same data are: "
        "it reproduces its training set instead of p_data (C(G) is minimised by p_g = p_data, "
        "not by the empirical sample; `ganlab theory --only virtual_criterion`); use an earlier "
        f"checkpoint (`ganlab sample RUN --step N` with N before {step}), "
        + (f"more data: --set data.n={cfg.data.n * 16}, or " if cfg.data.n else "more data, or ")
        + f"fewer steps: --set steps={max(step // 2, 1)}"
    )


def advice_unfinished(cfg: Config, measure: str, before: float, after: float) -> str:
    return (
        f"G was still improving when the run ended (k-NN {measure} of its samples against the "
        f"data rose from {before:.2f} to {after:.2f} over the last half of the run): the step "
        f"budget was too small for this data; train on: `ganlab resume RUN --steps "
        f"{2 * cfg.steps}`, or start with --set steps={2 * cfg.steps}"
    )


def advice_poor_fit(cfg: Config, precision: float, recall: float) -> str:
    where = "spread over everything" if recall >= 0.5 else "away from the data"
    options = []
    if cfg.m < 64:
        options.append(
            f"a minibatch of m = {cfg.m} gives D and G gradients too noisy to settle on the "
            "data: --set m=64"
        )
    options.append(
        f"take smaller steps: --set g_optimizer.lr={_lr(cfg.g_optimizer.lr / 4)} "
        f"--set d_optimizer.lr={_lr(cfg.d_optimizer.lr / 4)}"
    )
    options.append(f"train longer: --set steps={2 * cfg.steps}")
    return (
        f"G's samples at the end of the run do not fit the data: k-NN precision {precision:.2f} "
        f"(recall {recall:.2f}), nearly every sample lies outside the data's neighbourhoods, "
        f"{where}; p_g has not reached p_data, the only minimum of C(G) (`ganlab theory --only "
        "virtual_criterion`); " + "; or ".join(options)
    )
