"""Multilayer perceptrons: the paper's MNIST networks and the small nets for 1-D and 2-D data.

Goodfellow et al. (2014), section 5: "The generator nets used a mixture of rectifier linear
activations and sigmoid activations, while the discriminator net used maxout activations.
Dropout was applied in training the discriminator net."
"""

import math

import torch
from torch import Tensor, nn

ACTIVATIONS = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "tanh": nn.Tanh,
}
OUTPUTS = {"linear": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def init_uniform_(module: nn.Module, r: float) -> None:
    """Every Linear weight ~ U(-r, r) and bias = 0, as the paper's pylearn2 models (irange=r)."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.uniform_(layer.weight, -r, r)
            nn.init.zeros_(layer.bias)


WORD = 0xFFFFFFFF  # 2^32 - 1: the hash's words are 32-bit, held in int64 tensors


def lowbias32(x: Tensor) -> Tensor:
    """C. Wellons' lowbias32 integer hash (a full-avalanche 32-bit mix), on an int64 tensor of
    32-bit words, in place:

        x ^= x >> 16;  x *= 0x7feb352d;  x ^= x >> 15;  x *= 0x846ca68b;  x ^= x >> 16  (mod 2^32)

    Each multiplier is below 2^31 in magnitude (0x846ca68b as its negative twin mod 2^32), so no
    product leaves int64 and eager and compiled code compute the same words. Written by hand:
    torch has no counter-based random numbers on the CPU that a compiled graph draws as eager
    does.
    """
    x ^= x >> 16
    x.mul_(0x7FEB352D).bitwise_and_(WORD)
    x ^= x >> 15
    x.mul_(0x846CA68B - 2**32).bitwise_and_(WORD)
    x ^= x >> 16
    return x


def hashed_words(shape: torch.Size, key: Tensor) -> Tensor:
    """Uniform 32-bit words, one per entry of `shape`, as a counter-based generator: entry i
    gets h(h(i + key_0) ^ key_1), h = lowbias32, with key (2,) int64 drawn from torch's
    generator. (Indices wrap at 2^32 entries: larger layers repeat their masks.)"""
    i = torch.arange(math.prod(shape), dtype=torch.int64, device=key.device).view(shape)
    return lowbias32(lowbias32((i + key[0]).bitwise_and_(WORD)) ^ key[1])


class Dropout(nn.Dropout):
    """nn.Dropout with its mask from hashed counters: drop where the entry's word w < p 2^32,

        y = x * 1[w >= round(p 2^32)] * (1 / (1 - p))    (training; the identity in eval mode)

    w = hashed_words(x.shape, key), key two 32-bit words from torch's generator per call. The
    same Bernoulli(1 - p) mask distribution as nn.Dropout's (to 2^-32), from the same generator
    (seeds repeat the masks, checkpoints' RNG states resume them), and the same masks eagerly
    and in a compiled graph - where they cost nothing to draw: inductor fuses the hash into the
    kernels around it, where torch.rand's one-thread generator took 1.1-1.2 ms of a paper-MLP
    iteration of ~15 (`python benchmarks/profile_step.py paper --compile step`;
    benchmarks/README.md, "Seventh session"). Eagerly the hash, in place, costs
    about what torch.rand did: 0.70 against 0.62 ms for a D update's 252,800 entries, nn.Dropout's
    bernoulli_ 2.62 (benchmarks/dropout_masks.py, 2 threads). Runs with dropout from before
    2026-12-08 drew torch.rand masks: their seeds do not repeat those numbers bit for bit.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        if keep == 0:
            return x * 0.0
        key = torch.randint(0, 2**32, (2,), dtype=torch.int64, device=x.device)
        mask = hashed_words(x.shape, key) >= round(self.p * 2**32)
        # times 1 / keep, not divided by keep: compiled graphs multiply by the reciprocal,
        # and so the two round alike
        return x * mask * (1.0 / keep)


class Maxout(nn.Module):
    """Maxout layer (Goodfellow et al. 2013): h_i = max_j (x W_ij + b_ij), j = 1..pieces."""

    def __init__(self, in_features: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(in_features, units * pieces)

    def forward(self, x: Tensor) -> Tensor:
        h = self.linear(x)  # (m, units * pieces), pieces of a unit adjacent as in pylearn2
        return h.view(x.shape[0], self.units, self.pieces).amax(dim=-1)  # (m, units)


class MLPGenerator(nn.Module):
    """x = G(z): Linear -> [BatchNorm] -> activation per hidden layer, then Linear -> output.

    Args:
        z_dim: dimension of the noise z.
        x_shape: shape of one example, e.g. (2,) or (1, 28, 28); G outputs (m, *x_shape).
        hidden: widths of the hidden layers.
        activation: hidden nonlinearity name ('relu', 'leaky_relu', 'tanh').
        output: output nonlinearity name ('linear', 'sigmoid', 'tanh').
        batchnorm: BatchNorm1d after each hidden Linear.
    """

    def __init__(
        self,
        z_dim: int,
        x_shape: tuple[int, ...],
        hidden: list[int],
        activation: str = "relu",
        output: str = "sigmoid",
        batchnorm: bool = False,
    ):
        super().__init__()
        self.x_shape = tuple(x_shape)
        layers: list[nn.Module] = []
        width = z_dim
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batchnorm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(ACTIVATIONS[activation]())
            width = h
        layers += [nn.Linear(width, math.prod(self.x_shape)), OUTPUTS[output]()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.x_shape)


class MaxoutDiscriminator(nn.Module):
    """The paper's D: dropout -> maxout -> dropout -> ... -> Linear to one logit.

    The published MNIST model keeps inputs with probability 0.8 and hidden units with
    probability 0.5 (pylearn2 ``input_include_probs``), i.e. input_dropout 0.2, dropout 0.5.

    Args:
        x_shape: shape of one example; inputs are flattened.
        hidden: units per maxout layer (the paper: 240, 240).
        pieces: linear pieces per unit (the paper: 5).
        dropout: drop probability of the inputs of every layer after the first.
        input_dropout: drop probability of D's input.
    Returns from forward:
        (m,) logits a, D(x) = sigmoid(a).
    """

    def __init__(
        self,
        x_shape: tuple[int, ...],
        hidden: list[int],
        pieces: int = 5,
        dropout: float = 0.5,
        input_dropout: float = 0.2,
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten(), Dropout(input_dropout)]
        width = math.prod(x_shape)
        for i, h in enumerate(hidden):
            if i > 0:
                layers.append(Dropout(dropout))
            layers.append(Maxout(width, h, pieces))
            width = h
        layers += [Dropout(dropout), nn.Linear(width, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


class MLPDiscriminator(nn.Module):
    """A plain MLP discriminator: Linear -> activation [-> dropout] per layer, Linear to a logit.

    Args:
        x_shape: shape of one example; inputs are flattened.
        hidden: widths of the hidden layers.
        activation: hidden nonlinearity name.
        dropout: drop probability after each hidden layer (0 disables).
        input_dropout: drop probability of D's input (0 disables).
    Returns from forward:
        (m,) logits.
    """

    def __init__(
        self,
        x_shape: tuple[int, ...],
        hidden: list[int],
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        if input_dropout:
            layers.append(Dropout(input_dropout))
        width = math.prod(x_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            if dropout:
                layers.append(Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)


@torch.no_grad()
def set_output_bias_(generator: MLPGenerator, value: Tensor) -> None:
    """Set the bias of G's last Linear layer (e.g. to the logit of the mean pixel)."""
    last = [m for m in generator.net if isinstance(m, nn.Linear)][-1]
    last.bias.copy_(value.reshape(last.bias.shape))
