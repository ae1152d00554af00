"""Linear and logistic regression on synthetic data drawn from a key, or on the user's data.

With ``data = "file.csv"`` (or ``.npz``, or ``"sklearn:NAME"``; see :mod:`jaxgrad.problems.data`)
the problem fits that table instead: ``target`` and ``features`` choose the columns,
``standardize`` scales the inputs by the training rows' statistics, and
``test_fraction`` holds out a seeded share of the rows (``key`` seeds the split) whose
loss is recorded at every step.

Parameters are ``{"w": (features,), "b": ()}``. The losses are the seeds':
linear regression's is the mean squared error :math:`\\frac1n\\sum_i (w\\cdot x_i + b - y_i)^2`
(no 1/2, no penalty); logistic regression's is the mean binary cross-entropy,
computed stably as :math:`\\mathrm{softplus}(z) - yz` with :math:`z = w\\cdot x + b`.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgrad.problems import data as _data
from jaxgrad.problems import losses
from jaxgrad.problems._problem import Problem, as_key, check, register

__all__ = ["linear_regression", "logistic_regression", "no_data_options", "from_file"]


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
    check(n * features <= MAX_ELEMENTS, f"n x features must be at most {MAX_ELEMENTS:,} (the synthetic data), "
                                        f"got {n:,} x {features:,}")
    return int(n), int(features)


MAX_ELEMENTS = 50_000_000


def _problem(name: str, objective, X, y, theta: np.ndarray | None, minimum: float | None, kind: str, predict,
             test=None, source=None, output_loss=None) -> Problem:
    """A regression Problem from its data and its optimum ``theta = (w..., b)`` (float64), if known."""
    features = X.shape[1]
    argmin = None if theta is None else {"b": jnp.asarray(theta[-1], _dtype()), "w": jnp.asarray(theta[:-1], _dtype())}
    as_data = lambda X, y: (jnp.asarray(X, _dtype()), jnp.asarray(y, _dtype()))  # noqa: E731
    test_data = None if test is None else as_data(*test)
    return Problem(
        name=name,
        objective=objective,
        init_fn=_init(features),
        data=as_data(X, y),
        minimum=minimum,
        argmin=argmin,
        minimizers=() if argmin is None else (argmin,),
        bounds=None if argmin is None else _bounds(argmin, features),
        kind=kind,
        predict=predict,
        test_data=test_data,
        metrics=_metrics(objective, kind, test_data is not None),
        source=source,
        output_loss=output_loss,
    )


def _metrics(objective, kind: str, has_test: bool):
    """The test loss (with a split) and, for classification, the accuracy of train (and test)."""
    if not has_test and kind != "classification":
        return None

    def metrics(params, data, test_data):
        out = {}
        if has_test:
            out["test_loss"] = objective(params, test_data)
        if kind == "classification":
            out["accuracy"] = _accuracy(params, data)
            if has_test:
                out["test_accuracy"] = _accuracy(params, test_data)
        return out

    return metrics


def _accuracy(params, data):
    inputs, targets = data
    return jnp.mean(((_linear(params, inputs) > 0) == (targets > 0.5)).astype(inputs.dtype))


def from_file(data, target, features, standardize, test_fraction, key):
    """``(X_train, y_train, (X_test, y_test) or None, source)`` from a data source (float64 NumPy)."""
    check(features is None or isinstance(features, (list, tuple)),
          f"features must be a list of column names with data, got {features!r}")
    check(isinstance(standardize, bool), f"standardize must be true or false, got {standardize!r}")
    table = _data.load(data, target=target, features=None if features is None else list(features))
    seed = int(key) if isinstance(key, (int, np.integer)) else 0
    train, test = _data.split(table.X.shape[0], test_fraction, seed)
    X, y = table.X[train], table.y[train]
    X_test, y_test = table.X[test], table.y[test]
    if standardize:
        X, X_test = _data.standardize(X, X_test)
    source = {"data": table.source, **table.origin, "rows": int(table.X.shape[0]), "train_rows": int(len(train)),
              "test_rows": int(len(test)), "features": list(table.feature_names), "target": table.target_name,
              "standardize": standardize}
    return X, y, ((X_test, y_test) if len(test) else None), source


def no_data_options(data, target, standardize, test_fraction):
    check(data is not None or (target is None and not standardize and not test_fraction),
          "target, standardize and test_fraction need data = \"file.csv\"", "data")


def _bounds(argmin, features: int):
    if features != 1:
        return None
    w, b = float(argmin["w"][0]), float(argmin["b"])
    half = max(3.0, 2.0 * abs(w), 2.0 * abs(b))
    return ((w - half, w + half), (b - half, b + half))


@register
def linear_regression(n: int = 100, features: int | Sequence[str] = 1, noise: float = 0.5, coef_scale: float = 2.0,
                      key: int | jax.Array = 0, data: str | None = None, target: str | None = None, standardize: bool = False,
                      test_fraction: float = 0.0) -> Problem:
    """Least squares on ``y = X w* + b* + noise * ε`` with ``X ~ N(0, 1)``, or on a data file.

    ``minimum`` and ``argmin`` are the exact least-squares solution (NumPy ``lstsq`` in
    float64 on the same (training) data). With ``data``, ``features`` is a list of
    column names (default: all but the target) and ``n``, ``noise``, ``coef_scale``
    are unused.
    """
    test, source = None, None
    if data is not None:
        X, y, test, source = from_file(data, target, None if isinstance(features, int) else features,
                                       standardize, test_fraction, key)
        n = X.shape[0]
    else:
        no_data_options(data, target, standardize, test_fraction)
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

    return _problem("linear_regression", objective, X, y, coef, minimum, "regression", _linear, test, source,
                    losses.mse)


def _newton_logistic(X: np.ndarray, y: np.ndarray, l2: float, steps: int = 100) -> np.ndarray | None:
    """The optimum by Newton's method (IRLS) in float64 NumPy: a reference independent of JAX.

    ``None`` when it does not converge (separable data without ``l2``).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # separable data: theta runs off
        return _irls(X, y, l2, steps)


def _irls(X, y, l2, steps):
    n, d = X.shape
    A = np.concatenate([X, np.ones((n, 1))], axis=1)
    theta = np.zeros(d + 1)
    reg = np.diag([l2] * d + [0.0])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(A @ theta)))
        g = A.T @ (p - y) / n + reg @ theta
        H = (A * (p * (1 - p))[:, None]).T @ A / n + reg
        try:
            theta = theta - np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return None
        if np.max(np.abs(g)) < 1e-15:
            break
    p = 1.0 / (1.0 + np.exp(-(A @ theta)))
    g = A.T @ (p - y) / n + reg @ theta
    return theta if np.all(np.isfinite(theta)) and np.max(np.abs(g)) < 1e-8 else None


@register
def logistic_regression(n: int = 200, features: int | Sequence[str] = 2, l2: float = 0.0, key: int | jax.Array = 0,
                        data: str | None = None,
                        target: str | None = None, standardize: bool = False, test_fraction: float = 0.0) -> Problem:
    """Binary classification with labels drawn from ``Bernoulli(sigmoid(X w* + b*))``, or a data file.

    Labels are sampled, not thresholded, so the classes overlap and the optimum is
    finite. Loss: mean binary cross-entropy plus ``l2 / 2 * |w|²``. ``minimum`` and
    ``argmin`` come from Newton's method (IRLS) in float64 NumPy; for a data file
    they are kept only when IRLS converges (separable data has no finite optimum
    without ``l2``). A file's targets must be 0 and 1.
    """
    check(isinstance(l2, (int, float)) and not isinstance(l2, bool) and l2 >= 0,
          f"l2 must be a non-negative number, got {l2!r}")
    test, source = None, None
    if data is not None:
        X, y, test, source = from_file(data, target, None if isinstance(features, int) else features,
                                       standardize, test_fraction, key)
        labels = np.unique(np.concatenate([y] + ([test[1]] if test else [])))
        check(set(labels.tolist()) <= {0.0, 1.0}, f"{data}: logistic_regression needs 0/1 targets, got values "
                                                  f"{', '.join(f'{v:g}' for v in labels[:5])}", "data")
        check(0 < y.sum() < len(y), f"{data}: the training targets are all one class", "data")
    else:
        no_data_options(data, target, standardize, test_fraction)
        n, features = _sizes(n, features)
        kx, kw, kb, ky = jax.random.split(as_key(key), 4)
        X = np.asarray(jax.random.normal(kx, (n, features), jnp.float32), np.float64)
        w_true = 2.0 * np.asarray(jax.random.normal(kw, (features,), jnp.float32), np.float64)
        b_true = 0.5 * float(jax.random.normal(kb, (), jnp.float32))
        prob = 1.0 / (1.0 + np.exp(-(X @ w_true + b_true)))
        y = (np.asarray(jax.random.uniform(ky, (n,), jnp.float32), np.float64) < prob).astype(np.float64)
        check(0 < y.sum() < n, "the sampled labels are all one class; choose another key or a larger n", "key")
    theta = _newton_logistic(X, y, l2)
    minimum = None
    if theta is not None:
        z = X @ theta[:-1] + theta[-1]
        minimum = float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * theta[:-1] @ theta[:-1])

    def objective(params, data):
        inputs, targets = data
        z = _linear(params, inputs)
        return jnp.mean(jax.nn.softplus(z) - targets * z) + 0.5 * l2 * jnp.sum(params["w"] ** 2)

    # predict gives the logit (what the output loss consumes); the l2 penalty is not a function
    # of the outputs, so with one there is no output loss (the GGN and Fisher refuse the problem)
    return _problem("logistic_regression", objective, X, y, theta, minimum, "classification", _linear, test, source,
                    losses.binary_cross_entropy if l2 == 0 else None)
