"""``jaxgrad field``: a quantity over a grid, to a figure or an .npz."""
from __future__ import annotations

from jaxgrad.cli.common import (
    UsageError,
    add_dpi,
    check_output_path,
    in_precision,
    numbers,
    set_dpi,
)
from jaxgrad.cli.launch import add_processes

__all__ = ["add_field"]

def add_field(sub) -> None:
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
    add_dpi(p)
    p.add_argument("--style", choices=("map", "streamlines", "surface", "polar"), default="map",
                   help="for --plot: the quantity's map (default; arrows for grad), streamlines of -grad f, "
                        "a 3-D surface of f, or the directional derivative around --at (polar)")
    p.add_argument("--at", help="a point to mark, e.g. 1,2 (for --style polar: where the directional derivative "
                                "is taken; for one variable: where the tangent is drawn)")
    p.add_argument("--save", metavar="NPZ", help="save the axes and the field as .npz")
    p.add_argument("--chunk-size", type=int, help="points per lax.map batch (default: automatic)")
    p.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    add_processes(p)
    p.set_defaults(run=in_precision(_field))


def _field(args, dtype) -> int:
    import jax
    import numpy as np

    import jaxgrad as jg
    from jaxgrad import timing
    from jaxgrad.fields.grid import Grid
    from jaxgrad.fields.points import KINDS
    from jaxgrad.fields.quantities import plan_field, quantity
    from jaxgrad.files import write_npz
    from jaxgrad.pictures.explore import field_plot, function_figure
    from jaxgrad.pictures.house import save_figure

    set_dpi(args)
    f = jg.expression(args.expr, args.variables)
    d = len(f.variables)
    if d == 0:
        raise UsageError("the expression has no variables")
    lower = numbers(args.lower, "--lower", d)
    upper = numbers(args.upper, "--upper", d)
    num = numbers(args.num, "--num", None, integer=True)
    if len(num) not in (1, d):
        raise UsageError(f"--num: expected 1 or {d} comma-separated integers, got {len(num)}")
    big = float(np.finfo(dtype).max)
    for flag, corner in (("--lower", lower), ("--upper", upper)):
        for i, v in enumerate(corner):
            if abs(v) > big:
                raise UsageError(f"{flag}: entry {i} ({v:g}) is beyond {np.dtype(dtype).name}'s range (±{big:.3g})"
                                 + ("; use --float64" if np.dtype(dtype) != np.float64 else ""))
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
            check_output_path(flag, path, suffixes)
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
            # the path was checked before the work: a failure now (a full disk) is a fault, exit 1
            raise OSError(err.errno, f"--save: cannot write ({err.strerror or err})", args.save) from None
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
            raise OSError(err.errno, f"--plot: cannot write ({err.strerror or err})", args.plot) from None
        print(f"plot         {args.plot}")
    return 0


def _check_field_size(fn, grid, dtype) -> None:
    """Refuse a grid whose result (and its host copy) does not fit in memory, before any work."""
    import jax
    import numpy as np

    from jaxgrad.lab.plan import available_memory, gib

    out = jax.eval_shape(fn, jax.ShapeDtypeStruct((grid.dim,), dtype))
    per_point = int(np.prod(out.shape, dtype=np.int64)) * np.dtype(out.dtype).itemsize
    need = 2 * grid.size * per_point  # the device result and its host copy
    memory = available_memory()
    if memory is not None and need > 0.8 * memory:
        raise UsageError(f"--num: {grid.size:,} points need about {gib(need)} for the result and "
                         f"{gib(memory)} is available; use fewer points (a coarser --num)")
