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

__all__ = ["Problem", "REQUIRED", "register", "make", "names", "signature", "as_key"]


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """An optimization problem: a loss of a parameter pytree, with what is known about it.

    Problems are compared and hashed by identity, so their ``objective`` and ``loss``
    can key compiled programs.

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

    def init(self, key: jax.Array) -> PyTree:
        """Initial parameters drawn from ``key``."""
        return self.init_fn(key)

    def loss(self, params: PyTree) -> jax.Array:
        """The full-batch loss."""
        return self.objective(params, self.data)

    def batch_loss(self, params: PyTree, key: jax.Array, batch_size: int, data=None) -> jax.Array:
        """The loss on ``batch_size`` examples drawn (with replacement) from ``key``.

        Deterministic in ``key``; problems without data return the full loss.
        """
        data = self.data if data is None else data
        if data is None:
            return self.objective(params, None)
        inputs, targets = data
        idx = jax.random.randint(key, (batch_size,), 0, inputs.shape[0])
        return self.objective(params, (inputs[idx], targets[idx]))

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
        raise InputError(f"unknown problem {name!r}{did_you_mean(name, _REGISTRY)}; known: {', '.join(_REGISTRY)}")
    allowed = signature(name)
    for key in kwargs:
        if key not in allowed:
            raise InputError(
                f"problem {name!r} has no option {key!r}{did_you_mean(key, allowed)}; options: {', '.join(allowed) or 'none'}"
            )
    missing = [k for k, v in allowed.items() if v is REQUIRED and k not in kwargs]
    if missing:
        raise InputError(f"problem {name!r} needs {', '.join(missing)}")
    problem = _REGISTRY[name](**kwargs)
    return dataclasses.replace(problem, options=dict(kwargs))


def as_key(key) -> jax.Array:
    """An int seed or a PRNG key, as a PRNG key."""
    if isinstance(key, (int, np.integer)):
        return jax.random.PRNGKey(int(key))
    return jnp.asarray(key)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)
