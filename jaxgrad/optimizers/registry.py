r"""Optimizers: ``make(name, **hp)`` returns an ``optax.GradientTransformationExtraArgs``.

SGD, momentum, Nesterov, Adam, AdamW, RMSProp, Adagrad and L-BFGS are optax's own;
Newton and Newton-CG are in :mod:`jaxgrad.optimizers.newton`. Every update accepts
``value=``, ``grad=`` and ``value_fn=`` (the ones that need them use them), so one
loop drives them all. Hyperparameters keep optax's names.

Conventions (PyTorch's and optax's):

* ``momentum``: :math:`v \leftarrow \mu v + g,\ x \leftarrow x - \eta v`.
* ``nesterov``: :math:`v \leftarrow \mu v + g,\ x \leftarrow x - \eta(g + \mu v)`.

Common options for every optimizer: ``clip_norm`` (clip the gradient's global norm
first) and a learning-rate ``schedule`` (``constant``, ``cosine``, ``exponential``,
``warmup_cosine``, with ``decay_steps``, ``decay_rate``, ``warmup_steps``, ``alpha``).

Float hyperparameters may be traced values (``make`` inside ``jit``/``vmap``), which is
how :func:`jaxgrad.sweep` runs many settings in one compiled program.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxgrad.errors import InputError, did_you_mean
from jaxgrad.optimizers.newton import (
    NewtonState,
    newton,
    newton_cg,
    scale_by_newton,
    scale_by_newton_cg,
)
from jaxgrad.optimizers.second_order import gauss_newton, natural_gradient

__all__ = ["make", "names", "spec", "describe", "stability_threshold", "Hyper", "HyperparamsState", "Recipe", "SCHEDULES", "COMMON", "FULL_BATCH", "CURVATURE_STEPS", "NewtonState",
           "newton", "newton_cg", "scale_by_newton", "scale_by_newton_cg",
           "gauss_newton", "natural_gradient"]


@dataclasses.dataclass(frozen=True)
class Hyper:
    """A hyperparameter: its default and its kind (float hyperparameters can be swept as data)."""

    default: Any
    kind: str = "float"  # float | optional_float | int | bool | str
    minimum: float | None = 0.0  # values must be >= minimum (floats and ints)
    strict: bool = False  # values must be > minimum
    maximum: float | None = None  # values must be < maximum
    doc: str = ""


_LR = Hyper(1e-2, strict=True, doc="step size η")
_COMMON = {
    "clip_norm": Hyper(None, "optional_float", strict=True, doc="clip the gradient's global norm to this first"),
    "schedule": Hyper("constant", "str", None, doc="learning-rate schedule: " + ", ".join(
        ("constant", "cosine", "exponential", "warmup_cosine"))),
    "decay_steps": Hyper(1000, "int", 1, doc="schedule length (cosine) or period (exponential)"),
    "decay_rate": Hyper(0.5, "float", strict=True, doc="exponential schedule: factor per decay_steps"),
    "warmup_steps": Hyper(0, "int", 0, doc="warmup_cosine: linear warmup steps"),
    "alpha": Hyper(0.0, "float", doc="cosine schedules: final value as a fraction of the peak"),
}
SCHEDULES = ("constant", "cosine", "exponential", "warmup_cosine")
COMMON = _COMMON  # the options every optimizer takes (read-only by convention)
CURVATURE_STEPS = ("gauss_newton", "natural_gradient")  # handed the problem's ggn_vp / fisher_vp by the engine
FULL_BATCH = ("lbfgs", "newton", "newton_cg") + CURVATURE_STEPS  # curvature and line searches assume one fixed objective
_SCHEDULE_OPTIONS = ("decay_steps", "decay_rate", "warmup_steps", "alpha")


def _betas(b1=0.9, b2=0.999):
    return {"b1": Hyper(b1, maximum=1.0, doc="first-moment decay"), "b2": Hyper(b2, maximum=1.0, doc="second-moment decay")}


_SPECS: dict[str, tuple[Callable, dict[str, Hyper], str]] = {
    "sgd": (lambda learning_rate: optax.sgd(learning_rate), {"learning_rate": _LR}, "gradient descent"),
    "momentum": (
        lambda learning_rate, momentum: optax.sgd(learning_rate, momentum=momentum),
        {"learning_rate": _LR, "momentum": Hyper(0.9, maximum=1.0, doc="μ")},
        "heavy-ball momentum (PyTorch/optax convention)",
    ),
    "nesterov": (
        lambda learning_rate, momentum: optax.sgd(learning_rate, momentum=momentum, nesterov=True),
        {"learning_rate": _LR, "momentum": Hyper(0.9, maximum=1.0, doc="μ")},
        "Nesterov momentum (PyTorch/optax convention)",
    ),
    "adam": (
        lambda learning_rate, b1, b2, eps: optax.adam(learning_rate, b1=b1, b2=b2, eps=eps),
        {"learning_rate": Hyper(1e-3, strict=True, doc="step size η"), **_betas(), "eps": Hyper(1e-8, doc="ε")},
        "Adam (Kingma & Ba 2015)",
    ),
    "adamw": (
        lambda learning_rate, b1, b2, eps, weight_decay: optax.adamw(
            learning_rate, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay),
        {"learning_rate": Hyper(1e-3, strict=True, doc="step size η"), **_betas(), "eps": Hyper(1e-8, doc="ε"),
         "weight_decay": Hyper(1e-4, doc="decoupled weight decay")},
        "Adam with decoupled weight decay (Loshchilov & Hutter 2019)",
    ),
    "rmsprop": (
        lambda learning_rate, decay, eps: optax.rmsprop(learning_rate, decay=decay, eps=eps),
        {"learning_rate": Hyper(1e-3, strict=True, doc="step size η"), "decay": Hyper(0.9, maximum=1.0),
         "eps": Hyper(1e-8)},
        "RMSProp (Tieleman & Hinton 2012)",
    ),
    "adagrad": (
        lambda learning_rate, initial_accumulator_value, eps: optax.adagrad(
            learning_rate, initial_accumulator_value=initial_accumulator_value, eps=eps),
        {"learning_rate": Hyper(0.1, strict=True, doc="step size η"), "initial_accumulator_value": Hyper(0.1),
         "eps": Hyper(1e-7)},
        "Adagrad (Duchi et al. 2011)",
    ),
    "lbfgs": (
        lambda learning_rate, memory_size: optax.lbfgs(learning_rate, memory_size=memory_size),
        {"learning_rate": Hyper(None, "optional_float", strict=True, doc="scale (default: the line search's step)"),
         "memory_size": Hyper(10, "int", 1, doc="pairs kept")},
        "L-BFGS with a zoom line search (optax)",
    ),
    "newton": (
        newton,
        {"learning_rate": Hyper(1.0, strict=True, doc="η (1: the full step)"), "damping": Hyper(0.0, doc="λ"),
         "adaptive": Hyper(False, "bool", doc="Levenberg–Marquardt damping"),
         "saddle_free": Hyper(False, "bool", doc="use |H|"), "linesearch": Hyper(False, "bool", doc="backtracking")},
        "Newton's method, exact undamped step by default",
    ),
    "newton_cg": (
        newton_cg,
        {"learning_rate": Hyper(1.0, strict=True), "damping": Hyper(0.0), "max_iters": Hyper(50, "int", 1),
         "tol": Hyper(1e-6, strict=True), "linesearch": Hyper(True, "bool")},
        "Hessian-free Newton: conjugate gradients on Hessian-vector products",
    ),
    "gauss_newton": (
        gauss_newton,
        {"learning_rate": Hyper(1.0, strict=True, doc="η (1: the full step)"), "damping": Hyper(1e-3, doc="λ"),
         "adaptive": Hyper(False, "bool", doc="Levenberg–Marquardt damping"), "max_iters": Hyper(50, "int", 1),
         "tol": Hyper(1e-6, strict=True)},
        "Gauss–Newton / Levenberg–Marquardt: CG on GGN products (data problems)",
    ),
    "natural_gradient": (
        natural_gradient,
        {"learning_rate": Hyper(1.0, strict=True, doc="η"), "damping": Hyper(1e-3, doc="λ"),
         "max_iters": Hyper(50, "int", 1), "tol": Hyper(1e-6, strict=True)},
        "natural gradient: CG on Fisher products (data problems)",
    ),
}


def names() -> tuple[str, ...]:
    return tuple(_SPECS)


def spec(name: str) -> dict[str, Hyper]:
    """Every hyperparameter of ``name`` (its own, then the common options)."""
    _check_name(name)
    return {**_SPECS[name][1], **_COMMON}


def describe(name: str) -> str:
    _check_name(name)
    return _SPECS[name][2]


def stability_threshold(name: str, hyperparams: dict) -> float | None:
    r"""The largest sharpness at which ``name`` is stable on a quadratic, or ``None`` if it has no such line.

    Gradient descent on :math:`\tfrac12 \lambda x^2` converges iff :math:`\lambda < 2/\eta`;
    heavy-ball momentum iff :math:`\lambda < (2 + 2\mu)/\eta`; Nesterov iff
    :math:`\lambda < (2 + 2\mu)/((1 + 2\mu)\eta)` (Cohen et al., ICLR 2021, appendix).
    Only for a constant learning rate without clipping; missing values take the defaults.

    Example:
      >>> stability_threshold("sgd", {"learning_rate": 0.05})
      40.0
    """
    if name not in ("sgd", "momentum", "nesterov"):
        return None
    hp = {k: h.default for k, h in spec(name).items()} | dict(hyperparams)
    if hp["schedule"] != "constant" or hp["clip_norm"] is not None:
        return None
    eta, mu = float(hp["learning_rate"]), float(hp.get("momentum", 0.0))
    return (2 + 2 * mu) / ((1 + 2 * mu) * eta) if name == "nesterov" else (2 + 2 * mu) / eta


def _check_name(name: str) -> None:
    if name not in _SPECS:
        reason = f"unknown optimizer {name!r}{did_you_mean(name, _SPECS)}; known: {', '.join(_SPECS)}"
        raise InputError(reason, field="name", reason=reason)


def check_value(name: str, key: str, value, hyper: Hyper) -> None:
    """Raise an InputError naming the hyperparameter (``field``) if a concrete value is out of range."""
    reason = _value_problem(key, value, hyper)
    if reason is not None:
        raise InputError(f"optimizer {name!r}: {key} {reason}", field=key, reason=reason)


def _value_problem(key: str, value, hyper: Hyper) -> str | None:
    import numbers

    if hyper.kind == "bool":
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if hyper.kind == "str":
        if key == "schedule" and value not in SCHEDULES:
            return f"must be one of {', '.join(SCHEDULES)}, got {value!r}"
        return None
    if value is None and hyper.kind == "optional_float":
        return None
    if hyper.kind == "int" and not (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
        return f"must be an integer, got {value!r}"
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        if hasattr(value, "shape"):  # a traced or array value: checked by its user
            return None
        return f"must be a number, got {value!r}"
    if not math.isfinite(value):
        return f"must be finite, got {value!r}"
    if hyper.minimum is not None and (value < hyper.minimum or (hyper.strict and value == hyper.minimum)):
        return f"must be {'>' if hyper.strict else '>='} {hyper.minimum}, got {value!r}"
    if hyper.maximum is not None and not value < hyper.maximum:
        return f"must be < {hyper.maximum}, got {value!r}"
    return None


def _schedule(learning_rate, options):
    kind = options["schedule"]
    if kind == "constant" or learning_rate is None:
        return learning_rate
    if kind == "cosine":
        return optax.cosine_decay_schedule(learning_rate, options["decay_steps"], options["alpha"])
    if kind == "exponential":
        return optax.exponential_decay(learning_rate, options["decay_steps"], options["decay_rate"])
    return optax.warmup_cosine_decay_schedule(
        0.0, learning_rate, options["warmup_steps"], options["decay_steps"], learning_rate * options["alpha"])


class HyperparamsState(NamedTuple):
    """State of a registry optimizer: its float hyperparameters (arrays) and the inner state.

    As with ``optax.inject_hyperparams``, the floats are data: ``update`` reads them
    from here, so a new learning rate is a new state, not a new program.
    """

    hyperparams: dict
    inner_state: Any


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a registry optimizer is built: its name and its static (non-float) options.

    A recipe is itself the ``update`` function of the optimizers it makes (a frozen
    dataclass compares by value, where a bound method would compare by identity),
    so compiled programs keyed on ``update`` are shared by every optimizer of the
    same structure, whatever its float values.
    """

    name: str
    static: tuple  # sorted (key, value) pairs

    def build(self, floats: dict) -> optax.GradientTransformationExtraArgs:
        return _build(self.name, {**dict(self.static), **floats})

    def init(self, floats: tuple, params) -> HyperparamsState:
        dtype = _float_dtype(params)
        hyper = {k: jnp.asarray(v, dtype) for k, v in floats}
        return HyperparamsState(hyper, self.build(hyper).init(params))

    def __call__(self, updates, state: HyperparamsState, params=None, **extra):
        tx = optax.with_extra_args_support(self.build(state.hyperparams))
        updates, inner = tx.update(updates, state.inner_state, params, **extra)
        return updates, HyperparamsState(state.hyperparams, inner)


def _float_dtype(params):
    leaves = [x for x in jax.tree_util.tree_leaves(params) if jnp.issubdtype(jnp.result_type(x), jnp.floating)]
    return jnp.result_type(leaves[0]) if leaves else jnp.result_type(float)


def is_float(hyper: Hyper, value) -> bool:
    """Whether a hyperparameter value is data (a float that may be traced)."""
    return hyper.kind in ("float", "optional_float") and value is not None


def make(name: str, **hp) -> optax.GradientTransformationExtraArgs:
    """Build an optimizer by name with optax's hyperparameter names.

    The float hyperparameters live in the optimizer's state
    (:class:`HyperparamsState`, as with ``optax.inject_hyperparams``) and its
    ``update`` depends only on the name and the non-float options, so
    :func:`jaxgrad.minimize` compiles once for ``make("adam", learning_rate=lr)``
    whatever ``lr`` is. Float values may be traced (``make`` inside ``jit``/``vmap``).

    Raises:
      InputError: unknown name or hyperparameter (the nearest is suggested), or a
        value out of range (checked for concrete values; traced ones pass through).

    Example:
      >>> opt = make("momentum", learning_rate=0.1, momentum=0.9)
      >>> state = opt.init(jnp.zeros(2))
      >>> round(float(state.hyperparams["learning_rate"]), 6)  # float32 by default
      0.1
    """
    _check_name(name)
    allowed = spec(name)
    for key in hp:
        if key not in allowed:
            raise InputError(f"optimizer {name!r} has no hyperparameter {key!r}{did_you_mean(key, allowed)}; "
                             f"it has {', '.join(allowed)}", field=key,
                             reason=f"unknown {name} hyperparameter key{did_you_mean(key, allowed)}; "
                                    f"allowed: {', '.join(sorted(allowed))}")
    for key, value in hp.items():
        check_value(name, key, value, allowed[key])
    if name in ("newton", "newton_cg") and hp.get("schedule", "constant") != "constant":
        raise InputError(f"optimizer {name!r}: schedule must be 'constant' (its step is set by its curvature model)",
                         field="schedule", reason="must be 'constant' (the step is set by its curvature model)")
    full = {k: hp.get(k, h.default) for k, h in allowed.items()}
    if full["schedule"] == "constant":  # the schedule's options do not matter
        full = {k: v for k, v in full.items() if k not in _SCHEDULE_OPTIONS}
    floats = tuple(sorted((k, v) for k, v in full.items() if is_float(allowed[k], v)))
    static = tuple(sorted((k, v) for k, v in full.items() if not is_float(allowed[k], v)))
    recipe = Recipe(name, static)
    return optax.GradientTransformationExtraArgs(functools.partial(recipe.init, floats), recipe)


def _build(name: str, hp: dict) -> optax.GradientTransformationExtraArgs:
    factory, own, _ = _SPECS[name]
    values = {k: hp.get(k, h.default) for k, h in own.items()}
    options = {k: hp.get(k, h.default) for k, h in _COMMON.items()}
    if "learning_rate" in values:
        values["learning_rate"] = _schedule(values["learning_rate"], options)
    tx = factory(**values)
    if options["clip_norm"] is not None:
        tx = optax.chain(optax.clip_by_global_norm(options["clip_norm"]), tx)
    return optax.with_extra_args_support(tx)
