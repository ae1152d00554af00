"""``sweep``: every (setting, seed) pair of a problem in one compiled program; hyperparameters are
data (traced), so a new value never recompiles."""

import functools
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from jaxgrad import cache, distributed
from jaxgrad import optimizers as _optimizers
from jaxgrad.calculus.derivatives import check_loss
from jaxgrad.curvature.operators import CurvatureOperator
from jaxgrad.engine.options import SHARPNESS_ITERS, RunOptions
from jaxgrad.engine.run import Trace, run_mesh, run_layout, run_steps
from jaxgrad.errors import InputError, positive_int
from jaxgrad.optimizers import search
from jaxgrad.problems import batch_loss, losses

PyTree = Any


__all__ = ["SweepPlan", "plan_sweep", "sweep", "settings_of", "seed_keys"]


def seed_keys(seeds) -> np.ndarray:
    """``jax.random.PRNGKey(s)`` for every ``s`` in ``seeds`` (a count ``n`` means ``0 .. n - 1``),
    stacked; built in NumPy for the default threefry keys (``[0, s]``), so laying out a sweep
    compiles nothing."""
    seeds = np.arange(seeds) if np.ndim(seeds) == 0 else np.asarray(seeds)
    if jax.config.jax_default_prng_impl == "threefry2x32" and 0 <= seeds.min(initial=0) <= seeds.max(initial=0) < 2**32:
        return np.stack([np.zeros(len(seeds), np.uint32), seeds.astype(np.uint32)], axis=1)
    return np.asarray(jax.vmap(jax.random.PRNGKey)(seeds))


_STARTS = cache.memo("sweep starts", maxsize=256)  # a registry problem's key -> its init over keys


def _starts(problem) -> Callable:
    """``problem.init`` over a batch of keys: for a registry problem one compiled program per
    problem and shape (rebuilt with the same options, it reuses it); a user's problem, whose init
    may be a new closure every time, runs eagerly (XLA's operations cached by shape)."""
    if problem.key is None:
        return jax.vmap(problem.init)
    fn = _STARTS.get(problem.key)
    return fn if fn is not None else _STARTS.put(jax.jit(jax.vmap(problem.init)), problem.key)



def settings_of(hyperparams: Mapping[str, Any], samples: int = 16, search_seed: int = 0) -> list[dict[str, float]]:
    """The sweep's settings axis, in key order: the product of the hyperparameter lists, times
    ``samples`` Halton points over any ranges (:mod:`jaxgrad.optimizers.search`)."""
    return search.settings(hyperparams, samples, search_seed)




class _Objective:
    """A problem's objective as a static jit argument, compared by the problem's ``cache_key``.

    A registry problem rebuilt with the same options has a new closure but the same
    key, so it reuses the compiled program; a user's problem is keyed by its
    objective function.
    """

    def __init__(self, problem):
        self.fn = problem.objective
        self.metrics = problem.metrics
        self.outputs = None  # (predict, output_loss): the curvature of the outputs, for second-order steps
        if problem.predict is not None and problem.output_loss is not None:
            self.outputs = (problem.predict, problem.output_loss)
        self.key = (problem.cache_key, problem.metrics if problem.key is None else None,
                    self.outputs if problem.key is None else None)

    def curvature(self, data) -> dict:
        """The extra arguments every optimizer is handed: ``ggn_vp(params, v)`` and
        ``fisher_vp(params, v)`` over the full data (empty without predict and output_loss)."""
        if self.outputs is None:
            return {}
        predict, output_loss = self.outputs

        def ggn_vp(params, v):
            return CurvatureOperator("ggn", params, data, None, (self.fn, predict, output_loss), None).matvec(v)

        return {"ggn_vp": ggn_vp, "fisher_vp": ggn_vp if losses.family(output_loss) is not None else None}

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Objective) and self.key == other.key


@functools.partial(
    jax.jit, static_argnames=("objective", "builder", "names", "steps", "tol", "record", "batch_size", "n_dev",
                              "every", "sharpness", "sharpness_iters"))
def _sweep_program(values, params0, keys, data, test_data, *, objective, builder, names, steps, tol, record,
                   batch_size, n_dev, every=1, sharpness=None, sharpness_iters=SHARPNESS_ITERS):
    cache.count_trace("sweep")  # runs once per compile
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
        update = functools.partial(tx.update, **objective.curvature(data)) if builder.wants_curvature else tx.update
        return run_steps(full, step_loss, update, p0, tx.init(p0), steps, tol, record, monitor, every, sharpness,
                    sharpness_iters)

    runs = jax.vmap(one, in_axes=(0, 0, 0, None, None))
    if n_dev == 1:
        return runs(values, params0, keys, data, test_data)
    spec = PartitionSpec("runs")
    # runs are independent (nothing is reduced across devices), so the per-device scan
    # carries need no varying-axis annotations
    return jax.shard_map(runs, mesh=run_mesh(n_dev), in_specs=(spec, spec, spec, PartitionSpec(), PartitionSpec()),
                         out_specs=spec, check_vma=False)(values, params0, keys, data, test_data)


class SweepPlan(NamedTuple):
    """A sweep ready to run: ``plan.run()`` executes, ``plan.compile()`` compiles ahead of time."""

    program: Callable
    args: tuple
    kwargs: dict
    settings: tuple
    n_seeds: int
    n_runs: int
    layout: Callable | None = None  # (settings, keys) -> args, the same shapes (see with_runs)

    def with_runs(self, settings: Sequence[dict], keys: jax.Array) -> "SweepPlan":
        """The same compiled program on other runs: run ``i`` takes ``settings[i]`` and ``keys[i]``
        (exactly ``n_runs`` of each; new values and keys are data, so an executable of this plan
        runs them without compiling again). ``finish`` then gives ``(n_runs,)``-leading arrays."""
        if len(settings) != self.n_runs or len(keys) != self.n_runs:
            raise InputError(f"with_runs needs {self.n_runs} settings and keys, got {len(settings)} and {len(keys)}")
        return self._replace(args=self.layout(settings, np.asarray(keys)), settings=tuple(settings), n_seeds=1)

    def compile(self):
        return self.program.lower(*self.args, **self.kwargs).compile()

    def finish(self, flat: Trace) -> Trace:
        """Reshape the flat runs of an executed program to ``(settings, seeds)``."""
        shaped = jax.tree_util.tree_map(  # in NumPy: no eager XLA slice and reshape per leaf
            lambda a: np.asarray(a)[: self.n_runs].reshape((len(self.settings), self.n_seeds) + a.shape[1:]), flat)
        return shaped._replace(settings=self.settings, every=self.kwargs["every"],
                               sharpness_every=self.kwargs["sharpness"])

    def run(self, executable=None) -> Trace:
        args = self.args
        if self.kwargs["n_dev"] > 1 and distributed.multiprocess():
            # runs split over every process's devices; the trace gathered onto every process
            mesh = run_mesh(self.kwargs["n_dev"])
            split, whole = NamedSharding(mesh, PartitionSpec("runs")), NamedSharding(mesh, PartitionSpec())
            args = tuple(jax.tree_util.tree_map(lambda a, s=s: distributed.to_global(a, s), arg)
                         for arg, s in zip(args, (split, split, split, whole, whole)))
        if executable is None:
            return self.finish(distributed.gather(self.program(*args, **self.kwargs)))
        return self.finish(distributed.gather(executable(*args)))


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
    options = RunOptions(steps, tol, record_params, record_every, sharpness_every, sharpness_iters).statics()
    grid = dict(grid or {})
    builder, settings = _optimizers.resolve(optimizer, grid, fixed or {}, samples, search_seed)
    if keys is None:
        positive_int(seeds, "seeds")
        keys = seed_keys(int(seeds))
    keys = np.asarray(keys)
    n_seeds = keys.shape[0]
    if batch_size is not None:
        positive_int(batch_size, "batch_size")
    if batch_size is not None and problem.data is not None and batch_size > problem.data[0].shape[0]:
        raise InputError(f"batch_size {batch_size} is larger than the {problem.data[0].shape[0]} training rows",
                         field="batch_size")
    objective = _Objective(problem)
    start = jax.eval_shape(problem.init, keys[0])
    check_loss(objective.fn, start, problem.data, key=problem.key, what=f"problem {problem.name!r}'s objective")
    dtype = jax.tree_util.tree_leaves(start)[0].dtype
    names = tuple(grid)
    n_runs = len(settings) * n_seeds
    n_dev, rows = run_layout(n_runs, jax.device_count() if devices is None else int(devices))

    def layout(run_settings, run_keys):
        # one setting and one key per run, laid out in NumPy (no eager XLA operations between
        # programs); padding repeats the last run; each run's start is its key's init, computed by
        # one compiled program per problem and shape
        take = np.minimum(np.arange(rows), len(run_settings) - 1)
        values = np.asarray([[s[k] for k in names] for s in run_settings], dtype)
        values = values.reshape(len(run_settings), len(names))[take]
        run_keys = np.asarray(run_keys)[take]
        return values, _starts(problem)(run_keys), run_keys, problem.data, problem.test_data

    args = layout([s for s in settings for _ in range(n_seeds)], np.concatenate([keys] * len(settings)))
    kwargs = dict(objective=objective, builder=builder, names=names, batch_size=batch_size, n_dev=n_dev, **options)
    return SweepPlan(_sweep_program, args, kwargs, tuple(settings), n_seeds, n_runs, layout)


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

