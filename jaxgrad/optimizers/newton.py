r"""Newton's method as optax transformations.

Both take the loss as the keyword-only extra argument ``value_fn`` (as
``optax.lbfgs`` does), so one ``lax.scan`` loop drives every optimizer::

    updates, state = opt.update(grads, state, params, value=loss, value_fn=loss_fn)

``newton`` flattens the parameters (``ravel_pytree``), forms the Hessian and solves
:math:`(H + \lambda I)\,p = \nabla f` (never inverting); the update is
:math:`-\eta\,p`. By default :math:`\lambda = 0` and :math:`\eta = 1`: the exact
Newton step, which solves a quadratic in one step. ``newton_cg`` solves the same
system by conjugate gradients on Hessian-vector products, never forming :math:`H`.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

__all__ = ["NewtonState", "newton", "newton_cg"]


class NewtonState(NamedTuple):
    """State of the Newton transformations.

    Attributes:
      count: steps taken.
      damping: the current :math:`\\lambda` (adapted by Levenberg–Marquardt).
      hessian_evals: Hessians formed (``newton``) or Hessian-vector products
        evaluated (``newton_cg``).
      accepted: steps that moved the parameters (all of them unless adaptive).
    """

    count: jax.Array
    damping: jax.Array
    hessian_evals: jax.Array
    accepted: jax.Array


def _flat_loss(params, value_fn: Callable):
    x, unravel = ravel_pytree(params)
    return x, (lambda z: value_fn(unravel(z))), unravel


def _backtrack(f, x, f0, g, p, shrink, armijo, max_backtracks):
    """Largest ``t = shrink**k`` with Armijo decrease ``f(x - t p) <= f0 - armijo t g·p``."""
    slope = g @ p

    def cond(carry):
        t, k, fx = carry
        return (k < max_backtracks) & ~(jnp.isfinite(fx) & (fx <= f0 - armijo * t * slope))

    def body(carry):
        t, k, _ = carry
        t = t * shrink
        return t, k + 1, f(x - t * p)

    t, k, _ = jax.lax.while_loop(cond, body, (jnp.ones_like(f0), jnp.asarray(0), f(x - p)))
    return jnp.where(k < max_backtracks, t, 0.0)


def _descent(g, p):
    """``p`` if it is a descent direction for the step ``-p``, else the gradient itself."""
    return jnp.where(g @ p > 0, p, g)


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
    r"""Newton's method: :math:`x \leftarrow x - \eta\,(H + \lambda I)^{-1}\nabla f`.

    Args:
      learning_rate: :math:`\eta` (1 is the full Newton step).
      damping: :math:`\lambda \ge 0` added to the Hessian's diagonal (fixed, or the
        starting value when ``adaptive``; 0 then means 1e-3).
      adaptive: Levenberg–Marquardt: accept the step only when the actual decrease
        :math:`f(x) - f(x - p)` is a positive fraction (> 1e-4) of the decrease
        :math:`g\cdot p - \tfrac12 p^\top H p` the quadratic model predicts; then
        divide :math:`\lambda` by 3 if the ratio :math:`\rho > 3/4`, double it if
        :math:`\rho < 1/4`; on rejection stay put and quadruple it.
      saddle_free: use :math:`|H|` (eigenvalues replaced by their absolute values,
        Dauphin et al. 2014), so saddle points repel instead of attract.
      linesearch: backtracking (Armijo) along the Newton direction, falling back to
        the gradient where the direction is not one of descent.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; ``update`` needs ``value_fn=``
      (keyword-only) and uses ``value=`` when given.

    Example:
      >>> f = lambda x: 0.5 * x @ jnp.array([[3.0, 1.0], [1.0, 2.0]]) @ x - x[0]
      >>> opt = newton(); x = jnp.zeros(2); s = opt.init(x)
      >>> u, s = opt.update(jax.grad(f)(x), s, x, value_fn=f)
      >>> x + u   # the minimiser, in one step
    """
    lam0 = damping if (damping or not adaptive) else 1e-3

    def init(params):
        dtype = ravel_pytree(params)[0].dtype
        zero = jnp.zeros((), jnp.int32)
        return NewtonState(zero, jnp.asarray(lam0, dtype), zero, zero)

    def update(updates, state, params=None, *, value_fn, value=None, **extra):
        del extra
        if params is None:
            raise ValueError("newton needs params in update(updates, state, params, value_fn=...)")
        x, f, _ = _flat_loss(params, value_fn)
        g, unravel = ravel_pytree(updates)
        H = jax.hessian(f)(x)
        lam = state.damping
        eye = jnp.eye(x.shape[0], dtype=x.dtype)
        if saddle_free:
            w, V = jnp.linalg.eigh((H + H.T) / 2)
            p = V @ ((V.T @ g) / (jnp.abs(w) + lam + jnp.finfo(x.dtype).tiny))
        else:
            p = jnp.linalg.solve(H + lam * eye, g)
        f0 = f(x) if value is None else jnp.asarray(value, x.dtype)
        accepted = jnp.asarray(True)
        if adaptive:
            f1 = f(x - p)
            predicted = g @ p - 0.5 * p @ (H @ p)
            rho = (f0 - f1) / predicted
            accepted = (predicted > 0) & jnp.isfinite(f1) & (rho > 1e-4)
            lam = jnp.where(accepted, jnp.where(rho > 0.75, lam / 3, jnp.where(rho < 0.25, lam * 2, lam)), lam * 4)
            lam = jnp.clip(lam, 1e-12, 1e12)
            step = jnp.where(accepted, p, 0.0)
        elif linesearch:
            p = _descent(g, p)
            step = _backtrack(f, x, f0, g, p, shrink, armijo, max_backtracks) * p
        else:
            step = p
        new_state = NewtonState(state.count + 1, lam, state.hessian_evals + 1, state.accepted + accepted.astype(jnp.int32))
        return unravel(-learning_rate * step), new_state

    return optax.GradientTransformationExtraArgs(init, update)


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
    r"""Hessian-free (truncated) Newton: solve :math:`(H+\lambda I)p = \nabla f` by conjugate gradients.

    Each CG iteration costs one Hessian-vector product (forward over reverse), so
    memory stays that of the parameters. CG stops at ``max_iters``, at a residual
    below ``tol`` times :math:`|\nabla f|`, or on negative curvature (then it keeps
    the iterate so far, or the gradient if there is none), as truncated Newton
    methods do. With ``linesearch`` (default) the step backtracks (Armijo).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` taking ``value_fn=``; its state's
      ``hessian_evals`` counts Hessian-vector products.
    """

    def init(params):
        dtype = ravel_pytree(params)[0].dtype
        zero = jnp.zeros((), jnp.int32)
        return NewtonState(zero, jnp.asarray(damping, dtype), zero, zero)

    def update(updates, state, params=None, *, value_fn, value=None, **extra):
        del extra
        if params is None:
            raise ValueError("newton_cg needs params in update(updates, state, params, value_fn=...)")
        x, f, _ = _flat_loss(params, value_fn)
        g, unravel = ravel_pytree(updates)
        grad_f = jax.grad(f)
        lam = state.damping

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
        if linesearch:
            f0 = f(x) if value is None else jnp.asarray(value, x.dtype)
            p = _descent(g, p)
            p = _backtrack(f, x, f0, g, p, shrink, armijo, max_backtracks) * p
        new_state = NewtonState(state.count + 1, lam, state.hessian_evals + i.astype(jnp.int32), state.accepted + 1)
        return unravel(-learning_rate * p), new_state

    return optax.GradientTransformationExtraArgs(init, update)
