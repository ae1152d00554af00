"""The ``jaxgrad`` command.

Exit status 0 on success, 2 on bad input with one ``error: ...`` line on stderr,
1 for a real fault.
"""

from __future__ import annotations

import argparse
import math
import sys

from jaxgrad.errors import InputError


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
    """Let ``--at -1,2`` mean ``--at=-1,2`` (argparse would read -1,2 as an option)."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in _NUMBER_LISTS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def precision(float64: bool):
    """``(context, dtype)`` for a command: float64 inside ``jax.enable_x64``, else float32.

    Scoped rather than global, so one command never changes the next one's precision.
    """
    import contextlib

    import jax
    import jax.numpy as jnp

    if float64:
        return jax.enable_x64(True), jnp.float64
    return contextlib.nullcontext(), jnp.float32


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
    p.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    p.set_defaults(run=_run_check)


def _run_check(args) -> int:
    context, dtype = precision(args.float64)
    with context:
        return _check(args, dtype)


def _check(args, dtype) -> int:
    import jax.numpy as jnp
    import numpy as np

    import jaxgrad as jg
    from jaxgrad.curvature import classify, eigvalsh

    f = jg.expression(args.expr, args.variables)
    names = f.variables
    x = jnp.asarray(numbers(args.at, "--at", len(names)), dtype)
    _fmt = _formatter(dtype)
    head = ", ".join(f"{n}={_fmt(v)}" for n, v in zip(names, np.asarray(x)))
    print(f"f({', '.join(names)}) = {f.text}")
    print(f"at {head}   ({jnp.dtype(dtype).name})")
    print()
    if f.is_vector:
        value = np.asarray(f(x))
        J = np.asarray(jg.jacobian(f)(x))
        Jn = np.asarray(jg.numerical_jacobian(f)(x))
        print("value      " + "  ".join(_fmt(v) for v in value))
        print()
        _matrix("Jacobian", [f"f{i + 1}" for i in range(len(value))], names, J, _fmt)
        err = float(np.max(np.abs(J - Jn)))
        print(f"numerical Jacobian (central): max abs error {err:.2e}")
        return 0

    value = float(f(x))
    g = np.asarray(jg.grad(f)(x))
    H = np.asarray(jg.hessian(f)(x))
    lam = np.asarray(eigvalsh(jnp.asarray(H)))
    report = jg.check_gradient(f, x)
    print(f"value      {_fmt(value)}")
    print()
    print(f"{'':<10} {'gradient':>16} {'numerical':>16} {'abs error':>10}")
    for i, n in enumerate(names):
        print(f"{'d/d' + n:<10} {_fmt(g[i]):>16} {_fmt(report.numerical[i]):>16} {report.abs_error[i]:>10.2e}")
    verdict = "ok" if report.ok else "FAILED"
    print(f"gradient check {verdict} (central differences; max rel error {report.max_rel_error:.2e})")
    print()
    _matrix("Hessian", names, names, H, _fmt)
    print(f"eigenvalues  {'  '.join(_fmt(v) for v in lam)}")
    kind = classify(jnp.asarray(H))
    gnorm = float(np.linalg.norm(g))
    scale = max(1.0, abs(value))
    critical = gnorm <= 100 * float(jnp.finfo(dtype).eps) ** 0.5 * scale
    note = "" if critical else f"  (curvature only: |grad| = {_fmt(gnorm)}, not a critical point)"
    print(f"kind         {kind}{note}")
    if args.direction is not None:
        u = jnp.asarray(numbers(args.direction, "--direction", len(names)), dtype)
        if not bool(jnp.any(u != 0)):
            raise UsageError("--direction: the zero vector has no direction")
        d = float(jg.directional_derivative(f)(x, u))
        print()
        print(f"directional derivative along ({', '.join(_fmt(v) for v in np.asarray(u))})/|u|: {_fmt(d)}")
        print(f"  max over directions |grad| = {_fmt(gnorm)} (along the gradient)")
    return 0


def _matrix(title: str, rows, cols, M, _fmt) -> None:
    print(f"{title:<10} " + " ".join(f"{c:>14}" for c in cols))
    for r, row in zip(rows, M):
        print(f"{'  ' + r:<10} " + " ".join(f"{_fmt(v):>14}" for v in row))


# --- the parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxgrad",
        description="A JAX-accelerated optimization lab: derivatives, fields, landscapes, optimizers.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_check(sub)
    return parser


def _version() -> str:
    from jaxgrad import __version__

    return f"jaxgrad {__version__}"


def main(argv=None) -> int:
    argv = _join_negative_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return args.run(args) or 0
    except InputError as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `jaxgrad ... | head`: the reader left; nothing is wrong
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
