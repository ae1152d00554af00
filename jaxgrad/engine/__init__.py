r"""The compiled training engine: a run is one ``lax.scan``; many runs are one ``vmap``.

``minimize`` runs an optimizer for a fixed number of steps inside one jitted
``lax.scan`` and records, per step, the loss, the gradient norm and the update norm
(and the parameters if asked). Outcomes are recorded, not raised: the first step
whose gradient norm is within ``tol`` (``converged_step``) and the first step whose
loss or parameters are not finite (``diverged_step``); a diverged run is frozen at
its last finite parameters rather than filled with NaN.

``sweep`` runs every (hyperparameter setting, seed) pair of a problem in one
compiled program: the optimizer is built inside the trace from traced
hyperparameters, so a new value never recompiles, and the runs are vmapped (and
spread over all devices with ``shard_map`` when there are several).
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import weakref
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import NamedSharding, PartitionSpec

from jaxgrad import distributed, factories, optimizers as _optimizers

from jaxgrad.engine import search

from jaxgrad.curvature import spectrum as _spectrum
from jaxgrad.errors import InputError, is_positive_int, positive_int
from jaxgrad.problems import batch_loss

PyTree = Any

__all__ = ["Trace", "SweepPlan", "minimize", "minimize_from", "plan_sweep", "sweep", "settings_of"]


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


SHARPNESS_ITERS = 20  # Lanczos steps per sharpness value, warm-started from the last top eigenvector


def _sharpness_fn(full_loss: Callable, params0, iters: int):
    """``top(params, v, j) -> (top eigenvalue, its unit eigenvector)``: ``iters`` Lanczos steps
    (full reorthogonalisation, at most the dimension) on Hessian-vector products from ``v``."""
    x0, unravel = ravel_pytree(params0)
    m = min(iters, x0.shape[0])

    def top(params, v, j):
        x = ravel_pytree(params)[0]
        V, alpha, beta, steps = _spectrum.lanczos(_spectrum._hvp(lambda z: full_loss(unravel(z)), x), v, m, None)
        theta, S = _spectrum.ritz(alpha, beta, steps)
        u = V.T @ S[:, -1]
        return theta[-1], u / jnp.linalg.norm(u)

    # no PRNG in the run: its compile time is worth more than the randomness of a start vector
    return top, _spectrum.scrambled(1, x0.shape[0], x0.dtype, salt=1)[0]


def _run(full_loss: Callable, step_loss: Callable | None, update: Callable, params0, state0, steps: int, tol,
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


MAX_STEPS = 2**31 - 2  # the step counter is an int32 inside the compiled run


def _check_run_args(steps, tol, every=1, sharpness_every=None) -> None:
    if not is_positive_int(steps) or steps > MAX_STEPS:
        raise InputError(f"steps must be an integer from 1 to {MAX_STEPS:,}, got {steps!r}")
    if not is_positive_int(every) or steps % every:
        raise InputError(f"record_every must be a positive integer that divides steps ({steps}), got {every!r}")
    if sharpness_every is not None and (not is_positive_int(sharpness_every) or sharpness_every % every):
        raise InputError(f"sharpness_every must be a positive multiple of record_every ({every}), "
                         f"got {sharpness_every!r}")
    if tol is not None and not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol >= 0):
        raise InputError(f"tol must be a non-negative number or None, got {tol!r}")


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


_checked_losses: "weakref.WeakKeyDictionary[Callable, set]" = weakref.WeakKeyDictionary()


def _signature(tree) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return (treedef,) + tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)


_checked_keys: dict[Any, set] = {}


def check_loss(loss: Callable, params, *args, key=None, what: str = "loss") -> None:
    """Refuse a loss that is not a real scalar at ``params``; checked once per (loss, shapes).

    The record is a weak reference to ``loss`` (or, given, a structural ``key`` such as
    a registry problem's name and options): it keeps no user data alive.
    """
    if not callable(loss):
        raise InputError(f"{what} must be a function of the parameters, got {type(loss).__name__}")
    sig = (_signature(params), _signature(args), jax.config.jax_enable_x64)
    key = None if key is loss else key
    try:
        seen = _checked_keys.setdefault(key, set()) if key is not None else _checked_losses.setdefault(loss, set())
    except TypeError:  # not weak-referenceable: check every time
        seen = set()
    if sig in seen:
        return
    out = jax.eval_shape(loss, params, *args)
    if not (isinstance(out, jax.ShapeDtypeStruct) and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        got = out.shape if isinstance(out, jax.ShapeDtypeStruct) else type(out).__name__
        dtype = f" {out.dtype}" if isinstance(out, jax.ShapeDtypeStruct) else ""
        raise InputError(f"{what} must return a real scalar (shape ()), got{dtype} {got}; "
                         "reduce it (e.g. jnp.mean) before minimising")
    seen.add(sig)


_RUN_STATICS = ("loss", "stepper", "steps", "tol", "record", "every", "sharpness", "sharpness_iters")


@functools.partial(jax.jit, static_argnames=_RUN_STATICS)
def _minimize(params0, state0, *, loss, stepper, steps, tol, record, every, sharpness, sharpness_iters):
    return _run(loss, None, stepper.update, params0, state0, steps, tol, record, None, every, sharpness,
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
                      **_run_options(steps, tol, record_params, record_every, sharpness_every, sharpness_iters))
    return trace._replace(every=int(record_every), sharpness_every=sharpness_every)


def _run_options(steps, tol, record_params, record_every, sharpness_every, sharpness_iters) -> dict:
    """The validated static options of a run."""
    _check_run_args(steps, tol, record_every, sharpness_every)
    positive_int(sharpness_iters, "sharpness_iters")
    return dict(steps=int(steps), tol=None if tol is None else float(tol), record=bool(record_params),
                every=int(record_every), sharpness=None if sharpness_every is None else int(sharpness_every),
                sharpness_iters=int(sharpness_iters))


@functools.partial(jax.jit, static_argnames=_RUN_STATICS + ("n_dev",))
def _minimize_from(starts, states, *, loss, stepper, steps, tol, record, every, sharpness, sharpness_iters, n_dev=1):
    runs = jax.vmap(lambda p0, s0: _run(loss, None, stepper.update, p0, s0, steps, tol, record, None, every,
                                        sharpness, sharpness_iters))
    if n_dev == 1:
        return runs(starts, states)
    spec = PartitionSpec("runs")
    return jax.shard_map(runs, mesh=_mesh(n_dev), in_specs=(spec, spec), out_specs=spec,
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
    options = _run_options(steps, tol, record_params, record_every, sharpness_every, sharpness_iters)
    tx = as_transformation(optimizer)
    starts = jnp.asarray(starts)
    if starts.ndim < 1 or starts.shape[0] < 1:
        raise InputError(f"starts must have a leading axis of starting points, got shape {starts.shape}")
    check_loss(loss, starts[0])
    states = jax.vmap(tx.init)(starts)
    # padded with copies of the last start to RUN_BLOCK runs per device (see plan_sweep), split over
    # every process's devices when there are several, and gathered
    n, n_dev = starts.shape[0], jax.device_count() if distributed.multiprocess() else 1
    starts, states = distributed.pad_rows((starts, states), n + -n % (n_dev * RUN_BLOCK))
    if n_dev > 1:
        split = NamedSharding(_mesh(n_dev), PartitionSpec("runs"))
        starts, states = jax.tree_util.tree_map(lambda a: distributed.to_global(a, split), (starts, states))
    flat = _minimize_from(starts, states, loss=loss, stepper=_Stepper(tx), n_dev=n_dev, **options)
    trace = jax.tree_util.tree_map(lambda a: a[:n], distributed.gather(flat))
    return trace._replace(every=int(record_every), sharpness_every=sharpness_every)


# --- sweeps ------------------------------------------------------------------------------


def settings_of(hyperparams: Mapping[str, Any], samples: int = 16, search_seed: int = 0) -> list[dict[str, float]]:
    """The sweep's settings axis, in key order: the product of the hyperparameter lists, times
    ``samples`` Halton points over any ranges (:mod:`jaxgrad.engine.search`)."""
    return search.settings(hyperparams, samples, search_seed)


RUN_BLOCK = 8  # runs per device come in multiples of this (see plan_sweep)


def _mesh(n: int):
    return distributed.mesh(n, "runs")


class _Objective:
    """A problem's objective as a static jit argument, compared by the problem's ``cache_key``.

    A registry problem rebuilt with the same options has a new closure but the same
    key, so it reuses the compiled program; a user's problem is keyed by its
    objective function.
    """

    def __init__(self, problem):
        self.fn = problem.objective
        self.metrics = problem.metrics
        self.key = (problem.cache_key, problem.metrics if problem.key is None else None)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Objective) and self.key == other.key


@dataclasses.dataclass(frozen=True)
class _Builder:
    """Builds a sweep's optimizer inside the trace from traced floats; a static jit argument.

    ``kind`` is ``"registry"`` (``target`` a name), ``"factory"`` (a callable
    ``factory(**hyperparameters) -> transformation``) or ``"ready"`` (a
    transformation, used as it is). Compared by value: a factory by identity.
    """

    kind: str
    target: Any
    fixed: tuple = ()

    def __call__(self, hp: dict) -> optax.GradientTransformation:
        if self.kind == "registry":
            return _optimizers.make(self.target, **hp, **dict(self.fixed))
        if self.kind == "factory":
            return self.target(**dict(self.fixed), **hp)
        return self.target


def optimizer_label(optimizer) -> str:
    """A short name for an optimizer: the registry name, a factory's name, or the transformation's type."""
    if isinstance(optimizer, str):
        return optimizer
    if isinstance(optimizer, optax.GradientTransformation):
        return "transformation"
    return getattr(optimizer, "__name__", type(optimizer).__name__)


def _is_float(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral))


def _check_sweepable(where: str, key: str, values) -> None:
    for v in values:
        if not _is_float(v) and not isinstance(v, numbers.Integral) or isinstance(v, bool):
            raise InputError(f"{where}: {key}: only numbers can be swept as data, got {v!r}; "
                             f"pass it in fixed= (one program per value)")
        if not np.isfinite(v):
            raise InputError(f"{where}: {key}: must be finite, got {v!r}")


def _freeze(fixed: Mapping[str, Any], where: str) -> tuple:
    items = tuple(sorted(fixed.items()))
    try:
        hash(items)
    except TypeError:
        bad = next(k for k, v in items if not _hashable(v))
        raise InputError(f"{where}: fixed value {bad}={fixed[bad]!r} must be hashable (a number, string, "
                         f"tuple or function)") from None
    return items


def _hashable(value) -> bool:
    try:
        hash(value)
        return True
    except TypeError:
        return False


def _build_checked(builder: _Builder, setting: dict, where: str):
    try:
        tx = builder(setting)
    except InputError:
        raise
    except Exception as err:  # a user's factory: its own error, in one line
        raise InputError(f"{where}({', '.join(f'{k}={v!r}' for k, v in setting.items())}) failed: "
                         f"{type(err).__name__}: {err}") from None
    if not isinstance(tx, optax.GradientTransformation):
        raise InputError(f"{where} must return an optax GradientTransformation, got {type(tx).__name__}")
    return tx


def sweep_builder(optimizer, grid: Mapping[str, Sequence[float]], fixed: Mapping[str, Any], samples: int = 16,
                  search_seed: int = 0):
    """Resolve a sweep's optimizer into a static builder and its settings, validated up front."""
    grid, fixed = dict(grid), dict(fixed)
    if isinstance(optimizer, str):
        spec = _optimizers.spec(optimizer)
        for key in list(grid) + list(fixed):
            if key not in spec:
                _optimizers.make(optimizer, **{key: None})  # raises the suggestion error
        for key in grid:
            if spec[key].kind not in ("float", "optional_float"):
                raise InputError(f"optimizer {optimizer!r}: only float hyperparameters can be swept as data; "
                                 f"pass {key!r} in fixed= (one program per value)")
        builder = _Builder("registry", optimizer, _freeze(fixed, f"optimizer {optimizer!r}"))
        settings = settings_of(grid, samples, search_seed)
        for setting in settings:  # validate every concrete value (and the fixed ones) up front
            _optimizers.make(optimizer, **setting, **fixed)
        return builder, settings
    if isinstance(optimizer, optax.GradientTransformation):
        if grid or fixed:
            raise InputError("a ready optax transformation has no hyperparameters to sweep; pass a factory "
                             "(e.g. optax.adamw, or lambda learning_rate: optax.chain(...)) to sweep them")
        return _Builder("ready", optimizer), [{}]
    if not callable(optimizer):
        raise InputError(f"optimizer must be a registry name, an optax GradientTransformation or a factory "
                         f"returning one, got {type(optimizer).__name__} {optimizer!r:.80}")
    where = f"optimizer factory {optimizer_label(optimizer)}"
    factories.check_keywords(optimizer, list(grid) + list(fixed), where)
    for key, values in grid.items():
        if not isinstance(values, search.Range):  # a range checked its ends itself
            _check_sweepable(where, key, values if isinstance(values, (list, tuple, np.ndarray)) else [values])
    builder = _Builder("factory", optimizer, _freeze(fixed, where))
    settings = settings_of(grid, samples, search_seed)
    _build_checked(builder, settings[0], where)
    return builder, settings


@functools.partial(
    jax.jit, static_argnames=("objective", "builder", "names", "steps", "tol", "record", "batch_size", "n_dev",
                              "every", "sharpness", "sharpness_iters"))
def _sweep_program(values, params0, keys, data, test_data, *, objective, builder, names, steps, tol, record,
                   batch_size, n_dev, every=1, sharpness=None, sharpness_iters=SHARPNESS_ITERS):
    def one(hp_row, p0, key, data, test_data):
        hp = {k: hp_row[i] for i, k in enumerate(names)}
        tx = optax.with_extra_args_support(builder(hp))
        full = lambda p: objective.fn(p, data)  # noqa: E731
        step_loss = None
        if batch_size is not None:
            step_loss = lambda p, k: batch_loss(objective.fn, p, key, k, batch_size, data)  # noqa: E731
        monitor = None
        if objective.metrics is not None:
            monitor = lambda p: objective.metrics(p, data, test_data)  # noqa: E731
        return _run(full, step_loss, tx.update, p0, tx.init(p0), steps, tol, record, monitor, every, sharpness,
                    sharpness_iters)

    runs = jax.vmap(one, in_axes=(0, 0, 0, None, None))
    if n_dev == 1:
        return runs(values, params0, keys, data, test_data)
    spec = PartitionSpec("runs")
    # runs are independent (nothing is reduced across devices), so the per-device scan
    # carries need no varying-axis annotations
    return jax.shard_map(runs, mesh=_mesh(n_dev), in_specs=(spec, spec, spec, PartitionSpec(), PartitionSpec()),
                         out_specs=spec, check_vma=False)(values, params0, keys, data, test_data)


class SweepPlan(NamedTuple):
    """A sweep ready to run: ``plan.run()`` executes, ``plan.compile()`` compiles ahead of time."""

    program: Callable
    args: tuple
    kwargs: dict
    settings: tuple
    n_seeds: int
    n_runs: int

    def compile(self):
        return self.program.lower(*self.args, **self.kwargs).compile()

    def finish(self, flat: Trace) -> Trace:
        """Reshape the flat runs of an executed program to ``(settings, seeds)``."""
        shaped = jax.tree_util.tree_map(
            lambda a: a[: self.n_runs].reshape((len(self.settings), self.n_seeds) + a.shape[1:]), flat)
        return shaped._replace(settings=self.settings, every=self.kwargs["every"],
                               sharpness_every=self.kwargs["sharpness"])

    def run(self, executable=None) -> Trace:
        args = self.args
        if self.kwargs["n_dev"] > 1 and distributed.multiprocess():
            # runs split over every process's devices; the trace gathered onto every process
            mesh = _mesh(self.kwargs["n_dev"])
            split, whole = NamedSharding(mesh, PartitionSpec("runs")), NamedSharding(mesh, PartitionSpec())
            args = tuple(jax.tree_util.tree_map(lambda a, s=s: distributed.to_global(a, s), arg)
                         for arg, s in zip(args, (split, split, split, whole, whole)))
        if executable is None:
            return self.finish(distributed.gather(self.program(*args, **self.kwargs)))
        return self.finish(distributed.gather(executable(*args)))


def sweep_cache_size() -> int:
    """How many sweep programs are compiled in this process (a new value of a swept
    hyperparameter, learning rate or data set of the same shape must not add one)."""
    return _sweep_program._cache_size()


def plan_sweep(
    problem,
    optimizer,
    grid: Mapping[str, Sequence[float]] | None = None,
    seeds: int = 8,
    steps: int = 1000,
    *,
    keys: jax.Array | None = None,
    tol: float | None = None,
    record_params: bool = False,
    batch_size: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    devices: int | None = None,
    record_every: int = 1,
    sharpness_every: int | None = None,
    sharpness_iters: int = SHARPNESS_ITERS,
    samples: int = search.DEFAULT_SAMPLES,
    search_seed: int = 0,
) -> SweepPlan:
    """Validate and lay out a :func:`sweep` without running it; see there for the arguments."""
    options = _run_options(steps, tol, record_params, record_every, sharpness_every, sharpness_iters)
    grid = dict(grid or {})
    builder, settings = sweep_builder(optimizer, grid, fixed or {}, samples, search_seed)
    if keys is None:
        positive_int(seeds, "seeds")
        keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(int(seeds)))
    keys = jnp.asarray(keys)
    n_seeds = keys.shape[0]
    if batch_size is not None:
        positive_int(batch_size, "batch_size")
    if batch_size is not None and problem.data is not None and batch_size > problem.data[0].shape[0]:
        raise InputError(f"batch_size {batch_size} is larger than the {problem.data[0].shape[0]} training rows")
    params0 = jax.vmap(problem.init)(keys)
    objective = _Objective(problem)
    check_loss(objective.fn, jax.tree_util.tree_map(lambda p: p[0], params0), problem.data,
               key=problem.key, what=f"problem {problem.name!r}'s objective")
    dtype = jax.tree_util.tree_leaves(params0)[0].dtype
    names = tuple(grid)
    values = jnp.asarray([[s[k] for k in names] for s in settings], dtype).reshape(len(settings), len(names))
    n_runs = len(settings) * n_seeds
    n_dev = jax.device_count() if devices is None else int(devices)
    n_dev = max(1, min(n_dev, n_runs))
    # every device runs a multiple of RUN_BLOCK runs (padding repeats the last run): XLA:CPU's
    # batched matrix products round a remainder row differently from a full vector block, so
    # this keeps each run's bits the same whatever the number of devices or processes
    pad = -n_runs % (n_dev * RUN_BLOCK)
    flat_values = jnp.repeat(values, n_seeds, axis=0)
    flat_params = jax.tree_util.tree_map(lambda p: jnp.tile(p, (len(settings),) + (1,) * (p.ndim - 1)), params0)
    flat_keys = jnp.tile(keys, (len(settings), 1))
    if pad:
        flat_values, flat_params, flat_keys = distributed.pad_rows((flat_values, flat_params, flat_keys),
                                                                   n_runs + pad)
    kwargs = dict(objective=objective, builder=builder, names=names, batch_size=batch_size, n_dev=n_dev, **options)
    return SweepPlan(_sweep_program, (flat_values, flat_params, flat_keys, problem.data, problem.test_data), kwargs,
                     tuple(settings), n_seeds, n_runs)


def sweep(
    problem,
    optimizer,
    grid: Mapping[str, Sequence[float]] | None = None,
    seeds: int = 8,
    steps: int = 1000,
    *,
    keys: jax.Array | None = None,
    tol: float | None = None,
    record_params: bool = False,
    batch_size: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    devices: int | None = None,
    record_every: int = 1,
    sharpness_every: int | None = None,
    sharpness_iters: int = SHARPNESS_ITERS,
    samples: int = search.DEFAULT_SAMPLES,
    search_seed: int = 0,
) -> Trace:
    """Run every (setting, seed) of ``optimizer`` on ``problem`` in one compiled program.

    Args:
      problem: a :class:`~jaxgrad.problems.Problem`.
      optimizer: a registry name (``"adam"``, ``"newton"``, ...); a factory
        ``factory(**hyperparameters) -> transformation`` (``optax.adamw``,
        ``lambda learning_rate: optax.chain(...)``, a user's function); or a ready
        optax transformation (then ``grid`` is empty).
      grid: hyperparameters to sweep, ``{name: [values]}`` or ``{name: jg.log_uniform(lo, hi)}``;
        the settings are the product of the lists in key order, times ``samples``
        scrambled-Halton points over the ranges (seeded by ``search_seed``). Every value
        is traced (data): one compile per structure, never one per value.
      seeds: runs per setting; seed ``s`` starts at ``problem.init(PRNGKey(s))``
        unless ``keys`` (shape ``(seeds, 2)``) are given.
      steps, tol, record_params: as in :func:`minimize`.
      batch_size: mini-batch size for stochastic gradients (drawn deterministically
        from each run's key and the step); the recorded loss stays the full one.
      fixed: other (static) keyword arguments: booleans, integers, schedules.
      devices: spread the runs over this many devices (default: all).
      record_every: record only every ``m``-th step (``m`` divides ``steps``).
      sharpness_every, sharpness_iters: the top Hessian eigenvalue of the full loss
        along every run, as in :func:`minimize`.

    Returns:
      A :class:`Trace` whose fields have leading axes ``(settings, seeds)``, e.g.
      ``loss.shape == (settings, seeds, steps + 1)``; ``trace.settings`` lists the
      hyperparameters of each setting.

    Example:
      >>> t = sweep(jg.problems.make("rosenbrock"), "adam", {"learning_rate": [1e-3, 1e-2]}, seeds=8, steps=1000)
      >>> t.loss.shape
      (2, 8, 1001)
    """
    return plan_sweep(problem, optimizer, grid, seeds, steps, keys=keys, tol=tol,
                      record_params=record_params, batch_size=batch_size, fixed=fixed, devices=devices,
                      record_every=record_every, sharpness_every=sharpness_every,
                      sharpness_iters=sharpness_iters, samples=samples, search_seed=search_seed).run()
