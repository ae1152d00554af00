r"""The compiled training engine: a run is one ``lax.scan``; many runs are one ``vmap``.

``minimize`` runs an optimizer for a fixed number of steps inside one jitted
``lax.scan`` and records, per step, the loss, the gradient norm and the update norm
(and the parameters if asked). Outcomes are recorded, not raised: the first step
whose gradient norm is within ``tol`` (``converged_step``) and the first step whose
loss or parameters are not finite (``diverged_step``); a diverged run is frozen at
its last finite parameters rather than filled with NaN.

``sweep`` runs every (hyperparameter setting, seed) pair of a problem in one
compiled program: the optimizer is built inside the trace from traced
hyperparameters, so a new value never recompiles, and the runs are vmapped (and
spread over all devices with ``shard_map`` when there are several).
"""

from __future__ import annotations

import importlib

# public name -> the module of this package that defines it (loaded on first use, so that
# ``jaxgrad.engine.options`` and ``jaxgrad.optimizers.search`` import without JAX)
_EXPORTS = {
    "Trace": "run", "SHARPNESS_ITERS": "options",
    "minimize": "single", "minimize_from": "single",
    "SweepPlan": "sweeps", "plan_sweep": "sweeps", "sweep": "sweeps", "settings_of": "sweeps",
    "RunOptions": "options", "MAX_STEPS": "options",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jaxgrad.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jaxgrad.engine.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
