"""Every worked example of the source material, with the seeds' numbers next to jaxgrad's.

Run:  python experiments/seeds_walkthrough.py

Prints one row per example (what the seeds say, what jaxgrad computes, and whether
they agree) and exits with status 1 if any disagree. Everything is typed as text
and parsed safely (jaxgrad.expression), then differentiated exactly.
"""

from __future__ import annotations

import math
import sys

import jax

jax.config.update("jax_enable_x64", True)  # an entry point: the seeds' numbers to the last digit

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxgrad as jg  # noqa: E402


def at(*v):
    return jnp.asarray(v, jnp.float64)


def examples():
    """(source, example, the seeds' value, jaxgrad's value)."""
    rows = []
    add = lambda src, what, seeds, ours: rows.append((src, what, np.asarray(seeds, float), np.asarray(ours, float)))  # noqa: E731

    f = jg.expression("3*x**2*y + 2*y")
    add("000 §1", "∇(3x²y + 2y) at (1, 2)", [12, 5], jg.grad(f)(at(1, 2)))
    bowl = jg.expression("x**2 + y**2")
    add("000 §2", "D_u(x² + y²) at (1, 2), u = (3, 4)", 4.4, jg.directional_derivative(bowl)(at(1, 2), at(3, 4)))
    add("003", "D_u(x² + y²) at (1, 2), u = (1, 1)/√2", 3 * math.sqrt(2),
        jg.directional_derivative(bowl)(at(1, 2), at(1, 1)))
    for deg, want in [(0, 2.0), (90, 2.0), (45, 2 * math.sqrt(2)), (-45, 0.0)]:
        u = at(math.cos(math.radians(deg)), math.sin(math.radians(deg)))
        add("000 §5", f"D_u(x² + y²) at (1, 1), angle {deg}°", want, jg.directional_derivative(bowl)(at(1, 1), u))
    g = jg.expression("x**2 + 3*x*y + y**2")
    add("001", "∇(x² + 3xy + y²) at (1, 2), analytic", [8, 7], jg.grad(g)(at(1, 2)))
    add("001", "∇(x² + 3xy + y²) at (1, 2), central differences", [8, 7], jg.numerical_gradient(g)(at(1, 2)))
    add("001", "|∇f| at (1, 2)", math.sqrt(113), jnp.linalg.norm(jg.grad(g)(at(1, 2))))
    add("001", "rate along the steepest descent direction", -math.sqrt(113),
        jg.directional_derivative(g)(at(1, 2), -jg.grad(g)(at(1, 2))))
    F = jg.expression("[x**2 + y, x*y]")
    for mode in ("fwd", "rev", "auto"):
        add("001", f"Jacobian of [x² + y, xy] at (2, 3), {mode}", [[4, 1], [3, 2]], jg.jacobian(F, mode)(at(2, 3)))
    add("001", "Jacobian of [x² + y, xy] at (2, 3), numerical", [[4, 1], [3, 2]], jg.numerical_jacobian(F)(at(2, 3)))
    H = jg.hessian(g)(at(1, 2))
    add("001", "Hessian of x² + 3xy + y²", [[2, 3], [3, 2]], H)
    add("001", "its eigenvalues (mixed signs: a saddle)", [-1, 5], jg.eigvalsh(H))
    add("001", "classify: saddle = 2", 2, jg.KINDS.index(jg.classify(H)))
    three = jg.expression("x**2*y*z + sin(x*z) + exp(y)")
    x, y, z = 1.0, 2.0, 3.0
    add("003", "∇(x²yz + sin(xz) + e^y) at (1, 2, 3)",
        [2 * x * y * z + z * math.cos(x * z), x**2 * z + math.exp(y), x**2 * y + x * math.cos(x * z)],
        jg.grad(three)(at(x, y, z)))
    ex1 = jg.expression("x**2*y + exp(y*z)")
    add("001 ex. 1", "∇(x²y + e^{yz}) at (1, 2, 3)", [2 * x * y, x**2 + z * math.exp(y * z), y * math.exp(y * z)],
        jg.grad(ex1)(at(x, y, z)))
    ex2 = jg.expression("[sin(x*y), x + y**2]")
    add("001 ex. 2", "Jacobian of [sin(xy), x + y²] at (1, 2)",
        [[2 * math.cos(2), 1 * math.cos(2)], [1, 4]], jg.jacobian(ex2)(at(1, 2)))
    ex3 = jg.expression("x**2 + 4*y**2")
    p0 = at(2, 1)
    add("001 ex. 3", "∇(x² + 4y²) at (2, 1)", [4, 8], jg.grad(ex3)(p0))
    step = jg.minimize(ex3, p0, jg.optimizers.make("sgd", learning_rate=0.1), 1).final_params
    add("001 ex. 3", "one gradient descent step, η = 0.1", [1.6, 0.2], step)
    e = jg.expression("x**2*y + exp(x*y)")
    add("002 §4", "∇(x²y + e^{xy}) at (1, 2), analytic", [4 + 2 * math.exp(2), 1 + math.exp(2)], jg.grad(e)(at(1, 2)))
    add("002 §4", "the same by central differences", [4 + 2 * math.exp(2), 1 + math.exp(2)],
        jg.numerical_gradient(e)(at(1, 2)))
    add("003", "∂/∂x, ∂/∂y of x²y + 3xy² + y³ at (1, 2)", [2 * 2 + 3 * 4, 1 + 12 + 12],
        jg.grad(jg.expression("x**2*y + 3*x*y**2 + y**3"))(at(1, 2)))
    add("003 Q4", "∇(x²y + sin(xy)) at (1, 2)", [4 + 2 * math.cos(2), 1 + math.cos(2)],
        jg.grad(jg.expression("x**2*y + sin(x*y)"))(at(1, 2)))
    lin = jg.expression("3*x + 4*y")
    gl = jg.grad(lin)(at(0, 0))
    add("003 Q5", "direction of fastest increase for ∇f = [3, 4]", [0.6, 0.8], gl / jnp.linalg.norm(gl))
    add("003 Q5", "its rate", 5.0, jg.directional_derivative(lin)(at(0, 0), gl))
    add("004", "D_u(x² + 2y²) at (1, 1), u = (1, 1)/√2", 6 / math.sqrt(2),
        jg.directional_derivative(jg.expression("x**2 + 2*y**2"))(at(1, 1), at(1, 1)))
    cubic = jg.expression("x**3 - 2*x**2 + 3*x - 1")
    xs = np.linspace(-2, 3, 6)
    add("004", "f'(x) of x³ - 2x² + 3x - 1 at -2 .. 3", 3 * xs**2 - 4 * xs + 3,
        [jg.grad(cubic)(at(v))[0] for v in xs])
    crit = jg.critical_points(jg.expression("x**2 + y**2 - 2*x*y + 2*x - 4*y + 3"), (-10, -10), (10, 10))
    add("004 §1", "critical points of x² + y² - 2xy + 2x - 4y + 3 (∇f never vanishes)", 0, len(crit))
    data_x, data_t = np.array([1.0, 2, 3, 4]), np.array([2.3, 4.1, 5.9, 8.2])
    mse = lambda p: jnp.mean((p["w"] * data_x + p["b"] - data_t) ** 2)  # noqa: E731
    err = 0.5 * data_x - data_t
    w1, b1 = 0.5 - 0.01 * (2 / 4) * err @ data_x, 0.0 - 0.01 * (2 / 4) * err.sum()
    p1 = jg.minimize(mse, {"w": jnp.float64(0.5), "b": jnp.float64(0.0)}, jg.optimizers.make("sgd", learning_rate=0.01), 1)
    add("002 §6", "one GD step on the MSE: updated (w, b)", [w1, b1], [p1.final_params["w"], p1.final_params["b"]])
    path = jg.minimize(bowl, at(3, 4), jg.optimizers.make("sgd", learning_rate=0.1), 20).final_params
    add("001", "GD on x² + y² from (3, 4), η = 0.1, 20 steps (contracts by 0.8 a step)", [3 * 0.8**20, 4 * 0.8**20], path)
    rng = np.random.RandomState(42)
    params = jnp.asarray(rng.randn(9) * 0.1)
    xin, target = jnp.asarray([1.0, 2.0]), 0.5

    def nn_loss(p):
        W1, b1_, W2, b2 = p[:4].reshape(2, 2), p[4:6], p[6:8], p[8]
        return (W2 @ jnp.tanh(W1 @ xin + b1_) + b2 - target) ** 2

    report = jg.check_gradient(nn_loss, params)
    add("001", "the 2-layer net's gradient: backprop vs finite differences (check ok = 1)", 1, int(report.ok))
    return rows


def main() -> int:
    rows = examples()
    bad = 0
    print(f"{'seed':<10} {'example':<72} {'seeds':>24} {'jaxgrad':>24}  ok")
    for src, what, seeds, ours in rows:
        ok = seeds.shape == ours.shape and np.allclose(ours, seeds, rtol=1e-9, atol=1e-9)
        bad += not ok
        fmt = lambda a: np.array2string(a, precision=10, separator=", ", max_line_width=200).replace("\n", "")  # noqa: E731
        print(f"{src:<10} {what:<72} {fmt(seeds):>24} {fmt(ours):>24}  {'yes' if ok else 'NO'}")
    print(f"\n{len(rows) - bad} of {len(rows)} worked examples reproduced")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
