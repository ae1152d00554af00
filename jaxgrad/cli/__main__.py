"""``python -m jaxgrad.cli``: the ``jaxgrad`` command."""

import sys

from jaxgrad.cli import main

sys.exit(main())
