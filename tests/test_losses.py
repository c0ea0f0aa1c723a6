"""The game's losses against hand-computed values and the saturation claim of section 3."""

import math

import pytest
import torch
from torch.testing import assert_close

from ganlab.game.losses import (
    G_LOSSES,
    MAXIMUM_LIKELIHOOD_CAP,
    d_loss,
    exp_linear_beyond,
    exp_log_beyond,
    g_loss_maximum_likelihood,
    g_loss_minimax,
    g_loss_nonsaturating,
    value_function,
)

# Logits where D is simple: sigma(0) = 1/2, sigma(log 3) = 3/4, sigma(-log 3) = 1/4.
REAL = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64)  # D(x) = 1/2, 3/4
FAKE = torch.tensor([-math.log(3.0), 0.0], dtype=torch.float64)  # D(G(z)) = 1/4, 1/2
# float64 arithmetic on a handful of numbers: errors ~1e-16, so 1e-12 is a safe tolerance.
TOL = {"rtol": 0.0, "atol": 1e-12}


def test_value_function_matches_hand_computation():
    expected = (math.log(1 / 2) + math.log(3 / 4)) / 2 + (math.log(3 / 4) + math.log(1 / 2)) / 2
    assert_close(value_function(REAL, FAKE), torch.tensor(expected, dtype=torch.float64), **TOL)


def test_d_loss_is_binary_cross_entropy_and_minus_v():
    expected = -(math.log(1 / 2) + math.log(3 / 4)) / 2 - (math.log(3 / 4) + math.log(1 / 2)) / 2
    assert_close(d_loss(REAL, FAKE), torch.tensor(expected, dtype=torch.float64), **TOL)
    assert_close(d_loss(REAL, FAKE), -value_function(REAL, FAKE), **TOL)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    ref = bce(REAL, torch.ones(2, dtype=torch.float64)) + bce(
        FAKE, torch.zeros(2, dtype=torch.float64)
    )
    assert_close(d_loss(REAL, FAKE), ref, **TOL)


def test_one_sided_label_smoothing_changes_only_the_data_target():
    alpha = 0.1
    t = 1 - alpha
    real_term = (
        -(
            t * math.log(1 / 2)
            + (1 - t) * math.log(1 / 2)
            + t * math.log(3 / 4)
            + (1 - t) * math.log(1 / 4)
        )
        / 2
    )
    fake_term = -(math.log(3 / 4) + math.log(1 / 2)) / 2  # sample target stays 0
    assert_close(
        d_loss(REAL, FAKE, label_smoothing=alpha),
        torch.tensor(real_term + fake_term, dtype=torch.float64),
        **TOL,
    )


def test_generator_losses_match_hand_computation():
    # D(G(z)) = 1/4 and 1/2; exp(logit) = 1/3 and 1.
    assert_close(
        g_loss_minimax(FAKE),
        torch.tensor((math.log(3 / 4) + math.log(1 / 2)) / 2, dtype=torch.float64),
        **TOL,
    )
    assert_close(
        g_loss_nonsaturating(FAKE),
        torch.tensor(-(math.log(1 / 4) + math.log(1 / 2)) / 2, dtype=torch.float64),
        **TOL,
    )
    assert_close(
        g_loss_maximum_likelihood(FAKE), torch.tensor(-(1 / 3 + 1) / 2, dtype=torch.float64), **TOL
    )
    assert set(G_LOSSES) == {"minimax", "nonsaturating", "maximum_likelihood"}


def _grad(loss_fn, logit: float) -> float:
    a = torch.tensor([logit], dtype=torch.float64, requires_grad=True)
    loss_fn(a).backward()
    return a.grad.item()


@pytest.mark.parametrize("logit", [-5.0, -10.0, -20.0, -40.0])
def test_minimax_gradient_vanishes_as_d_rejects_samples(logit):
    # dL/da = -sigma(a) = -D(G(z)): equal to D(G(z)) up to float64 rounding (rel 1e-12).
    d = 1 / (1 + math.exp(-logit))
    assert _grad(g_loss_minimax, logit) == pytest.approx(-d, rel=1e-12)
    assert abs(_grad(g_loss_minimax, logit)) < 1e-2  # D(G(z)) < e^-5 ~ 7e-3: starved


@pytest.mark.parametrize("logit", [-5.0, -10.0, -20.0, -40.0])
def test_nonsaturating_gradient_tends_to_minus_one(logit):
    # dL/da = sigma(a) - 1 = -(1 - D(G(z))): within D(G(z)) < 7e-3 of -1 for a <= -5.
    d = 1 / (1 + math.exp(-logit))
    assert _grad(g_loss_nonsaturating, logit) == pytest.approx(d - 1, rel=1e-12)
    assert _grad(g_loss_nonsaturating, logit) == pytest.approx(-1.0, abs=1e-2)


def test_saturation_ratio_grows_without_bound():
    # The non-saturating gradient is 1/D(G(z)) - 1 times the minimax one: e^{20} at a = -20.
    ratio = _grad(g_loss_nonsaturating, -20.0) / _grad(g_loss_minimax, -20.0)
    assert ratio == pytest.approx(math.exp(20.0), rel=1e-9)


@pytest.mark.parametrize("fn", [g_loss_minimax, g_loss_nonsaturating])
def test_losses_are_finite_with_saturated_logits(fn):
    # log(sigmoid(a)) in float32 is -inf for a < -104; softplus keeps it exact.
    a = torch.tensor([-200.0, 200.0], requires_grad=True)
    loss = fn(a)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(a.grad).all()
    assert_close(g_loss_nonsaturating(torch.tensor([-200.0])), torch.tensor(200.0))
    assert_close(d_loss(torch.tensor([200.0]), torch.tensor([-200.0])), torch.tensor(0.0))


# ---------------------------------------------------------------------------------------------
# The overflow guards (issue 16): exp continued linearly (f-GANs) or logarithmically (ML).


def test_exp_linear_beyond_is_exp_below_the_cap_and_its_tangent_above():
    cap = 3.0
    x = torch.tensor([-50.0, 0.0, 2.5, 3.0, 3.5, 1e4], dtype=torch.float64, requires_grad=True)
    y = exp_linear_beyond(x, cap)
    e = math.exp(cap)
    expected = [math.exp(-50.0), 1.0, math.exp(2.5), e, e * 1.5, e * (1 + 1e4 - cap)]
    assert_close(
        y.tolist(), expected, rtol=1e-14, atol=0.0
    )  # a few float64 roundings, each <= 1 ulp
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert_close(grad.tolist(), [math.exp(-50.0), 1.0, math.exp(2.5), e, e, e], rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_maximum_likelihood_is_bit_identical_to_minus_mean_exp_below_the_cap(dtype):
    gen = torch.Generator().manual_seed(0)
    a = torch.cat([torch.rand(1000, generator=gen) * 180 - 100, torch.tensor([60.0, 0.0, -1e4])])
    a = a.clamp(max=MAXIMUM_LIKELIHOOD_CAP).to(dtype)  # all <= the cap
    guarded, plain = a.clone().requires_grad_(True), a.clone().requires_grad_(True)
    loss, reference = g_loss_maximum_likelihood(guarded), -torch.exp(plain).mean()
    loss.backward()
    reference.backward()
    assert torch.equal(loss, reference)  # bit for bit: same numbers as before the guard
    assert torch.equal(guarded.grad, plain.grad)


def test_exp_log_beyond_is_exp_below_the_cap_and_a_logarithm_above():
    cap = 3.0
    x = torch.tensor([-50.0, 0.0, 2.5, 3.0, 3.5, 1e4], dtype=torch.float64, requires_grad=True)
    y = exp_log_beyond(x, cap)
    e = math.exp(cap)
    tail = [e * (1 + math.log1p(0.5)), e * (1 + math.log1p(1e4 - cap))]
    expected = [math.exp(-50.0), 1.0, math.exp(2.5), e, *tail]
    assert_close(y.tolist(), expected, rtol=1e-14, atol=0.0)  # a few float64 roundings
    (grad,) = torch.autograd.grad(y.sum(), x)
    slopes = [e / 1.5, e / (1 + 1e4 - cap)]  # d/dx e (1 + log(1 + x - cap))
    assert_close(grad.tolist(), [math.exp(-50.0), 1.0, math.exp(2.5), e, *slopes], rtol=1e-14,
                 atol=0.0)  # fmt: skip


def test_maximum_likelihood_stays_finite_beyond_float32_exp_overflow():
    # float32 exp overflows at a = 88.72; the old loss was -inf there and G's gradient nan
    a = torch.tensor([100.0, 100.0, 0.0, -5.0], requires_grad=True)
    loss = g_loss_maximum_likelihood(a)
    loss.backward()
    cap, m = MAXIMUM_LIKELIHOOD_CAP, 4
    tail = math.exp(cap) * (1 + math.log1p(100 - cap))
    # float32: relative rounding ~1e-7 per operation, 1e-6 covers the handful here
    expected = -(2 * tail + 1 + math.exp(-5.0)) / m
    assert_close(loss.item(), expected, rtol=1e-6, atol=0.0)
    slope = math.exp(cap) / (1 + 100 - cap)
    expected_grad = [-slope / m, -slope / m, -1 / m, -math.exp(-5.0) / m]
    assert_close(a.grad.tolist(), expected_grad, rtol=1e-6, atol=0.0)


def test_maximum_likelihood_is_finite_for_every_float32_logit():
    # the largest float32 logit, in a minibatch of 256: the tail's log keeps each term below
    # exp(60) * 90 = 1e28, so the sum of 256 stays far from float32's 3.4e38
    big = torch.finfo(torch.float32).max
    a = torch.full((256,), big, requires_grad=True)
    loss = g_loss_maximum_likelihood(a)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all()
    expected = -math.exp(MAXIMUM_LIKELIHOOD_CAP) * (1 + math.log1p(big - MAXIMUM_LIKELIHOOD_CAP))
    assert_close(loss.item(), expected, rtol=1e-5, atol=0.0)  # float32 log1p/exp: ~1e-7 each
