"""Each objective's optimal D for a fixed G on the line, and the divergence its value equals.

For two fixed 1-D densities p_data and p_g (float64 on a grid x), the D that minimises each
d_loss of ganlab.game.objectives, its value max_D -L_D by quadrature, and the divergence that
value should equal, computed another way (r = p_data / p_g, F = the CDFs, a = -1, b = 1):

    game            D*(x), D's raw output                max_D -L_D
    cross_entropy   log r  (the logit, Prop. 1)          -log 4 + 2 JSD(p_data || p_g)  (Thm. 1)
    least_squares   (b p_data + a p_g)/(p_data + p_g)    Delta/2 - 1,  Delta = chi^2(p_data +
                                                         p_g || 2 p_g) = int (p_data - p_g)^2
                                                         / (p_data + p_g) dx     (Mao et al. 2017)
    wasserstein     int^x sign(F_g - F_data) dt          W1 = int |F_data - F_g| dx
    hinge           sign(p_data - p_g)                   2 TV - 2,  TV = 1/2 int |p_data - p_g| dx
    relativistic    log r + any constant                 JSD(p_data x p_g || p_g x p_data) - log 2
    f_kl            1 + log r                            KL(p_data || p_g)
    f_reverse_kl    log r                                KL(p_g || p_data)
    f_pearson       2 (r - 1)                            chi^2(p_data || p_g)
    f_hellinger     log(r) / 2                           int (sqrt(p_data) - sqrt(p_g))^2 dx
    f_js            log r                                2 JSD(p_data || p_g)

The f-GANs' V* = g_f^-1(f'(r)) (Nowozin et al. 2016, section 2.2). The relativistic pairing
game is the 2014 game played on pairs: D(x, y) = sigmoid(C(x) - C(y)) tells (x, y) ~ p_data x p_g
from the swapped pair (y, x) ~ p_g x p_data, so by Proposition 1 on pairs its best logit is
log(p_data(x) p_g(y) / (p_g(x) p_data(y))) = log r(x) - log r(y), which has the relativistic form
with C* = log r; by Theorem 1 on pairs (the two swapped terms being equal) its value is
-log 2 + JSD(p_data x p_g || p_g x p_data). relativistic_optimum checks this independently, by
Newton's method on the concave pairing objective from C = 0.

Smooth integrals use the trapezoid rule on quadrature_grid(), exact to float64 rounding
(ganlab.game.divergences); the pairing game's double integrals use RELATIVISTIC_GRID. W1 and TV
come from the closed-form CDFs and their antiderivatives at the crossings, with no quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ganlab.data.toy import GaussianMixture, gaussian_1d, mixture_1d
from ganlab.game.divergences import js_divergence, kl_divergence
from ganlab.game.objectives import objective

DLoss = Callable[[Tensor, Tensor], Tensor]
LOG_2 = math.log(2.0)

# Two modes 3 of their stds apart against one wider Gaussian. p_g's std 1.2 > 0.8 keeps every
# divergence here finite (chi^2(p_data || p_g) needs 1.2 > 0.8 / sqrt 2) and the held-out
# estimates' variances too (E_p_g[r^4] needs 1.2 > 0.8 sqrt(3) / 2); and log(p_g / p_data)
# ~ 0.43 x^2 reaches the f-GANs' exp cap of 40 only at |x| > 9, where p_g has mass < 1e-15.
OBJECTIVES_P_DATA = mixture_1d([-1.0, 1.5], std=0.8)
OBJECTIVES_P_G = gaussian_1d(0.0, 1.2)
# The pairing game's double integrals: n^2 points, so a coarser grid. h = 0.05 is 16 points per
# std of the narrowest density (0.8), where the trapezoid error exp(-2 pi^2 0.8^2 / h^2) is nil,
# and p_g has mass ~1e-16 beyond |x| = 10 (8.3 stds): measured against [-9, 9] with 1201
# points, the pairing value agrees to 4e-16.
RELATIVISTIC_GRID = torch.linspace(-10.0, 10.0, 401, dtype=torch.float64)


@dataclass(frozen=True)
class Game:
    """One D game: the objective whose d_loss D minimises, and the divergence of its optimum.

        max_D -L_D = scale * divergence + offset

    Attributes:
        name: the game's key; objective: an OBJECTIVE_NAMES entry with this d_loss.
        divergence: what its optimum measures, in words.
        scale, offset: the affine map from the divergence to max_D -L_D.
    """

    name: str
    objective: str
    divergence: str
    scale: float
    offset: float

    @property
    def d_loss(self) -> DLoss:
        return objective(self.objective).d_loss

    def value_of(self, divergence: float) -> float:
        return self.scale * divergence + self.offset

    def divergence_of(self, value: float) -> float:
        return (value - self.offset) / self.scale


GAMES: dict[str, Game] = {
    g.name: g
    for g in (
        Game("cross_entropy", "minimax", "JSD(p_data || p_g)", 2.0, -math.log(4.0)),
        Game("least_squares", "least_squares", "chi^2(p_data + p_g || 2 p_g)", 0.5, -1.0),
        Game("wasserstein", "wasserstein", "W1(p_data, p_g)", 1.0, 0.0),
        Game("hinge", "hinge", "TV(p_data, p_g)", 2.0, -2.0),
        Game("relativistic", "relativistic", "JSD(p_data x p_g || p_g x p_data)", 1.0, -LOG_2),
        Game("f_kl", "f_kl", "KL(p_data || p_g)", 1.0, 0.0),
        Game("f_reverse_kl", "f_reverse_kl", "KL(p_g || p_data)", 1.0, 0.0),
        Game("f_pearson", "f_pearson", "chi^2(p_data || p_g)", 1.0, 0.0),
        Game("f_hellinger", "f_hellinger", "H^2(p_data, p_g)", 1.0, 0.0),
        Game("f_js", "f_js", "2 JSD(p_data || p_g)", 1.0, 0.0),
    )
}
"""The ten D games behind the twelve objectives (the 2014 three share cross_entropy)."""


def trapezoid_weights(x: Tensor) -> Tensor:
    """w (n,) with sum_i w_i f(x_i) = torch.trapezoid(f(x), x) on the uniform grid x (n,)."""
    w = torch.full_like(x, (x[-1] - x[0]).item() / (len(x) - 1))
    w[0] = w[-1] = w[0] / 2
    return w


def sample_terms(d_loss: DLoss, d_real: Tensor, d_fake: Tensor) -> tuple[Tensor, Tensor]:
    """The per-example terms of a separable D loss: l_real (m,), l_fake (k,) with

        d_loss(d_real, d_fake) = mean(l_real) + mean(l_fake)

    read off the library's own minibatch function on batches of one: l_real(a) = L([a], [0]),
    l_fake(b) = L([0], [b]) - L([0], [0]). The split is unique up to a constant moved from one
    term to the other, which no expectation over two probability measures sees.
    """
    zero = d_real.new_zeros(1)
    real = torch.vmap(lambda a: d_loss(a[None], zero))(d_real)
    fake = torch.vmap(lambda b: d_loss(zero, b[None]))(d_fake) - d_loss(zero, zero)
    return real, fake


def objective_value_on_grid(
    d_loss: DLoss, d_out: Tensor, log_p_data: Tensor, log_p_g: Tensor, x: Tensor
) -> Tensor:
    """-L_D, the value D maximises, for D's outputs d_out (n,) on the grid x, by quadrature.

        -L_D = -(int p_data(x) l_real(D(x)) dx + int p_g(x) l_fake(D(x)) dx)

    for a separable d_loss (every game but relativistic; see sample_terms).
    """
    real, fake = sample_terms(d_loss, d_out, d_out)
    w = trapezoid_weights(x)
    return -(w * log_p_data.exp() * real).sum() - (w * log_p_g.exp() * fake).sum()


def relativistic_value_on_grid(
    d_out: Tensor, log_p_data: Tensor, log_p_g: Tensor, x: Tensor
) -> Tensor:
    """-L_D of the relativistic pairing game for D's outputs on x, a double integral:

    -L_D = -int int p_data(x) p_g(y) l(D(x), D(y)) dx dy,  l(a, b) = L_rel([a], [b])
    """
    d_loss = GAMES["relativistic"].d_loss
    pairs = torch.vmap(torch.vmap(lambda a, b: d_loss(a[None], b[None]), (None, 0)), (0, None))
    w = trapezoid_weights(x)
    weight_data, weight_g = w * log_p_data.exp(), w * log_p_g.exp()  # (n,) each
    return -(weight_data[:, None] * weight_g[None, :] * pairs(d_out, d_out)).sum()


def cdf(p: GaussianMixture, x: Tensor, upper: bool = False) -> Tensor:
    """F(x) = sum_i w_i Phi((x - mu_i) / sigma_i) of a 1-D mixture, float64 (n,); with upper,
    the survival function 1 - F(x).

    Phi(t) = erfc(-t / sqrt 2) / 2 keeps its relative precision in the far tail, where
    torch.special.ndtr's 1 + erf cancels to 0 (at t = -9 already); 1 - F in the upper tail, where
    F rounds to 1, is sum_i w_i Phi(-t_i).
    """
    t = (x[:, None] - p.centres[:, 0]) / p.stds  # (n, K)
    sign = 1.0 if upper else -1.0
    return (p.weights * 0.5 * torch.special.erfc(sign * t / math.sqrt(2.0))).sum(1)


def cdf_difference(p: GaussianMixture, q: GaussianMixture, x: Tensor) -> Tensor:
    """F_p(x) - F_q(x) (n,), from the survival functions above 0 so that neither rounds to 1."""
    lower = cdf(p, x) - cdf(q, x)
    upper = cdf(q, x, upper=True) - cdf(p, x, upper=True)
    return torch.where(x < 0, lower, upper)


def cdf_antiderivative(p: GaussianMixture, x: Tensor) -> Tensor:
    """int_-inf^x F(t) dt = sum_i w_i [(x - mu_i) Phi(t_i) + sigma_i phi(t_i)] (n,),
    t_i = (x - mu_i) / sigma_i (d/dx of the bracket is Phi(t_i))."""
    t = (x[:, None] - p.centres[:, 0]) / p.stds  # (n, K)
    phi = torch.exp(-0.5 * t**2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * torch.special.erfc(-t / math.sqrt(2.0))
    return (p.weights * ((x[:, None] - p.centres[:, 0]) * big_phi + p.stds * phi)).sum(1)


def crossings(fn: Callable[[Tensor], Tensor], x: Tensor, iterations: int = 80) -> Tensor:
    """The points where fn changes sign between neighbours of the grid x, by bisection (k,).

    80 halvings of a cell of the grid leave an interval below float64's spacing.
    """
    v = fn(x)
    cell = torch.nonzero(v[:-1] * v[1:] < 0).squeeze(1)
    lo, hi = x[cell], x[cell + 1]
    sign_lo = torch.sign(v[cell])
    for _ in range(iterations):
        mid = (lo + hi) / 2
        same = torch.sign(fn(mid)) == sign_lo
        lo, hi = torch.where(same, mid, lo), torch.where(same, hi, mid)
    return (lo + hi) / 2


def integral_of_abs(
    antiderivative: Callable[[Tensor], Tensor], roots: Tensor, total: float
) -> float:
    """int |g| over the line from H(x) = int_-inf^x g, H(-inf) = 0, H(inf) = total, and the
    points where g changes sign: sum over the pieces between them of |H(end) - H(start)|."""
    h = antiderivative(roots) if len(roots) else roots
    ends = torch.cat([h.new_zeros(1), h, h.new_tensor([total])])
    return (ends[1:] - ends[:-1]).abs().sum().item()


def wasserstein_1(p_data: GaussianMixture, p_g: GaussianMixture, x: Tensor) -> float:
    """W1(p_data, p_g) = int |F_data - F_g| dx in closed form (1-D; Vallender 1974).

    H = int_-inf^x (F_data - F_g) is the difference of cdf_antiderivative's; its limit at +inf is
    E_g[X] - E_data[X]. The crossings of F_data - F_g are located on the grid x.
    """
    roots = crossings(lambda t: cdf_difference(p_data, p_g, t), x)
    total = (p_g.weights @ p_g.centres[:, 0] - p_data.weights @ p_data.centres[:, 0]).item()
    return integral_of_abs(
        lambda t: cdf_antiderivative(p_data, t) - cdf_antiderivative(p_g, t), roots, total
    )


def total_variation(p_data: GaussianMixture, p_g: GaussianMixture, x: Tensor) -> float:
    """TV(p_data, p_g) = 1/2 int |p_data - p_g| dx in closed form, from the CDFs at the crossings
    of the densities (located on the grid x): sup_A P_data(A) - P_g(A) over A = {p_data > p_g}."""
    roots = crossings(lambda t: p_data.log_prob(t[:, None]) - p_g.log_prob(t[:, None]), x)
    return 0.5 * integral_of_abs(lambda t: cdf_difference(p_data, p_g, t), roots, 0.0)


def wasserstein_critic(p_data: GaussianMixture, p_g: GaussianMixture, x: Tensor) -> Tensor:
    """The optimal 1-Lipschitz critic on the line, up to a constant (n,):

        f*(x) = int_x0^x sign(F_g(t) - F_data(t)) dt

    E_data[f] - E_g[f] = -int f'(x) (F_data - F_g)(x) dx (by parts) is largest, at W1, for the
    slope f' = sign(F_g - F_data). Exact: piecewise linear with its kinks at the crossings.
    """
    gap = lambda t: cdf_difference(p_g, p_data, t)  # noqa: E731
    roots = crossings(gap, x)
    edges = torch.cat([x[:1], roots, x[-1:]])
    slopes = torch.sign(gap((edges[1:] + edges[:-1]) / 2))  # (k + 1,) one per piece
    f = slopes[0] * (x - x[0])
    for root, before, after in zip(roots, slopes[:-1], slopes[1:], strict=True):
        f = f + (after - before) * (x - root).clamp(min=0)
    return f


def closed_form_critic(game: str, log_p_data: Tensor, log_p_g: Tensor) -> Tensor:
    """D*'s raw output (n,) from the log densities on a grid, for every game but wasserstein
    (wasserstein_critic): the table above. Stable however far out: only log r is formed."""
    log_r = log_p_data - log_p_g  # log(p_data / p_g)
    forms = {
        "cross_entropy": lambda: log_r,
        # (b p_data + a p_g) / (p_data + p_g) = (b - a) sigmoid(log r) + a
        "least_squares": lambda: 2.0 * torch.sigmoid(log_r) - 1.0,
        "hinge": lambda: torch.sign(log_r),
        "relativistic": lambda: log_r,
        "f_kl": lambda: 1.0 + log_r,
        "f_reverse_kl": lambda: log_r,
        "f_pearson": lambda: 2.0 * torch.expm1(log_r),
        "f_hellinger": lambda: 0.5 * log_r,
        "f_js": lambda: log_r,
    }
    return forms[game]()


def pair_js_divergence(log_p_data: Tensor, log_p_g: Tensor, x: Tensor) -> Tensor:
    """JSD(p_data x p_g || p_g x p_data), the pairing game's divergence, by 2-D quadrature.

        JSD(A || B),  A(x, y) = p_data(x) p_g(y),  B(x, y) = p_g(x) p_data(y)

    ganlab.game.divergences.js_divergence along y for each x, then the trapezoid rule over x.
    """
    log_a = log_p_data[:, None] + log_p_g[None, :]  # (n, n)
    log_b = log_p_g[:, None] + log_p_data[None, :]
    return torch.trapezoid(js_divergence(log_a, log_b, x), x)


def divergence_by_quadrature(game: str, log_p_data: Tensor, log_p_g: Tensor, x: Tensor) -> Tensor:
    """A smooth game's divergence from its definition, by quadrature on x (not wasserstein, hinge).

    Independent of the d_loss: KL and JSD from ganlab.game.divergences, the f-divergences as
    int p_g f(r) dx with f of Nowozin et al. (2016), Table 1, Delta of Mao et al. (2017).
    """
    log_r = log_p_data - log_p_g
    w = trapezoid_weights(x)
    w_g = w * log_p_g.exp()
    forms = {
        "cross_entropy": lambda: js_divergence(log_p_data, log_p_g, x),
        # (p_data - p_g)^2 / (p_data + p_g) = (p_data + p_g) tanh^2(log(r) / 2)
        "least_squares": lambda: (
            w * torch.logaddexp(log_p_data, log_p_g).exp() * torch.tanh(0.5 * log_r) ** 2
        ).sum(),
        "relativistic": lambda: pair_js_divergence(log_p_data, log_p_g, x),
        "f_kl": lambda: kl_divergence(log_p_data, log_p_g, x),
        "f_reverse_kl": lambda: kl_divergence(log_p_g, log_p_data, x),
        "f_pearson": lambda: (w_g * torch.expm1(log_r) ** 2).sum(),  # int p_g (r - 1)^2
        "f_hellinger": lambda: (w_g * torch.expm1(0.5 * log_r) ** 2).sum(),  # p_g (sqrt r - 1)^2
        "f_js": lambda: 2.0 * js_divergence(log_p_data, log_p_g, x),
    }
    return forms[game]()


def value_on_grid(game: str, d_out: Tensor, log_p_data: Tensor, log_p_g: Tensor, x: Tensor):
    """-L_D of a game for D's outputs d_out (n,) on the grid x, by quadrature (a scalar tensor):
    the double integral for relativistic (x: RELATIVISTIC_GRID), a single one otherwise."""
    if game == "relativistic":
        return relativistic_value_on_grid(d_out, log_p_data, log_p_g, x)
    return objective_value_on_grid(GAMES[game].d_loss, d_out, log_p_data, log_p_g, x)


def relativistic_optimum(
    log_p_data: Tensor, log_p_g: Tensor, x: Tensor, iterations: int = 60
) -> tuple[Tensor, Tensor, int]:
    """The relativistic pairing game's optimal D on the grid x, by Newton's method from C = 0.

        max_C J(C),  J(C) = -int int p_data(x) p_g(y) softplus(C(y) - C(x)) dx dy

    An independent check of C* = log r + const (module docstring): the optimum is where
    dJ/dC(u) = 0 for every u, an integral equation coupling each point to all others,

        p_data(u) E_y~p_g[sigmoid(C(y) - C(u))] = p_g(u) E_x~p_data[sigmoid(C(u) - C(x))],

    which C = log r solves (both sides are p_data(u) p_g(u) int p_data p_g / (p_data(y) p_g(u)
    + p_g(y) p_data(u)) dy). On the grid J is concave in the n values C(x_i) (softplus convex of
    a linear map), so Newton's method finds the global maximum, unique up to a constant. The
    Hessian is -L, L the Laplacian of W_ij = P_i Q_j s(C_i - C_j) + P_j Q_i s(C_j - C_i),
    s = sigmoid(d) sigmoid(-d), P, Q the quadrature weights times p_data, p_g; the gradient is
    autograd's of the library's d_loss_relativistic (relativistic_value_on_grid).

    Args:
        log_p_data, log_p_g: (n,) log densities on x.
        x: (n,) uniform grid of a few hundred points: O(n^2) work per step, O(n^3) per solve.
        iterations: at most this many Newton steps; it stops when the Newton decrement
            g^T delta (twice the value still to gain, near the optimum) is below 1e-15.
    Returns:
        (C (n,), centred to mean 0 under (p_data + p_g) / 2; its value J(C); Newton steps taken).
    """
    w = trapezoid_weights(x)
    weight_data, weight_g = w * log_p_data.exp(), w * log_p_g.exp()  # (n,) P, Q
    c = torch.zeros_like(x)
    steps = 0
    for steps in range(iterations):  # noqa: B007 (the count is returned)
        c = c.detach().requires_grad_(True)
        value = relativistic_value_on_grid(c, log_p_data, log_p_g, x)
        (grad,) = torch.autograd.grad(value, c)
        c, value = c.detach(), value.detach()
        d = c[:, None] - c[None, :]  # (n, n) C_i - C_j
        coupling = weight_data[:, None] * weight_g[None, :] * torch.sigmoid(d) * torch.sigmoid(-d)
        coupling = coupling + coupling.T
        laplacian = torch.diag(coupling.sum(1)) - coupling
        # Jacobi-scaled, the null direction (constants) filled in: the tails' rows are many
        # orders of magnitude below the bulk's, which float64 solves only after scaling.
        scale = laplacian.diagonal().rsqrt()
        null = 1.0 / scale
        null = null / null.norm()
        system = scale[:, None] * laplacian * scale[None, :] + null[:, None] * null[None, :]
        delta = scale * torch.linalg.solve(system, scale * grad)
        if (grad @ delta).item() < 1e-15:
            break
        step = 1.0  # backtracking: J is concave, so a short enough step along delta gains
        while relativistic_value_on_grid(c + step * delta, log_p_data, log_p_g, x) < value:
            step /= 2
        c = c + step * delta
    mix = weight_data + weight_g
    c = c - (mix * c).sum() / mix.sum()
    return c, relativistic_value_on_grid(c, log_p_data, log_p_g, x), steps


__all__ = [
    "DLoss",
    "GAMES",
    "Game",
    "OBJECTIVES_P_DATA",
    "OBJECTIVES_P_G",
    "RELATIVISTIC_GRID",
    "cdf",
    "cdf_antiderivative",
    "cdf_difference",
    "closed_form_critic",
    "crossings",
    "divergence_by_quadrature",
    "integral_of_abs",
    "objective_value_on_grid",
    "pair_js_divergence",
    "relativistic_optimum",
    "relativistic_value_on_grid",
    "sample_terms",
    "total_variation",
    "trapezoid_weights",
    "value_on_grid",
    "wasserstein_1",
    "wasserstein_critic",
]
