"""jaxgrad.sweep versus the loop a competent optax user writes; Newton's convergence order.

Run:  python benchmarks/sweep.py [--steps 1000] [--repeats 3] [--part sweep|newton|all]
(or ``jaxgrad bench throughput``)

Part 1 (sweep): 64 configurations (8 learning rates x 8 seeds) x --steps steps of
Adam, on Rosenbrock (2-D) and on the default MLP, in float32:
  sweep  one compiled program for all 64 runs (jaxgrad.sweep)
  loop   one jitted step with optax.inject_hyperparams (so the learning rate is data
         and nothing recompiles), Python loops over configurations and steps,
         the loss of every step kept on device, blocked at the end of each run.
Compile time is reported apart (first call minus steady state); steady state is
the median of --repeats calls with new learning rates.

Part 2 (newton): Rosenbrock from (-1.2, 1) in float64: steps to a gradient norm of
1e-10 for Newton with a line search, and for Adam and SGD at their best learning
rate on a log grid (each grid tuned in one sweep), with Newton's last gradient
norms to show the quadratic convergence.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxgrad as jg


def loop_baseline(problem, lrs, seeds, steps):
    """Python loops over configs and steps around one jitted, hyperparameter-injected step."""
    opt = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(problem.loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    finals = []
    for lr in lrs:
        for seed in range(seeds):
            params = problem.init(jax.random.PRNGKey(seed))
            state = opt.init(params)
            state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
            losses = []
            for _ in range(steps):
                params, state, loss = step(params, state)
                losses.append(loss)
            jax.block_until_ready(losses)
            finals.append(float(problem.loss(params)))
    return np.array(finals).reshape(len(lrs), seeds)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return time.perf_counter() - t0, out


def flops_per_step(problem) -> float:
    """XLA's own count for one loss-and-gradient evaluation."""
    params = problem.init(jax.random.PRNGKey(0))
    cost = jax.jit(jax.value_and_grad(problem.loss)).lower(params).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", float("nan")))


def part_sweep(steps: int, repeats: int) -> None:
    print(f"== sweep vs loop: 8 learning rates x 8 seeds x {steps} steps of Adam, float32; "
          f"device {jax.devices()[0].device_kind} x{jax.device_count()} ({platform.machine()})")
    print(f"{'problem':<12}{'sweep compile s':>16}{'sweep run s':>13}{'loop s':>9}{'speed-up':>10}"
          f"{'FLOP/step':>12}{'sweep GFLOP/s':>15}{'max |final diff|':>18}")
    for name in ("rosenbrock", "mlp"):
        problem = jg.problems.make(name)
        grids = [np.logspace(-3, -1, 8) * f for f in (1.0, 1.1, 0.9, 1.05)]
        first, trace = timed(lambda: jg.sweep(problem, "adam", {"learning_rate": list(grids[0])}, seeds=8, steps=steps))
        runs = []
        for r in range(repeats):
            grid = list(grids[1 + r % 3])
            t, _ = timed(lambda: jg.sweep(problem, "adam", {"learning_rate": grid}, seeds=8, steps=steps))
            runs.append(t)
        t_sweep = statistics.median(runs)
        compile_s = first - t_sweep
        loop_configs = 8 if name == "rosenbrock" else 2  # the loop is timed on a subset of settings, scaled
        t_loop, finals = timed(lambda: loop_baseline(problem, grids[0][:loop_configs], 8, steps))
        t_loop *= 8 / loop_configs
        diff = float(np.max(np.abs(finals - np.asarray(trace.loss[:loop_configs, :, -1]))))
        flops = flops_per_step(problem)
        gflops = 64 * steps * flops / t_sweep / 1e9
        print(f"{name:<12}{compile_s:>16.2f}{t_sweep:>13.3f}{t_loop:>9.2f}{t_loop / t_sweep:>9.0f}x"
              f"{flops:>12.3g}{gflops:>15.1f}{diff:>18.2e}")
    print("loop: one jitted optax step with inject_hyperparams; on the MLP it is timed on 2 of the 8 learning")
    print("rates and scaled. max |final diff|: final losses of sweep and loop on the same settings (float32).")


def part_newton(max_steps: int = 20000) -> None:
    with jax.enable_x64(True):
        _part_newton(max_steps)


def _part_newton(max_steps: int) -> None:
    problem = jg.problems.make("rosenbrock", x0=(-1.2, 1.0))
    tol = 1e-10
    print(f"\n== convergence on Rosenbrock from (-1.2, 1), float64: steps to |grad| <= {tol:g}")
    t = jg.minimize(problem.loss, problem.init(None), jg.optimizers.make("newton", linesearch=True), 60, tol=tol)
    k = t.converged_step
    print(f"{'newton + line search':<26} {k:>6} steps")
    tail = np.asarray(t.grad_norm[max(0, k - 6): k + 1])
    print("  last gradient norms: " + ", ".join(f"{g:.1e}" for g in tail)
          + "  (the exponent roughly doubles per step: quadratic convergence)")
    for name, grid in [("adam", np.logspace(-4, 0, 17)), ("sgd", np.logspace(-5, -2.5, 11)),
                       ("lbfgs", None), ("newton_cg", None)]:
        if grid is None:
            t = jg.sweep(problem, name, seeds=1, steps=2000, tol=tol)
            steps = int(t.converged_step[0, 0])
            print(f"{name:<26} {steps if steps >= 0 else '>2000':>6} steps")
            continue
        t = jg.sweep(problem, name, {"learning_rate": list(grid)}, seeds=1, steps=max_steps, tol=tol)
        conv = np.asarray(t.converged_step[:, 0])
        ok = conv >= 0
        if ok.any():
            best = int(np.argmin(np.where(ok, conv, np.iinfo(np.int32).max)))
            print(f"{name + ' (best of ' + str(len(grid)) + ' lrs)':<26} {conv[best]:>6} steps at learning_rate {grid[best]:.3g}")
        else:
            best = int(np.argmin(np.asarray(t.grad_norm[:, 0, -1])))
            print(f"{name + ' (best of ' + str(len(grid)) + ' lrs)':<26} {'>' + str(max_steps):>6} steps "
                  f"(best |grad| {float(t.grad_norm[best, 0, -1]):.1e} at learning_rate {grid[best]:.3g})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--part", choices=("sweep", "newton", "all"), default="all")
    args = parser.parse_args(argv)
    if args.part in ("sweep", "all"):
        part_sweep(args.steps, args.repeats)
    if args.part in ("newton", "all"):
        part_newton()


if __name__ == "__main__":
    main()
