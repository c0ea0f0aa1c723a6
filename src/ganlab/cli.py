"""The `ganlab` command: parse, call the library, print one-line errors (exit 2, no traceback)."""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
import warnings
from pathlib import Path

from ganlab.errors import ConfigError, GanlabError, Interrupted
from ganlab.version import __version__


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistyped command or choice is one line with the nearest valid one."""

    def error(self, message: str):
        # argparse's own text is the usage block plus every choice; a typo needs only the fix
        bad = re.match(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)$", message)
        if bad is None:
            super().error(message)
        arg, value, listed = bad.groups()
        choices = re.findall(r"'([^']*)'", listed)
        near = difflib.get_close_matches(value, choices, n=1)
        hint = f"did you mean '{near[0]}'?" if near else f"choose from {', '.join(choices)}"
        what = "unknown command" if arg in ("COMMAND", "ACTION") else f"invalid {arg}"
        self.exit(2, f"ganlab: error: {what} '{value}'; {hint} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ganlab",
        description="Train, evaluate and understand GANs (Goodfellow et al. 2014).",
    )
    p.add_argument("--version", action="version", version=f"ganlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a GAN from a config file or preset")
    t.add_argument("config", metavar="CONFIG|PRESET", help="a YAML file or a preset name")
    t.add_argument("--out", type=Path, help="run directory to create (default runs/NAME-TIME)")
    t.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set steps=200 --set g_optimizer.lr=1e-3",
    )
    g = t.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue --out if it already holds a run")
    g.add_argument("--overwrite", action="store_true", help="replace --out if it holds a run")
    t.add_argument("--quiet", action="store_true", help="no progress bar (for logs)")
    _add_placement(t)

    r = sub.add_parser("resume", help="continue a run from its newest checkpoint")
    r.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    r.add_argument("--steps", type=int, help="train until this many steps in total")
    r.add_argument("--quiet", action="store_true", help="no progress bar (for logs)")
    r.add_argument(
        "--force",
        action="store_true",
        help="go on although the data file changed since the run started",
    )
    _add_placement(r, resume=True)

    s = sub.add_parser("sample", help="write samples of a trained generator")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("--out", type=Path, required=True, help="a .npy file or a .png figure")
    s.add_argument("--seed", type=int, help="seed of the noise (default: the run's seed + 4)")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    s.add_argument("--step", type=int, help="use the checkpoint of this step (default latest)")

    pr = sub.add_parser("presets", help="list the presets shipped with ganlab")
    pr.add_argument("--fields", action="store_true", help="list every config key instead")

    th = sub.add_parser("theory", help="check the paper's claims numerically, with figures")
    th.add_argument("--out", type=Path, default=Path("theory"), help="folder (default theory/)")
    th.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this item (repeatable); names: ganlab theory --list",
    )
    th.add_argument("--list", action="store_true", help="list the items and exit")
    th.add_argument("--quick", action="store_true", help="shorter training runs (for tests)")
    th.add_argument("--overwrite", action="store_true", help="write into an existing --out")
    th.add_argument("--quiet", action="store_true", help="no progress bar")

    da = sub.add_parser("data", help="show where a data set comes from, or download it")
    da_sub = da.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    di = da_sub.add_parser("info", help="source, split sizes and SHA-256 of a data set")
    di.add_argument(
        "name", metavar="NAME", help="mnist, fashion_mnist, digits, or images, csv, array (--path)"
    )
    di.add_argument("--path", type=Path, help="look here first (a folder or file)")
    di.add_argument(
        "--resize", type=int, nargs=2, metavar=("H", "W"), help="images: resize to H x W"
    )
    di.add_argument("--channels", type=int, default=1, choices=(1, 3), help="images: 1 or 3")
    df = da_sub.add_parser("fetch", help="download a data set into the cache (SHA-256 checked)")
    df.add_argument("name", metavar="NAME", help="mnist or fashion_mnist")
    df.add_argument(
        "--mirror",
        action="append",
        metavar="URL",
        help="base URL to download from instead of the public mirrors (repeatable, in order)",
    )
    df.add_argument("--quiet", action="store_true", help="no progress bar")

    d = sub.add_parser("demo", help="train on the ring of 8 Gaussians and write a report")
    d.add_argument("--out", type=Path, help="run directory to create (default runs/demo-TIME)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")

    ev = sub.add_parser(
        "eval", help="evaluate a trained generator (Parzen window, FID/KID/PRDC, coverage)"
    )
    ev.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    ev.add_argument(
        "--parzen", action="store_true", help="Parzen-window log-likelihood, as in Table 1"
    )
    ev.add_argument(
        "--dataset",
        help="mnist or fashion_mnist (default: the run's own data; toy runs use fresh draws)",
    )
    ev.add_argument(
        "--metrics",
        metavar="NAMES",
        help="comma-separated: fid,kid,prdc,digits (MNIST runs; writes metrics.json), "
        "coverage (2-D mixture runs), stacked (stacked_mnist runs), "
        "inception_fid,inception_score (MNIST runs; needs the Inception weights file locally, "
        "never downloaded). Neither --metrics nor --parzen: what fits the run (coverage for "
        "2-D mixtures, fid,kid,prdc,digits for MNIST, stacked, else --parzen)",
    )
    ev.add_argument(
        "--samples",
        type=int,
        help="generated samples (default: each protocol's: 2500 for coverage, 26000 for "
        "stacked, 10000 otherwise)",
    )
    ev.add_argument("--valid", type=int, default=1000, help="validation points for sigma (1000)")
    ev.add_argument(
        "--test",
        type=int,
        default=10000,
        help="test points: Parzen scores them; --metrics compares with them and builds the "
        "real-vs-real floor from as many training images (10000)",
    )
    ev.add_argument(
        "--step", type=int, help="evaluate the checkpoint of this step (default latest)"
    )
    ev.add_argument("--seed", type=int, help="seed of the noise (default: the run's seed + 4)")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")

    lb = sub.add_parser("lab", help="watch and steer real training live in the browser")
    lb.add_argument(
        "--port", type=int, default=8000, help="port to serve on (default 8000; 0: any free one)"
    )
    lb.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    lb.add_argument("--no-browser", action="store_true", help="do not open the page")

    rp = sub.add_parser(
        "report", help="write one self-contained HTML report of a run (images embedded)"
    )
    rp.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    rp.add_argument("--out", type=Path, help="the page to write (default RUN_DIR/report.html)")
    rp.add_argument(
        "--overwrite", action="store_true", help="replace --out even if it is not a ganlab report"
    )

    dr = sub.add_parser(
        "doctor", help="say what went wrong in a run, from which step, and what to change"
    )
    dr.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    dr.add_argument(
        "--json",
        action="store_true",
        help='print {"findings": [{"kind", "step", "evidence", "advice"}, ...]}',
    )

    cp = sub.add_parser("compare", help="several runs side by side in one self-contained HTML")
    cp.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    cp.add_argument(
        "--out", type=Path, default=Path("compare.html"), help="the page (default compare.html)"
    )
    cp.add_argument(
        "--overwrite", action="store_true", help="replace --out even if it is not a ganlab report"
    )
    return p


def _add_placement(p: argparse.ArgumentParser, resume: bool = False) -> None:
    """--nproc, --device and --bf16 of train and resume."""
    p.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train in N processes on this machine (DistributedDataParallel, via torchrun); "
        "m stays the global minibatch",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where to train (default auto: CUDA when torch sees a GPU)",
    )
    if resume:  # unset: the run's own choice
        p.add_argument(
            "--bf16",
            action=argparse.BooleanOptionalAction,
            help="bfloat16 autocast (CUDA only; default: as the run trained)",
        )
    else:
        # default None, not False: `train --resume` keeps the run's own choice
        p.add_argument(
            "--bf16", action="store_true", default=None, help="bfloat16 autocast (CUDA only)"
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
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

    run = train(
        args.config,
        args.out,
        overrides=args.overrides,
        resume=args.resume,
        overwrite=args.overwrite,
        quiet=args.quiet,
        device=args.device,
        bf16=args.bf16,
    )
    if env_rank() == 0:
        print(f"run directory: {run.path}  (report: {run.path / 'index.html'})")
    return 0


def _resume(args) -> int:
    from ganlab.runs.api import resume
    from ganlab.training.distributed import env_rank

    run = resume(
        args.run_dir,
        args.steps,
        quiet=args.quiet,
        device=args.device,
        bf16=args.bf16,
        force=args.force,
    )
    if env_rank() == 0:
        print(f"run directory: {run.path}  (step {run.step}, report: {run.path / 'index.html'})")
    return 0


def _sample(args) -> int:
    from ganlab.runs.samples import write_samples

    shape = write_samples(
        args.run_dir, args.out, args.n, step=args.step, seed=args.seed, overwrite=args.overwrite
    )
    print(f"wrote {args.n} samples of shape {shape} to {args.out}")
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
    from ganlab.runs.diagnosis import diagnose, findings_text

    print(findings_text(diagnose(args.run_dir), args.run_dir, args.json))
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
        serve(args.host, args.port, open_browser=not args.no_browser)
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
