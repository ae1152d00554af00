"""The bench's config: a ``[bench]``-style table over the full or quick defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from jaxgrad.engine.options import MAX_STEPS
from jaxgrad.errors import did_you_mean
from jaxgrad.lab.config import MAX_RUNS, PRECISIONS, Checker
from jaxgrad.lab.toml import read_toml
from jaxgrad.optimizers import search

__all__ = ["BenchConfig", "parse_bench_config", "load_bench_config"]


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """What ``jaxgrad bench`` runs: a TOML table's values over the suite's defaults, resolved once.

    ``lr_grid``: the learning rates every tuned optimizer is swept over; ``problems`` and
    ``optimizers``: names in :data:`jaxgrad.lab.bench.SUITE` and :data:`jaxgrad.lab.bench.OPTIMIZERS`.
    """

    steps: int
    tune_seeds: int
    eval_seeds: int
    lr_grid: tuple[float, ...]
    problems: tuple[str, ...]
    optimizers: tuple[str, ...]
    precision: str
    tune_samples: int | None = None  # Halton samples of log_uniform(min, max of lr_grid) instead of the grid

    def as_dict(self) -> dict:
        """Plain values (lists for tuples), as ``bench.json`` records them."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def parse_bench_config(data: Any, defaults: BenchConfig, problems: Sequence[str], optimizers: Sequence[str],
                       source: str = "bench config") -> BenchConfig:
    """Validate a bench table over ``defaults``; names must be among ``problems`` / ``optimizers``."""
    check = Checker(source)
    if not isinstance(data, dict):
        check.fail("", "a bench config must be a TOML table")
    check.keys(data, [f.name for f in dataclasses.fields(BenchConfig)], "", "bench")
    values = {**dataclasses.asdict(defaults), **data}
    counts = {key: check.integer(values[key], key, maximum=MAX_STEPS if key == "steps" else MAX_RUNS)
              for key in ("steps", "tune_seeds", "eval_seeds")}
    grid = values["lr_grid"]
    if not isinstance(grid, (list, tuple)) or not grid:
        check.fail("lr_grid", f"must be a list of positive learning rates, got {grid!r}")
    for j, v in enumerate(grid):
        if check.number(v, f"lr_grid.{j}") <= 0:
            check.fail(f"lr_grid.{j}", f"must be a list of positive learning rates, got {v!r}")
    names = {}
    for key, known in (("problems", problems), ("optimizers", optimizers)):
        given = values[key]
        if not isinstance(given, (list, tuple)) or not given:
            check.fail(key, f"must be a non-empty list of names, got {given!r}")
        for j, name in enumerate(given):
            if name not in known:
                check.fail(f"{key}.{j}", f"unknown {name!r}{did_you_mean(str(name), known)}; known: {', '.join(known)}")
        names[key] = tuple(given)
    if values["precision"] not in PRECISIONS:
        check.fail("precision", f"must be one of {', '.join(PRECISIONS)}, got {values['precision']!r}")
    tune_samples = values.get("tune_samples")
    if tune_samples is not None:
        tune_samples = check.integer(tune_samples, "tune_samples", maximum=search.MAX_SAMPLES)
        if len(grid) < 2 or min(grid) == max(grid):
            check.fail("tune_samples", "samples a range between the lr_grid's smallest and largest values; "
                                       "give lr_grid two different values")
    return BenchConfig(lr_grid=tuple(float(v) for v in grid), precision=values["precision"],
                       tune_samples=tune_samples, **counts, **names)


def load_bench_config(path: str | Path, defaults: BenchConfig, problems: Sequence[str],
                      optimizers: Sequence[str]) -> BenchConfig:
    """Read and validate a bench TOML file (errors name the file and the field)."""
    return parse_bench_config(read_toml(path), defaults, problems, optimizers, str(path))
