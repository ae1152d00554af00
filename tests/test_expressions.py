"""The safe expression parser: the seeds' formulas, sympy cross-checks, attacks, fuzzing."""

import os
import random
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxgrad as jg
from jaxgrad.calculus.expressions import ExpressionError, natural_order
from jaxgrad.cli import main

# written when the suite ran in float64 throughout; tests/test_float32.py covers the default
pytestmark = pytest.mark.float64


def at(*v):
    return jnp.asarray(v, jnp.float64)


# --- the seeds' formulas, typed as text ---------------------------------------------------

SEED_GRADIENTS = [
    ("3*x**2*y + 2*y", (1, 2), [12, 5]),
    ("x**2 + 3*x*y + y**2", (1, 2), [8, 7]),
    ("x**2 + y**2", (1, 2), [2, 4]),
    ("x^2 + 4*y^2", (2, 1), [4, 8]),
    ("x**2*y + exp(x*y)", (1, 2), [2 * 2 + 2 * np.exp(2), 1 + np.exp(2)]),
    ("x**2*y + 3*x*y**2 + y**3", (1, 2), [2 * 2 + 3 * 4, 1 + 12 + 12]),
    ("x**2*y + sin(x*y)", (1, 2), [4 + 2 * np.cos(2), 1 + np.cos(2)]),
    ("x**2*y*z + sin(x*z) + exp(y)", (1, 2, 3), [12 + 3 * np.cos(3), 3 + np.exp(2), 2 + np.cos(3)]),
    ("x**2*y + exp(y*z)", (1, 2, 3), [4, 1 + 3 * np.exp(6), 2 * np.exp(6)]),
    ("x**3 - 2*x**2 + 3*x - 1", (2,), [3 * 4 - 8 + 3]),
    ("x**2 + y**2 - 2*x*y + 2*x - 4*y + 3", (0, 0), [2, -4]),
    ("1/(1 + exp(-x))", (0,), [0.25]),
]


@pytest.mark.parametrize("text, point, expected", SEED_GRADIENTS)
def test_seed_formulas_gradients(text, point, expected):
    f = jg.expression(text)
    np.testing.assert_allclose(jg.grad(f)(at(*point)), expected, rtol=1e-14)


def test_seed_directional_derivatives_and_hessian():
    f = jg.expression("x**2 + y**2")
    np.testing.assert_allclose(jg.directional_derivative(f)(at(1, 2), at(3, 4)), 4.4, rtol=1e-15)
    np.testing.assert_allclose(jg.directional_derivative(f)(at(1, 2), at(1, 1)), 3 * np.sqrt(2), rtol=1e-15)
    g = jg.expression("x**2 + 3*x*y + y**2")
    np.testing.assert_allclose(jg.hessian(g)(at(1, 2)), [[2, 3], [3, 2]])
    assert jg.classify(jg.hessian(g)(at(1, 2))) == "saddle"


def test_seed_jacobians():
    F = jg.expression("[x**2 + y, x*y]")
    for mode in ("fwd", "rev", "auto"):
        np.testing.assert_allclose(jg.jacobian(F, mode)(at(2, 3)), [[4, 1], [3, 2]])
    G = jg.expression("[sin(x*y), x + y**2]")
    x, y = 0.8, 1.3
    np.testing.assert_allclose(
        jg.jacobian(G)(at(x, y)), [[y * np.cos(x * y), x * np.cos(x * y)], [1, 2 * y]], rtol=1e-14
    )
    assert F.is_vector and F.size == 2


def test_caret_is_power_with_power_precedence():
    for a, b in [("x^2 + 1", "x**2 + 1"), ("2*x^3*y", "2*x**3*y"), ("-x^2", "-x**2"), ("x^y^2", "x**y**2")]:
        p = at(1.3, 0.7)
        fa, fb = jg.expression(a, "x,y"), jg.expression(b, "x,y")
        assert float(fa(p)) == float(fb(p))
        np.testing.assert_array_equal(jg.grad(fa)(p), jg.grad(fb)(p))


def test_natural_variable_order():
    assert natural_order(["x10", "y", "x2", "b", "x1", "a", "z", "x"]) == ("a", "b", "x", "y", "z", "x1", "x2", "x10")
    assert jg.expression("y*x + z").variables == ("x", "y", "z")
    assert jg.expression("x10 + x2*x1").variables == ("x1", "x2", "x10")
    f = jg.expression("x - y", variables=("y", "x"))
    assert float(f(at(1, 5))) == 4.0  # y = 1, x = 5


def test_constants_functions_and_sympy_spellings():
    f = jg.expression("pi*e + Abs(-x) + Max(x, 2, 1) + Min(x, 0) + asin(0.5) + atan(1) + acos(1)")
    x = 0.5
    expected = np.pi * np.e + x + 2 + 0 + np.arcsin(0.5) + np.arctan(1) + 0
    np.testing.assert_allclose(f(at(x)), expected, rtol=1e-15)
    g = jg.expression("sigmoid(x) + relu(x) + softplus(x) + erf(x) + log1p(x) + tanh(x) + cosh(x) + sinh(x) + tan(x)")
    import scipy.special as ss

    expected = (
        1 / (1 + np.exp(-x)) + x + np.log1p(np.exp(x)) + ss.erf(x) + np.log1p(x) + np.tanh(x)
        + np.cosh(x) + np.sinh(x) + np.tan(x)
    )
    np.testing.assert_allclose(g(at(x)), expected, rtol=1e-14)


def test_number_literals_are_floats_and_overflow_to_inf():
    assert jg.expression("9**9**9**9")(jnp.zeros(0)) == np.inf
    assert float(jg.expression("1e3 + 2.5E-1 + 7/2")(jnp.zeros(0))) == 1000.25 + 3.5
    assert float(jg.expression("x**-2")(at(2.0))) == 0.25


def test_works_under_transformations_in_both_precisions():
    f = jg.expression("x**2*y + exp(x*y)")
    for dtype in (jnp.float32, jnp.float64):
        p = jnp.asarray([1.0, 2.0], dtype)
        assert jax.jit(f)(p).dtype == dtype
        assert jax.grad(f)(p).dtype == dtype
        H = jax.hessian(f)(p)
        # ∂²/∂x² = 2y + y² e^{xy}, ∂²/∂x∂y = 2x + e^{xy}(1 + xy), ∂²/∂y² = x² e^{xy}
        e2 = np.exp(2.0)
        np.testing.assert_allclose(H, [[4 + 4 * e2, 2 + 3 * e2], [2 + 3 * e2, e2]], rtol=1e-6 if dtype == jnp.float32 else 1e-14)
        pts = jnp.asarray([[1.0, 2.0], [0.5, -1.0]], dtype)
        np.testing.assert_allclose(jax.vmap(f)(pts), [f(pts[0]), f(pts[1])], rtol=1e-6)


def test_repr_text_and_point_shape_error():
    f = jg.expression("x + y")
    assert f.text == "x + y" and "x + y" in repr(f)
    with pytest.raises(ValueError, match=r"shape \(2,\).*got shape \(3,\)"):
        f(at(1, 2, 3))


# --- sympy cross-check on random formulas ----------------------------------------------

X, Y, Z = sp.symbols("x y z")
UNARY = [sp.exp, sp.sin, sp.cos, sp.tanh, sp.atan, sp.erf, sp.sinh,
         lambda u: sp.sqrt(1 + u**2), lambda u: sp.log(1 + u**2), lambda u: 1 / (1 + sp.exp(-u))]


def random_formula(rng, depth):
    if depth == 0 or rng.random() < 0.25:
        return rng.choice([X, Y, Z, sp.Integer(rng.randint(1, 5)), sp.Rational(rng.randint(1, 7), rng.randint(2, 9))])
    kind = rng.random()
    if kind < 0.3:
        return rng.choice(UNARY)(random_formula(rng, depth - 1) / 2)
    a, b = random_formula(rng, depth - 1), random_formula(rng, depth - 1)
    if kind < 0.55:
        return a + b
    if kind < 0.75:
        return a * b
    if kind < 0.85:
        return a - b
    if kind < 0.93:
        return a / (2 + b**2)
    return a ** rng.randint(2, 3)


def test_random_formulas_against_sympy(full):
    rng = random.Random(1234)
    checked = 0
    while checked < (60 if full else 24):  # the quick form: the first 24 of the same formulas
        expr = random_formula(rng, 4)
        if not expr.free_symbols:
            continue
        text = sp.sstr(expr)
        f = jg.expression(text, variables=("x", "y", "z"))
        point = [rng.uniform(-1, 1) for _ in range(3)]
        subs = dict(zip((X, Y, Z), point))
        g_ref = np.array([float(sp.diff(expr, s).evalf(30, subs=subs)) for s in (X, Y, Z)])
        H_ref = np.array([[float(sp.diff(expr, a, b).evalf(30, subs=subs)) for b in (X, Y, Z)] for a in (X, Y, Z)])
        p = at(*point)
        g = np.asarray(jg.grad(f)(p))
        H = np.asarray(jg.hessian(f)(p))
        # relative to the largest entry, with a floor of ~50 ulp for saturated tanh/erf
        # where 1 - tanh(u)**2 cancels and the derivative itself is tiny
        assert np.max(np.abs(g - g_ref)) <= 1e-9 * np.max(np.abs(g_ref)) + 1e-14, text
        assert np.max(np.abs(H - H_ref)) <= 1e-8 * np.max(np.abs(H_ref)) + 1e-13, text
        checked += 1


# --- errors that teach -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, variables, message",
    [
        ("expp(x)", None, r"unknown function 'expp'; did you mean 'exp'\?"),
        ("x + q", ("x", "y"), r"unknown variable 'q'; the declared variables are x, y"),
        ("exp(x, y)", None, r"'exp' takes 1 argument, got 2"),
        ("exp + 1", None, r"function 'exp' needs arguments"),
        ("x +", None, r"invalid syntax at 1:"),
        ("x % 2", None, r"operator % is not allowed at 1:1"),
        ("x == 1", None, r"comparison is not allowed"),
        ("[[x], y]", None, r"a list is allowed only as the whole expression at 1:2"),
        ("", None, r"empty"),
        ("\ufeff", None, r"empty"),  # a byte-order mark alone (found by hypothesis in CI)
        ("\ufeff  ", None, r"empty"),
        ("1j*x", None, r"constant 1j is not allowed"),
        ("True + x", None, r"constant True is not allowed"),
    ],
)
def test_errors_name_the_problem(text, variables, message):
    with pytest.raises(ExpressionError, match=message):
        jg.expression(text, variables)


def test_error_column_accounts_for_caret_rewrite():
    with pytest.raises(ExpressionError, match=r"attribute access is not allowed at 1:11"):
        jg.expression("x^2 + y^2+x.real")


ATTACKS = [
    "__import__('os').system('touch {marker}')",
    "().__class__.__bases__[0].__subclasses__()",
    "open('{marker}', 'w')",
    "exec(\"open('{marker}', 'w')\")",
    "eval('1')",
    "lambda: 1",
    "[c for c in ().__class__.__mro__]",
    "(x for x in [1])",
    "x.__class__",
    "x[0]",
    "print(1)",
    "getattr(x, 'real')",
    "x = open('{marker}', 'w')",
    "x; open('{marker}', 'w')",
    "import os",
    "exp(x=1)",
    "exp(*x)",
    "f'{{x}}'",
    "'a' * 10",
    "(y := 2)",
    "x if x else y",
    "{{1: 2}}",
    "1" + "+x" * 6000,
    "(" * 500 + "x" + ")" * 500,
    "-" * 3000 + "x",
    "exp(" * 300 + "x" + ")" * 300,
]


@pytest.mark.parametrize("template", ATTACKS, ids=lambda t: t[:40])
def test_hostile_input_is_refused_by_api_and_cli(template, tmp_path, capsys):
    marker = tmp_path / "pwned"
    text = template.format(marker=marker)
    with pytest.raises(ExpressionError):
        jg.expression(text)
    assert main(["check", text, "--at", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not marker.exists()


def test_cli_refusal_in_a_real_process(tmp_path):
    marker = tmp_path / "pwned"
    proc = subprocess.run(
        [sys.executable, "-m", "jaxgrad.cli", "check", f"__import__('os').system('touch {marker}')", "--at", "1"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not marker.exists() and not os.path.exists(marker)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("xyz0123456789.+-*/^()[], eEpisqrtxlogabcn_'\"\\:=")), max_size=60)
       | st.text(max_size=40))
def test_random_text_gives_a_function_or_the_documented_error(text):
    try:
        f = jg.expression(text)
    except ExpressionError:
        return
    value = f(jnp.linspace(0.1, 0.9, len(f.variables)))
    assert value.shape == ((f.size,) if f.is_vector else ())


# --- jaxgrad check ----------------------------------------------------------------------


def test_check_prints_seed_numbers(capsys):
    assert main(["check", "x**2 + 3*x*y + y**2", "--at", "1,2", "--direction", "3,4", "--float64"]) == 0
    out = capsys.readouterr().out
    assert "saddle" in out and "-1  5" in out
    # ∇f·(3,4)/5 = (24 + 28)/5 = 10.4
    assert "10.4" in out.split("directional derivative")[1].splitlines()[0]
    assert "gradient check ok" in out


def test_check_vector_expression(capsys):
    assert main(["check", "[x^2 + y, x*y]", "--at", "2,3"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("f1", "f2"))]
    assert [[float(v) for v in r[1:]] for r in rows] == [[4.0, 1.0], [3.0, 2.0]]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["check", "x+y", "--at", "1"], "--at: expected 2 comma-separated numbers, got 1"),
        (["check", "x", "--at", "one"], "--at: entry 1 ('one') is not a number"),
        (["check", "x", "--at", "1", "--direction", "0"], "--direction: the zero vector"),
        (["check", "x"], "the following arguments are required: --at"),
        (["nonsense"], "invalid choice"),
        (["check", "x+y", "--at", "-1,2", "--variables", "x,x"], "repeat a name"),
    ],
)
def test_check_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("text", ["x**2*y + exp(x*y)", "sin(x)*cos(y) - log1p(x**2) / (1 + y**2)",
                                  "sigmoid(x - y) + softplus(2*y) + tanh(x*y) + sqrt(x**2 + 1)",
                                  "arctan(x/3) + erf(y) + abs(x - 0.25) + max(x, y)**2"])
def test_to_sympy_is_the_same_function_with_the_same_derivatives(text):
    """The sympy tree (built from the parsed AST) against the JAX evaluation: values and every partial."""
    import sympy

    with jax.enable_x64(True):
        f = jg.expression(text)
        expr = f.to_sympy()
        symbols = [sympy.Symbol(n, real=True) for n in f.variables]
        for point in ([0.7, -0.4], [1.3, 2.1]):
            at = dict(zip(symbols, point))
            x = jnp.asarray(point, jnp.float64)
            assert float(expr.evalf(subs=at)) == pytest.approx(float(f(x)), rel=1e-12)
            g = np.asarray(jg.grad(f)(x))
            for i, s in enumerate(symbols):
                assert float(sympy.diff(expr, s).evalf(subs=at)) == pytest.approx(g[i], rel=1e-10, abs=1e-12)


def test_check_symbolic_prints_each_partial_and_its_value(capsys):
    from jaxgrad.cli import main

    assert main(["check", "x**2*y + exp(x*y)", "--at", "1,2", "--symbolic", "--float64"]) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()]
    formulas = [line for line in lines if line.startswith(("d/dx =", "d/dy ="))]
    values = [line for line in lines if line.startswith("at the point:")]
    assert len(formulas) == 2 and len(values) == 2
    for line, exact in zip(values, (2 * 2 + 2 * np.exp(2.0), 1 + np.exp(2.0))):  # d/dx = 2xy + y e^{xy}, d/dy
        shown, ours = (float(v) for v in re.findall(r"[-\d.e+]+(?=\s|\)|$)", line.split(":", 1)[1])[:2])
        assert shown == pytest.approx(exact, rel=1e-12) and ours == pytest.approx(exact, rel=1e-12)
