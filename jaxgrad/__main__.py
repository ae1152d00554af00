"""``python -m jaxgrad``: the ``jaxgrad`` command."""

from jaxgrad.cli.process import run

run()
