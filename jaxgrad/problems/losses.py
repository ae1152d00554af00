"""Output losses: ``(outputs, targets) -> scalar``, each the mean over examples of a negative
log-likelihood, tagged with the distribution it implies (what the Fisher and its Monte Carlo
estimate need).

* :func:`mse`: ``mean((outputs - y)**2)`` over every element (no 1/2); a Gaussian with
  variance ``C / 2`` per output (C outputs per example), whose Fisher is the GGN.
* :func:`cross_entropy`: softmax cross entropy of logits ``(N, C)`` against integer labels
  ``(N,)`` or one-hot targets ``(N, C)``; categorical.
* :func:`binary_cross_entropy`: of one logit per example (``(N,)`` or ``(N, 1)``) against
  0/1 targets; Bernoulli.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["mse", "cross_entropy", "binary_cross_entropy", "LOSSES", "family", "sample_targets"]


def mse(outputs, targets):
    targets = jnp.reshape(targets, outputs.shape) if targets.size == outputs.size else targets
    return jnp.mean((outputs - targets) ** 2)


def cross_entropy(logits, targets):
    if targets.ndim == logits.ndim:  # one-hot (or probabilities)
        return -jnp.mean(jnp.sum(targets * jax.nn.log_softmax(logits), axis=-1))
    labels = targets.astype(jnp.int32)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=-1))


def binary_cross_entropy(logits, targets):
    z = jnp.reshape(logits, (logits.shape[0], -1))[:, 0]
    t = jnp.reshape(targets, (targets.shape[0], -1))[:, 0].astype(z.dtype)
    return jnp.mean(jax.nn.softplus(z) - t * z)


mse.family, cross_entropy.family, binary_cross_entropy.family = "gaussian", "categorical", "bernoulli"
LOSSES = {"mse": mse, "cross_entropy": cross_entropy}


def family(output_loss) -> str | None:
    """The distribution an output loss implies, or ``None`` for a user's own loss."""
    return getattr(output_loss, "family", None)


def sample_targets(output_loss, outputs, key, num_samples: int):
    """``num_samples`` draws of the targets from the predictive distribution at ``outputs``
    (leading axis ``num_samples``), shaped as the loss consumes them."""
    kind = family(output_loss)
    shape = (num_samples,) + outputs.shape
    if kind == "gaussian":  # N(o, C/2): the likelihood whose negative log is the mean square error
        scale = jnp.sqrt(jnp.asarray(outputs[0].size / 2.0, outputs.dtype))
        return outputs + scale * jax.random.normal(key, shape, outputs.dtype)
    if kind == "categorical":
        return jax.random.categorical(key, outputs, axis=-1, shape=(num_samples,) + outputs.shape[:-1])
    if kind == "bernoulli":
        p = jax.nn.sigmoid(outputs)
        return jax.random.bernoulli(key, p, shape).astype(outputs.dtype)
    raise ValueError(f"no predictive distribution for {output_loss!r}")
