"""Mode coverage on mixtures of Gaussians (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

A sample is high quality if it lies within `threshold` standard deviations of its nearest
mode centre; a mode is covered if at least one high-quality sample is nearest to it.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mode_coverage(samples: Tensor, centres: Tensor, std: float, threshold: float = 3.0) -> dict:
    """Modes covered, fraction of high-quality samples, and KL of the mode histogram to uniform.

        KL(q || u) = sum_i q_i log(q_i K),  q_i = share of high-quality samples nearest mode i

    (0 log 0 = 0; KL is undefined, reported as inf, when no sample is high quality.)

    Args:
        samples: (n, d) generated points (the protocol uses n = 2,500).
        centres: (K, d) mode centres.
        std: standard deviation of each mode.
        threshold: how many stds from a centre still count as high quality.
    Returns:
        {"modes": K, "modes_covered": int, "high_quality": float in [0, 1], "kl": float,
         "counts": list of high-quality samples per mode}.
    """
    x = torch.as_tensor(samples, dtype=torch.float64).reshape(len(samples), -1)
    c = torch.as_tensor(centres, dtype=torch.float64)
    dist = torch.cdist(x, c)  # (n, K)
    nearest_dist, nearest = dist.min(dim=1)
    good = nearest_dist <= threshold * std
    counts = torch.bincount(nearest[good], minlength=c.shape[0])  # (K,)
    n_good = int(counts.sum())
    if n_good:
        q = counts.double() / n_good
        nz = q > 0
        kl = float((q[nz] * torch.log(q[nz] * c.shape[0])).sum())
    else:
        kl = float("inf")
    return {
        "modes": int(c.shape[0]),
        "modes_covered": int((counts > 0).sum()),
        "high_quality": n_good / max(len(x), 1),
        "kl": kl,
        "counts": counts.tolist(),
    }
