"""Linear and logistic regression on synthetic data drawn from a key.

Parameters are ``{"w": (features,), "b": ()}``. The losses are the seeds':
linear regression's is the mean squared error :math:`\\frac1n\\sum_i (w\\cdot x_i + b - y_i)^2`
(no 1/2, no penalty); logistic regression's is the mean binary cross-entropy,
computed stably as :math:`\\mathrm{softplus}(z) - yz` with :math:`z = w\\cdot x + b`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgrad.problems._problem import Problem, as_key, check, register

__all__ = ["linear_regression", "logistic_regression"]


def _dtype():
    return jnp.result_type(float)


def _linear(params, inputs):
    return inputs @ params["w"] + params["b"]


def _init(features: int):
    def init(key):
        kw, kb = jax.random.split(key)
        return {"b": jax.random.normal(kb, (), _dtype()), "w": jax.random.normal(kw, (features,), _dtype())}

    return init


def _sizes(n, features) -> tuple[int, int]:
    check(int(n) == n and n >= 2, f"n must be an integer >= 2, got {n}")
    check(int(features) == features and features >= 1, f"features must be a positive integer, got {features}")
    return int(n), int(features)


def _problem(name: str, objective, X, y, theta: np.ndarray, minimum: float, kind: str, predict) -> Problem:
    """A regression Problem from its data and its optimum ``theta = (w..., b)`` (float64)."""
    features = X.shape[1]
    argmin = {"b": jnp.asarray(theta[-1], _dtype()), "w": jnp.asarray(theta[:-1], _dtype())}
    return Problem(
        name=name,
        objective=objective,
        init_fn=_init(features),
        data=(jnp.asarray(X, _dtype()), jnp.asarray(y, _dtype())),
        minimum=minimum,
        argmin=argmin,
        minimizers=(argmin,),
        bounds=_bounds(argmin, features),
        kind=kind,
        predict=predict,
    )


def _bounds(argmin, features: int):
    if features != 1:
        return None
    w, b = float(argmin["w"][0]), float(argmin["b"])
    half = max(3.0, 2.0 * abs(w), 2.0 * abs(b))
    return ((w - half, w + half), (b - half, b + half))


@register
def linear_regression(n: int = 100, features: int = 1, noise: float = 0.5, coef_scale: float = 2.0, key=0) -> Problem:
    """Least squares on ``y = X w* + b* + noise * ε`` with ``X ~ N(0, 1)``.

    ``minimum`` and ``argmin`` are the exact least-squares solution (NumPy ``lstsq`` in
    float64 on the same data).
    """
    n, features = _sizes(n, features)
    check(noise >= 0, f"noise must be non-negative, got {noise}")
    kx, kw, kb, ke = jax.random.split(as_key(key), 4)
    X = np.asarray(jax.random.normal(kx, (n, features), jnp.float32), np.float64)
    w_true = coef_scale * np.asarray(jax.random.normal(kw, (features,), jnp.float32), np.float64)
    b_true = float(jax.random.normal(kb, (), jnp.float32))
    y = X @ w_true + b_true + noise * np.asarray(jax.random.normal(ke, (n,), jnp.float32), np.float64)
    design = np.concatenate([X, np.ones((n, 1))], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    minimum = float(np.mean((design @ coef - y) ** 2))

    def objective(params, data):
        inputs, targets = data
        return jnp.mean((_linear(params, inputs) - targets) ** 2)

    return _problem("linear_regression", objective, X, y, coef, minimum, "regression", _linear)


def _newton_logistic(X: np.ndarray, y: np.ndarray, l2: float, steps: int = 50) -> np.ndarray:
    """The optimum by Newton's method (IRLS) in float64 NumPy: a reference independent of JAX."""
    n, d = X.shape
    A = np.concatenate([X, np.ones((n, 1))], axis=1)
    theta = np.zeros(d + 1)
    reg = np.diag([l2] * d + [0.0])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(A @ theta)))
        g = A.T @ (p - y) / n + reg @ theta
        H = (A * (p * (1 - p))[:, None]).T @ A / n + reg
        theta = theta - np.linalg.solve(H, g)
        if np.max(np.abs(g)) < 1e-15:
            break
    return theta


@register
def logistic_regression(n: int = 200, features: int = 2, l2: float = 0.0, key=0) -> Problem:
    """Binary classification with labels drawn from ``Bernoulli(sigmoid(X w* + b*))``.

    Labels are sampled, not thresholded, so the classes overlap and the optimum is
    finite. Loss: mean binary cross-entropy plus ``l2 / 2 * |w|²``. ``minimum`` and
    ``argmin`` come from Newton's method (IRLS) in float64 NumPy.
    """
    n, features = _sizes(n, features)
    check(l2 >= 0, f"l2 must be non-negative, got {l2}")
    kx, kw, kb, ky = jax.random.split(as_key(key), 4)
    X = np.asarray(jax.random.normal(kx, (n, features), jnp.float32), np.float64)
    w_true = 2.0 * np.asarray(jax.random.normal(kw, (features,), jnp.float32), np.float64)
    b_true = 0.5 * float(jax.random.normal(kb, (), jnp.float32))
    prob = 1.0 / (1.0 + np.exp(-(X @ w_true + b_true)))
    y = (np.asarray(jax.random.uniform(ky, (n,), jnp.float32), np.float64) < prob).astype(np.float64)
    check(0 < y.sum() < n, "the sampled labels are all one class; choose another key or a larger n")
    theta = _newton_logistic(X, y, l2)
    z = X @ theta[:-1] + theta[-1]
    minimum = float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * theta[:-1] @ theta[:-1])

    def objective(params, data):
        inputs, targets = data
        z = _linear(params, inputs)
        return jnp.mean(jax.nn.softplus(z) - targets * z) + 0.5 * l2 * jnp.sum(params["w"] ** 2)

    return _problem("logistic_regression", objective, X, y, theta, minimum, "classification",
                    lambda params, inputs: jax.nn.sigmoid(_linear(params, inputs)))
