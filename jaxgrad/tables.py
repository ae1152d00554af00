"""The content of the results tables, once: the terminal (:mod:`jaxgrad.terminal`) and the
report page (:mod:`jaxgrad.page`) draw the same rows.

Each builder returns ``(columns, rows, bold)``: :class:`~jaxgrad.terminal.Column` s, rows of
strings (``None`` between sections; a label's leading spaces are its depth) and the indices
of heading rows.
"""

from __future__ import annotations

from jaxgrad.terminal import SECTION, Column

__all__ = ["run_rows", "bench_rows"]


def _num(value, fmt: str = ".4g") -> str:
    return "-" if value is None else format(value, fmt)


def run_rows(summary: dict):
    """A run's table: per problem (a heading), per optimizer, per setting."""
    extra = [k for k in ("test_loss", "accuracy", "test_accuracy")
             if any(f"median_final_{k}" in s for g in summary["groups"] for s in g["settings"])]
    columns = [Column("", numeric=False), Column("median\nfinal"), Column("best\nfinal"),
               *(Column("median\n" + k.replace("_", " ")) for k in extra),
               Column("steps\nto tol"), Column("diverged"), Column("compile\ns"), Column("run\ns")]
    rows, bold, last_problem = [], [], None
    for g in summary["groups"]:
        if g["problem"] != last_problem:
            if last_problem is not None:
                rows.append(SECTION)
            bold.append(len(rows))
            rows.append([g["problem"]] + [""] * (len(columns) - 1))
            last_problem = g["problem"]
        times = [f"{g['compile_seconds']:.2f}", f"{g['run_seconds']:.3f}"]
        settings = g["settings"]
        if len(settings) > 1:
            rows.append(["  " + g["optimizer_label"]] + [""] * (len(columns) - 3) + times)
        for s in settings:
            steps = "-" if s["median_steps_to_tol"] is None else \
                f"{s['median_steps_to_tol']:.0f} ({s['converged']}/{len(s['runs'])})"
            values = [_num(s["median_final_loss"]), _num(s["best_final_loss"]),
                      *(_num(s.get(f"median_final_{k}")) for k in extra), steps, str(s["diverged"] or "")]
            if len(settings) > 1:
                rows.append(["    " + s["label"]] + values + ["", ""])
            else:
                label = g["optimizer_label"] + ("" if s["label"] == "default" else f" {s['label']}")
                rows.append(["  " + label] + values + times)
    return columns, rows, bold


def bench_rows(result: dict):
    """``jaxgrad bench``'s table: per problem and optimizer, its tuned setting's outcome."""
    columns = [Column("problem", numeric=False), Column("optimizer", numeric=False), Column("best\nlr"),
               Column("suc-\ncess"), Column("steps to\ntarget"), Column("ms to\ntarget"), Column("final\ngap"),
               Column("Hess-\nians"), Column("compile\ns")]
    rows, last = [], None
    for r in result["results"]:
        if last is not None and r["problem"] != last:
            rows.append(SECTION)
        time = r["median_time_to_target"]
        rows.append([r["problem"] if r["problem"] != last else "", r["optimizer"],
                     _num(r["best_setting"].get("learning_rate"), ".2g"), f"{100 * r['success_rate']:.0f}%",
                     _num(r["median_steps_to_target"], ".0f"), _num(None if time is None else 1e3 * time, ".3g"),
                     _num(r.get("median_final_gap", r.get("median_final_loss")), ".2g"),
                     _num(r["hessian_evaluations"], ".0f"), f"{r['compile_seconds']['tuning_sweep']:.2f}"])
        last = r["problem"]
    return columns, rows, []
