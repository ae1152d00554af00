"""Finite differences and gradient checks against sympy and planted errors."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp

import jaxgrad as jg

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

X, Y, Z = sp.symbols("x y z")
SYMS = (X, Y, Z)

# A bank of smooth formulas in three variables (sympy is the independent reference).
BANK = [
    X**2 * Y + sp.exp(X * Y),
    3 * X**2 * Y + 2 * Y,
    X**2 * Y * Z + sp.sin(X * Z) + sp.exp(Y),
    X**2 * Y + sp.exp(Y * Z),
    sp.log(1 + X**2 + Y**2) * sp.cos(Z),
    sp.tanh(X - 2 * Y) + Z**3 / 3,
    (1 - X) ** 2 + 100 * (Y - X**2) ** 2 + Z**2,
    1 / (1 + sp.exp(-(X + Y * Z))),
    sp.sqrt(1 + X**2 + Y**4) * sp.atan(Z),
    sp.sinh(X / 2) * sp.cosh(Y / 3) - sp.erf(Z),
]
POINTS = [(0.3, -0.7, 1.1), (1.0, 2.0, -0.5), (-1.2, 0.4, 0.9)]


@functools.cache  # one function per formula, so its compiled derivatives serve every point
def to_jax(expr):
    fn = sp.lambdify(SYMS, expr, modules=[{"erf": jax.scipy.special.erf}, "jax"])
    return lambda p: fn(p[0], p[1], p[2])


def sym_grad(expr, point):
    subs = dict(zip(SYMS, point))
    return np.array([float(sp.diff(expr, s).evalf(30, subs=subs)) for s in SYMS])


def sym_hess(expr, point):
    subs = dict(zip(SYMS, point))
    return np.array([[float(sp.diff(expr, a, b).evalf(30, subs=subs)) for b in SYMS] for a in SYMS])


def rel_err(a, b):
    return np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("expr", BANK, ids=str)
@pytest.mark.parametrize("point", POINTS)
def test_bank_against_sympy(expr, point):
    f, x = to_jax(expr), jnp.asarray(point, jnp.float64)
    g, H = sym_grad(expr, point), sym_hess(expr, point)
    assert rel_err(jg.grad(f)(x), g) < 1e-10
    assert rel_err(jg.hessian(f)(x), H) < 1e-10
    assert rel_err(jg.numerical_gradient(f)(x), g) < 1e-6
    assert rel_err(jg.numerical_gradient(f, scheme="richardson")(x), g) < 1e-9
    assert rel_err(jg.numerical_gradient(f, scheme="forward")(x), g) < 1e-5
    assert rel_err(jg.numerical_gradient(f, scheme="backward")(x), g) < 1e-5
    assert rel_err(jg.numerical_hessian(f)(x), H) < 1e-5
    assert rel_err(jg.numerical_hessian(f, scheme="richardson")(x), H) < 1e-7


def test_scheme_orders():
    # halving h cuts the error by 2, 4 and 16 for forward, central and Richardson
    f = lambda p: jnp.sin(p[0]) * jnp.exp(p[1])
    x = jnp.asarray([0.4, 0.3])
    exact = np.array([np.cos(0.4) * np.exp(0.3), np.sin(0.4) * np.exp(0.3)])
    for scheme, h, factor in [("forward", 1e-3, 2), ("central", 1e-2, 4), ("richardson", 1e-1, 16)]:
        e1 = rel_err(jg.numerical_gradient(f, step=h, scheme=scheme)(x), exact)
        e2 = rel_err(jg.numerical_gradient(f, step=h / 2, scheme=scheme)(x), exact)
        assert e1 / e2 == pytest.approx(factor, rel=0.1), scheme


def test_numerical_jacobian_matches_closed_form():
    F = lambda p: jnp.stack([p[0] ** 2 + p[1], p[0] * p[1], jnp.sin(p[0])])
    x = jnp.asarray([2.0, 3.0])
    expected = [[4.0, 1.0], [3.0, 2.0], [np.cos(2.0), 0.0]]
    np.testing.assert_allclose(jg.numerical_jacobian(F)(x), expected, atol=1e-9)
    np.testing.assert_allclose(jg.numerical_jacobian(F, scheme="richardson")(x), expected, atol=1e-11)


def test_numerical_hessian_is_exactly_symmetric():
    f = lambda p: jnp.exp(p[0] * p[1]) * jnp.cos(p[2]) + p[0] ** 3 * p[2]
    H = np.asarray(jg.numerical_hessian(f)(jnp.asarray([0.3, 0.5, -0.2])))
    np.testing.assert_array_equal(H, H.T)


def test_numerical_gradient_of_pytree_and_large_dimension():
    params = {"a": jnp.asarray([1.0, 2.0]), "b": jnp.asarray([[0.5]])}
    loss = lambda p: jnp.sum(p["a"] ** 3) + jnp.sum(jnp.sin(p["b"]))
    g = jg.numerical_gradient(loss, scheme="richardson")(params)
    np.testing.assert_allclose(g["a"], 3 * params["a"] ** 2, rtol=1e-10)
    np.testing.assert_allclose(g["b"], np.cos(0.5) * np.ones((1, 1)), rtol=1e-10)
    n = 3000  # forces several lax.map batches: batch * n is capped
    x = jnp.linspace(-1, 1, n)
    f = lambda p: jnp.sum(jnp.cos(p))
    # rounding bound eps * |f| / h with |f| ~ 2500 and h ~ eps^(1/3): about 1e-7
    bound = 4 * np.finfo(np.float64).eps * float(f(x)) / np.finfo(np.float64).eps ** (1 / 3)
    np.testing.assert_allclose(jg.numerical_gradient(f)(x), -jnp.sin(x), atol=bound)


def test_float32_default_step_is_dtype_aware():
    f = lambda p: p[0] ** 2 * p[1] + jnp.exp(p[0] * p[1])
    x = jnp.asarray([1.0, 2.0], jnp.float32)
    g = jg.numerical_gradient(f)(x)
    assert g.dtype == jnp.float32
    exact = np.array([2 * 2 + 2 * np.exp(2), 1 + np.exp(2)])
    assert rel_err(g, exact) < 1e-3  # eps32^(2/3) ~ 2e-5 times the function's scale


def test_numerical_derivatives_compile_once_and_compose_with_jit_and_vmap():
    traces = []

    def f(p):
        traces.append(None)  # runs once per trace, not per call
        return jnp.sum(jnp.sin(p) * p[::-1])

    exact = jg.grad(f)
    x = jnp.asarray([0.3, -0.8, 1.5])
    num = jg.numerical_gradient(f, scheme="richardson")
    assert num is jg.numerical_gradient(f, scheme="richardson")  # memoised: one compilation
    first, expected = num(x), exact(x + 1)
    n_traces = len(traces)
    np.testing.assert_allclose(num(x + 1), expected, rtol=1e-9)
    assert len(traces) == n_traces  # the second eager call reuses the compiled program
    # staged into a caller's jit, with the point traced or closed over, and under vmap
    np.testing.assert_allclose(jax.jit(num)(x), first, rtol=1e-12)
    np.testing.assert_allclose(jax.jit(lambda s: s * num(x))(2.0), 2 * first, rtol=1e-12)
    xs = jnp.stack([x, -x, 2 * x])
    np.testing.assert_allclose(jax.vmap(num)(xs), jax.vmap(exact)(xs), rtol=1e-9)
    H = jax.jit(jg.numerical_hessian(f))(x)
    np.testing.assert_allclose(H, jg.hessian(f)(x), rtol=1e-5, atol=1e-6)
    # an array step cannot be a cache key: the function is built afresh, and still right
    np.testing.assert_allclose(jg.numerical_gradient(f, step=jnp.full(3, 1e-5))(x), exact(x), rtol=1e-8)


def test_unknown_compiler_option_is_dropped(monkeypatch):
    from jaxgrad.calculus import numerical

    monkeypatch.setattr(numerical, "XLA_OPTIONS", {"xla_no_such_option_in_any_jaxlib": ""})
    numerical.compiler_options.memo.clear()
    try:
        assert numerical.compiler_options() is None
        num = numerical.compiled(jg.numerical_gradient(lambda p: p[0] ** 2 * p[1]).__wrapped__)
        np.testing.assert_allclose(num(jnp.asarray([1.0, 2.0])), [4.0, 1.0], rtol=1e-9)
    finally:
        numerical.compiler_options.memo.clear()


@pytest.mark.parametrize("bad", ["sideways", "CENTRAL"])
def test_unknown_scheme(bad):
    with pytest.raises(ValueError, match="scheme must be one of"):
        jg.numerical_gradient(lambda p: p @ p, scheme=bad)


# --- check_gradient -------------------------------------------------------------------


@jax.custom_vjp
def wrong_square_sum(p):
    return jnp.sum(p**2)


def _fwd(p):
    return wrong_square_sum(p), p


def _bwd(p, ct):
    g = 2 * p
    return (ct * g.at[1].add(1e-3 * jnp.abs(g[1]) + 1e-3),)  # a planted error in coordinate 1


wrong_square_sum.defvjp(_fwd, _bwd)


def test_check_gradient_catches_planted_error():
    x = jnp.asarray([0.5, -1.5, 2.0])
    report = jg.check_gradient(wrong_square_sum, x)
    assert not report.ok
    assert report.worst == "x[1]" and report.worst_index == 1
    assert report.max_abs_error == pytest.approx(1e-3 * 3.0 + 1e-3, rel=1e-5)
    assert "FAILED" in str(report)


def test_check_gradient_passes_right_gradient_in_both_precisions():
    f = lambda p: jnp.sum(jnp.sin(p) * jnp.exp(p / 3))
    x64 = jnp.asarray([0.5, -1.5, 2.0])
    for x in (x64, x64.astype(jnp.float32)):
        report = jg.check_gradient(f, x)
        assert report.ok, str(report)
        assert report.max_abs_error < report.atol


def test_check_gradient_names_pytree_leaf_of_worst_entry():
    params = {"w": jnp.asarray([[1.0, 2.0], [3.0, 4.0]]), "b": jnp.asarray([0.1])}
    loss = lambda p: jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2)

    def bad_grad(p):
        g = jax.grad(loss)(p)
        return {"w": g["w"].at[1, 0].add(0.5), "b": g["b"]}

    report = jg.check_gradient(loss, params, grad_fn=bad_grad)
    assert not report.ok
    assert report.worst == "['w'][1, 0]"
    assert report.max_abs_error == pytest.approx(0.5, rel=1e-6)
