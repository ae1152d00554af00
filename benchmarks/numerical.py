"""numerical_gradient of a 1,000-dimensional smooth function versus numdifftools.Gradient.

Run:  python benchmarks/numerical.py [--dim 1000] [--repeats 50]
Needs the bench extra (pip install -e '.[bench]').

Every estimate's error against the exact gradient is printed beside its time, and
jaxgrad is timed against two numdifftools configurations:

- ``numdifftools.Gradient(f)``, what a user gets by default: central differences
  at 15 steps with Richardson extrapolation (30 evaluations per coordinate);
- numdifftools tuned to jaxgrad's own stencil and accuracy (one step, 2 or 4
  evaluations per coordinate), which isolates the cost of one evaluation.

jaxgrad's functions are called as a user calls them (they compile themselves);
the "outer jit" row wraps one in ``jax.jit``, which compiles it with XLA's default
CPU fusions and shows what jaxgrad's compiler option is worth. Times are steady
state (compile reported separately), every result blocked on, medians of --repeats.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxgrad as jg  # noqa: E402


def rosenbrock(xp):
    """The extended Rosenbrock function; ``xp`` is numpy or jax.numpy."""
    return lambda x: xp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosenbrock_grad(x):
    g = np.zeros_like(x)
    r = x[1:] - x[:-1] ** 2
    g[:-1] += -400 * x[:-1] * r - 2 * (1 - x[:-1])
    g[1:] += 200 * r
    return g


def sin_exp(xp):
    """A transcendental-heavy function: its cost is dominated by float64 sin."""
    return lambda x: xp.sum(xp.sin(x) * xp.exp(x / 3)) + 0.5 * xp.sum(x[1:] * x[:-1])


def sin_exp_grad(x):
    g = np.cos(x) * np.exp(x / 3) + np.sin(x) * np.exp(x / 3) / 3
    g[1:] += 0.5 * x[:-1]
    g[:-1] += 0.5 * x[1:]
    return g


FUNCTIONS = {"rosenbrock": (rosenbrock, rosenbrock_grad), "sin_exp": (sin_exp, sin_exp_grad)}


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        jax.block_until_ready(out)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def numdifftools_variants(nd, f):
    """name -> (evaluations per coordinate, gradient function)."""
    return {
        "numdifftools default": (30, nd.Gradient(f)),
        "numdifftools central, 1 step": (2, nd.Gradient(f, order=2, num_steps=1, richardson_terms=0, step=6e-6)),
        "numdifftools 4th order, 1 step": (4, nd.Gradient(f, order=4, num_steps=1, richardson_terms=0, step=1e-3)),
    }


# jaxgrad variant -> (scheme, whether wrapped in an outer jit, the numdifftools row at its accuracy)
JAXGRAD = {
    "jaxgrad central": ("central", False, "numdifftools central, 1 step"),
    "jaxgrad richardson": ("richardson", False, "numdifftools 4th order, 1 step"),
    "jaxgrad richardson, outer jit": ("richardson", True, "numdifftools 4th order, 1 step"),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=50, help="timed runs of each jaxgrad variant (median)")
    parser.add_argument("--nd-repeats", type=int, default=5, help="timed runs of numdifftools (median)")
    args = parser.parse_args(argv)
    import numdifftools as nd

    x = np.random.default_rng(0).uniform(-1, 1, args.dim)
    xj = jnp.asarray(x)
    print(f"device {jax.devices()[0].device_kind} ({platform.processor() or platform.machine()}), float64, n = {args.dim}")
    header = f"{'function':<11} {'method':<31} {'evals/coord':>11} {'compile s':>9} {'time s':>8} {'rel error':>9}"
    print(f"{header} {'vs default':>10} {'vs matched':>10}")
    for name, (make, exact_grad) in FUNCTIONS.items():
        exact = exact_grad(x)
        rel = lambda g: float(np.max(np.abs(np.asarray(g) - exact)) / np.max(np.abs(exact)))  # noqa: E731
        nd_time = {}
        for label, (evals, fn) in numdifftools_variants(nd, make(np)).items():
            nd_time[label], g = timed(lambda: fn(x), args.nd_repeats)
            print(f"{name:<11} {label:<31} {evals:>11} {'-':>9} {nd_time[label]:>8.4f} {rel(g):>9.1e}")
        for label, (scheme, outer_jit, matched) in JAXGRAD.items():
            fn = jg.numerical_gradient(make(jnp), scheme=scheme)
            fn = jax.jit(fn) if outer_jit else fn
            t0 = time.perf_counter()
            fn(xj).block_until_ready()
            compile_s = time.perf_counter() - t0
            t, g = timed(lambda: fn(xj), args.repeats)
            evals = 2 if scheme == "central" else 4
            speedups = f"{nd_time['numdifftools default'] / t:>9.0f}x {nd_time[matched] / t:>9.0f}x"
            print(f"{name:<11} {label:<31} {evals:>11} {compile_s:>9.3f} {t:>8.4f} {rel(g):>9.1e} {speedups}")


if __name__ == "__main__":
    main()
