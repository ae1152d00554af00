"""An honest optimizer benchmark: every optimizer tuned the same way, reported like a paper.

Protocol (printed with every result):

1. Every (problem, optimizer) is compiled once, as a program of one run; the
   tuning, the evaluation and the timing below are calls of it (settings and
   keys are data). Every optimizer with a learning rate is tuned on the same log
   grid over ``tune_seeds`` seeds; optimizers that set their own step (L-BFGS's
   line search, Newton's methods) run at their defaults.
2. The best setting has the fewest diverged runs, then the fewest median steps
   to the problem's target (ties: the smaller median final loss, diverged runs
   counting as +inf): the rule of jaxgrad.lab.stats.
3. It is re-run with fresh seeds (keys ``10_000 + s``), and those runs are what is
   reported: success rate (with a Wilson 95% interval), median steps to target
   over the successes (with a bootstrap 95% interval), time to target (time
   per step of one run times those steps: the median wall time of the runs with
   the best setting, each blocked on, over its steps; compile time apart), the
   final loss gap and the Hessian evaluations (Newton: one per step).
4. A user's optimizer (``--optimizer SPEC``: a registry name or a factory, with
   ``key=value`` hyperparameters) runs under the same protocol, tuned on the same
   grid when it takes a ``learning_rate`` that is not fixed.

Targets: a loss gap ``loss - minimum <= gap_tol * (loss(x0) - minimum)`` where the
minimum is known, else ``loss <= loss_target``. Performance profiles (Dolan & Moré
2002) summarise all problems: for each optimizer, the fraction of problems it
solves within a factor τ of the best optimizer on that problem, in steps and in
time.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgrad import files, optimizers, problems, timing
from jaxgrad.engine import plan_sweep, settings_of
from jaxgrad.engine.sweeps import seed_keys
from jaxgrad.errors import InputError, did_you_mean
from jaxgrad.lab import stats
from jaxgrad.lab.bench.schema import BenchConfig, parse_bench_config
from jaxgrad.lab.results import versions
from jaxgrad.lab.rundir import strict_json
from jaxgrad.optimizers import search
from jaxgrad.precision import precision

__all__ = ["SUITE", "OPTIMIZERS", "FULL", "QUICK", "Spec", "Contender", "parse_optimizer", "resolve", "run_suite",
           "performance_profile", "PROTOCOL"]

PROTOCOL = __doc__.split("Protocol (printed with every result):")[1].split("Targets:")[0].strip().replace("``", "")


@dataclasses.dataclass(frozen=True)
class Spec:
    """A benchmark problem: a registry problem with options and its target."""

    name: str
    problem: str
    options: dict
    gap_tol: float = 1e-6  # relative loss gap target, when the minimum is known
    loss_target: float | None = None  # absolute loss target otherwise
    skip: tuple = ()  # optimizers not run on this problem
    hessian_steps: int | None = None  # step budget for full-Hessian Newton (each step forms H)
    data: bool = False  # a data problem (predict, output_loss): Gauss-Newton and natural gradient run on it

    def runs(self, contender: "Contender") -> bool:
        """Whether ``contender`` runs on this problem (second-order steps on outputs need data)."""
        return contender.name not in self.skip and (self.data or not contender.needs_outputs)


SUITE = (
    Spec("quadratic-k10", "quadratic", {"dim": 20, "condition_number": 10.0}),
    Spec("quadratic-k100", "quadratic", {"dim": 20, "condition_number": 100.0}),
    Spec("quadratic-k1000", "quadratic", {"dim": 20, "condition_number": 1000.0}),
    Spec("rosenbrock-2d", "rosenbrock", {"dim": 2}),
    Spec("rosenbrock-10d", "rosenbrock", {"dim": 10}),
    Spec("beale", "beale", {"x0": [1.0, 1.0]}),
    Spec("linear-regression", "linear_regression", {"n": 200, "features": 5}, data=True),
    Spec("logistic-regression", "logistic_regression", {"n": 200, "features": 5}, data=True),
    # full-Hessian Newton forms the MLP's 1153 x 1153 Hessian every step: slow per step, few steps
    Spec("mlp", "mlp", {}, loss_target=0.02, hessian_steps=40, data=True),
)


@dataclasses.dataclass(frozen=True)
class Contender:
    """An optimizer in the bench: a registry name or a factory, its fixed hyperparameters, tuned or not."""

    name: str  # the label in tables, bench.json and profiles
    optimizer: Any  # a registry name, or a factory(**hyperparameters) -> transformation
    fixed: dict = dataclasses.field(default_factory=dict)
    tuned: bool = True
    spec: str = ""  # what the user typed (factories), or the registry name

    def build(self, setting: dict):
        if isinstance(self.optimizer, str):
            return optimizers.make(self.optimizer, **self.fixed, **setting)
        return self.optimizer(**self.fixed, **setting)

    @property
    def newton(self) -> bool:
        return self.optimizer == "newton"

    @property
    def needs_outputs(self) -> bool:
        """A Gauss-Newton or natural-gradient step: it needs a data problem's outputs."""
        return self.optimizer in optimizers.CURVATURE_STEPS


def _builtin(name, registry, fixed=None, tuned=True):
    return name, Contender(name, registry, dict(fixed or {}), tuned, registry)


OPTIMIZERS = dict([
    _builtin("sgd", "sgd"),
    _builtin("momentum", "momentum"),
    _builtin("nesterov", "nesterov"),
    _builtin("adam", "adam"),
    _builtin("adamw", "adamw"),
    _builtin("rmsprop", "rmsprop"),
    _builtin("lbfgs", "lbfgs", tuned=False),
    _builtin("newton", "newton", {"linesearch": True}, tuned=False),
    _builtin("newton-lm", "newton", {"adaptive": True}, tuned=False),
    _builtin("newton-cg", "newton_cg", tuned=False),
    _builtin("gauss-newton", "gauss_newton", {"adaptive": True}, tuned=False),
    _builtin("natural-gradient", "natural_gradient", tuned=False),
])


def parse_optimizer(text: str, base: Path | None = None) -> Contender:
    """``--optimizer SPEC``: ``NAME_OR_FACTORY[,key=value,...]``, e.g. ``optax:adamw,weight_decay=1e-4``.

    ``NAME_OR_FACTORY`` is a registry name, ``package.module:function`` or
    ``path/to/file.py:function``; values are TOML values. It is tuned on the
    learning-rate grid when it takes a ``learning_rate`` that is not given.
    """
    from jaxgrad import factories
    from jaxgrad.lab.toml import parse_value
    from jaxgrad.optimizers import resolve as resolve_optimizer

    target, *pairs = [part.strip() for part in text.split(",")]
    fixed = {}
    for pair in pairs:
        if "=" not in pair:
            raise InputError(f"--optimizer {text!r}: expected key=value after the name, got {pair!r}")
        key, value = pair.split("=", 1)
        fixed[key.strip()] = parse_value(value.strip())
    if target in optimizers.names():
        optimizer, label = target, target
        takes_lr = "learning_rate" in optimizers.spec(target)
    else:
        if ":" not in target:
            raise InputError(f"--optimizer {text!r}: {target!r} is neither a registry optimizer"
                             f"{did_you_mean(target, optimizers.names())} nor a factory 'module:function'")
        optimizer = factories.load(target, base, what="--optimizer")
        label = factories.label(target, optimizer)
        named, takes_any = factories.keyword_parameters(optimizer)
        takes_lr = "learning_rate" in named or takes_any
    tuned = takes_lr and "learning_rate" not in fixed
    grid = {"learning_rate": [1e-3]} if tuned else {}
    resolve_optimizer(optimizer, grid, fixed)  # refuses unknown keywords and a factory that fails, up front
    contender = Contender(target, optimizer, fixed, tuned, text)
    try:  # one update traced on a small vector: a value of the wrong type fails here, not five pairs in
        tx = optax.with_extra_args_support(contender.build({"learning_rate": 1e-3} if tuned else {}))
        x = jnp.zeros(3)
        jax.eval_shape(lambda p: tx.update(p, tx.init(p), p, value=jnp.sum(p), grad=p,
                                           value_fn=lambda q: jnp.sum(q ** 2)), x)
    except Exception as err:
        culprit = next((k for k in fixed if repr(fixed[k]) in str(err) or k in str(err)), None)
        hint = f" (check {culprit}={fixed[culprit]!r})" if culprit else \
            (f" (check {', '.join(f'{k}={v!r}' for k, v in fixed.items())})" if fixed else "")
        raise InputError(f"--optimizer {text!r}: cannot build an update: {type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}{hint}") from None
    if fixed:
        label += " (" + ", ".join(f"{k}={v}" for k, v in fixed.items()) + ")"
    return Contender(label, optimizer, fixed, tuned, text)
FULL = BenchConfig(steps=1000, tune_seeds=4, eval_seeds=8, lr_grid=tuple(10.0 ** np.arange(-5.0, 0.01, 0.5)),
                   problems=tuple(s.name for s in SUITE), optimizers=tuple(OPTIMIZERS), precision="float64")
QUICK = BenchConfig(steps=300, tune_seeds=2, eval_seeds=4, lr_grid=tuple(10.0 ** np.arange(-4.0, 0.01, 1.0)),
                    problems=("quadratic-k100", "rosenbrock-2d", "logistic-regression"),
                    optimizers=("sgd", "momentum", "adam", "lbfgs", "newton"), precision="float64")


def performance_profile(costs: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Dolan–Moré profiles: ``rho[s, k]`` = share of problems solver ``s`` solves within ``taus[k]`` x the best.

    Args:
      costs: ``(problems, solvers)``; ``inf`` (or NaN) where a solver failed.
      taus: ratios >= 1.

    A problem no solver solves counts against every solver.
    """
    costs = np.where(np.isfinite(costs), costs, np.inf).astype(float)
    best = np.min(costs, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(np.isfinite(costs), costs / best, np.inf)
    return np.mean(ratios[:, :, None] <= np.asarray(taus)[None, None, :], axis=0)


def resolve(config: BenchConfig | dict | None = None, quick: bool = False, extra: tuple = ()) -> BenchConfig:
    """The bench's :class:`~jaxgrad.lab.bench.schema.BenchConfig`: ``config`` as given, or a table's values
    over the full or quick defaults (``extra``: the user's contenders, whose names count as known)."""
    if isinstance(config, BenchConfig):
        return config
    return parse_bench_config(config or {}, QUICK if quick else FULL, [s.name for s in SUITE],
                              [*OPTIMIZERS, *(c.name for c in extra)])


def _target(spec: Spec, problem, loss0: np.ndarray):
    """Per-seed loss thresholds (array over seeds)."""
    if problem.minimum is not None:
        return problem.minimum + spec.gap_tol * np.maximum(loss0 - problem.minimum, 1e-300)
    return np.full_like(loss0, spec.loss_target)


def _steps_to(loss: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """First step at which each run's loss is within its threshold (-1: never); loss (..., seeds, T+1)."""
    hit = loss <= threshold[..., None]
    return np.where(hit.any(-1), hit.argmax(-1), -1)


def _settings(grid, samples) -> list[dict]:
    """The tuning settings: the learning-rate grid, or ``samples`` Halton points of a log range over
    its span; ``[{}]`` for an optimizer that sets its own step."""
    if not grid:
        return [{}]
    if samples:
        return settings_of({"learning_rate": search.log_uniform(min(grid), max(grid))}, samples)
    return [{"learning_rate": float(v)} for v in grid]


class _Pair:
    """A (problem, optimizer)'s one compiled program: one run of one setting per call.

    Tuning, evaluation and timing are calls of it (a new setting or key is data), so each call
    is also a measurement of one run alone: ``python benchmarks/bench_timing.py`` shows that
    timing runs computed together instead would shift optimizers' relative costs by up to 2.7x.
    """

    def __init__(self, problem, optimizer, fixed: dict, setting: dict, steps: int):
        self.plan = plan_sweep(problem, optimizer, {k: [v] for k, v in setting.items()}, steps=steps,
                               keys=seed_keys(1), fixed=fixed)
        self.executable, self.compile_seconds = timing.compiled(self.plan)

    def runs(self, setting: dict, keys) -> tuple[np.ndarray, np.ndarray, list[float]]:
        """``setting`` on every key, one call each: the loss curves, diverged_at and each call's seconds."""
        out = [timing.timed(lambda plan=self.plan.with_runs([setting], k[None]): plan.run(self.executable))
               for k in np.asarray(keys)]
        return (np.stack([np.asarray(t.loss, np.float64)[0, 0] for t, _ in out]),
                np.asarray([int(t.diverged_at[0, 0]) for t, _ in out]), [s for _, s in out])


def run_suite(config: BenchConfig | dict | None = None, quick: bool = False, status=None, extra: tuple = ()) -> dict:
    """Tune, select and evaluate every (problem, optimizer) of the suite; returns the bench.json dict.

    ``extra``: the user's :class:`Contender` s (from :func:`parse_optimizer`), run
    after the built-ins under the same protocol. ``status``: a
    :class:`jaxgrad.pictures.terminal.Status` told of each pair (count and time left).
    """
    from jaxgrad.pictures import terminal

    status = status or terminal.Status(enabled=False)
    opts = resolve(config, quick, tuple(extra))
    contenders = {**OPTIMIZERS, **{c.name: c for c in extra}}
    names = list(opts.optimizers) + [c.name for c in extra if c.name not in opts.optimizers]
    suite_specs = {s.name: s for s in SUITE}
    pairs = [(p, o) for p in opts.problems for o in names if suite_specs[p].runs(contenders[o])]
    tuning = (f"{opts.tune_samples} Halton samples of [{min(opts.lr_grid):g}, {max(opts.lr_grid):g}]"
              if opts.tune_samples else f"{len(opts.lr_grid)} values")
    status.say(f"jaxgrad bench: {len(pairs)} (problem, optimizer) pairs, {opts.precision}, {opts.steps} steps: learning "
               f"rates tuned on {tuning} x {opts.tune_seeds} seeds, the best re-run on "
               f"{opts.eval_seeds} fresh seeds (the protocol in full: bench.json)")
    ctx = precision(opts.precision)[0]
    started = time.perf_counter()
    results = []
    with ctx, status.steps("pair", len(pairs)) as step:
        for pname in opts.problems:
            spec = suite_specs[pname]
            problem = problems.make(spec.problem, **spec.options)
            for oname in names:
                c = contenders[oname]
                if not spec.runs(c):
                    continue
                fixed, tuned = c.fixed, c.tuned
                step.start(f"{pname} / {oname}")
                grid = list(opts.lr_grid) if tuned else []
                steps = opts.steps
                if c.newton and spec.hessian_steps is not None:
                    steps = min(steps, spec.hessian_steps)
                tune_keys = seed_keys(opts.tune_seeds)
                settings = _settings(grid, opts.tune_samples)
                pair = _Pair(problem, c.optimizer, fixed, settings[0], steps)
                tuned_runs = [pair.runs(setting, tune_keys) for setting in settings]
                loss = np.stack([r[0] for r in tuned_runs])
                diverged_at = np.stack([r[1] for r in tuned_runs])
                steps_to = _steps_to(loss, _target(spec, problem, loss[..., 0]))
                big = steps + 1
                diverged = np.sum(diverged_at >= 0, axis=-1)
                score = [(float(np.median(np.where(s >= 0, s, big))), stats.median(stats.finals(l[:, -1], d >= 0)))
                         for s, l, d in zip(steps_to, loss, diverged_at)]
                # the rule of jaxgrad.lab.stats: fewest diverged runs, then fewest median steps, then the final loss
                best = stats.best(diverged.tolist(), [sc[0] for sc in score], [sc[1] for sc in score])
                setting = settings[best]
                eval_keys = seed_keys(10_000 + np.arange(opts.eval_seeds))
                ev_loss, ev_diverged, eval_calls = pair.runs(setting, eval_keys)
                ev_steps = _steps_to(ev_loss, _target(spec, problem, ev_loss[:, 0]))
                ev_div = ev_diverged >= 0
                ok = (ev_steps >= 0) & ~ev_div
                # a run's time per step: the median call with the best setting (its tuning runs and the
                # evaluation's; the first call after compiling left out, as a warm-up)
                warm = tuned_runs[best][2][1:] if best == 0 else tuned_runs[best][2]
                per_step = statistics.median(eval_calls + warm) / steps
                median_steps = float(np.median(ev_steps[ok])) if ok.any() else None
                steps_ci = stats.median_ci(ev_steps[ok])
                gap = stats.finals(ev_loss[:, -1], ev_div) - (problem.minimum if problem.minimum is not None else 0.0)
                results.append({
                    "problem": pname, "optimizer": oname, "spec": c.spec, "user": oname not in OPTIMIZERS,
                    "fixed": {k: v if isinstance(v, (int, float, str, bool)) else repr(v) for k, v in fixed.items()},
                    "minimum": problem.minimum,
                    "best_setting": setting, "tuned": tuned,
                    "tuning": [{"setting": s, "median_steps_to_target": None if sc[0] >= big else float(sc[0]),
                                "median_final_loss": float(sc[1]),
                                "diverged": int(diverged[i])}
                               for i, (s, sc) in enumerate(zip(settings, score))],
                    "success_rate": float(ok.mean()),
                    "success_ci": stats.wilson(int(ok.sum()), ok.size),
                    "median_steps_to_target": median_steps,
                    "median_steps_to_target_ci": steps_ci,
                    "seconds_per_step": per_step,
                    "median_time_to_target": None if median_steps is None else median_steps * per_step,
                    "median_time_to_target_ci": None if steps_ci is None else [v * per_step for v in steps_ci],
                    "eval_steps_to_target": [int(v) if k else None for v, k in zip(ev_steps, ok)],
                    "eval_diverged": int(ev_div.sum()),
                    "eval_final_gap": gap.tolist(),
                    "compile_seconds": {"program": pair.compile_seconds},
                    "run_seconds": {"tuning": sum(sum(r[2]) for r in tuned_runs), "evaluation": sum(eval_calls)},
                    "median_final_gap" if problem.minimum is not None else "median_final_loss": stats.median(gap),
                    "hessian_evaluations": median_steps if c.newton else None,
                    "steps": steps,
                    "target": f"gap <= {spec.gap_tol:g} x initial gap" if problem.minimum is not None
                    else f"loss <= {spec.loss_target:g}",
                })
                step.done(f": {100 * ok.mean():.0f}% reached the target"
                          + ("" if median_steps is None else f" in {median_steps:.0f} steps"))
    device = jax.devices()[0]
    wall = time.perf_counter() - started
    compile_s = sum(sum(r["compile_seconds"].values()) for r in results)
    run_s = sum(sum(r["run_seconds"].values()) for r in results)
    return {
        "schema_version": 2,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "quick": quick,
        "protocol": PROTOCOL,
        "options": opts.as_dict(),
        "user_optimizers": [c.spec for c in extra],
        "wall_seconds": wall,
        "time": {"wall": wall, "compile": compile_s, "run": run_s, "other": max(wall - compile_s - run_s, 0.0),
                 "compiles": sum(1 for r in results for v in r["compile_seconds"].values() if v > 0)},
        "device": {"platform": device.platform, "kind": device.device_kind, "count": jax.device_count()},
        "machine": {"system": platform.system(), "machine": platform.machine(), "processor": platform.processor(),
                    "python": platform.python_version()},
        "versions": versions(),
        "results": results,
    }


def cost_table(bench: dict, key: str) -> tuple[list[str], list[str], np.ndarray]:
    """``(problems, optimizers, costs)`` with ``inf`` where the target was not reached (median)."""
    probs = list(dict.fromkeys(r["problem"] for r in bench["results"]))
    opts = list(dict.fromkeys(r["optimizer"] for r in bench["results"]))
    costs = np.full((len(probs), len(opts)), np.inf)
    for r in bench["results"]:
        value = r[key]
        if value is not None and r["success_rate"] >= 0.5:
            costs[probs.index(r["problem"]), opts.index(r["optimizer"])] = value
    return probs, opts, costs


def profile_labels(bench: dict) -> list[str]:
    """The profiles' legend, in cost_table's order: an optimizer that does not run on every problem
    (Gauss-Newton and natural gradient need a data problem) says on how many it ran, since the
    others count against it."""
    probs = list(dict.fromkeys(r["problem"] for r in bench["results"]))
    opts = list(dict.fromkeys(r["optimizer"] for r in bench["results"]))
    ran = {o: sum(r["optimizer"] == o for r in bench["results"]) for o in opts}
    return [o if ran[o] == len(probs) else f"{o} ({ran[o]} of {len(probs)} run)" for o in opts]


def write_outputs(bench: dict, out: Path) -> list[Path]:
    """bench.json, performance profiles (steps, time) and learning-rate sensitivity, as files."""
    from jaxgrad.pictures import house, plots
    from jaxgrad.pictures.house import save_figure

    if files.writing():
        out.mkdir(parents=True, exist_ok=True)
    files.write_json(out / "bench.json", strict_json(bench)[0])  # infinities (diverged runs) as null
    written = [out / "bench.json"]
    taus = np.logspace(0, 12, 400, base=2)  # first-order methods can be 1000x Newton's steps
    spec = {r["optimizer"]: r["spec"].split(",")[0] for r in bench["results"]}
    order = list(dict.fromkeys(r["optimizer"] for r in bench["results"]))
    style = dict(zip(order, house.identities([spec[o] for o in order])))  # the same identity in every figure
    for key, what in (("median_steps_to_target", "steps"), ("median_time_to_target", "time")):
        probs, opts, costs = cost_table(bench, key)
        rho = performance_profile(costs, taus)
        fig, (ax,) = house.figure(1, 6.8, 4.6)
        plots.performance_profiles(ax, taus, rho, profile_labels(bench), what, len(probs),
                                   styles=[style[o] for o in opts])
        save_figure(fig, out / f"profile_{what}.png")
        written.append(out / f"profile_{what}.png")
    tuned = [r for r in bench["results"] if r["tuned"]]
    if tuned:
        probs = list(dict.fromkeys(r["problem"] for r in tuned))
        cols = min(3, len(probs))  # a grid a README can show, not one long row
        rows = -(-len(probs) // cols)
        fig, axes = house.figure(cols, 5.2, 3.6 * rows, rows=rows)
        for ax in axes[len(probs):]:
            ax.set_visible(False)
        for k, (ax, p) in enumerate(zip(axes, probs)):
            lines = []
            for r in (r for r in tuned if r["problem"] == p):
                lrs = [t["setting"]["learning_rate"] for t in r["tuning"]]
                # gaps below 1e-12 of the scale are rounding noise: drawn on the floor band, not as data
                vals = [np.inf if t["median_final_loss"] is None else
                        float(max(t["median_final_loss"] - (r["minimum"] or 0.0), 0.0)) for t in r["tuning"]]
                vals = [v if v > 1e-12 else 0.0 for v in vals]
                div = [t["diverged"] > 0 for t in r["tuning"]]
                lines.append((r["optimizer"], lrs, vals, div))
            sampled = bench["options"].get("tune_samples")  # samples are points, not a line through them
            plots.lr_sensitivity(ax, lines, ylabel="median final gap (tuning)" if k % cols == 0 else None, title=p,
                                 styles=[style[name]._replace(dash="none") if sampled else style[name]
                                         for name, *_ in lines], show_legend=False)
        house.shared_legend(fig, axes[: len(probs)])
        save_figure(fig, out / "lr_sensitivity.png")
        written.append(out / "lr_sensitivity.png")
    from jaxgrad.pictures import page

    written.append(page.write_bench_page(bench, out))
    return written

