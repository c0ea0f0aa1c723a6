"""DCGAN generator and discriminator (Radford et al. 2016) for square images of side
s0 * 2^n, 4 <= s0 <= 7 and n >= 2: 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, ...

G: project z to a (c * 2^(n-1), s0, s0) map, then n stride-2 transposed convolutions with
BatchNorm + ReLU, the last to the image channels with the output nonlinearity. D mirrors it
with stride-2 convolutions, LeakyReLU(0.2), BatchNorm on all but the first, and a Linear logit.
s0 = 7 and n = 2 for 28x28 (7 -> 14 -> 28); s0 = 4 and n = 3 for 32x32 (4 -> 8 -> 16 -> 32);
s0 = 4 and n = 4 for 64x64, as in Radford et al.
"""

import itertools

import torch
from torch import Tensor, nn

from ganlab.models.mlp import OUTPUTS, Dropout

# The smallest feature map's side: from 4 (DCGAN's 4x4) to 7 (MNIST's 7x7); halving further
# would leave a map of 3 or less, which a 4x4 stride-2 convolution cannot halve again.
MIN_START, MAX_START = 4, 7


def dcgan_layout(side: int) -> tuple[int, int]:
    """(s0, n): the smallest feature map's side and the number of stride-2 layers for a square
    image of the given side (side = s0 * 2^n, the most halvings with s0 >= 4, n >= 2).

    Raises:
        ValueError: no such layout (e.g. 30: 15 * 2); the message names the nearest sides.
    """
    n = 0
    while side % 2 ** (n + 1) == 0 and side // 2 ** (n + 1) >= MIN_START:
        n += 1
    s0 = side // 2**n if n else side
    if n < 2 or s0 > MAX_START:
        near = sorted(supported_sides(4 * side), key=lambda s: (abs(s - side), s))[:2]
        raise ValueError(
            f"DCGAN models need a side of s0 * 2^n (s0 from {MIN_START} to {MAX_START}, n >= 2), "
            f"got {side}x{side}; resize to {near[0]}x{near[0]} or {near[1]}x{near[1]} "
            "(data.resize)"
        )
    return s0, n


def supported_sides(limit: int) -> list[int]:
    """The image sides dcgan_layout accepts, up to `limit`, ascending."""
    sides = {s0 * 2**n for s0 in range(MIN_START, MAX_START + 1) for n in range(2, 12)}
    return sorted(s for s in sides if s <= limit)


def init_dcgan_(module: nn.Module) -> None:
    """Radford et al. (2016): conv weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


class DCGANGenerator(nn.Module):
    """x = G(z) for images of shape (C, H, H), H a side dcgan_layout accepts.

    Args:
        z_dim: dimension of z.
        x_shape: (C, H, W) with H == W, a side dcgan_layout accepts.
        channels: channels of the last hidden feature map; earlier maps double it.
        output: output nonlinearity ('tanh' as in DCGAN, 'sigmoid' for [0, 1] data).
        refine: 3x3 stride-1 convolutions (BatchNorm + ReLU) on the smallest map first.
        dense: width of a fully connected layer (BatchNorm + ReLU) between z and the
            projection (InfoGAN's MNIST G, Chen et al. 2016: 1024); 0 for none.
    """

    def __init__(
        self,
        z_dim: int,
        x_shape: tuple[int, ...],
        channels: int = 64,
        output="tanh",
        refine: int = 0,
        dense: int = 0,
    ):
        super().__init__()
        c_out, side, _ = x_shape
        s0, n = dcgan_layout(side)
        self.start = (channels * 2 ** (n - 1), s0, s0)
        widths = (
            [z_dim, dense, self.start[0] * s0 * s0] if dense else [z_dim, self.start[0] * s0 * s0]
        )
        project: list[nn.Module] = []
        for w_in, w_out in itertools.pairwise(widths):
            project += [nn.Linear(w_in, w_out, bias=False), nn.BatchNorm1d(w_out), nn.ReLU()]
        self.project = nn.Sequential(*project)
        layers: list[nn.Module] = []
        width = self.start[0]
        for _ in range(refine):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)]
            layers.append(nn.ReLU())
        for i in range(n):
            last = i == n - 1
            out = c_out if last else width // 2
            layers.append(nn.ConvTranspose2d(width, out, 4, stride=2, padding=1, bias=last))
            layers += [OUTPUTS[output]()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
            width = out
        self.net = nn.Sequential(*layers)
        init_dcgan_(self)

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z).view(z.shape[0], *self.start)  # (m, c * 2^(n-1), s0, s0)
        return self.net(h)  # (m, C, H, W)


class MinibatchStd(nn.Module):
    """Appends one feature map: the mean over features of the std across a group of examples.

    Karras et al. (2018), "Progressive Growing of GANs", sec. 3: with
    s = mean_{c,h,w} sqrt(Var_g[x_{g,c,h,w}] + 1e-8) over each group g of `group` examples,
    every example of the group gets s as an extra constant map. D sees how varied its minibatch
    is, so a G that puts every sample on a few modes is told apart from the data.

    A batch that `group` does not divide is one group (a single example: s = 0).
    """

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        n, _, h, w = x.shape
        g = self.group if n % self.group == 0 else n
        y = x.reshape(g, n // g, *x.shape[1:])  # example i is in group i mod (n // g)
        s = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        return torch.cat([x, s.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


class DCGANDiscriminator(nn.Module):
    """D(x) logits for images of shape (C, H, H), H a side dcgan_layout accepts.

    Args:
        x_shape: (C, H, W) with H == W, a side dcgan_layout accepts.
        channels: channels of the first feature map; later maps double it.
        batchnorm: BatchNorm after every convolution but the first (Radford et al.); without
            it each logit depends on its own example alone (what R1 assumes).
        dropout: drop probability after each convolution's activation.
        dense: width of a fully connected layer (LeakyReLU) between the last feature map and
            the logit (InfoGAN's MNIST D, Chen et al. 2016: 1024); 0 for none.
        minibatch_std: group size of a MinibatchStd map after the last convolution; 0 for none.
    Returns from forward:
        (m,) logits.
    """

    def __init__(
        self,
        x_shape: tuple[int, ...],
        channels: int = 64,
        batchnorm: bool = True,
        dropout: float = 0.0,
        dense: int = 0,
        minibatch_std: int = 0,
    ):
        super().__init__()
        c_in, side, _ = x_shape
        s0, n = dcgan_layout(side)
        layers: list[nn.Module] = []
        width_in, width = c_in, channels
        for i in range(n):
            norm = batchnorm and i > 0
            layers.append(nn.Conv2d(width_in, width, 4, stride=2, padding=1, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2))
            if dropout:
                layers.append(Dropout(dropout))
            width_in, width = width, width * 2
        if minibatch_std:
            layers.append(MinibatchStd(minibatch_std))
            width_in += 1
        layers.append(nn.Flatten())
        if dense:
            layers += [nn.Linear(width_in * s0 * s0, dense), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(dense or width_in * s0 * s0, 1))
        self.net = nn.Sequential(*layers)
        init_dcgan_(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


def image_side(x_shape: tuple[int, ...]) -> int:
    """The side of square image examples of shape (C, H, H); raises ValueError otherwise."""
    if len(x_shape) != 3 or x_shape[1] != x_shape[2]:
        raise ValueError(
            f"DCGAN models need square images (C, H, H), got examples of shape {x_shape}"
        )
    return int(x_shape[1])


__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MinibatchStd",
    "dcgan_layout",
    "image_side",
    "init_dcgan_",
    "supported_sides",
]
