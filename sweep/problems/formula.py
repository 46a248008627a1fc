"""Safe reading of a loss typed as text: a formula is data, never code.

The text is parsed by Python's own parser (``ast``) and accepted only if every node is one
of: a number, the variable ``w``, a parameter name, the constants ``pi`` and ``e``,
``+ - * / **``, unary minus, parentheses, and calls of the functions in ``FUNCTIONS``. The
accepted tree is then rebuilt as a sympy expression node by node; the text never reaches
``eval`` or ``sympify`` (which evaluates Python).

Every constant is checked while the tree is rebuilt, innermost first, so that an
out-of-range number is refused before anything is computed from it. The accepted expression
is bounded in nesting (``MAX_DEPTH``, ``MAX_CALL_DEPTH``) and so are its first and second
derivatives in size (``MAX_DERIVATIVE_OPS``): sympy and the kernel's compiler stay fast
(``MAX_SYMPY_SECONDS`` guards against what sympy's assumption system still does slowly).

``formula_text`` prints an expression back in this same grammar (``FormulaPrinter``), and
``parse_formula`` returns the normal form whose printed text parses back to it exactly, so
the text stored in ``sweep.json`` rebuilds the same loss. For the generated kernels,
``fold_constants`` turns constant subexpressions into correctly rounded float64 values and
``pointwise`` drops the ``DiracDelta`` of a kink; ``check_values`` and ``substitute`` put
parameter values in without numeric evaluation.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import math
import re
import signal
import threading
from fractions import Fraction

import sympy as sp
from sympy.calculus.accumulationbounds import AccumBounds
from sympy.printing.precedence import PRECEDENCE, precedence
from sympy.printing.str import StrPrinter

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
#: Most function calls nested inside one another (``sqrt`` not counted: sympy holds it as a
#: power). The chain rule makes a derivative's size grow with the square of this depth.
MAX_CALL_DEPTH = 8
#: Most levels of the sympy expression tree (operations and calls nested in one another).
MAX_DEPTH = 32
#: Most operations (``sympy.count_ops``) in the gradient and in the second derivative.
MAX_DERIVATIVE_OPS = (500, 5000)
#: Seconds sympy may spend on one formula (rebuilding, normal form, both derivatives). The
#: limits above keep every formula tried well under a second, but sympy's assumption system
#: can still take minutes on some expressions (the second derivative of a sinh of a sqrt of a
#: square asked whether a product is an integer through polynomial gcds for 48 s): a guard,
#: where the process can set an alarm (the main thread, on POSIX).
MAX_SYMPY_SECONDS = 5.0
#: Nesting of the parsed text beyond which it is refused before sympy sees it: a guard for
#: recursion, well above the nesting of any text ``formula_text`` prints.
_MAX_SYNTAX_DEPTH = 3 * MAX_DEPTH

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
_UNDEFINED = (sp.zoo, sp.nan, sp.oo, -sp.oo)
_DERIVATIVE_NAMES = ("gradient", "second derivative")


class FormulaError(ValueError):
    """A formula that is not allowed; the message is one line naming the offending part."""


class SympyTimeout(BaseException):
    """Raised inside sympy when ``time_limit`` runs out (a BaseException, so that no
    ``except Exception`` in sympy swallows it)."""


@contextlib.contextmanager
def time_limit(seconds: float | None = None):
    """Raise ``SympyTimeout`` in the block after ``seconds`` (default ``MAX_SYMPY_SECONDS``)
    of wall time.

    Works through ``SIGALRM``: only in the main thread, on a platform with
    ``signal.setitimer``, and when no other alarm is set; elsewhere the block runs unlimited.
    """
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)
    )
    if not usable:
        yield
        return

    def alarm(signum, frame):
        raise SympyTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, MAX_SYMPY_SECONDS if seconds is None else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _reject(what: str, formula: str) -> FormulaError:
    return FormulaError(f"{what} is not allowed in the loss formula {formula!r}; allowed: {ALLOWED}")


def _undefined(expr: sp.Expr) -> bool:
    return expr.has(*_UNDEFINED) or expr.has(AccumBounds)


def _short(expr: sp.Expr, n: int = 60) -> str:
    text = formula_text(expr, readable=True)
    return text if len(text) <= n else text[: n - 3] + "..."


# -- numbers as the parser reads them back --------------------------------------------------


def _literal_ok(value: float) -> bool:
    """Would the parser accept a float literal of this value (finite, within MAX_NUMBER)?"""
    return math.isfinite(value) and abs(value) <= MAX_NUMBER


def _integer_text(n: int, shortest: bool = True) -> str | None:
    """The shortest text the parser reads back as exactly the integer ``n`` >= 0: its digits,
    ``MeK`` (M of at most 15 digits, which a float64 holds exactly in repr) or ``B**K``;
    None if ``n`` is too large for any of them. ``shortest=False``: any such text (faster)."""
    if n > MAX_NUMBER:  # the parser compares integer literals with MAX_NUMBER the same way
        return None
    if n < 10**16 or not shortest:
        return str(n)
    options = [str(n)]
    digits = str(n)
    mantissa = digits.rstrip("0")
    if len(mantissa) <= 15:
        text = f"{mantissa}e{len(digits) - len(mantissa)}"
        if _literal_ok(float(text)) and sp.Rational(repr(float(text))) == n:
            options.append(text)
    power = sp.perfect_power(n)
    if power and power[1] <= MAX_EXPONENT:
        options.append(f"{power[0]}**{power[1]}")
    return min(options, key=len) if options else None


def _decimal_text(r: sp.Rational) -> str | None:
    """``r`` > 0 as a float literal the parser reads back exactly (its repr), or None."""
    value = _to_float(Fraction(int(r.p), int(r.q)))
    if value == 0 or not _literal_ok(value) or sp.Rational(repr(value)) != r:
        return None
    return repr(value)


def _rational_text(r: sp.Rational, shortest: bool = True) -> str | None:
    """A text for the rational ``r`` >= 0 that parses back to exactly ``r``, or None."""
    if r.q == 1:
        return _integer_text(int(r.p), shortest)
    options = []
    p, q = _integer_text(int(r.p), shortest), _integer_text(int(r.q), shortest)
    if p is not None and q is not None:
        options.append(f"{p}/{q}")
    decimal = _decimal_text(r)
    if decimal is not None:
        options.append(decimal)
    return min(options, key=len) if options else None


#: Most work sympy may be asked to do to simplify a number's fractional power exactly:
#: (digits of the number) x (the exponent's numerator reduced modulo its denominator, after
#: sympy turns a negative exponent positive). sympy factors the number raised to that
#: numerator, and (10**21 - 1)**(-1/1000) never finishes.
MAX_ROOT_WORK = 2000


def _numeric_factors(base: sp.Expr) -> list[tuple[sp.Rational, sp.Rational]]:
    """(b, r) for each factor of ``base`` that is a number b (r = 1) or a number's power b**r:
    what sympy raises to a power exactly when it takes base**exponent."""
    found = []
    for f in base.args if base.is_Mul else (base,):
        if isinstance(f, sp.Rational) and abs(f) != 1 and f != 0:
            found.append((abs(f), sp.S.One))
        elif isinstance(f, sp.Pow) and isinstance(f.base, sp.Rational) and isinstance(f.exp, sp.Rational) and f.base != 0:
            found.append((abs(f.base), f.exp))
    return found


def _costly_root(base: sp.Expr, exponent: sp.Expr) -> bool:
    """Would sympy's exact simplification of base**exponent (``exponent`` a fraction) take
    more than ``MAX_ROOT_WORK``?"""
    if not isinstance(exponent, sp.Rational):
        return False
    for b, r in _numeric_factors(base):
        e = r * exponent
        if e.q != 1:
            digits = len(str(b.p)) + (len(str(b.q)) if b.q != 1 else 0)
            if digits * (int(e.p) % int(e.q)) > MAX_ROOT_WORK:
                return True
    return False


def _huge_power(base: sp.Expr, exponent: sp.Expr) -> bool:
    """Would sympy's exact base**exponent (``exponent`` a number) write out a number of more
    than 10**4 digits?"""
    if not isinstance(exponent, sp.Rational):
        return False
    for b, r in _numeric_factors(base):
        e = abs(r * exponent)
        if e == 0:
            continue
        size = math.log10(e.p) - math.log10(e.q)  # log10 |exponent|
        digits = abs(math.log10(b.p) - math.log10(b.q))
        if digits > 0 and size + math.log10(digits) > 4:
            return True
    return False


def _printable(number: sp.Number) -> bool:
    if isinstance(number, sp.Rational):
        return _rational_text(abs(number), shortest=False) is not None
    return bool(number.is_finite)


# -- the printer ----------------------------------------------------------------------------


class FormulaPrinter(StrPrinter):
    """Prints a sympy expression in sweep's formula grammar, so that ``parse_formula`` reads
    the text back as the same expression.

    Differences from sympy's ``StrPrinter``: ``Abs`` prints as ``abs`` and ``E`` as ``e``;
    large integers print in the shortest exact form (``1e300``, ``3**600`` or digits);
    fractions with a huge denominator as an exact decimal (``1e-320``); float64 values as
    their repr; and a product never lets a number or a unary minus meet a sum first
    (``2*(w + 1)*cos(w)`` would parse back with the 2 multiplied into the sum, so it prints
    as ``2*cos(w)*(w + 1)``). Functions outside the grammar that derivatives bring in
    (``sign``, ``DiracDelta``...) print under sympy's names.
    """

    printmethod = "_sweepformula"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_Exp1(self, expr):
        return "e"

    def _print_Pi(self, expr):
        return "pi"

    def _print_Integer(self, expr):
        text = _integer_text(abs(int(expr.p)))
        text = str(abs(int(expr.p))) if text is None else text
        return ("-" if expr.p < 0 else "") + text

    def _print_Rational(self, expr):
        if expr.q == 1:
            return self._print_Integer(expr)
        text = _rational_text(abs(expr))
        text = f"{abs(expr.p)}/{expr.q}" if text is None else text
        return ("-" if expr.p < 0 else "") + text

    def _print_Float(self, expr):
        value = float(expr)
        if math.isfinite(value) and sp.Float(value, precision=max(53, expr._prec)) == expr:
            return repr(value)
        return super()._print_Float(expr)

    def parenthesize(self, item, level, strict=False):
        prec = precedence(item)
        if isinstance(item, sp.Rational) and item.q == 1 and item.p > 0 and "**" in self._print(item):
            prec = PRECEDENCE["Pow"]
        if prec < level or (not strict and prec <= level):
            return f"({self._print(item)})"
        return self._print(item)

    def _print_Mul(self, expr):
        coeff, rest = expr.as_coeff_Mul()
        sign = ""
        if coeff.is_negative:
            sign, coeff = "-", -coeff
        numerator, denominator = [], []
        for factor in rest.as_ordered_factors() if rest.is_Mul else (rest,):
            if factor is sp.S.One:
                continue
            # Only a number exponent goes below the line: 1/w**a would parse back through
            # sympy's power rules, which may rewrite the exponent ((1/2)**w as 2**(-w)).
            if factor.is_commutative and isinstance(factor, sp.Pow) and factor.exp.is_Number and factor.exp < 0:
                exponent = -factor.exp
                denominator.append(factor.base if exponent is sp.S.One else sp.Pow(factor.base, exponent, evaluate=False))
            else:
                numerator.append(factor)
        lead, tail = "", ""
        if isinstance(coeff, sp.Rational):
            if coeff.p != 1:
                lead = self._print(sp.Integer(coeff.p))
            if coeff.q != 1:
                q_text = _integer_text(int(coeff.q))
                if q_text is None:  # a denominator beyond any literal: the whole coefficient as a decimal
                    lead, q_text = self._print(coeff), None
                tail = q_text or ""
        elif coeff != 1:
            lead = self._print(coeff)
        # Parsing is left to right: a number (or a unary minus) followed by a sum would
        # multiply into the sum (sympy distributes 2*(w + 1)), so a sum never comes first.
        group = False
        if (lead or sign) and numerator and numerator[0].is_Add:
            other = next((i for i, f in enumerate(numerator) if not f.is_Add), None)
            if other is not None:
                numerator.insert(0, numerator.pop(other))
            else:
                group = True
        prec = PRECEDENCE["Mul"]
        parts = [self.parenthesize(f, prec) for f in numerator]
        if tail and denominator and all(f.is_Add for f in denominator):
            den = "/" + "/".join(self.parenthesize(f, prec) for f in denominator) + "/" + tail
        else:
            if denominator and denominator[0].is_Add:
                other = next((i for i, f in enumerate(denominator) if not f.is_Add), None)
                if other is not None:
                    denominator.insert(0, denominator.pop(other))
            den_parts = ([tail] if tail else []) + [self.parenthesize(f, prec) for f in denominator]
            den = "" if not den_parts else "/" + (den_parts[0] if len(den_parts) == 1 else f"({'*'.join(den_parts)})")
        body = "*".join(parts)
        if group:
            body = f"({body}{den})"
            den = ""
        if lead:
            text = f"{lead}*{body}" if body else lead
        else:
            text = body or "1"
        return sign + text + den


_PRINTER = FormulaPrinter()


def formula_text(expr: sp.Expr, readable: bool = False) -> str:
    """``expr`` printed in sweep's formula grammar (``FormulaPrinter``).

    Args:
        expr: a sympy expression, such as one ``parse_formula`` returned.
        readable: always the spaced form (``w**2 + abs(w - 1)``). By default the spaces are
            dropped where the spaced form would be longer than ``MAX_FORMULA_LENGTH``, so
            that every formula ``parse_formula`` accepts prints as a text it accepts again.

    Returns:
        The text; for any expression ``parse_formula`` returned, ``parse_formula`` of it gives
        back the same expression and parameter names.
    """
    text = _PRINTER.doprint(expr)
    if not readable and len(text) > MAX_FORMULA_LENGTH:
        text = text.replace(" ", "")
    return text


# -- size and nesting -----------------------------------------------------------------------


def _syntax_depth(tree: ast.AST) -> tuple[int, int]:
    """(nesting depth, call depth without sqrt) of a parsed text; a chain of + and - (or of
    * and /) counts as one level, as sympy holds it."""
    chains = {ast.Add: 0, ast.Sub: 0, ast.Mult: 1, ast.Div: 1}
    deepest, calls = 0, 0
    stack = [(tree, 0, 0, None)]
    while stack:
        node, depth, called, chain = stack.pop()
        here = chains.get(type(node.op)) if isinstance(node, ast.BinOp) else None
        if not (here is not None and here == chain):
            depth += 1
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id == "sqrt"):
            called += 1
        deepest, calls = max(deepest, depth), max(calls, called)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.expr_context, ast.operator, ast.unaryop)):
                continue
            stack.append((child, depth, called, here))
    return deepest, calls


def nesting(expr: sp.Expr) -> tuple[int, int]:
    """(depth, call depth) of a sympy expression: the levels of its tree (a symbol or a
    number is 0, ``cos(w)`` is 1) and the most functions applied inside one another (a
    power such as ``sqrt`` not counted)."""
    memo: dict[sp.Basic, tuple[int, int]] = {}
    stack = [(expr, False)]
    while stack:
        node, done = stack.pop()
        if node in memo:
            continue
        if not node.args:
            memo[node] = (0, 0)
        elif done:
            depth = 1 + max(memo[a][0] for a in node.args)
            calls = (isinstance(node, sp.Function) and 1 or 0) + max(memo[a][1] for a in node.args)
            memo[node] = (depth, calls)
        else:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in memo)
    return memo[expr]


def _nesting_error(formula: str, depth: int, calls: int) -> FormulaError | None:
    if calls > MAX_CALL_DEPTH:
        return FormulaError(f"the loss formula {formula[:80]!r} nests {calls} calls deep; at most {MAX_CALL_DEPTH} are allowed")
    if depth > MAX_DEPTH:
        return FormulaError(f"the loss formula {formula[:80]!r} nests {depth} levels deep; at most {MAX_DEPTH} are allowed")
    return None


@functools.lru_cache(maxsize=512)
def derivative(expr: sp.Expr, order: int = 1) -> sp.Expr:
    """d^order expr / dw^order, remembered (the second derivative is taken from the first).

    Args:
        expr: a sympy expression in ``W``. order: 1 or more.

    Returns:
        The derivative, unchecked; ``check_derivatives`` bounds it first for a formula.
    """
    return sp.diff(expr if order == 1 else derivative(expr, order - 1), W)


@functools.lru_cache(maxsize=512)
def _ops(expr: sp.Expr) -> int:
    return int(sp.count_ops(expr))


def check_derivatives(expr: sp.Expr, order: int = 2, formula: str | None = None) -> tuple[sp.Expr, ...]:
    """The first ``order`` derivatives of a loss, each checked before the next is taken.

    Args:
        expr: the loss, a sympy expression in ``W``.
        order: how many derivatives, at most ``len(MAX_DERIVATIVE_OPS)`` (2).
        formula: the text to name in messages (default: ``formula_text(expr)``).

    Returns:
        ``(gradient, second derivative, ...)`` up to ``order``.

    Raises:
        FormulaError: if a derivative has more operations than ``MAX_DERIVATIVE_OPS`` allows,
            is undefined (sympy's ``zoo``/``nan``: ``0**w``), or is complex-valued (holds
            ``I``: the gradient of ``(-1)**w`` is ``I*pi*(-1)**w``).
    """
    formula = formula_text(expr) if formula is None else formula
    found = []
    for k in range(1, order + 1):
        name, limit = _DERIVATIVE_NAMES[k - 1], MAX_DERIVATIVE_OPS[k - 1]
        try:
            d = derivative(expr, k)
        except (TypeError, AttributeError):
            # sympy's assumptions give up on some legal expressions: the second derivative of
            # atan(w)*cosh(tanh(sinh(3))**w) asks whether log(tanh(sinh(3))) < 0 and fails.
            raise FormulaError(f"sympy cannot take the {name} of the loss formula {formula[:80]!r}; write it differently") from None
        ops = _ops(d)
        if ops > limit:
            raise FormulaError(
                f"the {name} of the loss formula {formula[:80]!r} has {ops} operations; at most {limit} are allowed "
                "(a product of many factors or deeply nested calls differentiates into a large expression)"
            )
        if _undefined(d):
            raise FormulaError(f"the {name} of the loss formula {formula[:80]!r} divides by zero (sympy gives {_short(d)})")
        if d.has(sp.I):
            raise FormulaError(f"the {name} of the loss formula {formula[:80]!r} is complex-valued ({_short(d)}); a loss and its derivatives must be real")
        found.append(d)
    return tuple(found)


# -- constants --------------------------------------------------------------------------------


def _magnitude(value: sp.Expr) -> float:
    """|value| of a constant (complex allowed), inf where it overflows a float."""
    try:
        return abs(complex(value.evalf(20)))
    except OverflowError:
        return math.inf


def _mpf_to_fraction(mpf: tuple) -> Fraction:
    sign, man, exp, _ = mpf
    value = Fraction(int(man)) * (Fraction(2) ** int(exp))
    return -value if sign else value


def correctly_rounded(constant: sp.Expr) -> float:
    """The float64 nearest to the exact real value of a constant sympy expression.

    sympy's ``evalf`` is asked for ``p`` bits (``strict``: it raises rather than return
    fewer correct ones); if the interval of half a dozen ulps of that precision around the
    result rounds to one float64, that is the answer, else ``p`` doubles (Ziv's strategy;
    sympy raises its working precision itself for huge arguments such as ``sin(10**300)``).

    Args:
        constant: a real constant expression (no free symbols), such as ``sin(10**300)``.

    Returns:
        The correctly rounded float (inf beyond the float64 range, 0.0 below half the
        smallest subnormal or for a value sympy cannot tell from 0 at 4096 bits).

    Raises:
        ValueError: if the constant has free symbols, is undefined or is not real.
    """
    if constant.free_symbols:
        raise ValueError(f"{constant} is not a constant")
    if _undefined(constant):
        raise ValueError(f"{constant} is undefined")
    if isinstance(constant, sp.Rational):
        return _to_float(Fraction(int(constant.p), int(constant.q)))
    prec, last = 64, 0.0
    while prec <= 4096:
        try:
            value = constant.evalf(_dps(prec), strict=True, maxn=_dps(4 * prec))
        except sp.core.evalf.PrecisionExhausted:
            prec *= 2
            continue
        real, imag = value.as_real_imag()
        if imag != 0 and abs(imag) > abs(real) * 2.0 ** (-prec + 8):
            raise ValueError(f"{constant} is not real")
        if real == 0 or (isinstance(real, sp.Float) and not real._mpf_[1]):
            # sympy's evalf may round a tiny value to an exact 0 (log(1 + 1e-40) at 30
            # digits): a zero is trusted only at the last precision.
            prec *= 2
            continue
        if not isinstance(real, sp.Float):
            return float(real)
        mpf = real._mpf_
        negative = -1.0 if mpf[0] else 1.0
        size = mpf[2] + mpf[3]  # the value lies in [2**(size-1), 2**size)
        if size > 1025:
            return math.copysign(math.inf, negative)
        if size < -1100:
            return math.copysign(0.0, negative)
        exact = _mpf_to_fraction(mpf)
        slack = abs(exact) * Fraction(2) ** (-prec + 8)
        lo, hi, last = _to_float(exact - slack), _to_float(exact + slack), _to_float(exact)
        if lo == hi:
            return lo
        prec *= 2
    return last  # 0.0 if sympy could not tell the value from 0 even at 4096 bits


def _to_float(value: Fraction) -> float:
    try:
        return float(value)  # int / int: correctly rounded
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _dps(prec: int) -> int:
    """Decimal digits for ``prec`` bits (sympy's ``evalf`` counts digits)."""
    return sp.core.evalf.prec_to_dps(prec) + 1


def _float_constant(constant: sp.Expr) -> sp.Expr:
    # 17 significant digits: every printer (sympy's pycode included) writes the value back
    # as this same float64.
    return sp.Float(correctly_rounded(constant), 17)


def fold_constants(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every constant part replaced by its correctly rounded float64 value.

    A constant function call or power (``sin(10**300)``, ``sqrt(2)``, ``log(3)``,
    ``exp(1/3)``), the constant factors of a product taken together (``2*pi`` in
    ``2*pi*w/lam`` becomes ``6.283185307179586``, one rounding) and the constant terms of a
    sum become ``sp.Float`` values computed exactly by ``correctly_rounded``: the float64
    kernel never rounds an argument before a function is taken of it (``sin(10**300)`` is
    -0.98575..., while ``math.sin(1e300)`` of the rounded argument is 0.985...). Integers and
    fractions that float64 arithmetic handles exactly (numerator and denominator up to 2**53)
    stay exact, as do ``pi`` and ``e`` on their own (printed as ``math.pi`` and ``math.e``,
    the correctly rounded values); wider ones become correctly rounded floats too. ``w`` and
    the parameters stay symbolic. Products and sums that change are rebuilt unevaluated, so
    that sympy does not multiply a float into a sum (``c*(w + 1)`` stays as it is).

    Call it last, on the expression exactly as it will be printed (after any ``xreplace``:
    rebuilding re-evaluates the products and sums).

    Args:
        expr: a sympy expression, such as a Loss's ``expr`` or ``grad_expr``.

    Returns:
        The folded expression (``expr`` itself where nothing is constant).

    Raises:
        ValueError: if a constant part is undefined or complex-valued.

    Sources: correct rounding by Ziv's strategy (A. Ziv, "Fast evaluation of elementary
    mathematical functions with correctly rounded last bit", ACM TOMS 17(3), 1991);
    sympy's ``evalf`` for the multiple-precision values.
    """
    memo: dict[sp.Basic, sp.Expr] = {}

    def constant(c: sp.Expr) -> sp.Expr:
        if isinstance(c, sp.Rational):
            wide = abs(c.p) > 2**53 or c.q > 2**53
            return _float_constant(c) if wide else c
        if isinstance(c, sp.Float) or c in (sp.pi, sp.E):
            return c
        return _float_constant(c)

    def fold(e: sp.Expr) -> sp.Expr:
        if e in memo:
            return memo[e]
        if not e.free_symbols:
            result = constant(e)
        elif not e.args:
            result = e
        elif e.is_Add or e.is_Mul:
            fixed = [a for a in e.args if not a.free_symbols]
            varying = [fold(a) for a in e.args if a.free_symbols]
            if len(fixed) == 1:
                fixed = [constant(fixed[0])]
            elif fixed:
                fixed = [constant(e.func(*fixed))]
            args = fixed + varying
            result = e if list(args) == list(e.args) else e.func(*args, evaluate=False)
        else:
            args = [fold(a) for a in e.args]
            result = e if args == list(e.args) else e.func(*args)
        memo[e] = result
        return result

    return fold(expr)


def pointwise(expr: sp.Expr) -> sp.Expr:
    """A derivative as a float64 kernel evaluates it: ``DiracDelta`` terms become 0.

    sympy differentiates ``abs`` to ``sign`` and ``sign`` to ``2*DiracDelta``, a point mass
    at the kink (``abs(w - 1)`` has second derivative ``2*DiracDelta(w - 1)``). It is zero
    everywhere but at one point, where the derivative does not exist; code printers cannot
    print it (``sympy.pycode`` with ``strict=True`` raises).

    Args:
        expr: a sympy expression, such as a second derivative from ``derivative(expr, 2)``.

    Returns:
        The expression with every ``DiracDelta(...)`` replaced by 0 (``expr`` itself if it
        has none).
    """
    return expr.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.S.Zero) if expr.has(sp.DiracDelta) else expr


# -- parsing ----------------------------------------------------------------------------------


def parse_formula(formula: str) -> tuple[sp.Expr, tuple[str, ...]]:
    """Parse a loss formula in ``w`` into a sympy expression.

    Args:
        formula: text such as ``"(w-1)**2 + 2"`` or ``"w**2 + delta*cos(2*pi*w/lam)"``.

    Returns:
        ``(expr, names)``: the sympy expression (``w`` is the real symbol ``W``; decimal numbers
        become exact rationals, so ``0.1`` stays one tenth through differentiation) and the
        parameter names it uses, in the order they first appear in ``formula_text(expr)``.
        The expression is the formula's normal form: ``formula_text(expr)`` parses back to
        exactly ``expr`` and the same names, which is what lets a sweep store the formula as
        text (``Loss.text``) and rebuild it. Results are remembered per text.

    Raises:
        FormulaError: for empty or over-long text, a syntax error, or any construct outside
            ``ALLOWED`` (attribute access, subscripts, lambdas, keyword arguments, strings,
            names that are functions used as values, unknown functions...); for a number or
            constant out of range (beyond +-``MAX_NUMBER``, or an exponent beyond
            ``MAX_EXPONENT``), a division by zero, a complex value; for nesting beyond
            ``MAX_CALL_DEPTH`` calls or ``MAX_DEPTH`` levels; for a normal form longer than
            ``MAX_FORMULA_LENGTH``; for a gradient or second derivative larger than
            ``MAX_DERIVATIVE_OPS``, undefined or complex-valued (``(-1)**w``); for input
            sympy itself fails on or spends more than ``MAX_SYMPY_SECONDS`` on.
    """
    if not isinstance(formula, str) or not formula.strip():
        raise FormulaError("the loss formula is empty; write it in w, for example '(w-1)**2 + 2'")
    if len(formula) > MAX_FORMULA_LENGTH:
        raise FormulaError(f"the loss formula has {len(formula)} characters, more than {MAX_FORMULA_LENGTH}")
    try:
        with time_limit():
            return _parse(formula)
    except SympyTimeout:
        raise FormulaError(
            f"the loss formula {formula[:80]!r} took sympy more than {MAX_SYMPY_SECONDS:g} s to simplify and differentiate; write it differently"
        ) from None


#: Rounds of printing and parsing again before a formula's normal form must have settled.
_NORMAL_FORM_ROUNDS = 4


@functools.lru_cache(maxsize=256)
def _parse(formula: str) -> tuple[sp.Expr, tuple[str, ...]]:
    """The normal form of a formula: the expression that ``formula_text`` prints as a text
    which parses back to that same expression. sympy's simplification depends on the order
    of operations (``10**(1/6)*sqrt(10)`` stays two factors when it arises from a power of a
    power, one when typed), so the text is printed and parsed again until it settles."""
    expr = _build(formula)
    for _ in range(_NORMAL_FORM_ROUNDS):
        text = formula_text(expr)
        if len(text) > MAX_FORMULA_LENGTH:
            raise FormulaError(
                f"the loss formula {formula[:80]!r} is {len(text)} characters long as sympy writes it out, more than {MAX_FORMULA_LENGTH}; write it shorter"
            )
        again = expr if text == formula.strip() else _build(text)
        if again == expr:
            break
        expr = again
    else:
        raise FormulaError(f"sympy does not settle on one form of the loss formula {formula[:80]!r}; write it differently (for example without fractional powers of numbers)")
    check_derivatives(expr, 2, formula)
    symbols = {s.name for s in expr.free_symbols} - {W.name}
    names = tuple(dict.fromkeys(name for name in re.findall(r"\b[^\W\d]\w*", text) if name in symbols))
    return expr, names


def _build(formula: str) -> sp.Expr:
    """The formula's text as a sympy expression, checked node by node and as a whole (all of
    ``parse_formula``'s checks but the derivatives')."""
    source = formula.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as error:
        raise FormulaError(f"the loss formula {formula!r} is not a valid expression ({error.msg})") from None
    except ValueError as error:  # a NUL character
        raise FormulaError(f"the loss formula {formula!r} is not a valid expression ({error})") from None
    if "#" in source:
        # Python would read the rest as a comment and drop it without a word
        raise FormulaError(f"'#' is not allowed in the loss formula {formula!r}: everything after it would be ignored")
    for number in (ast.get_source_segment(source, node) or "" for node in ast.walk(tree) if isinstance(node, ast.Constant)):
        if "_" in number:
            raise FormulaError(f"the number {number!r} in the loss formula {formula!r} has an '_'; write numbers with digits, '.' and an exponent only (1000, 0.5, 1e-3)")
    depth, calls = _syntax_depth(tree.body)
    error = _nesting_error(formula, depth if depth > _MAX_SYNTAX_DEPTH else 0, calls)
    if error is not None:
        raise error

    def segment(node: ast.AST) -> str:
        text = ast.get_source_segment(source, node) or ast.unparse(node)
        return text if len(text) <= 40 else text[:37] + "..."

    def out_of_range(node: ast.AST) -> FormulaError:
        return FormulaError(f"{segment(node)!r} in {formula!r} is out of range; numbers must lie within +-{MAX_NUMBER:g}")

    def check(value: sp.Expr, node: ast.AST, called: bool = False) -> sp.Expr:
        """Each subexpression as it is built: undefined values, numbers out of range and
        function values out of range stop here, before anything is computed from them (the
        value of exp(exp(10**300)) is never asked for). A constant product or sum may pass
        the range on its way (1e300*pi/1e10); the finished expression is checked whole."""
        if _undefined(value):
            raise FormulaError(f"the loss formula {formula!r} divides by zero: {segment(node)!r} is undefined (sympy reduces it to {_short(value, 40)})")
        if value.free_symbols:
            if any(not _printable(number) for number in value.atoms(sp.Number)):
                raise out_of_range(node)
            return value
        if isinstance(value, sp.Number):
            if not _printable(value):
                raise out_of_range(node)
            return value
        if any(not _printable(number) for number in value.atoms(sp.Number)):
            # sympy merged numbers into one too large (2**(1/7)*3**(1/7) is 6**(1/7))
            raise out_of_range(node)
        if called and not _magnitude(value) <= MAX_NUMBER:
            raise out_of_range(node)
        return value

    def apply(operation, node: ast.AST, *args: sp.Expr) -> sp.Expr:
        try:
            return operation(*args)
        except (TypeError, AttributeError):
            # sympy's own simplification gives up on some legal input: atan(tan(10**300))
            # cannot tell whether 10**300 - k*pi exceeds pi/2.
            raise FormulaError(f"sympy cannot simplify {segment(node)!r} in {formula!r}; write it differently") from None

    def build(node: ast.AST) -> sp.Expr:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            text = ast.get_source_segment(source, node) or "a number"
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
            return sp.Symbol(node.id, real=True)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = build(node.left), build(node.right)
            if isinstance(node.op, ast.Pow) and not right.free_symbols:
                # sympy evaluates constant powers exactly: 9**9**9 would never finish.
                exponent = _magnitude(right)
                if exponent > MAX_EXPONENT:
                    raise FormulaError(f"the exponent {ast.unparse(node.right)!r} in {formula!r} is too large; exponents are limited to {MAX_EXPONENT} in size")
                if _costly_root(left, right):
                    raise FormulaError(
                        f"{segment(node)!r} in {formula!r} takes a fractional power of a long number, too costly to simplify exactly; "
                        f"(digits of the number) x (numerator of the exponent) may be at most {MAX_ROOT_WORK}"
                    )
                if not left.free_symbols:
                    base = _magnitude(left)
                    if base != 0 and abs(exponent * math.log10(base)) > math.log10(MAX_NUMBER):
                        raise FormulaError(f"{ast.unparse(node)!r} in {formula!r} is out of range; numbers must lie within +-{MAX_NUMBER:g}")
            return check(apply(_BINARY[type(node.op)], node, left, right), node, called=isinstance(node.op, ast.Pow))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = build(node.operand)
            return check(-operand if isinstance(node.op, ast.USub) else operand, node)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise _reject(f"calling {called!r}", formula)
            if node.keywords or len(node.args) != 1:
                raise _reject(f"{node.func.id}() with other than one plain argument", formula)
            argument = build(node.args[0])
            if not argument.free_symbols and not _magnitude(argument) <= MAX_NUMBER:
                raise out_of_range(node.args[0])
            return check(apply(FUNCTIONS[node.func.id], node, argument), node, called=True)
        raise _reject(repr(ast.unparse(node)), formula)

    expr = build(tree.body)
    if _undefined(expr):
        raise FormulaError(f"the loss formula {formula!r} divides by zero (sympy reduces it to {_short(expr)})")
    if expr.has(sp.I):
        raise FormulaError(f"the loss formula {formula!r} is complex-valued (a root or log of a negative constant); a loss must be real")
    for part in sp.preorder_traversal(expr):
        if not part.free_symbols and not isinstance(part, sp.Number):
            value = complex(part.evalf(20))
            if value.imag != 0:
                raise FormulaError(f"the loss formula {formula!r} is complex-valued ({_short(part, 40)}); a loss must be real")
            if not abs(value) <= MAX_NUMBER:
                raise FormulaError(f"the constant {_short(part, 40)!r} in {formula!r} is out of range; numbers must lie within +-{MAX_NUMBER:g}")
    for part in sp.preorder_traversal(expr):
        if isinstance(part, sp.Pow) and _costly_root(part.base, part.exp):
            raise FormulaError(
                f"the loss formula {formula!r} holds {_short(part, 40)!r}, a fractional power of a long number too costly to simplify exactly; "
                f"(digits of the number) x (numerator of the exponent) may be at most {MAX_ROOT_WORK}"
            )
    for number in expr.atoms(sp.Number):
        if not _printable(number):
            raise FormulaError(f"the loss formula {formula!r} holds a constant out of range ({_short(number, 40)}); numbers must lie within +-{MAX_NUMBER:g}")
    error = _nesting_error(formula, *nesting(expr))
    if error is not None:
        raise error
    return expr


# -- parameter values -------------------------------------------------------------------------


def _plain(arg: sp.Expr) -> bool:
    """May sympy evaluate a function of this argument? Yes for a symbolic one (it simplifies
    symbolically) and for a number within +-MAX_NUMBER; not for a constant expression (it
    might hold a function of a huge number, left unevaluated) or a larger number."""
    if arg.free_symbols:
        return True
    return isinstance(arg, sp.Number) and bool(arg.is_finite) and bool(abs(arg) <= MAX_NUMBER)


def _exact(value: float) -> sp.Rational:
    """A parameter value as the exact decimal its repr shows, as a formula's literal is read."""
    return sp.Rational(repr(float(value)))


def substitute(expr: sp.Expr, values: dict[str, float], exact: bool = True) -> sp.Expr:
    """``expr`` with parameter values put in, exactly and without numeric evaluation.

    Each value becomes the exact rational of its repr (0.1 is 1/10, as in a formula). sympy
    then simplifies exactly: ``2*pi*w/lam`` at lam = 0 becomes ``zoo*w``, ``log(a)`` at a = -1
    becomes ``I*pi``. Unlike a float substitution, nothing is evaluated numerically (sympy
    evaluates ``sin(cosh(1e300))`` of a float argument to a precision of 10**300 bits, which
    never ends), and a power that sympy would write out as a huge number (``2**a`` at a = 1e9) or
    whose exact simplification would be too costly (``_costly_root``) becomes a stand-in
    symbol (real, nonzero), so the result may hold symbols other than ``w``.

    With ``exact=False``, for showing the values to a reader: each value goes in as a
    float64 ``sp.Float`` (an integer below 2**53 as an ``sp.Integer``), products, sums and
    powers are evaluated in floating point, and a function or a power of a number beyond
    +-MAX_NUMBER becomes a symbol named as it prints (sympy would evaluate ``sin`` of it
    numerically, with the same endless precision).

    Args:
        expr: a sympy expression in ``W`` and real parameter symbols.
        values: parameter values by name (finite floats).
        exact: exact rationals (the default) or floats, as above.

    Returns:
        The expression with the values in.
    """
    if exact:
        replace = {sp.Symbol(name, real=True): _exact(value) for name, value in values.items()}
    else:
        replace = {
            sp.Symbol(name, real=True): sp.Integer(int(v)) if float(v).is_integer() and abs(v) < 2**53 else sp.Float(float(v)) for name, v in values.items()
        }
    memo: dict[sp.Basic, sp.Expr] = {}
    huge: dict[tuple, sp.Dummy] = {}

    def put(e: sp.Expr) -> sp.Expr:
        if e in replace:
            return replace[e]
        if not e.args or not e.free_symbols & replace.keys():
            return e
        if e in memo:
            return memo[e]
        args = [put(a) for a in e.args]
        if not exact and isinstance(e, sp.Function) and not all(_plain(a) for a in args):
            # Shown as it is, under a plain name: sympy asks numeric questions (is it
            # positive?) of any function it holds, which for cos(1e+434294481903251827) means
            # the same endless precision.
            result = sp.Symbol(_PRINTER.doprint(e.func(*args, evaluate=False)), real=True)
        elif (
            not exact
            and isinstance(e, sp.Pow)
            and not args[0].free_symbols
            and not args[1].free_symbols
            and (not (_plain(args[0]) and _plain(args[1])) or _huge_power(*args) or _costly_root(*args))
        ):
            result = sp.Symbol(_PRINTER.doprint(sp.Pow(*args, evaluate=False)), real=True)
        elif isinstance(e, sp.Pow) and isinstance(args[1], sp.Number) and (_huge_power(*args) or _costly_root(*args)):
            # A stand-in for the power: real and nonzero, positive for a positive number (an
            # unevaluated power would be evaluated by the first product it enters).
            key = tuple(args)
            if key not in huge:
                positive = isinstance(args[0], sp.Number) and args[0] > 0
                huge[key] = sp.Dummy("huge", positive=True) if positive else sp.Dummy("huge", real=True, nonzero=True)
            result = huge[key]
        else:
            try:
                result = e.func(*args)
            except (TypeError, AttributeError):  # sympy gave up simplifying (atan(tan(10**300)))
                result = sp.Dummy("unknown", real=True)
        memo[e] = result
        return result

    return put(expr)


def constant_value(constant: sp.Expr) -> float | None:
    """The float value of a constant expression, where it can be evaluated safely.

    Every function's argument must lie within +-``MAX_NUMBER`` and every power within
    10**(+-10**4) (innermost first, so each test evaluates only what passed before): sympy
    needs as many bits as a periodic function's argument has, and ``sin(cosh(1e300))``
    would never finish.

    Args:
        constant: a sympy expression without free symbols.

    Returns:
        The value (``correctly_rounded``), or None if the constant is undefined, complex,
        beyond those bounds, or has free symbols.
    """
    if constant.free_symbols or _undefined(constant):
        return None
    for node in sp.postorder_traversal(constant):
        if isinstance(node, sp.Function) and node.args and not _magnitude(node.args[0]) <= MAX_NUMBER:
            return None
        if isinstance(node, sp.Pow):
            base, exponent = _magnitude(node.base), _magnitude(node.exp)
            if base != 0 and not (exponent * abs(math.log10(base)) <= 1e4 if math.isfinite(base) else False):
                return None
    try:
        return correctly_rounded(constant)
    except ValueError:
        return None


def check_values(expr: sp.Expr, values: dict[str, float], what: str) -> None:
    """Refuse parameter values that make a loss undefined or complex for every w.

    The values are put into the loss and its gradient exactly (``substitute``): where sympy
    then finds a division by zero (``zoo``, ``nan``: ``2*pi*w/lam`` at lam = 0, ``log(a)`` at
    a = 0) or an imaginary part (the gradient ``a**w*log(a)`` of ``a**w`` at a = -1), the
    sweep would be all NaN.

    Args:
        expr: the loss in ``W`` and its parameter symbols (real ``sp.Symbol`` of each name).
        values: parameter values by name (finite floats).
        what: how to name the loss in a message, such as ``"the loss formula 'w/a'"``.

    Raises:
        FormulaError: naming the parameter value (the first that alone causes it, else all
            of them) and what is allowed.
    """
    if not values:
        return
    try:
        with time_limit():
            _check_values(expr, values, what)
    except SympyTimeout:
        pass  # too costly to check symbolically: the sweep itself will show NaN runs


def _check_values(expr: sp.Expr, values: dict[str, float], what: str) -> None:
    def broken(chosen: dict[str, float]) -> str | None:
        for gradient, e in ((False, expr), (True, derivative(expr, 1))):
            put = substitute(e, chosen)
            if _undefined(put):
                return "undefined"
            if gradient and put.has(sp.I):
                return "complex"
        return None

    problem = broken(values)
    if problem is None:
        return
    culprits = [name for name, value in values.items() if broken({name: value}) == problem] or list(values)
    shown = ", ".join(f"{name}={float(values[name]):g}" for name in culprits)
    if problem == "undefined":
        raise FormulaError(f"the parameter value {shown} makes {what} undefined (a division by zero or log(0) for every w); choose a value that keeps it finite")
    raise FormulaError(f"the parameter value {shown} makes the gradient of {what} complex-valued (a power or log of a negative number); a loss must be real")
