"""Any pointwise quantity over a grid (or a set) of points, in one compiled program.

``field(fn, where)`` evaluates ``fn`` at every point with ``jax.vmap``; past a
memory budget it evaluates in chunks with ``jax.lax.map(..., batch_size=...)``;
with several devices it splits the points over a 1-D mesh with ``shard_map``, each
device running its own chunked map. A grid's points are materialised once, in one
compiled program, and kept (bounded in bytes) while they fit: the field then runs the
very program ``jit(vmap(fn))`` runs on an ``(N, d)`` array. A grid too large to hold
generates its points row by row inside the program. Either way the grid's bounds are
data: a new box of the same shape reuses the compiled program.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from jaxgrad import cache, distributed
from jaxgrad.calculus import derivatives
from jaxgrad.errors import InputError, did_you_mean, positive_int
from jaxgrad.fields.grid import Grid
from jaxgrad.fields.points import eigvalsh, kind_code

__all__ = ["QUANTITIES", "quantity", "field", "plan_field", "FieldPlan", "DEFAULT_MEMORY_BUDGET"]

DEFAULT_MEMORY_BUDGET = 2**30  # bytes of working memory per device for one chunk
# Over several processes a field is split only when every device gets at least this many points;
# a smaller one is computed whole by every process. Splitting it would cost more in gathering than
# it saves, and below about 4,000 points a share's matrix products (a quadratic form's x^T A x per
# point) are emitted by XLA:CPU with other kernels than one process's, which rounds differently.
MIN_SHARE = 2**14
_WORKING_SET_FACTOR = 4  # live intermediates per point, in units of (input + output) bytes
_POINTS_BUDGET = 256 * 2**20  # bytes of materialised grid points kept between calls (all grids together)

QUANTITIES = ("value", "grad", "grad_norm", "directional", "hessian", "eigenvalues", "kind", "laplacian", "jacobian")


def _small_hessian(f: Callable) -> Callable:
    """The Hessian of a point of at most 3 coordinates forward over forward (d^2 directional
    second derivatives, cheap at this d), otherwise as :func:`jaxgrad.hessian` does.

    For the kind field: reverse mode's transpose of a point's indexing writes each Hessian row
    as a padded (N, d, d) array; an output that reads every entry several times (the kind's
    comparisons) makes XLA:CPU materialise those arrays instead of fusing them, 3-8x the
    eigenvalue field at 10^6 points. Forward over forward has no transposes, and the kind field
    then costs about what the eigenvalue field does (``python benchmarks/kind_field.py``).
    """
    forward = jax.jacfwd(jax.jacfwd(f))
    reverse = derivatives.hessian(f)
    return lambda x: forward(x) if x.shape[-1] <= 3 else reverse(x)


@derivatives.weak_memo
def _quantity(f: Callable, name: str, direction: tuple[float, ...] | None) -> Callable:
    if name == "value":
        return f
    if name == "grad":
        return derivatives.grad(f)
    if name == "grad_norm":
        return lambda x: jnp.linalg.norm(derivatives.grad(f)(x))
    if name == "directional":
        d = derivatives.directional_derivative(f)
        return lambda x: d(x, jnp.asarray(direction, x.dtype))
    if name == "hessian":
        return derivatives.hessian(f)
    if name == "eigenvalues":
        return lambda x: eigvalsh(derivatives.hessian(f)(x))
    if name == "kind":
        return lambda x: kind_code(eigvalsh(_small_hessian(f)(x)))
    if name == "laplacian":
        return lambda x: jnp.trace(derivatives.hessian(f)(x))
    return derivatives.jacobian(f, mode="fwd")


def quantity(f: Callable, name: str, direction: Sequence[float] | None = None) -> Callable:
    """A ready-made pointwise quantity of ``f``, as a function of one point.

    Args:
      f: ``f(x)`` for ``x`` of shape ``(d,)``; scalar-valued except for ``"jacobian"``.
      name: one of :data:`QUANTITIES`: ``value``, ``grad`` (shape ``(d,)``),
        ``grad_norm``, ``directional`` (along ``direction``, normalised),
        ``hessian`` (``(d, d)``), ``eigenvalues`` (ascending, closed form for
        ``d <= 3``), ``kind`` (an index into :data:`jaxgrad.fields.KINDS`),
        ``laplacian`` (the trace of the Hessian), ``jacobian`` (``(m, d)``).
      direction: for ``"directional"`` only.

    The same arguments return the same function object, so fields of it reuse
    their compiled program.

    Example:
      >>> jg.field(quantity(lambda p: p @ p, "grad"), Grid((-1, -1), (1, 1), 3)).shape
      (3, 3, 2)
    """
    if name not in QUANTITIES:
        raise InputError(f"quantity must be one of {', '.join(QUANTITIES)}; got {name!r}{did_you_mean(name, QUANTITIES)}")
    if (name == "directional") != (direction is not None):
        raise InputError("a direction is needed for, and only for, the 'directional' quantity")
    if direction is not None:
        direction = tuple(float(v) for v in np.ravel(direction))
        if not any(direction):
            raise InputError("the direction is the zero vector")
    return _quantity(f, name, direction)


# --- planning -------------------------------------------------------------------------


def _mesh(n_devices: int):
    return distributed.mesh(n_devices, "points")


@cache.memo("divisors", maxsize=256)
def _largest_divisor_at_most(n: int, limit: int) -> int:
    best = 1
    for k in range(1, math.isqrt(n) + 1):
        if n % k == 0:
            for cand in (k, n // k):
                if cand <= limit and cand > best:
                    best = cand
    return best


def _choose_batch(local: int, bytes_per_point: int, budget: int, chunk_size: int | None) -> int | None:
    """Points per chunk on one device, or None for one plain vmap."""
    if chunk_size is not None:
        chunk_size = positive_int(chunk_size, "chunk_size")
        return None if chunk_size >= local else chunk_size
    target = max(1, budget // max(bytes_per_point, 1))
    if target >= local:
        return None
    # a divisor of the local size avoids lax.map's remainder pass and its copy of the output
    divisor = _largest_divisor_at_most(local, target)
    return divisor if divisor >= target // 4 else target


@dataclasses.dataclass(frozen=True)
class FieldPlan:
    """How a field will run: its compiled program, arguments and layout.

    ``plan.run()`` evaluates; ``plan.compile()`` compiles ahead of time (for timing
    compilation apart from execution) and returns the executable.
    """

    program: Callable
    args: tuple
    size: int
    shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    out_dtype: Any
    batch: int | None
    devices: int
    materialised: bool = False  # a grid's points, kept between calls by _grid_points
    in_dtype: Any = None  # the points' dtype
    columns: bool = False  # materialised as coordinate columns (d, N): see plan_field

    def run(self) -> jax.Array:
        return _call(self, *self.args)

    def compile(self):
        return self.program.lower(*self.args).compile()

    @property
    def chunks(self) -> int:
        local = -(-self.size // self.devices)
        return 1 if self.batch is None else -(-local // self.batch)


def plan_field(
    fn: Callable,
    where: Grid | jax.Array,
    *args,
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    devices: int | None = None,
    dtype=None,
) -> FieldPlan:
    """Plan :func:`field` without running it; see there for the arguments."""
    n_dev = jax.device_count() if devices is None else int(devices)
    if not 1 <= n_dev <= jax.device_count():
        raise InputError(f"devices must be between 1 and {jax.device_count()}, got {devices}")
    if isinstance(where, Grid):
        dtype = jnp.dtype(dtype or jnp.result_type(float))
        d, n, shape = where.dim, where.size, where.shape
    else:
        points = _as_points(where, dtype)
        if points.ndim != 2:
            raise InputError(f"points must have shape (N, d), got {points.shape}")
        dtype = points.dtype
        n, d = points.shape
        shape = (n,)
    if n == 0:
        raise InputError("a field needs at least one point")
    if n >= 2**31 and not jax.config.jax_enable_x64:
        raise InputError(f"{n} points need 64-bit indices: enable float64 (jax_enable_x64)")
    if n_dev > 1 and distributed.multiprocess() and n < n_dev * MIN_SHARE:
        n_dev = 1  # computed whole by every process (see MIN_SHARE)
    leaves, treedef = jax.tree_util.tree_flatten(args)
    structs = tuple(jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)) for a in leaves)
    out = _out_struct(fn, d, dtype, treedef, structs)
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise InputError("a field's function must return one array per point, not a pytree")
    bytes_per_point = _WORKING_SET_FACTOR * (d * dtype.itemsize + max(1, math.prod(out.shape)) * out.dtype.itemsize)
    if chunk_size is None and -(-n // n_dev) * bytes_per_point > memory_budget:
        # the rough bound asks for chunks: ask XLA instead (chunks cost up to 1.5x, measured at 10^7 points)
        bytes_per_point = _measured_bytes_per_point(fn, d, dtype, treedef, structs) or bytes_per_point
    mesh = _mesh(n_dev) if n_dev > 1 else None
    call_args = None
    if isinstance(where, Grid) and n * d * dtype.itemsize <= _POINTS_BUDGET:
        # Materialise the points (once per grid: see _grid_points) and run the points program.
        # Measured (benchmarks/fields.py, issue 17): building the points inside the program,
        # whatever the layout (flat indices, broadcast rows, separate coordinate vectors), costs
        # as much again as a gradient of x^2 y + e^{xy} at 10^6 points (XLA's CPU fusions
        # recompute or copy the interleaved (N, d) block); read from memory they are free.
        # Unchunked, the points are kept as coordinate columns (d, N) and vmapped over their
        # second axis: each coordinate is read as one contiguous vector, which pays for XLA's
        # indexing of the grid-shaped output (the fusion's root is a bitcast to grid.shape +
        # out, looped over in that shape). Measured at 10^6 points, paired rounds: float32
        # gradient 0.93-0.94x raw jit(vmap) on (N, 2) points against 1.04-1.08x from the (N, 2)
        # layout, float64 0.90-0.92x against 1.06-1.08x; Hessians 0.96-1.02x; over 4 devices
        # 0.86-1.08x a hand-written shard_map against 1.02-1.16x; the same bits.
        # Split over devices or processes the columns are padded to whole shares (copies of the last
        # point) and each device runs the same vmap over its columns: the bits of one device. The
        # (N, d) layout does not give them for a function with a matrix product (a quadratic's
        # x^T A x: 13,534 of a 201 x 201 grid's values differed by an ulp).
        local = -(-n // n_dev)
        batch = _choose_batch(local, bytes_per_point, memory_budget, chunk_size)
        columns = batch is None
        if columns:
            program = functools.partial(_columns_program, fn=fn, shape=shape, mesh=mesh, n=n)
        else:
            program = functools.partial(_points_program, fn=fn, batch=batch, mesh=mesh, n=n, shape=shape)
        points = _grid_points(where, dtype, local * n_dev, n_dev, columns)
        return FieldPlan(_Program(program), (points, args), n, shape, tuple(out.shape), out.dtype, batch, n_dev,
                         materialised=True, in_dtype=dtype, columns=columns)
    if isinstance(where, Grid):
        call_args = (_axes(where, dtype), args)
        row = math.prod(shape[1:])  # points per index of the first axis
        rows = -(-shape[0] // n_dev)
        if chunk_size is not None:
            positive_int(chunk_size, "chunk_size")
        row_chunk = None if chunk_size is None else max(1, int(chunk_size) // row) if int(chunk_size) >= row else 0
        fits = row * bytes_per_point <= memory_budget
        if row_chunk != 0 and (chunk_size is not None or fits):
            # the fast path: nested vmaps over the axes, chunked by rows of the first axis
            batch_rows = _choose_batch(rows, row * bytes_per_point, memory_budget, row_chunk)
            if batch_rows is not None:  # blocks of batch_rows rows: pad the rows to whole blocks
                rows = -(-rows // batch_rows) * batch_rows
            program = functools.partial(_grid_rows_program, fn=fn, shape=shape, batch=batch_rows, mesh=mesh,
                                        rows_pad=rows * n_dev)
            batch = None if batch_rows is None else batch_rows * row
            return FieldPlan(_Program(program), call_args, n, shape, tuple(out.shape), out.dtype, batch, n_dev)
    local = -(-n // n_dev)
    batch = _choose_batch(local, bytes_per_point, memory_budget, chunk_size)
    n_pad = local * n_dev
    if isinstance(where, Grid):  # a single row is too large for one chunk: index the points flat
        program = functools.partial(_grid_program, fn=fn, shape=shape, batch=batch, mesh=mesh, n_pad=n_pad)
    else:
        program = functools.partial(_points_program, fn=fn, batch=batch, mesh=mesh, n=n, shape=shape, n_pad=n_pad)
        call_args = (points, args)
    return FieldPlan(_Program(program), call_args, n, shape, tuple(out.shape), out.dtype, batch, n_dev)


def _measured_bytes_per_point(fn, d, dtype, treedef, structs) -> int | None:
    """Bytes per point (arguments, output, temporaries) of one unchunked vmap of ``fn``, from
    XLA's memory analysis of a small batch (it scales linearly: measured 4096 to 10^5 points)."""
    m = 4096
    args = treedef.unflatten(structs)
    compiled = jax.jit(jax.vmap(lambda x, *a: fn(x, *a), in_axes=(0,) + (None,) * len(args))).lower(
        jax.ShapeDtypeStruct((m, d), dtype), *args).compile()
    mem = compiled.memory_analysis()
    if mem is None:  # a backend without the analysis
        return None
    return max(1, -(-(mem.temp_size_in_bytes + mem.output_size_in_bytes + mem.argument_size_in_bytes) // m))


@cache.memo("field output shapes", weak=True, weak_values=False, maxsize=1024)
def _out_struct(fn, d, dtype, treedef, structs):
    """``fn``'s output shape for one point, traced once per (fn, d, dtype, argument shapes)."""
    return jax.eval_shape(fn, jax.ShapeDtypeStruct((d,), dtype), *treedef.unflatten(structs))


class _Program:
    """A partially applied jitted program with ``lower`` for ahead-of-time compilation."""

    def __init__(self, partial):
        self._partial = partial

    def __call__(self, *args, **options):
        return self._partial(*args, **options)

    def lower(self, *args):
        return self._partial.func.lower(*args, **self._partial.keywords)


def field(
    fn: Callable,
    where: Grid | jax.Array,
    *args,
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    devices: int | None = None,
    dtype=None,
) -> jax.Array:
    """Evaluate a pointwise function at every point of a grid, in one compiled program.

    Args:
      fn: ``fn(x, *args)`` for one point ``x`` of shape ``(d,)``, returning an array
        (value, ``grad(f)``, ``hessian(f)``, ``jacobian(F)``, :func:`quantity`, ...).
      where: a :class:`~jaxgrad.Grid`, or an ``(N, d)`` array of points.
      *args: extra arguments passed unchanged to every call of ``fn`` (traced: new
        values do not recompile).
      chunk_size: points per ``lax.map`` batch (per device); default: one plain
        ``vmap`` while ``N`` points fit ``memory_budget``, else chunks that do.
      memory_budget: working bytes per device for one chunk (estimated from
        ``jax.eval_shape`` of ``fn``).
      devices: how many devices to spread the points over (default: all). Points
        are padded to a multiple of the count; the result is sharded along its
        first axis whose length the count divides (JAX shards only evenly), and
        replicated when there is none.
      dtype: the grid points' dtype (default: JAX's default float).

    Returns:
      An array of shape ``grid.shape + out_shape`` (``(N,) + out_shape`` for points).

    Compiled once per (fn, shape, dtype, layout): a second call with new values of
    the same shapes does not retrace.

    Example:
      >>> g = jg.field(jg.grad(lambda p: p[0] ** 2 + p[1] ** 2), Grid((-2, -2), (2, 2), (5, 5)))
      >>> g.shape
      (5, 5, 2)
    """
    key = _plan_key(fn, where, args, chunk_size, memory_budget, devices, dtype)
    plan = _PLANS.get(key) if key is not None else None  # a key of None is never stored
    if plan is None:
        plan = plan_field(fn, where, *args, chunk_size=chunk_size, memory_budget=memory_budget,
                          devices=devices, dtype=dtype)
        if key is not None:  # kept without this call's arguments (nor points: _grid_points holds those)
            axes = plan.args[0] if isinstance(where, Grid) and not plan.materialised else None
            _PLANS.put(dataclasses.replace(plan, args=(axes, ())), key)
        return _call(plan, plan.args[0], args)
    if not isinstance(where, Grid):
        return _call(plan, _as_points(where, dtype), args)
    if not plan.materialised:  # the in-program generation: the grid's axes
        return _call(plan, plan.args[0], args)
    padded = -(-plan.size // plan.devices) * plan.devices
    return _call(plan, _grid_points(where, plan.in_dtype, padded, plan.devices, plan.columns), args)


def _call(plan: FieldPlan, first, args) -> jax.Array:
    """Run a plan; across processes, with global inputs, and the result gathered onto every process."""
    # One dispatch, the grid's shape given inside the program. Shaping a large output outside
    # (a second, donated reshape) was tried: XLA loops over a flat output a few per cent
    # faster, but the second dispatch cost more than that at 10^6 points (paired rounds:
    # 1.05-1.18x raw against 1.02-1.11x inside for a float32 gradient).
    if plan.devices == 1 or not distributed.multiprocess():
        return plan.program(first, args)
    mesh = _mesh(plan.devices)
    whole = NamedSharding(mesh, PartitionSpec())
    n_pad = plan.program._partial.keywords.get("n_pad")
    if n_pad is not None and not isinstance(first, tuple):  # points: padded here, split over the processes
        first = distributed.to_global(distributed.pad_rows(first, n_pad), NamedSharding(mesh, PartitionSpec("points")))
    elif isinstance(first, tuple):  # a grid's axes
        first = tuple(distributed.to_global(a, whole) for a in first)
    args = jax.tree_util.tree_map(lambda a: distributed.to_global(a, whole), args)
    if plan.program._partial.func not in (_points_program, _columns_program):  # a grid too large to materialise
        return distributed.gather(plan.program(first, args))
    # points and columns: the per-device results as they are, unpadded and shaped here: any
    # reshaping or resharding in the program changes XLA's fusions, and the rounding with them
    flat = distributed.gather(plan.program(first, args, flat=True))
    return flat[: plan.size].reshape(plan.shape + plan.out_shape)


# Fields' plans, most recently used last: a repeated call (same function, grid or points' shape, argument
# shapes and options) skips planning (~0.2 ms of Python: shape inference, layout, batch
# sizes) and costs the compiled program's dispatch alone. Bounded, as a plan holds ``fn``.
# a plan holds its compiled program, which holds the function: bounded, most recent kept
_PLANS = cache.memo("field plans", maxsize=64)


def _dtype_of(a):
    return a.dtype if isinstance(a, jax.Array) else jnp.result_type(a)


def _as_points(where, dtype) -> jax.Array:
    if isinstance(where, jax.Array) and (where.dtype == dtype if dtype is not None else where.dtype.kind == "f"):
        return where
    points = jnp.asarray(where)
    if not jnp.issubdtype(points.dtype, jnp.floating):
        points = points.astype(jnp.result_type(float))
    return points if dtype is None else points.astype(dtype)


def _plan_key(fn, where, args, chunk_size, memory_budget, devices, dtype):
    """What a field's plan depends on (the grid, or the points' shape and dtype), or ``None``
    (an unhashable part: no cache)."""
    leaves, treedef = jax.tree_util.tree_flatten(args)
    try:
        layout = where if isinstance(where, Grid) else (jnp.shape(where), _dtype_of(where))
        structs = tuple((jnp.shape(a), _dtype_of(a)) for a in leaves)
        key = (fn, layout, treedef, structs, chunk_size, memory_budget, devices,
               None if dtype is None else jnp.dtype(dtype), jax.config.jax_enable_x64, jax.device_count())
        hash(key)
    except TypeError:
        return None
    return key


# --- compiled programs ----------------------------------------------------------------


def _map(fn: Callable, xs: jax.Array, batch: int | None) -> jax.Array:
    if batch is None:
        return jax.vmap(fn)(xs)
    return jax.lax.map(fn, xs, batch_size=batch)


def _unpad(out: jax.Array, n: int) -> jax.Array:
    # slice only when padded: even a no-op slice keeps XLA from fusing the output's
    # relayout into the producer (measured 3x slower for a Hessian field)
    return out if out.shape[0] == n else out[:n]


def _distribute(out: jax.Array, mesh, point_axes: int) -> jax.Array:
    """Shard the result along its first point axis that the device count divides (else replicate).

    JAX shards only evenly, so a grid whose every axis length is prime to the device
    count comes back replicated; a multiple of the device count keeps it distributed.
    Never along the quantity's own axes (a gradient's components): XLA would then split
    the per-point program by component, and round differently from one device.
    """
    if mesh is None:
        return out
    n_dev = mesh.devices.size
    axis = next((i for i, length in enumerate(out.shape[:point_axes]) if length % n_dev == 0), None)
    spec = PartitionSpec() if axis is None else PartitionSpec(*([None] * axis), "points")
    return jax.lax.with_sharding_constraint(out, NamedSharding(mesh, spec))


def _spread(evaluate: Callable, xs: jax.Array, *replicated, mesh, axis: int = 0) -> jax.Array:
    """Run ``evaluate(xs_local, *replicated)`` on every device's share of ``xs`` (split along
    ``axis``); the results are joined along their first axis."""
    if mesh is None:
        return evaluate(xs, *replicated)
    spec = PartitionSpec(*([None] * axis), "points")
    return jax.shard_map(evaluate, mesh=mesh, in_specs=(spec,) + (PartitionSpec(),) * len(replicated),
                         out_specs=PartitionSpec("points"), check_vma=False)(xs, *replicated)


def _axes(grid: Grid, dtype) -> tuple[jax.Array, ...]:
    """The grid's coordinates along each axis, computed in float64 and rounded once to ``dtype``.

    Every path (materialised, by rows, flat) takes its points from these, so a field's
    points are the same whatever its layout, and equal to ``grid.points`` in ``dtype``.
    """
    return tuple(jnp.asarray(axis, dtype) for axis in grid.axes)


def _rows_block(fn: Callable, shape: tuple[int, ...]) -> Callable:
    """``block(rows, axes, args)``: ``fn`` at every point of the given rows of the grid.

    The points are built by broadcasting the axes (no per-point index arithmetic), and
    ``fn`` is vmapped over them as one flat batch, the same program as a field over an
    ``(N, d)`` array.
    """
    d, row = len(shape), math.prod(shape[1:])

    def block(rows, axes, args):
        b = rows.shape[0]
        coords = [axes[0][rows].reshape((b,) + (1,) * (d - 1))]
        for a in range(1, d):
            coords.append(axes[a].reshape((1,) * a + (shape[a],) + (1,) * (d - 1 - a)))
        points = jnp.stack(jnp.broadcast_arrays(*coords), axis=-1).reshape(b * row, d)
        out = jax.vmap(lambda x: fn(x, *args))(points)
        return out.reshape((b,) + shape[1:] + out.shape[1:])

    return block


@functools.partial(jax.jit, static_argnames=("fn", "shape", "batch", "mesh", "rows_pad"))
def _grid_rows_program(axes, args, *, fn, shape, batch, mesh, rows_pad):
    block = _rows_block(fn, shape)
    clamp = rows_pad > shape[0]  # padded rows repeat the last row

    def evaluate(rows, axes, args):
        rows = jnp.minimum(rows, shape[0] - 1) if clamp else rows
        if batch is None:
            return block(rows, axes, args)
        blocks = jax.lax.map(lambda r: block(r, axes, args), rows.reshape(-1, batch))
        return blocks.reshape((rows.shape[0],) + blocks.shape[2:])

    out = _spread(evaluate, jnp.arange(rows_pad), axes, args, mesh=mesh)
    return _distribute(_unpad(out, shape[0]), mesh, len(shape))


def _point(k, axes, shape):
    """The grid point with flat 'ij' index ``k``."""
    return jnp.stack([axis[i] for axis, i in zip(axes, jnp.unravel_index(k, shape))])


@functools.partial(jax.jit, static_argnames=("fn", "shape", "batch", "mesh", "n_pad"))
def _grid_program(axes, args, *, fn, shape, batch, mesh, n_pad):
    n = math.prod(shape)

    def evaluate(idx, axes, args):
        return _map(lambda k: fn(_point(jnp.minimum(k, n - 1), axes, shape), *args), idx, batch)

    out = _spread(evaluate, jnp.arange(n_pad), axes, args, mesh=mesh)
    return _distribute(_unpad(out, n).reshape(shape + out.shape[1:]), mesh, len(shape))


@functools.partial(jax.jit, static_argnames=("fn", "batch", "mesh", "n", "shape", "n_pad", "flat"))
def _points_program(points, args, *, fn, batch, mesh, n, shape, n_pad=None, flat=False):
    """``fn`` at ``points[:n]``, shaped ``shape + out``; points shorter than ``n_pad`` are padded.

    ``flat``: the padded per-point results, sharded as the points are (for several processes).
    """
    if n_pad is not None:
        points = distributed.pad_rows(points, n_pad)

    def evaluate(pts, args):
        return _map(lambda x: fn(x, *args), pts, batch)

    out = _spread(evaluate, points, args, mesh=mesh)
    if flat:
        return out
    out = _unpad(out, n)
    return _distribute(out.reshape(shape + out.shape[1:]), mesh, len(shape))


@functools.partial(jax.jit, static_argnames=("fn", "shape", "mesh", "n", "flat"))
def _columns_program(columns, args, *, fn, shape, mesh, n, flat=False):
    """``fn`` at the first ``n`` points of a grid given as coordinate columns ``(d, N)`` (split
    along N over ``mesh``; padded columns dropped), shaped ``shape + out``.

    ``flat``: the padded per-point results, sharded as the columns are (for several processes).
    """

    def evaluate(cols, args):
        return jax.vmap(lambda x: fn(x, *args), in_axes=1)(cols)

    out = _spread(evaluate, columns, args, mesh=mesh, axis=1)
    if flat:
        return out
    out = _unpad(out, n)
    return _distribute(out.reshape(shape + out.shape[1:]), mesh, len(shape))


# Materialised grid points, most recently used last, bounded by _POINTS_BUDGET bytes in all.
# Keyed by the grid (its bounds and shape, not user data) and layout; see plan_field for why.
_POINTS = cache.memo("grid points", maxsize=None, budget=_POINTS_BUDGET, size=lambda points: points.nbytes)


def _grid_points(grid: Grid, dtype, padded: int, n_dev: int, columns: bool = False) -> jax.Array:
    """``grid``'s points, padded to ``padded`` with copies of the last and laid out over the
    devices; ``columns``: as ``(d, N)`` coordinate columns (split and padded along N)."""
    key = (grid, dtype, padded, n_dev, columns)
    points = _POINTS.get(key)
    if points is not None:
        return points
    spec = PartitionSpec(None, "points") if columns else PartitionSpec("points")
    sharding = NamedSharding(_mesh(n_dev), spec) if n_dev > 1 else None
    if sharding is not None and distributed.multiprocess():  # every process fills its own shards
        points = distributed.to_global(_make_points(_axes(grid, dtype), padded=padded,
                                                    sharding=None, columns=columns), sharding)
    else:
        points = _make_points(_axes(grid, dtype), padded=padded, sharding=sharding,
                              columns=columns)
    return _POINTS.put(points, key)


@functools.partial(jax.jit, static_argnames=("padded", "sharding", "columns"))
def _make_points(axes, *, padded, sharding, columns=False):
    coords = [c.reshape(-1) for c in jnp.meshgrid(*axes, indexing="ij")]
    if columns:  # (d, N), the last column repeated to ``padded``
        points = jnp.stack(coords)
        if padded > points.shape[1]:
            points = jnp.concatenate([points, jnp.repeat(points[:, -1:], padded - points.shape[1], axis=1)], axis=1)
    else:
        points = distributed.pad_rows(jnp.stack(coords, axis=-1), padded)
    return points if sharding is None else jax.lax.with_sharding_constraint(points, sharding)


def directional_profile(f: Callable, x, num: int = 360):
    """The directional derivative of a 2-D ``f`` at ``x`` for ``num`` directions around the circle.

    Returns:
      ``(angles, values)``: ``values[k] = ∇f(x)·(cos θ_k, sin θ_k)``, one vmapped ``jvp`` per angle.

    Example:
      >>> a, v = directional_profile(lambda p: p @ p, jnp.array([1.0, 2.0]), 4)  # v = [2, 4, -2, -4]
    """
    x = jnp.asarray(x)
    if x.shape != (2,):
        raise InputError(f"a directional profile needs a 2-D point, got shape {x.shape}")
    angles = jnp.linspace(0.0, 2 * jnp.pi, num, endpoint=False, dtype=x.dtype)
    units = jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)
    dd = derivatives.directional_derivative(f)
    return np.asarray(angles), np.asarray(jax.vmap(lambda u: dd(x, u))(units))
