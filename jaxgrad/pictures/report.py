"""A run directory's pictures, drawn from its saved files alone (``jaxgrad plot RUN_DIR``).

Reads ``summary.json`` and ``arrays.npz`` (never JAX, never recomputing) and writes
one PNG per (plot kind, problem). The kinds come from the config's
``[output] plots``, or by default from the problem: loss curves always, paths
over contours for 2-D functions, the gradient norm for higher-dimensional ones,
the fitted curve and the (w, b) landscape for one-feature regressions, and
learning-rate sensitivity whenever a learning rate was swept.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from jaxgrad.errors import InputError, did_you_mean
from jaxgrad.lab import rundir, stats
from jaxgrad.pictures import house, plots
from jaxgrad.pictures.house import save_figure

__all__ = ["draw", "figure", "default_kinds"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "problem"


def _best(group: dict) -> int:
    """The group's chosen setting (``groups[i].best``; the same rule for older summaries)."""
    return stats.group_best(group)


def _label(group: dict, i: int) -> str:
    return stats.label(group["optimizer_label"], group["settings"][i]["label"])


def _gap(values: np.ndarray, minimum) -> tuple[np.ndarray, bool, str]:
    """Loss minus the known minimum on a log scale, or the loss itself."""
    if minimum is not None:  # gaps <= 0 (the minimum, to rounding) go on the plot's zero band
        return values - minimum, True, "loss - minimum"
    return values, bool(np.all(values > 0)), "loss"


def default_kinds(problem: dict, groups: list[dict], arrays) -> list[str]:
    j = problem["index"]
    kinds = ["loss"]
    has_paths = all(f"group{g['index']}_params" in arrays for g in groups)
    if problem["point_function"] and f"problem{j}_contour_z" in arrays and has_paths:
        kinds.append("paths")
    elif problem["point_function"]:
        kinds.append("grad_norm")
    if f"problem{j}_fitcurve_x" in arrays:  # a network's fitted curve, saved by the run
        kinds.append("fit")
    if f"problem{j}_inputs" in arrays and arrays[f"problem{j}_inputs"].shape[1] == 1 and problem["dim"] == 2 \
            and has_paths:  # a line or a logistic curve (b, w)
        kinds.append("fit")
        if f"problem{j}_contour_z" in arrays and has_paths:
            kinds.append("landscape")
    if any("learning_rate" in g["swept"] and len(g["settings"]) > 1 for g in groups):
        kinds.append("lr_sensitivity")
    if any(g.get("sampled") and len(g["swept"]) >= 2 for g in groups):
        kinds.append("search")
    if any(f"group{g['index']}_metric_accuracy" in arrays for g in groups):
        kinds.append("accuracy")
    if any(f"group{g['index']}_sharpness" in arrays for g in groups):
        kinds.append("sharpness")
    for kind, key in (("interpolation", "interp_loss"), ("random_plane", "rplane_loss"),
                      ("trajectory_plane", "tplane_loss")):
        if f"problem{j}_{key}" in arrays:
            kinds.append(kind)
    return kinds


def _curves(problem, groups, arrays, field: str):
    """Per optimizer (best setting): the median and min-max band of the seeds that did not
    diverge, and each diverged seed's curve up to the step it blew up."""
    curves = []
    for g in groups:
        i = _best(g)
        values = np.asarray(arrays[f"group{g['index']}_{field}"][i], np.float64)  # (seeds, T+1)
        if field == "loss":
            values, log, ylabel = _gap(values, problem["minimum"])
        else:
            values, log, ylabel = values, True, "gradient norm"
        div = np.asarray(arrays[f"group{g['index']}_diverged_at"][i])
        steps = np.asarray(arrays.get(f"group{g['index']}_steps", np.arange(values.shape[1])))
        calm = values[div < 0] if np.any(div < 0) else values[:, : max(1, int(np.searchsorted(steps, div.min())))]
        blown = [(steps[: k + 1], values[s, : k + 1]) for s in np.flatnonzero(div >= 0)
                 for k in [min(int(np.searchsorted(steps, div[s])), len(steps) - 1)]]
        n, bad = len(div), int(np.sum(div >= 0))
        label = f"{_label(g, i)}: {n - bad} of {n} seeds" if bad else _label(g, i)
        if bad:
            first = int(div[div >= 0].min())
            label += f" ({bad} diverged, first at step {first})"
        pad = values.shape[1] - calm.shape[1]  # every seed diverged: the curves up to the first divergence
        med, lo, hi = (np.pad(f(calm, 0), (0, pad), constant_values=np.nan) for f in (np.median, np.min, np.max))
        curves.append((label, med, lo, hi, blown))
    return curves, log, ylabel


def _seeds_note(groups) -> str:
    """How many seeds each line summarises, said once."""
    n = {len(g["settings"][_best(g)]["runs"]) for g in groups}
    if n == {1}:
        return "one seed"
    return (f"median and min–max of the {n.pop()} seeds" if len(n) == 1 else "median and min–max of the seeds") \
        + " that did not diverge"


def _styles(groups) -> dict:
    """``{group index: house.Style}``: each optimizer's identity, the same in every figure."""
    return dict(zip((g["index"] for g in groups), house.identities([g["optimizer"] for g in groups])))


def _seed(g: dict, i: int) -> int:
    """The seed a one-run figure shows for setting ``i``: the first that did not diverge."""
    return next((r["seed"] for r in g["settings"][i]["runs"] if r["diverged_step"] is None), 0)


def _test_curves(problem, groups, arrays):
    """The median held-out loss per optimizer (best setting), for dashed lines beside the training loss."""
    out = []
    for k, g in enumerate(groups):
        key = f"group{g['index']}_metric_test_loss"
        if key in arrays:
            values, _, _ = _gap(np.asarray(arrays[key][_best(g)], np.float64), None)
            out.append((k, np.median(values, 0)))
    return out


def _loss(problem, groups, arrays, summary, field="loss"):
    fig, (ax,) = house.figure(1, 7.5, 4.8)
    dashed = _test_curves(problem, groups, arrays) if field == "loss" else []
    if dashed:  # training and test loss on one axis: the loss itself, not the gap to the training minimum
        problem = {**problem, "minimum": None}
    curves, log, ylabel = _curves(problem, groups, arrays, field)
    steps = arrays.get(f"group{groups[0]['index']}_steps")
    style = _styles(groups)
    plots.loss_curves(ax, curves, ylabel=ylabel, log=log, dashed=dashed, steps=steps,
                      styles=[style[g["index"]] for g in groups],
                      title=f"{problem['label']}: {'loss' if field == 'loss' else 'gradient norm'}\n"
                            f"(best setting per optimizer; {_seeds_note(groups)})")
    return fig


def _accuracy(problem, groups, arrays, summary):
    """Training (solid) and test (dotted) accuracy per step, each optimizer's chosen setting."""
    curves, dashed, styles = [], [], []
    style = _styles(groups)
    for g in groups:
        key = f"group{g['index']}_metric_accuracy"
        if key not in arrays:
            continue
        i = _best(g)
        div = np.asarray(arrays[f"group{g['index']}_diverged_at"][i])
        calm = np.asarray(arrays[key][i], np.float64)[div < 0] if np.any(div < 0) else np.asarray(arrays[key][i])
        curves.append((_label(g, i), np.median(calm, 0), calm.min(0), calm.max(0), None))
        styles.append(style[g["index"]])
        test = arrays.get(f"group{g['index']}_metric_test_accuracy")
        if test is not None:
            dashed.append((len(curves) - 1, np.median(np.asarray(test[i], np.float64)[div < 0] if np.any(div < 0)
                                                      else np.asarray(test[i], np.float64), 0)))
    if not curves:
        return None
    fig, (ax,) = house.figure(1, 7.5, 4.8)
    plots.loss_curves(ax, curves, ylabel="accuracy", log=False, dashed=dashed, styles=styles, dashed_label="test accuracy",
                      steps=arrays.get(f"group{groups[0]['index']}_steps"),
                      title=f"{problem['label']}: " + ("accuracy (training solid, test dotted)" if dashed
                                                       else "training accuracy") + "\n"
                            f"(best setting per optimizer; {_seeds_note(groups)})")
    ax.set_ylim(min(ax.get_ylim()[0], 1.0), 1.005)
    return fig


def _over_seeds(summary) -> str:
    return "seed 0" if summary["seeds"] == 1 else f"median over {summary['seeds']} seeds"


def _sharpness(problem, groups, arrays, summary):
    lines, styles = [], []
    for g in groups:
        key = f"group{g['index']}_sharpness"
        if key not in arrays:
            continue
        for i, setting in enumerate(g["settings"]):
            styles.append(_styles(groups)[g["index"]] if len(g["settings"]) == 1 else None)
            lines.append((_label(g, i), arrays[f"group{g['index']}_steps"],
                          np.median(arrays[f"group{g['index']}_loss"][i], 0),
                          arrays[f"group{g['index']}_sharpness_steps"], np.median(arrays[key][i], 0),
                          setting.get("stability_threshold")))
    if not lines:
        return None
    fig, (ax_loss, ax_sharp) = house.figure(1, 7.5, 7.0, rows=2, sharex=True)
    # one identity per optimizer; settings of one optimizer (the learning rates of EoS) get the run palette
    styles = None if any(st is None for st in styles) else styles
    plots.sharpness_panels(ax_loss, ax_sharp, lines, styles=styles,
                           title=f"{problem['label']}: loss and sharpness ({_over_seeds(summary)})")
    return fig


def _grad_norm(problem, groups, arrays, summary):
    return _loss(problem, groups, arrays, summary, field="grad_norm")


def _path_list(groups, arrays):
    """Per optimizer (best setting), the path of its first seed that did not diverge."""
    paths, style = [], _styles(groups)
    for g in groups:
        i = _best(g)
        params = arrays[f"group{g['index']}_params"][i]  # (seeds, T+1, d)
        paths.append((_label(g, i), params[_seed(g, i), :, :2], style[g["index"]]))
    return paths


def _paths(problem, groups, arrays, summary):
    j = problem["index"]
    x, y, z = (arrays[f"problem{j}_contour_{k}"] for k in "xyz")
    fig, (ax,) = house.figure(1, 6.8, 6.0)
    minimizers = [m for m in problem["minimizers"] if len(m) == 2]
    plots.paths_on_contours(ax, x, y, z, _path_list(groups, arrays), minimizers,
                            title=f"{problem['label']}: optimizer paths (best setting, first seed that did not diverge)")
    return fig


def _landscape(problem, groups, arrays, summary):
    j = problem["index"]
    x, y, z = (arrays[f"problem{j}_contour_{k}"] for k in "xyz")
    fig, (ax,) = house.figure(1, 6.8, 6.0)
    minimizers = [(m[-1], m[0]) for m in problem["minimizers"]]  # ravel order is (b, w): plot (w, b)
    paths = [(label, pts[:, ::-1], c) for label, pts, c in _path_list(groups, arrays)]
    plots.paths_on_contours(ax, x, y, z, paths, minimizers, xlabel="weight w", ylabel="bias b", arrows=True,
                            title=f"{problem['label']}: loss over (w, b) with optimizer paths")
    return fig


def _by_index(groups):
    return {g["index"]: (k, g) for k, g in enumerate(groups)}


def _interpolation(problem, groups, arrays, summary):
    j = problem["index"]
    if f"problem{j}_interp_loss" not in arrays:
        return None
    index = _by_index(groups)
    curves = [(_label(index[int(i)][1], _best(index[int(i)][1])), losses)
              for i, losses in zip(arrays[f"problem{j}_interp_groups"], arrays[f"problem{j}_interp_loss"])]
    test = arrays.get(f"problem{j}_interp_test_loss")
    dashed = [] if test is None else list(enumerate(test))
    fig, (ax,) = house.figure(1, 7.0, 4.6)
    style = _styles(groups)
    plots.landscape_1d(ax, arrays[f"problem{j}_interp_alpha"], curves, dashed=dashed,
                       styles=[style[int(i)] for i in arrays[f"problem{j}_interp_groups"]],
                       xlabel="α: (1 - α) start + α end (best setting, first seed that did not diverge)",
                       title=f"{problem['label']}: loss from start (α = 0) to end (α = 1)")
    return fig


def _random_plane(problem, groups, arrays, summary):
    j = problem["index"]
    if f"problem{j}_rplane_loss" not in arrays:
        return None
    k, g = _by_index(groups)[int(arrays[f"problem{j}_rplane_group"])]
    fig, (ax,) = house.figure(1, 6.8, 5.6)
    plots.landscape_2d(ax, arrays[f"problem{j}_rplane_alpha"], arrays[f"problem{j}_rplane_beta"],
                       arrays[f"problem{j}_rplane_loss"],
                       title=f"{problem['label']}: filter-normalised random plane through the end of "
                             f"{_label(g, _best(g))} (+)")  # polish wraps it to the axes
    return fig


def _trajectory_plane(problem, groups, arrays, summary):
    j = problem["index"]
    if f"problem{j}_tplane_loss" not in arrays:
        return None
    index = _by_index(groups)
    k, g = index[int(arrays[f"problem{j}_tplane_group"])]
    paths = [(_label(og, _best(og)), arrays[f"problem{j}_tplane_path{i}"], _styles(groups)[i].color)
             for i, (ok, og) in index.items() if f"problem{j}_tplane_path{i}" in arrays]
    fig, (ax,) = house.figure(1, 6.8, 5.6)
    explained = float(arrays[f"problem{j}_tplane_explained"])
    plots.landscape_2d(ax, arrays[f"problem{j}_tplane_alpha"], arrays[f"problem{j}_tplane_beta"],
                       arrays[f"problem{j}_tplane_loss"], paths=paths,
                       xlabel=f"distance along end → start of {_label(g, _best(g))}",
                       ylabel="principal deviation of the paths",
                       title=f"{problem['label']}: plane through the optimizer paths "
                             f"(+: end of {_label(g, _best(g))}; {100 * explained:.0f}% of the paths' spread in it)")
    return fig


def _fit(problem, groups, arrays, summary):
    j = problem["index"]
    X, t = arrays[f"problem{j}_inputs"][:, 0], arrays[f"problem{j}_targets"]
    fig, (ax,) = house.figure(1, 7.0, 4.8)
    if f"problem{j}_fitcurve_x" in arrays:  # a network: its curve on a grid, saved by the run
        grid = arrays[f"problem{j}_fitcurve_x"]
        curves = [(_label(g, _best(g)), grid, arrays[f"group{g['index']}_fitcurve_y"], _styles(groups)[g["index"]])
                  for g in groups if f"group{g['index']}_fitcurve_y" in arrays]
        plots.fit_curves(ax, X, t, curves, title=f"{problem['label']}: fitted model (best setting, first seed "
                                                  "that did not diverge)")
        return fig
    fits = []
    for k, g in enumerate(groups):
        key = f"group{g['index']}_params"
        if key not in arrays:
            continue
        i = _best(g)
        theta = arrays[key][i, _seed(g, i), -1]  # (b, w) for regressions
        fits.append((_label(g, i), theta[0], theta[1], _styles(groups)[g["index"]].color))
    if not fits:  # nothing fitted to draw: no figure of the data alone
        return None
    plots.fit_plot(ax, X, t, fits, classification=problem["kind"] == "classification",
                   minimizer=problem["minimizers"][0] if problem["minimizers"] else None,
                   title=f"{problem['label']}: fitted model (best setting, first seed that did not diverge)")
    return fig


def _lr(problem, groups, arrays, summary):
    lines, styles = [], []
    for g in groups:
        if "learning_rate" not in g["swept"] or len(g["settings"]) < 2:
            continue
        by_lr: dict[float, tuple[float, float]] = {}
        for s in g["settings"]:
            lr = s["hyperparams"]["learning_rate"]
            value = stats.setting_median(s) - (problem["minimum"] or 0.0)
            diverged = s["diverged"] / len(s["runs"])
            if lr not in by_lr or value < by_lr[lr][0]:
                by_lr[lr] = (value, diverged)
        lrs = sorted(by_lr)
        lines.append((g["optimizer_label"], lrs, [by_lr[v][0] for v in lrs], [by_lr[v][1] for v in lrs]))
        # a search's samples are points, not a line through values in no order
        styles.append(_styles(groups)[g["index"]]._replace(dash="none") if g.get("sampled")
                      else _styles(groups)[g["index"]])
    if not lines:
        return None
    fig, (ax,) = house.figure(1, 6.5, 4.6)
    plots.lr_sensitivity(ax, lines, styles=styles,
                         ylabel="median final loss" + (" - minimum" if problem["minimum"] is not None else ""),
                         title=f"{problem['label']}: learning-rate sensitivity")
    return fig


def _search(problem, groups, arrays, summary):
    """Each sampled group's search over its first two hyperparameters, coloured by final loss."""
    sampled = [g for g in groups if g.get("sampled") and len(g["swept"]) >= 2]
    if not sampled:
        return None
    fig, axes = house.figure(len(sampled), 5.6, 4.8)
    for ax, g in zip(axes, sampled):
        a, b = g["swept"][:2]
        settings = g["settings"]
        plots.search_scatter(ax, (a, b), [s["hyperparams"][a] for s in settings], [s["hyperparams"][b] for s in settings],
                             [stats.setting_median(s) - (problem["minimum"] or 0.0) for s in settings],
                             [s["diverged"] > 0 for s in settings],
                             title=f"{problem['label']}: {g['optimizer_label']}, {len(settings)} samples")
    return fig


def _basins(problem, groups, arrays, summary):
    j = problem["index"]
    with_basins = [g for g in groups if f"group{g['index']}_basins_label" in arrays]
    if not with_basins:
        return None
    x, y = arrays[f"problem{j}_basins_x"], arrays[f"problem{j}_basins_y"]
    cols = min(2, len(with_basins))  # at most two panels a row: legible at a page's width
    rows = -(-len(with_basins) // cols)
    fig, axes = house.figure(cols, 5.2, 5.0 * rows, rows=rows)
    for ax in axes[len(with_basins):]:
        ax.set_visible(False)
    for ax, g in zip(axes, with_basins):
        i = _best(g)
        plots.basins_map(ax, x, y, arrays[f"group{g['index']}_basins_label"], arrays[f"group{g['index']}_basins_steps"],
                         problem["minimizers"], summary["steps"], title=_label(g, i))
    legends = [ax.get_legend() for ax in axes[: len(with_basins)] if ax.get_legend() is not None]
    keep = max(legends, key=lambda leg: len(leg.get_texts()), default=None)  # one key, the fullest
    for leg in legends:
        if leg is not keep:
            leg.remove()
    fig.suptitle(f"{problem['label']}: basins of attraction (each start coloured by the minimum it reaches)")
    return fig


def _race(problem, groups, arrays, summary, path: Path):
    j = problem["index"]
    if f"problem{j}_contour_z" not in arrays or not all(f"group{g['index']}_params" in arrays for g in groups):
        return None
    x, y, z = (arrays[f"problem{j}_contour_{k}"] for k in "xyz")
    paths = _path_list(groups, arrays)
    plots.race_gif(path, x, y, z, [p for _, p, _ in paths], [label for label, _, _ in paths],
                   [m for m in problem["minimizers"] if len(m) == 2], title=f"{problem['label']}: optimizer race",
                   styles=[st for _, _, st in paths])
    return path


DRAWERS: dict[str, Callable] = {
    "accuracy": _accuracy,
    "search": _search,
    "basins": _basins,
    "loss": _loss,
    "grad_norm": _grad_norm,
    "paths": _paths,
    "landscape": _landscape,
    "fit": _fit,
    "lr_sensitivity": _lr,
    "interpolation": _interpolation,
    "random_plane": _random_plane,
    "trajectory_plane": _trajectory_plane,
    "sharpness": _sharpness,
}


def figure(run_dir: str | Path, kind: str, problem: int = 0):
    """The matplotlib figure of one plot kind of a run's problem (``None`` if it does not apply),
    as :func:`draw` draws it, without saving it."""
    summary, arrays = rundir.read(run_dir)
    info = next(p for p in summary["problems"] if p["index"] == problem)
    groups = [g for g in summary["groups"] if g["problem_index"] == problem]
    fig = DRAWERS[kind](info, groups, arrays, summary)
    if fig is not None:
        house.polish(fig)
    return fig


def draw(run_dir: str | Path, kinds: list[str] | None = None, status=None, suffix: str = ".png") -> list[Path]:
    """Write the run's figures (``suffix``: .png, .svg or .pdf) and return their paths;
    inapplicable kinds are skipped.

    ``status`` (a :class:`jaxgrad.pictures.terminal.Status`) reports each figure as it is drawn.

    Raises:
      InputError: not a run directory, or an unknown kind (the nearest is named).
    """
    from jaxgrad.pictures import terminal

    run_dir = Path(run_dir)
    status = status or terminal.Status(enabled=False)
    summary, arrays = rundir.read(run_dir)
    from jaxgrad.lab.config import PLOT_KINDS

    for kind in kinds or ():
        if kind not in PLOT_KINDS:
            raise InputError(f"--kind {kind!r}: unknown plot{did_you_mean(kind, PLOT_KINDS)}; "
                             f"known: {', '.join(PLOT_KINDS)}")
    if kinds is None:
        requested = summary["config"].get("output", {}).get("plots")
        kinds = None if requested in (None, "auto") or "auto" in (requested or []) else list(requested)
    jobs = []  # (problem, its groups, kind)
    for problem in summary["problems"]:
        groups = [g for g in summary["groups"] if g["problem_index"] == problem["index"]]
        if not groups:
            continue
        wanted = kinds if kinds is not None else default_kinds(problem, groups, arrays)
        applicable = set(default_kinds(problem, groups, arrays)) | {"loss", "grad_norm"}
        if problem["point_function"] and any(f"group{g['index']}_params" in arrays for g in groups) and \
                f"problem{problem['index']}_contour_z" in arrays:
            applicable.add("paths")
        if "basins" in wanted and any(f"group{g['index']}_basins_label" in arrays for g in groups):
            applicable.add("basins")
        for kind in wanted:
            if (kind == "race" and "paths" in applicable) or (kind in DRAWERS and kind in applicable):
                jobs.append((problem, groups, kind))
    written = []
    with status.steps("plot", len(jobs)) as step, warnings.catch_warnings(), np.errstate(all="ignore"):
        # a diverged run's huge values overflow inside matplotlib's transforms (exp, cast): drawn, not reported
        warnings.simplefilter("ignore", RuntimeWarning)
        for problem, groups, kind in jobs:
            name = f"{kind}-{problem['index']}-{_slug(problem['label'])}"
            step.start(name)
            if kind == "race":
                path = run_dir / f"{name}.gif"
                if _race(problem, groups, arrays, summary, path):
                    written.append(path)
            else:
                fig = DRAWERS[kind](problem, groups, arrays, summary)
                if fig is not None:
                    path = run_dir / f"{name}{suffix}"
                    save_figure(fig, path)
                    written.append(path)
            step.done()
    return written
