"""The optimizer benchmark: the quick suite end to end, performance profiles, tuning."""

import base64
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import jaxgrad as jg
from jaxgrad.cli import main
from jaxgrad.errors import InputError
from jaxgrad.lab import bench

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64


def test_performance_profile_on_a_hand_made_table():
    inf = np.inf
    # 3 problems x 3 solvers (steps to target); solver 2 fails problem 1; nobody solves problem 2
    costs = np.array([[10.0, 20.0, 40.0],
                      [5.0, 5.0, inf],
                      [inf, inf, inf]])
    taus = np.array([1.0, 2.0, 3.9, 4.0, 100.0])
    rho = bench.performance_profile(costs, taus)
    # ratios: p0 -> 1, 2, 4; p1 -> 1, 1, inf; p2 -> inf for all
    expected = np.array([[2 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3],
                         [1 / 3, 2 / 3, 2 / 3, 2 / 3, 2 / 3],
                         [0.0, 0.0, 0.0, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(rho, expected)


def test_tuning_picks_two_over_l_plus_mu_for_gradient_descent_on_a_quadratic():
    kappa = 10.0  # quadratic-k10: eigenvalues in [1, 10], so L = 10, mu = 1
    best = 2.0 / (kappa + 1.0)
    grid = [0.5 * best, 0.8 * best, best, 1.08 * best]
    result = bench.run_suite({"problems": ["quadratic-k10"], "optimizers": ["sgd"], "lr_grid": grid, "steps": 150,
                              "tune_seeds": 2, "eval_seeds": 2})
    (row,) = result["results"]
    assert row["best_setting"]["learning_rate"] == pytest.approx(best)
    steps = [t["median_steps_to_target"] for t in row["tuning"]]
    assert steps[2] == min(s for s in steps if s is not None)
    # the rate (kappa-1)/(kappa+1) per step for the slowest mode bounds the steps needed
    assert row["median_steps_to_target"] <= np.log(1e-6) / (2 * np.log((kappa - 1) / (kappa + 1))) + 5


def test_bench_end_to_end(tmp_path, capsys, monkeypatch):
    """The CLI end to end on a small suite (the --quick suite's protocol on fewer problems and seeds)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    out = tmp_path / "bench"
    config = tmp_path / "bench.toml"
    config.write_text('problems = ["quadratic-k100"]\noptimizers = ["sgd", "newton"]\n'
                      'steps = 100\ntune_seeds = 1\neval_seeds = 3\nlr_grid = [0.01, 0.1]\n')
    assert main(["bench", str(config), "--out", str(out), "--no-cache"]) == 0
    data = json.loads((out / "bench.json").read_text())
    assert not data["quick"] and data["protocol"].startswith("1. Every (problem, optimizer) is compiled once")
    assert data["versions"]["jax"] and data["device"]["platform"] == "cpu"
    assert len(data["results"]) == 2
    newton = [r for r in data["results"] if r["optimizer"] == "newton"]
    assert all(r["success_rate"] == 1.0 for r in newton)
    q = next(r for r in newton if r["problem"] == "quadratic-k100")
    assert q["median_steps_to_target"] == 1 and q["hessian_evaluations"] == 1
    page = (out / "index.html").read_text()
    for name in ("profile_steps.png", "profile_time.png", "lr_sensitivity.png"):
        assert (out / name).stat().st_size > 10_000
        assert base64.b64encode((out / name).read_bytes()).decode() in page  # embedded in the bench's page
    captured = capsys.readouterr()
    assert "pair 1/2: quadratic-k100 / sgd" in captured.err and "pair 2/2" in captured.err  # status on stderr
    assert "steps to" in captured.out and "target" in captured.out and "pair 1/2" not in captured.out
    assert max(map(len, captured.out.splitlines())) <= 80  # COLUMNS unset, not a terminal: 80 columns
    assert f"{1e3 * q['median_time_to_target']:.3g}" in captured.out.split()
    assert main(["bench", "--compare", str(out / "bench.json"), str(out / "bench.json")]) == 0
    assert "1.00" in capsys.readouterr().out
    # the same statistics as a run: Wilson's interval on the success rate, a bootstrap one on the time
    for r in data["results"]:
        n, k = len(r["eval_steps_to_target"]), sum(v is not None for v in r["eval_steps_to_target"])
        ci = scipy.stats.binomtest(k, n).proportion_ci(method="wilson")
        np.testing.assert_allclose(r["success_ci"], (ci.low, ci.high), rtol=1e-12, atol=1e-15)
        reached = [v for v in r["eval_steps_to_target"] if v is not None]
        if len(set(reached)) > 1:
            ref = scipy.stats.bootstrap((np.asarray(reached, float),), np.median, method="percentile",
                                        n_resamples=4000, rng=np.random.default_rng(0)).confidence_interval
            np.testing.assert_allclose(r["median_steps_to_target_ci"], (ref.low, ref.high))
    assert main(["compare", str(out), str(out / "bench.json")]) == 0  # a folder or its bench.json
    text = capsys.readouterr().out
    assert "ms to target" in text and "no difference the seeds can tell" in text


@pytest.mark.parametrize(
    "config, message",
    [
        ({"problems": ["rosenbrok-2d"]}, "did you mean 'rosenbrock-2d'"),
        ({"optimizers": ["adma"]}, "did you mean 'adam'"),
        ({"stepz": 3}, "did you mean 'steps'"),
        ({"lr_grid": [0.1, -1.0]}, "positive learning rates"),
    ],
)
def test_bench_config_errors(config, message):
    with pytest.raises(InputError, match=message):
        bench.run_suite(config, quick=True)


def test_bench_cli_bad_input(tmp_path, capsys):
    assert main(["bench", "--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "b.toml"
    bad.write_text("problems = [\n")
    assert main(["bench", str(bad)]) == 2
    assert "invalid TOML" in capsys.readouterr().err


def test_a_bench_file_is_resolved_once_into_a_frozen_config(tmp_path):
    import dataclasses

    from jaxgrad.lab.bench.schema import load_bench_config

    path = tmp_path / "bench.toml"
    path.write_text('steps = 50\nlr_grid = [0.01, 0.1]\nproblems = ["beale"]\n')
    cfg = load_bench_config(path, bench.QUICK, [s.name for s in bench.SUITE], list(bench.OPTIMIZERS))
    assert (cfg.steps, cfg.lr_grid, cfg.problems) == (50, (0.01, 0.1), ("beale",))
    assert (cfg.optimizers, cfg.eval_seeds) == (bench.QUICK.optimizers, bench.QUICK.eval_seeds)  # the quick defaults
    assert bench.resolve(cfg) is cfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3


@pytest.mark.parametrize(
    "text, message",
    [
        ("stepz = 3", "bench.toml: stepz: unknown bench key (did you mean 'steps'?)"),
        ('problems = ["beale", "rosenbrok-2d"]', "bench.toml: problems.1: unknown 'rosenbrok-2d' (did you mean"),
        ("lr_grid = [0.1, 0]", "bench.toml: lr_grid.1: must be a list of positive learning rates"),
        ("eval_seeds = 0", "bench.toml: eval_seeds: must be at least 1"),
        ('precision = "float16"', "bench.toml: precision: must be one of float32, float64"),
    ],
)
def test_bench_file_errors_name_the_file_and_the_field(tmp_path, capsys, text, message):
    path = tmp_path / "bench.toml"
    path.write_text(text + "\n")
    assert main(["bench", str(path), "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_profiles_say_when_an_optimizer_ran_on_fewer_problems():
    rows = [("quadratic", "sgd"), ("quadratic", "newton"), ("mlp", "sgd"), ("mlp", "gauss-newton"),
            ("mlp", "newton")]
    fake = {"results": [{"problem": p, "optimizer": o} for p, o in rows]}
    assert bench.profile_labels(fake) == ["sgd", "newton", "gauss-newton (1 of 2 run)"]


def test_evaluation_reuses_the_tuning_program_and_equals_a_fresh_sweep():
    from jaxgrad import cache
    from jaxgrad.lab import bench as bench_module

    config = {"steps": 30, "tune_seeds": 2, "eval_seeds": 5, "problems": ["rosenbrock-2d"], "optimizers": ["adam"],
              "lr_grid": [0.01, 0.1]}
    before = cache.traces("sweep")
    result = bench_module.run_suite(config)
    # one program for the pair: its executable runs the tuning (one call per learning rate), the
    # evaluation (fresh keys as data) and so the timing
    assert cache.traces("sweep") - before == 1
    r = result["results"][0]
    with jax.enable_x64(True):
        problem = jg.problems.make("rosenbrock", dim=2)
        keys = jax.vmap(jax.random.PRNGKey)(10_000 + jnp.arange(5))  # the bench's fresh seeds
        fresh = jg.sweep(problem, "adam", {}, keys=keys, steps=30, fixed=r["best_setting"])
    gaps = np.asarray(fresh.loss, np.float64)[0, :, -1] - problem.minimum
    np.testing.assert_allclose(r["eval_final_gap"], gaps, rtol=1e-12, atol=1e-300)
