"""Differentiable augmentation of everything D sees (DiffAugment, Zhao et al. 2020).

    D's update:  max_D  E_x[f(D(T(x)))] + E_z[g(D(T(G(z))))]
    G's update:  min_G  E_z[h(D(T(G(z))))]

with T a random transformation drawn afresh for every example and every pass, applied to data
and samples alike, in both updates. Because T is differentiable, G's gradient flows through it.
D never sees an untransformed image, so it cannot memorise a small training set pixel for
pixel; and since T acts on p_data and p_g alike, G is still pushed towards p_data as long as T
keeps distinct distributions distinct (translations by a few pixels, cutouts and colour shifts
do; a flip of digits would not).

The policies, on images (m, C, H, W) in G's range:
    translation  shift by up to 1/8 of the side in each direction, zero padding
    cutout       zero a square of half the side at a random place
    color        brightness + U(-0.5, 0.5); saturation x U(0, 2) (colour only);
                 contrast x U(0.5, 1.5)

Random draws use torch's global generator (the stream dropout uses), which checkpoints save.
This module imports only torch; the reference implementation is the authors' DiffAugment_pytorch.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

POLICIES = ("color", "translation", "cutout")


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Each image shifted by (dy, dx), |dy|, |dx| <= round(ratio * side), zeros moved in."""
    m, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (m, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (m, 1, 1), device=x.device)
    b, gy, gx = torch.meshgrid(
        torch.arange(m, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    # index a copy padded by one zero pixel: a source outside the image reads the padding
    gy = (gy + dy + 1).clamp(0, h + 1)
    gx = (gx + dx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # (m, H + 2, W + 2, C)
    return padded[b, gy, gx].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Each image with a square of side round(ratio * side) set to 0, centred anywhere."""
    m, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (m, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (m, 1, 1), device=x.device)
    b, gy, gx = torch.meshgrid(
        torch.arange(m, device=x.device),
        torch.arange(ch, device=x.device),
        torch.arange(cw, device=x.device),
        indexing="ij",
    )
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(m, h, w, dtype=x.dtype, device=x.device)
    mask[b, gy, gx] = 0
    return x * mask.unsqueeze(1)


def color(x: Tensor) -> Tensor:
    """Random brightness, saturation (colour images only) and contrast, per image."""
    m = x.shape[0]
    x = x + (torch.rand(m, 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * (torch.rand(m, 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(m, 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: Tensor, policy: tuple[str, ...]) -> Tensor:
    """T(x): the policy's transformations in the order given, on images (m, C, H, W).

    Raises:
        ValueError: x is not a batch of images, or a policy is unknown.
    """
    if not policy:
        return x
    if x.ndim != 4:
        raise ValueError(
            f"augmentation works on images (m, C, H, W), got examples of shape "
            f"{tuple(x.shape[1:])}; set regularizers.augment=[] for points"
        )
    for name in policy:
        if name not in TRANSFORMS:
            raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(POLICIES)}")
        x = TRANSFORMS[name](x)
    return x
