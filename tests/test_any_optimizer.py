"""Any optimizer a user brings: optax transformations, factories, configs, the bench; floats are data."""

import contextlib
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgrad as jg
from jaxgrad import optimizers, problems
from jaxgrad.errors import InputError

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compiles():
    """Counts XLA compilations (jax.monitoring's backend-compile events) inside the block."""
    events = []

    def listen(event, duration, **kwargs):
        if event == COMPILE_EVENT:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def optax_loop(loss, params, tx, steps):
    """The plain optax loop a user writes: the independent reference."""
    state = tx.init(params)
    losses = [loss(params)]
    for _ in range(steps):
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = tx.update(grads, state, params, value=value, grad=grads, value_fn=loss)
        params = optax.apply_updates(params, updates)
        losses.append(loss(params))
    return np.asarray(losses), params


def test_sweep_over_adamw_learning_rate_and_weight_decay_equals_plain_optax_loops():
    p = problems.make("rosenbrock", dim=3)
    grid = {"learning_rate": [1e-3, 1e-2], "weight_decay": [0.0, 1e-2]}
    t = jg.sweep(p, optax.adamw, grid, seeds=2, steps=30)
    assert t.loss.shape == (4, 2, 31)
    for i, setting in enumerate(t.settings):
        for s in range(2):
            losses, final = optax_loop(p.loss, p.init(jax.random.PRNGKey(s)), optax.adamw(**setting), 30)
            np.testing.assert_allclose(t.loss[i, s], losses, rtol=1e-10, atol=1e-14)
            np.testing.assert_allclose(t.final_params[i, s], final, rtol=1e-10, atol=1e-14)


def test_sweep_over_newton_damping_runs_and_its_zero_row_is_plain_newton():
    p = problems.make("rosenbrock")
    t = jg.sweep(p, "newton", {"damping": [0.0, 0.1, 1.0]}, seeds=2, steps=15)
    for s in range(2):
        plain = jg.minimize(p.loss, p.init(jax.random.PRNGKey(s)), optimizers.make("newton"), 15)
        # vmapped and single LAPACK solves round differently (relative 1e-11 seen)
        np.testing.assert_allclose(t.loss[0, s], plain.loss, rtol=1e-9, atol=1e-14)
        # an independent reference for a damped row: (H + λI) p = g solved with NumPy, step by step
        x = np.asarray(p.init(jax.random.PRNGKey(s)))
        for _ in range(15):
            g, H = np.asarray(jax.grad(p.loss)(x)), np.asarray(jax.hessian(p.loss)(x))
            x = x - np.linalg.solve(H + 1.0 * np.eye(2), g)
        np.testing.assert_allclose(t.final_params[2, s], x, rtol=1e-9)


def test_a_users_chain_runs_in_minimize_and_sweep():
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2))
    p = problems.make("rosenbrock")
    x0 = p.init(jax.random.PRNGKey(0))
    losses, final = optax_loop(p.loss, x0, tx, 40)
    t = jg.minimize(p.loss, x0, tx, 40)
    np.testing.assert_allclose(t.loss, losses, rtol=1e-12)
    sw = jg.sweep(p, tx, seeds=1, steps=40)
    np.testing.assert_allclose(sw.loss[0, 0], losses, rtol=1e-12)
    np.testing.assert_allclose(sw.final_params[0, 0], final, rtol=1e-12)


def test_a_factory_lambda_sweeps_every_float():
    factory = lambda learning_rate, clip: optax.chain(optax.clip_by_global_norm(clip), optax.sgd(learning_rate))  # noqa: E731
    p = problems.make("quadratic", dim=4, condition_number=10.0)
    t = jg.sweep(p, factory, {"learning_rate": [0.01, 0.1], "clip": [0.5, 5.0]}, seeds=1, steps=20)
    for i, setting in enumerate(t.settings):
        losses, _ = optax_loop(p.loss, p.init(jax.random.PRNGKey(0)), factory(**setting), 20)
        np.testing.assert_allclose(t.loss[i, 0], losses, rtol=1e-10)


def test_registry_optimizers_keep_their_floats_in_state():
    opt = optimizers.make("adam", learning_rate=0.05, b1=0.8)
    state = opt.init(jnp.zeros(3))
    assert float(state.hyperparams["learning_rate"]) == 0.05
    assert float(state.hyperparams["b1"]) == 0.8
    # the same update as optax.adam with those values
    g = jnp.asarray([1.0, -2.0, 0.5])
    u, _ = opt.update(g, state, jnp.zeros(3))
    ref, _ = optax.adam(0.05, b1=0.8).update(g, optax.adam(0.05, b1=0.8).init(jnp.zeros(3)))
    np.testing.assert_allclose(u, ref, rtol=1e-12)


def test_minimize_with_three_learning_rates_adds_no_trace_of_the_loss():
    traces = []

    def f(x):
        traces.append(1)
        return jnp.sum(jnp.cosh(x) + x**2)

    x0 = jnp.ones(3)
    first = jg.minimize(f, x0, optimizers.make("sgd", learning_rate=0.1), 10)
    n = len(traces)
    with count_compiles() as compiles:
        others = [jg.minimize(f, x0, optimizers.make("sgd", learning_rate=lr), 10) for lr in (0.01, 0.02, 0.05)]
    assert len(traces) == n and compiles == []
    # and the values are those of each learning rate (not the first one's)
    for lr, t in zip((0.01, 0.02, 0.05), others):
        losses, _ = optax_loop(f, x0, optax.sgd(lr), 10)
        np.testing.assert_allclose(t.loss, losses, rtol=1e-12)
    assert not np.allclose(first.loss, others[0].loss)


def test_a_ready_transformation_compiles_once_per_object():
    f = lambda x: jnp.sum((x - 1.0) ** 2)  # noqa: E731
    tx = optax.adam(1e-2)
    jg.minimize(f, jnp.zeros(2), tx, 10)
    with count_compiles() as compiles:
        jg.minimize(f, jnp.ones(2), tx, 10)
    assert compiles == []


def test_sweep_on_a_rebuilt_problem_does_not_recompile_or_retrace():
    jg.sweep(problems.make("rosenbrock"), "adam", {"learning_rate": [1e-3, 1e-2]}, seeds=2, steps=5)
    with count_compiles() as compiles:
        t = jg.sweep(problems.make("rosenbrock"), "adam", {"learning_rate": [5e-3, 2e-2]}, seeds=2, steps=5)
    assert compiles == []
    single = jg.minimize(problems.make("rosenbrock").loss, problems.make("rosenbrock").init(jax.random.PRNGKey(1)),
                         optimizers.make("adam", learning_rate=2e-2), 5)
    np.testing.assert_allclose(t.loss[1, 1], single.loss, rtol=1e-12)

    traces = []

    def objective(x, data):
        traces.append(1)
        return jnp.sum((x - data) ** 2)

    def build():
        return problems.Problem("mine", objective, init_fn=lambda key: jax.random.normal(key, (3,)),
                                data=jnp.asarray([1.0, 2.0, 3.0]))

    jg.sweep(build(), "sgd", {"learning_rate": [0.1, 0.2]}, seeds=2, steps=5)
    n = len(traces)
    with count_compiles() as compiles:
        t = jg.sweep(build(), "sgd", {"learning_rate": [0.3, 0.4]}, seeds=2, steps=5)
    assert len(traces) == n and compiles == []
    x0 = build().init(jax.random.PRNGKey(0))
    losses, _ = optax_loop(lambda x: jnp.sum((x - jnp.asarray([1.0, 2.0, 3.0])) ** 2), x0, optax.sgd(0.3), 5)
    np.testing.assert_allclose(t.loss[0, 0], losses, rtol=1e-12)


def test_float32_sweep_of_a_factory_matches_optax_in_float32():
    with jax.enable_x64(False):
        p = problems.make("rosenbrock")
        t = jg.sweep(p, optax.adamw, {"learning_rate": [1e-2]}, seeds=1, steps=20)
        assert t.loss.dtype == jnp.float32
        losses, _ = optax_loop(p.loss, p.init(jax.random.PRNGKey(0)), optax.adamw(1e-2), 20)
    np.testing.assert_allclose(t.loss[0, 0], losses, rtol=2e-5)


def test_newton_pieces_chain_with_optax_zoom_linesearch():
    p = problems.make("rosenbrock", x0=[-1.2, 1.0])
    tx = optax.chain(optimizers.scale_by_newton(descent_guard=True), optax.scale(-1.0),
                     optax.scale_by_zoom_linesearch(max_linesearch_steps=30, initial_guess_strategy="one"))
    t = jg.minimize(p.loss, p.init(None), tx, 40, tol=1e-8)
    assert t.converged_step is not None and t.converged_step < 40
    np.testing.assert_allclose(t.final_params, [1.0, 1.0], atol=1e-8)
    cg = optax.chain(optimizers.scale_by_newton_cg(descent_guard=True), optax.scale(-1.0),
                     optax.scale_by_backtracking_linesearch(max_backtracking_steps=30))
    t = jg.minimize(p.loss, p.init(None), cg, 60, tol=1e-8)
    np.testing.assert_allclose(t.final_params, [1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("bad, match", [
    (lambda x: x ** 2, "real scalar"),
    (lambda x: jnp.sum(x).astype(jnp.int32), "real scalar"),
])
def test_a_non_scalar_loss_is_refused_at_entry(bad, match):
    with pytest.raises(InputError, match=match):
        jg.minimize(bad, jnp.ones(3), "sgd", 5)


@pytest.mark.parametrize("bad", [42, "adamm", optax.adam])
def test_an_optimizer_that_is_not_a_transformation_is_refused(bad):
    with pytest.raises(InputError, match="optimizer"):
        jg.minimize(lambda x: jnp.sum(x**2), jnp.ones(2), bad, 5)


def test_a_sweep_factory_with_an_unknown_keyword_suggests_the_nearest():
    with pytest.raises(InputError, match="did you mean 'learning_rate'"):
        jg.sweep(problems.make("rosenbrock"), optax.adamw, {"learnig_rate": [1e-3]}, seeds=1, steps=3)
    with pytest.raises(InputError, match="ready optax transformation"):
        jg.sweep(problems.make("rosenbrock"), optax.adam(1e-3), {"learning_rate": [1e-3]}, seeds=1, steps=3)


OPT_PY = textwrap.dedent('''
    import optax

    def make(learning_rate=1e-2, clip=1.0):
        return optax.chain(optax.clip_by_global_norm(clip), optax.adam(learning_rate))
''')


def test_a_config_naming_a_factory_next_to_it_runs_and_equals_the_api(tmp_path):
    (tmp_path / "opt.py").write_text(OPT_PY)
    (tmp_path / "exp.toml").write_text(textwrap.dedent('''
        steps = 25
        seeds = 2
        precision = "float64"
        [[problems]]
        name = "rosenbrock"
        [[optimizers]]
        factory = "opt.py:make"
        learning_rate = [1e-3, 1e-2]
        clip = 0.5
        [[optimizers]]
        factory = "optax:adamw"
        learning_rate = 1e-2
        weight_decay = [0.0, 1e-3]
    '''))
    config = jg.load_config(tmp_path / "exp.toml")
    assert [o.label for o in config.optimizers] == ["opt.make (clip=0.5)", "adamw (lr=0.01)"]
    result = jg.run_experiment(config, tmp_path / "run", plots=False)
    arrays = np.load(tmp_path / "run" / "arrays.npz")
    p = problems.make("rosenbrock")
    for i, lr in enumerate([1e-3, 1e-2]):
        losses, _ = optax_loop(p.loss, p.init(jax.random.PRNGKey(1)),
                               optax.chain(optax.clip_by_global_norm(0.5), optax.adam(lr)), 25)
        np.testing.assert_allclose(arrays["group0_loss"][i, 1], losses, rtol=1e-12)
    losses, _ = optax_loop(p.loss, p.init(jax.random.PRNGKey(0)), optax.adamw(1e-2, weight_decay=1e-3), 25)
    np.testing.assert_allclose(arrays["group1_loss"][1, 0], losses, rtol=1e-12)
    assert result.summary["groups"][0]["optimizer"] == "opt.py:make"


@pytest.mark.parametrize("table, field, message", [
    ('factory = "opt.py:mak"', "optimizers.0.factory", "did you mean 'make'"),
    ('factory = "nope.py:make"', "optimizers.0.factory", "no such file"),
    ('factory = "no_such_module_x:make"', "optimizers.0.factory", "no module"),
    ('factory = "opt.py:make"\nlearnin_rate = 0.1', "optimizers.0.learnin_rate", "did you mean 'learning_rate'"),
    ('factory = "opt.py:not_a_transform"', "optimizers.0.factory", "must return an optax GradientTransformation"),
    ('factory = "broken.py:make"', "optimizers.0.factory", "ZeroDivisionError"),
])
def test_bad_factories_are_one_line_naming_the_field(tmp_path, table, field, message):
    (tmp_path / "opt.py").write_text(OPT_PY + "\ndef not_a_transform():\n    return 3\n")
    (tmp_path / "broken.py").write_text("x = 1 / 0\n")
    (tmp_path / "exp.toml").write_text(f'[[problems]]\nname = "rosenbrock"\n[[optimizers]]\n{table}\n')
    with pytest.raises(InputError) as err:
        jg.load_config(tmp_path / "exp.toml")
    text = str(err.value)
    assert field in text and message in text and "\n" not in text


def test_bench_runs_a_users_optimizer_under_the_same_protocol(tmp_path, capsys, monkeypatch):
    from jaxgrad import cli
    from jaxgrad.lab import bench

    (tmp_path / "opt.py").write_text(OPT_PY)
    (tmp_path / "bench.toml").write_text(textwrap.dedent('''
        problems = ["quadratic-k10"]
        optimizers = ["sgd"]
        steps = 60
        tune_seeds = 1
        eval_seeds = 2
        lr_grid = [0.01, 0.1]
    '''))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["bench", "bench.toml", "--optimizer", "opt.py:make", "--out", "out", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "opt.make" in out
    import json

    result = json.loads((tmp_path / "out" / "bench.json").read_text())
    mine = next(r for r in result["results"] if r["optimizer"] == "opt.make")
    assert mine["tuned"] and mine["user"] and [t["setting"]["learning_rate"] for t in mine["tuning"]] == [0.01, 0.1]
    # the tuned sweep equals a plain optax loop at the chosen learning rate
    p = problems.make("quadratic", dim=20, condition_number=10.0)
    lr = mine["best_setting"]["learning_rate"]
    gaps = [optax_loop(p.loss, p.init(jax.random.PRNGKey(10_000 + s)),
                       optax.chain(optax.clip_by_global_norm(1.0), optax.adam(lr)), 60)[0][-1] - p.minimum
            for s in range(2)]
    np.testing.assert_allclose(mine["median_final_gap"], np.median(gaps), rtol=1e-9)
    assert (tmp_path / "out" / "profile_steps.png").exists()
    contender = bench.parse_optimizer("optax:adamw,weight_decay=0.001")
    assert contender.name == "adamw (weight_decay=0.001)" and contender.tuned and contender.fixed == {
        "weight_decay": 0.001}
    with pytest.raises(InputError, match="did you mean"):
        bench.parse_optimizer("optax:adamw,weight_decy=0.1")
