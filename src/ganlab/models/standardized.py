"""G and D around data standardised to mean 0 and std 1 per coordinate.

    G_data(z) = mu + sigma * G(z)          D_data(x) = D((x - mu) / sigma)

with mu, sigma the data's per-coordinate mean and standard deviation. Training G_data against
D_data on the data plays exactly the game of G against D on the standardised data, so the nets
see unit-scale inputs and outputs whatever the units of the user's file; and since G_data's
samples are already in the data's units, every sample, figure and metric downstream needs no
mapping back. mu and sigma are buffers: a checkpoint holds them, and a run loads without
re-reading its data.

Gradient penalties (R1, R2, WGAN-GP) are taken with respect to the standardised input u, as
the game on standardised data has them: grad_u D = sigma grad_x D_data
(ganlab.training.regularization passes sigma to the penalties).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def data_moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-coordinate mean and standard deviation of (N, *x_shape) examples, float64 sums.

    A coordinate that never varies gets sigma = 1 (scaling it would divide by 0; G then learns
    its constant value through mu alone)."""
    x = x.reshape(len(x), -1).double()
    mu, sigma = x.mean(0), x.std(0, correction=0)
    sigma = torch.where(sigma > 1e-12, sigma, torch.ones_like(sigma))
    return mu.float(), sigma.float()


class _Moments(nn.Module):
    def __init__(self, x_shape: tuple[int, ...]):
        super().__init__()
        self.register_buffer("mu", torch.zeros(x_shape))
        self.register_buffer("sigma", torch.ones(x_shape))

    def set_moments_(self, mu: Tensor, sigma: Tensor) -> None:
        """Take mu and sigma (flat or of x_shape) as the data's moments."""
        self.mu.copy_(mu.reshape(self.mu.shape))
        self.sigma.copy_(sigma.reshape(self.sigma.shape))


class StandardizedGenerator(_Moments):
    """G_data(z) = mu + sigma * G(z): `net` generates standardised examples."""

    def __init__(self, net: nn.Module, x_shape: tuple[int, ...]):
        super().__init__(x_shape)
        self.net = net

    def forward(self, z: Tensor, *y: Tensor) -> Tensor:
        """y: a conditional net's class labels, passed on (ganlab.models.conditional)."""
        return self.mu + self.sigma * self.net(z, *y)  # (m, *x_shape), in the data's units


class StandardizedDiscriminator(_Moments):
    """D_data(x) = D((x - mu) / sigma): `net` judges standardised examples."""

    def __init__(self, net: nn.Module, x_shape: tuple[int, ...]):
        super().__init__(x_shape)
        self.net = net

    def forward(self, x: Tensor, *y: Tensor) -> Tensor:
        return self.net((x - self.mu) / self.sigma, *y)  # (m,) logits


__all__ = ["StandardizedDiscriminator", "StandardizedGenerator", "data_moments"]
