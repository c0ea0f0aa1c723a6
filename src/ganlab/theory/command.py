"""`ganlab theory`: run the items, write one PNG per item, theory.json and index.html."""

from __future__ import annotations

import html
import importlib
import json
import platform
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ganlab.errors import ConfigError, RunDirError
from ganlab.files import atomic_write_bytes
from ganlab.report.format import format_value
from ganlab.version import __version__

# name -> "module:function"; each function is run_<item>(out: Path, quick: bool) -> ItemResult.
ITEMS: dict[str, str] = {
    "optimal_discriminator": "ganlab.theory.optimal_discriminator:run_optimal_discriminator",
    "virtual_criterion": "ganlab.theory.virtual_criterion:run_virtual_criterion",
    "figure1": "ganlab.theory.figure1:run_figure1",
    "saturation": "ganlab.theory.saturation:run_saturation",
    "loss_objectives": "ganlab.theory.loss_objectives:run_loss_objectives",
    "kl_directions": "ganlab.theory.divergence_fits:run_kl_directions",
    "xy_game": "ganlab.theory.xy_game:run_xy_game",
    "mode_collapse": "ganlab.theory.mode_collapse:run_mode_collapse",
    "dirac_gan": "ganlab.theory.dirac_gan:run_dirac_gan",
    "objectives": "ganlab.theory.objectives:run_objectives",
}


def item_function(name: str):
    """The run_<item> function of a theory item, imported on demand."""
    module, _, function = ITEMS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def run_theory(
    out: Path,
    only: list[str] | None = None,
    quick: bool = False,
    overwrite: bool = False,
    quiet: bool = True,
) -> dict:
    """Run the theory items into `out`; returns the contents of theory.json.

    Raises:
        ConfigError: an unknown item name.
        RunDirError: `out` exists (and `overwrite` is not set) or cannot be written.
    """
    names = list(ITEMS) if not only else only
    unknown = [n for n in names if n not in ITEMS]
    if unknown:
        raise ConfigError(f"unknown theory item '{unknown[0]}'; choose from {', '.join(ITEMS)}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise RunDirError(f"{out} already exists; pass --overwrite to replace it or choose --out")
    if out.exists() and not (out / "theory.json").exists() and any(out.iterdir()):
        raise RunDirError(f"{out} is not a ganlab theory folder; refusing to write into it")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create {out} ({e.strerror}); choose another --out") from None
    previous = read_json(out / "theory.json") if only else {}
    results = dict(previous.get("items", {}))
    with torch.random.fork_rng(devices=[]):
        for name in tqdm(names, desc="theory", unit="item", disable=quiet):
            t0 = time.perf_counter()
            result = item_function(name)(out, quick=quick)
            result["seconds"] = round(time.perf_counter() - t0, 2)
            results[name] = result
    report = {
        "ganlab": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "quick": quick,
        "items": {n: results[n] for n in ITEMS if n in results},
    }
    atomic_write_bytes(out / "theory.json", json.dumps(report, indent=1, default=float).encode())
    write_theory_index(out, report)
    return report


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ganlab theory</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }}
section {{ border-top: 1px solid #ddd; padding: 0.5em 0 1em; }}
.eq {{ font-family: ui-monospace, monospace; background: #f6f6f6; padding: 6px 10px;
       white-space: pre-wrap; }}
.item {{ display: flex; gap: 20px; align-items: flex-start; flex-wrap: wrap; }}
.text {{ flex: 1 1 320px; }} .figs {{ flex: 2 1 600px; }} .figs img {{ max-width: 100%; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
td, th {{ border: 1px solid #ccc; padding: 2px 6px; text-align: left; }}
</style></head><body>
<h1>The theory of Goodfellow et al. (2014), measured</h1>
<p>Each section shows a claim of the paper, the equation it checks, the figure that shows it
and the numbers behind it (also in <a href="theory.json">theory.json</a>).
ganlab {version}, torch {torch}{quick}.</p>
{sections}
</body></html>
"""


def _number_text(value) -> str:
    """A theory.json number as the pages show numbers (format_value: 4 significant digits),
    a nested dict in parentheses so that its keys are not read as the outer ones."""
    if isinstance(value, dict):
        return ", ".join(
            f"{k} ({_number_text(v)})" if isinstance(v, dict) else f"{k} {format_value(v)}"
            for k, v in value.items()
        )
    return format_value(value)


def _numbers_table(numbers: dict) -> str:
    e = html.escape
    rows = []
    for key, value in numbers.items():
        text = _number_text(value)
        if len(text) > 120:
            text = text[:117] + "..."
        rows.append(f"<tr><th>{e(str(key))}</th><td>{e(text)}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def write_theory_index(out: Path, report: dict) -> Path:
    """index.html: each item's figures beside its equation, claim and numbers."""
    e = html.escape
    sections = []
    for name, item in report["items"].items():
        figs = "".join(f'<img src="{e(f)}" alt="{e(f)}">' for f in item.get("figures", []))
        sections.append(
            f'<section id="{e(name)}"><h2>{e(item.get("title", name))}</h2><div class="item">'
            f'<div class="text"><div class="eq">{e(item.get("equation", ""))}</div>'
            f"<p>{e(item.get('claim', ''))}</p>{_numbers_table(item.get('numbers', {}))}"
            f"<p><small>{e(name)}: {item.get('seconds', '?')} s</small></p></div>"
            f'<div class="figs">{figs}</div></div></section>'
        )
    page = _PAGE.format(
        version=e(report["ganlab"]),
        torch=e(report["torch"]),
        quick=" (quick mode)" if report.get("quick") else "",
        sections="\n".join(sections),
    )
    path = out / "index.html"
    atomic_write_bytes(path, page.encode())
    return path


__all__ = ["ITEMS", "item_function", "run_theory", "write_theory_index"]
