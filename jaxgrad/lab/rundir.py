"""The run directory: its layout, its schema, how it is written and how it is read.

This is the one module that knows the files of a run::

    config.toml    the resolved config (after --set overrides)
    summary.json   the commit record: status, groups done, per-run outcomes and
                   statistics, metrics.csv's committed length, timings, versions
    metrics.csv    one row per (group, setting, seed, recorded step), appended per group
    arrays.npz     losses, gradient norms, metrics, parameter paths (when recorded),
                   contour grids and landscapes, keyed ``group{i}_*`` / ``problem{j}_*``
    *.png          the plots (drawn from these files alone)

Commit protocol, per group: (1) ``arrays.npz`` is replaced atomically; (2) the group's
rows are appended to ``metrics.csv`` and synced; (3) ``summary.json`` is replaced
atomically, naming the group done and ``metrics.csv``'s committed byte length. Signals
wait until a commit is over. So after an interrupt or a fault the files agree; after a
hard kill (SIGKILL, power loss) between (2) and (3) ``metrics.csv`` may hold rows past
the committed length, which :func:`read` ignores and ``--resume`` truncates.

Directories are created exclusively: two runs never share one. A directory that holds
files is refused unless the run resumes it or overwrites it.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from jaxgrad import files
from jaxgrad.errors import InputError

__all__ = ["SCHEMA_VERSION", "create", "read", "read_summary", "load_arrays", "committed_metrics", "strict_json",
           "group_key", "problem_key", "CSV_HEADER"]

SCHEMA_VERSION = 3
CSV_HEADER = "group,problem,optimizer,setting,seed,step,loss,grad_norm"
FILES = ("config.toml", "summary.json", "metrics.csv", "arrays.npz")


def group_key(i: int, field: str) -> str:
    return f"group{i}_{field}"


def problem_key(j: int, field: str) -> str:
    return f"problem{j}_{field}"


# --- creating -----------------------------------------------------------------------------


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def create(out: str | Path | None, name: str, *, resume: bool = False, overwrite: bool = False) -> Path:
    """The run directory, made for this run alone.

    ``out=None``: ``runs/<name>-<time>``, with ``-2``, ``-3``, ... when another run took
    that name in the same second (``mkdir`` is the lock). An explicit ``out`` is
    created if missing; if it holds files it is refused unless ``resume`` (keep them)
    or ``overwrite`` (clear them first).

    Raises:
      InputError: the path is a file, lies under a file, cannot be created or
        written, or holds another run's files.
    """
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    from jaxgrad import distributed

    if not distributed.multiprocess():
        return _create(out, name, resume=resume, overwrite=overwrite)
    if resume:
        raise InputError("--resume finishes a run in one process; run it without --num-processes")
    # process 0 makes the directory; the others learn whether it could, and write nothing
    path, error = None, None
    if distributed.is_writer():
        try:
            path = _create(out, name, resume=False, overwrite=overwrite)
        except InputError as err:
            error = err
    if not distributed.agree(error is None):
        raise error or InputError("process 0 could not create the run directory (its error says why)")
    return path if path is not None else Path(out if out is not None else "runs")  # not written by this process


def _create(out, name: str, *, resume: bool, overwrite: bool) -> Path:
    if out is None:
        if resume:
            raise InputError("--resume needs --out DIR (the run directory to finish)")
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{_safe(name)}-{stamp}"
        for k in range(1, 1000):
            path = base if k == 1 else base.with_name(f"{base.name}-{k}")
            try:
                _mkdir(path, parents=True, exclusive=True)
                return path
            except FileExistsError:
                continue
        raise InputError(f"{base}: 999 runs of that name this second; pass --out")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {out}: is a file, not a directory")
    if not path.exists():
        if resume:
            raise InputError(f"--resume {out}: no such run directory")
        try:
            _mkdir(path, parents=True, exclusive=True)
        except FileExistsError:  # another run made it first
            raise InputError(f"--out {out}: another run just created it; choose another directory") from None
        return path
    contents = [p for p in path.iterdir() if not p.name.startswith(".")]
    if contents and not (resume or overwrite):
        raise InputError(f"--out {out}: holds {len(contents)} files of an earlier run; pass --resume to finish "
                         "it or --overwrite to clear it")
    if resume and not (path / "summary.json").exists():
        raise InputError(f"--resume {out}: not a run directory (no summary.json)")
    if overwrite:
        for p in path.iterdir():
            try:
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            except OSError as err:
                raise InputError(f"--overwrite {out}: cannot remove {p.name}: {err.strerror}") from None
    _check_writable(path, out)
    return path


def _mkdir(path: Path, parents: bool, exclusive: bool) -> None:
    for ancestor in path.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise InputError(f"--out {path}: a parent ({ancestor}) is a file, not a directory")
            break
    try:
        if parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(exist_ok=not exclusive)
    except FileExistsError:
        raise
    except NotADirectoryError:
        raise InputError(f"--out {path}: a parent is a file, not a directory") from None
    except OSError as err:
        raise InputError(f"--out {path}: cannot create it: {err.strerror or err}") from None
    _check_writable(path, path)


def _check_writable(path: Path, shown) -> None:
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"--out {shown}: not writable")


# --- strict JSON ----------------------------------------------------------------------------


def strict_json(data: Any) -> tuple[Any, dict]:
    """``(data with every non-finite float as None, {json path: "nan" | "inf" | "-inf"})``."""
    flagged = {}

    def clean(value, path):
        if isinstance(value, dict):
            return {k: clean(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v, f"{path}.{i}") for i, v in enumerate(value)]
        if isinstance(value, np.ndarray):
            return clean(value.tolist(), path)
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            flagged[path] = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
            return None
        return value

    return clean(data, ""), flagged


def write_summary(run_dir: Path, summary: dict) -> None:
    """``summary.json`` as strict JSON: non-finite numbers are ``null``, listed under ``nonfinite``."""
    clean, flagged = strict_json(summary)
    clean["nonfinite"] = flagged
    files.write_text(run_dir / "summary.json", json.dumps(clean, indent=2, allow_nan=False) + "\n")


# --- writing metrics ------------------------------------------------------------------------


def _csv_text(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value


SPARSE = ("sharpness",)  # columns computed every few rows: blank (not "nan") on the others


def _column(fmt: str, values: np.ndarray, blank_nan: bool) -> np.ndarray:
    text = np.char.mod(fmt, values)
    return np.where(np.isnan(values), "", text) if blank_nan else text


def csv_chunks(index: int, problem: str, optimizer: str, labels: list[str], steps: np.ndarray, loss: np.ndarray,
               grad_norm: np.ndarray, metrics: dict, names: tuple):
    """The CSV rows of one group, one chunk per run (so a long run is never one huge string);
    ``loss`` etc. are ``(settings, seeds, records)``."""
    fmt = "%.9g" if loss.dtype == np.float32 else "%.17g"
    problem, optimizer = _csv_text(problem), _csv_text(optimizer)
    for i, label in enumerate(labels):
        label = _csv_text(label)
        for s in range(loss.shape[1]):
            head = f"{index},{problem},{optimizer},{label},{s},"
            columns = [steps.astype(str), np.char.mod(fmt, loss[i, s]), np.char.mod(fmt, grad_norm[i, s])]
            columns += [_column(fmt, metrics[n][i, s], blank_nan=n in SPARSE) if n in metrics
                        else np.full(len(steps), "") for n in names]
            yield "".join(head + ",".join(row) + "\n" for row in zip(*columns))


def append_metrics(run_dir: Path, chunks, committed: int, header: str) -> int:
    """Append rows after the committed length (dropping any uncommitted tail), synced; the new length."""
    if not files.writing():
        return (committed or len(header.encode())) + sum(len(c.encode()) for c in chunks)
    path = run_dir / "metrics.csv"
    with open(path, "ab+") as f:
        if committed == 0:
            f.truncate(0)
            f.write(header.encode())
        else:
            f.truncate(committed)
        f.seek(0, os.SEEK_END)
        for chunk in chunks:
            f.write(chunk.encode())
        f.flush()
        os.fsync(f.fileno())
        return f.tell()


def truncate_metrics(run_dir: Path, committed: int) -> None:
    path = run_dir / "metrics.csv"
    if files.writing() and path.exists() and path.stat().st_size > committed:
        with open(path, "rb+") as f:
            f.truncate(committed)


# --- reading --------------------------------------------------------------------------------


def read_summary(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except FileNotFoundError:
        raise InputError(f"{run_dir}: not a run directory (summary.json is missing)") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise InputError(f"{run_dir}: unreadable summary.json: {err}") from None


def load_arrays(run_dir: str | Path) -> dict:
    run_dir = Path(run_dir)
    try:
        with np.load(run_dir / "arrays.npz") as f:
            return dict(f)
    except FileNotFoundError:
        raise InputError(f"{run_dir}: not a run directory (arrays.npz is missing)") from None
    except (ValueError, OSError) as err:
        raise InputError(f"{run_dir}: unreadable arrays.npz: {err}") from None


def read(run_dir: str | Path) -> tuple[dict, dict]:
    """``(summary, arrays)`` of a run directory, as committed: the arrays of a group the summary
    does not name (written just before a fault stopped its commit) are left out."""
    summary = read_summary(run_dir)
    if not summary.get("groups") and not (Path(run_dir) / "arrays.npz").exists():
        return summary, {}  # stopped before its first commit of arrays
    arrays = load_arrays(run_dir)
    done = {f"group{g['index']}_" for g in summary.get("groups", [])}
    return summary, {k: v for k, v in arrays.items()
                     if not k.startswith("group") or any(k.startswith(p) for p in done)}


def committed_metrics(run_dir: str | Path) -> str:
    """``metrics.csv`` up to its committed length (what ``summary.json`` vouches for)."""
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    try:
        with open(run_dir / "metrics.csv", "rb") as f:
            return f.read(summary.get("metrics_bytes", 0)).decode()
    except FileNotFoundError:
        return ""
