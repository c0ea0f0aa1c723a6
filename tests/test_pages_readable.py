"""Every figure and page readable without help (issue 19).

Figures: `layout_problems` finds text that runs into another part of a figure and axes without
labels; every report figure and the theory figures drawn here have none. Pages: a run's
index.html and report.html, compare.html, the theory page and the lab, each in headless
Chromium at a desktop and a phone size: no console error, no broken image, no heading or
caption over an image, nothing wider than the window, no drop-down or text box cut short.
Screenshots go to $GANLAB_TEST_ARTIFACTS (default tests/artifacts/). The browser tests skip
without Chromium or playwright.
"""

from __future__ import annotations

import html
import math
import re
import warnings
from pathlib import Path

import pytest
import torch
from browsing import SMALL_RING, artifacts, chromium_browser, served_lab

from ganlab.cli import main
from ganlab.config import Config
from ganlab.data.toy import ring
from ganlab.report import figures
from ganlab.report.format import SCORE_DEFINITIONS
from ganlab.report.pages import applicable_config
from ganlab.theory import saturation
from ganlab.theory.command import run_theory

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture
def drawn(monkeypatch):
    """Every figure saved through report.figures.save_figure in the test: (file name, its
    layout problems, what it shows: legend texts, contour levels and colours, y labels); a
    FigureLayoutWarning fails the test."""
    seen = []
    save = figures.save_figure

    def recorded(fig, path):
        legends = [leg for ax in fig.axes if (leg := ax.get_legend()) is not None]
        contours = [
            (c.levels.tolist(), c.get_edgecolor()[0][:3].tolist())
            for ax in fig.axes
            for c in ax.collections
            if type(c).__name__ == "QuadContourSet"
        ]
        shows = {
            "legend": [t.get_text() for leg in legends for t in leg.get_texts()],
            "contours": contours,
            "ylabels": [ax.get_ylabel() for ax in fig.axes],
        }
        seen.append((Path(path).name, figures.layout_problems(fig), shows))
        with warnings.catch_warnings():
            warnings.simplefilter("error", figures.FigureLayoutWarning)
            return save(fig, path)

    monkeypatch.setattr(figures, "save_figure", recorded)
    return seen


# ---------------------------------------------------------------------------------------------
# Figures


def test_layout_problems_finds_a_title_over_the_colour_bar_and_unlabelled_axes():
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(7, 6))
    mesh = ax.pcolormesh(torch.rand(5, 5).numpy(), vmin=0, vmax=1)  # a tick at the top
    fig.colorbar(mesh, ax=ax, label="D(x)")
    ax.set_aspect("equal")  # as the D(x) map: the bar stands taller than the square panel
    ax.set_title("a title much longer than its panel, which runs on over the colour bar beside")
    problems = figures.layout_problems(fig)
    assert any("meets the colour bar" in p for p in problems), problems
    assert any("x axis has no label" in p for p in problems)
    ax.set_title(figures.wrapped_title(ax, ax.get_title()))
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    assert figures.layout_problems(fig) == []
    plt.close(fig)


def test_a_legend_over_the_next_panel_is_a_problem():
    plt = figures.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    for ax in (a, b):
        ax.plot([0, 1], [0, 1], label="a line with a long legend label")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
    a.legend(loc="upper left", bbox_to_anchor=(0.9, 1))  # out of its panel, over the next
    assert any("legend meets panel 2" in p for p in figures.layout_problems(fig))
    plt.close(fig)


def curve_rows(n: int = 5) -> list[dict]:
    return [
        {"step": 10 * s, "d_loss": 1.3, "g_loss": 0.8, "d_real": 0.6, "d_fake": 0.4,
         "g_grad_norm": 0.1, "d_grad_norm": 0.2, "modes": 8, "modes_covered": s,
         "high_quality": 0.1 * s}
        for s in range(n)
    ]  # fmt: skip


def test_every_report_figure_has_labelled_axes_and_no_text_over_another(drawn, tmp_path):
    dist = ring(8, 1.0, 0.01)
    real = dist.sample(500, torch.Generator().manual_seed(0))
    fake = real + 0.05 * torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    long_title = "step 300: generated (green) and data (black) (EMA of G's weights, beta 0.999)"
    figures.save_sample_figure(tmp_path / "s2.png", fake, real, dist, title=long_title)
    figures.save_sample_figure(tmp_path / "s1.png", fake[:, :1], real[:, :1], title="1-D")
    figures.save_sample_figure(tmp_path / "img.png", torch.rand(16, 1, 8, 8), title="images")
    figures.save_curves(tmp_path, curve_rows())
    figures.save_coverage_figure(tmp_path / "coverage.png", curve_rows())
    runs = {f"a run with a long name {i}": curve_rows() for i in range(4)}
    for panel in (*figures.CURVE_PANELS, figures.COVERAGE_PANEL):
        figures.save_overlaid_curves(tmp_path / f"o-{panel.name}.png", runs, panel)
    x = torch.linspace(-3, 3, 50, dtype=torch.float64)
    p = torch.exp(-0.5 * x**2)
    figures.save_discriminator_figure(tmp_path / "view.png", x, p, p, p / 2, p / 2, "step 4")
    x1 = x2 = torch.linspace(-1.5, 1.5, 40)
    d = torch.sigmoid(3 - 4 * (x1[None, :] ** 2 + x2[:, None] ** 2))  # (40, 40), crosses 1/2
    figures.save_discriminator_map(tmp_path / "map.png", x1, x2, d, fake, real, dist.centres,
                                   title=long_title)  # fmt: skip
    figures.save_discriminator_map(tmp_path / "critic.png", x1, x2, 5 * d, fake, critic=True)
    assert len(drawn) == 3 + 3 + 1 + 4 + 1 + 2
    assert [(name, problems) for name, problems, _ in drawn if problems] == []


def test_the_d_map_draws_the_half_contour_its_caption_promises(drawn, tmp_path):
    x1 = x2 = torch.linspace(-1.5, 1.5, 40)
    crossing = torch.sigmoid(3 - 4 * (x1[None, :] ** 2 + x2[:, None] ** 2))  # (40, 40)
    fake = torch.zeros(10, 2)
    figures.save_discriminator_map(tmp_path / "crossing.png", x1, x2, crossing, fake)
    figures.save_discriminator_map(tmp_path / "below.png", x1, x2, 0.3 * crossing, fake)
    (_, _, crossing_shows), (_, _, below_shows) = drawn
    assert crossing_shows["contours"] == [([0.5], [0.0, 0.0, 0.0])]  # black on red and blue
    assert "D(x) = 1/2" in crossing_shows["legend"]
    assert "red: D says data, blue: D says generated" in crossing_shows["ylabels"][1]  # its bar
    # no contour where D never reaches 1/2, and the legend says so
    assert below_shows["contours"] == []
    assert "D(x) = 1/2: nowhere (D < 1/2 everywhere)" in below_shows["legend"]


def test_maximum_likelihood_stays_visible_over_minimax():
    ml, mm = saturation.LOSS_STYLES["maximum_likelihood"], saturation.LOSS_STYLES["minimax"]
    # drawn over minimax, thinner, in another dash and with markers: where the two runs
    # coincide (both gradients ~ -D(G(z)) while D is confident), both are still seen
    assert ml["zorder"] > mm["zorder"] and ml["lw"] < mm["lw"]
    assert ml.get("linestyle", "-") != mm.get("linestyle", "-") and ml.get("marker")


def test_cheap_theory_figures_have_no_layout_problem(tmp_path):
    out = tmp_path / "theory"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_theory(out, only=["xy_game", "kl_directions", "saturation"], quick=True)
    assert [str(w.message) for w in caught if w.category is figures.FigureLayoutWarning] == []
    assert {"xy_game.png", "kl_directions.png", "saturation_training.png"} <= {
        p.name for p in out.glob("*.png")
    }
    page = (out / "index.html").read_text()
    tables = "".join(re.findall(r"<table>.*?</table>", page, re.S))
    decimals = re.findall(r"(?<![\w.])\d+\.\d+", tables)
    # format_value's 4 significant digits (theory.json keeps float64's 17)
    assert decimals and all(len(d.replace(".", "").lstrip("0")) <= 4 for d in decimals), decimals


# ---------------------------------------------------------------------------------------------
# Pages as text


def test_applicable_config_drops_other_kinds_keys():
    ring8 = applicable_config(Config(data={"kind": "ring"}, discriminator={"kind": "mlp"}))
    assert "mean" not in ring8["data"] and "grid_size" not in ring8["data"]
    assert ring8["data"]["modes"] == 8 and "pieces" not in ring8["discriminator"]
    dcgan = applicable_config(
        Config(
            data={"kind": "mnist"},
            generator={"kind": "dcgan", "output": "tanh"},
            discriminator={"kind": "dcgan"},
            d_optimizer={"name": "adam"},
        )
    )
    assert "pieces" not in dcgan["discriminator"] and "hidden" not in dcgan["discriminator"]
    assert dcgan["discriminator"]["channels"] == 64 and "split" in dcgan["data"]
    assert "momentum" not in dcgan["d_optimizer"] and "betas" in dcgan["d_optimizer"]
    assert "betas" not in dcgan["g_optimizer"] and "momentum" in dcgan["g_optimizer"]
    assert "least_squares" not in dcgan  # the 2014 objective: LSGAN's targets do not apply
    lsgan = applicable_config(Config(objective="least_squares"))
    assert lsgan["least_squares"] == {"a": -1.0, "b": 1.0, "c": 0.0}


@pytest.fixture(scope="module")
def ring_runs(tmp_path_factory):
    """Two small ring runs (seeds 0 and 1), their report.html and one compare.html."""
    root = tmp_path_factory.mktemp("pages")
    a, b = root / "ring-a", root / "ring-b"
    assert main(["train", "ring8", "--out", str(a), *SMALL_RING]) == 0
    assert main(["train", "ring8", "--out", str(b), *SMALL_RING, "--set", "seed=1"]) == 0
    assert main(["report", str(a)]) == 0
    assert main(["compare", str(a), str(b), "--out", str(root / "compare.html")]) == 0
    return a, b


def test_index_defines_each_score_and_shows_only_the_config_that_applies(ring_runs):
    a, _ = ring_runs
    for page in ((a / "index.html").read_text(), (a / "report.html").read_text()):
        for key in ("modes_covered", "high_quality", "kl"):
            assert f"<td>{html.escape(SCORE_DEFINITIONS[key])}</td>" in page, key
        shown, _, folded = page.partition("<details>")
        config = shown[shown.rindex("Resolved config") :]
        assert "radius: 1.0" in config and "mean: 4.0" not in config
        assert "grid_size" not in config and "pieces" not in config
        assert "mean: 4.0" in folded and "grid_size: 5" in folded  # the whole file, folded


# ---------------------------------------------------------------------------------------------
# Pages in a browser

# Every heading, caption and paragraph against every image: none may cover another.
_OVERLAPS = """() => {
  const boxes = s => Array.from(document.querySelectorAll(s))
    .map(e => [e, e.getBoundingClientRect()]).filter(([e, r]) => r.width > 0 && r.height > 0);
  const meet = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
                         Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const images = boxes('img, canvas');
  const texts = boxes('h1, h2, h3, p, figcaption, table, pre, summary, label, button');
  const out = [];
  for (const [t, tb] of texts) for (const [i, ib] of images)
    if (!t.contains(i) && meet(tb, ib))
      out.push(`${t.tagName} "${t.textContent.slice(0, 40)}" over ${i.alt || i.id}`);
  return out;
}"""

# A drop-down narrower than its longest option at its own font, plus room for its arrow and
# padding; a text box narrower than the value in it.
_CLIPPED = """() => {
  const ctx = document.createElement('canvas').getContext('2d');
  const selects = Array.from(document.querySelectorAll('select')).filter(s => {
    if (s.offsetWidth === 0) return false;  // hidden (the lab's class picker, unconditional)
    ctx.font = getComputedStyle(s).font;
    const need = Math.max(...Array.from(s.options).map(o => ctx.measureText(o.text).width));
    return s.getBoundingClientRect().width < need + 24;
  });
  const inputs = Array.from(document.querySelectorAll('input[type=text], input[type=number]'))
    .filter(i => i.offsetWidth > 0 && i.scrollWidth > i.clientWidth);
  return [...selects, ...inputs].map(e => `${e.id}: ${Math.round(e.offsetWidth)}px`);
}"""


@pytest.fixture(scope="module")
def browser():
    yield from chromium_browser()


def look(browser, url: str, name: str, size: str, ready: str | None = None) -> dict:
    """Open `url` at one of SIZES: console errors, broken images, text over images, width
    beyond the window, cut drop-downs; a full-page screenshot <name>-<size>.png."""
    width, height = SIZES[size]
    page = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url, wait_until="load")
        if ready:
            page.wait_for_function(ready, timeout=30_000)
        seen = {
            "errors": errors,
            "broken": page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || !i.naturalWidth)"
                ".map(i => i.alt)"
            ),
            "images": page.evaluate("document.images.length"),
            "overlaps": page.evaluate(_OVERLAPS),
            "too_wide": page.evaluate(
                "Array.from(document.querySelectorAll('img, canvas')).filter(i => "
                "i.getBoundingClientRect().right > window.innerWidth + 1).map(i => i.alt || i.id)"
            ),
            "clipped": page.evaluate(_CLIPPED),
        }
        page.screenshot(path=str(artifacts() / f"{name}-{size}.png"), full_page=True)
    finally:
        page.close()
    return seen


def assert_readable(seen: dict, images: int | None = None) -> None:
    assert seen["errors"] == [] and seen["broken"] == []
    assert seen["overlaps"] == [] and seen["too_wide"] == [] and seen["clipped"] == []
    if images is not None:
        assert seen["images"] == images


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", ["index.html", "report.html", "compare.html"])
def test_run_pages_read_at_both_sizes(browser, ring_runs, name, size):
    a, _ = ring_runs
    path = a.parent / name if name == "compare.html" else a / name
    seen = look(browser, path.as_uri(), f"{a.name}-{name.split('.')[0]}", size)
    assert_readable(seen)
    assert seen["images"] >= 4


@pytest.fixture(scope="module")
def theory_page(tmp_path_factory):
    out = tmp_path_factory.mktemp("theory") / "t"
    assert main(["theory", "--quick", "--quiet", "--only", "xy_game", "--out", str(out)]) == 0
    return out / "index.html"


@pytest.mark.parametrize("size", list(SIZES))
def test_theory_page_reads_at_both_sizes(browser, theory_page, size):
    assert_readable(look(browser, theory_page.as_uri(), "theory", size), images=1)


@pytest.fixture(scope="module", params=["ring", "cring"])
def lab_url(request):
    """The lab on the ring, and on the conditional ring (class picker and class legend shown)."""
    from ganlab.lab.session import LabSession

    session = LabSession(request.param)
    session.control({"action": "set", "values": {"generator.hidden": [16, 16],
                                                  "discriminator.hidden": [16, 16]}})  # fmt: skip
    with served_lab(session, start=True) as url:
        yield url, request.param


@pytest.mark.parametrize("size", list(SIZES))
def test_lab_page_reads_at_both_sizes(browser, lab_url, size):
    url, dataset = lab_url
    name = "lab" if dataset == "ring" else f"lab-{dataset}"
    seen = look(browser, url, name, size, ready="window.lab && window.lab.frames >= 2")
    assert_readable(seen, images=0)


def test_wrapped_title_fits_its_panel():
    plt = figures.pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    text = figures.wrapped_title(ax, "word " * 40)
    longest = max(len(line) for line in text.splitlines())
    width_pt = ax.get_position().width * 4 * 72
    assert longest * 0.55 * 12 <= width_pt and text.count("\n") >= 2
    assert math.isclose(len(text.replace("\n", " ")), len(("word " * 40).strip()))
    plt.close(fig)
