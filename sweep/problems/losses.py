"""Losses of one weight: value, exact gradient, parameters, and the theory known for them.

A loss is a sympy expression in ``w`` plus values for its named parameters. The gradient is
differentiated symbolically; ``sweep.problems.code`` prints both as Python code for the kernel, so
every loss runs through the same compiled kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import sympy as sp

from sweep.problems.formula import FUNCTIONS, FormulaError, SympyTimeout, W, check_values, constant_value, derivative, formula_text, parse_formula, substitute, time_limit


@dataclass(frozen=True)
class Loss:
    """A loss of one weight ``w``, with its parameters fixed for a sweep.

    Attributes:
        name: built-in name (``"quadratic"``) or ``"formula"``.
        expr: sympy expression of the loss in ``sweep.problems.formula.W`` and the parameter symbols.
        params: ``(name, value)`` pairs in the order the kernel receives them.
        source: where the loss comes from (a citation, or "user formula").
        grad_code: optional hand-written gradient code; used instead of the printed symbolic
            derivative where an exact operation order matters (the teaching quadratic).
        minima: the loss's known minima, for losses with several basins (the double well):
            sweeps then record which one each converged run reached (``basin_of``).
        functions: ``(value, grad)`` Numba-jitted functions of a ``custom`` loss, compiled into
            the kernel instead of printed code; None for every other loss.
    """

    name: str
    expr: sp.Expr
    params: tuple[tuple[str, float], ...] = ()
    source: str = "user formula"
    grad_code: str | None = field(default=None, repr=False)
    minima: tuple[float, ...] = ()
    functions: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def param_values(self) -> tuple[float, ...]:
        """Parameter values as a tuple of float, in kernel order."""
        return tuple(float(v) for _, v in self.params)

    @property
    def grad_expr(self) -> sp.Expr:
        """d loss / d w: derived symbolically, or the hand-written gradient read back (our own
        trusted text, checked against the derivative in the tests)."""
        if self.grad_code is None:
            return derivative(self.expr, 1)
        names = {name: sp.Symbol(name, real=True) for name, _ in self.params} | {"w": W}
        return sp.parse_expr(self.grad_code, local_dict=names, evaluate=False)

    def text(self, expr: sp.Expr | None = None) -> str:
        """Text of the loss (or of ``expr``) with parameter names kept, in sweep's own formula
        grammar (``sweep.problems.formula.formula_text``): ``abs``, ``e``, exact numbers. It is what
        ``sweep.json`` stores as the formula, and ``make_loss`` of it with the same parameter
        values gives this loss back (same expression, same parameters in the same order).
        A gradient may hold functions outside the grammar (``sign``), printed by sympy's name."""
        return formula_text(self.expr if expr is None else expr)

    def expression(self, expr: sp.Expr | None = None) -> str:
        """Readable text of the loss (or ``expr``) with the parameter values put in, in the
        same grammar: ``(w - 1)**2 + 2``, ``w**2 + 0.1*cos(4*pi*w)`` (a value prints as its
        float64 repr, a whole number below 2**53 as an integer; see
        ``sweep.problems.formula.substitute`` with ``exact=False``)."""
        return formula_text(substitute(self.expr if expr is None else expr, dict(self.params), exact=False), readable=True)

    def curvature(self) -> float | None:
        """The constant second derivative L, if the loss is a quadratic in w with L > 0.

        For such a loss gradient descent converges iff 0 < lr < 2/L, and lr = 1/L reaches the
        minimum in one step (Nesterov, "Introductory Lectures on Convex Optimization", 2004,
        sec. 1.2.3; for the teaching loss L = 2). None when the second derivative depends on
        w or is not positive.
        """
        try:
            with time_limit():
                second = substitute(derivative(self.expr, 2), dict(self.params))
                value = None if second.free_symbols else constant_value(second)
        except SympyTimeout:
            return None
        return value if value is not None and value > 0 and math.isfinite(value) else None

    def theory(self) -> dict[str, float]:
        """Learning rates that theory marks on the maps: empty where none is known."""
        curvature = self.curvature()
        if curvature is None:
            return {}
        return {"one_step_lr": 1.0 / curvature, "stability_lr": 2.0 / curvature}

    def best_value(self) -> float | None:
        """The least value of the loss where it is known: at its listed minima, or at the
        stationary point of a quadratic with L > 0; None otherwise."""
        if self.functions is not None:
            return None
        if self.minima:
            return min(self.evaluate(m)[0] for m in self.minima)
        if self.curvature() is None:
            return None
        try:
            with time_limit():
                grad = substitute(self.grad_expr, dict(self.params))
                points = sp.solve(grad, W)
        except SympyTimeout:
            return None
        return min(self.evaluate(float(point))[0] for point in points) if points else None

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


#: Values a built-in loss's parameter may not take: (loss, parameter) -> (test, what is allowed).
_RULES = {
    ("cosine", "lam"): (lambda v: v != 0, "lam is the ripple's period and must be nonzero (cos(2*pi*w/lam) divides by it)"),
    ("cosine-mult", "lam"): (lambda v: v != 0, "lam is the ripple's period and must be nonzero (cos(2*pi*w/lam) divides by it)"),
}


def _builtin(name: str, text: str, defaults: dict[str, float], source: str, minima=(), **given: float) -> Loss:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"loss {name!r} has no parameter {unknown[0]!r}; its parameters are {', '.join(defaults) or 'none'}")
    values = {**defaults, **{k: float(v) for k, v in given.items()}}
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} parameter {key}={value} must be finite")
        allowed, rule = _RULES.get((name, key), (None, ""))
        if allowed is not None and not allowed(value):
            raise ValueError(f"{name} parameter {key}={value:g} is not allowed: {rule}")
    expr, names = parse_formula(text)
    check_values(expr, values, f"the loss {name!r}")
    return Loss(name=name, expr=expr, params=tuple((n, values[n]) for n in names), source=source, minima=tuple(minima))


LIU_2024 = (
    "Liu, 'Complex fractal trainability boundary can arise from trivial non-convexity', "
    "arXiv 2406.13971 (2024); default values inside that paper's ranges (delta 0.01..0.2, lam 0.01..1)"
)


def cosine(**params: float) -> Loss:
    """``w**2 + delta*cos(2*pi*w/lam)``: a quadratic with an additive cosine ripple.

    Defaults delta=0.1, lam=0.5. Once the ripple makes the loss non-convex, the boundary
    between converging and diverging learning rates becomes fractal (Liu 2024, arXiv 2406.13971).
    """
    return _builtin("cosine", "w**2 + delta*cos(2*pi*w/lam)", {"delta": 0.1, "lam": 0.5}, LIU_2024, **params)


def cosine_mult(**params: float) -> Loss:
    """``w**2 * (1 + delta*cos(2*pi*w/lam))``: the multiplicative ripple of Liu (2024).

    Defaults delta=0.5, lam=0.5.
    """
    return _builtin("cosine-mult", "w**2 * (1 + delta*cos(2*pi*w/lam))", {"delta": 0.5, "lam": 0.5}, LIU_2024, **params)


def double_well(**params: float) -> Loss:
    """``(w**2 - 1)**2``: two minima at w = -1 and w = +1, a maximum at 0.

    Which minimum a run reaches depends on w0 and lr; sweeps record it in a ``basin`` column.
    """
    return _builtin("double-well", "(w**2 - 1)**2", {}, "the classic symmetric double well (quartic)", minima=(-1.0, 1.0), **params)


#: Named losses: name -> factory taking the parameters as keywords.
BUILTIN_LOSSES = {"quadratic": quadratic, "cosine": cosine, "cosine-mult": cosine_mult, "double-well": double_well}


def custom(value, grad, *, name: str = "custom", params: dict[str, float] | None = None) -> Loss:
    """A loss from the user's own Numba-jitted functions.

    Args:
        value, grad: ``numba.njit`` functions ``f(w, p) -> float`` with w a float64 and p the
            tuple of parameter values (in the order of ``params``); grad must be d value / d w.
        name: a name for tables and reports (a Python identifier).
        params: parameter values by name, passed to both functions as the tuple p.

    Returns:
        A Loss compiled straight into the kernel. Its kernel is not cached on disk (Numba cannot
        tell when the user's functions change), so each process compiles it once.

    Raises:
        ValueError: if value or grad is not a Numba dispatcher, or the name is not an identifier.
    """
    from numba.core.registry import CPUDispatcher

    for role, function in (("value", value), ("grad", grad)):
        if not isinstance(function, CPUDispatcher):
            raise ValueError(f"custom loss {role} must be a numba.njit function, got {type(function).__name__}")
    if not name.isidentifier():
        raise ValueError(f"custom loss name {name!r} must be a Python identifier")
    values = tuple((key, float(v)) for key, v in (params or {}).items())
    return Loss(name=name, expr=sp.Function(name)(W), params=values, source="user's jitted functions", functions=(value, grad))


def basin_of(loss: Loss, w, converged):
    """The minimum each converged run reached, NaN where none (or the loss lists no minima).

    Args:
        loss: the Loss (its ``minima``). w: 1-D float64 final weights. converged: 1-D bool.

    Returns:
        1-D float64 array: the nearest listed minimum where the run converged within half the
        gap between neighbouring minima of it (a run stopped at the double well's maximum,
        w = 0, is in no basin), NaN elsewhere.
    """
    import numpy as np

    w = np.asarray(w, dtype=np.float64)
    basin = np.full(w.shape, np.nan)
    if not loss.minima:
        return basin
    minima = np.sort(np.asarray(loss.minima, dtype=np.float64))
    reach = 0.5 * np.min(np.diff(minima)) if minima.size > 1 else np.inf
    nearest = minima[np.argmin(np.abs(w[:, None] - minima[None, :]), axis=1)]
    inside = np.asarray(converged) & (np.abs(w - nearest) < reach)
    basin[inside] = nearest[inside]
    return basin


def make_loss(loss: str | Loss = "quadratic", params: dict[str, float] | None = None) -> Loss:
    """Build a Loss from a built-in name or a formula.

    Args:
        loss: a ``Loss``; a built-in name (``"quadratic"``); or a formula in ``w`` such as
            ``"(w-1)**2 + 2"`` (see ``sweep.problems.formula`` for what a formula may contain).
        params: values of the loss's parameters by name. For a built-in, missing ones take
            the defaults; for a formula, every name other than ``w`` must be given.

    Returns:
        The Loss.

    Raises:
        FormulaError: for a formula that is not allowed (see ``sweep.problems.formula.parse_formula``),
            a parameter without a value, or parameter values that make the loss undefined or
            complex for every w (``sweep.problems.formula.check_values``: ``w/a`` at a = 0).
        ValueError: for a parameter the loss does not have, a non-finite value, or a value a
            built-in loss does not allow (lam = 0 for cosine and cosine-mult).
    """
    params = dict(params or {})
    if isinstance(loss, Loss):
        if params:
            raise ValueError("give parameters either in the Loss or in params, not both")
        return loss
    if loss in BUILTIN_LOSSES:
        factory = BUILTIN_LOSSES[loss]
        if factory is quadratic:
            unknown = sorted(set(params) - {"a", "c", "b"})
            if unknown:
                raise ValueError(f"loss 'quadratic' has no parameter {unknown[0]!r}; its parameters are a, c, b")
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
    check_values(expr, {n: float(params[n]) for n in names}, f"the loss formula {loss!r}")
    return Loss(name="formula", expr=expr, params=tuple((n, float(params[n])) for n in names))


__all__ = ["BUILTIN_LOSSES", "LIU_2024", "Loss", "basin_of", "cosine", "cosine_mult", "custom", "double_well", "make_loss", "quadratic"]
