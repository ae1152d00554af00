"""The Problem type and the registry behind ``jaxgrad.problems.make``."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxgrad.errors import InputError, did_you_mean

PyTree = Any

__all__ = ["Problem", "REQUIRED", "register", "make", "names", "signature", "as_key", "batch_loss", "batch_indices"]


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """An optimization problem: a loss of a parameter pytree, with what is known about it.

    Problems are compared and hashed by identity. Compiled programs are keyed by
    :attr:`cache_key` instead: a registry problem's name and options (so the same
    problem rebuilt reuses them), else the ``objective`` function itself.

    Example:
      >>> import jax.numpy as jnp
      >>> def objective(w, data):
      ...     X, y = data
      ...     return jnp.mean((X @ w - y) ** 2)
      >>> X, y = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), jnp.array([1.0, 2.0, 3.0])
      >>> p = Problem("mine", objective, init_fn=lambda key: jnp.zeros(2), data=(X, y))
      >>> float(p.loss(jnp.array([1.0, 2.0])))
      0.0

    Attributes:
      name: the registry name.
      objective: ``objective(params, data) -> scalar``; the engine passes ``data``
        as a traced argument, so new data of the same shape does not recompile.
      init_fn: ``key -> params``.
      data: ``(inputs, targets)`` for data-driven problems, else ``None``.
      minimum: the known minimal loss, or ``None``.
      argmin: parameters attaining it (one of them), or ``None``.
      minimizers: every known minimiser (for functions with several).
      bounds: ``((lo, hi), ...)`` per coordinate, for 2-D pictures, or ``None``.
      kind: ``"function"``, ``"regression"`` or ``"classification"``.
      predict: ``(params, inputs) -> outputs`` for data-driven problems.
      options: the keyword arguments it was made with.
      key: a hashable structural identity (set by :func:`make`), or ``None``.
      test_data: held-out ``(inputs, targets)`` (a ``test_fraction`` split), or ``None``.
      metrics: ``metrics(params, data, test_data) -> {name: scalar}``, recorded at every
        step beside the loss (test loss, accuracy), or ``None``.
      source: where the data came from (file and hash, or package and version).
      output_loss: ``(outputs, targets) -> scalar`` with ``loss(params) ==
        output_loss(predict(params, X), y)``, where known.
      module_fn: ``params -> module`` for problems made from an NNX or Equinox module.
    """

    name: str
    objective: Callable[[PyTree, Any], jax.Array]
    init_fn: Callable[[jax.Array], PyTree]
    data: Any = None
    minimum: float | None = None
    argmin: PyTree | None = None
    minimizers: tuple = ()
    bounds: tuple | None = None
    kind: str = "function"
    predict: Callable | None = None
    options: dict = dataclasses.field(default_factory=dict)
    key: Any = None
    test_data: Any = None
    metrics: Callable | None = None
    source: dict | None = None
    output_loss: Callable | None = None
    module_fn: Callable | None = None

    def module(self, params: PyTree):
        """The model with these parameters (problems from :func:`jaxgrad.problems.from_module`)."""
        if self.module_fn is None:
            raise InputError(f"problem {self.name!r} was not made from a module (jaxgrad.problems.from_module)")
        return self.module_fn(params)

    @property
    def cache_key(self):
        """What keys compiled programs of this problem: :attr:`key`, else the objective."""
        return self.objective if self.key is None else self.key

    def init(self, key: jax.Array) -> PyTree:
        """Initial parameters drawn from ``key``."""
        return self.init_fn(key)

    def loss(self, params: PyTree) -> jax.Array:
        """The full-batch loss."""
        return self.objective(params, self.data)

    def batch_loss(self, params: PyTree, key: jax.Array, step, batch_size: int, data=None) -> jax.Array:
        """The loss on mini-batch ``step`` of the epoch-wise shuffle drawn from ``key`` (see :func:`batch_loss`)."""
        return batch_loss(self.objective, params, key, step, batch_size, self.data if data is None else data)

    @property
    def dim(self) -> int:
        """The number of scalar parameters."""
        params = jax.eval_shape(self.init_fn, jax.random.PRNGKey(0))
        return int(sum(np.prod(p.shape, dtype=int) for p in jax.tree_util.tree_leaves(params)))

    @property
    def is_point_function(self) -> bool:
        """Whether the parameters are one flat ``(dim,)`` array (a function of a point)."""
        params = jax.eval_shape(self.init_fn, jax.random.PRNGKey(0))
        return isinstance(params, jax.ShapeDtypeStruct) and params.ndim == 1

    def flat(self, params: PyTree) -> jax.Array:
        return ravel_pytree(params)[0]

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Problem({self.name}{', ' + opts if opts else ''})"


def batch_indices(key: jax.Array, step, batch_size: int, n: int) -> jax.Array:
    """The rows of mini-batch ``step``: epochs of ``n // batch_size`` batches, each epoch a fresh
    permutation of the rows drawn from ``fold_in(key, epoch)`` (without replacement; the
    ``n % batch_size`` rows left over in an epoch's permutation sit that epoch out)."""
    per_epoch = n // batch_size
    epoch, within = step // per_epoch, step % per_epoch
    order = jax.random.permutation(jax.random.fold_in(key, epoch), n)
    return jax.lax.dynamic_slice_in_dim(order, within * batch_size, batch_size)


def batch_loss(objective: Callable, params: PyTree, key: jax.Array, step, batch_size: int, data) -> jax.Array:
    """``objective`` on mini-batch ``step`` of ``data`` (see :func:`batch_indices`); deterministic in ``key``."""
    if data is None:
        return objective(params, None)
    inputs, targets = data
    idx = batch_indices(key, step, batch_size, inputs.shape[0])
    return objective(params, (inputs[idx], targets[idx]))


def _freeze(value):
    """A hashable copy of an option value (lists become tuples), or raise TypeError."""
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    hash(value)
    if hasattr(value, "shape"):
        raise TypeError("arrays are keyed by identity")
    return value


_REGISTRY: dict[str, Callable[..., Problem]] = {}


def register(factory: Callable[..., Problem]) -> Callable[..., Problem]:
    _REGISTRY[factory.__name__] = factory
    return factory


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


REQUIRED = inspect.Parameter.empty


def signature(name: str) -> dict[str, Any]:
    """The keyword arguments of a problem with their defaults (``REQUIRED`` if none)."""
    return {p.name: p.default for p in inspect.signature(_REGISTRY[name]).parameters.values()}


def make(name: str, **kwargs) -> Problem:
    """Build a registered problem by name; see ``jaxgrad.problems`` for the list.

    Raises:
      InputError: for an unknown name or keyword (the nearest valid one is named)
        or a value out of range.

    Example:
      >>> p = make("quadratic", dim=2, condition_number=10.0)
      >>> p.loss(p.argmin)
      Array(0., dtype=float32)
    """
    if name not in _REGISTRY:
        raise InputError(f"unknown problem {name!r}{did_you_mean(name, _REGISTRY)}; known: {', '.join(_REGISTRY)}",
                         field="name")
    allowed = signature(name)
    for key in kwargs:
        if key not in allowed:
            raise InputError(
                f"problem {name!r} has no option {key!r}{did_you_mean(key, allowed)}; options: {', '.join(allowed) or 'none'}",
                field=key)
    missing = [k for k, v in allowed.items() if v is REQUIRED and k not in kwargs]
    if missing:
        raise InputError(f"problem {name!r} needs {', '.join(missing)}", field=missing[0])
    check_options(_REGISTRY[name], kwargs, f"problem {name!r}")
    problem = _REGISTRY[name](**kwargs)
    try:
        key = ("registry", name, _freeze(kwargs))
    except TypeError:  # an unhashable option: keyed by its objective
        key = None
    return dataclasses.replace(problem, options=dict(kwargs), key=key)


def check_options(fn: Callable, kwargs: dict, where: str) -> None:
    """Refuse an option whose value does not fit the factory's annotation (type, finite numbers)."""
    from jaxgrad import types

    annotations = types.hints(fn)
    for key, value in kwargs.items():
        if key in annotations:
            problem = types.check(value, annotations[key])
            if problem:
                raise InputError(f"{where}: {key} {problem}", field=key)


def as_key(key) -> jax.Array:
    """An int seed or a PRNG key, as a PRNG key."""
    if isinstance(key, (int, np.integer)):
        return jax.random.PRNGKey(int(key))
    return jnp.asarray(key)


def check(condition: bool, message: str, field: str | None = None) -> None:
    """Raise an :class:`InputError` with ``message`` unless ``condition``; ``field`` names the
    option to blame (default: the message's first word when it is one of the problem's options,
    which every message here starts with)."""
    if not condition:
        raise InputError(message, field=field or message.split(" ", 1)[0].rstrip(":,"))
