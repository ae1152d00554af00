"""What a comparison over seeds can claim: the selection rule, intervals, rank tests, verdicts.

Everything that picks "the best setting" or says who won (the terminal table, every
figure, the page, the bench, ``jaxgrad compare``) goes through this module, so they
agree. It works on plain NumPy values (per-seed final losses, diverged flags) and
never calls JAX.

The rule (:func:`order`): fewest diverged runs first; then the lowest median final
loss, diverged runs counted as ``+inf``; where a tolerance is set, settings whose
medians are equal to rounding are told apart by their median steps to tolerance;
then the lowest index.

Intervals are percentile bootstraps of the median (:func:`median_ci`, seeded, so
reruns agree; the same resamples as ``scipy.stats.bootstrap(..., method="percentile")``
with ``rng=np.random.default_rng(seed)``). Differences between two sets of seeds
are judged by a two-sided Mann-Whitney U test (:func:`rank_test`).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["CONFIDENCE", "ALPHA", "RESAMPLES", "finals", "median", "order", "best", "median_ci", "wilson",
           "rank_test", "min_p_value", "same_to_rounding", "label", "setting_finals", "setting_median", "group_best", "ranking", "fmt", "fmt_p", "fmt_ci",
           "verdict"]

CONFIDENCE = 0.95  # the level of every interval
ALPHA = 0.05  # a difference is "distinguishable" when the rank test's p-value is below this
RESAMPLES = 4000  # bootstrap resamples per interval
RTOL = {"float32": 2e-6, "float64": 1e-12}  # medians closer than this (relatively) are equal to rounding


def finals(final_loss: Sequence[float], diverged: Sequence[bool]) -> np.ndarray:
    """Per-seed final losses with diverged runs (and non-finite values) as ``+inf``."""
    values = np.asarray(final_loss, np.float64).copy()
    values[np.asarray(diverged, bool) | ~np.isfinite(values)] = np.inf
    return values


def _medians(values: np.ndarray) -> np.ndarray:
    """Medians along the last axis, ``+inf`` where half or more of a row is (never NaN: two
    infinite middle values are equal, so they are not averaged)."""
    s = np.sort(values, axis=-1)
    n = s.shape[-1]
    a, b = s[..., (n - 1) // 2], s[..., n // 2]
    return np.where(a == b, a, (a + b) / 2)


def median(values: np.ndarray) -> float:
    """The median, ``+inf`` when half or more of the values are (never NaN)."""
    return float(_medians(np.asarray(values, np.float64)))


def same_to_rounding(a: float, b: float, dtype: str = "float32") -> bool:
    """Whether two losses are equal to the rounding of ``dtype`` (both infinite counts as equal)."""
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= RTOL.get(dtype, RTOL["float32"]) * max(abs(a), abs(b), 1e-300)


def order(diverged: Sequence[int], score: Sequence[float], tie: Sequence[float | None] | None = None,
          dtype: str | None = None) -> list[int]:
    """Indices best first: fewest ``diverged``, then the lowest ``score``; among scores equal to
    the rounding of ``dtype`` (exactly equal when ``dtype`` is None), the lowest ``tie``
    (``None``: never reached, last); then the lowest index.

    Examples:
      >>> from jaxgrad.lab import stats
      >>> stats.order(diverged=[1, 0, 0], score=[0.1, 0.3, 0.2])
      [2, 1, 0]
    """
    left = list(range(len(score)))
    out = []
    while left:
        out.append(_first(left, diverged, score, tie, dtype))
        left.remove(out[-1])
    return out


def _first(left, diverged, score, tie, dtype) -> int:
    fewest = min(diverged[i] for i in left)
    left = [i for i in left if diverged[i] == fewest]
    lowest = min(score[i] for i in left)
    close = [i for i in left if (score[i] == lowest if dtype is None else same_to_rounding(score[i], lowest, dtype))]
    if tie is not None and len(close) > 1:
        def key(i):
            t = tie[i]
            return (math.inf if t is None else t, score[i], i)
        return min(close, key=key)
    return min(close, key=lambda i: (score[i], i))


def best(diverged, score, tie=None, dtype=None) -> int:
    """The index :func:`order` puts first."""
    return order(diverged, score, tie, dtype)[0]


def _quantile(values: np.ndarray, q: Sequence[float]) -> np.ndarray:
    """``np.quantile`` (linear), also where some values are ``+inf`` (NumPy gives NaN there)."""
    if np.all(np.isfinite(values)):
        return np.quantile(values, q)
    s = np.sort(values)
    pos = np.asarray(q) * (s.size - 1)
    lo, hi = np.floor(pos).astype(int), np.ceil(pos).astype(int)
    frac = pos - lo
    with np.errstate(invalid="ignore"):
        mixed = s[lo] + (s[hi] - s[lo]) * frac
    return np.where((frac == 0) | (s[lo] == s[hi]), s[lo], mixed)


def median_ci(values: Sequence[float], *, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
              seed: int = 0) -> tuple[float, float] | None:
    """A percentile-bootstrap interval of the median (``None`` for fewer than two values).

    Resamples ``rng.integers(0, n, (resamples, n))`` with ``rng = np.random.default_rng(seed)``:
    the resamples ``scipy.stats.bootstrap`` draws from the same generator, so the interval is
    scipy's ``method="percentile"`` one. ``+inf`` values (diverged runs) are allowed; every
    value equal gives ``(m, m)``.

    Examples:
      >>> from jaxgrad.lab import stats
      >>> stats.median_ci([2.0, 2.0, 2.0])
      (2.0, 2.0)
    """
    values = np.asarray(values, np.float64)
    if values.size < 2:
        return None
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(seed)
    resampled = values[rng.integers(0, values.size, (resamples, values.size))]
    medians = np.median(resampled, axis=-1) if np.all(np.isfinite(values)) else _medians(resampled)
    alpha = (1 - confidence) / 2
    lo, hi = _quantile(medians, [alpha, 1 - alpha])
    return float(lo), float(hi)


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Wilson's score interval of a success rate (``None`` for ``n = 0``)."""
    if n == 0:
        return None
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def rank_test(a: Sequence[float], b: Sequence[float]) -> float | None:
    """The two-sided Mann-Whitney U p-value of ``a`` against ``b`` (``None`` when either has one value
    or fewer; ``1.0`` when every value is the same)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or b.size < 2:
        return None
    both = np.concatenate([a, b])
    if np.all(both == both[0]):
        return 1.0
    from scipy.stats import mannwhitneyu

    big = np.finfo(np.float64).max  # +inf ranks last, as the largest value does
    return float(mannwhitneyu(np.minimum(a, big), np.minimum(b, big), alternative="two-sided").pvalue)


def min_p_value(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the exact rank test can give with these sample sizes."""
    return 2.0 / math.comb(n_a + n_b, n_a) if n_a and n_b else 1.0


# --- a run's summary -----------------------------------------------------------------------


def label(optimizer: str, setting: str) -> str:
    """An optimizer's label with its setting's: ``adam (lr=0.01)``, ``momentum (mu=0.9, lr=0.01)``."""
    if setting in ("", "default"):
        return optimizer
    if optimizer.endswith(")") and " (" in optimizer:
        return f"{optimizer[:-1]}, {setting})"
    return f"{optimizer} ({setting})"


def setting_finals(setting: dict) -> np.ndarray:
    """A summary setting's per-seed final losses, diverged runs (and nulls) as ``+inf``."""
    runs = setting["runs"]
    return finals([np.nan if r["final_loss"] is None else r["final_loss"] for r in runs],
                  [r["diverged_step"] is not None for r in runs])


def setting_median(setting: dict) -> float:
    """A summary setting's median final loss (``+inf`` where JSON holds null for it)."""
    value = setting.get("median_final_loss")
    return median(setting_finals(setting)) if value is None else float(value)


def group_best(group: dict, tol_set: bool = False, dtype: str = "float32") -> int:
    """A summary group's chosen setting: ``group["best"]``, or the rule applied to its settings
    (summaries written before schema 3)."""
    if "best" in group:
        return int(group["best"])
    settings = group["settings"]
    return best([s["diverged"] for s in settings], [setting_median(s) for s in settings],
                [s.get("median_steps_to_tol") for s in settings] if tol_set else None, dtype)


def ranking(groups: list[dict], tol_set: bool = False, dtype: str = "float32") -> list[dict]:
    """A problem's groups (summary dicts), each at its best setting, best first by the rule, each
    with the rank test's p-value against the winner (``None`` for the winner itself)."""
    chosen = [(g, g["settings"][group_best(g, tol_set, dtype)]) for g in groups]
    scores = [setting_median(s) for _, s in chosen]
    ranked = order([s["diverged"] for _, s in chosen], scores,
                   [s.get("median_steps_to_tol") for _, s in chosen] if tol_set else None, dtype)
    winner = setting_finals(chosen[ranked[0]][1]) if ranked else None
    out = []
    for k in ranked:
        g, s = chosen[k]
        out.append({"group": g["index"], "setting": g["settings"].index(s), "label": label(g["optimizer_label"], s["label"]),
                    "median_final_loss": scores[k], "median_final_loss_ci": s.get("median_final_loss_ci"),
                    "median_steps_to_tol": s.get("median_steps_to_tol"), "diverged": s["diverged"],
                    "runs": len(s["runs"]),
                    "p_value": None if not out else rank_test(winner, setting_finals(s))})
    return out


# --- words ---------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 4) -> str:
    """A loss for a sentence or a table: ``-`` for None, ``inf`` for diverged, ``0`` below rounding."""
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if math.isnan(value):
        return "nan"
    return format(value, f".{digits}g")


def fmt_p(p: float | None) -> str:
    """A p-value in two significant digits, or more where two would round it across :data:`ALPHA`."""
    if p is None:
        return "-"
    for digits in (2, 3, 4):
        text = format(p, f".{digits}g")
        if (float(text) < ALPHA) == (p < ALPHA):
            return text
    return format(p, ".6g")


def fmt_ci(ci, digits: int = 3) -> str:
    """``[lo, hi]`` (``-`` without an interval)."""
    if ci is None or ci[0] is None:
        return "-"
    return f"[{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]"


def verdict(ranking: list[dict], seeds: int, tol_set: bool = False, dtype: str = "float32") -> str:
    """One sentence on a problem's ranking: who won, by how much, and whether the seeds can tell.

    ``ranking``: best first, each ``{label, median_final_loss, median_final_loss_ci, diverged,
    runs, p_value (against the winner), median_steps_to_tol}``.
    """
    if not ranking:
        return "no optimizer finished on this problem"
    win = ranking[0]
    if win["diverged"] == win["runs"]:
        return f"every run diverged; the least bad was {win['label']}"
    head = f"{win['label']} reached the lowest median loss, {fmt(win['median_final_loss'])}"
    if win.get("median_final_loss_ci") is not None:
        head += f" {fmt_ci(win['median_final_loss_ci'])}"
    if win["diverged"]:
        head += f" ({win['diverged']} of {win['runs']} runs diverged)"
    if len(ranking) == 1:
        return head
    second = ranking[1]
    s = "s" if seeds != 1 else ""
    if win["diverged"] < second["diverged"]:
        return (f"{head}; {second['label']} diverged in {second['diverged']} of {second['runs']} runs")
    equal = same_to_rounding(win["median_final_loss"], second["median_final_loss"], dtype)
    if equal:
        tied = [r for r in ranking if r["diverged"] == win["diverged"]
                and same_to_rounding(r["median_final_loss"], win["median_final_loss"], dtype)]
        names = "all" if len(tied) == len(ranking) else f"{len(tied)} of {len(ranking)}"
        text = f"{names} optimizers reached the same median loss, {fmt(win['median_final_loss'])}, to rounding"
        if tol_set and win.get("median_steps_to_tol") is not None:
            steps_2 = second.get("median_steps_to_tol")
            n = win["median_steps_to_tol"]
            steps = f"{n:.0f} step{'' if n == 1 else 's'} (median)"
            if steps_2 is not None and steps_2 == n:  # the same median: no one is faster
                text += f"; {win['label']} and {second['label']} got within tolerance as fast, in {steps}"
            else:
                text += (f"; {win['label']} got within tolerance fastest, in {steps}, against "
                         f"{'never' if steps_2 is None else f'{steps_2:.0f}'} for {second['label']}")
        else:
            text += "; they differ in speed, not in the end point (see the loss curves)"
        return text
    versus = f"{second['label']} at {fmt(second['median_final_loss'])}"
    p = second.get("p_value")
    if p is None:
        return f"{head}; ahead of {versus} (one seed: no test; run more seeds)"
    if p < ALPHA:
        return f"{head}; ahead of {versus} (p = {fmt_p(p)}, {seeds} seed{s})"
    floor = min_p_value(seeds, seeds)
    advice = (f"a rank test cannot reach p < {ALPHA:g} with {seeds} seeds; run at least 4" if floor >= ALPHA
              else "run more seeds")
    return f"{head}; not distinguishable from {versus} (p = {fmt_p(p)}, {seeds} seed{s}); {advice}"
