"""``jaxgrad compare`` and ``jaxgrad export``: finished runs side by side, and to TensorBoard."""
from __future__ import annotations

from jaxgrad.cli.common import check_output_path

__all__ = ["add_export", "add_compare", "print_comparison"]

def add_export(sub) -> None:
    p = sub.add_parser("export", help="a run directory as TensorBoard files",
                       description="Write a finished (or interrupted: its saved groups) run as TensorBoard "
                                   "event files: one TensorBoard run per (problem, optimizer setting).")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--tensorboard", nargs="?", const="", metavar="DIR", required=True,
                   help="where to write them (default RUN_DIR/tensorboard); then: tensorboard --logdir DIR")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    from jaxgrad.lab import export

    out = export.tensorboard(args.run_dir, args.tensorboard or None)
    print(f"{out}: open with tensorboard --logdir {out}")
    return 0


def add_compare(sub) -> None:
    p = sub.add_parser(
        "compare", help="runs (or bench outputs) side by side, with intervals and rank tests",
        description="Compare finished run directories (or bench outputs) per problem and optimizer: each "
                    "one's chosen setting, median [95% interval], the ratio to the first, and a rank test "
                    "over seeds against the first.")
    p.add_argument("paths", nargs="+", metavar="RUN_OR_BENCH", help="run directories, or bench.json files or folders")
    p.add_argument("--plot", metavar="PNG", help="overlay the chosen settings' loss curves (runs only)")
    p.set_defaults(run=_run_compare)


def _run_compare(args) -> int:
    if args.plot:
        check_output_path("--plot", args.plot, (".png", ".svg", ".pdf"))
    print_comparison(args.paths, plot=args.plot)
    return 0


def print_comparison(paths, plot: str | None = None, out=None) -> None:
    """``jaxgrad compare``'s table, its per-problem lines and (``plot``) the overlay figure."""
    from jaxgrad.lab import compare, stats
    from jaxgrad.pictures import tables, terminal

    sources, rows, unshared = compare.compare(paths)
    out = out or terminal.console()
    C = terminal.Column
    for s in sources:
        terminal.paragraph(out, f"{s.name}: {s.path} ({s.kind})")
    quantity = sources[0].quantity
    columns = [C("", numeric=False), C("median\n" + quantity.split(" ")[0]), C("95% CI"), C("ratio\nto A"),
               C("p vs A")]
    body, bold = [], []
    for problem in dict.fromkeys(r.problem for r in rows):
        if body:
            body.append(None)
        bold.append(len(body))
        body.append([problem] + [""] * 4)
        for r in (r for r in rows if r.problem == problem):
            body.append(["  " + r.optimizer, "", "", "", ""])
            for k, (s, e) in enumerate(zip(sources, r.entries)):
                ratio, p = r.ratios[k], r.p_values[k]
                body.append([f"    {s.name} {e.setting}", stats.fmt(e.median), tables.interval(e.ci),
                             "" if k == 0 else ("-" if ratio is None else f"{ratio:.2f}x"),
                             "" if k == 0 else stats.fmt_p(p)])
    if rows:
        out.print("", soft_wrap=True)
        terminal.print_table(out, f"{quantity}: each source's chosen setting", columns, body, bold_rows=bold)
        out.print("", soft_wrap=True)
        for problem, text in compare.what_changed(sources, rows):
            terminal.paragraph(out, f"=> {problem}: {text}")
    else:
        terminal.paragraph(out, "the sources share no (problem, optimizer) pair")
    for problem, optimizer, names in unshared:
        terminal.paragraph(out, f"not compared: {problem} / {optimizer} (only in {', '.join(names)})")
    terminal.paragraph(out, "95% CI: bootstrap interval of the median over seeds; p vs A: two-sided Mann-Whitney U "
                            f"over seeds (below {stats.ALPHA:g}: a difference the seeds can tell)")
    if plot and rows:
        print(compare.plot(sources, rows, plot))
