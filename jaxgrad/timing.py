"""The one way jaxgrad times its programs: compile ahead of time, then run blocked on.

Example:
  >>> from jaxgrad.fields.quantities import plan_field
  >>> plan = plan_field(jg.quantity(lambda p: p @ p, "grad"), jg.Grid((-1, -1), (1, 1), 5))
  >>> executable, compile_s = compiled(plan)
  >>> values, run_s = timed(lambda: executable(*plan.args))
  >>> values.shape, compile_s > 0, run_s > 0
  ((5, 5, 2), True, True)
"""

from __future__ import annotations

import time
from typing import Any, Callable

__all__ = ["compiled", "timed"]


def compiled(plan) -> tuple[Any, float]:
    """``(plan.compile(), seconds)``: a field's or a sweep's plan compiled ahead of time."""
    t0 = time.perf_counter()
    executable = plan.compile()
    return executable, time.perf_counter() - t0


def timed(thunk: Callable[[], Any]) -> tuple[Any, float]:
    """``(result, seconds)`` of ``thunk()``, the result blocked on (JAX dispatches asynchronously)."""
    import jax

    t0 = time.perf_counter()
    result = jax.block_until_ready(thunk())
    return result, time.perf_counter() - t0
