"""Flax NNX and Equinox modules as problems: losses, gradients and trajectories equal the same network
written in pure JAX (weights copied), module(params) predicts as it does, a sweep compiles once,
configs and curvature run on them, and bad modules get one clear error."""

import json
import textwrap

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgrad as jg
from jaxgrad import cache
from jaxgrad.cli import main
from jaxgrad.errors import InputError

nnx = pytest.importorskip("flax.nnx")
eqx = pytest.importorskip("equinox")


class NnxMLP(nnx.Module):
    def __init__(self, rngs, dtype=jnp.float32):
        self.l1 = nnx.Linear(2, 8, rngs=rngs, param_dtype=dtype)
        self.l2 = nnx.Linear(8, 1, rngs=rngs, param_dtype=dtype)

    def __call__(self, x):
        return self.l2(jnp.tanh(self.l1(x)))[:, 0]


def _data(dtype):
    X = jax.random.normal(jax.random.PRNGKey(1), (40, 2), dtype)
    return X, jnp.sin(2 * X[:, 0]) * X[:, 1]


def _nnx(dtype):
    X, y = _data(dtype)
    problem = jg.problems.from_module(lambda key: NnxMLP(nnx.Rngs(key), dtype), (X, y), "mse", name="nnx")
    def pure(p):  # the same network in pure JAX, on the weights copied out of the module's state
        return {"W1": p["l1"]["kernel"][...], "b1": p["l1"]["bias"][...],
                "W2": p["l2"]["kernel"][...][:, 0], "b2": p["l2"]["bias"][...][0]}
    return problem, pure


def _eqx(dtype):
    X, y = _data(dtype)
    make = lambda key: eqx.nn.MLP(2, 1, 8, 1, activation=jnp.tanh, key=key, dtype=dtype)  # noqa: E731
    problem = jg.problems.from_module(make, (X, y[:, None]), "mse", predict=lambda m, x: jax.vmap(m)(x), name="eqx")
    def pure(p):
        return {"W1": p.layers[0].weight.T, "b1": p.layers[0].bias, "W2": p.layers[1].weight[0],
                "b2": p.layers[1].bias[0]}
    return problem, pure


def _reference_loss(w, X, y):
    return jnp.mean((jnp.tanh(X @ w["W1"] + w["b1"][None, :]) @ w["W2"] + w["b2"] - y) ** 2)


@pytest.mark.float64
@pytest.mark.parametrize("make", [_nnx, _eqx], ids=["nnx", "equinox"])
def test_loss_gradient_and_predictions_equal_the_pure_network_float64(make):
    problem, pure = make(jnp.float64)
    X, y = _data(jnp.float64)
    params = problem.init(jax.random.PRNGKey(0))
    w = pure(params)
    np.testing.assert_allclose(problem.loss(params), _reference_loss(w, X, y), rtol=1e-12)
    g_module = pure(jax.grad(problem.loss)(params))
    g_pure = jax.grad(_reference_loss)(w, X, y)
    for k in w:
        np.testing.assert_allclose(g_module[k], g_pure[k], rtol=1e-10, atol=1e-14)
    model = problem.module(params)
    out = model(X) if not isinstance(model, eqx.Module) else jax.vmap(model)(X)[:, 0]
    np.testing.assert_allclose(out, jnp.tanh(X @ w["W1"] + w["b1"][None, :]) @ w["W2"] + w["b2"], rtol=1e-12)


@pytest.mark.parametrize("make", [_nnx, _eqx], ids=["nnx", "equinox"])
def test_the_default_float32_path_agrees_with_the_pure_network(make):
    problem, pure = make(jnp.float32)
    X, y = _data(jnp.float32)
    params = problem.init(jax.random.PRNGKey(3))
    np.testing.assert_allclose(problem.loss(params), _reference_loss(pure(params), X, y), rtol=1e-5)


@pytest.mark.float64
@pytest.mark.parametrize("make", [_nnx, _eqx], ids=["nnx", "equinox"])
def test_a_run_equals_a_plain_optax_loop_on_the_pure_network(make):
    problem, pure = make(jnp.float64)
    X, y = _data(jnp.float64)
    trace = jg.sweep(problem, "adam", {"learning_rate": [0.05]}, seeds=2, steps=30)
    w = pure(problem.init(jax.random.PRNGKey(0)))
    opt = optax.adam(0.05)
    state = opt.init(w)
    losses = [_reference_loss(w, X, y)]
    for _ in range(30):
        updates, state = opt.update(jax.grad(_reference_loss)(w, X, y), state, w)
        w = optax.apply_updates(w, updates)
        losses.append(_reference_loss(w, X, y))
    np.testing.assert_allclose(trace.loss[0, 0], losses, rtol=1e-9)


def test_a_sweep_of_learning_rates_and_seeds_compiles_once():
    problem, _ = _nnx(jnp.float32)
    first = jg.sweep(problem, "sgd", {"learning_rate": [0.01, 0.1]}, seeds=4, steps=10)
    before = cache.traces("sweep")
    second = jg.sweep(problem, "sgd", {"learning_rate": [0.02, 0.2]}, seeds=4, steps=10)
    assert cache.traces("sweep") == before and second.loss.shape == (2, 4, 11)
    assert not np.allclose(first.loss[:, :, -1], second.loss[:, :, -1])
    # seeds give different initialisations
    assert not np.allclose(first.loss[0, 0, 0], first.loss[0, 1, 0])


def test_bad_modules_are_refused_with_what_was_expected():
    X, y = _data(jnp.float32)
    with pytest.raises(InputError, match="must return a flax.nnx.Module or an equinox.Module"):
        jg.problems.from_module(lambda key: {"w": jnp.ones(2)}, (X, y))

    class NoParams(nnx.Module):
        def __call__(self, x):
            return x[:, 0]

    with pytest.raises(InputError, match="no trainable arrays"):
        jg.problems.from_module(lambda key: NoParams(), (X, y))

    class WithBatchNorm(nnx.Module):
        def __init__(self, rngs):
            self.l = nnx.Linear(2, 1, rngs=rngs)
            self.bn = nnx.BatchNorm(1, rngs=rngs)

        def __call__(self, x):
            return self.bn(self.l(x))[:, 0]

    with pytest.raises(InputError, match=r"bn\.mean is BatchStat state"):
        jg.problems.from_module(lambda key: WithBatchNorm(nnx.Rngs(key)), (X, y))
    with pytest.raises(InputError, match="loss must be"):
        jg.problems.from_module(lambda key: NnxMLP(nnx.Rngs(key)), (X, y), "hinge")


MODEL = '''
import jax, jax.numpy as jnp
from flax import nnx
import jaxgrad as jg

class Net(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(2, 16, rngs=rngs)
        self.l2 = nnx.Linear(16, 3, rngs=rngs)

    def __call__(self, x):
        return self.l2(jnp.tanh(self.l1(x)))

def make(n: int = 90):
    X = jax.random.normal(jax.random.PRNGKey(5), (n, 2))
    y = (X[:, 0] > 0).astype(jnp.int32) + (X[:, 1] > 0.5).astype(jnp.int32)
    return jg.problems.from_module(lambda key: Net(nnx.Rngs(key)), (X, y), "cross_entropy", name="net")
'''


@pytest.mark.slow  # 6-10 s; run with --full
def test_a_config_runs_on_a_module_factory(tmp_path, run_config):
    (tmp_path / "my_model.py").write_text(textwrap.dedent(MODEL))
    assert run_config('steps = 30\nseeds = 2\n[[problems]]\nfactory = "my_model.py:make"\n'
                      '[[optimizers]]\nname = "adam"\nlearning_rate = [0.01, 0.05]\n',
                      "--out", tmp_path / "run", "--quiet", "--no-plots").code == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    best = summary["groups"][0]["settings"][summary["groups"][0]["best"]]
    assert best["median_final_accuracy"] > 0.7  # accuracy recorded for a cross-entropy module


@pytest.mark.slow
def test_curvature_runs_on_a_module_factory(tmp_path, capsys):
    (tmp_path / "my_model.py").write_text(textwrap.dedent(MODEL))
    assert main(["curvature", str(tmp_path / "my_model.py") + ":make", "--k", "2"]) == 0
    assert "top" in capsys.readouterr().out.lower()


def test_curvature_estimators_take_a_module_problem():
    problem, _ = _nnx(jnp.float32)
    params = problem.init(jax.random.PRNGKey(0))
    values, _ = jg.top_eigenvalues(problem.loss, params, k=2)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    exact = np.linalg.eigvalsh(np.asarray(jax.hessian(lambda v: problem.loss(unravel(v)))(flat), np.float64))
    np.testing.assert_allclose(values, exact[::-1][:2], rtol=2e-3)
