"""A conditional run in `ganlab lab` (issue 17): the class picker, and what a frame draws of
G(z, y) and D(x, y) for the class picked or for all of them.

The picker holds "all classes" (None) or one class k; a frame then shows:

- G's samples: class k: G(z_i, k) for every z_i of the fixed preview noise. All: G(z_i, i mod
  K), the balanced classes a conditional G draws when called without y
  (models.conditional.balanced_labels), so the same noise shows the same classes at every frame.
- D's map: class k: D(x, k), a concat or projection D's logit for "x is a real example of
  class k". All: the mean of D(x, y) over the classes of the pairs D judges at x,

      sum_y q(y | x) D(x, y),   q(y | x) = (p_data(x, y) + p_g(x, y)) / (p_data(x) + p_g(x))

  (each D read as the objective reads it, sigmoid for a probability, before the mean). At D's
  optimum D*(x, y) = p_data(x, y) / (p_data(x, y) + p_g(x, y)) (Proposition 1 for pairs) the sum
  is p_data(x) / (p_data(x) + p_g(x)): the unconditional D*, which the D* panel draws beside it.
  q is known in a frame: p_data(x, y) is the mixture's component y, p_g(x, y) the kernel
  estimate of G's samples of class y, both smoothed as for D*; where both vanish, q is uniform.
  A plain mean over y would be mostly D's values on pairs it never trains on (at mode j, the
  K - 1 other classes: no data and, for a good G, no samples), and the page would show their
  extrapolation, a flat map; the maximum would show the best class only.
  AC-GAN's real/fake head does not see y (Odena et al. 2017): its map is the same for every
  class, and the class's pull on G is the class head's cross-entropy in G's loss, which the
  arrows include (`class_g_loss`).
- D*: class k: p_data(x | k) / (p_data(x | k) + p_g(x | k)), Proposition 1 for the game of class
  k (p_data's component k, p_g from the samples of class k); all: the marginal, as unconditional.
- JSD, KL, modes covered and `label_agreement` (the share of the balanced samples nearest the
  mode of the class they were asked for) are always of all classes: the frame chart does not
  jump when the picker moves, and the doctor's mode-collapse check never reads one class's
  single mode as a collapse.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganlab.data.toy import GaussianMixture
from ganlab.game.objectives import Objective
from ganlab.lab.densities import View, kernel_density, smoothed
from ganlab.models.conditional import balanced_labels
from ganlab.training.conditional import class_judge, conditional_generator_forward


def pictured_labels(n: int, classes: int, picked: int | None) -> Tensor:
    """The (n,) classes G is asked for in a frame: all k, or i mod K for "all"."""
    if picked is None:
        return balanced_labels(n, classes)
    return torch.full((n,), picked, dtype=torch.int64)


def class_discriminator(
    D: nn.Module,
    x: Tensor,
    output: str,
    classes: int,
    picked: int | None,
    weights: Tensor | None = None,
) -> Tensor:
    """D(x, k) per point, (n,), or for "all" the mean over y of D(x, y) weighted by q(y | x)
    (`weights`, (K, n); None: uniform); each value read as `output` reads D (sigmoid for
    "probability", raw for "critic") before the mean."""
    x = x.float()
    n = len(x)
    if picked is None:
        y = torch.arange(classes).repeat_interleave(n)  # (K n,): every point with every class
        d = D(x.repeat(classes, 1), y).double().reshape(classes, n)  # (K, n)
    else:
        d = D(x, torch.full((n,), picked, dtype=torch.int64)).double()[None]  # (1, n)
    d = torch.sigmoid(d) if output == "probability" else d
    if weights is None:
        return d.mean(0)
    return (weights * d).sum(0)


def class_posterior(log_p_data: Tensor, log_p_g: Tensor) -> Tensor:
    """q(y | x) = (p_data(x, y) + p_g(x, y)) / sum over y of the same, (K, n); uniform where
    every term is 0. In logs: a density far from every mode underflows as a probability.

    Args: log_p_data, log_p_g: (K, n) log p(x, y) of each class y at each of n points.
    """
    log_w = torch.logaddexp(log_p_data, log_p_g)  # (K, n)
    q = torch.softmax(log_w, dim=0)
    return torch.where(torch.isfinite(log_w).any(0), q, 1.0 / len(q))


def class_weights(
    view: View, x: Tensor, cells: int, dist: GaussianMixture, fake: Tensor, K: int
) -> Tensor:
    """q(y | x) at the points x of a grid of `cells` per axis, (K, n): p_data(x, y) is the
    mixture's component y with its weight, p_g(x, y) the kernel estimate of G's samples of class
    y (fake: G(z_i, i mod K)) times their share; both smoothed as for D* (classes.py)."""
    h, y = view.bandwidth, pictured_labels(len(fake), K, None)
    log_p_data = torch.full((K, len(x)), -math.inf, dtype=torch.float64)
    log_p_g = torch.full((K, len(x)), -math.inf, dtype=torch.float64)
    for k in range(K):
        if k < dist.components:  # conditional.classes may exceed the data's
            log_p_data[k] = smoothed(component(dist, k), h).log_prob(x) + dist.weights[k].log()
        mine = fake[y == k]
        if len(mine):
            log_p_g[k] = (kernel_density(mine, view, cells, h) * len(mine) / len(fake)).log()
    return class_posterior(log_p_data, log_p_g)


def d_map_label(D: nn.Module, picked: int | None, names: list[str], weighted: bool) -> str:
    """What D's map shows for this picker, in words for the page's legend."""
    if class_judge(D) is not None:
        return "AC-GAN: D's real/fake head, which does not see the class"
    if picked is not None:
        return f"D(x, y = {names[picked]})"
    if weighted:
        return "sum_y q(y | x) D(x, y), q: the classes of the data and samples at x"
    return f"the mean over the {len(names)} classes of D(x, y)"


def class_g_loss(
    D: nn.Module,
    x: Tensor,
    y: Tensor,
    game: Objective,
    acgan_weight: float,
    real: Tensor | None,
    real_y: Tensor | None,
) -> Tensor:
    """G's loss on the points x asked for as classes y, as training computes it on G(z, y):
    training.conditional.conditional_generator_forward, with the identity as G (its `z` is x).
    AC-GAN's class cross-entropy is in it; `real` and `real_y` pair an example with each point
    for a relativistic G loss (else None)."""

    def points(z: Tensor, y: Tensor) -> Tensor:  # "G" that returns its input: x as given
        return z

    return conditional_generator_forward(points, D, game, acgan_weight, None, x, y, real, real_y)


def component(dist: GaussianMixture, k: int) -> GaussianMixture:
    """p_data(x | k): the mixture's component k (a toy mixture's class is its mode)."""
    return GaussianMixture(dist.centres[k : k + 1], dist.stds[k : k + 1])


def label_agreement(samples: Tensor, y: Tensor, centres: Tensor) -> float:
    """The share of samples whose nearest mode is that of the class they were asked for.

    Args: samples: (n, d).  y: (n,) their classes.  centres: (K, d) the modes, class k's at k.
    """
    nearest = torch.cdist(samples.double(), centres.double()).argmin(dim=1)  # (n,)
    return float((nearest == y).double().mean())


__all__ = [
    "class_discriminator",
    "class_g_loss",
    "class_posterior",
    "class_weights",
    "component",
    "d_map_label",
    "label_agreement",
    "pictured_labels",
]
