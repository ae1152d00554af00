"""Finite differences, vectorised over the coordinate basis, and gradient checking.

All perturbed points of one call are evaluated by one ``jax.lax.map`` over the basis
(batched, so memory stays bounded for large ``n``), never by a Python loop over
coordinates. Steps scale with ``max(|x_i|, 1)`` and the dtype's machine epsilon,
and are rounded so that ``x_i + h_i`` is exactly representable.

The functions returned here are jitted and memoised (one compilation per ``f`` and
options), so an eager call such as ``check_gradient`` compiles once; extra arguments
after the point are traced, so they must be arrays or pytrees of arrays.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxgrad import cache
from jaxgrad.calculus import derivatives
from jaxgrad.calculus.derivatives import weak_memo

PyTree = Any

__all__ = [
    "SCHEMES",
    "numerical_gradient",
    "numerical_jacobian",
    "numerical_hessian",
    "check_gradient",
    "GradientCheck",
]

SCHEMES = ("forward", "backward", "central", "richardson")
_STEP_EXPONENT = {"forward": 1 / 2, "backward": 1 / 2, "central": 1 / 3, "richardson": 1 / 5}
_ERROR_EXPONENT = {"forward": 1 / 2, "backward": 1 / 2, "central": 2 / 3, "richardson": 4 / 5}
# Richardson: R = (4 D(h/2) - D(h)) / 3 with D(h) = (f(x+h) - f(x-h)) / 2h (fourth order),
# computed as two central passes (see _first_partials).
# scheme -> (offsets in units of h, weights); the estimate is sum(w * f(x + o h e_i)) / h
_STENCILS = {
    "forward": ((1.0, 0.0), (1.0, -1.0)),
    "backward": ((0.0, -1.0), (1.0, -1.0)),
    "central": ((1.0, -1.0), (0.5, -0.5)),
}
_BATCH_ELEMENTS = 1 << 17  # perturbed coordinates per batch (1 MiB in float64): batches that stay in
# cache and reuse one buffer are 3-10x faster than one big vmap, whose temporaries are fresh
# page-faulting allocations on every call (measured in benchmarks/numerical.py)


# XLA:CPU gives reductions to YNNPACK fusions, which cannot take in the select that builds
# each perturbed point, so every batch of points is written out and read back; XLA's own
# fused loop builds the points in registers and is 2-3x faster here (benchmarks/numerical.py).
# Other backends ignore the option; a jaxlib that does not know it goes without. JAX takes
# compiler options only at the top level, so inside a caller's jit the caller's options rule.
XLA_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@cache.memo("xla options", maxsize=1)
def compiler_options() -> dict | None:
    """:data:`XLA_OPTIONS` if this jaxlib accepts them, else ``None`` (probed once)."""
    probe = jax.jit(lambda v: jnp.sum(v * v), compiler_options=XLA_OPTIONS)
    try:
        probe(jnp.ones(2))
    except jax.errors.JaxRuntimeError:  # "No such compile option" in another jaxlib
        return None
    return dict(XLA_OPTIONS)


def compiled(fn: Callable) -> Callable:
    """``fn`` jitted with :data:`XLA_OPTIONS` when called eagerly, inlined when staged
    (a caller's jit refuses nested compiler options)."""
    jitted = jax.jit(fn, compiler_options=compiler_options())

    @functools.wraps(fn)
    def call(*args):
        if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(args)):
            return fn(*args)  # staged into a caller's program
        try:
            return jitted(*args)
        except ValueError as err:  # staged, with constant arguments: the caller's jit refuses our options
            if "compiler_options" not in str(err):
                raise  # fn's own error, raised once
            return fn(*args)

    return call


def _check_scheme(scheme: str, allowed=SCHEMES) -> None:
    if scheme not in allowed:
        raise ValueError(f"scheme must be one of {', '.join(allowed)}; got {scheme!r}.")


def _float_dtype(x: jax.Array):
    dtype = jnp.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"finite differences need a floating-point point; got dtype {dtype}.")
    return dtype


def default_step(x: jax.Array, scheme: str = "central", order: int = 1) -> jax.Array:
    """The default step per coordinate: ``eps**p * max(|x_i|, 1)``.

    ``p`` is 1/2 (forward, backward), 1/3 (central) or 1/5 (Richardson) for first
    derivatives; for second derivatives (``order=2``) 1/4 (central) or 1/6 (Richardson).
    """
    eps = jnp.finfo(_float_dtype(x)).eps
    p = _STEP_EXPONENT[scheme] if order == 1 else {"central": 1 / 4, "richardson": 1 / 6}[scheme]
    return eps**p * jnp.maximum(jnp.abs(x), 1.0)


def _steps(x: jax.Array, step, scheme: str, order: int = 1) -> jax.Array:
    h = default_step(x, scheme, order) if step is None else jnp.broadcast_to(jnp.asarray(step, x.dtype), x.shape)
    return (x + h) - x  # exactly representable: x + h lands on a float


def _map_points(g: Callable, points_fn: Callable, count: int, n: int):
    """Evaluate ``g(points_fn(k))`` for k in range(count) in batches of bounded size."""
    batch = max(1, min(count, _BATCH_ELEMENTS // max(n, 1)))
    if batch >= count:  # one plain vmap: lax.map would add a one-step scan and a copy of its output
        return jax.vmap(lambda k: g(points_fn(k)))(jnp.arange(count))
    return jax.lax.map(lambda k: g(points_fn(k)), jnp.arange(count), batch_size=batch)


def _first_partials(g: Callable, x: jax.Array, step, scheme: str) -> jax.Array:
    """``d[i] = ∂g/∂x_i`` for flat ``x`` of shape (n,); returns shape ``(n,) + out_shape``."""
    n = x.shape[0]
    h = _steps(x, step, scheme)
    if scheme == "richardson":  # two central passes of 2n points each: (4 D(h/2) - D(h)) / 3
        half = (x + h / 2) - x
        return (4 * _first_partials(g, x, half, "central") - _first_partials(g, x, h, "central")) / 3
    offsets, weights = (jnp.asarray(a, x.dtype) for a in _STENCILS[scheme])
    k = offsets.shape[0]

    coords = jnp.arange(n)

    def point(idx):  # a select, not a scatter: it fuses into f's first op (3x faster)
        i, s = idx % n, idx // n
        return jnp.where(coords == i, x + offsets[s] * h, x)

    vals = _map_points(g, point, k * n, n)  # (k*n,) + out_shape
    vals = vals.reshape((k, n) + vals.shape[1:])
    combined = jnp.tensordot(weights, vals, axes=1)  # (n,) + out_shape
    return combined / h.reshape((n,) + (1,) * (combined.ndim - 1))


@weak_memo
def numerical_gradient(f: Callable[..., jax.Array], step=None, scheme: str = "central") -> Callable[..., PyTree]:
    r"""Finite-difference gradient of a scalar function.

    Schemes (``h`` per coordinate, ``e_i`` the basis vector):

    .. math::
       \text{forward: } \frac{f(x+h e_i)-f(x)}{h},\quad
       \text{central: } \frac{f(x+h e_i)-f(x-h e_i)}{2h},\quad
       \text{richardson: } \frac{4D_{h/2}-D_h}{3}

    with errors :math:`O(h)`, :math:`O(h^2)` and :math:`O(h^4)`.

    Args:
      f: ``f(x, *args) -> scalar``; ``x`` a ``(n,)`` array or a pytree.
      step: a scalar or per-coordinate step; default ``eps**p * max(|x_i|, 1)``.
      scheme: ``"forward"``, ``"backward"``, ``"central"`` or ``"richardson"``.

    Returns:
      ``x, *args -> ĝ(x)`` shaped like ``x``.

    Example:
      >>> g = jg.numerical_gradient(lambda p: p[0] ** 2 + 3 * p[0] * p[1] + p[1] ** 2)(jnp.array([1.0, 2.0]))
      >>> np.round(np.asarray(g), 3)  # exactly [8, 7]; float32 central differences hold ~5 digits
      array([8., 7.], dtype=float32)
    """
    _check_scheme(scheme)

    def num_grad(x, *args):
        flat, unravel = ravel_pytree(x)
        _float_dtype(flat)
        out = jax.eval_shape(lambda p: f(unravel(p), *args), flat)
        if out.shape != ():
            raise TypeError(f"numerical_gradient needs a scalar function; it returned shape {out.shape}.")
        return unravel(_first_partials(lambda p: f(unravel(p), *args), flat, step, scheme))

    return compiled(num_grad)


@weak_memo
def numerical_jacobian(f: Callable[..., jax.Array], step=None, scheme: str = "central") -> Callable[..., jax.Array]:
    """Finite-difference Jacobian, shape ``out_shape + (n,)`` (``(m, n)`` for ``R^n -> R^m``).

    A pytree input is flattened (``ravel_pytree``); columns follow that order.
    """
    _check_scheme(scheme)

    def num_jac(x, *args):
        flat, unravel = ravel_pytree(x)
        _float_dtype(flat)
        d = _first_partials(lambda p: f(unravel(p), *args), flat, step, scheme)  # (n,) + out
        return jnp.moveaxis(d, 0, -1)

    return compiled(num_jac)


@weak_memo
def numerical_hessian(f: Callable[..., jax.Array], step=None, scheme: str = "central") -> Callable[..., jax.Array]:
    r"""Finite-difference Hessian of a scalar function from function values alone.

    .. math::
       H_{ij} \approx \frac{f(x+h_ie_i+h_je_j)-f(x+h_ie_i-h_je_j)-f(x-h_ie_i+h_je_j)+f(x-h_ie_i-h_je_j)}{4h_ih_j}

    ``"richardson"`` combines steps ``h`` and ``h/2`` as :math:`(4H_{h/2}-H_h)/3`.
    The result is exactly symmetric. Shape ``(n, n)`` for the flattened ``x``.
    """
    _check_scheme(scheme, ("central", "richardson"))

    def num_hess(x, *args):
        flat, unravel = ravel_pytree(x)
        _float_dtype(flat)
        n = flat.shape[0]
        g = lambda p: f(unravel(p), *args)  # noqa: E731
        h = _steps(flat, step, scheme, order=2)
        corners = jnp.asarray([[1, 1], [1, -1], [-1, 1], [-1, -1]], flat.dtype)
        signs = jnp.asarray([1, -1, -1, 1], flat.dtype)
        scales = (1.0,) if scheme == "central" else (1.0, 0.5)

        def estimate(scale):
            coords = jnp.arange(n)

            def point(idx):
                c, ij = idx // (n * n), idx % (n * n)
                i, j = ij // n, ij % n
                di = jnp.where(coords == i, scale * corners[c, 0] * h, 0)
                dj = jnp.where(coords == j, scale * corners[c, 1] * h, 0)
                return flat + di + dj

            vals = _map_points(g, point, 4 * n * n, n).reshape(4, n, n)
            return jnp.tensordot(signs, vals, axes=1) / (4 * scale**2 * jnp.outer(h, h))

        H = estimate(1.0) if len(scales) == 1 else (4 * estimate(0.5) - estimate(1.0)) / 3
        return (H + H.T) / 2

    return compiled(num_hess)


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """The outcome of :func:`check_gradient`; flat arrays follow ``ravel_pytree`` order.

    Attributes:
      analytic, numerical: the two gradients, flattened, shape ``(n,)``.
      abs_error: ``|analytic - numerical|`` per coordinate.
      rel_error: ``abs_error / max(|analytic|, |numerical|)`` per coordinate.
      max_abs_error, max_rel_error: their maxima.
      worst: where the check is tightest, e.g. ``"x[1]"`` or ``"['w'][2, 0]"``.
      worst_index: the flat index of ``worst``.
      rtol, atol: the tolerance: coordinate ``i`` passes when
        ``abs_error[i] <= atol + rtol * |numerical[i]|``.
      ok: whether every coordinate passes.
    """

    analytic: np.ndarray
    numerical: np.ndarray
    abs_error: np.ndarray
    rel_error: np.ndarray
    max_abs_error: float
    max_rel_error: float
    worst: str
    worst_index: int
    rtol: float
    atol: float
    ok: bool
    labels: tuple[str, ...] = ()

    def __str__(self) -> str:
        rows = [f"{'coordinate':>14} {'analytic':>15} {'numerical':>15} {'abs error':>10} {'rel error':>10}"]
        for k in range(len(self.analytic)):
            label = self.labels[k] if self.labels else f"x[{k}]"
            rows.append(
                f"{label:>14} {self.analytic[k]:>15.8g} {self.numerical[k]:>15.8g} "
                f"{self.abs_error[k]:>10.2e} {self.rel_error[k]:>10.2e}"
            )
        verdict = "ok" if self.ok else "FAILED"
        rows.append(
            f"gradient check {verdict}: max abs error {self.max_abs_error:.3e}, max rel error "
            f"{self.max_rel_error:.3e}, worst {self.worst} (rtol {self.rtol:.1e}, atol {self.atol:.1e})"
        )
        return "\n".join(rows)


def _leaf_labels(x: PyTree) -> list[str]:
    """A label per flattened coordinate: ``x[i]`` for an array, ``<path>[idx]`` for a pytree."""
    leaves_with_paths, _ = jax.tree_util.tree_flatten_with_path(x)
    single = len(leaves_with_paths) == 1 and leaves_with_paths[0][0] == ()
    labels = []
    for path, leaf in leaves_with_paths:
        name = "x" if single else jax.tree_util.keystr(path)
        shape = np.shape(leaf)
        for flat_i in range(int(np.prod(shape, dtype=int))):
            idx = np.unravel_index(flat_i, shape) if shape else ()
            labels.append(f"{name}[{', '.join(str(int(i)) for i in idx)}]" if shape else name)
    return labels


def check_gradient(
    f: Callable[..., jax.Array],
    x: PyTree,
    *args,
    grad_fn: Callable[..., PyTree] | None = None,
    step=None,
    scheme: str = "central",
    rtol: float | None = None,
    atol: float | None = None,
) -> GradientCheck:
    """Compare an analytic gradient with finite differences at ``x``.

    Args:
      f: ``f(x, *args) -> scalar``.
      x: the point: a ``(n,)`` array or a pytree.
      grad_fn: the gradient to check; default ``jaxgrad.grad(f)`` (which uses any
        ``custom_vjp`` rules inside ``f``, so planted errors there are caught).
      step, scheme: passed to :func:`numerical_gradient`.
      rtol: relative tolerance; default ``100 * eps**q`` for the dtype, with
        ``q`` the scheme's error exponent (1/2 forward, 2/3 central, 4/5 Richardson).
      atol: absolute tolerance; default ``rtol * max(1, max_i |numerical_i|)``,
        because finite-difference rounding scales with the whole gradient, not
        with each coordinate.

    Returns:
      A :class:`GradientCheck`; ``print(report)`` shows a table.

    Example:
      >>> jg.check_gradient(lambda p: jnp.sum(jnp.sin(p)), jnp.array([0.1, 0.2])).ok
      True
    """
    _check_scheme(scheme)
    analytic = (grad_fn or derivatives.grad(f))(x, *args)
    numeric = numerical_gradient(f, step, scheme)(x, *args)
    a = np.asarray(ravel_pytree(analytic)[0], dtype=np.float64)
    n = np.asarray(ravel_pytree(numeric)[0], dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"grad_fn returned {a.shape[0]} entries but the point has {n.shape[0]}.")
    eps = float(jnp.finfo(jnp.result_type(ravel_pytree(x)[0])).eps)
    rtol = 100 * eps ** _ERROR_EXPONENT[scheme] if rtol is None else float(rtol)
    atol = rtol * max(1.0, float(np.max(np.abs(n), initial=0.0))) if atol is None else float(atol)
    abs_error = np.abs(a - n)
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), np.finfo(np.float64).tiny)
    rel_error = abs_error / denom
    budget = atol + rtol * np.abs(n)
    ratio = np.where(np.isfinite(abs_error), abs_error / budget, np.inf)
    worst_index = int(np.argmax(ratio)) if ratio.size else 0
    labels = tuple(_leaf_labels(x))
    return GradientCheck(
        analytic=a,
        numerical=n,
        abs_error=abs_error,
        rel_error=rel_error,
        max_abs_error=float(np.max(abs_error, initial=0.0)),
        max_rel_error=float(np.max(rel_error, initial=0.0)),
        worst=labels[worst_index] if labels else "",
        worst_index=worst_index,
        rtol=rtol,
        atol=atol,
        ok=bool(np.all(ratio <= 1.0)),
        labels=labels,
    )
