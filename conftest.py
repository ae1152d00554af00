"""pytest at the repository root: the docstring examples of ``jaxgrad`` run as doctests.

Every example runs in the library's default precision (float32), whatever a test
module switched on, with ``jg``, ``jax``, ``jnp`` and ``np`` at hand.

The slow end-to-end checks run in their quick form by default (the form CI runs);
``python -m pytest --full`` (or ``JAXGRAD_FULL_TESTS=1``) adds their variants marked
``slow``.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgrad as jg

collect_ignore = ["jaxgrad/__main__.py"]  # importing it would run the command


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", help="also run the slow variants of the end-to-end checks")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a slow variant of an end-to-end check, run with --full")


def _full(config) -> bool:
    return bool(config.getoption("--full") or os.environ.get("JAXGRAD_FULL_TESTS"))


@pytest.fixture
def full(request) -> bool:
    """Whether the slow end-to-end checks run in full (``--full``), not in their quick form."""
    return _full(request.config)


def pytest_collection_modifyitems(config, items):
    if _full(config):
        return
    skip = pytest.mark.skip(reason="a slow variant: python -m pytest --full")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _doctest_defaults(request, doctest_namespace):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    doctest_namespace.update(jg=jg, jax=jax, jnp=jnp, np=np)
    with jax.enable_x64(False):
        yield
