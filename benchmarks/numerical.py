"""numerical_gradient of a 1,000-dimensional smooth function versus numdifftools.Gradient.

Run:  python benchmarks/numerical.py [--dim 1000] [--repeats 5]
Needs the bench extra (pip install -e '.[bench]').

Both are asked for comparable accuracy (errors against the exact gradient are
printed beside the times); jaxgrad's time is steady state (compile reported
separately), every result blocked on, the median of --repeats runs (its 16 MB
temporaries make the first few runs after numdifftools' own allocations slow, so
it takes more repeats than numdifftools' 0.3-0.6 s runs need).
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
    print(f"{'function':<11} {'method':<30} {'compile s':>10} {'time s':>9} {'rel error':>10} {'speed-up':>9}")
    for name, (make, exact_grad) in FUNCTIONS.items():
        exact = exact_grad(x)
        rel = lambda g: float(np.max(np.abs(np.asarray(g) - exact)) / np.max(np.abs(exact)))  # noqa: E731
        t_nd, g_nd = timed(lambda: nd.Gradient(make(np))(x), args.nd_repeats)
        print(f"{name:<11} {'numdifftools.Gradient (default)':<30} {'-':>10} {t_nd:>9.4f} {rel(g_nd):>10.1e} {'1x':>9}")
        for scheme in ("central", "richardson"):
            fn = jax.jit(jg.numerical_gradient(make(jnp), scheme=scheme))
            t0 = time.perf_counter()
            fn.lower(xj).compile()
            compile_s = time.perf_counter() - t0
            fn(xj).block_until_ready()
            t, g = timed(lambda: fn(xj), args.repeats)
            print(f"{name:<11} {'jaxgrad ' + scheme:<30} {compile_s:>10.3f} {t:>9.4f} {rel(g):>10.1e} {t_nd / t:>8.0f}x")


if __name__ == "__main__":
    main()
