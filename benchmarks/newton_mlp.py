"""Full-Hessian Newton on the default MLP (1,153 parameters): time per step and Hessian memory.

Run: ``python benchmarks/newton_mlp.py [--steps 10] [--repeats 3]``. Steady-state time per
step of one run (``jg.minimize``, compiled first, blocked on, median of repeats; compile
time apart), float32 and float64, for Newton with Levenberg-Marquardt damping, saddle-free
Newton (an eigendecomposition per step) and Newton-CG (Hessian-vector products only).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

import jaxgrad as jg


def per_step(problem, optimizer, steps: int, repeats: int) -> tuple[float, float]:
    p0 = problem.init(jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    jax.block_until_ready(jg.minimize(problem.loss, p0, optimizer, steps).loss)
    first = time.perf_counter() - t0
    times = []
    for r in range(repeats):
        p = problem.init(jax.random.PRNGKey(r + 1))
        t0 = time.perf_counter()
        jax.block_until_ready(jg.minimize(problem.loss, p, optimizer, steps).loss)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / steps, first - statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    print(f"device: {device.platform} ({device.device_kind}), {jax.device_count()} device(s); "
          f"default MLP, {args.steps} steps, median of {args.repeats}")
    variants = {
        "newton (LM damping)": dict(adaptive=True),
        "newton (saddle-free)": dict(saddle_free=True, linesearch=True, damping=1e-3),
        "newton_cg": None,
    }
    print(f"{'dtype':<8} {'optimizer':<22} {'s / step':>9} {'compile s':>10} {'Hessian MiB':>12}")
    for dtype in ("float32", "float64"):
        with jax.enable_x64(dtype == "float64"):
            problem = jg.problems.make("mlp")
            n = problem.dim
            for name, hp in variants.items():
                opt = jg.optimizers.make("newton_cg") if hp is None else jg.optimizers.make("newton", **hp)
                step, compile_s = per_step(problem, opt, args.steps, args.repeats)
                mib = "-" if hp is None else f"{n * n * (8 if dtype == 'float64' else 4) / 2**20:.1f}"
                print(f"{dtype:<8} {name:<22} {step:>9.3f} {compile_s:>10.1f} {mib:>12}")


if __name__ == "__main__":
    main()
