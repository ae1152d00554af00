"""The figure style: legends never cover data, every start is in the frame, log axes stop at the
data's own floor, maps carry colorbars, GIFs hold still and hold their end."""

import io

import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from PIL import Image

from jaxgrad.pictures import house, plots
from jaxgrad.pictures.house import save_figure

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64

x, y = np.linspace(-2, 2, 41), np.linspace(-1, 1.5, 31)
X, Y = np.meshgrid(x, y, indexing="ij")
F = X**2 + 3 * Y**2 + 0.5 * X * Y
G = np.stack([2 * X + 0.5 * Y, 6 * Y + 0.5 * X], -1)


def _data_points(ax):
    """Every plotted point of ``ax`` in display coordinates (lines and scatters)."""
    pts = [ax.transData.transform(np.column_stack(line.get_data()).astype(float)) for line in ax.lines
           if len(line.get_xdata()) and line.get_label() != "_nolegend_"]
    pts += [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections
            if isinstance(c, PathCollection) and len(c.get_offsets())]
    pts = np.concatenate(pts) if pts else np.zeros((0, 2))
    return pts[np.all(np.isfinite(pts), axis=1)]


def _assert_legends_clear(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # a real draw: constrained layout places the axes and legends
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent()
        frame = ax.get_window_extent()
        pts = _data_points(ax)
        pts = pts[(pts[:, 0] >= frame.x0) & (pts[:, 0] <= frame.x1) & (pts[:, 1] >= frame.y0)
                  & (pts[:, 1] <= frame.y1)]  # the visible ones (a line runs on, clipped, past the frame)
        inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
        assert not inside.any(), f"{inside.sum()} plotted points under the legend of {ax.get_title()!r}"


def _colorbars(fig) -> int:
    return sum(1 for ax in fig.axes if getattr(ax, "_colorbar", None) is not None)


def test_paths_keep_every_start_in_the_frame_with_the_legend_off_the_data():
    start = np.array([2.6, 1.4])  # outside the contour grid
    path = np.stack([np.linspace(start[0], 0, 12), np.linspace(start[1], 0, 12)], 1)
    fig, (ax,) = house.figure()
    plots.paths_on_contours(ax, x, y, F, [("gd", path, "r"), ("adam", path[::-1] * 0.5, "b")], [(0, 0)])
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for p in (path[0], path[-1]):
        assert x0 < p[0] < x1 and y0 < p[1] < y1
    assert _colorbars(fig) == 1
    _assert_legends_clear(fig)


def test_loss_curves_draw_exact_zeros_on_a_band_at_the_datas_own_floor():
    curve = np.exp(-np.arange(40) / 4.0)
    zeroed = np.where(np.arange(40) > 20, 0.0, curve**2)  # Newton: the gap hits exactly 0
    fig, (ax,) = house.figure()
    plots.loss_curves(ax, [("sgd", curve, curve / 2, curve * 2, None), ("newton", zeroed, zeroed, zeroed, None)])
    lo, hi = ax.get_ylim()
    smallest = min(v for v in np.concatenate([curve / 2, zeroed]) if v > 0)
    assert np.isfinite([lo, hi]).all() and smallest / 10 <= lo < smallest  # never down to 1e-315
    newton = next(line for line in ax.lines if line.get_label() == "newton")
    assert newton.get_ydata().min() == pytest.approx(smallest / 3)  # the zeros sit on the band
    assert any("≤ 0" in t.get_text() for t in ax.texts)
    _assert_legends_clear(fig)


@pytest.mark.parametrize("diverged", [True, False])
def test_lr_sensitivity_caps_a_blown_up_setting_and_names_divergence_only_when_there_is_one(diverged):
    values = [1.0, 0.1, 2e17 if diverged else 3.0]
    fig, (ax,) = house.figure()
    plots.lr_sensitivity(ax, [("sgd", [1e-3, 1e-2, 1e-1], values, [0, 0, 1 if diverged else 0]),
                              ("adam", [1e-3, 1e-2, 1e-1], [0.5, 0.05, 0.0], [0, 0, 0])])
    lo, hi = ax.get_ylim()
    assert np.isfinite([lo, hi]).all() and hi <= 1e3 * 3.0 and lo > 0  # 4 decades, not 18
    labels = ax.get_legend_handles_labels()[1]
    assert ("some runs diverged" in labels) == diverged
    _assert_legends_clear(fig)


def test_maps_carry_colorbars_and_legends_stay_off_the_data():
    fig = plots.field_figure("grad", (x, y), G, f_values=F, grad=G, critical=[(np.zeros(2), "minimum")])
    assert _colorbars(fig) >= 1
    _assert_legends_clear(fig)
    fig = Figure()
    plots.surface(fig, x, y, F)
    assert _colorbars(fig) == 1
    fig, (ax,) = house.figure()
    plots.landscape_2d(ax, x, y, F + 1, paths=[("a", np.array([[1.0, 0.5], [0.0, 0.0]]), "r")])
    assert _colorbars(fig) == 1
    _assert_legends_clear(fig)


def test_gradient_arrows_use_a_log_colour_scale_when_the_norm_spans_decades():
    fig, (ax,) = house.figure()
    g = G * np.exp(3 * X)[..., None]  # |∇f| over five decades
    plots.gradient_field(ax, x, y, F, g)
    quiver = ax.collections[-1]
    assert type(quiver.norm).__name__ == "LogNorm"
    values = np.asarray(quiver.get_array()).ravel()
    colours = quiver.cmap(quiver.norm(values[np.isfinite(values)]))
    assert np.ptp(colours[:, :3], axis=0).max() > 0.5  # not one colour


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_figures_save_at_150_dpi_or_as_vectors_by_suffix(tmp_path, suffix, magic):
    fig, (ax,) = house.figure(1, 4.0, 3.0)
    plots.landscape_1d(ax, np.linspace(0, 1, 10), [("a", np.linspace(1, 2, 10))])
    save_figure(fig, tmp_path / f"f{suffix}")
    data = (tmp_path / f"f{suffix}").read_bytes()
    assert data.startswith(magic)
    if suffix == ".png":
        assert Image.open(io.BytesIO(data)).info["dpi"][0] == pytest.approx(150, abs=1)


def test_the_race_gif_holds_still_and_holds_its_last_frame(tmp_path):
    paths = [np.stack([np.linspace(1.8, 0, 30), np.linspace(1.2, 0, 30)], 1), np.zeros((30, 2)) + 0.5]
    plots.race_gif(tmp_path / "race.gif", x, y, F, paths, ["gd", "adam"], fps=10, frames=8)
    gif = Image.open(tmp_path / "race.gif")
    frames, durations = [], []
    for k in range(gif.n_frames):
        gif.seek(k)
        frames.append(np.asarray(gif.convert("RGB")))
        durations.append(gif.info["duration"])
    assert len({f.shape for f in frames}) == 1
    assert durations[-1] >= 1500 and max(durations[:-1]) <= 200  # the end, held 1.5 s (Pillow merges the copies)
    # the axes do not move between frames: the frame's left columns (outside the plot) never change
    assert all(np.array_equal(frames[0][:, :5], f[:, :5]) for f in frames)


def test_eigenvalue_panels_share_one_colour_range():
    eig = np.stack([-np.abs(X) - 1, 10 * Y**2 + 5], -1)
    fig = plots.field_figure("eigenvalues", (x, y), eig, f_values=F)
    meshes = [c for ax in fig.axes for c in ax.collections if hasattr(c, "norm") and c.get_array() is not None
              and getattr(c, "colorbar", None) is not None]
    ranges = {(m.norm.vmin, m.norm.vmax) for m in meshes}
    assert len(meshes) == 2 and len(ranges) == 1
    assert ranges.pop() == (-np.abs(eig).max(), np.abs(eig).max())


def test_the_value_field_is_a_map_of_f_not_arrows():
    fig = plots.field_figure("value", (x, y), F, f_values=F, grad=G)
    (ax,) = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    mesh = next(c for c in ax.collections if c.get_array() is not None and c.get_array().size == F.size)
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(F.T.shape), F.T)
    assert not [c for c in ax.collections if type(c).__name__ == "Quiver"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_one_variable_plot_draws_f_and_its_exact_derivative_with_finite_differences_on_it(dtype):
    import jax
    import jax.numpy as jnp

    import jaxgrad as jg
    from jaxgrad.fields.grid import Grid
    from jaxgrad.pictures.explore import function_figure

    with jax.enable_x64(dtype == "float64"):
        f = jg.expression("x**3 - 3*x + sin(3*x)")
        fig = function_figure(f, Grid((-2.0,), (2.0,), (201,)), jnp.dtype(dtype), at=(0.8,))
    ax_f, ax_d = fig.axes
    exact = lambda x: 3 * x**2 - 3 + 3 * np.cos(3 * x)  # noqa: E731
    line = next(l for l in ax_d.lines if l.get_label().startswith("f'(x)"))
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(line.get_ydata(), exact(line.get_xdata()), rtol=tol, atol=tol * 10)
    marks = next(l for l in ax_d.lines if l.get_label().startswith("finite differences"))
    assert len(marks.get_xdata()) == 15
    np.testing.assert_allclose(marks.get_ydata(), exact(marks.get_xdata()), atol=1e-2 if dtype == "float32" else 1e-7)
    tangent = next(l for l in ax_f.lines if l.get_label().startswith("tangent"))
    slope = np.diff(tangent.get_ydata())[0] / np.diff(tangent.get_xdata())[0]
    assert slope == pytest.approx(exact(0.8), rel=1e-3)
    _assert_legends_clear(fig)


def test_landscape_arrows_are_the_normalised_negative_gradient_and_paths_get_a_dot_per_step():
    path = np.stack([np.linspace(1.5, 0, 12), np.linspace(1.0, 0, 12)], 1)
    fig, (ax,) = house.figure()
    plots.paths_on_contours(ax, x, y, F, [("gd", path, "r")], [(0, 0)], arrows=True)
    quiver = next(c for c in ax.collections if type(c).__name__ == "Quiver")
    px, py = quiver.X, quiver.Y
    gx, gy = 2 * px + 0.5 * py, 6 * py + 0.5 * px  # ∇F in closed form
    n = np.hypot(gx, gy)
    ok = n > 0
    np.testing.assert_allclose(quiver.U[ok], -gx[ok] / n[ok], atol=1e-9)
    np.testing.assert_allclose(quiver.V[ok], -gy[ok] / n[ok], atol=1e-9)
    dots = [line for line in ax.lines if line.get_marker() == "." and len(line.get_xdata()) == 10]
    assert dots  # the 10 steps between start and end
    assert any(t.get_text() for t in ax.texts)  # labelled contours
    _assert_legends_clear(fig)


def test_a_surface_spanning_decades_is_drawn_on_a_log_scale_and_a_bowl_is_not():
    rosen = (1 - X) ** 2 + 100 * (Y - X**2) ** 2
    for values, log in ((rosen, True), (F, False)):
        fig = Figure()
        ax = plots.surface(fig, x, y, values)
        assert (ax.get_zlabel() == "log10(1 + f - min f)") == log
        if log:
            drawn = ax.collections[0].get_array()
            assert float(np.max(drawn)) <= np.log10(1 + np.ptp(rosen)) + 1e-9


def _every_kind():
    """One figure of every other kind the report and the CLI draw."""
    steps = np.arange(0, 200, 10)
    fig, (a, b) = house.figure(1, 6.0, 6.0, rows=2, sharex=True)
    plots.sharpness_panels(a, b, [("sgd (lr=0.05)", steps, np.exp(-steps / 50) + 0.1, steps, 30 + steps / 10, 40.0),
                                  ("sgd (lr=0.01)", steps, np.exp(-steps / 80) + 0.1, steps, 30 + steps / 20, 200.0)])
    yield "sharpness", fig
    fig, (ax,) = house.figure()
    grid = np.linspace(-5, 45, 400)
    plots.spectral_density(ax, grid, np.exp(-grid**2) + 1e-3 * np.exp(-(grid - 40) ** 2), top=[40.0, 0.5])
    yield "spectral_density", fig
    fig, (ax,) = house.figure()
    plots.fit_plot(ax, np.linspace(-1, 1, 40), (np.linspace(-1, 1, 40) > 0).astype(float), [("gd", 0.1, 4.0, "r")],
                   classification=True, minimizer=(0.0, 5.0))
    yield "fit", fig
    fig, (ax,) = house.figure()
    plots.landscape_1d(ax, np.linspace(0, 1, 30), [("adam", np.linspace(2, 0.1, 30)), ("sgd", np.linspace(2, 1, 30))])
    yield "interpolation", fig
    fig, (ax,) = house.figure()
    taus = np.logspace(0, 4, 50, base=2)
    plots.performance_profiles(ax, taus, np.clip(np.log2(taus)[None] / np.array([[2.0], [5.0]]), 0, 1),
                               ["newton", "sgd"], "steps", 7)
    yield "profile", fig
    fig, (ax,) = house.figure()
    plots.basins_map(ax, x, y, np.where(X > 0, 0, 1), 1 + np.abs(X * 10), [(1, 0), (-1, 0)], 60)
    yield "basins", fig
    yield "kind", plots.field_figure("kind", (x, y), np.where(X * Y > 0, 0, 2), critical=[(np.zeros(2), "saddle")])


@pytest.mark.parametrize("kind, fig", list(_every_kind()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_other_kind_keeps_its_legend_off_the_data_and_its_log_axes_finite(kind, fig):
    _assert_legends_clear(fig)
    for ax in fig.axes:
        if ax.get_yscale() == "log":
            lo, hi = ax.get_ylim()
            assert np.isfinite([lo, hi]).all() and 0 < lo < hi


def test_the_kind_maps_key_is_inside_the_saved_figure():
    # the Hessian key is added with add_artist, which clips it to the axes: it was left out
    # of bbox_inches="tight" and cut off at the figure's edge
    import jax.numpy as jnp
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.legend import Legend

    import jaxgrad as jg
    from jaxgrad.pictures.explore import field_plot

    f = jg.expression("x**2*y + exp(x*y)")
    grid = jg.Grid((-2.0, -2.0), (2.0, 2.0), (60, 60))
    codes = np.asarray(jg.field(jg.quantity(f, "kind"), grid))
    fig = field_plot(f, grid, "kind", codes, jnp.float32)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    saved = fig.get_tightbbox(renderer)  # inches: what savefig(bbox_inches="tight") keeps
    legends = [a for ax in fig.axes for a in ax.get_children() if isinstance(a, Legend)]
    assert len(legends) == 2  # the Hessian's kinds and the critical points
    for leg in legends:
        box = leg.get_window_extent(renderer).transformed(fig.dpi_scale_trans.inverted())
        assert saved.x0 - 1e-6 <= box.x0 and box.x1 <= saved.x1 + 1e-6
