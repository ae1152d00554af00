"""Problems: every optimum verified, the quadratic's conditioning, data, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from jaxgrad import problems
from jaxgrad.errors import InputError

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

POINT_FUNCTIONS = ["quadratic", "rosenbrock", "himmelblau", "beale", "booth", "matyas", "six_hump_camel", "rastrigin"]


@pytest.mark.parametrize("name", POINT_FUNCTIONS)
def test_every_listed_optimum_is_a_minimum(name):
    p = problems.make(name)
    f = jax.jit(p.loss)
    for xstar in p.minimizers:
        xstar = jnp.asarray(xstar, jnp.float64)
        assert abs(float(f(xstar)) - p.minimum) < 1e-12
        assert float(jnp.linalg.norm(jax.grad(f)(xstar))) < 1e-7
        assert np.min(np.linalg.eigvalsh(np.asarray(jax.hessian(f)(xstar)))) > -1e-8
        # an outside solver started nearby lands on the same point
        start = np.asarray(xstar) + 0.05
        ref = scipy.optimize.minimize(lambda v: float(f(jnp.asarray(v))), start,
                                      jac=lambda v: np.asarray(jax.grad(f)(jnp.asarray(v))),
                                      method="BFGS", options={"gtol": 1e-10})
        np.testing.assert_allclose(ref.x, xstar, atol=1e-6)


def test_ackley_minimum_is_the_cone_tip():
    p = problems.make("ackley", dim=3)
    f = jax.jit(p.loss)
    assert abs(float(f(jnp.zeros(3)))) < 1e-14
    rng = np.random.default_rng(0)
    nearby = jnp.asarray(rng.normal(size=(200, 3)) * 1e-3)
    assert float(jnp.min(jax.vmap(f)(nearby))) > 0


def test_six_hump_camel_value_against_closed_form():
    p = problems.make("six_hump_camel")
    x, y = 0.08984201368301331, -0.7126564032704135
    assert float(p.loss(jnp.asarray([x, y]))) == pytest.approx((4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2, rel=1e-15)


@pytest.mark.parametrize("kappa", [1.0, 10.0, 1000.0])
def test_quadratic_condition_number_is_honoured(kappa):
    p = problems.make("quadratic", dim=6, condition_number=kappa, key=3)
    H = np.asarray(jax.hessian(p.loss)(jnp.zeros(6)))
    lam = np.linalg.eigvalsh(H)
    np.testing.assert_allclose(lam, np.logspace(0, np.log10(kappa), 6), rtol=1e-10)
    assert lam[-1] / lam[0] == pytest.approx(kappa, rel=1e-10)


def test_linear_regression_minimum_is_least_squares():
    p = problems.make("linear_regression", n=50, features=3, key=2)
    X, y = (np.asarray(a) for a in p.data)
    A = np.concatenate([X, np.ones((50, 1))], axis=1)
    theta = np.linalg.solve(A.T @ A, A.T @ y)  # normal equations, independently of lstsq
    np.testing.assert_allclose(p.argmin["w"], theta[:3], rtol=1e-10)
    np.testing.assert_allclose(p.argmin["b"], theta[3], rtol=1e-10)
    assert p.minimum == pytest.approx(np.mean((A @ theta - y) ** 2), rel=1e-12)
    assert float(jnp.linalg.norm(jax.flatten_util.ravel_pytree(jax.grad(p.loss)(p.argmin))[0])) < 1e-10


def test_linear_regression_loss_is_the_seeds_mse():
    p = problems.make("linear_regression")
    X, y = (np.asarray(a) for a in p.data)
    params = {"w": jnp.asarray([0.5]), "b": jnp.asarray(-0.25)}
    assert float(p.loss(params)) == pytest.approx(np.mean((X[:, 0] * 0.5 - 0.25 - y) ** 2), rel=1e-13)


def test_logistic_regression_is_not_separable_and_its_minimum_is_scipy_s():
    p = problems.make("logistic_regression", n=150, features=2, l2=0.01, key=5)
    X, y = (np.asarray(a) for a in p.data)
    assert 0 < y.mean() < 1

    def bce(theta):
        z = X @ theta[:2] + theta[2]
        return np.mean(np.logaddexp(0, z) - y * z) + 0.005 * theta[:2] @ theta[:2]

    ref = scipy.optimize.minimize(bce, np.zeros(3), method="BFGS", options={"gtol": 1e-12})
    assert p.minimum == pytest.approx(ref.fun, rel=1e-10)
    np.testing.assert_allclose(np.append(p.argmin["w"], p.argmin["b"]), ref.x, atol=1e-6)
    # the stable log-sigmoid form equals the textbook BCE where the latter is finite
    params = {"w": jnp.asarray([0.3, -0.2]), "b": jnp.asarray(0.1)}
    z = X @ np.array([0.3, -0.2]) + 0.1
    s = 1 / (1 + np.exp(-z))
    textbook = -np.mean(y * np.log(s) + (1 - y) * np.log(1 - s)) + 0.005 * 0.13
    assert float(p.loss(params)) == pytest.approx(textbook, rel=1e-12)


def test_mlp_params_are_a_pytree_and_data_is_deterministic():
    a, b = problems.make("mlp", key=1), problems.make("mlp", key=1)
    np.testing.assert_array_equal(a.data[0], b.data[0])
    params = a.init(jax.random.PRNGKey(0))
    assert [layer["w"].shape for layer in params] == [(1, 32), (32, 32), (32, 1)]
    c = problems.make("mlp", task="classification")
    assert c.data[0].shape == (256, 2) and set(np.unique(np.asarray(c.data[1]))) == {0.0, 1.0}


def test_batch_loss_is_deterministic_in_its_key():
    p = problems.make("linear_regression", n=64)
    params = p.init(jax.random.PRNGKey(0))
    k = jax.random.PRNGKey(7)
    assert float(p.batch_loss(params, k, 3, 8)) == float(p.batch_loss(params, k, 3, 8))
    assert float(p.batch_loss(params, k, 3, 8)) != float(p.batch_loss(params, jax.random.PRNGKey(8), 3, 8))
    # a batch as large as the data set is every row once: the full loss
    assert float(p.batch_loss(params, k, 5, 64)) == pytest.approx(float(p.loss(params)), rel=1e-12)


def test_expression_problem():
    p = problems.make("expression", expr="(1-x)^2 + 100*(y-x^2)^2", init=[-1.2, 1.0])
    assert float(p.loss(p.init(jax.random.PRNGKey(0)))) == pytest.approx(24.2)
    assert p.bounds is not None


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("rosenbrok", {}, "did you mean 'rosenbrock'"),
        ("quadratic", {"condtion_number": 3}, "did you mean 'condition_number'"),
        ("quadratic", {"condition_number": 0.5}, "condition_number must be at least 1"),
        ("rosenbrock", {"dim": 1}, "dim must be an integer >= 2"),
        ("mlp", {"task": "ranking"}, "task must be one of"),
        ("mlp", {"widths": [3, 8, 1]}, r"widths\[0\] must be 1"),
        ("expression", {}, "needs expr"),
        ("expression", {"expr": "x+y", "init": [1.0]}, "init must have 2 entries"),
        ("expression", {"expr": "open(1)", "init": [1.0]}, "unknown function 'open'"),
    ],
)
def test_problem_errors(name, kwargs, message):
    with pytest.raises(InputError, match=message):
        problems.make(name, **kwargs)
