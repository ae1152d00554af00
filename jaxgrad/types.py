"""Checking a value against a parameter's annotation, at the boundary (configs, ``make``).

Problems and factories declare their options with ordinary annotations (``int``,
``float``, ``str``, ``bool``, ``Sequence[float]``, ``X | None``, ``int | jax.Array``);
:func:`check` refuses a value of the wrong type with a sentence that says what was
expected, what was received, and (for numbers) that it must be finite. Anything
without an annotation, or an annotation it does not know, passes.
"""

from __future__ import annotations

import collections.abc
import math
import numbers
import types
import typing

__all__ = ["check", "describe", "hints"]


def hints(fn) -> dict:
    """``typing.get_type_hints`` of ``fn``, or ``{}`` when they cannot be resolved."""
    try:
        return typing.get_type_hints(fn)
    except Exception:  # forward references a user's module cannot resolve: no checking
        return {}


def _args(hint):
    return typing.get_args(hint)


def _is_union(hint) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def describe(hint) -> str:
    """``hint`` in words: ``an integer``, ``a list of numbers``, ``a number or nothing``."""
    if _is_union(hint):
        parts = [describe(a) for a in _args(hint) if a is not type(None)]
        return " or ".join(parts)
    origin = typing.get_origin(hint)
    if origin in (list, tuple, collections.abc.Sequence) or hint in (list, tuple):
        inner = _args(hint)
        if not inner:
            return "a list"
        words = describe(inner[0])
        plural = {"an integer": "integers", "a number": "numbers", "a string": "strings"}.get(words)
        return f"a list of {plural or '(' + words + ')'}"
    if _is_array(hint):
        return "an array"
    if origin is None and hint not in (int, float, str, bool):
        return str(hint)
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[hint]


def _is_array(hint) -> bool:
    return getattr(hint, "__name__", "").rsplit(".", 1)[-1] == "Array"


def _matches(value, hint) -> bool:
    if hint is typing.Any:
        return True
    if _is_union(hint):
        return any(_matches(value, a) for a in _args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if _is_array(hint):  # jax.Array: a key or an array
        return hasattr(value, "shape") and hasattr(value, "dtype")
    origin = typing.get_origin(hint)
    if origin in (list, tuple, collections.abc.Sequence) or hint in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) and not hasattr(value, "shape"):
            return False
        if hasattr(value, "shape"):
            return True  # an array: its elements are numbers
        inner = _args(hint)
        return not inner or inner[0] is Ellipsis or all(_matches(v, inner[0]) for v in value)
    return True  # an annotation we do not know: no opinion


def check(value, hint) -> str | None:
    """``None`` when ``value`` fits ``hint``, else what is wrong, e.g. ``must be an integer, got 'two'``."""
    if _matches(value, hint):
        return None
    if isinstance(value, float) and not math.isfinite(value) and _matches(1.0, hint):
        return f"must be finite, got {value!r}"
    return f"must be {describe(hint)}, got {value!r}"
