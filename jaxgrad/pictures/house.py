"""The house style of every figure: one identity (colour, dash, marker) per optimizer, figure and
legend helpers, ticks and levels on decades, and :func:`polish` / :func:`save_figure` (one-entry
legends into titles, titles wrapped to their axes, maths set)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
from matplotlib.figure import Figure

from jaxgrad import files

__all__ = ["figure", "legend", "pretty", "polish", "log_floor", "zero_band", "include_points", "frame_paths", "color", "Style", "identities", "style_of", "log_ticks", "log_levels", "shared_legend", "save_figure", "KIND_NAMES", "KIND_COLORS", "KIND_MARKERS", "DEFAULT_DPI", "DPI", "RUN_COLORS", "OPTIMIZER_STYLES", "USER_COLORS", "REPEAT_DASHES"]


KIND_NAMES = ("minimum", "maximum", "saddle", "degenerate")


KIND_COLORS = ("#2b83ba", "#d7191c", "#fdae61", "#bababa")


KIND_MARKERS = {"minimum": "o", "maximum": "^", "saddle": "X", "degenerate": "s"}


DEFAULT_DPI = 150


DPI = DEFAULT_DPI  # every PNG (the CLI's --dpi sets it for one command); SVG and PDF by the file's suffix


def figure(ncols: int = 1, width: float = 6.0, height: float = 5.0, rows: int = 1, sharex: bool = False):
    """A figure of ``rows x ncols`` axes (``width`` per column, ``height`` in all)."""
    fig = Figure(figsize=(width * ncols, height), dpi=DPI, layout="constrained")
    axes = []
    for i in range(rows * ncols):
        axes.append(fig.add_subplot(rows, ncols, i + 1, sharex=axes[0] if sharex and axes else None))
    return fig, axes


def legend(ax, **kwargs):
    """The one legend placement: outside the axes, to the right (or ``below=True``, under
    them), so it never covers a plotted point; constrained layout makes the room."""
    below = kwargs.pop("below", False)
    kwargs.setdefault("fontsize", 8)
    if below:
        n = len(ax.get_legend_handles_labels()[1]) + len(kwargs.get("handles", ()))
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=min(3, max(1, n)), frameon=False,
                         **kwargs)
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False, **kwargs)


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def pretty(text: str) -> str:
    """Python's arithmetic as a reader writes it: ``x**3 - 3*x`` -> ``x³ − 3x``."""
    import re

    if "**" not in text and "*" not in text:
        return text
    text = re.sub(r"\*\*\(?(-?\d+)\)?", lambda m: m.group(1).translate(_SUPERSCRIPT), text)
    text = re.sub(r"(\d)\*(?=[A-Za-z(])", r"\1", text)  # 3*x -> 3x
    return text.replace("*", "·").replace(" - ", " − ")


def polish(fig) -> None:
    """The house rules every saved figure follows: a legend of one entry becomes part of its
    axes' title (no box eating the width), titles are wrapped to their axes' width, and Python's
    ``**`` in titles is set as superscripts."""
    import textwrap

    width_in = fig.get_size_inches()[0]
    sup = getattr(fig, "_suptitle", None)
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_visible()]
    if sup is not None and sup.get_text() and len(panels) == 1:  # one title for one panel, not two
        title = panels[0].get_title()
        panels[0].set_title(f"{sup.get_text()}: {title}" if title else sup.get_text())
        sup.set_text("")
    elif sup is not None:
        sup.set_text(pretty(sup.get_text()))
    for ax in fig.axes:
        leg = ax.get_legend()
        title = ax.get_title()
        if leg is not None and len(leg.get_texts()) == 1 and not leg.get_title().get_text():
            label = leg.get_texts()[0].get_text()
            leg.remove()
            title = f"{title}\n{label}" if title else label
        if not title:
            continue
        size = ax.title.get_fontsize()
        chars = max(20, int(width_in * ax.get_position().width * 72 / (0.55 * size)))
        lines = [w for part in pretty(title).split("\n") for w in (textwrap.wrap(part, chars) or [""])]
        ax.set_title("\n".join(lines))


def log_floor(values) -> float | None:
    """The floor of a log axis from the data's own scale: a third of its smallest positive
    finite value (never a clamp far below it). ``None`` when nothing is positive."""
    v = np.concatenate([np.ravel(np.asarray(a, np.float64)) for a in values]) if len(values) else np.zeros(0)
    v = v[np.isfinite(v) & (v > 0)]
    return float(v.min()) / 3 if v.size else None


def zero_band(ax, floor: float, label: str = "≤ 0 (at the minimum, to rounding)") -> None:
    """Mark the floor band of a log axis where values <= 0 (exact zeros) are drawn."""
    ax.axhspan(floor / 1.6, floor * 1.6, color="0.88", lw=0, zorder=0)
    ax.annotate(f"{label} ↓", xy=(0.005, floor * 1.7), xycoords=("axes fraction", "data"), fontsize=7,
                color="0.35", va="bottom")
    ax.set_ylim(bottom=floor / 1.6)


def include_points(ax, points, margin: float = 0.06) -> None:
    """Widen the axes' limits so every point ``(k, 2)`` (starts and ends of paths) lies inside."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if not pts.size:
        return
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    lo, hi = pts.min(0), pts.max(0)
    dx, dy = margin * (max(x1, hi[0]) - min(x0, lo[0])), margin * (max(y1, hi[1]) - min(y0, lo[1]))
    if lo[0] <= x0 or hi[0] >= x1:
        ax.set_xlim(min(x0, lo[0] - dx), max(x1, hi[0] + dx))
    if lo[1] <= y0 or hi[1] >= y1:
        ax.set_ylim(min(y0, lo[1] - dy), max(y1, hi[1] + dy))


def frame_paths(ax, paths, minimizers=(), xlim=None, ylim=None, margin: float = 0.08) -> None:
    """Frame the axes from the data: every start and end, the middle 96% of each path's points
    and the minima, with a margin, kept square (equal aspect) and inside ``xlim``/``ylim`` (where
    the contours were computed, so they fill the frame)."""
    pts = [np.asarray(p, np.float64)[:, :2] for p in paths if len(p)]
    keep = [p[[0, -1]] for p in pts] + [np.quantile(p, [0.02, 0.98], axis=0) for p in pts if len(p) > 2]
    keep += [np.asarray(m, np.float64)[None, :2] for m in minimizers if len(m) >= 2]
    every = np.concatenate(keep) if keep else np.zeros((0, 2))
    every = every[np.all(np.isfinite(every), axis=1)]
    if not every.size:
        return
    lo, hi = every.min(0), every.max(0)
    span = np.maximum(hi - lo, 1e-9)
    side = max(span) * (1 + 2 * margin)  # a square frame: both axes are parameters
    centre = (lo + hi) / 2
    box = [[centre[k] - side / 2, centre[k] + side / 2] for k in range(2)]
    for k, lim in enumerate((xlim, ylim)):
        if lim is None:
            continue
        width = box[k][1] - box[k][0]
        if width >= lim[1] - lim[0]:
            box[k] = [lim[0], lim[1]]
            continue
        shift = max(lim[0] - box[k][0], 0.0) - max(box[k][1] - lim[1], 0.0)
        box[k] = [box[k][0] + shift, box[k][1] + shift]
    ends = np.concatenate([p[[0, -1]] for p in pts]) if pts else np.zeros((0, 2))
    ends = ends[np.all(np.isfinite(ends), axis=1)]
    for k in range(2):  # a start or an end is never cut off, even past the contours
        if ends.size:
            pad = margin * (box[k][1] - box[k][0])
            box[k] = [min(box[k][0], ends[:, k].min() - pad), max(box[k][1], ends[:, k].max() + pad)]
    ax.set_xlim(*box[0])
    ax.set_ylim(*box[1])


RUN_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def color(i: int) -> str:
    return RUN_COLORS[i % len(RUN_COLORS)]


class Style(NamedTuple):
    """How one optimizer is drawn in every figure of a run, the bench and the gallery."""

    color: str
    dash: str = "-"
    marker: str = "o"


# a fixed identity per registry optimizer; relatives that can coincide (momentum and Nesterov,
# Adam and AdamW, Newton and Newton-CG) differ in colour *and* dash, so one never hides the other
OPTIMIZER_STYLES = {
    "sgd": Style("#1f77b4", "-", "o"), "momentum": Style("#d62728", "-", "s"),
    "nesterov": Style("#9467bd", (0, (5, 2)), "D"), "adam": Style("#ff7f0e", "-", "^"),
    "adamw": Style("#8c564b", (0, (5, 2)), "v"), "rmsprop": Style("#2ca02c", "-", "P"),
    "adagrad": Style("#bcbd22", "-", "X"), "lbfgs": Style("#17becf", (0, (3, 1, 1, 1)), "h"),
    "newton": Style("#222222", "-", "*"), "newton_cg": Style("#e377c2", (0, (5, 2)), "p"),
    # the Newton family's relatives on outputs: dashed, so that where they coincide with Newton
    # (least squares: one step each) both lines show
    "gauss_newton": Style("#6a3d9a", (0, (4, 1.5)), "d"), "natural_gradient": Style("#1b9e77", "-", "<"),
}


USER_COLORS = ("#7f7f7f", "#1b9e77", "#e7298a", "#66a61e", "#a6761d", "#386cb0")


REPEAT_DASHES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (3, 1, 1, 1)))


def identities(names: Sequence[str]) -> list[Style]:
    """The style of each entry of ``names`` (registry names or factory specs, in a run's group
    order): a registry optimizer's own colour, the user's optimizers the next colours of the
    palette in order of appearance, and a second group of the same optimizer a new dash."""
    users = list(dict.fromkeys(n for n in names if n not in OPTIMIZER_STYLES))
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = OPTIMIZER_STYLES.get(name) or Style(USER_COLORS[users.index(name) % len(USER_COLORS)], "-", "o")
        k = seen[name] = seen.get(name, -1) + 1
        out.append(base if k == 0 else base._replace(dash=REPEAT_DASHES[k % len(REPEAT_DASHES)]))
    return out


def style_of(i: int, styles) -> Style:
    return styles[i] if styles is not None else Style(color(i))


def _distinct_ticks(levels, n: int = 6):
    """About ``n`` colorbar ticks among ``levels`` whose 3-digit labels all differ."""
    ticks, seen = [], set()
    for t in levels[:: max(1, len(levels) // n)]:
        if f"{t:.3g}" not in seen:
            seen.add(f"{t:.3g}")
            ticks.append(t)
    return ticks


def log_ticks(z, levels) -> list[float]:
    """Colorbar ticks for :func:`log_levels`: decades of the height above the minimum (1-2-5
    steps when the range spans fewer than three), so equal colour steps read as equal ratios."""
    finite = z[np.isfinite(z)]
    lo, hi = float(np.min(finite)), float(np.max(finite))
    shift = lo - max(1e-12, 1e-6 * (hi - lo))
    if lo >= 0:  # a loss: ticks on its own decades (0.01, 0.1, 1, ...), which the log levels space evenly
        shift = 0.0
    a, b = max(levels[0] - shift, 1e-300), levels[-1] - shift
    decades = 10.0 ** np.arange(math.ceil(math.log10(a)), math.floor(math.log10(b)) + 1)
    if len(decades) < 3:
        decades = np.asarray([d * m for d in 10.0 ** np.arange(math.floor(math.log10(a)), math.ceil(math.log10(b)) + 1)
                              for m in (1, 2, 5)])
        decades = decades[(decades >= a) & (decades <= b)]
    if len(decades) > 8:  # every other decade, at most 8 ticks
        decades = decades[:: math.ceil(len(decades) / 8)]
    return [float(shift + d) for d in decades]


def log_levels(z, n=25):
    finite = z[np.isfinite(z)]
    lo, hi = float(np.min(finite)), float(np.max(finite))
    shift = lo - max(1e-12, 1e-6 * (hi - lo))  # levels of z - min on a log scale: valleys stay visible
    return shift + np.geomspace(max(1e-12, 1e-6 * (hi - lo)), hi - shift, n)


def shared_legend(fig, axes) -> None:
    """One legend for a figure of several panels: every distinct label once, below them."""
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center",
                   ncol=min(5, len(handles)), frameon=False, fontsize=8)


def save_figure(fig, path) -> None:
    """Save a matplotlib figure atomically (format from the suffix)."""
    polish(fig)  # the house rules: one-entry legends into titles, titles wrapped, maths set
    suffix = Path(path).suffix.lstrip(".") or "png"
    with files.atomic_write(path, "wb") as f:
        fig.savefig(f, format=suffix, dpi=fig.dpi, bbox_inches="tight")
