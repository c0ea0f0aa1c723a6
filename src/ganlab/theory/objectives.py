"""Item `objectives` (issue 16): each objective's optimal D for a fixed G, and what G minimises.

For p_data a two-mode mixture and p_g one Gaussian, held fixed, every D game of
ganlab.game.objectives is solved twice:

    in closed form:  D* on a float64 grid, max_D -L_D = -L_D(D*) by quadrature, against the
                     divergence computed another way (ganlab.theory.objectives_optimum):
                     2014: -log 4 + 2 JSD; least squares: chi^2(p_data + p_g || 2 p_g) / 2 - 1;
                     f-GANs: D_f(p_data || p_g); Wasserstein: W1; hinge: 2 TV - 2;
                     relativistic pairing: JSD(p_data x p_g || p_g x p_data) - log 2
    by training:     an MLP D descending the library's d_loss on samples of the two densities
                     (Adam, G frozen), its -L_D on held-out samples against the closed form.

compute_objectives does both (no drawing), plot_objectives draws D* beside the trained D for
each game and the values as divergences, describe_objectives says what they show.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ganlab.data.toy import GaussianMixture
from ganlab.game.divergences import quadrature_grid
from ganlab.game.objectives import OBJECTIVE_NAMES, g_loss_least_squares, objective
from ganlab.report.figures import pyplot, save_figure
from ganlab.theory.description import Description, rounded
from ganlab.theory.learned_discriminator import log_density, logits_on_grid
from ganlab.theory.loss_objectives import generator_objectives
from ganlab.theory.objectives_optimum import (
    GAMES,
    OBJECTIVES_P_DATA,
    OBJECTIVES_P_G,
    RELATIVISTIC_GRID,
    closed_form_critic,
    divergence_by_quadrature,
    relativistic_optimum,
    total_variation,
    trapezoid_weights,
    value_on_grid,
    wasserstein_1,
    wasserstein_critic,
)
from ganlab.theory.objectives_training import centred, heldout_value, train_critic
from ganlab.theory.snapshots import one_thread

FIGURES = ["objectives.png", "objectives_values.png"]
# How far a trained D's value may fall short of max_D -L_D (or, for the soft Lipschitz penalty
# of wasserstein, exceed it), beyond the held-out estimate's 3 standard errors: about twice
# (rounded up) the largest gap |max_D -L_D - (-L_D(D))|, exact in D by quadrature, measured over
# seeds 0-2 with 1,000 (quick) and 2,000 steps, in the comments. The MLP's smooth D cannot
# follow hinge's step sign(p_data - p_g); Pearson's 2 (r - 1) is pinned only where p_g's samples
# land; the GP critic's slope exceeds 1 where few interpolates fall, so it overshoots W1.
TRAINED_GAP_BOUND = {
    "cross_entropy": 1e-3,  # 4.2e-4
    "least_squares": 1e-3,  # 2.5e-4
    "wasserstein": 2.5e-2,  # 1.0e-2, above W1
    "hinge": 5e-2,  # 2.2e-2
    "relativistic": 1e-3,  # 4.6e-4
    "f_kl": 3e-3,  # 1.0e-3
    "f_reverse_kl": 3e-3,  # 1.0e-3
    "f_pearson": 3e-2,  # 1.2e-2
    "f_hellinger": 1e-3,  # 3.1e-4
    "f_js": 1e-3,  # 4.2e-4: the cross-entropy loss - log 4, so the same D step for step
}


@dataclass(frozen=True)
class Objectives:
    """Each D game solved in closed form and by training, on fixed p_data and p_g.

    Attributes:
        x: (n,) quadrature grid on [-20, 20]; log_p_data, log_p_g: (n,) on it.
        d_star: {game: (n,) D*'s raw output on x} (wasserstein, relativistic: centred).
        optimum: {game: max_D -L_D, i.e. -L_D(D*) by quadrature}.
        divergence: {game: the divergence, computed independently of the d_loss}.
        identity_error: {game: |optimum - (scale * divergence + offset)|}.
        newton_value, newton_steps: the relativistic optimum by Newton's method from C = 0.
        newton_error: max |C_newton - C*| (both centred) where (p_data + p_g) / 2 > 1e-3.
        least_squares_g: 1/2 E_p_data[(D* - c)^2] + 1/2 E_p_g[(D* - c)^2] (c = 0), by
            quadrature with g_loss_least_squares: Mao et al.'s C(G).
        generator_2014: the 2014 G losses' objectives at these densities (loss_objectives).
        steps, seeds, heldout: D steps, seeds and held-out sample size of the trained Ds.
        trained: {game: [per seed {"seed", "exact", "mc", "se"}]}: -L_D of the trained D by
            quadrature (exact in D) and on held-out samples with its standard error.
        d_trained: {game: (n,) the seed-0 trained D's raw output on x (centred as d_star)}.
    """

    x: Tensor
    log_p_data: Tensor
    log_p_g: Tensor
    d_star: dict[str, Tensor]
    optimum: dict[str, float]
    divergence: dict[str, float]
    identity_error: dict[str, float]
    newton_value: float
    newton_steps: int
    newton_error: float
    least_squares_g: float
    generator_2014: dict[str, float]
    steps: int
    seeds: tuple[int, ...]
    heldout: int
    trained: dict[str, list[dict[str, float]]]
    d_trained: dict[str, Tensor]

    @property
    def gap(self) -> dict[str, float]:
        """{game: the largest |max_D -L_D - (-L_D(D))| over the trained Ds, by quadrature}."""
        return {
            g: max(abs(self.optimum[g] - row["exact"]) for row in rows)
            for g, rows in self.trained.items()
        }

    @property
    def agrees(self) -> dict[str, bool]:
        """{game: every held-out value within 3 SE + TRAINED_GAP_BOUND of max_D -L_D}."""
        return {
            g: all(
                abs(row["mc"] - self.optimum[g]) <= 3 * row["se"] + TRAINED_GAP_BOUND[g]
                for row in rows
            )
            for g, rows in self.trained.items()
        }


def closed_forms(p_data: GaussianMixture, p_g: GaussianMixture) -> dict:
    """D*, max_D -L_D and the divergence for every game, by quadrature and closed forms."""
    x = quadrature_grid()
    log_p_data, log_p_g = log_density(p_data)(x), log_density(p_g)(x)
    pair_x = RELATIVISTIC_GRID
    pair_log_p_data, pair_log_p_g = log_density(p_data)(pair_x), log_density(p_g)(pair_x)
    d_star, optimum, divergence = {}, {}, {}
    for game in GAMES:
        if game == "relativistic":  # double integrals: on the coarser grid of pairs
            pair_star = closed_form_critic(game, pair_log_p_data, pair_log_p_g)
            optimum[game] = value_on_grid(
                game, pair_star, pair_log_p_data, pair_log_p_g, pair_x
            ).item()
            divergence[game] = divergence_by_quadrature(
                game, pair_log_p_data, pair_log_p_g, pair_x
            ).item()
            d_star[game] = centred(
                closed_form_critic(game, log_p_data, log_p_g), log_p_data, log_p_g
            )
            continue
        if game == "wasserstein":
            d_star[game] = centred(wasserstein_critic(p_data, p_g, x), log_p_data, log_p_g)
            divergence[game] = wasserstein_1(p_data, p_g, x)
        elif game == "hinge":
            d_star[game] = closed_form_critic(game, log_p_data, log_p_g)
            divergence[game] = total_variation(p_data, p_g, x)
        else:
            d_star[game] = closed_form_critic(game, log_p_data, log_p_g)
            divergence[game] = divergence_by_quadrature(game, log_p_data, log_p_g, x).item()
        optimum[game] = value_on_grid(game, d_star[game], log_p_data, log_p_g, x).item()
    newton, newton_value, newton_steps = relativistic_optimum(pair_log_p_data, pair_log_p_g, pair_x)
    pair_star = centred(
        closed_form_critic("relativistic", pair_log_p_data, pair_log_p_g),
        pair_log_p_data,
        pair_log_p_g,
    )
    # The bulk: where (p_data + p_g) / 2 > 1e-3; beyond, C is pinned by ever smaller weights.
    bulk = torch.logaddexp(pair_log_p_data, pair_log_p_g) - math.log(2.0) > math.log(1e-3)
    w = trapezoid_weights(x)

    def expectation(log_p: Tensor, values: Tensor) -> float:
        return (w * log_p.exp() * values).sum().item()

    g_terms = torch.vmap(lambda a: g_loss_least_squares(a[None]))(d_star["least_squares"])
    return {
        "x": x,
        "log_p_data": log_p_data,
        "log_p_g": log_p_g,
        "d_star": d_star,
        "optimum": optimum,
        "divergence": divergence,
        "identity_error": {g: abs(optimum[g] - GAMES[g].value_of(divergence[g])) for g in GAMES},
        "newton_value": newton_value.item(),
        "newton_steps": newton_steps,
        "newton_error": (newton - pair_star)[bulk].abs().max().item(),
        "least_squares_g": expectation(log_p_data, g_terms) + expectation(log_p_g, g_terms),
        "generator_2014": {
            k: v.item() for k, v in generator_objectives(log_p_data, log_p_g, x).items()
        },
    }


@one_thread()
def compute_objectives(quick: bool = False) -> Objectives:
    """Every game in closed form; an MLP D trained on each (1,000 steps, seed 0, 50,000
    held-out samples when quick; else 2,000 steps, seeds 0-2, 200,000 samples)."""
    p_data, p_g = OBJECTIVES_P_DATA, OBJECTIVES_P_G
    forms = closed_forms(p_data, p_g)
    x, log_p_data, log_p_g = forms["x"], forms["log_p_data"], forms["log_p_g"]
    pair_x = RELATIVISTIC_GRID
    pair_log_p_data, pair_log_p_g = log_density(p_data)(pair_x), log_density(p_g)(pair_x)
    steps, seeds, heldout = (1000, (0,), 50_000) if quick else (2000, (0, 1, 2), 200_000)
    trained, d_trained = {}, {}
    for game in GAMES:
        trained[game] = []
        for seed in seeds:
            D = train_critic(game, p_data, p_g, steps=steps, seed=seed)
            if game == "relativistic":
                out = logits_on_grid(D, pair_x)
                exact = value_on_grid(game, out, pair_log_p_data, pair_log_p_g, pair_x)
            else:
                exact = value_on_grid(game, logits_on_grid(D, x), log_p_data, log_p_g, x)
            mc, se = heldout_value(
                game, D, p_data, p_g, heldout, torch.Generator().manual_seed(1000 + seed)
            )
            trained[game].append({"seed": seed, "exact": exact.item(), "mc": mc, "se": se})
            if seed == seeds[0]:
                out = logits_on_grid(D, x)
                if game in ("wasserstein", "relativistic"):
                    out = centred(out, log_p_data, log_p_g)
                d_trained[game] = out
    return Objectives(
        **forms, steps=steps, seeds=seeds, heldout=heldout, trained=trained, d_trained=d_trained
    )


LABELS = {
    "cross_entropy": "cross-entropy (2014): logit log r",
    "least_squares": "least squares: (p_data - p_g) / (p_data + p_g)",
    "wasserstein": "Wasserstein: int sign(F_g - F_data)",
    "hinge": "hinge: sign(p_data - p_g)",
    "relativistic": "relativistic pairing: log r + const",
    "f_kl": "f-GAN KL: 1 + log r",
    "f_reverse_kl": "f-GAN reverse KL: log r",
    "f_pearson": "f-GAN Pearson: 2 (r - 1)",
    "f_hellinger": "f-GAN Hellinger: log(r) / 2",
    "f_js": "f-GAN JS: log r",
}


def plot_objectives(r: Objectives, out: Path) -> list[str]:
    """D* and the trained D per game over the densities, and each optimum as a divergence beside
    the trained Ds'; returns the file names."""
    out = Path(out)
    x = r.x.numpy()
    shown = (x >= -5) & (x <= 6)
    plt = pyplot()
    fig, axes = plt.subplots(2, 5, figsize=(20, 7.5), sharex=True)
    p_data, p_g = r.log_p_data.exp().numpy(), r.log_p_g.exp().numpy()
    for ax, game in zip(axes.flat, GAMES, strict=True):
        density = ax.twinx()
        density.fill_between(x[shown], p_data[shown], color="0.85", zorder=0)
        density.plot(x[shown], p_g[shown], color="tab:green", lw=1, alpha=0.6)
        density.set_yticks([])
        density.set_ylim(0, 1.6 * max(p_data.max(), p_g.max()))
        ax.set_zorder(density.get_zorder() + 1)
        ax.patch.set_visible(False)
        star, learned = r.d_star[game].numpy(), r.d_trained[game].numpy()
        ax.plot(x[shown], star[shown], color="k", lw=2.5, alpha=0.6, label="D* (closed form)")
        ax.plot(x[shown], learned[shown], "b--", lw=1.5, label=f"D trained ({r.steps} steps)")
        # The y range of D* where the densities have mass: far out, log r runs off to -inf.
        bulk = shown & ((p_data + p_g) / 2 > 1e-3)
        lo, hi = star[bulk].min(), star[bulk].max()
        pad = 0.15 * (hi - lo) + 1e-3
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(LABELS[game], fontsize=9)
        ax.set_xlim(-5, 6)
    for ax in axes[1]:
        ax.set_xlabel("x")
    for ax in axes[:, 0]:
        ax.set_ylabel("D's raw output")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    fig.suptitle(
        "Each objective's optimal D for a fixed G (raw output; grey: p_data, green: p_g), and an "
        "MLP trained on samples with that objective's d_loss",
        fontsize=11,
    )
    save_figure(fig, out / FIGURES[0])

    fig, ax = plt.subplots(figsize=(14, 5.5))
    games = list(GAMES)
    pos = torch.arange(len(games), dtype=torch.float64).numpy()
    width = 0.27
    divergence = [r.divergence[g] for g in games]
    at_star = [GAMES[g].divergence_of(r.optimum[g]) for g in games]
    mc = [GAMES[g].divergence_of(r.trained[g][0]["mc"]) for g in games]
    se = [3 * r.trained[g][0]["se"] / GAMES[g].scale for g in games]
    ax.bar(pos - width, divergence, width, color="0.5", label="divergence, computed independently")
    ax.bar(pos, at_star, width, color="tab:orange", label="from -L_D(D*) by quadrature")
    ax.bar(
        pos + width, mc, width, yerr=se, capsize=3, color="tab:blue",
        label=f"from -L_D of the trained D, {r.heldout:,} held-out samples (+-3 SE)",
    )  # fmt: skip
    ax.set_xticks(pos)
    ax.set_xticklabels(
        [f"{g}\n{GAMES[g].divergence}" for g in games], fontsize=7, rotation=20, ha="right"
    )
    ax.set_ylabel("divergence")
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3)
    fig.suptitle(
        "max_D -L_D = scale * divergence + offset: each game's optimum read back as its divergence",
        fontsize=10,
    )
    save_figure(fig, out / FIGURES[1])
    return list(FIGURES)


def describe_objectives(r: Objectives) -> Description:
    """The item's title, equation, claim and numbers."""
    gap, agrees = r.gap, r.agrees
    return Description(
        name="objectives",
        title="Each objective's optimal D, and the divergence G then minimises",
        equation=(
            "max_D -L_D:  2014: -log 4 + 2 JSD;  least squares (a, b, c = -1, 1, 0): "
            "chi^2(p_data + p_g || 2 p_g) / 2 - 1;  f-GAN: D_f(p_data || p_g);  "
            "Wasserstein (1-Lipschitz): W1;  hinge: 2 TV - 2;  relativistic pairing: "
            "JSD(p_data x p_g || p_g x p_data) - log 2"
        ),
        claim=(
            "For a fixed G, each objective's D has a closed-form optimum (D* = log r for the "
            "2014 logit, (p_data - p_g)/(p_data + p_g) for least squares, g_f^-1(f'(r)) for the "
            "f-GANs, sign(p_data - p_g) for hinge, the antiderivative of sign(F_g - F_data) for "
            "Wasserstein, and log r + const for relativistic pairing, the 2014 game on pairs), "
            "and -L_D there equals its divergence to float64 quadrature (max error "
            f"{max(r.identity_error.values()):.1e}, second order at the kinks of hinge and "
            "Wasserstein, < 1e-15 elsewhere). MLPs trained with each d_loss reach it within "
            f"{max(gap.values()):.1e} (largest: {max(gap, key=gap.get)}); "
            f"{sum(agrees.values())} of {len(agrees)} agree within 3 SE + the stated gap bound."
        ),
        numbers={
            "divergence": {g: rounded(v, 8) for g, v in r.divergence.items()},
            "optimum_value": {g: rounded(v, 8) for g, v in r.optimum.items()},
            "identity_error": {g: rounded(v, 2) for g, v in r.identity_error.items()},
            "relativistic_newton_value": r.newton_value,
            "relativistic_newton_steps": r.newton_steps,
            "relativistic_newton_max_error_bulk": r.newton_error,
            "least_squares_g_criterion": r.least_squares_g,
            "generator_2014": {k: rounded(v, 8) for k, v in r.generator_2014.items()},
            "minimises": {name: objective(name).minimises for name in OBJECTIVE_NAMES},
            "trained_value_exact": {
                g: [rounded(row["exact"], 5) for row in rows] for g, rows in r.trained.items()
            },
            "trained_value_heldout": {
                g: [rounded(row["mc"], 5) for row in rows] for g, rows in r.trained.items()
            },
            "trained_value_se": {
                g: [rounded(row["se"], 2) for row in rows] for g, rows in r.trained.items()
            },
            "trained_gap": {g: rounded(v, 3) for g, v in gap.items()},
            "trained_gap_bound": TRAINED_GAP_BOUND,
            "trained_agrees": agrees,
            "d_steps": r.steps,
            "seeds": list(r.seeds),
            "heldout_samples": r.heldout,
        },
    )


def run_objectives(out: Path, quick: bool = False) -> dict:
    """Each objective's D*, its value against the divergence, and trained Ds beside them."""
    result = compute_objectives(quick)
    figures = plot_objectives(result, out)
    return describe_objectives(result).item_result(figures)


__all__ = [
    "FIGURES",
    "LABELS",
    "Objectives",
    "TRAINED_GAP_BOUND",
    "closed_forms",
    "compute_objectives",
    "describe_objectives",
    "plot_objectives",
    "run_objectives",
]
