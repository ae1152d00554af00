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
    "grad": "jaxgrad.calculus.derivatives", "directional_derivative": "jaxgrad.calculus.derivatives", "jacobian": "jaxgrad.calculus.derivatives",
    "hessian": "jaxgrad.calculus.derivatives", "hvp": "jaxgrad.calculus.derivatives",
    "numerical_gradient": "jaxgrad.calculus.numerical", "numerical_jacobian": "jaxgrad.calculus.numerical",
    "numerical_hessian": "jaxgrad.calculus.numerical", "check_gradient": "jaxgrad.calculus.numerical", "GradientCheck": "jaxgrad.calculus.numerical",
    # math as text
    "expression": "jaxgrad.calculus.expressions", "Expression": "jaxgrad.calculus.expressions", "ExpressionError": "jaxgrad.calculus.expressions",
    # fields over grids, and the curvature of a point
    "Grid": "jaxgrad.fields.grid", "field": "jaxgrad.fields.quantities", "quantity": "jaxgrad.fields.quantities",
    "directional_profile": "jaxgrad.fields.quantities",
    "eigvalsh": "jaxgrad.fields.points", "classify": "jaxgrad.fields.points", "KINDS": "jaxgrad.fields.points",
    "critical_points": "jaxgrad.fields.critical", "CriticalPoint": "jaxgrad.fields.critical",
    # optimization: one run, many starts, sweeps; basins of attraction
    "minimize": "jaxgrad.engine.single", "minimize_from": "jaxgrad.engine.single", "sweep": "jaxgrad.engine.sweeps",
    "Trace": "jaxgrad.engine.run",
    "basins": "jaxgrad.fields.basins", "Basins": "jaxgrad.fields.basins",
    # search spaces: ranges sampled in one program
    "log_uniform": "jaxgrad.optimizers.search", "uniform": "jaxgrad.optimizers.search",
    # curvature of models (Hessian-vector products only)
    "top_eigenvalues": "jaxgrad.curvature.spectrum", "hessian_trace": "jaxgrad.curvature.spectrum",
    "spectral_density": "jaxgrad.curvature.spectrum", "layer_curvature": "jaxgrad.curvature.spectrum",
    # curvature matrices beyond the Hessian (GGN, Fisher), their diagonals and solves
    "curvature_operator": "jaxgrad.curvature.operators", "CurvatureOperator": "jaxgrad.curvature.operators",
    "curvature_diagonal": "jaxgrad.curvature.operators", "solve": "jaxgrad.curvature.operators",
    # experiments from configs
    "load_config": "jaxgrad.lab.config", "run_experiment": "jaxgrad.lab.experiment",
}
# namespaces meant for users (jg.problems.make, jg.optimizers.make, jg.landscape.plane,
# jg.distributed.initialize); every other module is an implementation detail, imported
# explicitly where needed (``from jaxgrad import engine``)
_SUBMODULES = {"landscape": "jaxgrad.fields.landscape", "optimizers": "jaxgrad.optimizers",
               "problems": "jaxgrad.problems", "distributed": "jaxgrad.distributed"}

__all__ = sorted(_EXPORTS) + list(_SUBMODULES)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(_SUBMODULES[name])
    else:
        raise AttributeError(f"module 'jaxgrad' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
