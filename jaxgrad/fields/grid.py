"""Regular grids of points in any dimension, in 'ij' (row-major) order."""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgrad.errors import InputError

__all__ = ["Grid"]


def _tuple(value, name: str, d: int | None, kind=float) -> tuple:
    if np.ndim(value) == 0:
        if d is None:
            raise InputError(f"Grid: {name} must be a sequence, got {value!r}")
        value = (value,) * d
    try:
        out = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"Grid: {name} must hold numbers, got {value!r}") from None
    if kind is int and any(float(v) != int(v) for v in value):
        raise InputError(f"Grid: {name} must hold integers, got {value!r}")
    return out


@dataclasses.dataclass(frozen=True)
class Grid:
    """A regular grid on the box ``[lower, upper]`` with ``num[i]`` points along axis ``i``.

    Points run in 'ij' (row-major) order: the last coordinate varies fastest, so
    ``points.reshape(num + (d,))[i, j] == (axes[0][i], axes[1][j])``.

    Attributes:
      lower, upper: the box corners, tuples of ``d`` floats.
      num: points per axis (a scalar is used for every axis).

    Example:
      >>> g = Grid(lower=(-2, -2), upper=(2, 2), num=(101, 101))
      >>> g.points.shape, g.shape
      ((10201, 2), (101, 101))
    """

    lower: Sequence[float]
    upper: Sequence[float]
    num: Sequence[int] | int = 101

    def __post_init__(self):
        lower = _tuple(self.lower, "lower", None)
        upper = _tuple(self.upper, "upper", len(lower))
        num = _tuple(self.num, "num", len(lower), int)
        if not lower:
            raise InputError("Grid: lower must have at least one coordinate")
        if not (len(lower) == len(upper) == len(num)):
            raise InputError(f"Grid: lower, upper and num differ in length ({len(lower)}, {len(upper)}, {len(num)})")
        for i, (lo, hi, n) in enumerate(zip(lower, upper, num)):
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise InputError(f"Grid: bounds of axis {i} must be finite, got [{lo}, {hi}]")
            if n < 1:
                raise InputError(f"Grid: num[{i}] must be at least 1, got {n}")
            if n > 1 and not lo < hi:
                raise InputError(f"Grid: lower[{i}] = {lo} must be below upper[{i}] = {hi}")
            if not math.isfinite(hi - lo):
                raise InputError(f"Grid: axis {i}, [{lo:g}, {hi:g}], is wider than floating point can hold")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "num", num)

    @property
    def dim(self) -> int:
        return len(self.num)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.num)

    @property
    def size(self) -> int:
        return math.prod(self.num)

    @property
    def step(self) -> tuple[float, ...]:
        return tuple((hi - lo) / (n - 1) if n > 1 else 0.0 for lo, hi, n in zip(self.lower, self.upper, self.num))

    @property
    def axes(self) -> tuple[np.ndarray, ...]:
        """The coordinates along each axis (NumPy, float64), ``lower + i * step``."""
        return tuple(lo + np.arange(n) * h for lo, n, h in zip(self.lower, self.num, self.step))

    @property
    def points(self) -> jax.Array:
        """All points, shape ``(size, dim)``, in the default float dtype (computed in float64, rounded once)."""
        points = np.stack(np.meshgrid(*self.axes, indexing="ij"), axis=-1).reshape(self.size, self.dim)
        return jnp.asarray(points, jnp.result_type(float))

    def mesh(self) -> tuple[np.ndarray, ...]:
        """``np.meshgrid(*axes, indexing='ij')``, for plotting."""
        return tuple(np.meshgrid(*self.axes, indexing="ij"))

