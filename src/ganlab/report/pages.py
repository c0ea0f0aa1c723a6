"""A run's HTML: index.html (`write_index`), the self-contained page helpers (images as data:
URIs, tables, `check_page_out`), the doctor's findings, and the HTML of metrics.json and
parzen.json."""

from __future__ import annotations

import html
import re
from pathlib import Path

import yaml
from pydantic import BaseModel

from ganlab.config import OBJECTIVES, Config, dump_config
from ganlab.files import atomic_write_bytes
from ganlab.report.format import (
    COUNT_KEYS,
    format_value,
    metric_texts,
    plus_minus,
    score_rows,
    verbatim,
)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; margin-top: 1.6em; }}
body {{ padding: 0 1em; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.figs img {{ max-width: min(520px, 100%); }}
.strip img {{ width: 180px; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 0.9em; }}
pre {{ background: #f6f6f6; padding: 8px; font-size: 0.85em; overflow-x: auto; }}
.doctor {{ border-left: 4px solid #c0392b; padding: 0 1em; background: #fdf3f2; }}
.doctor.ok {{ border-left-color: #27ae60; background: #f2fbf5; }}
.note {{ color: #555; font-size: 0.9em; }}
figure {{ margin: 0; }} figcaption {{ font-size: 0.85em; color: #555; text-align: center; }}
</style></head><body>
<h1>{title}</h1>
<p>{summary}</p>
{findings}
{scores}
<h2>Samples</h2><div class="figs"><img src="samples.png" alt="final samples"></div>
<h2>Training curves</h2>
<div class="figs"><img src="losses.png" alt="losses"><img src="discriminator.png" alt="D outputs">
<img src="grad_norms.png" alt="gradient norms"></div>
{theory}
<h2>Samples during training</h2><div class="figs strip">{strip}</div>
<h2>Run</h2><table>{meta}</table>
<h2>Resolved config</h2>{config}
</body></html>
"""


def write_index(
    run_dir: Path,
    cfg: Config,
    meta: dict,
    last: dict | None,
    scores: dict | None,
    theory: list[str] = (),
    findings: list[dict] | None = None,
) -> Path:
    """index.html of a run: the doctor's findings, final samples, curves, samples over time,
    provenance and config."""
    run_dir = Path(run_dir)
    e = html.escape
    score_html = ""
    if scores:
        step = f" at step {format_value(last['step'])}" if last else ""
        score_html = (
            "<h2>Scores</h2>"
            f'<p class="note">Of 2,500 samples of the final generator{step}, drawn when '
            "training ended (the numbers <code>ganlab eval RUN</code> and <code>Run.scores</code> "
            "give for the same G and seed; coverage.csv holds the checks made during training)."
            "</p>" + table_html(["score", "value", "what it is"], score_rows(scores))
        )
    strip = "".join(
        f'<figure><img src="samples/{p.name}" alt="{p.stem}">'
        f"<figcaption>{p.stem}</figcaption></figure>"
        for p in sorted((run_dir / "samples").glob("step-*.png"))
    )
    meta_rows = "".join(
        f"<tr><th>{e(k)}</th><td>{e(verbatim(v))}</td></tr>" for k, v in meta.items()
    )
    page = _PAGE.format(
        title=e(f"ganlab run {run_dir.name}"),
        summary=e(last_row_summary(last)),
        findings=findings_html(findings),
        scores=score_html,
        strip=strip,
        meta=meta_rows,
        config=config_html(cfg),
        theory=(
            '<h2>Theory, on this run</h2><div class="figs">'
            + "".join(f'<img src="{e(name)}" alt="{e(name)}">' for name in theory)
            + "</div>"
        )
        if theory
        else "",
    )
    path = run_dir / "index.html"
    atomic_write_bytes(path, page.encode())
    return path


# "kind1/kind2: ..." at the head of a field's description (or of a clause after "; ") says
# which kinds of its section (data.kind, generator.kind, an optimiser's name) or which
# objectives the field applies to; config_sections writes them that way.
_APPLIES_TO = re.compile(r"(?:^|; )([a-z0-9_]+(?:/[a-z0-9_]+)*): ")


def _applies(field, chosen: set[str], choices: set[str]) -> bool:
    named = [k for m in _APPLIES_TO.findall(field.description or "") for k in m.split("/")]
    named = [k for k in named if k in choices]
    return not named or bool(chosen.intersection(named))


def applicable_config(cfg: Config) -> dict:
    """The resolved config less the keys that do not apply to this run: data keys of other
    data kinds, model keys of other model kinds, optimiser keys of other optimisers, sections
    of other objectives (a ring run has no `mean` or `grid_size`, a DCGAN D no `pieces`)."""
    full = cfg.model_dump(mode="json")
    out = {}
    for name, value in full.items():
        section = getattr(cfg, name)
        if not isinstance(section, BaseModel):
            out[name] = value
            continue
        chosen = {cfg.objective, str(getattr(section, "kind", getattr(section, "name", "")))}
        choices = set(OBJECTIVES)
        for selector in ("kind", "name"):
            if selector in type(section).model_fields:
                choices |= set(type(section).model_fields[selector].annotation.__args__)
        kept = {
            k: v
            for k, v in value.items()
            if _applies(type(section).model_fields[k], chosen, choices)
        }
        if kept:
            out[name] = kept
    return out


def config_html(cfg: Config) -> str:
    """The keys of the config that apply to the run as YAML, and the whole of config.yaml
    folded away below them."""
    e = html.escape
    shown = yaml.safe_dump(applicable_config(cfg), sort_keys=False)
    return (
        '<p class="note">The keys that apply to this run (its data kind, models, optimisers '
        "and objective).</p>"
        f"<pre>{e(shown)}</pre><details><summary>Every key (config.yaml)</summary>"
        f"<pre>{e(dump_config(cfg))}</pre></details>"
    )


def findings_html(findings: list[dict] | None) -> str:
    """The doctor's findings (findings.json) as the head of a run's page: kind, first step,
    advice and evidence of each; a line saying none was found; nothing for a run without
    findings.json (made before the doctor, or with doctor: false)."""
    e = html.escape
    if findings is None:
        return ""
    if not findings:
        return (
            '<div class="doctor ok"><h2>Doctor</h2><p>No finding: no saturation, overpowering '
            "D, mode collapse, oscillation, divergence, memorisation, unfinished run or poor "
            "fit was seen "
            "(<code>ganlab doctor RUN</code> checks again).</p></div>"
        )
    items = []
    for f in findings:
        evidence = ", ".join(f"{k} {format_value(v)}" for k, v in f.get("evidence", {}).items())
        items.append(
            f"<li><b>{e(str(f['kind']))}</b> from step {e(format_value(f['step']))}: "
            f'{e(str(f.get("advice", "")))}<br><span class="note">evidence: {e(evidence)}'
            "</span></li>"
        )
    return (
        '<div class="doctor"><h2>Doctor: what went wrong</h2><ul>' + "".join(items) + "</ul></div>"
    )


def last_row_summary(last: dict | None) -> str:
    """One sentence of the last metrics.csv row: step, both losses, mean D(x) and D(G(z))."""
    if not last:
        return "No metrics logged yet."
    f = format_value
    return (
        f"Step {f(last['step'])}: D loss {f(last['d_loss'])}, G loss {f(last['g_loss'])}, "
        f"mean D(x) {f(last['d_real'])}, mean D(G(z)) {f(last['d_fake'])}."
    )


PAGE_MARKER = '<meta name="generator" content="ganlab report">'


_SELF_CONTAINED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{marker}
<link rel="icon" href="data:,">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222;
       padding: 0 1em; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.2em; margin-top: 1.8em;
      border-bottom: 1px solid #ddd; }}
h3 {{ font-size: 1em; }}
nav a {{ margin-right: 1em; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }}
.figs img {{ max-width: 560px; width: 100%; }}
.strip figure {{ margin: 0; }} .strip img {{ width: 200px; }}
.side figure {{ margin: 0; flex: 1 1 300px; }} .side img {{ max-width: 100%; }}
figcaption {{ font-size: 0.85em; color: #555; text-align: center; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 0.9em;
         vertical-align: top; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.note {{ color: #555; font-size: 0.9em; }}
code, .hash {{ font-family: ui-monospace, monospace; font-size: 0.85em; word-break: break-all; }}
pre {{ background: #f6f6f6; padding: 8px; font-size: 0.85em; overflow-x: auto; }}
.doctor {{ border-left: 4px solid #c0392b; padding: 0 1em; background: #fdf3f2; }}
.doctor.ok {{ border-left-color: #27ae60; background: #f2fbf5; }}
</style></head><body>
<h1>{title}</h1>
{summary}
<nav>{nav}</nav>
{sections}
</body></html>
"""


def data_uri(path: Path) -> str:
    """A PNG file as a data: URI, to embed it in a page that needs no other file."""
    import base64

    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def img_html(path: Path, alt: str, caption: str = "") -> str:
    """An <img> of a PNG embedded as a data: URI, in a <figure> when captioned."""
    e = html.escape
    img = f'<img src="{data_uri(path)}" alt="{e(alt)}">'
    return f"<figure>{img}<figcaption>{e(caption)}</figcaption></figure>" if caption else img


def table_html(header: list[str] | None, rows: list[list], numeric: bool = False) -> str:
    """An HTML table of escaped cells; the first cell of each row is a row heading."""
    e = html.escape
    head = "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>" if header else ""
    cls = ' class="num"' if numeric else ""
    body = "".join(
        "<tr>"
        + f"<th>{e(str(r[0]))}</th>"
        + "".join(f"<td{cls}>{e(str(c))}</td>" for c in r[1:])
        + "</tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def self_contained_page(
    title: str, summary: str, sections: list[tuple[str, str, str]], head: str = ""
) -> str:
    """A whole page: title, summary line, `head` (HTML: the doctor's findings), a table of
    contents and (id, heading, html) sections."""
    e = html.escape
    nav = " ".join(f'<a href="#{e(i)}">{e(h)}</a>' for i, h, _ in sections)
    body = "\n".join(f'<section id="{e(i)}"><h2>{e(h)}</h2>\n{b}</section>' for i, h, b in sections)
    return _SELF_CONTAINED.format(
        marker=PAGE_MARKER,
        title=e(title),
        summary=(f"<p>{e(summary)}</p>" if summary else "") + head,
        nav=nav,
        sections=body,
    )


def is_ganlab_page(path: Path) -> bool:
    """Whether a file is a page `ganlab report` or `ganlab compare` wrote (its marker tag)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return PAGE_MARKER.encode() in head


def check_page_out(path: Path, overwrite: bool) -> None:
    """Refuse to write a page over a file that is not one of ours, unless asked to.

    Raises:
        RunDirError: `path` is a folder, its folder does not exist, or it is some other file
            and overwrite is False.
    """
    from ganlab.errors import RunDirError

    path = Path(path)
    if path.is_dir():
        raise RunDirError(f"--out {path} is a folder; give a file name such as {path}/report.html")
    if not path.parent.is_dir():
        raise RunDirError(
            f"cannot write {path}: folder {path.parent} does not exist; create it first"
        )
    if path.exists() and not overwrite and not is_ganlab_page(path):
        raise RunDirError(
            f"{path} exists and is not a ganlab report; pass --overwrite to replace it or "
            "choose another --out"
        )


def metrics_json_html(name: str, doc: dict) -> str:
    """metrics.json (from `ganlab eval --metrics`) as a provenance list and one table:
    each metric's value, real-vs-real floor, sample counts, details and definition."""
    e = html.escape
    facts = [
        ["file", name],
        *([["asked with", doc["options"]]] if "options" in doc else []),
        ["step", doc.get("step")],
        ["seed of G's noise", doc.get("seed")],
        ["generated samples", doc.get("samples")],
    ]
    for key in ("dataset", "real", "floor"):
        if key in doc:
            facts.append([key, doc[key]])
    fx = doc.get("feature_extractor")
    if fx:
        accuracy = format_value(fx.get("test_accuracy"))
        facts.append(
            [
                "feature extractor",
                f"{fx.get('name')}, {fx.get('layer')}, dim {fx.get('dim')}, "
                f"test accuracy {accuracy}",
            ]
        )
        facts.append(["extractor SHA-256", fx.get("sha256")])
    ix = doc.get("inception_extractor")
    if ix:
        facts.append(["Inception network", f"{ix.get('name')}, {ix.get('layer')}"])
        facts.append(["Inception weights", f"{ix.get('file')}, SHA-256 {ix.get('sha256')}"])
    rows = []
    for metric, m in doc.get("metrics", {}).items():
        if not isinstance(m, dict):
            continue
        value, floor = metric_texts(metric, m)
        counts = ", ".join(f"{k} {m[k]}" for k in COUNT_KEYS if k in m)
        details = ", ".join(
            f"{k} {format_value(v)}"
            for k, v in m.items()
            if k in ("k", "eps", "subsets", "subset_size", "note", "floor_note") and v is not None
        )
        rows.append([metric, value, floor, counts, details, m.get("definition", "")])
    header = ["metric", "value", "real-vs-real floor", "samples", "details", "definition"]
    return (
        table_html(None, facts)
        + table_html(header, rows)
        + (f'<p class="note">{e(name)}: no metrics in the file.</p>' if not rows else "")
    )


def parzen_json_html(name: str, doc: dict) -> str:
    """parzen.json (from `ganlab eval --parzen`): the test log-likelihood and how it was got."""
    rows = [
        ["file", name],
        *([["asked with", doc["options"]]] if "options" in doc else []),
        [
            "Parzen log-likelihood (nats)",
            f"{plus_minus(doc.get('mean_ll'), doc.get('se'))} (standard error over test points)",
        ],
        ["sigma (chosen on validation)", format_value(doc.get("sigma"))],
        ["data", doc.get("dataset")],
        ["step", doc.get("step")],
        [
            "samples / validation / test points",
            f"{doc.get('samples')} / {doc.get('valid')} / {doc.get('test')}",
        ],
    ]
    return table_html(None, rows)


def parzen_results_html(name: str, doc: dict) -> str | None:
    """A file of several Parzen results (not one `ganlab eval --parzen`): benchmarks'
    parzen_curve.json ("rows": one per checkpoint) or a {name: result} file such as
    parzen_caveat_*.json. None when it holds no result with a mean_ll: nothing to show.
    """
    if isinstance(doc.get("rows"), list):
        found = [(f"step {format_value(r.get('step'))}", r) for r in doc["rows"] if _scored(r)]
    else:
        found = [(str(k), r) for k, r in doc.items() if _scored(r)]
    if not found:
        return None
    table = [
        [label, plus_minus(r["mean_ll"], r.get("se")), format_value(r.get("sigma"))]
        for label, r in found
    ]
    best = doc.get("best")
    note = ""
    if _scored(best) and isinstance(best.get("select_ll"), int | float):
        note = (  # selected on validation; its test score reported (issue 21 part 5)
            f"selected on validation: step {format_value(best['step'])}, validation "
            f"{plus_minus(best['select_ll'], best.get('select_se'))}, test "
            f"{plus_minus(best['mean_ll'], best.get('se'))} nats. "
        )
    elif _scored(best):  # a file of before issue 21 part 5: selected on test
        note = (
            f"best: step {format_value(best['step'])}, "
            f"{plus_minus(best['mean_ll'], best.get('se'))} nats (selected on test). "
        )
    data = f" on {html.escape(str(doc['dataset']))}" if doc.get("dataset") else ""
    return table_html(["", "Parzen log-likelihood (nats, +- SE)", "sigma"], table) + (
        f'<p class="note">{note}{len(found)} results{data} in {html.escape(name)}, the '
        "paper's protocol each.</p>"
    )


def _scored(r) -> bool:
    return isinstance(r, dict) and isinstance(r.get("mean_ll"), int | float)
