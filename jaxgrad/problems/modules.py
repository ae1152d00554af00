"""The models users already write: a Flax NNX or an Equinox module as a :class:`Problem`.

``from_module(make_model, data, loss)`` splits the module into its trainable arrays (the
problem's parameters: ``nnx.Param`` state, or Equinox's ``eqx.is_inexact_array`` leaves)
and everything else (static: the graph definition, activation functions, shapes), so the
engine sees a pytree of arrays like any other problem: ``minimize``, ``sweep`` over
learning rates and seeds in one program, curvature and landscapes all work on it.
``problem.module(params)`` puts trained parameters back into a module.

Non-parameter state that training would have to update (NNX ``BatchStat`` from
``BatchNorm``, ``RngState`` from ``Dropout``) is refused with the variable's path: an
objective of the parameters alone cannot thread it. Use ``nnx.LayerNorm`` instead of
``BatchNorm``, and no dropout (deterministic losses are what an optimization lab
compares). Neither flax nor equinox is imported unless a module of theirs is given.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxgrad.errors import InputError
from jaxgrad.problems._problem import Problem
from jaxgrad.problems.losses import LOSSES

__all__ = ["from_module", "LOSSES"]




def _library(model) -> str:
    import sys

    if "flax" in sys.modules:
        from flax import nnx

        if isinstance(model, nnx.Module):
            return "nnx"
    if "equinox" in sys.modules:
        import equinox as eqx

        if isinstance(model, eqx.Module):
            return "equinox"
    raise InputError(f"make_model(key) must return a flax.nnx.Module or an equinox.Module, got "
                     f"{type(model).__module__}.{type(model).__name__}", field="make_model")


def _nnx_split(make_model):
    from flax import nnx

    model = make_model(jax.random.PRNGKey(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    for path, var in nnx.to_flat_state(rest):
        kind = type(var).__name__
        if isinstance(var, (nnx.BatchStat, nnx.RngState)):
            where = ".".join(str(p) for p in path)
            raise InputError(f"the module's {where} is {kind} state, which training would have to update; "
                             "an objective of the parameters alone cannot (use nnx.LayerNorm instead of BatchNorm, "
                             "and no Dropout)", field="make_model")

    def split(key):
        return nnx.split(make_model(key), nnx.Param, ...)[1]

    def rebuild(params):
        return nnx.merge(graphdef, params, rest)

    return params, split, rebuild


def _eqx_split(make_model):
    import equinox as eqx

    model = make_model(jax.random.PRNGKey(0))
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def split(key):
        return eqx.partition(make_model(key), eqx.is_inexact_array)[0]

    def rebuild(p):
        return eqx.combine(p, static)

    return params, split, rebuild


def from_module(make_model: Callable[[jax.Array], Any], data, loss: str | Callable = "mse", *,
                predict: Callable | None = None, name: str = "model", test_data=None) -> Problem:
    """A :class:`Problem` whose parameters are a Flax NNX or Equinox module's trainable arrays.

    Args:
      make_model: ``key -> module`` (an ``nnx.Module``, e.g. built with ``nnx.Rngs(key)``, or an
        ``eqx.Module``); seed ``s`` initialises with ``make_model(PRNGKey(s))``.
      data: ``(inputs, targets)``.
      loss: ``"mse"`` (mean of squared errors, no 1/2), ``"cross_entropy"`` (integer labels or
        one-hot targets; ``predict`` returns logits), or ``loss(outputs, targets) -> scalar``.
      predict: ``predict(model, inputs) -> outputs``; default ``model(inputs)`` (an Equinox
        model written per example: ``lambda m, x: jax.vmap(m)(x)``).
      name: the problem's name in tables and files.
      test_data: held-out ``(inputs, targets)``: the test loss (and accuracy) recorded per step.

    Returns:
      A problem with ``predict(params, inputs)``, ``output_loss(outputs, targets)`` and
      ``module(params)`` (the module with these parameters).

    Raises:
      InputError: not a module of either library, no trainable arrays, state that training
        would update (batch statistics, dropout keys), an unknown loss.
    """
    if not callable(make_model):
        raise InputError(f"make_model must be a function of a key, got {type(make_model).__name__}",
                         field="make_model")
    library = _library(make_model(jax.random.PRNGKey(0)))
    params, split, rebuild = (_nnx_split if library == "nnx" else _eqx_split)(make_model)
    if not jax.tree_util.tree_leaves(params):
        raise InputError(f"the {library} module has no trainable arrays: nothing to optimize", field="make_model")
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise InputError(f"loss must be 'mse', 'cross_entropy' or a function (outputs, targets) -> scalar, "
                             f"got {loss!r}", field="loss")
        output_loss = LOSSES[loss]
    elif callable(loss):
        output_loss = loss
    else:
        raise InputError(f"loss must be 'mse', 'cross_entropy' or a function, got {type(loss).__name__}", field="loss")
    apply = predict or (lambda model, inputs: model(inputs))
    inputs, targets = (jnp.asarray(a) for a in data)

    def predict_params(p, x):
        return apply(rebuild(p), x)

    def objective(p, d):
        return output_loss(predict_params(p, d[0]), d[1])

    classification = loss == "cross_entropy"
    metrics = None
    if test_data is not None or classification:
        def metrics(p, d, test):
            out = {}
            if test is not None:
                out["test_loss"] = objective(p, test)
            if classification:
                for label, (x, y) in [("accuracy", d)] + ([("test_accuracy", test)] if test is not None else []):
                    labels = y if y.ndim == 1 else jnp.argmax(y, -1)
                    out[label] = jnp.mean(jnp.argmax(predict_params(p, x), -1) == labels)
            return out
    test = None if test_data is None else tuple(jnp.asarray(a) for a in test_data)
    return Problem(name, objective, split, data=(inputs, targets), kind="classification" if classification
                   else "regression", predict=predict_params, test_data=test, metrics=metrics,
                   output_loss=output_loss, module_fn=rebuild, options={"library": library})
