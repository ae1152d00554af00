"""Grids, fields of every quantity, chunking, sharding, curvature and critical points."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgrad as jg
from jaxgrad.cli import main
from jaxgrad.errors import InputError
from jaxgrad.fields.critical import critical_points
from jaxgrad.fields.grid import Grid
from jaxgrad.fields.points import eigvalsh, kind_code
from jaxgrad.fields.quantities import field, plan_field, quantity

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

F_TEXT = "x**2*y + exp(x*y)"


def f_np(x, y):
    return x**2 * y + np.exp(x * y)


def grad_np(x, y):
    e = np.exp(x * y)
    return np.stack([2 * x * y + y * e, x**2 + x * e], axis=-1)


def hess_np(x, y):
    e = np.exp(x * y)
    fxx, fxy, fyy = 2 * y + y**2 * e, 2 * x + e * (1 + x * y), x**2 * e
    return np.stack([np.stack([fxx, fxy], -1), np.stack([fxy, fyy], -1)], -2)


GRID = Grid((-1.5, -1.0), (1.0, 2.0), (7, 9))


def mesh():
    return GRID.mesh()


# --- grids ----------------------------------------------------------------------------


def test_grid_points_are_ij_ordered_and_match_axes():
    g = Grid((-2, 0, 1), (2, 1, 3), (5, 3, 4))
    assert g.shape == (5, 3, 4) and g.size == 60 and g.dim == 3
    pts = np.asarray(g.points).reshape(5, 3, 4, 3)
    np.testing.assert_allclose(pts[2, 1, 3], [g.axes[0][2], g.axes[1][1], g.axes[2][3]])
    np.testing.assert_allclose(g.axes[0], np.linspace(-2, 2, 5))
    np.testing.assert_allclose(pts[..., 0], np.meshgrid(*g.axes, indexing="ij")[0], rtol=1e-15)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lower=(0, 0), upper=(1,), num=3), "differ in length"),
        (dict(lower=(1,), upper=(0,), num=3), r"lower\[0\] = 1.0 must be below upper\[0\]"),
        (dict(lower=(0,), upper=(1,), num=0), r"num\[0\] must be at least 1"),
        (dict(lower=(0,), upper=(np.inf,), num=2), "finite"),
        (dict(lower=(0,), upper=(1,), num=2.5), "integers"),
    ],
)
def test_grid_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        Grid(**kwargs)


# --- every quantity against closed forms ------------------------------------------------


def test_quantities_match_closed_forms():
    f = jg.expression(F_TEXT)
    X, Y = mesh()
    u = np.array([1.0, 2.0]) / np.sqrt(5.0)
    H = hess_np(X, Y)
    lam = np.linalg.eigvalsh(H)
    expected = {
        "value": f_np(X, Y),
        "grad": grad_np(X, Y),
        "grad_norm": np.linalg.norm(grad_np(X, Y), axis=-1),
        "hessian": H,
        "eigenvalues": lam,
        "laplacian": np.trace(H, axis1=-2, axis2=-1),
    }
    for name, want in expected.items():
        got = field(quantity(f, name), GRID)
        assert got.shape == GRID.shape + want.shape[2:], name
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=name)
    d = field(quantity(f, "directional", direction=(1.0, 2.0)), GRID)
    np.testing.assert_allclose(d, grad_np(X, Y) @ u, rtol=1e-12, atol=1e-12)
    kinds = np.asarray(field(quantity(f, "kind"), GRID))
    tol = np.sqrt(np.finfo(np.float64).eps) * np.max(np.abs(lam), axis=-1)
    ref = np.where((lam.max(-1) > tol) & (lam.min(-1) < -tol), 2,
                   np.where(np.any(np.abs(lam) <= tol[..., None], -1), 3, np.where(lam.min(-1) > 0, 0, 1)))
    np.testing.assert_array_equal(kinds, ref)


def test_jacobian_field_of_vector_expression():
    F = jg.expression("[x**2 + y, x*y, sin(x)]")
    J = np.asarray(field(quantity(F, "jacobian"), GRID))
    X, Y = mesh()
    assert J.shape == GRID.shape + (3, 2)
    np.testing.assert_allclose(J[..., 0, 0], 2 * X)
    np.testing.assert_allclose(J[..., 1, :], np.stack([Y, X], -1))
    np.testing.assert_allclose(J[..., 2, 0], np.cos(X))


def test_every_quantity_has_its_shape_in_3d():
    f = jg.expression("x*y*z + x**2")
    g = Grid((-1, -1, -1), (1, 1, 1), (3, 4, 5))
    shapes = {"value": (), "grad": (3,), "grad_norm": (), "hessian": (3, 3), "eigenvalues": (3,),
              "kind": (), "laplacian": ()}
    for name, extra in shapes.items():
        assert field(quantity(f, name), g).shape == (3, 4, 5) + extra


def test_unknown_quantity_suggests_nearest():
    with pytest.raises(InputError, match="did you mean 'hessian'"):
        quantity(jg.expression("x"), "hesian")
    with pytest.raises(InputError, match="direction"):
        quantity(jg.expression("x"), "directional")


# --- chunking, points, retracing -----------------------------------------------------------


@pytest.mark.parametrize("name", ["grad", "hessian", "eigenvalues", "kind"])
@pytest.mark.parametrize("chunk", [1, 4, 10, 62])
def test_chunked_equals_unchunked(name, chunk):
    f = jg.expression(F_TEXT)
    # equal up to the last bit or so: XLA may contract to FMAs differently per batch size
    np.testing.assert_allclose(field(quantity(f, name), GRID, chunk_size=chunk), field(quantity(f, name), GRID),
                               rtol=1e-13, atol=1e-13)


def test_memory_budget_chooses_chunks_and_matches():
    f = jg.expression(F_TEXT)
    fn = quantity(f, "hessian")
    plan = plan_field(fn, GRID, memory_budget=1024)  # XLA: 56 bytes a point, 3.5 KiB for the whole grid
    assert plan.batch is not None and plan.chunks > 1
    assert plan.batch * 56 <= 1024
    assert plan_field(fn, GRID).batch is None  # small grids: one plain vmap
    np.testing.assert_allclose(plan.run(), field(fn, GRID), rtol=1e-13, atol=1e-13)


def test_chunks_are_sized_by_xla_memory_analysis_not_the_rough_bound():
    fn = quantity(jg.expression(F_TEXT), "grad")
    grid = Grid((-1, -1), (1, 1), (300, 300))
    exact = jax.jit(jax.vmap(fn)).lower(jnp.zeros((grid.size, 2))).compile().memory_analysis()
    need = exact.temp_size_in_bytes + exact.output_size_in_bytes + exact.argument_size_in_bytes
    # the rough bound (4x input + output: 2.9 MB) would chunk; XLA's own figure fits
    assert plan_field(fn, grid, memory_budget=need + 64).batch is None
    assert plan_field(fn, grid, memory_budget=need // 2).chunks >= 2


def test_field_over_arbitrary_points():
    f = jg.expression(F_TEXT)
    pts = np.random.default_rng(0).uniform(-1, 1, (13, 2))
    got = field(quantity(f, "grad"), jnp.asarray(pts), chunk_size=5)
    np.testing.assert_allclose(got, grad_np(pts[:, 0], pts[:, 1]), rtol=1e-12)


def test_extra_arguments_are_data():
    f = lambda x, a: a * jnp.sum(x**2)
    np.testing.assert_allclose(field(f, GRID, 3.0), 3 * (mesh()[0] ** 2 + mesh()[1] ** 2))


def test_second_call_with_new_values_does_not_retrace():
    traces = []

    def fn(x):
        traces.append(1)
        return jnp.sin(x[0]) * x[1]

    field(fn, Grid((0, 0), (1, 1), (6, 5)))
    after_first = len(traces)
    out = field(fn, Grid((-3, 2), (4, 7), (6, 5)))  # new bounds, same shape
    assert len(traces) == after_first
    X, Y = Grid((-3, 2), (4, 7), (6, 5)).mesh()
    np.testing.assert_allclose(out, np.sin(X) * Y, rtol=1e-12)
    pts = jnp.ones((9, 2))
    field(fn, pts)
    n = len(traces)
    field(fn, pts * 2)
    assert len(traces) == n
    f = jg.expression(F_TEXT)
    field(quantity(f, "hessian"), GRID)
    before = jax.config.jax_log_compiles
    assert quantity(f, "hessian") is quantity(f, "hessian") and jg.grad(f) is jg.grad(f)
    assert before == jax.config.jax_log_compiles


def test_a_repeated_grid_field_reuses_its_plan_and_new_argument_values_are_still_used(monkeypatch):
    from jaxgrad.fields import quantities as fields

    calls = []
    real = fields.plan_field
    monkeypatch.setattr(fields, "plan_field", lambda *a, **k: calls.append(1) or real(*a, **k))
    f = lambda x, a: a * jnp.sin(x[0]) * x[1]  # noqa: E731
    grid = Grid((-1, 0), (2, 3), (7, 4))
    X, Y = grid.mesh()
    for k, a in enumerate((1.5, -2.0, 0.25)):
        np.testing.assert_allclose(field(f, grid, a), a * np.sin(X) * Y, rtol=1e-12)
        assert len(calls) == 1  # planned on the first call only
    np.testing.assert_allclose(field(f, Grid((0, 0), (1, 1), (7, 4)), 2.0),  # another grid: planned anew
                               2.0 * np.sin(Grid((0, 0), (1, 1), (7, 4)).mesh()[0]) * Grid((0, 0), (1, 1), (7, 4)).mesh()[1],
                               rtol=1e-12)
    assert len(calls) == 2
    field(f, grid, jnp.float32(1.0), dtype=jnp.float32)  # another dtype: another plan
    assert len(calls) == 3
    from jaxgrad import cache

    plans = cache.cache_info()["memos"]["field plans"]
    assert all(plan.args[-1] == () for plan in cache.lookup("field plans").values())  # no call's arguments kept alive
    for i in range(plans["maxsize"] + 5):  # bounded
        field(f, Grid((0, 0), (1, 1 + i), (2, 2)), 1.0)
    info = cache.cache_info()["memos"]
    assert info["field plans"]["size"] == plans["maxsize"]
    assert 0 < info["grid points"]["bytes"] <= info["grid points"]["budget"]


def test_float32_grid():
    f = jg.expression(F_TEXT)
    out = field(quantity(f, "grad"), GRID, dtype=jnp.float32)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, grad_np(*mesh()), rtol=2e-5, atol=2e-5)


# --- sharding over forced CPU devices -------------------------------------------------------

SHARDED_SCRIPT = textwrap.dedent(
    """
    import json, jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import jaxgrad as jg
    from jaxgrad.fields.quantities import field, quantity
    from jaxgrad.fields.grid import Grid
    f = jg.expression("x**2*y + exp(x*y)")
    report = {"devices": jax.device_count()}
    for name, num in [("grad", (8, 5)), ("hessian", (7, 12)), ("kind", (7, 5)), ("eigenvalues", (9, 9))]:
        g = Grid((-1.5, -1.0), (1.0, 2.0), num)
        many = field(quantity(f, name), g)
        one = field(quantity(f, name), g, devices=1)
        chunked = field(quantity(f, name), g, chunk_size=3)
        report[name] = {
            "spans": len(many.sharding.device_set),
            "spec": str(many.sharding.spec),
            "max_diff": float(np.max(np.abs(np.asarray(many, float) - np.asarray(one, float)))),
            "chunked_diff": float(np.max(np.abs(np.asarray(chunked, float) - np.asarray(many, float)))),
        }
    for dtype in ("float32", "float64"):  # a matrix product per point (x^T A x), 67 x 67 points: not a multiple of 4
        with jax.enable_x64(dtype == "float64"):
            q = jg.problems.make("quadratic", dim=2, condition_number=50.0)
            g = Grid((-6.4, -6.0), (1.6, 2.3), (67, 67))
            many, one = np.asarray(field(q.loss, g)), np.asarray(field(q.loss, g, devices=1))
            report["quadratic-" + dtype] = float(np.max(np.abs(many - one) / np.abs(one)))
    print(json.dumps(report))
    """
)


def test_sharded_equals_single_device_on_four_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = subprocess.run([sys.executable, "-c", SHARDED_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4
    for name in ("grad", "hessian", "kind", "eigenvalues"):
        assert report[name]["spans"] == 4, name
        # within a few ulps: one process reshapes a sharded output inside the program, which changes
        # XLA's fusions (several processes gather flat and give one device's bits: test_distributed)
        assert report[name]["max_diff"] <= 1e-14, name
        assert report[name]["chunked_diff"] <= 1e-12, name
    assert report["quadratic-float32"] <= 1e-5 and report["quadratic-float64"] <= 1e-13
    assert report["grad"]["spec"] == "P('points',)"  # 8 rows over 4 devices
    assert report["hessian"]["spec"] == "P(None, 'points')"  # 7 x 12: the second axis


# --- curvature ----------------------------------------------------------------------------


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_closed_form_eigenvalues_match_lapack(d):
    rng = np.random.default_rng(d)
    A = rng.normal(size=(200, d, d))
    S = (A + np.swapaxes(A, 1, 2)) / 2
    # include repeated eigenvalues and a multiple of the identity
    S[0] = np.eye(d) * 2.5
    if d >= 2:
        Q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        S[1] = Q @ np.diag([1.0] * (d - 1) + [3.0]) @ Q.T
    np.testing.assert_allclose(eigvalsh(jnp.asarray(S)), np.linalg.eigvalsh(S), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize(
    "H, kind",
    [
        ([[2.0, 0.0], [0.0, 3.0]], "minimum"),
        ([[-2.0, 1.0], [1.0, -3.0]], "maximum"),
        ([[2.0, 3.0], [3.0, 2.0]], "saddle"),
        ([[2.0, -2.0], [-2.0, 2.0]], "degenerate"),
        ([[1.0, 0, 0], [0, -1.0, 0], [0, 0, 0.0]], "saddle"),
        ([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1e-12]], "degenerate"),
        ([[0.0]], "degenerate"),
    ],
)
def test_classify(H, kind):
    assert jg.classify(jnp.asarray(H)) == kind


@pytest.mark.parametrize("d", [1, 2, 3, 5, 12])
def test_kind_code_matches_its_definition_on_every_sign_pattern(d):
    """Against the definition, written with NumPy: saddle if both signs exceed the tolerance,
    else degenerate if any eigenvalue is within it, else minimum or maximum."""
    rng = np.random.default_rng(d)
    lam = rng.normal(size=(5000, d))
    lam[::7, 0] = 0.0
    lam[::11] = np.abs(lam[::11])
    lam[::13] = -np.abs(lam[::13])
    lam[::17] = 0.0
    lam[::19, -1] = 1e-5
    rtol = 1e-3
    tol = rtol * np.abs(lam).max(-1, keepdims=True)
    pos, neg, flat = (lam > tol).any(-1), (lam < -tol).any(-1), (np.abs(lam) <= tol).any(-1)
    want = np.where(pos & neg, 2, np.where(flat, 3, np.where(pos, 0, 1)))
    for dtype in (jnp.float32, jnp.float64):
        np.testing.assert_array_equal(kind_code(jnp.asarray(lam, dtype), rtol), want)


def test_kind_code_is_batched():
    lam = jnp.asarray([[1.0, 2.0], [-1.0, -2.0], [-1.0, 2.0], [0.0, 1.0]])
    np.testing.assert_array_equal(kind_code(lam), [0, 1, 2, 3])


# --- critical points -------------------------------------------------------------------------


def test_critical_point_of_the_seed_quadratic_saddle():
    (cp,) = critical_points(jg.expression("x**2 + 3*x*y + y**2"), (-2, -2), (2, 2))
    np.testing.assert_allclose(cp.point, [0, 0], atol=1e-12)
    np.testing.assert_allclose(cp.eigenvalues, [-1, 5])
    assert cp.kind == "saddle"


def test_gradient_that_never_vanishes_gives_no_critical_points():
    assert critical_points(jg.expression("x**2 + y**2 - 2*x*y + 2*x - 4*y + 3"), (-5, -5), (5, 5)) == []


def himmelblau_grad(x, y):
    return np.array([4 * x * (x**2 + y - 11) + 2 * (x + y**2 - 7), 2 * (x**2 + y - 11) + 4 * y * (x + y**2 - 7)])


def test_himmelblau_has_4_minima_1_maximum_4_saddles():
    cps = critical_points(jg.expression("(x**2 + y - 11)**2 + (x + y**2 - 7)**2"), (-5, -5), (5, 5))
    kinds = [c.kind for c in cps]
    assert sorted(kinds) == sorted(["minimum"] * 4 + ["maximum"] + ["saddle"] * 4)
    for c in cps:
        assert np.linalg.norm(himmelblau_grad(*c.point)) < 1e-9
    minima = sorted(tuple(np.round(c.point, 6)) for c in cps if c.kind == "minimum")
    known = sorted([(3.0, 2.0), (-2.805118, 3.131313), (-3.779310, -3.283186), (3.584428, -1.848126)])
    np.testing.assert_allclose(minima, known, atol=2e-6)
    assert all(abs(c.value) < 1e-20 for c in cps if c.kind == "minimum")
    (top,) = [c for c in cps if c.kind == "maximum"]
    np.testing.assert_allclose(top.point, [-0.270845, -0.923039], atol=1e-6)
    np.testing.assert_allclose(top.value, 181.616522, rtol=1e-8)


def test_critical_points_outside_the_box_are_dropped():
    # x² - y² + ... with its only critical point at (3, 0)
    assert critical_points(jg.expression("(x-3)**2 - y**2"), (-1, -1), (1, 1)) == []


# --- jaxgrad field --------------------------------------------------------------------------


def test_cli_field_saves_the_field_and_a_plot(tmp_path, capsys):
    npz, png = tmp_path / "g.npz", tmp_path / "g.png"
    argv = ["field", F_TEXT, "--lower", "-1.5,-1", "--upper", "1,2", "--num", "7,9", "--float64",
            "--save", str(npz), "--plot", str(png)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "compile" in out and "points/s" in out
    data = np.load(npz)
    np.testing.assert_allclose(data["values"], grad_np(*mesh()), rtol=1e-12)
    np.testing.assert_allclose(data["axis_1"], GRID.axes[1])
    assert png.stat().st_size > 10_000


def test_cli_field_kind_counts(capsys):
    assert main(["field", "x**2 - y**2", "--lower", "-1,-1", "--upper", "1,1", "--num", "5", "--quantity", "kind"]) == 0
    assert "saddle 25" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--quantity", "hesian"], "did you mean 'hessian'"),
        (["--quantity", "directional"], "--direction: needed"),
        (["--num", "0"], "num[0] must be at least 1"),
        (["--num", "5,5,5"], "--num: expected 1 or 2"),
        (["--lower", "-1"], "--lower: expected 2"),
        (["--chunk-size", "0"], "chunk_size must be a positive integer"),
    ],
)
def test_cli_field_bad_input(extra, message, capsys):
    argv = ["field", "x*y", "--lower", "-1,-1", "--upper", "1,1"]
    for i in range(0, len(extra), 2):  # later options override earlier ones
        argv += extra[i : i + 2]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err.replace("error: ", "") and err.count("\n") == 1
