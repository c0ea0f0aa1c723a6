"""The typed run configuration: YAML in, validated pydantic objects out, defaults from the paper.

Every field has a type, a default and a one-line description. The defaults are those of
Goodfellow et al. (2014) and its published pylearn2 code where the paper fixes them
(SGD with momentum, k = 1, minibatch m = 100, uniform noise, the MNIST MLP sizes); presets
(``ganlab presets``) set the rest for each experiment.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ganlab.config_errors import one_line
from ganlab.config_sections import (
    BCE_OBJECTIVES,
    OBJECTIVES,
    ConditionalConfig,
    DataConfig,
    DiscriminatorConfig,
    EMAConfig,
    GeneratorConfig,
    LeastSquaresConfig,
    NoiseConfig,
    OptimizerConfig,
    RegularizersConfig,
    Strict,
    check_conditional,
)
from ganlab.errors import ConfigError

# Rows of metrics.csv a run gets at least, unless the user sets log_every: enough points for
# its training curves (a 300-step run of paper-mnist's log_every 500 had one).
LOG_ROWS = 50


# Marks the keys that say how a run is carried out, not what it trains: a resume may change
# them (RUNTIME_KEYS, below); the thread count and compiling change float rounding only.
RUNTIME = {"runtime": True}


class Config(Strict):
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
    objective: Literal[OBJECTIVES] = Field(  # type: ignore[valid-type]
        "nonsaturating",
        description="the game D and G play: " + ", ".join(OBJECTIVES) + " (the first three: "
        "the 2014 G losses, section 3 recommends nonsaturating; `g_loss: X` means the same)",
    )
    least_squares: LeastSquaresConfig = Field(
        default_factory=LeastSquaresConfig, description="least_squares' targets a, b, c"
    )
    regularizers: RegularizersConfig = Field(
        default_factory=RegularizersConfig, description="penalties on D, instance noise"
    )
    ema: EMAConfig = Field(default_factory=EMAConfig, description="moving average of G")
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
    conditional: ConditionalConfig = Field(
        default_factory=ConditionalConfig, description="a class-conditional G and D (or none)"
    )
    log_every: int = Field(
        100,
        ge=1,
        description="steps between rows of metrics.csv; the default's or a preset's value "
        f"shrinks so that a short run gets {LOG_ROWS} rows (a value you set is kept)",
        json_schema_extra=RUNTIME,
    )
    sample_every: int = Field(
        1000, ge=1, description="steps between sample figures", json_schema_extra=RUNTIME
    )
    checkpoint_every: int = Field(
        1000, ge=1, description="steps between checkpoints", json_schema_extra=RUNTIME
    )
    keep_checkpoints: int = Field(
        3,
        ge=1,
        description="newest checkpoints kept on disk, counting only those that verify",
        json_schema_extra=RUNTIME,
    )
    tensorboard: bool = Field(
        False,
        description="also log metrics.csv's scalars and the sample figures to RUN_DIR/tensorboard "
        '(needs pip install "ganlab[tensorboard]")',
        json_schema_extra=RUNTIME,
    )
    doctor: bool = Field(
        True,
        description="watch the run for saturation, an overpowering D, mode collapse, "
        "oscillation, divergence and memorisation; warn once per finding (findings.json)",
        json_schema_extra=RUNTIME,
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads; default: 1 below 8 GFLOP per step, else torch's",
        json_schema_extra=RUNTIME,
    )
    compile: Literal[False, "forwards", "step"] = Field(
        False,
        description="torch.compile: 'step' each update's forward and backward as one graph, "
        "then torch's fused SGD/Adam step (no regularizers, one process, else eager with a "
        "warning), "
        "'forwards' the forward passes and their backward (true, as before); falls back to "
        "eager where compiling fails; the compile time is printed. Default false; the "
        "paper-mnist preset sets step",
        json_schema_extra=RUNTIME,
    )
    gemm: Literal["auto", "mkl", "onednn"] = Field(
        "auto",
        description="the library of the fp32 CPU matrix products (eager layers' of at least 2^24 "
        "multiply-adds, and compile: step's): 'auto' oneDNN on an AMD CPU with AVX-512 (where "
        "MKL runs its AVX2 kernels: half the speed), MKL elsewhere; 'mkl' or 'onednn' to "
        "choose; compile: forwards and R1/R2/gradient penalties keep MKL; meta.json records "
        "the choice",
        json_schema_extra=RUNTIME,
    )
    on_nan: Literal["stop", "rollback"] = Field(
        "stop",
        description="a NaN/inf loss or parameter: stop with an error, or reload the newest "
        "checkpoint and go on with lower learning rates",
        json_schema_extra=RUNTIME,
    )
    rollback_lr_factor: float = Field(
        0.5, gt=0, lt=1, description="on_nan rollback: both learning rates times this per rollback"
    )
    max_rollbacks: int = Field(3, ge=1, description="on_nan rollback: stop after this many")

    @field_validator("compile", mode="before")
    @classmethod
    def _compile_true_is_forwards(cls, value: Any) -> Any:
        """`compile: true` (configs before `step`) compiled the forward passes."""
        return "forwards" if value is True else value

    @model_validator(mode="before")
    @classmethod
    def _g_loss_is_objective(cls, raw: Any) -> Any:
        """`g_loss` (configs before the objectives of issue 16) names the objective."""
        if isinstance(raw, dict) and "g_loss" in raw:
            raw = dict(raw)
            g_loss = raw.pop("g_loss")
            if raw.setdefault("objective", g_loss) != g_loss:
                raise ValueError(
                    f"g_loss '{g_loss}' and objective '{raw['objective']}' disagree; "
                    "keep only objective"
                )
        if isinstance(raw, dict) and raw.get("objective") == "wasserstein":
            reg = raw.get("regularizers")
            reg = dict(reg) if isinstance(reg, dict) else {}
            if not reg.get("weight_clip") and not reg.get("gradient_penalty"):
                # A Wasserstein critic must be kept 1-Lipschitz, or D's loss runs off to -inf:
                # without a method chosen, WGAN-GP's penalty at its paper's lambda = 10.
                raw = {**raw, "regularizers": {**reg, "gradient_penalty": 10.0}}
        return raw

    @property
    def g_loss(self) -> str:
        """The objective's name: the 2014 configs called it the G loss."""
        return self.objective

    @property
    def critic(self) -> bool:
        """D's raw output is an unbounded critic value (the objectives after 2014), not the
        logit of a probability D(x) (the 2014 game)."""
        return self.objective not in BCE_OBJECTIVES

    @model_validator(mode="after")
    def _check_objective(self) -> Config:
        reg, bce = self.regularizers, self.objective in BCE_OBJECTIVES
        if self.label_smoothing and not bce:
            raise ValueError(
                f"label_smoothing lowers the data target of the cross-entropy D of "
                f"{', '.join(BCE_OBJECTIVES)}; objective '{self.objective}' has none: set "
                "label_smoothing=0"
            )
        if reg.weight_clip and self.objective != "wasserstein":
            raise ValueError(
                f"regularizers.weight_clip keeps a Wasserstein critic Lipschitz; objective "
                f"'{self.objective}' needs no clipping: set regularizers.weight_clip=0 (or "
                "objective=wasserstein)"
            )
        if self.compile == "forwards" and (reg.r1 or reg.r2 or reg.gradient_penalty):
            raise ValueError(
                "gradient penalties need a double backward, which torch.compile does not "
                "support: set compile=false (or step: it trains such a run eagerly) or the "
                "penalties to 0"
            )
        return self

    @model_validator(mode="after")
    def _check_update(self) -> Config:
        if self.regularizers.mode_seeking and self.update == "simultaneous":
            raise ValueError(
                "regularizers.mode_seeking adds a term to G's own update, which update "
                "'simultaneous' shares with D's; set update=alternating or "
                "regularizers.mode_seeking=0"
            )
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
        if self.data.standardize and self.generator.output != "linear":
            raise ValueError(
                f"data.standardize has G output standardised values (any real number), but "
                f"generator.output is '{self.generator.output}'; set generator.output=linear "
                "or data.standardize=false"
            )
        return self

    @property
    def conditional_run(self) -> bool:
        """G and D take the class y beside z and x (conditional.kind is not none)."""
        return self.conditional.kind != "none"

    @model_validator(mode="after")
    def _check_conditional(self) -> Config:
        check_conditional(self.conditional, self.data, self.update, self.discriminator.pack)
        return self


RUNTIME_KEYS = tuple(n for n, f in Config.model_fields.items() if f.json_schema_extra == RUNTIME)


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
    shipped = source is None or origin.startswith("preset ")
    if shipped and "log_every" not in _set_items(overrides):
        adapt_log_every(raw)
    return config_from_dict(raw, origin, overrides)


def adapt_log_every(raw: dict[str, Any]) -> None:
    """Lower ``raw``'s log_every (the default's or a preset's) so that its run logs at least
    LOG_ROWS rows: min(log_every, max(1, steps // LOG_ROWS)). Logging reads the step's numbers
    and draws no random number, so training is the same bit for bit; only the rows differ.
    A config written by the user (its file, --set) keeps its log_every: the run's config.yaml
    holds the value used, so a resume logs as the run did.
    """
    fields = Config.model_fields
    steps, every = raw.get("steps", fields["steps"].default), raw.get("log_every")
    every = fields["log_every"].default if every is None else every
    if type(steps) is int and type(every) is int and steps >= 1 and every >= 1:
        raw["log_every"] = min(every, max(1, steps // LOG_ROWS))  # else validation says why


def config_from_dict(
    raw: dict[str, Any], origin: str = "the config", overrides: Sequence[str] = ()
) -> Config:
    """Validate a nested dict into a Config, turning pydantic's report into one line.

    ``overrides`` are the ``--set KEY=VALUE`` items already applied to ``raw``: an error in a
    key one of them set names that item, not the file, since that is what the user typed.
    """
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(one_line(e, Config, origin, _set_items(overrides))) from None


def _set_items(overrides: Sequence[str]) -> dict[str, str]:
    """Each key set by ``--set`` -> the item that set it (the last one wins, as in apply)."""
    items = {}
    for item in overrides:
        key = item.partition("=")[0].strip()
        items["objective" if key == "g_loss" else key] = item  # g_loss sets objective
    return items


def _read_source(source: str | Path) -> tuple[dict[str, Any], str]:
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in str(source):
        if not path.exists() and path.suffix not in (".yaml", ".yml"):
            raise ConfigError(
                f"{path} does not exist; give a data file (.csv, .npy, .npz), a folder of "
                f"images, a YAML config or a preset ({', '.join(preset_names())})"
            )
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
    if not parents and leaf in ("objective", "g_loss"):
        # the two names of one setting: the one just set replaces the file's other spelling
        node.pop("g_loss" if leaf == "objective" else "objective", None)


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
        resumable = (
            " (ganlab resume --set may change it)" if field.json_schema_extra == RUNTIME else ""
        )
        rows.append((f"{prefix}{name}", repr(default), (field.description or "") + resumable))
    return rows


__all__ = [
    "BCE_OBJECTIVES",
    "LOG_ROWS",
    "OBJECTIVES",
    "RUNTIME_KEYS",
    "Config",
    "DataConfig",
    "DiscriminatorConfig",
    "ConditionalConfig",
    "EMAConfig",
    "GeneratorConfig",
    "LeastSquaresConfig",
    "NoiseConfig",
    "OptimizerConfig",
    "RegularizersConfig",
    "adapt_log_every",
    "apply_override",
    "config_from_dict",
    "describe_fields",
    "dump_config",
    "load_config",
    "preset_description",
    "preset_names",
]
