"""Does a sweep pay only for its runs? A 4-run sweep against an 8-run sweep of the MLP's Newton.

Run: ``python benchmarks/sweep_padding.py [--rounds 3] [--steps 5]``. Full-Hessian Newton on the
bench's MLP (1,153 parameters, float64) is the most expensive run in the bench, so a padded run
costs as much as a real one. Both sweeps are compiled first, then called interleaved; it prints
each call's seconds and the ratio of the medians (4 runs / 8 runs: 0.5 when a sweep computes
exactly its runs, 1.0 when 4 runs are padded to a block of 8, as they were before).
"""

from __future__ import annotations

import argparse
import statistics

import jax

from jaxgrad import problems, timing
from jaxgrad.engine import plan_sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    jax.config.update("jax_enable_x64", True)
    problem = problems.make("mlp")
    plans = {n: plan_sweep(problem, "newton", {}, seeds=n, steps=args.steps, fixed={"linesearch": True})
             for n in (4, 8)}
    executables = {n: timing.compiled(plan)[0] for n, plan in plans.items()}
    seconds = {4: [], 8: []}
    for _ in range(args.rounds):
        for n, plan in plans.items():
            seconds[n].append(timing.timed(lambda: plan.run(executables[n]))[1])
    print(f"MLP, full-Hessian Newton, {args.steps} steps, float64, jax {jax.__version__}:")
    for n, s in seconds.items():
        print(f"  {n} runs: " + ", ".join(f"{v:.2f}" for v in s) + " s")
    print(f"  4 runs / 8 runs: {statistics.median(seconds[4]) / statistics.median(seconds[8]):.2f} "
          f"(medians of {args.rounds})")


if __name__ == "__main__":
    main()
