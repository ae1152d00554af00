"""jaxgrad: a JAX-accelerated optimization lab.

The public API; everything else lives in the modules and is not a contract. Names are
loaded on first use (PEP 562), so ``import jaxgrad`` and the ``jaxgrad`` command start
without importing JAX until they need it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Basins": "jaxgrad.basins", "basins": "jaxgrad.basins",
    "CriticalPoint": "jaxgrad.critical", "critical_points": "jaxgrad.critical",
    "classify": "jaxgrad.curvature",
    "directional_derivative": "jaxgrad.derivatives", "grad": "jaxgrad.derivatives", "hessian": "jaxgrad.derivatives",
    "hvp": "jaxgrad.derivatives", "jacobian": "jaxgrad.derivatives",
    "Trace": "jaxgrad.engine", "minimize": "jaxgrad.engine", "minimize_from": "jaxgrad.engine",
    "sweep": "jaxgrad.engine",
    "Expression": "jaxgrad.expressions", "ExpressionError": "jaxgrad.expressions", "expression": "jaxgrad.expressions",
    "load_config": "jaxgrad.config",
    "run_experiment": "jaxgrad.experiment",
    "directional_profile": "jaxgrad.fields", "field": "jaxgrad.fields", "quantity": "jaxgrad.fields",
    "Grid": "jaxgrad.grid",
    "top_eigenvalues": "jaxgrad.spectrum", "hessian_trace": "jaxgrad.spectrum",
    "spectral_density": "jaxgrad.spectrum", "layer_curvature": "jaxgrad.spectrum",
    "GradientCheck": "jaxgrad.numerical", "check_gradient": "jaxgrad.numerical",
    "numerical_gradient": "jaxgrad.numerical", "numerical_hessian": "jaxgrad.numerical",
    "numerical_jacobian": "jaxgrad.numerical",
}
_SUBMODULES = ("landscape", "optimizers", "problems")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    else:
        try:
            value = importlib.import_module(f"jaxgrad.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'jaxgrad' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
