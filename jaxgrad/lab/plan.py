"""A config's plan: its groups (one compiled program each), their resources and estimated
time; every group planned and traced before a run directory exists."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

import jax

from jaxgrad import optimizers, timing
from jaxgrad.engine import SHARPNESS_ITERS, plan_sweep
from jaxgrad.errors import InputError
from jaxgrad.lab.config import Config
from jaxgrad.precision import precision

__all__ = ["metric_names", "available_memory", "gib", "Group", "Result", "precision_context", "plan", "Resources", "resources", "check_resources", "estimate_seconds", "describe_plan", "setting_labels", "batch_size", "plan_group", "check_groups", "run_group", "landscape_kinds", "wants_basins", "CSV_ROW_BYTES", "CSV_METRIC_BYTES", "PROBE_STEPS", "START_SECONDS", "FIGURE_SECONDS"]


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
        n_metrics = len(metric_names(group.problem))
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


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check_resources(config: Config, groups: list[Group], run_dir: Path | None = None) -> None:
    """Refuse, before any work, a run this machine cannot hold: memory (the largest group in
    flight plus every group's kept history) or disk. The message names the knob to turn."""
    import shutil

    needs = [resources(config, g) for g in groups]
    peak = max(r.working for r in needs) + sum(r.kept for r in needs)
    memory = available_memory()
    knobs = ("set [output] record_every = k (keep every k-th step), fewer steps, seeds or settings, "
             "or record_params = false")
    if memory is not None and peak > 0.8 * memory:
        worst = max(range(len(groups)), key=lambda i: needs[i].working + needs[i].kept)
        every = config.output.record_every
        history = f"steps = {config.steps:,}, recorded every {'step' if every == 1 else f'{every:,} steps'}"
        raise InputError(f"{config.source}: {history}: the run needs about {gib(peak)} of memory and "
                         f"{gib(memory)} is available (group {worst}, {groups[worst].label}, alone "
                         f"{gib(needs[worst].working)}); " + knobs, field="steps")
    disk = sum(r.disk for r in needs)
    where = run_dir if run_dir is not None else Path.cwd()
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        free = None
    if free is not None and disk > 0.9 * free:
        raise InputError(f"{config.source}: the run would write about {gib(disk)} and {gib(free)} is free in "
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
                  f"~{gib(r.working)} in flight, {gib(r.disk)} on disk{when}\n")
    peak = max(r.working for r in needs) + sum(r.kept for r in needs)
    out.write(f"total: {total_runs} runs in {len(groups)} compiled programs, ~{gib(peak)} of memory at the peak, "
              f"~{gib(sum(r.disk for r in needs))} of files\n")
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
            group.problem, group.optimizer.resolved or group.optimizer.optimizer, group.optimizer.sweep, config.seeds,
            config.steps if steps is None else steps, tol=config.tol,
            record_params=_record_params(config, group.problem), batch_size=batch_size(config, group),
            fixed=group.optimizer.fixed,
            record_every=config.output.record_every if steps is None or steps % config.output.record_every == 0 else 1,
            sharpness_every=config.output.sharpness_every if steps is None else None,
            samples=group.optimizer.samples, search_seed=group.optimizer.search_seed)
    except InputError as err:
        field = "batch_size" if err.field == "batch_size" else f"problems.{group.problem_index}"
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


def wants_basins(config: Config, group: Group) -> bool:
    plots = config.output.plots or ()
    return "basins" in plots and group.point_function and group.dim == 2 and bool(group.problem.minimizers)


def metric_names(problem) -> tuple:
    if problem.metrics is None:
        return ()
    params = jax.eval_shape(problem.init, jax.random.PRNGKey(0))
    return tuple(jax.eval_shape(problem.metrics, params, problem.data, problem.test_data))
