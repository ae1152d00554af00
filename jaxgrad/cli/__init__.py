"""The ``jaxgrad`` command.

Exit status 0 on success, 2 on bad input with one ``error: ...`` line on stderr,
1 for a real fault.
"""
from __future__ import annotations

import argparse
import sys

from jaxgrad.cli.bench import add_bench
from jaxgrad.cli.check import add_check
from jaxgrad.cli.common import Parser, join_negative_values
from jaxgrad.cli.curvature import add_curvature
from jaxgrad.cli.field import add_field
from jaxgrad.cli.launch import add_launch, join_job
from jaxgrad.cli.results import add_compare, add_export
from jaxgrad.cli.run import add_list, add_plot, add_run
from jaxgrad.errors import InputError

__all__ = ["main", "build_parser"]

def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="jaxgrad",
        description="A JAX-accelerated optimization lab: derivatives, fields, landscapes, optimizers.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    add_run(sub)
    add_check(sub)
    add_field(sub)
    add_plot(sub)
    add_bench(sub)
    add_curvature(sub)
    add_compare(sub)
    add_export(sub)
    add_list(sub)
    add_launch(sub)
    return parser


def _version() -> str:
    from jaxgrad import __version__

    return f"jaxgrad {__version__}"


def main(argv=None) -> int:
    code = _main(argv)
    joined = sys.modules.get("jaxgrad.distributed")
    if code and joined is not None and joined.JOINED:
        # a failed process of a multi-process job leaves now: JAX's orderly shutdown would wait
        # at a barrier for the others (30 s) and then abort with a page of C++ log
        import os
        import time

        sys.stdout.flush()
        sys.stderr.flush()
        if code == 2 and joined.is_writer():
            # bad input, which every process meets alike: process 0 hosts the coordination
            # service, so it leaves last (else the others abort with a page of C++ log)
            time.sleep(2.0)
        os._exit(code)
    return code


def _main(argv=None) -> int:
    argv = join_negative_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    helper = False  # one of processes 1..N-1 of a multi-process job
    try:
        args = parser.parse_args(argv)
        if args.command is None:  # usage on stderr, exit 2, as for any other missing argument
            parser.print_help(sys.stderr)
            return 2
        if hasattr(args, "coordinator"):
            helper = join_job(args)
        return args.run(args) or 0
    except InputError as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not helper:  # processes 1..N-1 meet the same bad input: process 0 says it once
            print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `jaxgrad ... | head`: the reader left; nothing is wrong
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # a fault: one line, exit 1 (JAXGRAD_DEBUG=1 shows the traceback)
        import os

        if os.environ.get("JAXGRAD_DEBUG"):
            raise
        where = f" ({err.filename})" if isinstance(err, OSError) and err.filename else ""
        if helper:
            import jax

            where = f" in process {jax.process_index()}{where}"
        text = (err.strerror if isinstance(err, OSError) and err.strerror else str(err)).splitlines()
        joined = sys.modules.get("jaxgrad.distributed")
        if joined is not None and joined.JOINED and any(k in str(err) for k in ("Gloo", "heartbeat", "peer")):
            print(f"error: another process of the job stopped ({type(err).__name__}: {text[0] if text else ''})",
                  file=sys.stderr)
            return 1
        print(f"error: {type(err).__name__}{where}: {text[0] if text else ''} "
              "(a fault, not your input; JAXGRAD_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    finally:
        house = sys.modules.get("jaxgrad.pictures.house")
        if house is not None:  # --dpi holds for one command (main is also called in-process, by tests)
            house.DPI = house.DEFAULT_DPI

