"""A Flax NNX MLP as a problem costs what the registry MLP costs (issue: the models users write).

An 8-seed x 4-learning-rate Adam sweep of the default MLP (1-32-32-1 tanh, the same 256
examples, mean squared error), written once as the registry ``mlp`` and once as an NNX
module through ``jg.problems.from_module``; both compiled ahead of time, then timed side
by side in one process, interleaved, over repeated rounds. Prints the run time of each
and the ratio NNX / registry per round (median and range).

Run:  python benchmarks/modules.py [--steps 1000] [--rounds 7]   (needs pip install -e '.[models]')
"""

from __future__ import annotations

import argparse
import statistics

import jax
import jax.numpy as jnp
from flax import nnx

import jaxgrad as jg
from jaxgrad import engine, timing


class MLP(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.l1 = nnx.Linear(1, 32, rngs=rngs)
        self.l2 = nnx.Linear(32, 32, rngs=rngs)
        self.l3 = nnx.Linear(32, 1, rngs=rngs)

    def __call__(self, x):
        return self.l3(jnp.tanh(self.l2(jnp.tanh(self.l1(x)))))[:, 0]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    registry = jg.problems.make("mlp")
    module = jg.problems.from_module(lambda key: MLP(nnx.Rngs(key)), registry.data, "mse", name="nnx-mlp")
    assert registry.dim == module.dim
    grid = {"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2]}
    plans, executables = {}, {}
    for name, problem in (("registry", registry), ("nnx", module)):
        plans[name] = engine.plan_sweep(problem, "adam", grid, seeds=8, steps=args.steps)
        executables[name], compile_s = timing.compiled(plans[name])
        plans[name].run(executables[name])  # warm
        print(f"{name:>8}: {problem.dim} parameters, compiled in {compile_s:.2f} s")
    for name in plans:  # one untimed round of each: the first call after another program's is slower
        plans[name].run(executables[name])
    times = {"registry": [], "nnx": []}
    ratios = []
    for r in range(args.rounds):
        order = ("registry", "nnx") if r % 2 == 0 else ("nnx", "registry")  # interleaved, alternating first
        for name in order:
            times[name].append(timing.timed(lambda n=name: plans[n].run(executables[n]).loss)[1])
        ratios.append(times["nnx"][-1] / times["registry"][-1])
    for name, t in times.items():
        print(f"{name:>8}: {statistics.median(t):.3f} s per sweep (32 runs x {args.steps} steps; "
              f"{min(t):.3f}-{max(t):.3f})")
    print(f"nnx / registry: median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x "
          f"over {args.rounds} rounds ({jax.devices()[0].device_kind}, {jax.default_backend()})")


if __name__ == "__main__":
    main()
