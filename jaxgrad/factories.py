"""User code named in a config: ``"package.module:function"`` or ``"path/to/file.py:function"``.

This is the one place where jaxgrad imports code a user names on purpose (their own
optimizer or problem). Math text is never evaluated anywhere; this is an import.
A file path is taken relative to the config's folder. A file is imported once per
process under a name derived from its resolved path, so loading it again returns
the very same function objects, and compiled programs keyed on them are reused.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable

from jaxgrad.errors import InputError, did_you_mean

__all__ = ["load", "label", "keyword_parameters", "check_keywords"]


def load(spec: Any, base: Path | None = None, *, what: str = "factory") -> Callable:
    """The function named by ``spec``.

    Raises:
      InputError: a malformed spec, a missing file or module, an import that fails
        (its exception in one line), a missing or non-callable name.
    """
    if not isinstance(spec, str) or spec.count(":") < 1:
        raise InputError(f"{what} must be 'package.module:function' or 'path/to/file.py:function', got {spec!r}")
    target, _, name = spec.rpartition(":")
    if not target or not name.isidentifier():
        raise InputError(f"{what} must be 'package.module:function' or 'path/to/file.py:function', got {spec!r}")
    module = _module_from_file(target, base, what) if target.endswith(".py") or "/" in target else \
        _module(target, what)
    if not hasattr(module, name):
        public = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        raise InputError(f"{what} {spec!r}: {target} has no {name!r}{did_you_mean(name, public)}")
    fn = getattr(module, name)
    if not callable(fn):
        raise InputError(f"{what} {spec!r}: {name} is a {type(fn).__name__}, not a function")
    return fn


def label(spec: str, fn: Callable) -> str:
    """A short printed name: the function's name (``adamw``), with the file's stem for a file
    (``my_opt.make``)."""
    target = spec.rpartition(":")[0]
    name = getattr(fn, "__name__", spec.rpartition(":")[2])
    return f"{Path(target).stem}.{name}" if target.endswith(".py") else name


def _module(target: str, what: str):
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as err:
        raise InputError(f"{what}: no module {err.name!r} (importing {target!r})") from None
    except Exception as err:  # the user's module raised while importing
        raise InputError(f"{what}: importing {target!r} failed: {type(err).__name__}: {err}") from None


def _module_from_file(target: str, base: Path | None, what: str):
    path = Path(target)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise InputError(f"{what}: no such file {str(path)!r}")
    name = "jaxgrad_user_" + "".join(c if c.isalnum() else "_" for c in str(path))
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    folder = str(path.parent)
    if folder not in sys.path:  # the file imports its neighbours (a model split over two files), as `python file.py` would
        sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        if isinstance(err, ModuleNotFoundError):
            raise InputError(f"{what}: importing {path.name} failed: no module named {err.name!r} (neither beside "
                             f"it in {path.parent} nor installed; pip install it, or put {err.name}.py there)") from None
        line = ""
        tb = err.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == str(path):
                line = f" (line {tb.tb_lineno})"
            tb = tb.tb_next
        raise InputError(f"{what}: importing {path.name} failed{line}: {type(err).__name__}: {err}") from None
    return module


def keyword_parameters(fn: Callable) -> tuple[dict[str, inspect.Parameter], bool]:
    """``({name: parameter}, takes **kwargs)`` for the arguments a function takes by keyword."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}, True
    takes_any = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())
    named = {k: p for k, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, takes_any


def check_keywords(fn: Callable, keys, where: str) -> None:
    """Refuse keyword arguments ``fn`` does not take (the nearest valid name suggested) and
    required ones that are missing."""
    named, takes_any = keyword_parameters(fn)
    if not takes_any:
        for key in keys:
            if key not in named:
                reason = f"{where} has no argument {key!r}{did_you_mean(key, named)}; it takes {', '.join(named) or 'none'}"
                raise InputError(reason, field=key, reason=reason)
    missing = [k for k, p in named.items() if p.default is inspect.Parameter.empty and k not in keys]
    if missing:
        raise InputError(f"{where} needs {', '.join(missing)}", field="factory")
