"""Math text -> a ``jax.numpy`` function of a point, parsed and never run.

The text is parsed with :mod:`ast` into a tree of whitelisted nodes (numbers,
variables, the constants ``pi`` and ``e``, ``+ - * / **``, unary minus, calls of a
fixed table of functions, one top-level list); every other construct is refused
with its line and column. Nothing of the text is passed to ``eval``, ``exec`` or
``compile``: the tree is walked and each node becomes a ``jax.numpy`` call.

``^`` is accepted as power (``x^2 == x**2``, with ``**``'s precedence), because
people type it; Python's own ``^`` (xor) has no meaning here.
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.special

from jaxgrad.errors import InputError, nearest

__all__ = ["expression", "Expression", "ExpressionError", "FUNCTIONS", "CONSTANTS", "natural_order"]

MAX_LENGTH = 10_000
MAX_DEPTH = 200
MAX_INTEGER_POWER = 64  # larger literal exponents use the float power


class ExpressionError(InputError):
    """Math text that is not a valid jaxgrad expression; the message gives line:column."""


def _minimum(*args):
    out = args[0]
    for a in args[1:]:
        out = jnp.minimum(out, a)
    return out


def _maximum(*args):
    out = args[0]
    for a in args[1:]:
        out = jnp.maximum(out, a)
    return out


# name -> (function, number of arguments; None for "one or more")
FUNCTIONS: dict[str, tuple[Callable, int | None]] = {
    "exp": (jnp.exp, 1),
    "log": (jnp.log, 1),
    "log1p": (jnp.log1p, 1),
    "sqrt": (jnp.sqrt, 1),
    "abs": (jnp.abs, 1),
    "sin": (jnp.sin, 1),
    "cos": (jnp.cos, 1),
    "tan": (jnp.tan, 1),
    "arcsin": (jnp.arcsin, 1),
    "arccos": (jnp.arccos, 1),
    "arctan": (jnp.arctan, 1),
    "sinh": (jnp.sinh, 1),
    "cosh": (jnp.cosh, 1),
    "tanh": (jnp.tanh, 1),
    "sigmoid": (jax.nn.sigmoid, 1),
    "relu": (jax.nn.relu, 1),
    "softplus": (jax.nn.softplus, 1),
    "erf": (jax.scipy.special.erf, 1),
    "min": (_minimum, None),
    "max": (_maximum, None),
}
# the spellings sympy's sstr prints for the same functions
_ALIASES = {"asin": "arcsin", "acos": "arccos", "atan": "arctan", "Abs": "abs", "Min": "min", "Max": "max", "ln": "log"}
CONSTANTS = {"pi": math.pi, "e": math.e, "E": math.e}

_BINOPS = {ast.Add: jnp.add, ast.Sub: jnp.subtract, ast.Mult: jnp.multiply, ast.Div: jnp.true_divide}
_REFUSED = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscript",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.Lambda: "lambda",
    ast.Starred: "starred expression",
    ast.NamedExpr: "assignment expression",
    ast.Compare: "comparison",
    ast.BoolOp: "boolean operator",
    ast.IfExp: "conditional expression",
    ast.Dict: "dict",
    ast.Set: "set",
    ast.Tuple: "tuple",
    ast.JoinedStr: "f-string",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slice",
}
_OPERATOR_NAMES = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.Invert: "~",
    ast.Not: "not",
}


def natural_order(names) -> tuple[str, ...]:
    """Sort variable names naturally: ``a, b, x, y, z`` before ``x1, x2, x10``."""

    def key(name):
        m = re.fullmatch(r"(.*?)(\d+)", name)
        return (1, m.group(1), int(m.group(2)), name) if m else (0, name, 0, name)

    return tuple(sorted(set(names), key=key))


class _Source:
    """The text with ``^`` rewritten to ``**`` and a map back to the user's columns."""

    def __init__(self, text: str):
        self.text = text
        self.shifts: dict[int, list[int]] = {}  # line -> original columns of each '^'
        body = text.lstrip()  # ast.parse refuses leading indentation
        skipped = text[: len(text) - len(body)]
        self.line_offset = skipped.count("\n")
        self.col_offset = len(skipped) - (skipped.rfind("\n") + 1)
        text = body
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        except (tokenize.TokenError, SyntaxError, IndentationError):
            self.rewritten = text  # ast.parse below reports the error with its position
            return
        lines = text.split("\n")
        for tok in reversed(tokens):
            if tok.type == tokenize.OP and tok.string == "^":
                row, col = tok.start
                line = lines[row - 1]
                lines[row - 1] = line[:col] + "**" + line[col + 1 :]
                self.shifts.setdefault(row, []).append(col)
        self.rewritten = "\n".join(lines)

    def where(self, lineno: int, col: int) -> str:
        """``line:column`` (1-based) in the user's text for a position in the rewritten text."""
        carets = sorted(self.shifts.get(lineno, []))  # the k-th '^' now sits at column c + k
        shift = sum(1 for k, c in enumerate(carets) if c + k < col)
        col = col - shift + (self.col_offset if lineno == 1 else 0)
        return f"{lineno + self.line_offset}:{col + 1}"


def _fail(src: _Source, node: ast.AST, message: str):
    where = src.where(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))
    raise ExpressionError(f"{message} at {where} in {src.text!r}" if len(src.text) <= 80 else f"{message} at {where}")


_CHAINS = ((ast.Add, ast.Sub), (ast.Mult, ast.Div, ast.Mod))


def _same_chain(parent: ast.AST, child: ast.AST) -> bool:
    """``child`` continues ``parent``'s flat chain ``a + b - c + ...`` (its left operand, same precedence)."""
    return (isinstance(parent, ast.BinOp) and isinstance(child, ast.BinOp) and child is parent.left
            and any(isinstance(parent.op, ops) and isinstance(child.op, ops) for ops in _CHAINS))


def _depth(tree: ast.AST) -> int:
    """How deep the expression nests; a flat chain such as a sum of many terms is one level."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        stack.extend((child, d if _same_chain(node, child) else d + 1) for child in ast.iter_child_nodes(node))
    return deepest


MAX_SIGNS = 50


def _sign_run(text: str) -> int:
    """The longest run of + and - signs (spaces between them ignored)."""
    longest = run = 0
    for ch in text:
        if ch in "+-":
            run += 1
            longest = max(longest, run)
        elif not ch.isspace():
            run = 0
    return longest


def _check_identifiers(src: "_Source", tree: ast.AST) -> None:
    import unicodedata

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not node.id.isascii():
            odd = next(c for c in node.id if not c.isascii())
            _fail(src, node, f"name {node.id!r} has a non-ASCII letter {odd!r} "
                             f"({unicodedata.name(odd, 'U+%04X' % ord(odd))}); variable and function names "
                             "are ASCII (a look-alike letter would silently be a new variable)")


def _parse(text: str) -> tuple[_Source, ast.AST]:
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    text = text.removeprefix("\ufeff")  # a byte-order mark is not part of the expression
    if not text.strip():
        raise ExpressionError("expression is empty")
    depth = max(_paren_depths(text), default=0)
    if depth > MAX_DEPTH // 2:
        raise ExpressionError(f"expression nests parentheses {depth} deep; the limit is {MAX_DEPTH // 2}")
    signs = _sign_run(text)
    if signs > MAX_SIGNS:
        raise ExpressionError(f"expression has {signs} + or - signs in a row; the limit is {MAX_SIGNS}")
    src = _Source(text)
    try:
        tree = ast.parse(src.rewritten, mode="eval")
    except SyntaxError as err:
        raise ExpressionError(_describe_syntax_error(src, err)) from None
    except (ValueError, RecursionError, MemoryError, OverflowError, UnicodeError) as err:
        raise ExpressionError(f"cannot parse the expression: {type(err).__name__}: {err}") from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels (a flat sum or product of "
                              "many terms counts as one)")
    _check_identifiers(src, tree)
    return src, tree.body


def _paren_depths(text: str):
    depth = 0
    for ch in text:
        depth += ch in "([{"
        depth -= ch in ")]}"
        yield depth


def _describe_syntax_error(src: _Source, err: SyntaxError) -> str:
    """Name the construct when the text is a statement (assignment, several statements)."""
    try:
        module = ast.parse(src.rewritten, mode="exec")
    except Exception:  # noqa: BLE001 - not a statement either: report the syntax error
        module = None
    if module is not None and module.body:
        if len(module.body) > 1:
            node, what = module.body[1], "multiple statements"
        else:
            node = module.body[0]
            what = {
                ast.Assign: "assignment",
                ast.AugAssign: "assignment",
                ast.AnnAssign: "assignment",
                ast.Import: "import statement",
                ast.ImportFrom: "import statement",
            }.get(type(node), f"{type(node).__name__.lower()} statement")
        where = src.where(node.lineno, node.col_offset)
        verb = "are" if what == "multiple statements" else "is"
        return f"{what} {verb} not allowed in an expression at {where}"
    line = err.lineno or 1
    col = err.offset or 1
    return f"invalid syntax at {src.where(line, col - 1)}: {err.msg}"


def _refuse_unknown(src: _Source, tree: ast.AST) -> None:
    """Refuse every construct outside the grammar before anything is compiled."""
    for node in ast.walk(tree):
        for kind, name in _REFUSED.items():
            if isinstance(node, kind):
                _fail(src, node, f"{name} is not allowed")
        if isinstance(node, ast.Constant) and not _is_number(node.value):
            what = "string" if isinstance(node.value, (str, bytes)) else f"constant {node.value!r}"
            _fail(src, node, f"{what} is not allowed")
        if isinstance(node, (ast.BinOp, ast.UnaryOp)) and type(node.op) in _OPERATOR_NAMES:
            _fail(src, node, f"operator {_OPERATOR_NAMES[type(node.op)]} is not allowed")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if node.keywords:
                _fail(src, node.keywords[0].value, "keyword argument is not allowed")
            if not isinstance(node.func, ast.Name):
                _fail(src, node, "only calls of the function table are allowed (no call of a call or an attribute)")
            name = _canonical(node.func.id)
            if name not in FUNCTIONS:
                hint = nearest(node.func.id, list(FUNCTIONS) + list(_ALIASES))
                tip = f"; did you mean {hint!r}?" if hint else f"; allowed: {', '.join(FUNCTIONS)}"
                _fail(src, node, f"unknown function {node.func.id!r}{tip}")
        if isinstance(node, ast.List) and node is not tree:
            _fail(src, node, "a list is allowed only as the whole expression")
    if isinstance(tree, ast.List) and not tree.elts:
        _fail(src, tree, "an empty list is not an expression")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _canonical(name: str) -> str:
    return _ALIASES.get(name, name)


def _names(tree: ast.AST) -> set[str]:
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}


def _literal(node: ast.AST):
    """The value of a (possibly negated) number literal, else None."""
    if isinstance(node, ast.Constant) and _is_number(node.value):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _literal(node.operand)
        if inner is not None:
            return -inner if isinstance(node.op, ast.USub) else inner
    return None


def _float(value) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


class Expression:
    """A parsed expression: call it on a point ``x`` of shape ``(n,)``.

    Attributes:
      text: the text as given.
      variables: the names of ``x``'s coordinates, in order.
      is_vector: whether the text is a top-level list (a function ``R^n -> R^m``).
      size: ``m`` for a vector expression, else ``None``.
    """

    def __init__(self, text: str, variables: tuple[str, ...], src: _Source, tree: ast.AST):
        self.text = text
        self.variables = variables
        self._src = src
        self._tree = tree
        self.is_vector = isinstance(tree, ast.List)
        self.size = len(tree.elts) if self.is_vector else None
        self.__name__ = "expression"

    def __repr__(self) -> str:
        return f"expression({self.text!r}, variables={self.variables!r})"

    def __call__(self, x) -> jax.Array:
        x = jnp.asarray(x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        n = len(self.variables)
        if x.shape != (n,):
            raise ValueError(
                f"{self!r} takes a point of shape ({n},) for variables ({', '.join(self.variables)}); "
                f"got shape {x.shape}"
            )
        self._check_range(x.dtype)
        env = {name: x[i] for i, name in enumerate(self.variables)}
        if self.is_vector:
            return jnp.stack([jnp.asarray(self._eval(e, env), x.dtype) for e in self._tree.elts])
        return jnp.asarray(self._eval(self._tree, env), x.dtype)

    def _check_range(self, dtype) -> None:
        """Refuse a number the dtype cannot hold (``1e308`` in float32 would silently be inf);
        the tree is walked once per dtype."""
        checked = self.__dict__.setdefault("_ranges_checked", set())
        if jnp.dtype(dtype) in checked:
            return
        big = float(jnp.finfo(dtype).max)
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Constant) and _is_number(node.value) and abs(_float(node.value)) > big:
                name = jnp.dtype(dtype).name
                hint = "; float64 holds it" if name != "float64" else ""
                _fail(self._src, node, f"the number {node.value!r} is beyond {name}'s range (±{big:.3g}{hint})")
        checked.add(jnp.dtype(dtype))

    def _eval(self, node: ast.AST, env):
        if isinstance(node, ast.Constant):
            return _float(node.value)
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            return CONSTANTS[node.id]
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, env)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and _same_chain(node, node.left):
            chain = [node]  # a flat chain a + b - c + ...: folded in a loop, not by recursion
            while _same_chain(chain[-1], chain[-1].left):
                chain.append(chain[-1].left)
            value = self._eval(chain[-1].left, env)
            for link in reversed(chain):
                value = _BINOPS[type(link.op)](value, self._eval(link.right, env))
            return value
        if isinstance(node, ast.BinOp):
            left = self._eval(node.left, env)
            if isinstance(node.op, (ast.Pow, ast.BitXor)):
                exponent = _literal(node.right)
                if isinstance(exponent, int) and abs(exponent) <= MAX_INTEGER_POWER and not isinstance(left, float):
                    return jax.lax.integer_pow(left, exponent)
                return jnp.power(left, self._eval(node.right, env))
            return _BINOPS[type(node.op)](left, self._eval(node.right, env))
        if isinstance(node, ast.Call):
            fn, _ = FUNCTIONS[_canonical(node.func.id)]
            return fn(*(self._eval(a, env) for a in node.args))
        raise AssertionError(f"unreachable: {type(node).__name__}")  # _check refused it


    def to_sympy(self):
        """The expression as a sympy object (a list for a vector expression), built node by node
        from the validated tree, never from the text. Needs sympy (``pip install 'jaxgrad[symbolic]'``).

        Example:
          >>> import sympy
          >>> f = expression("x**2*y + exp(x*y)")
          >>> sympy.diff(f.to_sympy(), sympy.Symbol("x", real=True))
          2*x*y + y*exp(x*y)
        """
        import sympy as sp

        symbols = {name: sp.Symbol(name, real=True) for name in self.variables}
        functions = {"exp": sp.exp, "log": sp.log, "log1p": lambda a: sp.log(1 + a), "sqrt": sp.sqrt, "abs": sp.Abs,
                     "sin": sp.sin, "cos": sp.cos, "tan": sp.tan, "arcsin": sp.asin, "arccos": sp.acos,
                     "arctan": sp.atan, "sinh": sp.sinh, "cosh": sp.cosh, "tanh": sp.tanh,
                     "sigmoid": lambda a: 1 / (1 + sp.exp(-a)), "relu": lambda a: sp.Max(0, a),
                     "softplus": lambda a: sp.log(1 + sp.exp(a)), "erf": sp.erf, "min": sp.Min, "max": sp.Max}
        operators = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
                     ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b, ast.BitXor: lambda a, b: a**b}

        def number(value):
            value = _float(value)
            return sp.Integer(int(value)) if float(value).is_integer() and abs(value) < 2**53 else sp.Float(value)

        def walk(node):
            if isinstance(node, ast.Constant):
                return number(node.value)
            if isinstance(node, ast.Name):
                return symbols[node.id] if node.id in symbols else {"pi": sp.pi, "e": sp.E, "E": sp.E}[node.id]
            if isinstance(node, ast.UnaryOp):
                value = walk(node.operand)
                return -value if isinstance(node.op, ast.USub) else value
            if isinstance(node, ast.BinOp):
                chain = [node]  # a long flat chain a + b - c + ... folded in a loop, as _eval does
                while _same_chain(chain[-1], chain[-1].left):
                    chain.append(chain[-1].left)
                value = walk(chain[-1].left)
                for link in reversed(chain):
                    value = operators[type(link.op)](value, walk(link.right))
                return value
            if isinstance(node, ast.Call):
                return functions[_canonical(node.func.id)](*(walk(a) for a in node.args))
            raise AssertionError(f"unreachable: {type(node).__name__}")

        return [walk(e) for e in self._tree.elts] if self.is_vector else walk(self._tree)


def _check_calls_and_names(src: _Source, tree: ast.AST, variables: Sequence[str]) -> None:
    declared = set(variables)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _canonical(node.func.id)
            _, arity = FUNCTIONS[name]
            n_args = len(node.args)
            if (arity is None and n_args < 1) or (arity is not None and n_args != arity):
                wanted = "one or more arguments" if arity is None else f"{arity} argument{'s' * (arity != 1)}"
                _fail(src, node, f"function {node.func.id!r} takes {wanted}, got {n_args}")
        elif isinstance(node, ast.BinOp) and not isinstance(node.op, tuple(_BINOPS) + (ast.Pow, ast.BitXor)):
            _fail(src, node, f"operator {type(node.op).__name__} is not allowed")
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in called and node.id not in declared:
            if node.id in CONSTANTS:
                continue
            if _canonical(node.id) in FUNCTIONS:
                _fail(src, node, f"function {node.id!r} needs arguments, e.g. {node.id}(x)")
            listed = ", ".join(variables) if variables else "none"
            _fail(src, node, f"unknown variable {node.id!r}; the declared variables are {listed}")


def expression(text: str, variables: Sequence[str] | str | None = None) -> Expression:
    """Parse math text into a function of a point, without running any of it.

    Args:
      text: e.g. ``"x**2*y + exp(x*y)"``; ``"[x**2 + y, x*y]"`` for a vector
        function. ``^`` means power. Functions: ``exp log log1p sqrt abs sin cos tan
        arcsin arccos arctan sinh cosh tanh sigmoid relu softplus erf min max`` (and
        sympy's spellings ``asin acos atan Abs Min Max``); constants ``pi`` and ``e``.
      variables: the coordinate names in order (a sequence or ``"x,y"``); default:
        every free name, in natural order (``a, b, x, y, z, x1, x2, x10``).

    Returns:
      An :class:`Expression`, a callable ``x -> value`` on ``x`` of shape ``(n,)``
      that works under ``jit``, ``vmap``, ``grad`` and ``hessian`` in float32 and
      float64.

    Raises:
      ExpressionError: (a ``ValueError``) naming the construct and its line:column.

    Example:
      >>> f = jg.expression("x**2*y + exp(x*y)")
      >>> f.variables
      ('x', 'y')
      >>> jg.grad(f)(jnp.array([1.0, 2.0]))  # [2xy + y e^{xy}, x² + x e^{xy}] = [4 + 2e², 1 + e²]
      Array([18.778112,  8.389056], dtype=float32)
    """
    src, tree = _parse(text)
    _refuse_unknown(src, tree)
    if variables is None:
        variables = natural_order(n for n in _names(tree) if n not in CONSTANTS and _canonical(n) not in FUNCTIONS)
    else:
        if isinstance(variables, str):
            variables = [v.strip() for v in variables.split(",") if v.strip()]
        variables = tuple(variables)
        for v in variables:
            if not isinstance(v, str) or not v.isidentifier():
                raise ExpressionError(f"variable name {v!r} is not an identifier")
            if _canonical(v) in FUNCTIONS:
                raise ExpressionError(f"variable name {v!r} is a function name")
        if len(set(variables)) != len(variables):
            raise ExpressionError(f"variables {variables!r} repeat a name")
    _check_calls_and_names(src, tree, variables)
    return Expression(text, tuple(variables), src, tree)
