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
``"status": "incomplete"``."""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import platform
import signal
import sys
from pathlib import Path

import jax
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxgrad import files
from jaxgrad.errors import InputError
from jaxgrad.lab import rundir, stats
from jaxgrad.lab.analyses import (
    contours,
    fit_curves,
    group_basins,
    landscapes,
    starts,
    widen_contours,
)
from jaxgrad.lab.config import Config
from jaxgrad.lab.plan import (
    Group,
    Result,
    check_groups,
    check_resources,
    landscape_kinds,
    metric_names,
    plan,
    precision_context,
    run_group,
    setting_labels,
    wants_basins,
)
from jaxgrad.lab.results import group_statistics, shown_seed, versions

__all__ = ["Interrupted", "RunFault", "run_experiment"]


class Interrupted(BaseException):
    """The run stopped early on SIGTERM or Ctrl-C; every completed group is saved."""


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
            self.metric_names = tuple(sorted({k for g in groups for k in metric_names(g.problem)}))
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
        best, seed = record["best"], shown_seed(record["settings"][record["best"]])
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
    from jaxgrad.lab.toml import to_toml
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
                    writer.add_contours(j, contours(problem, starts(problem, config.seeds)))
                    writer.add_data(j, problem)
                with stop.commit():
                    writer.commit("running")
            for group in groups[len(writer.done):]:
                if stop.by:
                    break
                bar.start(group.label)
                trace, compile_s, run_s = run_group(config, group, prepared.pop(group.index, None))
                record = group_statistics(group, trace, config, compile_s, run_s)
                rows = writer.add(group, trace, record)
                if wants_basins(config, group):
                    writer.add_basins(group, group_basins(config, group, record))
                with stop.commit():
                    writer.commit("running", rows)
                bar.done(f", compiled in {compile_s:.1f} s, ran in {run_s:.2f} s")
            if not stop.by and any(landscape_kinds(config, g.problem) for g in groups):
                status.say("computing loss landscapes")
            if not stop.by:
                for j in range(len(config.problems)):
                    widen_contours(writer, j, [g for g in groups if g.problem_index == j], config.seeds)
                    writer.arrays.update(fit_curves(j, [g for g in groups if g.problem_index == j], writer.arrays))
                    writer.arrays.update(landscapes(config, j, [g for g in groups if g.problem_index == j],
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
