"""Safe reading of a loss typed as text: a formula is data, never code.

The text is parsed by Python's own parser (``ast``) and accepted only if every node is one
of: a number, the variable ``w``, a parameter name, the constants ``pi`` and ``e``,
``+ - * / **``, unary minus, parentheses, and calls of the functions in ``FUNCTIONS``. The
accepted tree is then rebuilt as a sympy expression node by node; the text never reaches
``eval`` or ``sympify`` (which evaluates Python).
"""

from __future__ import annotations

import ast
import math

import sympy as sp

#: The variable a loss is a function of.
W = sp.Symbol("w", real=True)

#: Functions a formula may call, by the name it uses.
FUNCTIONS: dict[str, object] = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "atan": sp.atan,
    "abs": sp.Abs,
}
CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "e": sp.E}
MAX_FORMULA_LENGTH = 500
MAX_EXPONENT = 1000
MAX_NUMBER = 1e300

ALLOWED = (
    "numbers, w, parameter names given with --param NAME=VALUE, pi, e, + - * / **, "
    f"parentheses and the functions {', '.join(FUNCTIONS)}"
)

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


class FormulaError(ValueError):
    """A formula that is not allowed; the message is one line naming the offending part."""


def _reject(what: str, formula: str) -> FormulaError:
    return FormulaError(f"{what} is not allowed in the loss formula {formula!r}; allowed: {ALLOWED}")


def parse_formula(formula: str) -> tuple[sp.Expr, tuple[str, ...]]:
    """Parse a loss formula in ``w`` into a sympy expression.

    Args:
        formula: text such as ``"(w-1)**2 + 2"`` or ``"w**2 + delta*cos(2*pi*w/lam)"``.

    Returns:
        ``(expr, names)``: the sympy expression (``w`` is the real symbol ``W``; decimal numbers
        become exact rationals, so ``0.1`` stays one tenth through differentiation) and the
        parameter names it uses, in order of first appearance.

    Raises:
        FormulaError: for empty or over-long text, a syntax error, or any construct outside
            ``ALLOWED`` (attribute access, subscripts, lambdas, keyword arguments, strings,
            names that are functions used as values, unknown functions...).
    """
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError("the loss formula is empty; write it in w, for example '(w-1)**2 + 2'")
    if len(formula) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"the loss formula has {len(formula)} characters, more than {MAX_FORMULA_LENGTH}")
    try:
        tree = ast.parse(formula.strip(), mode="eval")
    except SyntaxError as error:
        raise FormulaError(f"the loss formula {formula!r} is not a valid expression ({error.msg})") from None
    names: list[str] = []

    def build(node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            text = ast.get_source_segment(formula.strip(), node) or "a number"
            if (isinstance(node.value, float) and not math.isfinite(node.value)) or abs(node.value) > MAX_NUMBER:
                raise FormulaError(f"the number {text[:40]!r} in {formula!r} is out of range; numbers must lie within +-{MAX_NUMBER:g}")
            if node.value == 0 and any(digit in text.split("e")[0].split("E")[0] for digit in "123456789"):
                raise FormulaError(f"the number {text!r} in {formula!r} is too small: it rounds to 0 as a float64")
            return sp.Rational(repr(node.value)) if isinstance(node.value, float) else sp.Integer(node.value)
        if isinstance(node, ast.Name):
            if node.id == "w":
                return W
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            if node.id in FUNCTIONS:
                raise _reject(f"the function name {node.id!r} used as a value", formula)
            if node.id.startswith("_"):
                raise _reject(f"the name {node.id!r}", formula)
            if node.id not in names:
                names.append(node.id)
            return sp.Symbol(node.id, real=True)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = build(node.left), build(node.right)
            if isinstance(node.op, ast.Pow) and right.is_number:
                # sympy evaluates constant powers exactly: 9**9**9 would never finish.
                if abs(float(right)) > MAX_EXPONENT:
                    raise FormulaError(f"the exponent {ast.unparse(node.right)!r} in {formula!r} is too large; exponents are limited to {MAX_EXPONENT} in size")
                if left.is_number and left != 0 and abs(float(right) * math.log10(abs(float(left)))) > math.log10(MAX_NUMBER):
                    raise FormulaError(f"{ast.unparse(node)!r} in {formula!r} is out of range; numbers must lie within +-{MAX_NUMBER:g}")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise _reject(f"calling {called!r}", formula)
            if node.keywords or len(node.args) != 1:
                raise _reject(f"{node.func.id}() with other than one plain argument", formula)
            return FUNCTIONS[node.func.id](build(node.args[0]))
        raise _reject(repr(ast.unparse(node)), formula)

    expr = build(tree.body)
    if expr.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise FormulaError(f"the loss formula {formula!r} divides by zero (sympy reduces it to {sp.sstr(expr)[:60]})")
    if expr.has(sp.I):
        raise FormulaError(f"the loss formula {formula!r} is complex-valued (a root or log of a negative constant); a loss must be real")
    for part in sp.preorder_traversal(expr):
        if part.is_number and part.free_symbols == set() and not isinstance(part, sp.Number):
            value = complex(part.evalf(20))
            if value.imag != 0:
                raise FormulaError(f"the loss formula {formula!r} is complex-valued ({sp.sstr(part)[:40]}); a loss must be real")
            if not (math.isfinite(value.real) and abs(value.real) <= MAX_NUMBER):
                raise FormulaError(f"the constant {sp.sstr(part)[:40]!r} in {formula!r} is out of range; numbers must lie within +-{MAX_NUMBER:g}")
    for number in expr.atoms(sp.Number):
        if not number.is_finite or abs(float(number)) > MAX_NUMBER:
            raise FormulaError(f"the loss formula {formula!r} holds a constant out of range ({sp.sstr(number)[:40]}); numbers must lie within +-{MAX_NUMBER:g}")
    return expr, tuple(names)
