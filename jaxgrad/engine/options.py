"""The options of a run, validated in one place (:class:`RunOptions`) and defined once.

The API (``jg.minimize``, ``jg.sweep``) and a config (its top-level ``steps``/``tol`` and
``[output]`` table) build the same :class:`RunOptions`; nothing downstream checks them
again. Imports no JAX: the config schema uses it.
"""

from __future__ import annotations

import dataclasses
import numbers

from jaxgrad.errors import InputError, is_positive_int

__all__ = ["RunOptions", "MAX_STEPS", "SHARPNESS_ITERS", "DEFAULT_STEPS", "DEFAULT_SEEDS"]

MAX_STEPS = 2**31 - 2  # the step counter is an int32 inside the compiled run
SHARPNESS_ITERS = 20  # Lanczos steps per sharpness value, warm-started from the last top eigenvector
# A config's defaults (the API has no default for steps: a call says how long it runs)
DEFAULT_STEPS = 500
DEFAULT_SEEDS = 4


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How one run goes: its length, the tolerance that marks convergence, and what it records.

    Attributes:
      steps: the number of updates (1 to ``MAX_STEPS``).
      tol: gradient-norm tolerance for ``converged_step`` (``None``: none).
      record_params: keep the parameters after every recorded step.
      record_every: record steps ``0, m, 2m, ..., steps``; ``m`` divides ``steps``.
      sharpness_every: record the top Hessian eigenvalue every ``s`` steps (a multiple of
        ``record_every``), from ``sharpness_iters`` warm-started Lanczos steps.

    Raises:
      InputError: naming the option (``err.field``) on the first bad value.
    """

    steps: int
    tol: float | None = None
    record_params: bool = False
    record_every: int = 1
    sharpness_every: int | None = None
    sharpness_iters: int = SHARPNESS_ITERS

    def __post_init__(self):
        steps, every, sharp = self.steps, self.record_every, self.sharpness_every
        if not isinstance(steps, numbers.Integral) or isinstance(steps, bool):
            raise InputError(f"steps must be an integer, got {steps!r}", field="steps")
        if not 1 <= steps <= MAX_STEPS:
            raise InputError(f"steps must be at {'least 1' if steps < 1 else f'most {MAX_STEPS:,}'}, got {steps:,}",
                             field="steps")
        tol = self.tol
        if tol is not None and not (isinstance(tol, numbers.Real) and not isinstance(tol, bool) and tol >= 0
                                    and tol < float("inf")):
            raise InputError(f"tol must be >= 0 and finite (or None), got {tol!r}", field="tol")
        if not isinstance(self.record_params, bool):
            raise InputError(f"record_params must be true or false, got {self.record_params!r}", field="record_params")
        if not is_positive_int(every):
            raise InputError(f"record_every must be a positive integer, got {every!r}", field="record_every")
        if steps % every:
            raise InputError(f"record_every must divide steps ({steps}), got {every}", field="record_every")
        if sharp is not None and (not is_positive_int(sharp) or sharp % every):
            raise InputError(f"sharpness_every must be a positive multiple of record_every ({every}), got {sharp!r}",
                             field="sharpness_every")
        if not is_positive_int(self.sharpness_iters):
            raise InputError(f"sharpness_iters must be a positive integer, got {self.sharpness_iters!r}",
                             field="sharpness_iters")
        object.__setattr__(self, "steps", int(steps))
        object.__setattr__(self, "tol", None if tol is None else float(tol))
        object.__setattr__(self, "record_every", int(every))
        object.__setattr__(self, "sharpness_every", None if sharp is None else int(sharp))
        object.__setattr__(self, "sharpness_iters", int(self.sharpness_iters))

    def statics(self) -> dict:
        """The compiled run's static arguments."""
        return dict(steps=self.steps, tol=self.tol, record=self.record_params, every=self.record_every,
                    sharpness=self.sharpness_every, sharpness_iters=self.sharpness_iters)
