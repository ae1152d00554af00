"""Data sets a user brings: CSV and NPZ files, and small real data sets an installed package carries.

``load(source, target=..., features=...)`` returns a :class:`Table` of float64 NumPy
arrays. Every bad file is one :class:`~jaxgrad.errors.InputError` line naming the
file, the line (1-based; the header is line 1) and the column. Splits are seeded
and standardisation uses the training rows' statistics only.

Sources:

* ``"path/file.csv"``: a header row, then one row of numbers per example;
  ``target = "column"`` (default: the last column), ``features = [...]`` (default:
  every other column).
* ``"path/file.npz"``: arrays ``X`` (n, d) and ``y`` (n,).
* ``"sklearn:NAME"``: scikit-learn's bundled ``diabetes``, ``breast_cancer``,
  ``digits``, ``iris``, ``wine`` (no download; ``pip install 'jaxgrad[data]'``).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxgrad.errors import InputError, did_you_mean

__all__ = ["Table", "load", "split", "standardize", "BUNDLED", "MIN_ROWS"]

BUNDLED = ("diabetes", "breast_cancer", "digits", "iris", "wine")
MIN_ROWS = 4


@dataclasses.dataclass(frozen=True)
class Table:
    """Inputs ``X`` (n, d) and targets ``y`` (n,), float64, with their names and origin."""

    X: np.ndarray
    y: np.ndarray
    feature_names: tuple
    target_name: str
    source: str
    origin: dict  # e.g. {"package": "scikit-learn", "version": "1.9.1"} or {"file": ..., "sha256": ...}


def load(source: str, base: Path | None = None, target: str | None = None,
         features: Sequence[str] | None = None) -> Table:
    """Read a data set (see the module's docstring for the sources).

    Raises:
      InputError: with ``field`` the option to blame: ``target``, ``features``, else ``data``.
    """
    try:
        return _load(source, base, target, features)
    except InputError as err:
        if err.field is None:
            err.field = "data"
        raise


def _load(source, base, target, features) -> Table:
    if not isinstance(source, str) or not source:
        raise InputError(f"data must be a file name (.csv, .npz) or 'sklearn:NAME', got {source!r}")
    if source.startswith("sklearn:"):
        if target is not None or features is not None:
            raise InputError(f"{source}: target and features are for CSV files")
        return _bundled(source.split(":", 1)[1])
    path = Path(source)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    if not path.is_file():
        raise InputError(f"{source}: no such file" + (f" (looked in {path.parent})" if base else ""))
    if path.suffix.lower() == ".npz":
        if target is not None or features is not None:
            raise InputError(f"{source}: target and features are for CSV files (an .npz holds X and y)")
        return _npz(path, source)
    if path.suffix.lower() != ".csv":
        raise InputError(f"{source}: unknown data format {path.suffix!r}; use .csv (header row) or .npz (X, y)")
    return _csv(path, source, target, features)


def _origin(path: Path) -> dict:
    import hashlib

    return {"file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def _csv(path: Path, source: str, target: str | None, features: Sequence[str] | None) -> Table:
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is not part of the first column's name
    except (UnicodeDecodeError, OSError) as err:
        raise InputError(f"{source}: cannot read: {err}") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise InputError(f"{source}: line 1: empty; a CSV needs a header row naming the columns")
    header = [cell.strip() for cell in rows[0]]
    for j, name in enumerate(header):
        if not name:
            raise InputError(f"{source}: line 1: column {j + 1} has no name")
        if name in header[:j]:
            raise InputError(f"{source}: line 1: column {name!r} appears twice")
    target = header[-1] if target is None else target
    if target not in header:
        raise InputError(f"{source}: no target column {target!r}{did_you_mean(target, header)}; "
                         f"columns: {', '.join(header)}", field="target")
    if features is None:
        features = [h for h in header if h != target]
    else:
        if isinstance(features, str) or not all(isinstance(f, str) for f in features):
            raise InputError(f"{source}: features must be a list of column names, got {features!r}", field="features")
        for f in features:
            if f not in header:
                raise InputError(f"{source}: no feature column {f!r}{did_you_mean(f, header)}; "
                                 f"columns: {', '.join(header)}", field="features")
        if target in features:
            raise InputError(f"{source}: the target column {target!r} cannot also be a feature", field="features")
    if not features:
        raise InputError(f"{source}: no feature columns besides the target {target!r}", field="features")
    wanted = [header.index(f) for f in features] + [header.index(target)]
    labels = _class_labels(rows[1:], header.index(target))
    values = []
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines are not examples
        if len(row) != len(header):
            raise InputError(f"{source}: line {line}: {len(row)} cells, the header has {len(header)}")
        out = []
        for j in wanted:
            cell = row[j].strip()
            if labels and j == wanted[-1]:
                out.append(float(labels.index(cell)))
                continue
            try:
                v = float(cell)
            except ValueError:
                raise InputError(f"{source}: line {line}: column {header[j]!r}: not a number: {cell!r}") from None
            if not math.isfinite(v):
                raise InputError(f"{source}: line {line}: column {header[j]!r}: {cell!r} is not finite")
            out.append(v)
        values.append(out)
    if len(values) < MIN_ROWS:
        raise InputError(f"{source}: {len(values)} data rows; at least {MIN_ROWS} are needed")
    data = np.asarray(values, np.float64)
    origin = _origin(path)
    if labels:
        origin["classes"] = labels  # the target's labels, in sorted order: class k is labels[k]
    return Table(data[:, :-1], data[:, -1], tuple(features), target, source, origin)


def _class_labels(rows, j: int) -> list[str]:
    """The target column's labels in sorted order when any is not a number (``"yes"``, ``"no"``),
    mapped to classes 0..K-1; ``[]`` for a numeric target."""
    cells = [row[j].strip() for row in rows if len(row) > j and any(c.strip() for c in row)]

    def number(cell):
        try:
            float(cell)
            return True
        except ValueError:
            return False

    if all(number(c) for c in cells):
        return []
    return sorted(set(cells))


def _npz(path: Path, source: str) -> Table:
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("X", "y") if k not in f.files]
            if missing:
                raise InputError(f"{source}: needs arrays X and y; it has {', '.join(f.files) or 'none'}")
            X, y = f["X"], f["y"]
    except InputError:
        raise
    except Exception as err:  # not a zip, a pickled object, ...
        raise InputError(f"{source}: not a readable .npz ({type(err).__name__}: {err})") from None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise InputError(f"{source}: X must be (n, d) and y (n,) with the same n; got {X.shape} and {y.shape}")
    for name, a in (("X", X), ("y", y)):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise InputError(f"{source}: {name} is not numeric ({a.dtype})")
        bad = np.argwhere(~np.isfinite(a.astype(np.float64)))
        if bad.size:
            raise InputError(f"{source}: {name}[{', '.join(map(str, bad[0]))}] is not finite")
    if X.shape[0] < MIN_ROWS:
        raise InputError(f"{source}: {X.shape[0]} rows; at least {MIN_ROWS} are needed")
    names = tuple(f"x{j + 1}" for j in range(X.shape[1]))
    return Table(X.astype(np.float64), y.astype(np.float64), names, "y", source, _origin(path))


def _bundled(name: str) -> Table:
    if name not in BUNDLED:
        raise InputError(f"sklearn:{name}: unknown data set{did_you_mean(name, BUNDLED)}; bundled: {', '.join(BUNDLED)}")
    try:
        import sklearn
        from sklearn import datasets
    except ImportError:
        raise InputError(f"sklearn:{name} needs scikit-learn: pip install 'jaxgrad[data]'") from None
    bunch = getattr(datasets, f"load_{name}")()
    names = tuple(str(n) for n in getattr(bunch, "feature_names", [])) or tuple(
        f"x{j + 1}" for j in range(bunch.data.shape[1]))
    return Table(np.asarray(bunch.data, np.float64), np.asarray(bunch.target, np.float64), names, "target",
                 f"sklearn:{name}", {"package": "scikit-learn", "version": sklearn.__version__, "dataset": name})


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)``: a seeded permutation, the last ``round(test_fraction n)`` rows test."""
    if not (isinstance(test_fraction, (int, float)) and not isinstance(test_fraction, bool)
            and 0 <= test_fraction < 1):
        raise InputError(f"test_fraction must be in [0, 1), got {test_fraction!r}", field="test_fraction")
    n_test = int(round(test_fraction * n))
    if test_fraction > 0 and (n_test < 1 or n - n_test < 2):
        raise InputError(f"test_fraction {test_fraction} of {n} rows leaves {n_test} test and {n - n_test} "
                         f"training rows; each needs at least 1 (training 2)", field="test_fraction")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[: n - n_test]), np.sort(order[n - n_test:])


def standardize(X_train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    """Centre and scale every column by the training rows' mean and standard deviation
    (a constant column is only centred)."""
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return tuple((X - mean) / std for X in (X_train,) + others)
