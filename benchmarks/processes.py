"""Throughput over 1, 2 and 4 local processes (jax.distributed on loopback, gloo collectives).

Run:  python benchmarks/processes.py [--processes 1,2,4] [--repeats 5]

Each job is started with ``jaxgrad launch -n N`` and times, in process 0, a gradient
field of 4x10^6 points and a sweep of 64 Adam settings x 8 seeds x 2000 steps on
Rosenbrock: the median of --repeats calls after one warm-up call (compilation apart),
the whole call included (inputs laid out over the processes, the result gathered).

On a machine with fewer cores than processes this measures correctness and overhead,
not scaling: the processes share the same cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

CHILD = textwrap.dedent(
    """
    import json, statistics, sys, time
    from jaxgrad import distributed
    distributed.initialize()
    import jax, jax.numpy as jnp
    import jaxgrad as jg
    from jaxgrad.fields.quantities import quantity

    repeats = int(sys.argv[2])
    f = lambda p: p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1])
    grid = jg.Grid((-2.0, -2.0), (2.0, 2.0), (2000, 2000))
    g = quantity(f, "grad")
    problem = jg.problems.make("rosenbrock")
    lrs = [float(x) for x in jnp.logspace(-4, -1, 64)]

    def timed(thunk):
        jax.block_until_ready(thunk())
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(thunk())
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    field_s = timed(lambda: jg.field(g, grid))
    sweep_s = timed(lambda: jg.sweep(problem, "adam", {"learning_rate": lrs}, seeds=8, steps=2000).loss)
    if jax.process_index() == 0:
        with open(sys.argv[1], "w") as fh:
            json.dump({"processes": jax.process_count(), "field_s": field_s, "sweep_s": sweep_s}, fh)
    """
)


def run(n: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script, out = os.path.join(tmp, "child.py"), os.path.join(tmp, "out.json")
        with open(script, "w") as fh:
            fh.write(CHILD)
        env = dict(os.environ, JAXGRAD_NO_CACHE="1")
        proc = subprocess.run([sys.executable, "-m", "jaxgrad", "launch", "-n", str(n), "--", sys.executable, script,
                               out, str(repeats)], env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        with open(out) as fh:
            return json.load(fh)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores; medians of {args.repeats} calls after a warm-up, seconds")
    print(f"{'processes':>10}{'field 4e6 grad':>16}{'points/s':>12}{'sweep 512 runs':>16}{'run-steps/s':>13}")
    for n in (int(k) for k in args.processes.split(",")):
        r = run(n, args.repeats)
        print(f"{n:>10}{r['field_s']:>16.4f}{4e6 / r['field_s']:>12.3g}{r['sweep_s']:>16.3f}"
              f"{512 * 2000 / r['sweep_s']:>13.3g}", flush=True)


if __name__ == "__main__":
    main()
