"""Config data as TOML: frozen containers, ``--set`` overrides, reading a file and writing one back.

The schema (what the keys mean) is :mod:`jaxgrad.lab.config`; this module only moves TOML
data in and out, unchanged in meaning.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Sequence

import tomllib

from jaxgrad.errors import InputError

__all__ = ["ConfigError", "FrozenDict", "FrozenList", "freeze", "thaw", "parse_value", "apply_overrides",
           "read_toml", "toml_value", "to_toml"]


class ConfigError(InputError):
    """A config that does not validate: ``<file>: <field>: <what is wrong>``."""


# --- read-only values: a resolved config is deeply frozen ----------------------------------


def _read_only(self, *args, **kwargs):
    raise TypeError("a resolved config is read-only (thaw() gives a plain copy)")


class _ReadOnly:
    """What the frozen containers share: copies are the object itself, pickles rebuild it."""

    _plain: type

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return type(self), (self._plain(self),)


class FrozenDict(_ReadOnly, dict):
    """A ``dict`` that refuses changes (so JSON, TOML and ``==`` treat it as a dict)."""

    _plain = dict
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _read_only


class FrozenList(_ReadOnly, list):
    """A ``list`` that refuses changes."""

    _plain = list
    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = _read_only
    clear = sort = reverse = _read_only


def freeze(value):
    """``value`` with every dict and list in it made read-only (:class:`FrozenDict`, :class:`FrozenList`)."""
    if isinstance(value, dict):
        return value if isinstance(value, FrozenDict) else FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return value if isinstance(value, FrozenList) else FrozenList(freeze(v) for v in value)
    return value


def thaw(value):
    """A plain, mutable deep copy of a frozen value (what a user's factory receives)."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value


def parse_value(text: str):
    """A TOML value (``3``, ``1e-3``, ``true``, ``[1, 2]``, ``"x"``), or the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict, overrides: Sequence[str], source: str = "--set") -> dict:
    """Apply ``key.path=value`` overrides (list indices 0-based) to a copy of ``data``."""
    data = thaw(data)  # a plain deep copy, of a resolved (frozen) config's data too
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source} {item!r}: expected key=value, e.g. steps=200")
        path, text = item.split("=", 1)
        parts = [p for p in path.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"{source} {item!r}: empty key")
        node = data
        for depth, part in enumerate(parts[:-1]):
            where = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"{source} {path}: {where}: index out of range (there are {len(node)})")
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ConfigError(f"{source} {path}: {where} is a value, not a table")
        last = parts[-1]
        if isinstance(node, list):
            if not last.isdigit() or int(last) >= len(node):
                raise ConfigError(f"{source} {path}: index out of range (there are {len(node)})")
            node[int(last)] = parse_value(text)
        elif isinstance(node, dict):
            node[last] = parse_value(text)
        else:
            raise ConfigError(f"{source} {path}: cannot set a key inside a value")
    return data


def read_toml(path: str | Path) -> dict:
    """A TOML file's data; a missing, unreadable or invalid file is a :class:`ConfigError`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not TOML
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read: {err}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from None


def toml_value(value) -> str:
    """One value as TOML text (a scalar, a list of them, or an inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        text = repr(float(value))
        return text if math.isfinite(value) else ("inf" if value > 0 else "-inf" if value < 0 else "nan")
    if isinstance(value, str):
        import json

        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table: a search range, { log_uniform = [lo, hi] }
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def to_toml(data: dict) -> str:
    """TOML text for a config's data: scalars, lists, one level of tables and arrays of tables."""
    lines, tables, arrays = [], [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    for key, items in arrays:
        for item in items:
            lines += ["", f"[[{key}]]"] + [f"{k} = {toml_value(v)}" for k, v in item.items()]
    for key, table in tables:
        lines += ["", f"[{key}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
