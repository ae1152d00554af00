"""Render one of every jaxgrad picture into docs/gallery/ (the README shows them).

Run:  python experiments/gallery.py [--out docs/gallery]

Everything here goes through the public API: compute with jaxgrad, draw with
jaxgrad.pictures.plots (NumPy in, no JAX), save with jaxgrad.pictures.house.save_figure. It also
times a 101 x 101 loss landscape of the default MLP (one compiled call).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import jaxgrad as jg
from jaxgrad.pictures import house, plots
from jaxgrad.pictures.house import save_figure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/gallery")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def save(fig, name):
        save_figure(fig, out / name)
        print(out / name)

    # 1. the seeds' gradient field of x^2 + y^2, with arrows coloured by |grad f|
    f = jg.expression("x**2*y + exp(x*y)")
    grid = jg.Grid((-2, -2), (2, 2), (201, 201))
    x, y = grid.axes
    fv = np.asarray(jg.field(f, grid))
    gv = np.asarray(jg.field(jg.quantity(f, "grad"), grid))
    crit = [(c.point, c.kind) for c in jg.critical_points(f, (-2, -2), (2, 2))]
    save(plots.field_figure("grad", (x, y), gv, f_values=fv, grad=gv, critical=crit, title=f"f = {f.text}"),
         "gradient_field.png")
    fig, (ax,) = house.figure(1, 7.0, 5.6)
    plots.streamlines(ax, x, y, fv, gv, title=f"gradient flow of f = {f.text}")
    save(fig, "streamlines.png")

    # 2. the directional derivative around a point (the seeds' x^2 + y^2 at (1, 2))
    bowl = jg.expression("x**2 + y**2")
    angles, dd = jg.directional_profile(bowl, jnp.asarray([1.0, 2.0]))
    fig = Figure(figsize=(6, 6), dpi=house.DPI, layout="constrained")
    plots.directional_polar(fig.add_subplot(projection="polar"), angles, dd, np.array([2.0, 4.0]), (1, 2))
    save(fig, "directional_derivative.png")

    # 2b. a function of one variable and its derivative (exact, with finite differences on it)
    from jaxgrad.pictures.explore import function_figure

    save(function_figure(jg.expression("x**3 - 3*x + sin(3*x)"), jg.Grid((-2.0,), (2.0,), (401,)), jnp.float32, at=(0.8,)),
         "function_1d.png")

    # 3. Himmelblau: surface, kinds of points with critical points, eigenvalue maps
    him = jg.expression("(x**2 + y - 11)**2 + (x + y**2 - 7)**2")
    hgrid = jg.Grid((-5, -5), (5, 5), (301, 301))
    hx, hy = hgrid.axes
    hv = np.asarray(jg.field(him, hgrid))
    fig = Figure(figsize=(7.5, 6.0), dpi=house.DPI)
    plots.surface(fig, hx, hy, hv, title="Himmelblau's function")
    save(fig, "surface.png")
    hcrit = [(c.point, c.kind) for c in jg.critical_points(him, (-5, -5), (5, 5))]
    kinds = np.asarray(jg.field(jg.quantity(him, "kind"), hgrid))
    save(plots.field_figure("kind", (hx, hy), kinds, critical=hcrit, title="Himmelblau: 4 minima, 1 maximum, 4 saddles"),
         "kinds.png")
    eig = np.asarray(jg.field(jg.quantity(him, "eigenvalues"), hgrid))
    save(plots.field_figure("eigenvalues", (hx, hy), eig, f_values=hv, critical=hcrit, title="Himmelblau: Hessian eigenvalues"),
         "eigenvalues.png")

    # 4. basins of attraction of Newton with a line search on Himmelblau
    problem = jg.problems.make("himmelblau")
    b = jg.basins(problem, jg.optimizers.make("newton", linesearch=True), num=151, steps=60)
    fig, (ax,) = house.figure(1, 6.4, 5.8)
    plots.basins_map(ax, b.axes[0], b.axes[1], b.label, b.steps, b.minimizers, 60,
                     title="Newton + line search on Himmelblau: where each start ends")
    save(fig, "basins.png")

    # 5. optimizer runs from a config: paths, loss curves, learning-rate sensitivity, race, regression fits
    with tempfile.TemporaryDirectory() as tmp:
        for config, keep in [("configs/quickstart.toml", {"paths-0": "paths.png", "loss-1": "loss_curves.png",
                                                           "lr_sensitivity-0": "lr_sensitivity.png"}),
                             ("configs/linear_regression.toml", {"fit-0": "regression_fit.png",
                                                                 "landscape-0": "regression_landscape.png"}),
                             ("configs/logistic_regression.toml", {"fit-0": "logistic_fit.png"}),
                             ("configs/edge_of_stability.toml", {"sharpness-0": "edge_of_stability.png"})]:
            cfg = jg.load_config(config)
            result = jg.run_experiment(cfg, Path(tmp) / cfg.name)
            for png in result.run_dir.glob("*.png"):
                for prefix, name in keep.items():
                    if png.name.startswith(prefix + "-"):
                        (out / name).write_bytes(png.read_bytes())
                        print(out / name)
            if config.endswith("quickstart.toml"):
                from jaxgrad.pictures import report

                for gif in report.draw(result.run_dir, ["race"]):
                    if gif.name.startswith("race-0"):
                        (out / "race.gif").write_bytes(gif.read_bytes())
                        print(out / "race.gif")

    # 6. loss landscapes of the MLP: interpolation, a random filter-normalised plane, the trajectory's plane
    mlp = jg.problems.make("mlp")
    params0 = mlp.init(jax.random.PRNGKey(0))
    trace = jg.minimize(mlp.loss, params0, jg.optimizers.make("adam", learning_rate=1e-2), 500, record_params=True)
    trained = trace.final_params
    alphas, along = jg.landscape.interpolate(mlp.loss, params0, trained, num=101)
    d = jg.landscape.random_direction(jax.random.PRNGKey(3), trained)
    betas, across = jg.landscape.line(mlp.loss, trained, d, num=101)
    fig, (ax,) = house.figure(1, 7.0, 4.6)
    plots.landscape_1d(ax, alphas, [("_loss", along)], xlabel="α: (1 - α) initial + α trained weights",
                       title="MLP: loss along the straight line from initialisation (α = 0) to the trained weights (α = 1)")
    save(fig, "landscape_1d.png")
    d1, d2 = jg.landscape.random_plane(jax.random.PRNGKey(4), trained)
    jg.landscape.plane(mlp.loss, trained, d1, d2, num=101)  # compile
    t0 = time.perf_counter()
    sl = jg.landscape.plane(mlp.loss, trained, d1, d2, num=101)
    seconds = time.perf_counter() - t0
    print(f"MLP ({mlp.dim} parameters, {mlp.data[0].shape[0]} examples): 101 x 101 plane in {seconds:.2f} s "
          f"(one compiled call, steady state)")
    fig, (ax,) = house.figure(1, 6.6, 5.6)
    plots.landscape_2d(ax, sl.alphas, sl.betas, sl.losses,
                       title="MLP: loss on a random filter-normalised plane through the trained weights")
    save(fig, "landscape_2d.png")
    tp = jg.landscape.trajectory_plane(mlp.loss, trace.params, num=101)
    fig, (ax,) = house.figure(1, 6.6, 5.6)
    plots.landscape_2d(ax, tp.alphas, tp.betas, tp.losses, path=tp.path, xlabel="towards the start",
                       ylabel="principal direction of the rest",
                       title=f"MLP: Adam's path on the plane through its start and end ({100 * tp.explained:.0f}% of its motion)")
    save(fig, "landscape_trajectory.png")

    # 7. the Hessian's eigenvalue density of the MLP, at initialisation and after 500 Adam steps
    fig, axes = house.figure(2, 5.4, 4.4)
    for ax, (label, p) in zip(axes, [("at initialisation", params0), ("after 500 Adam steps", trained)]):
        grid, density = jg.spectral_density(mlp.loss, p)
        top = jg.top_eigenvalues(mlp.loss, p, k=3)[0]
        plots.spectral_density(ax, grid, density, top=np.asarray(top), title=f"MLP Hessian spectrum, {label}")
    save(fig, "spectral_density.png")

    # 8. the Hessian against the generalised Gauss-Newton of the trained MLP: H = GGN + the
    # residual term (the outputs' residuals times their Hessians); the GGN is positive
    # semi-definite, so every negative eigenvalue of H is the residual term's
    curves, smallest, traces = [], [], []
    for label, kind in (("Hessian", "hessian"), ("Gauss-Newton (GGN)", "ggn")):
        op = jg.curvature_operator(mlp, trained, kind)
        grid, density = jg.spectral_density(op)
        curves.append((label, grid, density))
        eigenvalues = np.linalg.eigvalsh(np.asarray(op.to_dense(), np.float64))
        smallest.append((label, eigenvalues[:30]))
        traces.append(f"{eigenvalues.sum():.3g}")
    fig, axes = house.figure(2, 5.0, 4.2)
    plots.spectral_overlay(axes[0], curves, title=f"densities (traces {' and '.join(traces)})", show_legend=False)
    plots.eigenvalue_ladder(axes[1], smallest, title="the 30 smallest eigenvalues (exact)", show_legend=False)
    house.shared_legend(fig, axes)
    fig.suptitle("MLP after 500 Adam steps: the Hessian against its Gauss-Newton part")
    save(fig, "hessian_vs_ggn.png")


if __name__ == "__main__":
    main()
