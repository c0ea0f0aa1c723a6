"""`ganlab compare RUN_DIR RUN_DIR ...`: several runs side by side in one self-contained page.

The curves of every run overlaid (one colour per run), the final sample figure of each, one
table of their numbers (rows: metrics, columns: runs) and the config keys whose values differ.
It reads the run directories only (metrics.csv, coverage.csv, samples/, metrics*.json,
parzen*.json, config.yaml): no model is loaded, so it takes a second or two.
"""

from __future__ import annotations

import html
import tempfile
from pathlib import Path

from ganlab.errors import ConfigError
from ganlab.files import atomic_write_bytes
from ganlab.report.figures import COVERAGE_PANEL, CURVE_PANELS, save_overlaid_curves
from ganlab.report.format import format_value, metric_texts, plus_minus, verbatim
from ganlab.report.pages import check_page_out, img_html, self_contained_page, table_html
from ganlab.runfiles import read_csv, read_json, read_meta, read_metrics, run_config, writing

# (metrics.csv column, row label) of the comparison table: the last logged row of each run.
_LAST_ROW = [
    ("step", "last logged step"),
    ("d_loss", "D loss"),
    ("g_loss", "G loss"),
    ("d_real", "mean D(x)"),
    ("d_fake", "mean D(G(z))"),
    ("g_grad_norm", "|grad G|"),
    ("d_grad_norm", "|grad D|"),
    ("steps_per_s", "steps/s"),
    ("elapsed_s", "training time (s)"),
]


def write_comparison(
    run_dirs: list[str | Path], out: str | Path = "compare.html", overwrite: bool = False
) -> Path:
    """compare.html: the runs' curves overlaid, final samples side by side, metrics and config
    differences in tables; every image a data: URI.

    Args:
        run_dirs: two or more run directories.  out: the page to write.
        overwrite: replace `out` even if it is not a page ganlab wrote.
    Returns:
        The path of the page.
    Raises:
        ConfigError: fewer than two runs.
        RunDirError: one is not a run directory, or `out` is refused or cannot be written.
    """
    if len(run_dirs) < 2:
        raise ConfigError(
            f"compare needs two or more run directories, got {len(run_dirs)}; "
            "use `ganlab report RUN_DIR` for one run"
        )
    run_dirs = [Path(d) for d in run_dirs]
    configs = [run_config(d).model_dump(mode="json") for d in run_dirs]
    for d in run_dirs:
        read_meta(d)  # a damaged run directory fails here, before anything is drawn
    out = Path(out)
    check_page_out(out, overwrite)
    labels = run_labels(run_dirs)
    rows = {label: read_metrics(d) for label, d in zip(labels, run_dirs, strict=True)}
    coverage = {
        label: read_csv(d / "coverage.csv") for label, d in zip(labels, run_dirs, strict=True)
    }
    with tempfile.TemporaryDirectory(prefix="ganlab-compare-") as tmp:
        tmp = Path(tmp)
        sections = [
            ("curves", "Training curves", _curves_html(rows, coverage, tmp)),
            ("samples", "Final samples", _samples_html(labels, run_dirs)),
            ("metrics", "Metrics", _metrics_table(labels, run_dirs, rows, coverage)),
            ("config", "Config differences", _config_table(labels, configs)),
            ("runs", "Runs", _runs_table(labels, run_dirs)),
        ]
        page = self_contained_page(
            f"ganlab compare: {', '.join(labels)}",
            f"{len(labels)} runs; one colour per run in every figure.",
            sections,
        )
    with writing(out, "the run directories are unchanged"):
        atomic_write_bytes(out, page.encode())
    return out


def run_labels(run_dirs: list[Path]) -> list[str]:
    """A short name per run: its folder name, or the path as given where two names clash."""
    names = [d.name or str(d) for d in run_dirs]
    return [n if names.count(n) == 1 else str(d) for n, d in zip(names, run_dirs, strict=True)]


def flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """A nested config dict -> {"a.b": value}, lists kept whole."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_differences(configs: list[dict]) -> dict[str, list]:
    """The keys whose values are not the same in every config, each with its values in order."""
    flat = [flatten(c) for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    missing = object()
    diff = {}
    for key in keys:
        values = [f.get(key, missing) for f in flat]
        if any(v != values[0] for v in values[1:]):
            diff[key] = ["(absent)" if v is missing else v for v in values]
    return diff


def _curves_html(rows: dict[str, list], coverage: dict[str, list], tmp: Path) -> str:
    if not any(rows.values()):
        return '<p class="note">No run has rows in metrics.csv yet.</p>'
    drawn = [(panel, rows) for panel in CURVE_PANELS]
    if any(coverage.values()):  # only the runs on a mixture have a coverage.csv to draw
        drawn.append((COVERAGE_PANEL, {name: c for name, c in coverage.items() if c}))
    images = (
        img_html(save_overlaid_curves(tmp / f"{p.name}.png", runs, p), f"{p.alt} of every run")
        for p, runs in drawn
    )
    return f'<div class="figs">{"".join(images)}</div>'


def _samples_html(labels: list[str], run_dirs: list[Path]) -> str:
    """Each run's newest samples/step-*.png (the monitor writes one at the last step)."""
    e = html.escape
    cells = []
    for label, d in zip(labels, run_dirs, strict=True):
        figures = sorted((d / "samples").glob("step-*.png"))
        if figures:
            step = int(figures[-1].stem.split("-")[1])
            cells.append(img_html(figures[-1], f"{label} samples", f"{label}: step {step}"))
        else:
            cells.append(f'<figure><p class="note">{e(label)}: no sample figure</p></figure>')
    return f'<div class="figs side">{"".join(cells)}</div>'


def _metrics_table(labels, run_dirs, rows, coverage) -> str:
    """Rows: metrics; columns: runs. A run without a number gets an empty cell; every number
    says where it comes from (training's log, its coverage checks, or `ganlab eval`)."""
    table: dict[str, dict[str, str]] = {}

    def put(metric: str, label: str, text: str) -> None:
        table.setdefault(metric, {})[label] = text

    for label, d in zip(labels, run_dirs, strict=True):
        if rows[label]:
            last = rows[label][-1]
            for key, name in _LAST_ROW:
                if last.get(key) not in (None, ""):
                    put(f"{name} (training log, last row)", label, format_value(last[key]))
        evaluations = [(path, read_json(path) or {}) for path in sorted(d.glob("metrics*.json"))]
        shown = _put_mode_coverage(label, coverage[label], evaluations, put)
        for path, doc in evaluations:
            for metric, m in doc.get("metrics", {}).items():
                if isinstance(m, dict) and (path, metric) != shown:
                    value, floor = metric_texts(metric, m)
                    where = _evaluated(doc)
                    put(f"{metric} ({path.name})", label, f"{value} (floor {floor}; {where})")
        for path in sorted(d.glob("parzen*.json")):
            doc = read_json(path) or {}
            if "mean_ll" in doc:  # a single result (parzen_curve.json holds many)
                put(
                    f"Parzen log-likelihood, nats ({path.name})",
                    label,
                    f"{plus_minus(doc['mean_ll'], doc.get('se'))} ({_evaluated(doc)})",
                )
    if not table:
        return '<p class="note">No metrics in any run.</p>'
    evaluated = any(any(d.glob("metrics*.json")) for d in run_dirs)
    return table_html(
        ["metric", *labels],
        [[metric, *(cells.get(label, "") for label in labels)] for metric, cells in table.items()],
        numeric=True,
    ) + (
        '<p class="note">Values from <code>ganlab eval --metrics</code> show their '
        "real-vs-real floor in brackets. Mode coverage is that of <code>ganlab eval</code> "
        "where the run has one (2,500 fresh samples by default), else the last check training "
        "made at a sample figure.</p>"
        if evaluated or any(coverage.values())
        else ""
    )


def _percent(share) -> str:
    return "n/a" if share in (None, "") else f"{format_value(100 * float(share))}%"


def _evaluated(doc: dict) -> str:
    step = doc.get("step")
    return "ganlab eval" + (f" at step {format_value(step)}" if step is not None else "")


def _put_mode_coverage(label, checks: list[dict], evaluations, put) -> tuple | None:
    """Modes covered, the high-quality share and KL of one run, from one source: its newest
    `ganlab eval` (a fresh draw of the protocol's 2,500 samples) when it has one, else the
    last training-time check (coverage.csv); two sources side by side would disagree, since
    each draws its own samples. Returns the (path, metric) shown, so that it is not repeated.
    """
    scored = [
        # of one step, the latest written: `ganlab eval` keeps earlier ones as metrics-N.json
        (doc.get("step", -1), path.stat().st_mtime_ns, path, doc)
        for path, doc in evaluations
        if isinstance(doc.get("metrics", {}).get("mode_coverage"), dict)
    ]
    last_check = checks[-1] if checks else None
    if scored:
        step, _, path, doc = max(scored, key=lambda t: (t[0], t[1]))
        m, shown = doc["metrics"]["mode_coverage"], (path, "mode_coverage")
        where = _evaluated(doc)
        trained = last_check and float(last_check["step"]) > float(step)
        if trained:  # the run went on after this evaluation: say so beside its numbers
            where += f"; training went on to step {format_value(last_check['step'])}"
    elif last_check:
        m, shown = last_check, None
        where = f"training-time check at step {format_value(last_check['step'])}"
    else:
        return None
    floor = m.get("floor") if isinstance(m.get("floor"), dict) else {}
    rows = [
        (
            "modes covered",
            lambda c: f"{format_value(c['modes_covered'])}/{format_value(c['modes'])}",
        ),
        ("high-quality share (within 3 std of a mode)", lambda c: _percent(c.get("high_quality"))),
        ("KL of the mode histogram to uniform, nats", lambda c: format_value(c.get("kl"))),
    ]
    for name, text in rows:
        beside = f"; real-vs-real floor {text(floor)}" if floor else ""
        put(name, label, f"{text(m)} ({where}{beside})")
    return shown


def _config_table(labels: list[str], configs: list[dict]) -> str:
    diff = config_differences(configs)
    if not diff:
        return '<p class="note">The runs have the same config.</p>'
    what = "key whose value differs" if len(diff) == 1 else f"{len(diff)} keys whose values differ"
    return f'<p class="note">Only the {what} between the runs.</p>' + table_html(
        ["key", *labels], [[k, *(verbatim(v) for v in vs)] for k, vs in diff.items()]
    )


def _runs_table(labels: list[str], run_dirs: list[Path]) -> str:
    keys = ["seed", "ganlab", "torch", "git_commit", "started", "command", "device", "world_size"]
    metas = [read_meta(d) for d in run_dirs]
    rows = [["path", *map(str, run_dirs)]]
    rows += [[k, *(verbatim(m.get(k, "")) for m in metas)] for k in keys]
    return table_html(["", *labels], rows)
