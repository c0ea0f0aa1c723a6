"""The auxiliary classifier loss of AC-GAN (Odena et al. 2017), on D's class logits.

AC-GAN's D outputs P(S | x) (data or generated, the objective's logit) and P(C | x) (the
class). With L_S the log-likelihood of the correct source and L_C that of the correct class,

    L_C = E[log P(C = y | x_real)] + E[log P(C = y_fake | G(z, y_fake))]       (Odena et al.)

"D is trained to maximize L_S + L_C while G is trained to maximize L_C - L_S": ganlab keeps
each objective's own L_S (its d_loss and g_loss, ganlab.game.objectives) and adds

    L_D += w [CE(c(x), y) + CE(c(G(z, y')), y')]       D minimises: maximises L_C
    L_G += w CE(c(G(z, y')), y')                        G minimises: maximises its half of L_C

with CE(c, y) = -mean_i log softmax(c_i)_{y_i} and w = conditional.acgan_weight.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def class_cross_entropy(class_logits: Tensor, y: Tensor) -> Tensor:
    """CE(c, y) = -1/m sum_i log softmax(c_i)_{y_i}: minus the mean log P(C = y_i | x_i).

    Args: class_logits: (m, K) logits of P(C | x).  y: (m,) int64 classes.
    """
    return F.cross_entropy(class_logits, y)


def acgan_d_loss(
    c_real: Tensor,
    y_real: Tensor,
    c_fake: Tensor,
    y_fake: Tensor,
    weight: float,
    fake_term: bool = True,
) -> Tensor:
    """D's auxiliary term, w [CE(c(x), y) + CE(c(G(z, y')), y')]: D minimises it.

    Without the fake term (w CE(c(x), y) alone) D's class head learns real data only, so it
    cannot agree with G on a mapping of classes to shapes that differs from the data's: with
    the term, a G that draws 0s when asked for 7s and a head that reads those samples as 7s
    are a fixed point of both losses.

    Args: c_real, c_fake: (m, K) class logits on data and samples.  y_real, y_fake: (m,)
        their classes (the data's labels, the classes G was asked for).  weight: w.
        fake_term: include CE(c(G(z, y')), y') (Odena et al.).
    """
    loss = class_cross_entropy(c_real, y_real)
    if fake_term:
        loss = loss + class_cross_entropy(c_fake, y_fake)
    return weight * loss


def acgan_g_loss(c_fake: Tensor, y_fake: Tensor, weight: float) -> Tensor:
    """G's auxiliary term, w CE(c(G(z, y')), y'): G minimises it (samples D reads as y').

    Args: c_fake: (m, K) D's class logits on G's samples.  y_fake: (m,) the classes asked for.
    """
    return weight * class_cross_entropy(c_fake, y_fake)


__all__ = ["acgan_d_loss", "acgan_g_loss", "class_cross_entropy"]
