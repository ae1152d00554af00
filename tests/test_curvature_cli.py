"""`jaxgrad curvature`: the printed figures against an exact eigendecomposition."""

import re

import jax
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import jaxgrad as jg
from jaxgrad import cli

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
from jaxgrad.lab import rundir

pytestmark = pytest.mark.float64


def exact_spectrum(loss, params):
    x, unravel = ravel_pytree(params)
    H = np.asarray(jax.hessian(lambda z: loss(unravel(z)))(x), np.float64)
    return np.linalg.eigvalsh((H + H.T) / 2)


def section(out: str, title: str) -> list[float]:
    """The numbers on the lines after a section's title, up to the next blank or titled line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    values = []
    for line in lines[start + 1:]:
        if not line.startswith("  "):
            break
        values += [float(v) for v in re.findall(r"-?\d+\.?\d*(?:e[-+]?\d+)?", line.replace(",", ""))]
    return values


def test_a_registry_problem_top_k_trace_layers_and_density(tmp_path, capsys):
    png = tmp_path / "density.png"
    argv = ["curvature", "quadratic", "--set", "dim=6", "--set", "condition_number=50", "--k", "3", "--float64",
            "--plot", str(png)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    with jax.enable_x64(True):
        p = jg.problems.make("quadratic", dim=6, condition_number=50.0)
        w = exact_spectrum(p.loss, p.init(jax.random.PRNGKey(0)))
    assert out.startswith("quadratic (dim=6, condition_number=50)\n  6 parameters, float64")
    np.testing.assert_allclose(section(out, "top 3 eigenvalues"), w[::-1][:3], rtol=1e-10)
    trace, stderr = section(out, "trace")[:2]
    assert abs(trace - w.sum()) <= 3 * stderr + 1e-9
    # one leaf: its block is the whole Hessian (top eigenvalue, exact trace)
    size, top, block_trace = section(out, "per parameter leaf")[-3:]
    assert size == 6 and top == pytest.approx(w[-1], rel=1e-10) and block_trace == pytest.approx(w.sum(), rel=1e-10)
    assert png.stat().st_size > 10_000
    assert max(len(line) for line in out.splitlines()) <= 80


def test_a_run_directory_uses_its_final_parameters(tmp_path, capsys, run_config):
    assert run_config('name = "r"\nsteps = 30\nseeds = 1\nprecision = "float64"\n'
                      '[[problems]]\nname = "rosenbrock"\ndim = 4\n[[optimizers]]\nname = "adam"\n'
                      '[output]\nplots = []\n', "--out", tmp_path / "run").code == 0
    assert cli.main(["curvature", str(tmp_path / "run"), "--k", "2", "--float64"]) == 0
    out = capsys.readouterr().out
    _, arrays = rundir.read(tmp_path / "run")
    with jax.enable_x64(True):
        p = jg.problems.make("rosenbrock", dim=4)
        w = exact_spectrum(p.loss, jax.numpy.asarray(arrays["group0_best_final"]))
    assert "after 30 steps of adam" in out
    np.testing.assert_allclose(section(out, "top 2 eigenvalues"), w[::-1][:2], rtol=1e-10)
    for argv, message in ((["--group", "7"], "--group 7"), (["--set", "dim=3"], "--set")):
        assert cli.main(["curvature", str(tmp_path / "run"), *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {message}") and err.count("\n") == 1
    # the same through the library: the problem and its final parameters, by name
    from jaxgrad.errors import InputError
    from jaxgrad.lab.results import load_trained

    with jax.enable_x64(True):
        t = load_trained(tmp_path / "run")
        np.testing.assert_array_equal(np.asarray(t.params), arrays["group0_best_final"])
        assert t.label.startswith("rosenbrock") and t.where.startswith("after 30 steps of adam")
        assert float(t.problem.loss(t.params)) == pytest.approx(float(p.loss(jax.numpy.asarray(t.params))))
        with pytest.raises(InputError) as err:
            load_trained(tmp_path / "run", group=7)
        assert err.value.field == "group" and "groups 0" in str(err.value)


@pytest.mark.parametrize("argv, message", [
    (["nope"], "'nope' is neither a run directory nor a problem"),
    (["mlp", "--k", "0"], "--k 0"),
    (["mlp", "--set", "widths=[1,x]"], "widths"),
    (["quadratic", "--plot", "out.txt"], "--plot out.txt"),
    (["missing.py:make"], "missing.py"),
])
def test_bad_input_is_one_line_exit_2(argv, message, capsys):
    assert cli.main(["curvature", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
