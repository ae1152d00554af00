"""One run of an optimizer: a ``lax.scan`` over steps that records the loss, the gradient norm,
the update norm and (asked) parameters and sharpness, and the :class:`Trace` it returns."""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from jaxgrad import distributed
from jaxgrad.curvature import spectrum as _spectrum
from jaxgrad.engine.options import SHARPNESS_ITERS

PyTree = Any


__all__ = ["Trace", "run_steps", "run_mesh", "run_layout", "RUN_BLOCK"]


class Trace(NamedTuple):
    """What a run recorded; a sweep's fields gain leading axes ``(settings, seeds)``.

    Attributes:
      loss: ``loss[k]`` after ``k`` steps, ``k = 0..steps`` (shape ``(..., steps + 1)``).
      grad_norm: the gradient's global norm at the same points.
      update_norm: the norm of update ``k`` (from step ``k`` to ``k + 1``), ``(..., steps)``.
      params: the parameters after each step (leading ``steps + 1`` axis) if recorded.
      final_params: the parameters after the last step.
      converged_at: first ``k`` with ``grad_norm[k] <= tol``, ``-1`` if none (int32).
      diverged_at: first ``k`` whose loss or parameters are not finite, ``-1`` if none.
      settings: for a sweep, the hyperparameter dict of each setting.
      metrics: ``{name: (..., steps + 1)}`` recorded at the same points as ``loss``
        (a problem's test loss and accuracy), or ``None``.
      every: the recording interval: ``loss[..., r]`` is the loss after ``r * every``
        steps (``None`` or 1: every step).
      sharpness: with ``sharpness_every = m``, the top Hessian eigenvalue of the full
        loss after steps ``0, m, 2m, ...`` (shape ``(..., steps // m + 1)``; see
        :attr:`sharpness_steps`), computed inside the run; else ``None``.
      sharpness_every: that ``m`` (set outside the compiled program).
    """

    loss: jax.Array
    grad_norm: jax.Array
    update_norm: jax.Array
    params: PyTree | None
    final_params: PyTree
    converged_at: jax.Array
    diverged_at: jax.Array
    settings: tuple = ()
    metrics: dict | None = None
    sharpness: jax.Array | None = None
    every: int | None = None  # set outside the compiled program (a static value, not a leaf)
    sharpness_every: int | None = None  # likewise

    @property
    def steps(self) -> int:
        return self.update_norm.shape[-1] * (self.every or 1)

    @property
    def recorded_steps(self) -> np.ndarray:
        """The step of each recorded point: ``0, every, 2 every, ..., steps``."""
        return np.arange(self.update_norm.shape[-1] + 1) * (self.every or 1)

    @property
    def sharpness_steps(self) -> np.ndarray | None:
        """The step of each sharpness value: ``0, m, 2m, ...`` (``None`` without sharpness)."""
        if self.sharpness is None:
            return None
        return np.arange(self.sharpness.shape[-1]) * self.sharpness_every

    @property
    def converged_step(self):
        """The step of convergence: an ``int`` or ``None`` for one run; an array (-1: never) for many."""
        return _outcome(self.converged_at)

    @property
    def diverged_step(self):
        """The step of divergence: an ``int`` or ``None`` for one run; an array (-1: never) for many."""
        return _outcome(self.diverged_at)


def _outcome(at):
    at = np.asarray(at)
    if at.ndim == 0:
        return None if at < 0 else int(at)
    return at


def _all_finite(tree) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])) if leaves else jnp.asarray(True)


def _select(pred, a, b):
    return jax.tree_util.tree_map(lambda x, y: jnp.where(pred, x, y), a, b)


def _sharpness_fn(full_loss: Callable, params0, iters: int):
    """``top(params, v, j) -> (top eigenvalue, its unit eigenvector)``: ``iters`` Lanczos steps
    (full reorthogonalisation, at most the dimension) on Hessian-vector products from ``v``."""
    x0, unravel = ravel_pytree(params0)
    m = min(iters, x0.shape[0])

    def top(params, v, j):
        x = ravel_pytree(params)[0]
        V, alpha, beta, steps = _spectrum.lanczos(_spectrum.hvp_at(lambda z: full_loss(unravel(z)), x), v, m, None)
        theta, S = _spectrum.ritz(alpha, beta, steps)
        u = V.T @ S[:, -1]
        return theta[-1], u / jnp.linalg.norm(u)

    # no PRNG in the run: its compile time is worth more than the randomness of a start vector
    return top, _spectrum.scrambled(1, x0.shape[0], x0.dtype, salt=1)[0]


def run_steps(full_loss: Callable, step_loss: Callable | None, update: Callable, params0, state0, steps: int, tol,
         record: bool, monitor: Callable | None = None, every: int = 1, sharpness: int | None = None,
         sharpness_iters: int = SHARPNESS_ITERS) -> Trace:
    """One run: ``steps`` updates in a ``lax.scan`` (traceable; jit and vmap it outside).

    A run diverges at the first step whose loss, gradient or parameters are not
    finite (or whose update would make the parameters non-finite); from then on it
    stays at the last parameters with a finite loss, and that loss is what is
    recorded, so medians over runs are never NaN (a start that is already not
    finite records its true value).

    ``step_loss(params, k)`` gives the loss whose gradient drives step ``k`` (a
    mini-batch loss); ``None`` means the full loss. The recorded loss and gradient
    norm are always the full ones. ``update`` is an optax ``update`` that accepts the
    extra arguments ``value=``, ``grad=`` and ``value_fn=``. ``monitor(params)``
    returns ``{name: scalar}``, recorded beside the loss. With ``every = m`` only
    steps ``0, m, 2m, ..., steps`` are recorded (an inner scan of ``m`` steps), so a
    long run's history stays small; ``converged_at`` and ``diverged_at`` stay exact.
    With ``sharpness = s`` the run is an outer scan of ``s``-step blocks, each started
    by the top Hessian eigenvalue of the full loss (Lanczos warm-started from the
    previous block's eigenvector); one more follows the last whole block.
    """
    monitor = monitor or (lambda p: {})

    def body(carry, k):
        params, state, prev, diverged_at, converged_at = carry
        value, grads = jax.value_and_grad(full_loss)(params)
        gnorm = optax.tree.norm(grads).astype(value.dtype)
        frozen = diverged_at >= 0
        # the loss overflowed here: go back to the last parameters with a finite loss
        here = ~frozen & (~jnp.isfinite(value) | ~jnp.isfinite(gnorm) | ~_all_finite(params))
        params = _select(here, prev[0], params)
        value, gnorm = jnp.where(here, prev[1], value), jnp.where(here, prev[2], gnorm)
        if tol is not None:
            converged_at = jnp.where((converged_at < 0) & (gnorm <= tol), k, converged_at).astype(jnp.int32)
        if step_loss is None:
            batch_fn, batch_value, batch_grads = full_loss, value, grads
        else:
            batch_fn = lambda p: step_loss(p, k)  # noqa: E731
            batch_value, batch_grads = jax.value_and_grad(batch_fn)(params)
        updates, new_state = update(
            batch_grads, state, params, value=batch_value, grad=batch_grads, value_fn=batch_fn)
        new_params = optax.apply_updates(params, updates)
        next_bad = ~frozen & ~here & ~_all_finite(new_params)
        diverged_at = jnp.where(here, k, jnp.where(next_bad, k + 1, diverged_at)).astype(jnp.int32)
        stay = frozen | here | next_bad
        params_next = _select(stay, params, new_params)
        state_next = _select(stay, state, new_state)
        u_norm = jnp.where(stay, 0.0, optax.tree.norm(updates)).astype(value.dtype)
        record_k = (value, gnorm, u_norm, monitor(params)) + ((params,) if record else ())
        return (params_next, state_next, (params, value, gnorm), diverged_at, converged_at), record_k

    # the "last finite" values before step 0 are the start's own: a non-finite start records its true loss
    value0 = full_loss(params0)
    gnorm0 = jnp.asarray(jnp.nan, value0.dtype)
    minus1 = jnp.asarray(-1, jnp.int32)
    carry0 = (params0, state0, (params0, value0, gnorm0), minus1, minus1)

    def advance(carry, start, n):  # n steps from step `start`, every `every`-th recorded
        if every == 1:
            return jax.lax.scan(body, carry, start + jnp.arange(n))

        def block(carry, j):  # the other steps only advance the run
            carry, records = jax.lax.scan(body, carry, start + j * every + jnp.arange(every))
            return carry, jax.tree_util.tree_map(lambda r: r[0], records)

        return jax.lax.scan(block, carry, jnp.arange(n // every))

    sharp = None
    if sharpness is None:
        carry, recorded = advance(carry0, 0, steps)
    else:
        top, v0 = _sharpness_fn(full_loss, params0, sharpness_iters)
        whole = steps // sharpness

        def outer(c, j):
            carry, v = c
            value, v = top(carry[0], v, j)
            carry, records = advance(carry, j * sharpness, sharpness)
            return (carry, v), (records, value)

        (carry, v), (recorded, values) = jax.lax.scan(outer, (carry0, v0), jnp.arange(whole))
        recorded = jax.tree_util.tree_map(lambda r: r.reshape((-1,) + r.shape[2:]), recorded)
        sharp = jnp.concatenate([values, top(carry[0], v, whole)[0][None]])
        if steps > whole * sharpness:
            carry, rest = advance(carry, whole * sharpness, steps - whole * sharpness)
            recorded = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), recorded, rest)
    params, _, _, diverged_at, converged_at = carry
    final_value, final_grads = jax.value_and_grad(full_loss)(params)
    final_gnorm = optax.tree.norm(final_grads).astype(final_value.dtype)
    loss = jnp.concatenate([recorded[0], final_value[None]])
    grad_norm = jnp.concatenate([recorded[1], final_gnorm[None]])
    last_bad = (diverged_at < 0) & ~jnp.isfinite(final_value)
    diverged_at = jnp.where(last_bad, steps, diverged_at).astype(jnp.int32)
    if tol is not None:
        converged_at = jnp.where((converged_at < 0) & (final_gnorm <= tol), steps, converged_at).astype(jnp.int32)
    history = None
    if record:
        history = jax.tree_util.tree_map(lambda h, p: jnp.concatenate([h, p[None]]), recorded[4], params)
    last = monitor(params)
    metrics = {k: jnp.concatenate([v, jnp.asarray(last[k])[None]]) for k, v in recorded[3].items()}
    return Trace(loss, grad_norm, recorded[2], history, params, converged_at, diverged_at, (), metrics or None,
                 sharp)


RUN_BLOCK = 8  # runs come in whole blocks of this per device, unless there are fewer (see run_layout)


def run_layout(n: int, n_dev: int) -> tuple[int, int]:
    """``(devices, rows)``: how ``n`` runs are laid out over at most ``n_dev`` devices.

    Fewer than :data:`RUN_BLOCK` runs are one batch of exactly ``n`` on one device (every process
    computes them alike when there are several). More are split over the devices in whole blocks
    of ``RUN_BLOCK`` per device, the last run repeated to fill them: XLA:CPU's batched matrix
    products round a remainder row differently from a full block, so either way each run's bits
    are the same on any number of devices and processes. A sweep of 4 runs computes 4; one of
    12 computes 16 (at most 7 more, for that identity).
    """
    if n < RUN_BLOCK:
        return 1, n
    n_dev = max(1, min(n_dev, n))
    return n_dev, n + -n % (n_dev * RUN_BLOCK)


def run_mesh(n: int):
    return distributed.mesh(n, "runs")
