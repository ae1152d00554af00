"""Curvature operators beyond the Hessian, against dense references built independently:
J from jax.jacobian of predict over all examples, H_out from jax.hessian of the output loss,
per-example gradients by vmap, NumPy's eigh / solve; and the second-order steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxgrad as jg
from jaxgrad import cache
from jaxgrad.errors import InputError
from jaxgrad.problems import Problem, losses

F64 = pytest.param(1e-9, marks=pytest.mark.float64, id="float64")
F32 = pytest.param(2e-4, id="float32")


def _softmax_problem(n=30, classes=3):
    X = jax.random.normal(jax.random.PRNGKey(3), (n, 2))
    y = jnp.arange(n) % classes

    def predict(params, inputs):
        return jnp.tanh(inputs @ params["w1"]) @ params["w2"]

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"w1": jax.random.normal(k1, (2, 4)), "w2": jax.random.normal(k2, (4, classes))}

    objective = lambda p, d: losses.cross_entropy(predict(p, d[0]), d[1])  # noqa: E731
    return Problem("softmax", objective, init, data=(X, y), predict=predict, output_loss=losses.cross_entropy,
                   kind="classification")


def _problems():
    return {"mlp_mse": jg.problems.make("mlp", n=40, widths=(1, 4, 1)),
            "mlp_binary": jg.problems.make("mlp", task="classification", n=40, widths=(2, 3, 1)),
            "softmax": _softmax_problem()}


def _dense_ggn(p, params):
    x, unravel = ravel_pytree(params)
    X, y = p.data
    out = p.predict(params, X)
    J = jax.jacobian(lambda z: p.predict(unravel(z), X).reshape(-1))(x)
    H = jax.hessian(lambda o: p.output_loss(o.reshape(out.shape), y))(out.reshape(-1))
    return np.asarray(J.T @ H @ J, np.float64)


def _per_example_grads(p, params):
    X, y = p.data
    g = lambda xi, yi: ravel_pytree(jax.grad(lambda q: p.output_loss(p.predict(q, xi[None]), yi[None]))(params))[0]  # noqa: E731
    return np.asarray(jax.vmap(g)(X, y), np.float64)


def _check_dense(p, params, kinds, rtol, batch_size=None):
    """Each kind's to_dense against its definition, built independently."""
    refs = {}
    for kind in kinds:
        if kind in ("ggn", "fisher"):
            ref = refs.setdefault("ggn", _dense_ggn(p, params))
        elif kind == "empirical_fisher":
            gs = _per_example_grads(p, params)
            ref = gs.T @ gs / gs.shape[0]  # (1/N) sum_i g_i g_i^T
        else:
            x, unravel = ravel_pytree(params)
            ref = np.asarray(jax.hessian(lambda z: p.loss(unravel(z)))(x), np.float64)
        got = jg.curvature_operator(p, params, kind, batch_size=batch_size).to_dense()
        np.testing.assert_allclose(got, ref, atol=rtol * np.abs(ref).max(), err_msg=kind)


@pytest.mark.float64
def test_ggn_fisher_and_empirical_fisher_equal_their_definitions_softmax_float64():
    p = _softmax_problem()
    _check_dense(p, p.init(jax.random.PRNGKey(1)), ("ggn", "fisher", "empirical_fisher"), 1e-9)


@pytest.mark.float64
def test_batched_products_equal_unbatched_ones_with_a_remainder_batch_mse_float64():
    p = _problems()["mlp_mse"]  # 40 examples in batches of 7: five full and one of 5
    _check_dense(p, p.init(jax.random.PRNGKey(1)), ("ggn", "empirical_fisher"), 1e-9, batch_size=7)


def test_ggn_and_fisher_of_a_binary_classifier_float32():
    p = _problems()["mlp_binary"]
    _check_dense(p, p.init(jax.random.PRNGKey(1)), ("ggn", "empirical_fisher"), 2e-4)
    _check_dense(p, p.init(jax.random.PRNGKey(1)), ("hessian",), 2e-4, batch_size=7)  # the fisher path is the ggn's


@pytest.mark.float64
def test_monte_carlo_fisher_converges_to_the_fisher_within_its_statistical_bound():
    p = _problems()["softmax"]
    params = p.init(jax.random.PRNGKey(1))
    F = _dense_ggn(p, params)
    errors = {}
    for S in (16, 1024):
        M = np.asarray(jg.curvature_operator(p, params, "mc_fisher", num_samples=S, key=jax.random.PRNGKey(7))
                       .to_dense())
        np.testing.assert_allclose(M, M.T, atol=1e-12)  # one fixed matrix
        errors[S] = np.linalg.norm(M - F) / np.linalg.norm(F)
    # the error of a mean of S independent draws falls as 1/sqrt(S): 8x from 16 to 1024 draws
    assert errors[1024] < 0.05 and errors[1024] < errors[16] / 3


@pytest.mark.parametrize("rtol", [F32, pytest.param(1e-9, marks=[pytest.mark.float64, pytest.mark.slow], id="f64")])
def test_every_estimator_takes_an_operator(rtol):
    p = _problems()["mlp_binary"]
    params = p.init(jax.random.PRNGKey(2))
    op = jg.curvature_operator(p, params, "ggn")
    G = _dense_ggn(p, params)
    ev = np.linalg.eigvalsh(G)[::-1]
    values, _ = jg.top_eigenvalues(op, k=3)
    np.testing.assert_allclose(values, ev[:3], rtol=10 * rtol, atol=10 * rtol * ev[0])
    t = jg.hessian_trace(op, num_probes=64)
    assert abs(float(t) - np.trace(G)) < 5 * t.stderr + 1e-6
    diagonal = jg.curvature_diagonal(op, num_probes=None)
    assert jax.tree_util.tree_structure(diagonal) == jax.tree_util.tree_structure(params)  # a pytree like params
    np.testing.assert_allclose(ravel_pytree(jg.curvature_diagonal(op, num_probes=None))[0], np.diag(G),
                               atol=rtol * np.abs(G).max())
    hutch = ravel_pytree(jg.curvature_diagonal(op, num_probes=400))[0]
    assert np.abs(np.asarray(hutch) - np.diag(G)).max() < 0.5 * np.abs(G).max()  # an estimate
    nodes = jg.spectral_density(op, num_probes=2, num_iters=min(G.shape[0], 20))[0]
    assert nodes.min() <= ev[-1] + 0.05 * ev[0] and nodes.max() >= ev[0] - 0.05 * ev[0]
    layers = jg.layer_curvature(op)
    assert set(layers) == {jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(params)[0]}
    b = jax.tree_util.tree_map(jnp.ones_like, params)
    for damping in (0.1, 0.5):
        x = ravel_pytree(jg.solve(op, b, damping=damping, tol=1e-7))[0]
        ref = np.linalg.solve(G + damping * np.eye(G.shape[0]), np.ones(G.shape[0]))
        np.testing.assert_allclose(x, ref, rtol=50 * rtol, atol=50 * rtol * np.abs(ref).max())
        if damping == 0.1:
            traced = cache.traces("solve")
    assert cache.traces("solve") == traced  # damping is data: no retrace


@pytest.mark.parametrize("rtol", [F32, F64])
def test_gauss_newton_reaches_the_least_squares_optimum_in_a_few_steps(rtol):
    p = jg.problems.make("linear_regression", n=100, features=3)
    t = jg.sweep(p, "gauss_newton", {"damping": [0.0, 1e-4]}, seeds=2, steps=3)
    X, y = (np.asarray(a, np.float64) for a in p.data)
    design = np.column_stack([X, np.ones(len(X))])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    best = np.mean((design @ coef - y) ** 2)
    np.testing.assert_allclose(np.asarray(t.loss)[:, :, -1], best, rtol=10 * rtol)


def test_natural_gradient_and_levenberg_marquardt_descend_on_a_classifier():
    p = jg.problems.make("mlp", task="classification", n=60, widths=(2, 8, 1))
    for opt, fixed in (("natural_gradient", {}), ("gauss_newton", {"adaptive": True})):
        t = jg.sweep(p, opt, {"damping": [1e-2]}, seeds=2, steps=10, fixed=fixed)
        loss = np.asarray(t.loss)
        assert np.all(loss[..., -1] < 0.5 * loss[..., 0]), opt


def test_second_order_steps_and_operators_refuse_what_they_cannot_do():
    with pytest.raises(InputError, match="gauss_newton needs a data problem"):
        jg.minimize(lambda x: jnp.sum(x**2), jnp.ones(2), jg.optimizers.make("gauss_newton"), 3)
    penalised = jg.problems.make("logistic_regression", l2=0.1)
    with pytest.raises(InputError, match="l2 penalty"):
        jg.curvature_operator(penalised, penalised.init(jax.random.PRNGKey(0)), "ggn")
    with pytest.raises(InputError, match="kind must be one of"):
        jg.curvature_operator(penalised, penalised.init(jax.random.PRNGKey(0)), "gnn")
    with pytest.raises(InputError, match="no data"):
        rosen = jg.problems.make("rosenbrock")
        jg.curvature_operator(rosen, rosen.init(jax.random.PRNGKey(0)), "ggn")


def test_the_curvature_command_takes_a_kind(capsys):
    from jaxgrad.cli import main

    assert main(["curvature", "linear_regression", "--kind", "ggn", "--k", "2", "--probes", "4"]) == 0
    out = capsys.readouterr().out
    p = jg.problems.make("linear_regression")
    G = np.asarray(jg.curvature_operator(p, p.init(jax.random.PRNGKey(0)), "ggn").to_dense(), np.float64)
    top = np.linalg.eigvalsh(G)[::-1][:2]
    assert "the GGN" in out
    line = out.split("top 2 eigenvalues")[1].splitlines()[1]
    np.testing.assert_allclose([float(v) for v in line.split()], top, rtol=1e-4)
    assert main(["curvature", "rosenbrock", "--kind", "ggn", "--k", "1"]) == 2
    assert "no data" in capsys.readouterr().err
