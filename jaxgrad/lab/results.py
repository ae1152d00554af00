"""A group's results as numbers (statistics per setting), the summary table, and a finished run's
trained model."""

from __future__ import annotations

import dataclasses
import platform
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxgrad import optimizers
from jaxgrad.errors import InputError
from jaxgrad.lab import rundir, stats
from jaxgrad.lab.config import Config
from jaxgrad.lab.plan import Group, batch_size, setting_labels

__all__ = ["shown_seed", "group_statistics", "versions", "summary_table", "Trained", "load_trained"]


def _threshold(group: Group, setting: dict) -> float | None:
    """The sharpness above which the group's optimizer (plain or momentum gradient descent) is unstable."""
    if group.optimizer.factory is not None:
        return None
    return optimizers.stability_threshold(group.optimizer.name, {**group.optimizer.fixed, **setting})


def shown_seed(setting: dict) -> int:
    """The seed a figure of one run shows: the first that did not diverge (seed 0 when all did)."""
    return next((r["seed"] for r in setting["runs"] if r["diverged_step"] is None), 0)


def group_statistics(group: Group, trace, config: Config, compile_s: float, run_s: float) -> dict:
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
