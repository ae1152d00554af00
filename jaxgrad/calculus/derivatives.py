"""Exact derivatives of functions of a point or of a parameter pytree.

Every transformation here returns a function, as JAX's own do, so the results
compose with ``jax.jit`` and ``jax.vmap``. Extra positional arguments after the
point are passed through to ``f`` and are not differentiated.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxgrad import cache
from jaxgrad.errors import InputError

PyTree = Any

__all__ = ["check_loss", "grad", "directional_derivative", "jacobian", "hessian", "hvp"]


def _name(f: Callable) -> str:
    return getattr(f, "__name__", None) or repr(f)


def _require_scalar(f: Callable, out: jax.Array, what: str) -> None:
    shape = jnp.shape(out)
    if shape != ():
        raise TypeError(
            f"{what} needs a scalar-valued function, but {_name(f)} returned an array of "
            f"shape {shape}; use jaxgrad.jacobian for vector-valued functions."
        )
    if not jnp.issubdtype(jnp.result_type(out), jnp.floating):
        raise TypeError(
            f"{what} needs a real floating-point output, but {_name(f)} returned "
            f"dtype {jnp.result_type(out)}; pass float inputs (e.g. jnp.array([1.0, 2.0]))."
        )


def _check_same_structure(x: PyTree, v: PyTree, what: str) -> None:
    """Raise a ValueError naming both shapes when ``v`` does not match ``x``."""
    x_leaves, x_def = jax.tree_util.tree_flatten(x)
    v_leaves, v_def = jax.tree_util.tree_flatten(v)
    if x_def != v_def:
        raise ValueError(f"{what} has tree structure {v_def}, but the point has {x_def}.")
    for a, b in zip(x_leaves, v_leaves):
        if jnp.shape(a) != jnp.shape(b):
            x_shapes = jax.tree_util.tree_map(jnp.shape, x)
            v_shapes = jax.tree_util.tree_map(jnp.shape, v)
            raise ValueError(f"{what} has shape {v_shapes}, but the point has shape {x_shapes}.")


def _cast_like(v: PyTree, x: PyTree) -> PyTree:
    return jax.tree_util.tree_map(lambda a, b: jnp.asarray(a, jnp.result_type(b)), v, x)


def _tree_norm(v: PyTree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree_util.tree_leaves(v)))


def _is_concrete(v: PyTree) -> bool:
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(v))


def weak_memo(factory):
    """``factory(f, *options)`` memoised without keeping ``f`` or its result alive (a weak
    :class:`jaxgrad.cache.Memo`): the same ``f`` and options give the same function object
    while anyone holds it, so its compiled programs are reused; an unhashable option (an
    array step) or a callable without weak references gets a fresh result."""
    return cache.memo(f"{factory.__module__}.{factory.__qualname__}", weak=True, maxsize=1024)(factory)


@weak_memo
def grad(f: Callable[..., jax.Array]) -> Callable[..., PyTree]:
    r"""The gradient :math:`\nabla f(x)` of a scalar function, by reverse mode.

    Args:
      f: ``f(x, *args) -> scalar`` where ``x`` is a ``(n,)`` array or a pytree.

    Returns:
      ``x, *args -> ∇f(x)``, with the shape (or tree structure) of ``x``.

    Raises:
      TypeError: when ``f`` returns a non-scalar, naming the shape it returned.

    Example:
      >>> import jax.numpy as jnp, jaxgrad as jg
      >>> jg.grad(lambda p: 3 * p[0] ** 2 * p[1] + 2 * p[1])(jnp.array([1.0, 2.0]))
      Array([12.,  5.], dtype=float32)
    """

    @functools.wraps(f)
    def grad_f(x, *args):
        out, pullback = jax.vjp(lambda p: f(p, *args), x)
        _require_scalar(f, out, "grad")
        (g,) = pullback(jnp.ones_like(out))
        return g

    return grad_f


@weak_memo
def directional_derivative(f: Callable[..., jax.Array], normalize: bool = True) -> Callable[..., jax.Array]:
    r"""The directional derivative :math:`D_u f(x) = \nabla f(x)\cdot u/\lVert u\rVert` by one ``jvp``.

    One forward-mode pass: the full gradient is never formed. For a vector-valued
    ``f`` the result is the Jacobian-vector product :math:`J(x)\,u/\lVert u\rVert`.

    Args:
      f: ``f(x, *args)``; ``x`` a ``(n,)`` array or a pytree.
      normalize: divide ``u`` by its Euclidean norm (over all leaves) first, as the
        seeds do; ``False`` gives :math:`\nabla f\cdot u`.

    Returns:
      ``x, u, *args -> D_u f(x)`` where ``u`` has the shape (tree) of ``x``.

    Raises:
      ValueError: when ``u``'s shape differs from ``x``'s (both are named), or when
        ``u`` is zero and ``normalize`` (checked outside ``jit``; under ``jit`` a zero
        direction gives NaN).

    Example:
      >>> jg.directional_derivative(lambda p: p @ p)(jnp.array([1.0, 2.0]), jnp.array([3.0, 4.0]))
      Array(4.4, dtype=float32)
    """

    @functools.wraps(f)
    def d_f(x, u, *args):
        _check_same_structure(x, u, "the direction u")
        u = _cast_like(u, x)
        if normalize:
            norm = _tree_norm(u)
            if _is_concrete(u) and not bool(norm > 0):
                raise ValueError("the direction u is the zero vector; it has no direction to normalize.")
            u = jax.tree_util.tree_map(lambda leaf: leaf / norm, u)
        _, tangent = jax.jvp(lambda p: f(p, *args), (x,), (u,))
        return tangent

    return d_f


def _size(tree: PyTree) -> int:
    return sum(math.prod(np.shape(leaf)) for leaf in jax.tree_util.tree_leaves(tree))


@weak_memo
def jacobian(f: Callable[..., PyTree], mode: str = "auto") -> Callable[..., PyTree]:
    r"""The Jacobian :math:`J_{ij} = \partial f_i / \partial x_j` of ``f``.

    Args:
      f: ``f(x, *args)`` with array (or pytree) input and output.
      mode: ``"fwd"`` (``jax.jacfwd``, one JVP per input), ``"rev"`` (``jax.jacrev``,
        one VJP per output) or ``"auto"``, which picks forward mode when the input
        has no more entries than the output and reverse mode otherwise. The choice is
        made from shapes at trace time, so it costs nothing under ``jit``.

    Returns:
      ``x, *args -> J(x)`` of shape ``out_shape + in_shape`` (``(m, n)`` for
      ``f: R^n -> R^m``).

    Example:
      >>> J = jg.jacobian(lambda p: jnp.stack([p[0] ** 2 + p[1], p[0] * p[1]]))
      >>> J(jnp.array([2.0, 3.0]))
      Array([[4., 1.],
             [3., 2.]], dtype=float32)
    """
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError(f"mode must be 'auto', 'fwd' or 'rev', got {mode!r}.")

    @functools.wraps(f)
    def jac_f(x, *args):
        g = lambda p: f(p, *args)  # noqa: E731
        chosen = mode
        if mode == "auto":
            out = jax.eval_shape(g, x)
            chosen = "fwd" if _size(x) <= _size(out) else "rev"
        return (jax.jacfwd if chosen == "fwd" else jax.jacrev)(g)(x)

    return jac_f


@weak_memo
def hessian(f: Callable[..., jax.Array]) -> Callable[..., PyTree]:
    r"""The Hessian :math:`H_{ij} = \partial^2 f/\partial x_i\partial x_j` (forward over reverse).

    Returns:
      ``x, *args -> H(x)`` of shape ``(n, n)`` for ``x`` of shape ``(n,)``; for a
      pytree ``x`` a nested pytree, as ``jax.hessian`` gives.

    Raises:
      TypeError: when ``f`` is not scalar-valued.

    Example:
      >>> jg.hessian(lambda p: p[0] ** 2 + 3 * p[0] * p[1] + p[1] ** 2)(jnp.array([1.0, 2.0]))
      Array([[2., 3.],
             [3., 2.]], dtype=float32)
    """

    @functools.wraps(f)
    def hess_f(x, *args):
        return jax.jacfwd(grad(f))(x, *args)

    return hess_f


@weak_memo
def hvp(f: Callable[..., jax.Array]) -> Callable[..., PyTree]:
    r"""The Hessian-vector product :math:`H(x)\,v` without forming :math:`H`.

    Forward-over-reverse: one ``jvp`` of the gradient, so its cost is a small
    multiple of one gradient evaluation and its memory is that of ``x``.

    Returns:
      ``x, v, *args -> H(x) v`` with the shape (tree) of ``x``.

    Raises:
      ValueError: when ``v``'s shape differs from ``x``'s.

    Example:
      >>> jg.hvp(lambda p: p[0] ** 2 + 3 * p[0] * p[1] + p[1] ** 2)(jnp.ones(2), jnp.array([1.0, 0.0]))
      Array([2., 3.], dtype=float32)
    """
    g = grad(f)

    @functools.wraps(f)
    def hvp_f(x, v, *args):
        _check_same_structure(x, v, "the vector v")
        _, hv = jax.jvp(lambda p: g(p, *args), (x,), (_cast_like(v, x),))
        return hv

    return hvp_f


_CHECKED = cache.memo("checked losses", weak=True, maxsize=4096)  # loss -> the shapes it was checked at


def _signature(tree) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return (treedef,) + tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)


_CHECKED_KEYS = cache.memo("checked problems", maxsize=4096)  # a registry key -> the shapes checked


def check_loss(loss: Callable, params, *args, key=None, what: str = "loss") -> None:
    """Refuse a loss that is not a real scalar at ``params``; checked once per (loss, shapes).

    The record is a weak reference to ``loss`` (or, given, a structural ``key`` such as
    a registry problem's name and options): it keeps no user data alive.
    """
    if not callable(loss):
        raise InputError(f"{what} must be a function of the parameters, got {type(loss).__name__}")
    sig = (_signature(params), _signature(args), jax.config.jax_enable_x64)
    key = None if key is loss else key
    table, head = (_CHECKED_KEYS, key) if key is not None else (_CHECKED, loss)
    seen = table.get(head)
    if seen is None:
        seen = table.put(_Seen(), head)  # not stored when ``head`` cannot be a key: checked every time
    if sig in seen:
        return
    out = jax.eval_shape(loss, params, *args)
    if not (isinstance(out, jax.ShapeDtypeStruct) and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        got = out.shape if isinstance(out, jax.ShapeDtypeStruct) else type(out).__name__
        dtype = f" {out.dtype}" if isinstance(out, jax.ShapeDtypeStruct) else ""
        raise InputError(f"{what} must return a real scalar (shape ()), got{dtype} {got}; "
                         "reduce it (e.g. jnp.mean) before minimising")
    seen.add(sig)


class _Seen(set):
    """The signatures a loss was checked at (a set that takes weak references)."""
