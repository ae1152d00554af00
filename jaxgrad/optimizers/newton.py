r"""Newton's method as composable optax transformations.

The pieces follow optax's naming: building blocks are ``scale_by_*`` verbs that turn
the gradient into a direction, and the aliases chain them with optax's own pieces::

    newton(linesearch=True) == optax.chain(
        scale_by_newton(descent_guard=True),       # p = H^{-1} g (or g if p is not descent)
        optax.scale(-1.0),                         # the step -p
        optax.scale_by_backtracking_linesearch(...),
        optax.scale(learning_rate))

Each ``scale_by_*`` takes the loss as the keyword-only extra argument ``value_fn``
(as ``optax.lbfgs`` does), so one ``lax.scan`` loop drives every optimizer and the
pieces chain with ``optax.scale_by_backtracking_linesearch`` and
``optax.scale_by_zoom_linesearch``::

    updates, state = opt.update(grads, state, params, value=loss, grad=grads, value_fn=loss_fn)

``scale_by_newton`` flattens the parameters (``ravel_pytree``), forms the Hessian and
solves :math:`(H + \lambda I)\,p = \nabla f` (never inverting); ``scale_by_newton_cg``
solves the same system by conjugate gradients on Hessian-vector products, never
forming :math:`H`. Every float (damping, tolerances, learning rate) is used only in
arithmetic, never in Python control flow, so it may be a traced value: a sweep over
damping compiles once.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

__all__ = ["NewtonState", "scale_by_newton", "scale_by_newton_cg", "newton", "newton_cg"]


class NewtonState(NamedTuple):
    """State of the Newton directions.

    Attributes:
      count: steps taken.
      damping: the current :math:`\\lambda` (adapted by Levenberg–Marquardt).
      hessian_evals: Hessians formed (``scale_by_newton``) or Hessian-vector products
        evaluated (``scale_by_newton_cg``).
      accepted: steps that moved the parameters (all of them unless adaptive).
    """

    count: jax.Array
    damping: jax.Array
    hessian_evals: jax.Array
    accepted: jax.Array


def _flat_loss(params, value_fn: Callable):
    x, unravel = ravel_pytree(params)
    return x, (lambda z: value_fn(unravel(z))), unravel


def _init_state(damping):
    def init(params):
        dtype = ravel_pytree(params)[0].dtype
        zero = jnp.zeros((), jnp.int32)
        return NewtonState(zero, jnp.asarray(damping, dtype), zero, zero)

    return init


def _descent(g, p):
    """``p`` if it is a descent direction for the step ``-p``, else the gradient itself."""
    return jnp.where(g @ p > 0, p, g)


def _needs(params, name):
    if params is None:
        raise ValueError(f"{name} needs params in update(updates, state, params, value_fn=...)")


def scale_by_newton(
    damping: float = 0.0,
    adaptive: bool = False,
    saddle_free: bool = False,
    descent_guard: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""The Newton direction :math:`p = (H + \lambda I)^{-1} \nabla f` (its sign as the gradient's).

    Args:
      damping: :math:`\lambda \ge 0` added to the Hessian's diagonal (fixed, or the
        starting value when ``adaptive``; 0 then means 1e-3).
      adaptive: Levenberg–Marquardt: keep the direction only when the actual decrease
        :math:`f(x) - f(x - p)` is a positive fraction (> 1e-4) of the decrease
        :math:`g\cdot p - \tfrac12 p^\top H p` the quadratic model predicts; then
        divide :math:`\lambda` by 3 if the ratio :math:`\rho > 3/4`, double it if
        :math:`\rho < 1/4`; on rejection return zero (stay put) and quadruple it.
      saddle_free: use :math:`|H|` (eigenvalues replaced by their absolute values,
        Dauphin et al. 2014), so saddle points repel instead of attract.
      descent_guard: return the gradient where :math:`p` is not a descent direction
        (what a line search after this piece needs).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs
      ``value_fn=`` (keyword-only) and uses ``value=`` when given. Chain it with
      ``optax.scale(-learning_rate)`` (what :func:`newton` does).
    """
    lam0 = jnp.where((jnp.asarray(damping) == 0) & adaptive, 1e-3, damping) if adaptive else damping

    def update(updates, state, params=None, *, value_fn, value=None, **extra):
        del extra
        _needs(params, "scale_by_newton")
        x, f, _ = _flat_loss(params, value_fn)
        g, unravel = ravel_pytree(updates)
        H = jax.hessian(f)(x)
        lam = state.damping.astype(x.dtype)
        if saddle_free:
            w, V = jnp.linalg.eigh((H + H.T) / 2)
            p = V @ ((V.T @ g) / (jnp.abs(w) + lam + jnp.finfo(x.dtype).tiny))
        else:
            p = jnp.linalg.solve(H + lam * jnp.eye(x.shape[0], dtype=x.dtype), g)
        accepted = jnp.asarray(True)
        if adaptive:
            f0 = f(x) if value is None else jnp.asarray(value, x.dtype)
            f1 = f(x - p)
            predicted = g @ p - 0.5 * p @ (H @ p)
            rho = (f0 - f1) / predicted
            accepted = (predicted > 0) & jnp.isfinite(f1) & (rho > 1e-4)
            lam = jnp.where(accepted, jnp.where(rho > 0.75, lam / 3, jnp.where(rho < 0.25, lam * 2, lam)), lam * 4)
            lam = jnp.clip(lam, 1e-12, 1e12)
            p = jnp.where(accepted, p, 0.0)
        if descent_guard:
            p = _descent(g, p)
        new_state = NewtonState(state.count + 1, lam, state.hessian_evals + 1,
                                state.accepted + accepted.astype(jnp.int32))
        return unravel(p), new_state

    return optax.GradientTransformationExtraArgs(_init_state(lam0), update)


def scale_by_newton_cg(
    damping: float = 0.0,
    max_iters: int = 50,
    tol: float = 1e-6,
    descent_guard: bool = False,
) -> optax.GradientTransformationExtraArgs:
    r"""The truncated-Newton direction: :math:`(H+\lambda I)p = \nabla f` solved by conjugate gradients.

    Each CG iteration costs one Hessian-vector product (forward over reverse), so
    memory stays that of the parameters. CG stops at ``max_iters``, at a residual
    below ``tol`` times :math:`|\nabla f|`, or on negative curvature (then it keeps
    the iterate so far, or the gradient if there is none), as truncated Newton
    methods do. The state's ``hessian_evals`` counts Hessian-vector products.
    """

    def update(updates, state, params=None, *, value_fn, value=None, **extra):
        del extra, value
        _needs(params, "scale_by_newton_cg")
        x, f, _ = _flat_loss(params, value_fn)
        g, unravel = ravel_pytree(updates)
        grad_f = jax.grad(f)
        lam = state.damping.astype(x.dtype)

        def hv(v):
            return jax.jvp(grad_f, (x,), (v,))[1] + lam * v

        g_norm = jnp.linalg.norm(g)

        def cond(c):
            i, p, r, d, rs, stop = c
            return (i < max_iters) & ~stop & (jnp.sqrt(rs) > tol * g_norm)

        def body(c):
            i, p, r, d, rs, _ = c
            Hd = hv(d)
            curvature = d @ Hd
            negative = curvature <= 0
            alpha = rs / jnp.where(negative, 1.0, curvature)
            p_new = jnp.where(negative, p, p + alpha * d)
            r_new = r - alpha * Hd
            rs_new = r_new @ r_new
            d_new = r_new + (rs_new / rs) * d
            keep = lambda a, b: jnp.where(negative, a, b)  # noqa: E731
            return i + 1, p_new, keep(r, r_new), keep(d, d_new), keep(rs, rs_new), negative

        zeros = jnp.zeros_like(g)
        i, p, *_ = jax.lax.while_loop(cond, body, (jnp.asarray(0), zeros, g, g, g @ g, jnp.asarray(False)))
        p = jnp.where(jnp.any(p != 0), p, g)
        if descent_guard:
            p = _descent(g, p)
        new_state = NewtonState(state.count + 1, lam, state.hessian_evals + i.astype(jnp.int32), state.accepted + 1)
        return unravel(p), new_state

    return optax.GradientTransformationExtraArgs(_init_state(damping), update)


def _backtracking(max_backtracks: int, armijo, shrink):
    """optax's Armijo backtracking, restarted at the full step (1) every iteration."""
    return optax.scale_by_backtracking_linesearch(
        max_backtracking_steps=max_backtracks, slope_rtol=armijo, decrease_factor=shrink,
        increase_factor=math.inf, max_learning_rate=1.0)


def _finish(direction, learning_rate, linesearch, max_backtracks, armijo, shrink):
    if not linesearch:
        return optax.chain(direction, optax.scale(-1.0), optax.scale(learning_rate))
    return optax.chain(direction, optax.scale(-1.0), _backtracking(max_backtracks, armijo, shrink),
                       optax.scale(learning_rate))


def newton(
    learning_rate: float = 1.0,
    damping: float = 0.0,
    adaptive: bool = False,
    saddle_free: bool = False,
    linesearch: bool = False,
    max_backtracks: int = 30,
    armijo: float = 1e-4,
    shrink: float = 0.5,
) -> optax.GradientTransformationExtraArgs:
    r"""Newton's method: :math:`x \leftarrow x - \eta\,t\,(H + \lambda I)^{-1}\nabla f`.

    ``optax.chain(scale_by_newton(...), optax.scale(-1), [line search], optax.scale(η))``.

    Args:
      learning_rate: :math:`\eta` (1 is the full Newton step).
      damping, adaptive, saddle_free: as in :func:`scale_by_newton`.
      linesearch: optax's backtracking (Armijo, ``armijo``; the step :math:`t`
        shrinks by ``shrink`` from 1, at most ``max_backtracks`` times) along the
        Newton direction, falling back to the gradient where the direction is not
        one of descent.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value_fn=``
      (keyword-only), and ``value=`` and ``grad=`` with a line search.

    Example:
      >>> f = lambda x: 0.5 * x @ jnp.array([[3.0, 1.0], [1.0, 2.0]]) @ x - x[0]
      >>> opt = newton(); x = jnp.zeros(2); s = opt.init(x)
      >>> u, s = opt.update(jax.grad(f)(x), s, x, value_fn=f)
      >>> print(np.asarray(x + u, np.float64).round(5))  # the minimiser [0.4, -0.2], in one step
      [ 0.4 -0.2]
    """
    direction = scale_by_newton(damping, adaptive, saddle_free, descent_guard=linesearch)
    return _finish(direction, learning_rate, linesearch, max_backtracks, armijo, shrink)


def newton_cg(
    learning_rate: float = 1.0,
    damping: float = 0.0,
    max_iters: int = 50,
    tol: float = 1e-6,
    linesearch: bool = True,
    max_backtracks: int = 30,
    armijo: float = 1e-4,
    shrink: float = 0.5,
) -> optax.GradientTransformationExtraArgs:
    r"""Hessian-free Newton: :func:`scale_by_newton_cg`, then (by default) optax's backtracking.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` taking ``value_fn=`` (and
      ``value=``, ``grad=`` with the line search).
    """
    direction = scale_by_newton_cg(damping, max_iters, tol, descent_guard=linesearch)
    return _finish(direction, learning_rate, linesearch, max_backtracks, armijo, shrink)
