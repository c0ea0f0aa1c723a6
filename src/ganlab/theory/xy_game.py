"""The xy game: min_y max_x f(x, y) = x y, the smallest game where gradient play fails.

The only equilibrium is (0, 0). Simultaneous gradient play, the update GAN training uses,
spirals away from it; alternating updates (Algorithm 1's D step then G step) orbit it forever;
extragradient and optimistic gradient descent-ascent spiral into it. Goodfellow (2016, NIPS
tutorial, section 8.2) uses this game to show that gradient play need not find an equilibrium.

In complex form w = x + i y, the ascent-descent field is v(w) = (df/dx, -df/dy) = (y, -x) =
-i w, so simultaneous play is w <- (1 - i eta) w and extragradient w <- (1 - i eta - eta^2) w:
every claim below is a modulus of a complex number. Trajectories are float64 numpy arrays of
shape (steps + 1, 2), rows (x_k, y_k), row 0 the start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganlab.report.figures import pyplot, save_figure
from ganlab.theory.description import Description

FIGURE = "xy_game.png"


def _start(x0: float, y0: float, steps: int) -> np.ndarray:
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    trajectory = np.empty((steps + 1, 2), dtype=np.float64)  # (steps + 1, 2)
    trajectory[0] = x0, y0
    return trajectory


def simultaneous_gradient_play(x0: float, y0: float, eta: float, steps: int) -> np.ndarray:
    """Simultaneous gradient ascent on x and descent on y of f(x, y) = x y, both from old values:

        x_{k+1} = x_k + eta df/dx = x_k + eta y_k
        y_{k+1} = y_k - eta df/dy = y_k - eta x_k

    |(x_{k+1}, y_{k+1})| = sqrt(1 + eta^2) |(x_k, y_k)|: it spirals out (see growth_factor).

    Returns: (steps + 1, 2) trajectory.
    """
    t = _start(x0, y0, steps)
    for k in range(steps):
        x, y = t[k]
        t[k + 1] = x + eta * y, y - eta * x
    return t


def alternating_gradient_play(x0: float, y0: float, eta: float, steps: int) -> np.ndarray:
    """Alternating gradient play: x ascends first, then y descends at the new x:

        x_{k+1} = x_k + eta y_k
        y_{k+1} = y_k - eta x_{k+1}

    The map has determinant 1 and conserves x^2 + y^2 + eta x y (alternating_invariant): for
    eta < 2 the iterates orbit the equilibrium on an ellipse, neither converging nor diverging.

    Returns: (steps + 1, 2) trajectory.
    """
    t = _start(x0, y0, steps)
    for k in range(steps):
        x, y = t[k]
        x_next = x + eta * y
        t[k + 1] = x_next, y - eta * x_next
    return t


def extragradient(x0: float, y0: float, eta: float, steps: int) -> np.ndarray:
    """Extragradient (Korpelevich 1976): step to a look-ahead point, then step from the current
    point with the gradient taken at the look-ahead:

        x_half = x_k + eta y_k,          y_half = y_k - eta x_k
        x_{k+1} = x_k + eta y_half,      y_{k+1} = y_k - eta x_half

    Equal to w <- (1 - i eta - eta^2) w, so the distance shrinks by sqrt(1 - eta^2 + eta^4) < 1
    per step for 0 < eta < 1 (contraction_factor).

    Returns: (steps + 1, 2) trajectory.
    """
    t = _start(x0, y0, steps)
    for k in range(steps):
        x, y = t[k]
        x_half, y_half = x + eta * y, y - eta * x
        t[k + 1] = x + eta * y_half, y - eta * x_half
    return t


def optimistic_gradient(x0: float, y0: float, eta: float, steps: int) -> np.ndarray:
    """Optimistic gradient descent-ascent (Daskalakis et al. 2018): the gradient step plus a
    correction by the change of gradient since the last step:

        x_{k+1} = x_k + 2 eta y_k - eta y_{k-1}
        y_{k+1} = y_k - 2 eta x_k + eta x_{k-1}

    with (x_{-1}, y_{-1}) = (x_0, y_0), so the first step is plain simultaneous play. The
    distance shrinks asymptotically by optimistic_contraction_factor(eta) per step.

    Returns: (steps + 1, 2) trajectory.
    """
    t = _start(x0, y0, steps)
    previous = t[0].copy()
    for k in range(steps):
        x, y = t[k]
        t[k + 1] = x + 2 * eta * y - eta * previous[1], y - 2 * eta * x + eta * previous[0]
        previous = t[k]
    return t


def distance_to_equilibrium(trajectory: np.ndarray) -> np.ndarray:
    """|(x_k, y_k) - (0, 0)| for each row of a (steps + 1, 2) trajectory; returns (steps + 1,)."""
    return np.hypot(trajectory[:, 0], trajectory[:, 1])


def growth_factor(eta: float) -> float:
    """Distance ratio per step of simultaneous play: |1 - i eta| = sqrt(1 + eta^2) > 1."""
    return math.sqrt(1 + eta**2)


def contraction_factor(eta: float) -> float:
    """Distance ratio per step of extragradient: |1 - i eta - eta^2| = sqrt(1 - eta^2 + eta^4).

    Below 1 for 0 < eta < 1, smallest (sqrt(3)/2) at eta = 1/sqrt(2).
    """
    return math.sqrt(1 - eta**2 + eta**4)


def optimistic_contraction_factor(eta: float) -> float:
    """Asymptotic distance ratio per step of optimistic GDA: the larger modulus of the roots of

        lambda^2 - (1 - 2 i eta) lambda - i eta = 0,

    the characteristic equation of w_{k+1} = (1 - 2 i eta) w_k + i eta w_{k-1}.
    """
    return float(np.max(np.abs(np.roots([1.0, -(1 - 2j * eta), -1j * eta]))))


def alternating_invariant(trajectory: np.ndarray, eta: float) -> np.ndarray:
    """Q(x, y) = x^2 + y^2 + eta x y, conserved exactly by alternating_gradient_play.

    With x' = x + eta y and y' = y - eta x', expanding Q(x', y') gives back Q(x, y) term by term
    (the x^2, xy and y^2 coefficients are 1 + eta^2 - eta^2, eta and 1). The sign of eta x y
    belongs to this order of updates; updating y first conserves x^2 + y^2 - eta x y.

    Returns: (steps + 1,) values of Q along the trajectory.
    """
    x, y = trajectory[:, 0], trajectory[:, 1]
    return x**2 + y**2 + eta * x * y


def alternating_orbit_radii(q: float, eta: float) -> tuple[float, float]:
    """Smallest and largest distance to (0, 0) on the ellipse x^2 + y^2 + eta x y = q:

        r_min = sqrt(q / (1 + eta/2)),  r_max = sqrt(q / (1 - eta/2))

    from the eigenvalues 1 +- eta/2 of the quadratic form's matrix [[1, eta/2], [eta/2, 1]].
    The orbit is bounded for eta < 2.
    """
    return math.sqrt(q / (1 + eta / 2)), math.sqrt(q / (1 - eta / 2))


METHODS = {
    "simultaneous": simultaneous_gradient_play,
    "alternating": alternating_gradient_play,
    "extragradient": extragradient,
    "optimistic": optimistic_gradient,
}


def _per_step_ratios(trajectory: np.ndarray) -> np.ndarray:
    r = distance_to_equilibrium(trajectory)
    return r[1:] / r[:-1]


@dataclass(frozen=True)
class XYGame:
    """Item 7's trajectories from one start and step size, and the rates they measure.

    Attributes:
        eta, steps, start: the step size, the steps of each run and (x_0, y_0).
        runs: {method name in METHODS: (steps + 1, 2) trajectory}.
        distances: {method name: (steps + 1,) distance to (0, 0)}.
        long_steps: steps of the long alternating run.
        invariant: (long_steps + 1,) x^2 + y^2 + eta x y along it; long_distance: (long_steps
            + 1,) its distance to (0, 0).
        simultaneous_ratio_error, extragradient_ratio_error: max relative error of the
            per-step distance ratio against growth_factor and contraction_factor.
        optimistic_last_ratio: optimistic play's last per-step distance ratio.
    """

    eta: float
    steps: int
    start: tuple[float, float]
    runs: dict[str, np.ndarray]
    distances: dict[str, np.ndarray]
    long_steps: int
    invariant: np.ndarray
    long_distance: np.ndarray
    simultaneous_ratio_error: float
    extragradient_ratio_error: float
    optimistic_last_ratio: float

    @property
    def invariant_max_rel_drift(self) -> float:
        """max |Q_k / Q_0 - 1| over the long alternating run: rounding only."""
        q = self.invariant
        return float(np.max(np.abs(q / q[0] - 1)))


def compute_xy_game(quick: bool = False) -> XYGame:
    """Every method of METHODS on f(x, y) = x y from (1, 0), eta = 0.15, for 150 steps; and a
    long alternating run (2,000 steps when quick, else 20,000) for its invariant."""
    eta, steps, x0, y0 = 0.15, 150, 1.0, 0.0
    runs = {name: method(x0, y0, eta, steps) for name, method in METHODS.items()}
    # The invariant over a long run: rounding may drift it, the dynamics must not.
    long_steps = 2_000 if quick else 20_000
    long_alternating = alternating_gradient_play(x0, y0, eta, long_steps)
    return XYGame(
        eta=eta,
        steps=steps,
        start=(x0, y0),
        runs=runs,
        distances={name: distance_to_equilibrium(t) for name, t in runs.items()},
        long_steps=long_steps,
        invariant=alternating_invariant(long_alternating, eta),
        long_distance=distance_to_equilibrium(long_alternating),
        simultaneous_ratio_error=float(
            np.max(np.abs(_per_step_ratios(runs["simultaneous"]) / growth_factor(eta) - 1))
        ),
        extragradient_ratio_error=float(
            np.max(np.abs(_per_step_ratios(runs["extragradient"]) / contraction_factor(eta) - 1))
        ),
        optimistic_last_ratio=float(_per_step_ratios(runs["optimistic"])[-1]),
    )


def describe_xy_game(r: XYGame) -> Description:
    """Item 7's title, equation, claim and numbers."""
    eta, steps, distances, r_long = r.eta, r.steps, r.distances, r.long_distance
    r_min, r_max = alternating_orbit_radii(r.invariant[0], eta)
    numbers = {
        "eta": eta,
        "steps": steps,
        "start": list(r.start),
        "simultaneous": {
            "growth_factor_theory": growth_factor(eta),
            "per_step_ratio_max_rel_error": r.simultaneous_ratio_error,
            "final_distance": float(distances["simultaneous"][-1]),
        },
        "alternating": {
            "invariant": "x^2 + y^2 + eta x y",
            "long_steps": r.long_steps,
            "invariant_max_rel_drift": r.invariant_max_rel_drift,
            "distance_min_max": [float(r_long.min()), float(r_long.max())],
            "ellipse_radii_theory": [r_min, r_max],
            "final_distance": float(distances["alternating"][-1]),
        },
        "extragradient": {
            "contraction_factor_theory": contraction_factor(eta),
            "per_step_ratio_max_rel_error": r.extragradient_ratio_error,
            "final_distance": float(distances["extragradient"][-1]),
        },
        "optimistic": {
            "contraction_factor_theory": optimistic_contraction_factor(eta),
            "last_step_ratio": r.optimistic_last_ratio,
            "final_distance": float(distances["optimistic"][-1]),
        },
    }
    return Description(
        name="xy_game",
        title="The xy game: simultaneous play spirals out, alternating orbits, extragradient "
        "converges",
        equation=(
            "min_y max_x f(x, y) = x y, equilibrium (0, 0)\n"
            "simultaneous: x += eta y, y -= eta x  ->  |w_{k+1}| = sqrt(1 + eta^2) |w_k|\n"
            "alternating: x += eta y, then y -= eta x  ->  x^2 + y^2 + eta x y conserved\n"
            "extragradient: gradient at a look-ahead  ->  |w_{k+1}| = sqrt(1 - eta^2 + eta^4) |w_k|"
        ),
        claim=(
            f"With eta = {eta} from (1, 0), simultaneous gradient play moves away from the "
            f"equilibrium by exactly sqrt(1 + eta^2) = {growth_factor(eta):.6f} per step (distance "
            f"{distances['simultaneous'][-1]:.2f} after {steps} steps); alternating updates orbit "
            f"on the ellipse x^2 + y^2 + eta x y = 1 for {r.long_steps} steps; extragradient "
            f"converges by sqrt(1 - eta^2 + eta^4) = {contraction_factor(eta):.6f} per step "
            f"(distance {distances['extragradient'][-1]:.3f})."
        ),
        numbers=numbers,
    )


def run_xy_game(out: Path, quick: bool = False) -> dict:
    """Item 7: the three kinds of gradient play on f(x, y) = x y from (1, 0), eta = 0.15."""
    result = compute_xy_game(quick)
    figures = plot_xy_game(result, out)
    return describe_xy_game(result).item_result(figures)


def plot_xy_game(r: XYGame, out: Path) -> list[str]:
    """Three trajectories in the plane and every distance over steps; returns the file names."""
    runs, distances, eta, q0 = r.runs, r.distances, r.eta, r.invariant[0]
    plt = pyplot()
    from matplotlib import ticker  # after pyplot(), which picks the Agg backend

    fig, axes = plt.subplots(2, 2, figsize=(12, 12.5), layout="constrained")
    axes = axes.ravel()
    growth, contraction = growth_factor(eta), contraction_factor(eta)
    panels = (
        ("simultaneous", "tab:red",
         f"Simultaneous: spirals out\n× sqrt(1+η²) = {growth:.4f} per step"),
        ("alternating", "tab:blue", "Alternating: closed orbit\nx² + y² + ηxy conserved"),
        ("extragradient", "tab:green",
         f"Extragradient: spirals in\n× sqrt(1-η²+η⁴) = {contraction:.4f} per step"),
    )  # fmt: skip
    theta = np.linspace(0, 2 * np.pi, 400)
    for ax, (name, colour, title) in zip(axes, panels, strict=False):
        t = runs[name]
        if name == "alternating":
            # The level set Q = q0 in polar form: r^2 (1 + eta cos(theta) sin(theta)) = q0.
            r = np.sqrt(q0 / (1 + eta * np.cos(theta) * np.sin(theta)))
            ax.plot(r * np.cos(theta), r * np.sin(theta), color="0.6", lw=4, alpha=0.5,
                    label=f"ellipse x² + y² + ηxy = {q0:g}")  # fmt: skip
        ax.plot(t[:, 0], t[:, 1], "-", color=colour, lw=1, alpha=0.8, label=f"{name} play")
        ax.plot(t[:, 0], t[:, 1], ".", color=colour, ms=3)
        ax.plot(*t[0], "o", color="k", mfc="white", ms=8, label=f"start ({t[0, 0]:g}, {t[0, 1]:g})")
        ax.plot(*t[-1], "s", color=colour, ms=6, label=f"step {len(t) - 1}")
        ax.plot(0, 0, "*", color="gold", mec="k", ms=16, label="equilibrium (0, 0)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(title)
        ax.set_xlabel("x (maximises xy)")
        ax.set_ylabel("y (minimises xy)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=8.5)
    ax = axes[3]
    k = np.arange(len(distances["simultaneous"]))
    styles = {"simultaneous": "tab:red", "alternating": "tab:blue", "extragradient": "tab:green",
              "optimistic": "tab:purple"}  # fmt: skip
    for name, colour in styles.items():
        ax.semilogy(k, distances[name], color=colour, lw=2, label=name)
    ax.semilogy(k, growth**k, "k:", lw=1.2, label="theory (1+η²)^(k/2)")
    ax.semilogy(k, contraction**k, "k--", lw=1.2, label="theory (1-η²+η⁴)^(k/2)")
    ax.semilogy(
        k, optimistic_contraction_factor(eta) ** k, "k-.", lw=1, label="optimistic: max |root|^k"
    )
    r_min, r_max = alternating_orbit_radii(q0, eta)
    ax.axhspan(
        r_min, r_max, color="tab:blue", alpha=0.12, label="alternating: ellipse r_min..r_max"
    )
    ax.yaxis.set_major_formatter(ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_yticks([0.2, 0.5, 1, 2, 5])
    ax.set_xlabel("step k")
    ax.set_ylabel("distance to (0, 0), log scale")
    ax.set_title(f"Distance to the equilibrium (η = {eta})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.11), ncol=2, fontsize=8.5)
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, Path(out) / FIGURE)
    return [FIGURE]


__all__ = [
    "METHODS",
    "XYGame",
    "alternating_gradient_play",
    "alternating_invariant",
    "alternating_orbit_radii",
    "compute_xy_game",
    "contraction_factor",
    "describe_xy_game",
    "distance_to_equilibrium",
    "extragradient",
    "growth_factor",
    "optimistic_contraction_factor",
    "optimistic_gradient",
    "plot_xy_game",
    "run_xy_game",
    "simultaneous_gradient_play",
]
