"""The sections of a run's config: data, noise, G, D, optimisers, and the objectives' settings.

Each is a strict pydantic model (unknown keys are errors) whose every field has a type, a default
and a one-line description; ganlab.config.Config holds one of each and re-exports them.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator


class Strict(BaseModel):
    """Unknown keys are errors, assignments are validated, floats stay floats."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Strict):
    """Where the training examples x ~ p_data come from."""

    kind: Literal[
        "gauss1d",
        "mixture1d",
        "ring",
        "grid",
        "array",
        "tensor",
        "mnist",
        "fashion_mnist",
        "stacked_mnist",
        "digits",
        "images",
        "csv",
    ] = Field(
        "ring",
        description="toy distribution, 'array' (.npy/.npz file), 'tensor' (given to the API), "
        "'mnist', 'fashion_mnist', 'stacked_mnist' (3 MNIST digits as 3 channels, 1000 modes), "
        "'digits' (sklearn 8x8), 'images' (folder), 'csv' (points)",
    )
    std: float | None = Field(
        None,
        gt=0,
        description="gauss1d/mixture1d/ring/grid: std of each Gaussian; default 0.5 (1-D), "
        "0.01 (ring), 0.05 (grid)",
    )
    mean: float = Field(4.0, description="gauss1d: mean of the Gaussian")
    means: list[float] = Field([-2.0, 2.0], min_length=1, description="mixture1d: component means")
    weights: list[float] | None = Field(
        None, description="mixture1d: component weights (normalised); default equal"
    )
    radius: float = Field(1.0, gt=0, description="ring: radius of the circle of modes")
    modes: int = Field(8, ge=1, description="ring: number of modes on the circle")
    grid_size: int = Field(5, ge=1, description="grid: modes per side")
    spacing: float = Field(2.0, gt=0, description="grid: distance between neighbouring modes")
    n: int | None = Field(
        None,
        ge=1,
        description="draw a fixed training set of n points; default: fresh every batch "
        "(stacked_mnist: n stacked images, default 128,000 as PacGAN)",
    )
    path: str | None = Field(
        None,
        description="array/images/csv: the .npy/.npz file, image folder or CSV file; "
        "mnist/fashion_mnist/stacked_mnist: their folder or mnist.pkl.gz (default $GANLAB_DATA, "
        "cache, download)",
    )
    split: Literal["train", "valid", "test"] = Field(
        "train",
        description="mnist/fashion_mnist/stacked_mnist: train (first 50,000 of the official "
        "60,000), valid (last 10,000) or test (the official 10,000), as in the paper",
    )
    resize: tuple[PositiveInt, PositiveInt] | None = Field(
        None,
        description="images: resize every image to [H, W] (a folder's as decoded, Lanczos; "
        "arrays and data sets antialiased bilinear, in memory); default: all must be one size",
    )
    channels: Literal[1, 3] = Field(1, description="images: 1 (converted to grayscale) or 3 (RGB)")
    standardize: bool = Field(
        False,
        description="G and D play on the data scaled to mean 0, std 1 per coordinate; G's "
        "samples come out in the data's units (the moments are kept in the checkpoints)",
    )
    label_column: str | None = Field(
        None,
        description="csv: the header name of the column holding each point's class (a "
        "conditional run's labels); the other columns are the point",
    )
    drop_columns: list[str] = Field(
        default_factory=list,
        description="csv: headers of columns left out of the points (an id, a code); each must "
        "name a column of the file",
    )
    log_columns: list[int] = Field(
        default_factory=list,
        description="points: coordinates (0-based) G and D see as log x before standardising "
        "(positive, right-skewed columns: incomes, prices); samples come back in the data's "
        "units. Needs data.standardize",
    )
    integer_columns: list[int] = Field(
        default_factory=list,
        description="points: coordinates (0-based) that hold whole numbers in the data (ages, "
        "counts); samples are rounded there (Run.sample, ganlab sample and eval, the final "
        "figures) while G and D play on the continuous values",
    )
    stream: Literal["auto", "always", "never"] = Field(
        "auto",
        description="images/array: read minibatches from disk instead of loading the data into "
        "memory (an image folder is decoded once into a uint8 file in the cache, a .npy file is "
        "read in place); 'auto' streams when the float32 examples would take over 1/4 of the "
        "available memory; same minibatches either way",
    )

    @model_validator(mode="after")
    def _check_kind_fields(self) -> DataConfig:
        if self.kind == "array" and not self.path:
            raise ValueError("data.kind 'array' needs data.path, the .npy/.npz file to train on")
        if self.kind in ("images", "csv") and not self.path:
            what = "folder of PNG/JPEG images" if self.kind == "images" else "CSV file of points"
            raise ValueError(f"data.kind '{self.kind}' needs data.path, the {what} to train on")
        if self.log_columns and not self.standardize:
            raise ValueError(
                "data.log_columns are taken in the standardising wrappers of G and D; set "
                "data.standardize=true (or data.log_columns=[])"
            )
        if self.drop_columns and self.kind != "csv":
            raise ValueError(
                f"data.drop_columns names a CSV's columns, but data.kind is '{self.kind}'; set "
                "data.drop_columns=[]"
            )
        if self.label_column is not None and self.label_column in self.drop_columns:
            raise ValueError(
                f"data.label_column '{self.label_column}' is also in data.drop_columns; a column "
                "is either the classes or left out: remove it from one of them"
            )
        for key in ("log_columns", "integer_columns"):
            cols = getattr(self, key)
            if len(set(cols)) != len(cols) or min(cols, default=0) < 0:
                raise ValueError(f"data.{key} {cols}: give distinct 0-based column numbers")
        if self.stream == "always" and self.kind not in ("images", "array"):
            raise ValueError(
                f"data.stream 'always' streams an image folder or a .npy file from disk, not "
                f"data.kind '{self.kind}'; leave data.stream at auto"
            )
        if self.kind == "digits" and self.split != "train":
            raise ValueError(
                f"data.kind 'digits' has one split (all 1797 images), got data.split "
                f"'{self.split}'; leave data.split at train"
            )
        if self.weights is not None:
            if len(self.weights) != len(self.means):
                raise ValueError(
                    f"data.weights has {len(self.weights)} entries but data.means has "
                    f"{len(self.means)}; give one weight per mean"
                )
            if min(self.weights) < 0 or sum(self.weights) <= 0:
                raise ValueError("data.weights must be >= 0 with a positive sum")
        return self


class NoiseConfig(Strict):
    """The noise prior p_z(z) that G maps to samples."""

    kind: Literal["uniform", "gaussian"] = Field(
        "uniform", description="uniform on [-scale, scale]^dim or Gaussian N(0, scale^2 I)"
    )
    dim: int = Field(100, ge=1, description="dimension of z (the paper's MNIST G: 100)")
    scale: float = Field(
        math.sqrt(3.0), gt=0, description="half-width (uniform) or std (gaussian) of each z_i"
    )


class GeneratorConfig(Strict):
    """G(z; theta_g), a differentiable map from noise to data space."""

    kind: Literal["mlp", "dcgan"] = Field("mlp", description="multilayer perceptron or DCGAN")
    hidden: list[PositiveInt] = Field(
        [1200, 1200], min_length=1, description="mlp: widths of the hidden layers"
    )
    activation: Literal["relu", "leaky_relu", "tanh"] = Field(
        "relu", description="mlp: hidden nonlinearity (the paper: ReLU)"
    )
    batchnorm: bool = Field(False, description="mlp: BatchNorm1d after each hidden linear layer")
    output: Literal["linear", "sigmoid", "tanh"] = Field(
        "sigmoid", description="output nonlinearity; fixes G's range (sigmoid: [0, 1])"
    )
    init_range: float | None = Field(
        None, gt=0, description="mlp: weights ~ U(-r, r); default PyTorch's initialisation"
    )
    output_bias: Literal["zero", "data_logit"] = Field(
        "zero",
        description="mlp with sigmoid output: 'data_logit' starts G's output bias at the logit "
        "of the training data's mean (the paper's code: init_sigmoid_bias_from_marginals)",
    )
    channels: int = Field(64, ge=1, description="dcgan: channels of the last feature map")
    refine: int = Field(
        0,
        ge=0,
        description="dcgan: 3x3 stride-1 convolutions (BatchNorm + ReLU) on the smallest feature "
        "map before the first upsampling",
    )
    dense: int = Field(
        0,
        ge=0,
        description="dcgan: width of a fully connected layer (BatchNorm + ReLU) between z and the "
        "first feature map (InfoGAN's MNIST G: 1024); 0 for none",
    )

    @model_validator(mode="after")
    def _check_output_bias(self) -> GeneratorConfig:
        if self.output_bias == "data_logit" and (self.kind, self.output) != ("mlp", "sigmoid"):
            raise ValueError(
                "generator.output_bias 'data_logit' needs generator.kind 'mlp' with output "
                f"'sigmoid', got kind '{self.kind}' with output '{self.output}'; set "
                "generator.output_bias=zero"
            )
        return self


class DiscriminatorConfig(Strict):
    """D(x; theta_d), the probability that x came from the data rather than from G."""

    kind: Literal["maxout", "mlp", "dcgan"] = Field(
        "maxout", description="maxout MLP with dropout (the paper), plain MLP, or DCGAN"
    )
    hidden: list[PositiveInt] = Field(
        [240, 240], min_length=1, description="maxout/mlp: widths of the hidden layers"
    )
    pieces: int = Field(5, ge=1, description="maxout: linear pieces per unit")
    activation: Literal["relu", "leaky_relu", "tanh"] = Field(
        "leaky_relu", description="mlp: hidden nonlinearity"
    )
    dropout: float = Field(
        0.5, ge=0, lt=1, description="maxout/mlp: drop probability on hidden layers"
    )
    input_dropout: float = Field(
        0.2, ge=0, lt=1, description="maxout/mlp: drop probability on D's input"
    )
    init_range: float | None = Field(
        None, gt=0, description="mlp/maxout: weights ~ U(-r, r); default PyTorch's initialisation"
    )
    channels: int = Field(64, ge=1, description="dcgan: channels of the first feature map")
    batchnorm: bool = Field(
        True, description="dcgan: BatchNorm after every convolution but the first (Radford et al.)"
    )
    conv_dropout: float = Field(
        0.0, ge=0, lt=1, description="dcgan: drop probability after each convolution's activation"
    )
    dense: int = Field(
        0,
        ge=0,
        description="dcgan: width of a fully connected layer (LeakyReLU) between the last feature "
        "map and the logit (InfoGAN's MNIST D: 1024); 0 for none",
    )
    minibatch_std: int = Field(
        0,
        ge=0,
        description="dcgan: group size of a minibatch-std feature map after the last convolution "
        "(Karras et al. 2018: 4); 0 for none",
    )
    pack: int = Field(
        1, ge=1, description="PacGAN: D judges packs of n examples, all real or all generated"
    )


class OptimizerConfig(Strict):
    """One network's optimiser and the paper code's schedules."""

    name: Literal["sgd", "adam", "rmsprop"] = Field("sgd", description="the paper: SGD + momentum")
    lr: float = Field(0.1, gt=0, description="initial learning rate")
    momentum: float = Field(0.5, ge=0, lt=1, description="sgd/rmsprop: (initial) momentum")
    betas: tuple[float, float] = Field((0.5, 0.999), description="adam: (beta1, beta2)")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty added by the optimiser")
    lr_decay_factor: float = Field(
        1.0, ge=1, description="lr_t = max(lr / factor^t, min_lr) (pylearn2 ExponentialDecay)"
    )
    min_lr: float = Field(0.0, ge=0, description="floor of the decayed learning rate")
    final_momentum: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="sgd/rmsprop: momentum ramped linearly to this (pylearn2 MomentumAdjustor)",
    )
    momentum_saturate_epochs: float = Field(
        250, gt=1, description="sgd/rmsprop: epoch at which momentum reaches final_momentum"
    )

    @model_validator(mode="after")
    def _check_betas(self) -> OptimizerConfig:
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {list(self.betas)}")
        return self


OBJECTIVES = (
    "minimax", "nonsaturating", "maximum_likelihood", "least_squares", "wasserstein", "hinge",
    "relativistic", "f_kl", "f_reverse_kl", "f_pearson", "f_hellinger", "f_js",
)  # fmt: skip
"""The names of ganlab.game.objectives.OBJECTIVE_NAMES (config imports nothing above it)."""

BCE_OBJECTIVES = ("minimax", "nonsaturating", "maximum_likelihood")
"""The 2014 game: D is a binary classifier (cross-entropy, optional label smoothing)."""


class LeastSquaresConfig(Strict):
    """LSGAN's targets (Mao et al. 2017): D pulls data to b and samples to a, G pulls to c."""

    a: float = Field(-1.0, description="least_squares: D's target for generated samples")
    b: float = Field(1.0, description="least_squares: D's target for data")
    c: float = Field(
        0.0,
        description="least_squares: G's target for its samples (b - c = 1 and b - a = 2 make G "
        "minimise Pearson chi^2)",
    )


class RegularizersConfig(Strict):
    """Penalties on D and noise on its inputs, added to D's update, and MSGAN's term on G's
    (0: off)."""

    r1: float = Field(
        0.0, ge=0, description="gamma of R1: gamma/2 E_x ||grad_x D(x)||^2 (Mescheder et al. 2018)"
    )
    r2: float = Field(
        0.0, ge=0, description="gamma of R2: gamma/2 E_z ||grad D(G(z))||^2 (on G's samples)"
    )
    gradient_penalty: float = Field(
        0.0,
        ge=0,
        description="lambda of WGAN-GP: lambda E[(||grad D(x_hat)|| - 1)^2] on interpolates "
        "x_hat (Gulrajani et al. 2017); wasserstein without weight_clip: 10",
    )
    weight_clip: float = Field(
        0.0, ge=0, description="wasserstein: clip D's weights to [-c, c] after each D step"
    )
    instance_noise: float = Field(
        0.0, ge=0, description="std of Gaussian noise added to D's inputs, data and samples alike"
    )
    instance_noise_decay_steps: int = Field(
        0, ge=0, description="instance noise decays linearly to 0 over this many steps (0: never)"
    )
    augment: list[Literal["color", "translation", "cutout"]] = Field(
        [],
        description="images: DiffAugment (Zhao et al. 2020), random transformations of "
        "everything D sees, data and samples alike, in D's and G's updates",
    )
    mode_seeking: float = Field(
        0.0,
        ge=0,
        description="lambda of MSGAN's term on G's loss (Mao et al. 2019): lambda / (E "
        "mean|G(z1) - G(z2)| / mean|z1 - z2| + 1e-5) over pairs of G's minibatch, one class "
        "per pair in a conditional run; alternating updates only",
    )


class EMAConfig(Strict):
    """An exponential moving average of G's weights, used for samples, figures and metrics."""

    beta: float = Field(
        0.0, ge=0, lt=1, description="G_ema <- beta G_ema + (1 - beta) G after each G step; 0: off"
    )
    start: int = Field(
        0, ge=0, description="G_ema copies G until this step, then averages (skips the early G)"
    )


LABELLED_KINDS = ("mnist", "fashion_mnist", "digits", "images", "csv", "array", "ring", "grid",
                  "mixture1d")  # fmt: skip
"""The data kinds that can give each example a class: a conditional run needs one of them."""


class ConditionalConfig(Strict):
    """A conditional GAN p_g(x | y): G gets the class y beside z, D judges (x, y) pairs."""

    kind: Literal["none", "concat", "projection", "acgan"] = Field(
        "none",
        description="none: the unconditional GAN; how D sees the class: concat (Mirza & "
        "Osindero 2014: an embedding of y beside x), projection (Miyato & Koyama 2018: "
        "psi(phi(x)) + <embed(y), phi(x)>), acgan (Odena et al. 2017: an auxiliary class head)",
    )
    classes: int | None = Field(
        None, ge=2, description="number of classes K; default: from the data's labels"
    )
    clusters: int = Field(
        0,
        ge=0,
        description="K >= 2: the classes are the data's own clusters, for data without "
        "labels (the self-conditioned GAN, Liu et al. 2020; G's classes drawn with the clusters' "
        "sizes); 0: the data's labels",
    )
    clustering: Literal["spectral", "kmeans"] = Field(
        "spectral",
        description="how conditional.clusters finds the clusters, both on the data's first 50 "
        "principal components: spectral (clusters of the nearest-neighbour graph: they follow "
        "the data's shape; 10,000 MNIST images: 6 s) or kmeans (balls around centres: 2 s)",
    )
    embed_dim: int = Field(
        10,
        ge=1,
        description="width of the learned class embedding G gets beside z (and a concat D "
        "beside x: extra constant channel maps for a DCGAN D)",
    )
    acgan_weight: float = Field(
        1.0, ge=0, description="acgan: weight of the auxiliary class cross-entropy in both losses"
    )
    acgan_fake_term: bool = Field(
        False,
        description="acgan: D's class cross-entropy also on G's samples, as in Odena et al.; "
        "default off: on data only, so D's class head stays a classifier of real data and G "
        "cannot settle on swapped classes (benchmarks/README.md, cgan-mnist)",
    )


def check_conditional(cond: ConditionalConfig, data: DataConfig, update: str, pack: int) -> None:
    """Refuse a conditional config whose data has no labels or one class, or whose updates
    cannot carry a label per example.

    Raises:
        ValueError: one line naming the fix (Config turns it into a ConfigError).
    """
    kind = cond.kind
    if cond.clusters and kind == "none":
        raise ValueError(
            f"conditional.clusters={cond.clusters} makes the clusters G's classes, but "
            "conditional.kind is none; set conditional.kind=projection (or concat, acgan), or "
            "conditional.clusters=0 for an unconditional GAN"
        )
    if cond.clusters == 1 or (cond.clusters and cond.classes not in (None, cond.clusters)):
        raise ValueError(
            f"conditional.clusters={cond.clusters} must be 0 or at least 2 (and equal "
            f"conditional.classes={cond.classes} when that is set); set conditional.clusters=K"
        )
    if kind == "none":
        return
    if update == "simultaneous" or pack > 1:
        what = "update 'simultaneous'" if update == "simultaneous" else "PacGAN's packs"
        raise ValueError(
            f"conditional.kind '{kind}' trains with Algorithm 1's alternating updates, one "
            f"example per logit, not {what}; set update=alternating and discriminator.pack=1"
        )
    if cond.clusters:
        return  # any data with a fixed set of examples (checked when it is loaded)
    if data.kind not in LABELLED_KINDS:
        raise ValueError(
            f"conditional.kind '{kind}' needs labelled data, but data.kind '{data.kind}' has no "
            f"labels; use one of {', '.join(LABELLED_KINDS)} or set conditional.kind=none"
        )
    single = (
        (data.kind == "ring" and data.modes < 2)
        or (data.kind == "grid" and data.grid_size < 2)
        or (data.kind == "mixture1d" and len(data.means) < 2)
    )
    if single:
        raise ValueError(
            f"conditional.kind '{kind}' needs at least 2 classes, but data.kind '{data.kind}' "
            "has a single mode; add modes or set conditional.kind=none"
        )
    if data.kind == "csv" and not data.label_column:
        raise ValueError(
            f"conditional.kind '{kind}' on a CSV needs data.label_column, the header of the "
            "column holding each point's class; set data.label_column=NAME"
        )
