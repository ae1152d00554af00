"""What a run computes beside its trajectories: contour grids, loss landscapes, fitted curves and
basins of attraction."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxgrad.lab import rundir, stats
from jaxgrad.lab.config import Config
from jaxgrad.lab.plan import Group, landscape_kinds

__all__ = ["contours", "starts", "widen_contours", "landscapes", "fit_curves", "group_basins", "CONTOUR_POINTS", "BASIN_POINTS", "LANDSCAPE_POINTS", "FIT_POINTS"]


CONTOUR_POINTS = 201


BASIN_POINTS = 81


def contours(problem, points=None) -> dict | None:
    """The loss over the problem's 2-D box, widened to hold ``points`` (``(k, 2)``: the runs'
    starts, later their paths) with a margin, for contour pictures (computed once, saved)."""
    if problem.bounds is None:
        return None
    from jaxgrad.fields.grid import Grid
    from jaxgrad.fields.quantities import field

    (x0, x1), (y0, y1) = problem.bounds
    if points is not None and len(points):
        pts = np.asarray(points, np.float64)[:, :2]
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if pts.size:
            lo, hi = pts.min(0), pts.max(0)
            pad = 0.08 * np.maximum(hi - lo, 1e-9)
            x0, x1 = min(x0, lo[0] - pad[0]), max(x1, hi[0] + pad[0])
            y0, y1 = min(y0, lo[1] - pad[1]), max(y1, hi[1] + pad[1])
    grid = Grid((x0, y0), (x1, y1), CONTOUR_POINTS)
    if problem.is_point_function:  # (called inside the precision context)
        values = field(problem.loss, grid)
    else:  # a (w, b) regression: the first weight and the bias
        argmin = problem.argmin

        def at(point):
            params = {**argmin, "w": argmin["w"].at[0].set(point[0]), "b": point[1].astype(argmin["b"].dtype)}
            return problem.loss(params)

        values = field(at, grid)
    x, y = grid.axes
    return {"x": x, "y": y, "z": np.asarray(values, np.float64)}


def starts(problem, seeds: int):
    """The runs' starting points, flat ``(seeds, n)`` (seed s starts at ``problem.init(PRNGKey(s))``)."""
    if not problem.is_point_function:
        return None
    keys = jax.vmap(jax.random.PRNGKey)(jnp.arange(seeds))
    return np.asarray(jax.vmap(lambda k: ravel_pytree(problem.init(k))[0])(keys))


def widen_contours(writer, j: int, groups: list, seeds: int) -> None:
    """Recompute a 2-D problem's contours over a box that holds every recorded path, where a
    path left the box computed before the runs (so the figures frame the paths, filled)."""
    key = rundir.problem_key(j, "contour_x")
    records = {r["index"]: r for r in writer.done}
    paths = []  # the figures draw each optimizer's chosen setting, seeds that did not diverge
    for g in groups:
        params = writer.arrays.get(rundir.group_key(g.index, "params"))
        if params is None or g.index not in records or not (g.point_function and g.dim == 2):
            continue
        best = records[g.index]["best"]
        calm = [r["seed"] for r in records[g.index]["settings"][best]["runs"] if r["diverged_step"] is None]
        paths += [params[best, s] for s in calm]
    if key not in writer.arrays or not paths:
        return
    pts = np.concatenate([p.reshape(-1, p.shape[-1])[:, :2] for p in paths])
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if not pts.size:
        return
    inner = np.quantile(pts, [0.01, 0.99], axis=0)  # a blown-up run does not set the box
    x, y = writer.arrays[key], writer.arrays[rundir.problem_key(j, "contour_y")]
    if inner[0, 0] >= x[0] and inner[1, 0] <= x[-1] and inner[0, 1] >= y[0] and inner[1, 1] <= y[-1]:
        return
    writer.add_contours(j, contours(groups[0].problem, inner))


LANDSCAPE_POINTS = 41


def landscapes(config: Config, j: int, groups: list[Group], arrays: dict, records: list[dict]) -> dict:
    """The arrays behind the landscape plots of problem ``j`` (one compiled field each), from
    the committed arrays and group records alone (so a resumed run draws the same):

    * ``interpolation``: the loss from each optimizer's start to its end (best setting, its
      first seed that did not diverge);
    * ``random_plane``: a filter-normalised random plane around the winning optimizer's end;
    * ``trajectory_plane``: the plane through the optimizers' paths, each projected onto it.
    """
    from jaxgrad.fields import landscape

    groups = [g for g in groups if f"group{g.index}_best_final" in arrays]
    if not groups:
        return {}
    problem = groups[0].problem
    kinds = landscape_kinds(config, problem)
    if not kinds:
        return {}
    records = {r["index"]: r for r in records}
    seed = {g.index: int(arrays.get(f"group{g.index}_best_seed", 0)) for g in groups}
    start0 = problem.init(jax.random.PRNGKey(0))
    flat0, unravel = ravel_pytree(start0)
    finals = {g.index: unravel(jnp.asarray(arrays[f"group{g.index}_best_final"], flat0.dtype)) for g in groups}
    ranked = stats.ranking([records[g.index] for g in groups], config.tol is not None, config.precision)
    best = next(g for g in groups if g.index == ranked[0]["group"])
    out = {}
    prefix = f"problem{j}_"
    if "interpolation" in kinds:
        rows = [landscape.interpolate(problem.loss, problem.init(jax.random.PRNGKey(seed[g.index])), finals[g.index],
                                      num=LANDSCAPE_POINTS) for g in groups]
        out[prefix + "interp_alpha"] = rows[0][0]
        out[prefix + "interp_loss"] = np.stack([r[1] for r in rows])
        out[prefix + "interp_groups"] = np.asarray([g.index for g in groups])
        if problem.test_data is not None:  # the held-out loss along the same lines
            test_loss = lambda p: problem.objective(p, problem.test_data)  # noqa: E731
            out[prefix + "interp_test_loss"] = np.stack([
                landscape.interpolate(test_loss, problem.init(jax.random.PRNGKey(seed[g.index])), finals[g.index],
                                      num=LANDSCAPE_POINTS)[1] for g in groups])
    if "random_plane" in kinds:
        d1, d2 = landscape.random_plane(jax.random.PRNGKey(j), finals[best.index])
        pl = landscape.plane(problem.loss, finals[best.index], d1, d2, num=LANDSCAPE_POINTS)
        out.update({prefix + "rplane_alpha": pl.alphas, prefix + "rplane_beta": pl.betas,
                    prefix + "rplane_loss": pl.losses, prefix + "rplane_group": np.asarray(best.index)})
    paths = {}
    for g in groups:
        if f"group{g.index}_params" in arrays:
            paths[g.index] = np.asarray(arrays[f"group{g.index}_params"][records[g.index]["best"], seed[g.index]],
                                        np.float64)
    if "trajectory_plane" in kinds and best.index in paths:
        out.update(_trajectory_plane(problem, prefix, best.index, paths, unravel, flat0.dtype))
    return out


FIT_POINTS = 200


def fit_curves(j: int, groups: list, arrays: dict) -> dict:
    """A 1-D regression network's fitted curve per optimizer (its chosen setting's final parameters)
    on a grid over the inputs, so the figure draws the model without calling JAX."""
    problem = groups[0].problem
    if problem.predict is None or problem.data is None or problem.kind != "regression" or problem.dim == 2:
        return {}  # a line (b, w) is drawn from its two parameters
    X = np.asarray(problem.data[0])
    if X.ndim != 2 or X.shape[1] != 1:
        return {}
    lo, hi = float(X.min()), float(X.max())
    grid = np.linspace(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo), FIT_POINTS)
    flat0, unravel = ravel_pytree(problem.init(jax.random.PRNGKey(0)))
    out = {rundir.problem_key(j, "fitcurve_x"): grid}
    x = jnp.asarray(grid[:, None], flat0.dtype)
    for g in groups:
        key = rundir.group_key(g.index, "best_final")
        if key in arrays:
            params = unravel(jnp.asarray(arrays[key], flat0.dtype))
            out[rundir.group_key(g.index, "fitcurve_y")] = np.asarray(problem.predict(params, x), np.float64).reshape(-1)
    return out


def _trajectory_plane(problem, prefix: str, best: int, paths: dict, unravel, dtype) -> dict:
    """The plane through the best optimizer's end and start whose second direction is the
    principal deviation of *every* optimizer's path (so a one-step Newton path does not
    leave the plane undetermined); every path projected onto it. ``paths``: flat ``(T, n)``."""
    from jaxgrad.fields import landscape

    origin = paths[best][-1]
    u1 = paths[best][0] - origin
    if np.linalg.norm(u1) == 0:
        return {}
    u1 /= np.linalg.norm(u1)
    deltas = np.concatenate([f - origin for f in paths.values()])
    rest = deltas - np.outer(deltas @ u1, u1)
    _, sv, vt = np.linalg.svd(rest, full_matrices=False)
    u2 = vt[0] if sv.size and sv[0] > 1e-12 * np.abs(deltas).max() else landscape.any_orthogonal(u1)
    u2 = u2 - (u2 @ u1) * u1
    u2 /= np.linalg.norm(u2)
    coords = {i: np.stack([(f - origin) @ u1, (f - origin) @ u2], axis=1) for i, f in paths.items()}
    every = np.concatenate(list(coords.values()))
    lo, hi = every.min(0), every.max(0)
    pad = 0.15 * np.maximum(hi - lo, 0.05 * (hi - lo).max())
    span = ((lo[0] - pad[0], hi[0] + pad[0]), (lo[1] - pad[1], hi[1] + pad[1]))
    end = unravel(jnp.asarray(origin, dtype))
    d1, d2 = unravel(jnp.asarray(u1, dtype)), unravel(jnp.asarray(u2, dtype))
    pl = landscape.plane(problem.loss, end, d1, d2, num=LANDSCAPE_POINTS, span=span)
    total = float(np.sum(deltas**2))
    explained = float(np.sum(np.concatenate([deltas @ u1[:, None], deltas @ u2[:, None]], 1) ** 2) / total)
    out = {prefix + f"tplane_path{i}": c for i, c in coords.items()}
    out.update({prefix + "tplane_alpha": pl.alphas, prefix + "tplane_beta": pl.betas, prefix + "tplane_loss": pl.losses,
                prefix + "tplane_group": np.asarray(best), prefix + "tplane_explained": np.asarray(explained)})
    return out


def group_basins(config: Config, group: Group, record: dict):
    """Basins of the group's best setting (:mod:`jaxgrad.lab.stats`' rule), one vmapped program."""
    from jaxgrad.fields.basins import basins

    best = record["best"]
    opt = group.optimizer.build(group.settings[best])
    return basins(group.problem, opt, num=BASIN_POINTS, steps=config.steps, tol=config.tol)
