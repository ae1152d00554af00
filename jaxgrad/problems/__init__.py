"""Problems: ``make(name, **kw)`` returns a :class:`Problem`.

Functions of a point (flat ``(dim,)`` parameters): ``quadratic``, ``rosenbrock``,
``himmelblau``, ``beale``, ``booth``, ``matyas``, ``six_hump_camel``, ``rastrigin``,
``ackley``, ``expression``. Data-driven (pytree parameters): ``linear_regression``,
``logistic_regression``, ``mlp``. A Flax NNX or Equinox model: :func:`from_module`.
"""

from jaxgrad.problems import functions, regression  # noqa: F401  (registers)
from jaxgrad.problems import mlp as _mlp  # noqa: F401  (registers)
from jaxgrad.problems._problem import (
    REQUIRED,
    Problem,
    batch_indices,
    batch_loss,
    make,
    names,
    signature,
)
from jaxgrad.problems.modules import from_module

__all__ = ["REQUIRED", "Problem", "batch_indices", "batch_loss", "from_module", "make", "names", "signature"]
