"""Atomic file writes: a temporary file in the same directory, then a rename.

A reader (or an interrupted run) sees either the old file or the whole new one,
never half of it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["atomic_write", "write_text", "write_json", "write_npz", "writing"]


def writing() -> bool:
    """Whether this process writes: always, but for processes 1.. of a multi-process job."""
    from jaxgrad import distributed

    return distributed.is_writer()


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w"):
    """Open a temporary file beside ``path``; on success rename it over ``path``."""
    path = Path(path)
    if not writing():  # another process of the job writes this file: a sink (seekable, as zip needs)
        yield io.BytesIO() if "b" in mode else io.StringIO()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 is for secrets; results follow the umask
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_text(path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text)


def write_json(path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_npz(path, **arrays) -> None:
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def write_with(path, writer: Callable[[Any], None], mode: str = "wb") -> None:
    with atomic_write(path, mode) as f:
        writer(f)
