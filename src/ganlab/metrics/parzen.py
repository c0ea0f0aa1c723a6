"""Parzen-window log-likelihood, the evaluation of Goodfellow et al. (2014), Table 1.

A Gaussian kernel of width sigma is put on each of N generated samples mu_i; the paper's
``parzen_ll.py`` picks sigma by mean log-likelihood on validation points and reports the mean
log-likelihood of the test points in nats with its standard error std / sqrt(n).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

PAPER_SIGMAS = np.logspace(-1, 0, 10)  # the grid of parzen_ll.py

# exp(-80) ~ 1.8e-35: even N = 1e6 terms clamped there add < 1e-28 to a sum that is >= 1 (the
# row-minimum term is exp(0)), so the clamp changes nothing measurable, while exp() of very
# negative arguments is ~30x slower (PERF_NOTES.md).
_EXP_FLOOR = -80.0


@dataclass(frozen=True)
class ParzenScore:
    """Result of parzen_select_and_score.

    Attributes:
        sigma: the kernel width chosen on the validation points.
        mean: mean log p(x) of the test points, in nats.
        se: its standard error, std / sqrt(n_test) (numpy's std, ddof=0, as parzen_ll.py).
        sigmas: the grid searched, (S,).
        valid_ll: mean validation log-likelihood of each sigma of the grid, (S,).
    """

    sigma: float
    mean: float
    se: float
    sigmas: tuple[float, ...]
    valid_ll: tuple[float, ...]


def parzen_log_likelihood(
    samples: Tensor,
    x: Tensor,
    sigma: float,
    chunk: int = 500,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """log p(x) under the Parzen window of the samples, per row of x, in nats.

        log p(x) = logsumexp_i(-||x - mu_i||^2 / (2 sigma^2)) - log N - d log(sigma sqrt(2 pi))

    Args:
        samples: (N, d) generated samples mu_i (anything reshapeable to N rows).
        x: (n, d) points to score.
        sigma: kernel standard deviation, > 0.
        chunk: rows of x per distance matrix; memory is chunk * N values of ``dtype``.
        dtype: precision of the squared distances (float32: within 0.01 nats of float64,
            tests/test_parzen.py; float64 for reference results).
    Returns:
        (n,) float64 log-likelihoods.
    """
    return parzen_log_likelihoods(samples, x, [sigma], chunk, dtype)[0]


def parzen_log_likelihoods(
    samples: Tensor,
    x: Tensor,
    sigmas,
    chunk: int = 500,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """log p_sigma(x) for every sigma of a grid, distances computed once; see
    parzen_log_likelihood for the equation.

    Args:
        samples: (N, d) samples mu_i.  x: (n, d) points.  sigmas: S kernel widths, each > 0.
        chunk: rows of x per (chunk, N) distance matrix.  dtype: precision of the distances.
    Returns:
        (S, n) float64 log-likelihoods.
    """
    mu = torch.as_tensor(samples).reshape(len(samples), -1).to(dtype)  # (N, d)
    x = torch.as_tensor(x).reshape(len(x), -1).to(dtype)  # (n, d)
    sigmas = torch.as_tensor(np.asarray(sigmas, dtype=np.float64)).reshape(-1)  # (S,)
    if mu.shape[1] != x.shape[1]:
        raise ValueError(f"samples have {mu.shape[1]} dims, x has {x.shape[1]}")
    if not bool((sigmas > 0).all()):
        raise ValueError(f"sigma must be > 0, got {sigmas.tolist()}")
    N, d = mu.shape
    mu_sq = (mu * mu).sum(1)  # (N,)
    log_z = math.log(N) + d * torch.log(sigmas * math.sqrt(2 * math.pi))  # (S,)
    out = torch.empty(len(sigmas), len(x), dtype=torch.float64)
    work = torch.empty(min(chunk, len(x)), N, dtype=dtype)  # one buffer for every exponent
    for start in range(0, len(x), chunk):
        xc = x[start : start + chunk]  # (c, d)
        # One matrix product per chunk, shared by every sigma of the grid, with ||mu||^2 added
        # by the same BLAS call. ||x||^2 is left out: it is the same along a row and cancels
        # in the distances relative to the row minimum below.
        d2 = torch.addmm(mu_sq, xc, mu.T, alpha=-2.0)  # (c, N) ||x - mu||^2 - ||x||^2
        d2_min, nearest = d2.min(dim=1, keepdim=True)  # (c, 1)
        # Distances relative to the row minimum are >= 0, so every exponent is <= 0 and the
        # nearest term is exactly exp(0): the sum cannot underflow for any sigma. The minimum
        # itself, the dominant term of log p, is recomputed in float64 from its pair (cheap:
        # c rows of d) so that the ||mu||^2 - 2 x.mu cancellation in float32 does not reach it.
        d2.sub_(d2_min)  # (c, N)
        diff = xc.double() - mu[nearest[:, 0]].double()  # (c, d)
        d2_min64 = (diff * diff).sum(1)  # (c,)
        a = work[: len(xc)]
        for s, sigma in enumerate(sigmas.tolist()):
            torch.mul(d2, -0.5 / sigma**2, out=a).clamp_(min=_EXP_FLOOR).exp_()  # (c, N)
            # A float32 sum is enough: it lies in [1, N] (the nearest term is 1), and summing
            # 10^4 positive terms in float32 errs by ~1e-6 relative, ~1e-6 nats after the log.
            log_sum = torch.log(a.sum(1).double())  # (c,)
            out[s, start : start + chunk] = log_sum - d2_min64 / (2 * sigma**2) - log_z[s]
    return out


def parzen_select_and_score(
    samples: Tensor,
    valid: Tensor,
    test: Tensor,
    sigmas=PAPER_SIGMAS,
    chunk: int = 500,
    dtype: torch.dtype = torch.float32,
) -> ParzenScore:
    """Choose sigma on validation points, then score test points, as the paper's parzen_ll.py.

        sigma* = argmax_sigma mean_{x in valid} log p_sigma(x)
        LL = mean_{x in test} log p_sigma*(x),  SE = std_{x in test}(log p_sigma*(x)) / sqrt(n)

    Args:
        samples: (N, d) generated samples (the paper: 10,000).
        valid: (n_valid, d) validation points (the paper: the first 1,000 validation images).
        test: (n_test, d) test points (the paper: the 10,000 test images).
        sigmas: the grid of kernel widths (default logspace(-1, 0, 10)).
        chunk, dtype: see parzen_log_likelihood.
    Returns:
        ParzenScore(sigma, mean, se, sigmas, valid_ll).
    """
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    valid_ll = parzen_log_likelihoods(samples, valid, sigmas, chunk, dtype).mean(1)  # (S,)
    best = int(torch.argmax(valid_ll))
    ll = parzen_log_likelihood(samples, test, float(sigmas[best]), chunk, dtype)  # (n_test,)
    return ParzenScore(
        sigma=float(sigmas[best]),
        mean=float(ll.mean()),
        se=float(ll.std(unbiased=False)) / math.sqrt(len(ll)),
        sigmas=tuple(float(s) for s in sigmas),
        valid_ll=tuple(float(v) for v in valid_ll),
    )
