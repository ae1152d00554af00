"""The per-call cost of ``jg.field`` above its compiled program (issue 17, item 2).

Run: ``python benchmarks/field_overhead.py [--repeats 3]``. A 10 x 10 grid, so the
program itself is a few microseconds and what is left is Python: a repeated call with
the same function and grid finds its plan cached and only dispatches. Interleaved,
medians of 500 calls per round, the range over rounds.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxgrad as jg
from jaxgrad.fields.quantities import plan_field


def _median_us(fn, calls: int) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e6


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args(argv)
    g = jax.grad(lambda p: p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1]))
    grid = jg.Grid((-2.0, -2.0), (2.0, 2.0), (10, 10))
    plan = plan_field(g, grid)
    compiled = plan.compile()
    contenders = {"compiled program": lambda: compiled(*plan.args), "jg.field(grad, grid)": lambda: jg.field(g, grid),
                  "plan_field + run (no cache)": lambda: plan_field(g, grid).run()}
    for fn in contenders.values():
        fn()
    rows = {name: [] for name in contenders}
    for r in range(args.repeats):
        for name in (list(contenders) if r % 2 == 0 else list(contenders)[::-1]):
            rows[name].append(_median_us(contenders[name], args.calls))
    print(f"10 x 10 grid, gradient of x^2 y + e^(xy), {jax.devices()[0].platform}; median of {args.calls} calls, "
          f"range over {args.repeats} rounds")
    for name, values in rows.items():
        print(f"  {name:<30} {min(values):7.1f} - {max(values):7.1f} us")
    over = [a - b for a, b in zip(rows["jg.field(grad, grid)"], rows["compiled program"])]
    print(f"  jg.field above the compiled program: {min(over):.1f} - {max(over):.1f} us")


if __name__ == "__main__":
    main()
