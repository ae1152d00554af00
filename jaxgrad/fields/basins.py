"""Basins of attraction: run an optimizer from every point of a grid and label where it ends.

One vmapped program (:func:`~jaxgrad.minimize_from`) runs every start; each final
point is then matched to the nearest known minimiser.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import jax.numpy as jnp
import numpy as np

from jaxgrad.engine import minimize_from
from jaxgrad.errors import InputError
from jaxgrad.fields.grid import Grid

__all__ = ["Basins", "basins", "ELSEWHERE", "DIVERGED"]

ELSEWHERE = -1  # ended away from every known minimiser
DIVERGED = -2


class Basins(NamedTuple):
    """Where each start of a 2-D grid ends.

    Attributes:
      axes: the grid's two coordinate arrays.
      label: ``(nx, ny)``: the index of the minimiser reached, ``ELSEWHERE`` or ``DIVERGED``.
      steps: ``(nx, ny)``: the step where the gradient norm first fell within ``tol``
        (``steps`` if it never did).
      final: ``(nx, ny, 2)`` final points.
      minimizers: ``(k, 2)``.
    """

    axes: tuple
    label: np.ndarray
    steps: np.ndarray
    final: np.ndarray
    minimizers: np.ndarray


def basins(problem, optimizer, num: int | Sequence[int] = 101, steps: int = 200, tol: float | None = None,
           minimizers=None, radius: float | None = None, bounds=None) -> Basins:
    """Label every start of a grid over the problem's box by the minimiser it reaches.

    Args:
      problem: a 2-D function problem (flat ``(2,)`` parameters).
      optimizer: an optax transformation, e.g. ``optimizers.make("newton", linesearch=True)``.
      num: grid points per axis.
      steps, tol: run length and the gradient-norm tolerance for ``steps`` taken
        (default ``1000 * eps`` of the dtype: rounding keeps |∇f| near
        curvature x |x| x eps at a minimum, ~3e-5 at Himmelblau's in float32).
      minimizers: ``(k, 2)`` points to label by (default ``problem.minimizers``).
      radius: how close a final point must be to count (default 1e-3 of the box diagonal).
      bounds: the box (default ``problem.bounds``).
    """
    bounds = bounds or problem.bounds
    if bounds is None or len(bounds) != 2:
        raise InputError("basins need a 2-D problem with bounds")
    minimizers = np.asarray(problem.minimizers if minimizers is None else minimizers, np.float64).reshape(-1, 2)
    (x0, x1), (y0, y1) = bounds
    grid = Grid((x0, y0), (x1, y1), num)
    radius = 1e-3 * float(np.hypot(x1 - x0, y1 - y0)) if radius is None else float(radius)
    dtype = jnp.result_type(float)
    tol = 1000 * float(jnp.finfo(dtype).eps) if tol is None else float(tol)
    trace = minimize_from(problem.loss, jnp.asarray(grid.points, dtype), optimizer, steps, tol)
    final = np.asarray(trace.final_params, np.float64)
    dist = np.linalg.norm(final[:, None, :] - minimizers[None, :, :], axis=-1)
    label = np.where(np.min(dist, axis=1) <= radius, np.argmin(dist, axis=1), ELSEWHERE)
    label = np.where(np.asarray(trace.diverged_at) >= 0, DIVERGED, label)
    conv = np.asarray(trace.converged_at)
    taken = np.where(conv >= 0, conv, steps)
    shape = grid.shape
    return Basins(grid.axes, label.reshape(shape), taken.reshape(shape), final.reshape(shape + (2,)), minimizers)
