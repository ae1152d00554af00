r"""Loss landscapes of parameter pytrees: lines and planes through parameter space.

Every landscape is evaluated by one compiled :func:`~jaxgrad.field` over the
coordinates of the line or plane (chunked when it would not fit), and the
parameters are passed as data: the caller's parameters are never modified.

Directions (Li et al., *Visualizing the Loss Landscape of Neural Nets*, 2018):

* :func:`random_direction` draws a Gaussian direction and *filter-normalises* it:
  every filter :math:`d_f` is rescaled to the norm of the parameters' filter,
  :math:`d_f \leftarrow d_f\,\lVert\theta_f\rVert / \lVert d_f\rVert`. A filter is a
  column of a weight matrix (the incoming weights of one unit, for ``(n_in, n_out)``
  layouts), a whole vector, or a scalar.
* :func:`random_plane` makes the second direction orthogonal to the first *filter by
  filter* before normalising it. Rescaling a filter keeps it orthogonal to the
  other direction's filter, so the two directions are both filter-normalised and
  exactly orthogonal. (Normalising after a global Gram–Schmidt, as peer libraries
  do, breaks the orthogonality and skews the plane.) A filter of one entry cannot
  hold two orthogonal non-zero values; it is zero in the second direction.
* :func:`trajectory_plane` spans the plane through an optimizer's path: the first
  direction runs from the path's end to its start, the second is the principal
  direction of what remains, so start and end both lie in the plane.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxgrad import cache
from jaxgrad.errors import InputError
from jaxgrad.fields.grid import Grid
from jaxgrad.fields.quantities import DEFAULT_MEMORY_BUDGET, field

PyTree = Any

__all__ = [
    "any_orthogonal",
    "filter_normalise",
    "random_direction",
    "random_plane",
    "filter_norms",
    "interpolate",
    "line",
    "plane",
    "trajectory_plane",
    "Plane",
]


# --- filters ----------------------------------------------------------------------------


def _filters(leaf: jax.Array) -> jax.Array:
    """A leaf as (filters, entries): columns of a matrix (last axis), a vector, a scalar."""
    if leaf.ndim >= 2:
        return jnp.moveaxis(leaf, -1, 0).reshape(leaf.shape[-1], -1)
    return leaf.reshape(1, -1)


def _unfilters(filters: jax.Array, like: jax.Array) -> jax.Array:
    if like.ndim >= 2:
        moved = (like.shape[-1],) + like.shape[:-1]
        return jnp.moveaxis(filters.reshape(moved), 0, -1)
    return filters.reshape(like.shape)


def filter_norms(tree: PyTree) -> PyTree:
    """The Euclidean norm of every filter of every leaf (a pytree of 1-D arrays)."""
    return jax.tree_util.tree_map(lambda leaf: jnp.linalg.norm(_filters(leaf), axis=1), tree)


def filter_normalise(direction: PyTree, params: PyTree) -> PyTree:
    """Scale each filter (row of a weight matrix; a bias as a whole) of ``direction`` to the norm
    of the same filter of ``params`` (Li et al., 2018)."""
    def leaf(d, p):
        df, pf = _filters(d), _filters(p)
        dn = jnp.linalg.norm(df, axis=1, keepdims=True)
        scale = jnp.where(dn > 0, jnp.linalg.norm(pf, axis=1, keepdims=True) / jnp.where(dn > 0, dn, 1.0), 0.0)
        return _unfilters(df * scale, d)

    return jax.tree_util.tree_map(leaf, direction, params)


def _gaussian_like(key: jax.Array, params: PyTree) -> PyTree:
    leaves, treedef = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(key, len(leaves))
    return treedef.unflatten([jax.random.normal(k, jnp.shape(p), jnp.result_type(p)) for k, p in zip(keys, leaves)])


def random_direction(key: jax.Array, params: PyTree, normalization: str = "filter") -> PyTree:
    """A Gaussian direction shaped like ``params``.

    Args:
      normalization: ``"filter"`` (each filter rescaled to the parameters' filter
        norm), ``"layer"`` (each leaf to the leaf's norm), or ``"none"``.
    """
    d = _gaussian_like(key, params)
    if normalization == "filter":
        return filter_normalise(d, params)
    if normalization == "layer":
        return jax.tree_util.tree_map(
            lambda x, p: x * jnp.linalg.norm(p) / jnp.maximum(jnp.linalg.norm(x), jnp.finfo(x.dtype).tiny), d, params)
    if normalization == "none":
        return d
    raise InputError(f"normalization must be 'filter', 'layer' or 'none', got {normalization!r}")


def random_plane(key: jax.Array, params: PyTree) -> tuple[PyTree, PyTree]:
    """Two filter-normalised directions that are exactly orthogonal (see the module doc)."""
    k1, k2 = jax.random.split(key)
    d1 = random_direction(k1, params)
    g2 = _gaussian_like(k2, params)

    def orthogonal(g, d):
        gf, df = _filters(g), _filters(d)
        dd = jnp.sum(df * df, axis=1, keepdims=True)
        proj = jnp.sum(gf * df, axis=1, keepdims=True) / jnp.where(dd > 0, dd, 1.0)
        rest = gf - proj * df
        # a filter with nothing left but rounding (one entry, or parallel) is zero, not noise
        # that normalisation would blow up to full size
        eps = jnp.sqrt(jnp.finfo(gf.dtype).eps)
        kept = jnp.linalg.norm(rest, axis=1, keepdims=True) > eps * jnp.linalg.norm(gf, axis=1, keepdims=True)
        return _unfilters(jnp.where(kept, rest, 0.0), g)

    return d1, filter_normalise(jax.tree_util.tree_map(orthogonal, g2, d1), params)


# --- evaluation -----------------------------------------------------------------------------


def _axpy(params, coefs, directions):
    return jax.tree_util.tree_map(lambda p, *ds: p + sum(c * d for c, d in zip(coefs, ds)), params, *directions)


def _per_point_bytes(loss: Callable, params: PyTree) -> int:
    """XLA's working memory for one loss evaluation (a one-point compile), for chunking."""
    try:
        mem = jax.jit(loss).lower(params).compile().memory_analysis()
        return int(mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes)
    except Exception:  # noqa: BLE001 - some backends report no analysis: fall back to the parameters' size
        return int(sum(np.prod(np.shape(x)) * jnp.result_type(x).itemsize for x in jax.tree_util.tree_leaves(params)))


def _evaluate(loss, params, directions, grid: Grid, memory_budget: int, chunk_size=None) -> jax.Array:
    if chunk_size is None:
        chunk_size = max(1, memory_budget // max(1, 2 * _per_point_bytes(loss, params)))
        chunk_size = None if chunk_size >= grid.size else chunk_size
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    return field(_point_loss(loss, len(directions)), grid, params, *directions, chunk_size=chunk_size, dtype=dtype)


@cache.memo("landscape losses", weak=True)
def _point_loss(loss, k):
    """``(coords, params, *directions) -> loss``; the same function object for the same loss (held
    weakly), so repeated landscapes reuse the program."""
    return lambda c, params, *ds: loss(_axpy(params, [c[i] for i in range(k)], ds))


DEFAULT_BUDGET = DEFAULT_MEMORY_BUDGET  # one budget for every chunked evaluation


def interpolate(loss: Callable, params_a: PyTree, params_b: PyTree, num: int = 51,
                span: tuple[float, float] = (-0.25, 1.25), memory_budget: int = DEFAULT_BUDGET):
    r"""The loss along :math:`(1-\alpha)\,\theta_a + \alpha\,\theta_b` (Goodfellow et al. 2015).

    Returns:
      ``(alphas, losses)``, NumPy arrays of shape ``(num,)``.
    """
    direction = jax.tree_util.tree_map(lambda a, b: b - a, params_a, params_b)
    return line(loss, params_a, direction, num, span, memory_budget)


def line(loss: Callable, params: PyTree, direction: PyTree, num: int = 51,
         span: tuple[float, float] = (-1.0, 1.0), memory_budget: int = DEFAULT_BUDGET):
    """The loss along ``params + alpha * direction``; returns ``(alphas, losses)``."""
    grid = Grid((span[0],), (span[1],), (num,))
    losses = _evaluate(loss, params, [direction], grid, memory_budget)
    return grid.axes[0], np.asarray(losses)


class Plane(NamedTuple):
    """A 2-D slice: ``losses[i, j]`` at ``origin + alphas[i] * d1 + betas[j] * d2``."""

    alphas: np.ndarray
    betas: np.ndarray
    losses: np.ndarray
    d1: PyTree
    d2: PyTree
    path: np.ndarray | None = None  # the projected trajectory, (T, 2)
    explained: float | None = None  # share of the path's variance in the plane


def plane(loss: Callable, params: PyTree, d1: PyTree, d2: PyTree, num: int | Sequence[int] = 51,
          span: Sequence[Sequence[float]] = ((-1.0, 1.0), (-1.0, 1.0)), chunk_size: int | None = None,
          memory_budget: int = DEFAULT_BUDGET) -> Plane:
    """The loss over ``params + a * d1 + b * d2`` on a grid, in one compiled program."""
    (a0, a1), (b0, b1) = span
    grid = Grid((a0, b0), (a1, b1), num)
    losses = _evaluate(loss, params, [d1, d2], grid, memory_budget, chunk_size)
    return Plane(grid.axes[0], grid.axes[1], np.asarray(losses), d1, d2)


def trajectory_plane(loss: Callable, path: PyTree, num: int | Sequence[int] = 51, margin: float = 0.25,
                     chunk_size: int | None = None, memory_budget: int = DEFAULT_BUDGET) -> Plane:
    """The plane through an optimizer's path (leading axis: steps), with the path projected.

    The origin is the path's end; ``d1`` is the unit vector towards the start and
    ``d2`` the unit principal direction of the path's deviations orthogonal to
    ``d1``. Coordinates are distances in parameter space.
    """
    flat = jax.vmap(lambda p: ravel_pytree(p)[0])(path)
    dtype = flat.dtype
    end = jax.tree_util.tree_map(lambda x: x[-1], path)
    _, unravel = ravel_pytree(end)
    flat = np.asarray(flat, np.float64)
    deltas = flat - flat[-1][None, :]
    first = deltas[0]
    n1 = np.linalg.norm(first)
    if n1 == 0:
        raise InputError("the path starts where it ends; there is no plane through it")
    u1 = first / n1
    rest = deltas - np.outer(deltas @ u1, u1)
    _, s, vt = np.linalg.svd(rest, full_matrices=False)
    u2 = vt[0] if s.size and s[0] > 0 else any_orthogonal(u1)
    u2 = u2 - (u2 @ u1) * u1
    u2 /= np.linalg.norm(u2)
    coords = np.stack([deltas @ u1, deltas @ u2], axis=1)
    total = float(np.sum(deltas**2))
    explained = float(np.sum(coords**2) / total) if total > 0 else 1.0
    lo, hi = coords.min(0), coords.max(0)
    pad = margin * np.maximum(hi - lo, 1e-3 * n1)
    span = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    d1, d2 = unravel(jnp.asarray(u1, dtype)), unravel(jnp.asarray(u2, dtype))
    result = plane(loss, end, d1, d2, num, span, chunk_size, memory_budget)
    return result._replace(path=coords, explained=explained)


def any_orthogonal(u: np.ndarray) -> np.ndarray:
    e = np.zeros_like(u)
    e[np.argmin(np.abs(u))] = 1.0
    return e - (e @ u) * u
