"""jaxgrad.pictures.explore: what `jaxgrad check` reports at a point, against closed forms and sympy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgrad as jg
from jaxgrad.errors import InputError
from jaxgrad.pictures.explore import examine, symbolic_partials


def closed_forms(x, y):
    """f = x^2 y + e^{xy}: value, gradient, Hessian."""
    e = np.exp(x * y)
    g = np.array([2 * x * y + y * e, x * x + x * e])
    H = np.array([[2 * y + y * y * e, 2 * x + e * (1 + x * y)], [2 * x + e * (1 + x * y), x * x * e]])
    return x * x * y + e, g, H


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=pytest.mark.float64)])
def test_examine_matches_closed_forms(dtype):
    rtol = 1e-5 if dtype == "float32" else 1e-12
    f = jg.expression("x**2*y + exp(x*y)")
    x = jnp.asarray([0.7, -0.4], dtype)
    r = examine(f, x, direction=[3.0, 4.0])
    value, g, H = closed_forms(0.7, -0.4)
    np.testing.assert_allclose(float(r.value), value, rtol=rtol)
    np.testing.assert_allclose(r.gradient, g, rtol=rtol)
    np.testing.assert_allclose(r.hessian, H, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(r.eigenvalues, np.linalg.eigvalsh(H), rtol=10 * rtol, atol=10 * rtol)
    np.testing.assert_allclose(r.directional, g @ np.array([0.6, 0.8]), rtol=rtol)
    assert r.gradient.dtype == np.dtype(dtype) and r.gradient_check.ok
    lam = np.linalg.eigvalsh(H)
    assert r.kind == ("saddle" if lam[0] < 0 < lam[1] else "minimum" if lam[0] > 0 else "maximum")
    assert r.critical is False  # |grad| is far from zero here
    assert r.gradient_norm == pytest.approx(np.linalg.norm(g), rel=rtol)


@pytest.mark.parametrize("dtype", ["float32", pytest.param("float64", marks=pytest.mark.float64)])
def test_examine_finds_the_seeds_critical_points(dtype):
    # f = x^3 - 3x + y^2: a minimum at (1, 0), a saddle at (-1, 0) (H = diag(6x, 2))
    f = jg.expression("x**3 - 3*x + y**2")
    for point, kind in (((1.0, 0.0), "minimum"), ((-1.0, 0.0), "saddle")):
        r = examine(f, jnp.asarray(point, dtype))
        assert r.critical and r.kind == kind
        np.testing.assert_allclose(r.hessian, np.diag([6 * point[0], 2.0]), atol=1e-5)


def test_examine_a_vector_function_gives_its_jacobian():
    F = jg.expression("[x**2 + y, x*y]")
    r = examine(F, jnp.asarray([2.0, 3.0]), is_vector=True)
    np.testing.assert_allclose(r.value, [7.0, 6.0])
    np.testing.assert_allclose(r.jacobian, [[4.0, 1.0], [3.0, 2.0]], rtol=1e-6)
    assert r.jacobian_error < 1e-2 and r.hessian is None and r.kind is None


def test_examine_refuses_the_zero_direction():
    with pytest.raises(InputError, match="zero vector") as err:
        examine(jg.expression("x*y"), jnp.asarray([1.0, 1.0]), direction=[0.0, 0.0])
    assert err.value.field == "direction"


def test_symbolic_partials_agree_with_jax():
    sp = pytest.importorskip("sympy")
    f = jg.expression("x**2*y + exp(x*y)")
    point = np.array([0.5, 1.5])
    partials = symbolic_partials(f, point)
    assert [name for name, _, _ in partials] == ["x", "y"]
    g = np.asarray(jax.grad(lambda p: f(p))(jnp.asarray(point, jnp.float32)))
    for (name, formula, value), want, gi in zip(partials, closed_forms(0.5, 1.5)[1], g):
        assert value.imag == 0 and value.real == pytest.approx(want, rel=1e-12)
        assert gi == pytest.approx(want, rel=1e-5)
        x, y = sp.symbols("x y", real=True)
        assert float(sp.sympify(formula, locals={"x": x, "y": y}).subs({x: 0.5, y: 1.5})) == pytest.approx(want)
