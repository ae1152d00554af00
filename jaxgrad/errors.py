"""The one exception base for bad user input.

The CLI turns an :class:`InputError` into one ``error: ...`` line and exit status 2;
any other exception is a real fault (exit status 1).
"""

__all__ = ["InputError", "is_positive_int", "positive_int", "nearest", "did_you_mean"]


class InputError(ValueError):
    """Bad input from a user (an argument, an expression, a config), explained in one line.

    ``field``: the name of the offending argument or option, when one is to blame (a
    config names it in its own terms, ``problems.0.dim``, without reading the message);
    ``reason``: what is wrong with it, without the name (``must be > 0, got -1``).
    """

    def __init__(self, message: str = "", field: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.field = field
        self.reason = reason if reason is not None else message


def is_positive_int(value) -> bool:
    """An integer >= 1 (NumPy's too), and not a bool."""
    import numbers

    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def positive_int(value, name: str, where: str = "") -> int:
    """``value`` as an ``int``, or one :class:`InputError` naming ``name`` (the one style of this check)."""
    if not is_positive_int(value):
        raise InputError(f"{where}{name} must be a positive integer, got {value!r}", field=name,
                         reason=f"must be a positive integer, got {value!r}")
    return int(value)


def nearest(word, choices) -> str | None:
    """The valid name a user most likely meant: a prefix or containment match first
    (``record`` -> ``record_params``), else the closest spelling (``learnig_rate``)."""
    import difflib

    word, choices = str(word), [str(c) for c in choices]
    lowered = word.lower()
    for candidate in choices:
        if len(lowered) >= 3 and (candidate.lower().startswith(lowered) or lowered.startswith(candidate.lower())):
            return candidate
    hint = difflib.get_close_matches(word, choices, n=1)
    return hint[0] if hint else None


def did_you_mean(word, choices) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    hint = nearest(word, choices)
    return f" (did you mean {hint!r}?)" if hint else ""
