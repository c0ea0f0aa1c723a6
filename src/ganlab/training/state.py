"""The training state: what Algorithm 1 reads and changes, and how a config builds it.

`build_state` makes G, D, both optimisers, the noise prior and the data source from a Config;
`seeded_rng` scopes the seeding of torch's generator around it. A checkpoint (runs.checkpoints)
is a TrainState serialised.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ganlab.config import Config
from ganlab.data import build_data
from ganlab.data.clusters import label_by_clusters
from ganlab.data.sources import DistributionSource, TensorSource
from ganlab.data.streaming import StreamingSource
from ganlab.errors import ConfigError, DataError
from ganlab.models import build_discriminator, build_generator, data_moments
from ganlab.models.mlp import set_output_bias_
from ganlab.models.standardized import log_mask, to_log_scale
from ganlab.training import distributed
from ganlab.training.distributed import LOCAL, World
from ganlab.training.ema import ema_copy
from ganlab.training.optim import build_optimizer
from ganlab.training.prior import NoisePrior

# Seeds of the run's independent random streams, offset from cfg.seed so that none shares
# a sequence with another (model init and dropout use torch's global generator, seeded cfg.seed).
DATA_SEED, NOISE_SEED, PREVIEW_SEED, EVAL_SEED, LABEL_SEED, CLUSTER_SEED = 1, 2, 3, 4, 5, 6
# Examples data.standardize measures mu and sigma on: all of a training set up to this size
# (the standard error of sigma is then under 0.5% of it), a fixed draw of a stream's law.
MOMENT_EXAMPLES = 100_000


@dataclass
class TrainState:
    """Everything Algorithm 1 reads and changes; a checkpoint is this, serialised."""

    step: int
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    prior: NoisePrior
    data: DistributionSource | TensorSource | StreamingSource
    lr_scale: float = 1.0  # both learning rates times this, on top of the schedule (rollbacks)
    rollbacks: int = 0  # times on_nan: rollback reloaded a checkpoint in this run
    ema: nn.Module | None = None  # the moving average of G's weights (cfg.ema), or None

    @property
    def sampler(self) -> nn.Module:
        """The G that samples, figures and metrics show: the average when there is one."""
        return self.ema if self.ema is not None else self.G


def check_enough_examples(cfg: Config, n: int | None) -> None:
    """Refuse, naming the data and the fix, a training set of n examples smaller than one
    minibatch (every minibatch holds exactly m examples: Algorithm 1's m) or of a single
    example. n None: fresh draws every step, never too few. `ganlab train --dry-run` calls it
    with the inspected count, so it refuses what training would.

    Raises:
        DataError: one line.
    """
    if n is None or n >= cfg.m:
        return
    where = cfg.data.path or f"data.kind '{cfg.data.kind}'"
    if n < 2:
        raise DataError(
            f"{where} holds 1 example; a GAN learns a distribution from many: add examples "
            "(an image folder: one image per file)"
        )
    m = 1 << (n.bit_length() - 1)  # the largest power of two within n
    raise DataError(
        f"{where} holds {n} examples, fewer than the minibatch m={cfg.m}; add examples or "
        f"lower m: --set m={m}"
    )


def require_examples(source, cfg: Config):
    """`source` itself when it holds a fixed set of examples (what clusters can be found in).

    Raises:
        DataError: a source that draws fresh points from a distribution every step.
    """
    if isinstance(source, DistributionSource):
        raise DataError(
            f"conditional.clusters clusters a fixed set of examples, but data.kind "
            f"'{cfg.data.kind}' draws fresh points every step; set data.n=N (a training set of "
            "N points) or conditional.clusters=0"
        )
    return source


def labelled_source(cfg: Config, data=None):
    """The run's training data (ganlab.data.build_data), with the labels a conditional run
    trains on: the data's own, or its clusters (conditional.clusters), computed the same way
    every time (a resume's, an evaluation's)."""
    clusters = cfg.conditional.clusters  # classes from the data's own clusters
    labelled = cfg.conditional_run and not clusters
    source = build_data(cfg.data, cfg.seed + DATA_SEED, data, labelled=labelled)
    # before clustering: its limits are not the data's fix
    check_enough_examples(cfg, getattr(source, "size", None))
    if clusters:
        seed, method = cfg.seed + CLUSTER_SEED, cfg.conditional.clustering
        label_by_clusters(require_examples(source, cfg), clusters, seed, method)
    return source


def build_state(cfg: Config, data=None, world: World = LOCAL) -> TrainState:
    """Fresh G, D, optimisers, noise prior and data source for a config, on world's device.

    Model initialisation draws from torch's global generator: call this after seeding it
    (train() does, inside an isolated RNG scope). On a rank r > 0 of several, the generator is
    then reseeded for r's own dropout masks, and the prior and data source return r's rows of
    every minibatch (ganlab.training.distributed).

    A conditional config (conditional.kind not none) gets a labelled source (class_names: the
    K classes), G(z, y) and D(x, y) of its kind, and a prior that also draws G's classes.
    """
    source = labelled_source(cfg, data)  # checked: enough examples for a minibatch
    if cfg.regularizers.augment and len(source.x_shape) != 3:
        raise ConfigError(
            f"regularizers.augment transforms images, but the data's examples have shape "
            f"{tuple(source.x_shape)}; set regularizers.augment=[] for points"
        )
    classes = class_count(cfg, source)  # K of a conditional run, else None
    if tanh_images(cfg, source.x_shape):
        # Images are stored in [0, 1]; a tanh G outputs [-1, 1]. Scale the data to G's range
        # here, the one place it happens (Run.sample maps samples back); a streamed source
        # maps each minibatch as it is read.
        source.scale_to(-1.0, 1.0)
    scaled = cfg.data.standardize
    if scaled or cfg.data.integer_columns:  # checked before G and D take the columns
        reference = source.reference(MOMENT_EXAMPLES, seed=cfg.seed + DATA_SEED)
        check_columns(reference, cfg.data)
    G = generator_of(cfg, source.x_shape, classes)
    if cfg.generator.output_bias == "data_logit":  # (a conditional G's MLP is G.net)
        set_output_bias_(G.net if classes else G, data_logit(source, cfg.data.kind))
    D = discriminator_of(cfg, source.x_shape, classes)
    if scaled:
        mask = log_mask(reference.shape[-1], tuple(cfg.data.log_columns))
        moments = data_moments(to_log_scale(reference, mask))
        G.set_moments_(*moments)
        D.set_moments_(*moments)
    G, D = (distributed.sync_batchnorm(net, world).to(world.device) for net in (G, D))
    weights = getattr(source, "class_weights", None)
    prior = NoisePrior(cfg.noise, cfg.seed + NOISE_SEED, classes, cfg.seed + LABEL_SEED, weights)
    prior.to(world.device)
    source.to(world.device)
    prior.shard = source.shard = (world.rank, world.size)
    if world.rank:
        torch.manual_seed(distributed.rank_seed(cfg.seed, world.rank, 0))
    return TrainState(
        step=0,
        G=G,
        D=D,
        opt_g=build_optimizer(cfg.g_optimizer, G.parameters()),
        opt_d=build_optimizer(cfg.d_optimizer, D.parameters()),
        prior=prior,
        data=source,
        ema=ema_copy(G) if cfg.ema.beta else None,
    )


def generator_of(cfg: Config, x_shape: tuple[int, ...], classes: int | None) -> torch.nn.Module:
    """The run's G for examples of x_shape (K = classes of a conditional run), initialised."""
    return build_generator(
        cfg.generator, cfg.noise.dim, x_shape, cfg.data.standardize, cfg.conditional, classes,
        tuple(cfg.data.log_columns),
    )  # fmt: skip


def discriminator_of(cfg: Config, x_shape: tuple[int, ...], classes: int | None) -> torch.nn.Module:
    """The run's D for examples of x_shape (K = classes of a conditional run), initialised."""
    return build_discriminator(
        cfg.discriminator, x_shape, cfg.data.standardize, cfg.conditional, classes,
        tuple(cfg.data.log_columns),
    )  # fmt: skip


def check_columns(x: torch.Tensor, data) -> None:
    """Refuse data.log_columns or data.integer_columns that the points do not have, and log
    columns that hold a value <= 0.

    Raises:
        DataError: one line, naming the column and the fix.
    """
    for key in ("log_columns", "integer_columns"):
        for j in getattr(data, key):
            if x.ndim != 2 or j >= x.shape[1]:
                raise DataError(
                    f"data.{key} names column {j}, but the examples have shape "
                    f"{tuple(x.shape[1:])}; give 0-based columns of points"
                )
    for j in data.log_columns:
        low = float(x[:, j].min())
        if low <= 0:
            raise DataError(
                f"data.log_columns: column {j} holds {low:g}, and log needs values > 0; remove "
                f"{j} from data.log_columns"
            )


def round_columns(x: torch.Tensor, columns: list[int]) -> torch.Tensor:
    """x with the coordinates `columns` of (N, d) points rounded to whole numbers."""
    if not columns:
        return x
    x = x.clone()
    x[:, columns] = x[:, columns].round()
    return x


def class_count(cfg: Config, source) -> int | None:
    """K, the classes of a conditional run: conditional.classes, else the data's; None for an
    unconditional run. A K above the data's names the extra classes by their index.

    Raises:
        DataError: the data holds a label >= conditional.classes.
    """
    if not cfg.conditional_run:
        return None
    found, asked = source.classes, cfg.conditional.classes
    if asked is None:
        return found
    if found > asked:
        raise DataError(
            f"the data holds {found} classes but conditional.classes is {asked}; set "
            f"conditional.classes={found} or leave it unset (from the data)"
        )
    source.class_names = source.class_names + [str(i) for i in range(found, asked)]
    return asked


def data_logit(source, kind: str) -> torch.Tensor:
    """log(p / (1 - p)) of the mean example p, clipped to [1e-3, 1 - 1e-3] as pylearn2's
    init_sigmoid_bias_from_marginals: a sigmoid G whose output bias is this starts out
    producing the average image instead of uniform grey."""
    x, chunks = getattr(source, "x", None), getattr(source, "chunks", None)
    if x is not None:
        p = x.double().mean(0)  # (*x_shape,)
    elif chunks is not None:  # read from disk a chunk at a time: the set need not fit in memory
        p = sum(chunk.double().sum(0) for chunk in chunks()) / source.size
    else:
        raise ConfigError(
            f"generator.output_bias 'data_logit' needs a training set, but data.kind '{kind}' "
            "streams fresh draws; set data.n or generator.output_bias=zero"
        )
    p = p.clamp(1e-3, 1 - 1e-3)
    return torch.log(p / (1 - p)).float()


@contextmanager
def seeded_rng(cfg: Config, world: World = LOCAL):
    """Seed torch's generators for the run and give the caller's states back afterwards: the
    CPU's, and the GPU's when the run is on one (manual_seed and dropout advance it)."""
    gpu = [world.device.index] if world.device.type == "cuda" else []
    with torch.random.fork_rng(devices=gpu):
        torch.manual_seed(cfg.seed)
        yield


def tanh_images(cfg: Config, x_shape: tuple[int, ...]) -> bool:
    """Image data (stored in [0, 1]) trained through a tanh generator (outputs in [-1, 1])."""
    return len(x_shape) == 3 and cfg.generator.output == "tanh"


def value_range(cfg: Config) -> tuple[float, float]:
    """The range of G's output: [-1, 1] for a tanh output, else [0, 1] (for drawing images)."""
    return (-1.0, 1.0) if cfg.generator.output == "tanh" else (0.0, 1.0)


def unit_images(x: torch.Tensor, cfg: Config, x_shape: tuple[int, ...]) -> torch.Tensor:
    """Images from G's output range to [0, 1], the range they are stored and drawn in (the
    inverse of the data's scaling in build_state); points as they are."""
    if len(x_shape) != 3:
        return x
    lo, hi = value_range(cfg)
    return (x - lo) / (hi - lo)


@contextmanager
def eval_mode(module: torch.nn.Module):
    """`module` in eval mode (dropout off, as in Run.sample) inside the block; its own mode
    back after, also when the block raises (a caller may go on training it)."""
    mode = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(mode)
