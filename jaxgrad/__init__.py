"""jaxgrad: a JAX-accelerated optimization lab.

The public API; everything else lives in the modules and is not a contract.
"""

from jaxgrad import landscape, optimizers, problems
from jaxgrad.basins import Basins, basins
from jaxgrad.critical import CriticalPoint, critical_points
from jaxgrad.curvature import classify
from jaxgrad.derivatives import directional_derivative, grad, hessian, hvp, jacobian
from jaxgrad.engine import Trace, minimize, minimize_from, sweep
from jaxgrad.expressions import Expression, ExpressionError, expression
from jaxgrad.config import load_config
from jaxgrad.experiment import run_experiment
from jaxgrad.fields import directional_profile, field, quantity
from jaxgrad.grid import Grid
from jaxgrad.numerical import (
    GradientCheck,
    check_gradient,
    numerical_gradient,
    numerical_hessian,
    numerical_jacobian,
)

__version__ = "0.1.0"

__all__ = [
    "Basins",
    "basins",
    "directional_profile",
    "landscape",
    "load_config",
    "run_experiment",
    "Trace",
    "minimize",
    "minimize_from",
    "optimizers",
    "problems",
    "sweep",
    "CriticalPoint",
    "Grid",
    "critical_points",
    "field",
    "quantity",
    "Expression",
    "ExpressionError",
    "classify",
    "expression",
    "GradientCheck",
    "check_gradient",
    "directional_derivative",
    "grad",
    "hessian",
    "hvp",
    "jacobian",
    "numerical_gradient",
    "numerical_hessian",
    "numerical_jacobian",
]
