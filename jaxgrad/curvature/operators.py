r"""Curvature matrices of a data problem as matrix-free operators: the Hessian, the generalised
Gauss-Newton (GGN), the Fisher (exact and Monte Carlo) and the empirical Fisher.

With :math:`L(\theta) = \ell(f(\theta, X), y)` the problem's ``output_loss`` of its ``predict``
over all N examples (a mean over examples), :math:`J` the Jacobian of the outputs and
:math:`H_{\text{out}} = \nabla^2_o \ell` (which carries the mean's 1/N):

* ``"hessian"``: :math:`\nabla^2_\theta L` (of the whole objective, penalties included);
* ``"ggn"``: :math:`J^\top H_{\text{out}} J`, by a JVP, an output-space HVP and a VJP (J is
  never formed);
* ``"fisher"``: the Fisher of the predictive distribution the loss implies (Gaussian for
  ``mse``, Bernoulli / categorical for cross entropy): there it equals the GGN, and that is
  how it is computed;
* ``"mc_fisher"``: :math:`\frac{1}{NS}\sum_{i,s} g_{is} g_{is}^\top`, :math:`g_{is}` the
  gradient of example i's loss at a target drawn from the model (``num_samples`` S draws
  per example, drawn once from ``key``: one fixed matrix);
* ``"empirical_fisher"``: :math:`\frac1N\sum_i g_i g_i^\top`, :math:`g_i` the gradient of
  example i's loss alone at its own target.

``batch_size`` accumulates a product over the data in batches (the full data set, bounded
memory); each batch's share is weighted by its size over N, so batched and unbatched
products agree.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxgrad import cache
from jaxgrad.errors import InputError, positive_int
from jaxgrad.problems import losses

__all__ = ["KINDS", "CurvatureOperator", "curvature_operator", "curvature_diagonal", "solve"]

KINDS = ("hessian", "ggn", "fisher", "mc_fisher", "empirical_fisher")
PyTree = Any


@jax.tree_util.register_pytree_node_class
class CurvatureOperator:
    """A symmetric curvature matrix of a problem at ``params``, known by its products.

    A pytree (parameters, data and drawn targets are its leaves; the kind and the
    problem's functions are static), so an estimator's compiled program takes it as an
    argument: new parameters or data of the same shapes reuse the program.

    Attributes:
      kind: one of :data:`KINDS`.
      params: the point.
      num_params: the matrix is ``num_params x num_params``.
    """

    def __init__(self, kind, params, data, targets, functions, batch_size):
        self.kind, self.params, self.data, self.targets = kind, params, data, targets
        self.functions, self.batch_size = functions, batch_size  # (objective, predict, output_loss)

    def tree_flatten(self):
        return (self.params, self.data, self.targets), (self.kind, self.functions, self.batch_size)

    @classmethod
    def tree_unflatten(cls, aux, children):
        kind, functions, batch_size = aux
        return cls(kind, *children, functions, batch_size)

    @property
    def num_params(self) -> int:
        return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(self.params)))

    @property
    def dtype(self):
        return jnp.result_type(*jax.tree_util.tree_leaves(self.params))

    def matvec(self, v: PyTree) -> PyTree:
        """The product with ``v`` (a pytree like ``params``); compiled once per kind and shapes."""
        return _matvec(self, v)

    def quadratic(self, v: PyTree) -> jax.Array:
        r""":math:`v^\top A v`, forward-only where the kind allows: :math:`(Jv)^\top H_{\text{out}} (Jv)`
        for the GGN and Fisher, :math:`\frac1m \lVert J_\ell v \rVert^2` for the Fishers of
        per-example gradients (no VJP), :math:`v^\top H v` for the Hessian."""
        return self._over_data(lambda X, y, T: _quadratic(self, v, X, y, T))

    def _over_data(self, one_batch: Callable):
        """``one_batch(X, y, T)`` (a pytree, for the batch's own mean loss) summed over the data
        in batches of ``batch_size``, each weighted by its size over N (a remainder batch too)."""
        X, y = self.data
        T = self.targets
        n = X.shape[0]
        b = n if self.batch_size is None else min(self.batch_size, n)
        full, rest = divmod(n, b)

        def batch(lo, size):
            cut = lambda a, axis=0: jax.lax.dynamic_slice_in_dim(a, lo, size, axis=axis)  # noqa: E731
            out = one_batch(cut(X), cut(y), None if T is None else cut(T, 1))
            return jax.tree_util.tree_map(lambda a: a * (size / n), out)

        if full == 1 and rest == 0:
            return batch(0, n)
        out = jax.tree_util.tree_map(lambda a: jnp.sum(a, axis=0),
                                     jax.lax.map(lambda i: batch(i * b, b), jnp.arange(full)))
        return jax.tree_util.tree_map(jnp.add, out, batch(full * b, rest)) if rest else out

    def flat_matvec(self) -> Callable:
        """The product on flat vectors (the order of ``ravel_pytree(params)``)."""
        _, unravel = ravel_pytree(self.params)
        return lambda x: ravel_pytree(self.matvec(unravel(x)))[0]

    def to_dense(self) -> jax.Array:
        """The matrix, ``(num_params, num_params)``: one product per column (small models only)."""
        x, _ = ravel_pytree(self.params)
        return _dense(self, jnp.eye(x.shape[0], dtype=x.dtype))

    def __repr__(self) -> str:
        return f"CurvatureOperator(kind={self.kind!r}, num_params={self.num_params})"


@jax.jit
def _dense(op, eye):
    return jax.lax.map(op.flat_matvec(), eye).T


@jax.jit
def _matvec(op, v):
    return op._over_data(lambda X, y, T: _product(op, v, X, y, T))


def _per_example(op: CurvatureOperator, X, y, T) -> Callable:
    """``params -> (m,)`` losses of single examples at their own targets (``T`` None: the
    empirical Fisher's) or at drawn ones (``T`` (S, batch, ...): the Monte Carlo Fisher's),
    each ``output_loss`` on one example, so that their mean is the objective's data term."""
    _, predict, output_loss = op.functions
    one = lambda o, t: output_loss(o[None], t[None])  # noqa: E731
    if T is None:
        return lambda p: jax.vmap(one)(predict(p, X), y)
    return lambda p: jax.vmap(lambda t: jax.vmap(one)(predict(p, X), t))(T).reshape(-1)


def _output_curvature(op: CurvatureOperator, v, X, y):
    """``(f, Jv, H_out Jv)`` for the GGN and Fisher: one JVP and one output-space HVP."""
    _, predict, output_loss = op.functions
    f = lambda p: predict(p, X)  # noqa: E731
    outputs, Jv = jax.jvp(f, (op.params,), (v,))
    return f, Jv, jax.jvp(jax.grad(lambda o: output_loss(o, y)), (outputs,), (Jv,))[1]


def _hvp(op: CurvatureOperator, v, X, y):
    objective = op.functions[0]
    return jax.jvp(jax.grad(lambda p: objective(p, (X, y))), (op.params,), (v,))[1]


def _product(op: CurvatureOperator, v, X, y, T):
    """One batch's product, for the batch's own mean loss (the caller weights it)."""
    if op.kind == "hessian":
        return _hvp(op, v, X, y)
    if op.kind in ("ggn", "fisher"):
        f, _, HJv = _output_curvature(op, v, X, y)
        return jax.vjp(f, op.params)[1](HJv)[0]
    per = _per_example(op, X, y, T)  # (1/m) J_l^T (J_l v)
    lv = jax.jvp(per, (op.params,), (v,))[1]
    return jax.tree_util.tree_map(lambda a: a / lv.shape[0], jax.vjp(per, op.params)[1](lv)[0])


def _quadratic(op: CurvatureOperator, v, X, y, T):
    """One batch's ``v^T A v``, for the batch's own mean loss (the caller weights it)."""
    if op.kind == "hessian":
        hv = _hvp(op, v, X, y)
        return sum(jnp.vdot(a, b) for a, b in zip(jax.tree_util.tree_leaves(v), jax.tree_util.tree_leaves(hv)))
    if op.kind in ("ggn", "fisher"):
        _, Jv, HJv = _output_curvature(op, v, X, y)
        return jnp.vdot(Jv, HJv)
    lv = jax.jvp(_per_example(op, X, y, T), (op.params,), (v,))[1]
    return jnp.vdot(lv, lv) / lv.shape[0]


def curvature_operator(problem, params: PyTree, kind: str = "hessian", *, num_samples: int = 1,
                       key: jax.Array | None = None, batch_size: int | None = None) -> CurvatureOperator:
    r"""A curvature matrix of ``problem`` at ``params`` (see the module's definitions).

    Args:
      problem: a :class:`jaxgrad.problems.Problem` with data; every kind but ``"hessian"``
        needs its ``predict`` and ``output_loss``.
      params: the point (a pytree like the problem's parameters).
      kind: ``"hessian"``, ``"ggn"``, ``"fisher"``, ``"mc_fisher"`` or ``"empirical_fisher"``.
      num_samples: targets drawn per example for ``"mc_fisher"``.
      key: the draw for ``"mc_fisher"`` (default ``PRNGKey(0)``).
      batch_size: accumulate products over the data in batches of this many examples.

    Returns:
      A :class:`CurvatureOperator`: ``matvec(v)``, ``to_dense()``, ``num_params``; every
      estimator (:func:`jaxgrad.top_eigenvalues`, ...) takes it in place of a loss.

    Example:
      >>> p = jg.problems.make("linear_regression", n=50, features=2)
      >>> op = jg.curvature_operator(p, p.argmin, kind="ggn")
      >>> bool(jnp.allclose(op.to_dense(), jg.curvature_operator(p, p.argmin).to_dense(), atol=1e-4))
      True
    """
    if kind not in KINDS:
        from jaxgrad.errors import did_you_mean

        raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}{did_you_mean(kind, KINDS)}",
                         field="kind")
    if problem.data is None:
        raise InputError(f"problem {problem.name!r} has no data: curvature_operator needs a data problem "
                         "(for a function of a point, pass the loss to the estimators)")
    if batch_size is not None:
        positive_int(batch_size, "batch_size")
    functions = (problem.objective, problem.predict, problem.output_loss)
    targets = None
    if kind != "hessian":
        if problem.predict is None or problem.output_loss is None:
            why = (" (its l2 penalty is not a function of the outputs; use l2 = 0 or kind = 'hessian')"
                   if problem.options.get("l2") else "")
            raise InputError(f"kind {kind!r} needs the problem's predict and output_loss; problem {problem.name!r} "
                             f"has none{why}", field="kind")
        if kind in ("fisher", "mc_fisher") and losses.family(problem.output_loss) is None:
            raise InputError(f"kind {kind!r} needs a likelihood: problem {problem.name!r}'s output loss is the "
                             "user's own (use mse or cross_entropy, or kind = 'ggn')", field="kind")
        if kind == "mc_fisher":
            positive_int(num_samples, "num_samples")
            key = jax.random.PRNGKey(0) if key is None else key
            targets = _draw(params, problem.data[0], key, predict=problem.predict, output_loss=problem.output_loss,
                            num_samples=int(num_samples))
    return CurvatureOperator(kind, params, problem.data, targets, functions, batch_size)


@functools.partial(jax.jit, static_argnames=("predict", "output_loss", "num_samples"))
def _draw(params, inputs, key, *, predict, output_loss, num_samples):
    """Targets drawn from the model's predictive distribution, ``(num_samples, N, ...)``."""
    return losses.sample_targets(output_loss, jax.lax.stop_gradient(predict(params, inputs)), key, num_samples)


def curvature_diagonal(op: CurvatureOperator, *, num_probes: int | None = 100, key: jax.Array | None = None) -> PyTree:
    r"""The diagonal of ``op``, a pytree like its parameters.

    Hutchinson's estimate :math:`\mathbb{E}[z \odot A z]` over ``num_probes`` Rademacher
    probes (exact for a diagonal matrix); ``num_probes=None``: exact, one product per
    parameter (small models).
    """
    if not isinstance(op, CurvatureOperator):
        raise InputError(f"curvature_diagonal takes a curvature operator (jg.curvature_operator), "
                         f"got {type(op).__name__}")
    if num_probes is not None:
        positive_int(num_probes, "num_probes")
    key = jax.random.PRNGKey(0) if key is None else key
    return _diagonal(op, key, num_probes=None if num_probes is None else int(num_probes))


@functools.partial(jax.jit, static_argnames=("num_probes",))
def _diagonal(op, key, *, num_probes):
    x, unravel = ravel_pytree(op.params)
    matvec = op.flat_matvec()
    if num_probes is None:
        n = x.shape[0]
        diag = jax.lax.map(lambda i: matvec(jax.nn.one_hot(i, n, dtype=x.dtype))[i], jnp.arange(n))
    else:
        z = jax.random.rademacher(key, (num_probes,) + x.shape, x.dtype)
        diag = jnp.mean(jax.lax.map(lambda v: v * matvec(v), z), axis=0)
    return unravel(diag)


def solve(op: CurvatureOperator, b: PyTree, *, damping: float = 0.0, tol: float = 1e-6,
          max_iters: int | None = None) -> PyTree:
    r""":math:`(A + \lambda I)^{-1} b` by conjugate gradients on the operator's products.

    ``tol`` is the relative residual :math:`\|r\|/\|b\|` at which CG stops; ``max_iters``
    caps its steps (default: the number of parameters, where CG is exact in exact
    arithmetic). ``damping`` is traced: a new value does not recompile. The matrix must be
    positive definite once damped (the GGN and the Fishers are semi-definite: damp them).
    JAX's own ``jax.scipy.sparse.linalg.cg`` does the iteration (it takes pytrees and a
    relative tolerance); lineax's CG would add a dependency for the same iteration.
    """
    if not isinstance(op, CurvatureOperator):
        raise InputError(f"solve takes a curvature operator (jg.curvature_operator), got {type(op).__name__}")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise InputError(f"tol must be a number in (0, 1), got {tol!r}", field="tol")
    if not (isinstance(damping, (int, float)) and not isinstance(damping, bool) and damping >= 0):
        raise InputError(f"damping must be a number >= 0, got {damping!r}", field="damping")
    max_iters = op.num_params if max_iters is None else positive_int(max_iters, "max_iters")
    return _solve(op, b, jnp.asarray(damping, op.dtype), tol=float(tol), max_iters=int(max_iters))


@functools.partial(jax.jit, static_argnames=("tol", "max_iters"))
def _solve(op, b, damping, *, tol, max_iters):
    cache.count_trace("solve")
    A = lambda v: jax.tree_util.tree_map(lambda a, w: a + damping * w, op.matvec(v), v)  # noqa: E731
    return jax.scipy.sparse.linalg.cg(A, b, tol=tol, atol=0.0, maxiter=max_iters)[0]
