"""Field throughput: jaxgrad.field against raw jit(vmap), NumPy and torch.func.

Run:  python benchmarks/fields.py                 # 1e4 .. 1e7 points, float32 and float64
      python benchmarks/fields.py --sizes 1e6,4e6 --runs 3
      python benchmarks/fields.py --devices 4       # chunked and sharded paths, 4 forced CPU devices
      python benchmarks/fields.py --memory          # a 1e8-point field's peak RSS

For f(x, y) = x²y + e^{xy} on a square grid, every quantity (gradient, Hessian,
eigenvalues, kind) is timed as
  raw       jax.jit(jax.vmap(q)) on the materialised (N, 2) points: the ceiling
  grid      jg.field(q, grid): a repeated call, plan cache and dispatch included
  points    jg.field(q, points) on the same (N, 2) array
  numpy     hand-written vectorised closed forms
  torch     torch.func.vmap of torch.func.grad / hessian (when torch is installed)
Each run times every contender once per round, round after round (interleaved, so
drift hits all alike), every result blocked on; a run's time is the median of its
rounds, a ratio the median of the rounds' ratios (the two timed back to back), and the
columns show the range over --runs runs. Compilation is apart.

Each (dtype, size) runs in a fresh process (see fresh_processes). Memory: glibc hands
large blocks (a 10^6-point Hessian's 16 MB output) back to the kernel when freed, and
the next call page-faults a fresh one: on this VM that costs a 4x10^6-point gradient
8-10 ms on top of 1.5 ms of arithmetic, by a history-dependent threshold; and XLA's
threads allocate from per-thread arenas, whose heaps glibc unmaps as soon as they are
empty, whatever the thresholds. By default the benchmark re-runs itself with glibc's
heap kept (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_, MALLOC_ARENA_MAX=1: one arena),
so freed blocks are reused; --malloc system keeps glibc's defaults. What remains is the VM's: it pages out memory that looks idle (DAMON's
pageout scheme, kdamond), so a 32 MB output is now and then faulted back in page by
page, whatever the allocator; every contender pays it alike.

--devices N re-runs itself with N forced CPU devices and compares, per quantity,
field(grid) (sharded over all N, then chunked on one) with the hand-written programs
it must match: a jax.shard_map of jit(vmap) over the sharded points, and a
jax.lax.map(batch_size=...) over the points.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # torch's idle threads sleep instead of spinning

import jax
import jax.numpy as jnp
import numpy as np

import jaxgrad as jg
from jaxgrad.fields.quantities import quantity

# glibc's heap kept: freed blocks stay mapped and are reused (see the module docstring)
STEADY_MALLOC = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**36), "MALLOC_ARENA_MAX": "1"}

QUANTITIES = ("grad", "hessian", "eigenvalues", "kind")


def f(p):
    return p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1])


# --- contenders ------------------------------------------------------------------------


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


def numpy_kind(x, y):
    lam = numpy_eigenvalues(x, y)
    tol = np.sqrt(np.finfo(lam.dtype).eps) * np.abs(lam).max(axis=-1, keepdims=True)
    pos, neg = (lam > tol).any(-1), (lam < -tol).any(-1)
    flat = (np.abs(lam) <= tol).any(-1)
    return np.where(pos & neg, 2, np.where(flat, 3, np.where(pos, 0, 1))).astype(np.int32)


NUMPY = {"grad": numpy_grad, "hessian": numpy_hessian, "eigenvalues": numpy_eigenvalues, "kind": numpy_kind}
# the raw contender is jit(vmap) of the very function the field evaluates: the ratio is the
# field machinery's cost (point generation, padding, chunking, dispatch), nothing else
RAW = {name: quantity(f, name) for name in QUANTITIES}


def torch_contenders(pts: np.ndarray) -> dict:
    """torch.func's vmap of grad / hessian on the same points (CPU), or {} without torch."""
    try:
        import torch
        from torch.func import grad, hessian, vmap
    except ImportError:
        return {}
    torch.set_num_threads(os.cpu_count() or 1)
    P = torch.from_numpy(np.ascontiguousarray(pts))

    def tf(p):
        return p[0] ** 2 * p[1] + torch.exp(p[0] * p[1])

    g, h = vmap(grad(tf)), vmap(hessian(tf))
    return {"grad": lambda: g(P), "hessian": lambda: h(P), "eigenvalues": lambda: torch.linalg.eigvalsh(h(P))}


def compiled(jitted, *args):
    """(compile seconds, a thunk running the executable)."""
    t0 = time.perf_counter()
    exe = jitted.lower(*args).compile()
    seconds = time.perf_counter() - t0
    jax.block_until_ready(exe(*args))
    return seconds, lambda: exe(*args)


def interleaved(thunks: dict, rounds: int, pairs: tuple = ()) -> dict:
    """Median seconds per thunk, each timed once per round, the order reversed every other round.

    ``pairs``: ``(a, b)`` names whose ratio is wanted: the median over rounds of ``a / b``
    within one round (the two timed back to back), stored as ``"a/b"``. A paired ratio
    cancels what drifts from round to round (this VM's memory state moves a 10 ms program
    by 2x for a few rounds at a time), which a ratio of two medians does not.
    """
    for thunk in thunks.values():  # warm: first-touch allocations apart
        jax.block_until_ready(thunk())
    times = {name: [] for name in thunks}
    for r in range(rounds):
        for name in (list(thunks) if r % 2 == 0 else list(thunks)[::-1]):
            thunk = thunks[name]
            t0 = time.perf_counter()
            jax.block_until_ready(thunk())
            times[name].append(time.perf_counter() - t0)
    result = {name: statistics.median(ts) for name, ts in times.items()}
    for a, b in pairs:
        result[f"{a}/{b}"] = statistics.median(x / y for x, y in zip(times[a], times[b]))
    return result


def rounds_for(n: int, base: int) -> int:
    return max(11, min(base, int(base * 1e6 / n)))  # fewer rounds for the 10^7 point cases


# --- one device --------------------------------------------------------------------------


def single(sizes, dtypes, quantities, runs: int, rounds: int, torch_on: bool) -> list[dict]:  # noqa: PLR0913
    rows = []
    for dtype in dtypes:
        for n in sizes:
            side = round(np.sqrt(n))
            grid = jg.Grid((-2.0, -2.0), (2.0, 2.0), (side, side))
            pts = jnp.asarray(grid.points, dtype)
            x, y = (np.asarray(pts[:, i]) for i in range(2))
            host = np.asarray(pts)
            torch_thunks = torch_contenders(host) if torch_on else {}
            for name in quantities:
                q = quantity(f, name)
                raw_jit = jax.jit(jax.vmap(RAW[name]))
                c_raw, _ = compiled(raw_jit, pts)
                raw = functools.partial(raw_jit, pts)  # called as a user calls it: through jit's dispatch
                out = jax.block_until_ready(jg.field(q, grid, dtype=dtype))  # plans, compiles, caches points
                np.testing.assert_array_equal(np.asarray(out).reshape(grid.size, -1),
                                              np.asarray(raw()).reshape(grid.size, -1))
                jg.field(q, pts)
                thunks = {"raw": raw, "grid": functools.partial(jg.field, q, grid, dtype=dtype),
                          "on_points": functools.partial(jg.field, q, pts)}
                others = {"numpy": functools.partial(NUMPY[name], x, y)}  # timed apart: torch's idle threads
                if name in torch_thunks:  # spin for a while after each call and would slow whatever runs next
                    others["torch"] = torch_thunks[name]
                per_run = []
                for _ in range(runs):
                    per_run.append(interleaved(thunks, rounds_for(grid.size, rounds),
                                               pairs=(("grid", "raw"), ("on_points", "raw"))))
                    per_run[-1].update(interleaved(others, max(3, rounds_for(grid.size, rounds) // 3)))
                    time.sleep(0.2)
                thunks.update(others)
                row = {"dtype": jnp.dtype(dtype).name, "quantity": name, "points": grid.size, "compile_raw": c_raw}
                for k in thunks:
                    row[k] = [t[k] for t in per_run]
                row["grid/raw"] = [t["grid/raw"] for t in per_run]
                row["points/raw"] = [t["on_points/raw"] for t in per_run]
                row["numpy/grid"] = [t["numpy"] / t["grid"] for t in per_run]
                if "torch" in thunks:
                    row["torch/grid"] = [t["torch"] / t["grid"] for t in per_run]
                rows.append(row)
                print_row(row, flush=True)
    return rows


def span(values, fmt="{:.2f}") -> str:
    lo, hi = min(values), max(values)
    a, b = fmt.format(lo), fmt.format(hi)
    return a if a == b else f"{a}-{b}"


HEADER = (f"{'dtype':<8}{'quantity':<12}{'points':>10}{'raw ms':>15}{'grid/raw':>11}{'points/raw':>11}"
          f"{'numpy/grid':>12}{'torch/grid':>12}")


def print_row(row, flush=False):
    ms = [t * 1e3 for t in row["raw"]]
    torch_ratio = span(row["torch/grid"], "{:.0f}") if "torch/grid" in row else "-"
    print(f"{row['dtype']:<8}{row['quantity']:<12}{row['points']:>10,}{span(ms, '{:.3g}'):>15}"
          f"{span(row['grid/raw']):>11}{span(row['points/raw']):>11}{span(row['numpy/grid'], '{:.1f}'):>12}"
          f"{torch_ratio:>12}", flush=flush)


# --- several devices -----------------------------------------------------------------------


def several(sizes, dtypes, quantities, runs: int, rounds: int) -> list[dict]:
    """field(grid) sharded and chunked against the hand-written programs it must match."""
    from jax.sharding import NamedSharding, PartitionSpec

    n_dev = jax.device_count()
    from jax.sharding import AxisType

    mesh = jax.make_mesh((n_dev,), ("points",), axis_types=(AxisType.Auto,), devices=jax.devices())
    spec = PartitionSpec("points")
    rows = []
    for dtype in dtypes:
        for n in sizes:
            side = round(np.sqrt(n)) // n_dev * n_dev  # a multiple of the devices: no padding anywhere
            grid = jg.Grid((-2.0, -2.0), (2.0, 2.0), (side, side))
            pts = jax.device_put(jnp.asarray(grid.points, dtype), NamedSharding(mesh, spec))
            single_pts = jax.device_put(np.asarray(grid.points, dtype), jax.devices()[0])
            chunk = grid.size // 8
            for name in quantities:
                q = quantity(f, name)
                vm = jax.vmap(RAW[name])
                sharded = jax.jit(jax.shard_map(vm, mesh=mesh, in_specs=spec, out_specs=spec))
                chunked = jax.jit(functools.partial(jax.lax.map, RAW[name], batch_size=chunk))
                run_sharded, run_chunked = functools.partial(sharded, pts), functools.partial(chunked, single_pts)
                for a, b in ((jg.field(q, grid, dtype=dtype), run_sharded()),
                             (jg.field(q, grid, dtype=dtype, devices=1, chunk_size=chunk), run_chunked())):
                    np.testing.assert_array_equal(np.asarray(a).reshape(grid.size, -1), np.asarray(b).reshape(grid.size, -1))
                sharded_pair = {"shard_map": run_sharded, "grid sharded": functools.partial(jg.field, q, grid, dtype=dtype)}
                chunked_pair = {"lax.map": run_chunked, "grid chunked": functools.partial(jg.field, q, grid, dtype=dtype,
                                                                                           devices=1, chunk_size=chunk)}
                thunks = {**sharded_pair, **chunked_pair}
                per_run = []
                for _ in range(runs):  # each pair interleaved on its own: what runs just before a call
                    # matters (after a one-device lax.map the other devices' threads are asleep)
                    per_run.append(interleaved(sharded_pair, rounds_for(grid.size, rounds),
                                               pairs=(("grid sharded", "shard_map"),)))
                    per_run[-1].update(interleaved(chunked_pair, rounds_for(grid.size, rounds),
                                                   pairs=(("grid chunked", "lax.map"),)))
                row = {"dtype": jnp.dtype(dtype).name, "quantity": name, "points": grid.size, "devices": n_dev,
                       "chunk": chunk, **{k: [t[k] for t in per_run] for k in thunks},
                       "sharded/shard_map": [t["grid sharded/shard_map"] for t in per_run],
                       "chunked/lax.map": [t["grid chunked/lax.map"] for t in per_run]}
                rows.append(row)
                print(f"{row['dtype']:<8}{name:<12}{grid.size:>10,}{span([t * 1e3 for t in row['shard_map']], '{:.3g}'):>14}"
                      f"{span(row['sharded/shard_map']):>11}{span([t * 1e3 for t in row['lax.map']], '{:.3g}'):>12}"
                      f"{span(row['chunked/lax.map']):>11}", flush=True)
    return rows


def fresh_processes(sizes, dtypes, quantities, args) -> list[dict]:
    """``single`` for each (dtype, size) in a process of its own: one size's memory history
    (glibc's heap after 10^7-point outputs, NumPy's and torch's arrays) does not tax the
    next; measured, a 4x10^6-point gradient ran 1.5 ms fresh and 9-11 ms after the smaller
    sizes in the same process, for raw jit(vmap) and the field alike."""
    import tempfile

    rows = []
    for dtype in dtypes:
        for n in sizes:
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                child = [sys.executable, os.path.abspath(__file__), "--child", "--sizes", str(n), "--dtypes", dtype.name,
                         "--quantities", ",".join(quantities), "--runs", str(args.runs), "--rounds", str(args.rounds),
                         "--json", out.name] + (["--no-torch"] if args.no_torch else [])
                subprocess.run(child, check=True)
                with open(out.name) as fh:
                    rows += json.load(fh)
    return rows


MEMORY_CHILD = """
import resource, sys, time, jax, jax.numpy as jnp
import jaxgrad as jg
from jaxgrad.fields.quantities import plan_field, quantity
n = int(sys.argv[1]); side = int(round(n ** 0.5))
grid = jg.Grid((-2.0, -2.0), (2.0, 2.0), (side, side))
f = lambda p: p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1])
plan = plan_field(quantity(f, "grad"), grid)
t0 = time.perf_counter(); out = jax.block_until_ready(plan.run()); t = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(grid.size, plan.batch, plan.chunks, t, peak)
"""


def memory(n_points: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(n_points)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    size, batch, chunks, t, peak = proc.stdout.split()
    return dict(points=int(size), batch=int(batch), chunks=int(chunks), seconds=float(t), peak_rss=int(peak))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e4,1e5,1e6,4e6,1e7", help="points, comma-separated")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--quantities", default=",".join(QUANTITIES))
    parser.add_argument("--runs", type=int, default=3, help="independent runs; the columns show their range")
    parser.add_argument("--rounds", type=int, default=21, help="interleaved rounds per run (fewer above 1e6 points)")
    parser.add_argument("--devices", type=int, default=1, help="compare the sharded and chunked paths on N CPU devices")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--memory", action="store_true", help="also run the 1e8-point memory check")
    parser.add_argument("--malloc", choices=("steady", "system"), default="steady",
                        help="steady: glibc's heap kept, no fresh page faults per call (default); system: as is")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one (dtype, size), rows only
    args = parser.parse_args(argv)
    argv = list(argv if argv is not None else sys.argv[1:])
    steady = all(os.environ.get(k) == v for k, v in STEADY_MALLOC.items())
    if args.malloc == "steady" and not steady and platform.system() == "Linux":  # glibc reads these at start-up
        os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *argv], dict(os.environ, **STEADY_MALLOC))
    if args.devices > 1 and jax.device_count() != args.devices:  # re-run with forced host devices
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={args.devices}")
        raise SystemExit(subprocess.call([sys.executable, __file__, *argv], env=env))
    jax.config.update("jax_enable_x64", True)  # float64 available; each contender runs in its own dtype
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    dtypes = [jnp.dtype(d) for d in args.dtypes.split(",")]
    quantities = args.quantities.split(",")
    device = f"{jax.devices()[0].device_kind} x{jax.device_count()} ({platform.machine()}, {os.cpu_count()} cores)"
    if args.child:
        rows = single(sizes, dtypes, quantities, args.runs, args.rounds, not args.no_torch)
        with open(args.json, "w") as fh:
            json.dump(rows, fh)
        return
    print(f"f(x, y) = x^2 y + exp(xy) on square grids; {device}; jax {jax.__version__}")
    heap = "glibc heap kept (MALLOC_MMAP_MAX_=0, one arena)" if steady else "glibc defaults"
    print(f"interleaved medians of up to {args.rounds} rounds; ranges over {args.runs} runs; {heap}")
    if args.devices > 1:
        print(f"{'dtype':<8}{'quantity':<12}{'points':>10}{'shard_map ms':>14}{'sharded/':>11}{'lax.map ms':>12}"
              f"{'chunked/':>11}")
        rows = several(sizes, dtypes, quantities, args.runs, args.rounds)
        results = {"device": device, "rows": rows}
    else:
        print(HEADER)
        rows = fresh_processes(sizes, dtypes, quantities, args)
        results = {"device": device, "rows": rows}
        print("grid/raw: jg.field over a Grid / raw jit(vmap) on the (N, 2) points (target <= 1.1);")
        print("numpy/grid, torch/grid: how many times slower the hand-written NumPy and torch.func are")
    if args.memory:
        m = memory(100_000_000)
        results["memory"] = m
        print(f"memory: gradient field of {m['points']:,} points (float32) in {m['chunks']} chunks of {m['batch']:,}: "
              f"{m['seconds']:.1f} s, peak RSS {m['peak_rss'] / 2**30:.2f} GiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
