"""Field throughput: jaxgrad.field versus raw jit(vmap), vectorised NumPy and the seeds' loop.

Run:  python benchmarks/fields.py [--points 1000000] [--repeats 30] [--memory]
(or ``jaxgrad bench throughput``)

For f(x, y) = x²y + e^{xy} on a grid of --points points (float32 and float64):
the gradient, the Hessian and the Hessian's eigenvalues, each timed as
  field(grid)    jaxgrad.field over a Grid (points generated inside the program)
  field(points)  jaxgrad.field over the same (N, 2) array of points
  raw jit(vmap)  jax.jit(jax.vmap(jax.grad(f) | jax.hessian(f) | eigvalsh∘hessian)) on the points
  numpy          hand-written vectorised analytic formulas
  seeds loop     the seeds' per-point Python finite differences, timed on a subset
Steady-state medians of --repeats rounds that run every variant in turn (interleaved,
so drift hits all alike), every result blocked on; compile time apart.

--memory runs a 1e8-point gradient field in a child process and reports its peak
RSS, beside the working memory XLA would allocate for one unchunked vmap.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxgrad as jg
from jaxgrad.curvature import eigvalsh
from jaxgrad.fields import plan_field, quantity


def f(p):
    return p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1])


def numpy_grad(x, y):
    e = np.exp(x * y)
    return np.stack([2 * x * y + y * e, x * x + x * e], axis=-1)


def numpy_hessian(x, y):
    e = np.exp(x * y)
    fxx, fxy, fyy = 2 * y + y * y * e, 2 * x + e * (1 + x * y), x * x * e
    return np.stack([fxx, fxy, fxy, fyy], axis=-1).reshape(x.shape + (2, 2))


def numpy_eigenvalues(x, y):
    H = numpy_hessian(x, y)
    a, b, d = H[..., 0, 0], H[..., 0, 1], H[..., 1, 1]
    mean, radius = (a + d) / 2, np.hypot((a - d) / 2, b)
    return np.stack([mean - radius, mean + radius], axis=-1)


def seeds_loop(points, quantity_name, h=1e-5):
    """The seeds' way: Python loops over points with central differences (seed 001)."""
    fs = lambda q: q[0] ** 2 * q[1] + np.exp(q[0] * q[1])  # noqa: E731
    out = []
    for p in points:
        n = len(p)
        if quantity_name == "grad":
            g = np.zeros(n)
            for i in range(n):
                e = np.zeros(n)
                e[i] = h
                g[i] = (fs(p + e) - fs(p - e)) / (2 * h)
            out.append(g)
        else:
            H = np.zeros((n, n))
            for i in range(n):
                for j in range(n):
                    ei, ej = np.zeros(n), np.zeros(n)
                    ei[i], ej[j] = h, h
                    H[i, j] = (fs(p + ei + ej) - fs(p + ei - ej) - fs(p - ei + ej) + fs(p - ei - ej)) / (4 * h * h)
            out.append(np.linalg.eigvalsh(H) if quantity_name == "eigenvalues" else H)
    return np.array(out)


def compile_timed(jitted, args):
    """Compile ahead of time; returns (seconds, a thunk that runs the executable)."""
    t0 = time.perf_counter()
    exe = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(exe(*args))
    return compile_s, lambda: exe(*args)


def interleaved_medians(thunks: dict, repeats: int) -> dict:
    """Time every thunk once per round, round after round: drift and noise hit all alike."""
    times = {name: [] for name in thunks}
    for _ in range(repeats):
        for name, thunk in thunks.items():
            t0 = time.perf_counter()
            jax.block_until_ready(thunk())
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


RAW = {
    "grad": jax.grad(f),
    "hessian": jax.hessian(f),
    "eigenvalues": lambda p: eigvalsh(jax.hessian(f)(p)),
}
NUMPY = {"grad": numpy_grad, "hessian": numpy_hessian, "eigenvalues": numpy_eigenvalues}


def throughput(n_points: int, repeats: int, loop_points: int) -> dict:
    """Time every variant in float32 and float64 (float64 inside ``jax.enable_x64``)."""
    with jax.enable_x64(True):
        return _throughput(n_points, repeats, loop_points)


def _throughput(n_points: int, repeats: int, loop_points: int) -> dict:
    side = int(round(np.sqrt(n_points)))
    grid = jg.Grid((-2.0, -2.0), (2.0, 2.0), (side, side))
    results = {"points": grid.size, "rows": []}
    for dtype in (jnp.float32, jnp.float64):
        pts = jnp.asarray(grid.points, dtype)
        x, y = (np.asarray(pts[:, i]) for i in range(2))
        loop_pts = np.asarray(pts[:loop_points], np.float64)
        for name in ("grad", "hessian", "eigenvalues"):
            fn = quantity(f, name)
            grid_plan = plan_field(fn, grid, dtype=dtype)
            c_grid, run_grid = compile_timed(grid_plan.program, grid_plan.args)
            pts_plan = plan_field(fn, pts)
            c_pts, run_pts = compile_timed(pts_plan.program, pts_plan.args)
            c_raw, run_raw = compile_timed(jax.jit(jax.vmap(RAW[name])), (pts,))
            t = interleaved_medians(
                {"grid": run_grid, "pts": run_pts, "raw": run_raw, "numpy": lambda: NUMPY[name](x, y)}, repeats)
            t_grid, t_pts, t_raw, t_np = t["grid"], t["pts"], t["raw"], t["numpy"]
            t0 = time.perf_counter()
            seeds_loop(loop_pts, name)
            t_loop = (time.perf_counter() - t0) / loop_points * grid.size
            np.testing.assert_allclose(np.asarray(grid_plan.run()).reshape(pts.shape[:1] + (-1,)),
                                       NUMPY[name](x, y).reshape(pts.shape[:1] + (-1,)),
                                       rtol=1e-3 if dtype == jnp.float32 else 1e-9, atol=1e-2 if dtype == jnp.float32 else 1e-9)
            results["rows"].append(dict(
                dtype=jnp.dtype(dtype).name, quantity=name, field_grid=t_grid, field_points=t_pts, raw=t_raw,
                numpy=t_np, seeds_loop_extrapolated=t_loop, compile_field=c_grid, compile_field_points=c_pts,
                compile_raw=c_raw, chunks=grid_plan.chunks,
            ))
    return results


def print_throughput(results: dict) -> None:
    n = results["points"]
    print(f"f(x, y) = x^2 y + exp(xy) on {n:,} points; device {jax.devices()[0].device_kind} "
          f"x{jax.device_count()} ({platform.machine()}); steady-state medians, seconds")
    head = (f"{'dtype':<8}{'quantity':<12}{'field(grid)':>12}{'field(pts)':>11}{'raw jit':>10}{'numpy':>9}"
            f"{'seeds loop*':>12}{'grid/raw':>9}{'pts/raw':>8}{'grid/np':>8}{'Mpts/s':>8}{'compile':>9}")
    print(head)
    by = {}
    for r in results["rows"]:
        by[(r["dtype"], r["quantity"])] = r
        print(f"{r['dtype']:<8}{r['quantity']:<12}{r['field_grid']:>12.4f}{r['field_points']:>11.4f}{r['raw']:>10.4f}"
              f"{r['numpy']:>9.4f}{r['seeds_loop_extrapolated']:>12.1f}{r['field_grid'] / r['raw']:>9.2f}"
              f"{r['field_points'] / r['raw']:>8.2f}{r['field_grid'] / r['numpy']:>8.2f}"
              f"{n / r['field_grid'] / 1e6:>8.1f}{r['compile_field']:>9.3f}")
    print("* seeds loop: the seeds' per-point Python finite differences, timed on a subset and scaled to all points")
    print("targets: field within 1.3x of raw jit(vmap); <= 0.6x NumPy; eigenvalue field within 2x of the Hessian field")
    for dtype in ("float32", "float64"):
        ratio = by[(dtype, "eigenvalues")]["field_grid"] / by[(dtype, "hessian")]["field_grid"]
        print(f"  {dtype}: eigenvalues / hessian field time = {ratio:.2f}")


MEMORY_CHILD = """
import resource, sys, time, jax, jax.numpy as jnp
import jaxgrad as jg
from jaxgrad.fields import plan_field, quantity
n = int(sys.argv[1]); side = int(round(n ** 0.5))
grid = jg.Grid((-2.0, -2.0), (2.0, 2.0), (side, side))
f = lambda p: p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1])
plan = plan_field(quantity(f, "grad"), grid)
t0 = time.perf_counter(); out = jax.block_until_ready(plan.run()); t = time.perf_counter() - t0
unchunked = plan_field(quantity(f, "grad"), grid, chunk_size=grid.size)
mem = unchunked.compile().memory_analysis()
need = mem.temp_size_in_bytes + mem.output_size_in_bytes + mem.argument_size_in_bytes
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(grid.size, out.shape, out.dtype, plan.batch, plan.chunks, t, peak, need, float(out[0, 0, 0]))
"""


def memory(n_points: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(n_points)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    size, *_, batch, chunks, t, peak, need, _ = proc.stdout.split()
    return dict(points=int(size), batch=int(batch), chunks=int(chunks), seconds=float(t), peak_rss=int(peak),
                unchunked_bytes=int(need))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--loop-points", type=int, default=2000)
    parser.add_argument("--memory", action="store_true", help="also run the 1e8-point memory check")
    parser.add_argument("--memory-points", type=int, default=100_000_000)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    results = throughput(args.points, args.repeats, args.loop_points)
    print_throughput(results)
    if args.memory:
        m = memory(args.memory_points)
        results["memory"] = m
        print(f"\nmemory: gradient field of {m['points']:,} points (float32) in {m['chunks']} chunks of {m['batch']:,}: "
              f"{m['seconds']:.1f} s, peak RSS {m['peak_rss'] / 2**30:.2f} GiB (target < 3 GB); "
              f"one unchunked vmap would allocate {m['unchunked_bytes'] / 2**30:.1f} GiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
