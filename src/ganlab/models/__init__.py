"""Plain nn.Modules for G and D, and the two functions that build them from a config.

Every discriminator returns logits of shape (m,); every generator returns (m, *x_shape).
"""

import math

from torch import nn

from ganlab.config import ConditionalConfig, DiscriminatorConfig, GeneratorConfig
from ganlab.errors import ConfigError
from ganlab.models.conditional import (
    ACGANDiscriminator,
    ConcatDiscriminator,
    ConditionalGenerator,
    ProjectionDiscriminator,
)
from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_layout, image_side
from ganlab.models.mlp import (
    Dropout,
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
    "ACGANDiscriminator",
    "ConcatDiscriminator",
    "ConditionalGenerator",
    "ProjectionDiscriminator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "Dropout",
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
    cfg: GeneratorConfig,
    z_dim: int,
    x_shape: tuple[int, ...],
    standardize: bool = False,
    cond: ConditionalConfig | None = None,
    classes: int | None = None,
    log_coords: tuple[int, ...] = (),
) -> nn.Module:
    """G for examples of shape x_shape from noise of dimension z_dim, initialised; with
    `standardize` a StandardizedGenerator (its moments to be set from the data, exp on
    `log_coords`); with a conditional `cond` (kind not none) and K = `classes`, G(z, y), a
    ConditionalGenerator."""
    if cond is not None and cond.kind != "none":
        net = build_generator(cfg, z_dim + cond.embed_dim, x_shape)
        G = ConditionalGenerator(net, classes, cond.embed_dim)
        return StandardizedGenerator(G, tuple(x_shape), log_coords) if standardize else G
    if cfg.kind == "dcgan":
        _dcgan_side(x_shape, "generator")
        G = DCGANGenerator(z_dim, x_shape, cfg.channels, cfg.output, cfg.refine, cfg.dense)
    else:
        G = MLPGenerator(z_dim, x_shape, cfg.hidden, cfg.activation, cfg.output, cfg.batchnorm)
        if cfg.init_range is not None:
            init_uniform_(G, cfg.init_range)
    return StandardizedGenerator(G, tuple(x_shape), log_coords) if standardize else G


def build_discriminator(
    cfg: DiscriminatorConfig,
    x_shape: tuple[int, ...],
    standardize: bool = False,
    cond: ConditionalConfig | None = None,
    classes: int | None = None,
    log_coords: tuple[int, ...] = (),
) -> nn.Module:
    """D for examples of shape x_shape, returning (m,) logits, initialised; with
    cfg.pack = n > 1 a PackedDiscriminator returning one logit per n examples; with
    `standardize` a StandardizedDiscriminator around it (log on `log_coords`); with a
    conditional `cond` and K = `classes`, D(x, y) of cond.kind (ganlab.models.conditional)."""
    if cond is not None and cond.kind != "none":
        D = _conditional_discriminator(cfg, tuple(x_shape), cond, classes)
        return StandardizedDiscriminator(D, tuple(x_shape), log_coords) if standardize else D
    if cfg.pack > 1:
        inner = _build_discriminator(cfg, packed_shape(tuple(x_shape), cfg.pack))
        D = PackedDiscriminator(inner, cfg.pack)
    else:
        D = _build_discriminator(cfg, x_shape)
    return StandardizedDiscriminator(D, tuple(x_shape), log_coords) if standardize else D


def _build_discriminator(cfg: DiscriminatorConfig, x_shape: tuple[int, ...]) -> nn.Module:
    if cfg.kind == "dcgan":
        _dcgan_side(x_shape, "discriminator")
        return DCGANDiscriminator(
            x_shape, cfg.channels, cfg.batchnorm, cfg.conv_dropout, cfg.dense, cfg.minibatch_std
        )
    if cfg.kind == "maxout":
        D = MaxoutDiscriminator(x_shape, cfg.hidden, cfg.pieces, cfg.dropout, cfg.input_dropout)
    else:
        D = MLPDiscriminator(x_shape, cfg.hidden, cfg.activation, cfg.dropout, cfg.input_dropout)
    if cfg.init_range is not None:
        init_uniform_(D, cfg.init_range)
    return D


def _conditional_discriminator(
    cfg: DiscriminatorConfig, x_shape: tuple[int, ...], cond: ConditionalConfig, classes: int
) -> nn.Module:
    if cond.kind == "projection":
        return ProjectionDiscriminator(_build_discriminator(cfg, x_shape), classes)
    if cond.kind == "acgan":
        return ACGANDiscriminator(_build_discriminator(cfg, x_shape), classes)
    maps = cfg.kind == "dcgan"  # a convolutional D gets the embedding as constant channel maps
    if maps:
        wide = (x_shape[0] + cond.embed_dim, *x_shape[1:])
    else:
        wide = (math.prod(x_shape) + cond.embed_dim,)
    return ConcatDiscriminator(_build_discriminator(cfg, wide), classes, cond.embed_dim, maps)
