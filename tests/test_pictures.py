"""Landscapes, basins and every plot function."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from matplotlib.figure import Figure

import jaxgrad as jg
from jaxgrad import optimizers, problems
from jaxgrad.fields import landscape
from jaxgrad.fields.basins import DIVERGED, ELSEWHERE, basins
from jaxgrad.fields.quantities import directional_profile
from jaxgrad.pictures import house, plots
from jaxgrad.pictures.house import save_figure

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64


def flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


@pytest.fixture(scope="module")
def mlp():
    p = problems.make("mlp", n=64)
    return p, p.init(jax.random.PRNGKey(0))


# --- directions ---------------------------------------------------------------------------


def test_random_plane_is_orthogonal_and_filter_normalised(mlp):
    p, params = mlp
    d1, d2 = landscape.random_plane(jax.random.PRNGKey(1), params)
    assert abs(flat(d1) @ flat(d2)) < 1e-9 * np.linalg.norm(flat(d1)) * np.linalg.norm(flat(d2))
    want = landscape.filter_norms(params)
    for k, d in enumerate((d1, d2)):
        got = landscape.filter_norms(d)
        for g, w, leaf in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want),
                              jax.tree_util.tree_leaves(params)):
            if leaf.ndim < 2:
                continue
            if k == 1 and leaf.shape[0] == 1:  # one-entry filters cannot be orthogonal: zero by design
                np.testing.assert_array_equal(g, 0.0)
            else:  # every column (filter) has the parameters' filter norm
                np.testing.assert_allclose(g, w, rtol=1e-10)
    # the peers' recipe (normalise after a global Gram-Schmidt) is not orthogonal
    g1 = landscape.random_direction(jax.random.PRNGKey(1), params, "none")
    g2 = landscape.random_direction(jax.random.PRNGKey(2), params, "none")
    u1 = flat(g1) / np.linalg.norm(flat(g1))
    g2o = flat(g2) - (flat(g2) @ u1) * u1
    peer1 = flat(landscape.filter_normalise(g1, params))
    peer2 = flat(landscape.filter_normalise(ravel_pytree(g2)[1](jnp.asarray(g2o)), params))
    cos = abs(peer1 @ peer2) / (np.linalg.norm(peer1) * np.linalg.norm(peer2))
    assert cos > 1e-4  # skewed


def test_zero_filters_stay_zero_and_point_params_are_one_filter():
    params = jnp.asarray([3.0, 4.0])
    d = landscape.random_direction(jax.random.PRNGKey(0), params)
    assert np.linalg.norm(d) == pytest.approx(5.0)
    d1, d2 = landscape.random_plane(jax.random.PRNGKey(0), params)
    assert abs(float(d1 @ d2)) < 1e-12 and float(jnp.linalg.norm(d2)) == pytest.approx(5.0)


# --- evaluation -------------------------------------------------------------------------------


def test_plane_values_match_direct_evaluation_and_leave_params_alone(mlp):
    p, params = mlp
    host = jax.tree_util.tree_map(np.array, params)  # numpy copies: mutation would show
    before = flat(host).copy()
    d1, d2 = landscape.random_plane(jax.random.PRNGKey(2), params)
    sl = landscape.plane(p.loss, host, d1, d2, num=(7, 5), span=((-1, 1), (-0.5, 0.5)))
    assert sl.losses.shape == (7, 5)
    np.testing.assert_array_equal(flat(host), before)
    for i, j in [(0, 0), (3, 2), (6, 4)]:
        moved = jax.tree_util.tree_map(lambda x, a, b: x + sl.alphas[i] * a + sl.betas[j] * b, params, d1, d2)
        assert sl.losses[i, j] == pytest.approx(float(p.loss(moved)), rel=1e-10)


def test_chunked_plane_equals_unchunked(mlp):
    p, params = mlp
    d1, d2 = landscape.random_plane(jax.random.PRNGKey(3), params)
    a = landscape.plane(p.loss, params, d1, d2, num=9)
    b = landscape.plane(p.loss, params, d1, d2, num=9, chunk_size=7)
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-12)


def test_interpolation_endpoints(mlp):
    p, params = mlp
    trained = jg.minimize(p.loss, params, optimizers.make("adam", learning_rate=1e-2), 100).final_params
    alphas, losses = landscape.interpolate(p.loss, params, trained, num=11, span=(0.0, 1.0))
    assert losses[0] == pytest.approx(float(p.loss(params)), rel=1e-12)
    assert losses[-1] == pytest.approx(float(p.loss(trained)), rel=1e-10)
    np.testing.assert_allclose(alphas, np.linspace(0, 1, 11))


def test_trajectory_plane_contains_start_and_end(mlp):
    p, params = mlp
    trace = jg.minimize(p.loss, params, optimizers.make("adam", learning_rate=1e-2), 60, record_params=True)
    sl = landscape.trajectory_plane(p.loss, trace.params, num=11)
    path = jax.vmap(lambda q: ravel_pytree(q)[0])(trace.params)
    start, end = np.asarray(path[0]), np.asarray(path[-1])
    u1, u2 = flat(sl.d1), flat(sl.d2)
    assert abs(u1 @ u2) < 1e-12 and np.linalg.norm(u1) == pytest.approx(1) and np.linalg.norm(u2) == pytest.approx(1)
    for point, coords in [(start, sl.path[0]), (end, sl.path[-1])]:
        np.testing.assert_allclose(end + coords[0] * u1 + coords[1] * u2, point, atol=1e-10)
    np.testing.assert_allclose(sl.path[-1], [0, 0], atol=1e-12)
    assert 0 < sl.explained <= 1 + 1e-12
    # the loss at the path's start, read off the plane's own parametrisation
    start_loss = p.loss(ravel_pytree(params)[1](jnp.asarray(end + sl.path[0][0] * u1 + sl.path[0][1] * u2)))
    assert float(start_loss) == pytest.approx(float(trace.loss[0]), rel=1e-9)


def test_directional_profile_is_grad_dot_u():
    f = lambda q: q[0] ** 2 + q[1] ** 2
    angles, values = directional_profile(f, jnp.asarray([1.0, 2.0]), 8)
    np.testing.assert_allclose(values, 2 * np.cos(angles) + 4 * np.sin(angles), atol=1e-12)
    assert values.max() <= np.hypot(2, 4) + 1e-12


# --- basins -----------------------------------------------------------------------------------


def test_basin_labels_match_the_minimum_each_start_reaches():
    p = problems.make("himmelblau")
    opt = optimizers.make("newton", linesearch=True)
    b = basins(p, opt, num=9, steps=60, tol=1e-8)
    mins = np.asarray(p.minimizers)
    x, y = b.axes
    for i in range(0, 9, 2):
        for j in range(0, 9, 3):
            end = np.asarray(jg.minimize(p.loss, jnp.asarray([x[i], y[j]]), opt, 60).final_params)
            d = np.linalg.norm(mins - end, axis=1)
            expected = int(np.argmin(d)) if d.min() <= 1e-3 * np.hypot(10, 10) else ELSEWHERE
            assert b.label[i, j] == expected, (x[i], y[j], end)
    assert set(np.unique(b.label)) <= {ELSEWHERE, DIVERGED, 0, 1, 2, 3}
    assert np.all(b.steps[b.label >= 0] < 60)


def test_basins_mark_divergence():
    p = problems.make("rosenbrock")
    b = basins(p, optimizers.make("sgd", learning_rate=0.05), num=5, steps=50)
    assert np.any(b.label == DIVERGED)


# --- every plot function writes an image ---------------------------------------------------


def saved(fig, tmp_path, name):
    path = tmp_path / name
    save_figure(fig, path)
    return path.stat().st_size


def test_every_plot_function_writes_an_image(tmp_path):
    x, y = np.linspace(-2, 2, 21), np.linspace(-1, 1.5, 17)
    X, Y = np.meshgrid(x, y, indexing="ij")
    f = X**2 + 3 * Y**2 + 0.5 * X * Y
    g = np.stack([2 * X + 0.5 * Y, 6 * Y + 0.5 * X], -1)
    H = np.broadcast_to(np.array([[2.0, 0.5], [0.5, 6.0]]), X.shape + (2, 2))
    eig = np.linalg.eigvalsh(H)
    sizes = {}
    for q, vals in [("grad", g), ("value", f), ("grad_norm", np.hypot(g[..., 0], g[..., 1])), ("kind", np.zeros(X.shape, int)),
                    ("eigenvalues", eig), ("hessian", H), ("laplacian", np.full(X.shape, 8.0))]:
        fig = plots.field_figure(q, (x, y), vals, f_values=f, grad=g, critical=[(np.zeros(2), "minimum")])
        sizes[q] = saved(fig, tmp_path, f"{q}.png")
    fig, (ax,) = house.figure()
    plots.streamlines(ax, x, y, f, g)
    sizes["streamlines"] = saved(fig, tmp_path, "s.png")
    fig = Figure()
    plots.directional_polar(fig.add_subplot(projection="polar"), np.linspace(0, 6.28, 50),
                            np.cos(np.linspace(0, 6.28, 50)), np.array([1.0, 0.0]), (0.0, 0.0))
    sizes["polar"] = saved(fig, tmp_path, "p.png")
    fig = Figure()
    plots.surface(fig, x, y, f)
    sizes["surface"] = saved(fig, tmp_path, "surf.png")
    fig, (ax,) = house.figure()
    plots.basins_map(ax, x, y, np.where(X > 0, 0, 1), np.ones(X.shape), [(1, 0), (-1, 0)], 10)
    sizes["basins"] = saved(fig, tmp_path, "b.png")
    fig, (ax,) = house.figure()
    curve = np.exp(-np.arange(30) / 5.0)
    plots.loss_curves(ax, [("a", curve, curve / 2, curve * 2, None), ("b", curve**2, curve**2, curve**2, 5)])
    sizes["loss"] = saved(fig, tmp_path, "l.png")
    fig, (ax,) = house.figure()
    plots.paths_on_contours(ax, x, y, f, [("gd", np.stack([np.linspace(2, 0, 10), np.linspace(1, 0, 10)], 1), "r")], [(0, 0)])
    sizes["paths"] = saved(fig, tmp_path, "pc.png")
    fig, (ax,) = house.figure()
    plots.lr_sensitivity(ax, [("sgd", [1e-3, 1e-2, 1e-1], [1.0, 0.1, 5.0], [0, 0, 0.5])])
    sizes["lr"] = saved(fig, tmp_path, "lr.png")
    fig, (ax,) = house.figure()
    plots.fit_plot(ax, np.linspace(-1, 1, 20), np.linspace(-1, 1, 20) * 2, [("gd", 0.1, 1.9, "r")], minimizer=(0.0, 2.0))
    sizes["fit"] = saved(fig, tmp_path, "fit.png")
    fig, (ax,) = house.figure()
    plots.landscape_1d(ax, np.linspace(0, 1, 20), [("interp", np.linspace(1, 2, 20))])
    sizes["l1"] = saved(fig, tmp_path, "l1.png")
    fig, (ax,) = house.figure()
    plots.landscape_2d(ax, x, y, f + 1, path=np.array([[1.0, 0.5], [0.0, 0.0]]))
    sizes["l2"] = saved(fig, tmp_path, "l2.png")
    plots.race_gif(tmp_path / "race.gif", x, y, f, [np.array([[1.5, 1.0], [0.5, 0.2], [0.0, 0.0]])], ["gd"], frames=3)
    sizes["race"] = (tmp_path / "race.gif").stat().st_size
    assert (tmp_path / "race.gif").read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    small = {k: v for k, v in sizes.items() if v < 5_000}
    assert not small, small


def test_second_landscape_and_critical_points_calls_do_not_retrace(mlp):
    p, params = mlp
    traces = []

    def loss(q):
        traces.append(1)
        return p.loss(q)

    d1, d2 = landscape.random_plane(jax.random.PRNGKey(5), params)
    landscape.plane(loss, params, d1, d2, num=5, chunk_size=25)
    n = len(traces)
    e1, e2 = landscape.random_plane(jax.random.PRNGKey(6), params)  # new directions and params: data
    moved = jax.tree_util.tree_map(lambda x: x * 1.1, params)
    out = landscape.plane(loss, moved, e1, e2, num=5, chunk_size=25)
    assert len(traces) == n
    direct = loss(jax.tree_util.tree_map(lambda x, a, b: x + out.alphas[1] * a + out.betas[3] * b, moved, e1, e2))
    assert out.losses[1, 3] == pytest.approx(float(direct), rel=1e-10)

    calls = []

    def f(v):
        calls.append(1)
        return v[0] ** 2 - v[1] ** 2

    first = jg.critical_points(f, (-1, -1), (1, 1), num=4)
    n = len(calls)
    second = jg.critical_points(f, (-2, -2), (1, 1), num=4)
    assert len(calls) == n
    assert [c.kind for c in first] == [c.kind for c in second] == ["saddle"]
