"""The ``jaxgrad`` command.

Exit status 0 on success, 2 on bad input with one ``error: ...`` line on stderr,
1 for a real fault.
"""

from __future__ import annotations

import argparse
import sys


from jaxgrad.errors import InputError


class UsageError(InputError):
    """Bad input from the command line: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jaxgrad",
        description="A JAX-accelerated optimization lab: derivatives, fields, landscapes, optimizers.",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    return parser


def _version() -> str:
    from jaxgrad import __version__

    return f"jaxgrad {__version__}"


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return args.run(args) or 0
    except InputError as err:
        print(f"error: {err}".splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
