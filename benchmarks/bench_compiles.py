"""How many XLA compilations a ``jaxgrad bench --quick`` pair costs, and how long they take.

Run: ``python benchmarks/bench_compiles.py``. In one process with the persistent compilation
cache off, it runs the quick suite and counts JAX's backend compilations through
``jax.monitoring`` (the ``/jax/core/compile/backend_compile_duration`` event, one per XLA
program compiled), per (problem, optimizer) pair: those that take 0.1 s or more (the
program of the pair, which tunes, evaluates and times) and the small ones (eager operations
between programs), with their seconds; and apart, those of building each problem (its data).
"""

from __future__ import annotations

import collections
import os
import statistics

os.environ["JAXGRAD_NO_CACHE"] = "1"

import jax  # noqa: E402
import jax.monitoring  # noqa: E402

from jaxgrad.lab import bench  # noqa: E402
from jaxgrad.pictures import terminal  # noqa: E402

EVENT = "/jax/core/compile/backend_compile_duration"
BETWEEN = "between pairs"


class PairStatus(terminal.Status):
    """The bench's status, also telling which pair is running (to attribute compilations)."""

    def __init__(self, log):
        super().__init__(enabled=False)
        self.log = log

    def steps(self, what, total):
        inner = super().steps(what, total)
        log = self.log

        class Steps:
            def __enter__(self):
                self.step = inner.__enter__()
                original_start, original_done = self.step.start, self.step.done

                def start(label):
                    log["pair"] = label
                    return original_start(label)

                def done(*args, **kwargs):
                    log["pair"] = BETWEEN  # building the next problem (its data, its init)
                    return original_done(*args, **kwargs)

                self.step.start, self.step.done = start, done
                return self.step

            def __exit__(self, *exc):
                return inner.__exit__(*exc)

        return Steps()


def main() -> None:
    log = {"pair": BETWEEN}
    compiles = collections.defaultdict(list)

    def listener(event, seconds, **kwargs):
        if event == EVENT:
            compiles[log["pair"]].append(seconds)

    jax.monitoring.register_event_duration_secs_listener(listener)
    result = bench.run_suite(quick=True, status=PairStatus(log))
    pairs = [f"{r['problem']} / {r['optimizer']}" for r in result["results"]]
    big = [sum(1 for s in compiles[p] if s >= 0.1) for p in pairs]
    small = [sum(1 for s in compiles[p] if s < 0.1) for p in pairs]
    print(f"jaxgrad bench --quick: {len(pairs)} pairs, {result['wall_seconds']:.1f} s wall, "
          f"jax {jax.__version__}, persistent cache off")
    print(f"{'pair':<40}{'>= 0.1 s':>10}{'seconds':>9}{'< 0.1 s':>9}{'seconds':>9}")
    for p, b, s in zip(pairs, big, small):
        print(f"{p:<40}{b:>10}{sum(x for x in compiles[p] if x >= 0.1):>9.2f}{s:>9}"
              f"{sum(x for x in compiles[p] if x < 0.1):>9.3f}")
    print(f"per pair: {statistics.mean(big):.2f} compilations of 0.1 s or more (median {statistics.median(big):g}), "
          f"{statistics.mean(small):.1f} small ones")
    between = compiles[BETWEEN]
    print(f"building the {len(result['options']['problems'])} problems (data, init; not a pair's): "
          f"{len(between)} compilations, {sum(between):.2f} s")


if __name__ == "__main__":
    main()
