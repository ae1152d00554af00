"""One cache policy for the package: bounded memos, weak where a user's callable is the key.

Every cache in jaxgrad is a :class:`Memo`, registered by name, so that one call reports
them all (:func:`cache_info`) and one call empties them (:func:`clear_caches`). Compiled
programs themselves live in JAX's own caches, keyed by the functions a memo hands out:
a memo that returns the same function object for the same user callable is what makes a
second call reuse the program. The programs' trace counts (:func:`count_trace`, called
inside a traced body, runs once per compile) are how the tests see "no retrace".

Policy:

* ``weak=True``: the first argument (a user's function) is held weakly, and so is the
  value (which usually closes over it; ``weak_values=False`` for values that cannot hold
  it, such as shapes), so a memo never keeps a user's loss or its captured data alive.
  An argument or value that takes no weak reference is not memoised.
* ``maxsize``: at most this many entries, least recently used dropped first.
* ``budget`` with ``size(value)``: at most this many bytes of values in all.
"""

from __future__ import annotations

import collections
import functools
import threading
import weakref
from typing import Any, Callable

__all__ = ["Memo", "memo", "cache_info", "clear_caches", "count_trace", "traces", "program", "lookup"]

_MEMOS: dict[str, "Memo"] = {}
_TRACES: collections.Counter = collections.Counter()
_PROGRAMS: dict[str, Any] = {}
_MISSING = object()


class Memo:
    """A bounded, optionally weak, least-recently-used table (see the module's policy)."""

    def __init__(self, name: str, *, maxsize: int | None = 256, weak: bool = False, weak_values: bool = True,
                 budget: int | None = None, size: Callable[[Any], int] | None = None):
        self.name, self.maxsize, self.weak, self.budget, self._size = name, maxsize, weak, budget, size
        self._weak_values = weak and weak_values
        self._table: collections.OrderedDict = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.RLock()
        self.hits = self.misses = 0
        _MEMOS[name] = self

    def _key(self, args: tuple):
        if not self.weak:
            return args
        head, rest = args[0], args[1:]
        ref = weakref.ref(head, lambda r, self=self: self._forget(r))  # TypeError: not weak-referenceable
        return (_Ref(ref, head), rest)

    def _forget(self, ref) -> None:
        with self._lock:
            for key in [k for k in self._table if k[0].ref is ref or k[0].ref() is None]:
                self._drop(key)

    def _drop(self, key) -> None:
        value = self._table.pop(key)
        if self._size is not None:
            self._bytes -= self._size(self._deref(value))

    def _deref(self, stored):
        return stored() if self._weak_values else stored

    def get(self, *args, default=None):
        """The value stored for ``args`` (marked most recently used), or ``default``."""
        try:
            key = self._key(args)
            with self._lock:
                stored = self._table.get(key, _MISSING)
                value = _MISSING if stored is _MISSING else self._deref(stored)
                if value is None and stored is not _MISSING:  # a weakly held value that died
                    self._drop(key)
                    value = _MISSING
                if value is _MISSING:
                    self.misses += 1
                    return default
                self._table.move_to_end(key)
                self.hits += 1
                return value
        except TypeError:  # an unhashable or weakless argument: never stored
            self.misses += 1
            return default

    def put(self, value, *args):
        """Store ``value`` for ``args`` (silently not, when they cannot be a key); returns ``value``."""
        try:
            key = self._key(args)
            stored = weakref.ref(value) if self._weak_values else value
            hash(key)
        except TypeError:
            return value
        with self._lock:
            if key in self._table:
                self._drop(key)
            self._table[key] = stored
            if self._size is not None:
                self._bytes += self._size(value)
            while self._table and ((self.maxsize is not None and len(self._table) > self.maxsize)
                                   or (self.budget is not None and self._bytes > self.budget and len(self._table) > 1)):
                self._drop(next(iter(self._table)))
        return value

    def __call__(self, factory: Callable) -> Callable:
        """Use as a decorator: ``factory(*args, **kwargs)`` memoised on its arguments."""

        @functools.wraps(factory)
        def memoised(*args, **kwargs):
            key = args + (tuple(sorted(kwargs.items())),) if kwargs else args
            value = self.get(*key, default=_MISSING)
            if value is _MISSING:
                value = self.put(factory(*args, **kwargs), *key)
            return value

        memoised.memo = self
        return memoised

    def __len__(self) -> int:
        return len(self._table)

    def values(self) -> list:
        """The values held now (weakly held ones that died are left out)."""
        with self._lock:
            return [v for v in map(self._deref, self._table.values()) if v is not None]

    def clear(self) -> None:
        with self._lock:
            self._table.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def info(self) -> dict:
        with self._lock:
            info = {"hits": self.hits, "misses": self.misses, "size": len(self._table), "maxsize": self.maxsize}
            if self.budget is not None:
                info.update(bytes=self._bytes, budget=self.budget)
            return info


class _Ref:
    """A weak reference used as a key: equal while alive to a reference to the same object."""

    __slots__ = ("ref", "_hash")

    def __init__(self, ref, obj):
        self.ref = ref
        self._hash = hash((type(obj), id(obj)))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return isinstance(other, _Ref) and self.ref() is not None and self.ref() is other.ref()


def memo(name: str, **policy) -> Memo:
    """A :class:`Memo` registered under ``name`` (``maxsize``, ``weak``, ``budget``, ``size``)."""
    return Memo(name, **policy)


def lookup(name: str) -> Memo:
    """The memo registered under ``name`` (for inspection: ``lookup("field plans").values()``)."""
    return _MEMOS[name]


def count_trace(name: str) -> None:
    """Note one trace of the program ``name``: call it inside the traced body (it runs once per
    compile, never when a compiled program is reused)."""
    _TRACES[name] += 1


def traces(name: str) -> int:
    """How many times the program ``name`` was traced in this process."""
    return _TRACES[name]


def program(name: str, jitted):
    """Register a jitted function so that :func:`clear_caches` drops its compiled programs."""
    _PROGRAMS[name] = jitted
    return jitted


def cache_info() -> dict:
    """Every cache by name: ``hits``, ``misses``, ``size``, ``maxsize`` (and ``bytes``/``budget``
    for byte-bounded ones); programs by name: how often each was traced."""
    return {"memos": {name: m.info() for name, m in sorted(_MEMOS.items())},
            "traces": dict(sorted(_TRACES.items()))}


def clear_caches() -> None:
    """Empty every memo and drop the registered programs' compiled code (the next call compiles)."""
    for m in _MEMOS.values():
        m.clear()
    for jitted in _PROGRAMS.values():
        jitted.clear_cache()
