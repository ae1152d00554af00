"""The source material's small tanh network as a jaxgrad Problem (a user-problem example).

A 2-2-1 network ``y = W2 tanh(W1 x + b1) + b2`` with its nine parameters flattened as
in the seeds (``W1`` row-major, ``b1``, ``W2``, ``b2``), trained on squared error.
The seeds use one input ``x = (1, 2)`` with target 0.5; ``points`` adds more inputs
on a line so the loss has a unique-ish minimum to find.
"""

import jax
import jax.numpy as jnp

from jaxgrad.problems import Problem


def net(params, x):
    W1 = params[:4].reshape(2, 2)
    b1, W2, b2 = params[4:6], params[6:8], params[8]
    return jnp.tanh(x @ W1.T + b1[None, :]) @ W2 + b2  # (n, 2) + (1, 2): explicit, as rank promotion wants


def objective(params, data):
    inputs, targets = data
    return jnp.mean((net(params, inputs) - targets) ** 2)


def make(points: int = 1, scale: float = 0.1):
    """The seeds' network: ``points = 1`` is their single example, more add a smooth target."""
    t = jnp.linspace(-1.0, 1.0, points) if points > 1 else jnp.zeros(1)
    inputs = jnp.stack([1.0 + t, 2.0 - t], axis=1)
    targets = 0.5 + 0.4 * jnp.sin(2.0 * t)
    return Problem("seeds_tanh_net", objective, init_fn=lambda key: scale * jax.random.normal(key, (9,)),
                   data=(inputs, targets), minimum=0.0 if points <= 9 else None, kind="regression")
