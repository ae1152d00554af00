"""Figures. Plot code takes NumPy arrays and never calls JAX.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot, no global
backend state), so they render headless with Agg; save them with
:func:`save_figure`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from jaxgrad import files
from jaxgrad.pictures.house import (
    KIND_COLORS,
    KIND_MARKERS,
    KIND_NAMES,
    Style,
    color,
    figure,
    frame_paths,
    identities,
    legend,
    log_floor,
    log_levels,
    log_ticks,
    style_of,
    zero_band,
)

__all__ = ["gradient_field", "scalar_map", "kind_map", "eigenvalue_maps", "field_figure", "loss_curves", "sharpness_panels", "spectral_density", "spectral_overlay", "eigenvalue_ladder", "paths_on_contours", "search_scatter", "lr_sensitivity", "fit_plot", "fit_curves", "streamlines", "directional_polar", "surface", "basins_map", "landscape_1d", "landscape_2d", "function_1d", "race_gif", "race_figure", "performance_profiles"]


def _finish(ax, x, y, xlabel="x", ylabel="y", title=None, equal=True):
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if equal:
        ax.set_aspect("equal", adjustable="box")
    if title:
        ax.set_title(title)


def _contour_lines(ax, x, y, f_values, levels=15, labels=True):
    """Level curves of f (quantile-spaced levels so steep functions still show their valleys)."""
    finite = f_values[np.isfinite(f_values)]
    if finite.size == 0 or np.ptp(finite) == 0:
        return None
    lv = np.unique(np.quantile(finite, np.linspace(0.02, 0.98, levels)))
    if lv.size < 2:
        return None
    cs = ax.contour(x, y, f_values.T, levels=lv, colors="0.35", linewidths=0.7, alpha=0.8)
    if labels:
        ax.clabel(cs, inline=True, fontsize=7, fmt="%.3g")
    return cs


def _mark_critical(ax, critical):
    """Critical points as (point, kind) pairs: one marker per kind, in the legend."""
    if not critical:
        return
    seen = set()
    for point, kind in critical:
        label = kind if kind not in seen else None
        seen.add(kind)
        ax.plot(point[0], point[1], KIND_MARKERS.get(kind, "o"), color="k", markerfacecolor="white",
                markeredgewidth=1.5, markersize=9, label=label, zorder=5)
    ax.legend(loc="lower left", bbox_to_anchor=(1.02, 0.0), borderaxespad=0.0, frameon=False, fontsize=8,
              title="critical points", title_fontsize=8)


def gradient_field(ax, x, y, f_values, grad, arrows: int = 25, title=None):
    """Contours of f with normalised gradient arrows coloured by |∇f| (as the seeds draw them)."""
    ax.contourf(x, y, f_values.T, levels=30, cmap="Greys", alpha=0.25)
    _contour_lines(ax, x, y, f_values, labels=False)
    sx = max(1, math.ceil(len(x) / arrows))
    sy = max(1, math.ceil(len(y) / arrows))
    gx, gy = grad[::sx, ::sy, 0], grad[::sx, ::sy, 1]
    mag = np.hypot(gx, gy)
    safe = np.where(mag > 0, mag, 1.0)
    X, Y = np.meshgrid(x[::sx], y[::sy], indexing="ij")
    positive = mag[np.isfinite(mag) & (mag > 0)]
    # a log colour scale when |∇f| spans decades (a linear one set by the corners paints every arrow alike)
    norm = (mcolors.LogNorm(vmin=max(positive.min(), positive.max() * 1e-4), vmax=positive.max())
            if positive.size and positive.max() > 30 * positive.min() else None)
    q = ax.quiver(X, Y, gx / safe, gy / safe, np.where(mag > 0, mag, np.nan) if norm else mag, cmap="plasma",
                  norm=norm, angles="xy", pivot="mid", scale=1.1 * max(len(x[::sx]), len(y[::sy])), width=0.004)
    ax.get_figure().colorbar(q, ax=ax, label="|∇f|" + (" (log scale)" if norm else ""), shrink=0.85)
    _finish(ax, x, y, title=title or "gradient field: arrows along ∇f, coloured by |∇f|")


def scalar_map(ax, x, y, values, label: str, f_values=None, diverging: bool = False, title=None, bound=None):
    """A colour map of a scalar quantity, with f's level curves on top (``bound``: a shared
    symmetric range for a diverging map, so panels side by side compare colour for colour)."""
    finite = values[np.isfinite(values)]
    if diverging and finite.size:
        bound = bound or float(np.max(np.abs(finite))) or 1.0
        norm, cmap = mcolors.TwoSlopeNorm(0.0, -bound, bound), "RdBu_r"
    else:
        norm, cmap = None, "viridis"
    mesh = ax.pcolormesh(x, y, values.T, shading="nearest", cmap=cmap, norm=norm)
    ax.get_figure().colorbar(mesh, ax=ax, label=label, shrink=0.85)
    if f_values is not None:
        _contour_lines(ax, x, y, f_values, labels=False)
    _finish(ax, x, y, title=title or label)


def kind_map(ax, x, y, codes, critical=None, title=None):
    """Regions where the Hessian is positive definite, negative definite, indefinite, singular."""
    cmap = mcolors.ListedColormap(KIND_COLORS)
    ax.pcolormesh(x, y, codes.T, shading="nearest", cmap=cmap, vmin=-0.5, vmax=3.5)
    present = [k for k in range(4) if np.any(codes == k)]
    handles = [Patch(color=KIND_COLORS[k], label=f"{KIND_NAMES[k]}-like") for k in present]
    key = legend(ax, handles=handles, title="Hessian", title_fontsize=8)
    ax.add_artist(key)  # kept when _mark_critical makes its own legend
    key.set_clip_on(False)  # add_artist clips to the axes, which left it out of the saved figure's bounds
    _mark_critical(ax, critical)
    _finish(ax, x, y, title=title or "kind of point (signs of the Hessian's eigenvalues)")


def eigenvalue_maps(axes, x, y, eigs, f_values=None, critical=None):
    """One diverging map per Hessian eigenvalue (λ₁ ≤ λ₂ ...), zero in white, on one colour range."""
    finite = np.asarray(eigs)[np.isfinite(eigs)]
    bound = float(np.max(np.abs(finite))) if finite.size else None
    for i, ax in enumerate(axes):
        scalar_map(ax, x, y, eigs[..., i], label=f"λ{i + 1}", f_values=f_values, diverging=True, bound=bound,
                   title=f"Hessian eigenvalue λ{i + 1} ({'smallest' if i == 0 else 'largest' if i == len(axes) - 1 else 'middle'})")
        _mark_critical(ax, critical)


def field_figure(
    quantity: str,
    axes: Sequence[np.ndarray],
    values: np.ndarray,
    f_values: np.ndarray | None = None,
    grad: np.ndarray | None = None,
    critical=None,
    title: str | None = None,
) -> Figure:
    """A figure for a 2-D field of ``quantity`` (one of jaxgrad.fields.quantities.QUANTITIES).

    Args:
      axes: the grid's two coordinate arrays.
      values: the field, shape ``(nx, ny) + out_shape``.
      f_values: the function's values on the grid, for level curves.
      grad: the gradient field (for ``quantity="grad"``).
      critical: ``[(point, kind), ...]`` to mark.
    """
    x, y = (np.asarray(a) for a in axes)
    values = np.asarray(values)
    if quantity == "grad" and grad is not None and f_values is not None:
        fig, (ax,) = figure(1, 7.0, 5.6)
        gradient_field(ax, x, y, f_values, grad)
        _mark_critical(ax, critical)
    elif quantity == "kind":
        fig, (ax,) = figure(1, 6.4, 5.6)
        kind_map(ax, x, y, values, critical)
    elif quantity == "eigenvalues":
        fig, axs = figure(values.shape[-1], 5.6, 4.8)
        eigenvalue_maps(axs, x, y, values, f_values, critical)
    elif values.ndim == 2:
        fig, (ax,) = figure(1, 6.4, 5.6)
        labels = {"value": "f", "grad_norm": "|∇f|", "laplacian": "Δf = tr H", "directional": "D_u f"}
        scalar_map(ax, x, y, values, labels.get(quantity, quantity), f_values=f_values if quantity != "value" else None,
                   diverging=quantity in ("laplacian", "directional"))
        if quantity == "value":
            _contour_lines(ax, x, y, values)
        _mark_critical(ax, critical)
    else:  # hessian / jacobian: one panel per component
        comps = values.reshape(values.shape[:2] + (-1,))
        k = comps.shape[-1]
        fig, axs = figure(k, 4.2, 3.8)
        rows, cols = values.shape[2:] if values.ndim == 4 else (k, 1)
        for c, ax in enumerate(axs):
            i, j = divmod(c, cols)
            scalar_map(ax, x, y, comps[..., c], label=f"{quantity}[{i},{j}]", diverging=True)
    if title:
        fig.suptitle(title)
    return fig


def loss_curves(ax, curves, ylabel: str = "loss", log: bool = True, title: str | None = None, dashed=(),
                steps=None, styles=None, dashed_label: str = "test loss"):
    """Median over seeds with a min–max band, one colour per optimizer; diverged seeds apart.

    Args:
      curves: ``[(label, median (T,), low (T,), high (T,), diverged), ...]``: the median and
        band of the seeds that did not diverge; ``diverged`` is ``None``, the step of a first
        divergence, or ``[(steps, values), ...]``, each diverged seed's loss up to the step it
        blew up (drawn thin and dotted, ending in ×, never setting the axis limits).
      dashed: ``[(curve index, values (T,)), ...]``: held-out losses, dashed in the curve's colour.
      steps: the step of each of the ``T`` points (default ``0, 1, ..., T - 1``).
    """
    calm = [c[k] for c in curves for k in (1, 2, 3)] + [v for _, v in dashed]
    floor = log_floor(calm) if log else None
    lift = (lambda v: np.where(np.asarray(v) > 0, v, floor)) if floor is not None else (lambda v: v)  # noqa: E731
    for i, values in dashed:
        ax.plot(np.arange(len(values)) if steps is None else steps, lift(values), color=style_of(i, styles).color,
                lw=1.2, ls=(0, (2, 1.5)), alpha=0.8)
    if len(dashed):
        ax.plot([], [], color="0.35", lw=1.2, ls=(0, (2, 1.5)), label=f"{dashed_label} (dotted, same colour)")
    zeros = marked = False
    for i, (label, median, low, high, diverged) in enumerate(curves):
        x = np.arange(len(median)) if steps is None else np.asarray(steps)
        st = style_of(i, styles)
        c = st.color
        zeros |= bool(np.any(np.asarray(low) <= 0))
        ax.plot(x, lift(median), color=c, lw=1.8, ls=st.dash, label=label, zorder=3 + 0.01 * i)
        ax.fill_between(x, lift(low), lift(high), color=c, alpha=0.18, lw=0)
        if isinstance(diverged, (int, np.integer)):
            at = min(int(np.searchsorted(x, diverged)), len(median) - 1)
            ax.plot(diverged, lift(median)[at], "x", color=c, ms=9, mew=2)
            marked = True
        for dx, dv in diverged if isinstance(diverged, (list, tuple)) else ():
            ax.plot(dx, lift(dv), color=c, lw=0.9, ls=":", alpha=0.9)
            ax.plot(dx[-1:], lift(dv[-1:]), "x", color=c, ms=8, mew=2, clip_on=True)
            marked = True
    if marked:
        ax.plot([], [], "x", color="0.3", ms=8, mew=2, ls=":", lw=0.9, label="diverged seed (× where it blew up)")
    finite = np.concatenate([np.ravel(np.asarray(v, np.float64)) for v in calm]) if calm else np.zeros(0)
    finite = finite[np.isfinite(finite)]
    if log:
        ax.set_yscale("log")
        if floor is not None and zeros:
            zero_band(ax, floor)
        positive = finite[finite > 0]
        if positive.size:  # the limits come from the seeds that did not diverge
            ax.set_ylim((floor if zeros and floor else positive.min()) / 1.6, positive.max() * 1.6)
    elif finite.size:
        pad = 0.05 * (finite.max() - finite.min() or abs(finite.max()) or 1.0)
        ax.set_ylim(finite.min() - pad, finite.max() + pad)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.25)
    legend(ax)
    if title:
        ax.set_title(title)


def sharpness_panels(ax_loss, ax_sharp, lines, title: str | None = None, styles=None):
    """Cohen et al.'s picture: the loss (top) and the sharpness (bottom), one colour per run, the
    stability threshold (2/η for gradient descent) dashed in that colour.

    Args:
      lines: ``[(label, loss steps, loss, sharpness steps, sharpness, threshold or None), ...]``.
    """
    top = 1.3 * max(float(np.nanmax(line[4])) for line in lines)
    off = []  # thresholds above the sharpness axis: named at its top instead of stretching it
    for i, (label, loss_steps, loss, sharp_steps, sharp, threshold) in enumerate(lines):
        st = style_of(i, styles)
        c = st.color
        ax_loss.plot(loss_steps, loss, color=c, ls=st.dash, lw=1.3, label=label)
        ax_sharp.plot(sharp_steps, sharp, color=c, ls=st.dash, lw=1.6, label=label)
        if threshold is not None and threshold <= top:
            ax_sharp.axhline(threshold, color=c, lw=1.2, ls="--")
        elif threshold is not None:
            off.append((c, threshold))
    ax_sharp.set_ylim(0, top)
    for k, (c, threshold) in enumerate(off):
        ax_sharp.annotate(f"threshold {threshold:.4g} (off the axis) ↑", xy=(0.99, 0.97 - 0.06 * k),
                          xycoords="axes fraction", ha="right", va="top", color=c, fontsize=8)
    if any(line[-1] is not None for line in lines):
        ax_sharp.plot([], [], color="0.35", lw=1.2, ls="--", label="stability threshold (2/η)")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("training loss")
    ax_sharp.set_ylabel("sharpness (top Hessian eigenvalue)")
    ax_sharp.set_xlabel("step")
    for ax in (ax_loss, ax_sharp):
        ax.grid(True, which="both", alpha=0.25)
    legend(ax_sharp)
    if title:
        ax_loss.set_title(title)


def spectral_density(ax, grid, density, top=(), log: bool = True, title: str | None = None):
    """A Hessian eigenvalue density (log scale by default, as papers draw it: the bulk near 0
    and the outliers both visible), the top eigenvalues marked beneath it."""
    density = np.asarray(density)
    ax.plot(grid, density, color=color(0), lw=1.6)
    ax.fill_between(grid, density, color=color(0), alpha=0.15, lw=0)
    if log:
        ax.set_yscale("log")
        peak = float(density.max())
        ax.set_ylim(peak * 1e-8, peak * 3)
    for i, value in enumerate(np.asarray(top)):
        ax.axvline(value, color="0.3", lw=0.9, ls=":", label="top eigenvalues (Lanczos)" if i == 0 else None)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density" + (" (log scale)" if log else ""))
    ax.grid(True, which="both", alpha=0.25)
    if len(top):
        legend(ax, below=True)
    if title:
        ax.set_title(title, fontsize=10)


def spectral_overlay(ax, curves, title: str | None = None, show_legend: bool = True):
    """Several eigenvalue densities on one log axis: ``curves`` is ``[(label, grid, density), ...]``
    (the Hessian and the GGN of one model: where they differ is the residual term, and only the
    Hessian reaches below zero)."""
    peak = 0.0
    for i, (label, grid, density) in enumerate(curves):
        density = np.asarray(density)
        ax.plot(grid, density, color=color(i), lw=1.6, ls=("-", (0, (5, 2)), ":")[i % 3], label=label)
        ax.fill_between(grid, density, color=color(i), alpha=0.10, lw=0)
        peak = max(peak, float(density.max()))
    ax.set_yscale("log")
    ax.set_ylim(peak * 1e-8, peak * 3)
    ax.axvline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density (log scale)")
    ax.grid(True, which="both", alpha=0.25)
    if show_legend:
        legend(ax, below=True)
    if title:
        ax.set_title(title, fontsize=10)


def eigenvalue_ladder(ax, series, title: str | None = None, show_legend: bool = True):
    """Sorted eigenvalues against their rank, one marked line per matrix: ``series`` is
    ``[(label, values), ...]`` (e.g. the smallest of a Hessian and its Gauss-Newton part)."""
    markers = ("o", "s", "^")
    for i, (label, values) in enumerate(series):
        values = np.sort(np.asarray(values))
        ax.plot(np.arange(1, values.size + 1), values, color=color(i), lw=1.0, marker=markers[i % 3], ms=3.5,
                ls=("-", (0, (5, 2)), ":")[i % 3], label=label)
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set_xlabel("rank (smallest first)")
    ax.set_ylabel("eigenvalue")
    ax.grid(True, alpha=0.25)
    if show_legend:
        legend(ax, below=True)
    if title:
        ax.set_title(title, fontsize=10)


def paths_on_contours(ax, x, y, z, paths, minimizers=(), xlabel="x", ylabel="y", title=None, arrows=False):
    """Optimizer paths over log-spaced, labelled contours of the loss; start ○, end ■, minima ★,
    a dot per step on paths of at most 80 steps, and (``arrows``) the normalised -∇ field.

    Args:
      paths: ``[(label, points (T, 2), color), ...]``.
    """
    levels = log_levels(z)
    # one colour step per (log-spaced) band, so the valley floor is as visible as the walls
    cf = ax.contourf(x, y, z.T, levels=levels, cmap="Greys_r", norm=mcolors.BoundaryNorm(levels, 256), alpha=0.55)
    lines = ax.contour(x, y, z.T, levels=levels, colors="0.45", linewidths=0.5, alpha=0.7)
    ax.clabel(lines, levels=lines.levels[2::5], fontsize=8, fmt="%.3g", inline=True)
    if arrows:  # -∇f / |∇f| on a coarse grid, from differences of the drawn values (no JAX here)
        gx, gy = np.gradient(np.asarray(z, np.float64), x, y, edge_order=2)
        sx, sy = max(1, len(x) // 16), max(1, len(y) // 16)
        n = np.hypot(gx, gy)[::sx, ::sy]
        n = np.where(n > 0, n, 1.0)
        X, Y = np.meshgrid(x[::sx], y[::sy], indexing="ij")
        ax.quiver(X, Y, -gx[::sx, ::sy] / n, -gy[::sx, ::sy] / n, color="0.3", alpha=0.55, angles="xy",
                  pivot="mid", scale=1.3 * max(X.shape), width=0.003)
        ax.plot([], [], marker=r"$\rightarrow$", ls="", color="0.3", ms=10, label="-∇f / |∇f|")
    ax.get_figure().colorbar(cf, ax=ax, label="loss (log-spaced levels)", fraction=0.046, pad=0.04, format="%.3g",
                             ticks=log_ticks(np.asarray(z), levels))
    for k, (label, pts, c) in enumerate(paths):
        pts = np.asarray(pts)
        st = c if isinstance(c, Style) else Style(c)
        c = st.color
        ax.plot(pts[:, 0], pts[:, 1], color=c, ls=st.dash, lw=1.4, alpha=0.9, label=label, zorder=3 + 0.01 * k)
        if len(pts) <= 81:  # a dot per step, as the source's gradient-descent figure draws it
            ax.plot(pts[1:-1, 0], pts[1:-1, 1], ".", color=c, ms=4, alpha=0.9)
        ax.plot(pts[0, 0], pts[0, 1], "o", color=c, mfc="white", ms=7, mew=1.5)
        ax.plot(pts[-1, 0], pts[-1, 1], "s", color=c, ms=6)
    for k, m in enumerate(minimizers):
        ax.plot(m[0], m[1], "*", color="gold", mec="k", ms=15, zorder=6, label="minimum" if k == 0 else None)
    _finish(ax, x, y, xlabel=xlabel, ylabel=ylabel, title=title)
    frame_paths(ax, [np.asarray(pts) for _, pts, _ in paths], minimizers, (x[0], x[-1]), (y[0], y[-1]))
    ax.plot([], [], "o", color="0.3", mfc="white", ms=7, mew=1.5, label="start")
    ax.plot([], [], "s", color="0.3", ms=6, label="end")
    legend(ax, below=True)


def search_scatter(ax, names, xs, ys, values, diverged, title=None):
    """A sampled search in its two first hyperparameters: each sample a point coloured by its
    median final loss (log colour scale), samples with diverged runs marked ×, the best ringed."""
    xs, ys, values = (np.asarray(a, np.float64) for a in (xs, ys, values))
    diverged = np.asarray(diverged, bool)
    finite = np.isfinite(values) & (values > 0)
    norm = mcolors.LogNorm(values[finite].min(), values[finite].max()) if finite.sum() > 1 and \
        values[finite].min() < values[finite].max() else None
    sc = ax.scatter(xs[finite], ys[finite], c=values[finite], cmap="viridis_r", norm=norm, s=46,
                    edgecolors="k", linewidths=0.4, zorder=3)
    if np.any(~finite | diverged):
        ax.scatter(xs[~finite | diverged], ys[~finite | diverged], marker="x", c="k", s=50, zorder=4,
                   label="some runs diverged")
    if finite.any():
        k = int(np.flatnonzero(finite)[np.argmin(values[finite])])
        ax.scatter([xs[k]], [ys[k]], s=220, facecolors="none", edgecolors="#d62728", linewidths=1.8, zorder=5,
                   label="ringed: the best sample")
    ax.get_figure().colorbar(sc, ax=ax, label="median final loss", fraction=0.046, pad=0.04)
    for axis, name, v in (("x", names[0], xs), ("y", names[1], ys)):
        if np.all(v > 0) and v.max() / v.min() > 20:  # a log range
            getattr(ax, f"set_{axis}scale")("log")
        getattr(ax, f"set_{axis}label")(name)
    ax.grid(True, which="both", alpha=0.25)
    legend(ax)
    if title:
        ax.set_title(title)


def lr_sensitivity(ax, lines, ylabel="median final loss", title=None, styles=None, show_legend: bool = True):
    """Final loss against learning rate per optimizer (log-log); settings with diverged runs
    marked ×. A value more than 100 times the largest of the settings without divergence
    is drawn on a capped band at the top (its value off the scale), exact zeros on a band
    at the bottom, so one blown-up setting never stretches the axis over 18 decades.

    Args:
      lines: ``[(label, learning_rates, values, diverged_fraction), ...]``.
    """
    lines = [(label, *(np.asarray(a, float) for a in rest)) for label, *rest in lines]
    calm = np.concatenate([v[(d == 0) & np.isfinite(v) & (v > 0)] for _, _, v, d in lines])
    floor = log_floor([v for _, _, v, _ in lines])
    cap = float(calm.max()) * 100 if calm.size else None
    capped = zeros = False
    for i, (label, lrs, values, diverged) in enumerate(lines):
        shown = values.copy()
        if cap is not None:
            over = ~np.isfinite(shown) | (shown > cap)
            capped |= bool(over.any())
            shown[over] = cap
        if floor is not None:
            zeros |= bool(np.any(shown <= 0))
            shown[shown <= 0] = floor
        st = style_of(i, styles)
        c = st.color
        ax.plot(lrs, shown, color=c, ls=st.dash, marker=st.marker, label=label, ms=5)
        if cap is not None:
            for lr, value, was in zip(lrs, shown, values):
                if value == cap:  # off the scale: the true value beside the point
                    ax.annotate("diverged" if not np.isfinite(was) else f"{was:.2g}", (lr, cap), xytext=(4, -10),
                                textcoords="offset points", fontsize=7, color=c)
        bad = diverged > 0
        if np.any(bad):
            ax.plot(lrs[bad], shown[bad], "x", color="k", ms=9, mew=2, zorder=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if capped:
        ax.axhspan(cap / 1.6, cap * 1.6, color="0.88", lw=0, zorder=0)
        ax.annotate(f"above {cap:.2g} (value beside each point)", xy=(0.01, cap * 1.7),
                    xycoords=("axes fraction", "data"), fontsize=7, color="0.35", va="bottom")
        ax.set_ylim(top=cap * 8)  # room for the label under the frame's top edge
    if zeros:
        zero_band(ax, floor)
    if any(np.any(d > 0) for *_, d in lines):
        ax.plot([], [], "x", color="k", ms=8, mew=2, label="some runs diverged")
    ax.set_xlabel("learning rate")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.25)
    if show_legend:
        legend(ax)
    if title:
        ax.set_title(title)


def fit_plot(ax, X, t, fits, classification: bool = False, minimizer=None, title=None):
    """Data with each optimizer's fitted line (regression) or probability curve (classification).

    Args:
      X, t: 1-D inputs and targets.
      fits: ``[(label, b, w, color), ...]``.
      minimizer: ``(b, w)`` of the exact optimum, drawn dashed.
    """
    X, t = np.asarray(X), np.asarray(t)
    grid = np.linspace(X.min() - 0.1 * np.ptp(X), X.max() + 0.1 * np.ptp(X), 300)
    link = (lambda z: 1 / (1 + np.exp(-z))) if classification else (lambda z: z)
    if classification:
        ax.scatter(X, t, c=t, cmap="coolwarm", s=18, edgecolors="k", linewidths=0.4, label="data", zorder=3)
        ax.axhline(0.5, color="0.5", ls=":", lw=1, label="p = 0.5")
    else:
        ax.scatter(X, t, s=14, color="0.35", alpha=0.75, label="data", zorder=3)
    # fits that coincide (to 3 digits) are one line with one legend entry naming them all
    merged: list[list] = []
    for label, b, w, c in fits:
        same = next((m for m in merged if f"{m[1]:.3g}" == f"{b:.3g}" and f"{m[2]:.3g}" == f"{w:.3g}"), None)
        if same is None:
            merged.append([[label], b, w, c])
        else:
            same[0].append(label)
    optimum = None if minimizer is None else (float(minimizer[0]), float(minimizer[-1]))
    for k, (labels, b, w, c) in enumerate(merged):
        at_optimum = optimum is not None and f"{optimum[0]:.3g}" == f"{b:.3g}" and f"{optimum[1]:.3g}" == f"{w:.3g}"
        import textwrap

        names = ", ".join(labels) + (" (the same line)" if len(labels) > 1 else "")
        text = f"{names}: w={w:.3g}, b={b:.3g}" + (", the optimum" if at_optimum else "")
        ax.plot(grid, link(w * grid + b), color=c if len(labels) == 1 else "#1f77b4", lw=2.4 - 0.4 * k,
                label="\n".join(textwrap.wrap(text, 60)), zorder=4 - 0.1 * k)
    if optimum is not None and not any(f"{optimum[0]:.3g}" == f"{b:.3g}" and f"{optimum[1]:.3g}" == f"{w:.3g}"
                                       for _, b, w, _ in merged):
        b, w = optimum
        ax.plot(grid, link(w * grid + b), "k--", lw=1.2, label=f"optimum: w={w:.3g}, b={b:.3g}")
    ax.set_xlabel("x")
    ax.set_ylabel("probability / class" if classification else "y")
    ax.grid(True, alpha=0.25)
    legend(ax, below=True)
    if title:
        ax.set_title(title)


def fit_curves(ax, X, t, curves, title=None):
    """Data with each optimizer's fitted model as a curve: ``curves = [(label, x, y, Style), ...]``."""
    ax.scatter(np.asarray(X), np.asarray(t), s=12, color="0.35", alpha=0.6, label="data", zorder=2)
    for k, (label, x, y, st) in enumerate(curves):
        st = st if isinstance(st, Style) else Style(st)
        ax.plot(x, y, color=st.color, ls=st.dash, lw=2.0, label=label, zorder=3 + 0.01 * k)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.grid(True, alpha=0.25)
    legend(ax, below=True)
    if title:
        ax.set_title(title)


def streamlines(ax, x, y, f_values, grad, title=None):
    """Streamlines of -∇f (the paths of gradient flow), coloured by |∇f|, over f's level curves."""
    ax.contourf(x, y, f_values.T, levels=30, cmap="Greys", alpha=0.25)
    _contour_lines(ax, x, y, f_values, labels=False)
    gx, gy = -grad[..., 0].T, -grad[..., 1].T
    mag = np.hypot(gx, gy)
    positive = mag[np.isfinite(mag) & (mag > 0)]
    norm = mcolors.LogNorm(positive.min(), positive.max()) if positive.size and positive.min() < positive.max() \
        else None  # gradient norms on a log scale, as in the gradient-field figure
    strm = ax.streamplot(x, y, gx, gy, color=np.where(mag > 0, mag, positive.min() if positive.size else 1.0),
                         cmap="plasma", norm=norm, density=1.3, linewidth=1.0, arrowsize=1.0)
    ax.get_figure().colorbar(strm.lines, ax=ax, label="|∇f| (log scale)", fraction=0.046, pad=0.04)
    _finish(ax, x, y, title=title or "gradient flow: streamlines of -∇f")


def directional_polar(ax, angles, values, grad, point, title=None):
    """D_u f at a point as a function of the direction's angle (polar).

    Positive values are drawn outward in one colour, negative ones in another (as
    |D_u f|): the curve is the pair of circles |∇f| cos(θ - θ_∇), largest along ∇f,
    zero across it.
    """
    angles, values = np.asarray(angles), np.asarray(values)
    ax.plot(angles, np.where(values >= 0, values, np.nan), color="#d62728", lw=2, label="D_u f > 0 (ascent)")
    ax.plot(angles, np.where(values < 0, -values, np.nan), color="#1f77b4", lw=2, label="D_u f < 0 (descent), |D_u f|")
    g = np.asarray(grad)
    norm = float(np.hypot(*g))
    theta = float(np.arctan2(g[1], g[0]))
    ax.annotate("", xy=(theta, norm), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="k", lw=1.5))
    ax.plot([theta + np.pi / 2, theta - np.pi / 2], [0, 0], "ko", ms=4)
    ax.set_title(title or f"directional derivative at ({point[0]:g}, {point[1]:g}): max |∇f| = {norm:.3g} along ∇f, "
                          f"0 across", fontsize=9, pad=22)  # clear of the polar axis's 90° label
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(-0.1, -0.12))


def surface(fig, x, y, f_values, title=None, log=None):
    """A 3-D surface with filled contours underneath; returns the 3-D axes.

    ``log`` (default: when f's rise above its minimum spans more than 200-fold, from
    its 5th percentile to its top, as Rosenbrock's does) draws :math:`\\log_{10}(1 + f - \\min f)`, so a narrow valley is
    not flattened under the walls."""
    ax = fig.add_subplot(1, 1, 1, projection="3d")
    X, Y = np.meshgrid(x, y, indexing="ij")
    Z = np.asarray(f_values, np.float64)
    zmin, zmax = float(np.nanmin(Z)), float(np.nanmax(Z))
    rise = Z - zmin
    positive = rise[np.isfinite(rise) & (rise > 0)]
    if log is None:
        log = bool(positive.size) and float(positive.max()) > 200 * float(np.percentile(positive, 5))
    label = "log10(1 + f - min f)" if log else "f"
    if log:
        Z = np.log10(1.0 + rise)
        zmin, zmax = float(np.nanmin(Z)), float(np.nanmax(Z))
    floor = zmin - 0.35 * (zmax - zmin)
    surf = ax.plot_surface(X, Y, Z, cmap="viridis", rstride=max(1, len(x) // 60), cstride=max(1, len(y) // 60),
                           linewidth=0, antialiased=True, alpha=0.9)
    fig.colorbar(surf, ax=ax, label=label, shrink=0.6, pad=0.14)  # clear of the z axis's own label
    ax.contourf(X, Y, Z, zdir="z", offset=floor, levels=20, cmap="viridis", alpha=0.8)
    ax.set_zlim(floor, zmax)
    from matplotlib.ticker import MaxNLocator

    # the contours' floor sits below the surface: ticks only where f has values (no -200 for f >= 0)
    ax.set_zticks([t for t in MaxNLocator(5).tick_values(zmin, zmax) if zmin - 1e-12 <= t <= zmax + 1e-12])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel(label)
    ax.view_init(elev=28, azim=-55)
    if title:
        ax.set_title(title)
    return ax


def basins_map(ax, x, y, labels, steps, minimizers, max_steps, title=None):
    """Each start coloured by the minimum it reached, darker the more steps it took; diverged ×."""
    base = [mcolors.to_rgb(color(i)) for i in range(max(1, len(minimizers)))]
    rgb = np.ones(labels.shape + (3,))
    # lighter: fewer steps, on this panel's own log range of steps (a slow optimizer is not drawn black)
    reached = labels >= 0
    ls = np.log1p(np.asarray(steps, np.float64))
    lo, hi = (float(ls[reached].min()), float(ls[reached].max())) if reached.any() else (0.0, 1.0)
    shade = 1.0 - 0.45 * np.clip((ls - lo) / max(hi - lo, 1e-12), 0, 1)[..., None]  # 1 fastest .. 0.55 slowest
    for i, c in enumerate(base):
        mask = labels == i
        rgb[mask] = np.asarray(c)[None, :] * shade[mask]
    rgb[labels == -1] = 0.85
    rgb[labels == -2] = 0.15
    ax.imshow(np.transpose(rgb, (1, 0, 2)), origin="lower", extent=(x[0], x[-1], y[0], y[-1]), aspect="auto",
              interpolation="nearest")
    handles = [Patch(color=base[i], label=f"→ ({m[0]:.3g}, {m[1]:.3g})") for i, m in enumerate(minimizers)]
    if np.any(labels == -1):
        handles.append(Patch(color="0.85", label="elsewhere"))
    if np.any(labels == -2):
        handles.append(Patch(color="0.15", label="diverged"))
    for i, m in enumerate(minimizers):
        ax.plot(m[0], m[1], "*", color="gold", mec="k", ms=14, zorder=5)
    legend(ax, handles=handles, fontsize=7, title="minimum reached\n(darker: more steps)", title_fontsize=7)
    _finish(ax, x, y, title=title)


def landscape_1d(ax, alphas, curves, xlabel="α", title=None, dashed=(), styles=None):
    """Loss along lines through parameter space: ``curves = [(label, losses), ...]``;
    ``dashed = [(curve index, losses), ...]`` (held-out losses, dashed in the curve's colour).
    The axis stops at 100 times the largest value at either end, so a line that crosses a
    wall of huge losses does not squash the others."""
    for i, (label, losses) in enumerate(curves):
        st = style_of(i, styles)
        ax.plot(alphas, losses, color=st.color, ls=st.dash, lw=2, label=label)
    for i, losses in dashed:
        ax.plot(alphas, losses, color=style_of(i, styles).color, lw=1.2, ls=(0, (2, 1.5)), alpha=0.8)
    if len(dashed):
        ax.plot([], [], color="0.35", lw=1.2, ls=(0, (2, 1.5)), label="test loss (dotted, same colour)")
    every = [np.asarray(c, np.float64) for _, c in curves] + [np.asarray(c, np.float64) for _, c in dashed]
    log = all(np.all(c > 0) for c in every)
    ax.set_yscale("log" if log else "linear")
    ends = np.concatenate([c[[0, -1]] for c in every])
    ends = ends[np.isfinite(ends)]
    if ends.size and log:
        top = 100 * ends.max()
        if max(float(np.nanmax(np.where(np.isfinite(c), c, -np.inf))) for c in every) > top:
            ax.set_ylim(top=top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.grid(True, which="both", alpha=0.25)
    legend(ax)
    if title:
        ax.set_title(title)


def landscape_2d(ax, alphas, betas, losses, path=None, xlabel="α (direction 1)", ylabel="β (direction 2)", title=None,
                 paths=()):
    """Loss over a plane (log-spaced contours), with an optional projected path, or several
    ``paths = [(label, points (T, 2), colour), ...]``."""
    levels = log_levels(losses, 30)
    cf = ax.contourf(alphas, betas, losses.T, levels=levels, cmap="viridis", norm=mcolors.BoundaryNorm(levels, 256))
    ax.contour(alphas, betas, losses.T, levels=levels[::3], colors="w", linewidths=0.4, alpha=0.6)
    ax.get_figure().colorbar(cf, ax=ax, label="loss", fraction=0.046, pad=0.04, format="%.3g",
                             ticks=log_ticks(np.asarray(losses), levels))
    if path is not None:
        ax.plot(path[:, 0], path[:, 1], "-", color="#ff7f0e", lw=1.6, label="optimizer path")
        ax.plot(path[0, 0], path[0, 1], "o", color="#ff7f0e", mfc="white", ms=7, mew=1.5, label="start")
        ax.plot(path[-1, 0], path[-1, 1], "s", color="#ff7f0e", ms=6, label="end")
        legend(ax, below=True)
    for label, pts, c in paths:
        ax.plot(pts[:, 0], pts[:, 1], "-", color=c, lw=1.6, label=label)
        ax.plot(pts[0, 0], pts[0, 1], "o", color=c, mfc="white", ms=7, mew=1.5)
        ax.plot(pts[-1, 0], pts[-1, 1], "s", color=c, ms=6)
    if len(paths):
        legend(ax, below=True, title="○ start  ■ end  + the plane's centre", title_fontsize=8)
    ax.plot(0, 0, "+", color="w", ms=10, mew=2)
    ax.set_xlim(alphas[0], alphas[-1])
    ax.set_ylim(betas[0], betas[-1])
    ax.set_aspect("equal", adjustable="box")  # both axes are distances in parameter space
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)


def function_1d(ax_f, ax_d, x, f, df, x_check=(), df_check=(), at=None, title=None):
    """A function of one variable and its derivative, stacked: f above, f' below, the
    exact derivative as a line and finite-difference values as markers on it; ``at`` marks a
    point and its tangent line.

    Args:
      x, f, df: the grid and the exact values (``df`` from automatic differentiation).
      x_check, df_check: where the finite differences were taken, and their values.
    """
    x, f, df = (np.asarray(a, np.float64) for a in (x, f, df))
    ax_f.plot(x, f, color=color(0), lw=2, label="f(x)")
    ax_d.axhline(0, color="0.6", lw=0.8)
    ax_d.plot(x, df, color=color(1), lw=2, label="f'(x), automatic differentiation")
    if len(x_check):
        ax_d.plot(x_check, df_check, "o", color="k", mfc="none", ms=6, mew=1.2, label="finite differences (central)")
    if at is not None:
        x0 = float(at)
        f0, d0 = np.interp(x0, x, f), np.interp(x0, x, df)
        span = 0.15 * (x[-1] - x[0])
        ax_f.plot([x0 - span, x0 + span], [f0 - d0 * span, f0 + d0 * span], "--", color="0.3", lw=1.2,
                  label=f"tangent at x = {x0:g} (slope {d0:.4g})")
        ax_f.plot(x0, f0, "o", color="k", ms=6, zorder=5)
        ax_d.plot(x0, d0, "o", color="k", ms=6, zorder=5)
    ax_f.set_ylabel("f(x)")
    ax_d.set_ylabel("f'(x)")
    ax_d.set_xlabel("x")
    for ax in (ax_f, ax_d):
        ax.grid(True, alpha=0.25)
        ax.set_xlim(x[0], x[-1])
        legend(ax)
    if title:
        ax_f.set_title(title)


def race_gif(path, x, y, z, paths, labels, minimizers=(), fps: int = 12, frames: int = 60, title=None,
             styles=None) -> None:
    """An optimizer race on a 2-D function as a GIF (matplotlib animation, Pillow writer), each
    frame :func:`race_figure` at one step.

    Args:
      paths: ``[(T, 2) array, ...]`` one per optimizer; ``labels`` alike.
    """
    import os
    import tempfile

    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, update, count = race_figure(x, y, z, paths, labels, minimizers, fps, frames, title, styles)
    anim = FuncAnimation(fig, update, frames=count, blit=False)
    if not files.writing():
        return
    target = Path(path)
    fd, tmp = tempfile.mkstemp(suffix=".gif", dir=target.parent)
    os.close(fd)
    try:
        anim.save(tmp, writer=PillowWriter(fps=fps))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def race_figure(x, y, z, paths, labels, minimizers=(), fps: int = 12, frames: int = 60, title=None, styles=None):
    """The race's figure (840 px wide, a legend below the axes), ``update(k)`` drawing frame ``k``,
    and the number of frames."""
    fig, (ax,) = figure(1, 6.0, 6.0)
    fig.set_dpi(140)  # 840 px wide: legible text and paths
    levels = log_levels(z)
    ax.contourf(x, y, z.T, levels=levels, cmap="Greys_r", norm=mcolors.BoundaryNorm(levels, 256), alpha=0.55)
    for m in minimizers:
        ax.plot(m[0], m[1], "*", color="gold", mec="k", ms=14, zorder=6)
    lines, heads = [], []
    for i, label in enumerate(labels):
        st = style_of(i, styles)
        (ln,) = ax.plot([], [], color=st.color, ls=st.dash, lw=1.8, label=label)
        (hd,) = ax.plot([], [], st.marker, color=st.color, ms=8, mec="white", mew=0.8)
        lines.append(ln)
        heads.append(hd)
    _finish(ax, x, y, title=title)
    frame_paths(ax, paths, minimizers, (x[0], x[-1]), (y[0], y[-1]))
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=min(3, max(1, len(labels))),
               frameon=False, fontsize=9)  # a figure legend: constrained layout keeps it inside every frame
    length = max(len(p) for p in paths)
    index = np.unique(np.linspace(0, length - 1, frames).astype(int))
    index = np.concatenate([index, np.full(int(1.5 * fps), index[-1])])  # hold the last frame 1.5 s
    counter = ax.text(0.02, 0.02, "step 0", transform=ax.transAxes, fontsize=9)
    fig.canvas.draw()  # lay out once, then freeze it: a changing counter must not move the axes between frames
    fig.set_layout_engine("none")

    def update(k):
        step = index[k]
        for ln, hd, p in zip(lines, heads, paths):
            s = min(step, len(p) - 1)
            ln.set_data(p[: s + 1, 0], p[: s + 1, 1])
            hd.set_data([p[s, 0]], [p[s, 1]])
        counter.set_text(f"step {step}")
        return lines + heads + [counter]

    return fig, update, len(index)


def performance_profiles(ax, taus, rho, solvers, what: str, n_problems: int, styles=None):
    """Dolan–Moré performance profiles: share of problems solved within a factor τ of the best."""
    styles = identities(solvers) if styles is None else styles
    for i, name in enumerate(solvers):  # later ones a little thinner, so a coinciding earlier one shows
        st = styles[i]
        ax.step(taus, rho[i], where="post", color=st.color, ls=st.dash, lw=2.2 - 0.08 * i, label=name,
                zorder=3 + 0.01 * i)
    ax.set_xscale("log", base=2)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(taus[0], taus[-1])
    ax.set_xlabel(f"τ: within this factor of the best optimizer's {what}")
    ax.set_ylabel(f"share of the {n_problems} problems solved")
    ax.set_title(f"performance profiles ({what} to target)")
    ax.grid(True, which="both", alpha=0.25)
    legend(ax)
