"""Optimizers and the engine: published update rules, Newton, divergence, sweeps, sharding."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize

from jaxgrad import cache, optimizers, problems
from jaxgrad.engine import minimize, minimize_from, sweep
from jaxgrad.errors import InputError

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64


def rosen(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_grad_np(x):
    g = np.zeros_like(x)
    r = x[1:] - x[:-1] ** 2
    g[:-1] += -400 * x[:-1] * r - 2 * (1 - x[:-1])
    g[1:] += 200 * r
    return g


# --- the published update rules, re-implemented in NumPy --------------------------------


def numpy_sgd(x, steps, lr):
    out = [x.copy()]
    for _ in range(steps):
        x = x - lr * rosen_grad_np(x)
        out.append(x.copy())
    return np.array(out)


def numpy_momentum(x, steps, lr, mu, nesterov=False):
    v = np.zeros_like(x)
    out = [x.copy()]
    for _ in range(steps):
        g = rosen_grad_np(x)
        v = mu * v + g  # PyTorch: buf = mu * buf + g
        x = x - lr * (g + mu * v if nesterov else v)
        out.append(x.copy())
    return np.array(out)


def numpy_adam(x, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    m, v = np.zeros_like(x), np.zeros_like(x)
    out = [x.copy()]
    for t in range(1, steps + 1):
        g = rosen_grad_np(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat, vhat = m / (1 - b1**t), v / (1 - b2**t)
        x = x - lr * mhat / (np.sqrt(vhat) + eps)
        out.append(x.copy())
    return np.array(out)


@pytest.mark.parametrize(
    "name, hp, reference",
    [
        ("sgd", {"learning_rate": 1e-3}, lambda x: numpy_sgd(x, 60, 1e-3)),
        ("momentum", {"learning_rate": 1e-4, "momentum": 0.9}, lambda x: numpy_momentum(x, 60, 1e-4, 0.9)),
        ("nesterov", {"learning_rate": 1e-4, "momentum": 0.9}, lambda x: numpy_momentum(x, 60, 1e-4, 0.9, True)),
        ("adam", {"learning_rate": 1e-2}, lambda x: numpy_adam(x, 60, 1e-2)),
        ("adam", {"learning_rate": 3e-2, "b1": 0.8, "b2": 0.99, "eps": 1e-6},
         lambda x: numpy_adam(x, 60, 3e-2, 0.8, 0.99, 1e-6)),
    ],
)
def test_trajectories_equal_numpy_update_rules(name, hp, reference):
    x0 = np.array([-1.2, 1.0, 0.5, -0.3])
    trace = minimize(rosen, jnp.asarray(x0), optimizers.make(name, **hp), 60, record_params=True)
    np.testing.assert_allclose(trace.params, reference(x0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(trace.loss, [float(rosen(jnp.asarray(p))) for p in reference(x0)], rtol=1e-10)


def test_trace_shapes_and_norms():
    x0 = jnp.asarray([-1.2, 1.0])
    t = minimize(rosen, x0, optimizers.make("sgd", learning_rate=1e-3), 10, record_params=True)
    assert t.loss.shape == (11,) and t.grad_norm.shape == (11,) and t.update_norm.shape == (10,)
    assert t.params.shape == (11, 2) and t.steps == 10
    np.testing.assert_allclose(t.grad_norm, np.linalg.norm([rosen_grad_np(np.asarray(p)) for p in t.params], axis=1))
    np.testing.assert_allclose(t.update_norm, np.linalg.norm(np.diff(np.asarray(t.params), axis=0), axis=1), rtol=1e-10)
    np.testing.assert_array_equal(t.final_params, t.params[-1])


# --- Newton -----------------------------------------------------------------------------


def test_newton_solves_a_random_quadratic_in_one_step():
    p = problems.make("quadratic", dim=8, condition_number=1e4, key=11)
    t = minimize(p.loss, p.init(jax.random.PRNGKey(0)), optimizers.make("newton"), 1)
    np.testing.assert_allclose(t.final_params, p.argmin, rtol=1e-9, atol=1e-9)
    assert float(t.loss[1]) < 1e-18


def test_newton_on_linear_regression_reaches_least_squares():
    p = problems.make("linear_regression", n=80, features=3, key=4)
    t = minimize(p.loss, p.init(jax.random.PRNGKey(1)), optimizers.make("newton"), 2)
    np.testing.assert_allclose(t.final_params["w"], p.argmin["w"], rtol=1e-10)
    np.testing.assert_allclose(t.final_params["b"], p.argmin["b"], rtol=1e-10, atol=1e-12)
    assert float(t.loss[-1]) == pytest.approx(p.minimum, rel=1e-12)


def test_logistic_regression_reaches_scipy_optimum():
    p = problems.make("logistic_regression", n=200, features=3, key=9)
    X, y = (np.asarray(a) for a in p.data)

    def bce(theta):
        z = X @ theta[:3] + theta[3]
        return np.mean(np.logaddexp(0, z) - y * z)

    def bce_grad(theta):
        z = X @ theta[:3] + theta[3]
        r = 1 / (1 + np.exp(-z)) - y
        return np.append(X.T @ r, r.sum()) / len(y)

    ref = scipy.optimize.minimize(bce, np.zeros(4), jac=bce_grad, method="BFGS", options={"gtol": 1e-13})
    zero = {"w": jnp.zeros(3), "b": jnp.asarray(0.0)}
    for name, hp, steps in [("newton", {"linesearch": True}, 30), ("lbfgs", {}, 200), ("newton_cg", {}, 40)]:
        t = minimize(p.loss, zero, optimizers.make(name, **hp), steps)
        got = np.append(t.final_params["w"], t.final_params["b"])
        np.testing.assert_allclose(got, ref.x, atol=1e-7, err_msg=name)


def test_newton_variants_on_rosenbrock_converge():
    x0 = jnp.asarray([-1.2, 1.0])
    for hp in [{"linesearch": True}, {"adaptive": True}, {"saddle_free": True, "linesearch": True}]:
        t = minimize(rosen, x0, optimizers.make("newton", **hp), 100, tol=1e-10)
        assert t.converged_step is not None and t.converged_step < 60, hp
        np.testing.assert_allclose(t.final_params, [1.0, 1.0], atol=1e-9)
    t = minimize(rosen, x0, optimizers.make("newton_cg"), 100, tol=1e-10)
    np.testing.assert_allclose(t.final_params, [1.0, 1.0], atol=1e-8)


def test_newton_cg_equals_newton_on_a_quadratic():
    p = problems.make("quadratic", dim=6, condition_number=50.0, key=2)
    x0 = p.init(jax.random.PRNGKey(3))
    exact = minimize(p.loss, x0, optimizers.make("newton"), 1).final_params
    cg = minimize(p.loss, x0, optimizers.make("newton_cg", tol=1e-12, linesearch=False), 1).final_params
    np.testing.assert_allclose(cg, exact, rtol=1e-8)


def test_saddle_free_newton_escapes_a_saddle_that_newton_converges_to():
    f = lambda v: v[0] ** 2 - v[1] ** 2 + v[1] ** 4  # saddle at 0, minima at y = ±1/√2
    x0 = jnp.asarray([0.3, 0.1])
    plain = minimize(f, x0, optimizers.make("newton"), 30).final_params
    free = minimize(f, x0, optimizers.make("newton", saddle_free=True, linesearch=True), 60).final_params
    np.testing.assert_allclose(plain, [0, 0], atol=1e-8)
    np.testing.assert_allclose(np.abs(free), [0, 1 / np.sqrt(2)], atol=1e-6)


def test_levenberg_marquardt_rejects_bad_steps_and_adapts_damping():
    f = lambda v: jnp.sum(jnp.log1p(v**2))  # Newton from |v| > 1 goes the wrong way
    opt = optimizers.make("newton", adaptive=True)
    x = jnp.asarray([2.0])
    state = opt.init(x)
    u, state = opt.update(jax.grad(f)(x), state, x, value_fn=f)
    newton_state = optax.tree.get(state, "NewtonState")  # the Newton direction's state, inside the chain
    assert float(newton_state.damping) > 1e-3  # rejected: λ grew
    t = minimize(f, x, opt, 60)
    assert float(t.loss[-1]) < 1e-12


def test_newton_needs_value_fn():
    opt = optimizers.make("newton")
    with pytest.raises(TypeError, match="value_fn"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)), jnp.ones(2))


# --- divergence, convergence, retracing ---------------------------------------------------


def test_huge_learning_rate_records_divergence_without_raising():
    t = minimize(rosen, jnp.asarray([-1.2, 1.0]), optimizers.make("sgd", learning_rate=10.0), 50)
    assert t.diverged_step is not None and 0 < t.diverged_step < 10
    assert np.all(np.isfinite(t.loss)) and np.all(np.isfinite(t.final_params))
    assert np.all(np.asarray(t.loss[t.diverged_step:]) == float(t.loss[t.diverged_step]))  # frozen
    ok = minimize(rosen, jnp.asarray([-1.2, 1.0]), optimizers.make("sgd", learning_rate=1e-4), 50)
    assert ok.diverged_step is None


def test_converged_step_is_the_first_within_tolerance():
    f = lambda x: jnp.sum((x - 3.0) ** 2)
    t = minimize(f, jnp.zeros(2), optimizers.make("sgd", learning_rate=0.1), 100, tol=1e-6)
    # gradient norm 2|x - 3|√2 shrinks by 0.8 per step from 6√2
    expected = int(np.ceil(np.log(1e-6 / (6 * np.sqrt(2))) / np.log(0.8)))
    assert t.converged_step == expected


def test_minimize_does_not_retrace_on_second_call():
    traces = []

    def f(x):
        traces.append(1)
        return jnp.sum(jnp.cosh(x))

    opt = optimizers.make("adam", learning_rate=0.1)
    minimize(f, jnp.ones(3), opt, 20)
    n = len(traces)
    minimize(f, -2 * jnp.ones(3), optimizers.make("adam", learning_rate=0.1), 20)  # same hp: same object
    assert len(traces) == n


def test_sweep_does_not_retrace_for_new_values():
    p = problems.make("rosenbrock")
    sweep(p, "adam", {"learning_rate": [1e-3, 1e-2]}, seeds=2, steps=5)
    traced = cache.traces("sweep")
    sweep(p, "adam", {"learning_rate": [5e-3, 2e-2]}, seeds=2, steps=5)
    assert cache.traces("sweep") == traced


# --- sweeps -------------------------------------------------------------------------------


@pytest.mark.parametrize("settings, seeds, rows", [(1, 4, 4), (2, 3, 6), (4, 4, 16), (4, 3, 16), (3, 3, 16)])
def test_a_sweep_computes_its_runs_below_a_block_and_whole_blocks_above(settings, seeds, rows):
    """On one device a sweep of n < 8 runs computes n (no padding); 8 or more come in whole
    blocks of 8 (at most 7 repeated, so each run's bits match any split layout)."""
    from jaxgrad.engine import plan_sweep
    from jaxgrad.engine.run import RUN_BLOCK, run_layout

    grid = {"learning_rate": list(np.linspace(0.01, 0.05, settings))}
    plan = plan_sweep(problems.make("quadratic", dim=3), "sgd", grid, seeds=seeds, steps=3)
    lowered = plan.program.lower(*plan.args, **plan.kwargs)
    batch = {leaf.shape[0] for leaf in jax.tree_util.tree_leaves(lowered.in_avals[0][:3])}
    assert batch == {rows} and plan.n_runs == settings * seeds
    assert run_layout(settings * seeds, 1) == (1, rows)
    # split over devices: fewer than a block stay whole on one device; more come in whole blocks
    assert run_layout(5, 4) == (1, 5) and run_layout(9, 3) == (3, 3 * RUN_BLOCK)
    assert run_layout(40, 2) == (2, 48) and run_layout(64, 4) == (4, 64)
    t = plan.run()  # and the runs it returns are the sweep's, the repeated ones dropped
    assert t.loss.shape == (settings, seeds, 4)
    problem = problems.make("quadratic", dim=3)
    single = minimize(problem.loss, problem.init(jax.random.PRNGKey(seeds - 1)), optax.sgd(grid["learning_rate"][-1]), 3)
    np.testing.assert_allclose(t.loss[-1, -1], single.loss, rtol=1e-5)


def test_sweep_equals_single_runs():
    p = problems.make("rosenbrock", dim=3)
    lrs = [1e-3, 3e-3]
    t = sweep(p, "adam", {"learning_rate": lrs, "b1": [0.8, 0.9]}, seeds=3, steps=40)
    assert t.loss.shape == (4, 3, 41) and t.final_params.shape == (4, 3, 3)
    assert [s["learning_rate"] for s in t.settings] == [1e-3, 1e-3, 3e-3, 3e-3]
    for i, setting in enumerate(t.settings):
        for s in range(3):
            single = minimize(p.loss, p.init(jax.random.PRNGKey(s)), optimizers.make("adam", **setting), 40)
            np.testing.assert_allclose(t.loss[i, s], single.loss, rtol=1e-12)
            np.testing.assert_allclose(t.final_params[i, s], single.final_params, rtol=1e-12)


def test_sweep_on_pytree_problem_with_minibatches_is_deterministic():
    p = problems.make("linear_regression", n=64, features=2)
    a = sweep(p, "sgd", {"learning_rate": [0.05]}, seeds=2, steps=30, batch_size=8)
    b = sweep(p, "sgd", {"learning_rate": [0.05]}, seeds=2, steps=30, batch_size=8)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert not np.allclose(a.loss[0, 0], a.loss[0, 1])
    full = sweep(p, "sgd", {"learning_rate": [0.05]}, seeds=2, steps=30)
    assert not np.allclose(a.loss, full.loss)  # stochastic gradients differ from full ones
    assert float(a.loss[0, 0, -1]) < float(a.loss[0, 0, 0])


def test_sweep_newton_and_lbfgs_fixed_hyperparameters():
    p = problems.make("rosenbrock", x0=(-1.2, 1.0))
    t = sweep(p, "newton", seeds=2, steps=40, tol=1e-10, fixed={"linesearch": True})
    assert np.all(t.converged_step > 0)
    t = sweep(p, "lbfgs", seeds=1, steps=60, tol=1e-8)
    assert np.all(t.converged_step > 0)


def test_sweep_errors():
    p = problems.make("rosenbrock")
    with pytest.raises(InputError, match="did you mean 'learning_rate'"):
        sweep(p, "adam", {"learnig_rate": [0.1]}, seeds=1, steps=2)
    with pytest.raises(InputError, match="only float hyperparameters"):
        sweep(p, "newton", {"linesearch": [True, False]}, seeds=1, steps=2)
    with pytest.raises(InputError, match="learning_rate must be > 0"):
        sweep(p, "sgd", {"learning_rate": [0.1, -1.0]}, seeds=1, steps=2)
    with pytest.raises(InputError, match="steps must be at least 1"):
        sweep(p, "sgd", {"learning_rate": [0.1]}, seeds=1, steps=0)


def test_mlp_default_is_learnable():
    p = problems.make("mlp")
    t = sweep(p, "adam", {"learning_rate": [1e-2]}, seeds=2, steps=500)
    assert np.all(np.asarray(t.loss[..., -1]) * 10 <= np.asarray(t.loss[..., 0]))


def test_minimize_from_is_vmapped_minimize():
    starts = jnp.asarray([[-1.2, 1.0], [0.5, 0.5], [2.0, -1.0]])
    opt = optimizers.make("newton", linesearch=True)
    many = minimize_from(rosen, starts, opt, 30)
    for i in range(3):
        np.testing.assert_allclose(many.final_params[i], minimize(rosen, starts[i], opt, 30).final_params, rtol=1e-12)


SHARDED_SWEEP = textwrap.dedent(
    """
    import json, jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    from jaxgrad import problems
    from jaxgrad.engine import sweep
    p = problems.make("rosenbrock", dim=3)
    many = sweep(p, "adam", {"learning_rate": [1e-3, 1e-2, 3e-2]}, seeds=3, steps=50)   # 9 runs on 4 devices
    one = sweep(p, "adam", {"learning_rate": [1e-3, 1e-2, 3e-2]}, seeds=3, steps=50, devices=1)
    print(json.dumps({"devices": jax.device_count(), "shape": list(many.loss.shape),
                      "diff": float(np.max(np.abs(np.asarray(many.loss) - np.asarray(one.loss))))}))
    """
)


def test_sweep_over_four_cpu_devices_equals_one():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = subprocess.run([sys.executable, "-c", SHARDED_SWEEP], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4 and report["shape"] == [3, 3, 51]
    assert report["diff"] <= 1e-12


def test_optimizer_registry_errors_and_schedules():
    with pytest.raises(InputError, match="did you mean 'adam'"):
        optimizers.make("adma")
    with pytest.raises(InputError, match="b1 must be < 1.0"):
        optimizers.make("adam", b1=1.0)
    with pytest.raises(InputError, match="schedule must be one of"):
        optimizers.make("sgd", schedule="linear")
    # a cosine schedule from 0.1 to 0 over 10 steps: the step sizes follow it exactly
    opt = optimizers.make("sgd", learning_rate=0.1, schedule="cosine", decay_steps=10)
    f = lambda x: jnp.sum(x)  # gradient 1: each update is -lr_k
    t = minimize(f, jnp.zeros(1), opt, 10, record_params=True)
    lrs = -np.diff(np.asarray(t.params)[:, 0])
    np.testing.assert_allclose(lrs, 0.05 * (1 + np.cos(np.pi * np.arange(10) / 10)), rtol=1e-12)
    clipped = minimize(lambda x: 100 * jnp.sum(x), jnp.zeros(2), optimizers.make("sgd", learning_rate=1.0, clip_norm=1.0), 1)
    np.testing.assert_allclose(jnp.linalg.norm(clipped.final_params), 1.0, rtol=1e-12)
