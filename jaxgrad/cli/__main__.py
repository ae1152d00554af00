"""``python -m jaxgrad.cli``: the ``jaxgrad`` command."""

from jaxgrad.cli.process import run

run()
