"""The regularizers against closed forms: gradient penalties of linear and quadratic critics, a
TF-GAN test case, descent on the penalties, the instance-noise schedule, weight clipping."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganlab.game.regularizers import (
    clip_weights_,
    instance_noise_std,
    interpolate_gradient_penalty,
    zero_centred_gradient_penalty,
)

# float64 with a few dozen operations per value: rounding ~1e-15, so 1e-12 only fails on a
# wrong formula.
TOL = {"rtol": 0.0, "atol": 1e-12}


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_r1_of_a_linear_critic_is_the_squared_weight_norm():
    w, bias = torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64), 0.7
    x = randn(8, 3).requires_grad_(True)
    # grad_x (w.x + bias) = w for every x: E ||w||^2 = 0.25 + 4 + 9
    assert_close(zero_centred_gradient_penalty(x @ w + bias, x).item(), 13.25, **TOL)


def test_r1_of_a_quadratic_critic_is_four_times_the_mean_squared_norm():
    x = randn(8, 2, 3, 3).requires_grad_(True)  # image-shaped inputs: the norm runs over C, H, W
    d_out = x.square().flatten(1).sum(1)  # D(x) = ||x||^2, grad = 2x
    expected = 4 * x.detach().square().flatten(1).sum(1).mean()
    assert_close(zero_centred_gradient_penalty(d_out, x), expected, **TOL)


def test_r1_of_a_packed_critic_takes_the_norm_over_each_pack():
    # One output per 2 consecutive rows (PacGAN): D(pack) = w . concat(rows), grad = w over the
    # pack, so the penalty is ||w||^2 (6 entries), not ||w||^2 / 2 as a per-row mean would give.
    w = torch.tensor([1.0, 2.0, 0.0, -1.0, 0.5, 3.0], dtype=torch.float64)
    x = randn(8, 3).requires_grad_(True)
    d_out = x.reshape(4, 6) @ w  # (4,)
    assert_close(zero_centred_gradient_penalty(d_out, x).item(), float(w @ w), **TOL)


@pytest.mark.parametrize("seed", [0, 1])
def test_wgan_gp_of_a_linear_critic_with_weight_norm_2_is_1(seed):
    w = torch.tensor([1.2, -1.6], dtype=torch.float64)  # ||w|| = 2: (2 - 1)^2 = 1 for any eps
    eps = torch.rand(16, 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    penalty = interpolate_gradient_penalty(lambda x: x @ w, randn(16, 2), randn(16, 2, seed=1), eps)
    assert_close(penalty.item(), 1.0, **TOL)


def test_tfgan_gradient_penalty_case():
    # tensorflow/gan, tensorflow_gan/python/losses/losses_impl_test.py, GradientPenaltyTest:
    # D(x) = 2 x on one 4-vector, so grad = (2, 2, 2, 2), norm 4, (4 - 1)^2 = 9; checked there to
    # 6 decimals (TF-GAN adds 1e-10 under its square root; we do not): atol 1e-6.
    real = torch.tensor([[-12.3, 23.2, 16.3, -43.2]])
    fake = torch.tensor([[3.1, 2.3, -12.3, 32.1]])
    penalty = interpolate_gradient_penalty(lambda x: 2.0 * x.sum(1), real, fake, torch.rand(1, 1))
    assert_close(penalty.item(), 9.0, rtol=0, atol=1e-6)


def test_penalties_have_the_hand_derived_gradient_in_d_parameters_and_descend():
    w = torch.tensor([1.2, -1.6, 0.3], dtype=torch.float64, requires_grad=True)
    x = randn(8, 3).requires_grad_(True)
    r1 = zero_centred_gradient_penalty(x @ w, x)  # = ||w||^2, d/dw = 2 w
    (grad,) = torch.autograd.grad(r1, w)
    assert_close(grad, 2 * w.detach(), **TOL)

    eps = torch.rand(8, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    gp = interpolate_gradient_penalty(lambda v: v @ w, randn(8, 3), randn(8, 3, seed=1), eps)
    norm = w.detach().norm()  # GP = (||w|| - 1)^2, d/dw = 2 (||w|| - 1) w / ||w||
    (grad,) = torch.autograd.grad(gp, w)
    assert_close(grad, 2 * (norm - 1) * w.detach() / norm, **TOL)


@pytest.mark.parametrize("which", ["r1", "gp"])
def test_a_gradient_step_of_a_small_mlp_lowers_its_penalty(which):
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    real, fake = randn(32, 2), randn(32, 2, seed=1) + 2.0
    eps = torch.rand(32, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def penalty():
        if which == "r1":
            x = real.clone().requires_grad_(True)
            return zero_centred_gradient_penalty(D(x).squeeze(1), x)
        return interpolate_gradient_penalty(lambda v: D(v).squeeze(1), real, fake, eps)

    before = penalty()
    # every parameter but the last bias (which moves D, not its gradient) reaches the penalty
    params = list(D.parameters())[:-1]
    grads = torch.autograd.grad(before, params)
    assert all(g.abs().sum() > 0 for g in grads)
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            p -= 1e-3 * g
    # a step of 1e-3 along -grad lowers a smooth function by ~1e-3 ||grad||^2 > 0
    assert penalty().item() < before.item()


def test_wgan_gp_stays_finite_where_the_critic_is_flat():
    # ||grad|| = 0: the norm's derivative is 0/0 there; torch defines it as 0, the penalty is 1
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    gp = interpolate_gradient_penalty(lambda v: v @ w + 1.0, randn(4, 3), randn(4, 3, seed=1),
                                      torch.full((4, 1), 0.5, dtype=torch.float64))  # fmt: skip
    (grad,) = torch.autograd.grad(gp, w)
    assert gp.item() == 1.0
    assert torch.isfinite(grad).all()


def test_instance_noise_schedule():
    # sigma (1 - t/T), clipped at 0; T = 0 keeps sigma. Exact in binary: 0.5 * 0.5 = 0.25.
    assert instance_noise_std(0.5, 0, 100) == 0.5
    assert instance_noise_std(0.5, 50, 100) == 0.25
    assert instance_noise_std(0.5, 100, 100) == 0.0
    assert instance_noise_std(0.5, 150, 100) == 0.0
    assert instance_noise_std(0.5, 10**6, 0) == 0.5
    assert instance_noise_std(0.1, 25, 100) == pytest.approx(0.075, rel=1e-15)


def test_clip_weights_clamps_every_parameter_and_no_buffer():
    D = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    with torch.no_grad():
        D[0].weight.copy_(torch.tensor([[0.005, -0.2], [0.3, -0.001], [0.0, 0.02]]))
        D[0].bias.copy_(torch.tensor([-0.5, 0.009, 0.01]))
        D[1].running_mean.fill_(5.0)
    clip_weights_(D, 0.01)
    # exact: clamping returns the bound or the value itself, both float32 numbers
    assert torch.equal(D[0].weight, torch.tensor([[0.005, -0.01], [0.01, -0.001], [0.0, 0.01]]))
    assert torch.equal(D[0].bias, torch.tensor([-0.01, 0.009, 0.01]))
    assert torch.equal(D[1].weight, torch.full((3,), 0.01))  # batch norm's gamma, was 1
    assert torch.equal(D[1].bias, torch.zeros(3))  # beta, inside the bound: unchanged
    assert D[1].running_mean.tolist() == [5.0, 5.0, 5.0]  # a buffer: untouched
    assert all(p.is_leaf and p.requires_grad for p in D.parameters())


def test_penalties_of_a_standardising_d_are_those_of_the_standardised_game():
    """R1 and WGAN-GP of D_data(x) = D((x - mu) / sigma) equal those of D on u = (x - mu) /
    sigma: gamma means the same whatever the data's units (data.standardize)."""
    from ganlab.models import StandardizedDiscriminator
    from ganlab.models.mlp import MLPDiscriminator

    torch.manual_seed(0)
    inner = MLPDiscriminator((2,), [16], "leaky_relu", 0.0, 0.0)
    D = StandardizedDiscriminator(inner, (2,))
    mu, sigma = torch.tensor([100.0, -3.0]), torch.tensor([50.0, 0.5])
    D.set_moments_(mu, sigma)
    x = mu + sigma * torch.randn(8, 2)
    u = ((x - mu) / sigma).requires_grad_(True)
    xg = x.clone().requires_grad_(True)
    r1_data = zero_centred_gradient_penalty(D(xg), xg, D.sigma)
    r1_std = zero_centred_gradient_penalty(inner(u), u)
    torch.testing.assert_close(r1_data, r1_std)
    fake, eps = mu + sigma * torch.randn(8, 2), torch.rand(8, 1)
    gp_data = interpolate_gradient_penalty(D, x, fake, eps, D.sigma)
    gp_std = interpolate_gradient_penalty(inner, (x - mu) / sigma, (fake - mu) / sigma, eps)
    torch.testing.assert_close(gp_data, gp_std)
