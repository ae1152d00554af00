"""The one precision switch: float64 inside ``jax.enable_x64``, else JAX's default float32.

Scoped (a context), never global, so one command, config or benchmark never changes
the next one's precision.
"""

from __future__ import annotations

import contextlib

__all__ = ["precision", "PRECISIONS"]

PRECISIONS = ("float32", "float64")


def precision(which: str | bool):
    """``(context, dtype)`` for ``"float32"`` / ``"float64"`` (or ``False`` / ``True``).

    Example:
      >>> context, dtype = precision("float64")
      >>> with context:
      ...     x = jnp.ones(2, dtype)
      >>> x.dtype
      dtype('float64')
    """
    import jax
    import jax.numpy as jnp

    float64 = which if isinstance(which, bool) else which == "float64"
    if not isinstance(which, bool) and which not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {which!r}")
    if float64:
        return jax.enable_x64(True), jnp.float64
    return contextlib.nullcontext(), jnp.float32
