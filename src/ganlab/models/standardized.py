"""G and D around data standardised to mean 0 and std 1 per coordinate.

    G_data(z) = T^-1(mu + sigma * G(z))          D_data(x) = D((T(x) - mu) / sigma)

with T the identity, or log on the coordinates of data.log_columns (positive, right-skewed
data: incomes, prices; a generator on linear scale spends its samples on the bulk and misses the
tail, or puts mass below zero), and mu, sigma the per-coordinate mean and standard deviation of
T(x). Training G_data against D_data on the data plays exactly the game of G against D on the
standardised (log) data, so the nets see unit-scale inputs and outputs whatever the units of the
user's file; and since G_data's samples are already in the data's units, every sample, figure and
metric downstream needs no mapping back. mu and sigma are buffers: a checkpoint holds them, and
a run loads without re-reading its data; the log coordinates come from the run's config.

Gradient penalties (R1, R2, WGAN-GP) are taken with respect to the standardised input u, as
the game on standardised data has them: grad_u D = sigma T'(x)^-1 grad_x D_data, that is sigma,
times x on a log coordinate (ganlab.training.regularization takes `input_scale`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# A coordinate whose std is at most this times |mean| is constant: float64's rounding of the
# mean of equal float32 values leaves a std ~1e-17 |mean|, and float32's own resolution
# (6e-8 |mean|) is far above it, so any variation the float32 data holds counts
CONSTANT_RTOL = 1e-12


def constant_coordinates(mu: Tensor, sigma: Tensor) -> Tensor:
    """Which coordinates never vary: sigma <= CONSTANT_RTOL |mu|, or a sigma float32 cannot
    hold as a normal number (dividing by it would overflow)."""
    tiny = torch.finfo(torch.float32).tiny
    return (sigma <= CONSTANT_RTOL * mu.abs()) | (sigma < tiny)


def data_moments(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-coordinate mean and standard deviation of (N, *x_shape) examples, float64 sums.

    A coordinate that never varies (constant_coordinates) gets sigma = 1 (scaling it would
    divide by 0; G then learns its constant value through mu alone). The test is relative to
    the mean, so a column of values ~1e-30 keeps its own sigma (an absolute 1e-12 took it for
    constant, and G's samples then spread ~1 around 1e-30)."""
    x = x.reshape(len(x), -1).double()
    mu, sigma = x.mean(0), x.std(0, correction=0)
    sigma = torch.where(constant_coordinates(mu, sigma), torch.ones_like(sigma), sigma)
    return mu.float(), sigma.float()


# exp() above this overflows float32 (e^88.7): a G output that far out is clamped there
MAX_LOG = 80.0
# log() below this: a sample exp() underflowed to 0 stays finite
MIN_POSITIVE = 1e-30


def log_mask(width: int, log_coords: tuple[int, ...]) -> Tensor | None:
    """(width,) bool, True on the coordinates log_coords; None where there are none."""
    if not log_coords:
        return None
    mask = torch.zeros(width, dtype=torch.bool)
    mask[list(log_coords)] = True
    return mask


def to_log_scale(x: Tensor, mask: Tensor | None) -> Tensor:
    """T(x): log on the coordinates `mask` (log_mask) marks of (N, d) points, the others as
    they are; x itself for no mask."""
    if mask is None:
        return x
    return torch.where(mask, torch.log(x.clamp_min(MIN_POSITIVE)), x)


def from_log_scale(v: Tensor, mask: Tensor | None) -> Tensor:
    """T^-1(v): exp on the coordinates `mask` marks, the others as they are."""
    if mask is None:
        return v
    return torch.where(mask, torch.exp(v.clamp(max=MAX_LOG)), v)


class _Moments(nn.Module):
    def __init__(self, x_shape: tuple[int, ...], log_coords: tuple[int, ...] = ()):
        super().__init__()
        self.register_buffer("mu", torch.zeros(x_shape))
        self.register_buffer("sigma", torch.ones(x_shape))
        log_coords = tuple(log_coords)
        if log_coords and (len(x_shape) != 1 or max(log_coords) >= x_shape[0]):
            raise ValueError(f"log coordinates {log_coords} of points of shape {x_shape}")
        # from the config, not the checkpoint (not persistent: a run saved before
        # data.log_columns loads as is); built once, every forward uses it
        self.register_buffer("log_mask", log_mask(x_shape[-1], log_coords), persistent=False)

    def set_moments_(self, mu: Tensor, sigma: Tensor) -> None:
        """Take mu and sigma (flat or of x_shape) as the data's moments."""
        self.mu.copy_(mu.reshape(self.mu.shape))
        self.sigma.copy_(sigma.reshape(self.sigma.shape))


class StandardizedGenerator(_Moments):
    """G_data(z) = T^-1(mu + sigma * G(z)): `net` generates standardised examples."""

    def __init__(self, net: nn.Module, x_shape: tuple[int, ...], log_coords=()):
        super().__init__(x_shape, log_coords)
        self.net = net

    def forward(self, z: Tensor, *y: Tensor) -> Tensor:
        """y: a conditional net's class labels, passed on (ganlab.models.conditional)."""
        v = self.mu + self.sigma * self.net(z, *y)
        return from_log_scale(v, self.log_mask)  # (m, *x_shape), in the data's units


class StandardizedDiscriminator(_Moments):
    """D_data(x) = D((T(x) - mu) / sigma): `net` judges standardised examples."""

    def __init__(self, net: nn.Module, x_shape: tuple[int, ...], log_coords=()):
        super().__init__(x_shape, log_coords)
        self.net = net

    def standardise(self, x: Tensor) -> Tensor:
        """u = (T(x) - mu) / sigma, what `net` sees."""
        return (to_log_scale(x, self.log_mask) - self.mu) / self.sigma

    def input_scale(self, x: Tensor) -> Tensor:
        """du/dx's inverse at x, so that grad_u = input_scale(x) * grad_x: sigma, times x on
        the log coordinates (dx/du = sigma dx/dT = sigma x there)."""
        if self.log_mask is None:
            return self.sigma
        return self.sigma * torch.where(self.log_mask, x.detach(), torch.ones_like(x))

    def forward(self, x: Tensor, *y: Tensor) -> Tensor:
        return self.net(self.standardise(x), *y)  # (m,) logits


__all__ = [
    "CONSTANT_RTOL", "StandardizedDiscriminator", "StandardizedGenerator", "constant_coordinates",
    "data_moments", "from_log_scale",
    "log_mask", "to_log_scale",
]  # fmt: skip
