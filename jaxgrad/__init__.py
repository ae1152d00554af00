"""jaxgrad: a JAX-accelerated optimization lab.

The public API; everything else lives in the modules and is not a contract. Names are
loaded on first use (PEP 562), so ``import jaxgrad`` and the ``jaxgrad`` command start
without importing JAX until they need it.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it, by concept
_EXPORTS = {
    # derivatives, exact and numerical
    "grad": "jaxgrad.derivatives", "directional_derivative": "jaxgrad.derivatives", "jacobian": "jaxgrad.derivatives",
    "hessian": "jaxgrad.derivatives", "hvp": "jaxgrad.derivatives",
    "numerical_gradient": "jaxgrad.numerical", "numerical_jacobian": "jaxgrad.numerical",
    "numerical_hessian": "jaxgrad.numerical", "check_gradient": "jaxgrad.numerical", "GradientCheck": "jaxgrad.numerical",
    # math as text
    "expression": "jaxgrad.expressions", "Expression": "jaxgrad.expressions", "ExpressionError": "jaxgrad.expressions",
    # fields over grids, and the curvature of a point
    "Grid": "jaxgrad.grid", "field": "jaxgrad.fields", "quantity": "jaxgrad.fields",
    "directional_profile": "jaxgrad.fields",
    "eigvalsh": "jaxgrad.curvature", "classify": "jaxgrad.curvature", "KINDS": "jaxgrad.curvature",
    "critical_points": "jaxgrad.critical", "CriticalPoint": "jaxgrad.critical",
    # optimization: one run, many starts, sweeps; basins of attraction
    "minimize": "jaxgrad.engine", "minimize_from": "jaxgrad.engine", "sweep": "jaxgrad.engine", "Trace": "jaxgrad.engine",
    "basins": "jaxgrad.basins", "Basins": "jaxgrad.basins",
    # search spaces: ranges sampled in one program
    "log_uniform": "jaxgrad.search", "uniform": "jaxgrad.search",
    # curvature of models (Hessian-vector products only)
    "top_eigenvalues": "jaxgrad.spectrum", "hessian_trace": "jaxgrad.spectrum",
    "spectral_density": "jaxgrad.spectrum", "layer_curvature": "jaxgrad.spectrum",
    # experiments from configs
    "load_config": "jaxgrad.config", "run_experiment": "jaxgrad.experiment",
}
# namespaces meant for users (jg.problems.make, jg.optimizers.make, jg.landscape.plane,
# jg.distributed.initialize); every other module is an implementation detail, imported
# explicitly where needed (``from jaxgrad import engine``)
_SUBMODULES = ("landscape", "optimizers", "problems", "distributed")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"jaxgrad.{name}")
    else:
        raise AttributeError(f"module 'jaxgrad' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
