"""Runs: a run directory around Algorithm 1, and the Python API the CLI is a thin shell over.

    run = ganlab.train("ring8", overrides=["steps=200"])   # or a Config, a dict, a YAML path
    x = run.sample(2500)                                    # (2500, 2) generated points
    run = ganlab.resume(run.path, steps=400)
    run = ganlab.load_run(run.path)

A run directory holds:
    config.yaml          the resolved config (every field, defaults filled in)
    meta.json            seed, versions, git commit, times, command lines, example shape
    metrics.csv          one row per logged step
    samples/step-*.png   samples from a fixed batch of noise, at intervals
    checkpoints/         step-*.safetensors and manifest.json (SHA-256 of each); corrupt/: the
                         files set aside when a run went on from an older one (runs.checkpoints)
    samples.png, losses.png, discriminator.png, grad_norms.png, index.html   the report

Under torchrun (WORLD_SIZE > 1) every rank calls train() or resume() with the same arguments and
they train together (ganlab.training.distributed); rank 0 alone writes the run directory.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from ganlab.config import (
    Config,
    apply_override,
    config_from_dict,
    load_config,
    preset_names,
)
from ganlab.data import distribution_of
from ganlab.errors import (
    AlreadyDone,
    CheckpointError,
    ConfigError,
    DataError,
)
from ganlab.metrics.coverage import mode_coverage
from ganlab.report.pages import (
    check_page_out,
)
from ganlab.report.run_report import write_report, write_run_page
from ganlab.runfiles import (
    read_meta,
    read_metrics,
    run_config,
    write_class_examples,
    writing,
)
from ganlab.runs import recipes
from ganlab.runs.checkpoint_file import restore_models, restore_rank_rng, restore_state
from ganlab.runs.checkpoints import CheckpointStore, Newest
from ganlab.runs.directory import (
    absolute_data_path,
    claim_out,
    create_run_dir,
    data_fingerprint,
    fingerprint,
    record_resume,
    resume_config,
    train_resume_overrides,
    with_run_precision,
)
from ganlab.runs.labels import class_labels, examples_by_class, source_classes
from ganlab.runs.monitor import require_tensorboard, run_loop
from ganlab.runs.recipes import is_data_path, plan_run
from ganlab.training import distributed
from ganlab.training.distributed import LOCAL, World
from ganlab.training.prior import NoisePrior
from ganlab.training.regularization import check_world
from ganlab.training.runtime import run_threads
from ganlab.training.state import (
    EVAL_SEED,
    LABEL_SEED,
    TrainState,
    build_state,
    discriminator_of,
    eval_mode,
    generator_of,
    round_columns,
    seeded_rng,
    unit_images,
)


class Run:
    """A trained (or training) GAN and its directory.

    Attributes:
        path: the run directory.
        config: the resolved Config.
        generator, discriminator: G and D, plain nn.Modules.
        step: iterations of Algorithm 1 done.
        ema: the moving average of G's weights (config.ema.beta > 0), else None; sample(),
            and so every figure and metric, draws from it when there is one.
        class_names: a conditional run's K classes in index order (meta.json), else None.
        class_weights: p(y) of a run whose classes are the data's clusters (meta.json): the
            frequencies sample() draws classes with; None: uniform.
    """

    def __init__(
        self,
        path: Path,
        config: Config,
        G,
        D,
        step: int,
        x_shape: tuple[int, ...],
        ema=None,
        class_names: list[str] | None = None,
        class_weights: list[float] | None = None,
    ):
        self.path, self.config = Path(path), config
        self.generator, self.discriminator, self.ema = G, D, ema
        self.step, self.x_shape = step, tuple(x_shape)
        self.class_names = list(class_names) if class_names is not None else None
        self.class_weights = class_weights

    @property
    def classes(self) -> list[str] | None:
        """class_names under the name metrics.conditional_run reads (`ganlab eval`)."""
        return self.class_names

    @property
    def sampler(self):
        """The G that samples: the average of G's weights when the run keeps one, else G."""
        return self.ema if self.ema is not None else self.generator

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, step={self.step})"

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, label=None) -> torch.Tensor:
        """n samples x = G(z), (n, *x_shape), G in eval mode, from noise of its own seed.

        G is the average of G's weights when the run keeps one (config.ema). Images come back
        in the data's [0, 1] range whatever G's output nonlinearity; points rounded on the
        coordinates of data.integer_columns.
        label: a conditional run's class for all n (an index or a class name) or n indices;
            default classes drawn from the seed, uniformly (with the clusters' sizes for a run
            whose classes are the data's clusters). An unconditional run takes none.
        Raises:
            ConfigError: n < 1; a label for an unconditional run, out of range or unknown.
        """
        if n < 1:
            raise ConfigError(f"number of samples must be >= 1, got {n}; pass -n 1 or more")
        seed = self.config.seed + EVAL_SEED if seed is None else seed
        where = f"run {self.path}"
        y = class_labels(n, label, self.class_names, seed + LABEL_SEED, where, self.class_weights)
        device = next(self.sampler.parameters()).device
        z = NoisePrior(self.config.noise, seed).to(device).sample(n)  # (n, z_dim)
        with eval_mode(self.sampler) as G:
            x = (G(z) if y is None else G(z, y.to(device))).cpu()
        x = unit_images(x, self.config, self.x_shape)
        return round_columns(x, self.config.data.integer_columns)

    def metrics(self) -> list[dict[str, float]]:
        """The rows of metrics.csv as dicts of floats."""
        return [{k: float(v) for k, v in row.items()} for row in read_metrics(self.path)]

    def scores(self, n: int = 2500, samples: torch.Tensor | None = None) -> dict[str, Any]:
        """Scores of n samples against a known toy density: mode coverage (2-D), moments (1-D).

        samples: G's samples when the caller has drawn them already (a report: self.sample(n)),
            else n are drawn here.
        """
        dist = distribution_of(self.config.data)
        if dist is None:
            return {}
        fake = self.sample(n) if samples is None else samples
        if dist.dim == 2:
            return mode_coverage(fake, dist.centres, float(dist.stds[0]))
        real = dist.sample(
            len(fake), torch.Generator().manual_seed(self.config.seed + EVAL_SEED)
        )  # as many as were scored, also when the caller handed samples of another count
        return {
            "generated_mean": float(fake.mean()),
            "generated_std": float(fake.std()),
            "data_mean": float(real.mean()),
            "data_std": float(real.std()),
        }


# ---------------------------------------------------------------------------------------------
# Public API


def train(
    config: Config | dict | str | Path,
    out: str | Path | None = None,
    *,
    overrides: list[str] = (),
    data=None,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = True,
    report: bool = True,
    device: str = "auto",
    bf16: bool | None = None,
    announce: bool | None = None,
) -> Run:
    """Train a GAN with Algorithm 1 in a new run directory and return the Run.

        ganlab.train("moons.csv")      # your data: ganlab inspects it and picks the recipe

    Args:
        config: a Config, a dict of config keys, a YAML file path or a preset name; or data:
            a CSV or .npy/.npz file of points or images, or a folder of images, for which
            the `points` or `images` recipe is chosen and sized (ganlab.runs.recipes).
        out: the run directory to create; default runs/<name>-<time>.
        overrides: ``a.b=value`` strings applied on top of a file or preset.
        data: optional (N, *x_shape) tensor or array to train on instead of config.data.
        resume: if `out` already holds a run, continue it instead of refusing; of
            `overrides` it applies steps and RUNTIME_KEYS, as ganlab.resume, and refuses
            another key set to another value than the run trained with.
        overwrite: if `out` already holds a run, delete it and start again.
        quiet: no progress bar.
        report: write figures and index.html at the end.
        device: 'auto' (CUDA when torch sees a GPU), 'cpu' or 'cuda'.
        bf16: forward passes under bfloat16 autocast (CUDA only); None: off for a new run,
            the run's own choice when `resume` continues one (as ganlab.resume).
        announce: print the line saying what was chosen for data given as `config`, with the
            expected time; None: unless quiet.
    Raises:
        GanlabError: bad config, data or output directory; nothing is written then.
    """
    with distributed.session(device, bool(bf16)) as world:
        # Rank 0 reads the config and checks --out; the other ranks take its answers, so that
        # the files need to be on rank 0's machine only.
        announce = (not quiet) if announce is None else announce
        cfg, name = distributed.on_main(_resolve_config, config, overrides, announce)
        distributed.on_main(require_tensorboard, cfg)
        cfg, typed_path = absolute_data_path(cfg)
        if data is not None:
            cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"kind": "tensor"})})
        elif cfg.data.kind == "tensor":
            raise ConfigError(
                "data.kind 'tensor' needs the examples: pass ganlab.train(cfg, data=x)"
            )
        distributed.local_batch(cfg.m, world.size, cfg.discriminator.pack)
        check_world(cfg, world.size)
        out, existing = distributed.on_main(claim_out, out, name, resume, overwrite)
        if existing:
            if bf16 is None:
                world = with_run_precision(out, world)
            run_cfg = distributed.on_main(run_config, out)
            runtime = train_resume_overrides(run_cfg, cfg, overrides)
            return _resume(
                out, cfg.steps, data, quiet, report, world, overrides=runtime, run_cfg=run_cfg
            )
        with seeded_rng(cfg, world):
            state = build_state(cfg, data, world)  # before any write: bad data writes nothing
            threads = run_threads(cfg, state)  # meta.json records the count run_loop sets
            distributed.on_main(create_run_dir, out, cfg, state, threads, data, world, typed_path)
            run_loop(out, cfg, state, threads, quiet, world)
        return _finish(out, cfg, state, report, world)


def resume(
    run_dir: str | Path,
    steps: int | None = None,
    *,
    data=None,
    quiet: bool = True,
    report: bool = True,
    device: str = "auto",
    bf16: bool | None = None,
    force: bool = False,
    overrides: list[str] = (),
) -> Run:
    """Continue a run from its newest intact checkpoint, up to `steps` iterations in total.

    Checkpoints newer than the one it goes on from (they failed their check) move to
    checkpoints/corrupt/ and leave the manifest. A run already at `steps` or beyond (None: its
    config's steps) is left as it is, every file untouched: an AlreadyDone warning says so and
    the Run at its newest checkpoint comes back.

    Training continues exactly: the same seed, machine and number of processes give the same
    parameters as a run that was never stopped. Resuming on another number of processes
    restores G, D and both optimisers exactly, and the noise and data streams too (every rank
    holds the same ones); only the dropout streams of ranks 1.. are then started afresh from
    (seed, rank, step), ganlab.training.distributed. device as for train; bf16 None keeps the
    run's own choice where the run continues on a GPU (in float32 elsewhere, with a warning).
    force: go on although the data file's examples differ from those the run started on.
    overrides: "KEY=VALUE" of how the run goes on (runs.directory.RUNTIME_KEYS: threads,
        compile, checkpoint_every, ...); what it trains stays.
    """
    with distributed.session(device, bool(bf16)) as world:
        if bf16 is None:
            world = with_run_precision(Path(run_dir), world)
        return _resume(Path(run_dir), steps, data, quiet, report, world, force, overrides)


def load_run(path: str | Path, step: int | None = None) -> Run:
    """A finished or interrupted run, with G and D loaded from its newest intact checkpoint,
    or from the checkpoint of `step` when given."""
    path = Path(path)
    cfg = run_config(path)
    meta = read_meta(path)
    store = CheckpointStore(path / "checkpoints")
    ckpt, tensors, header = store.load_latest() if step is None else store.load(step)
    return _run_from(path, cfg, meta, ckpt, tensors, header)


def _run_from(path: Path, cfg: Config, meta: dict, ckpt: Path, tensors, header) -> Run:
    """The Run of a run directory with G and D (on the CPU, in eval mode) from a checkpoint's
    tensors."""
    x_shape = tuple(meta["x_shape"])
    names = meta.get("class_names") if cfg.conditional_run else None
    k = len(names) if names is not None else None
    # (a standardised run's mu and sigma come from the checkpoint)
    G, D = generator_of(cfg, x_shape, k), discriminator_of(cfg, x_shape, k)
    ema = generator_of(cfg, x_shape, k) if cfg.ema.beta else None
    restore_models(G, D, tensors, ckpt, ema)
    for net in (G, D, ema):
        if net is not None:
            net.eval()
    weights = meta.get("class_weights") if cfg.conditional_run else None
    return Run(path, cfg, G, D, int(header.get("step", 0)), x_shape, ema, names, weights)


# ---------------------------------------------------------------------------------------------
# Helpers


def _finish(out: Path, cfg: Config, state: TrainState, report: bool, world: World) -> Run:
    """The trained Run, its G and D on the CPU, and (rank 0) its report."""
    ema = state.ema.cpu() if state.ema is not None else None
    names, weights = source_classes(state.data)
    G, D = state.G.cpu(), state.D.cpu()
    run = Run(out, cfg, G, D, state.step, state.data.x_shape, ema, names, weights)
    if report and world.is_main:
        by_class = examples_by_class(cfg, state.data)
        with writing(out / "index.html", "training finished"):
            if by_class is not None:  # kept for `ganlab report` and `ganlab sample` to draw
                write_class_examples(out, *by_class)
            write_report(run, by_class)
    return run


def _resume(
    run_dir: Path,
    steps: int | None,
    data,
    quiet: bool,
    report: bool,
    world: World = LOCAL,
    force: bool = False,
    overrides=(),
    run_cfg: Config | None = None,
) -> Run:
    # Rank 0 reads the run directory and hands it to the other ranks: only rank 0's machine
    # needs it (a shared filesystem is not required). run_cfg: its config.yaml, where read.
    if run_cfg is None:
        run_cfg = distributed.on_main(run_config, run_dir)
    cfg = distributed.on_main(resume_config, run_dir, run_cfg, steps, overrides)
    distributed.on_main(require_tensorboard, cfg)
    meta = distributed.on_main(read_meta, run_dir)
    if cfg.data.kind == "tensor":
        if data is None:
            raise ConfigError(
                f"run {run_dir} trained on an in-memory tensor; pass it again: "
                "ganlab.resume(path, data=x)"
            )
        if fingerprint(data) != meta.get("data_sha256"):
            raise ConfigError(
                f"the data passed differs from what run {run_dir} trained on (SHA-256); "
                "pass the same tensor"
            )
    distributed.local_batch(cfg.m, world.size, cfg.discriminator.pack)
    check_world(cfg, world.size)
    store = CheckpointStore(run_dir / "checkpoints")
    with seeded_rng(cfg, world):  # the checkpoint's dropout streams in training, the caller's after
        # Only read until the run is known to go on: a finished run, a config the checkpoint
        # does not fit or changed data leave every file as it was.
        newest = distributed.on_main(store.newest_intact)
        state = _restored_state(cfg, newest, data, world)
        expected = meta.get("data_fingerprint")
        if expected and not force and data_fingerprint(state.data) != expected:
            raise DataError(
                f"the data at {cfg.data.path} changed since run {run_dir} started (SHA-256 of its "
                "examples differs); put the original back, or pass --force to go on with the "
                "new data"
            )
        if cfg.steps <= state.step:  # nothing to train, nothing to rewrite
            if world.is_main:
                store.warn_passed_over(newest)
            warnings.warn(
                f"run {run_dir} is already at step {state.step} (steps: {cfg.steps}); nothing "
                f"to do: pass --steps {state.step + 1} or more to train on",
                AlreadyDone,
                stacklevel=3,
            )
            return _run_from(run_dir, run_cfg, meta, newest.path, newest.tensors, newest.header)
        # going on from here: files newer than the one used move aside (checkpoints/corrupt/)
        distributed.on_main(store.go_on_from, newest)
        threads = run_threads(cfg, state)
        distributed.on_main(
            record_resume, run_dir, cfg, meta, state.step, newest.path, world, threads
        )
        run_loop(run_dir, cfg, state, threads, quiet, world)
    return _finish(run_dir, cfg, state, report, world)


def restore_newest(
    run_dir: Path, cfg: Config, data=None, world: World = LOCAL
) -> tuple[TrainState, Path]:
    """The run's state at its newest intact checkpoint: built from cfg as training builds it
    (under seeded_rng), then G, D, optimisers, noise and data streams and step restored into it.

    Only reads (a newer checkpoint that fails its check is warned about and left where it is):
    a caller that goes on training in run_dir uses CheckpointStore.go_on_from first, as resume
    does. torch's generator is left at the checkpoint's dropout stream (this rank's, on
    several), so the next iteration is the one the run would have made; enter seeded_rng(cfg)
    around the call and the training to give the caller's stream back afterwards.
    Args:
        run_dir: a run directory with a checkpoints/ folder; rank 0 reads it.
        cfg: the run's config, which the checkpoint must fit.
        data: the in-memory data the run trained on, for data.kind 'tensor'.
    Returns:
        (state, path of the checkpoint restored).
    Raises:
        CheckpointError: no checkpoint, or one that does not fit cfg.
    """
    store = CheckpointStore(run_dir / "checkpoints")
    newest = distributed.on_main(store.newest_intact)
    if world.is_main:
        store.warn_passed_over(newest)
    return _restored_state(cfg, newest, data, world), newest.path


def _restored_state(cfg: Config, newest: Newest, data, world: World) -> TrainState:
    """A TrainState built from cfg (under seeded_rng) with a checkpoint restored into it."""
    with seeded_rng(cfg, world):
        state = build_state(cfg, data, world)
    restore_state(state, newest.tensors, newest.header, newest.path)
    restore_rank_rng(newest.tensors, newest.header, cfg, world, state.step)
    return state


def _resolve_config(config, overrides, announce: bool = False) -> tuple[Config, str]:
    if isinstance(config, Config):
        config = config.model_dump(mode="json")
    if isinstance(config, dict):
        return config_from_dict(_with_overrides(config, overrides), overrides=overrides), "run"
    if is_data_path(config):  # a user's file or folder: its recipe (ganlab.runs.recipes)
        plan = plan_run(config, list(overrides))
        if announce:
            print(f"ganlab: {recipes.announce(plan)}", flush=True)
        return plan.config, plan.name
    name = str(config)
    stem = name if name in preset_names() else Path(name).stem
    return load_config(config, list(overrides)), stem


def _with_overrides(raw: dict, overrides) -> dict:
    raw = json.loads(json.dumps(raw))  # a deep copy: the caller's dict is left alone
    for item in overrides:
        apply_override(raw, item)
    return raw


def write_html_report(
    run_dir: str | Path, out: str | Path | None = None, overwrite: bool = False
) -> Path:
    """report.html: the whole run in one self-contained page (`ganlab report`).

    Loads the run's newest intact checkpoint (a run stopped before its first one still gets a
    page of its logs) and hands it to report.run_report.write_run_page.
    Args:
        run_dir: a run directory.  out: the page to write; default run_dir/report.html.
        overwrite: replace `out` even if it is not a page ganlab wrote.
    Raises:
        RunDirError: run_dir is not a run directory, or `out` is refused or cannot be written.
    """
    run_dir = Path(run_dir)
    run_config(run_dir)  # a one-line error for a folder that is not a run, before anything else
    read_meta(run_dir)
    out = run_dir / "report.html" if out is None else Path(out)
    check_page_out(out, overwrite)
    try:
        run, missing = load_run(run_dir), ""
    except CheckpointError as e:  # a run stopped before its first checkpoint still has logs
        run, missing = None, f"No generator to sample: {e}"
    return write_run_page(run_dir, run, missing, out)


__all__ = ["Run", "load_run", "restore_newest", "resume", "train", "write_html_report"]
