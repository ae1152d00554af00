"""What a kind field costs against the eigenvalue field of the same function.

Run: ``python benchmarks/kind_field.py [--rounds 9] [--sizes 1e6,1e7]``. On square grids of
f(x, y) = x^2 y + e^{xy} (the fields benchmark's function), Rosenbrock and Himmelblau, float32
and float64, it times ``jg.field`` of the ``eigenvalues`` quantity, of the ``kind`` quantity
(its Hessian forward over forward) and of the kind as it was computed before (the Hessian
forward over reverse, as ``jg.hessian`` gives it), interleaved, and prints the medians and
the ratios to the eigenvalue field (the target: kind <= 2x). The process owns its allocator as
the ``jaxgrad`` command does (``jaxgrad/cli/process.py``), so large outputs are not page-faulted
afresh on every call.
"""

from __future__ import annotations

import argparse
import statistics
import time

from jaxgrad.cli.process import own_allocator

own_allocator()  # before JAX starts its threads

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxgrad as jg  # noqa: E402
from jaxgrad.fields.points import eigvalsh, kind_code  # noqa: E402

FUNCTIONS = {
    "x^2 y + e^xy": lambda p: p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1]),
    "Rosenbrock": lambda p: (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2,
    "Himmelblau": lambda p: (p[0] ** 2 + p[1] - 11) ** 2 + (p[0] + p[1] ** 2 - 7) ** 2,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--sizes", default="1e6,1e7")
    args = parser.parse_args()
    print(f"ms per field (median of {args.rounds} interleaved calls), jax {jax.__version__}, "
          f"{jax.devices()[0].platform}")
    print(f"{'dtype':<8}{'function':<14}{'points':>11}{'eigenvalues':>12}{'kind':>8}{'ratio':>7}"
          f"{'kind before':>12}{'ratio':>7}")
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == "float64"):
            for fname, f in FUNCTIONS.items():
                contenders = {"eigenvalues": jg.quantity(f, "eigenvalues"), "kind": jg.quantity(f, "kind"),
                              "before": lambda x, f=f: kind_code(eigvalsh(jg.hessian(f)(x)))}
                for size in (int(float(s)) for s in args.sizes.split(",")):
                    side = int(np.sqrt(size))
                    grid = jg.Grid((-1.5, -1.0), (1.0, 2.0), (side, side))
                    codes = {k: jax.block_until_ready(jg.field(fn, grid)) for k, fn in contenders.items()}
                    assert (np.asarray(codes["kind"]) == np.asarray(codes["before"])).mean() > 0.999
                    times = {k: [] for k in contenders}
                    for _ in range(args.rounds):
                        for k, fn in contenders.items():
                            t0 = time.perf_counter()
                            jax.block_until_ready(jg.field(fn, grid))
                            times[k].append(time.perf_counter() - t0)
                    e, k, b = (1e3 * statistics.median(times[n]) for n in ("eigenvalues", "kind", "before"))
                    print(f"{dtype:<8}{fname:<14}{side * side:>11,}{e:>12.2f}{k:>8.2f}{k / e:>7.2f}{b:>12.2f}"
                          f"{b / e:>7.2f}")


if __name__ == "__main__":
    main()
