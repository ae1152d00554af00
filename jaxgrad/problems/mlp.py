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
    h = inputs
    for layer in params[:-1]:
        h = activation(_affine(h, layer))
    return _affine(h, params[-1])[..., 0]


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
    task: str = "regression",
    n: int = 256,
    noise: float = 0.1,
    key=0,
) -> Problem:
    """A small MLP; the default is learnable (500 Adam steps at 1e-2 cut its loss 10x or more).

    Args:
      widths: layer widths from input to output; default ``(1, 32, 32, 1)`` for
        regression, ``(2, 32, 32, 1)`` for classification. The output width is 1.
      activation: one of tanh, relu, gelu, softplus, sigmoid.
      task: ``"regression"`` (``y = sin x + 0.3 sin 3x + noise`` on ``[-π, π]``, mean
        squared error) or ``"classification"`` (two moons, binary cross-entropy on
        logits).
    """
    check(task in TASKS, f"task must be one of {', '.join(TASKS)}, got {task!r}")
    check(activation in ACTIVATIONS, f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    n_in = 1 if task == "regression" else 2
    widths = tuple(int(w) for w in (widths or (n_in, 32, 32, 1)))
    check(len(widths) >= 2 and all(w >= 1 for w in widths), f"widths must be >= 2 positive sizes, got {widths}")
    check(widths[0] == n_in, f"widths[0] must be {n_in} for task {task!r}, got {widths[0]}")
    check(widths[-1] == 1, f"the last width must be 1, got {widths[-1]}")
    check(int(n) == n and n >= 4, f"n must be an integer >= 4, got {n}")
    n = int(n)
    dtype = jnp.result_type(float)
    k_data, k_noise = jax.random.split(as_key(key))
    if task == "regression":
        X = np.asarray(jax.random.uniform(k_data, (n, 1), jnp.float32, -math.pi, math.pi), np.float64)
        y = _smooth_target(X[:, 0]) + noise * np.asarray(jax.random.normal(k_noise, (n,), jnp.float32), np.float64)
    else:
        X, y = _two_moons(k_data, n, noise)
    act = ACTIVATIONS[activation]

    def init(key):
        keys = jax.random.split(key, len(widths) - 1)
        return tuple(
            {"w": jax.random.normal(k, (a, b), dtype) / math.sqrt(a), "b": jnp.zeros((b,), dtype)}
            for k, a, b in zip(keys, widths[:-1], widths[1:])
        )

    def predict(params, inputs):
        out = forward(params, inputs, act)
        return out if task == "regression" else jax.nn.sigmoid(out)

    def objective(params, data):
        inputs, targets = data
        out = forward(params, inputs, act)
        if task == "regression":
            return jnp.mean((out - targets) ** 2)
        return jnp.mean(jax.nn.softplus(out) - targets * out)

    return Problem(
        name="mlp",
        objective=objective,
        init_fn=init,
        data=(jnp.asarray(X, dtype), jnp.asarray(y, dtype)),
        kind="regression" if task == "regression" else "classification",
        predict=predict,
    )
