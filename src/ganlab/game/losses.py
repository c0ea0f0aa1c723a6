"""The two-player minimax game of Goodfellow et al. (2014), as pure functions of logits.

Every function takes discriminator *logits* ``a = sigma^-1(D(x))`` so that
``D = sigmoid(a)``. Logs of D are computed as ``log D = -softplus(-a)`` and
``log(1 - D) = -softplus(a)``: exact for every finite ``a``, where
``log(sigmoid(a) + eps)`` would saturate and lose the gradient (section 3).

    min_G max_D V(D, G) = E_x~p_data[log D(x)] + E_z~p_z[log(1 - D(G(z)))]     (eq. 1)
"""

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

GLoss = Callable[[Tensor], Tensor]


def value_function(d_real_logits: Tensor, d_fake_logits: Tensor) -> Tensor:
    """The value of the game, eq. 1. D maximises it, G minimises it.

        V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]
                = -E_x[softplus(-a_real)] - E_z[softplus(a_fake)]

    Its maximum over D is C(G) = -log 4 + 2 JSD(p_data || p_g) (Theorem 1).

    Args:
        d_real_logits: (m,) logits of D on m examples from p_data.
        d_fake_logits: (m,) logits of D on m samples G(z).
    Returns:
        A scalar tensor, <= 0.
    """
    return -F.softplus(-d_real_logits).mean() - F.softplus(d_fake_logits).mean()


def d_loss(d_real_logits: Tensor, d_fake_logits: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Discriminator loss: cross-entropy with targets 1 for data, 0 for samples. D minimises it.

        L_D = -E_x[t log D(x) + (1 - t) log(1 - D(x))] - E_z[log(1 - D(G(z)))],  t = 1 - alpha
            = E_x[t softplus(-a_real) + (1 - t) softplus(a_real)] + E_z[softplus(a_fake)]

    With alpha = 0 this is exactly -V(D, G) (eq. 1): descending L_D ascends V, as in
    Algorithm 1. One-sided label smoothing (Salimans et al. 2016) lowers only the data
    target to 1 - alpha; the sample target stays 0, since smoothing it would move D*
    towards p_g and stop pushing G off regions without data.

    Args:
        d_real_logits: (m,) logits of D on data.
        d_fake_logits: (m,) logits of D on generated samples.
        label_smoothing: alpha in [0, 1).
    Returns:
        A scalar tensor.
    """
    target = 1.0 - label_smoothing
    real = target * F.softplus(-d_real_logits) + (1.0 - target) * F.softplus(d_real_logits)
    return real.mean() + F.softplus(d_fake_logits).mean()


def g_loss_minimax(d_fake_logits: Tensor) -> Tensor:
    """Saturating G loss: the G term of V(D, G), eq. 1. G minimises it.

        L_G = E_z[log(1 - D(G(z)))] = -E_z[softplus(a)],  a = logit of D(G(z))

    dL/da = -sigmoid(a) = -D(G(z)) per sample (before the 1/m of the mean), which
    vanishes as D(G(z)) -> 0: early in training, when D rejects samples with
    confidence, G gets no gradient (section 3). See g_loss_nonsaturating.

    Args:
        d_fake_logits: (m,) logits of D on m generated samples.
    """
    return -F.softplus(d_fake_logits).mean()


def g_loss_nonsaturating(d_fake_logits: Tensor) -> Tensor:
    """Non-saturating G loss (section 3): maximise log D(G(z)) instead. G minimises it.

        L_G = -E_z[log D(G(z))] = E_z[softplus(-a)]

    Same fixed point as the minimax loss, but dL/da = sigmoid(a) - 1 -> -1 as
    D(G(z)) -> 0, so G learns fastest exactly when it is worst.

    Args:
        d_fake_logits: (m,) logits of D on m generated samples.
    """
    return F.softplus(-d_fake_logits).mean()


MAXIMUM_LIKELIHOOD_CAP = 60.0
"""A in g_loss_maximum_likelihood: exp(a) is exact up to a = A, continued logarithmically beyond
(exp_log_beyond). exp(60) (1 + log(3.4e38)) = 1e28 per sample: the minibatch mean stays a float32
number for every finite logit and up to 3e10 samples."""


def exp_linear_beyond(x: Tensor, cap: float) -> Tensor:
    """exp(x) up to x = cap, continued beyond by its tangent there: finite where exp overflows.

        exp_cap(x) = exp(x)                       for x <= cap
                   = exp(cap) * (1 + x - cap)     for x >  cap

    Continuous with a continuous first derivative (exp(cap) on both sides of the cap), and
    bit-identical to torch.exp for x <= cap, values and gradients: the exp branch sees
    x.clamp(max=cap), so it never computes inf, whose 0 gradient through torch.where would be
    inf * 0 = nan. float32's exp overflows for x > 88.72.

    Args:
        x: a tensor of any shape.
        cap: where the line takes over, a float.
    Returns:
        A tensor of x's shape and dtype.
    """
    return torch.where(x <= cap, torch.exp(x.clamp(max=cap)), math.exp(cap) * (1.0 + (x - cap)))


def exp_log_beyond(x: Tensor, cap: float) -> Tensor:
    """exp(x) up to x = cap, continued beyond by a logarithm: finite for every finite x.

        exp_cap(x) = exp(x)                               for x <= cap
                   = exp(cap) * (1 + log(1 + x - cap))    for x >  cap

    Continuous with a continuous first derivative (exp(cap) on both sides of the cap), and
    bit-identical to torch.exp for x <= cap, values and gradients (the exp branch sees
    x.clamp(max=cap), so it never computes inf, whose 0 gradient through torch.where would be
    inf * 0 = nan). A linear tail (exp_linear_beyond) still overflows float32 where x - cap
    reaches 3.4e38 / exp(cap); this one grows like log x, so its values stay below
    exp(cap) * 90 for every float32 x.

    Args:
        x: a tensor of any shape.
        cap: where the logarithm takes over, a float.
    Returns:
        A tensor of x's shape and dtype.
    """
    beyond = math.exp(cap) * (1.0 + torch.log1p((x - cap).clamp(min=0.0)))
    return torch.where(x <= cap, torch.exp(x.clamp(max=cap)), beyond)


def g_loss_maximum_likelihood(d_fake_logits: Tensor) -> Tensor:
    """Maximum-likelihood G cost (Goodfellow 2014, "On distinguishability criteria"); minimised.

        L_G = -E_z[exp(sigma^-1(D(G(z))))] = -E_z[exp(a)]

    With D = D*, exp(a) = p_data / p_g, and the expected gradient of this cost equals
    that of KL(p_data || p_g): the forward-KL objective of maximum likelihood.
    dL/da = -exp(a): tiny while D rejects samples, so it too saturates early.

    Overflow guard: exp(a) is float32's inf for a > 88.72 (a D sure that a sample is data),
    which made the loss -inf and G's gradient nan. exp is therefore continued logarithmically
    beyond A = MAXIMUM_LIKELIHOOD_CAP = 60 (exp_log_beyond): -E_z[exp(A) (1 + log(1 + a - A))]
    there, at most 1e28 per sample, with gradient -exp(A) / (1 + a - A) / m per sample: the
    loss and its gradient are finite for every finite a. For a <= 60 (D(G(z)) < 1 - 1e-26) they
    are bit-identical to -exp(a).mean().

    Args:
        d_fake_logits: (m,) logits of D on m generated samples.
    """
    return -exp_log_beyond(d_fake_logits, MAXIMUM_LIKELIHOOD_CAP).mean()


G_LOSSES: dict[str, GLoss] = {
    "minimax": g_loss_minimax,
    "nonsaturating": g_loss_nonsaturating,
    "maximum_likelihood": g_loss_maximum_likelihood,
}
"""The generator objectives by the name the config uses for them."""
