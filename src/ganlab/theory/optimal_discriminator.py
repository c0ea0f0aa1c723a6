"""Item 1, Proposition 1: a D trained against a fixed G approaches the optimal discriminator

    D*_G(x) = p_data(x) / (p_data(x) + p_g(x)).

compute_optimal_discriminator trains an MLP with Algorithm 1's D step against a frozen p_g
(ganlab.theory.learned_discriminator) and compares it with D* on a grid; plot draws both;
describe says what they show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ganlab.data.toy import gaussian_1d, mixture_1d
from ganlab.game.divergences import (
    optimal_discriminator_from_logs,
    quadrature_grid,
    value_at_optimum,
    value_on_grid,
)
from ganlab.report.figures import pyplot, save_figure
from ganlab.theory.description import Description
from ganlab.theory.learned_discriminator import (
    central_interval,
    log_density,
    logits_on_grid,
    train_discriminator,
)
from ganlab.theory.snapshots import one_thread

# Proposition 1 is shown on N(0, 1) against a two-mode p_g, so that D* = p_data/(p_data + p_g)
# is far from a threshold: high at 0, low on p_g's modes, rising again in both tails.
DISCRIMINATOR_P_DATA = gaussian_1d(0.0, 1.0)
DISCRIMINATOR_P_G = mixture_1d([-1.5, 1.5], std=0.5)
FIGURE = "optimal_discriminator.png"


@dataclass(frozen=True)
class OptimalDiscriminator:
    """A learned D beside D* on the grid x, and how far apart they are.

    Attributes:
        steps: D updates of the learned D.
        x: (n,) grid on [-5, 5].
        log_p_data, log_p_g: (n,) log densities on x.
        d_star: (n,) D*(x); d: (n,) the learned D(x).
        region: (lo, hi), the central 99% of the mass of (p_data + p_g) / 2.
        max_abs_error, mean_abs_error: of |D - D*| on the region.
        value_learned_d, value_optimal_d: V(D, G) and V(D*, G) = C(G), by quadrature.
    """

    steps: int
    x: Tensor
    log_p_data: Tensor
    log_p_g: Tensor
    d_star: Tensor
    d: Tensor
    region: tuple[float, float]
    max_abs_error: float
    mean_abs_error: float
    value_learned_d: float
    value_optimal_d: float

    @property
    def error(self) -> Tensor:
        """(n,) |D(x) - D*(x)| on the whole grid."""
        return (self.d - self.d_star).abs()


@one_thread()
def compute_optimal_discriminator(quick: bool = False) -> OptimalDiscriminator:
    """Train D against the fixed p_g (1,000 steps when quick, else 2,000) and compare with D*."""
    steps = 1000 if quick else 2000
    p_data, p_g = DISCRIMINATOR_P_DATA, DISCRIMINATOR_P_G
    D = train_discriminator(p_data, p_g, steps=steps)
    x = quadrature_grid(-5.0, 5.0, 2001)
    log_p_data, log_p_g = log_density(p_data)(x), log_density(p_g)(x)
    d_star = optimal_discriminator_from_logs(log_p_data, log_p_g)
    logits = logits_on_grid(D, x)
    d = torch.sigmoid(logits)
    lo, hi = central_interval(torch.logaddexp(log_p_data, log_p_g) - math.log(2.0), x)
    inside = (x >= lo) & (x <= hi)
    error = (d - d_star).abs()
    return OptimalDiscriminator(
        steps=steps,
        x=x,
        log_p_data=log_p_data,
        log_p_g=log_p_g,
        d_star=d_star,
        d=d,
        region=(lo, hi),
        max_abs_error=error[inside].max().item(),
        mean_abs_error=error[inside].mean().item(),
        value_learned_d=value_on_grid(logits, log_p_data, log_p_g, x).item(),
        value_optimal_d=value_at_optimum(log_p_data, log_p_g, x).item(),
    )


def plot_optimal_discriminator(r: OptimalDiscriminator, out: Path) -> list[str]:
    """The densities with D* and the learned D above, |D - D*| below; returns the file names."""
    x, (lo, hi), error = r.x, r.region, r.error
    plt = pyplot()
    fig, (ax, ax_err) = plt.subplots(
        2, 1, figsize=(8.5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]}
    )
    for a in (ax, ax_err):
        a.axvspan(lo, hi, color="0.93", zorder=0)
    ax.plot(x, r.log_p_data.exp(), "k:", lw=2, label="p_data = N(0, 1)")
    ax.plot(x, r.log_p_g.exp(), color="tab:green", label="p_g: fixed two-mode mixture")
    ax.set_ylabel("density")
    ax_d = ax.twinx()
    ax_d.plot(x, r.d_star, color="0.3", lw=2.5, alpha=0.6, label="D*(x) = p_data / (p_data + p_g)")
    ax_d.plot(x, r.d, "b--", lw=1.5, label=f"D(x) learned ({r.steps} D steps)")
    ax_d.set_ylim(0, 1.02)
    ax_d.set_ylabel("D(x)")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax_d.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(1.09, 1.0), fontsize=8)
    ax.set_title("Proposition 1: a discriminator trained against a fixed G learns D*")
    ax_err.plot(x, error, color="tab:red")
    ax_err.set_ylabel("|D - D*|")
    ax_err.set_xlabel("x   (shaded: central 99% of the mass of (p_data + p_g) / 2)")
    ax_err.set_ylim(0, max(0.1, 1.1 * r.max_abs_error))
    ax_err.set_xlim(x[0].item(), x[-1].item())
    save_figure(fig, Path(out) / FIGURE)
    return [FIGURE]


def describe_optimal_discriminator(r: OptimalDiscriminator) -> Description:
    """Item 1's title, equation, claim and numbers."""
    return Description(
        name="optimal_discriminator",
        title="Proposition 1: the optimal discriminator",
        equation="D*_G(x) = p_data(x) / (p_data(x) + p_g(x))",
        claim=(
            "For a fixed G, the D maximising V(D, G) is the density ratio D*. An MLP trained "
            "with Algorithm 1's D step against a frozen p_g (no G updates) matches D* to within "
            f"{r.max_abs_error:.3f} on the central 99% of the mass; outside, where it "
            "sees almost no samples, it extrapolates."
        ),
        numbers={
            "max_abs_error_99": r.max_abs_error,
            "mean_abs_error_99": r.mean_abs_error,
            "region_99": list(r.region),
            "value_learned_d": r.value_learned_d,
            "value_optimal_d": r.value_optimal_d,
            "d_steps": r.steps,
        },
    )


def run_optimal_discriminator(out: Path, quick: bool = False) -> dict:
    """Proposition 1: a D trained on samples of two fixed densities approaches D*."""
    result = compute_optimal_discriminator(quick)
    figures = plot_optimal_discriminator(result, out)
    return describe_optimal_discriminator(result).item_result(figures)


__all__ = [
    "DISCRIMINATOR_P_DATA",
    "DISCRIMINATOR_P_G",
    "OptimalDiscriminator",
    "compute_optimal_discriminator",
    "describe_optimal_discriminator",
    "plot_optimal_discriminator",
    "run_optimal_discriminator",
]
