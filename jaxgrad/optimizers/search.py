"""Search spaces: ranges sampled by a scrambled Halton sequence, every sample data in one program.

A sweep's grid may hold ranges beside lists: ``{"learning_rate": jg.log_uniform(1e-4, 1e-1),
"b1": [0.9, 0.95]}``. The ranges together give ``samples`` points of a scrambled Halton
sequence (``scipy.stats.qmc.Halton(d, scramble=True, seed=search_seed)``, deterministic for a
seed), mapped onto each range (log-uniform ranges on the log of the value); the lists
combine with them as a product, so that grid with ``samples=16`` is 32 settings. Every
value is traced data: all samples and seeds run in one compiled program.

Example:
  >>> from jaxgrad.optimizers import search
  >>> points = search.settings({"learning_rate": search.log_uniform(1e-4, 1e-1)}, samples=4, seed=0)
  >>> len(points), all(1e-4 <= p["learning_rate"] <= 1e-1 for p in points)
  (4, True)
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Mapping

import numpy as np

from jaxgrad.errors import InputError

__all__ = ["Range", "log_uniform", "uniform", "settings", "has_ranges", "parse", "DEFAULT_SAMPLES", "MAX_SAMPLES"]

DEFAULT_SAMPLES = 16
MAX_SAMPLES = 100_000


@dataclasses.dataclass(frozen=True)
class Range:
    """A continuous range of a hyperparameter: ``[lo, hi]``, uniform on the value or (``log``) on its log."""

    lo: float
    hi: float
    log: bool = False

    def __post_init__(self):
        kind = "log_uniform" if self.log else "uniform"
        for name, v in (("lo", self.lo), ("hi", self.hi)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"{kind}: {name} must be a finite number, got {v!r}", field=kind)
        if not self.lo < self.hi:
            raise InputError(f"{kind}: the range must run from low to high, got [{self.lo!r}, {self.hi!r}]",
                             field=kind)
        if self.log and self.lo <= 0:
            raise InputError(f"log_uniform: both ends must be positive, got [{self.lo!r}, {self.hi!r}]", field=kind)
        object.__setattr__(self, "lo", float(self.lo))
        object.__setattr__(self, "hi", float(self.hi))

    def at(self, u: np.ndarray) -> np.ndarray:
        """The values at quantiles ``u`` in [0, 1)."""
        if self.log:
            return np.exp(np.log(self.lo) + u * (np.log(self.hi) - np.log(self.lo)))
        return self.lo + u * (self.hi - self.lo)

    def as_toml(self) -> dict:
        return {"log_uniform" if self.log else "uniform": [self.lo, self.hi]}


def log_uniform(lo: float, hi: float) -> Range:
    """A range sampled uniformly on the log of the value (learning rates, weight decays)."""
    return Range(lo, hi, log=True)


def uniform(lo: float, hi: float) -> Range:
    """A range sampled uniformly on the value (momenta, betas)."""
    return Range(lo, hi, log=False)


def has_ranges(grid: Mapping[str, Any]) -> bool:
    return any(isinstance(v, Range) for v in grid.values())


def _check_samples(samples: Any, seed: Any) -> None:
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise InputError(f"samples must be a whole number from 1 to {MAX_SAMPLES:,}, got {samples!r}", field="samples")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"search_seed must be a whole number >= 0, got {seed!r}", field="search_seed")


def settings(grid: Mapping[str, Any], samples: int = DEFAULT_SAMPLES, seed: int = 0) -> list[dict[str, float]]:
    """The settings of a grid, in key order: every Halton point over its ranges times the product
    of its lists (a scalar is a one-value list); without ranges, the product alone."""
    keys = list(grid)
    ranges = {k: v for k, v in grid.items() if isinstance(v, Range)}
    lists = [list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v] for k, v in grid.items()
             if k not in ranges]
    combos = [dict(zip([k for k in keys if k not in ranges], c)) for c in itertools.product(*lists)]
    if not ranges:
        return [{k: c[k] for k in keys} for c in combos]
    _check_samples(samples, seed)
    from scipy.stats import qmc

    u = qmc.Halton(d=len(ranges), scramble=True, rng=seed).random(samples)
    points = [{k: float(r.at(u[i, j])) for j, (k, r) in enumerate(ranges.items())} for i in range(samples)]
    return [{k: (p[k] if k in ranges else c[k]) for k in keys} for p in points for c in combos]


def parse(value: Any, field: str) -> Range | None:
    """A config's ``{ log_uniform = [lo, hi] }`` or ``{ uniform = [lo, hi] }`` as a :class:`Range`
    (``None`` for anything that is not a table).

    Raises:
      InputError: a table of another shape or with bad ends, naming ``field``.
    """
    if not isinstance(value, dict):
        return None
    if len(value) != 1 or next(iter(value)) not in ("log_uniform", "uniform"):
        raise InputError(f"{field}: a range is {{ log_uniform = [lo, hi] }} or {{ uniform = [lo, hi] }}, "
                         f"got {value!r}", field=field)
    kind, ends = next(iter(value.items()))
    if not isinstance(ends, list) or len(ends) != 2:
        raise InputError(f"{field}: {kind} takes [lo, hi], got {ends!r}", field=field)
    try:
        return Range(ends[0], ends[1], log=kind == "log_uniform")
    except InputError as err:
        raise InputError(f"{field}: {err}", field=field) from None
