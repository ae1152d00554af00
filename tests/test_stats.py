"""Runs that conclude: the selection rule, intervals and rank tests against SciPy and a brute-force
recomputation from metrics.csv, verdicts, diverged seeds in figures, and `jaxgrad compare`."""

import csv
import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from jaxgrad.cli import main
from jaxgrad.lab import stats
from jaxgrad.pictures import report

QUARTIC = '''
import jax, jax.numpy as jnp
import jaxgrad as jg

def init(key):
    # PRNGKey(s) holds the seed s: seeds 1 and 5 start at 2.5, the others in [0.5, 1.2]
    s = key[-1] * 1.0  # the default float: float32, or float64 under precision = "float64"
    return jnp.where(s % 4 == 1, 2.5, 0.5 + 0.1 * s)[None]

def make():
    # gradient descent on x^4 / 4 diverges from |x0| > sqrt(2 / lr): at lr = 0.5, seeds 1 and 5
    return jg.problems.Problem("quartic", lambda x, data: jnp.sum(x**4) / 4, init)
'''

CONFIG = '''
name = "quartic"
steps = 30
seeds = 8
precision = "{precision}"
[[problems]]
factory = "quartic.py:make"
[[optimizers]]
name = "sgd"
learning_rate = [0.1, 0.5]
[[optimizers]]
name = "momentum"
learning_rate = 0.05
'''


# --- the statistics against SciPy ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n, seed", [(4, 0), (5, 3), (8, 11)])
def test_median_ci_is_scipys_percentile_bootstrap_on_the_same_seed(n, seed, dtype):
    values = np.random.default_rng(100 + n).lognormal(size=n).astype(dtype)
    mine = stats.median_ci(values, seed=seed)
    ref = scipy.stats.bootstrap((values.astype(np.float64),), np.median, n_resamples=stats.RESAMPLES,
                                method="percentile", confidence_level=0.95, rng=np.random.default_rng(seed))
    np.testing.assert_array_equal(mine, (ref.confidence_interval.low, ref.confidence_interval.high))
    assert mine[0] <= np.median(values) <= mine[1]


def test_median_ci_edges_and_diverged_runs():
    assert stats.median_ci([0.5]) is None
    assert stats.median_ci([0.25] * 4) == (0.25, 0.25)
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.inf])
    lo, hi = stats.median_ci(values, seed=1)
    big = np.where(np.isinf(values), 1e150, values)  # +inf as the largest number, for SciPy
    ref = scipy.stats.bootstrap((big,), np.median, n_resamples=stats.RESAMPLES, method="percentile",
                                rng=np.random.default_rng(1)).confidence_interval
    assert lo == ref.low and math.isinf(hi) and ref.high > 1e149
    assert stats.median(values) == 3.5 and stats.median([1.0, np.inf]) == np.inf


@pytest.mark.parametrize("a, b", [([1, 2, 3, 4], [5, 6, 7, 8]), ([0.1, 0.3, 0.2, 0.5, 0.4], [0.35, 0.6, 0.7, 0.2, 0.9]),
                                  ([1.0, 2.0, np.inf], [1.5, 2.5, 3.5])])
def test_rank_test_is_mann_whitney_u(a, b):
    big = np.finfo(np.float64).max
    ref = scipy.stats.mannwhitneyu(np.minimum(a, big), np.minimum(b, big), alternative="two-sided").pvalue
    assert stats.rank_test(a, b) == pytest.approx(ref, rel=1e-12)
    assert stats.rank_test([1.0], b) is None and stats.rank_test([2.0, 2.0], [2.0, 2.0]) == 1.0
    assert stats.min_p_value(4, 4) == pytest.approx(scipy.stats.mannwhitneyu([1, 2, 3, 4], [5, 6, 7, 8]).pvalue)


@pytest.mark.parametrize("k, n", [(0, 4), (3, 4), (8, 8), (17, 40)])
def test_wilson_interval_is_scipys(k, n):
    ref = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    np.testing.assert_allclose(stats.wilson(k, n), (ref.low, ref.high), rtol=1e-12, atol=1e-15)


def _brute(diverged, score, tie=None):
    return sorted(range(len(score)), key=lambda i: (diverged[i], score[i], math.inf if tie is None or tie[i] is None
                                                     else tie[i], i))


def test_order_is_the_rule_by_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 7))
        diverged = rng.integers(0, 3, n).tolist()
        score = rng.choice([0.1, 0.2, 0.3, np.inf], n).tolist()
        tie = [None if t < 0 else float(t) for t in rng.integers(-1, 4, n)]
        assert stats.order(diverged, score) == _brute(diverged, score)
        assert stats.order(diverged, score, tie) == _brute(diverged, score, tie)
    # a lower median with a diverged seed loses to a higher one without
    assert stats.best([1, 0], [0.03338, 0.03339]) == 1
    # equal to float32 rounding: steps to tolerance decide, where given
    assert stats.best([0, 0], [0.2544, 0.2544 * (1 + 1e-7)], [120, 3], "float32") == 1
    assert stats.best([0, 0], [0.2544, 0.2544 * (1 + 1e-7)], None, "float32") == 0


# --- a run: the rule, intervals, p-values and verdict from metrics.csv -------------------------


@pytest.fixture(scope="module", params=["float32", "float64"])
def quartic_run(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"quartic-{request.param}")
    (folder / "quartic.py").write_text(textwrap.dedent(QUARTIC))
    (folder / "q.toml").write_text(CONFIG.format(precision=request.param))
    out = folder / "run"
    assert main(["run", str(folder / "q.toml"), "--out", str(out), "--quiet", "--no-plots"]) == 0
    return out, request.param


def _finals(run: Path):
    """{(group, setting label): per-seed final loss} from metrics.csv alone."""
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    last = max(int(r["step"]) for r in rows)
    out = {}
    for r in rows:
        if int(r["step"]) == last:
            out.setdefault((int(r["group"]), r["setting"]), []).append(float(r["loss"]))
    return out


def test_the_chosen_setting_has_no_diverged_seed_and_matches_a_brute_force_recomputation(quartic_run):
    run, dtype = quartic_run
    summary = json.loads((run / "summary.json").read_text())
    assert summary["schema_version"] == 3
    finals = _finals(run)
    sgd = summary["groups"][0]
    counted = []
    for s in sgd["settings"]:
        div = [r["diverged_step"] is not None for r in s["runs"]]
        values = np.where(div, np.inf, finals[0, s["label"]])
        counted.append((sum(div), float(np.median(values))))
    expected = min(range(len(counted)), key=lambda i: (counted[i], i))
    assert sgd["best"] == expected and sgd["settings"][expected]["diverged"] == 0
    # the case the rule exists for: the setting with diverged seeds has the lower median of raw finals
    lr05 = next(s for s in sgd["settings"] if s["hyperparams"]["learning_rate"] == 0.5)
    assert lr05["diverged"] > 0
    assert np.median(finals[0, lr05["label"]]) < np.median(finals[0, sgd["settings"][expected]["label"]])
    # intervals: SciPy's percentile bootstrap on metrics.csv's finals, seeded by the group index
    chosen = sgd["settings"][expected]
    ref = scipy.stats.bootstrap((np.asarray(finals[0, chosen["label"]]),), np.median, n_resamples=stats.RESAMPLES,
                                method="percentile", rng=np.random.default_rng(0)).confidence_interval
    rtol = 1e-6 if dtype == "float32" else 1e-14  # metrics.csv holds 9 (float32) or 17 significant digits
    np.testing.assert_allclose(chosen["median_final_loss_ci"], (ref.low, ref.high), rtol=rtol)
    # the ranking and its p-value: the winner against the runner-up, over seeds
    problem = summary["problems"][0]
    ranking = problem["ranking"]
    assert [r["group"] for r in ranking] == sorted((0, 1), key=lambda g: counted[expected][1] if g == 0 else
                                                   float(np.median(finals[1, "default"])))
    a, b = (np.asarray(finals[r["group"], summary["groups"][r["group"]]["settings"][r["setting"]]["label"]])
            for r in ranking)
    assert ranking[1]["p_value"] == pytest.approx(scipy.stats.mannwhitneyu(a, b).pvalue, rel=1e-12)
    assert problem["verdict"].startswith(ranking[0]["label"] + " reached the lowest median loss")
    assert ("not distinguishable" in problem["verdict"]) == (ranking[1]["p_value"] >= 0.05)
    arrays = np.load(run / "arrays.npz")
    seed = int(arrays["group0_best_seed"])
    assert chosen["runs"][seed]["diverged_step"] is None


def test_figures_keep_their_axes_within_the_seeds_that_did_not_diverge(quartic_run):
    run, _ = quartic_run
    arrays = np.load(run / "arrays.npz")
    calm = arrays["group0_loss"][0][arrays["group0_diverged_at"][0] < 0]  # lr=0.1: the chosen setting
    fig = report.figure(run, "loss")
    ax = fig.axes[0]
    assert ax.get_ylim()[1] < 2 * max(calm.max(), arrays["group1_loss"].max())
    labels = ax.get_legend_handles_labels()[1]
    assert any("sgd (lr=0.1)" in label for label in labels)
    fig = report.figure(run, "lr_sensitivity")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    medians = [st["median_final_loss"] for st in json.loads((run / "summary.json").read_text())["groups"][0]["settings"]]
    assert ax.get_ylim()[1] < 1e3 and ax.get_ylim()[0] < min(medians) and max(medians) < ax.get_ylim()[1]
    assert not any("above" in t for t in texts)  # 3 of 8 diverged: the medians are finite and drawn as they are


def test_the_terminal_and_the_page_carry_the_verdict_and_mark_the_winner(quartic_run, capsys, monkeypatch):
    from jaxgrad.lab.results import summary_table

    run, _ = quartic_run
    summary = json.loads((run / "summary.json").read_text())
    monkeypatch.setenv("COLUMNS", "80")
    summary_table(summary)
    text = capsys.readouterr().out
    assert max(map(len, text.splitlines())) <= 80
    winner = summary["problems"][0]["ranking"][0]
    assert any(line.startswith("* " + winner["label"].split(" (")[0]) for line in text.splitlines())
    assert "=> " + summary["problems"][0]["verdict"][:40] in text.replace("\n", " ")
    page = (run / "index.html").read_text()
    assert "Verdicts" in page and 'class="winner"' in page


# --- jaxgrad compare ----------------------------------------------------------------------------


def test_compare_a_run_with_itself_another_run_and_bad_paths(quartic_run, tmp_path, capsys):
    run, dtype = quartic_run
    if dtype == "float64":
        pytest.skip("compare reads files alike in either precision; the float32 run covers it")
    assert main(["compare", str(run), str(run), "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "no difference the seeds can tell" in out and "1.00x" in out and (tmp_path / "c.png").stat().st_size > 10_000
    # another config: sgd alone, other learning rates; momentum is only in A
    folder = run.parent
    other = folder / "other.toml"
    other.write_text(CONFIG.format(precision=dtype).replace("[0.1, 0.5]", "[0.02]").split("[[optimizers]]\nname = \"momentum\"")[0])
    assert main(["run", str(other), "--out", str(tmp_path / "b"), "--quiet", "--no-plots"]) == 0
    capsys.readouterr()
    assert main(["compare", str(run), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    a = np.asarray(_finals(run)[0, "lr=0.1"])
    b = np.asarray(_finals(tmp_path / "b")[0, "lr=0.02"])
    p = scipy.stats.mannwhitneyu(a, b).pvalue
    assert stats.fmt_p(p) in out.split() and "not compared: quartic.make / momentum (lr=0.05) (only in A)" in out
    assert f"{np.median(b) / np.median(a):.2f}x" in out
    # two runs of one config (more seeds the second time): every pair compared, none left out
    assert main(["run", str(folder / "q.toml"), "--out", str(tmp_path / "again"), "--quiet", "--no-plots",
                 "--set", "seeds=5"]) == 0
    capsys.readouterr()
    assert main(["compare", str(run), str(tmp_path / "again")]) == 0
    out = capsys.readouterr().out
    assert "not compared" not in out and out.count("    B ") == 2
    a = np.asarray(_finals(run)[1, "default"])
    b = np.asarray(_finals(tmp_path / "again")[1, "default"])
    assert stats.fmt_p(scipy.stats.mannwhitneyu(a, b).pvalue) in out.split()
    # bad paths: one line, exit 2
    for bad in (tmp_path / "nothere", folder / "q.toml"):
        assert main(["compare", str(run), str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and str(bad) in err
    assert main(["compare", str(run)]) == 2
    assert "two or more" in capsys.readouterr().err


def test_compare_refuses_an_unfinished_run(quartic_run, tmp_path, capsys):
    run, dtype = quartic_run
    if dtype == "float64":
        pytest.skip("the float32 run covers it")
    import shutil

    shutil.copytree(run, tmp_path / "stopped")
    summary = json.loads((tmp_path / "stopped" / "summary.json").read_text())
    summary["status"] = "incomplete"
    (tmp_path / "stopped" / "summary.json").write_text(json.dumps(summary))
    assert main(["compare", str(run), str(tmp_path / "stopped")]) == 2
    assert "incomplete, not finished" in capsys.readouterr().err


def test_the_verdict_names_no_faster_optimizer_when_the_median_steps_tie():
    row = lambda label, steps: {"label": label, "median_final_loss": 0.2544, "median_final_loss_ci": [0.2544, 0.2544],  # noqa: E731
                                "diverged": 0, "runs": 4, "p_value": 1.0, "median_steps_to_tol": steps}
    tie = stats.verdict([row("newton", 2.0), row("gauss_newton", 2.0)], seeds=4, tol_set=True)
    assert "as fast" in tie and "fastest" not in tie
    ahead = stats.verdict([row("newton", 2.0), row("gauss_newton", 5.0)], seeds=4, tol_set=True)
    assert "newton got within tolerance fastest, in 2 steps (median), against 5 for gauss_newton" in ahead
