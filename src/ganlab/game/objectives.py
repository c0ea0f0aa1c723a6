"""The games D and G play, each as a pair of minibatch losses on D's raw output (issue 16).

Every function takes D's raw outputs on a minibatch, shape (m,): the logit a of the 2014
cross-entropy D, a critic value f (least squares, Wasserstein, hinge, relativistic), or the
f-GAN's V_omega. It returns the scalar minibatch mean that its side MINIMISES (D descends
d_loss_*, G descends g_loss_*), computed stably: softplus / logsigmoid, never log(sigmoid(.)),
and every exp that can overflow continued linearly beyond a cap (exp_linear_beyond), so that
no finite float32 input in [-1e4, 1e4] makes a loss or a gradient inf or nan.

The f-GANs (Nowozin, Cseke & Tomioka 2016) play the saddle point of eq. 6,

    min_theta max_omega F = E_x~P[g_f(V(x))] - E_x~Q_theta[f*(g_f(V(x)))]

with P = p_data, Q = p_g, f of Table 1, the output activation g_f of Table 2 and the conjugate
f* of Table 6 (arXiv appendix), composed in closed form where that is stabler:

    name        g_f(v)                    f*(t)               f*(g_f(v))         D_f(P || Q)
    kl          v                         exp(t - 1)          exp(v - 1)         KL(P || Q)
    reverse_kl  -exp(-v)                  -1 - log(-t)        v - 1              KL(Q || P)
    pearson     v                         t^2/4 + t           v^2/4 + v          chi^2(P || Q)
    hellinger   1 - exp(-v)               t / (1 - t)         exp(v) - 1         H^2(P, Q)
    js          log 2 - softplus(-v)      -log(2 - exp(t))    softplus(v)-log 2  2 JSD(P || Q)

The 2014 game (minimax, non-saturating, maximum likelihood) lives in ganlab.game.losses;
`objective(name)` gathers all twelve behind one interface.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from ganlab.game import losses
from ganlab.game.losses import exp_linear_beyond

LOG_2 = math.log(2.0)
F_GAN_CAP = 40.0
"""Where the f-GANs' exp(v - 1), exp(v), exp(-v) turn linear (exp_linear_beyond). At the optimal
critic these exps are density ratios p_data/p_g (or their square roots); one beyond e^40 ~ 2e17
marks a diverged critic rather than an estimate, so the cap leaves the losses of a working critic
as they were and keeps a diverging one finite: at |v| = 1e4 a term is < 3e21, and a gradient's
square (Adam's second moment) stays below exp(80) ~ 5.5e34, a float32 number."""


# ---------------------------------------------------------------------------------------------
# Least squares, Wasserstein, hinge, relativistic: D's output is an unbounded critic value f.


def d_loss_least_squares(d_real: Tensor, d_fake: Tensor, a: float = -1.0, b: float = 1.0) -> Tensor:
    """LSGAN's D loss (Mao et al. 2017, eq. 2): D pulls data to b, samples to a. D minimises.

        L_D = 1/2 E_x[(D(x) - b)^2] + 1/2 E_z[(D(G(z)) - a)^2]

    Its minimiser is D*(x) = (b p_data + a p_g) / (p_data + p_g) (section 'Relation to
    f-divergence').

    Args:
        d_real, d_fake: (m,) D's outputs on data and on samples G(z).
        a, b: D's targets for samples and for data.
    """
    return 0.5 * (d_real - b).square().mean() + 0.5 * (d_fake - a).square().mean()


def g_loss_least_squares(d_fake: Tensor, c: float = 0.0) -> Tensor:
    """LSGAN's G loss (Mao et al. 2017, eq. 2): G pulls D's output on its samples to c. G minimises.

        L_G = 1/2 E_z[(D(G(z)) - c)^2]

    At D*, with the G-free term 1/2 E_x[(D(x) - c)^2] added (which moves no optimum),
    2 C(G) = integral ((b - c) p_data + (a - c) p_g)^2 / (p_data + p_g) dx, which for b - c = 1
    and b - a = 2 is Pearson chi^2(p_data + p_g || 2 p_g) = integral (p_data - p_g)^2 /
    (p_data + p_g) dx (Mao et al. 2017, section 'Relation to f-divergence').

    Args:
        d_fake: (m,) D's outputs on samples G(z).
        c: the value G wants D to believe for its samples.
    """
    return 0.5 * (d_fake - c).square().mean()


def d_loss_wasserstein(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """WGAN's critic loss (Arjovsky, Chintala & Bottou 2017, Algorithm 1). D minimises.

        L_D = E_z[f(G(z))] - E_x[f(x)]

    Over 1-Lipschitz f, max_f -L_D = W1(p_data, p_g) (Kantorovich-Rubinstein duality); the
    constraint is a regularizer's job (weight clipping or a gradient penalty), without which
    L_D is unbounded below.

    Args:
        d_real, d_fake: (m,) critic values on data and on samples.
    """
    return d_fake.mean() - d_real.mean()


def g_loss_wasserstein(d_fake: Tensor) -> Tensor:
    """WGAN's G loss (Arjovsky et al. 2017, Algorithm 1): raise the critic on samples. G minimises.

        L_G = -E_z[f(G(z))]

    For the optimal 1-Lipschitz f its gradient is that of W1(p_data, p_g) (Theorem 3).

    Args:
        d_fake: (m,) critic values on samples.
    """
    return -d_fake.mean()


def d_loss_hinge(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Hinge D loss (Lim & Ye 2017, Geometric GAN; Miyato et al. 2018, SN-GAN). D minimises.

        L_D = E_x[relu(1 - f(x))] + E_z[relu(1 + f(G(z)))]

    Pointwise, p relu(1 - t) + q relu(1 + t) (p = p_data(x), q = p_g(x)) is linear,
    p + q + t (q - p), on [-1, 1] and larger outside, so D*(x) = sign(p_data - p_g) and the
    minimum is 2 min(p, q). Integrated, with integral min(p, q) = 1 - TV:

        min_D L_D = 2 - 2 TV(p_data, p_g),   TV = 1/2 integral |p_data - p_g| dx

    Args:
        d_real, d_fake: (m,) critic values on data and on samples.
    """
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def g_loss_hinge(d_fake: Tensor) -> Tensor:
    """Hinge G loss (Lim & Ye 2017; Miyato et al. 2018): the Wasserstein one. G minimises.

        L_G = -E_z[f(G(z))]

    Where |f| <= 1 (D* included), -L_D = E_x[f(x)] - E_z[f(G(z))] - 2: L_G is -L_D up to
    terms free of G, so at D* G descends max_D -L_D = 2 TV(p_data, p_g) - 2 (d_loss_hinge), as
    the 2014 G descends C(G).

    Args:
        d_fake: (m,) critic values on samples.
    """
    return -d_fake.mean()


def d_loss_relativistic(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Relativistic pairing D loss, RpGAN (Jolicoeur-Martineau 2019, RSGAN). D minimises.

        L_D = E_{(x_i, z_i)}[softplus(-(f(x_i) - f(G(z_i))))] = -E[log sigmoid(f(x_i) - f(G(z_i)))]

    D judges whether data looks more real than its paired sample. log 2 - min_f L_D is a
    relativistic divergence (Jolicoeur-Martineau 2020, "On relativistic f-divergences"): in
    [0, log 2], approaching log 2 for disjoint supports, 0 iff p_g = p_data (a constant f then
    attains L_D = log 2). R3GAN (Huang et al. 2024) pairs it with R1 + R2.

    Args:
        d_real, d_fake: (m,) critic values on data and on samples, paired by index.
    """
    return F.softplus(d_fake - d_real).mean()


def g_loss_relativistic(d_fake: Tensor, d_real: Tensor) -> Tensor:
    """Relativistic pairing G loss (Jolicoeur-Martineau 2019): D's loss with roles swapped.

        L_G = E_{(x_i, z_i)}[softplus(-(f(G(z_i)) - f(x_i)))]       G minimises it

    The non-saturating counterpart of -L_D; it needs D's outputs on data too.

    Args:
        d_fake, d_real: (m,) critic values on samples and on data, paired by index.
    """
    return F.softplus(d_real - d_fake).mean()


# ---------------------------------------------------------------------------------------------
# f-GANs (Nowozin et al. 2016): d_loss = -F of eq. 6, g_loss = -E_Q[f*(g_f(V))] (the G part of F).


def d_loss_f_kl(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """f-GAN D loss for KL, f(u) = u log u (Nowozin et al. 2016, eq. 6). D minimises.

        L_D = -(E_x[V(x)] - E_z[exp(V(G(z)) - 1)])

    At V* = f'(p_data/p_g) = 1 + log(p_data/p_g), -L_D = KL(p_data || p_g). exp continues
    linearly beyond F_GAN_CAP.

    Args:
        d_real, d_fake: (m,) V_omega on data and on samples G(z).
    """
    return -(d_real.mean() - exp_linear_beyond(d_fake - 1.0, F_GAN_CAP).mean())


def g_loss_f_kl(d_fake: Tensor) -> Tensor:
    """f-GAN G loss for KL(p_data || p_g) (eq. 6): L_G = -E_z[exp(V(G(z)) - 1)]. G minimises."""
    return -exp_linear_beyond(d_fake - 1.0, F_GAN_CAP).mean()


def d_loss_f_reverse_kl(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """f-GAN D loss for reverse KL, f(u) = -log u (Nowozin et al. 2016, eq. 6). D minimises.

        L_D = -(E_x[-exp(-V(x))] - E_z[V(G(z)) - 1])

    At V* = log(p_data/p_g) (g_f(V*) = f'(p_data/p_g) = -p_g/p_data), -L_D = KL(p_g || p_data).
    exp(-V) continues linearly beyond F_GAN_CAP.

    Args:
        d_real, d_fake: (m,) V_omega on data and on samples G(z).
    """
    return exp_linear_beyond(-d_real, F_GAN_CAP).mean() + (d_fake - 1.0).mean()


def g_loss_f_reverse_kl(d_fake: Tensor) -> Tensor:
    """f-GAN G loss for KL(p_g || p_data) (eq. 6): L_G = -E_z[V(G(z)) - 1]. G minimises."""
    return -(d_fake - 1.0).mean()


def d_loss_f_pearson(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """f-GAN D loss for Pearson chi^2, f(u) = (u - 1)^2 (Nowozin et al. 2016, eq. 6). D minimises.

        L_D = -(E_x[V(x)] - E_z[V(G(z))^2 / 4 + V(G(z))])

    At V* = 2 (p_data/p_g - 1), -L_D = chi^2(p_data || p_g) = integral (p_data - p_g)^2 / p_g.

    Args:
        d_real, d_fake: (m,) V_omega on data and on samples G(z).
    """
    return -(d_real.mean() - (0.25 * d_fake.square() + d_fake).mean())


def g_loss_f_pearson(d_fake: Tensor) -> Tensor:
    """f-GAN G loss for Pearson chi^2 (eq. 6): L_G = -E_z[V^2 / 4 + V]. G minimises."""
    return -(0.25 * d_fake.square() + d_fake).mean()


def d_loss_f_hellinger(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """f-GAN D loss for squared Hellinger, f(u) = (sqrt(u) - 1)^2 (Nowozin et al.). D minimises.

        L_D = -(E_x[1 - exp(-V(x))] - E_z[exp(V(G(z))) - 1])

    At V* = log(p_data/p_g) / 2, -L_D = integral (sqrt(p_data) - sqrt(p_g))^2 (no 1/2 in
    front). exp(V), exp(-V) continue linearly beyond F_GAN_CAP.

    Args:
        d_real, d_fake: (m,) V_omega on data and on samples G(z).
    """
    real = 1.0 - exp_linear_beyond(-d_real, F_GAN_CAP)
    fake = exp_linear_beyond(d_fake, F_GAN_CAP) - 1.0
    return -(real.mean() - fake.mean())


def g_loss_f_hellinger(d_fake: Tensor) -> Tensor:
    """f-GAN G loss for squared Hellinger (eq. 6): L_G = -E_z[exp(V) - 1]. G minimises."""
    return -(exp_linear_beyond(d_fake, F_GAN_CAP) - 1.0).mean()


def d_loss_f_js(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """f-GAN D loss for Jensen-Shannon (Nowozin et al. 2016, eq. 6). D minimises.

        L_D = -(E_x[log 2 - softplus(-V(x))] - E_z[softplus(V(G(z))) - log 2])

    f(u) = u log u - (u + 1) log((u + 1)/2), whose conjugate is -log(2 - exp(t)). At
    V* = log(p_data/p_g), -L_D = D_f = 2 JSD(p_data || p_g). L_D is the 2014 D loss - log 4.

    Args:
        d_real, d_fake: (m,) V_omega on data and on samples G(z).
    """
    return -((LOG_2 - F.softplus(-d_real)).mean() - (F.softplus(d_fake) - LOG_2).mean())


def g_loss_f_js(d_fake: Tensor) -> Tensor:
    """f-GAN G loss for JS (eq. 6): L_G = -E_z[softplus(V) - log 2], the minimax G + log 2."""
    return -(F.softplus(d_fake) - LOG_2).mean()


# ---------------------------------------------------------------------------------------------
# One interface over all twelve.


@dataclass(frozen=True)
class Objective:
    """A game: D's loss, G's loss, the value D maximises, and what G minimises at D's optimum.

    Attributes:
        name: one of OBJECTIVE_NAMES.
        d_loss: (d_real, d_fake) -> scalar that D minimises.
        g_loss: (d_fake, d_real) -> scalar that G minimises; d_real is None unless g_needs_real.
        value: (d_real, d_fake) -> what D maximises, metrics.csv's `value`: V(D, G) of eq. 1 for
            the 2014 three (losses.value_function), -d_loss otherwise.
        g_needs_real: True for relativistic only.
        output: "probability" (sigmoid(D's output) is D(x): the 2014 three) or "critic" (raw).
        minimises: one line, what G minimises at D's optimum.
    """

    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor, Tensor | None], Tensor]
    value: Callable[[Tensor, Tensor], Tensor]
    g_needs_real: bool
    output: str
    minimises: str


OBJECTIVE_NAMES = ("minimax", "nonsaturating", "maximum_likelihood", "least_squares", "wasserstein",
                   "hinge", "relativistic", "f_kl", "f_reverse_kl", "f_pearson", "f_hellinger",
                   "f_js")  # fmt: skip
"""The objectives by the names the config uses (config.OBJECTIVES holds the same tuple)."""

_BCE = {
    "minimax": (
        losses.g_loss_minimax,
        "-log 4 + 2 JSD(p_data || p_g) (C(G), Goodfellow et al. 2014, Theorem 1)",
    ),
    "nonsaturating": (
        losses.g_loss_nonsaturating,
        "KL(p_g || p_data) - 2 JSD(p_data || p_g) in expected gradient (Arjovsky & Bottou 2017, "
        "Theorem 2.5)",
    ),
    "maximum_likelihood": (
        losses.g_loss_maximum_likelihood,
        "KL(p_data || p_g) in expected gradient, forward KL (Goodfellow 2014, 'On "
        "distinguishability criteria')",
    ),
}
_CRITIC = {  # name: (d_loss, g_loss of d_fake, minimises)
    "wasserstein": (
        d_loss_wasserstein,
        g_loss_wasserstein,
        "W1(p_data, p_g) for a 1-Lipschitz critic (Kantorovich-Rubinstein; Arjovsky et al. 2017)",
    ),
    "hinge": (
        d_loss_hinge,
        g_loss_hinge,
        "2 TV(p_data, p_g) - 2 = -min_D L_D at D* = sign(p_data - p_g) (G's -E[f] is -L_D up to "
        "G-free terms where |f| <= 1)",
    ),
    "f_kl": (d_loss_f_kl, g_loss_f_kl, "KL(p_data || p_g) (Nowozin et al. 2016, eq. 6, Table 1)"),
    "f_reverse_kl": (
        d_loss_f_reverse_kl,
        g_loss_f_reverse_kl,
        "KL(p_g || p_data) (Nowozin et al. 2016, eq. 6, Table 1)",
    ),
    "f_pearson": (
        d_loss_f_pearson,
        g_loss_f_pearson,
        "Pearson chi^2(p_data || p_g) = integral (p_data - p_g)^2 / p_g (Nowozin et al. 2016)",
    ),
    "f_hellinger": (
        d_loss_f_hellinger,
        g_loss_f_hellinger,
        "squared Hellinger integral (sqrt(p_data) - sqrt(p_g))^2 (Nowozin et al. 2016, Table 1)",
    ),
    "f_js": (
        d_loss_f_js,
        g_loss_f_js,
        "2 JSD(p_data || p_g) (Nowozin et al. 2016, eq. 6, Table 1; the 2014 C(G) + log 4)",
    ),
}


def _ignoring_real(g_loss: Callable[[Tensor], Tensor]) -> Callable[[Tensor, Tensor | None], Tensor]:
    """g_loss(d_fake) as the (d_fake, d_real) -> loss of Objective.g_loss."""

    def g_loss_of_fake(d_fake: Tensor, d_real: Tensor | None = None) -> Tensor:
        return g_loss(d_fake)

    g_loss_of_fake.__name__ = g_loss_of_fake.__qualname__ = g_loss.__name__
    g_loss_of_fake.__doc__, g_loss_of_fake.__wrapped__ = g_loss.__doc__, g_loss
    return g_loss_of_fake


def _negated(d_loss: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    """-d_loss: the value D maximises."""

    def value(d_real: Tensor, d_fake: Tensor) -> Tensor:
        return -d_loss(d_real, d_fake)

    return value


def _least_squares(a: float, b: float, c: float) -> Objective:
    def d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
        return d_loss_least_squares(d_real, d_fake, a=a, b=b)

    def g_loss(d_fake: Tensor, d_real: Tensor | None = None) -> Tensor:
        return g_loss_least_squares(d_fake, c=c)

    if b - c == 1.0 and b - a == 2.0:
        minimises = "Pearson chi^2(p_data + p_g || 2 p_g) (Mao et al. 2017)"
    else:  # the integral of 2 C(G) before b - c = 1, b - a = 2 make it a divergence
        minimises = (
            f"integral ({b - c:g} p_data + {a - c:g} p_g)^2 / (p_data + p_g) "
            "(Mao et al. 2017; a divergence when b - c = 1, b - a = 2)"
        )
    return Objective("least_squares", d_loss, g_loss, _negated(d_loss), False, "critic", minimises)


def objective(
    name: str, label_smoothing: float = 0.0, a: float = -1.0, b: float = 1.0, c: float = 0.0
) -> Objective:
    """The objective called `name`, its functions bound to the given settings.

    Args:
        name: one of OBJECTIVE_NAMES.
        label_smoothing: one-sided smoothing of the 2014 D's data target (losses.d_loss).
        a, b, c: least squares' targets (Mao et al. 2017); other objectives ignore them.
    Returns:
        An Objective.
    Raises:
        ValueError: an unknown name, or label smoothing for an objective without a
            cross-entropy D.
    """
    if name not in OBJECTIVE_NAMES:
        raise ValueError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVE_NAMES)}")
    if label_smoothing and name not in _BCE:
        raise ValueError(
            f"label_smoothing={label_smoothing} smooths the cross-entropy D of "
            f"{', '.join(_BCE)}; objective {name!r} has none: pass label_smoothing=0"
        )
    if name in _BCE:
        g_loss, minimises = _BCE[name]

        def d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
            return losses.d_loss(d_real, d_fake, label_smoothing=label_smoothing)

        value = losses.value_function
        return Objective(
            name, d_loss, _ignoring_real(g_loss), value, False, "probability", minimises
        )
    if name == "least_squares":
        return _least_squares(a, b, c)
    if name == "relativistic":
        return Objective(
            name,
            d_loss_relativistic,
            g_loss_relativistic,
            _negated(d_loss_relativistic),
            True,
            "critic",
            "a relativistic divergence, log 2 - min_D L_D in [0, log 2], 0 iff p_g = p_data "
            "(Jolicoeur-Martineau 2020); G descends its non-saturating counterpart",
        )
    d_loss, g_loss, minimises = _CRITIC[name]
    return Objective(
        name, d_loss, _ignoring_real(g_loss), _negated(d_loss), False, "critic", minimises
    )
