"""Several processes as one JAX job (``jax.distributed``): start-up, global inputs, gathering.

Every process runs the same program (JAX's multi-controller model). A field or a
sweep lays its points or runs over the global mesh of all processes' devices,
builds its inputs as global arrays (each process fills only its own shards: every
process computes the same inputs, so a shard is the slice of the same values) and
gathers the result onto every process, so the code after it (summaries, plots)
runs unchanged and identically everywhere. Only process 0 writes files or prints
results (:func:`is_writer`).

A process that dies leaves the others in a collective: the coordination service
notices its missing heartbeat (:data:`HEARTBEAT_S`) and stops them, non-zero.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from jaxgrad import cache
from jaxgrad.errors import InputError

__all__ = ["initialize", "is_writer", "multiprocess", "mesh", "pad_rows", "to_global", "gather", "agree", "ENV"]

# environment variables read when the flags are absent (set by ``jaxgrad launch``)
ENV = {"coordinator": "JAXGRAD_COORDINATOR", "num_processes": "JAXGRAD_NUM_PROCESSES",
       "process_id": "JAXGRAD_PROCESS_ID"}
INIT_TIMEOUT_S = 60  # every process must have joined by then (JAX's default: 300 s)
HEARTBEAT_S = 30  # a process silent this long is taken for dead and the job stops (JAX's default: 100 s)
SHUTDOWN_S = 30
JOINED = False  # set once this process has joined a multi-process job


def _cluster_manager() -> bool:
    """True under a cluster manager that ``jax.distributed.initialize()`` detects with several tasks."""
    for var in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
        try:
            if int(os.environ.get(var, "1")) > 1:
                return True
        except ValueError:
            pass
    return False


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Join a multi-process job, from the arguments, else :data:`ENV`, else a cluster manager.

    Returns True when this process is now one of several, False for a plain
    single-process run (nothing given, no cluster manager). Call it before any other
    JAX work. Raises :class:`InputError` for inconsistent settings.
    """
    coordinator = coordinator or os.environ.get(ENV["coordinator"]) or None
    num_processes = num_processes if num_processes is not None else _env_int("num_processes")
    process_id = process_id if process_id is not None else _env_int("process_id")
    given = [v is not None for v in (coordinator, num_processes, process_id)]
    if not any(given):
        if not _cluster_manager():
            return False
        _cpu_collectives()
        jax.distributed.initialize(initialization_timeout=INIT_TIMEOUT_S, heartbeat_timeout_seconds=HEARTBEAT_S,
                                   shutdown_timeout_seconds=SHUTDOWN_S)
        if jax.process_count() > 1:
            _joined()
        return jax.process_count() > 1
    if not all(given):
        raise InputError("--coordinator, --num-processes and --process-id go together "
                         f"(or {', '.join(ENV.values())})")
    if ":" not in coordinator or not coordinator.rsplit(":", 1)[1].isdigit():
        raise InputError(f"--coordinator must be HOST:PORT, got {coordinator!r}")
    if num_processes < 1:
        raise InputError(f"--num-processes must be a positive integer, got {num_processes}")
    if not 0 <= process_id < num_processes:
        raise InputError(f"--process-id must be in 0..{num_processes - 1}, got {process_id}")
    if num_processes == 1:
        return False
    _cpu_collectives()
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id,
                               initialization_timeout=INIT_TIMEOUT_S, heartbeat_timeout_seconds=HEARTBEAT_S,
                               shutdown_timeout_seconds=SHUTDOWN_S)
    _joined()
    return True


def _joined() -> None:
    global JOINED
    JOINED = True
    _connect()


def _connect() -> None:
    """One collective now, with file descriptor 1 closed to gloo's connection lines (it prints
    "[Gloo] Rank 0 is connected ..." on standard output, among a command's results)."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            agree(True)
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _env_int(name: str) -> int | None:
    text = os.environ.get(ENV[name])
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(f"{ENV[name]} must be an integer, got {text!r}") from None


def _cpu_collectives() -> None:
    # CPU devices of several processes talk through gloo (GPUs use NCCL whatever this says)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")


@cache.memo("meshes", maxsize=16)
def mesh(n: int, axis: str):
    """A 1-D mesh over the first ``n`` devices (of all processes), its axis named ``axis``."""
    from jax.sharding import AxisType

    return jax.make_mesh((n,), (axis,), axis_types=(AxisType.Auto,), devices=jax.devices()[:n])


def multiprocess() -> bool:
    """True when this process is one of several in a JAX job."""
    return jax.process_count() > 1


def is_writer() -> bool:
    """Whether this process writes files and prints results: process 0 only."""
    return jax.process_index() == 0


def pad_rows(tree, rows: int):
    """Every leaf grown to ``rows`` along its first axis with copies of its last row (a no-op
    when it has them): the padding every split of points or runs uses, finite wherever the data is."""
    import jax.numpy as jnp

    def grow(a):
        extra = rows - a.shape[0]
        return a if extra <= 0 else jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)])

    return jax.tree_util.tree_map(grow, tree)


def to_global(value, sharding) -> jax.Array:
    """A global array with ``sharding`` from ``value``, which every process holds whole and alike.

    Each process copies only the shards its own devices hold.
    """
    host = np.asarray(value)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def gather(tree):
    """Every leaf whole on every process (a no-op for arrays this process holds whole)."""
    def one(leaf):
        if not isinstance(leaf, jax.Array) or leaf.is_fully_addressable:
            return leaf
        from jax.experimental import multihost_utils

        return jax.numpy.asarray(multihost_utils.process_allgather(leaf, tiled=True))

    return jax.tree_util.tree_map(one, tree)


def agree(ok: bool) -> bool:
    """Process 0's ``ok`` on every process (for decisions only process 0 can take)."""
    if not multiprocess():
        return ok
    from jax.experimental import multihost_utils

    return bool(multihost_utils.broadcast_one_to_all(np.int32(ok)))
