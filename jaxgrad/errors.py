"""The one exception base for bad user input.

The CLI turns an :class:`InputError` into one ``error: ...`` line and exit status 2;
any other exception is a real fault (exit status 1).
"""


class InputError(ValueError):
    """Bad input from a user (an argument, an expression, a config), explained in one line."""
