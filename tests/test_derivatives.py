"""Exact derivatives: the seeds' worked examples, identities, errors, no retracing."""

import gc
import weakref

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgrad as jg

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64


def arr(*v):
    return jnp.asarray(v, dtype=jnp.float64)


# --- the seeds' worked examples, with the seeds' own numbers -------------------------


def test_gradient_of_3x2y_plus_2y_at_1_2_is_12_5():
    f = lambda p: 3 * p[0] ** 2 * p[1] + 2 * p[1]
    np.testing.assert_allclose(jg.grad(f)(arr(1, 2)), [12.0, 5.0], rtol=1e-15)


@pytest.mark.parametrize(
    "direction, expected",
    [((3.0, 4.0), 4.4), ((1.0, 1.0), 3 * np.sqrt(2))],
)
def test_directional_derivative_of_x2_plus_y2_at_1_2(direction, expected):
    f = lambda p: p[0] ** 2 + p[1] ** 2
    np.testing.assert_allclose(jg.directional_derivative(f)(arr(1, 2), arr(*direction)), expected, rtol=1e-15)


def test_directional_derivative_unnormalized_is_plain_dot():
    f = lambda p: p[0] ** 2 + p[1] ** 2
    # ∇f(1,2)·(3,4) = [2,4]·[3,4] = 22
    np.testing.assert_allclose(jg.directional_derivative(f, normalize=False)(arr(1, 2), arr(3, 4)), 22.0)


@pytest.mark.parametrize(
    "angle, expected",  # seeds: x²+y² at (1,1) along cos/sin of 0, 90, 45, -45 degrees
    [(0.0, 2.0), (np.pi / 2, 2.0), (np.pi / 4, 2 * np.sqrt(2)), (-np.pi / 4, 0.0)],
)
def test_directional_derivative_by_angle(angle, expected):
    f = lambda p: p @ p
    u = arr(np.cos(angle), np.sin(angle))
    np.testing.assert_allclose(jg.directional_derivative(f)(arr(1, 1), u), expected, atol=1e-14)


def test_gradient_of_x2_3xy_y2_at_1_2_analytic_and_numerical():
    f = lambda p: p[0] ** 2 + 3 * p[0] * p[1] + p[1] ** 2
    np.testing.assert_allclose(jg.grad(f)(arr(1, 2)), [8.0, 7.0], rtol=1e-15)
    np.testing.assert_allclose(jg.numerical_gradient(f)(arr(1, 2)), [8.0, 7.0], rtol=1e-9)


def test_steepest_descent_direction_and_rate():
    # seeds: at (1,2) the gradient [8,7] has magnitude sqrt(113); the rate along -∇f/|∇f| is -|∇f|
    f = lambda p: p[0] ** 2 + 3 * p[0] * p[1] + p[1] ** 2
    g = jg.grad(f)(arr(1, 2))
    rate = jg.directional_derivative(f)(arr(1, 2), -g)
    np.testing.assert_allclose(rate, -np.sqrt(113.0), rtol=1e-15)


@pytest.mark.parametrize("mode", ["auto", "fwd", "rev"])
def test_jacobian_of_x2_plus_y_xy_at_2_3(mode):
    F = lambda p: jnp.stack([p[0] ** 2 + p[1], p[0] * p[1]])
    np.testing.assert_allclose(jg.jacobian(F, mode=mode)(arr(2, 3)), [[4.0, 1.0], [3.0, 2.0]], rtol=1e-15)


def test_hessian_of_x2_3xy_y2():
    f = lambda p: p[0] ** 2 + 3 * p[0] * p[1] + p[1] ** 2
    H = jg.hessian(f)(arr(1, 2))
    np.testing.assert_allclose(H, [[2.0, 3.0], [3.0, 2.0]], rtol=1e-15)
    # seeds: eigenvalues 5 and -1, mixed signs -> saddle
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(H)), [-1.0, 5.0], rtol=1e-14)


def test_three_variable_partials():
    # seeds: f = x²yz + sin(xz) + e^y
    f = lambda p: p[0] ** 2 * p[1] * p[2] + jnp.sin(p[0] * p[2]) + jnp.exp(p[1])
    x, y, z = 0.7, -0.3, 1.9
    expected = [
        2 * x * y * z + z * np.cos(x * z),
        x**2 * z + np.exp(y),
        x**2 * y + x * np.cos(x * z),
    ]
    np.testing.assert_allclose(jg.grad(f)(arr(x, y, z)), expected, rtol=1e-14)


def test_exercise_gradient_x2y_plus_exp_yz():
    f = lambda p: p[0] ** 2 * p[1] + jnp.exp(p[1] * p[2])
    x, y, z = 1.5, 0.4, -0.8
    expected = [2 * x * y, x**2 + z * np.exp(y * z), y * np.exp(y * z)]
    np.testing.assert_allclose(jg.grad(f)(arr(x, y, z)), expected, rtol=1e-14)


def test_exercise_jacobian_sin_xy_and_x_plus_y2():
    F = lambda p: jnp.stack([jnp.sin(p[0] * p[1]), p[0] + p[1] ** 2])
    x, y = 0.8, 1.3
    expected = [[y * np.cos(x * y), x * np.cos(x * y)], [1.0, 2 * y]]
    for mode in ("fwd", "rev"):
        np.testing.assert_allclose(jg.jacobian(F, mode=mode)(arr(x, y)), expected, rtol=1e-14)


def test_exercise_gradient_descent_step():
    # seeds: f = x² + 4y² from (2,1), η = 0.1: ∇f = (4, 8) and the step lands on (1.6, 0.2)
    f = lambda p: p[0] ** 2 + 4 * p[1] ** 2
    p0 = arr(2, 1)
    g = jg.grad(f)(p0)
    np.testing.assert_allclose(g, [4.0, 8.0])
    np.testing.assert_allclose(p0 - 0.1 * g, [1.6, 0.2], rtol=1e-15)


@pytest.mark.parametrize(
    "f, grad_f",
    [
        # x²y + 3xy² + y³
        (lambda p: p[0] ** 2 * p[1] + 3 * p[0] * p[1] ** 2 + p[1] ** 3,
         lambda x, y: [2 * x * y + 3 * y**2, x**2 + 6 * x * y + 3 * y**2]),
        # x²y + sin(xy)
        (lambda p: p[0] ** 2 * p[1] + jnp.sin(p[0] * p[1]),
         lambda x, y: [2 * x * y + y * np.cos(x * y), x**2 + x * np.cos(x * y)]),
        # x²y + e^{xy}
        (lambda p: p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1]),
         lambda x, y: [2 * x * y + y * np.exp(x * y), x**2 + x * np.exp(x * y)]),
        # x² + 2y²
        (lambda p: p[0] ** 2 + 2 * p[1] ** 2, lambda x, y: [2 * x, 4 * y]),
    ],
)
@pytest.mark.parametrize("point", [(1.0, 2.0), (-0.5, 0.25)])
def test_seed_gradients(f, grad_f, point):
    np.testing.assert_allclose(jg.grad(f)(arr(*point)), grad_f(*point), rtol=1e-14)


def test_single_variable_derivative_of_cubic():
    # seeds: f(x) = x³ - 2x² + 3x - 1, f'(x) = 3x² - 4x + 3
    f = lambda p: p[0] ** 3 - 2 * p[0] ** 2 + 3 * p[0] - 1
    xs = jnp.linspace(-2, 3, 11)
    d = jax.vmap(lambda x: jg.grad(f)(x[None])[0])(xs)
    np.testing.assert_allclose(d, 3 * xs**2 - 4 * xs + 3, rtol=1e-14)


def test_linear_regression_gradient_step_matches_seed_formula():
    # seeds: x=[1,2,3,4], t=[2.3,4.1,5.9,8.2], w=0.5, b=0, lr=0.01; dw = 2/N Σ e x, db = 2/N Σ e
    xs, t = np.array([1.0, 2, 3, 4]), np.array([2.3, 4.1, 5.9, 8.2])
    loss = lambda p: jnp.mean((p["w"] * xs + p["b"] - t) ** 2)
    g = jg.grad(loss)({"w": jnp.float64(0.5), "b": jnp.float64(0.0)})
    err = 0.5 * xs - t
    np.testing.assert_allclose(g["w"], 2 / 4 * err @ xs, rtol=1e-15)
    np.testing.assert_allclose(g["b"], 2 / 4 * err.sum(), rtol=1e-15)
    np.testing.assert_allclose(0.5 - 0.01 * g["w"], 0.5 - 0.01 * (2 / 4 * err @ xs), rtol=1e-15)


def test_interview_question_gradient_direction_3_4():
    # seeds: at ∇f = [3,4] the fastest increase is along [0.6, 0.8] at rate 5
    f = lambda p: 3 * p[0] + 4 * p[1]
    g = jg.grad(f)(arr(0, 0))
    np.testing.assert_allclose(g / jnp.linalg.norm(g), [0.6, 0.8])
    np.testing.assert_allclose(jg.directional_derivative(f)(arr(0, 0), g), 5.0)


# --- identities -----------------------------------------------------------------------


def rosen(p):
    return jnp.sum(100 * (p[1:] - p[:-1] ** 2) ** 2 + (1 - p[:-1]) ** 2)


def test_hessian_is_symmetric_and_matches_hvp():
    x = jax.random.normal(jax.random.PRNGKey(0), (6,), jnp.float64)
    v = jax.random.normal(jax.random.PRNGKey(1), (6,), jnp.float64)
    H = jg.hessian(rosen)(x)
    np.testing.assert_allclose(H, H.T, rtol=1e-14)
    np.testing.assert_allclose(jg.hvp(rosen)(x, v), H @ v, rtol=1e-12)


def test_jacfwd_equals_jacrev():
    F = lambda p: jnp.stack([jnp.sin(p[0] * p[1]) * p[2], p[0] + p[1] ** 2, jnp.exp(p[2]) * p[0]])
    x = arr(0.3, -1.1, 0.7)
    np.testing.assert_allclose(jg.jacobian(F, "fwd")(x), jg.jacobian(F, "rev")(x), rtol=1e-14)


def test_auto_mode_picks_by_shape(monkeypatch):
    calls = []
    real_fwd, real_rev = jax.jacfwd, jax.jacrev
    monkeypatch.setattr(jax, "jacfwd", lambda f: calls.append("fwd") or real_fwd(f))
    monkeypatch.setattr(jax, "jacrev", lambda f: calls.append("rev") or real_rev(f))
    jg.jacobian(lambda p: jnp.concatenate([p, p**2, p**3]))(arr(1, 2))  # 2 -> 6: forward
    jg.jacobian(lambda p: jnp.sum(p) * jnp.ones(2))(jnp.ones(10))  # 10 -> 2: reverse
    assert calls == ["fwd", "rev"]


def test_pytree_grad_hvp_and_directional():
    params = {"w": jnp.asarray([1.0, -2.0]), "b": jnp.asarray(0.5)}
    loss = lambda p: jnp.sum(p["w"] ** 2) * p["b"] + p["b"] ** 3
    g = jg.grad(loss)(params)
    np.testing.assert_allclose(g["w"], 2 * params["w"] * 0.5)
    np.testing.assert_allclose(g["b"], 5.0 + 3 * 0.25)
    v = {"w": jnp.asarray([1.0, 0.0]), "b": jnp.asarray(1.0)}
    # H v by hand: d²/dw² = 2b I, d²/dwdb = 2w, d²/db² = 6b
    hv = jg.hvp(loss)(params, v)
    np.testing.assert_allclose(hv["w"], 2 * 0.5 * v["w"] + 2 * params["w"] * 1.0)
    np.testing.assert_allclose(hv["b"], 2 * params["w"] @ v["w"] + 6 * 0.5)
    dd = jg.directional_derivative(loss)(params, v)
    np.testing.assert_allclose(dd, (g["w"] @ v["w"] + g["b"]) / np.sqrt(2.0), rtol=1e-14)


def test_float32_in_float32_out():
    f = lambda p: jnp.sum(jnp.sin(p) * p)
    x = jnp.asarray([1.0, 2.0], jnp.float32)
    assert jg.grad(f)(x).dtype == jnp.float32
    assert jg.hessian(f)(x).dtype == jnp.float32
    assert jg.hvp(f)(x, jnp.ones(2, jnp.float64)).dtype == jnp.float32
    assert jg.directional_derivative(f)(x, jnp.ones(2, jnp.float64)).dtype == jnp.float32


# --- errors ---------------------------------------------------------------------------


def test_grad_of_non_scalar_says_so_and_names_shape():
    with pytest.raises(TypeError, match=r"scalar.*shape \(2,\)"):
        jg.grad(lambda p: p * 2)(arr(1, 2))
    with pytest.raises(TypeError, match="scalar"):
        jg.hessian(lambda p: p * 2)(arr(1, 2))


def test_zero_direction_is_refused():
    with pytest.raises(ValueError, match="zero vector"):
        jg.directional_derivative(lambda p: p @ p)(arr(1, 2), arr(0, 0))


def test_direction_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        jg.directional_derivative(lambda p: p @ p)(arr(1, 2), arr(1, 2, 3))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        jg.hvp(lambda p: p @ p)(arr(1, 2), arr(1, 2, 3))


def test_bad_jacobian_mode():
    with pytest.raises(ValueError, match="'auto', 'fwd' or 'rev'"):
        jg.jacobian(lambda p: p, mode="sideways")


# --- compiled once --------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda f: jg.grad(f),
        lambda f: jg.hessian(f),
        lambda f: (lambda x: jg.hvp(f)(x, jnp.ones_like(x))),
        lambda f: (lambda x: jg.directional_derivative(f)(x, jnp.ones_like(x))),
        lambda f: (lambda x: jg.jacobian(jax.grad(f))(x)),
    ],
)
def test_jitted_derivative_does_not_retrace(make):
    chex.clear_trace_counter()
    fn = jax.jit(chex.assert_max_traces(make(rosen), n=1))
    a = fn(arr(0.1, 0.2, 0.3))
    b = fn(arr(-1.0, 2.0, 0.5))  # new values, same shape: no retrace
    chex.assert_tree_all_finite((a, b))
    assert not np.allclose(a, b)


def _closure_over_data():
    class Data:
        pass

    data = Data()
    data.values = np.ones(10**6)
    return (lambda x: jnp.sum(x**2) * data.values[0]), weakref.ref(data)


def test_memoised_derivatives_do_not_keep_a_closure_alive():
    from jaxgrad.fields.quantities import quantity

    f, alive = _closure_over_data()
    g, q = jg.grad(f), quantity(f, "kind")
    assert jg.grad(f) is g and quantity(f, "kind") is q  # the same object while held: one compile
    np.testing.assert_allclose(g(jnp.asarray([1.0, 2.0])), [2.0, 4.0])
    del f, g, q
    gc.collect()
    assert alive() is None  # the caches held neither the function nor its data
