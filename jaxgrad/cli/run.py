"""``jaxgrad run``, ``jaxgrad plot`` and ``jaxgrad list``: experiments from configs."""
from __future__ import annotations

import sys
from pathlib import Path

from jaxgrad.cli.common import add_dpi, enable_compilation_cache, set_dpi
from jaxgrad.cli.launch import add_processes

__all__ = ["add_run", "add_plot", "add_list"]

def add_run(sub) -> None:
    p = sub.add_parser("run", help="run an experiment config (TOML) and write its results",
                       description="Run every problem x optimizer group of a TOML config; write a run directory.")
    p.add_argument("config", metavar="CONFIG", help="a TOML config, e.g. configs/quickstart.toml")
    p.add_argument("--out", metavar="DIR", help="the run directory (default: [output] directory or runs/<name>-<time>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field by its dotted path, e.g. steps=200 or optimizers.1.learning_rate=0.003 "
                        "(list indices from 0); repeatable")
    p.add_argument("--dry-run", action="store_true",
                   help="validate and print the plan: memory, disk and the time it will take (each group's program "
                        "compiled and timed at a few steps; nothing written)")
    p.add_argument("--no-estimate", action="store_true", help="with --dry-run: validate the config and plan only (no program traced or timed)")
    p.add_argument("--resume", action="store_true",
                   help="finish the interrupted run in --out DIR (same config): its saved groups are kept")
    p.add_argument("--overwrite", action="store_true", help="clear --out DIR first if it holds files")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--no-cache", action="store_true",
                   help="do not use the persistent compilation cache ($XDG_CACHE_HOME/jaxgrad/xla; "
                        "JAXGRAD_CACHE_DIR overrides, JAXGRAD_NO_CACHE=1 disables)")
    add_processes(p)
    p.set_defaults(run=_run_run)


def _run_run(args) -> int:
    from jaxgrad.pictures import terminal

    with terminal.Status(enabled=not args.quiet).busy(f"reading {args.config}"):  # within a second of start
        from jaxgrad.lab.config import load_config
        from jaxgrad.lab.experiment import Interrupted, RunFault, run_experiment
        from jaxgrad.lab.plan import describe_plan
        from jaxgrad.lab.results import summary_table

        config = load_config(args.config, args.overrides)
    if args.dry_run:
        print(describe_plan(config, timed=not args.no_estimate), end="")
        return 0
    if not args.no_cache:
        enable_compilation_cache()
    out = terminal.console()
    try:
        result = run_experiment(config, args.out, progress=not args.quiet, plots=not args.no_plots,
                                resume=args.resume, overwrite=args.overwrite)
    except Interrupted as err:
        print(f"error: interrupted ({err})", file=sys.stderr)
        return 143 if str(err).startswith("SIGTERM") else 130
    except RunFault as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    summary_table(result.summary, out)
    figures = sorted(p.name for p in result.run_dir.iterdir() if p.suffix in (".png", ".gif"))
    gifs = sum(name.endswith(".gif") for name in figures)
    terminal.paragraph(out, f"results in {result.run_dir}: index.html (open it), config.toml, summary.json, "
                            f"metrics.csv, arrays.npz"
                            + (f", {len(figures)} figure{'s' if len(figures) != 1 else ''}" if figures else "")
                       + (f" ({gifs} animated)" if gifs else ""))
    return 0


def add_plot(sub) -> None:
    p = sub.add_parser("plot", help="redraw a run directory's plots from its saved files",
                       description="Redraw the PNG plots of a run directory without recomputing anything.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                   help="only these plots (repeatable): loss, grad_norm, paths, fit, landscape, lr_sensitivity, ...")
    p.add_argument("--format", choices=("png", "svg", "pdf"), default="png",
                   help="png (default; embedded in index.html), or svg / pdf vectors beside them")
    add_dpi(p)
    p.set_defaults(run=_run_plot)


def _run_plot(args) -> int:
    from jaxgrad.pictures import page, report, terminal

    set_dpi(args)
    figures = report.draw(args.run_dir, args.kinds, status=terminal.Status(), suffix="." + args.format)
    for path in figures:
        print(path)
    if not figures:
        print("no plots apply to this run", file=sys.stderr)
    print(page.write_run_page(args.run_dir))
    return 0


def add_list(sub) -> None:
    p = sub.add_parser("list", help="problems, optimizers (with hyperparameters) and shipped configs",
                       description="List the registered problems and optimizers and the configs that ship.")
    p.set_defaults(run=_run_list)


def _shipped_configs():
    from pathlib import Path

    seen, out = set(), []
    for root in (Path.cwd() / "configs", Path(__file__).resolve().parent.parent / "configs"):
        if root.is_dir():
            for path in sorted(root.glob("*.toml")):
                if path.resolve() not in seen:
                    seen.add(path.resolve())
                    out.append(path)
    return out


def _run_list(args) -> int:
    import textwrap

    import tomllib

    from jaxgrad import optimizers, problems
    from jaxgrad.pictures import terminal

    width = terminal.width()

    def item(name: str, text: str, pad: int) -> None:  # "  name  text", the text wrapped under itself
        lead = f"  {name:<{pad}} "
        lines = textwrap.wrap(text, max(20, width - len(lead)), break_long_words=False, break_on_hyphens=False)
        for k, line in enumerate(lines or [""]):
            print((lead if k == 0 else " " * len(lead)) + line)

    print("problems (jaxgrad.problems.make(name, **options)):")
    for name in problems.names():
        item(name, ", ".join(f"{k}" if v is problems.REQUIRED else f"{k}={v!r}"
                             for k, v in problems.signature(name).items()), 19)
    print("\noptimizers (jaxgrad.optimizers.make(name, **hyperparameters)):")
    common = optimizers.COMMON
    for name in optimizers.names():
        own = {k: v for k, v in optimizers.spec(name).items() if k not in common}
        item(name, optimizers.describe(name), 10)
        item("", ", ".join(f"{k}={h.default!r}" for k, h in own.items()), 10)
    item("", "every optimizer also takes: " + ", ".join(f"{k}={h.default!r}" for k, h in common.items()), 10)
    configs = _shipped_configs()
    print("\nconfigs:" + ("" if configs else " none found (run from the repository root)"))
    for path in configs:
        try:
            description = tomllib.loads(path.read_text()).get("description", "")
        except (OSError, tomllib.TOMLDecodeError):
            description = "(unreadable)"
        print(f"  {str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)}")
        item("", description, 2)
    return 0
