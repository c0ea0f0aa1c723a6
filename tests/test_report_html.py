"""`ganlab report` and `ganlab compare`: one self-contained HTML file each, checked as text and
rendered in headless Chromium (Debian's /usr/bin/chromium through Playwright; those tests skip
when either is missing). Screenshots go to $GANLAB_TEST_ARTIFACTS (default tests/artifacts/).
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import pytest
import torch
from browsing import SMALL_RING, artifacts

from ganlab import runs
from ganlab.cli import main
from ganlab.data import distribution_of
from ganlab.report import compare, pages, run_report
from ganlab.report import figures as report_figures
from ganlab.report.compare import config_differences
from ganlab.report.figures import COVERAGE_PANEL, CURVE_PANELS
from ganlab.report.format import format_value
from ganlab.report.pages import PAGE_MARKER
from ganlab.runs import api

REPORT_HEADINGS = [
    "Doctor",  # the doctor's findings head the page (here: none)
    "Final samples",
    "Training curves",
    "The discriminator over the data space",
    "Mode coverage over training",
    "Samples during training",
    "Metrics",
    "Run and environment",
    "Resolved config",
]
COMPARE_HEADINGS = ["Training curves", "Final samples", "Metrics", "Config differences", "Runs"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two small ring runs differing in seed and G loss, the first scored by `ganlab eval`."""
    root = tmp_path_factory.mktemp("report")
    a, b = root / "ring-a", root / "ring-b"
    assert main(["train", "ring8", "--out", str(a), *SMALL_RING]) == 0
    assert main(["train", "ring8", "--out", str(b), *SMALL_RING, "--set", "seed=1",
                 "--set", "g_loss=minimax"]) == 0  # fmt: skip
    assert main(["eval", str(a), "--metrics", "coverage", "--samples", "500", "--quiet"]) == 0
    return a, b


def cli(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(result, *needles: str) -> None:
    """Exit 2, one `ganlab: error:` line holding every needle, no traceback."""
    code, out, err = result
    assert "Traceback" not in out + err
    assert code == 2, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganlab: error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def assert_self_contained(page: str) -> None:
    """Every src is a data: URI and every href a data: URI or an anchor in the page."""
    sources = re.findall(r'\bsrc="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    links = re.findall(r'\bhref="([^"]*)"', page)
    assert all(h.startswith(("#", "data:")) for h in links), links
    assert "<script" not in page


def headings(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", page)


# ---------------------------------------------------------------------------------------------
# The pages as text


def test_report_embeds_every_section_and_the_eval_provenance(two_runs, capsys):
    a, _ = two_runs
    code, out, _ = cli(capsys, "report", a)
    assert code == 0 and str(a / "report.html") in out
    page = (a / "report.html").read_text()
    assert_self_contained(page)
    assert PAGE_MARKER in page
    assert headings(page) == REPORT_HEADINGS
    # one image each: final samples, 3 curves, D map, coverage; 3 sample figures (100/200/300)
    assert page.count("<img ") == 9
    assert page.count("<figcaption>step ") == 3
    # metrics.json of `ganlab eval --metrics coverage`: value, floor, definition, counts, seed
    assert "ganlab eval --metrics: metrics.json" in page
    assert "mode_coverage" in page and "real-vs-real floor" in page
    assert "VEEGAN protocol" in page and "n_fake 500" in page and "seed of G&#x27;s noise" in page
    # meta.json and the resolved config
    for needle in ("git_commit", "torch", "command", "objective: nonsaturating"):
        assert needle in page
    assert "modes_covered" in page  # the final generator's toy scores


def test_report_reruns_over_its_own_page_but_not_over_another_file(two_runs, tmp_path, capsys):
    a, _ = two_runs
    out = tmp_path / "page.html"
    assert cli(capsys, "report", a, "--out", out)[0] == 0
    assert cli(capsys, "report", a, "--out", out)[0] == 0  # our own page: replaced
    other = tmp_path / "notes.html"
    other.write_text("<p>my notes</p>")
    assert_refused(cli(capsys, "report", a, "--out", other), "not a ganlab report", "--overwrite")
    assert other.read_text() == "<p>my notes</p>"
    assert cli(capsys, "report", a, "--out", other, "--overwrite")[0] == 0
    assert PAGE_MARKER in other.read_text()
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


@pytest.mark.parametrize(
    "args, needles",
    [
        (["report", "{missing}"], ["does not exist"]),
        (["report", "{tmp}"], ["not a ganlab run directory"]),
        (["report", "{a}", "--out", "{tmp}/no/such/dir/r.html"], ["does not exist"]),
        (["report", "{a}", "--out", "{tmp}"], ["is a folder"]),
        (["compare", "{a}"], ["two or more run directories"]),
        (["compare", "{a}", "{missing}"], ["does not exist"]),
    ],
)
def test_bad_report_and_compare_input_is_one_line(two_runs, tmp_path, capsys, args, needles):
    a, _ = two_runs
    where = {"a": a, "tmp": tmp_path, "missing": tmp_path / "missing"}
    assert_refused(cli(capsys, *(x.format(**where) for x in args)), *needles)


def test_report_of_a_1d_run_has_the_figure_1_view(tiny_run, capsys):
    code, _, _ = cli(capsys, "report", tiny_run)
    assert code == 0
    page = (tiny_run / "report.html").read_text()
    assert_self_contained(page)
    assert "The discriminator over the data space" in headings(page)
    assert "Proposition 1" in page and "Mode coverage over training" not in headings(page)


def test_report_of_a_run_without_checkpoint_keeps_its_logs(tiny_run, capsys):
    shutil.rmtree(tiny_run / "checkpoints")
    assert cli(capsys, "report", tiny_run)[0] == 0
    page = (tiny_run / "report.html").read_text()
    assert "No generator to sample: no checkpoint in" in page
    assert "Training curves" in headings(page) and "<img " in page


def test_compare_tables_show_metrics_and_only_differing_config_keys(two_runs, tmp_path, capsys):
    a, b = two_runs
    out = tmp_path / "compare.html"
    code, stdout, _ = cli(capsys, "compare", a, b, "--out", out)
    assert code == 0 and str(out) in stdout
    page = out.read_text()
    assert_self_contained(page)
    assert headings(page) == COMPARE_HEADINGS
    assert page.count("<img ") == 4 + 2  # losses, D, grad norms, coverage; two sample figures
    config = page[page.index('id="config"') : page.index('id="runs"')]
    assert "<th>seed</th>" in config and "<th>objective</th>" in config
    assert "<th>steps</th>" not in config  # the same in both runs
    metrics = page[page.index('id="metrics"') : page.index('id="config"')]
    assert "<th>ring-a</th><th>ring-b</th>" in metrics
    assert "modes covered" in metrics and "ganlab eval at step 300" in metrics  # only run a
    assert "Only the 2 keys whose values differ" in config
    # the curves of report.CURVE_PANELS, as on each run's own page, and coverage.csv's
    curves = page[page.index('id="curves"') : page.index('id="samples"')]
    alts = re.findall(r'alt="([^"]*)"', curves)
    assert alts == [f"{p.alt} of every run" for p in (*CURVE_PANELS, COVERAGE_PANEL)]


def metric_cells(page: str, metric: str) -> list[str]:
    """The cells of one row of compare.html's metrics table, one per run."""
    metrics = page[page.index('id="metrics"') : page.index('id="config"')]
    row = re.search(rf"<tr><th>{re.escape(metric)}</th>(.*?)</tr>", metrics).group(1)
    return re.findall(r"<td[^>]*>(.*?)</td>", row)


def test_compare_takes_mode_coverage_from_ganlab_eval_and_says_where_each_comes_from(
    two_runs, tmp_path, capsys
):
    # Run a was scored by `ganlab eval --metrics coverage`, run b only by training's checks:
    # a's numbers are its evaluation's (not coverage.csv's last row, a different draw), b's
    # the last check, and each cell says which.
    import json

    from ganlab.runfiles import read_csv

    a, b = two_runs
    out = tmp_path / "compare.html"
    assert cli(capsys, "compare", a, b, "--out", out)[0] == 0
    page = out.read_text()
    ev = json.loads((a / "metrics.json").read_text())["metrics"]["mode_coverage"]
    check = read_csv(b / "coverage.csv")[-1]
    modes, share = (
        metric_cells(page, "modes covered"),
        metric_cells(page, "high-quality share (within 3 std of a mode)"),
    )
    floor = ev["floor"]
    assert modes[0] == (
        f"{ev['modes_covered']}/8 (ganlab eval at step 300; real-vs-real floor "
        f"{floor['modes_covered']}/8)"
    )
    assert modes[1] == f"{check['modes_covered']}/8 (training-time check at step 300)"
    assert share[0].startswith(f"{format_value(100 * ev['high_quality'])}% (ganlab eval")
    assert share[1] == (
        f"{format_value(100 * float(check['high_quality']))}% (training-time check at step 300)"
    )
    # the evaluation is not shown a second time in a row of its own
    assert "mode_coverage (metrics.json)" not in page


def test_compare_config_note_counts_in_words():
    from ganlab.report import compare

    one = compare._config_table(["a", "b"], [{"k": 1}, {"k": 2}])
    assert "Only the key whose value differs between the runs." in one
    two = compare._config_table(["a", "b"], [{"k": 1, "m": 1}, {"k": 2, "m": 2}])
    assert "Only the 2 keys whose values differ between the runs." in two


def test_compare_legends_are_readable_at_the_page_width(tmp_path, monkeypatch):
    # The page shows a figure at most 560 px wide (pages.py's .figs img). A legend's text,
    # drawn at LEGEND_PT and 100 dpi, then scaled to that width, must stay >= 10 px tall.
    from PIL import Image

    seen = []
    save = report_figures.save_figure

    def spy(fig, path):
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None:
                seen.extend(t.get_fontsize() for t in legend.get_texts())
        return save(fig, path)

    monkeypatch.setattr(report_figures, "save_figure", spy)
    rows = [{"step": s, "d_loss": 1.0 + s / 100, "g_loss": 0.5} for s in range(0, 100, 10)]
    runs = {"a-long-run-name": rows, "another-long-run-name": rows}
    path = report_figures.save_overlaid_curves(tmp_path / "losses.png", runs, CURVE_PANELS[0])
    width = Image.open(path).size[0]
    assert seen
    shown_px = min(seen) * 100 / 72 * min(1.0, 560 / width)
    assert shown_px >= 10, (min(seen), width)


@pytest.mark.parametrize("n", [0, 1])
def test_curves_of_too_few_rows_say_so(tmp_path, monkeypatch, n):
    # one row is a dot without a marker: the figure would look empty, so it says why
    texts = []
    save = report_figures.save_figure

    def spy(fig, path):
        texts.extend(t.get_text() for ax in fig.axes for t in ax.texts)
        for ax in fig.axes:  # beside other runs' curves, the note is the legend's title
            legend = ax.get_legend()
            if legend is not None and legend.get_title().get_text():
                texts.append(legend.get_title().get_text())
        return save(fig, path)

    monkeypatch.setattr(report_figures, "save_figure", spy)
    row = {"step": 300, "d_loss": 1.0, "g_loss": 0.5, "d_real": 0.6, "d_fake": 0.4,
           "g_grad_norm": 1.0, "d_grad_norm": 1.0}  # fmt: skip
    report_figures.save_curves(tmp_path, [row] * n)
    assert len(texts) == len(CURVE_PANELS)
    assert all(t.startswith(f"too few rows to draw ({n})\n") and "log_every" in t for t in texts)
    texts.clear()
    runs = {"a": [row] * n, "b": [dict(row, step=s) for s in (10, 20)]}
    report_figures.save_overlaid_curves(tmp_path / "o.png", runs, CURVE_PANELS[0])
    assert texts == [f"too few rows to draw (a: {n})\nmetrics.csv gets a row every log_every steps"]


def test_compare_of_two_short_runs_draws_no_empty_legend(tmp_path, capsys):
    # 20 steps: one row of coverage.csv per run, so the coverage overlay has no curve to label
    short = ["--set", "steps=20", "--set", "threads=1", "--set", "doctor=false", "--quiet"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "ring8", "--out", str(a), *short]) == 0
    assert main(["train", "ring8", "--out", str(b), *short, "--set", "seed=1"]) == 0
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "No artists with labels ..." included
        compare.write_comparison([a, b], tmp_path / "c.html", overwrite=False)
    # the command: its warnings become "ganlab: warning:" lines, and there is none
    code, out, err = cli(capsys, "compare", a, b, "--out", tmp_path / "d.html")
    assert code == 0 and err == "" and out.startswith("comparison of 2 runs")


def test_report_shows_a_parzen_curve_file_as_its_results_not_as_one_empty_result(tiny_run, capsys):
    # benchmarks/paper_mnist.py's parzen_curve.json matches parzen*.json but holds one result
    # per checkpoint: the report lists them (it showed "n/a" and "None / None / None")
    import json

    rows = [{"step": s, "epoch": s / 500, "train_s": 1.0, "mean_ll": ll, "se": 2.0, "sigma": 0.2}
            for s, ll in ((2, -130.5), (4, -120.25))]  # fmt: skip
    curve = {"run": str(tiny_run), "dataset": "mnist", "rows": rows, "best": rows[1]}
    (tiny_run / "parzen_curve.json").write_text(json.dumps(curve))
    (tiny_run / "parzen_other.json").write_text(json.dumps({"note": "no scores here"}))
    assert cli(capsys, "report", tiny_run)[0] == 0
    page = (tiny_run / "report.html").read_text()
    metrics = page[page.index('id="metrics"') : page.index('id="run"')]
    assert "<h3>Parzen results: parzen_curve.json</h3>" in metrics
    assert "<th>step 2</th><td>-130.5 +- 2</td><td>0.2</td>" in metrics
    assert "best: step 4, -120.2 +- 2 nats (selected on test)" in metrics
    assert "parzen_other.json holds no Parzen result; skipped" in metrics
    assert "None / None / None" not in metrics and "n/a" not in metrics


def test_report_says_a_parzen_curve_selected_its_checkpoint_on_validation(tiny_run, capsys):
    import json

    rows = [{"step": s, "mean_ll": ll, "se": 2.0, "sigma": 0.2, "select_ll": v, "select_se": 1.5}
            for s, ll, v in ((2, -110.5, -131.0), (4, -120.25, -125.0))]  # fmt: skip
    curve = {"dataset": "mnist", "rows": rows, "best": rows[1]}  # the validation's choice
    (tiny_run / "parzen_curve.json").write_text(json.dumps(curve))
    assert cli(capsys, "report", tiny_run)[0] == 0
    page = (tiny_run / "report.html").read_text()
    assert "selected on validation: step 4, validation -125 +- 1.5, test -120.2 +- 2 nats" in page


def test_config_differences_lists_changed_added_and_nested_keys():
    base = {"seed": 0, "k": 1, "data": {"kind": "ring", "std": 0.01}, "hidden": [8, 8]}
    other = {"seed": 0, "k": 2, "data": {"kind": "ring", "std": 0.02}, "hidden": [8, 8], "x": 1}
    assert config_differences([base, other]) == {
        "k": [1, 2],
        "data.std": [0.01, 0.02],
        "x": ["(absent)", 1],
    }


# ---------------------------------------------------------------------------------------------
# How the reports are built


def count_generator_calls(monkeypatch) -> list:
    """Runs from runs.load_run count each forward pass of their G in the returned list."""
    calls = []
    load_run = api.load_run

    def counted(*args, **kwargs):
        run = load_run(*args, **kwargs)
        run.generator.register_forward_hook(lambda *_: calls.append(1))
        return run

    monkeypatch.setattr(api, "load_run", counted)
    return calls


@pytest.mark.parametrize("kind", ["1-D (Figure 1 view)", "2-D (D map)"])
def test_each_report_runs_the_generator_once(kind, tiny_run, two_runs, tmp_path, monkeypatch):
    # Final samples and the view of D show one batch of G's samples; the toy scores too, when
    # that batch is Run.scores' own 2,500 (2-D). The 1-D view's 10,000 are not (toy_scores).
    run_dir = tiny_run if kind.startswith("1-D") else shutil.copytree(two_runs[0], tmp_path / "a")
    expected = 2 if kind.startswith("1-D") else 1
    calls = count_generator_calls(monkeypatch)
    run_report.write_report(api.load_run(run_dir))
    assert len(calls) == expected
    calls.clear()
    runs.write_html_report(run_dir)
    assert len(calls) == expected


@pytest.mark.parametrize("kind", ["1-D (Figure 1 view)", "2-D (D map)"])
def test_report_samples_are_those_of_separate_draws(kind, tiny_run, two_runs, tmp_path):
    # The one batch is cut to each piece's size: the same figure as the piece's own draw of
    # that size from Run.sample's seed (row for row for uniform noise and for the 2-D presets,
    # whose pieces all take 2,500), and always the scores `ganlab eval` gives.
    run_dir = tiny_run if kind.startswith("1-D") else two_runs[0]
    run = runs.load_run(run_dir)
    dist = distribution_of(run.config.data)
    fake = run_report.report_samples(run, dist)
    assert len(fake) == (10_000 if kind.startswith("1-D") else 2500)
    ours = run_report.save_final_samples(run, dist, fake, tmp_path / "ours.png")
    own = run_report.save_final_samples(run, dist, run.sample(2500), tmp_path / "own.png")
    assert ours.read_bytes() == own.read_bytes()
    scores = {k: v for k, v in run.scores().items() if k != "counts"}
    assert run_report.toy_scores(run, dist, fake) == scores


def test_figure_1_view_puts_d_back_in_train_mode_when_it_fails(tiny_run, monkeypatch):
    run = runs.load_run(tiny_run)
    dist = distribution_of(run.config.data)
    run.discriminator.train()  # as at the end of training, when write_report draws it

    def broken(x):
        raise RuntimeError("D failed")

    monkeypatch.setattr(run.discriminator, "forward", broken)
    with pytest.raises(RuntimeError, match="D failed"):
        run_report.save_discriminator_view(run, dist, run.sample(100))
    assert run.discriminator.training


def test_index_html_is_written_atomically(tiny_run, monkeypatch):
    written = []
    atomic = pages.atomic_write_bytes

    def recorded(path, data):
        written.append(path)
        atomic(path, data)

    monkeypatch.setattr(pages, "atomic_write_bytes", recorded)
    page = run_report.write_report(runs.load_run(tiny_run))
    assert written == [tiny_run / "index.html"] and page == written[0]
    assert "Step 4: D loss" in page.read_text()
    assert not list(tiny_run.glob(".*tmp*"))  # no temp file left beside it


def test_one_number_format_for_tables_csv_cells_and_json():
    assert format_value(0.123456) == "0.1235"  # 4 significant digits
    assert format_value(12000.0) == format_value("12000") == format_value(12000) == "12000"
    assert format_value("1.3862944") == "1.386"  # a metrics.csv cell
    assert format_value(None) == "n/a"  # JSON's null: an undefined score
    assert format_value(float("inf")) == "inf" and format_value(2.5e-7) == "2.5e-07"
    assert format_value("mnist") == "mnist" and format_value(True) == "True"
    assert format_value({"kl": 0.5, "counts": [1, 2]}) == "kl 0.5, counts [1, 2]"


def test_curves_follow_the_panel_table(tmp_path):
    rows = [
        {"step": s, "d_loss": 1.4, "g_loss": 0.7, "d_real": 0.5, "d_fake": 0.5,
         "g_grad_norm": 0.1, "d_grad_norm": 0.2}
        for s in (0, 10, 20)
    ]  # fmt: skip
    figures = report_figures.save_curves(tmp_path, rows)
    assert list(figures) == [p.name for p in CURVE_PANELS]
    assert all(figures[p.name] == tmp_path / f"{p.name}.png" for p in CURVE_PANELS)
    overlaid = report_figures.save_overlaid_curves(tmp_path / "o.png", {"a": rows, "b": rows},
                                           CURVE_PANELS[0])  # fmt: skip
    assert overlaid.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------------------------------
# The pages in a browser


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system's Chromium, when it and playwright are there (asked for before two_runs, so
    that a skip trains nothing)."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    return path


def render(chromium: str, page_path: Path, screenshot: Path) -> dict:
    """Open a page in headless Chromium: console messages, page errors, requests, images,
    headings; and a full-page screenshot."""
    from playwright import sync_api

    seen = {"console": [], "errors": [], "requests": []}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: seen["console"].append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            seen["images"] = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            seen["headings"] = page.evaluate(
                "Array.from(document.querySelectorAll('h2')).map(h => h.textContent)"
            )
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


def assert_renders(seen: dict, page_path: Path, expected_headings: list[str], images: int):
    assert seen["errors"] == []
    assert [m for m in seen["console"] if m.startswith(("error", "warning"))] == []
    # nothing fetched but the page itself and its embedded images
    assert all(u == page_path.resolve().as_uri() or u.startswith("data:") for u in seen["requests"])
    assert len(seen["images"]) == images
    for alt, complete, width in seen["images"]:
        assert complete and width > 0, alt
    assert seen["headings"] == expected_headings


def test_report_renders_in_headless_chromium(chromium, two_runs, capsys):
    a, _ = two_runs
    assert cli(capsys, "report", a)[0] == 0
    shot = artifacts() / "report.png"
    seen = render(chromium, a / "report.html", shot)
    assert_renders(seen, a / "report.html", REPORT_HEADINGS, images=9)
    assert shot.stat().st_size > 10_000


def test_compare_renders_in_headless_chromium(chromium, two_runs, tmp_path, capsys):
    a, b = two_runs
    out = tmp_path / "compare.html"
    assert cli(capsys, "compare", a, b, "--out", out)[0] == 0
    shot = artifacts() / "compare.png"
    seen = render(chromium, out, shot)
    assert_renders(seen, out, COMPARE_HEADINGS, images=6)
    assert shot.stat().st_size > 10_000


def test_a_csv_run_draws_its_data_under_the_samples(tmp_path, monkeypatch):
    """The final samples figure of points from a file says "data (black)" and draws them (it
    drew only G's points under that title)."""
    import numpy as np

    from ganlab.report import run_report
    from ganlab.runs import train

    csv = tmp_path / "pts.csv"
    rng = np.random.default_rng(0)
    np.savetxt(csv, rng.normal(size=(600, 2)), delimiter=",", header="a,b", comments="")
    run = train("ring8", tmp_path / "run",
                overrides=["data.kind=csv", f"data.path={csv}", "steps=20"])  # fmt: skip
    seen = {}

    def spy(path, fake, real, dist, value_range, title=""):
        seen.update(real=real, title=title)
        return path

    monkeypatch.setattr(run_report, "save_sample_figure", spy)
    run_report.save_final_samples(run, None, run.sample(100), tmp_path / "s.png")
    assert seen["real"] is not None and seen["real"].shape == (100, 2)
    assert "data (black)" in seen["title"]


def test_sample_figures_put_the_data_beside_the_samples(tmp_path, monkeypatch):
    """Images: a grid of training images beside the generated grid; points of more than two
    dimensions: both projected on the data's first two principal components."""
    seen = []
    save = report_figures.save_figure

    def spy(fig, path):
        seen.append([(ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes])
        return save(fig, path)

    monkeypatch.setattr(report_figures, "save_figure", spy)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(64, 3, 16, 16, generator=g)
    report_figures.save_sample_figure(tmp_path / "i.png", images, images.flip(0), title="t")
    assert [title for title, _, _ in seen[-1]] == ["generated", "data (training examples)"]
    x = torch.randn(500, 5, generator=g) * torch.tensor([3.0, 2.0, 1.0, 0.5, 0.1])
    report_figures.save_sample_figure(tmp_path / "p.png", x, x.flip(0), title="t")
    ((_, xlabel, ylabel),) = seen[-1]
    # the law's variances are 9, 4, 1, 0.25, 0.01: PC1 holds 63% of the total, PC2 28%; 500
    # draws estimate each variance within ~6% (sqrt(2/500)), so the shares within 8 points
    share = [int(re.search(r"\((\d+)% of its variance", label)[1]) for label in (xlabel, ylabel)]
    assert xlabel.startswith("PC1 of the data") and ylabel.startswith("PC2 of the data")
    assert abs(share[0] - 63) <= 8 and abs(share[1] - 28) <= 8
