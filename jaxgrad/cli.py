"""The ``jaxgrad`` command.

Exit status 0 on success, 2 on bad input with one ``error: ...`` line on stderr,
1 for a real fault.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

from jaxgrad.errors import InputError, did_you_mean


class UsageError(InputError):
    """Bad input from the command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


# options whose value is a comma-separated list of numbers, which may start with '-'
_NUMBER_LISTS = ("--at", "--direction", "--lower", "--upper", "--num")


def numbers(text: str, option: str, count: int | None = None, integer: bool = False) -> list:
    """Parse ``"1,-2.5"`` into numbers, naming the option and the position on failure."""
    parts = [p.strip() for p in str(text).split(",")]
    values = []
    for i, part in enumerate(parts, start=1):
        try:
            value = int(part) if integer else float(part)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise UsageError(f"{option}: entry {i} ({part!r}) is not {kind}") from None
        if not integer and not math.isfinite(value):
            raise UsageError(f"{option}: entry {i} ({part!r}) is not finite")
        values.append(value)
    if count is not None and len(values) != count:
        raise UsageError(f"{option}: expected {count} comma-separated number{'s' * (count != 1)}, got {len(values)}")
    return values


def _join_negative_values(argv: list[str]) -> list[str]:
    """Let ``--at -1,2`` mean ``--at=-1,2`` (argparse would read -1,2 as an option), and let an
    expression start with a minus (``check "-x*y"``): a leading space keeps it positional."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if i >= 1 and argv[i - 1] in ("check", "field") and arg.startswith("-") \
                and not re.fullmatch(r"(-h|--[a-z][a-z0-9-]*(=.*)?)", arg):
            out.append(" " + arg)
            i += 1
            continue
        if arg in _NUMBER_LISTS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def precision(float64: bool):
    """``(context, dtype)`` for a command (see :func:`jaxgrad.precision.precision`)."""
    from jaxgrad.precision import precision as _precision

    return _precision(bool(float64))


def _formatter(dtype):
    """Print as many significant digits as the dtype holds: 7 in float32, 14 in float64."""
    import numpy as np

    digits = 14 if np.dtype(dtype) == np.float64 else 7
    return lambda v: f"{float(v):.{digits}g}"


# --- jaxgrad check ----------------------------------------------------------------------


def _add_check(sub) -> None:
    p = sub.add_parser(
        "check",
        help="value, gradient, Hessian, kind of point and a numerical check of an expression at a point",
        description="Differentiate a math expression at a point and check the gradient by finite differences.",
    )
    p.add_argument("expr", metavar="EXPR", help='e.g. "x**2*y + exp(x*y)"; "[f1, f2]" for a vector function')
    p.add_argument("--at", required=True, help="the point, e.g. 1,2 (one number per variable)")
    p.add_argument("--direction", help="a direction for the directional derivative, e.g. 3,4")
    p.add_argument("--variables", help="variable order, e.g. x,y (default: natural order of the names)")
    p.add_argument("--symbolic", action="store_true",
                   help="also print each partial derivative as a formula (sympy, from the parsed expression: "
                        "pip install 'jaxgrad[symbolic]') and its value at the point")
    p.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    p.set_defaults(run=_in_precision(_check))


def _in_precision(command):
    """Run ``command(args, dtype)`` inside the precision ``--float64`` asks for."""

    def run(args) -> int:
        context, dtype = precision(args.float64)
        with context:
            return command(args, dtype)

    return run


def _check(args, dtype) -> int:
    import jax.numpy as jnp
    import numpy as np

    import jaxgrad as jg
    from jaxgrad.pictures.explore import examine

    f = jg.expression(args.expr, args.variables)
    names = f.variables
    x = jnp.asarray(numbers(args.at, "--at", len(names)), dtype)
    u = None if args.direction is None else numbers(args.direction, "--direction", len(names))
    try:
        r = examine(f, x, u, is_vector=f.is_vector)
    except InputError as err:
        raise UsageError(f"--{err.field}: {err}" if err.field == "direction" else str(err)) from None
    _fmt = _formatter(dtype)
    head = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, np.asarray(x)))
    print(f"f({', '.join(names)}) = {f.text}")
    print(f"at {head}   ({jnp.dtype(dtype).name})")
    print()
    if f.is_vector:
        print("value      " + "  ".join(_fmt(v) for v in r.value))
        print()
        _matrix("Jacobian", [f"f{i + 1}" for i in range(len(r.value))], names, r.jacobian, _fmt)
        print(f"numerical Jacobian (central): max abs error {r.jacobian_error:.2e}")
        return 0

    check = r.gradient_check
    print(f"value      {_fmt(float(r.value))}")
    print()
    print(f"{'':<10} {'gradient':>16} {'numerical':>16} {'abs error':>10}")
    for i, n in enumerate(names):
        print(f"{'d/d' + n:<10} {_fmt(r.gradient[i]):>16} {_fmt(check.numerical[i]):>16} {check.abs_error[i]:>10.2e}")
    verdict = "ok" if check.ok else "FAILED"
    print(f"gradient check {verdict} (central differences; max rel error {check.max_rel_error:.2e})")
    print()
    if args.symbolic:
        _symbolic(f, x, r.gradient, _fmt)
    _matrix("Hessian", names, names, r.hessian, _fmt)
    print(f"eigenvalues  {'  '.join(_fmt(v) for v in r.eigenvalues)}")
    note = "" if r.critical else f"  (curvature only: |grad| = {_fmt(r.gradient_norm)}, not a critical point)"
    print(f"kind         {r.kind}{note}")
    if u is not None:
        print()
        print(f"directional derivative along ({', '.join(_fmt(v) for v in np.asarray(u, dtype))})/|u|: "
              f"{_fmt(r.directional)}")
        print(f"  max over directions |grad| = {_fmt(r.gradient_norm)} (along the gradient)")
    if not check.ok:
        print("error: the gradient check failed (analytic and numerical gradients disagree)", file=sys.stderr)
        return 1
    return 0


def _symbolic(f, point, g, _fmt) -> None:
    """Print each partial derivative as a formula and its exact value, wrapped to the terminal."""
    import textwrap

    try:
        import sympy  # noqa: F401
    except ImportError:
        raise UsageError("--symbolic needs sympy: pip install 'jaxgrad[symbolic]'") from None
    from jaxgrad.pictures import terminal
    from jaxgrad.pictures.explore import symbolic_partials

    width = terminal.width()
    print("symbolic derivatives (sympy)")
    for i, (n, formula, value) in enumerate(symbolic_partials(f, point)):
        for line in textwrap.wrap(f"d/d{n} = {formula}", width, subsequent_indent="    ", break_long_words=False):
            print("  " + line if line.startswith("d/d") else line)
        shown = _fmt(value.real) if abs(value.imag) <= 1e-12 * max(1.0, abs(value.real)) else str(value)
        print(f"    at the point: {shown} (jaxgrad: {_fmt(g[i])})")
    print()


def _matrix(title: str, rows, cols, M, _fmt) -> None:
    print(f"{title:<10} " + " ".join(f"{c:>14}" for c in cols))
    for r, row in zip(rows, M):
        print(f"{'  ' + r:<10} " + " ".join(f"{_fmt(v):>14}" for v in row))


# --- jaxgrad field ----------------------------------------------------------------------


def _add_field(sub) -> None:
    from jaxgrad.fields.quantities import QUANTITIES

    p = sub.add_parser(
        "field",
        help="a pointwise quantity of an expression over a grid (jit + vmap, chunked, sharded)",
        description="Evaluate a quantity of a math expression at every point of a grid, in one compiled program.",
    )
    p.add_argument("expr", metavar="EXPR", help='e.g. "x**2*y + exp(x*y)"')
    p.add_argument("--lower", required=True, help="the box's lower corner, e.g. -2,-2")
    p.add_argument("--upper", required=True, help="the box's upper corner, e.g. 2,2")
    p.add_argument("--num", default="101", help="points per axis: one number for all, or one per axis (default 101)")
    p.add_argument("--quantity", default="grad", help=f"one of {', '.join(QUANTITIES)} (default grad)")
    p.add_argument("--direction", help="the direction for --quantity directional, e.g. 1,1")
    p.add_argument("--variables", help="variable order, e.g. x,y")
    p.add_argument("--plot", metavar="PNG", help="draw the field (.png, .svg or .pdf; 1- and 2-D expressions)")
    _add_dpi(p)
    p.add_argument("--style", choices=("map", "streamlines", "surface", "polar"), default="map",
                   help="for --plot: the quantity's map (default; arrows for grad), streamlines of -grad f, "
                        "a 3-D surface of f, or the directional derivative around --at (polar)")
    p.add_argument("--at", help="a point to mark, e.g. 1,2 (for --style polar: where the directional derivative "
                                "is taken; for one variable: where the tangent is drawn)")
    p.add_argument("--save", metavar="NPZ", help="save the axes and the field as .npz")
    p.add_argument("--chunk-size", type=int, help="points per lax.map batch (default: automatic)")
    p.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    _add_processes(p)
    p.set_defaults(run=_in_precision(_field))


def _field(args, dtype) -> int:
    import jax
    import numpy as np

    import jaxgrad as jg
    from jaxgrad import timing
    from jaxgrad.fields.points import KINDS
    from jaxgrad.fields.quantities import plan_field, quantity
    from jaxgrad.pictures.explore import field_plot, function_figure
    from jaxgrad.files import write_npz
    from jaxgrad.pictures.plots import save_figure
    from jaxgrad.fields.grid import Grid

    _set_dpi(args)
    f = jg.expression(args.expr, args.variables)
    d = len(f.variables)
    if d == 0:
        raise UsageError("the expression has no variables")
    lower = numbers(args.lower, "--lower", d)
    upper = numbers(args.upper, "--upper", d)
    num = numbers(args.num, "--num", None, integer=True)
    if len(num) not in (1, d):
        raise UsageError(f"--num: expected 1 or {d} comma-separated integers, got {len(num)}")
    grid = Grid(lower, upper, num * d if len(num) == 1 else num)
    direction = numbers(args.direction, "--direction", d) if args.direction else None
    if args.quantity == "directional" and direction is None:
        raise UsageError("--direction: needed for --quantity directional")
    if f.is_vector and args.quantity != "jacobian":
        raise UsageError(f"--quantity: {args.quantity!r} needs a scalar expression; use jacobian for a vector one")
    if args.plot and d not in (1, 2):
        raise UsageError(f"--plot: plots are drawn for expressions of 1 or 2 variables; this one has {d}")
    if args.plot and d == 1 and args.quantity not in ("grad", "value"):
        raise UsageError("--plot: a 1-variable expression is drawn as f and f' (--quantity grad or value)")
    fn = quantity(f, args.quantity, direction if args.quantity == "directional" else None)
    for flag, path, suffixes in (("--save", args.save, (".npz",)), ("--plot", args.plot, (".png", ".svg", ".pdf"))):
        if path:
            _check_output_path(flag, path, suffixes)
    _check_field_size(fn, grid, dtype)
    plan = plan_field(fn, grid, chunk_size=args.chunk_size, dtype=dtype)
    if jax.process_count() > 1:  # several processes: the plan runs (and gathers) as a whole
        _, compile_s = timing.timed(plan.run)
        values, run_s = timing.timed(plan.run)
    else:
        compiled, compile_s = timing.compiled(plan)
        values, run_s = timing.timed(lambda: compiled(*plan.args))
    host = np.asarray(values)

    print(f"f({', '.join(f.variables)}) = {f.text}")
    print(f"quantity     {args.quantity}" + (f" along ({args.direction})" if direction else ""))
    print(f"grid         {' x '.join(map(str, grid.shape))} = {grid.size:,} points on "
          f"[{', '.join(map(str, lower))}] .. [{', '.join(map(str, upper))}]   ({np.dtype(dtype).name})")
    print(f"result       shape {host.shape}, {host.nbytes / 2**20:.1f} MiB")
    if args.quantity == "kind":
        counts = {KINDS[k]: int(np.sum(host == k)) for k in range(len(KINDS))}
        print("kinds        " + ", ".join(f"{k} {v:,}" for k, v in counts.items() if v))
    else:
        finite = host[np.isfinite(host)]
        if finite.size:
            print(f"range        min {finite.min():.6g}, max {finite.max():.6g}"
                  + (f"   ({host.size - finite.size:,} non-finite)" if finite.size < host.size else ""))
    chunks = "one vmap" if plan.batch is None else f"{plan.chunks} chunks of {plan.batch:,} points (lax.map)"
    print(f"devices      {plan.devices} x {jax.devices()[0].platform}; {chunks} per device")
    print(f"time         compile {compile_s:.3f} s, run {run_s:.4f} s ({grid.size / max(run_s, 1e-12):,.0f} points/s)")

    if args.save:
        try:
            write_npz(args.save, values=host, expression=np.array(f.text), quantity=np.array(args.quantity),
                      variables=np.array(f.variables), **{f"axis_{i}": a for i, a in enumerate(grid.axes)})
        except OSError as err:
            raise UsageError(f"--save {args.save}: cannot write: {err.strerror or err}") from None
        print(f"saved        {args.save}")
    if args.plot:
        at = numbers(args.at, "--at", d) if args.at else None
        if args.style == "polar" and at is None:
            raise UsageError("--at: needed for --style polar")
        try:
            fig = (function_figure(f, grid, dtype, at) if d == 1
                   else field_plot(f, grid, args.quantity, host, dtype, args.style, at))
            save_figure(fig, args.plot)
        except OSError as err:
            raise UsageError(f"--plot {args.plot}: cannot write: {err.strerror or err}") from None
        print(f"plot         {args.plot}")
    return 0


def _check_output_path(flag: str, path: str, suffixes: tuple) -> None:
    """Refuse, before computing, a file that cannot be written: a wrong suffix, a missing or
    read-only folder, a folder in its place."""
    import os

    target = Path(path)
    if target.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path}: the file must end in {' or '.join(suffixes)}")
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{flag} {path}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: no such directory {str(parent)!r}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag} {path}: {str(parent)!r} is not writable")


def _check_field_size(fn, grid, dtype) -> None:
    """Refuse a grid whose result (and its host copy) does not fit in memory, before any work."""
    import jax
    import numpy as np

    from jaxgrad.lab.experiment import _available_memory, _gib

    out = jax.eval_shape(fn, jax.ShapeDtypeStruct((grid.dim,), dtype))
    per_point = int(np.prod(out.shape, dtype=np.int64)) * np.dtype(out.dtype).itemsize
    need = 2 * grid.size * per_point  # the device result and its host copy
    memory = _available_memory()
    if memory is not None and need > 0.8 * memory:
        raise UsageError(f"--num: {grid.size:,} points need about {_gib(need)} for the result and "
                         f"{_gib(memory)} is available; use fewer points (a coarser --num)")


# --- jaxgrad run / plot / list -----------------------------------------------------------


def _add_run(sub) -> None:
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
    _add_processes(p)
    p.set_defaults(run=_run_run)


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache (an entry point's global switch).

    Repeat runs of a config then skip XLA compilation (measured: the quickstart in
    about 4.5 s instead of 7.6 s). Every program is cached, however fast it compiled.
    """
    import os

    import jax

    if os.environ.get("JAXGRAD_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.environ.get("JAXGRAD_CACHE_DIR") or os.path.join(base, "jaxgrad", "xla")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None  # a read-only home: run without the cache
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


def _run_run(args) -> int:
    from jaxgrad.pictures import terminal

    with terminal.Status(enabled=not args.quiet).busy(f"reading {args.config}"):  # within a second of start
        from jaxgrad.lab.config import load_config
        from jaxgrad.lab.experiment import Interrupted, RunFault, describe_plan, run_experiment, summary_table

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


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="redraw a run directory's plots from its saved files",
                       description="Redraw the PNG plots of a run directory without recomputing anything.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--kind", action="append", dest="kinds", metavar="KIND",
                   help="only these plots (repeatable): loss, grad_norm, paths, fit, landscape, lr_sensitivity, ...")
    p.add_argument("--format", choices=("png", "svg", "pdf"), default="png",
                   help="png (default; embedded in index.html), or svg / pdf vectors beside them")
    _add_dpi(p)
    p.set_defaults(run=_run_plot)


def _add_dpi(p) -> None:
    p.add_argument("--dpi", type=int, help="resolution of PNG figures (default 150)")


def _set_dpi(args) -> None:
    from jaxgrad.pictures import plots

    if getattr(args, "dpi", None) is not None:
        if not 50 <= args.dpi <= 1200:
            raise UsageError(f"--dpi: must be from 50 to 1200, got {args.dpi}")
        plots.DPI = args.dpi


def _run_plot(args) -> int:
    from jaxgrad.pictures import page, report, terminal

    _set_dpi(args)
    figures = report.draw(args.run_dir, args.kinds, status=terminal.Status(), suffix="." + args.format)
    for path in figures:
        print(path)
    if not figures:
        print("no plots apply to this run", file=sys.stderr)
    print(page.write_run_page(args.run_dir))
    return 0


def _add_list(sub) -> None:
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
    import tomllib

    from jaxgrad import optimizers, problems

    import textwrap

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


# --- jaxgrad bench --------------------------------------------------------------------------


def _add_bench(sub) -> None:
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
    _add_processes(p)
    p.set_defaults(run=_run_bench)


def bench_table(result: dict, out, quick: bool = False) -> None:
    """The results of ``jaxgrad bench`` (a bench.json dict) as a table on the console ``out``."""
    from jaxgrad.pictures import tables, terminal

    title = (f"jaxgrad bench{' --quick' if quick else ''}: {result['options']['precision']}, "
             f"{result['options']['steps']} steps, {result['options']['eval_seeds']} fresh seeds, "
             f"{result['wall_seconds']:.0f} s wall")
    columns, rows, bold = tables.bench_rows(result)
    terminal.print_table(out, title, columns, rows, bold_rows=bold)


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

    from jaxgrad.lab.config import load_bench_config

    extra = tuple(bench.parse_optimizer(spec) for spec in args.optimizer)
    config = bench.resolve(None, args.quick, extra)  # the defaults, full or quick
    if args.what:
        config = load_bench_config(args.what, config, [s.name for s in bench.SUITE],
                                   [*bench.OPTIMIZERS, *(c.name for c in extra)])
    if args.tune_samples is not None:
        from jaxgrad.lab.config import parse_bench_config

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


# --- jaxgrad export ----------------------------------------------------------------------


def _add_export(sub) -> None:
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


# --- jaxgrad compare ---------------------------------------------------------------------


def _add_compare(sub) -> None:
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
        _check_output_path("--plot", args.plot, (".png", ".svg", ".pdf"))
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


# --- jaxgrad curvature -------------------------------------------------------------------


def _add_curvature(sub) -> None:
    p = sub.add_parser(
        "curvature", help="top Hessian eigenvalues, trace, per-layer curvature and spectral density of a model",
        description="Curvature of a problem's loss in parameter space, from Hessian-vector products only: a "
                    "registry problem or a factory at its initial parameters, or a run directory's final ones.")
    p.add_argument("target", metavar="PROBLEM_OR_RUN",
                   help='a registry problem ("mlp"), a factory ("my_model.py:make", "pkg.mod:make"), '
                        "or a run directory (its best setting's final parameters)")
    p.add_argument("--k", type=int, default=5, help="how many top eigenvalues (default 5)")
    p.add_argument("--probes", type=int, default=100, help="Hutchinson probes for the trace (default 100)")
    p.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="a problem option, e.g. widths=[1,16,1] (repeatable; not for a run directory)")
    p.add_argument("--seed", type=int, default=0, help="the initial parameters' seed (default 0)")
    p.add_argument("--group", type=int, help="for a run directory: this group (default: the lowest final loss)")
    p.add_argument("--plot", metavar="PNG", help="draw the spectral density (log scale) to this file")
    _add_dpi(p)
    p.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    p.set_defaults(run=_in_precision(_curvature))


def _curvature_target(args):
    """``(label, problem, params, where)`` for PROBLEM_OR_RUN."""
    import jax

    from jaxgrad.lab import config as _config
    from jaxgrad.lab.experiment import load_trained

    from jaxgrad import problems

    target = Path(args.target)
    registry = args.target in problems.names()
    if registry and target.exists():
        raise UsageError(f"{args.target!r} is both a registry problem and a path here; name the run directory "
                         f"as ./{args.target} or run from another folder")
    if not registry and ":" not in args.target and not target.exists():
        raise UsageError(f"{args.target!r} is neither a run directory nor a problem"
                         f"{did_you_mean(args.target, problems.names())}; problems: {', '.join(problems.names())}")
    if target.is_dir() and not registry:
        if args.options:
            raise UsageError("--set: a run directory's problem is the one it ran; options do not apply")
        try:
            t = load_trained(target, args.group)
        except InputError as err:
            raise UsageError(f"--group {args.group}: {err}" if err.field == "group" else str(err)) from None
        return t.label, t.problem, t.params, t.where
    table = {"factory": args.target} if ":" in args.target else {"name": args.target}
    for item in args.options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected key=value, e.g. widths=[1,16,1]")
        table[key.strip()] = _config.parse_value(value.strip())
    configs = _config.parse_problem(table, "--set" if args.options else args.target, Path.cwd())
    if len(configs) != 1:
        raise UsageError("--set: one problem at a time (a list sweeps several)")
    problem = configs[0].build()
    params = problem.init(jax.random.PRNGKey(args.seed))
    return configs[0].label, problem, params, f"at its initial parameters (seed {args.seed})"


def _curvature(args, dtype) -> int:
    import time

    _set_dpi(args)
    import numpy as np
    from jax.flatten_util import ravel_pytree

    import jaxgrad as jg

    if args.plot:
        _check_output_path("--plot", args.plot, (".png",))
    label, problem, params, where = _curvature_target(args)
    loss = problem.loss
    n = ravel_pytree(params)[0].shape[0]
    if not 1 <= args.k <= n:
        raise UsageError(f"--k {args.k}: must be from 1 to the number of parameters ({n})")
    if args.probes < 2:
        raise UsageError(f"--probes {args.probes}: needs at least 2 (for a standard error)")
    _fmt = _formatter(dtype)
    print(label)
    print(f"  {n:,} parameters, {np.dtype(dtype).name}, {where}")
    print(f"  loss {_fmt(loss(params))}")
    print()
    t0 = time.perf_counter()
    values, _ = jg.top_eigenvalues(loss, params, k=args.k)
    values = np.asarray(values)
    t_top = time.perf_counter() - t0
    print(f"top {args.k} eigenvalues (Lanczos to a 1e-8 residual, {t_top:.2f} s)")
    for i in range(0, len(values), 4):
        print("  " + "".join(f"{_fmt(v):>18}" for v in values[i:i + 4]))
    t0 = time.perf_counter()
    trace = jg.hessian_trace(loss, params, num_probes=args.probes)
    t_trace = time.perf_counter() - t0
    print(f"trace (Hutchinson, {args.probes} probes, {t_trace:.2f} s)")
    print(f"  {_fmt(trace)} ± {trace.stderr:.2g} (standard error)")
    print()
    t0 = time.perf_counter()
    layers = jg.layer_curvature(loss, params)
    t_layers = time.perf_counter() - t0
    print(f"per parameter leaf: its diagonal Hessian block ({t_layers:.2f} s)")
    sizes = dict(_leaf_sizes(params))
    width = max(12, *(len(_leaf_name(k)) for k in layers))
    print(f"  {'leaf':<{width}} {'size':>7} {'top eigenvalue':>16} {'trace':>16}")
    for key, lc in layers.items():
        print(f"  {_leaf_name(key):<{width}} {sizes[key]:>7,} {_fmt(lc.eigenvalues[0]):>16} {_fmt(lc.trace):>16}")
    t0 = time.perf_counter()
    grid, density = jg.spectral_density(loss, params)
    t_density = time.perf_counter() - t0
    print()
    print(f"spectral density (Lanczos quadrature, 8 probes x {min(64, n)} steps, {t_density:.2f} s)")
    print(f"  eigenvalues from {_fmt(grid[0])} to {_fmt(grid[-1])} (with a margin)")
    if args.plot:
        from jaxgrad.pictures import plots
        from jaxgrad.pictures.plots import save_figure

        fig, (ax,) = plots.figure(1, 7.0, 4.6)
        plots.spectral_density(ax, grid, density, top=values,
                               title=f"{label}: Hessian eigenvalue density, {where}")
        save_figure(fig, args.plot)
        print(f"plot  {args.plot}")
    return 0


def _leaf_sizes(params):
    import jax
    import numpy as np

    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        yield jax.tree_util.keystr(path), int(np.prod(np.shape(leaf), dtype=int))


def _leaf_name(key: str) -> str:
    return key or "(the array)"


# --- several processes ------------------------------------------------------------------


def _add_processes(p) -> None:
    g = p.add_argument_group(
        "several processes (jax.distributed)",
        "Run as one of N processes of one job; every process is started with the same command and "
        "its own --process-id (or the JAXGRAD_COORDINATOR, JAXGRAD_NUM_PROCESSES, JAXGRAD_PROCESS_ID "
        "variables that 'jaxgrad launch' sets; under SLURM or Open MPI, nothing). Process 0 writes.")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's host and a free port, the same for all")
    g.add_argument("--num-processes", type=int, metavar="N", help="how many processes the job has")
    g.add_argument("--process-id", type=int, metavar="I", help="this process's number, 0..N-1")


def _join_job(args) -> bool:
    """Join the multi-process job the arguments or environment describe; True if this process
    only computes (process 1..N-1: its standard output and progress lines go nowhere)."""
    import os

    from jaxgrad import distributed

    if not distributed.initialize(args.coordinator, args.num_processes, args.process_id):
        return False
    if distributed.is_writer():
        return False
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (for the life of the process)
    if hasattr(args, "quiet"):
        args.quiet = True
    return True


def _add_launch(sub) -> None:
    p = sub.add_parser(
        "launch", help="start N local processes of one job (jax.distributed over loopback)",
        description="Start N copies of a jaxgrad command as one multi-process job on this machine, "
                    "e.g. 'jaxgrad launch -n 2 -- jaxgrad run configs/quickstart.toml'. Process 0 writes "
                    "and prints; if one process fails, the others are stopped.")
    p.add_argument("-n", "--num-processes", type=int, default=2, metavar="N", help="processes (default 2)")
    p.add_argument("--port", type=int, help="the coordinator's port on 127.0.0.1 (default: a free one)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="the command each process runs ('jaxgrad ...' runs this jaxgrad)")
    p.set_defaults(run=_run_launch)


def _run_launch(args) -> int:
    import os
    import signal
    import socket
    import subprocess
    import time

    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        raise UsageError("jaxgrad launch: give the command after --, e.g. -- jaxgrad run CONFIG")
    if args.num_processes < 1:
        raise UsageError(f"jaxgrad launch: -n must be a positive integer, got {args.num_processes}")
    if cmd[0] == "jaxgrad":  # this installation's jaxgrad, whatever PATH says
        cmd = [sys.executable, "-m", "jaxgrad", *cmd[1:]]
    port = args.port
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    procs = []
    for i in range(args.num_processes):
        env = dict(os.environ, JAXGRAD_COORDINATOR=f"127.0.0.1:{port}",
                   JAXGRAD_NUM_PROCESSES=str(args.num_processes), JAXGRAD_PROCESS_ID=str(i))
        try:
            procs.append(subprocess.Popen(cmd, env=env))
        except OSError as err:
            _stop(procs)
            raise UsageError(f"jaxgrad launch: cannot start {cmd[0]}: {err.strerror}") from None
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = next((i for i, c in enumerate(codes) if c not in (None, 0)), None)
            if failed is not None:
                code = codes[failed]
                if code == 2:  # bad input, met by every process alike: process 0 says it, give it time
                    _stop(procs, grace=5.0)
                    return 2
                _stop(procs)
                how = f"signal {-code}" if code < 0 else f"status {code}"
                print(f"error: process {failed} of {len(procs)} ended with {how}; stopped the others",
                      file=sys.stderr)
                return code if code > 0 else 1
            if all(c == 0 for c in codes):
                return 0
            time.sleep(0.1)
    except KeyboardInterrupt:
        _stop(procs, signal.SIGINT)
        raise


def _stop(procs, sig=None, grace: float = 0.0) -> None:
    """Stop the processes still running after ``grace`` seconds: a signal (SIGTERM), then
    SIGKILL after 10 s."""
    import signal
    import subprocess
    import time

    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig or signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# --- the parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxgrad",
        description="A JAX-accelerated optimization lab: derivatives, fields, landscapes, optimizers.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_run(sub)
    _add_check(sub)
    _add_field(sub)
    _add_plot(sub)
    _add_bench(sub)
    _add_curvature(sub)
    _add_compare(sub)
    _add_export(sub)
    _add_list(sub)
    _add_launch(sub)
    return parser


def _version() -> str:
    from jaxgrad import __version__

    return f"jaxgrad {__version__}"


def main(argv=None) -> int:
    code = _main(argv)
    joined = sys.modules.get("jaxgrad.distributed")
    if code and joined is not None and joined.JOINED:
        # a failed process of a multi-process job leaves now: JAX's orderly shutdown would wait
        # at a barrier for the others (30 s) and then abort with a page of C++ log
        import os
        import time

        sys.stdout.flush()
        sys.stderr.flush()
        if code == 2 and joined.is_writer():
            # bad input, which every process meets alike: process 0 hosts the coordination
            # service, so it leaves last (else the others abort with a page of C++ log)
            time.sleep(2.0)
        os._exit(code)
    return code


def _main(argv=None) -> int:
    argv = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    helper = False  # one of processes 1..N-1 of a multi-process job
    try:
        args = parser.parse_args(argv)
        if args.command is None:  # usage on stderr, exit 2, as for any other missing argument
            parser.print_help(sys.stderr)
            return 2
        if hasattr(args, "coordinator"):
            helper = _join_job(args)
        return args.run(args) or 0
    except InputError as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not helper:  # processes 1..N-1 meet the same bad input: process 0 says it once
            print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `jaxgrad ... | head`: the reader left; nothing is wrong
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # a fault: one line, exit 1 (JAXGRAD_DEBUG=1 shows the traceback)
        import os

        if os.environ.get("JAXGRAD_DEBUG"):
            raise
        where = f" ({err.filename})" if isinstance(err, OSError) and err.filename else ""
        if helper:
            import jax

            where = f" in process {jax.process_index()}{where}"
        text = (err.strerror if isinstance(err, OSError) and err.strerror else str(err)).splitlines()
        joined = sys.modules.get("jaxgrad.distributed")
        if joined is not None and joined.JOINED and any(k in str(err) for k in ("Gloo", "heartbeat", "peer")):
            print(f"error: another process of the job stopped ({type(err).__name__}: {text[0] if text else ''})",
                  file=sys.stderr)
            return 1
        print(f"error: {type(err).__name__}{where}: {text[0] if text else ''} "
              "(a fault, not your input; JAXGRAD_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    finally:
        plots = sys.modules.get("jaxgrad.pictures.plots")
        if plots is not None:  # --dpi holds for one command (main is also called in-process, by tests)
            plots.DPI = plots.DEFAULT_DPI


if __name__ == "__main__":
    sys.exit(main())
