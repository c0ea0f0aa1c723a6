"""What a reader of a drawn figure could not read (`layout_problems`: text running into other
parts, axes without labels) and titles wrapped to their panel (`wrapped_title`).

save_figure (report.figures) checks every figure it writes with layout_problems.
"""

from __future__ import annotations

import re
import textwrap


class FigureLayoutWarning(UserWarning):
    """A figure's title, legend or colour bar runs into another part of it, or an axis shows
    numbers without saying what they are."""


def layout_problems(fig) -> list[str]:
    """What a reader of the drawn figure could not read: a title, legend or figure text whose
    box meets another title or legend, a colour bar, or another panel's plot area or tick
    labels; an axis with numbers and no label (one label per row or column of panels is
    enough: the convention of a grid of panels; ticks in words label themselves).

    A legend inside its own panel (or its twin's) is where it belongs and is not a problem.
    """
    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]

    def is_colorbar(ax) -> bool:
        return ax.get_label() == "<colorbar>"  # the label matplotlib gives a colour bar's axes

    def same_panel(a, b) -> bool:  # a twinx/twiny shares its parent's plot area
        return a is b or a.get_position().bounds == b.get_position().bounds

    texts = []  # (what, box, owning axes or None)
    for ax in axes:
        if ax.title.get_text() and ax.title.get_visible():
            texts.append((f"title {ax.title.get_text()!r}", ax.title, ax))
        if ax.get_legend() is not None and ax.get_legend().get_visible():
            texts.append(("legend", ax.get_legend(), ax))
    texts += [(f"text {t.get_text()!r}", t, None) for t in fig.texts if t.get_text()]
    texts += [("figure legend", leg, None) for leg in fig.legends]
    boxes = [(what, artist.get_window_extent(renderer), owner) for what, artist, owner in texts]

    def meet(a, b) -> bool:  # overlapping by more than a pixel each way, not merely touching
        return min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1

    problems = []
    for i, (what, box, owner) in enumerate(boxes):
        problems += [f"{what} meets {w}" for w, b, _ in boxes[i + 1 :] if meet(box, b)]
        for n, ax in enumerate(axes):
            if is_colorbar(ax):
                if meet(box, ax.get_tightbbox(renderer)):
                    problems.append(f"{what} meets the colour bar")
                continue
            if owner is not None and same_panel(owner, ax):
                if what.startswith("title") and meet(box, ax.get_window_extent(renderer)):
                    problems.append(f"{what} meets its plot area")
                continue
            parts = [ax.get_window_extent(renderer)]
            parts += [axis.get_tightbbox(renderer) for axis in (ax.xaxis, ax.yaxis)]
            if any(p is not None and meet(box, p) for p in parts):
                problems.append(f"{what} meets panel {n + 1} ({ax.get_title()!r})")

    def row(a):
        return round(a.get_position().y0, 3)

    def column(a):
        return round(a.get_position().x0, 3)

    def number(text: str) -> bool:  # tick labels in words ("x", "z", a game's name) say it
        try:
            float(text.replace("\N{MINUS SIGN}", "-").replace("$", "").replace("^", "e"))
        except ValueError:
            return bool(re.fullmatch(r"\$?\\mathdefault\{[-0-9.^{}\\mathdefault ]+\}\$?", text))
        return True

    panels = [ax for ax in axes if not is_colorbar(ax)]
    for n, ax in enumerate(axes):
        if is_colorbar(ax) or not ax.axison:
            continue
        for name, axis, label in (("x", ax.xaxis, "get_xlabel"), ("y", ax.yaxis, "get_ylabel")):
            shows = axis.get_visible() and any(
                t.get_visible() and number(t.get_text()) for t in axis.get_ticklabels(which="both")
            )
            labelled = any(
                getattr(a, label)() for a in panels if row(a) == row(ax) or column(a) == column(ax)
            )
            if shows and not labelled:
                problems.append(f"panel {n + 1} ({ax.get_title()!r}): {name} axis has no label")
    return problems


def wrapped_title(ax, text: str, fontsize: float | None = None) -> str:
    """`text` broken into lines no wider than the panel, so that a title never runs into a
    colour bar or its neighbour."""
    plt = _pyplot()
    size = fontsize or plt.rcParams["axes.titlesize"]
    if isinstance(size, str):
        size = plt.rcParams["font.size"] * 1.2
    width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
    # ~0.55 em per character of the default sans-serif font
    return textwrap.fill(text, max(10, int(width_pt / (0.55 * size))))


def _pyplot():
    """matplotlib.pyplot with the Agg backend, imported on first use (as report.figures)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
