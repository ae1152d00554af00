"""Experiment configs: the TOML schema, its validation, ``--set`` overrides.

A config is resolved into immutable dataclasses in this one place; errors name the
file and the field (``optimizers.1.learning_rate``, 0-based) and say what is
wrong, with the nearest valid key for a typo. Validation happens before anything
is computed.

Schema::

    name = "rosenbrock-shootout"     # default: the file's stem
    steps = 500
    seeds = 4                        # initialisations per optimizer setting
    precision = "float32"            # or "float64"
    tol = 1e-6                       # optional: gradient-norm tolerance
    batch_size = 32                  # optional: mini-batch gradients

    [[problems]]
    name = "rosenbrock"              # a registry name with its options ...
    dim = 2
    # expr = "(1-x)**2 + 100*(y-x**2)**2"  # ... or an expression,
    # init = [-1.5, 2.0]                   # with its start and optional bounds

    [[optimizers]]
    name = "sgd"
    learning_rate = [1e-4, 3e-4, 1e-3]   # a list sweeps (lists sweep their product)

    [[optimizers]]
    factory = "optax:adamw"          # or "my_opt.py:make" (relative to this file)
    learning_rate = [1e-3, 1e-2]     # the other keys are its keyword arguments
    weight_decay = 1e-4

    [output]
    directory = "runs/shootout"      # default runs/<name>-<timestamp>
    plots = ["loss", "paths"]        # default: chosen per problem kind
    record_params = true             # default: for 2-D problems and 1-feature regressions
    record_every = 100               # keep every 100th step (long runs stay small)
    metrics_every = 1000             # rows in metrics.csv every 1000 steps
    sharpness_every = 100            # the top Hessian eigenvalue every 100 steps (plot "sharpness")
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from pathlib import Path
from typing import Any, Sequence

from jaxgrad import factories, types
from jaxgrad import optimizers as _optimizers
from jaxgrad import problems as _problems
from jaxgrad.engine.options import DEFAULT_SEEDS, DEFAULT_STEPS, RunOptions
from jaxgrad.errors import InputError, did_you_mean
from jaxgrad.lab.toml import (
    ConfigError,
    apply_overrides,
    freeze,
    read_toml,
    thaw,
)
from jaxgrad.optimizers import search

__all__ = ["Config", "ProblemConfig", "OptimizerConfig", "OutputConfig", "ConfigError", "Checker", "load_config",
           "parse_config", "parse_problem", "run_options", "PLOT_KINDS", "LANDSCAPE_KINDS", "PRECISIONS", "MAX_RUNS"]

PLOT_KINDS = ("loss", "accuracy", "grad_norm", "paths", "lr_sensitivity", "search", "fit", "landscape", "basins",
              "race",
              "interpolation", "random_plane", "trajectory_plane", "sharpness")
LANDSCAPE_KINDS = ("interpolation", "random_plane", "trajectory_plane")
MAX_RUNS = 10_000_000
_TOP = {"name", "description", "steps", "seeds", "precision", "tol", "batch_size", "problems", "optimizers", "output"}
_OUTPUT = {"directory", "plots", "record_params", "record_every", "metrics_every", "sharpness_every", "tensorboard"}
PRECISIONS = ("float32", "float64")


def _freeze_fields(obj, *names) -> None:
    for name in names:
        object.__setattr__(obj, name, freeze(getattr(obj, name)))


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """One compiled group: float lists in ``sweep`` (their product), everything else in ``fixed``.

    ``name`` is the registry name, or the factory's spec (``"optax:adamw"``) when
    ``factory`` holds the imported function.
    """

    name: str
    sweep: dict
    fixed: dict
    label: str
    index: int  # position in the config's [[optimizers]]
    factory: Any = None
    samples: int = 16  # Halton points over the ranges in ``sweep`` (jaxgrad.optimizers.search)
    search_seed: int = 0
    # what jaxgrad.optimizers.resolve made of it when the config was validated (the engine trusts it)
    resolved: Any = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self):
        _freeze_fields(self, "sweep", "fixed")

    @property
    def sampled(self) -> bool:
        """Whether the sweep holds ranges (its settings are samples, not a grid)."""
        return any(isinstance(v, search.Range) for v in self.sweep.values())

    @property
    def optimizer(self):
        """What :func:`jaxgrad.sweep` takes: the registry name or the factory."""
        return self.name if self.factory is None else self.factory

    def build(self, setting: dict):
        """The transformation of one setting (concrete values)."""
        if self.factory is None:
            return _optimizers.make(self.name, **thaw(self.fixed), **setting)
        return self.factory(**thaw(self.fixed), **setting)

    @property
    def settings(self) -> list[dict]:
        """The sweep's settings, in the order :func:`jaxgrad.sweep` runs them."""
        return search.settings(self.sweep, self.samples, self.search_seed)


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    directory: str | None
    plots: tuple[str, ...] | None  # None: defaults per problem kind
    record_params: bool | None  # None: automatic
    record_every: int = 1  # keep steps 0, k, 2k, ... in the results (divides steps)
    metrics_every: int | None = None  # rows in metrics.csv every m steps (a multiple of record_every)
    sharpness_every: int | None = None  # the top Hessian eigenvalue every s steps (a multiple of record_every)
    tensorboard: bool = False  # RUN/tensorboard/ written with the other files (jaxgrad.lab.export)


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    description: str
    steps: int
    seeds: int
    precision: str
    tol: float | None
    batch_size: int | None
    problems: tuple[ProblemConfig, ...]
    optimizers: tuple[OptimizerConfig, ...]
    output: OutputConfig
    raw: dict  # the resolved TOML data (after overrides)
    source: str

    def __post_init__(self):  # deeply frozen: no part of a resolved config changes after validation
        _freeze_fields(self, "raw")


class Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, field: str, message: str):
        raise ConfigError(f"{self.source}: {field}: {message}" if field else f"{self.source}: {message}")

    def keys(self, table: dict, allowed, field: str, what: str) -> None:
        for key in table:
            if key not in allowed:
                where = f"{field}.{key}" if field else key
                self.fail(where, f"unknown {what} key{did_you_mean(key, allowed)}; allowed: {', '.join(sorted(allowed))}")

    def integer(self, value, field: str, minimum: int = 1, maximum: int | None = None) -> int:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            self.fail(field, f"must be an integer, got {value!r}")
        if value < minimum:
            self.fail(field, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.fail(field, f"must be at most {maximum:,}, got {value:,}")
        return int(value)

    def number(self, value, field: str, minimum: float | None = None) -> float:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            self.fail(field, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            self.fail(field, f"must be finite, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(field, f"must be >= {minimum}, got {value}")
        return float(value)

    def string(self, value, field: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail(field, f"must be a non-empty string, got {value!r}")
        return value


@dataclasses.dataclass(frozen=True)
class ProblemConfig:
    """A problem to build: a registry ``name`` with ``options``, or a user's ``factory``.

    ``options`` are the keyword arguments as given; ``resolved`` are the ones passed
    (data paths made relative to the config's folder).
    """

    name: str
    options: dict
    label: str
    factory: Any = None
    resolved: dict | None = None
    _built: dict = dataclasses.field(default_factory=dict, init=False, compare=False, repr=False)  # x64 -> Problem

    def __post_init__(self):
        _freeze_fields(self, "options", "resolved")

    def build(self):
        """The :class:`~jaxgrad.problems.Problem` in the current precision (call inside the config's),
        built once: the config's validation builds it, and the plan reuses that one."""
        import jax

        x64 = bool(jax.config.jax_enable_x64)
        if x64 not in self._built:
            self._built[x64] = self._make()
        return self._built[x64]

    def _make(self):
        kwargs = thaw(self.options if self.resolved is None else self.resolved)
        if self.factory is None:
            return _problems.make(self.name, **kwargs)
        problem = self.factory(**kwargs)
        if not isinstance(problem, _problems.Problem):
            raise InputError(f"{self.name} must return a jaxgrad.problems.Problem, got {type(problem).__name__}")
        return problem


def parse_problem(table: Any, source: str = "<problem>", base: Path | None = None) -> list[ProblemConfig]:
    """One ``[[problems]]`` table (``name`` or ``factory``, and its options) resolved as a config
    resolves it: one :class:`ProblemConfig` per combination of its lists of numbers; data
    paths relative to ``base``."""
    return _problem(Checker(source), table, 0, base)


def _resolve_paths(table: dict, base: Path | None) -> dict:
    """``data`` paths are relative to the config's folder (``sklearn:NAME`` is not a path)."""
    data = table.get("data")
    if isinstance(data, str) and base is not None and not data.startswith("sklearn:") and not Path(data).is_absolute():
        return {**table, "data": str(base / data)}
    return table


def _entry(check: Checker, table: Any, field: str) -> tuple[dict, str | None]:
    """A ``[[problems]]`` or ``[[optimizers]]`` entry as a fresh dict, and its ``label`` taken out."""
    if not isinstance(table, dict):
        check.fail(field, f"must be a table ([[{field.split('.')[0]}]])")
    table = dict(table)
    label = table.pop("label", None)
    if label is not None:
        check.string(label, f"{field}.label")
    return table, label


def _problem(check: Checker, table: Any, i: int, base: Path | None) -> list[ProblemConfig]:
    field = f"problems.{i}"
    table, label = _entry(check, table, field)
    if "factory" in table:
        return _problem_factory(check, table, field, base, label)
    if "expr" in table:
        name = table.pop("name", "expression")
        if name != "expression":
            check.fail(f"{field}.name", f"a problem with expr is an expression problem, not {name!r}")
    elif "name" not in table:
        check.fail(field, "needs name (a registry problem), expr (an expression) or factory = \"module:function\"")
    else:
        name = table.pop("name")
    if not isinstance(name, str) or name not in _problems.names():
        check.fail(f"{field}.name", f"unknown problem {name!r}{did_you_mean(name, _problems.names())}; "
                                    f"known: {', '.join(_problems.names())}")
    allowed = _problems.signature(name)
    check.keys(table, set(allowed) | {"label"}, field, f"{name}")
    config = ProblemConfig(name, table, "", None, _resolve_paths(table, base))
    try:  # build once to validate values (expressions are parsed here, never run)
        config.build()
    except InputError as err:
        message = str(err)
        key = err.field if err.field in table else None  # the option a problem's check blamed
        if name == "expression" and key is None and "expr" in table:
            key = "expr"
        check.fail(f"{field}.{key}" if key else field, message)
    default_label = name if name != "expression" else table["expr"]
    extra = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in table.items()
             if k not in ("expr", "init", "bounds", "variables", "standardize", "target", "features", "data",
                          "test_fraction")
             ]  # every option the config set, defaults included: two problems never share a label
    if isinstance(table.get("data"), str):
        default_label += f" on {Path(table['data']).name}"
    if extra and name != "expression":
        default_label += f" ({', '.join(extra)})"
    labelled = dataclasses.replace(config, label=label if label is not None else default_label)
    labelled._built.update(config._built)  # the same options: the problem built to validate them
    return [labelled]


def _load_factory(check: Checker, table: dict, field: str, base: Path | None):
    """Pop ``factory`` from a table, import it, and check the table's other keys against its
    signature: ``(spec, function, printed name)``, or a one-line error naming the field."""
    spec = table.pop("factory")
    try:
        factory = factories.load(spec, base)
    except InputError as err:
        check.fail(f"{field}.factory", str(err))
    where = factories.label(spec, factory)
    try:
        factories.check_keywords(factory, list(table), where)
    except InputError as err:
        key = next((k for k in table if repr(k) in str(err)), None)
        check.fail(f"{field}.{key}" if key else f"{field}.factory", str(err))
    annotations = types.hints(factory)
    for key, value in table.items():
        if key not in annotations or types.check(value, annotations[key]) is None:
            continue
        # not a value of the annotated type: a list may still be a sweep of such values
        values = value if isinstance(value, list) else [value]
        problem = next((p for p in (types.check(v, annotations[key]) for v in values) if p), None)
        if problem or not isinstance(value, list):
            check.fail(f"{field}.{key}", problem or types.check(value, annotations[key]))
    return spec, factory, where


def _problem_factory(check: Checker, table: dict, field: str, base: Path | None,
                     label: str | None) -> list[ProblemConfig]:
    """``factory = "module:function"`` returning a Problem; a list of numbers makes one problem per value."""
    if "name" in table:
        check.fail(f"{field}.name", "give name (a registry problem) or factory (your function), not both")
    spec, factory, where = _load_factory(check, table, field, base)
    lists = {k: v for k, v in table.items() if isinstance(v, list) and v
             and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)}
    combos = search.settings(lists)  # one problem per combination
    out = []
    for combo in combos:
        options = {**table, **combo}
        text = label if label is not None else _label(where, {k: v for k, v in options.items() if k in lists})
        config = ProblemConfig(spec, options, text, factory, _resolve_paths(options, base))
        try:
            config.build()
        except InputError as err:
            check.fail(f"{field}.factory", str(err))
        except Exception as err:  # the user's factory raised
            check.fail(f"{field}.factory", f"{where}({', '.join(f'{k}={v!r}' for k, v in options.items())}) "
                                           f"failed: {type(err).__name__}: {err}")
        out.append(config)
    return out


def _label(text: str, fixed: dict) -> str:
    short = {"learning_rate": "lr", "momentum": "mu", "weight_decay": "wd"}
    if not fixed:
        return text
    return text + " (" + ", ".join(f"{short.get(k, k)}={v:g}" if isinstance(v, float) else f"{short.get(k, k)}={v}"
                                   for k, v in fixed.items()) + ")"


def _optimizer(check: Checker, table: Any, i: int, base: Path | None) -> list[OptimizerConfig]:
    field = f"optimizers.{i}"
    table, label = _entry(check, table, field)
    if "factory" in table:
        if "name" in table:
            check.fail(f"{field}.name", "give name (a registry optimizer) or factory (your function), not both")
        return _optimizer_factory(check, table, field, i, base, label)
    if "name" not in table:
        check.fail(field, "needs name (a registry optimizer) or factory = \"module:function\"")
    name = table.pop("name")
    if not isinstance(name, str) or name not in _optimizers.names():
        check.fail(f"{field}.name", f"unknown optimizer {name!r}{did_you_mean(name, _optimizers.names())}; "
                                    f"known: {', '.join(_optimizers.names())}")
    spec = _optimizers.spec(name)
    samples, search_seed = _search_options(check, table, field)
    check.keys(table, set(spec) | {"label"}, field, f"{name} hyperparameter")
    swept, static_lists, fixed = {}, {}, {}
    for key, value in table.items():  # what each value means (a sweep, groups, fixed); resolve checks it
        span = _range(check, value, f"{field}.{key}")
        if span is not None:
            swept[key] = span
        elif isinstance(value, list):
            if not value:
                check.fail(f"{field}.{key}", "an empty list sweeps nothing")
            if spec[key].kind in ("float", "optional_float") and all(_is_number(v) for v in value):
                swept[key] = value
            else:
                static_lists[key] = value
        else:
            fixed[key] = float(value) if spec[key].kind == "float" and _is_number(value) else value
    return _groups(check, name, None, swept, static_lists, fixed, field, i, label, samples, search_seed)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _groups(check: "Checker", name: str, factory, swept: dict, static_lists: dict, fixed: dict, field: str, i: int,
            label: str | None, samples: int, search_seed: int, where: str | None = None) -> list[OptimizerConfig]:
    """One group per combination of the static lists, each resolved by :func:`jaxgrad.optimizers.resolve`
    (the one validator of an optimizer's values), whose errors name the hyperparameter."""
    groups = []
    for combo in search.settings(static_lists):  # one compiled group per combination
        group_fixed = {**fixed, **combo}
        sweep = {k: v if isinstance(v, search.Range) else [float(x) if _is_number(x) else x for x in v]
                 for k, v in swept.items()}
        try:
            resolved = _optimizers.resolve(name if factory is None else factory, sweep, group_fixed, samples,
                                           search_seed)
        except InputError as err:
            check.fail(f"{field}.{err.field}" if err.field else field, err.reason)
        text = label if label is not None else _label(where or name, group_fixed)
        groups.append(OptimizerConfig(name, sweep, group_fixed, text, i, factory, samples, search_seed, resolved))
    return groups


def _range(check: "Checker", value: Any, field: str):
    try:
        return search.parse(value, field)
    except InputError as err:
        check.fail(field, str(err).split(": ", 1)[-1])


def _search_options(check: "Checker", table: dict, field: str) -> tuple[int, int]:
    """Pop ``samples`` and ``search_seed`` from an optimizer table (meaningful with ranges)."""
    samples = table.pop("samples", search.DEFAULT_SAMPLES)
    seed = table.pop("search_seed", 0)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= search.MAX_SAMPLES:
        check.fail(f"{field}.samples", f"must be a whole number from 1 to {search.MAX_SAMPLES:,}, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        check.fail(f"{field}.search_seed", f"must be a whole number >= 0, got {seed!r}")
    return samples, seed


def _optimizer_factory(check: Checker, table: dict, field: str, i: int, base: Path | None,
                       label: str | None) -> list[OptimizerConfig]:
    """``factory = "module:function"``: the other keys are its keyword arguments; float lists sweep."""
    samples, search_seed = _search_options(check, table, field)
    ranges = {k: _range(check, v, f"{field}.{k}") for k, v in table.items() if isinstance(v, dict)}
    for k in ranges:
        table.pop(k)
    spec, factory, where = _load_factory(check, table, field, base)
    swept, static_lists, fixed = dict(ranges), {}, {}
    for key, value in table.items():  # what each value means; resolve checks it
        if isinstance(value, list):
            if not value:
                check.fail(f"{field}.{key}", "an empty list sweeps nothing")
            if all(_is_number(v) for v in value):
                swept[key] = value
            else:
                static_lists[key] = value
        else:
            fixed[key] = value
    return _groups(check, spec, factory, swept, static_lists, fixed, field, i, label, samples, search_seed, where)


_OPTION_FIELDS = {"steps": "steps", "tol": "tol", "record_every": "output.record_every",
                  "sharpness_every": "output.sharpness_every"}


def run_options(check: "Checker", data: dict, output: dict) -> RunOptions:
    """The config's run options, validated by :class:`RunOptions` (the one validator); an error
    names the config's own field (``output.record_every``)."""
    try:
        return RunOptions(steps=data.get("steps", DEFAULT_STEPS), tol=data.get("tol"),
                          record_every=output.get("record_every", 1),
                          sharpness_every=output.get("sharpness_every"))
    except InputError as err:
        check.fail(_OPTION_FIELDS[err.field], str(err).removeprefix(f"{err.field} "))


def parse_config(data: dict, source: str = "<config>", default_name: str = "experiment",
                 base: str | Path | None = None) -> Config:
    """Validate a config's data (as TOML would give it) into a :class:`Config`; relative paths
    (data files, factory files) resolve against ``base``, by default the folder of ``source``."""
    check = Checker(source)
    if not isinstance(data, dict):
        check.fail("", "a config must be a TOML table")
    check.keys(data, _TOP, "", "top-level")
    name = check.string(data.get("name", default_name), "name")
    seeds = check.integer(data.get("seeds", DEFAULT_SEEDS), "seeds", maximum=MAX_RUNS)
    precision = data.get("precision", "float32")
    if precision not in PRECISIONS:
        check.fail("precision", f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    batch_size = data.get("batch_size")
    batch_size = None if batch_size is None else check.integer(batch_size, "batch_size")
    description = data.get("description", "")
    if not isinstance(description, str):
        check.fail("description", f"must be a string, got {description!r}")
    raw_problems = data.get("problems")
    if not isinstance(raw_problems, list) or not raw_problems:
        check.fail("problems", "needs at least one [[problems]] table")
    raw_optimizers = data.get("optimizers")
    if not isinstance(raw_optimizers, list) or not raw_optimizers:
        check.fail("optimizers", "needs at least one [[optimizers]] table")
    if base is None:
        base = Path(source).parent if source and not source.startswith("<") else None
    base = None if base is None else Path(base)
    from jaxgrad.precision import precision as _precision

    with _precision(precision)[0]:  # built (to validate them) in the precision the run uses, once
        probs = tuple(p for i, t in enumerate(raw_problems) for p in _problem(check, t, i, base))
    opts = tuple(g for i, t in enumerate(raw_optimizers) for g in _optimizer(check, t, i, base))
    output = data.get("output", {})
    if not isinstance(output, dict):
        check.fail("output", "must be a table ([output])")
    check.keys(output, _OUTPUT, "output", "output")
    directory = output.get("directory")
    if directory is not None:
        check.string(directory, "output.directory")
    plots = output.get("plots")
    if plots is not None:
        if isinstance(plots, str):
            plots = [plots]
        if not isinstance(plots, list):
            check.fail("output.plots", f"must be a list of plot names, got {plots!r}")
        for j, p in enumerate(plots):
            if p not in PLOT_KINDS and p not in ("auto", "none"):
                check.fail(f"output.plots.{j}", f"unknown plot {p!r}{did_you_mean(p, PLOT_KINDS)}; "
                                                f"known: {', '.join(PLOT_KINDS)}, auto, none")
        plots = None if "auto" in plots else tuple(p for p in plots if p != "none")
    tensorboard = output.get("tensorboard", False)
    if not isinstance(tensorboard, bool):
        check.fail("output.tensorboard", f"must be true or false, got {tensorboard!r}")
    record = output.get("record_params")
    if record is not None and not isinstance(record, bool):
        check.fail("output.record_params", f"must be true or false, got {record!r}")
    options = run_options(check, data, output)
    steps, tol, record_every = options.steps, options.tol, options.record_every
    metrics_every = output.get("metrics_every")
    if metrics_every is not None:
        metrics_every = check.integer(metrics_every, "output.metrics_every")
        if metrics_every % record_every:
            check.fail("output.metrics_every", f"must be a multiple of record_every ({record_every}), "
                                               f"got {metrics_every}")
    sharpness_every = options.sharpness_every
    return Config(name, description, steps, seeds, precision, tol, batch_size, probs, opts,
                  OutputConfig(directory, plots, record, record_every, metrics_every, sharpness_every, tensorboard),
                  data, source)


def load_config(path: str | Path, overrides: Sequence[str] = (), base: str | Path | None = None) -> Config:
    """Read, override and validate a TOML config (relative paths from ``base``, by default the
    config's folder; a run directory's copy uses the original config's, see :func:`jaxgrad.lab.experiment.load_trained`).

    Raises:
      ConfigError: (an ``InputError``) naming the file and the field.

    Example:
      >>> cfg = load_config("configs/quickstart.toml", ["steps=100"])
      >>> cfg.steps
      100
    """
    path = Path(path)
    data = apply_overrides(read_toml(path), overrides, "--set")
    return parse_config(data, str(path), default_name=path.stem, base=base)
