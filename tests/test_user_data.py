"""Any problem and any data a user brings: factories, CSV/NPZ files, splits, mini-batches, real data."""

import csv
import json
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgrad as jg
from jaxgrad import cli, problems
from jaxgrad.errors import InputError
from jaxgrad.problems import batch_indices, data

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def linear_table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ np.array([1.5, -2.0, 0.5]) + 0.7 + 0.05 * rng.normal(size=n)
    return X, y


def test_a_csv_through_jaxgrad_run_with_newton_gives_the_least_squares_mse(tmp_path):
    X, y = linear_table()
    write_csv(tmp_path / "d.csv", ["a", "b", "c", "price"], [[*map(repr, map(float, r)), repr(float(t))]
                                                            for r, t in zip(X, y)])
    (tmp_path / "exp.toml").write_text(textwrap.dedent('''
        steps = 3
        seeds = 1
        precision = "float64"
        [[problems]]
        name = "linear_regression"
        data = "d.csv"
        target = "price"
        [[optimizers]]
        name = "newton"
    '''))
    out = tmp_path / "run"
    assert cli.main(["run", str(tmp_path / "exp.toml"), "--out", str(out), "--no-cache"]) == 0
    design = np.concatenate([X, np.ones((len(X), 1))], 1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    mse = np.mean((design @ coef - y) ** 2)
    summary = json.loads((out / "summary.json").read_text())
    np.testing.assert_allclose(summary["groups"][0]["settings"][0]["median_final_loss"], mse, rtol=1e-8)
    assert summary["problems"][0]["source"]["rows"] == 40


def test_a_factory_problem_next_to_a_config_equals_minimize_on_the_same_problem(tmp_path):
    (tmp_path / "prob.py").write_text(textwrap.dedent('''
        import jax, jax.numpy as jnp
        from jaxgrad.problems import Problem

        def objective(x, data):
            return jnp.sum(data * (x - 1.0) ** 2) + jnp.sum(x ** 4)

        def make(scale=1.0):
            return Problem("mine", objective, init_fn=lambda key: jax.random.normal(key, (3,)),
                           data=scale * jnp.asarray([1.0, 2.0, 3.0]))
    '''))
    (tmp_path / "exp.toml").write_text(textwrap.dedent('''
        steps = 30
        seeds = 2
        precision = "float64"
        [[problems]]
        factory = "prob.py:make"
        scale = [1.0, 2.0]
        [[optimizers]]
        name = "adam"
        learning_rate = 0.05
    '''))
    config = jg.load_config(tmp_path / "exp.toml")
    assert [p.label for p in config.problems] == ["prob.make (scale=1)", "prob.make (scale=2)"]
    jg.run_experiment(config, tmp_path / "run", plots=False)
    arrays = np.load(tmp_path / "run" / "arrays.npz")
    for j, scale in enumerate([1.0, 2.0]):
        p = config.problems[j].build()
        for s in range(2):
            ref = jg.minimize(p.loss, p.init(jax.random.PRNGKey(s)), optax.adam(0.05), 30)
            np.testing.assert_allclose(arrays[f"group{j}_loss"][0, s], ref.loss, rtol=1e-12)
        # and independently of jaxgrad's engine: a plain optax loop
        x, tx = p.init(jax.random.PRNGKey(0)), optax.adam(0.05)
        state = tx.init(x)
        for _ in range(30):
            u, state = tx.update(jax.grad(p.loss)(x), state)
            x = x + u
        np.testing.assert_allclose(arrays[f"group{j}_loss"][0, 0, -1], p.loss(x), rtol=1e-10)


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("a,b,y\n1,2,3\n1,x,3\n1,2,3\n1,2,3\n", "line 3: column 'b': not a number: 'x'"),
    ("a,b,y\n1,2,3\n1,2\n1,2,3\n1,2,3\n", "line 3: 2 cells, the header has 3"),
    ("a,b,y\n1,2,3\n1,nan,3\n1,2,3\n1,2,3\n", "line 3: column 'b': 'nan' is not finite"),
    ("a,b,z\n1,2,3\n1,2,3\n1,2,3\n1,2,3\n", "no target column 'y'"),
    ("a,b,y\n1,2,3\n1,2,4\n", "2 data rows; at least 4"),
    ("", "line 1: empty"),
])
def test_a_bad_csv_is_one_line_exit_2(tmp_path, capsys, content, message):
    if content is not None:
        (tmp_path / "d.csv").write_text(content)
    (tmp_path / "exp.toml").write_text('[[problems]]\nname = "linear_regression"\ndata = "d.csv"\ntarget = "y"\n'
                                       '[[optimizers]]\nname = "sgd"\n')
    assert cli.main(["run", str(tmp_path / "exp.toml"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    field = "problems.0.target" if "target" in message else "problems.0.data"
    assert err.startswith("error:") and message in err and "d.csv" in err and field in err
    assert len(err.splitlines()) == 1


def test_npz_data_and_its_errors(tmp_path):
    X, y = linear_table(12)
    np.savez(tmp_path / "ok.npz", X=X, y=y)
    table = data.load("ok.npz", base=tmp_path)
    np.testing.assert_array_equal(table.X, X)
    np.savez(tmp_path / "bad.npz", X=X)
    with pytest.raises(InputError, match="needs arrays X and y"):
        data.load("bad.npz", base=tmp_path)
    X[3, 1] = np.inf
    np.savez(tmp_path / "inf.npz", X=X, y=y)
    with pytest.raises(InputError, match=r"X\[3, 1\] is not finite"):
        data.load("inf.npz", base=tmp_path)


def test_the_test_loss_of_a_split_equals_the_loss_by_hand_on_the_held_out_rows(tmp_path):
    X, y = linear_table(50, seed=3)
    write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"], [[*map(float, r), float(t)] for r, t in zip(X, y)])
    p = problems.make("linear_regression", data=str(tmp_path / "d.csv"), test_fraction=0.2, standardize=True, key=7)
    train, test = data.split(50, 0.2, 7)
    assert len(test) == 10 and len(set(train) | set(test)) == 50
    mean, std = X[train].mean(0), X[train].std(0)
    t = jg.sweep(p, "sgd", {"learning_rate": [0.1]}, seeds=1, steps=20, record_params=True)
    for k in (0, 7, 20):
        params = jax.tree_util.tree_map(lambda a: a[0, 0, k], t.params)
        pred = ((X[test] - mean) / std) @ np.asarray(params["w"]) + float(params["b"])
        np.testing.assert_allclose(t.metrics["test_loss"][0, 0, k], np.mean((pred - y[test]) ** 2), rtol=1e-10)


def test_minibatches_are_a_permutation_per_epoch_and_bit_identical_across_reruns():
    key = jax.random.PRNGKey(3)
    n, b = 23, 5  # 4 batches an epoch, 3 rows sit each epoch out
    rows = np.stack([np.asarray(batch_indices(key, k, b, n)) for k in range(8)])
    for epoch in range(2):
        seen = rows[4 * epoch: 4 * epoch + 4].ravel()
        assert len(set(seen.tolist())) == 20 and seen.min() >= 0 and seen.max() < n
    assert not np.array_equal(rows[:4], rows[4:])  # a new shuffle each epoch
    p = problems.make("logistic_regression", n=64, features=3)
    a = jg.sweep(p, "sgd", {"learning_rate": [0.3]}, seeds=2, steps=30, batch_size=8)
    b2 = jg.sweep(problems.make("logistic_regression", n=64, features=3), "sgd", {"learning_rate": [0.3]}, seeds=2,
                  steps=30, batch_size=8)
    np.testing.assert_array_equal(np.asarray(a.loss), np.asarray(b2.loss))
    # step k's update is the gradient on exactly batch k's rows (checked by hand at step 0)
    x0 = p.init(jax.random.PRNGKey(0))
    idx = np.asarray(batch_indices(jax.random.PRNGKey(0), 0, 8, 64))
    Xb, yb = p.data[0][idx], p.data[1][idx]
    g = jax.grad(lambda q: p.objective(q, (Xb, yb)))(x0)
    x1 = jax.tree_util.tree_map(lambda a, d: a - 0.3 * d, x0, g)
    np.testing.assert_allclose(a.loss[0, 0, 1], p.loss(x1), rtol=1e-12)


def test_multiclass_targets_give_a_softmax_mlp_with_accuracy(tmp_path):
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [4, 0], [0, 4]])
    labels = rng.integers(0, 3, 90)
    X = centers[labels] + 0.5 * rng.normal(size=(90, 2))
    write_csv(tmp_path / "d.csv", ["u", "v", "label"], [[*map(float, r), int(t)] for r, t in zip(X, labels)])
    p = problems.make("mlp", data=str(tmp_path / "d.csv"), widths=[2, 8, 3])
    assert p.kind == "classification"
    params = p.init(jax.random.PRNGKey(0))
    logits = np.asarray(jg.problems.mlp.forward(params, p.data[0], jnp.tanh))
    ref = np.mean(np.log(np.exp(logits).sum(1)) - logits[np.arange(90), labels])
    np.testing.assert_allclose(p.loss(params), ref, rtol=1e-10)
    np.testing.assert_allclose(p.metrics(params, p.data, None)["accuracy"], np.mean(logits.argmax(1) == labels))
    t = jg.sweep(p, "adam", {"learning_rate": [0.05]}, seeds=1, steps=150)
    assert float(t.metrics["accuracy"][0, 0, -1]) > 0.95


def test_float32_data_problem_records_float32_metrics(tmp_path):
    X, y = linear_table(30)
    write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"], [[*map(float, r), float(t)] for r, t in zip(X, y)])
    with jax.enable_x64(False):
        p = problems.make("linear_regression", data=str(tmp_path / "d.csv"), test_fraction=0.3)
        t = jg.sweep(p, "sgd", {"learning_rate": [0.05]}, seeds=1, steps=10)
        w0 = p.init(jax.random.PRNGKey(0))
    assert t.loss.dtype == np.float32 and t.metrics["test_loss"].dtype == np.float32
    train, test = data.split(30, 0.3, 0)
    pred = X[test] @ np.asarray(w0["w"], np.float64) + float(w0["b"])
    np.testing.assert_allclose(t.metrics["test_loss"][0, 0, 0], np.mean((pred - y[test]) ** 2), rtol=1e-5)


@pytest.mark.parametrize("name, kind", [("diabetes", "regression"), ("breast_cancer", "classification")])
def test_bundled_real_data_sets_and_their_recorded_version(name, kind):
    pytest.importorskip("sklearn")
    import sklearn
    from sklearn import datasets

    table = data.load(f"sklearn:{name}")
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    np.testing.assert_array_equal(table.X, X)
    assert table.origin == {"package": "scikit-learn", "version": sklearn.__version__, "dataset": name}
    problem = "linear_regression" if kind == "regression" else "logistic_regression"
    p = problems.make(problem, data=f"sklearn:{name}", standardize=True, l2=1e-3) if kind != "regression" else \
        problems.make(problem, data=f"sklearn:{name}", standardize=True)
    Xs = (X - X.mean(0)) / X.std(0)
    np.testing.assert_allclose(np.asarray(p.data[0]), Xs, rtol=1e-12)


def test_landscape_plots_of_a_data_problem_from_a_config(tmp_path):
    X, y = linear_table(30)
    write_csv(tmp_path / "d.csv", ["a", "b", "c", "y"], [[*map(float, r), float(t)] for r, t in zip(X, y)])
    (tmp_path / "exp.toml").write_text(textwrap.dedent('''
        steps = 40
        seeds = 1
        precision = "float64"
        [[problems]]
        name = "linear_regression"
        data = "d.csv"
        [[optimizers]]
        name = "sgd"
        learning_rate = 0.1
        [[optimizers]]
        name = "newton"
        [output]
        plots = ["loss", "interpolation", "trajectory_plane", "random_plane"]
        record_params = true
    '''))
    config = jg.load_config(tmp_path / "exp.toml")
    result = jg.run_experiment(config, tmp_path / "run")
    a = np.load(tmp_path / "run" / "arrays.npz")
    p = config.problems[0].build()
    # the interpolation is the loss on the segment from the start to each optimizer's end
    final = jax.tree_util.tree_map(lambda v: v, jg.minimize(p.loss, p.init(jax.random.PRNGKey(0)), "newton",
                                                            40).final_params)
    start = p.init(jax.random.PRNGKey(0))
    alpha = a["problem0_interp_alpha"][10]
    mid = jax.tree_util.tree_map(lambda s, f: (1 - alpha) * s + alpha * f, start, final)
    np.testing.assert_allclose(a["problem0_interp_loss"][1, 10], p.loss(mid), rtol=1e-10)
    # the trajectory plane holds the paths: each projected start lies at the loss of the real start
    path = a["problem0_tplane_path1"]
    assert path.shape == (41, 2) and np.allclose(path[-1], 0.0, atol=1e-12)  # the origin is Newton's end
    pngs = {q.name.split("-")[0] for q in result.run_dir.glob("*.png")}
    assert {"loss", "interpolation", "trajectory_plane", "random_plane"} <= pngs
    start_flat = np.asarray(jax.flatten_util.ravel_pytree(start)[0])
    assert np.allclose(np.linalg.norm(path[0]), np.linalg.norm(
        start_flat - np.asarray(jax.flatten_util.ravel_pytree(final)[0])), rtol=1e-9)
