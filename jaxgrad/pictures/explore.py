"""What ``jaxgrad check`` and ``jaxgrad field`` compute for an expression, apart from printing.

:func:`examine` evaluates everything the check report shows at one point (value,
exact and numerical derivatives, Hessian, eigenvalues, kind, a directional
derivative); :func:`symbolic_partials` gives each partial derivative as a sympy
formula; :func:`function_figure` and :func:`field_plot` draw a 1- or 2-variable
expression and its field. The CLI parses, calls these and prints.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import jax.numpy as jnp
import numpy as np

from jaxgrad.calculus import derivatives
from jaxgrad.calculus.numerical import (
    GradientCheck,
    check_gradient,
    numerical_gradient,
    numerical_jacobian,
)
from jaxgrad.errors import InputError
from jaxgrad.fields.critical import critical_points
from jaxgrad.fields.grid import Grid
from jaxgrad.fields.points import classify, eigvalsh
from jaxgrad.fields.quantities import directional_profile, field, quantity
from jaxgrad.pictures import house, plots

__all__ = ["PointReport", "examine", "symbolic_partials", "function_figure", "field_plot"]


@dataclasses.dataclass(frozen=True)
class PointReport:
    """A function at one point, as ``jaxgrad check`` shows it (NumPy arrays).

    For a vector function, ``value`` is a vector, ``jacobian`` and ``numerical_jacobian``
    are set and the curvature fields are ``None``. For a scalar one: ``gradient_check``
    (exact against central differences), ``hessian``, ``eigenvalues``, ``kind`` (of the
    Hessian), ``critical`` (``|grad| <= 100 sqrt(eps) max(1, |f|)``), and with a direction
    ``directional`` (the derivative along ``direction / |direction|``).
    """

    value: np.ndarray
    gradient: np.ndarray | None = None
    gradient_check: GradientCheck | None = None
    hessian: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None
    kind: str | None = None
    critical: bool | None = None
    directional: float | None = None
    jacobian: np.ndarray | None = None
    numerical_jacobian: np.ndarray | None = None

    @property
    def gradient_norm(self) -> float:
        return float(np.linalg.norm(self.gradient))

    @property
    def jacobian_error(self) -> float:
        """Largest ``|exact - central difference|`` over the Jacobian's entries."""
        return float(np.max(np.abs(self.jacobian - self.numerical_jacobian)))


def examine(f: Callable, x, direction=None, *, is_vector: bool = False) -> PointReport:
    """Value, derivatives and curvature of ``f`` at ``x`` (in ``x``'s dtype).

    Example:
      >>> r = examine(lambda p: p[0] * p[1], jnp.array([0.0, 0.0]))
      >>> r.kind, r.critical, r.gradient_check.ok
      ('saddle', True, True)
    """
    x = jnp.asarray(x)
    if is_vector:
        return PointReport(value=np.asarray(f(x)), jacobian=np.asarray(derivatives.jacobian(f)(x)),
                           numerical_jacobian=np.asarray(numerical_jacobian(f)(x)))
    value = float(f(x))
    gradient = np.asarray(derivatives.grad(f)(x))
    H = derivatives.hessian(f)(x)
    eps = float(jnp.finfo(x.dtype).eps)
    directional = None
    if direction is not None:
        u = jnp.asarray(direction, x.dtype)
        if not bool(jnp.any(u != 0)):
            raise InputError("the zero vector has no direction", field="direction")
        directional = float(derivatives.directional_derivative(f)(x, u))
    return PointReport(
        value=np.asarray(value), gradient=gradient, gradient_check=check_gradient(f, x),
        hessian=np.asarray(H), eigenvalues=np.asarray(eigvalsh(H)), kind=classify(H),
        critical=bool(np.linalg.norm(gradient) <= 100 * math.sqrt(eps) * max(1.0, abs(value))),
        directional=directional)


def symbolic_partials(f, point) -> list[tuple[str, str, complex]]:
    """``(variable, formula, exact value at point)`` for each partial derivative of an
    :func:`~jaxgrad.expression` (needs sympy: the ``symbolic`` extra)."""
    import sympy as sp

    expr = f.to_sympy()
    symbols = [sp.Symbol(n, real=True) for n in f.variables]
    at = dict(zip(symbols, (sp.Float(float(v)) for v in np.asarray(point, np.float64))))
    out = []
    for name, s in zip(f.variables, symbols):
        d = sp.diff(expr, s)
        if sp.count_ops(d) <= 60:  # simplify small formulas only: sympy's simplify can take minutes on big ones
            d = sp.simplify(d)
        out.append((name, sp.sstr(d), complex(d.evalf(subs=at))))
    return out


def function_figure(f, grid: Grid, dtype, at=None):
    """f and f' of a 1-variable expression: f' exact (jax.grad), finite differences as markers."""
    (x,) = grid.axes
    f_values = np.asarray(field(f, grid, dtype=dtype))
    df = np.asarray(field(quantity(f, "grad"), grid, dtype=dtype))[:, 0]
    x_check = np.linspace(x[0], x[-1], 15)
    numerical = numerical_gradient(f)  # 15 markers: a loop over points is no hot path here
    df_check = np.asarray([numerical(jnp.asarray([v], dtype))[0] for v in x_check])
    fig, (ax_f, ax_d) = house.figure(1, 7.5, 6.4, rows=2, sharex=True)
    plots.function_1d(ax_f, ax_d, x, f_values, df, x_check, df_check, at=None if at is None else at[0],
                      title=f"f(x) = {f.text} and its derivative")
    return fig


def field_plot(f, grid: Grid, quantity_name: str, values, dtype, style: str = "map", at=None):
    """The figure of a 2-D field ``values`` of ``quantity_name``, subsampled to at most ~400
    points per axis (``style``: map, streamlines, surface, or polar around ``at``)."""
    from matplotlib.figure import Figure

    if style in ("streamlines", "surface", "polar"):
        small = Grid(grid.lower, grid.upper, [min(n, 201) for n in grid.shape])
        x, y = small.axes
        f_values = np.asarray(field(f, small, dtype=dtype))
        if style == "streamlines":
            fig, (ax,) = house.figure(1, 7.0, 5.6)
            plots.streamlines(ax, x, y, f_values, np.asarray(field(quantity(f, "grad"), small, dtype=dtype)))
        elif style == "surface":
            fig = Figure(figsize=(7.5, 6.0), dpi=house.DPI)
            plots.surface(fig, x, y, f_values)
        else:
            point = jnp.asarray(at, dtype)
            angles, dd = directional_profile(f, point)
            fig = Figure(figsize=(6.0, 6.0), dpi=house.DPI, layout="constrained")
            ax = fig.add_subplot(projection="polar")
            plots.directional_polar(ax, angles, dd, np.asarray(quantity(f, "grad")(point)), at)
        fig.suptitle(f"f = {f.text}")
        return fig

    strides = [max(1, math.ceil(n / 400)) for n in grid.shape]
    axes = [a[::s] for a, s in zip(grid.axes, strides)]
    small = Grid((axes[0][0], axes[1][0]), (axes[0][-1], axes[1][-1]), (len(axes[0]), len(axes[1])))
    values = values[:: strides[0], :: strides[1]]
    f_values = np.asarray(field(f, small, dtype=dtype))
    grad = np.asarray(field(quantity(f, "grad"), small, dtype=dtype)) if quantity_name in ("grad", "value") else None
    critical = None
    if quantity_name in ("kind", "eigenvalues", "grad", "value"):
        critical = [(c.point, c.kind) for c in critical_points(f, grid.lower, grid.upper)]
    fig = plots.field_figure(quantity_name, axes, values, f_values=f_values, grad=grad, critical=critical,
                             title=f"f = {f.text}")
    if at is not None:  # a marked point, with its value
        for ax in fig.axes[:1]:
            ax.plot(at[0], at[1], "*", color="#e7298a", mec="k", ms=14, zorder=7,
                    label=f"({at[0]:g}, {at[1]:g}): f = {float(f(jnp.asarray(at, dtype))):.4g}")
            house.legend(ax, below=True)
    return fig
