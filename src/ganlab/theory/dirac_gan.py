"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018): which training methods converge.

p_data = delta_0, p_g = delta_theta, D_psi(x) = psi x, L(theta, psi) = f(psi theta) + f(0).
At the equilibrium (0, 0) the gradient field's Jacobian J = [[0, -f'(0)], [f'(0), tau]] has
eigenvalues tau/2 +- sqrt(tau^2/4 - f'(0)^2): +- i f'(0) for the unregularised GAN, WGAN and
hinge losses (tau = 0), a negative real part with R1, R2 (tau = -gamma) or instance noise
(tau = 2 f''(0) sigma^2). Gradient steps w <- M w near (0, 0) shrink |w| by the spectral radius
of M per step: > 1 for simultaneous steps when tau = 0, = 1 for alternating ones, < 1 once
tau < 0. compute_dirac_gan measures all of it in float64; the math is in
ganlab.theory.dirac_gan_dynamics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganlab.report.figures import pyplot, save_figure
from ganlab.theory.description import Description
from ganlab.theory.dirac_gan_dynamics import (
    TRAINING,
    DiracSetting,
    closed_form_eigenvalues,
    closed_form_radius,
    distance,
    field_psi,
    field_theta,
    fitted_log_rate,
    iteration_matrix,
    jacobian_by_autograd,
    nonsaturating_alternating_distance,
    nonsaturating_cycle_radius,
    rate_tolerance,
    spectral_radius,
)

FIGURES = ["dirac_gan_trajectories.png", "dirac_gan_eigenvalues.png"]
MODES = ("simultaneous", "alternating")
H = 0.1  # step size h of both players
STEPS = 400
START = (1.0, 1.0)
# Near (0, 0) the field is linear up to O(|w|^3), so runs from here measure the iteration
# matrix's spectral radius whether it is above, at or below 1.
LOCAL_START = (1e-4, 1e-4)
CONVERGED = 1e-3  # a run from START converges when it ends this close to (0, 0)
RATE_WINDOW = 200  # the last steps of a converging run from START whose decay is fitted

SETTINGS = (
    DiracSetting("gan", "GAN, minimax", "minimax"),
    DiracSetting("gan_ns", "GAN, non-saturating", "nonsaturating"),
    DiracSetting("wgan", "WGAN, ψ unconstrained", "wasserstein"),
    DiracSetting("wgan_clip", "WGAN, n_d = 5, |ψ| ≤ 0.5", "wasserstein", d_steps=5, clip=0.5),
    DiracSetting("hinge", "hinge", "hinge"),
    DiracSetting("r1", "GAN + R1, γ = 0.6", "minimax", r1=0.6),
    DiracSetting("r2", "GAN + R2, γ = 0.6", "minimax", r2=0.6),
    DiracSetting("noise", "GAN + instance noise, σ = 1", "minimax", sigma=1.0),
)
# Mescheder et al. (2018), sections 2-3: which settings converge to (0, 0), both kinds of steps.
PAPER_CONVERGES = {"gan": False, "gan_ns": False, "wgan": False, "wgan_clip": False,
                   "hinge": False, "r1": True, "r2": True, "noise": True}  # fmt: skip


@dataclass(frozen=True)
class DiracRun:
    """One setting: its Jacobian at (0, 0), and per mode (MODES) its runs and rates.

    Attributes:
        jacobian: (2, 2) dv/dw at (0, 0) by autograd through ganlab.game's losses.
        eigenvalues, eigenvalues_theory: (2,) complex, of `jacobian` and in closed form, each
            sorted by np.sort_complex.
        radius, radius_theory: spectral radius of the iteration matrix built from `jacobian`,
            and closed_form_radius.
        trajectories: (STEPS + 1, 2) runs from START.
        local_distances: (STEPS + 1,) |w_k| of runs from LOCAL_START.
        log_rate_local, tolerance_local: fitted_log_rate of local_distances and its bound.
        log_rate_last, tolerance_last: the same over the last RATE_WINDOW steps of a run from
            START, None where that run does not converge (its last steps are far from linear).
    """

    setting: DiracSetting
    jacobian: np.ndarray
    eigenvalues: np.ndarray
    eigenvalues_theory: np.ndarray
    radius: dict[str, float]
    radius_theory: dict[str, float]
    trajectories: dict[str, np.ndarray]
    local_distances: dict[str, np.ndarray]
    log_rate_local: dict[str, float]
    tolerance_local: dict[str, float]
    log_rate_last: dict[str, float | None]
    tolerance_last: dict[str, float | None]

    @property
    def predicted(self) -> dict[str, bool]:
        """Predicted: the spectral radius is below 1, by more than the ~1e-16 that rounding
        moves a radius of exactly 1 (alternating steps' det M = 1) either way."""
        return {m: self.radius[m] < 1 - 1e-9 for m in self.radius}

    @property
    def converges(self) -> dict[str, bool]:
        """Measured: the run from START ends within CONVERGED of (0, 0)."""
        return {m: bool(distance(t)[-1] < CONVERGED) for m, t in self.trajectories.items()}


@dataclass(frozen=True)
class DiracGAN:
    """The item's runs, and the non-saturating GAN's long runs (nonsaturating_* laws).

    Attributes:
        runs: {setting name: DiracRun}, in SETTINGS order.
        long_steps: steps of the long non-saturating runs from START.
        ns_long_distances: {mode: (long_steps + 1,) |w_k|}.
    """

    runs: dict[str, DiracRun]
    long_steps: int
    ns_long_distances: dict[str, np.ndarray]

    @property
    def converges(self) -> dict[str, dict[str, bool]]:
        return {name: run.converges for name, run in self.runs.items()}


def _rate(distances: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    return fitted_log_rate(distances), rate_tolerance(m, len(distances), H, distances.max())


def dirac_run(s: DiracSetting) -> DiracRun:
    """Every measurement of one setting (see DiracRun)."""
    jac = jacobian_by_autograd(s)
    mats = {m: iteration_matrix(jac, H, m, s.d_steps) for m in MODES}
    runs = {m: TRAINING[m](s, H, STEPS, START) for m in MODES}
    local = {m: distance(TRAINING[m](s, H, STEPS, LOCAL_START)) for m in MODES}
    rate_local = {m: _rate(local[m], mats[m]) for m in MODES}
    rate_last = {}
    for m in MODES:
        d = distance(runs[m])
        rate_last[m] = _rate(d[-RATE_WINDOW - 1 :], mats[m]) if d[-1] < CONVERGED else None
    return DiracRun(
        setting=s,
        jacobian=jac,
        eigenvalues=np.sort_complex(np.linalg.eigvals(jac)),
        eigenvalues_theory=np.sort_complex(np.array(closed_form_eigenvalues(s))),
        radius={m: spectral_radius(mats[m]) for m in MODES},
        radius_theory={m: closed_form_radius(s, H, m) for m in MODES},
        trajectories=runs,
        local_distances=local,
        log_rate_local={m: rate_local[m][0] for m in MODES},
        tolerance_local={m: rate_local[m][1] for m in MODES},
        log_rate_last={m: None if rate_last[m] is None else rate_last[m][0] for m in MODES},
        tolerance_last={m: None if rate_last[m] is None else rate_last[m][1] for m in MODES},
    )


def compute_dirac_gan(quick: bool = False) -> DiracGAN:
    """Each of SETTINGS with h = 0.1 for 400 steps from (1, 1) and from 1e-4 (1, 1), and the
    non-saturating GAN for 4,000 steps when quick, else 40,000 (float64, well under a second)."""
    long_steps = 4_000 if quick else 40_000
    ns = SETTINGS[1]
    return DiracGAN(
        runs={s.name: dirac_run(s) for s in SETTINGS},
        long_steps=long_steps,
        ns_long_distances={m: distance(TRAINING[m](ns, H, long_steps, START)) for m in MODES},
    )


def _pair(z: complex) -> list[float]:
    return [float(z.real), float(z.imag)]


def describe_dirac_gan(r: DiracGAN) -> Description:
    """The item's title, equation, claim, and numbers: the convergence table first."""
    settings = {}
    for name, run in r.runs.items():
        modes = {}
        for m in MODES:
            modes[m] = {
                "spectral_radius": run.radius[m],
                "spectral_radius_theory": run.radius_theory[m],
                "log_radius": float(np.log(run.radius[m])),
                "log_rate_local": run.log_rate_local[m],
                "tolerance_local": run.tolerance_local[m],
                "log_rate_last_steps": run.log_rate_last[m],
                "tolerance_last_steps": run.tolerance_last[m],
                "final_distance": float(distance(run.trajectories[m])[-1]),
                "converges": run.converges[m],
                "converges_predicted": run.predicted[m],
            }
        settings[name] = {
            "label": run.setting.label,
            "eigenvalues_theory": [_pair(z) for z in run.eigenvalues_theory],
            "eigenvalues_autograd_max_error": float(
                np.max(np.abs(run.eigenvalues - run.eigenvalues_theory))
            ),
            **modes,
        }
    ns = r.ns_long_distances
    k = np.arange(r.long_steps + 1)
    r0 = float(np.hypot(*START))
    numbers = {
        "converges": r.converges,
        "h": H,
        "steps": STEPS,
        "start": list(START),
        "local_start": list(LOCAL_START),
        "converged_below": CONVERGED,
        "settings": settings,
        "nonsaturating_long": {
            "long_steps": r.long_steps,
            "simultaneous_last_mean_distance": float(ns["simultaneous"][-RATE_WINDOW:].mean()),
            "simultaneous_cycle_radius_theory": nonsaturating_cycle_radius(H),
            "alternating_final_distance": float(ns["alternating"][-1]),
            "alternating_final_distance_theory": float(
                nonsaturating_alternating_distance(r0, H, k[-1])
            ),
        },
    }
    rows = r.runs
    return Description(
        name="dirac_gan",
        title="The Dirac-GAN: unregularised GANs circle the equilibrium; R1, R2 and instance "
        "noise make it attract",
        equation=(
            "p_data = δ_0, p_g = δ_θ, D_ψ(x) = ψ x, L(θ, ψ) = f(ψθ) + f(0)\n"
            "v(θ, ψ) = (-ψ f'(ψθ), θ f'(ψθ)),  J(0, 0) = [[0, -f'(0)], [f'(0), τ]]\n"
            "λ = τ/2 ± sqrt(τ²/4 - f'(0)²):  τ = 0 (GAN, WGAN), -γ (R1, R2), 2 f''(0) σ² (noise)\n"
            "simultaneous: ρ(I + hJ) = max |1 + hλ|;  alternating: ρ = |1 + hτ|^(n_d/2)"
        ),
        claim=(
            f"With h = {H}, the unregularised GAN's eigenvalues are ±i/2 and WGAN's ±i: "
            f"simultaneous steps grow |w| by {rows['gan'].radius['simultaneous']:.6f} and "
            f"{rows['wgan'].radius['simultaneous']:.6f} per step, alternating ones (also WGAN "
            "with 5 clipped critic steps) keep it; none converges from (1, 1) in "
            f"{STEPS} steps. R1 and R2 (γ = 0.6, the same field here) and instance noise "
            "(σ = 1) move the eigenvalues to Re λ < 0 and both kinds of steps converge, at the "
            "spectral radius's rate: e.g. R1 simultaneous measured "
            f"{rows['r1'].log_rate_local['simultaneous']:.5f} vs log ρ = "
            f"{np.log(rows['r1'].radius['simultaneous']):.5f} per step. The non-saturating "
            "GAN drifts in without a rate: onto a cycle of radius sqrt(2h) (simultaneous), or "
            "as (r0⁻² + hk/8)^(-1/2) (alternating)."
        ),
        numbers=numbers,
    )


def run_dirac_gan(out: Path, quick: bool = False) -> dict:
    """The Dirac-GAN item: trajectories, eigenvalues and rates of each setting of SETTINGS."""
    result = compute_dirac_gan(quick)
    figures = plot_dirac_gan(result, out)
    return describe_dirac_gan(result).item_result(figures)


def plot_dirac_gan(r: DiracGAN, out: Path) -> list[str]:
    """Trajectories in the (theta, psi) plane per setting; eigenvalues, |mu| and rates."""
    plt = pyplot()
    colours = {"simultaneous": "tab:red", "alternating": "tab:blue"}
    fig, axes = plt.subplots(3, 3, figsize=(15, 15), layout="constrained")
    for ax, run in zip(axes.ravel(), r.runs.values(), strict=False):
        s = run.setting
        span = 1.1 * max(np.abs(t).max() for t in run.trajectories.values())
        grid = np.linspace(-span, span, 21)
        field = np.array([[(field_theta(s, a, b), field_psi(s, a, b)) for a in grid] for b in grid])
        ax.streamplot(grid, grid, field[..., 0], field[..., 1], color="0.8", density=0.8)
        for m, t in run.trajectories.items():
            d = distance(t)[-1]
            ax.plot(t[:, 0], t[:, 1], "-", color=colours[m], lw=1, alpha=0.85,
                    label=f"{m}: ρ = {run.radius[m]:.4f}, |w| → {d:.2g}")  # fmt: skip
        ax.plot(*START, "o", color="k", mfc="white", ms=8)
        ax.plot(0, 0, "*", color="gold", mec="k", ms=16)
        lam = run.eigenvalues_theory[-1]
        ax.set_title(f"{s.label}\nλ = {lam.real:.3g} ± {abs(lam.imag):.3g}i")
        ax.set_xlim(-span, span)
        ax.set_ylim(-span, span)
        ax.set_aspect("equal")
        ax.set_xlabel("θ (generator)")
        ax.set_ylabel("ψ (discriminator)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=8.5)
    ax = axes.ravel()[-1]
    ns, k = r.ns_long_distances, np.arange(r.long_steps + 1)
    for m, d in ns.items():
        ax.loglog(k[1:], d[1:], color=colours[m], lw=2, label=f"non-saturating, {m}")
    r0 = float(np.hypot(*START))
    ax.loglog(k[1:], nonsaturating_alternating_distance(r0, H, k[1:]), "k--", lw=1.2,
              label="(r0⁻² + hk/8)^(-1/2)")  # fmt: skip
    ax.axhline(nonsaturating_cycle_radius(H), color="k", ls=":", lw=1.2, label="sqrt(2h)")
    ax.set_xlabel("step k")
    ax.set_ylabel("|(θ, ψ)|")
    ax.set_title("Non-saturating GAN: no rate, a cycle (sim.) or a slow drift (alt.)")
    ax.legend(fontsize=8.5)
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, Path(out) / FIGURES[0])
    _plot_eigenvalues(r, Path(out) / FIGURES[1])
    return list(FIGURES)


def _plot_eigenvalues(r: DiracGAN, path: Path) -> None:
    """lambda of J; mu of the iteration matrices on the unit circle; local |w_k| against rho^k."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(18, 6), layout="constrained")
    markers = dict(zip(r.runs, "ovs^Dphx", strict=True))
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 721))
    for name, run in r.runs.items():
        lam = run.eigenvalues
        axes[0].plot(lam.real, lam.imag, markers[name], ms=9, mfc="none", label=run.setting.label)
        for m, colour in (("simultaneous", "tab:red"), ("alternating", "tab:blue")):
            mats = iteration_matrix(run.jacobian, H, m, run.setting.d_steps)
            mu = np.linalg.eigvals(mats)
            axes[1].plot(mu.real, mu.imag, markers[name], color=colour, ms=8, mfc="none")
            d = run.local_distances[m]
            axes[2].semilogy(d / d[0], color=colour, lw=1, alpha=0.7)
            axes[2].semilogy(run.radius[m] ** np.arange(len(d)), "k:", lw=0.8)
    axes[0].axvline(0, color="0.5", lw=1)
    axes[0].set_title("Eigenvalues λ of J at (0, 0) (autograd)\nRe λ = 0: no convergence")
    axes[0].set_xlabel("Re λ")
    axes[0].set_ylabel("Im λ")
    axes[0].legend(fontsize=8.5)
    axes[1].plot(circle.real, circle.imag, "k-", lw=1, label="|μ| = 1")
    axes[1].fill(circle.real, circle.imag, color="tab:green", alpha=0.08, label="converges")
    axes[1].plot([], [], "o", color="tab:red", mfc="none", label="simultaneous: 1 + hλ")
    axes[1].plot([], [], "o", color="tab:blue", mfc="none", label="alternating")
    axes[1].set_xlim(0.9, 1.03)
    axes[1].set_ylim(-0.12, 0.12)
    axes[1].set_title(f"Eigenvalues μ of the iteration matrix (h = {H})\n|μ| < 1 ⇔ |1 + hλ| < 1")
    axes[1].set_xlabel("Re μ")
    axes[1].set_ylabel("Im μ")
    axes[1].legend(loc="lower left", fontsize=8.5)
    axes[2].plot([], [], color="tab:red", label="simultaneous")
    axes[2].plot([], [], color="tab:blue", label="alternating")
    axes[2].plot([], [], "k:", label="ρ^k of the iteration matrix")
    axes[2].legend(fontsize=8.5)
    axes[2].set_title(f"Runs from {LOCAL_START[0]:g}·(1, 1): |w_k|/|w_0| (colour) vs ρ^k (dotted)")
    axes[2].set_xlabel("step k")
    axes[2].grid(True, which="both", alpha=0.3)
    save_figure(fig, path)


__all__ = [
    "MODES",
    "SETTINGS",
    "DiracGAN",
    "DiracRun",
    "compute_dirac_gan",
    "describe_dirac_gan",
    "dirac_run",
    "plot_dirac_gan",
    "run_dirac_gan",
]
