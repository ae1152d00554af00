"""Test-wide JAX switches, set here in the entry point and never by the library.

Tests run in the library's default precision, float32, unless marked ``float64``
(a module's ``pytestmark``, or one test's decorator): those run inside
``jax.enable_x64(True)``, as a user's float64 code does.
"""

import os

import jax
import pytest

os.environ.setdefault("JAXGRAD_NO_CACHE", "1")  # tests never write a user's cache

jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_configure(config):
    config.addinivalue_line("markers", "float64: run the test with float64 enabled (jax.enable_x64)")


@pytest.fixture(autouse=True, scope="module")
def _module_precision(request):
    """A float64 module's own fixtures (module-scoped, set up before any test's) run in float64 too."""
    marks = getattr(request.module, "pytestmark", [])
    marks = marks if isinstance(marks, list) else [marks]
    with jax.enable_x64(any(m.name == "float64" for m in marks)):
        yield


@pytest.fixture(autouse=True)
def _precision(request):
    with jax.enable_x64(request.node.get_closest_marker("float64") is not None):
        yield


class Ran(tuple):
    """``(code, out, err, path)`` of a command run on a written config."""

    code = property(lambda self: self[0])
    out = property(lambda self: self[1])
    err = property(lambda self: self[2])
    path = property(lambda self: self[3])


@pytest.fixture
def run_config(tmp_path, capsys):
    """The one way a test writes a config and runs a command on it, in-process:
    ``run_config(text, *args, command="run", name="exp.toml", folder=tmp_path) -> Ran``
    (``text`` is dedented; ``args`` follow the config's path; ``command=None`` only writes it)."""
    import textwrap

    from jaxgrad.cli import main

    def run(text, *args, command="run", name="exp.toml", folder=None):
        path = (folder or tmp_path) / name
        path.write_text(textwrap.dedent(text))
        if command is None:
            return Ran((None, "", "", path))
        capsys.readouterr()
        code = main([command, str(path), *map(str, args)])
        captured = capsys.readouterr()
        return Ran((code, captured.out, captured.err, path))

    return run
