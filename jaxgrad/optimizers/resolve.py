"""An optimizer and its hyperparameters, resolved and validated in one place.

:func:`resolve` takes what a user names (a registry name, a factory, or a ready optax
transformation), a grid of values to sweep and fixed options, checks every name and value
once (an :class:`~jaxgrad.errors.InputError` whose ``field`` names the hyperparameter), and
returns a :class:`Builder` (a static, hashable recipe that builds the transformation inside
a trace from traced floats) and the settings axis. The engine's sweeps and a config's
optimizer tables both go through it.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any, Mapping, NamedTuple

import numpy as np
import optax

from jaxgrad import factories
from jaxgrad.errors import InputError
from jaxgrad.optimizers import search
from jaxgrad.optimizers.registry import CURVATURE_STEPS, check_value, make, spec

__all__ = ["Builder", "Resolved", "resolve", "optimizer_label"]


@dataclasses.dataclass(frozen=True)
class Builder:
    """Builds a sweep's optimizer inside the trace from traced floats; a static jit argument.

    ``kind`` is ``"registry"`` (``target`` a name), ``"factory"`` (a callable
    ``factory(**hyperparameters) -> transformation``) or ``"ready"`` (a
    transformation, used as it is). Compared by value: a factory by identity.
    """

    kind: str
    target: Any
    fixed: tuple = ()

    @property
    def wants_curvature(self) -> bool:
        """Whether the optimizer takes the problem's ``ggn_vp``/``fisher_vp`` (extra arguments that
        others must not see: optax's line searches pass every extra argument to ``value_fn``)."""
        return self.kind == "registry" and self.target in CURVATURE_STEPS

    def __call__(self, hp: dict) -> optax.GradientTransformation:
        if self.kind == "registry":
            return make(self.target, **hp, **dict(self.fixed))
        if self.kind == "factory":
            return self.target(**dict(self.fixed), **hp)
        return self.target


class Resolved(NamedTuple):
    """What :func:`resolve` returns: the static ``builder`` and the ``settings`` axis, checked.
    Passed back to :func:`resolve` (or to ``plan_sweep``) it is trusted as it is."""

    builder: Builder
    settings: list


def optimizer_label(optimizer) -> str:
    """A short name for an optimizer: the registry name, a factory's name, or the transformation's type."""
    if isinstance(optimizer, str):
        return optimizer
    if isinstance(optimizer, optax.GradientTransformation):
        return "transformation"
    return getattr(optimizer, "__name__", type(optimizer).__name__)


def _is_float(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral))


def _check_sweepable(where: str, key: str, values) -> None:
    for v in values:
        if not _is_float(v) and not isinstance(v, numbers.Integral) or isinstance(v, bool):
            reason = f"only numbers can be swept as data, got {v!r}; give one value (one program per value)"
            raise InputError(f"{where}: {key}: {reason}", field=key, reason=reason)
        if not np.isfinite(v):
            raise InputError(f"{where}: {key}: must be finite, got {v!r}", field=key, reason=f"must be finite, got {v!r}")


def _freeze(fixed: Mapping[str, Any], where: str) -> tuple:
    items = tuple(sorted(fixed.items()))
    try:
        hash(items)
    except TypeError:
        bad = next(k for k, v in items if not _hashable(v))
        raise InputError(f"{where}: fixed value {bad}={fixed[bad]!r} must be hashable (a number, string, "
                         f"tuple or function)") from None
    return items


def _hashable(value) -> bool:
    try:
        hash(value)
        return True
    except TypeError:
        return False


def _build_checked(builder: Builder, setting: dict, where: str):
    try:
        tx = builder(setting)
    except InputError:
        raise
    except Exception as err:  # a user's factory: its own error, in one line
        reason = (f"{where}({', '.join(f'{k}={v!r}' for k, v in {**dict(builder.fixed), **setting}.items())}) failed: "
                  f"{type(err).__name__}: {err}")
        raise InputError(reason, field="factory", reason=reason) from None
    if not isinstance(tx, optax.GradientTransformation):
        reason = f"{where} must return an optax GradientTransformation, got {type(tx).__name__}"
        raise InputError(reason, field="factory", reason=reason)
    return tx


def resolve(optimizer, grid: Mapping[str, Any], fixed: Mapping[str, Any], samples: int = search.DEFAULT_SAMPLES,
            search_seed: int = 0) -> Resolved:
    """The one validator of an optimizer and its values: ``(builder, settings)``.

    Args:
      optimizer: a registry name, a factory ``(**hyperparameters) -> transformation``, or a
        ready optax transformation (nothing to sweep).
      grid: values to sweep, as data: a list of numbers or a :class:`~jaxgrad.optimizers.search.Range`.
      fixed: values that hold for the whole sweep (one program per distinct value).
      samples, search_seed: the Halton points over the grid's ranges.

    Raises:
      InputError: the first bad name or value; ``field`` names the hyperparameter (``"name"``
        for an unknown optimizer, ``"factory"`` for a factory that fails or returns something
        else), ``reason`` says what is wrong without the name.
    """
    if isinstance(optimizer, Resolved):  # resolved once already (a config's group): trusted
        return optimizer
    grid, fixed = dict(grid), dict(fixed)
    if isinstance(optimizer, str):
        hypers = spec(optimizer)  # an unknown name: field "name"
        for key in list(grid) + list(fixed):
            if key not in hypers:
                make(optimizer, **{key: None})  # raises the suggestion error, field = key
        for key, values in grid.items():
            ranged = isinstance(values, search.Range)
            if hypers[key].kind not in ("float", "optional_float"):
                reason = (f"only float hyperparameters take a range; {key} is {hypers[key].kind}" if ranged else
                          "only float hyperparameters can be swept as data; give one value (one program per value)")
                raise InputError(f"optimizer {optimizer!r}: {key}: {reason}", field=key, reason=reason)
            for v in (values.lo, values.hi) if ranged else _as_list(values):
                check_value(optimizer, key, v, hypers[key])
        for key, v in fixed.items():
            check_value(optimizer, key, v, hypers[key])
        builder = Builder("registry", optimizer, _freeze(fixed, f"optimizer {optimizer!r}"))
        settings = search.settings(grid, samples, search_seed)
        make(optimizer, **settings[0], **fixed)  # what holds across values (newton's schedule)
        return Resolved(builder, settings)
    if isinstance(optimizer, optax.GradientTransformation):
        if grid or fixed:
            raise InputError("a ready optax transformation has no hyperparameters to sweep; pass a factory "
                             "(e.g. optax.adamw, or lambda learning_rate: optax.chain(...)) to sweep them")
        return Resolved(Builder("ready", optimizer), [{}])
    if not callable(optimizer):
        raise InputError(f"optimizer must be a registry name, an optax GradientTransformation or a factory "
                         f"returning one, got {type(optimizer).__name__} {optimizer!r:.80}")
    where = f"optimizer factory {optimizer_label(optimizer)}"
    factories.check_keywords(optimizer, list(grid) + list(fixed), where)
    for key, values in grid.items():
        if not isinstance(values, search.Range):  # a range checked its ends itself
            _check_sweepable(where, key, _as_list(values))
    for key, value in fixed.items():
        if isinstance(value, float) and not np.isfinite(value):
            raise InputError(f"{where}: {key}: must be finite, got {value!r}", field=key,
                             reason=f"must be finite, got {value!r}")
    builder = Builder("factory", optimizer, _freeze(fixed, where))
    settings = search.settings(grid, samples, search_seed)
    _build_checked(builder, settings[0], where)
    return Resolved(builder, settings)


def _as_list(values) -> list:
    return list(values) if isinstance(values, (list, tuple, np.ndarray)) else [values]
