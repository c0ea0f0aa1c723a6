"""Plain nn.Modules for G and D, and the two functions that build them from a config.

Every discriminator returns logits of shape (m,); every generator returns (m, *x_shape).
"""

from torch import nn

from ganlab.config import DiscriminatorConfig, GeneratorConfig
from ganlab.errors import ConfigError
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_layout, image_side
from ganlab.models.mlp import (
    Maxout,
    MaxoutDiscriminator,
    MLPDiscriminator,
    MLPGenerator,
    init_uniform_,
)
from ganlab.models.packing import PackedDiscriminator, packed_shape
from ganlab.models.standardized import (
    StandardizedDiscriminator,
    StandardizedGenerator,
    data_moments,
)

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "Maxout",
    "MaxoutDiscriminator",
    "MLPDiscriminator",
    "MLPGenerator",
    "PackedDiscriminator",
    "StandardizedDiscriminator",
    "StandardizedGenerator",
    "build_discriminator",
    "build_generator",
    "data_moments",
]


def _dcgan_side(x_shape: tuple[int, ...], who: str) -> int:
    try:
        side = image_side(x_shape)
        dcgan_layout(side)
    except ValueError as e:
        raise ConfigError(f"{who}.kind 'dcgan': {e}; use kind 'mlp' for this data") from None
    return side


def build_generator(
    cfg: GeneratorConfig, z_dim: int, x_shape: tuple[int, ...], standardize: bool = False
) -> nn.Module:
    """G for examples of shape x_shape from noise of dimension z_dim, initialised; with
    `standardize` a StandardizedGenerator (its moments to be set from the data)."""
    if cfg.kind == "dcgan":
        _dcgan_side(x_shape, "generator")
        G = DCGANGenerator(z_dim, x_shape, cfg.channels, cfg.output, cfg.refine, cfg.dense)
    else:
        G = MLPGenerator(z_dim, x_shape, cfg.hidden, cfg.activation, cfg.output, cfg.batchnorm)
        if cfg.init_range is not None:
            init_uniform_(G, cfg.init_range)
    return StandardizedGenerator(G, tuple(x_shape)) if standardize else G


def build_discriminator(
    cfg: DiscriminatorConfig, x_shape: tuple[int, ...], standardize: bool = False
) -> nn.Module:
    """D for examples of shape x_shape, returning (m,) logits, initialised; with
    cfg.pack = n > 1 a PackedDiscriminator returning one logit per n examples; with
    `standardize` a StandardizedDiscriminator around it."""
    if cfg.pack > 1:
        inner = _build_discriminator(cfg, packed_shape(tuple(x_shape), cfg.pack))
        D = PackedDiscriminator(inner, cfg.pack)
    else:
        D = _build_discriminator(cfg, x_shape)
    return StandardizedDiscriminator(D, tuple(x_shape)) if standardize else D


def _build_discriminator(cfg: DiscriminatorConfig, x_shape: tuple[int, ...]) -> nn.Module:
    if cfg.kind == "dcgan":
        _dcgan_side(x_shape, "discriminator")
        return DCGANDiscriminator(x_shape, cfg.channels, cfg.batchnorm, cfg.conv_dropout, cfg.dense)
    if cfg.kind == "maxout":
        D = MaxoutDiscriminator(x_shape, cfg.hidden, cfg.pieces, cfg.dropout, cfg.input_dropout)
    else:
        D = MLPDiscriminator(x_shape, cfg.hidden, cfg.activation, cfg.dropout, cfg.input_dropout)
    if cfg.init_range is not None:
        init_uniform_(D, cfg.init_range)
    return D
