"""``minimize`` (one run) and ``minimize_from`` (a run from every row of ``starts``), compiled once
per loss and optimizer structure."""

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec

from jaxgrad import cache, distributed
from jaxgrad import optimizers as _optimizers
from jaxgrad.calculus.derivatives import check_loss
from jaxgrad.engine.options import SHARPNESS_ITERS, RunOptions
from jaxgrad.engine.run import Trace, run_mesh, run_layout, run_steps
from jaxgrad.errors import InputError

PyTree = Any


__all__ = ["minimize", "minimize_from", "as_transformation"]


def as_transformation(optimizer) -> optax.GradientTransformation:
    """A registry name or any optax transformation, as a transformation.

    Raises:
      InputError: for anything else, saying what was received.
    """
    if isinstance(optimizer, str):
        return _optimizers.make(optimizer)
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    hint = " (a factory: call it, or pass it to sweep)" if callable(optimizer) else ""
    raise InputError(f"optimizer must be a registry name ({', '.join(_optimizers.names())}) or an optax "
                     f"GradientTransformation, got {type(optimizer).__name__} {optimizer!r:.80}{hint}")


class _Stepper:
    """A transformation's ``update`` as a static jit argument, compared as ``update`` is.

    A registry optimizer's ``update`` is keyed by its structure (its floats are in its
    state), so any learning rate shares one program; a user's transformation is
    keyed by identity: reusing the object reuses the program.
    """

    def __init__(self, tx):
        self.update = optax.with_extra_args_support(tx).update
        self.key = tx.update

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Stepper) and self.key == other.key


_RUN_STATICS = ("loss", "stepper", "steps", "tol", "record", "every", "sharpness", "sharpness_iters")


@functools.partial(jax.jit, static_argnames=_RUN_STATICS)
def _minimize(params0, state0, *, loss, stepper, steps, tol, record, every, sharpness, sharpness_iters):
    cache.count_trace("minimize")
    return run_steps(loss, None, stepper.update, params0, state0, steps, tol, record, None, every, sharpness,
                sharpness_iters)


def minimize(
    loss: Callable[[PyTree], jax.Array],
    params0: PyTree,
    optimizer: str | optax.GradientTransformation,
    steps: int,
    tol: float | None = None,
    record_params: bool = False,
    record_every: int = 1,
    sharpness_every: int | None = None,
    sharpness_iters: int = SHARPNESS_ITERS,
) -> Trace:
    r"""Run ``optimizer`` on ``loss`` from ``params0`` for ``steps`` steps in one jitted ``lax.scan``.

    Args:
      loss: ``loss(params) -> scalar``.
      params0: the starting parameters (an array or a pytree).
      optimizer: a registry name, a :func:`jaxgrad.optimizers.make` result, or any
        optax ``GradientTransformation`` (a user's own ``optax.chain(...)``); it is
        called as ``update(grads, state, params, value=, grad=, value_fn=)``, so
        optax's line searches work.
      steps: the number of updates.
      tol: gradient-norm tolerance for ``converged_step``.
      record_params: keep the parameters after every (recorded) step.
      record_every: record only steps ``0, m, 2m, ..., steps`` (``m`` divides ``steps``).
      sharpness_every: record the top Hessian eigenvalue of ``loss`` after steps
        ``0, s, 2s, ...`` in ``Trace.sharpness`` (``s`` a multiple of ``record_every``),
        from ``sharpness_iters`` Lanczos steps on Hessian-vector products, each
        warm-started from the previous eigenvector (at most the number of parameters:
        then it is exact).

    Returns:
      A :class:`Trace`. Compiled once per (loss, optimizer structure, steps, tol,
      shapes): new starting values, or a registry optimizer with new float
      hyperparameters, reuse the program; a user's transformation reuses it when
      the same object is passed again.

    Example:
      >>> f = lambda x: jnp.sum((x - 3.0) ** 2)
      >>> t = minimize(f, jnp.zeros(2), jg.optimizers.make("sgd", learning_rate=0.1), 200, tol=1e-4)
      >>> bool(t.loss[-1] < 1e-8), t.converged_step  # |grad| = 6√2 · 0.8^k <= 1e-4 at k = 51
      (True, 51)
    """
    tx = as_transformation(optimizer)
    check_loss(loss, params0)
    trace = _minimize(params0, tx.init(params0), loss=loss, stepper=_Stepper(tx),
                      **RunOptions(steps, tol, record_params, record_every, sharpness_every, sharpness_iters).statics())
    return trace._replace(every=int(record_every), sharpness_every=sharpness_every)


@functools.partial(jax.jit, static_argnames=_RUN_STATICS + ("n_dev",))
def _minimize_from(starts, states, *, loss, stepper, steps, tol, record, every, sharpness, sharpness_iters, n_dev=1):
    cache.count_trace("minimize_from")
    runs = jax.vmap(lambda p0, s0: run_steps(loss, None, stepper.update, p0, s0, steps, tol, record, None, every,
                                        sharpness, sharpness_iters))
    if n_dev == 1:
        return runs(starts, states)
    spec = PartitionSpec("runs")
    return jax.shard_map(runs, mesh=run_mesh(n_dev), in_specs=(spec, spec), out_specs=spec,
                         check_vma=False)(starts, states)


def minimize_from(
    loss: Callable, starts: jax.Array, optimizer, steps: int, tol: float | None = None, record_params: bool = False,
    record_every: int = 1, sharpness_every: int | None = None, sharpness_iters: int = SHARPNESS_ITERS,
) -> Trace:
    """:func:`minimize` from every row of ``starts`` (shape ``(N, d)``) in one vmapped program.

    ``optimizer`` is anything :func:`minimize` takes. The fields of the returned
    :class:`Trace` gain a leading ``N`` axis; this is the engine behind basins of
    attraction.
    """
    options = RunOptions(steps, tol, record_params, record_every, sharpness_every, sharpness_iters).statics()
    tx = as_transformation(optimizer)
    starts = jnp.asarray(starts)
    if starts.ndim < 1 or starts.shape[0] < 1:
        raise InputError(f"starts must have a leading axis of starting points, got shape {starts.shape}")
    check_loss(loss, starts[0])
    states = jax.vmap(tx.init)(starts)
    # split over every process's devices when there are several, in blocks (see run_layout), and gathered
    n = starts.shape[0]
    n_dev, rows = run_layout(n, jax.device_count() if distributed.multiprocess() else 1)
    starts, states = distributed.pad_rows((starts, states), rows)
    if n_dev > 1:
        split = NamedSharding(run_mesh(n_dev), PartitionSpec("runs"))
        starts, states = jax.tree_util.tree_map(lambda a: distributed.to_global(a, split), (starts, states))
    flat = _minimize_from(starts, states, loss=loss, stepper=_Stepper(tx), n_dev=n_dev, **options)
    trace = jax.tree_util.tree_map(lambda a: a[:n], distributed.gather(flat))
    return trace._replace(every=int(record_every), sharpness_every=sharpness_every)


