"""The objectives of issue 16 against hand arithmetic, other libraries' test values, and the
divergence each one's D game attains at its optimum."""

import math

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from ganlab.config import BCE_OBJECTIVES, OBJECTIVES, load_config
from ganlab.game import losses
from ganlab.game.objectives import (
    OBJECTIVE_NAMES,
    d_loss_f_js,
    d_loss_hinge,
    d_loss_least_squares,
    d_loss_relativistic,
    d_loss_wasserstein,
    g_loss_f_js,
    g_loss_hinge,
    g_loss_least_squares,
    g_loss_relativistic,
    g_loss_wasserstein,
    objective,
)

# float64 arithmetic on a handful of O(1) numbers: both sides err by ~1e-16 per operation, so
# 1e-12 is far above rounding and far below any mistake in a formula.
TOL = {"rtol": 0.0, "atol": 1e-12}
REAL = [-0.7, 0.3, 1.9]  # D's raw outputs on data: 1.9 lies past the hinge's kink at 1
FAKE = [0.4, -1.2, 0.8]  # ... on samples: -1.2 lies past the kink at -1


def sig(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


# The table of Nowozin et al. (2016): output activation g_f, its derivative, the conjugate f*
# and its derivative, written literally (not in the closed forms the module composes).
F_TABLE = {
    "f_kl": (lambda v: v, lambda v: 1.0, lambda t: math.exp(t - 1), lambda t: math.exp(t - 1)),
    "f_reverse_kl": (
        lambda v: -math.exp(-v),
        lambda v: math.exp(-v),
        lambda t: -1 - math.log(-t),
        lambda t: -1 / t,
    ),
    "f_pearson": (lambda v: v, lambda v: 1.0, lambda t: t * t / 4 + t, lambda t: t / 2 + 1),
    "f_hellinger": (
        lambda v: 1 - math.exp(-v),
        lambda v: math.exp(-v),
        lambda t: t / (1 - t),
        lambda t: 1 / (1 - t) ** 2,
    ),
    "f_js": (
        lambda v: math.log(2) - math.log(1 + math.exp(-v)),
        lambda v: math.exp(-v) / (1 + math.exp(-v)),
        lambda t: -math.log(2 - math.exp(t)),
        lambda t: math.exp(t) / (2 - math.exp(t)),
    ),
}


def hand_terms(name):
    """Per-sample terms of L_D = mean(real term) + mean(fake term) and L_G = mean(g term), each
    with its derivative worked out by hand: (real, d real, fake, d fake, g, d g)."""
    if name in F_TABLE:  # L_D = -(E[g_f(V)] - E[f*(g_f(V))]), L_G = -E[f*(g_f(V))]
        g, dg, fs, dfs = F_TABLE[name]
        return (
            lambda r: -g(r),
            lambda r: -dg(r),
            lambda f: fs(g(f)),
            lambda f: dfs(g(f)) * dg(f),  # chain rule
            lambda f: -fs(g(f)),
            lambda f: -dfs(g(f)) * dg(f),
        )
    bce_real = (lambda r: -math.log(sig(r)), lambda r: -(1 - sig(r)))  # -log D(x)
    bce_fake = (lambda f: -math.log(1 - sig(f)), lambda f: sig(f))  # -log(1 - D(G(z)))
    return {
        "minimax": (*bce_real, *bce_fake, lambda f: math.log(1 - sig(f)), lambda f: -sig(f)),
        "nonsaturating": (*bce_real, *bce_fake, lambda f: -math.log(sig(f)), lambda f: sig(f) - 1),
        "maximum_likelihood": (
            *bce_real,
            *bce_fake,
            lambda f: -math.exp(f),
            lambda f: -math.exp(f),
        ),
        # a = -1, b = 1, c = 0
        "least_squares": (
            lambda r: (r - 1) ** 2 / 2,
            lambda r: r - 1,
            lambda f: (f + 1) ** 2 / 2,
            lambda f: f + 1,
            lambda f: f**2 / 2,
            lambda f: f,
        ),
        "wasserstein": (
            lambda r: -r,
            lambda r: -1,
            lambda f: f,
            lambda f: 1,
            lambda f: -f,
            lambda f: -1,
        ),
        "hinge": (
            lambda r: max(0.0, 1 - r),
            lambda r: -1.0 if r < 1 else 0.0,
            lambda f: max(0.0, 1 + f),
            lambda f: 1.0 if f > -1 else 0.0,
            lambda f: -f,
            lambda f: -1,
        ),
    }[name]


def tensors(*values):
    return [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]


@pytest.mark.parametrize("name", [n for n in OBJECTIVE_NAMES if n != "relativistic"])
def test_losses_and_gradients_match_hand_arithmetic(name):
    real_t, d_r, fake_t, d_f, g_t, d_g = hand_terms(name)
    m = len(REAL)
    obj = objective(name)
    r, f = tensors(REAL, FAKE)
    d_loss = obj.d_loss(r, f)
    expected = sum(map(real_t, REAL)) / m + sum(map(fake_t, FAKE)) / m
    assert_close(d_loss.item(), expected, **TOL)
    grad_r, grad_f = torch.autograd.grad(d_loss, (r, f))
    assert_close(grad_r.tolist(), [d_r(v) / m for v in REAL], **TOL)
    assert_close(grad_f.tolist(), [d_f(v) / m for v in FAKE], **TOL)

    (f,) = tensors(FAKE)
    g_loss = obj.g_loss(f, None)
    assert_close(g_loss.item(), sum(map(g_t, FAKE)) / m, **TOL)
    (grad_f,) = torch.autograd.grad(g_loss, f)
    assert_close(grad_f.tolist(), [d_g(v) / m for v in FAKE], **TOL)


def test_relativistic_losses_and_gradients_match_hand_arithmetic():
    m = len(REAL)
    r, f = tensors(REAL, FAKE)
    d_loss = d_loss_relativistic(r, f)  # -E[log sigmoid(f(x_i) - f(G(z_i)))]
    assert_close(
        d_loss.item(),
        sum(-math.log(sig(a - b)) for a, b in zip(REAL, FAKE, strict=True)) / m,
        **TOL,
    )
    grad_r, grad_f = torch.autograd.grad(d_loss, (r, f))
    # d/dt -log sigmoid(t) = sigmoid(t) - 1, t = f(x_i) - f(G(z_i))
    w = [(1 - sig(a - b)) / m for a, b in zip(REAL, FAKE, strict=True)]
    assert_close(grad_r.tolist(), [-v for v in w], **TOL)
    assert_close(grad_f.tolist(), w, **TOL)

    r, f = tensors(REAL, FAKE)
    g_loss = objective("relativistic").g_loss(f, r)
    assert_close(
        g_loss.item(),
        sum(-math.log(sig(b - a)) for a, b in zip(REAL, FAKE, strict=True)) / m,
        **TOL,
    )
    grad_f, grad_r = torch.autograd.grad(g_loss, (f, r))
    w = [(1 - sig(b - a)) / m for a, b in zip(REAL, FAKE, strict=True)]
    assert_close(grad_f.tolist(), [-v for v in w], **TOL)
    assert_close(grad_r.tolist(), w, **TOL)
    # G's loss is D's with the roles of data and samples swapped
    swapped = g_loss_relativistic(f, r)
    assert_close(swapped, d_loss_relativistic(f, r), **TOL)
    assert swapped.item() != pytest.approx(d_loss_relativistic(r, f).item())  # not symmetric


# ---------------------------------------------------------------------------------------------
# Other libraries' hand-set cases. TF-GAN: tensorflow/gan, tensorflow_gan/python/losses/
# losses_impl_test.py (_LossesTest.init_constants): real [-5, 1.4, 12.5, 2.7], generated
# [10, 4.4, -5.5, 3.6], means over the batch; expected values printed to 5 decimals and checked
# to assertAlmostEqual(places=5), so each is within 5e-6 of the exact value: atol 1e-5.
TFGAN_REAL = torch.tensor([-5.0, 1.4, 12.5, 2.7], dtype=torch.float64)
TFGAN_FAKE = torch.tensor([10.0, 4.4, -5.5, 3.6], dtype=torch.float64)
TFGAN_TOL = {"rtol": 0.0, "atol": 1e-5}


def test_tfgan_least_squares_case():
    # TF-GAN's least squares codes data 1, samples 0, G's target 1: a = 0, b = 1, c = 1.
    d = d_loss_least_squares(TFGAN_REAL, TFGAN_FAKE, a=0.0, b=1.0)
    assert_close(d.item(), 41.73375, **TFGAN_TOL)
    assert_close(g_loss_least_squares(TFGAN_FAKE, c=1.0).item(), 17.69625, **TFGAN_TOL)


def test_tfgan_wasserstein_and_hinge_cases():
    assert_close(d_loss_wasserstein(TFGAN_REAL, TFGAN_FAKE).item(), 0.225, **TFGAN_TOL)
    assert_close(g_loss_wasserstein(TFGAN_FAKE).item(), -3.125, **TFGAN_TOL)
    # HingeWassersteinLossTest: relu(1 - real) + relu(1 + generated), G -E[generated]
    assert_close(d_loss_hinge(TFGAN_REAL, TFGAN_FAKE).item(), 6.75, **TFGAN_TOL)
    assert_close(g_loss_hinge(TFGAN_FAKE).item(), -3.125, **TFGAN_TOL)


def test_tfgan_cross_entropy_cases():
    # TF-GAN's D losses smooth labels by 0.25 by default, tf.losses style: target
    # 1 * (1 - 0.25) + 0.5 * 0.25 = 0.875, i.e. our one-sided alpha = 0.125.
    bce = objective("nonsaturating", label_smoothing=0.125)
    assert_close(bce.d_loss(TFGAN_REAL, TFGAN_FAKE).item(), 6.19637, **TFGAN_TOL)
    assert_close(bce.g_loss(TFGAN_FAKE, None).item(), 1.38582, **TFGAN_TOL)  # "modified" G
    # TF-GAN's minimax G loss is -(its D loss with logits 1 standing for the data term):
    # -(softplus(-1) + E[softplus(a)]), i.e. ours minus the constant softplus(-1).
    minimax = objective("minimax").g_loss(TFGAN_FAKE, None) - math.log1p(math.exp(-1.0))
    assert_close(minimax.item(), -4.82408, **TFGAN_TOL)


def test_mimicry_all_ones_case():
    # kwotsin/mimicry, tests/nets/modules/test_losses.py: every output 1. Hinge D relu(0) +
    # relu(2) = 2, G -1; Wasserstein D 0, G -1; minimax D softplus(-1) + softplus(1) = 1.6265,
    # non-saturating G softplus(-1) = 0.3133 (mimicry checks 4 decimals: atol 5e-5).
    ones = torch.ones(4)
    assert d_loss_hinge(ones, ones).item() == 2.0 and g_loss_hinge(ones).item() == -1.0
    assert d_loss_wasserstein(ones, ones).item() == 0.0 and g_loss_wasserstein(ones).item() == -1.0
    assert_close(objective("minimax").d_loss(ones, ones).item(), 1.6265, rtol=0, atol=5e-5)
    assert_close(objective("nonsaturating").g_loss(ones, None).item(), 0.3133, rtol=0, atol=5e-5)


# ---------------------------------------------------------------------------------------------
# The divergences at D's optimum, on two discrete distributions given as weighted samples: a
# minibatch repeats support point k count_k times, so its mean is the expectation exactly.
P_COUNTS, Q_COUNTS = np.array([1, 2, 4, 5, 0]), np.array([3, 3, 2, 4, 0])
SUPPORT = np.flatnonzero(P_COUNTS + Q_COUNTS)  # points 0..3; point 4 has no mass
P, Q = P_COUNTS[SUPPORT] / P_COUNTS.sum(), Q_COUNTS[SUPPORT] / Q_COUNTS.sum()


def batches(per_point: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D's outputs on the data batch and the sample batch, from its value at each point."""
    real = torch.repeat_interleave(per_point, torch.as_tensor(P_COUNTS[SUPPORT]))
    fake = torch.repeat_interleave(per_point, torch.as_tensor(Q_COUNTS[SUPPORT]))
    return real, fake


U = P / Q  # the density ratio p_data / p_g, all points positive under both
F_OPTIMUM = {  # V* = g_f^-1(f'(u)) and D_f(P || Q) computed directly
    "f_kl": (1 + np.log(U), np.sum(P * np.log(P / Q))),
    "f_reverse_kl": (np.log(U), np.sum(Q * np.log(Q / P))),
    "f_pearson": (2 * (U - 1), np.sum((P - Q) ** 2 / Q)),
    "f_hellinger": (0.5 * np.log(U), np.sum((np.sqrt(P) - np.sqrt(Q)) ** 2)),
    "f_js": (  # D_f = 2 JSD, JSD = KL(P || M)/2 + KL(Q || M)/2
        np.log(U),
        np.sum(P * np.log(2 * P / (P + Q))) + np.sum(Q * np.log(2 * Q / (P + Q))),
    ),
}


@pytest.mark.parametrize("name", sorted(F_OPTIMUM))
def test_f_gan_d_game_attains_the_f_divergence_at_the_optimal_critic(name):
    v_star, divergence = F_OPTIMUM[name]
    v = torch.tensor(v_star, dtype=torch.float64, requires_grad=True)
    d_loss = objective(name).d_loss(*batches(v))
    # float64 sums of a dozen O(1) terms: ~1e-15; 1e-10 as the brief's float64 bound
    assert_close(-d_loss.item(), float(divergence), rtol=0, atol=1e-10)
    # ... and V* is where D's loss is stationary in V at every point (its minimum: L_D is convex
    # in V for these g_f, f*), so no other critic does better
    (grad,) = torch.autograd.grad(d_loss, v)
    assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-12)


def test_f_js_is_the_2014_game_shifted_by_log_4():
    r, f = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    assert_close(d_loss_f_js(r, f), losses.d_loss(r, f) - math.log(4.0), **TOL)
    assert_close(g_loss_f_js(f), losses.g_loss_minimax(f) + math.log(2.0), **TOL)


def test_least_squares_c_of_g_is_pearson_chi2_under_maos_condition():
    a, b, c = -1.0, 1.0, 0.0  # b - c = 1, b - a = 2
    d_star = torch.tensor((b * P + a * Q) / (P + Q), dtype=torch.float64, requires_grad=True)
    real, fake = batches(d_star)
    # C(G) with the G-free data term Mao et al. add (it moves no optimum of G):
    # 1/2 E_data[(D* - c)^2] + 1/2 E_g[(D* - c)^2]; no further constant
    c_of_g = g_loss_least_squares(real, c=c) + g_loss_least_squares(fake, c=c)
    big_p, big_q = P + Q, 2 * Q  # Pearson chi^2(P || Q) = sum (Q - P)^2 / P, Mao's convention
    assert_close(2 * c_of_g.item(), float(np.sum((big_q - big_p) ** 2 / big_p)), **TOL)
    # D* is where D's loss is stationary (it is convex in D's values), and there D's loss is
    # 1/2 (b - a)^2 sum pq/(p + q) = 1 - chi^2/2, since chi^2 = sum (p + q) - 4pq/(p + q)
    d_loss = d_loss_least_squares(real, fake, a=a, b=b)
    (grad,) = torch.autograd.grad(d_loss, d_star)
    assert_close(grad, torch.zeros_like(grad), **TOL)
    assert_close(d_loss.item(), 1 - float(np.sum((big_q - big_p) ** 2 / big_p)) / 2, **TOL)


@pytest.mark.parametrize("a, b, c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 1.0), (0.0, 2.0, 1.0)])
def test_least_squares_c_of_g_for_other_targets(a, b, c):
    d_star = torch.tensor((b * P + a * Q) / (P + Q), dtype=torch.float64)
    real, fake = batches(d_star)
    c_of_g = g_loss_least_squares(real, c=c) + g_loss_least_squares(fake, c=c)
    expected = np.sum(((b - c) * P + (a - c) * Q) ** 2 / (P + Q))
    assert_close(2 * c_of_g.item(), float(expected), **TOL)


def test_wasserstein_d_game_attains_w1_with_the_optimal_1_lipschitz_critic():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0.0, 1.0, 64), rng.normal(0.7, 1.5, 64)  # data, samples
    w1 = np.mean(np.abs(np.sort(x) - np.sort(y)))  # W1 of equal-size empirical measures
    # The optimal critic rises with slope 1 where F_g > F_data and falls where F_g < F_data
    # (E_p f - E_q f = integral f'(t) (F_q - F_p) dt); no quantiles involved.
    z = np.sort(np.concatenate([x, y]))
    cdf_x, cdf_y = (
        np.searchsorted(np.sort(x), z, "right") / 64,
        np.searchsorted(np.sort(y), z, "right") / 64,
    )
    slope = np.sign(cdf_y - cdf_x)[:-1]
    critic = np.concatenate([[0.0], np.cumsum(slope * np.diff(z))])  # at each z
    assert np.all(np.abs(np.diff(critic)) <= np.diff(z) + 1e-12)  # 1-Lipschitz
    f_x = torch.tensor(np.interp(x, z, critic), dtype=torch.float64)
    f_y = torch.tensor(np.interp(y, z, critic), dtype=torch.float64)
    assert_close(-d_loss_wasserstein(f_x, f_y).item(), float(w1), **TOL)


def test_hinge_d_game_attains_two_minus_two_total_variation():
    d_star = torch.tensor(np.sign(P - Q), dtype=torch.float64)
    tv = 0.5 * np.sum(np.abs(P - Q))
    assert_close(d_loss_hinge(*batches(d_star)).item(), float(2 - 2 * tv), **TOL)
    # sign(p - q) is the pointwise minimiser: a brute-force search over t agrees
    t = np.linspace(-3, 3, 6001)
    per_point = [
        np.min(p * np.maximum(0, 1 - t) + q * np.maximum(0, 1 + t))
        for p, q in zip(P, Q, strict=True)
    ]
    assert_close(float(np.sum(per_point)), float(2 - 2 * tv), **TOL)


def test_hinge_g_loss_is_minus_d_loss_up_to_g_free_terms_while_the_critic_is_in_range():
    gen = torch.Generator().manual_seed(0)
    r = torch.rand(16, generator=gen, dtype=torch.float64) * 2 - 1  # in [-1, 1]
    f = torch.rand(16, generator=gen, dtype=torch.float64) * 2 - 1
    # -L_D = -E[1 - f(x)] - E[1 + f(G(z))] = -2 + E[f(x)] - E[f(G(z))]
    assert_close(g_loss_hinge(f), -d_loss_hinge(r, f) + 2 - r.mean(), **TOL)


def test_relativistic_d_game_is_log_2_with_a_constant_critic_and_0_when_separated():
    const = torch.full((6,), 0.3, dtype=torch.float64)
    assert_close(d_loss_relativistic(const, const).item(), math.log(2.0), **TOL)
    # disjoint supports: D separates every pair by 40 logits, L_D -> softplus(-40) ~ 4e-18
    assert_close(d_loss_relativistic(const + 40.0, const).item(), 0.0, **TOL)


# ---------------------------------------------------------------------------------------------
# The interface.


def test_names_are_the_configs():
    assert OBJECTIVE_NAMES == OBJECTIVES
    assert [objective(n).name for n in OBJECTIVE_NAMES] == list(OBJECTIVE_NAMES)
    # config (a base module) keeps its own copy of which objectives have a cross-entropy D:
    # it must say what the game layer says, as must Config.critic
    probability = tuple(n for n in OBJECTIVE_NAMES if objective(n).output == "probability")
    assert BCE_OBJECTIVES == probability
    for name in OBJECTIVE_NAMES:
        critic = load_config(None, [f"objective={name}"]).critic
        assert critic == (objective(name).output == "critic")


def test_objective_fields():
    r, f = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    for name in OBJECTIVE_NAMES:
        obj = objective(name)
        bce = name in ("minimax", "nonsaturating", "maximum_likelihood")
        assert obj.output == ("probability" if bce else "critic")
        assert obj.g_needs_real == (name == "relativistic")
        expected_value = losses.value_function(r, f) if bce else -obj.d_loss(r, f)
        assert_close(obj.value(r, f), expected_value, **TOL)
        assert obj.minimises
    smoothed = objective("minimax", label_smoothing=0.2)
    assert_close(smoothed.d_loss(r, f), losses.d_loss(r, f, label_smoothing=0.2), **TOL)
    assert_close(smoothed.value(r, f), losses.value_function(r, f), **TOL)  # V of eq. 1, unsmoothed


def test_least_squares_targets_and_what_g_minimises():
    r, f = torch.tensor(REAL, dtype=torch.float64), torch.tensor(FAKE, dtype=torch.float64)
    obj = objective("least_squares", a=0.0, b=1.0, c=1.0)
    assert_close(obj.d_loss(r, f), d_loss_least_squares(r, f, a=0.0, b=1.0), **TOL)
    assert_close(obj.g_loss(f, None), g_loss_least_squares(f, c=1.0), **TOL)
    assert objective("least_squares").minimises.startswith("Pearson chi^2(p_data + p_g || 2 p_g)")
    assert "Pearson" not in obj.minimises  # b - c = 0: not Mao's divergence


def test_unknown_objective_and_misplaced_label_smoothing_raise():
    with pytest.raises(ValueError, match="unknown objective 'lsgan'; choose one of minimax"):
        objective("lsgan")
    with pytest.raises(ValueError, match="objective 'hinge' has none: pass label_smoothing=0"):
        objective("hinge", label_smoothing=0.1)


# ---------------------------------------------------------------------------------------------
# Numerics: no inf or nan for any float32 input in [-1e4, 1e4], values or gradients.

EXTREMES = [-1e4, -1e3, -100.0, -89.0, -1.0, 0.0, 1.0, 89.0, 100.0, 1e3, 1e4]


@pytest.mark.parametrize("name", [n for n in OBJECTIVE_NAMES if n != "maximum_likelihood"])
@pytest.mark.parametrize("case", ["mixed", "all_low", "all_high"])
def test_losses_and_gradients_stay_finite_in_float32(name, case):
    # maximum_likelihood's float32 limit is its own test in test_losses.py
    obj = objective(name)
    n = len(EXTREMES)
    real = {"mixed": EXTREMES, "all_low": [-1e4] * n, "all_high": [1e4] * n}[case]
    fake = {"mixed": EXTREMES[::-1], "all_low": [-1e4] * n, "all_high": [1e4] * n}[case]
    for r_values, f_values in [(real, fake), (fake, real)]:
        r = torch.tensor(r_values, requires_grad=True)
        f = torch.tensor(f_values, requires_grad=True)
        total = obj.d_loss(r, f) + obj.g_loss(f, r if obj.g_needs_real else None)
        grads = torch.autograd.grad(total, (r, f), allow_unused=True)
        assert torch.isfinite(total), (name, total)
        assert all(g is None or torch.isfinite(g).all() for g in grads), (name, grads)
