"""Search spaces: ranges sampled by a scrambled Halton sequence (against scipy's own), every sample
and seed in one compiled program, configs with ranges end to end, and bad ranges refused."""

import json
import re

import jax
import numpy as np
import pytest
from scipy.stats import qmc

import jaxgrad as jg
from jaxgrad import cache
from jaxgrad.cli import main
from jaxgrad.optimizers import search


def test_samples_lie_in_their_ranges_and_follow_scipys_halton_sequence():
    grid = {"learning_rate": jg.log_uniform(1e-4, 1e-1), "b1": jg.uniform(0.8, 0.99)}
    points = search.settings(grid, samples=16, seed=3)
    u = qmc.Halton(d=2, scramble=True, rng=3).random(16)  # the reference, mapped by hand
    np.testing.assert_allclose([p["learning_rate"] for p in points], 10 ** (-4 + 3 * u[:, 0]), rtol=1e-12)
    np.testing.assert_allclose([p["b1"] for p in points], 0.8 + 0.19 * u[:, 1], rtol=1e-12)
    lr = np.log10([p["learning_rate"] for p in points])
    assert np.all((lr >= -4) & (lr <= -1))
    assert np.histogram(lr, bins=4, range=(-4, -1))[0].tolist() == [4, 4, 4, 4]  # low discrepancy: 4 per quarter
    assert points == search.settings(grid, samples=16, seed=3)  # deterministic for a seed
    assert points != search.settings(grid, samples=16, seed=4)


def test_lists_combine_with_the_samples_as_a_product():
    grid = {"learning_rate": jg.log_uniform(1e-3, 1e-1), "momentum": [0.5, 0.9]}
    points = search.settings(grid, samples=5, seed=0)
    assert len(points) == 10 and [p["momentum"] for p in points[:2]] == [0.5, 0.9]
    assert list(points[0]) == ["learning_rate", "momentum"]


def test_every_sample_and_seed_runs_in_one_compiled_program():
    problem = jg.problems.make("rosenbrock")
    grid = {"learning_rate": jg.log_uniform(1e-4, 1e-2)}
    trace = jg.sweep(problem, "adam", grid, seeds=3, steps=20, samples=8, search_seed=0)
    assert trace.loss.shape == (8, 3, 21)
    before = cache.traces("sweep")
    again = jg.sweep(problem, "adam", grid, seeds=3, steps=20, samples=8, search_seed=1)  # new values: data
    assert cache.traces("sweep") == before
    assert [s["learning_rate"] for s in again.settings] != [s["learning_rate"] for s in trace.settings]
    # each sample's runs equal a plain optax loop at that learning rate (seed 0)
    import optax

    lr = trace.settings[2]["learning_rate"]
    params = problem.init(jax.random.PRNGKey(0))
    opt = optax.adam(lr)
    state = opt.init(params)
    for _ in range(20):
        grads = jax.grad(problem.loss)(params)
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(trace.loss[2, 0, -1], problem.loss(params), rtol=2e-5)


CONFIG = """
steps = 30
seeds = 2
[[problems]]
name = "rosenbrock"
[[optimizers]]
name = "adam"
learning_rate = {lr}
samples = {samples}
"""


def test_a_config_with_ranges_runs_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    cfg = tmp_path / "s.toml"
    cfg.write_text(CONFIG.format(lr="{ log_uniform = [1e-3, 1e-1] }", samples=6) +
                   'b1 = { uniform = [0.8, 0.95] }\n')
    assert main(["run", str(cfg), "--out", str(tmp_path / "run"), "--quiet", "--no-plots"]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    (group,) = summary["groups"]
    assert group["sampled"] and len(group["settings"]) == 6
    expected = search.settings({"learning_rate": jg.log_uniform(1e-3, 1e-1), "b1": jg.uniform(0.8, 0.95)}, 6, 0)
    np.testing.assert_allclose([s["hyperparams"]["learning_rate"] for s in group["settings"]],
                               [p["learning_rate"] for p in expected], rtol=1e-7)
    values = [float(m.group(1)) for line in out.splitlines()
              for m in [re.match(r"^[ >]*lr=([0-9.e+-]+),", line)] if m]
    assert len(values) == 6 and values == sorted(values)  # the table lists samples by value
    verdict = summary["problems"][0]["verdict"]
    best = group["settings"][group["best"]]["label"]
    assert best in verdict  # the verdict names the best sample
    assert "{ log_uniform = [0.001, 0.1] }" in (tmp_path / "run" / "config.toml").read_text()
    # the search figure: every sample a point at its values, the best one ringed
    from jaxgrad.pictures import report

    fig = report.figure(tmp_path / "run", "search")
    ax = fig.axes[0]
    points, ring = ax.collections[0].get_offsets(), ax.collections[-1].get_offsets()
    assert len(points) == 6 and ax.get_xscale() == "log"
    chosen = group["settings"][group["best"]]["hyperparams"]
    np.testing.assert_allclose(ring[0], [chosen["learning_rate"], chosen["b1"]], rtol=1e-6)


@pytest.mark.parametrize("lr, samples, message", [
    ("{ log_uniform = [1e-1, 1e-3] }", 4, "learning_rate: log_uniform: the range must run from low to high"),
    ("{ log_uniform = [0.0, 1e-3] }", 4, "learning_rate: log_uniform: both ends must be positive"),
    ('{ uniform = ["a", 1e-3] }', 4, "learning_rate: uniform: lo must be a finite number"),
    ("{ normal = [1e-3, 1e-1] }", 4, "learning_rate: a range is"),
    ("{ log_uniform = [1e-3, 1e-1] }", 0, "optimizers.0.samples: must be a whole number from 1"),
    ("{ log_uniform = [1e-3, 1e-1] }", 10**9, "optimizers.0.samples: must be a whole number from 1"),
])
def test_bad_ranges_are_one_line_exit_2(lr, samples, message, tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.format(lr=lr, samples=samples))
    assert main(["run", str(cfg), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {cfg}: optimizers.0.") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()


def test_the_bench_tunes_on_halton_samples_in_one_program(capsys):
    from jaxgrad.lab import bench

    result = bench.run_suite({"problems": ["quadratic-k10"], "optimizers": ["sgd"], "lr_grid": [1e-3, 1e-1],
                              "tune_samples": 5, "steps": 60, "tune_seeds": 2, "eval_seeds": 2}, quick=True)
    (row,) = result["results"]
    tried = [t["setting"]["learning_rate"] for t in row["tuning"]]
    expected = [p["learning_rate"] for p in search.settings({"learning_rate": jg.log_uniform(1e-3, 1e-1)}, 5, 0)]
    np.testing.assert_allclose(tried, expected, rtol=1e-6)
    assert row["best_setting"]["learning_rate"] in tried and result["options"]["tune_samples"] == 5
    assert main(["bench", "--quick", "--tune-samples", "0"]) == 2
    assert "--tune-samples: tune_samples" in capsys.readouterr().err
