"""Functions of a point: the quadratic, classic test functions, and typed expressions.

Each takes a flat ``(dim,)`` array. Every optimum listed here is checked by the
tests (value, vanishing gradient, positive semi-definite Hessian, and a reference
solver started nearby): peer libraries ship wrong ones.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgrad.problems._problem import Problem, as_key, check, register

__all__ = [
    "quadratic",
    "rosenbrock",
    "himmelblau",
    "beale",
    "booth",
    "matyas",
    "six_hump_camel",
    "rastrigin",
    "ackley",
    "expression",
]


MAX_QUADRATIC_DIM = 4096  # a dense 4096 x 4096 rotation: 400 MiB to build in float64


def _float(x) -> jax.Array:
    return jnp.asarray(x, jnp.result_type(float))


def _box_init(bounds, x0=None):
    """Uniform in the bounds, or the fixed start ``x0`` for every key."""
    lo = _float([b[0] for b in bounds])
    hi = _float([b[1] for b in bounds])
    if x0 is not None:
        start = _float(x0)
        check(start.shape == lo.shape, f"x0 must have {lo.shape[0]} entries, got {start.shape}")
        return lambda key: start
    return lambda key: jax.random.uniform(key, lo.shape, lo.dtype, lo, hi)


def _point_problem(name, f, bounds, minimizers, minimum, x0=None, dim=None) -> Problem:
    minimizers = tuple(_float(m) for m in minimizers)
    return Problem(
        name=name,
        objective=lambda x, data: f(x),
        init_fn=_box_init(bounds, x0),
        minimum=minimum,
        argmin=minimizers[0] if minimizers else None,
        minimizers=minimizers,
        bounds=tuple(tuple(b) for b in bounds) if len(bounds) == 2 else None,
    )


@register
def quadratic(dim: int = 10, condition_number: float = 100.0, key: int | jax.Array = 0) -> Problem:
    r"""A convex quadratic :math:`f(x) = \tfrac12 (x-x^*)^\top A (x-x^*)` with
    :math:`A = Q\,\mathrm{diag}(\lambda)\,Q^\top`, eigenvalues log-spaced in
    :math:`[1, \kappa]` and a random rotation :math:`Q` from ``key``; minimum 0 at
    :math:`x^*`. Gradient descent is fastest at :math:`\eta = 2/(L+\mu) = 2/(\kappa+1)`.
    """
    check(int(dim) == dim and dim >= 1, f"dim must be a positive integer, got {dim}")
    check(dim <= MAX_QUADRATIC_DIM, f"dim must be at most {MAX_QUADRATIC_DIM} for the quadratic (its matrix is "
                                    f"dense: dim {dim} would take {3 * 8 * dim**2 / 2**30:.0f} GiB to build)")
    check(condition_number >= 1, f"condition_number must be at least 1, got {condition_number}")
    dim = int(dim)
    k_rot, k_min = jax.random.split(as_key(key))
    q, r = np.linalg.qr(np.asarray(jax.random.normal(k_rot, (dim, dim), jnp.float32), np.float64))
    q = q * np.sign(np.diag(r))  # a Haar-distributed rotation
    eigenvalues = np.logspace(0.0, math.log10(condition_number), dim)
    A = _float((q * eigenvalues) @ q.T)
    xstar = _float(np.asarray(jax.random.normal(k_min, (dim,), jnp.float32)))

    def f(x):
        d = x - xstar
        return 0.5 * d @ (A @ d)

    bounds = [(float(xstar[i]) - 4.0, float(xstar[i]) + 4.0) for i in range(dim)]
    problem = _point_problem("quadratic", f, bounds, [xstar], 0.0)
    return dataclasses.replace(problem, init_fn=lambda key: xstar + 2.0 * jax.random.normal(key, (dim,), xstar.dtype))


@register
def rosenbrock(dim: int = 2, x0: Sequence[float] | None = None) -> Problem:
    r""":math:`\sum_i 100(x_{i+1}-x_i^2)^2 + (1-x_i)^2`; minimum 0 at :math:`(1,\dots,1)`.

    Starts are uniform in :math:`[-2,2]\times[-1,3]` (per pair of coordinates), or
    ``x0`` (the classic start is ``(-1.2, 1)``).
    """
    check(int(dim) == dim and dim >= 2, f"dim must be an integer >= 2, got {dim}")
    dim = int(dim)

    def f(x):
        return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    bounds = [(-2.0, 2.0) if i % 2 == 0 else (-1.0, 3.0) for i in range(dim)]
    return _point_problem("rosenbrock", f, bounds, [np.ones(dim)], 0.0, x0)


@register
def himmelblau(x0: Sequence[float] | None = None) -> Problem:
    r""":math:`(x^2+y-11)^2 + (x+y^2-7)^2`: four minima of value 0, one maximum, four saddles."""

    def f(p):
        x, y = p[0], p[1]
        return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2

    minimizers = [
        (3.0, 2.0),
        (-2.805118086952745, 3.131312518250573),
        (-3.779310253377747, -3.283185991286170),
        (3.584428340330492, -1.848126526964404),
    ]
    return _point_problem("himmelblau", f, [(-5.0, 5.0), (-5.0, 5.0)], minimizers, 0.0, x0)


@register
def beale(x0: Sequence[float] | None = None) -> Problem:
    r""":math:`(1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2`; minimum 0 at :math:`(3, 0.5)`."""

    def f(p):
        x, y = p[0], p[1]
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2

    return _point_problem("beale", f, [(-4.5, 4.5), (-4.5, 4.5)], [(3.0, 0.5)], 0.0, x0)


@register
def booth(x0: Sequence[float] | None = None) -> Problem:
    r""":math:`(x+2y-7)^2 + (2x+y-5)^2`; minimum 0 at :math:`(1, 3)`."""

    def f(p):
        x, y = p[0], p[1]
        return (x + 2 * y - 7.0) ** 2 + (2 * x + y - 5.0) ** 2

    return _point_problem("booth", f, [(-10.0, 10.0), (-10.0, 10.0)], [(1.0, 3.0)], 0.0, x0)


@register
def matyas(x0: Sequence[float] | None = None) -> Problem:
    r""":math:`0.26(x^2+y^2) - 0.48xy`; minimum 0 at the origin (a narrow valley along x = y)."""

    def f(p):
        x, y = p[0], p[1]
        return 0.26 * (x**2 + y**2) - 0.48 * x * y

    return _point_problem("matyas", f, [(-10.0, 10.0), (-10.0, 10.0)], [(0.0, 0.0)], 0.0, x0)


@register
def six_hump_camel(x0: Sequence[float] | None = None) -> Problem:
    r""":math:`(4-2.1x^2+x^4/3)x^2 + xy + (4y^2-4)y^2`; two global minima
    :math:`\approx -1.0316284534898774` at :math:`\pm(0.0898420, -0.7126564)`."""

    def f(p):
        x, y = p[0], p[1]
        return (4.0 - 2.1 * x**2 + x**4 / 3.0) * x**2 + x * y + (-4.0 + 4.0 * y**2) * y**2

    xm = (0.08984201368301331, -0.7126564032704135)
    return _point_problem(
        "six_hump_camel", f, [(-3.0, 3.0), (-2.0, 2.0)], [xm, (-xm[0], -xm[1])], -1.0316284534898774, x0
    )


@register
def rastrigin(dim: int = 2, x0: Sequence[float] | None = None) -> Problem:
    r""":math:`10n + \sum_i x_i^2 - 10\cos(2\pi x_i)`; minimum 0 at the origin, a local minimum near every integer point."""
    check(int(dim) == dim and dim >= 1, f"dim must be a positive integer, got {dim}")
    dim = int(dim)

    def f(x):
        return 10.0 * dim + jnp.sum(x**2 - 10.0 * jnp.cos(2 * jnp.pi * x))

    return _point_problem("rastrigin", f, [(-5.12, 5.12)] * dim, [np.zeros(dim)], 0.0, x0)


@register
def ackley(dim: int = 2, x0: Sequence[float] | None = None) -> Problem:
    r""":math:`-20e^{-0.2\sqrt{\overline{x^2}}} - e^{\overline{\cos 2\pi x}} + 20 + e`; minimum 0 at the
    origin, where it is not differentiable (a cone tip)."""
    check(int(dim) == dim and dim >= 1, f"dim must be a positive integer, got {dim}")
    dim = int(dim)

    def f(x):
        return (
            -20.0 * jnp.exp(-0.2 * jnp.sqrt(jnp.mean(x**2)))
            - jnp.exp(jnp.mean(jnp.cos(2 * jnp.pi * x)))
            + 20.0
            + jnp.e
        )

    return _point_problem("ackley", f, [(-5.0, 5.0)] * dim, [np.zeros(dim)], 0.0, x0)


@register
def expression(
    *,
    expr: str,
    init: Sequence[float] | None = None,
    bounds: Sequence[Sequence[float]] | None = None,
    variables: Sequence[str] | None = None,
    minimum: float | None = None,
    init_noise: float = 0.0,
) -> Problem:
    """A function typed as text (parsed safely by :func:`jaxgrad.expression`).

    Starts at ``init`` (plus ``init_noise`` times a standard normal per seed), or
    uniformly in ``bounds``; ``minimum`` is used for loss gaps when given.
    """
    from jaxgrad.calculus.expressions import expression as parse

    f = parse(expr, variables)
    check(not f.is_vector, "a problem's expression must be scalar, not a list", "expr")
    d = len(f.variables)
    check(d >= 1, "the expression has no variables", "expr")
    if bounds is not None:
        bounds = [tuple(float(v) for v in b) for b in bounds]
        check(len(bounds) == d and all(len(b) == 2 and b[0] < b[1] for b in bounds),
              f"bounds must be {d} pairs [lo, hi] with lo < hi for variables {', '.join(f.variables)}")
    if init is not None:
        start = _float(init)
        check(start.shape == (d,), f"init must have {d} entries for variables {', '.join(f.variables)}, got {len(init)}")
        check(init_noise >= 0, f"init_noise must be non-negative, got {init_noise}")
        init_fn = lambda key: start + init_noise * jax.random.normal(key, (d,), start.dtype)  # noqa: E731
    else:
        check(bounds is not None, "an expression problem needs init or bounds", "init")
        init_fn = _box_init(bounds)
    if bounds is None and d == 2:
        bounds = [(float(start[i]) - 3.0, float(start[i]) + 3.0) for i in range(2)]
    return Problem(
        name="expression",
        objective=lambda x, data: f(x),
        init_fn=init_fn,
        minimum=minimum,
        bounds=tuple(bounds) if bounds is not None and d == 2 else None,
    )
