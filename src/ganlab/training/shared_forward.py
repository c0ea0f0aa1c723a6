"""One G forward for the two an alternating iteration makes at the same parameters.

Algorithm 1's last D step samples G(z) and G's step then samples G(z'), both at the same theta_g
(G moves only after its own step). So the products of both passes can run as one, on 2m rows:

    [G(z); G(z')] = G([z; z'])      layer by layer: each product on 2m rows, BatchNorm per half

and G's step replays its pass from the saved linear-layer outputs y_l = h_{l-1} W_l^T + b_l on
z' instead of computing them again: the forward values are the same numbers, the backward the
linear layers' own (dh = dy W, dW = dy^T h, db = sum dy). One product on 2m rows takes less
time than two on m rows (the weights are read once; on the peer configuration's G 1.59 against
1.94 ms of products: `python benchmarks/probes.py products`).

BatchNorm computes each half's statistics on its own rows, as the two passes would, and moves
its running statistics twice, for z then for z', as they would; the replay normalises by the
batch statistics without moving them again. Only G = MLPGenerator built of the layers in
`REPLAYABLE` qualifies (no randomness inside G, so no random stream changes order): anything
else keeps the two passes (training.compiled_step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganlab.models.mlp import MLPGenerator

# Layers whose rows are independent (elementwise or linear) or, BatchNorm, handled per half.
REPLAYABLE = (nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.Identity)


def shares_forward(G: nn.Module) -> bool:
    """Whether G's two passes of an iteration can run as one (module docstring)."""
    if type(G) is not MLPGenerator:
        return False
    layers = list(G.net)
    bn_ok = all(m.affine and m.track_running_stats for m in layers if isinstance(m, nn.BatchNorm1d))
    return bn_ok and all(type(m) in REPLAYABLE for m in layers)


def double_forward(G: MLPGenerator, z: Tensor, z_next: Tensor) -> tuple[Tensor, list[Tensor]]:
    """G(z), and the linear layers' outputs on z_next, by one pass over both (no grad).

    Args:
        G: a generator that `shares_forward`.  z, z_next: (m, z_dim) each.
    Returns:
        G(z), (m, *x_shape), and y_l on z_next for each Linear layer l, (m, width_l) each.
    """
    m = z.shape[0]
    h = torch.cat([z, z_next])  # (2m, z_dim)
    saved = []
    for layer in G.net:
        if isinstance(layer, nn.BatchNorm1d):  # each half's statistics, z's first
            h = torch.cat([layer(h[:m]), layer(h[m:])])
            continue
        h = layer(h)
        if isinstance(layer, nn.Linear):
            saved.append(h[m:])
    return h[:m].view(m, *G.x_shape), saved


def replayed_update(
    G: MLPGenerator,
    D: nn.Module,
    g_loss_fn,
    g_params: list[Tensor],
    d_params: list[Tensor],
    z: Tensor,
    x: Tensor | None,
    saved: tuple[Tensor, ...],
) -> tuple[Tensor, list[Tensor]]:
    """G's update from its replayed pass: L_G and its gradient in theta_g (G's parameters in
    G.named_parameters() order), as autograd would compute them on G(z).

    Backpropagation layer by layer, by hand (written out because autograd cannot be told that
    a value was computed before; an autograd.Function that hands it on lost gradients when
    compiled under torch.func in torch 2.13): a linear layer's dh = dy W, dW = dy^T h,
    db = sum_rows dy, every other layer by torch.func.vjp of its own forward (BatchNorm on the
    batch statistics: its running statistics moved in `double_forward`).
    """
    theta = dict(zip((n for n, _ in G.named_parameters()), g_params, strict=True))
    h, tape, outputs = z, [], iter(saved)
    for i, layer in enumerate(G.net):
        if isinstance(layer, nn.Linear):
            tape.append((i, layer, h))
            h = next(outputs)
        elif isinstance(layer, nn.BatchNorm1d):
            eps = layer.eps

            def bn(h, w, b, eps=eps):
                return F.batch_norm(h, None, None, w, b, True, 0.0, eps)

            h, back = torch.func.vjp(bn, h, theta[f"net.{i}.weight"], theta[f"net.{i}.bias"])
            tape.append((i, layer, back))
        else:
            h, back = torch.func.vjp(layer, h)
            tape.append((i, layer, back))
    fake = h.view(z.shape[0], *G.x_shape)

    d_theta = dict(zip((n for n, _ in D.named_parameters()), d_params, strict=True))

    def loss(fake):
        d_fake = torch.func.functional_call(D, d_theta, (fake,))
        d_real = torch.func.functional_call(D, d_theta, (x,)) if x is not None else None
        return g_loss_fn(d_fake, d_real)

    dy, loss_g = torch.func.grad_and_value(loss)(fake)
    dy = dy.reshape(z.shape[0], -1)
    grads: dict[str, Tensor] = {}
    for i, layer, item in reversed(tape):
        if isinstance(layer, nn.Linear):
            grads[f"net.{i}.weight"] = dy.t() @ item  # (out, in)
            grads[f"net.{i}.bias"] = dy.sum(0)
            if i > 0:  # the noise needs no gradient
                dy = dy @ theta[f"net.{i}.weight"]
        elif isinstance(layer, nn.BatchNorm1d):
            dy, grads[f"net.{i}.weight"], grads[f"net.{i}.bias"] = item(dy)
        else:
            (dy,) = item(dy)
    return loss_g, [grads[n] for n in theta]


def shared_d_forward(
    G: MLPGenerator, discriminate: nn.Module, d_loss_fn, x: Tensor, z: Tensor, z_next: Tensor
) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, ...]]:
    """algorithm.discriminator_forward with G's pass on z_next run beside the one on z:
    (d_real, d_fake, loss, the linear outputs on z_next for `replayed_g_forward`)."""
    with torch.no_grad():
        fake, saved = double_forward(G, z, z_next)
    d_real, d_fake = discriminate(x, fake)
    return d_real, d_fake, d_loss_fn(d_real, d_fake), tuple(saved)
