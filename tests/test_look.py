"""How figures look, checked on real Agg draws: one identity per optimizer across figures and runs,
one legend (none for a single line), frames from the data, square parameter planes, colorbar ticks
on decades, the race GIF's size and legend, and maths in titles."""

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex

from jaxgrad.cli import main
from jaxgrad.pictures import house, plots, report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The quickstart twice (one with the optimizers in another order), small."""
    folder = tmp_path_factory.mktemp("look")
    text = (ROOT / "configs" / "quickstart.toml").read_text()
    (folder / "a.toml").write_text(text)
    blocks = text.split("[[optimizers]]")  # the optimizer tables reversed: colours must not follow the order
    (folder / "b.toml").write_text(blocks[0] + "".join("[[optimizers]]" + b.split("[output]")[0]
                                                       for b in reversed(blocks[1:]))
                                   + "[output]" + text.split("[output]")[1])
    out = []
    for name in ("a", "b"):
        assert main(["run", str(folder / f"{name}.toml"), "--out", str(folder / name), "--quiet", "--no-plots",
                     "--set", "steps=40", "--set", "seeds=2"]) == 0  # the figures are drawn by the tests
        out.append(folder / name)
    return out


def _line_colors(ax) -> dict:
    return {line.get_label(): to_hex(line.get_color()) for line in ax.get_lines()
            if line.get_label() and not line.get_label().startswith("_")}


def test_each_optimizer_keeps_its_colour_across_figures_and_runs(runs):
    seen = {}
    for run in runs:
        for kind in ("loss", "paths", "lr_sensitivity"):
            fig = report.figure(run, kind)
            for label, c in _line_colors(fig.axes[0]).items():
                name = label.split(" ")[0]
                if name in house.OPTIMIZER_STYLES:
                    assert c == house.OPTIMIZER_STYLES[name].color, (run.name, kind, label)
                    seen.setdefault(name, set()).add(c)
    assert set(seen) == {"sgd", "adam", "newton"} and all(len(c) == 1 for c in seen.values())
    # relatives that can coincide differ in colour and in dash
    a, b = house.identities(["momentum", "nesterov"])
    assert a.color != b.color and a.dash != b.dash
    first, second = house.identities(["newton", "newton"])  # two groups of one optimizer: a new dash
    assert first.color == second.color and first.dash != second.dash


def test_one_legend_at_most_and_none_for_a_single_line():
    fig, (ax,) = house.figure(1, 6, 4)
    plots.landscape_1d(ax, np.linspace(0, 1, 10), [("adam (lr=0.01)", np.linspace(1, 2, 10))], title="a title")
    house.polish(fig)
    assert ax.get_legend() is None and "adam (lr=0.01)" in ax.get_title()
    fig, (ax,) = house.figure(1, 6, 4)
    plots.landscape_1d(ax, np.linspace(0, 1, 10), [("a", np.linspace(1, 2, 10)), ("b", np.linspace(2, 1, 10))])
    house.polish(fig)
    assert ax.get_legend() is not None and len(ax.get_legend().get_texts()) == 2


def test_titles_wrap_to_their_axes_and_set_maths():
    fig, (ax,) = house.figure(1, 4, 3)
    ax.set_title("x**3 - 3*x + sin(3*x): " + "a long title " * 8)
    house.polish(fig)
    title = ax.get_title()
    assert title.startswith("x³ − 3x + sin(3x)") and "\n" in title
    fig.canvas.draw()
    box, frame = ax.title.get_window_extent(), ax.get_window_extent()
    assert box.width <= 1.15 * frame.width  # no blank margin from a title wider than its axes


def test_paths_frame_every_start_and_end_square_with_decade_ticks(runs):
    from jaxgrad.lab import rundir

    summary, arrays = rundir.read(runs[0])
    fig = report.figure(runs[0], "paths", problem=0)
    ax = fig.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    for g in (g for g in summary["groups"] if g["problem_index"] == 0):
        path = arrays[f"group{g['index']}_params"][g["best"], 0]
        for px, py in (path[0], path[-1]):
            assert x0 <= px <= x1 and y0 <= py <= y1
    assert ax.get_aspect() == 1.0
    colorbar = fig.axes[1]
    ticks = [t for t in colorbar.get_yticks() if colorbar.get_ylim()[0] <= t <= colorbar.get_ylim()[1]]
    assert len(ticks) >= 3 and all(abs(math.log10(t) - round(math.log10(t))) < 1e-9 for t in ticks)


def test_landscape_planes_are_square():
    fig, (ax,) = house.figure(1, 6, 5)
    a = np.linspace(-1, 1, 11)
    plots.landscape_2d(ax, a, 2 * a, np.add.outer(a**2, a**2) + 0.1)
    assert ax.get_aspect() == 1.0


def test_the_race_is_840_px_wide_with_a_legend_in_every_frame():
    from PIL import Image

    x = y = np.linspace(-2, 2, 21)
    z = np.add.outer(x**2, y**2)
    paths = [np.linspace([1.5, 1.5], [0, 0], 30), np.linspace([-1.5, 1.0], [0, 0], 20)]
    fig, update, count = plots.race_figure(x, y, z, paths, ["sgd", "adam"], [(0.0, 0.0)],
                                           styles=house.identities(["sgd", "adam"]))
    update(count - 1)
    fig.canvas.draw()
    assert fig.legends and [t.get_text() for t in fig.legends[0].get_texts()] == ["sgd", "adam"]
    legend, frame = fig.legends[0].get_window_extent(), fig.bbox
    assert frame.x0 <= legend.x0 and legend.x1 <= frame.x1 and frame.y0 <= legend.y0  # inside the frame
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        plots.race_gif(Path(d) / "race.gif", x, y, z, paths, ["sgd", "adam"], frames=5)
        assert Image.open(Path(d) / "race.gif").size[0] >= 800


def test_fits_that_coincide_are_one_line_with_one_legend_entry():
    X = np.linspace(-1, 1, 20)
    fig, (ax,) = house.figure(1, 6, 4)
    fits = [("sgd", 1.0, 2.0, "C0"), ("adam", 1.0000001, 2.0000001, "C1"), ("newton", 1.0, 2.0, "C2"),
            ("momentum", 0.5, 1.0, "C3")]
    plots.fit_plot(ax, X, 2 * X + 1, fits, minimizer=(1.0, 2.0))
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(ax.get_lines()) == 2 and len(texts) == 3  # the data, one shared line, the other fit
    assert "sgd, adam, newton (the same line)" in " ".join(texts).replace("\n", " ") and "the optimum" in texts[1]


def test_streamlines_colour_gradient_norms_on_a_log_scale():
    from matplotlib.colors import LogNorm

    x = y = np.linspace(-2, 2, 21)
    X, Y = np.meshgrid(x, y, indexing="ij")
    f = X**2 + 10 * Y**2
    grad = np.stack([2 * X, 20 * Y], -1)
    fig, (ax,) = house.figure(1, 5, 4)
    plots.streamlines(ax, x, y, f, grad)
    assert any(isinstance(c.norm, LogNorm) for c in ax.collections)


@pytest.mark.slow  # 6-10 s; run with --full
def test_a_network_regression_draws_its_fitted_curve(tmp_path, run_config):
    import jax
    from jax.flatten_util import ravel_pytree

    import jaxgrad as jg
    from jaxgrad.lab import rundir

    assert run_config('steps = 30\nseeds = 2\n[[problems]]\nname = "mlp"\nn = 64\n[[optimizers]]\nname = "adam"\n'
                      'learning_rate = 0.02\n[[optimizers]]\nname = "sgd"\nlearning_rate = 0.1\n'
                      '[output]\nplots = ["loss"]\n', "--out", tmp_path / "run", "--quiet", "--no-plots").code == 0
    summary, arrays = rundir.read(tmp_path / "run")
    problem = jg.problems.make("mlp", n=64)
    _, unravel = ravel_pytree(problem.init(jax.random.PRNGKey(0)))
    grid = arrays["problem0_fitcurve_x"]
    for g in summary["groups"]:  # the saved curve is the network at the group's final parameters
        params = unravel(arrays[f"group{g['index']}_best_final"])
        np.testing.assert_allclose(arrays[f"group{g['index']}_fitcurve_y"],
                                   problem.predict(params, grid[:, None].astype(np.float32)), rtol=1e-5, atol=1e-6)
    fig = report.figure(tmp_path / "run", "fit")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 1  # a curve per optimizer over the data


def test_the_surface_has_no_z_ticks_below_the_function():
    from matplotlib.figure import Figure

    x = y = np.linspace(-2, 2, 31)
    f = np.add.outer(x**2, y**2)  # f >= 0
    fig = Figure(figsize=(6, 5))
    ax = plots.surface(fig, x, y, f)
    assert min(ax.get_zticks()) >= 0 and ax.get_zlim()[0] < 0  # the contour floor below, unlabelled


def test_a_single_panel_figure_has_one_title():
    x = y = np.linspace(-1, 1, 11)
    f = np.add.outer(x**2, y)
    grad = np.stack(np.broadcast_arrays(2 * x[:, None], np.ones((11, 11))), -1)
    fig = plots.field_figure("grad", (x, y), grad, f_values=f, grad=grad, title="f = x**2 + y")
    house.polish(fig)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 1 and titles[0].startswith("f = x² + y") and not fig._suptitle.get_text()
