"""``jaxgrad bench``: the optimizer benchmark."""
from __future__ import annotations

import sys
from pathlib import Path

from jaxgrad.cli.common import UsageError, enable_compilation_cache
from jaxgrad.cli.launch import add_processes
from jaxgrad.cli.results import print_comparison

__all__ = ["add_bench", "bench_table"]

def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="the optimizer benchmark (tuned, re-run, profiled), or throughput",
                       description="Benchmark every optimizer on the suite under one protocol, or run the "
                                   "field and sweep throughput benchmarks ('jaxgrad bench throughput').")
    p.add_argument("what", nargs="?", metavar="CONFIG|throughput",
                   help="a bench TOML (problems, optimizers, steps, tune_seeds, eval_seeds, lr_grid, precision), "
                        "or 'throughput'")
    p.add_argument("--quick", action="store_true", help="a small suite that finishes in under 2 minutes")
    p.add_argument("--out", metavar="DIR", help="where bench.json and the PNGs go (default runs/bench-<time>)")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="compare two bench outputs (a shortcut for jaxgrad compare A B)")
    p.add_argument("--optimizer", action="append", default=[], metavar="SPEC",
                   help="also benchmark this optimizer (repeatable): a registry name or a factory "
                        "'module:function' / 'file.py:function', then ',key=value' hyperparameters, "
                        "e.g. 'optax:adamw,weight_decay=1e-4'")
    p.add_argument("--tune-samples", type=int, metavar="N",
                   help="tune on N Halton samples of a log range over the learning-rate grid's span (one program)")
    p.add_argument("--no-cache", action="store_true", help="do not use the persistent compilation cache")
    add_processes(p)
    p.set_defaults(run=_run_bench)


def bench_table(result: dict, out, quick: bool = False) -> None:
    """The results of ``jaxgrad bench`` (a bench.json dict) as a table on the console ``out``."""
    from jaxgrad.pictures import tables, terminal

    title = (f"jaxgrad bench{' --quick' if quick else ''}: {result['options']['precision']}, "
             f"{result['options']['steps']} steps, {result['options']['eval_seeds']} fresh seeds, "
             f"{result['wall_seconds']:.0f} s wall")
    columns, rows, bold = tables.bench_rows(result)
    terminal.print_table(out, title, columns, rows, bold_rows=bold)
    split = result.get("time")
    if split:
        terminal.paragraph(out, f"where the {split['wall']:.1f} s went: compiling {split['compile']:.1f} s "
                                f"({split['compiles']} programs), running {split['run']:.1f} s, the rest "
                                f"{split['other']:.1f} s (tracing, statistics, starting up)")


def _run_bench(args) -> int:
    import datetime as dt

    from jaxgrad.pictures import terminal

    out = terminal.console()
    if args.compare:  # a shortcut for jaxgrad compare A.json B.json
        from jaxgrad.lab import compare

        if any(s.kind != "bench" for s in (compare.load(p) for p in args.compare)):
            raise UsageError("--compare: both must be bench outputs (bench.json); compare runs with jaxgrad compare")
        print_comparison(args.compare, out=out)
        return 0
    if not args.no_cache:
        enable_compilation_cache()
    if args.what == "throughput":  # the scripts of a source checkout (they are not installed)
        import runpy

        scripts = Path(__file__).resolve().parents[1] / "benchmarks"
        if not (scripts / "fields.py").exists():
            raise UsageError("the throughput benchmarks are scripts in the source tree: "
                             "git clone the project and run python benchmarks/fields.py and benchmarks/sweep.py")
        quick = args.quick
        for name, argv in (("fields.py", ["--sizes", "1e5", "--runs", "1", "--rounds", "5", "--no-torch"] if quick else []),
                           ("sweep.py", ["--steps", "300", "--repeats", "2", "--part", "sweep"] if quick else [])):
            saved = sys.argv
            sys.argv = [str(scripts / name), *argv]
            try:
                runpy.run_path(str(scripts / name), run_name="__main__")
            finally:
                sys.argv = saved
        return 0
    from jaxgrad.lab import bench
    from jaxgrad.lab.bench.schema import load_bench_config

    extra = tuple(bench.parse_optimizer(spec) for spec in args.optimizer)
    config = bench.resolve(None, args.quick, extra)  # the defaults, full or quick
    if args.what:
        config = load_bench_config(args.what, config, [s.name for s in bench.SUITE],
                                   [*bench.OPTIMIZERS, *(c.name for c in extra)])
    if args.tune_samples is not None:
        from jaxgrad.lab.bench.schema import parse_bench_config

        config = parse_bench_config({"tune_samples": args.tune_samples}, config, [s.name for s in bench.SUITE],
                                    [*bench.OPTIMIZERS, *(c.name for c in extra)], "--tune-samples")
    out_dir = Path(args.out or Path("runs") / f"bench-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    status = terminal.Status()
    result = bench.run_suite(config, quick=args.quick, status=status, extra=extra)
    status.say(f"writing {out_dir}")
    written = bench.write_outputs(result, out_dir)
    bench_table(result, out, args.quick)
    terminal.paragraph(out, f"results in {out_dir}: " + ", ".join(p.name for p in written))
    return 0
