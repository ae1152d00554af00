"""`jaxgrad field` on 10^7 points with the command's own allocator settings and without them.

Run: ``python benchmarks/allocator.py [--rounds 5] [--num 3163]``. Each round runs, as
separate processes and in alternating order, ``jaxgrad field "x**2*y + exp(x*y)" --num
3163`` (3163^2 = 1.0e7 points, the gradient) in float32 and float64, once as the command
sets itself up (one glibc arena, no mmap, no trim: ``jaxgrad/cli/process.py``) and once with
``JAXGRAD_MALLOC=system`` (glibc as it is). It prints, per setting, the range over rounds of
the field's own run time (what the command prints as ``run``: one call of the compiled
program, its output written) and of the whole command's wall time. Then, in one process set
up as the command sets itself up (or not), the median of 8 repeated calls of the same field:
the case the setting is for (a run's sweeps and figures, the bench's timings, curvature's
estimators), where glibc would otherwise hand each new output fresh pages to fault in.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time


def once(num: int, float64: bool, system: bool) -> tuple[float, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["JAXGRAD_MALLOC"] = "system" if system else ""
    env["JAXGRAD_NO_CACHE"] = "1"
    command = shutil.which("jaxgrad") or sys.exit("error: the jaxgrad command is not installed (pip install -e .)")
    argv = [command, "field", "x**2*y + exp(x*y)", "--lower", "-2,-2", "--upper", "2,2", "--num", str(num),
            "--quantity", "grad"] + (["--float64"] if float64 else [])
    t0 = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"error: {out.stderr.strip().splitlines()[-1]}")
    run = float(re.search(r"run ([0-9.]+) s", out.stdout).group(1))
    return run, wall


REPEATED = """
import sys, time
from jaxgrad.cli.process import own_allocator
own_allocator()
import jax, numpy as np, jaxgrad as jg
from jaxgrad.fields.quantities import quantity
q, grid = quantity(jg.expression("x**2*y + exp(x*y)"), "grad"), jg.Grid((-2, -2), (2, 2), (NUM, NUM))
for dtype in ("float32", "float64"):
    with jax.enable_x64(dtype == "float64"):
        jg.field(q, grid).block_until_ready()
        times = []
        for _ in range(8):
            t0 = time.perf_counter()
            jg.field(q, grid).block_until_ready()
            times.append(time.perf_counter() - t0)
        print(dtype, 1e3 * float(np.median(times)))
"""


def repeated(num: int, system: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["JAXGRAD_MALLOC"] = "system" if system else ""
    out = subprocess.run([sys.executable, "-c", REPEATED.replace("NUM", str(num))], capture_output=True, text=True,
                         env=env, timeout=600)
    if out.returncode:
        sys.exit(f"error: {out.stderr.strip().splitlines()[-1]}")
    return {line.split()[0]: float(line.split()[1]) for line in out.stdout.splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--num", type=int, default=3163, help="points per axis (3163: 1.0e7 points)")
    args = parser.parse_args()
    results = {}
    for r in range(args.rounds):
        for float64 in (False, True):
            order = (False, True) if r % 2 else (True, False)
            for system in order:
                results.setdefault((float64, system), []).append(once(args.num, float64, system))
    print(f"jaxgrad field, gradient of x^2 y + e^(xy) on {args.num ** 2:,} points, {args.rounds} rounds, "
          "interleaved; min-max over rounds")
    print(f"{'':<10}{'allocator':<34}{'field run ms':>16}{'command wall s':>18}")
    for (float64, system), rows in sorted(results.items()):
        runs, walls = [1e3 * r for r, _ in rows], [w for _, w in rows]
        label = "glibc as it is" if system else "the command's (one arena, kept)"
        print(f"{'float64' if float64 else 'float32':<10}{label:<34}{min(runs):>7.1f}-{max(runs):<8.1f}"
              f"{min(walls):>9.2f}-{max(walls):<8.2f}")
    medians = {}
    for r in range(args.rounds):
        for system in ((False, True) if r % 2 else (True, False)):
            for dtype, ms in repeated(args.num, system).items():
                medians.setdefault((dtype, system), []).append(ms)
    print()
    print("in one process, the median of 8 repeated calls (ms), min-max over rounds")
    for (dtype, system), values in sorted(medians.items()):
        label = "glibc as it is" if system else "the command's (one arena, kept)"
        print(f"{dtype:<10}{label:<34}{min(values):>7.1f}-{max(values):<8.1f}")


if __name__ == "__main__":
    main()
