"""Optimizers: the registry over optax (``make(name, **hyperparameters)``), Newton, Gauss-Newton and
natural gradient, search spaces, and :func:`resolve` (an optimizer and its values, checked once).

registry       make, names, spec, describe: every registry optimizer and its hyperparameters
newton         Newton"s method and Newton-CG
second_order   gauss_newton, natural_gradient (the GGN / Fisher of a data problem)
search         log_uniform, uniform, settings: the settings axis of a sweep
resolve        resolve(optimizer, grid, fixed): the one validator; Builder, optimizer_label
"""

from jaxgrad.optimizers.registry import (  # noqa: F401
    COMMON,
    CURVATURE_STEPS,
    FULL_BATCH,
    SCHEDULES,
    Hyper,
    HyperparamsState,
    NewtonState,
    Recipe,
    describe,
    gauss_newton,
    make,
    names,
    natural_gradient,
    newton,
    newton_cg,
    scale_by_newton,
    scale_by_newton_cg,
    spec,
    stability_threshold,
)
from jaxgrad.optimizers.resolve import Builder, Resolved, optimizer_label, resolve  # noqa: F401

__all__ = [
    "make",
    "names",
    "spec",
    "describe",
    "stability_threshold",
    "Hyper",
    "HyperparamsState",
    "Recipe",
    "SCHEDULES",
    "COMMON",
    "FULL_BATCH",
    "CURVATURE_STEPS",
    "NewtonState",
    "newton",
    "newton_cg",
    "scale_by_newton",
    "scale_by_newton_cg",
    "gauss_newton",
    "natural_gradient",
    "Builder",
    "Resolved",
    "optimizer_label",
    "resolve",
]
