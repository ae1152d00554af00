"""Curvature of models from Hessian-vector products, against exact eigendecompositions."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxgrad as jg
from jaxgrad.curvature import spectrum
from jaxgrad.errors import InputError

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64


@functools.lru_cache(maxsize=None)
def small_mlp(seed=0):
    p = jg.problems.make("mlp", widths=[1, 10, 10, 1], n=48, key=seed)
    params = p.init(jax.random.PRNGKey(seed))
    params = jg.minimize(p.loss, params, jg.optimizers.make("adam", learning_rate=1e-2), 200).final_params
    return p.loss, params


@functools.lru_cache(maxsize=None)
def _exact_cached(seed):
    loss, params = small_mlp(seed)
    return _exact(loss, params)


def exact(loss, params):
    if loss is small_mlp()[0] and params is small_mlp()[1]:
        return _exact_cached(0)
    return _exact(loss, params)


def _exact(loss, params):
    x, unravel = ravel_pytree(params)
    H = np.asarray(jax.jit(jax.hessian(lambda z: loss(unravel(z))))(x), np.float64)
    w, V = np.linalg.eigh((H + H.T) / 2)
    return H, w, V, unravel


def quadratic_with_spectrum(eigenvalues, seed=0):
    n = len(eigenvalues)
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, n)))
    A = jnp.asarray((q * np.asarray(eigenvalues)) @ q.T)
    return (lambda x: 0.5 * x @ A @ x), jnp.zeros(n), np.sort(eigenvalues)


@pytest.mark.parametrize("k", [1, 5])
def test_top_eigenvalues_and_vectors_of_a_small_mlp_match_eigh(k):
    loss, params = small_mlp()
    _, w, V, unravel = exact(loss, params)
    values, vectors = jg.top_eigenvalues(loss, params, k=k)
    np.testing.assert_allclose(values, w[::-1][:k], rtol=1e-6)
    flat = np.asarray(jax.vmap(lambda v: ravel_pytree(v)[0])(vectors))
    for i in range(k):
        ref = V[:, -1 - i]
        np.testing.assert_allclose(np.abs(flat[i] @ ref), 1.0, atol=1e-4)  # the same vector up to sign
        np.testing.assert_allclose(np.linalg.norm(flat[i] - np.sign(flat[i] @ ref) * ref), 0.0, atol=1e-4)


def test_smallest_and_a_known_spectrum_with_fewer_parameters_than_iterations():
    eig = [-3.0, -1.0, 0.5, 2.0, 2.0, 7.0]  # a repeated eigenvalue: Lanczos breaks down and restarts
    loss, x0, sorted_eig = quadratic_with_spectrum(eig)
    values, _ = jg.top_eigenvalues(loss, x0, k=3)
    np.testing.assert_allclose(values, sorted_eig[::-1][:3], rtol=1e-10)
    low, _ = jg.top_eigenvalues(loss, x0, k=2, which="smallest")
    np.testing.assert_allclose(low, sorted_eig[:2], rtol=1e-10)
    assert spectrum.default_iterations(6, 3) == 6


def test_top_eigenvalue_in_float32():
    with jax.enable_x64(False):
        loss, x0, eig = quadratic_with_spectrum(np.linspace(1.0, 50.0, 30))
        values, vectors = jg.top_eigenvalues(loss, x0.astype(jnp.float32), k=2)
    assert values.dtype == jnp.float32
    np.testing.assert_allclose(values, eig[::-1][:2], rtol=1e-5)


def test_no_recompile_on_a_second_call():
    loss, params = small_mlp()
    jg.top_eigenvalues(loss, params, k=2)
    jg.hessian_trace(loss, params, num_probes=10)
    compiles = []

    def listen(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    moved = jax.tree_util.tree_map(lambda a: a * 1.01, params)
    k3, k4 = jax.random.PRNGKey(3), jax.random.PRNGKey(4)
    jax.block_until_ready((moved, k3, k4))
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        values, _ = jg.top_eigenvalues(loss, moved, k=2, key=k3)
        jg.hessian_trace(loss, moved, num_probes=10, key=k4)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert compiles == []
    np.testing.assert_allclose(values, exact(loss, moved)[1][::-1][:2], rtol=1e-6)


def test_hutchinson_trace_within_three_standard_errors_and_exact_for_a_diagonal():
    loss, params = small_mlp()
    _, w, _, _ = exact(loss, params)
    est = jg.hessian_trace(loss, params, num_probes=200, key=jax.random.PRNGKey(1))
    assert est.num_probes == 200 and est.stderr > 0
    assert abs(float(est) - w.sum()) <= 3 * est.stderr
    d = jnp.asarray([0.5, 2.0, -1.0, 4.0])
    diag = jg.hessian_trace(lambda x: 0.5 * jnp.sum(d * x**2), jnp.ones(4), num_probes=3)
    assert float(diag) == pytest.approx(5.5, abs=1e-12) and diag.stderr == pytest.approx(0.0, abs=1e-12)


def test_hutchpp_is_unbiased_and_beats_hutchinson_on_a_spectrum_with_outliers():
    eig = np.concatenate([np.linspace(-0.5, 0.5, 54), [40.0, 25.0, 20.0, 15.0, 12.0, 10.0]])
    loss, x0, _ = quadratic_with_spectrum(eig, seed=3)
    errors = {"hutchinson": [], "hutch++": []}
    for seed in range(8):
        for method in errors:
            est = jg.hessian_trace(loss, x0, num_probes=30, key=jax.random.PRNGKey(seed), method=method)
            assert est.num_probes == 30
            assert abs(float(est) - eig.sum()) <= 4 * est.stderr + 1e-9
            errors[method].append(abs(float(est) - eig.sum()))
    assert np.mean(errors["hutch++"]) < 0.2 * np.mean(errors["hutchinson"])
    # a rank-10 sketch of a rank-10 Hessian: exact
    low = np.concatenate([np.zeros(50), np.arange(1.0, 11.0)])
    loss, x0, _ = quadratic_with_spectrum(low, seed=4)
    est = jg.hessian_trace(loss, x0, num_probes=30, method="hutch++")
    assert float(est) == pytest.approx(low.sum(), abs=1e-9)


def test_slq_density_is_a_density_and_its_moments_match_the_exact_spectrum():
    eig = np.concatenate([np.linspace(0.1, 1.0, 40), [5.0, 9.0]])
    loss, x0, _ = quadratic_with_spectrum(eig)
    grid, density = jg.spectral_density(loss, x0, num_probes=8, num_iters=42)
    assert np.all(density >= 0) and np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-9)
    assert grid[0] < eig.min() and grid[-1] > eig.max()
    # each probe's quadrature is exact for polynomials of degree < 2m, so its p-th moment is
    # z^T H^p z / |z|^2; over many probes they average to tr(H^p) / n (within 4 standard errors)
    nodes, weights = spectrum.spectral_quadrature(loss, x0, num_probes=200, num_iters=10)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-10)
    for p in (1, 2):
        per_probe = np.sum(weights * nodes**p, axis=1)
        assert abs(per_probe.mean() - np.mean(eig**p)) <= 4 * per_probe.std(ddof=1) / np.sqrt(200)
    assert spectrum.spectral_moments(nodes, weights, (1,))[1] == pytest.approx(np.mean(np.sum(weights * nodes, 1)))
    # on a small MLP with few steps: the first moment within the spread of the probes
    loss, params = small_mlp()
    _, w, _, _ = exact(loss, params)
    nodes, weights = spectrum.spectral_quadrature(loss, params, num_probes=64, num_iters=30)
    per_probe = np.sum(weights * nodes, axis=1)
    assert abs(per_probe.mean() - w.mean()) <= 4 * per_probe.std(ddof=1) / np.sqrt(64)


def test_layer_curvature_blocks_equal_slices_of_the_full_hessian():
    p = jg.problems.make("mlp", widths=[1, 8, 1], n=32)
    loss = p.loss
    params = jg.minimize(loss, p.init(jax.random.PRNGKey(1)), "adam", 50).final_params
    H, _, _, _ = exact(loss, params)
    sizes = [int(np.prod(l.shape)) for l in jax.tree_util.tree_leaves(params)]
    offsets = np.cumsum([0] + sizes)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]
    out = jg.layer_curvature(loss, params, k=2)
    assert list(out) == paths
    for path, a, b in zip(paths, offsets[:-1], offsets[1:]):
        block = H[a:b, a:b]
        wb = np.linalg.eigvalsh(block)
        np.testing.assert_allclose(out[path].trace, np.trace(block), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out[path].eigenvalues, wb[::-1][: len(out[path].eigenvalues)], rtol=1e-6)


def test_bad_arguments_are_refused():
    loss, x0, _ = quadratic_with_spectrum([1.0, 2.0])
    with pytest.raises(InputError, match="k must be"):
        jg.top_eigenvalues(loss, x0, k=3)
    with pytest.raises(InputError, match="scalar"):
        jg.top_eigenvalues(lambda x: x, x0)
    with pytest.raises(InputError, match="num_probes"):
        jg.hessian_trace(loss, x0, num_probes=1)
