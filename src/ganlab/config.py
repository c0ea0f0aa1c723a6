"""The typed run configuration: YAML in, validated pydantic objects out, defaults from the paper.

Every field has a type, a default and a one-line description. The defaults are those of
Goodfellow et al. (2014) and its published pylearn2 code where the paper fixes them
(SGD with momentum, k = 1, minibatch m = 100, uniform noise, the MNIST MLP sizes); presets
(``ganlab presets``) set the rest for each experiment.
"""

from __future__ import annotations

import difflib
import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    model_validator,
)

from ganlab.errors import ConfigError


class _Strict(BaseModel):
    """Unknown keys are errors, assignments are validated, floats stay floats."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
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
        None, gt=0, description="std of each Gaussian; default 0.5 (1-D), 0.01 (ring), 0.05 (grid)"
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
        None, description="images: resize every image to [H, W]; default: all must be one size"
    )
    channels: Literal[1, 3] = Field(1, description="images: 1 (converted to grayscale) or 3 (RGB)")

    @model_validator(mode="after")
    def _check_kind_fields(self) -> DataConfig:
        if self.kind == "array" and not self.path:
            raise ValueError("data.kind 'array' needs data.path, the .npy/.npz file to train on")
        if self.kind in ("images", "csv") and not self.path:
            what = "folder of PNG/JPEG images" if self.kind == "images" else "CSV file of points"
            raise ValueError(f"data.kind '{self.kind}' needs data.path, the {what} to train on")
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


class NoiseConfig(_Strict):
    """The noise prior p_z(z) that G maps to samples."""

    kind: Literal["uniform", "gaussian"] = Field(
        "uniform", description="uniform on [-scale, scale]^dim or Gaussian N(0, scale^2 I)"
    )
    dim: int = Field(100, ge=1, description="dimension of z (the paper's MNIST G: 100)")
    scale: float = Field(
        math.sqrt(3.0), gt=0, description="half-width (uniform) or std (gaussian) of each z_i"
    )


class GeneratorConfig(_Strict):
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

    @model_validator(mode="after")
    def _check_output_bias(self) -> GeneratorConfig:
        if self.output_bias == "data_logit" and (self.kind, self.output) != ("mlp", "sigmoid"):
            raise ValueError(
                "generator.output_bias 'data_logit' needs generator.kind 'mlp' with output "
                f"'sigmoid', got kind '{self.kind}' with output '{self.output}'; set "
                "generator.output_bias=zero"
            )
        return self


class DiscriminatorConfig(_Strict):
    """D(x; theta_d), the probability that x came from the data rather than from G."""

    kind: Literal["maxout", "mlp", "dcgan"] = Field(
        "maxout", description="maxout MLP with dropout (the paper), plain MLP, or DCGAN"
    )
    hidden: list[PositiveInt] = Field(
        [240, 240], min_length=1, description="widths of the hidden layers"
    )
    pieces: int = Field(5, ge=1, description="maxout: linear pieces per unit")
    activation: Literal["relu", "leaky_relu", "tanh"] = Field(
        "leaky_relu", description="mlp: hidden nonlinearity"
    )
    dropout: float = Field(0.5, ge=0, lt=1, description="drop probability on hidden layers")
    input_dropout: float = Field(0.2, ge=0, lt=1, description="drop probability on D's input")
    init_range: float | None = Field(
        None, gt=0, description="mlp/maxout: weights ~ U(-r, r); default PyTorch's initialisation"
    )
    channels: int = Field(64, ge=1, description="dcgan: channels of the first feature map")
    pack: int = Field(
        1, ge=1, description="PacGAN: D judges packs of n examples, all real or all generated"
    )


class OptimizerConfig(_Strict):
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
        None, ge=0, lt=1, description="momentum ramped linearly to this (pylearn2 MomentumAdjustor)"
    )
    momentum_saturate_epochs: float = Field(
        250, gt=1, description="epoch at which momentum reaches final_momentum"
    )

    @model_validator(mode="after")
    def _check_betas(self) -> OptimizerConfig:
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {list(self.betas)}")
        return self


class Config(_Strict):
    """A whole run: the game, Algorithm 1's hyperparameters, models, data and bookkeeping."""

    seed: int = Field(0, description="seeds model init, noise, data order and dropout")
    steps: int = Field(10_000, ge=1, description="iterations of Algorithm 1 (generator updates)")
    k: int = Field(1, ge=1, description="discriminator steps per generator step (the paper: 1)")
    update: Literal["alternating", "simultaneous"] = Field(
        "alternating",
        description="alternating: Algorithm 1 (k D steps, then a G step); simultaneous: one "
        "step of both networks from the same minibatch, as the paper's pylearn2 code (k = 1)",
    )
    m: int = Field(
        100,
        ge=1,
        description="minibatch size (noise samples and data examples), over all processes "
        "with --nproc",
    )
    g_loss: Literal["minimax", "nonsaturating", "maximum_likelihood"] = Field(
        "nonsaturating", description="generator objective (section 3 recommends nonsaturating)"
    )
    label_smoothing: float = Field(
        0.0, ge=0, lt=1, description="one-sided: data target 1 - alpha, sample target stays 0"
    )
    epoch_size: int | None = Field(
        None, ge=1, description="examples per epoch for schedules; default data size or 50,000"
    )
    noise: NoiseConfig = Field(default_factory=NoiseConfig, description="the prior p_z")
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig, description="G")
    discriminator: DiscriminatorConfig = Field(default_factory=DiscriminatorConfig, description="D")
    g_optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="G's optim")
    d_optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig, description="D's optim")
    data: DataConfig = Field(default_factory=DataConfig, description="the data distribution")
    log_every: int = Field(100, ge=1, description="steps between rows of metrics.csv")
    sample_every: int = Field(1000, ge=1, description="steps between sample figures")
    checkpoint_every: int = Field(1000, ge=1, description="steps between checkpoints")
    keep_checkpoints: int = Field(3, ge=1, description="newest checkpoints kept on disk")
    tensorboard: bool = Field(
        False,
        description="also log metrics.csv's scalars and the sample figures to RUN_DIR/tensorboard "
        '(needs pip install "ganlab[tensorboard]")',
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; default torch's")
    compile: bool = Field(
        False,
        description="torch.compile the forward passes (and their backward) of D's and G's "
        "updates; falls back to eager where compiling fails; the compile time is printed",
    )
    on_nan: Literal["stop", "rollback"] = Field(
        "stop",
        description="a NaN/inf loss or parameter: stop with an error, or reload the newest "
        "checkpoint and go on with lower learning rates",
    )
    rollback_lr_factor: float = Field(
        0.5, gt=0, lt=1, description="on_nan rollback: both learning rates times this per rollback"
    )
    max_rollbacks: int = Field(3, ge=1, description="on_nan rollback: stop after this many")

    @model_validator(mode="after")
    def _check_update(self) -> Config:
        if self.m % self.discriminator.pack:
            raise ValueError(
                f"discriminator.pack={self.discriminator.pack} must divide the minibatch "
                f"m={self.m}; pick an m that is a multiple of the pack size"
            )
        if self.update == "simultaneous" and self.k != 1:
            raise ValueError(
                f"update 'simultaneous' takes one step of D and G together, so k must be 1, got "
                f"k={self.k}; set k=1 or update=alternating"
            )
        return self


# ---------------------------------------------------------------------------------------------
# Loading: files, presets and --set overrides, with one-line errors.


def preset_names() -> list[str]:
    """Names of the presets shipped in ganlab/presets/, sorted."""
    files = resources.files("ganlab") / "presets"
    return sorted(p.name[: -len(".yaml")] for p in files.iterdir() if p.name.endswith(".yaml"))


def preset_description(name: str) -> str:
    """The first comment line of a preset file, without the '#'."""
    text = (resources.files("ganlab") / "presets" / f"{name}.yaml").read_text()
    first = text.splitlines()[0] if text else ""
    return first.lstrip("# ").strip()


def load_config(source: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Build a Config from a YAML file or preset name plus ``a.b=value`` overrides.

    Raises:
        ConfigError: the file is missing or unreadable, the YAML is invalid, a key is unknown,
            or a value has the wrong type or range.
    """
    raw, origin = ({}, "the defaults") if source is None else _read_source(source)
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw, origin)


def config_from_dict(raw: dict[str, Any], origin: str = "the config") -> Config:
    """Validate a nested dict into a Config, turning pydantic's report into one line."""
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_one_line(e, origin)) from None


def _read_source(source: str | Path) -> tuple[dict[str, Any], str]:
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in str(source):
        if not path.exists():
            raise ConfigError(
                f"config file {path} does not exist; give an existing YAML file or a preset "
                f"({', '.join(preset_names())})"
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(
                f"config file {path} is not UTF-8 text (byte {e.object[e.start]:#04x} at offset "
                f"{e.start}); save it as UTF-8 YAML"
            ) from None
        except OSError as e:
            reason = e.strerror or type(e).__name__
            raise ConfigError(
                f"cannot read config file {path} ({reason}); check the path and its permissions"
            ) from None
        origin = str(path)
    elif str(source) in preset_names():
        text = (resources.files("ganlab") / "presets" / f"{source}.yaml").read_text()
        origin = f"preset {source}"
    else:
        near = difflib.get_close_matches(str(source), preset_names(), n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise ConfigError(
            f"no config file or preset named '{source}'; {hint}"
            f"run `ganlab presets` to list presets or give a path to a YAML file"
        )
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        context, start = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and start and mark and start.line != mark.line:
            problem += f" ({context} that starts at line {start.line + 1})"
        raise ConfigError(f"invalid YAML in {origin}{where}: {problem}; fix the file") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{origin} must hold a mapping of config keys, got a {type(raw).__name__}; "
            "write it as `key: value` lines"
        )
    return raw, origin


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set ``raw[a][b] = value`` for ``item = "a.b=value"``; the value is parsed as YAML."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects KEY=VALUE, got '{item}'; e.g. --set steps=200")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(
            f"--set {item}: the value is not valid YAML; quote strings and write lists as [a, b]"
        ) from None
    *parents, leaf = key.strip().split(".")
    node = raw
    for i, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parents[: i + 1])
            raise ConfigError(f"--set {item}: '{where}' is a value, not a section; set '{where}'")
        node = child
    node[leaf] = value


def _field_names(loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the section that holds ``loc``'s last key."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _one_line(error: ValidationError, origin: str) -> str:
    err = error.errors()[0]
    loc = tuple(p for p in err["loc"] if not isinstance(p, int))
    key = ".".join(str(p) for p in loc) or "config"
    if err["type"] == "extra_forbidden":
        near = difflib.get_close_matches(str(loc[-1]), _field_names(loc), n=1, cutoff=0.5)
        hint = (
            f"did you mean '{'.'.join([*map(str, loc[:-1]), near[0]])}'?"
            if near
            else ("run `ganlab presets --fields` to list the valid keys")
        )
        return f"unknown config key '{key}' in {origin}; {hint}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error" or not loc:
        return f"invalid config in {origin}: {msg}"
    seen = err.get("input")
    return (
        f"invalid value for '{key}' in {origin}: {msg}, got {seen!r}; "
        f"fix it or pass --set {key}=..."
    )


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML, in field order, readable back by load_config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def describe_fields(
    model: type[BaseModel] = Config, prefix: str = ""
) -> list[tuple[str, str, str]]:
    """(key, default, description) for every field, nested sections flattened with dots."""
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += describe_fields(annotation, f"{prefix}{name}.")
            continue
        default = field.get_default(call_default_factory=True)
        rows.append((f"{prefix}{name}", repr(default), field.description or ""))
    return rows
