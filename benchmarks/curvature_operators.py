"""jaxgrad's GGN operator beside curvlinops' on one copy of the same MLP: product, top 5, trace.

Run: ``python benchmarks/curvature_operators.py [--repeats 7] [--float64]`` (needs ``torch`` and
``curvlinops-for-pytorch``: ``pip install torch curvlinops-for-pytorch``). The default MLP
(1,153 parameters, 256 examples, mean squared error) is trained for 2,000 Adam steps in
jaxgrad; PyTorch gets an identical ``nn.Sequential`` with the same weights and data. Both
compute in float32 (``--float64``: both in float64), pinned to one CPU core (one torch
thread, one XLA thread). The reference is a dense float64 GGN, J^T H_out J, with J from
``jax.jacobian`` of the network's outputs over all examples and H_out = (2/N) I.

Tasks, each timed ``--repeats`` times with the two libraries interleaved (the order
alternates per round); jaxgrad's times are of its compiled program (the first call, which
compiles, is reported apart):

* the GGN-vector product over the full data set (``op.matvec`` against ``G @ v``), timed
  as the mean of 20 back-to-back calls (a sub-millisecond call timed alone measures the
  wake-up of whichever runtime ran last, not the product);
* the top 5 eigenvalues (jaxgrad's Lanczos against ``scipy.sparse.linalg.eigsh`` on
  ``G.to_scipy()``, as curvlinops' documentation does it);
* the trace from 100 Rademacher probes (``jg.hessian_trace(op)`` against curvlinops'
  ``hutchinson_trace``, which pushes all probes through one batched product).

Errors are relative to the dense reference: the product's max-norm error, the largest error
of the five eigenvalues, and the trace's mean absolute error over the repeats (each repeat
draws new probes: the statistical error, the same for both at equal probes).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import one_core  # noqa: E402, F401  (benchmarks/one_core.py: one core, one XLA thread)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

FLOAT64 = "--float64" in sys.argv
jax.config.update("jax_enable_x64", FLOAT64)

import jaxgrad as jg  # noqa: E402

try:
    import scipy.sparse.linalg
    import torch
    from curvlinops import GGNLinearOperator, hutchinson_trace
except ImportError as err:  # pragma: no cover - an optional comparison
    sys.exit(f"error: this benchmark needs torch and curvlinops ({err.name} is missing): "
             "pip install torch curvlinops-for-pytorch")

from torch_twin import twin  # noqa: E402  (benchmarks/torch_twin.py)

torch.set_num_threads(1)
torch.set_default_dtype(torch.float64 if FLOAT64 else torch.float32)


def setup(train_steps: int):
    """The trained MLP in the benchmark's precision, its PyTorch twin, and the dense float64 GGN."""
    dtype = np.float64 if FLOAT64 else np.float32
    with jax.enable_x64(True):
        problem64 = jg.problems.make("mlp")
        params64 = jg.minimize(problem64.loss, problem64.init(jax.random.PRNGKey(0)),
                               jg.optimizers.make("adam", learning_rate=1e-2), train_steps).final_params
        params64 = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, dtype), jnp.float64), params64)
        x, unravel = ravel_pytree(params64)
        X64, y64 = problem64.data
        J = np.asarray(jax.jit(jax.jacobian(lambda z: problem64.predict(unravel(z), X64).reshape(-1)))(x))
        G = (2.0 / J.shape[0]) * J.T @ J  # J^T H_out J, H_out = (2/N) I for the mean square error
        X, y = np.array(X64, dtype), np.array(y64, dtype)
    problem = jg.problems.make("mlp")
    problem = jg.problems.Problem("mlp", problem.objective, problem.init_fn, data=(jnp.asarray(X), jnp.asarray(y)),
                                  predict=problem.predict, output_loss=problem.output_loss)
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(np.asarray(a, dtype)), params64)
    model, (inputs, targets) = twin(params, X, y, float(problem.loss(params)), 1e-12 if FLOAT64 else 1e-5)
    data = [(inputs, targets)]
    ggn = GGNLinearOperator(model, torch.nn.MSELoss(), [p for p in model.parameters()], data,
                            check_deterministic=False)
    return problem, params, model, ggn, G


def torch_flat(vector: np.ndarray, model_params) -> list:
    """A flat vector in jaxgrad's order (layer by layer: b, then w as (in, out)) as curvlinops'
    list of tensors (weight as (out, in), then bias)."""
    out, i = [], 0
    for w, b in zip(model_params[0::2], model_params[1::2]):
        n_out, n_in = w.shape
        vb, vw = vector[i:i + n_out], vector[i + n_out:i + n_out + n_in * n_out].reshape(n_in, n_out)
        i += n_out + n_in * n_out
        out += [torch.from_numpy(np.ascontiguousarray(vw.T)), torch.from_numpy(np.array(vb))]
    return out


def timed(fn, number: int = 1):
    """``fn()``'s result and its mean seconds over ``number`` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(number):
        out = fn()
    return out, (time.perf_counter() - t0) / number


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--train-steps", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--trace-repeats", type=int, default=30,
                        help="repeats for the trace, whose error is random (cheap)")
    parser.add_argument("--float64", action="store_true", help="both libraries in float64 (default float32)")
    args = parser.parse_args(argv)
    problem, params, model, ggn, G = setup(args.train_steps)
    exact = np.linalg.eigvalsh(G)
    top5, trace = exact[::-1][:5], float(np.trace(G))
    op = jg.curvature_operator(problem, params, "ggn")
    dtype = np.float64 if FLOAT64 else np.float32
    v = np.random.default_rng(0).standard_normal(G.shape[0])
    _, unravel = ravel_pytree(params)
    v_jax = unravel(jnp.asarray(v, dtype))
    v_torch = torch_flat(v.astype(dtype), list(model.parameters()))
    Gv = G @ v
    product = jax.jit(lambda o, w: ravel_pytree(o.matvec(w))[0])

    def torch_product():
        out = ggn @ v_torch
        return np.concatenate([np.concatenate([o[1].numpy().ravel(), o[0].numpy().T.ravel()])
                               for o in zip(out[0::2], out[1::2])])

    def eigsh():
        values = scipy.sparse.linalg.eigsh(ggn.to_scipy(), k=5, which="LA", return_eigenvectors=False)
        return np.sort(values)[::-1]

    tasks = {  # name: (jaxgrad, curvlinops, error)
        "GGN-vector product (full data)": (
            lambda key: np.asarray(product(op, v_jax)),
            torch_product,
            lambda out: float(np.max(np.abs(out - Gv)) / np.max(np.abs(Gv)))),
        "top 5 GGN eigenvalues": (
            lambda key: np.asarray(jg.top_eigenvalues(op, k=5, key=key)[0]),
            eigsh,
            lambda out: float(np.max(np.abs(out - top5) / np.abs(top5)))),
        f"GGN trace ({args.probes} probes)": (
            lambda key: float(jg.hessian_trace(op, num_probes=args.probes, key=key)),
            lambda: float(hutchinson_trace(ggn, args.probes)),
            lambda t: abs(t - trace) / abs(trace)),
    }
    print(f"default MLP after {args.train_steps} Adam steps: {G.shape[0]:,} parameters, "
          f"{'float64' if FLOAT64 else 'float32'}, one CPU core")
    print(f"exact (dense float64 GGN): top eigenvalue {exact[-1]:.10g}, trace {trace:.10g}")
    from importlib.metadata import version

    print(f"jax {jax.__version__}, torch {torch.__version__}, curvlinops {version('curvlinops-for-pytorch')}; "
          f"{args.repeats} interleaved repeats")
    print("time: min-max over repeats; error: relative to the dense reference, median over")
    print("repeats (trace: mean); faster: curvlinops' median time over jaxgrad's")
    print()
    print(f"{'':<2}{'library':<12} {'time s':>17} {'error':>9} {'faster':>7}")
    for name, (ours, theirs, error) in tasks.items():
        _, first = timed(lambda: ours(jax.random.PRNGKey(10_000)))
        theirs()
        rows = {"jaxgrad": ([], []), "curvlinops": ([], [])}
        repeats = args.trace_repeats if "trace" in name else args.repeats
        for r in range(repeats):
            contenders = [("jaxgrad", lambda r=r: ours(jax.random.PRNGKey(r))), ("curvlinops", theirs)]
            for label, fn in contenders[::-1] if r % 2 else contenders:
                torch.manual_seed(r)
                out, seconds = timed(fn, 20 if "product" in name else 1)
                rows[label][0].append(seconds)
                rows[label][1].append(error(out))
        print(f"{name}, {repeats} repeats (jaxgrad's first call, compiling: {first:.2f} s)")
        ours_median = statistics.median(rows["jaxgrad"][0])
        for label, (times, errors) in rows.items():
            summary = np.mean(errors) if "trace" in name else statistics.median(errors)
            speed = "" if label == "jaxgrad" else f"{statistics.median(times) / ours_median:.1f}x"
            print(f"{'':<2}{label:<12} {min(times):>8.5f}-{max(times):<8.5f} {summary:>9.1e} {speed:>7}")


if __name__ == "__main__":
    main()
