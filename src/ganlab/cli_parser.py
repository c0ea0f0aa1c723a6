"""The `ganlab` command line's grammar: every command, its arguments and their help (the
commands themselves are in cli.py)."""

from __future__ import annotations

import argparse
import difflib
import re
from pathlib import Path

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


def build_parser() -> argparse.ArgumentParser:
    """The parser of every `ganlab` command and its options."""
    p = _Parser(
        prog="ganlab",
        description="Train, evaluate and understand GANs (Goodfellow et al. 2014).",
    )
    p.add_argument("--version", action="version", version=f"ganlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a GAN on your data, or from a config file or preset")
    t.add_argument(
        "config",
        metavar="DATA|CONFIG|PRESET",
        help="your data (a CSV or .npy/.npz file, or a folder of images: ganlab picks the "
        "recipe), a YAML file or a preset name",
    )
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
    t.add_argument(
        "--dry-run", action="store_true", help="print what would be trained and its config; exit"
    )
    _add_placement(t)

    r = sub.add_parser(
        "resume",
        help="continue a run from its newest checkpoint",
        description="Continue a run from its newest checkpoint that verifies; newer ones that "
        "fail their check move to RUN_DIR/checkpoints/corrupt/. A run already at --steps (or "
        "its config's steps) is left untouched: one line says so and the exit status is 0, "
        "as nothing failed. Errors exit with status 2.",
    )
    r.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    r.add_argument(
        "--steps",
        type=int,
        help="train until this many steps in total (default: the run's config); at or below "
        "the steps done, nothing is done (exit 0)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar (for logs)")
    r.add_argument(
        "--force",
        action="store_true",
        help="go on although the data file changed since the run started",
    )
    r.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change how the run goes on: threads, compile, log_every, sample_every, "
        "checkpoint_every, keep_checkpoints, tensorboard, doctor, on_nan (what it trains stays)",
    )
    _add_placement(r, resume=True)

    s = sub.add_parser("sample", help="write samples of a trained generator")
    s.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument(
        "--out",
        type=Path,
        required=True,
        help="a .npy array, a .npz (x; with --label also y and class_names), a .csv of points "
        "(the data's column names; with --label a class column) or a .png figure",
    )
    s.add_argument("--seed", type=int, help="seed of the noise (default: the run's seed + 4)")
    s.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    s.add_argument("--step", type=int, help="use the checkpoint of this step (default latest)")
    s.add_argument(
        "--label",
        metavar="L",
        help="conditional runs: the class to sample (an index or a class name); 'all': N "
        "samples of every class, a .png with one row per class, labels in a .npz or .csv "
        "(default: uniform classes)",
    )

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
        help="--parzen on an image run: held-out images of mnist or fashion_mnist (default: "
        "the run's own data; toy runs use fresh draws of their density)",
    )
    ev.add_argument(
        "--metrics",
        metavar="NAMES",
        help="comma-separated: fid,kid,prdc,digits (MNIST runs; writes metrics.json), "
        "coverage (2-D mixture runs), stacked (stacked_mnist runs), "
        "inception_fid,inception_score (MNIST runs; needs the Inception weights file locally, "
        "never downloaded), knn (any run: k-NN precision, recall, density and coverage "
        "against its training data, in the data's own space). Neither --metrics nor "
        "--parzen: what fits the run (coverage for 2-D mixtures, fid,kid,prdc,digits for "
        "MNIST, stacked, --parzen for other data sets, knn for your own data)",
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
    ev.add_argument(
        "--sigma-grid",
        metavar="LO,HI",
        help="--parzen: choose sigma among 10 widths spaced evenly in log from LO to HI "
        "(default the paper's 0.1,1)",
    )
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
    lb.add_argument(
        "--dataset",
        default="ring",
        help="the data the page starts on: line, mixture, ring (default), cring (the ring of 8 "
        "with each mode a class: a conditional GAN), grid or drawn",
    )

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
