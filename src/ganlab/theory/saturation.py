"""Item 4, section 3: log(1 - D(G(z))) saturates while D is confident; -log D(G(z)) does not.

    minimax:            L_G = log(1 - D(G(z))),  dL_G/da = -D(G(z)) -> 0 as D(G(z)) -> 0
    non-saturating:     L_G = -log D(G(z)),      dL_G/da = D(G(z)) - 1 -> -1

compute_saturation takes each G loss of ganlab.game.losses and its derivative in D's logit a,
and trains the ring8 preset from a confident D with each loss, recording G's gradient norm and
the mean D(G(z)) every step (a ganlab.theory.snapshots.Recorder on the library's
Algorithm 1); plot draws both; describe says what they show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.config import Config, load_config
from ganlab.game.losses import G_LOSSES
from ganlab.report.figures import pyplot, save_figure
from ganlab.theory.description import Description
from ganlab.theory.snapshots import Recorder, grad_norm, train_recorded
from ganlab.training.algorithm import StepStats
from ganlab.training.state import TrainState

FIGURES = ["saturation_losses.png", "saturation_training.png"]

# Where D is confident from the start: the ring8 preset, with a head start for D (its first
# iteration runs k = 100 D steps, then Algorithm 1 continues with k = 1), which takes the mean
# D(G(z)) to ~0.001. G uses the paper's optimiser, SGD with momentum 0.5 (lr 0.01, no decay):
# Adam divides each step by the gradient's running RMS, which hides a vanishing gradient's
# scale; with the preset's Adam G the minimax run reached mean D(G(z)) ~0.1 within 10 steps
# (measured, head start k = 200).
SATURATION_PRESET = "ring8"
SATURATION_HEAD_START_K = 100
SATURATION_OVERRIDES = [
    "g_optimizer.name=sgd",
    "g_optimizer.lr=0.01",
    "g_optimizer.momentum=0.5",
    "g_optimizer.lr_decay_factor=1.0",
]
# "D is confident": mean D(G(z)) below 0.1, where the per-sample factor of the minimax gradient
# against the non-saturating one, D / (1 - D), is below 1/9.
CONFIDENT_D = 0.1
LOSS_LABELS = {
    "minimax": "minimax: log(1 - D(G(z)))",
    "nonsaturating": "non-saturating: -log D(G(z))",
    "maximum_likelihood": "maximum likelihood: -exp(a)",
}
# While D is confident the maximum-likelihood and minimax runs are nearly one curve (both
# gradients ~ -D(G(z))): minimax wide and pale beneath, maximum likelihood thin, dashed and
# marked on top, so that both stay visible where they coincide.
LOSS_STYLES = {
    "minimax": {"color": "tab:red", "lw": 4, "alpha": 0.55, "zorder": 2},
    "nonsaturating": {"color": "tab:blue", "lw": 2, "zorder": 2},
    "maximum_likelihood": {
        "color": "indigo", "lw": 1.3, "linestyle": "--", "marker": "o", "ms": 3.5,
        "markevery": 0.06, "zorder": 3,
    },
}  # fmt: skip


def _one_sample(loss):
    """A minibatch loss as a function of one scalar logit: loss([a])."""
    return lambda logit: loss(logit[None])


def generator_loss_curves(d_fake: Tensor) -> dict[str, dict[str, Tensor]]:
    """Each G loss of ganlab.game.losses and its derivative in the logit, per sample, via autograd.

        minimax:            L = log(1 - D) = -softplus(a),   dL/da = -D        -> 0 as D -> 0
        non-saturating:     L = -log D = softplus(-a),       dL/da = D - 1     -> -1 as D -> 0
        maximum likelihood: L = -exp(a) = -D / (1 - D),      dL/da = -exp(a)   -> 0 as D -> 0

    with a = sigma^-1(D(G(z))). Each loss is the library's function applied to one logit at a
    time (it averages over its minibatch), so this is what G's backward pass starts from.

    Args:
        d_fake: (n,) values of D(G(z)) in (0, 1).
    Returns:
        {loss name: {"loss": (n,), "dloss_da": (n,)}}, float64.
    """
    a = torch.logit(torch.as_tensor(d_fake, dtype=torch.float64))  # (n,)
    curves = {}
    for name, loss in G_LOSSES.items():
        one = _one_sample(loss)
        curves[name] = {
            "loss": torch.func.vmap(one)(a),
            "dloss_da": torch.func.vmap(torch.func.grad(one))(a),
        }
    return curves


def saturation_configs(g_loss: str, steps: int, seed: int = 0) -> list[Config]:
    """The two phases of the saturation run: D's head start (one iteration with k = 100), then
    Algorithm 1 with k = 1 up to `steps`."""
    base = [*SATURATION_OVERRIDES, f"g_loss={g_loss}", f"seed={seed}"]
    return [
        load_config(SATURATION_PRESET, [*base, "steps=1", f"k={SATURATION_HEAD_START_K}"]),
        load_config(SATURATION_PRESET, [*base, f"steps={steps}", "k=1"]),
    ]


def _saturation_probe(state: TrainState, stats: StepStats | None) -> tuple[float, float, float]:
    return (
        grad_norm(state.G),  # of the G loss just descended
        float(torch.sigmoid(stats.d_fake).mean()),  # mean D(G(z)) on the D step's samples
        float(torch.sigmoid(stats.d_real).mean()),  # mean D(x)
    )


def saturation_run(g_loss: str, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Train with one G loss in the saturation setting, recording every step.

    Returns:
        {"step": (steps,), "g_grad_norm": (steps,) ||dL_G/d theta_g|| of each G step,
         "d_fake": (steps,) mean D(G(z)), "d_real": (steps,) mean D(x)}.
    """
    recorder = Recorder(_saturation_probe)
    train_recorded(saturation_configs(g_loss, steps, seed), recorder)
    values = np.array(recorder.values)  # (steps, 3)
    return {
        "step": np.array(recorder.steps),
        "g_grad_norm": values[:, 0],
        "d_fake": values[:, 1],
        "d_real": values[:, 2],
    }


def confident_window(d_fake: np.ndarray, threshold: float = CONFIDENT_D) -> np.ndarray:
    """Mask of the first steps, up to the first one where the mean D(G(z)) reaches `threshold`."""
    above = np.flatnonzero(d_fake >= threshold)
    end = above[0] if len(above) else len(d_fake)
    mask = np.zeros(len(d_fake), dtype=bool)
    mask[:end] = True
    return mask


@dataclass(frozen=True)
class Saturation:
    """The G losses over D(G(z)), and early training with each loss from a confident D.

    Attributes:
        d_fake: (999,) values of D(G(z)) in (0, 1); curves: generator_loss_curves(d_fake).
        steps: G steps of each run.
        runs: {loss: saturation_run(loss, steps)}.
        window: (steps,) mask of the steps while D is confident (confident_window of the
            non-saturating run).
        window_grad_norm: {loss: mean G gradient norm over the window}.
    """

    d_fake: Tensor
    curves: dict[str, dict[str, Tensor]]
    steps: int
    runs: dict[str, dict[str, np.ndarray]]
    window: np.ndarray
    window_grad_norm: dict[str, float]

    @property
    def ratio(self) -> float:
        """Minimax over non-saturating mean G gradient norm while D is confident."""
        return self.window_grad_norm["minimax"] / self.window_grad_norm["nonsaturating"]

    def last10_mean(self, key: str) -> dict[str, float]:
        """{loss: mean of runs[loss][key] over the last 10 steps}."""
        return {n: float(r[key][-10:].mean()) for n, r in self.runs.items()}


def compute_saturation(quick: bool = False) -> Saturation:
    """The loss curves, and each G loss trained from a confident D (60 steps when quick, else
    300), every step recorded."""
    d_fake = torch.linspace(1e-3, 1 - 1e-3, 999, dtype=torch.float64)
    steps = 60 if quick else 300
    runs = {name: saturation_run(name, steps) for name in G_LOSSES}
    window = confident_window(runs["nonsaturating"]["d_fake"])
    return Saturation(
        d_fake=d_fake,
        curves=generator_loss_curves(d_fake),
        steps=steps,
        runs=runs,
        window=window,
        window_grad_norm={n: float(r["g_grad_norm"][window].mean()) for n, r in runs.items()},
    )


def plot_saturation(r: Saturation, out: Path) -> list[str]:
    """The losses and their gradients over D(G(z)), and the runs' G gradient norms and mean
    D(G(z)) over steps; returns the file names."""
    plt = pyplot()
    out = Path(out)
    fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(12, 4.3))
    for name, c in r.curves.items():
        ax_l.plot(r.d_fake, c["loss"], label=LOSS_LABELS[name], **LOSS_STYLES[name])
        ax_g.plot(r.d_fake, c["dloss_da"], label=LOSS_LABELS[name], **LOSS_STYLES[name])
    ax_l.set_ylim(-4, 4)
    ax_l.set_ylabel("L_G per sample (G minimises)")
    ax_l.set_title("The three generator losses")
    ax_g.set_ylim(-3, 0.8)
    ax_g.axhline(0, color="0.8", lw=1)
    ax_g.axhline(-1, color="0.8", lw=1)
    ax_g.set_ylabel("dL_G / da   (a = logit of D(G(z)))")
    ax_g.set_title("Their gradients: minimax and ML vanish as D(G(z)) -> 0")
    ax_g.annotate(
        "minimax: -D(G(z)) -> 0: no gradient\nwhen D rejects G's samples",
        xy=(0.01, -0.01), xytext=(0.1, 0.35), arrowprops={"arrowstyle": "->"}, fontsize=8,
    )  # fmt: skip
    ax_g.annotate(
        "non-saturating: D(G(z)) - 1 -> -1",
        xy=(0.01, -0.99), xytext=(0.1, -1.6), arrowprops={"arrowstyle": "->"}, fontsize=8,
    )  # fmt: skip
    for ax in (ax_l, ax_g):
        ax.set_xlabel("D(G(z))")
        ax.set_xlim(0, 1)
        ax.legend(fontsize=8, loc="lower left" if ax is ax_l else "lower right")
    fig.suptitle("Section 3: log(1 - D) saturates when D is confident; -log D does not", y=1.02)
    save_figure(fig, out / FIGURES[0])

    fig, (ax_n, ax_d) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for name, run in r.runs.items():
        label = LOSS_LABELS[name]
        if name == "maximum_likelihood":
            label += "\n(on the minimax curve while D is confident)"
        ax_n.loglog(run["step"], run["g_grad_norm"], label=label, **LOSS_STYLES[name])
        ax_d.loglog(run["step"], run["d_fake"], label=label, **LOSS_STYLES[name])
    window = r.window
    w_end = r.runs["nonsaturating"]["step"][window][-1] if window.any() else 0
    for ax in (ax_n, ax_d):
        ax.axvspan(0.9, w_end + 0.5, color="0.9", label=f"D(G(z)) < {CONFIDENT_D:g} in both runs")
    ax_n.set_ylabel("||grad of L_G wrt theta_g|| (L2)")
    ax_d.set_ylabel("mean D(G(z)) (log scale)")
    ax_d.set_ylim(1e-5, 1.5)
    ax_d.set_xlabel("step (G updates, log scale)")
    ax_n.legend(fontsize=9, loc="center left")
    ax_n.set_title(
        f"ring8 with a D head start (k = {SATURATION_HEAD_START_K} D steps before the first G "
        "step, then k = 1), G trained by SGD (lr 0.01, momentum 0.5):\nwhile D is confident "
        f"the minimax G gets a {1 / r.ratio:.0f}x smaller gradient, and it never leaves "
        "D(G(z)) ~ 0; the non-saturating G escapes in a few steps",
        fontsize=9,
    )
    save_figure(fig, out / FIGURES[1])
    return list(FIGURES)


def describe_saturation(r: Saturation) -> Description:
    """Item 4's title, equation, claim and numbers."""
    runs, window = r.runs, r.window
    d_fake_last10 = r.last10_mean("d_fake")
    return Description(
        name="saturation",
        title="Saturation: log(1 - D(G(z))) gives G no gradient while D is confident",
        equation=(
            "minimax: L_G = log(1 - D(G(z))),  dL_G/da = -D(G(z)) -> 0 as D(G(z)) -> 0\n"
            "non-saturating: L_G = -log D(G(z)),  dL_G/da = D(G(z)) - 1 -> -1\n"
            "maximum likelihood: L_G = -exp(a),  dL_G/da = -exp(a) -> 0   (a = logit of D)"
        ),
        claim=(
            "Section 3: early in learning D rejects G's samples with high confidence and "
            "log(1 - D(G(z))) saturates. On the ring with a confident D (mean D(G(z)) "
            f"{runs['minimax']['d_fake'][0]:.4f} at step 1), the minimax G gradient norm is "
            f"{r.ratio:.1e} times the non-saturating one over the {int(window.sum())} steps "
            f"while D(G(z)) < {CONFIDENT_D:g}; after {r.steps} steps the minimax G is still at "
            f"mean D(G(z)) = {d_fake_last10['minimax']:.4f}, the non-saturating one at "
            f"{d_fake_last10['nonsaturating']:.2f}."
        ),
        numbers={
            "setting": (
                f"{SATURATION_PRESET}, D head start k={SATURATION_HEAD_START_K} for iteration 1 "
                f"then k=1, {' '.join(SATURATION_OVERRIDES)}, seed 0, {r.steps} steps"
            ),
            "window_steps": int(window.sum()),
            "g_grad_norm_step1": {n: float(run["g_grad_norm"][0]) for n, run in runs.items()},
            "g_grad_norm_window_mean": r.window_grad_norm,
            "minimax_over_nonsaturating_window": r.ratio,
            "d_fake_window_mean": {
                n: float(run["d_fake"][window].mean()) for n, run in runs.items()
            },
            "d_fake_last10_mean": d_fake_last10,
            "g_grad_norm_last10_mean": r.last10_mean("g_grad_norm"),
        },
    )


def run_saturation(out: Path, quick: bool = False) -> dict:
    """Section 3's saturation: the three G losses and their gradients against D(G(z)), and the G
    gradient norm in real early training while D is confident.

    Writes saturation_losses.png and saturation_training.png.
    """
    result = compute_saturation(quick)
    figures = plot_saturation(result, out)
    return describe_saturation(result).item_result(figures)


__all__ = [
    "CONFIDENT_D",
    "SATURATION_HEAD_START_K",
    "SATURATION_OVERRIDES",
    "SATURATION_PRESET",
    "Saturation",
    "compute_saturation",
    "confident_window",
    "describe_saturation",
    "generator_loss_curves",
    "plot_saturation",
    "run_saturation",
    "saturation_configs",
    "saturation_run",
]
