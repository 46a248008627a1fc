"""Losses of one weight: value, exact gradient, parameters, and the theory known for them.

A loss is a sympy expression in ``w`` plus values for its named parameters. The gradient is
differentiated symbolically; ``sweep.codegen`` prints both as Python code for the kernel, so
every loss runs through the same compiled kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy as sp

from sweep.formula import FUNCTIONS, W, FormulaError, parse_formula


@dataclass(frozen=True)
class Loss:
    """A loss of one weight ``w``, with its parameters fixed for a sweep.

    Attributes:
        name: built-in name (``"quadratic"``) or ``"formula"``.
        expr: sympy expression of the loss in ``sweep.formula.W`` and the parameter symbols.
        params: ``(name, value)`` pairs in the order the kernel receives them.
        source: where the loss comes from (a citation, or "user formula").
        grad_code: optional hand-written gradient code; used instead of the printed symbolic
            derivative where an exact operation order matters (the teaching quadratic).
    """

    name: str
    expr: sp.Expr
    params: tuple[tuple[str, float], ...] = ()
    source: str = "user formula"
    grad_code: str | None = field(default=None, repr=False)

    @property
    def param_values(self) -> tuple[float, ...]:
        """Parameter values as a tuple of float, in kernel order."""
        return tuple(float(v) for _, v in self.params)

    @property
    def grad_expr(self) -> sp.Expr:
        """d loss / d w: derived symbolically, or the hand-written gradient read back (our own
        trusted text, checked against the derivative in the tests)."""
        if self.grad_code is None:
            return sp.diff(self.expr, W)
        names = {name: sp.Symbol(name, real=True) for name, _ in self.params} | {"w": W}
        return sp.parse_expr(self.grad_code, local_dict=names, evaluate=False)

    def text(self, expr: sp.Expr | None = None) -> str:
        """Readable text of the loss (or of ``expr``) with parameter names kept."""
        return sp.sstr(self.expr if expr is None else expr)

    def expression(self, expr: sp.Expr | None = None) -> str:
        """Readable text of the loss (or ``expr``) with the parameter values put in:
        ``(w - 1)**2 + 2``."""
        values = {symbol: sp.Integer(int(v)) if float(v).is_integer() else sp.Float(v) for symbol, v in self._symbols()}
        return sp.sstr((self.expr if expr is None else expr).subs(values))

    def curvature(self) -> float | None:
        """The constant second derivative L, if the loss is a quadratic in w with L > 0.

        For such a loss gradient descent converges iff 0 < lr < 2/L, and lr = 1/L reaches the
        minimum in one step (Nesterov, "Introductory Lectures on Convex Optimization", 2004,
        sec. 1.2.3; for the teaching loss L = 2). None when the second derivative depends on
        w or is not positive.
        """
        second = sp.diff(self.expr, W, 2).subs(dict(self._symbols()))
        if second.free_symbols:
            return None
        value = float(second)
        return value if value > 0 and math.isfinite(value) else None

    def theory(self) -> dict[str, float]:
        """Learning rates that theory marks on the maps: empty where none is known."""
        curvature = self.curvature()
        if curvature is None:
            return {}
        return {"one_step_lr": 1.0 / curvature, "stability_lr": 2.0 / curvature}

    def _symbols(self) -> list[tuple[sp.Symbol, float]]:
        return [(sp.Symbol(name, real=True), value) for name, value in self.params]

    def evaluate(self, w: float) -> tuple[float, float]:
        """(loss, grad) at one point in plain Python floats, for figures and tests."""
        values = dict(self._symbols())
        value = float(self.expr.subs(values).subs(W, w).evalf())
        grad = float(self.grad_expr.subs(values).subs(W, w).evalf())
        return value, grad


def quadratic(a: float = 1.0, c: float = 1.0, b: float = 2.0) -> Loss:
    """The teaching loss ``a*(w - c)**2 + b``, gradient ``2*a*(w - c)``.

    With the defaults a=1, c=1, b=2 this is the classic example's ``(w-1)**2 + 2`` with
    gradient ``2*(w-1)``; the gradient code keeps that operation order so a sweep reproduces
    the plain Python loop bit for bit. Curvature L = 2a.

    Raises:
        ValueError: if a parameter is not finite.
    """
    for name, value in (("a", a), ("c", c), ("b", b)):
        if not math.isfinite(value):
            raise ValueError(f"quadratic parameter {name}={value} must be finite")
    sa, sc, sb = (sp.Symbol(n, real=True) for n in "acb")
    return Loss(
        name="quadratic",
        expr=sa * (W - sc) ** 2 + sb,
        params=(("a", float(a)), ("c", float(c)), ("b", float(b))),
        source="the classic teaching example: loss (w-1)**2 + 2, gradient 2*(w-1)",
        grad_code="2 * a * (w - c)",
    )


#: Named losses: name -> (factory, default parameters).
BUILTIN_LOSSES = {"quadratic": quadratic}


def make_loss(loss: str | Loss = "quadratic", params: dict[str, float] | None = None) -> Loss:
    """Build a Loss from a built-in name or a formula.

    Args:
        loss: a ``Loss``; a built-in name (``"quadratic"``); or a formula in ``w`` such as
            ``"(w-1)**2 + 2"`` (see ``sweep.formula`` for what a formula may contain).
        params: values of the loss's parameters by name. For a built-in, missing ones take
            the defaults; for a formula, every name other than ``w`` must be given.

    Returns:
        The Loss.

    Raises:
        FormulaError: for a formula that is not allowed, or a parameter without a value.
        ValueError: for a parameter the loss does not have, or a non-finite value.
    """
    params = dict(params or {})
    if isinstance(loss, Loss):
        if params:
            raise ValueError("give parameters either in the Loss or in params, not both")
        return loss
    if loss in BUILTIN_LOSSES:
        factory = BUILTIN_LOSSES[loss]
        allowed = factory.__code__.co_varnames[: factory.__code__.co_argcount]
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise ValueError(f"loss {loss!r} has no parameter {unknown[0]!r}; its parameters are {', '.join(allowed)}")
        return factory(**params)
    expr, names = parse_formula(loss)
    missing = [n for n in names if n not in params]
    if missing:
        raise FormulaError(
            f"the loss formula uses {missing[0]!r} without a value: give it with --param {missing[0]}=VALUE "
            f"(built-in losses: {', '.join(BUILTIN_LOSSES)}; functions: {', '.join(FUNCTIONS)})"
        )
    unused = sorted(set(params) - set(names))
    if unused:
        raise ValueError(f"parameter {unused[0]!r} does not appear in the loss formula {loss!r}")
    for name in names:
        if not math.isfinite(float(params[name])):
            raise ValueError(f"parameter {name}={params[name]} must be finite")
    return Loss(name="formula", expr=expr, params=tuple((n, float(params[n])) for n in names))
