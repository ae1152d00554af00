"""A small multilayer perceptron on synthetic data: a smooth 1-D regression or two moons.

Parameters are a tuple of layers ``{"w": (n_in, n_out), "b": (n_out,)}`` (a pytree),
initialised LeCun-normal from a key.
"""

from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgrad.problems import losses
from jaxgrad.problems._problem import Problem, as_key, check, register

__all__ = ["mlp", "ACTIVATIONS"]

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
}
TASKS = ("regression", "classification")


def _affine(h, layer):
    b = layer["b"]
    return h @ layer["w"] + b.reshape((1,) * (h.ndim - 1) + b.shape)  # explicit batch broadcast


def forward(params, inputs, activation):
    """The network's output: ``(n,)`` for one output unit, ``(n, classes)`` for several."""
    h = inputs
    for layer in params[:-1]:
        h = activation(_affine(h, layer))
    out = _affine(h, params[-1])
    return out[..., 0] if out.shape[-1] == 1 else out


def _smooth_target(x):
    return np.sin(x) + 0.3 * np.sin(3 * x)


def _two_moons(key, n: int, noise: float):
    k_t, k_e = jax.random.split(key)
    t = np.asarray(jax.random.uniform(k_t, (n,), jnp.float32), np.float64) * math.pi
    half = n // 2
    upper = np.stack([np.cos(t[:half]), np.sin(t[:half])], axis=1)
    lower = np.stack([1 - np.cos(t[half:]), 0.5 - np.sin(t[half:])], axis=1)
    X = np.concatenate([upper, lower]) + noise * np.asarray(jax.random.normal(k_e, (n, 2), jnp.float32), np.float64)
    y = np.concatenate([np.zeros(half), np.ones(n - half)])
    return X - X.mean(0), y


@register
def mlp(
    widths: Sequence[int] | None = None,
    activation: str = "tanh",
    task: str | None = None,
    n: int = 256,
    noise: float = 0.1,
    key: int | jax.Array = 0,
    data: str | None = None,
    target: str | None = None,
    features: Sequence[str] | None = None,
    standardize: bool = False,
    test_fraction: float = 0.0,
) -> Problem:
    """A small MLP; the default is learnable (500 Adam steps at 1e-2 cut its loss 10x or more).

    Args:
      widths: layer widths from input to output; default ``(inputs, 32, 32, outputs)``
        (``(1, 32, 32, 1)`` for the default regression).
      activation: one of tanh, relu, gelu, softplus, sigmoid.
      task: ``"regression"`` (synthetic: ``y = sin x + 0.3 sin 3x + noise`` on
        ``[-π, π]``, mean squared error) or ``"classification"`` (synthetic: two
        moons; binary cross-entropy on one logit, or softmax cross-entropy over
        ``classes`` logits when the targets are the integers ``0..classes-1`` with
        ``classes > 2``). Default: regression, or for a data file, classification
        when every target is a small non-negative integer (at most 20 classes).
      data, target, features, standardize, test_fraction: a data file, as for
        :func:`~jaxgrad.problems.regression.linear_regression`; then ``n`` and
        ``noise`` are unused and ``key`` seeds the split.
    """
    from jaxgrad.problems.regression import from_file, no_data_options

    check(task is None or task in TASKS, f"task must be one of {', '.join(TASKS)}, got {task!r}")
    check(activation in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    test = source = None
    if data is not None:
        X, y, test, source = from_file(data, target, features, standardize, test_fraction, key)
        all_y = np.concatenate([y] + ([test[1]] if test else []))
        integral = bool(np.all(all_y == np.round(all_y)) and all_y.min() >= 0 and all_y.max() < 20)
        task = task or ("classification" if integral else "regression")
        if task == "classification":
            check(integral, f"{data}: classification needs integer class labels 0, 1, ..., got {all_y[:3]}", "data")
        classes = int(all_y.max()) + 1 if task == "classification" else 1
    else:
        no_data_options(data, target, standardize, test_fraction)
        check(features is None, "features (column names) need data = \"file.csv\"")
        task = task or "regression"
        check(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and 4 <= n <= 50_000_000,
              f"n must be an integer from 4 to 50,000,000, got {n!r}")
        n = int(n)
        k_data, k_noise = jax.random.split(as_key(key))
        if task == "regression":
            X = np.asarray(jax.random.uniform(k_data, (n, 1), jnp.float32, -math.pi, math.pi), np.float64)
            y = _smooth_target(X[:, 0]) + noise * np.asarray(jax.random.normal(k_noise, (n,), jnp.float32), np.float64)
        else:
            X, y = _two_moons(k_data, n, noise)
        classes = 2 if task == "classification" else 1
    n_in, n_out = X.shape[1], (classes if classes > 2 else 1)
    widths = tuple(int(w) for w in (widths or (n_in, 32, 32, n_out)))
    check(len(widths) >= 2 and all(w >= 1 for w in widths), f"widths must be >= 2 positive sizes, got {widths}")
    check(widths[0] == n_in, f"widths[0] must be {n_in} (the inputs), got {widths[0]}")
    check(widths[-1] == n_out, f"the last width must be {n_out} ({'classes' if n_out > 1 else 'one output'}), "
                               f"got {widths[-1]}", "widths")
    dtype = jnp.result_type(float)
    act = ACTIVATIONS[activation]

    def init(key):
        keys = jax.random.split(key, len(widths) - 1)
        return tuple(
            {"w": jax.random.normal(k, (a, b), dtype) / math.sqrt(a), "b": jnp.zeros((b,), dtype)}
            for k, a, b in zip(keys, widths[:-1], widths[1:])
        )

    def predict(params, inputs):  # raw outputs: logits for classification (what output_loss consumes)
        return forward(params, inputs, act)

    def objective(params, data):
        inputs, targets = data
        out = forward(params, inputs, act)
        if task == "regression":
            return jnp.mean((out - targets) ** 2)
        if n_out > 1:  # softmax cross-entropy
            labels = targets.astype(jnp.int32)
            return jnp.mean(jax.nn.logsumexp(out, axis=-1) - jnp.take_along_axis(out, labels[:, None], axis=-1)[:, 0])
        return jnp.mean(jax.nn.softplus(out) - targets * out)

    def accuracy(params, data):
        inputs, targets = data
        out = forward(params, inputs, act)
        guess = jnp.argmax(out, axis=-1) if n_out > 1 else (out > 0).astype(jnp.int32)
        return jnp.mean((guess == targets.astype(jnp.int32)).astype(inputs.dtype))

    metrics = None
    if task == "classification" or test is not None:
        def metrics(params, data, test_data):
            out = {}
            if test is not None:
                out["test_loss"] = objective(params, test_data)
            if task == "classification":
                out["accuracy"] = accuracy(params, data)
                if test is not None:
                    out["test_accuracy"] = accuracy(params, test_data)
            return out

    as_data = lambda X, y: (jnp.asarray(X, dtype), jnp.asarray(y, dtype))  # noqa: E731
    return Problem(
        name="mlp",
        objective=objective,
        init_fn=init,
        data=as_data(X, y),
        kind="regression" if task == "regression" else "classification",
        predict=predict,
        test_data=None if test is None else as_data(*test),
        metrics=metrics,
        source=source,
        output_loss=(losses.mse if task == "regression" else
                     losses.cross_entropy if n_out > 1 else losses.binary_cross_entropy),
    )
