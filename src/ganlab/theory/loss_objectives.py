"""Item 5: what each generator loss minimises against D*, and one Gaussian fitted to two modes.

With D = D*_G held fixed while differentiating, the G losses of ganlab.game.losses descend

    maximum likelihood:  KL(p_data || p_g)
    minimax:             2 JSD(p_data || p_g)
    non-saturating:      KL(p_g || p_data) - 2 JSD(p_data || p_g)

generator_cost is a G loss in exact expectation over p_g = N(mu, s^2) (quadrature over the
noise), descend_generator is Algorithm 1 with an exact inner loop on (mu, s).
compute_loss_objectives descends each loss on a two-mode p_data and checks the gradient
identities; plot draws the fits, the objectives' landscapes and the gradients; describe says
what they show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ganlab.data.toy import mixture_1d
from ganlab.game.divergences import (
    js_divergence,
    kl_divergence,
    normal_log_pdf,
    quadrature_grid,
)
from ganlab.game.losses import G_LOSSES, GLoss
from ganlab.report.figures import pyplot, save_figure
from ganlab.theory.description import Description, rounded
from ganlab.theory.learned_discriminator import LogDensity, log_density
from ganlab.theory.snapshots import one_thread

# Noise grid for expectations over p_g = N(mu, s^2) written as E_{z~N(0,1)}[f(mu + s z)]: the
# standard normal has mass ~4e-33 beyond |z| = 12, and a spacing of 0.01 in z is a spacing of
# 0.01 s in x: for s <= 5, >= 10 points per std of the narrowest density here (0.5), where the
# trapezoid rule is exact to float64 rounding (see ganlab.game.divergences).
Z_GRID = quadrature_grid(-12.0, 12.0, 2401)

# Two modes 8 of their stds apart: where does each G loss put one Gaussian?
LOSS_P_DATA = mixture_1d([-2.0, 2.0], std=0.5)
LOSS_START = (0.5, 1.0)  # (mu, s) of p_g = N(mu, s^2) before descent, the same for every loss
LOSS_START_NEAR_MODE = (1.5, 0.7)  # a second start, narrow and near the mode at 2
# From forward KL (mass-covering) to reverse KL (mode-seeking), the order of the figures.
LOSS_ORDER = ("maximum_likelihood", "minimax", "nonsaturating")
LABELS = {
    "maximum_likelihood": "maximum likelihood: KL(p_data || p_g)",
    "minimax": "minimax: 2 JSD(p_data || p_g)",
    "nonsaturating": "non-saturating: KL(p_g || p_data) - 2 JSD",
}
COLORS = {"maximum_likelihood": "tab:blue", "minimax": "tab:orange", "nonsaturating": "tab:red"}
FIGURES = ["loss_objectives.png", "loss_objectives_gradients.png"]


def generator_cost(
    g_loss: GLoss, log_p_data: LogDensity, mu: Tensor, s: Tensor, z: Tensor = Z_GRID
) -> Tensor:
    """A G loss of ganlab.game.losses in expectation over p_g = N(mu, s^2), against D = D*_G fixed.

        L(mu, s) = E_{z~N(0,1)}[l(a*(mu + s z))],  a*(x) = log p_data(x) - log p_g(x; mu0, s0)

    where l is the loss's per-sample term and (mu0, s0) = (mu, s) is the generator D* was
    computed for, held fixed: as in Algorithm 1's G step, the discriminator is a fixed
    function and the gradient flows only through the samples x = mu + s z. The expectation is
    the trapezoid rule over the noise grid z (exact to rounding, see Z_GRID), not a minibatch.
    The maximum-likelihood term -exp(a*) = -p_data / p_g makes the integrand s p_data(x): the
    grid's reach [mu - 12 s, mu + 12 s] must then hold p_data's mass.

    Args:
        g_loss: a G loss of ganlab.game.losses (a minibatch mean of one per-sample term).
        log_p_data: x (n,) -> log p_data(x) (n,).
        mu, s: scalar float64 tensors, s > 0; gradients flow to those that require them.
        z: (n,) uniform grid for the noise.
    Returns:
        A scalar tensor.
    """
    x = mu + s * z  # (n,) points of p_g by reparameterisation
    d_star_logits = log_p_data(x) - normal_log_pdf(x, mu.detach(), s.detach())  # (n,)
    # The library's losses are minibatch means of one per-sample term; a minibatch of one
    # point recovers the term, so the quadrature below checks the library's own formulas.
    per_sample = torch.vmap(lambda a: g_loss(a.unsqueeze(0)))(d_star_logits)  # (n,)
    return torch.trapezoid(normal_log_pdf(z, 0.0, 1.0).exp() * per_sample, z)


def cost_gradient(cost: Callable[[Tensor, Tensor], Tensor], mu: float, s: float) -> Tensor:
    """(d cost / d mu, d cost / d s) at (mu, s), by autograd; cost(mu, s) -> scalar."""
    theta = torch.tensor([mu, s], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(cost(theta[0], theta[1]), theta)
    return grad


@one_thread()
def descend_generator(
    g_loss: GLoss,
    log_p_data: LogDensity,
    start: tuple[float, float] = LOSS_START,
    steps: int = 400,
    lr: float = 0.1,
) -> Tensor:
    """Gradient descent on p_g = N(mu, s^2) for one G loss, D = D* recomputed at every step.

        theta <- theta - lr * grad_theta generator_cost(g_loss, theta),  theta = (mu, s)

    This is Algorithm 1 with an exact inner loop (k -> infinity: D reaches D* before each G
    step) and exact expectations instead of minibatches.

    Returns:
        (steps + 1, 2) float64 trajectory of (mu, s), the start included.
    """
    theta = torch.tensor(start, dtype=torch.float64)
    path = [theta.clone()]
    for _ in range(steps):
        grad = cost_gradient(
            lambda mu, s: generator_cost(g_loss, log_p_data, mu, s), *theta.tolist()
        )
        theta = theta - lr * grad
        path.append(theta.clone())
    return torch.stack(path)


def generator_objectives(log_p_data: Tensor, log_p_g: Tensor, x: Tensor) -> dict[str, Tensor]:
    """What each G loss descends with D = D*, by loss name:

        maximum_likelihood:  KL(p_data || p_g)
        minimax:             2 JSD(p_data || p_g)               (C(G) + log 4, Theorem 1)
        nonsaturating:       KL(p_g || p_data) - 2 JSD(p_data || p_g)

    Equal as gradients, with D* held fixed while differentiating (tests/test_theory_game.py):
    the maximum-likelihood cost is Goodfellow (2014), "On distinguishability criteria"; the
    non-saturating loss is the paper's section 3 and its objective Arjovsky & Bottou (2017),
    Theorem 2.5. log_p_g may have leading batch dimensions (..., n).
    """
    jsd = js_divergence(log_p_data, log_p_g, x)
    return {
        "maximum_likelihood": kl_divergence(log_p_data, log_p_g, x),
        "minimax": 2.0 * jsd,
        "nonsaturating": kl_divergence(log_p_g, log_p_data, x) - 2.0 * jsd,
    }


@dataclass(frozen=True)
class LossObjectives:
    """Each G loss descended on one Gaussian against D*, its objective, and the gradient identity.

    Attributes:
        steps: gradient steps of each descent.
        x: (n,) grid on [-14, 14]; log_p_data: (n,) log p_data on it.
        paths, paths_near_mode: {loss: (steps + 1, 2) trajectory of (mu, s)} from LOSS_START
            and from LOSS_START_NEAR_MODE.
        mu_axis: (a,), s_axis: (b,); planes: {loss: (b, a) its objective on the (mu, s) plane}.
        grad_mus: (c,) means at which the gradients are compared, with s = grad_s.
        loss_grads, objective_grads: {loss: (c, 2) d/d(mu, s) of the G loss with D* fixed, and
            of its objective}.
        gradient_error: the largest |difference| between the two.
        final_forward_kl, final_reverse_kl, final_jsd: {loss: KL(p_data || p_g),
            KL(p_g || p_data), JSD at the end of the descent from LOSS_START}.
    """

    steps: int
    x: Tensor
    log_p_data: Tensor
    paths: dict[str, Tensor]
    paths_near_mode: dict[str, Tensor]
    mu_axis: Tensor
    s_axis: Tensor
    planes: dict[str, Tensor]
    grad_mus: np.ndarray
    grad_s: float
    loss_grads: dict[str, Tensor]
    objective_grads: dict[str, Tensor]
    gradient_error: float
    final_forward_kl: dict[str, float]
    final_reverse_kl: dict[str, float]
    final_jsd: dict[str, float]

    @property
    def final(self) -> dict[str, tuple[float, float]]:
        """{loss: (mu, s)} at the end of the descent from LOSS_START."""
        return {name: tuple(path[-1].tolist()) for name, path in self.paths.items()}


@one_thread()
def compute_loss_objectives(quick: bool = False) -> LossObjectives:
    """Descend each G loss from two starts (200 steps when quick, else 400), tabulate the
    objectives on a (mu, s) plane and compare loss and objective gradients along mu."""
    steps = 200 if quick else 400
    log_p_data_fn = log_density(LOSS_P_DATA)
    x = quadrature_grid(-14.0, 14.0, 2801)
    log_p_data = log_p_data_fn(x)
    paths = {
        name: descend_generator(G_LOSSES[name], log_p_data_fn, steps=steps) for name in LOSS_ORDER
    }
    paths_near_mode = {
        name: descend_generator(G_LOSSES[name], log_p_data_fn, LOSS_START_NEAR_MODE, steps)
        for name in LOSS_ORDER
    }

    # The objectives on a (mu, s) plane, row by row to keep memory small.
    mu_axis = torch.linspace(-3.5, 3.5, 36 if quick else 57, dtype=torch.float64)
    s_axis = torch.linspace(0.3, 3.0, 28 if quick else 46, dtype=torch.float64)
    planes = {name: torch.empty(len(s_axis), len(mu_axis)) for name in LOSS_ORDER}
    for i, s in enumerate(s_axis):
        log_p_g = normal_log_pdf(x[None, :], mu_axis[:, None], s)  # (len(mu_axis), n)
        for name, values in generator_objectives(log_p_data, log_p_g, x).items():
            planes[name][i] = values

    # The identities behind the panels: loss gradients (D* fixed) vs divergence gradients.
    grad_mus = np.linspace(-3.0, 3.0, 13 if quick else 25)
    grad_s = 1.0
    loss_grads = {name: [] for name in LOSS_ORDER}
    objective_grads = {name: [] for name in LOSS_ORDER}
    for mu in grad_mus:
        for name in LOSS_ORDER:
            g_loss = G_LOSSES[name]
            loss_grads[name].append(
                cost_gradient(
                    lambda m, s, g_loss=g_loss: generator_cost(g_loss, log_p_data_fn, m, s),
                    mu,
                    grad_s,
                )
            )
            objective_grads[name].append(
                cost_gradient(
                    lambda m, s, name=name: generator_objectives(
                        log_p_data, normal_log_pdf(x, m, s), x
                    )[name],
                    mu,
                    grad_s,
                )
            )
    gradient_error = max(
        (a - b).abs().max().item()
        for name in LOSS_ORDER
        for a, b in zip(loss_grads[name], objective_grads[name], strict=True)
    )
    log_p_g_end = {n: normal_log_pdf(x, *paths[n][-1].tolist()) for n in LOSS_ORDER}
    return LossObjectives(
        steps=steps,
        x=x,
        log_p_data=log_p_data,
        paths=paths,
        paths_near_mode=paths_near_mode,
        mu_axis=mu_axis,
        s_axis=s_axis,
        planes=planes,
        grad_mus=grad_mus,
        grad_s=grad_s,
        loss_grads={n: torch.stack(g) for n, g in loss_grads.items()},
        objective_grads={n: torch.stack(g) for n, g in objective_grads.items()},
        gradient_error=gradient_error,
        final_forward_kl={
            n: kl_divergence(log_p_data, log_p_g_end[n], x).item() for n in LOSS_ORDER
        },
        final_reverse_kl={
            n: kl_divergence(log_p_g_end[n], log_p_data, x).item() for n in LOSS_ORDER
        },
        final_jsd={n: js_divergence(log_p_data, log_p_g_end[n], x).item() for n in LOSS_ORDER},
    )


def plot_loss_objectives(r: LossObjectives, out: Path) -> list[str]:
    """The fits over p_data with each objective's landscape and paths, and the gradient
    identities; returns the file names."""
    out = Path(out)
    x, final = r.x, r.final
    plt = pyplot()
    fig = plt.figure(figsize=(16, 8.5))
    grid_spec = fig.add_gridspec(2, 3, height_ratios=[1, 1.1], hspace=0.35)
    ax = fig.add_subplot(grid_spec[0, :])
    ax.fill_between(x, r.log_p_data.exp(), color="0.8", label="p_data: N(-2, 0.5^2) + N(2, 0.5^2)")
    ax.plot(x, normal_log_pdf(x, *LOSS_START).exp(), "k:", label="p_g at the start, N(0.5, 1)")
    for name in r.paths:
        mu, s = final[name]
        ax.plot(
            x,
            normal_log_pdf(x, mu, s).exp(),
            "--" if name == "minimax" else "-",  # it lies on the maximum-likelihood curve
            color=COLORS[name],
            lw=2,
            label=f"{LABELS[name]}  ->  N({mu:.2f}, {s:.2f}^2)",
        )
    ax.set_xlim(-6, 6)
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(
        f"One Gaussian G after {r.steps} gradient steps on each G loss from N(0.5, 1), D = D* at "
        "every step: "
        "maximum likelihood and minimax spread over both modes, non-saturating picks one",
        fontsize=10,
    )
    mu_grid, s_grid = np.meshgrid(r.mu_axis.numpy(), r.s_axis.numpy())
    for j, name in enumerate(LOSS_ORDER):
        ax = fig.add_subplot(grid_spec[1, j])
        values = r.planes[name].numpy()
        # Levels at quantiles, denser near the minimum, so both basins and slopes show.
        levels = np.unique(np.quantile(values, np.linspace(0, 1, 16) ** 2))
        ax.contourf(mu_grid, s_grid, values, levels=levels, cmap="viridis_r")
        ax.contour(mu_grid, s_grid, values, levels=levels, colors="k", linewidths=0.3)
        for trajectory, start, style in (
            (r.paths[name], LOSS_START, "-"),
            (r.paths_near_mode[name], LOSS_START_NEAR_MODE, "--"),
        ):
            path = trajectory.numpy()
            ax.plot(path[:, 0], path[:, 1], color="w", lw=2.5)
            ax.plot(path[:, 0], path[:, 1], style, color=COLORS[name], lw=1.5)
            ax.plot(*start, "wo", mec="k", ms=6)
            ax.plot(*path[-1], "*", color=COLORS[name], mec="k", ms=14)
        ax.plot([], [], "wo", mec="k", ms=6, label="starts (0.5, 1) and (1.5, 0.7)")
        ax.plot([], [], "*", color=COLORS[name], mec="k", ms=12, label="ends")
        ax.set_xlim(r.mu_axis[0].item(), r.mu_axis[-1].item())
        ax.set_ylim(r.s_axis[0].item(), r.s_axis[-1].item())
        ax.set_xlabel("mu")
        ax.set_ylabel("s")
        ax.set_title(f"{LABELS[name]}   (light = low)", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    save_figure(fig, out / FIGURES[0])

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.3))
    for ax, name in zip(axes, LOSS_ORDER, strict=True):
        lg, og = r.loss_grads[name].numpy(), r.objective_grads[name].numpy()
        for k, (param, style) in enumerate((("mu", "-"), ("s", "--"))):
            ax.plot(r.grad_mus, og[:, k], style, color=COLORS[name], label=f"d/d{param} objective")
            ax.plot(r.grad_mus, lg[:, k], "ko" if k == 0 else "ks", ms=4, mfc="none")
        ax.plot([], [], "ko", mfc="none", ms=4, label="d/dmu of the G loss, D* fixed")
        ax.plot([], [], "ks", mfc="none", ms=4, label="d/ds of the G loss, D* fixed")
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_xlabel(f"mu   (p_g = N(mu, {r.grad_s:g}^2))")
        ax.set_ylabel("gradient")
        ax.set_title(LABELS[name], fontsize=9)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(
        "Each G loss with D = D* has the gradient of its divergence "
        f"(max difference {r.gradient_error:.1e})",
        fontsize=11,
    )
    save_figure(fig, out / FIGURES[1])
    return list(FIGURES)


def describe_loss_objectives(r: LossObjectives) -> Description:
    """Item 5's title, equation, claim and numbers."""
    final = r.final
    return Description(
        name="loss_objectives",
        title="What each generator loss minimises",
        equation=(
            "with D = D* held fixed:  grad E_pg[-exp(sigma^-1(D*))] = grad KL(p_data || p_g);  "
            "grad E_pg[log(1 - D*)] = grad 2 JSD(p_data || p_g);  "
            "E_pg[-log D*] + E_pg[log(1 - D*)] = KL(p_g || p_data)"
        ),
        claim=(
            "Against the optimal D, the maximum-likelihood cost descends the forward KL, the "
            "minimax loss the JSD, and the non-saturating loss KL(p_g || p_data) - 2 JSD. "
            "Fitting one Gaussian to two modes 8 std apart, maximum likelihood covers both "
            "(it matches p_data's mean and variance, N(0, 4.25)) from any start, non-saturating "
            "settles on one mode from any start, and minimax is in between: the JSD has its "
            "global minimum covering both modes here but also a local minimum on each mode, "
            "which it reaches from a start near one (dashed paths)."
        ),
        numbers={
            "final_mu_s": {n: rounded(final[n]) for n in LOSS_ORDER},
            "final_mu_s_from_near_mode": {
                n: rounded(r.paths_near_mode[n][-1].tolist()) for n in LOSS_ORDER
            },
            "final_forward_kl": {n: rounded(r.final_forward_kl[n]) for n in LOSS_ORDER},
            "final_reverse_kl": {n: rounded(r.final_reverse_kl[n]) for n in LOSS_ORDER},
            "final_jsd": {n: rounded(r.final_jsd[n]) for n in LOSS_ORDER},
            "max_gradient_identity_error": r.gradient_error,
            "g_steps": r.steps,
        },
    )


def run_loss_objectives(out: Path, quick: bool = False) -> dict:
    """Against D*, the three G losses descend KL(p_data||p_g), 2 JSD, and
    KL(p_g||p_data) - 2 JSD; one Gaussian fitted to two modes shows the difference."""
    result = compute_loss_objectives(quick)
    figures = plot_loss_objectives(result, out)
    return describe_loss_objectives(result).item_result(figures)


__all__ = [
    "LOSS_ORDER",
    "LOSS_P_DATA",
    "LOSS_START",
    "LOSS_START_NEAR_MODE",
    "LossObjectives",
    "Z_GRID",
    "compute_loss_objectives",
    "cost_gradient",
    "describe_loss_objectives",
    "descend_generator",
    "generator_cost",
    "generator_objectives",
    "plot_loss_objectives",
    "run_loss_objectives",
]
