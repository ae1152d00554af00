"""Problems: ``make(name, **kw)`` returns a :class:`Problem`.

Functions of a point (flat ``(dim,)`` parameters): ``quadratic``, ``rosenbrock``,
``himmelblau``, ``beale``, ``booth``, ``matyas``, ``six_hump_camel``, ``rastrigin``,
``ackley``, ``expression``. Data-driven (pytree parameters): ``linear_regression``,
``logistic_regression``, ``mlp``.
"""

from jaxgrad.problems import functions, mlp as _mlp, regression  # noqa: F401  (registers)
from jaxgrad.problems._problem import REQUIRED, Problem, batch_indices, batch_loss, make, names, signature

__all__ = ["REQUIRED", "Problem", "batch_indices", "batch_loss", "make", "names", "signature"]
