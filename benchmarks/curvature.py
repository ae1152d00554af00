"""jaxgrad's curvature estimators beside PyHessian's, on one copy of the same MLP.

Run: ``python benchmarks/curvature.py [--repeats 5] [--float64]`` (needs ``torch`` and
``pyhessian``: ``pip install torch pyhessian``). The default MLP (1,153 parameters, 256
examples, mean squared error) is trained for 2,000 Adam steps in jaxgrad; PyTorch gets an
identical ``nn.Sequential`` with the same weights and data; both libraries compute in
float32 (their default; ``--float64`` for both in float64), pinned to one CPU core
(``sched_setaffinity``, one torch thread, one XLA thread). The reference is ``eigh`` of
the exact float64 Hessian at the same weights and data.

Each task is timed ``--repeats`` times, jaxgrad and PyHessian interleaved (the order
alternates per round); jaxgrad's times are of its compiled program (its first call,
which compiles, is reported apart). Errors are relative to the exact values; for the
trace, the mean absolute error over the repeats (each repeat draws new probes), and for
the density the L1 distance to the exact spectrum smoothed with the same Gaussian.
PyHessian 0.1 calls ``torch.eig``, which torch 2 removed; it is patched here with
``torch.linalg.eigh`` (the Lanczos matrix is symmetric).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import one_core  # noqa: E402, F401  (benchmarks/one_core.py: one core, one XLA thread)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

FLOAT64 = "--float64" in sys.argv
jax.config.update("jax_enable_x64", FLOAT64)

import jaxgrad as jg  # noqa: E402
from jaxgrad.curvature import spectrum  # noqa: E402

try:
    import torch
    from pyhessian import hessian as PyHessian
except ImportError as err:  # pragma: no cover - an optional comparison
    sys.exit(f"error: this benchmark needs torch and pyhessian ({err.name} is missing): pip install torch pyhessian")

from torch_twin import twin  # noqa: E402  (benchmarks/torch_twin.py)

torch.set_num_threads(1)
warnings.filterwarnings("ignore", message="Using backward")  # PyHessian's create_graph=True backward
torch.set_default_dtype(torch.float64 if FLOAT64 else torch.float32)


def _eig(T, eigenvectors=True):  # torch.eig's old return convention, from eigh
    w, V = torch.linalg.eigh(T)
    return torch.stack([w, torch.zeros_like(w)], 1), V


torch.eig = _eig


def setup(train_steps: int):
    """The trained MLP in the benchmark's precision, its PyTorch twin, and the exact spectrum
    (float64 Hessian at the same weights and data)."""
    with jax.enable_x64(True):
        problem64 = jg.problems.make("mlp")
        params64 = jg.minimize(problem64.loss, problem64.init(jax.random.PRNGKey(0)),
                               jg.optimizers.make("adam", learning_rate=1e-2), train_steps).final_params
        params64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64 if FLOAT64 else jnp.float32)
                                          .astype(jnp.float64), params64)
        x, unravel = ravel_pytree(params64)
        H = np.asarray(jax.jit(jax.hessian(lambda z: problem64.loss(unravel(z))))(x))
        exact = np.linalg.eigvalsh((H + H.T) / 2)
        X64, y64 = (np.asarray(a) for a in problem64.data)
    dtype = np.float64 if FLOAT64 else np.float32
    X, y = np.array(X64, dtype), np.array(y64, dtype)  # writable copies, as torch.from_numpy wants
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, dtype)), params64)
    problem = jg.problems.Problem("mlp", problem64.objective, problem64.init_fn, data=(jnp.asarray(X), jnp.asarray(y)))
    model, data = twin(params, X, y, float(problem.loss(params)), 1e-12 if FLOAT64 else 1e-5)
    criterion = torch.nn.MSELoss()
    return problem, params, model, criterion, data, exact


def smoothed(nodes, weights, grid, sigma):
    """The mean over probes of sum_j w_j N(grid; node_j, sigma^2), normalised on the grid."""
    nodes, weights = np.atleast_2d(nodes), np.atleast_2d(weights)
    g = np.exp(-0.5 * ((grid[None, None] - nodes[..., None]) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    d = np.einsum("pj,pjt->t", weights, g) / nodes.shape[0]
    return d / np.trapezoid(d, grid)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=2000)
    parser.add_argument("--trace-repeats", type=int, default=20,
                        help="repeats for the trace tasks, whose error is random (cheap)")
    parser.add_argument("--probes", type=int, default=100, help="trace probes, both libraries")
    parser.add_argument("--slq", default="8x64", help="density: probes x Lanczos steps, both libraries")
    parser.add_argument("--float64", action="store_true", help="both libraries in float64 (default float32)")
    args = parser.parse_args(argv)
    problem, params, model, criterion, data, exact = setup(args.train_steps)
    loss = problem.loss
    n = exact.size
    top5 = exact[::-1][:5]
    slq_probes, slq_steps = (int(v) for v in args.slq.split("x"))
    span = exact[-1] - exact[0]
    sigma = 0.01 * span
    grid = np.linspace(exact[0] - 0.1 * span, exact[-1] + 0.1 * span, 2000)
    exact_density = smoothed(exact[None], np.full((1, n), 1.0 / n), grid, sigma)

    def ph():
        return PyHessian(model, criterion, data=data, cuda=False)

    def jg_density(key):
        nodes, weights = spectrum.spectral_quadrature(loss, params, num_probes=slq_probes, num_iters=slq_steps, key=key)
        return smoothed(nodes, weights, grid, sigma)

    def ph_density():
        nodes, weights = ph().density(iter=slq_steps, n_v=slq_probes)
        return smoothed(np.asarray(nodes), np.asarray(weights), grid, sigma)

    tasks = {  # name: (jaxgrad, PyHessian, error)
        "top eigenvalue": (
            lambda key: np.asarray(jg.top_eigenvalues(loss, params, k=1, key=key)[0]),
            {"default tol=1e-3": lambda: np.asarray(ph().eigenvalues(top_n=1)[0]),
             "tol=1e-6": lambda: np.asarray(ph().eigenvalues(top_n=1, tol=1e-6, maxIter=1000)[0])},
            lambda v: float(np.max(np.abs(v - top5[: len(v)]) / np.abs(top5[: len(v)])))),
        "top 5 eigenvalues": (
            lambda key: np.asarray(jg.top_eigenvalues(loss, params, k=5, key=key)[0]),
            {"default tol=1e-3": lambda: np.sort(np.asarray(ph().eigenvalues(top_n=5)[0]))[::-1],
             "tol=1e-6": lambda: np.sort(np.asarray(ph().eigenvalues(top_n=5, tol=1e-6, maxIter=1000)[0]))[::-1]},
            lambda v: float(np.max(np.abs(v - top5) / np.abs(top5)))),
        f"trace ({args.probes} probes)": (
            lambda key: float(jg.hessian_trace(loss, params, num_probes=args.probes, key=key)),
            {"same probes": lambda: float(np.mean(ph().trace(maxIter=args.probes, tol=0.0)))},
            lambda t: abs(t - exact.sum()) / abs(exact.sum())),
        f"trace, Hutch++ ({args.probes} products)": (
            lambda key: float(jg.hessian_trace(loss, params, num_probes=args.probes, key=key, method="hutch++")),
            {},
            lambda t: abs(t - exact.sum()) / abs(exact.sum())),
        f"density ({slq_probes} x {slq_steps})": (
            jg_density,
            {"same probes x steps": ph_density},
            lambda d: float(np.trapezoid(np.abs(d - exact_density), grid))),
    }
    print(f"default MLP after {args.train_steps} Adam steps: {n:,} parameters, "
          f"{'float64' if FLOAT64 else 'float32'}, one CPU core")
    print(f"exact top eigenvalue {exact[-1]:.10g}, trace {exact.sum():.10g}")
    print(f"jax {jax.__version__}, torch {torch.__version__}; {args.repeats} interleaved repeats")
    print("time: min-max over repeats; answer: the last repeat's;")
    print("error: relative to the exact values, median over repeats (trace: mean)")
    print()
    print(f"{'':<2}{'library':<30} {'time s':>15} {'answer':>11} {'error':>8} {'faster':>7}")
    for name, (ours, theirs, error) in tasks.items():
        repeats = max(args.repeats, args.trace_repeats) if name.startswith("trace") else args.repeats
        _, first = timed(lambda: ours(jax.random.PRNGKey(10_000)))
        for fn in theirs.values():  # PyHessian's first call is slower too (torch's own warm-up)
            fn()
        rows = {"jaxgrad": ([], [], [])} | {f"PyHessian, {label}": ([], [], []) for label in theirs}
        for r in range(repeats):
            contenders = [("jaxgrad", lambda r=r: ours(jax.random.PRNGKey(r)))]
            contenders += [(f"PyHessian, {label}", fn) for label, fn in theirs.items()]
            if r % 2:
                contenders.reverse()
            for label, fn in contenders:
                torch.manual_seed(r)
                out, seconds = timed(fn)
                rows[label][0].append(seconds)
                rows[label][1].append(error(out))
                rows[label][2].append(out)
        ours_median = statistics.median(rows["jaxgrad"][0])
        print(f"{name}{f' ({repeats} repeats)' if repeats != args.repeats else ''}")
        for label, (times, errors, answers) in rows.items():
            summary = np.mean(errors) if name.startswith("trace") else statistics.median(errors)
            speed = "" if label == "jaxgrad" else f"{statistics.median(times) / ours_median:.1f}x"
            answer = answers[-1]  # the last repeat's
            shown = "(curve)" if np.ndim(answer) and np.size(answer) > 5 else f"{np.ravel(answer)[0]:.8g}"
            print(f"{'':<2}{label:<30} {min(times):>7.4f}-{max(times):<7.4f} {shown:>11} {summary:>8.1e} {speed:>7}")
            if 1 < np.size(answer) <= 5:
                print(f"{'':<4}all: {', '.join(f'{v:.8g}' for v in np.ravel(answer))}")
        print(f"{'':<2}{'(jaxgrad first call, compiles)':<30} {first:>7.2f}")
    print()
    print(f"exact top 5: {', '.join(f'{v:.8g}' for v in top5)}")

if __name__ == "__main__":
    main()
