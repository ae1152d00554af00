"""Critical points of a function in a box: Newton's method on ∇f = 0 from a grid of starts."""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgrad.calculus import derivatives
from jaxgrad.errors import InputError
from jaxgrad.fields.grid import Grid
from jaxgrad.fields.points import KINDS, eigvalsh, kind_code

__all__ = ["CriticalPoint", "critical_points"]


class CriticalPoint(NamedTuple):
    """A point where the gradient vanishes.

    Attributes:
      point: its coordinates, shape ``(d,)``.
      value: ``f(point)``.
      eigenvalues: of the Hessian there, ascending.
      kind: ``"minimum"``, ``"maximum"``, ``"saddle"`` or ``"degenerate"``.
    """

    point: np.ndarray
    value: float
    eigenvalues: np.ndarray
    kind: str


@functools.partial(jax.jit, static_argnames=("f", "steps"))
def _newton_from(starts: jax.Array, *, f: Callable, steps: int):
    """Newton's method on ∇f = 0 from every start (vmapped, a fixed number of steps)."""
    g, H = derivatives.grad(f), derivatives.hessian(f)

    def solve(x):
        def step(x, _):
            dx = jnp.linalg.solve(H(x), g(x))
            finite = jnp.all(jnp.isfinite(dx))  # a singular Hessian freezes the start
            return jnp.where(finite, x - dx, x), None

        x, _ = jax.lax.scan(step, x, None, length=steps)
        return x, jnp.linalg.norm(g(x))

    return jax.vmap(solve)(starts)


@functools.partial(jax.jit, static_argnames=("f",))
def _grad_norms(points: jax.Array, *, f: Callable):
    return jnp.linalg.norm(jax.vmap(derivatives.grad(f))(points), axis=-1)


@functools.partial(jax.jit, static_argnames=("f",))
def _describe(points: jax.Array, *, f: Callable):
    values = jax.vmap(f)(points)
    eigs = eigvalsh(jax.vmap(derivatives.hessian(f))(points))
    return values, eigs, kind_code(eigs)


def critical_points(
    f: Callable,
    lower: Sequence[float],
    upper: Sequence[float],
    num: int | Sequence[int] | None = None,
    steps: int = 50,
    tol: float | None = None,
    merge_tol: float | None = None,
) -> list[CriticalPoint]:
    """Find the critical points of ``f`` inside the box ``[lower, upper]``.

    Newton's method on the gradient, :math:`x \\leftarrow x - H(x)^{-1}\\nabla f(x)`,
    runs from the centres of a grid of cells covering the box (one vmapped
    ``lax.scan``, in float64). Starts whose gradient norm ends at most ``tol`` inside
    the box are kept, starts within ``merge_tol`` of each other are merged, and each
    point is classified by its Hessian's eigenvalues.

    Args:
      f: ``f(x)`` for ``x`` of shape ``(d,)``, scalar-valued.
      lower, upper: the box.
      num: starts per axis (default about 1000 starts in all, at least 3 per axis).
      steps: Newton steps per start.
      tol: gradient-norm tolerance; default ``1e-8 * max(1, max |∇f(start)|)``.
      merge_tol: distance under which two points are one; default
        ``1e-6 *`` the box's diagonal.

    Returns:
      The critical points, sorted by value. A function whose gradient never
      vanishes in the box gives an empty list.

    Example:
      >>> [p.kind for p in critical_points(lambda p: p[0] ** 2 - p[1] ** 2, (-1, -1), (1, 1))]
      ['saddle']
    """
    lower = tuple(float(v) for v in lower)
    upper = tuple(float(v) for v in upper)
    d = len(lower)
    if num is None:
        num = max(3, round(1000 ** (1 / max(d, 1))))
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    # cell centres: no start sits on the boundary
    grid = Grid(lower, upper, num)
    cells = np.asarray(grid.num)
    with jax.enable_x64(True):
        lo, hi = jnp.asarray(lower, jnp.float64), jnp.asarray(upper, jnp.float64)
        width = (hi - lo) / cells
        idx = jnp.stack(jnp.unravel_index(jnp.arange(grid.size), grid.shape), axis=-1)
        starts = lo[None, :] + (idx + 0.5) * width[None, :]
        start_norms = np.asarray(_grad_norms(starts, f=f))
        ends, gnorm = _newton_from(starts, f=f, steps=int(steps))
        ends, gnorm = np.asarray(ends), np.asarray(gnorm)
        if tol is None:
            scale = float(np.nanmax(start_norms, initial=0.0))
            tol = 1e-8 * max(1.0, scale if np.isfinite(scale) else 1.0)
        diag = float(np.linalg.norm(np.asarray(upper) - np.asarray(lower)))
        merge_tol = 1e-6 * diag if merge_tol is None else float(merge_tol)
        margin = 1e-9 * max(diag, 1.0)
        inside = np.all((ends >= np.asarray(lower) - margin) & (ends <= np.asarray(upper) + margin), axis=-1)
        keep = np.isfinite(gnorm) & (gnorm <= tol) & inside
        found, found_norm = ends[keep], gnorm[keep]
        if found.shape[0] == 0:
            return []
        # merge: order by gradient norm; each point joins the first (best) point within merge_tol
        order = np.argsort(found_norm, kind="stable")
        found = found[order]
        dist = np.linalg.norm(found[:, None, :] - found[None, :, :], axis=-1)
        representative = np.argmax(dist <= merge_tol, axis=1)
        unique = found[np.unique(representative)]
        values, eigs, kinds = (np.asarray(a) for a in _describe(jnp.asarray(unique), f=f))
    points = [
        CriticalPoint(point=unique[i], value=float(values[i]), eigenvalues=eigs[i], kind=KINDS[int(kinds[i])])
        for i in np.argsort(values, kind="stable")
    ]
    return points
