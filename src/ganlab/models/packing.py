"""PacGAN packing (Lin, Khetan, Fanti & Oh 2018): D judges n samples at once.

D receives n examples concatenated, all from the data or all from G, and outputs one logit for
the pack. A generator that collapses onto a few modes makes packs whose members look alike,
which a packed D detects even when each sample alone looks real; the paper shows this
penalises mode collapse with no change to the loss or to G.
"""

from __future__ import annotations

from torch import Tensor, nn


def packed_shape(x_shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """Shape of one pack of `pack` examples: concatenated along the first feature axis
    (vectors: (pack * d,); images: (pack * C, H, W), the paper's stacking of channels)."""
    return (pack * x_shape[0], *x_shape[1:])


class PackedDiscriminator(nn.Module):
    """Wraps a D built for packed inputs: (m, *x_shape) examples -> (m / pack,) logits.

    Consecutive rows form a pack, so a minibatch of data followed by one of samples (ganlab's
    one-pass discriminate) never mixes the two when m is a multiple of pack.

    Args:
        inner: a discriminator taking examples of shape packed_shape(x_shape, pack).
        pack: examples per pack, >= 2.
    """

    def __init__(self, inner: nn.Module, pack: int):
        super().__init__()
        self.inner, self.pack = inner, pack

    def forward(self, x: Tensor) -> Tensor:
        m = x.shape[0]
        if m % self.pack:
            raise ValueError(f"a packed D needs a multiple of {self.pack} examples, got {m}")
        packs = x.reshape(m // self.pack, self.pack * x.shape[1], *x.shape[2:])
        return self.inner(packs)  # (m / pack,)
