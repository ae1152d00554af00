"""``jaxgrad check``: derivatives of one function at a point, exact and numerical."""
from __future__ import annotations

import sys

from jaxgrad.cli.common import UsageError, formatter, in_precision, numbers
from jaxgrad.errors import InputError

__all__ = ["add_check"]

def add_check(sub) -> None:
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
    p.set_defaults(run=in_precision(_check))


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
    _fmt = formatter(dtype)
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
