"""The default path: float32, as a user gets it without enabling float64.

Every check is against an independent value (closed forms, NumPy in float64, a plain
optax loop in float32) with a tolerance for float32's 24-bit mantissa.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxgrad as jg
from jaxgrad import cache
from jaxgrad.fields.quantities import quantity

F32 = dict(rtol=2e-5, atol=2e-5)


def f(p):
    return p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1])


def closed_forms(x, y):
    e = np.exp(x * y)
    grad = np.stack([2 * x * y + y * e, x * x + x * e], axis=-1)
    fxx, fxy, fyy = 2 * y + y * y * e, 2 * x + e * (1 + x * y), x * x * e
    hess = np.stack([fxx, fxy, fxy, fyy], axis=-1).reshape(x.shape + (2, 2))
    return grad, hess


def test_the_default_is_float32():
    assert not jax.config.jax_enable_x64
    assert jnp.asarray(1.0).dtype == jnp.float32


def test_fields_in_float32_match_the_closed_forms():
    grid = jg.Grid((-1.5, -1.0), (1.0, 2.0), (37, 23))
    x, y = grid.mesh()  # float64 axes: the field's points are these, rounded once to float32
    x32, y32 = x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    grad, hess = closed_forms(x32, y32)
    g = jg.field(quantity(f, "grad"), grid)
    h = jg.field(quantity(f, "hessian"), grid)
    assert g.dtype == h.dtype == jnp.float32
    np.testing.assert_allclose(g, grad, **F32)
    np.testing.assert_allclose(h, hess, rtol=5e-5, atol=5e-5)
    lam = jg.field(quantity(f, "eigenvalues"), grid)
    np.testing.assert_allclose(lam, np.linalg.eigvalsh(hess), rtol=1e-4, atol=1e-4)
    # the points a grid field evaluates are exactly grid.points in float32
    np.testing.assert_array_equal(jg.field(lambda p: p, grid).reshape(-1, 2), np.asarray(grid.points))


def test_field_over_points_and_chunks_agree_bitwise_with_the_plain_field():
    grid = jg.Grid((-1.0, -1.0), (1.0, 1.0), (40, 30))
    q = quantity(f, "grad")
    plain = np.asarray(jg.field(q, grid))
    np.testing.assert_array_equal(np.asarray(jg.field(q, grid.points)).reshape(plain.shape), plain)
    chunked = np.asarray(jg.field(q, grid, chunk_size=7 * 30))  # whole rows per chunk
    np.testing.assert_allclose(chunked, plain, rtol=1e-6, atol=1e-6)


def test_minimize_in_float32_matches_a_plain_optax_loop():
    problem = jg.problems.make("rosenbrock")
    trace = jg.minimize(problem.loss, jnp.asarray([-1.2, 1.0]), optax.adam(1e-2), steps=300)
    assert trace.loss.dtype == jnp.float32
    tx = optax.adam(1e-2)
    x = jnp.asarray([-1.2, 1.0])
    state = tx.init(x)
    step = jax.jit(lambda x, s: (lambda g: (lambda u, s2: (optax.apply_updates(x, u), s2))(*tx.update(g, s, x)))(
        jax.grad(problem.loss)(x)))
    losses = [float(problem.loss(x))]
    for _ in range(300):
        x, state = step(x, state)
        losses.append(float(problem.loss(x)))
    np.testing.assert_allclose(np.asarray(trace.loss), losses, rtol=1e-5, atol=1e-6)


def test_sweep_in_float32_no_retrace_on_new_values():
    problem = jg.problems.make("quadratic", dim=3, condition_number=10.0)
    t = jg.sweep(problem, "sgd", {"learning_rate": [0.01, 0.05]}, seeds=2, steps=50)
    assert t.loss.dtype == jnp.float32 and t.loss.shape == (2, 2, 51)
    size = cache.traces("sweep")
    t2 = jg.sweep(problem, "sgd", {"learning_rate": [0.02, 0.04]}, seeds=2, steps=50)
    assert cache.traces("sweep") == size
    # gradient descent on 0.5 (x - x*)ᵀA(x - x*): the gap contracts by I - ηA exactly
    A = np.asarray(jax.hessian(problem.loss)(jnp.zeros(3)), np.float64)
    x0 = np.asarray(problem.init(jax.random.PRNGKey(0)), np.float64)
    xstar = np.asarray(problem.minimizers[0], np.float64)
    d = x0 - xstar
    for _ in range(50):
        d = d - 0.02 * A @ d
    np.testing.assert_allclose(float(t2.loss[0, 0, -1]), 0.5 * d @ A @ d, rtol=1e-4)


def test_gradient_check_in_float32():
    check = jg.check_gradient(f, jnp.asarray([0.3, -0.7]))
    assert check.ok
    num = jg.numerical_gradient(f)(jnp.asarray([0.3, -0.7]))
    assert num.dtype == jnp.float32
    np.testing.assert_allclose(num, closed_forms(np.float64(0.3), np.float64(-0.7))[0], rtol=1e-3)


def test_expression_in_float32_against_numpy():
    e = jg.expression("x**2*y + exp(x*y)")
    p = jnp.asarray([0.4, 1.3])
    assert e(p).dtype == jnp.float32
    np.testing.assert_allclose(float(e(p)), 0.4**2 * 1.3 + np.exp(0.4 * 1.3), rtol=1e-6)
    np.testing.assert_allclose(jg.grad(e)(p), closed_forms(np.float64(0.4), np.float64(1.3))[0], rtol=1e-5)


def test_a_large_grid_field_is_the_points_field_bit_for_bit():
    # 8 MiB of output, shaped inside the program: the values are the points program's, bit
    # for bit, and the cached points are left alone
    grid = jg.Grid((-1.0, -1.0), (1.0, 1.0), (1024, 1024))
    q = quantity(f, "grad")
    out = jg.field(q, grid)
    assert out.shape == (1024, 1024, 2) and out.dtype == jnp.float32
    flat = jg.field(q, grid.points)
    np.testing.assert_array_equal(np.asarray(out).reshape(-1, 2), np.asarray(flat))
    again = jg.field(q, grid)  # the cached points are reused
    np.testing.assert_array_equal(np.asarray(again), np.asarray(out))
