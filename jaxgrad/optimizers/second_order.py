r"""Gauss-Newton and natural-gradient steps: damped solves with the GGN or the Fisher.

Both need the curvature of a data problem's outputs, which the engine hands every
optimizer as the extra arguments ``ggn_vp(params, v)`` (the generalised Gauss-Newton
:math:`J^\top H_{\text{out}} J` of the full-batch loss, see
:mod:`jaxgrad.curvature.operators`) and ``fisher_vp(params, v)`` (the Fisher of the
predictive distribution the loss implies; it equals the GGN for ``mse`` and cross entropy,
and is ``None`` for a user's own output loss). ``jg.minimize`` on a bare loss has neither,
and these steps refuse it in one line.

Each step solves :math:`(G + \lambda I)\,p = \nabla f` by conjugate gradients on the
matrix's products (never forming it) and moves by :math:`-\eta p`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxgrad.errors import InputError

__all__ = ["SecondOrderState", "gauss_newton", "natural_gradient", "scale_by_curvature_solve"]


class SecondOrderState(NamedTuple):
    """``count`` steps taken; ``damping`` the current :math:`\\lambda` (adapted by
    Levenberg-Marquardt when asked); ``accepted`` steps that moved the parameters."""

    count: jax.Array
    damping: jax.Array
    accepted: jax.Array


def _dot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def scale_by_curvature_solve(matrix: str, damping: float, adaptive: bool, max_iters: int,
                             tol: float) -> optax.GradientTransformationExtraArgs:
    """The direction :math:`(G + \\lambda I)^{-1} g`, G the ``"ggn"`` or the ``"fisher"``; with
    ``adaptive``, Levenberg-Marquardt: a step that does not lower the loss is refused and
    :math:`\\lambda` grows 3/2x, a step that the quadratic model predicts well (ratio > 3/4)
    shrinks it 2/3x."""
    name = {"ggn": "gauss_newton", "fisher": "natural_gradient"}[matrix]

    def init(params):
        dtype = jnp.result_type(*jax.tree_util.tree_leaves(params))
        return SecondOrderState(jnp.zeros((), jnp.int32), jnp.asarray(damping, dtype), jnp.zeros((), jnp.int32))

    def update(updates, state, params=None, *, ggn_vp=None, fisher_vp=None, value_fn=None, value=None, **extra):
        del extra
        product = ggn_vp if matrix == "ggn" else fisher_vp
        if product is None or params is None:
            what = ("a data problem's predict and output_loss" if ggn_vp is None else
                    "a likelihood (mse or cross entropy), which this problem's own output loss is not")
            raise InputError(f"{name} needs {what}: run it on a problem with data (jg.sweep, a config, the bench), "
                             "not jg.minimize on a bare loss")
        lam = state.damping

        def A(v):
            return jax.tree_util.tree_map(lambda a, w: a + lam * w, product(params, v), v)

        p = jax.scipy.sparse.linalg.cg(A, updates, tol=tol, atol=0.0, maxiter=max_iters)[0]
        count = state.count + 1
        if not adaptive or value_fn is None:
            return p, SecondOrderState(count, lam, state.accepted + 1)
        f0 = value if value is not None else value_fn(params)
        f1 = value_fn(jax.tree_util.tree_map(lambda x, d: x - d, params, p))
        predicted = _dot(updates, p) - 0.5 * _dot(p, product(params, p))  # the quadratic model's decrease
        rho = (f0 - f1) / jnp.where(predicted > 0, predicted, 1.0)
        good = jnp.isfinite(f1) & (f1 < f0)
        new_lam = jnp.where(~good | (rho < 0.25), lam * 1.5, jnp.where(rho > 0.75, lam * (2.0 / 3.0), lam))
        p = jax.tree_util.tree_map(lambda d: jnp.where(good, d, jnp.zeros_like(d)), p)
        return p, SecondOrderState(count, new_lam.astype(lam.dtype), state.accepted + good.astype(jnp.int32))

    return optax.GradientTransformationExtraArgs(init, update)


def gauss_newton(learning_rate: float = 1.0, damping: float = 1e-3, adaptive: bool = False, max_iters: int = 50,
                 tol: float = 1e-6) -> optax.GradientTransformationExtraArgs:
    r"""Gauss-Newton with Levenberg-Marquardt damping: :math:`x \leftarrow x - \eta (G + \lambda I)^{-1}\nabla f`,
    G the generalised Gauss-Newton of the full-batch loss (fixed :math:`\lambda`, or adapted with
    ``adaptive``). On least squares :math:`G` is the Hessian, and one undamped step reaches the optimum."""
    return optax.chain(scale_by_curvature_solve("ggn", damping, adaptive, max_iters, tol),
                       optax.scale(-1.0), optax.scale(learning_rate))


def natural_gradient(learning_rate: float = 1.0, damping: float = 1e-3, max_iters: int = 50,
                     tol: float = 1e-6) -> optax.GradientTransformationExtraArgs:
    r"""Natural gradient: :math:`x \leftarrow x - \eta (F + \lambda I)^{-1}\nabla f`, F the Fisher of the
    model's predictive distribution (Amari 1998) at the current parameters."""
    return optax.chain(scale_by_curvature_solve("fisher", damping, False, max_iters, tol),
                       optax.scale(-1.0), optax.scale(learning_rate))
