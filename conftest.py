"""pytest at the repository root: the docstring examples of ``jaxgrad`` run as doctests.

Every example runs in the library's default precision (float32), whatever a test
module switched on, with ``jg``, ``jax``, ``jnp`` and ``np`` at hand.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgrad as jg

collect_ignore = ["jaxgrad/__main__.py"]  # importing it would run the command


@pytest.fixture(autouse=True)
def _doctest_defaults(request, doctest_namespace):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    doctest_namespace.update(jg=jg, jax=jax, jnp=jnp, np=np)
    with jax.enable_x64(False):
        yield
