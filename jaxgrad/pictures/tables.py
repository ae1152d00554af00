"""The content of the results tables, once: the terminal (:mod:`jaxgrad.pictures.terminal`) and the
report page (:mod:`jaxgrad.pictures.page`) draw the same rows.

Each builder returns ``(columns, rows, bold)``: :class:`~jaxgrad.pictures.terminal.Column` s, rows of
strings (``None`` between sections; a label's leading spaces are its depth) and the indices
of heading rows.
"""

from __future__ import annotations

import math

from jaxgrad.lab import stats
from jaxgrad.pictures.terminal import SECTION, Column

__all__ = ["run_rows", "bench_rows", "interval", "LEGEND"]


def _num(value, fmt: str = ".4g") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, fmt)


def interval(ci, fmt: str = ".4g") -> str:
    """An interval as one unbreakable token, ``0.0331–0.0337`` (``-`` without one)."""
    if ci is None:
        return "-"
    lo, hi = (math.inf if v is None else v for v in ci)  # strict JSON holds an infinite bound as null
    return f"{_num(lo, fmt)}–{_num(hi, fmt)}"


EXTRA = {"test_loss": "test\nloss", "accuracy": "acc", "test_accuracy": "test\nacc"}
WINNER, CHOSEN = "*", ">"  # the problem's winner; an optimizer's chosen setting among several
LEGEND = (f"{WINNER} the problem's winner, {CHOSEN} each optimizer's chosen setting (fewest diverged runs, then "
          "the lowest median final loss); 95% CI: bootstrap interval of the median over seeds; steps to tol: "
          "median over the runs that reached it (reached/total); div: runs that diverged (a non-finite loss)")


def run_rows(summary: dict, problem: int | None = None, wide: bool = False):
    """A run's table: per problem (a heading), per optimizer, per setting; ``problem``: that
    problem's rows alone (no heading). ``wide`` (the page) adds the best final loss over seeds
    and the compile time."""
    groups = [g for g in summary["groups"] if problem is None or g["problem_index"] == problem]
    extra = [k for k in EXTRA if any(f"median_final_{k}" in s for g in groups for s in g["settings"])]
    columns = [Column("", numeric=False), Column("median\nfinal"), Column("95% CI"),
               *([Column("best\nfinal")] if wide else []), *(Column(EXTRA[k]) for k in extra),
               Column("steps\nto tol"), Column("div"), *([Column("compile\ns")] if wide else []), Column("run\ns")]
    winners = {p["index"]: p["ranking"][0]["group"] for p in summary.get("problems", []) if p.get("ranking")}
    tol_set, dtype = summary.get("tol") is not None, summary.get("dtype", "float32")
    rows, bold, last_problem = [], [], None
    for g in groups:
        if g["problem"] != last_problem and problem is None:
            if last_problem is not None:
                rows.append(SECTION)
            bold.append(len(rows))
            rows.append([g["problem"]] + [""] * (len(columns) - 1))
        last_problem = g["problem"]
        times = ([f"{g['compile_seconds']:.2f}"] if wide else []) + [f"{g['run_seconds']:.3f}"]
        settings = g["settings"]
        best = stats.group_best(g, tol_set, dtype)
        won = winners.get(g["problem_index"]) == g["index"]
        if len(settings) > 1:
            rows.append([(WINNER if won else " ") + " " + g["optimizer_label"]]
                        + [""] * (len(columns) - 1 - len(times)) + times)
        order = range(len(settings))
        if g.get("sampled"):  # a search's samples, sorted by their values (a grid keeps its order)
            order = sorted(order, key=lambda i: tuple(settings[i]["hyperparams"].values()))
        for i in order:
            s = settings[i]
            steps = "-" if s["median_steps_to_tol"] is None else \
                f"{s['median_steps_to_tol']:.0f} ({s['converged']}/{len(s['runs'])})"
            values = [_num(stats.setting_median(s)), interval(s.get("median_final_loss_ci")),
                      *([_num(s["best_final_loss"])] if wide else []),
                      *(_num(s.get(f"median_final_{k}"), ".4g" if k == "test_loss" else ".3g") for k in extra),
                      steps, str(s["diverged"] or "")]
            if len(settings) > 1:
                rows.append([(CHOSEN if i == best else " ") + "   " + s["label"]] + values + [""] * len(times))
            else:
                label = stats.label(g["optimizer_label"], s["label"])
                rows.append([(WINNER if won else " ") + " " + label] + values + times)
    return _drop_empty(columns, rows, bold)


def _drop_empty(columns, rows, bold):
    """Leave out the numeric columns that hold nothing in any row (steps to tol without a
    tolerance, div when nothing diverged), on the terminal and the page alike."""
    empty = [i for i, c in enumerate(columns)
             if c.numeric and all(row is None or row[i] in ("", "-") for row in rows)]
    keep_idx = [i for i in range(len(columns)) if i not in empty]
    return ([columns[i] for i in keep_idx],
            [None if row is None else [row[i] for i in keep_idx] for row in rows], bold)


def bench_rows(result: dict, wide: bool = False):
    """``jaxgrad bench``'s table: per problem (a heading) and optimizer, its tuned setting's outcome,
    with a Wilson interval on the success rate and a bootstrap interval on the median time to
    target (``wide``, the page: also the Hessian evaluations and compile time)."""
    columns = [Column("", numeric=False), Column("best\nlr"), Column("suc-\ncess"), Column("95% CI\nsuccess"),
               Column("steps to\ntarget"), Column("ms to\ntarget"), Column("95% CI\nms"), Column("final\ngap"),
               *([Column("Hess-\nians"), Column("compile\ns")] if wide else [])]
    rows, bold, last = [], [], None
    for r in result["results"]:
        if r["problem"] != last:
            if last is not None:
                rows.append(SECTION)
            bold.append(len(rows))
            rows.append([r["problem"]] + [""] * (len(columns) - 1))
        time = r["median_time_to_target"]
        ci = r.get("median_time_to_target_ci")
        success = r.get("success_ci")
        gap = r.get("median_final_gap", r.get("median_final_loss"))
        rows.append(["  " + r["optimizer"], _num(r["best_setting"].get("learning_rate"), ".2g"),
                     f"{100 * r['success_rate']:.0f}%",
                     "-" if success is None else f"{100 * success[0]:.0f}–{100 * success[1]:.0f}%",
                     _num(r["median_steps_to_target"], ".0f"), _num(None if time is None else 1e3 * time, ".3g"),
                     interval(None if ci is None else [1e3 * v for v in ci], ".3g"),
                     _num(math.inf if gap is None else (0.0 if abs(gap) < 1e-15 else gap), ".2g"),
                     *([_num(r["hessian_evaluations"], ".0f"), f"{sum(r['compile_seconds'].values()):.2f}"]
                       if wide else [])])
        last = r["problem"]
    return columns, rows, bold
