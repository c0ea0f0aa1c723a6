"""What keeps D well behaved, as pure functions: gradient penalties, instance noise, clipping.

    R1 / R2         gamma/2 E ||grad D||^2 on data / samples    (Mescheder et al. 2018, eq. 9, 10)
    WGAN-GP         lambda E[(||grad D(x_hat)||_2 - 1)^2]       (Gulrajani et al. 2017, Alg. 1)
    instance noise  sigma_t = sigma max(0, 1 - t / T)           (Sonderby et al. 2017)
    weight clip     theta_d <- clip(theta_d, -c, c)             (Arjovsky et al. 2017, Alg. 1)
    mode seeking    L_G += lambda / (E_pairs d(G(z1), G(z2)) / d(z1, z2) + eps)   on G, not D
                                                                (Mao et al. 2019, MSGAN, eq. 3)

The penalties keep the graph of their gradients (create_graph=True), so D's optimiser can
descend them: they are functions of theta_d through grad_x D(x; theta_d).

A penalty's expectation is over D's outputs: with a packed D (PacGAN, one output per `pack`
consecutive rows of x) ||grad D|| is the norm over the whole pack, the gradient of that output
with respect to everything it saw.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def zero_centred_gradient_penalty(d_out: Tensor, x: Tensor, scale: Tensor | None = None) -> Tensor:
    """E ||grad_x D(x)||^2 over the minibatch: R1 on data, R2 on G's samples (times gamma/2).

        R1 = gamma/2 E_x~p_data ||grad_x D(x)||^2          (Mescheder et al. 2018, eq. 9)
        R2 = gamma/2 E_x~p_g    ||grad_x D(x)||^2          (eq. 10)

    The gradient of sum_i D(x_i) with respect to x is each output's own gradient as long as
    output i depends on its own rows of x only (no batch norm across the minibatch).

    Args:
        d_out: (m,) D(x), computed from x.
        x: (m, ...) D's inputs, with requires_grad set before D saw them.
        scale: sigma of a D that standardises its input, u = (x - mu) / sigma: the gradient
            is then taken with respect to u, grad_u = sigma grad_x, so gamma means the same
            whatever the data's units.
    Returns:
        A scalar tensor, differentiable in D's parameters.
    """
    (grad,) = torch.autograd.grad(d_out.sum(), x, create_graph=True)
    if scale is not None:
        grad = grad * scale
    return grad.square().sum() / d_out.numel()


def interpolate_gradient_penalty(
    D: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    eps: Tensor,
    scale: Tensor | None = None,
) -> Tensor:
    """WGAN-GP's two-sided penalty on random interpolates (Gulrajani et al. 2017, Algorithm 1).

        x_hat = eps x + (1 - eps) G(z),  eps ~ U[0, 1]
        GP    = E[(||grad_x_hat D(x_hat)||_2 - 1)^2]          (times lambda = 10 in the paper)

    A 1-Lipschitz critic has gradient norm 1 almost everywhere along the lines between
    coupled points of the optimal transport (Proposition 1); GP pulls it there.

    Args:
        D: the critic, (m, ...) -> (m,) (or one output per pack).
        real, fake: (m, ...) data and samples (detached, or the penalty reaches G).
        eps: (m, 1, ...) one uniform weight per row, broadcast over its features.
        scale: as in zero_centred_gradient_penalty: the gradient with respect to D's
            standardised input.
    Returns:
        A scalar tensor, differentiable in D's parameters.
    """
    x_hat = eps * real + (1.0 - eps) * fake  # (m, ...)
    if not x_hat.requires_grad:
        x_hat.requires_grad_(True)
    d_out = D(x_hat)
    (grad,) = torch.autograd.grad(d_out.sum(), x_hat, create_graph=True)
    if scale is not None:
        grad = grad * scale
    norm = torch.linalg.vector_norm(grad.reshape(d_out.numel(), -1), dim=1)  # (m,)
    return (norm - 1.0).square().mean()


def mode_seeking_term(z: Tensor, fake: Tensor, eps: float = 1e-5) -> Tensor:
    """MSGAN's term on G's loss, before its weight lambda (Mao et al. 2019, eq. 3):

        1 / (E_i [ mean|G(z_i) - G(z'_i)| / mean|z_i - z'_i| ] + eps)

    over the pairs (z_i, z'_i) = (row i, row h + i) of the minibatch, h = m // 2 (a conditional
    run asks both rows of a pair for the same class: `pair_rows`). Two noises that G maps to
    nearly the same sample make the ratio small and the term large, so descending it spreads
    G's samples apart where G has collapsed a region of z onto one mode. (Mao et al.'s code
    divides the means over the whole minibatch; here each pair's ratio is averaged, the
    variant the images recipe was measured with, benchmarks/README.md.)

    Args:
        z: (m, ...) G's noise.  fake: (m, ...) G(z), with its graph to G.
    Returns:
        A scalar tensor, differentiable in G's parameters.
    """
    h = len(z) // 2
    dz = (z[:h] - z[h : 2 * h]).abs().flatten(1).mean(1)  # (h,) mean |z_i - z'_i|
    dx = (fake[:h] - fake[h : 2 * h]).abs().flatten(1).mean(1)  # (h,)
    return 1.0 / ((dx / dz).mean() + eps)


def pair_rows(y: Tensor) -> Tensor:
    """y with row h + i replaced by row i, h = len(y) // 2: the classes of mode_seeking_term's
    pairs made equal, so that it compares two samples of one class (an odd last row keeps its
    own)."""
    h = len(y) // 2
    paired = y.clone()
    paired[h : 2 * h] = y[:h]
    return paired


def instance_noise_std(sigma: float, step: int, decay_steps: int) -> float:
    """The std of the Gaussian noise added to D's inputs at iteration `step` (Sonderby et al. 2017).

        sigma_t = sigma max(0, 1 - t / T),   or sigma throughout when T = decay_steps = 0

    Noise on data and samples alike makes their supports overlap, so D* and G's gradient
    exist even when p_data and p_g are disjoint; annealing it to 0 recovers the noiseless game.

    Args:
        sigma: the initial std, >= 0.
        step: the iteration t, 0-based.
        decay_steps: T, the iterations over which sigma falls linearly to 0; 0: never decays.
    Returns:
        A float >= 0.
    """
    if decay_steps == 0:
        return float(sigma)
    return float(sigma) * max(0.0, 1.0 - step / decay_steps)


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """WGAN's weight clipping in place: each parameter into [-c, c] (Arjovsky et al. 2017, Alg. 1).

    A crude way to keep the critic K-Lipschitz for some K (the paper's own words); called after
    each step of D's optimiser. Buffers (batch-norm statistics) are not parameters: untouched.

    Args:
        module: D.
        c: the clipping bound, > 0 (the paper: 0.01).
    """
    for p in module.parameters():
        p.clamp_(-c, c)
