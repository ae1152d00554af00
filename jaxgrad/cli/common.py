"""What every command shares: the parser's one-line errors, number lists, precision, output paths."""
from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

from jaxgrad.errors import InputError

__all__ = ["enable_compilation_cache", "check_output_path", "set_dpi", "add_dpi", "in_precision", "UsageError", "Parser", "numbers", "join_negative_values", "precision", "formatter"]


class UsageError(InputError):
    """Bad input from the command line: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


# options whose value is a comma-separated list of numbers, which may start with '-'
_NUMBER_LISTS = ("--at", "--direction", "--lower", "--upper", "--num")


def numbers(text: str, option: str, count: int | None = None, integer: bool = False) -> list:
    """Parse ``"1,-2.5"`` into numbers, naming the option and the position on failure."""
    parts = [p.strip() for p in str(text).split(",")]
    values = []
    for i, part in enumerate(parts, start=1):
        try:
            value = int(part) if integer else float(part)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise UsageError(f"{option}: entry {i} ({part!r}) is not {kind}") from None
        if not integer and not math.isfinite(value):
            raise UsageError(f"{option}: entry {i} ({part!r}) is not finite")
        values.append(value)
    if count is not None and len(values) != count:
        raise UsageError(f"{option}: expected {count} comma-separated number{'s' * (count != 1)}, got {len(values)}")
    return values


def join_negative_values(argv: list[str]) -> list[str]:
    """Let ``--at -1,2`` mean ``--at=-1,2`` (argparse would read -1,2 as an option), and let an
    expression start with a minus (``check "-x*y"``): a leading space keeps it positional."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if i >= 1 and argv[i - 1] in ("check", "field") and arg.startswith("-") \
                and not re.fullmatch(r"(-h|--[a-z][a-z0-9-]*(=.*)?)", arg):
            out.append(" " + arg)
            i += 1
            continue
        if arg in _NUMBER_LISTS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def precision(float64: bool):
    """``(context, dtype)`` for a command (see :func:`jaxgrad.precision.precision`)."""
    from jaxgrad.precision import precision as _precision

    return _precision(bool(float64))


def formatter(dtype):
    """Print as many significant digits as the dtype holds: 7 in float32, 14 in float64."""
    import numpy as np

    digits = 14 if np.dtype(dtype) == np.float64 else 7
    return lambda v: f"{float(v):.{digits}g}"


def in_precision(command):
    """Run ``command(args, dtype)`` inside the precision ``--float64`` asks for."""

    def run(args) -> int:
        context, dtype = precision(args.float64)
        with context:
            return command(args, dtype)

    return run


def add_dpi(p) -> None:
    p.add_argument("--dpi", type=int, help="resolution of PNG figures (default 150)")


def set_dpi(args) -> None:
    from jaxgrad.pictures import house

    if getattr(args, "dpi", None) is not None:
        if not 50 <= args.dpi <= 1200:
            raise UsageError(f"--dpi: must be from 50 to 1200, got {args.dpi}")
        house.DPI = args.dpi


def check_output_path(flag: str, path: str, suffixes: tuple) -> None:
    """Refuse, before computing, a file that cannot be written: a wrong suffix, a missing or
    read-only folder, a folder in its place."""
    import os

    target = Path(path)
    if target.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {path}: the file must end in {' or '.join(suffixes)}")
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(f"{flag} {path}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: no such directory {str(parent)!r}")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag} {path}: {str(parent)!r} is not writable")


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache (an entry point's global switch).

    Repeat runs of a config then skip XLA compilation (measured: the quickstart in
    about 4.5 s instead of 7.6 s). Every program is cached, however fast it compiled.
    """
    import os

    import jax

    if os.environ.get("JAXGRAD_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.environ.get("JAXGRAD_CACHE_DIR") or os.path.join(base, "jaxgrad", "xla")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return None  # a read-only home: run without the cache
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
