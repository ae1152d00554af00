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
from pathlib import Path
from typing import Callable

import numpy as np

from jaxgrad import plots, rundir
from jaxgrad.errors import InputError, did_you_mean
from jaxgrad.files import save_figure

__all__ = ["draw", "default_kinds"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "problem"


def _best(group: dict) -> int:
    return int(np.argmin([s["median_final_loss"] for s in group["settings"]]))


def _label(group: dict, i: int) -> str:
    setting = group["settings"][i]["label"]
    return group["optimizer_label"] + ("" if setting == "default" else f" ({setting})")


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
    if f"problem{j}_inputs" in arrays and arrays[f"problem{j}_inputs"].shape[1] == 1 and problem["dim"] == 2 \
            and has_paths:  # a line or a logistic curve (b, w); a network's fit needs its forward pass
        kinds.append("fit")
        if f"problem{j}_contour_z" in arrays and has_paths:
            kinds.append("landscape")
    if any("learning_rate" in g["swept"] and len(g["settings"]) > 1 for g in groups):
        kinds.append("lr_sensitivity")
    if any(f"group{g['index']}_sharpness" in arrays for g in groups):
        kinds.append("sharpness")
    for kind, key in (("interpolation", "interp_loss"), ("random_plane", "rplane_loss"),
                      ("trajectory_plane", "tplane_loss")):
        if f"problem{j}_{key}" in arrays:
            kinds.append(kind)
    return kinds


def _curves(problem, groups, arrays, field: str):
    curves = []
    for g in groups:
        i = _best(g)
        values = np.asarray(arrays[f"group{g['index']}_{field}"][i], np.float64)  # (seeds, T+1)
        if field == "loss":
            values, log, ylabel = _gap(values, problem["minimum"])
        else:
            values, log, ylabel = values, True, "gradient norm"
        div = np.asarray(arrays[f"group{g['index']}_diverged_at"][i])
        first = int(div[div >= 0].min()) if np.any(div >= 0) else None
        curves.append((_label(g, i), np.median(values, 0), values.min(0), values.max(0), first))
    return curves, log, ylabel


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
    fig, (ax,) = plots.figure(1, 7.5, 4.8)
    dashed = _test_curves(problem, groups, arrays) if field == "loss" else []
    if dashed:  # training and test loss on one axis: the loss itself, not the gap to the training minimum
        problem = {**problem, "minimum": None}
    curves, log, ylabel = _curves(problem, groups, arrays, field)
    steps = arrays.get(f"group{groups[0]['index']}_steps")
    plots.loss_curves(ax, curves, ylabel=ylabel, log=log, dashed=dashed, steps=steps,
                      title=f"{problem['label']}: {'loss' if field == 'loss' else 'gradient norm'} "
                            f"(best setting per optimizer; {_over_seeds(summary)}"
                            f"{', band min–max' if summary['seeds'] > 1 else ''})")
    return fig


def _over_seeds(summary) -> str:
    return "seed 0" if summary["seeds"] == 1 else f"median over {summary['seeds']} seeds"


def _sharpness(problem, groups, arrays, summary):
    lines = []
    for g in groups:
        key = f"group{g['index']}_sharpness"
        if key not in arrays:
            continue
        for i, setting in enumerate(g["settings"]):
            lines.append((_label(g, i), arrays[f"group{g['index']}_steps"],
                          np.median(arrays[f"group{g['index']}_loss"][i], 0),
                          arrays[f"group{g['index']}_sharpness_steps"], np.median(arrays[key][i], 0),
                          setting.get("stability_threshold")))
    if not lines:
        return None
    fig, (ax_loss, ax_sharp) = plots.figure(1, 7.5, 7.0, rows=2, sharex=True)
    plots.sharpness_panels(ax_loss, ax_sharp, lines,
                           title=f"{problem['label']}: loss and sharpness ({_over_seeds(summary)})")
    return fig


def _grad_norm(problem, groups, arrays, summary):
    return _loss(problem, groups, arrays, summary, field="grad_norm")


def _path_list(groups, arrays, seeds=1):
    paths = []
    for k, g in enumerate(groups):
        i = _best(g)
        params = arrays[f"group{g['index']}_params"][i]  # (seeds, T+1, d)
        for s in range(min(seeds, params.shape[0])):
            paths.append((_label(g, i) if s == 0 else None, params[s, :, :2], plots.color(k)))
    return paths


def _paths(problem, groups, arrays, summary):
    j = problem["index"]
    x, y, z = (arrays[f"problem{j}_contour_{k}"] for k in "xyz")
    fig, (ax,) = plots.figure(1, 6.8, 6.0)
    minimizers = [m for m in problem["minimizers"] if len(m) == 2]
    plots.paths_on_contours(ax, x, y, z, _path_list(groups, arrays), minimizers,
                            title=f"{problem['label']}: paths of seed 0 (best setting per optimizer)")
    return fig


def _landscape(problem, groups, arrays, summary):
    j = problem["index"]
    x, y, z = (arrays[f"problem{j}_contour_{k}"] for k in "xyz")
    fig, (ax,) = plots.figure(1, 6.8, 6.0)
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
    fig, (ax,) = plots.figure(1, 7.0, 4.6)
    plots.landscape_1d(ax, arrays[f"problem{j}_interp_alpha"], curves,
                       xlabel="α: (1 - α) start + α end (seed 0, best setting)",
                       title=f"{problem['label']}: loss from start (α = 0) to end (α = 1)")
    return fig


def _random_plane(problem, groups, arrays, summary):
    j = problem["index"]
    if f"problem{j}_rplane_loss" not in arrays:
        return None
    k, g = _by_index(groups)[int(arrays[f"problem{j}_rplane_group"])]
    fig, (ax,) = plots.figure(1, 6.8, 5.6)
    plots.landscape_2d(ax, arrays[f"problem{j}_rplane_alpha"], arrays[f"problem{j}_rplane_beta"],
                       arrays[f"problem{j}_rplane_loss"],
                       title=f"{problem['label']}: filter-normalised random plane\nthrough the end of "
                             f"{_label(g, _best(g))} (+)")
    return fig


def _trajectory_plane(problem, groups, arrays, summary):
    j = problem["index"]
    if f"problem{j}_tplane_loss" not in arrays:
        return None
    index = _by_index(groups)
    k, g = index[int(arrays[f"problem{j}_tplane_group"])]
    paths = [(_label(og, _best(og)), arrays[f"problem{j}_tplane_path{i}"], plots.color(ok))
             for i, (ok, og) in index.items() if f"problem{j}_tplane_path{i}" in arrays]
    fig, (ax,) = plots.figure(1, 6.8, 5.6)
    explained = float(arrays[f"problem{j}_tplane_explained"])
    plots.landscape_2d(ax, arrays[f"problem{j}_tplane_alpha"], arrays[f"problem{j}_tplane_beta"],
                       arrays[f"problem{j}_tplane_loss"], paths=paths,
                       xlabel=f"distance along end → start of {_label(g, _best(g))}",
                       ylabel="principal deviation of the paths",
                       title=f"{problem['label']}: plane through the optimizer paths\n"
                             f"(+: end of {_label(g, _best(g))}; {100 * explained:.0f}% of the paths' spread in it)")
    return fig


def _fit(problem, groups, arrays, summary):
    j = problem["index"]
    X, t = arrays[f"problem{j}_inputs"][:, 0], arrays[f"problem{j}_targets"]
    fig, (ax,) = plots.figure(1, 7.0, 4.8)
    fits = []
    for k, g in enumerate(groups):
        key = f"group{g['index']}_params"
        if key not in arrays:
            continue
        i = _best(g)
        theta = arrays[key][i, 0, -1]  # (b, w) for regressions
        fits.append((_label(g, i), theta[0], theta[1], plots.color(k)))
    if not fits:  # nothing fitted to draw: no figure of the data alone
        return None
    plots.fit_plot(ax, X, t, fits, classification=problem["kind"] == "classification",
                   minimizer=problem["minimizers"][0] if problem["minimizers"] else None,
                   title=f"{problem['label']}: fitted model (seed 0, best setting)")
    return fig


def _lr(problem, groups, arrays, summary):
    lines = []
    for g in groups:
        if "learning_rate" not in g["swept"] or len(g["settings"]) < 2:
            continue
        by_lr: dict[float, tuple[float, float]] = {}
        for s in g["settings"]:
            lr = s["hyperparams"]["learning_rate"]
            value = s["median_final_loss"] - (problem["minimum"] or 0.0)
            diverged = s["diverged"] / len(s["runs"])
            if lr not in by_lr or value < by_lr[lr][0]:
                by_lr[lr] = (value, diverged)
        lrs = sorted(by_lr)
        lines.append((g["optimizer_label"], lrs, [by_lr[v][0] for v in lrs], [by_lr[v][1] for v in lrs]))
    if not lines:
        return None
    fig, (ax,) = plots.figure(1, 6.5, 4.6)
    plots.lr_sensitivity(ax, lines, ylabel="median final loss" + (" - minimum" if problem["minimum"] is not None else ""),
                         title=f"{problem['label']}: learning-rate sensitivity")
    return fig


def _basins(problem, groups, arrays, summary):
    j = problem["index"]
    with_basins = [g for g in groups if f"group{g['index']}_basins_label" in arrays]
    if not with_basins:
        return None
    x, y = arrays[f"problem{j}_basins_x"], arrays[f"problem{j}_basins_y"]
    fig, axes = plots.figure(len(with_basins), 5.2, 5.0)
    for ax, g in zip(axes, with_basins):
        i = _best(g)
        plots.basins_map(ax, x, y, arrays[f"group{g['index']}_basins_label"], arrays[f"group{g['index']}_basins_steps"],
                         problem["minimizers"], summary["steps"], title=_label(g, i))
    fig.suptitle(f"{problem['label']}: basins of attraction (each start coloured by the minimum it reaches)")
    return fig


def _race(problem, groups, arrays, summary, path: Path):
    j = problem["index"]
    if f"problem{j}_contour_z" not in arrays or not all(f"group{g['index']}_params" in arrays for g in groups):
        return None
    x, y, z = (arrays[f"problem{j}_contour_{k}"] for k in "xyz")
    paths = _path_list(groups, arrays)
    plots.race_gif(path, x, y, z, [p for _, p, _ in paths], [label for label, _, _ in paths],
                   [m for m in problem["minimizers"] if len(m) == 2], title=f"{problem['label']}: optimizer race")
    return path


DRAWERS: dict[str, Callable] = {
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


def draw(run_dir: str | Path, kinds: list[str] | None = None, status=None, suffix: str = ".png") -> list[Path]:
    """Write the run's figures (``suffix``: .png, .svg or .pdf) and return their paths;
    inapplicable kinds are skipped.

    ``status`` (a :class:`jaxgrad.terminal.Status`) reports each figure as it is drawn.

    Raises:
      InputError: not a run directory, or an unknown kind (the nearest is named).
    """
    from jaxgrad import terminal

    run_dir = Path(run_dir)
    status = status or terminal.Status(enabled=False)
    summary, arrays = rundir.read(run_dir)
    from jaxgrad.config import PLOT_KINDS

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
    with status.steps("plot", len(jobs)) as step:
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
