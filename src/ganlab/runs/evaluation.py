"""`ganlab eval RUN_DIR`: load a run and score it with the metrics layer (metrics/evaluate.py
for FID/KID/PRDC/digits/coverage/stacked, metrics/parzen_run.py for the Parzen window)."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from ganlab.data import distribution_of
from ganlab.errors import ConfigError
from ganlab.metrics import evaluate, parzen_run
from ganlab.runfiles import read_json
from ganlab.runs.api import load_run
from ganlab.training.state import EVAL_SEED


def evaluate_run_dir(
    run_dir: str | Path,
    *,
    parzen: bool = False,
    metrics: str | None = None,
    dataset: str | None = None,
    samples: int | None = None,
    valid: int = 1000,
    test: int = 10_000,
    step: int | None = None,
    seed: int | None = None,
    sigma_grid: str | None = None,
    progress: bool = True,
) -> Iterator[str]:
    """Evaluate a run's generator; a generator of console lines: iterate it to do the work.

    The metrics (metrics.json) come first, then the Parzen window (parzen.json); each line is
    yielded once its file is written, so that the scores of a long evaluation show as they
    come, and stay shown when a later one fails.

    Args:
        run_dir: the run.  parzen: score the Parzen window (Table 1).  metrics: comma-separated
        names (metrics.evaluate.METRICS).  Neither: what fits the run's data
        (metrics.evaluate.fitting_metrics), said in the first line.
        dataset: Parzen's held-out data, None for the run's.
        samples: generated samples, None for each protocol's own.  valid, test: held-out points.
        step: the checkpoint (default latest); its files get a ``-step-N`` suffix.
        seed: seed of G's noise (default the run's seed + EVAL_SEED).
        sigma_grid: "LO,HI", Parzen's widths (metrics.parzen_run.sigma_grid), None for the
        paper's.  progress: tqdm bars.
    Yields:
        One line per metric, then "wrote PATH"; the Parzen line, then "wrote PATH".
    Raises:
        ConfigError: a bad request (checked before the run is loaded) or metrics that do not
        fit the run's data.  RunDirError, DataError: from loading, sampling or writing.
    """
    chosen = not parzen and not metrics  # none named: what fits the run's data
    # the counts are checked before the run is loaded, whatever is chosen after
    request = evaluate.eval_request(parzen or chosen, metrics, samples, valid, test)
    sigmas = parzen_run.sigma_grid(sigma_grid)
    run = load_run(run_dir, step)
    dist = distribution_of(run.config.data)
    toy_dim = dist.dim if dist is not None else None
    if chosen:
        names, parzen, line = evaluate.fitting_metrics(run.config.data.kind, run.x_shape, toy_dim)
        request = evaluate.eval_request(parzen, ",".join(names), samples, valid, test)
    evaluate.check_metrics(request.names, run.config.data.kind, run.x_shape, toy_dim)
    if sigma_grid is not None and not request.parzen:
        raise ConfigError("--sigma-grid applies only to --parzen; add --parzen or drop it")
    parzen_run.check_dataset(
        dataset, request.parzen, run.config.data.kind, run.x_shape, dist is not None
    )
    if chosen:  # said once the request is known to be valid
        yield line
    seed = run.config.seed + EVAL_SEED if seed is None else seed
    stem = "" if step is None else f"-step-{run.step}"
    if request.names:
        options = (
            f"--step {run.step} --metrics {','.join(request.names)} --samples "
            f"{request.samples} --test {request.test} --seed {seed}"
        )
        with evaluation_file(run.path, f"metrics{stem}", options) as path:
            result = evaluate.evaluate_run(
                run,
                request.names,
                samples=request.samples,
                n_real=request.test,
                seed=seed,
                suffix=path.stem.removeprefix("metrics"),
                progress=progress,
            )
            written = evaluate.write_metrics(path, {"options": options, **result})
        yield from evaluate.summary_lines(result)
        yield wrote_line(written, f"metrics{stem}")
    if request.parzen:
        options = (
            f"--step {run.step} --parzen --samples {request.parzen_samples} --valid "
            f"{request.valid} --test {request.test} --seed {seed} --sigma-grid "
            f"{sigmas[0]:g},{sigmas[-1]:g}" + (f" --dataset {dataset}" if dataset else "")
        )
        with evaluation_file(run.path, f"parzen{stem}", options) as path:
            result, out = parzen_run.parzen_of_run(
                run,
                samples=request.parzen_samples,
                valid=request.valid,
                test=request.test,
                seed=seed,
                dataset=dataset,
                suffix=path.stem.removeprefix("parzen"),
                options=options,
                sigmas=sigmas,
            )
        yield parzen_run.parzen_summary(result)
        yield wrote_line(out, f"parzen{stem}")


@contextlib.contextmanager
def evaluation_file(run_dir: Path, stem: str, options: str) -> Iterator[Path]:
    """Where an evaluation asked with `options` is written, held for the block: the file of
    the run that holds one asked with the same options (run again, it gives the same numbers),
    else the first free name of STEM.json, STEM-2.json, STEM-3.json ...: an earlier evaluation
    with other options (or of another step, after a resume) is never replaced.

    A new name is claimed by creating `.NAME.claim` exclusively (the OS says which of two
    processes got it) and the claim is removed when the block ends, so two evaluations running
    at once never pick the same name; a claim a killed process left only skips its name."""
    pattern = re.compile(rf"{re.escape(stem)}(-\d+)?\.json")
    kept = [p for p in run_dir.glob(f"{stem}*.json") if pattern.fullmatch(p.name)]
    for path in kept:
        doc = read_json(path)
        if doc is not None and doc.get("options") == options:
            yield path
            return
    names = {p.name for p in kept}
    for i in itertools.count(1):
        name = f"{stem}.json" if i == 1 else f"{stem}-{i}.json"
        if name in names:
            continue
        claim = run_dir / f".{name}.claim"
        try:
            claim.open("x").close()  # O_CREAT | O_EXCL
        except FileExistsError:
            continue  # another evaluation holds this name
        try:
            if not (run_dir / name).exists():  # written since the listing: not free
                yield run_dir / name
                return
        finally:
            claim.unlink(missing_ok=True)


def wrote_line(out: Path, stem: str) -> str:
    """The console line of an evaluation written to `out`; it names the earlier evaluation kept
    where `out` went beside it (evaluation_file)."""
    if out.name == f"{stem}.json":
        return f"wrote {out}"
    return f"wrote {out} ({stem}.json keeps an earlier evaluation asked with other options)"
