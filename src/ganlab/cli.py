"""The `ganlab` command: parse, call the library, print one-line errors (exit 2, no traceback)."""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from ganlab.cli_parser import build_parser
from ganlab.errors import AlreadyDone, ConfigError, GanlabError, Interrupted


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    speaks = True
    try:
        # torch loads here, inside the try: a Ctrl-C while it does ends in one line below
        from ganlab.training.distributed import env_rank

        # Under torchrun every rank runs this; rank 0 speaks for them. Errors, interrupts and
        # warnings are decided together (ganlab.training.distributed), so the others would
        # repeat it.
        speaks = env_rank() == 0
        with warnings.catch_warnings():
            warnings.simplefilter("default" if speaks else "ignore")
            # the libraries' notes to their developers (torch's compiler imports deprecated
            # torch.jit pieces) are not the user's to act on
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.showwarning = _one_line_warning
            if getattr(args, "nproc", None) is not None:
                return _launch(args, argv)
            return COMMANDS[args.command](args)
    except Interrupted as e:  # not an error: the run stopped cleanly and can be resumed
        if speaks:
            print(f"ganlab: {e}", file=sys.stderr)
        return 130
    except GanlabError as e:
        if speaks:
            print(f"ganlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C in training, or one before training began
        if speaks:
            print(f"ganlab: aborted{_resume_hint(args)}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ganlab presets --fields | head`: the reader has what it wanted
        # stdout's buffer still holds lines no one reads: point it at devnull so the flush at
        # exit does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _resume_hint(args) -> str:
    """How to go on after an abort: only where a checkpoint exists to go on from."""
    run_dir = getattr(args, "run_dir", None) or getattr(args, "out", None)
    if args.command not in ("train", "resume") or not run_dir:
        return ""
    if not (Path(run_dir) / "checkpoints" / "manifest.json").is_file():
        return " before the first checkpoint; nothing to resume"
    return f"; checkpoints written before are intact: `ganlab resume {run_dir}` continues"


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"ganlab: warning: {message}", file=sys.stderr)


def _launch(args, argv: list[str]) -> int:
    """`ganlab train|resume ... --nproc N`: the same command in N processes through torchrun."""
    from ganlab.training.distributed import launch

    if args.nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {args.nproc}; pass --nproc 1 or more")
    if "RANK" in os.environ:
        raise ConfigError(
            "--nproc inside torchrun: torchrun already started the processes; drop --nproc"
        )
    rest = _without_nproc(argv)
    if args.nproc == 1:  # one process needs no launcher
        return main(rest)
    return launch(args.nproc, rest)


def _without_nproc(argv: list[str]) -> list[str]:
    """argv less its --nproc N (or --nproc=N): what each worker process runs."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _train(args) -> int:
    from ganlab.runs.api import train
    from ganlab.training.distributed import env_rank

    if args.dry_run:
        return _dry_run(args)

    with _said_if_done() as done:
        run = train(
            args.config,
            args.out,
            overrides=args.overrides,
            resume=args.resume,
            overwrite=args.overwrite,
            quiet=args.quiet,
            device=args.device,
            bf16=args.bf16,
            announce=True,
        )
    if env_rank() == 0 and not done:
        print(f"run directory: {run.path}  (report: {run.path / 'index.html'})")
    return 0


@contextmanager
def _said_if_done():
    """`ganlab resume` (or train --resume) of a run already at its steps: the library's
    AlreadyDone warning becomes the command's one line (rank 0's), and the block ends there
    with exit 0: nothing failed and nothing was written. Yields a list that is non-empty then."""
    from ganlab.training.distributed import env_rank

    done: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", AlreadyDone)
        try:
            yield done
        except AlreadyDone as e:
            done.append(str(e))
    if done and env_rank() == 0:
        print(f"ganlab: {done[0]}")


def _dry_run(args) -> int:
    """`ganlab train ... --dry-run`: the line saying what would be trained, then the resolved
    config as the run directory would hold it; nothing is written."""
    from ganlab.config import dump_config
    from ganlab.runs.directory import absolute_data_path, claim_out
    from ganlab.runs.recipes import announce, plan_run

    plan = plan_run(args.config, args.overrides)
    if args.out is not None:  # what training would refuse about --out, said now (no writes)
        claim_out(args.out, plan.name, args.resume, args.overwrite)
    print(f"ganlab: {announce(plan)}")
    print(dump_config(absolute_data_path(plan.config)[0]), end="")
    return 0


def _resume(args) -> int:
    from ganlab.runs.api import resume
    from ganlab.training.distributed import env_rank

    with _said_if_done() as done:
        run = resume(
            args.run_dir,
            args.steps,
            quiet=args.quiet,
            device=args.device,
            bf16=args.bf16,
            force=args.force,
            overrides=args.overrides,
        )
    if env_rank() == 0 and not done:
        print(f"run directory: {run.path}  (step {run.step}, report: {run.path / 'index.html'})")
    return 0


def _sample(args) -> int:
    from ganlab.runs.samples import write_samples

    shape, what = write_samples(
        args.run_dir,
        args.out,
        args.n,
        step=args.step,
        seed=args.seed,
        overwrite=args.overwrite,
        label=args.label,
    )
    print(f"wrote {what} of shape {shape} to {args.out}")
    return 0


def _presets(args) -> int:
    from ganlab.config import describe_fields, preset_description, preset_names

    if args.fields:
        print(f"{'KEY':36s} {'DEFAULT':>22s}  MEANING")
        for key, default, description in describe_fields():
            print(f"{key:36s} {default:>22s}  {description}")
        return 0
    for name in preset_names():
        print(f"{name:14s} {preset_description(name)}")
    return 0


def _demo(args) -> int:
    from ganlab.runs.demo import DEMO_PRESET, train_demo

    print(f"training the non-saturating GAN on the ring of 8 Gaussians (preset {DEMO_PRESET})")
    run = train_demo(args.out, quiet=args.quiet)
    s = run.scores()
    print(
        f"modes covered: {s['modes_covered']}/{s['modes']}, high-quality samples: "
        f"{100 * s['high_quality']:.1f}% (within 3 std of a mode), KL to uniform: {s['kl']:.3f}"
    )
    print(f"run directory: {run.path}")
    print(f"report: {run.path / 'index.html'}")
    return 0


def _theory(args) -> int:
    from ganlab.theory.command import ITEMS, run_theory

    if args.list:
        for name in ITEMS:
            print(name)
        return 0
    report = run_theory(
        args.out, args.only, quick=args.quick, overwrite=args.overwrite, quiet=args.quiet
    )
    for name, item in report["items"].items():
        print(f"{name:22s} {item.get('seconds', 0):6.1f} s  {', '.join(item['figures'])}")
    print(f"theory report: {args.out / 'index.html'}")
    return 0


def _data(args) -> int:
    from ganlab.data import describe, fetch
    from ganlab.data.download import cache_dir

    if args.data_command == "fetch":
        paths = fetch(args.name, mirrors=args.mirror, progress=not args.quiet)
        print(f"{args.name}: {len(paths)} files, SHA-256 checked, in {cache_dir() / args.name}")
        return 0
    info = describe(args.name, args.path, args.resize and tuple(args.resize), args.channels)
    splits = ", ".join(f"{split} {n}" for split, n in info.splits.items())
    print(f"{info.name}: {info.title}")
    print(f"source: {info.source} ({info.format}) {info.location}")
    print(f"examples: {splits}; each of shape {info.x_shape}")
    for path, size, digest, check in info.files:
        print(f"  {path.name}  {size} bytes  sha256 {digest}  ({check})")
    return 0


def _eval(args) -> int:
    from ganlab.runs.evaluation import evaluate_run_dir

    lines = evaluate_run_dir(
        args.run_dir,
        parzen=args.parzen,
        metrics=args.metrics,
        dataset=args.dataset,
        samples=args.samples,
        valid=args.valid,
        test=args.test,
        step=args.step,
        seed=args.seed,
        sigma_grid=args.sigma_grid,
        progress=not args.quiet,
    )
    for line in lines:  # each as its evaluation finishes
        print(line)
    return 0


def _report(args) -> int:
    from ganlab.runs import write_html_report

    out = write_html_report(args.run_dir, args.out, args.overwrite)
    print(f"report: {out}")
    return 0


def _doctor(args) -> int:
    from ganlab.runfiles import read_metrics
    from ganlab.runs.diagnosis import diagnose, findings_text

    findings = diagnose(args.run_dir)
    rows = read_metrics(Path(args.run_dir))
    last = int(float(rows[-1]["step"])) if rows else None
    print(findings_text(findings, args.run_dir, args.json, last))
    return 0


def _compare(args) -> int:
    from ganlab.report.compare import write_comparison

    out = write_comparison(args.run_dirs, args.out, args.overwrite)
    print(f"comparison of {len(args.run_dirs)} runs: {out}")
    return 0


def _lab(args) -> int:
    from ganlab.lab.server import is_loopback, serve

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {args.port}; e.g. --port 8000")
    if not is_loopback(args.host):
        warnings.warn(
            f"--host {args.host} is not a loopback address: anyone who can reach it can steer "
            "training and write run directories as you",
            stacklevel=1,
        )
    try:
        serve(args.host, args.port, open_browser=not args.no_browser, dataset=args.dataset)
    except KeyboardInterrupt:
        pass
    return 0


COMMANDS = {
    "theory": _theory,
    "train": _train,
    "resume": _resume,
    "sample": _sample,
    "presets": _presets,
    "demo": _demo,
    "data": _data,
    "eval": _eval,
    "report": _report,
    "compare": _compare,
    "doctor": _doctor,
    "lab": _lab,
}

if __name__ == "__main__":
    raise SystemExit(main())
