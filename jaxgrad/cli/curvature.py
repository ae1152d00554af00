"""``jaxgrad curvature``: the curvature of a trained model or a problem."""
from __future__ import annotations

from pathlib import Path

from jaxgrad.cli.common import (
    UsageError,
    add_dpi,
    check_output_path,
    formatter,
    in_precision,
    set_dpi,
)
from jaxgrad.errors import InputError, did_you_mean

__all__ = ["add_curvature"]

def add_curvature(sub) -> None:
    p = sub.add_parser(
        "curvature", help="top Hessian eigenvalues, trace, per-layer curvature and spectral density of a model",
        description="Curvature of a problem's loss in parameter space, from Hessian-vector products only: a "
                    "registry problem or a factory at its initial parameters, or a run directory's final ones.")
    p.add_argument("target", metavar="PROBLEM_OR_RUN",
                   help='a registry problem ("mlp"), a factory ("my_model.py:make", "pkg.mod:make"), '
                        "or a run directory (its best setting's final parameters)")
    p.add_argument("--kind", default="hessian", choices=("hessian", "ggn", "fisher", "mc_fisher", "empirical_fisher"),
                   help="which matrix: the Hessian (default), the generalised Gauss-Newton, the Fisher, its Monte "
                        "Carlo estimate or the empirical Fisher (the last four need a data problem)")
    p.add_argument("--k", type=int, default=5, help="how many top eigenvalues (default 5)")
    p.add_argument("--probes", type=int, default=100, help="Hutchinson probes for the trace (default 100)")
    p.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                   help="a problem option, e.g. widths=[1,16,1] (repeatable; not for a run directory)")
    p.add_argument("--seed", type=int, default=0, help="the initial parameters' seed (default 0)")
    p.add_argument("--group", type=int, help="for a run directory: this group (default: the lowest final loss)")
    p.add_argument("--plot", metavar="PNG", help="draw the spectral density (log scale) to this file")
    add_dpi(p)
    p.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    p.set_defaults(run=in_precision(_curvature))


def _curvature_target(args):
    """``(label, problem, params, where)`` for PROBLEM_OR_RUN."""
    import jax

    from jaxgrad import problems
    from jaxgrad.lab import config as _config
    from jaxgrad.lab.toml import parse_value
    from jaxgrad.lab.results import load_trained

    target = Path(args.target)
    registry = args.target in problems.names()
    if registry and target.exists():
        raise UsageError(f"{args.target!r} is both a registry problem and a path here; name the run directory "
                         f"as ./{args.target} or run from another folder")
    if not registry and ":" not in args.target and not target.exists():
        raise UsageError(f"{args.target!r} is neither a run directory nor a problem"
                         f"{did_you_mean(args.target, problems.names())}; problems: {', '.join(problems.names())}")
    if target.is_dir() and not registry:
        if args.options:
            raise UsageError("--set: a run directory's problem is the one it ran; options do not apply")
        try:
            t = load_trained(target, args.group)
        except InputError as err:
            raise UsageError(f"--group {args.group}: {err}" if err.field == "group" else str(err)) from None
        return t.label, t.problem, t.params, t.where
    table = {"factory": args.target} if ":" in args.target else {"name": args.target}
    for item in args.options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set {item!r}: expected key=value, e.g. widths=[1,16,1]")
        table[key.strip()] = parse_value(value.strip())
    configs = _config.parse_problem(table, "--set" if args.options else args.target, Path.cwd())
    if len(configs) != 1:
        raise UsageError("--set: one problem at a time (a list sweeps several)")
    problem = configs[0].build()
    params = problem.init(jax.random.PRNGKey(args.seed))
    return configs[0].label, problem, params, f"at its initial parameters (seed {args.seed})"


def _curvature(args, dtype) -> int:
    import time

    set_dpi(args)
    import numpy as np
    from jax.flatten_util import ravel_pytree

    import jaxgrad as jg

    if args.plot:
        check_output_path("--plot", args.plot, (".png",))
    label, problem, params, where = _curvature_target(args)
    loss = problem.loss
    n = ravel_pytree(params)[0].shape[0]
    if not 1 <= args.k <= n:
        raise UsageError(f"--k {args.k}: must be from 1 to the number of parameters ({n})")
    if args.probes < 2:
        raise UsageError(f"--probes {args.probes}: needs at least 2 (for a standard error)")
    if args.kind == "hessian":
        subject = (loss, params)
    else:
        subject = (jg.curvature_operator(problem, params, args.kind),)
    matrix = {"hessian": "Hessian", "ggn": "GGN", "fisher": "Fisher", "mc_fisher": "Monte Carlo Fisher",
              "empirical_fisher": "empirical Fisher"}[args.kind]
    _fmt = formatter(dtype)
    print(label if args.kind == "hessian" else f"{label}: the {matrix}")
    print(f"  {n:,} parameters, {np.dtype(dtype).name}, {where}")
    print(f"  loss {_fmt(loss(params))}")
    print()
    t0 = time.perf_counter()
    values, _ = jg.top_eigenvalues(*subject, k=args.k)
    values = np.asarray(values)
    t_top = time.perf_counter() - t0
    print(f"top {args.k} eigenvalues (Lanczos to a 1e-8 residual, {t_top:.2f} s)")
    for i in range(0, len(values), 4):
        print("  " + "".join(f"{_fmt(v):>18}" for v in values[i:i + 4]))
    t0 = time.perf_counter()
    trace = jg.hessian_trace(*subject, num_probes=args.probes)
    t_trace = time.perf_counter() - t0
    print(f"trace (Hutchinson, {args.probes} probes, {t_trace:.2f} s)")
    print(f"  {_fmt(trace)} ± {trace.stderr:.2g} (standard error)")
    print()
    t0 = time.perf_counter()
    layers = jg.layer_curvature(*subject)
    t_layers = time.perf_counter() - t0
    print(f"per parameter leaf: its diagonal {matrix} block ({t_layers:.2f} s)")
    sizes = dict(_leaf_sizes(params))
    width = max(12, *(len(_leaf_name(k)) for k in layers))
    print(f"  {'leaf':<{width}} {'size':>7} {'top eigenvalue':>16} {'trace':>16}")
    for key, lc in layers.items():
        print(f"  {_leaf_name(key):<{width}} {sizes[key]:>7,} {_fmt(lc.eigenvalues[0]):>16} {_fmt(lc.trace):>16}")
    t0 = time.perf_counter()
    grid, density = jg.spectral_density(*subject)
    t_density = time.perf_counter() - t0
    print()
    print(f"spectral density (Lanczos quadrature, 8 probes x {min(64, n)} steps, {t_density:.2f} s)")
    print(f"  eigenvalues from {_fmt(grid[0])} to {_fmt(grid[-1])} (with a margin)")
    if args.plot:
        from jaxgrad.pictures import house, plots
        from jaxgrad.pictures.house import save_figure

        fig, (ax,) = house.figure(1, 7.0, 4.6)
        plots.spectral_density(ax, grid, density, top=values,
                               title=f"{label}: {matrix} eigenvalue density, {where}")
        save_figure(fig, args.plot)
        print(f"plot  {args.plot}")
    return 0


def _leaf_sizes(params):
    import jax
    import numpy as np

    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        yield jax.tree_util.keystr(path), int(np.prod(np.shape(leaf), dtype=int))


def _leaf_name(key: str) -> str:
    return key or "(the array)"
