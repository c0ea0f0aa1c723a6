"""Class-conditional G and D: p_g(x | y) for a class y in {0, ..., K-1}, around today's nets.

Goodfellow et al. (2014), section 7: "A conditional generative model p(x | c) can be obtained
by adding c as input to both G and D." G always gets the class as a learned embedding beside z,

    x = G(z, y) = G'([z, e_G(y)])                                        (Mirza & Osindero 2014)

and D sees it in one of three ways (config conditional.kind); every D returns (m,) logits:

    concat      a = D'([x, e_D(y)])   an MLP D: the embedding beside the flattened x; a DCGAN
                                      D: e_D(y) as constant extra channel maps of x
    projection  a = psi(phi(x)) + <e_D(y), phi(x)>        (Miyato & Koyama 2018)
    acgan       a = psi(phi(x)), and class logits c(x) = W phi(x) + b from the same features:
                D and G add the cross-entropy of c on the classes (Odena et al. 2017)

phi is D's body up to its last Linear, psi that Linear. The modules wrap an unconditional net
that the builder made with the wider input (ganlab.models.build_generator and
build_discriminator); they hold no loss and no training step.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def balanced_labels(m: int, classes: int, device: torch.device | None = None) -> Tensor:
    """y_i = i mod K, (m,) int64: every class equally often (to one) in a fixed order.

    What a conditional G draws when a caller gives it no labels (a sample figure, a doctor's
    check): deterministic, so the fixed preview noise shows the same classes at every step.
    """
    return torch.arange(m, device=device) % classes


class ConditionalGenerator(nn.Module):
    """x = G(z, y) = net([z, e(y)]): `net` is an unconditional G built for z_dim + embed_dim.

    Args:
        net: the generator of the concatenated input, (m, z_dim + embed_dim) -> (m, *x_shape).
        classes: K.
        embed_dim: width of e(y).
    """

    def __init__(self, net: nn.Module, classes: int, embed_dim: int):
        super().__init__()
        self.classes = classes
        self.embed = nn.Embedding(classes, embed_dim)
        self.net = net

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """z: (m, z_dim); y: (m,) class indices, default balanced_labels. Returns (m, *x_shape)."""
        if y is None:
            y = balanced_labels(len(z), self.classes, z.device)
        return self.net(torch.cat([z, self.embed(y)], dim=1))  # (m, *x_shape)


class ConcatDiscriminator(nn.Module):
    """a = net([x, e(y)]) (Mirza & Osindero 2014), (m,) logits.

    Points and flattened images get e(y) as embed_dim more coordinates; images judged by a
    convolutional net (`channels` True) get it as embed_dim constant maps, (m, C + e, H, W).

    Args:
        net: an unconditional D of the widened input.
        classes: K.  embed_dim: width of e(y).  channels: append e(y) as channel maps.
    """

    def __init__(self, net: nn.Module, classes: int, embed_dim: int, channels: bool):
        super().__init__()
        self.classes, self.channels = classes, channels
        self.embed = nn.Embedding(classes, embed_dim)
        self.net = net

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        e = self.embed(y)  # (m, embed_dim)
        if self.channels:
            maps = e[:, :, None, None].expand(-1, -1, *x.shape[2:])  # (m, embed_dim, H, W)
            return self.net(torch.cat([x, maps], dim=1))
        return self.net(torch.cat([x.flatten(1), e], dim=1))


def split_head(net: nn.Module) -> tuple[nn.Module, nn.Linear]:
    """(phi, psi): D's body up to its last Linear and that Linear to one logit.

    Works for every D of ganlab.models whose layers are one nn.Sequential `net` ending in
    Linear(width, 1) (MLP, maxout, DCGAN).
    """
    layers = list(net.net)
    head = layers[-1]
    assert isinstance(head, nn.Linear) and head.out_features == 1, type(head)
    return nn.Sequential(*layers[:-1]), head


class ProjectionDiscriminator(nn.Module):
    """a = psi(phi(x)) + <e(y), phi(x)> (Miyato & Koyama 2018), (m,) logits.

    The inner product is the log-ratio log q(y | x) / p(y | x) of a log-linear model of the
    class given D's features; e(y) starts like psi's weights, U(-1/sqrt(w), 1/sqrt(w)).

    Args:
        net: an unconditional D (its last layer Linear(w, 1)).  classes: K.
    """

    def __init__(self, net: nn.Module, classes: int):
        super().__init__()
        self.classes = classes
        self.phi, self.psi = split_head(net)
        width = self.psi.in_features
        self.embed = nn.Embedding(classes, width)
        nn.init.uniform_(self.embed.weight, -1 / math.sqrt(width), 1 / math.sqrt(width))

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.phi(x)  # (m, w) D's features
        return self.psi(h).squeeze(-1) + (self.embed(y) * h).sum(dim=1)  # (m,)


class ACGANDiscriminator(nn.Module):
    """a = psi(phi(x)) and class logits c(x) = W phi(x) + b (Odena et al. 2017).

    forward(x, y) returns the (m,) logits alone (y unused: the adversarial head does not see
    the class), so every objective reads it as any D; `judge` returns both heads.

    Args:
        net: an unconditional D (its last layer Linear(w, 1)).  classes: K.
    """

    def __init__(self, net: nn.Module, classes: int):
        super().__init__()
        self.classes = classes
        self.phi, self.psi = split_head(net)
        self.classify = nn.Linear(self.psi.in_features, classes)

    def judge(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """((m,) logits, (m, K) class logits) from one pass of phi."""
        h = self.phi(x)  # (m, w)
        return self.psi(h).squeeze(-1), self.classify(h)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.judge(x)[0]


__all__ = [
    "ACGANDiscriminator",
    "ConcatDiscriminator",
    "ConditionalGenerator",
    "ProjectionDiscriminator",
    "balanced_labels",
    "split_head",
]
