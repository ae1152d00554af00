"""Config -> runs -> result files.

Each (problem, optimizer group) of a config runs as one compiled :func:`~jaxgrad.sweep`
(settings x seeds), compiled ahead of time so compile and run times are reported
apart. After every group the run directory is brought up to date atomically:

* ``config.toml``   the resolved config (after ``--set`` overrides);
* ``summary.json``  versioned: status, per-run outcomes, per-setting statistics,
  timings, versions, device, dtype;
* ``metrics.csv``   one row per (group, setting, seed, step): loss, gradient norm;
* ``arrays.npz``    losses, gradient norms, parameter paths (when recorded) and the
  contour grids the pictures need, so ``jaxgrad plot`` redraws without recomputing;
* PNG plots (:mod:`jaxgrad.pictures.report`).

An interrupted run (Ctrl-C, SIGTERM) keeps every completed group and says
``"status": "incomplete"``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import functools
import io
import platform
import signal
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxgrad import files, optimizers, timing
from jaxgrad.engine import SHARPNESS_ITERS, plan_sweep
from jaxgrad.errors import InputError
from jaxgrad.lab import rundir, stats
from jaxgrad.lab.config import Config
from jaxgrad.precision import precision

__all__ = ["Group", "Result", "plan", "plan_group", "check_groups", "batch_size", "run_group", "describe_plan", "run_experiment", "Interrupted", "RunFault",
           "Trained", "load_trained"]
CONTOUR_POINTS = 201
BASIN_POINTS = 81


class Interrupted(BaseException):
    """The run stopped early on SIGTERM or Ctrl-C; every completed group is saved."""


@dataclasses.dataclass
class Group:
    index: int
    problem_index: int
    problem: Any  # a Problem
    problem_label: str
    optimizer: Any  # an OptimizerConfig
    dim: int  # evaluated at plan time, inside the config's precision
    point_function: bool

    @property
    def settings(self) -> list[dict]:
        return self.optimizer.settings

    @property
    def label(self) -> str:
        return f"{self.problem_label} / {self.optimizer.label}"


@dataclasses.dataclass
class Result:
    run_dir: Path
    summary: dict

    @property
    def complete(self) -> bool:
        return self.summary["status"] == "complete"


def precision_context(config: Config):
    """The config's precision as a context (:func:`jaxgrad.precision.precision`)."""
    return precision(config.precision)[0]


def _record_params(config: Config, problem) -> bool:
    if config.output.record_params is not None:
        return config.output.record_params
    return problem.bounds is not None  # 2-D functions and 1-feature regressions: paths are drawn


def plan(config: Config) -> list[Group]:
    """Build the problems (inside the config's precision) and the groups to run."""
    groups = []
    with precision_context(config):
        for j, pc in enumerate(config.problems):
            problem = pc.build()
            try:
                dim, point = problem.dim, problem.is_point_function
            except InputError:
                raise
            except Exception as err:  # its init does not give arrays
                raise InputError(f"{config.source}: problems.{j}: {_why(err)}", field=f"problems.{j}") from None
            for oc in config.optimizers:
                groups.append(Group(len(groups), j, problem, pc.label, oc, dim, point))
    return groups


CSV_ROW_BYTES = 72  # a metrics.csv row: labels, step, loss and gradient norm at 17 digits
CSV_METRIC_BYTES = 24


@dataclasses.dataclass(frozen=True)
class Resources:
    """What a group needs: bytes in memory while it runs, bytes it keeps, bytes on disk."""

    working: int  # device memory of the compiled sweep: history twice (scan output, final copy) + state
    kept: int  # the history kept in memory until the run ends (arrays.npz)
    disk: int  # metrics.csv rows + arrays.npz (uncompressed bound)


def resources(config: Config, group: Group) -> Resources:
    """An estimate from the config and the problem's size alone (nothing is compiled)."""
    item = 8 if config.precision == "float64" else 4
    runs = len(group.settings) * config.seeds
    records = config.steps // config.output.record_every + 1
    with precision_context(config):  # shapes evaluated in the config's precision (no float64 truncation)
        n_metrics = len(_metric_names(group.problem))
    per_record = 3 + n_metrics + (group.dim if _record_params(config, group.problem) else 0)
    history = runs * records * per_record * item
    state = runs * group.dim * 8 * item  # params, gradients, optimizer moments, the diverged-run copy
    if config.output.sharpness_every:
        n_metrics += 1
        history += runs * (config.steps // config.output.sharpness_every + 1) * item
        state += runs * (SHARPNESS_ITERS + 4) * group.dim * item  # the Lanczos basis
    if group.optimizer.name == "newton":
        state += runs * 3 * group.dim * group.dim * item  # the Hessian, its factorisation or eigenvectors
    every = config.output.metrics_every or config.output.record_every
    rows = runs * (config.steps // every + 1)
    disk = rows * (CSV_ROW_BYTES + CSV_METRIC_BYTES * n_metrics) + history
    return Resources(2 * history + state, history, disk)


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_resources(config: Config, groups: list[Group], run_dir: Path | None = None) -> None:
    """Refuse, before any work, a run this machine cannot hold: memory (the largest group in
    flight plus every group's kept history) or disk. The message names the knob to turn."""
    import shutil

    needs = [resources(config, g) for g in groups]
    peak = max(r.working for r in needs) + sum(r.kept for r in needs)
    memory = _available_memory()
    knobs = ("set [output] record_every = k (keep every k-th step), fewer seeds or settings, "
             "or record_params = false")
    if memory is not None and peak > 0.8 * memory:
        worst = max(range(len(groups)), key=lambda i: needs[i].working + needs[i].kept)
        raise InputError(f"{config.source}: the run needs about {_gib(peak)} of memory and {_gib(memory)} is "
                         f"available (group {worst}, {groups[worst].label}, alone {_gib(needs[worst].working)}); "
                         + knobs)
    disk = sum(r.disk for r in needs)
    where = run_dir if run_dir is not None else Path.cwd()
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        free = None
    if free is not None and disk > 0.9 * free:
        raise InputError(f"{config.source}: the run would write about {_gib(disk)} and {_gib(free)} is free in "
                         f"{where}; set [output] metrics_every = m (rows every m steps) or record_every = k")


PROBE_STEPS = 16  # the dry run times each group's program at this many steps
START_SECONDS = 2.0  # JAX and matplotlib imported, the device up (measured: 1.5-2.5 s on a 2-core CPU)
FIGURE_SECONDS = 0.8  # one figure drawn and saved (0.4-1.2 s); a landscape's fields about 1 s more


def _figures_seconds(config: Config, groups: list[Group]) -> float:
    """The figures, landscapes and the page: a count of what will be drawn, times a measured cost."""
    total = 0.0
    for j, pc in enumerate(config.problems):
        mine = [g for g in groups if g.problem_index == j]
        problem = mine[0].problem
        if config.output.plots is not None:
            kinds = len(config.output.plots) + 3 * ("race" in config.output.plots)  # a GIF: many frames
        else:
            kinds = 2 + any("learning_rate" in g.optimizer.sweep for g in mine) + (problem.bounds is None)
        total += FIGURE_SECONDS * kinds + 1.0 * len(landscape_kinds(config, problem))
    return total


def estimate_seconds(config: Config, group: Group) -> tuple[float, float]:
    """``(compile s, run s)`` of a group, measured on its own program at :data:`PROBE_STEPS` steps:
    its compile time, and its time per step times the config's steps."""
    every = config.output.record_every
    # whole recording periods, as the run has them (a period longer than the probe: record every step)
    n = min(config.steps, every * max(1, PROBE_STEPS // every) if every <= PROBE_STEPS else PROBE_STEPS)
    with precision_context(config):
        probe = plan_group(config, group, steps=n)
        executable, compile_s = timing.compiled(probe)
        probe.run(executable)  # warm
        _, run_s = timing.timed(lambda: probe.run(executable))
    return compile_s, run_s / n * config.steps


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def describe_plan(config: Config, timed: bool = True) -> str:
    """The --dry-run text: every group, its runs, one compiled program each, memory, disk and
    (``timed``) the time it will take, measured on each group's program at a few steps."""
    groups = plan(config)
    out = io.StringIO()
    out.write(f"{config.name}: {len(config.problems)} problem(s) x {len(config.optimizers)} optimizer group(s), "
              f"{config.steps} steps, {config.seeds} seeds, {config.precision}"
              + (f", tol {config.tol:g}" if config.tol is not None else "")
              + (f", batch_size {config.batch_size}" if config.batch_size else "")
              + (f", record_every {config.output.record_every}" if config.output.record_every > 1 else "") + "\n")
    total_runs = 0
    needs = []
    compile_total = run_total = 0.0
    if timed:  # every group traced, as a run traces it before making its directory
        with precision_context(config):
            check_groups(config, groups)
    for g in groups:
        runs = len(g.settings) * config.seeds
        r = resources(config, g)
        needs.append(r)
        total_runs += runs
        swept = ", ".join(f"{k} x{len(v)}" if isinstance(v, list) else f"{k} ~ {next(iter(v.as_toml()))}"
                          f"[{v.lo:g}, {v.hi:g}]" for k, v in g.optimizer.sweep.items())
        if g.optimizer.sampled:
            swept = f"{g.optimizer.samples} Halton samples: " + swept
        n = len(g.settings)
        settings = f"{n} settings ({swept})" if swept else "1 setting"
        when = ""
        if timed:
            c, t = estimate_seconds(config, g)
            compile_total, run_total = compile_total + c, run_total + t
            when = f", ~{c:.1f} s to compile + {t:.2g} s to run"
        out.write(f"  [{g.index}] {g.label}: {settings} x {config.seeds} seeds = {runs} runs, dim {g.dim}, "
                  f"~{_gib(r.working)} in flight, {_gib(r.disk)} on disk{when}\n")
    peak = max(r.working for r in needs) + sum(r.kept for r in needs)
    out.write(f"total: {total_runs} runs in {len(groups)} compiled programs, ~{_gib(peak)} of memory at the peak, "
              f"~{_gib(sum(r.disk for r in needs))} of files\n")
    if timed:
        figures = _figures_seconds(config, groups)
        total = START_SECONDS + compile_total + run_total + figures
        out.write(f"time: about {_duration(total)} ({_duration(0.6 * total)} to {_duration(1.6 * total)}): "
                  f"{compile_total:.1f} s compiling, {run_total:.2g} s running, ~{figures + START_SECONDS:.0f} s "
                  "starting and drawing; measured on each group's program at "
                  f"{min(config.steps, max(PROBE_STEPS, config.output.record_every))} steps (a cached compile is "
                  "faster)\n")
    try:
        check_resources(config, groups)
        out.write("fits this machine\n")
    except InputError as err:
        out.write(f"does not fit: {str(err).split(': ', 1)[-1]}\n")
    return out.getvalue()


_SHORT = {"learning_rate": "lr", "momentum": "mu", "weight_decay": "wd"}


def _setting_label(setting: dict, digits: int = 6) -> str:
    return ", ".join(f"{_SHORT.get(k, k)}={v:.{digits}g}" if isinstance(v, float) else f"{_SHORT.get(k, k)}={v}"
                     for k, v in setting.items()) or "default"


def setting_labels(group: Group) -> list[str]:
    """The labels of a group's settings: a grid's values as given; a search's samples to 3
    significant digits (more where two would read the same)."""
    if not group.optimizer.sampled:
        return [_setting_label(s) for s in group.settings]
    for digits in (3, 4, 6, 17):
        labels = [_setting_label(s, digits) for s in group.settings]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def _threshold(group: Group, setting: dict) -> float | None:
    """The sharpness above which the group's optimizer (plain or momentum gradient descent) is unstable."""
    if group.optimizer.factory is not None:
        return None
    return optimizers.stability_threshold(group.optimizer.name, {**group.optimizer.fixed, **setting})


def _shown_seed(setting: dict) -> int:
    """The seed a figure of one run shows: the first that did not diverge (seed 0 when all did)."""
    return next((r["seed"] for r in setting["runs"] if r["diverged_step"] is None), 0)


def _stats(group: Group, trace, config: Config, compile_s: float, run_s: float) -> dict:
    loss = np.asarray(trace.loss, np.float64)
    conv = np.asarray(trace.converged_at)
    div = np.asarray(trace.diverged_at)
    minimum = group.problem.minimum
    settings = []
    labels = setting_labels(group)
    for i, setting in enumerate(group.settings):
        final = loss[i, :, -1]
        outcome = stats.finals(final, div[i] >= 0)  # diverged runs count as +inf
        reached = conv[i][conv[i] >= 0]
        runs = [
            {"seed": s, "final_loss": float(final[s]), "best_loss": float(loss[i, s].min()),
             "converged_step": int(conv[i, s]) if conv[i, s] >= 0 else None,
             "diverged_step": int(div[i, s]) if div[i, s] >= 0 else None}
            for s in range(loss.shape[1])
        ]
        settings.append({
            "hyperparams": setting,
            "label": labels[i],
            "median_final_loss": stats.median(outcome),  # diverged runs as +inf
            "median_final_loss_ci": stats.median_ci(outcome, seed=group.index),
            "best_final_loss": float(np.min(final)),
            "median_loss_gap": None if minimum is None else stats.median(outcome) - minimum,
            "converged": int(reached.size),
            "median_steps_to_tol": None if reached.size == 0 else float(np.median(reached)),
            "median_steps_to_tol_ci": stats.median_ci(reached, seed=group.index),
            "diverged": int(np.sum(div[i] >= 0)),
            "runs": runs,
            **{f"median_final_{k}": float(np.median(np.asarray(v, np.float64)[i, :, -1]))
               for k, v in (trace.metrics or {}).items()},
        })
        if trace.sharpness is not None:
            sharp = np.asarray(trace.sharpness, np.float64)[i]
            settings[-1].update(median_final_sharpness=float(np.median(sharp[:, -1])),
                                median_max_sharpness=float(np.median(sharp.max(-1))),
                                stability_threshold=_threshold(group, setting))
    best = stats.best([s["diverged"] for s in settings], [s["median_final_loss"] for s in settings],
                      [s["median_steps_to_tol"] for s in settings] if config.tol is not None else None,
                      config.precision)
    return {
        "index": group.index,
        "best": best,
        "problem": group.problem_label,
        "problem_name": group.problem.name,
        "problem_index": group.problem_index,
        "optimizer": group.optimizer.name,
        "optimizer_label": group.optimizer.label,
        "fixed": group.optimizer.fixed,
        "swept": list(group.optimizer.sweep),
        "sampled": group.optimizer.sampled,  # settings are Halton samples over ranges, not a grid
        "minimum": minimum,
        "batch_size": batch_size(config, group),  # None: the full batch
        "compile_seconds": compile_s,
        "run_seconds": run_s,
        "settings": settings,
    }


def versions() -> dict:
    """Versions of Python, jaxgrad and its numerical stack, for result files."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("jaxgrad", "jax", "jaxlib", "optax", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _contours(problem, points=None) -> dict | None:
    """The loss over the problem's 2-D box, widened to hold ``points`` (``(k, 2)``: the runs'
    starts, later their paths) with a margin, for contour pictures (computed once, saved)."""
    if problem.bounds is None:
        return None
    from jaxgrad.fields.grid import Grid
    from jaxgrad.fields.quantities import field

    (x0, x1), (y0, y1) = problem.bounds
    if points is not None and len(points):
        pts = np.asarray(points, np.float64)[:, :2]
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if pts.size:
            lo, hi = pts.min(0), pts.max(0)
            pad = 0.08 * np.maximum(hi - lo, 1e-9)
            x0, x1 = min(x0, lo[0] - pad[0]), max(x1, hi[0] + pad[0])
            y0, y1 = min(y0, lo[1] - pad[1]), max(y1, hi[1] + pad[1])
    grid = Grid((x0, y0), (x1, y1), CONTOUR_POINTS)
    if problem.is_point_function:  # (called inside the precision context)
        values = field(problem.loss, grid)
    else:  # a (w, b) regression: the first weight and the bias
        argmin = problem.argmin

        def at(point):
            params = {**argmin, "w": argmin["w"].at[0].set(point[0]), "b": point[1].astype(argmin["b"].dtype)}
            return problem.loss(params)

        values = field(at, grid)
    x, y = grid.axes
    return {"x": x, "y": y, "z": np.asarray(values, np.float64)}


def _starts(problem, seeds: int):
    """The runs' starting points, flat ``(seeds, n)`` (seed s starts at ``problem.init(PRNGKey(s))``)."""
    if not problem.is_point_function:
        return None
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))
    return np.asarray(jax.vmap(lambda k: ravel_pytree(problem.init(k))[0])(keys))


def _widen_contours(writer, j: int, groups: list, seeds: int) -> None:
    """Recompute a 2-D problem's contours over a box that holds every recorded path, where a
    path left the box computed before the runs (so the figures frame the paths, filled)."""
    key = rundir.problem_key(j, "contour_x")
    records = {r["index"]: r for r in writer.done}
    paths = []  # the figures draw each optimizer's chosen setting, seeds that did not diverge
    for g in groups:
        params = writer.arrays.get(rundir.group_key(g.index, "params"))
        if params is None or g.index not in records or not (g.point_function and g.dim == 2):
            continue
        best = records[g.index]["best"]
        calm = [r["seed"] for r in records[g.index]["settings"][best]["runs"] if r["diverged_step"] is None]
        paths += [params[best, s] for s in calm]
    if key not in writer.arrays or not paths:
        return
    pts = np.concatenate([p.reshape(-1, p.shape[-1])[:, :2] for p in paths])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if not pts.size:
        return
    inner = np.quantile(pts, [0.01, 0.99], axis=0)  # a blown-up run does not set the box
    x, y = writer.arrays[key], writer.arrays[rundir.problem_key(j, "contour_y")]
    if inner[0, 0] >= x[0] and inner[1, 0] <= x[-1] and inner[0, 1] >= y[0] and inner[1, 1] <= y[-1]:
        return
    writer.add_contours(j, _contours(groups[0].problem, inner))


class RunFault(Exception):
    """A run stopped by a fault (disk full, permission, out of memory, a bug); its summary says ``failed``."""


class _Writer:
    """Commits the run directory after every group (see :mod:`jaxgrad.lab.rundir` for the protocol)."""

    def __init__(self, run_dir: Path, config: Config, groups: list[Group]):
        self.run_dir = run_dir
        self.config = config
        self.groups = groups
        self.done: list[dict] = []
        self.arrays: dict[str, np.ndarray] = {}
        self.metrics_bytes = 0
        self.committed = 0  # groups the last summary vouches for
        self.committed_bytes = 0  # and metrics.csv's length it vouches for
        with precision_context(config):  # shapes evaluated in the config's precision
            self.metric_names = tuple(sorted({k for g in groups for k in _metric_names(g.problem)}))
        if config.output.sharpness_every:
            self.metric_names += ("sharpness",)
        self.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    @property
    def header(self) -> str:
        return ",".join((rundir.CSV_HEADER,) + self.metric_names) + "\n"

    def resume(self) -> None:
        """Take over the groups an interrupted run committed (and drop what it did not)."""
        summary, self.arrays = rundir.read(self.run_dir)
        self.done = list(summary["groups"])
        self.committed = len(self.done)
        self.metrics_bytes = self.committed_bytes = int(summary.get("metrics_bytes", 0))
        self.started = summary.get("started", self.started)
        rundir.truncate_metrics(self.run_dir, self.metrics_bytes)
        known = {f"group{g['index']}_" for g in self.done}
        self.arrays = {k: v for k, v in self.arrays.items() if not k.startswith("group") or
                       any(k.startswith(p) for p in known)}

    def add(self, group: Group, trace, record: dict):
        """Record a group in memory; returns its CSV rows, chunk by chunk (appended at the commit)."""
        key = functools.partial(rundir.group_key, group.index)
        self.arrays[key("loss")] = np.asarray(trace.loss)
        self.arrays[key("grad_norm")] = np.asarray(trace.grad_norm)
        self.arrays[key("converged_at")] = np.asarray(trace.converged_at)
        self.arrays[key("diverged_at")] = np.asarray(trace.diverged_at)
        self.arrays[key("steps")] = trace.recorded_steps
        for name, values in (trace.metrics or {}).items():
            self.arrays[key(f"metric_{name}")] = np.asarray(values)
        metrics = dict(trace.metrics or {})
        if trace.sharpness is not None:
            self.arrays[key("sharpness")] = sharp = np.asarray(trace.sharpness)
            self.arrays[key("sharpness_steps")] = trace.sharpness_steps
            # on metrics.csv's rows: the value at the steps where it was computed, blank elsewhere
            at = np.searchsorted(trace.recorded_steps, trace.sharpness_steps)
            metrics["sharpness"] = np.full(sharp.shape[:-1] + trace.recorded_steps.shape, np.nan, sharp.dtype)
            metrics["sharpness"][..., at] = sharp
        flat = jax.vmap(jax.vmap(lambda p: ravel_pytree(p)[0]))(trace.final_params)
        best, seed = record["best"], _shown_seed(record["settings"][record["best"]])
        self.arrays[key("best_final")] = np.asarray(flat[best, seed])
        self.arrays[key("best_seed")] = np.asarray(seed)
        if trace.params is not None:
            self.arrays[key("params")] = np.asarray(jax.vmap(jax.vmap(jax.vmap(lambda p: ravel_pytree(p)[0])))(
                trace.params))
        self.done.append(record)
        steps = trace.recorded_steps
        keep = steps % self.config.output.metrics_every == 0 if self.config.output.metrics_every else slice(None)
        metrics = {k: np.asarray(v)[..., keep] for k, v in metrics.items()}
        return rundir.csv_chunks(group.index, group.problem_label, group.optimizer.label,
                               setting_labels(group), steps[keep],
                               np.asarray(trace.loss)[..., keep], np.asarray(trace.grad_norm)[..., keep], metrics,
                               self.metric_names)

    def add_basins(self, group: Group, b) -> None:
        self.arrays[f"group{group.index}_basins_label"] = b.label
        self.arrays[f"group{group.index}_basins_steps"] = b.steps
        self.arrays[f"problem{group.problem_index}_basins_x"] = b.axes[0]
        self.arrays[f"problem{group.problem_index}_basins_y"] = b.axes[1]

    def add_contours(self, j: int, contours: dict | None) -> None:
        if contours is not None:
            for k, v in contours.items():
                self.arrays[f"problem{j}_contour_{k}"] = v

    def add_data(self, j: int, problem) -> None:
        if problem.data is not None:
            self.arrays[f"problem{j}_inputs"] = np.asarray(problem.data[0])
            self.arrays[f"problem{j}_targets"] = np.asarray(problem.data[1])

    def summary(self, status: str, interrupted_by: str | None = None, reason: str | None = None) -> dict:
        device = jax.devices()[0]
        problems_info = []
        for j, pc in enumerate(self.config.problems):
            g = next(g for g in self.groups if g.problem_index == j)
            p = g.problem
            problems_info.append({
                "index": j, "label": pc.label, "name": pc.name, "options": pc.options, "dim": g.dim, "kind": p.kind,
                "minimum": p.minimum, "bounds": p.bounds, "point_function": g.point_function,
                "minimizers": [np.asarray(ravel_pytree(m)[0]).tolist() for m in p.minimizers],  # flat, pytree order
                "minimizers_by_leaf": [{jax.tree_util.keystr(k) or "x": np.asarray(v).tolist()
                                        for k, v in jax.tree_util.tree_leaves_with_path(m)} for m in p.minimizers],
                "source": p.source, "factory": pc.name if pc.factory is not None else None,
            })
            done = [g for g in self.done if g["problem_index"] == j]
            tol_set = self.config.tol is not None
            ranked = stats.ranking(done, tol_set, self.config.precision)
            problems_info[-1].update(ranking=ranked, verdict=stats.verdict(ranked, self.config.seeds, tol_set,
                                                                           self.config.precision) if done else None)
        return {
            "schema_version": rundir.SCHEMA_VERSION,
            "name": self.config.name,
            "status": status,
            "interrupted_by": interrupted_by,
            "reason": reason,
            "started": self.started,
            "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "groups_total": len(self.groups),
            "groups_done": len(self.done),
            "metrics_bytes": self.metrics_bytes,
            "config": self.config.raw,
            # relative paths in config.toml (data files, factories) resolve from the original config's folder
            "config_dir": _config_dir(self.config),
            "steps": self.config.steps,
            "seeds": self.config.seeds,
            "tol": self.config.tol,
            "record_every": self.config.output.record_every,
            "dtype": self.config.precision,
            "device": {"platform": device.platform, "kind": device.device_kind, "count": jax.device_count()},
            "machine": {"system": platform.system(), "machine": platform.machine(), "processor": platform.processor()},
            "versions": versions(),
            "problems": problems_info,
            "groups": self.done,
        }

    def commit(self, status: str, rows=(), interrupted_by: str | None = None) -> dict:
        """(1) arrays, (2) the group's rows appended, (3) the summary that vouches for both."""
        with precision_context(self.config):  # the summary reads problems built in that precision
            summary = self.summary(status, interrupted_by)
        files.write_npz(self.run_dir / "arrays.npz", **self.arrays)
        self.metrics_bytes = rundir.append_metrics(self.run_dir, rows, self.metrics_bytes, self.header)
        summary["metrics_bytes"] = self.metrics_bytes
        rundir.write_summary(self.run_dir, summary)
        self.committed, self.committed_bytes = len(self.done), self.metrics_bytes
        return summary

    def rollback(self) -> None:
        """Forget a group whose commit did not finish (its rows, if appended, are past the committed
        length; its arrays are dropped here)."""
        dropped = {f"group{g['index']}_" for g in self.done[self.committed:]}
        self.done = self.done[: self.committed]
        self.arrays = {k: v for k, v in self.arrays.items() if not any(k.startswith(p) for p in dropped)}
        self.metrics_bytes = self.committed_bytes

    def fail(self, reason: str) -> None:
        """Mark the run failed, keeping what was committed (best effort: the disk may be full)."""
        self.mark("failed", reason=reason)

    def mark(self, status: str, reason: str | None = None, interrupted_by: str | None = None) -> None:
        """Rewrite only the summary's status over what was committed (after a stopped commit)."""
        self.rollback()
        with contextlib.suppress(Exception):
            rundir.truncate_metrics(self.run_dir, self.metrics_bytes)
        with contextlib.suppress(Exception):
            with precision_context(self.config):
                summary = self.summary(status, interrupted_by, reason)
            summary["metrics_bytes"] = self.metrics_bytes
            rundir.write_summary(self.run_dir, summary)


def _config_dir(config: Config) -> str | None:
    source = config.source or ""
    return None if source.startswith("<") or not source else str(Path(source).resolve().parent)


def _metric_names(problem) -> tuple:
    if problem.metrics is None:
        return ()
    params = jax.eval_shape(problem.init, jax.random.PRNGKey(0))
    return tuple(jax.eval_shape(problem.metrics, params, problem.data, problem.test_data))


class _StopRequests:
    """SIGTERM and Ctrl-C ask the run to stop after the group in flight (a second Ctrl-C aborts,
    but never inside a commit: it waits for the commit to finish).

    The handlers only record the request: an exception raised from a signal handler
    can land inside JAX's runtime and leave it broken (seen: a segfault at exit).
    """

    def __init__(self):
        self.by: str | None = None
        self.previous = {}
        self.committing = False
        self.abort = False

    def __enter__(self):
        if sys.platform != "win32" and _in_main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.by is not None:
            if self.committing:
                self.abort = True  # raised once the commit is over
                return
            raise KeyboardInterrupt  # asked twice: stop now
        self.by = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
        print(f"\n{self.by}: stopping after the group in flight (Ctrl-C again to abort now)", file=sys.stderr)

    @contextlib.contextmanager
    def commit(self):
        self.committing = True
        try:
            yield
        finally:
            self.committing = False
        if self.abort:
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def run_experiment(config: Config, out_dir: str | Path | None = None, *, progress: bool = False,
                   plots: bool = True, resume: bool = False, overwrite: bool = False) -> Result:
    """Run every group of ``config`` and write the run directory.

    Args:
      config: from :func:`jaxgrad.load_config`.
      out_dir: the run directory (default: ``[output] directory``, else
        ``runs/<name>-<timestamp>``, made exclusively for this run).
      progress: report each phase on standard error (:class:`jaxgrad.pictures.terminal.Status`: a
        bar with time left on a terminal, a line per group when redirected).
      plots: draw the PNG plots at the end.
      resume: finish an interrupted run in ``out_dir``: the groups it committed are
        kept, the others run (bit-identical to an uninterrupted run).
      overwrite: clear ``out_dir`` first.

    Returns:
      A :class:`Result` with the run directory and the summary written there.
      A Ctrl-C or SIGTERM stops the run after the group in flight, writes
      ``status: "incomplete"`` with every completed group, and raises
      :class:`Interrupted`. A fault writes ``status: "failed"`` with the reason and
      raises :class:`RunFault`.

    Raises:
      InputError: the directory is taken, or (``resume``) holds another config's run.
    """
    from jaxgrad.lab.config import to_toml
    from jaxgrad.pictures import terminal

    status = terminal.Status(enabled=progress)
    groups = plan(config)
    with precision_context(config):
        check_resources(config, groups)
        prepared = check_groups(config, groups)
    run_dir = rundir.create(out_dir if out_dir is not None else config.output.directory, config.name,
                            resume=resume, overwrite=overwrite)
    text = to_toml(config.raw)
    writer = _Writer(run_dir, config, groups)
    if resume:
        try:
            previous = (run_dir / "config.toml").read_text()
        except OSError:
            raise InputError(f"--resume {run_dir}: config.toml is missing") from None
        if previous != text:
            raise InputError(f"--resume {run_dir}: the run was made from another config (or other --set "
                             "values); resume it with the same ones")
        writer.resume()
        if len(writer.done) == len(groups):
            summary = writer.commit("complete")
            _draw(run_dir, status, plots, config.output.tensorboard)
            return Result(run_dir, summary)
    else:
        files.write_text(run_dir / "config.toml", text)
    todo = len(groups) - len(writer.done)
    problems = len({g.problem_index for g in groups})
    status.say(f"{config.name}: {todo} group{'s' if todo != 1 else ''} to run"
               f"{f' ({len(writer.done)} saved)' if writer.done else ''}, {problems} problem{'s' if problems != 1 else ''}, "
               f"{config.steps:,} steps x {config.seeds} seed{'s' if config.seeds != 1 else ''}; writing {run_dir}")
    stop = _StopRequests()
    try:
        with stop, precision_context(config), status.steps("group", todo) as bar:
            if not resume:
                for j, pc in enumerate(config.problems):
                    problem = next(g.problem for g in groups if g.problem_index == j)
                    writer.add_contours(j, _contours(problem, _starts(problem, config.seeds)))
                    writer.add_data(j, problem)
                with stop.commit():
                    writer.commit("running")
            for group in groups[len(writer.done):]:
                if stop.by:
                    break
                bar.start(group.label)
                trace, compile_s, run_s = run_group(config, group, prepared.pop(group.index, None))
                record = _stats(group, trace, config, compile_s, run_s)
                rows = writer.add(group, trace, record)
                if _wants_basins(config, group):
                    writer.add_basins(group, _basins(config, group, record))
                with stop.commit():
                    writer.commit("running", rows)
                bar.done(f", compiled in {compile_s:.1f} s, ran in {run_s:.2f} s")
            if not stop.by and any(landscape_kinds(config, g.problem) for g in groups):
                status.say("computing loss landscapes")
            if not stop.by:
                for j in range(len(config.problems)):
                    _widen_contours(writer, j, [g for g in groups if g.problem_index == j], config.seeds)
                    writer.arrays.update(_fit_curves(j, [g for g in groups if g.problem_index == j], writer.arrays))
                    writer.arrays.update(_landscapes(config, j, [g for g in groups if g.problem_index == j],
                                                     writer.arrays, writer.done))
    except KeyboardInterrupt:
        stop.by = "SIGINT"
        writer.rollback()
    except Exception as err:  # a fault: record it, never leave "running" behind
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        writer.fail(reason)
        raise RunFault(f"{reason} (the run in {run_dir} is marked failed; "
                       f"{len(writer.done)} of {len(groups)} groups were saved)") from err
    try:
        if stop.by:
            with stop.commit():
                writer.commit("incomplete", interrupted_by=stop.by)
            if writer.done:
                _draw(run_dir, status, plots, config.output.tensorboard)
            raise Interrupted(f"{stop.by}: {len(writer.done)} of {len(groups)} groups saved in {run_dir}; "
                              f"finish with --resume")
        with stop.commit():
            summary = writer.commit("complete")
        _draw(run_dir, status, plots, config.output.tensorboard)
    except Interrupted:
        raise
    except KeyboardInterrupt:  # a commit stopped half-way: its summary still vouches for the last one
        writer.mark("incomplete", interrupted_by="SIGINT")
        raise Interrupted(f"SIGINT: {writer.committed} of {len(groups)} groups saved in {run_dir}; "
                          f"finish with --resume") from None
    except Exception as err:
        reason = f"{type(err).__name__}: {err}".splitlines()[0]
        writer.fail(reason)
        raise RunFault(f"{reason} (the run in {run_dir} is marked failed)") from err
    return Result(run_dir, summary)


def batch_size(config: Config, group: Group) -> int | None:
    """The group's mini-batch size: the config's, except for methods that assume the full batch
    (Newton's, L-BFGS: their curvature and line searches need one fixed objective)."""
    if group.optimizer.factory is None and group.optimizer.name in optimizers.FULL_BATCH:
        return None
    return config.batch_size


def plan_group(config: Config, group: Group, steps: int | None = None):
    """The group's :class:`~jaxgrad.engine.SweepPlan` (inside the config's precision).

    Raises:
      InputError: naming the config's field (``batch_size``, ``problems.j``, ``optimizers.i``).
    """
    where = f"{config.source}: "
    try:
        return plan_sweep(
            group.problem, group.optimizer.optimizer, group.optimizer.sweep, config.seeds,
            config.steps if steps is None else steps, tol=config.tol,
            record_params=_record_params(config, group.problem), batch_size=batch_size(config, group),
            fixed=group.optimizer.fixed,
            record_every=config.output.record_every if steps is None or steps % config.output.record_every == 0 else 1,
            sharpness_every=config.output.sharpness_every if steps is None else None,
            samples=group.optimizer.samples, search_seed=group.optimizer.search_seed)
    except InputError as err:
        field = "batch_size" if "batch_size" in str(err) else f"problems.{group.problem_index}"
        raise InputError(where + f"{field}: {err}", field=field) from None
    except Exception as err:  # the problem's init or data is not what the engine can run
        raise InputError(where + f"problems.{group.problem_index}: {_why(err)}",
                         field=f"problems.{group.problem_index}") from None


def _why(err: Exception) -> str:
    text = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    if "not a valid JAX type" in str(err):
        return ("init(key) must return a pytree of arrays (a module? jg.problems.from_module splits an NNX or "
                "Equinox model into its arrays); " + text)
    return text


def check_groups(config: Config, groups: list[Group]) -> dict:
    """Plan and trace every group before any work (a value the program cannot take is the user's
    input, exit 2, not a fault found half-way); ``{group index: (plan, traced program)}``, which
    :func:`run_group` compiles without planning or tracing again."""
    prepared = {}
    for g in groups:
        sweep_plan = plan_group(config, g)
        try:
            prepared[g.index] = sweep_plan, sweep_plan.program.trace(*sweep_plan.args, **sweep_plan.kwargs)
        except InputError as err:
            raise InputError(f"{config.source}: optimizers.{g.optimizer.index}: {err}",
                             field=f"optimizers.{g.optimizer.index}") from None
        except Exception as err:  # e.g. a hyperparameter of the wrong type reaching optax
            raise InputError(f"{config.source}: optimizers.{g.optimizer.index}: {g.optimizer.label} cannot run on "
                             f"{g.problem_label}: {_why(err)}", field=f"optimizers.{g.optimizer.index}") from None
    return prepared


def run_group(config: Config, group: Group, prepared=None):
    """One (problem, optimizer) group of a config: its sweep, compiled and run; ``(trace, compile s, run s)``.
    ``prepared``: the group's ``(plan, traced program)`` from :func:`check_groups` (else planned here)."""
    if prepared is None:
        sweep_plan = plan_group(config, group)
        executable, compile_s = timing.compiled(sweep_plan)
    else:
        sweep_plan, traced = prepared
        executable, compile_s = timing.timed(lambda: traced.lower().compile())
    trace, run_s = timing.timed(lambda: sweep_plan.run(executable))
    return trace, compile_s, run_s


def landscape_kinds(config: Config, problem) -> tuple[str, ...]:
    """The landscape kinds to compute for a problem: those asked for, or by default
    (any problem that is not drawn over 2-D contours) the interpolation and a plane."""
    from jaxgrad.lab.config import LANDSCAPE_KINDS

    if config.output.plots is not None:
        return tuple(k for k in config.output.plots if k in LANDSCAPE_KINDS)
    if problem.bounds is not None:  # drawn over its own 2-D contours
        return ()
    return ("interpolation", "trajectory_plane" if _record_params(config, problem) else "random_plane")


LANDSCAPE_POINTS = 41


def _landscapes(config: Config, j: int, groups: list[Group], arrays: dict, records: list[dict]) -> dict:
    """The arrays behind the landscape plots of problem ``j`` (one compiled field each), from
    the committed arrays and group records alone (so a resumed run draws the same):

    * ``interpolation``: the loss from each optimizer's start to its end (best setting, its
      first seed that did not diverge);
    * ``random_plane``: a filter-normalised random plane around the winning optimizer's end;
    * ``trajectory_plane``: the plane through the optimizers' paths, each projected onto it.
    """
    from jaxgrad.fields import landscape

    groups = [g for g in groups if f"group{g.index}_best_final" in arrays]
    if not groups:
        return {}
    problem = groups[0].problem
    kinds = landscape_kinds(config, problem)
    if not kinds:
        return {}
    records = {r["index"]: r for r in records}
    seed = {g.index: int(arrays.get(f"group{g.index}_best_seed", 0)) for g in groups}
    start0 = problem.init(jax.random.PRNGKey(0))
    flat0, unravel = ravel_pytree(start0)
    finals = {g.index: unravel(jnp.asarray(arrays[f"group{g.index}_best_final"], flat0.dtype)) for g in groups}
    ranked = stats.ranking([records[g.index] for g in groups], config.tol is not None, config.precision)
    best = next(g for g in groups if g.index == ranked[0]["group"])
    out = {}
    prefix = f"problem{j}_"
    if "interpolation" in kinds:
        rows = [landscape.interpolate(problem.loss, problem.init(jax.random.PRNGKey(seed[g.index])), finals[g.index],
                                      num=LANDSCAPE_POINTS) for g in groups]
        out[prefix + "interp_alpha"] = rows[0][0]
        out[prefix + "interp_loss"] = np.stack([r[1] for r in rows])
        out[prefix + "interp_groups"] = np.asarray([g.index for g in groups])
        if problem.test_data is not None:  # the held-out loss along the same lines
            test_loss = lambda p: problem.objective(p, problem.test_data)  # noqa: E731
            out[prefix + "interp_test_loss"] = np.stack([
                landscape.interpolate(test_loss, problem.init(jax.random.PRNGKey(seed[g.index])), finals[g.index],
                                      num=LANDSCAPE_POINTS)[1] for g in groups])
    if "random_plane" in kinds:
        d1, d2 = landscape.random_plane(jax.random.PRNGKey(j), finals[best.index])
        pl = landscape.plane(problem.loss, finals[best.index], d1, d2, num=LANDSCAPE_POINTS)
        out.update({prefix + "rplane_alpha": pl.alphas, prefix + "rplane_beta": pl.betas,
                    prefix + "rplane_loss": pl.losses, prefix + "rplane_group": np.asarray(best.index)})
    paths = {}
    for g in groups:
        if f"group{g.index}_params" in arrays:
            paths[g.index] = np.asarray(arrays[f"group{g.index}_params"][records[g.index]["best"], seed[g.index]],
                                        np.float64)
    if "trajectory_plane" in kinds and best.index in paths:
        out.update(_trajectory_plane(problem, prefix, best.index, paths, unravel, flat0.dtype))
    return out


FIT_POINTS = 200


def _fit_curves(j: int, groups: list, arrays: dict) -> dict:
    """A 1-D regression network's fitted curve per optimizer (its chosen setting's final parameters)
    on a grid over the inputs, so the figure draws the model without calling JAX."""
    problem = groups[0].problem
    if problem.predict is None or problem.data is None or problem.kind != "regression" or problem.dim == 2:
        return {}  # a line (b, w) is drawn from its two parameters
    X = np.asarray(problem.data[0])
    if X.ndim != 2 or X.shape[1] != 1:
        return {}
    lo, hi = float(X.min()), float(X.max())
    grid = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), FIT_POINTS)
    flat0, unravel = ravel_pytree(problem.init(jax.random.PRNGKey(0)))
    out = {rundir.problem_key(j, "fitcurve_x"): grid}
    x = jnp.asarray(grid[:, None], flat0.dtype)
    for g in groups:
        key = rundir.group_key(g.index, "best_final")
        if key in arrays:
            params = unravel(jnp.asarray(arrays[key], flat0.dtype))
            out[rundir.group_key(g.index, "fitcurve_y")] = np.asarray(problem.predict(params, x), np.float64).reshape(-1)
    return out


def _trajectory_plane(problem, prefix: str, best: int, paths: dict, unravel, dtype) -> dict:
    """The plane through the best optimizer's end and start whose second direction is the
    principal deviation of *every* optimizer's path (so a one-step Newton path does not
    leave the plane undetermined); every path projected onto it. ``paths``: flat ``(T, n)``."""
    from jaxgrad.fields import landscape

    origin = paths[best][-1]
    u1 = paths[best][0] - origin
    if np.linalg.norm(u1) == 0:
        return {}
    u1 /= np.linalg.norm(u1)
    deltas = np.concatenate([f - origin for f in paths.values()])
    rest = deltas - np.outer(deltas @ u1, u1)
    _, sv, vt = np.linalg.svd(rest, full_matrices=False)
    u2 = vt[0] if sv.size and sv[0] > 1e-12 * np.abs(deltas).max() else landscape._any_orthogonal(u1)
    u2 = u2 - (u2 @ u1) * u1
    u2 /= np.linalg.norm(u2)
    coords = {i: np.stack([(f - origin) @ u1, (f - origin) @ u2], axis=1) for i, f in paths.items()}
    every = np.concatenate(list(coords.values()))
    lo, hi = every.min(0), every.max(0)
    pad = 0.15 * np.maximum(hi - lo, 0.05 * (hi - lo).max())
    span = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    end = unravel(jnp.asarray(origin, dtype))
    d1, d2 = unravel(jnp.asarray(u1, dtype)), unravel(jnp.asarray(u2, dtype))
    pl = landscape.plane(problem.loss, end, d1, d2, num=LANDSCAPE_POINTS, span=span)
    total = float(np.sum(deltas**2))
    explained = float(np.sum(np.concatenate([deltas @ u1[:, None], deltas @ u2[:, None]], 1) ** 2) / total)
    out = {prefix + f"tplane_path{i}": c for i, c in coords.items()}
    out.update({prefix + "tplane_alpha": pl.alphas, prefix + "tplane_beta": pl.betas, prefix + "tplane_loss": pl.losses,
                prefix + "tplane_group": np.asarray(best), prefix + "tplane_explained": np.asarray(explained)})
    return out


def _wants_basins(config: Config, group: Group) -> bool:
    plots = config.output.plots or ()
    return "basins" in plots and group.point_function and group.dim == 2 and bool(group.problem.minimizers)


def _basins(config: Config, group: Group, record: dict):
    """Basins of the group's best setting (:mod:`jaxgrad.lab.stats`' rule), one vmapped program."""
    from jaxgrad.fields.basins import basins

    best = record["best"]
    opt = group.optimizer.build(group.settings[best])
    return basins(group.problem, opt, num=BASIN_POINTS, steps=config.steps, tol=config.tol)


def _draw(run_dir: Path, status, plots: bool = True, tensorboard: bool = False) -> list[Path]:
    """The run's figures (when ``plots``), its TensorBoard files (``tensorboard``), then its page."""
    from jaxgrad import files
    from jaxgrad.pictures import page, report

    if not files.writing():  # drawn from the saved files, which process 0 writes
        return []
    written = report.draw(run_dir, status=status) if plots else []
    if tensorboard:
        from jaxgrad.lab import export

        status.say("writing tensorboard/")
        written.append(export.tensorboard(run_dir))
    status.say("writing index.html")
    return written + [page.write_run_page(run_dir)]


def summary_table(summary: dict, out=None) -> None:
    """The end-of-run table on a :func:`jaxgrad.pictures.terminal.console`: per problem its rows (optimizer,
    setting), then its verdict; one legend at the end."""
    from jaxgrad.pictures import tables, terminal

    out = out or terminal.console()
    tol = f", tol {summary['tol']:g}" if summary.get("tol") is not None else ""
    batches = {g["optimizer_label"]: g.get("batch_size") for g in summary["groups"]}
    mini = {b for b in batches.values() if b}
    batch = ""
    if mini:
        full = [label for label, b in batches.items() if not b]
        batch = (f", mini-batches of {', '.join(map(str, sorted(mini)))}"
                 + (f" ({', '.join(full)}: the full batch)" if full else ""))
    terminal.paragraph(out, f"{summary['name']}: {summary['status']}, {summary['dtype']}, {summary['steps']} steps, "
                            f"{summary['seeds']} seed{'s' if summary['seeds'] != 1 else ''}{tol}{batch}")
    for problem in summary["problems"]:
        if not any(g["problem_index"] == problem["index"] for g in summary["groups"]):
            continue
        out.print("", soft_wrap=True)
        columns, rows, bold = tables.run_rows(summary, problem=problem["index"])
        terminal.print_table(out, problem["label"], columns, rows, bold_rows=bold)
        if problem.get("verdict"):
            terminal.paragraph(out, "=> " + problem["verdict"])
    notes = ["final losses are losses (not gaps)"] if any(g["minimum"] is not None for g in summary["groups"]) else []
    out.print("", soft_wrap=True)
    terminal.paragraph(out, "; ".join(notes + [tables.LEGEND]))


# --- a finished run's model ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Trained:
    """A run's problem at the final parameters of a group's best setting (seed 0).

    ``where``: in words, e.g. ``"after 500 steps of adam (lr=0.01, seed 0)"``.
    """

    label: str
    problem: Any
    params: Any
    where: str


def load_trained(run_dir: str | Path, group: int | None = None) -> Trained:
    """The problem of a run directory and the parameters its optimizer reached: ``group``
    (an index in ``summary.json``), by default the winner of its first problem (:func:`jaxgrad.lab.stats.ranking`).

    Raises:
      InputError: no finished group, or no group with that index (``field="group"``).
    """
    from jaxgrad.lab.config import load_config

    run_dir = Path(run_dir)
    summary, arrays = rundir.read(run_dir)
    groups = summary["groups"]
    if not groups:
        raise InputError(f"{run_dir}: the run holds no finished group")
    tol_set, dtype = summary.get("tol") is not None, summary.get("dtype", "float32")
    if group is None:  # the winner of the first problem, by the selection rule
        first = [g for g in groups if g["problem_index"] == groups[0]["problem_index"]]
        winner = stats.ranking(first, tol_set, dtype)[0]["group"]
        chosen = next(g for g in groups if g["index"] == winner)
    else:
        chosen = next((g for g in groups if g["index"] == group), None)
        if chosen is None:
            raise InputError(f"the run has groups {', '.join(str(g['index']) for g in groups)}", field="group")
    base = summary.get("config_dir")
    cfg = load_config(run_dir / "config.toml", base=base if base and Path(base).is_dir() else None)
    problem = cfg.problems[chosen["problem_index"]].build()
    _, unravel = ravel_pytree(problem.init(jax.random.PRNGKey(0)))
    params = unravel(jnp.asarray(arrays[f"group{chosen['index']}_best_final"]))
    best = chosen["settings"][stats.group_best(chosen, tol_set, dtype)]
    seed = int(arrays.get(f"group{chosen['index']}_best_seed", 0))
    where = f"after {summary['steps']} steps of {chosen['optimizer_label']} ({best['label']}, seed {seed})"
    return Trained(chosen["problem"], problem, params, where)
