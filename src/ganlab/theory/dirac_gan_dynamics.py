"""The Dirac-GAN's training dynamics (Mescheder, Geiger & Nowozin 2018, sections 2-3).

p_data = delta_0, p_g = delta_theta, D_psi(x) = psi x. In the paper's notation (section 2.1)

    L(theta, psi) = E_z[f(D_psi(G_theta(z)))] + E_x[f(-D_psi(x))] = f(psi theta) + f(0)

is minimised by G and maximised by D: f(t) = -log(1 + exp(-t)) is the 2014 GAN, f(t) = t WGAN.
The paper's D is high on samples, so a ganlab logit or critic is a = -D_psi(x), and
L = -d_loss(a_real, a_fake) for ganlab.game.objectives' D losses. The gradient vector field
(eq. 5: G descends, D ascends) and its Jacobian at the only equilibrium (0, 0) (section 2.2):

    v(theta, psi) = (-psi f'(psi theta), theta f'(psi theta))
    J = [[0, -f'(0)], [f'(0), 0]],   eigenvalues +- i f'(0).

Purely imaginary: simultaneous steps w <- w + h v(w) have the iteration matrix I + h J of
spectral radius |1 + h lambda| = sqrt(1 + h^2 f'(0)^2) > 1 (they spiral out); alternating steps
(D, then G at the new psi) one of determinant 1 (they orbit). Regularisers give J a negative
trace tau = J_psipsi (section 3):

    R1 / R2, gamma/2 psi^2 on D's loss (grad_x D_psi = psi at data and samples alike):
        tau = -gamma,            lambda = -gamma/2 +- sqrt(gamma^2/4 - f'(0)^2)
    instance noise N(0, sigma^2) on both of D's inputs:
        tau = 2 f''(0) sigma^2,  lambda = f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2)

and then both kinds of steps converge: simultaneous ones by |1 + h lambda| per step,
alternating ones (n_d D steps per G step) by |det|^(1/2) = |1 + h tau|^(n_d/2). WGAN has
f'' = 0, and clipping psi to [-c, c] is inactive near (0, 0): n_d critic steps keep det = 1.
Least squares is left out: with ganlab's (a, b, c) = (-1, 1, 0), G's loss (psi theta)^2 / 2
makes every (0, psi) stationary and J = [[0, 0], [1, 0]] has no +- i pair to move.

Trajectories are float64 numpy arrays of shape (steps + 1, 2), rows (theta_k, psi_k).
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from ganlab.game.objectives import objective
from ganlab.game.regularizers import zero_centred_gradient_penalty

NOISE_NODES = 20


def _sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t)) if t >= 0 else math.exp(t) / (1 + math.exp(t))


@dataclass(frozen=True)
class DiracObjective:
    """An objective on the Dirac-GAN: D maximises f(psi theta) + f(0), G minimises g(psi theta).

    Attributes:
        name: its ganlab.game.objectives name, whose losses the autograd Jacobian uses.
        f_prime, g_prime: f'(t) and g'(t) in closed form on floats (for the trajectories).
        f_prime_0, f_second_0: f'(0) and f''(0) (for the closed-form eigenvalues).
    """

    name: str
    f_prime: Callable[[float], float]
    g_prime: Callable[[float], float]
    f_prime_0: float
    f_second_0: float


OBJECTIVES = {
    # f(t) = -log(1 + exp(-t)): f' = sigmoid(-t), f'(0) = 1/2, f''(0) = -1/4; minimax: g = f.
    "minimax": DiracObjective(
        "minimax", lambda t: _sigmoid(-t), lambda t: _sigmoid(-t), 0.5, -0.25
    ),
    # Non-saturating: G minimises -log D(G(z)) = -f(-psi theta), so g'(t) = f'(-t) = sigmoid(t).
    "nonsaturating": DiracObjective("nonsaturating", lambda t: _sigmoid(-t), _sigmoid, 0.5, -0.25),
    # f(t) = t (Arjovsky et al. 2017); G minimises -E[critic(G(z))] = psi theta.
    "wasserstein": DiracObjective("wasserstein", lambda t: 1.0, lambda t: 1.0, 1.0, 0.0),
    # f(t) = -relu(1 - t) (Lim & Ye 2017), G as WGAN's; f'(1) is torch's relu'(0) = 0.
    "hinge": DiracObjective("hinge", lambda t: 1.0 if t < 1 else 0.0, lambda t: 1.0, 1.0, 0.0),
}


@dataclass(frozen=True)
class DiracSetting:
    """One way to train the Dirac-GAN: an OBJECTIVES key, D's regularisers and its steps.

    Attributes:
        r1, r2: gamma of R1 (gamma/2 E_pdata||grad_x D||^2) and R2 (the same on p_g), eq. 9-10.
        sigma: instance noise, N(0, sigma^2) added to D's inputs (Sonderby et al. 2017).
        d_steps: n_d, D steps per G step of alternating training (simultaneous: one of each).
        clip: c, psi clipped to [-c, c] after each D step (WGAN's weight clipping).
    """

    name: str
    label: str
    objective: str
    r1: float = 0.0
    r2: float = 0.0
    sigma: float = 0.0
    d_steps: int = 1
    clip: float = math.inf


@lru_cache
def noise_nodes(sigma: float) -> tuple[tuple[float, float], ...]:
    """(eps_j, weight_j): E over N(0, sigma^2) as a Gauss-Hermite sum, exact for polynomials of
    degree < 2 NOISE_NODES; the single node (0, 1) when sigma = 0."""
    if sigma == 0:
        return ((0.0, 1.0),)
    x, w = np.polynomial.hermite_e.hermegauss(NOISE_NODES)
    return tuple(zip((sigma * x).tolist(), (w / w.sum()).tolist(), strict=True))


def field_theta(s: DiracSetting, theta: float, psi: float) -> float:
    """G's component: v_theta = -d/dtheta E[g(psi (theta + eps))] = -psi E[g'(psi (theta + eps))]"""
    g1 = OBJECTIVES[s.objective].g_prime
    return -psi * sum(w * g1(psi * (theta + e)) for e, w in noise_nodes(s.sigma))


def field_psi(s: DiracSetting, theta: float, psi: float) -> float:
    """D's component, d/dpsi of E[f(psi (theta + eps))] + E[f(-psi eps)] - (g1 + g2)/2 psi^2:

        v_psi = E[(theta + eps) f'(psi (theta + eps))] - E[eps f'(-psi eps)] - (g1 + g2) psi

    with g1, g2 the gammas of R1 and R2.
    """
    f1 = OBJECTIVES[s.objective].f_prime
    nodes = noise_nodes(s.sigma)
    value = sum(w * ((theta + e) * f1(psi * (theta + e)) - e * f1(-psi * e)) for e, w in nodes)
    return value - (s.r1 + s.r2) * psi


def _clip(psi: float, c: float) -> float:
    return min(max(psi, -c), c)


def simultaneous_gd(s: DiracSetting, h: float, steps: int, start: tuple[float, float]):
    """Both players step from the same point: w_{k+1} = w_k + h v(w_k), psi clipped to [-c, c].

    Returns: (steps + 1, 2) trajectory.
    """
    theta, psi = start
    rows = [(theta, psi)]
    for _ in range(steps):
        theta, psi = (
            theta + h * field_theta(s, theta, psi),
            _clip(psi + h * field_psi(s, theta, psi), s.clip),
        )
        rows.append((theta, psi))
    return np.array(rows, dtype=np.float64)


def alternating_gd(s: DiracSetting, h: float, steps: int, start: tuple[float, float]):
    """Algorithm 1's order: n_d D steps psi <- clip(psi + h v_psi), then G at the new psi,
    theta <- theta + h v_theta. Returns: (steps + 1, 2) trajectory, a row per G step."""
    theta, psi = start
    rows = [(theta, psi)]
    for _ in range(steps):
        for _ in range(s.d_steps):
            psi = _clip(psi + h * field_psi(s, theta, psi), s.clip)
        theta = theta + h * field_theta(s, theta, psi)
        rows.append((theta, psi))
    return np.array(rows, dtype=np.float64)


TRAINING = {"simultaneous": simultaneous_gd, "alternating": alternating_gd}


def losses_by_autograd(s: DiracSetting, theta: Tensor, psi: Tensor) -> tuple[Tensor, Tensor]:
    """(D's loss, G's loss) on the Dirac-GAN from ganlab.game's functions, a = -D_psi(x) = -psi x.

    Node eps_j of noise_nodes is one example x = eps_j of p_data and one sample theta + eps_j of
    p_g; the losses are sums of per-example terms, so weighting each node's loss gives the
    expectation. R1 / R2 add gamma/2 E||grad_x D_psi||^2 at data / samples; its mean over the
    nodes is unweighted, which is exact here since grad_x D_psi = psi at every x.
    """
    game = objective(s.objective)
    nodes = torch.tensor(noise_nodes(s.sigma), dtype=torch.float64)  # (n, 2)
    eps, weight = nodes[:, 0], nodes[:, 1]
    a_real, a_fake = -psi * eps, -psi * (theta + eps)  # (n,)
    d = sum(weight[j] * game.d_loss(a_real[j : j + 1], a_fake[j : j + 1]) for j in range(len(eps)))
    g = sum(weight[j] * game.g_loss(a_fake[j : j + 1], None) for j in range(len(eps)))
    x_real, x_fake = eps.clone(), (theta + eps).detach()  # what R1 and R2 differentiate D at
    for gamma, x in ((s.r1, x_real), (s.r2, x_fake)):
        if gamma:
            x.requires_grad_(True)
            d = d + gamma / 2 * zero_centred_gradient_penalty(psi * x, x)
    return d, g


def field_by_autograd(s: DiracSetting, w: Tensor) -> Tensor:
    """v(w) = (-dL_G/dtheta, -dL_D/dpsi) of losses_by_autograd at w = (theta, psi), (2,) float64."""
    w = w if w.requires_grad else w.detach().requires_grad_(True)
    theta, psi = w[0], w[1]
    loss_d, loss_g = losses_by_autograd(s, theta, psi)
    (g_theta,) = torch.autograd.grad(loss_g, theta, create_graph=True)
    (d_psi,) = torch.autograd.grad(loss_d, psi, create_graph=True)
    return -torch.stack([g_theta, d_psi])


def jacobian_by_autograd(s: DiracSetting) -> np.ndarray:
    """dv/dw at (0, 0): torch.autograd.functional.jacobian of field_by_autograd; (2, 2)."""
    origin = torch.zeros(2, dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda w: field_by_autograd(s, w), origin).numpy()


def closed_form_eigenvalues(s: DiracSetting) -> tuple[complex, complex]:
    """tau/2 +- sqrt(tau^2/4 - f'(0)^2), tau = 2 f''(0) sigma^2 - gamma_1 - gamma_2: the eigenvalues
    of J = [[0, -f'(0)], [f'(0), tau]]; +- i f'(0) unregularised (section 2.2)."""
    o = OBJECTIVES[s.objective]
    tau = 2 * o.f_second_0 * s.sigma**2 - s.r1 - s.r2
    root = cmath.sqrt(tau**2 / 4 - o.f_prime_0**2)
    return tau / 2 + root, tau / 2 - root


def iteration_matrix(jacobian: np.ndarray, h: float, mode: str, d_steps: int = 1) -> np.ndarray:
    """M of the linearised update w_{k+1} = M w_k near (0, 0):

    simultaneous: M = I + h J
    alternating:  M = (I + h P_theta J) (I + h P_psi J)^n_d   (P_theta J, P_psi J: J's rows)
    """
    eye = np.eye(2)
    if mode == "simultaneous":
        return eye + h * jacobian
    d_step = eye + h * np.diag([0.0, 1.0]) @ jacobian
    g_step = eye + h * np.diag([1.0, 0.0]) @ jacobian
    return g_step @ np.linalg.matrix_power(d_step, d_steps)


def spectral_radius(m: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(m))))


def closed_form_radius(s: DiracSetting, h: float, mode: str) -> float:
    """The spectral radius of iteration_matrix from J = [[0, -a], [a, tau]], a = f'(0):

        simultaneous: max |1 + h lambda| over closed_form_eigenvalues
        alternating:  max |mu|, mu = T/2 +- sqrt(T^2/4 - det) of
                      M = [[1 - h^2 a^2 S, -h a d^n], [h a S, d^n]],  d = 1 + h tau, n = n_d,
                      S = 1 + d + ... + d^(n-1);  T = 1 - h^2 a^2 S + d^n, det = d^n

    (the D step [[1, 0], [h a, d]] to the n-th power, then the G step [[1, -h a], [0, 1]]).
    For a complex pair |mu| = det^(1/2) = |1 + h tau|^(n_d/2): 1 when tau = 0.
    """
    if mode == "simultaneous":
        return max(abs(1 + h * lam) for lam in closed_form_eigenvalues(s))
    a, lam = OBJECTIVES[s.objective].f_prime_0, closed_form_eigenvalues(s)
    d, n = 1 + h * sum(lam).real, s.d_steps
    trace, det = 1 - (h * a) ** 2 * sum(d**j for j in range(n)) + d**n, d**n
    root = cmath.sqrt(trace**2 / 4 - det)
    return max(abs(trace / 2 + root), abs(trace / 2 - root))


def distance(trajectory: np.ndarray) -> np.ndarray:
    """|(theta_k, psi_k)| for each row; returns (steps + 1,)."""
    return np.hypot(trajectory[:, 0], trajectory[:, 1])


def fitted_log_rate(distances: np.ndarray) -> float:
    """Least-squares slope of log |w_k| against k: the measured log distance ratio per step."""
    return float(np.polyfit(np.arange(len(distances)), np.log(distances), 1)[0])


def rate_tolerance(m: np.ndarray, points: int, h: float, r_max: float) -> float:
    """A bound on |fitted_log_rate - log rho(M)| over `points` steps that stay within r_max of 0.

    Linear part: with M = V diag(mu) V^-1 and |mu_1| = |mu_2| = rho (a complex pair),
    w_k = V diag(mu)^k c, so log |w_k| - k log rho stays in an interval of width B = log cond(V),
    and a least-squares slope moves by at most B/2 sum|k - kbar| / sum (k - kbar)^2 (~1.5 B /
    points) for such a residual. Nonlinear part: every field here is odd, v(-w) = -v(w), so
    v = J w + O(|w|^3); the cubic terms (e.g. psi^2 theta f''(0)) are below r_max^2 |J w| for
    these objectives (|f''(0)|, |g''(0)| <= 1/4), moving each step's log ratio by < h r_max^2.
    """
    mu, v = np.linalg.eig(m)
    assert np.all(mu.imag != 0), "the bound needs a complex pair"
    c = np.arange(points) - (points - 1) / 2
    return float(math.log(np.linalg.cond(v)) / 2 * np.abs(c).sum() / (c**2).sum() + h * r_max**2)


def nonsaturating_cycle_radius(h: float) -> float:
    """The radius where simultaneous steps of the non-saturating GAN settle: sqrt(2 h).

    w . v = theta psi (f'(psi theta) - g'(psi theta)) = -theta psi tanh(psi theta / 2), which is
    -r^4/16 averaged over a circle of radius r; a step changes |w|^2 by 2 h w . v + h^2 |v|^2
    ~ -h r^4/8 + h^2 r^2/4 (|v| ~ f'(0) r = r/2): zero at r^2 = 2 h. The minimax loss has
    f' = g', w . v = 0, nothing to balance the h^2 term: it spirals out for ever.
    """
    return math.sqrt(2 * h)


def nonsaturating_alternating_distance(r0: float, h: float, k: np.ndarray) -> np.ndarray:
    """|w_k| of alternating steps of the non-saturating GAN: (r0^-2 + h k / 8)^(-1/2).

    Alternating steps add no h^2 growth (det M = 1), so only the dissipation of
    nonsaturating_cycle_radius acts: d(r^2)/dk = -h r^4/8, i.e. d(r^-2)/dk = h/8. Sublinear:
    |w| ~ (8 / (h k))^(1/2), no rate |mu| < 1 of the linearisation.
    """
    return (r0**-2 + h * np.asarray(k, dtype=np.float64) / 8) ** -0.5


__all__ = [
    "OBJECTIVES",
    "TRAINING",
    "DiracObjective",
    "DiracSetting",
    "alternating_gd",
    "closed_form_eigenvalues",
    "closed_form_radius",
    "distance",
    "field_by_autograd",
    "field_psi",
    "field_theta",
    "fitted_log_rate",
    "iteration_matrix",
    "jacobian_by_autograd",
    "losses_by_autograd",
    "noise_nodes",
    "nonsaturating_alternating_distance",
    "nonsaturating_cycle_radius",
    "rate_tolerance",
    "simultaneous_gd",
    "spectral_radius",
]
