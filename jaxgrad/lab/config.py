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

import tomllib

from jaxgrad import factories, types
from jaxgrad import optimizers as _optimizers
from jaxgrad import problems as _problems
from jaxgrad.optimizers import search
from jaxgrad.engine.options import DEFAULT_SEEDS, DEFAULT_STEPS, MAX_STEPS, RunOptions
from jaxgrad.errors import InputError, did_you_mean

__all__ = ["toml_value", "Config", "ProblemConfig", "OptimizerConfig", "OutputConfig", "ConfigError", "load_config",
           "parse_config", "parse_problem", "parse_value", "apply_overrides", "to_toml", "PLOT_KINDS",
           "LANDSCAPE_KINDS", "BenchConfig", "parse_bench_config", "load_bench_config", "FrozenDict", "FrozenList",
           "freeze", "thaw"]

PLOT_KINDS = ("loss", "accuracy", "grad_norm", "paths", "lr_sensitivity", "search", "fit", "landscape", "basins",
              "race",
              "interpolation", "random_plane", "trajectory_plane", "sharpness")
LANDSCAPE_KINDS = ("interpolation", "random_plane", "trajectory_plane")
MAX_RUNS = 10_000_000
_TOP = {"name", "description", "steps", "seeds", "precision", "tol", "batch_size", "problems", "optimizers", "output"}
_OUTPUT = {"directory", "plots", "record_params", "record_every", "metrics_every", "sharpness_every", "tensorboard"}
_PRECISIONS = ("float32", "float64")


class ConfigError(InputError):
    """A config that does not validate: ``<file>: <field>: <what is wrong>``."""


# --- read-only values: a resolved config is deeply frozen ----------------------------------


def _read_only(self, *args, **kwargs):
    raise TypeError("a resolved config is read-only (thaw() gives a plain copy)")


class _ReadOnly:
    """What the frozen containers share: copies are the object itself, pickles rebuild it."""

    _plain: type

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return type(self), (self._plain(self),)


class FrozenDict(_ReadOnly, dict):
    """A ``dict`` that refuses changes (so JSON, TOML and ``==`` treat it as a dict)."""

    _plain = dict
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only


class FrozenList(_ReadOnly, list):
    """A ``list`` that refuses changes."""

    _plain = list
    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = _read_only
    clear = sort = reverse = _read_only


def freeze(value):
    """``value`` with every dict and list in it made read-only (:class:`FrozenDict`, :class:`FrozenList`)."""
    if isinstance(value, dict):
        return value if isinstance(value, FrozenDict) else FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return value if isinstance(value, FrozenList) else FrozenList(freeze(v) for v in value)
    return value


def thaw(value):
    """A plain, mutable deep copy of a frozen value (what a user's factory receives)."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value


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


class _Checker:
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

    def __post_init__(self):
        _freeze_fields(self, "options", "resolved")

    def build(self):
        """The :class:`~jaxgrad.problems.Problem` (call inside the config's precision)."""
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
    return _problem(_Checker(source), table, 0, base)


def _resolve_paths(table: dict, base: Path | None) -> dict:
    """``data`` paths are relative to the config's folder (``sklearn:NAME`` is not a path)."""
    data = table.get("data")
    if isinstance(data, str) and base is not None and not data.startswith("sklearn:") and not Path(data).is_absolute():
        return {**table, "data": str(base / data)}
    return table


def _problem(check: _Checker, table: Any, i: int, base: Path | None) -> list[ProblemConfig]:
    field = f"problems.{i}"
    if not isinstance(table, dict):
        check.fail(field, "must be a table ([[problems]])")
    table = dict(table)
    label = table.pop("label", None)
    if label is not None:
        check.string(label, f"{field}.label")
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
    return [dataclasses.replace(config, label=label if label is not None else default_label)]


def _load_factory(check: _Checker, table: dict, field: str, base: Path | None):
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


def _problem_factory(check: _Checker, table: dict, field: str, base: Path | None,
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


def _optimizer(check: _Checker, table: Any, i: int, base: Path | None) -> list[OptimizerConfig]:
    field = f"optimizers.{i}"
    if not isinstance(table, dict):
        check.fail(field, "must be a table ([[optimizers]])")
    table = dict(table)
    label = table.pop("label", None)
    if label is not None:
        check.string(label, f"{field}.label")
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


def _groups(check: "_Checker", name: str, factory, swept: dict, static_lists: dict, fixed: dict, field: str, i: int,
            label: str | None, samples: int, search_seed: int, where: str | None = None) -> list[OptimizerConfig]:
    """One group per combination of the static lists, each resolved by :func:`jaxgrad.optimizers.resolve`
    (the one validator of an optimizer's values), whose errors name the hyperparameter."""
    groups = []
    for combo in search.settings(static_lists):  # one compiled group per combination
        group_fixed = {**fixed, **combo}
        try:
            _optimizers.resolve(name if factory is None else factory, swept, group_fixed, samples, search_seed)
        except InputError as err:
            check.fail(f"{field}.{err.field}" if err.field else field, err.reason)
        sweep = {k: v if isinstance(v, search.Range) else [float(x) for x in v] for k, v in swept.items()}
        text = label if label is not None else _label(where or name, group_fixed)
        groups.append(OptimizerConfig(name, sweep, group_fixed, text, i, factory, samples, search_seed))
    return groups


def _range(check: "_Checker", value: Any, field: str):
    try:
        return search.parse(value, field)
    except InputError as err:
        check.fail(field, str(err).split(": ", 1)[-1])


def _search_options(check: "_Checker", table: dict, field: str) -> tuple[int, int]:
    """Pop ``samples`` and ``search_seed`` from an optimizer table (meaningful with ranges)."""
    samples = table.pop("samples", search.DEFAULT_SAMPLES)
    seed = table.pop("search_seed", 0)
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= search.MAX_SAMPLES:
        check.fail(f"{field}.samples", f"must be a whole number from 1 to {search.MAX_SAMPLES:,}, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        check.fail(f"{field}.search_seed", f"must be a whole number >= 0, got {seed!r}")
    return samples, seed


def _optimizer_factory(check: _Checker, table: dict, field: str, i: int, base: Path | None,
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


def run_options(check: "_Checker", data: dict, output: dict) -> RunOptions:
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
    check = _Checker(source)
    if not isinstance(data, dict):
        check.fail("", "a config must be a TOML table")
    check.keys(data, _TOP, "", "top-level")
    name = check.string(data.get("name", default_name), "name")
    seeds = check.integer(data.get("seeds", DEFAULT_SEEDS), "seeds", maximum=MAX_RUNS)
    precision = data.get("precision", "float32")
    if precision not in _PRECISIONS:
        check.fail("precision", f"must be one of {', '.join(_PRECISIONS)}, got {precision!r}")
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


# --- overrides ------------------------------------------------------------------------------


def parse_value(text: str):
    """A TOML value (``3``, ``1e-3``, ``true``, ``[1, 2]``, ``"x"``), or the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict, overrides: Sequence[str], source: str = "--set") -> dict:
    """Apply ``key.path=value`` overrides (list indices 0-based) to a copy of ``data``."""
    data = thaw(data)  # a plain deep copy, of a resolved (frozen) config's data too
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source} {item!r}: expected key=value, e.g. steps=200")
        path, text = item.split("=", 1)
        parts = [p for p in path.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"{source} {item!r}: empty key")
        node = data
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{source} {path}: {where}: index out of range (there are {len(node)})")
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ConfigError(f"{source} {path}: {where} is a value, not a table")
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"{source} {path}: index out of range (there are {len(node)})")
            node[int(last)] = parse_value(text)
        elif isinstance(node, dict):
            node[last] = parse_value(text)
        else:
            raise ConfigError(f"{source} {path}: cannot set a key inside a value")
    return data


def _read_toml(path: str | Path) -> dict:
    """A TOML file's data; a missing, unreadable or invalid file is a :class:`ConfigError`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not TOML
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read: {err}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from None


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
    data = apply_overrides(_read_toml(path), overrides, "--set")
    return parse_config(data, str(path), default_name=path.stem, base=base)


# --- the bench's config ------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What ``jaxgrad bench`` runs: a TOML table's values over the suite's defaults, resolved once.

    ``lr_grid``: the learning rates every tuned optimizer is swept over; ``problems`` and
    ``optimizers``: names in :data:`jaxgrad.lab.bench.SUITE` and :data:`jaxgrad.lab.bench.OPTIMIZERS`.
    """

    steps: int
    tune_seeds: int
    eval_seeds: int
    lr_grid: tuple[float, ...]
    problems: tuple[str, ...]
    optimizers: tuple[str, ...]
    precision: str
    tune_samples: int | None = None  # Halton samples of log_uniform(min, max of lr_grid) instead of the grid

    def as_dict(self) -> dict:
        """Plain values (lists for tuples), as ``bench.json`` records them."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def parse_bench_config(data: Any, defaults: BenchConfig, problems: Sequence[str], optimizers: Sequence[str],
                       source: str = "bench config") -> BenchConfig:
    """Validate a bench table over ``defaults``; names must be among ``problems`` / ``optimizers``."""
    check = _Checker(source)
    if not isinstance(data, dict):
        check.fail("", "a bench config must be a TOML table")
    check.keys(data, [f.name for f in dataclasses.fields(BenchConfig)], "", "bench")
    values = {**dataclasses.asdict(defaults), **data}
    counts = {key: check.integer(values[key], key, maximum=MAX_STEPS if key == "steps" else MAX_RUNS)
              for key in ("steps", "tune_seeds", "eval_seeds")}
    grid = values["lr_grid"]
    if not isinstance(grid, (list, tuple)) or not grid:
        check.fail("lr_grid", f"must be a list of positive learning rates, got {grid!r}")
    for j, v in enumerate(grid):
        if check.number(v, f"lr_grid.{j}") <= 0:
            check.fail(f"lr_grid.{j}", f"must be a list of positive learning rates, got {v!r}")
    names = {}
    for key, known in (("problems", problems), ("optimizers", optimizers)):
        given = values[key]
        if not isinstance(given, (list, tuple)) or not given:
            check.fail(key, f"must be a non-empty list of names, got {given!r}")
        for j, name in enumerate(given):
            if name not in known:
                check.fail(f"{key}.{j}", f"unknown {name!r}{did_you_mean(str(name), known)}; known: {', '.join(known)}")
        names[key] = tuple(given)
    if values["precision"] not in _PRECISIONS:
        check.fail("precision", f"must be one of {', '.join(_PRECISIONS)}, got {values['precision']!r}")
    tune_samples = values.get("tune_samples")
    if tune_samples is not None:
        tune_samples = check.integer(tune_samples, "tune_samples", maximum=search.MAX_SAMPLES)
        if len(grid) < 2 or min(grid) == max(grid):
            check.fail("tune_samples", "samples a range between the lr_grid's smallest and largest values; "
                                       "give lr_grid two different values")
    return BenchConfig(lr_grid=tuple(float(v) for v in grid), precision=values["precision"],
                       tune_samples=tune_samples, **counts, **names)


def load_bench_config(path: str | Path, defaults: BenchConfig, problems: Sequence[str],
                      optimizers: Sequence[str]) -> BenchConfig:
    """Read and validate a bench TOML file (errors name the file and the field)."""
    return parse_bench_config(_read_toml(path), defaults, problems, optimizers, str(path))


# --- writing TOML (the resolved config) ------------------------------------------------------


def toml_value(value) -> str:
    """One value as TOML text (a scalar, a list of them, or an inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        text = repr(float(value))
        return text if math.isfinite(value) else ("inf" if value > 0 else "-inf" if value < 0 else "nan")
    if isinstance(value, str):
        import json

        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table: a search range, { log_uniform = [lo, hi] }
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: dict) -> str:
    """TOML text for a config's data: scalars, lists, one level of tables and arrays of tables."""
    lines, tables, arrays = [], [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{key}]]"] + [f"{k} = {toml_value(v)}" for k, v in item.items()]
    for key, table in tables:
        lines += ["", f"[{key}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
