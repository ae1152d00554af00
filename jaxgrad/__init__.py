"""jaxgrad: a JAX-accelerated optimization lab.

The public API; everything else lives in the modules and is not a contract.
"""

from jaxgrad import optimizers, problems
from jaxgrad.critical import CriticalPoint, critical_points
from jaxgrad.curvature import classify
from jaxgrad.derivatives import directional_derivative, grad, hessian, hvp, jacobian
from jaxgrad.engine import Trace, minimize, minimize_from, sweep
from jaxgrad.expressions import Expression, ExpressionError, expression
from jaxgrad.fields import field, quantity
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
