"""Sharpness along training: the top Hessian eigenvalue recorded inside the compiled run."""

import csv
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxgrad as jg
from jaxgrad import cache, cli, optimizers
from jaxgrad.errors import InputError
from jaxgrad.lab import rundir

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64


@functools.lru_cache(maxsize=None)
def _hessians(loss, unravel):
    return jax.jit(jax.vmap(jax.hessian(lambda z: loss(unravel(z)))))


def eigvalsh_max(loss, history, axes=1) -> np.ndarray:
    """The exact top Hessian eigenvalue at every point of a parameter history (``axes`` leading axes)."""
    lead = jax.tree_util.tree_leaves(history)[0].shape[:axes]
    flat = jax.tree_util.tree_map(lambda h: h.reshape((-1,) + h.shape[len(lead):]), history)
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda h: h[0], flat))
    H = np.asarray(_hessians(loss, unravel)(jax.vmap(lambda p: ravel_pytree(p)[0])(flat)), np.float64)
    return np.linalg.eigvalsh((H + np.swapaxes(H, 1, 2)) / 2)[:, -1].reshape(lead)


@functools.lru_cache(maxsize=None)
def small():
    p = jg.problems.make("mlp", widths=[1, 6, 6, 1], n=32)
    return p, p.init(jax.random.PRNGKey(0))


def test_minimize_records_the_top_eigenvalue_at_every_sharpness_step():
    with jax.enable_x64(True):
        p, w0 = small()
        steps, every = 25, 10  # not a multiple: the last value is after step 20
        t = jg.minimize(p.loss, w0, "sgd", steps, record_params=True, sharpness_every=every)
        np.testing.assert_array_equal(t.sharpness_steps, [0, 10, 20])
        at = jax.tree_util.tree_map(lambda h: h[t.sharpness_steps], t.params)
        np.testing.assert_allclose(t.sharpness, eigvalsh_max(p.loss, at), rtol=1e-6)
        # the run itself is the one without sharpness
        plain = jg.minimize(p.loss, w0, "sgd", steps)
        np.testing.assert_array_equal(t.loss, plain.loss)


def test_sharpness_in_float32_and_with_record_every():
    with jax.enable_x64(False):
        p = jg.problems.make("rosenbrock", dim=6)
        t = jg.minimize(p.loss, p.init(jax.random.PRNGKey(0)), optimizers.make("sgd", learning_rate=1e-4), 60,
                        record_every=5, sharpness_every=20, record_params=True)
        assert t.sharpness.dtype == jnp.float32 and t.sharpness.shape == (4,)
        at = jax.tree_util.tree_map(lambda h: h[t.sharpness_steps // 5], t.params)
        np.testing.assert_allclose(t.sharpness, eigvalsh_max(p.loss, at), rtol=1e-4)


def test_sweep_records_sharpness_per_run_and_new_learning_rates_do_not_recompile():
    p = jg.problems.make("rosenbrock", dim=5)
    t = jg.sweep(p, "sgd", {"learning_rate": [1e-4, 3e-4]}, seeds=2, steps=30, sharpness_every=15, record_params=True)
    assert t.sharpness.shape == (2, 2, 3) and t.sharpness_every == 15
    at = jax.tree_util.tree_map(lambda h: h[:, :, ::15], t.params)
    np.testing.assert_allclose(t.sharpness, eigvalsh_max(p.loss, at, axes=3), rtol=1e-6)
    traced = cache.traces("sweep")
    jg.sweep(p, "sgd", {"learning_rate": [2e-4, 5e-5]}, seeds=2, steps=30, sharpness_every=15, record_params=True)
    assert cache.traces("sweep") == traced


@pytest.mark.parametrize("name, extra", [("sgd", {}), ("momentum", {"momentum": 0.5}),
                                         ("nesterov", {"momentum": 0.5})])
def test_stability_threshold_separates_convergence_from_divergence_on_a_quadratic(name, extra):
    """On f = λ x² / 2 the optimizer converges just below its threshold and diverges just above."""
    eta = 0.1
    lam = optimizers.stability_threshold(name, {"learning_rate": eta, **extra})
    opt = optimizers.make(name, learning_rate=eta, **extra)
    for scale, converges in ((0.98, True), (1.02, False)):
        with jax.enable_x64(True):
            t = jg.minimize(lambda x: 0.5 * scale * lam * jnp.sum(x**2), jnp.ones(1), opt, 2000)
        assert (abs(float(t.final_params[0])) < 1e-3) == converges, (name, scale)
    assert optimizers.stability_threshold("adam", {}) is None
    assert optimizers.stability_threshold("sgd", {"schedule": "cosine"}) is None


def test_bad_sharpness_options_are_refused():
    p, w0 = small()
    for bad in (0, 3, 1.5, True):
        with pytest.raises(InputError, match="sharpness_every"):
            jg.minimize(p.loss, w0, "sgd", 12, record_every=2, sharpness_every=bad)
    with pytest.raises(InputError, match="sharpness_iters"):
        jg.minimize(p.loss, w0, "sgd", 12, sharpness_every=4, sharpness_iters=0)


def test_config_sharpness_every_writes_arrays_csv_column_and_plot(tmp_path, capsys):
    cfg = tmp_path / "eos.toml"
    cfg.write_text("""
name = "eos"
steps = 40
seeds = 2
precision = "float64"
[[problems]]
name = "rosenbrock"
dim = 4
[[optimizers]]
name = "sgd"
learning_rate = [1e-4, 3e-4]
[output]
plots = ["sharpness"]
record_every = 2
sharpness_every = 10
""")
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "run")]) == 0
    summary, arrays = rundir.read(tmp_path / "run")
    sharp = arrays["group0_sharpness"]
    assert sharp.shape == (2, 2, 5)
    np.testing.assert_array_equal(arrays["group0_sharpness_steps"], [0, 10, 20, 30, 40])
    setting = summary["groups"][0]["settings"][1]
    assert setting["stability_threshold"] == pytest.approx(2 / 3e-4)
    assert setting["median_final_sharpness"] == pytest.approx(np.median(sharp[1, :, -1]))
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["setting"] == "lr=0.0003" and r["seed"] == "1"]
    assert [int(r["step"]) for r in rows] == list(range(0, 41, 2))
    for r in rows:
        step = int(r["step"])
        if step % 10:
            assert r["sharpness"] == ""
        else:
            assert float(r["sharpness"]) == sharp[1, 1, step // 10]
    assert list((tmp_path / "run").glob("sharpness-0-*.png"))
    cfg.write_text(cfg.read_text().replace("sharpness_every = 10", "sharpness_every = 5"))
    capsys.readouterr()  # the good run's output and status
    assert cli.main(["run", str(cfg), "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "output.sharpness_every" in err and "record_every (2)" in err
