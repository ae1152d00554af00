"""Runs (or bench outputs) side by side: ``jaxgrad compare A B [...]``.

Each source is a finished run directory or a bench output (``bench.json``, or the
folder holding it). Per (problem, optimizer) that the sources share, each source's
chosen setting (the rule of :mod:`jaxgrad.lab.stats`), its median and 95% interval, the
ratio to the first source and a two-sided rank test over seeds against the first
source; then a line per problem saying what changed. For runs the quantity is the
final loss (diverged runs as ``+inf``); for bench outputs the time to target in ms
(runs that missed the target as ``+inf``).
"""

from __future__ import annotations

import dataclasses
import json
import string
from pathlib import Path

import numpy as np

from jaxgrad.errors import InputError
from jaxgrad.lab import rundir, stats

__all__ = ["Entry", "Source", "Row", "load", "compare", "what_changed", "plot"]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One (problem, optimizer) of one source, at its chosen setting."""

    setting: str  # the setting's label, e.g. "lr=0.01"
    median: float
    ci: tuple | None
    samples: np.ndarray | None  # per seed (``+inf``: diverged or missed), for the rank test
    group: int | None = None  # the run's group index and the setting's index in it (runs only)
    index: int | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    name: str  # "A", "B", ...
    path: Path
    kind: str  # "run" | "bench"
    quantity: str  # "final loss" | "ms to target"
    entries: dict  # {(problem, optimizer): Entry}, in the source's order


@dataclasses.dataclass(frozen=True)
class Row:
    """A (problem, optimizer): each source's entry (``None`` where it lacks the pair), the ratio of
    each median to the first source's and the rank test's p-value against the first."""

    problem: str
    optimizer: str
    entries: tuple
    ratios: tuple
    p_values: tuple


def _none_inf(value) -> float:
    return np.inf if value is None else float(value)


def load(path: str | Path, name: str = "A") -> Source:
    """A run directory (finished) or a bench output, as a :class:`Source`.

    Raises:
      InputError: the path is neither, or the run did not finish.
    """
    path = Path(path)
    bench = path / "bench.json" if path.is_dir() else path
    if path.is_dir() and (path / "summary.json").exists():
        return _run(path, name)
    if bench.is_file():
        try:
            data = json.loads(bench.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
            raise InputError(f"{path}: not a run directory or a bench output ({err})") from None
        if not isinstance(data, dict) or "results" not in data:
            raise InputError(f"{path}: not a run directory or a bench output (no results in it)")
        return _bench(data, path, name)
    if not path.exists():
        raise InputError(f"{path}: no such file or directory (expected a run directory or a bench output)")
    raise InputError(f"{path}: not a run directory (no summary.json) or a bench output (no bench.json)")


def _run(path: Path, name: str) -> Source:
    summary = rundir.read_summary(path)
    if summary.get("status") != "complete":
        raise InputError(f"{path}: the run is {summary.get('status', 'unknown')}, not finished "
                         "(finish it with jaxgrad run CONFIG --resume DIR)")
    tol_set, dtype = summary.get("tol") is not None, summary.get("dtype", "float32")
    entries = {}
    for g in summary["groups"]:
        i = stats.group_best(g, tol_set, dtype)
        s = g["settings"][i]
        ci = s.get("median_final_loss_ci")
        entries[g["problem"], g["optimizer_label"]] = Entry(
            s["label"], stats.setting_median(s), None if ci is None else tuple(_none_inf(v) for v in ci),
            stats.setting_finals(s), g["index"], i)
    return Source(name, path, "run", "final loss", entries)


def _bench(data: dict, path: Path, name: str) -> Source:
    entries = {}
    for r in data["results"]:
        per_step = r.get("seconds_per_step")
        samples = None
        if "eval_steps_to_target" in r and per_step is not None:
            samples = np.asarray([np.inf if v is None else 1e3 * v * per_step for v in r["eval_steps_to_target"]])
        time = r.get("median_time_to_target")
        ci = r.get("median_time_to_target_ci")
        lr = r.get("best_setting", {}).get("learning_rate")
        entries[r["problem"], r["optimizer"]] = Entry(
            "default" if lr is None else f"lr={lr:.2g}", np.inf if time is None else 1e3 * time,
            None if ci is None else tuple(1e3 * v for v in ci), samples)
    return Source(name, path, "bench", "ms to target", entries)


def compare(paths) -> tuple[list[Source], list[Row], list[tuple]]:
    """``(sources, rows, unshared)``: the rows of the pairs every source has, in the first source's
    order, and ``(problem, optimizer, names of the sources that have it)`` for the others.

    Raises:
      InputError: fewer than two paths, a bad path, or runs mixed with bench outputs.
    """
    paths = list(paths)
    if len(paths) < 2:
        raise InputError("compare needs two or more run directories or bench outputs")
    if len(paths) > len(string.ascii_uppercase):
        raise InputError(f"compare takes at most {len(string.ascii_uppercase)} sources")
    sources = [load(p, string.ascii_uppercase[k]) for k, p in enumerate(paths)]
    kinds = {s.kind for s in sources}
    if len(kinds) > 1:
        raise InputError("compare runs with runs and bench outputs with bench outputs: "
                         + ", ".join(f"{s.path} is a {s.kind}" for s in sources))
    keys = list(dict.fromkeys(k for s in sources for k in s.entries))
    rows, unshared = [], []
    for key in keys:
        entries = tuple(s.entries.get(key) for s in sources)
        if any(e is None for e in entries):
            unshared.append((*key, [s.name for s, e in zip(sources, entries) if e is not None]))
            continue
        first = entries[0]
        ratios = tuple(_ratio(e.median, first.median) for e in entries)
        p_values = tuple(None if k == 0 or e.samples is None or first.samples is None
                         else stats.rank_test(first.samples, e.samples) for k, e in enumerate(entries))
        rows.append(Row(*key, entries, ratios, p_values))
    return sources, rows, unshared


def _ratio(value: float, reference: float) -> float | None:
    if not (np.isfinite(value) and np.isfinite(reference)) or reference == 0:
        return None
    return value / reference


def what_changed(sources: list[Source], rows: list[Row]) -> list[tuple[str, str]]:
    """One sentence per problem: what differs from the first source, and how sure."""
    out = []
    for problem in dict.fromkeys(r.problem for r in rows):
        mine = [r for r in rows if r.problem == problem]
        parts = []
        for k, s in enumerate(sources[1:], start=1):
            changed, untested = [], 0
            for r in mine:
                p = r.p_values[k]
                if p is None:
                    untested += 1
                elif p < stats.ALPHA:
                    ratio = r.ratios[k]
                    how = f"{ratio:.3g}x" if ratio is not None else f"{stats.fmt(r.entries[k].median)} vs " \
                                                                     f"{stats.fmt(r.entries[0].median)}"
                    changed.append(f"{r.optimizer} {how} (p = {stats.fmt_p(p)})")
            winners = [_winner(mine, 0), _winner(mine, k)]
            text = f"{s.name} against A: " + ("; ".join(changed) if changed else
                                              "no difference the seeds can tell")
            if untested == len(mine):
                text = f"{s.name} against A: no per-seed values to test (one seed, or an old bench output)"
            if winners[0] != winners[1]:
                text += f"; the winner changed from {winners[0]} to {winners[1]}"
            parts.append(text)
        out.append((problem, ". ".join(parts)))
    return out


def _winner(rows: list[Row], k: int) -> str:
    ranked = stats.order([int(np.sum(~np.isfinite(r.entries[k].samples))) if r.entries[k].samples is not None
                          else 0 for r in rows], [r.entries[k].median for r in rows])
    return rows[ranked[0]].optimizer


def plot(sources: list[Source], rows: list[Row], path: str | Path) -> Path:
    """One panel per problem: each optimizer's median loss curve (chosen setting, seeds that did
    not diverge) in its colour, one line style per source."""
    from jaxgrad.pictures import house
    from jaxgrad.pictures.house import save_figure

    if sources[0].kind != "run":
        raise InputError("--plot: bench outputs hold no loss curves; compare runs to overlay them")
    arrays = [rundir.read(s.path)[1] for s in sources]
    problems = list(dict.fromkeys(r.problem for r in rows))
    cols = min(2, len(problems))
    nrows = -(-len(problems) // cols)
    fig, axes = house.figure(cols, 6.4, 4.4 * nrows, rows=nrows)
    for ax in axes[len(problems):]:
        ax.set_visible(False)
    styles = ["-", "--", ":", "-."]
    for ax, problem in zip(axes, problems):
        for c, r in enumerate(x for x in rows if x.problem == problem):
            for k, (s, e) in enumerate(zip(sources, r.entries)):
                a = arrays[k]
                loss = np.asarray(a[rundir.group_key(e.group, "loss")][e.index], np.float64)
                div = np.asarray(a[rundir.group_key(e.group, "diverged_at")][e.index])
                calm = loss[div < 0] if np.any(div < 0) else loss
                ax.plot(a[rundir.group_key(e.group, "steps")], np.median(calm, 0), color=house.color(c),
                        ls=styles[k % len(styles)], lw=1.6, label=f"{r.optimizer} ({s.name})")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (median over seeds)")
        ax.set_title(problem)
        ax.grid(True, which="both", alpha=0.25)
        house.legend(ax)
    names = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash-dot"}
    fig.suptitle(";  ".join(f"{s.name} ({names[styles[k % len(styles)]]}): {s.path}" for k, s in enumerate(sources)),
                 fontsize=8)
    path = Path(path)
    save_figure(fig, path)
    return path

