"""Is the bench's time per step honest? One run alone against runs computed together.

Run: ``python benchmarks/bench_timing.py [--rounds 5]``. The bench compiles one program per
(problem, optimizer), a program of one run, and times each run alone. The alternative, which
would let the tuning sweep over its 4 seeds in one call, is to time a call of 4 runs and divide
by 4. For a few pairs of the full suite this compiles both, calls them interleaved
(``--rounds`` times each, float64) and prints each figure in microseconds per step:

- ``alone``: one run in its own program (the bench's figure);
- ``in 4``: a call of 4 runs over its steps and 4;
- the ratio of the two, and, what the performance profiles use, each optimizer's cost
  relative to SGD on the same problem under either measure. Where the two relative costs
  differ, timing runs together would change the bench's verdicts on time.
"""

from __future__ import annotations

import argparse
import statistics

import jax
import numpy as np

from jaxgrad import problems, timing
from jaxgrad.engine import plan_sweep
from jaxgrad.engine.sweeps import seed_keys
from jaxgrad.lab import bench

PAIRS = {
    "quadratic-k100": ("sgd", "adam", "lbfgs", "newton"),
    "rosenbrock-10d": ("sgd", "adam", "lbfgs", "newton"),
    "logistic-regression": ("sgd", "adam", "lbfgs", "newton", "gauss-newton"),
    "mlp": ("sgd", "adam", "lbfgs", "newton-cg", "newton"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200, help="steps per run (Newton on the MLP: at most 40)")
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    specs = {s.name: s for s in bench.SUITE}
    print(f"time per step, microseconds (median of {args.rounds} interleaved calls), jax {jax.__version__}, "
          f"{jax.devices()[0].platform}")
    print(f"{'pair':<34}{'alone':>10}{'in 4':>10}{'ratio':>8}{'vs sgd alone':>14}{'vs sgd in 4':>13}")
    for pname, names in PAIRS.items():
        spec = specs[pname]
        problem = problems.make(spec.problem, **spec.options)
        base = None
        for oname in names:
            c = bench.OPTIMIZERS[oname]
            steps = min(args.steps, spec.hessian_steps) if c.newton and spec.hessian_steps else args.steps
            setting = {"learning_rate": 1e-3} if c.tuned else {}
            grid = {k: [v] for k, v in setting.items()}
            plans = {n: plan_sweep(problem, c.optimizer, grid, steps=steps, keys=seed_keys(n), fixed=c.fixed)
                     for n in (1, 4)}
            executables = {n: timing.compiled(plan)[0] for n, plan in plans.items()}
            one, four = [], []
            for r in range(args.rounds):  # interleaved, fresh keys each call
                for n, out in ((1, one), (4, four)):
                    plan = plans[n].with_runs([setting] * n, seed_keys(100 + 4 * r + np.arange(n)))
                    out.append(timing.timed(lambda p=plan, n=n: p.run(executables[n]))[1] / (n * steps))
            a, b = 1e6 * statistics.median(one), 1e6 * statistics.median(four)
            base = base or (a, b)
            print(f"{pname + ' / ' + oname:<34}{a:>10.3g}{b:>10.3g}{b / a:>8.2f}{a / base[0]:>14.2f}"
                  f"{b / base[1]:>13.2f}")


if __name__ == "__main__":
    main()
