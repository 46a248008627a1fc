"""Losses of one or several weights: value, exact gradient and Hessian, parameters, and the
theory known for them.

A loss is a sympy expression in its weights (``w`` alone for one weight; ``x, y`` for the 2-D
built-ins; ``w1..wd`` for the d-weight ones; any names for a formula) plus values for its
named parameters. Derivatives are taken symbolically; ``sweep.problems.code`` prints them as
Python code for the kernel, so every loss runs through the same generated kernel.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import sympy as sp

from sweep.problems.formula import CONSTANTS, FUNCTIONS, MAX_DERIVATIVE_OPS, FormulaError, SympyTimeout, W, check_derivatives, check_values, constant_value, derivative, formula_text, parse_formula, substitute, time_limit


@dataclass(frozen=True)
class Loss:
    """A loss of one weight ``w`` or of several, with its parameters fixed for a sweep.

    Attributes:
        name: built-in name (``"quadratic"``) or ``"formula"``.
        expr: sympy expression of the loss in ``sweep.problems.formula.W`` and the parameter symbols.
        params: ``(name, value)`` pairs in the order the kernel receives them.
        source: where the loss comes from (a citation, or "user formula").
        grad_code: optional hand-written gradient code; used instead of the printed symbolic
            derivative where an exact operation order matters (the teaching quadratic).
        minima: the loss's known minima (floats for one weight, one tuple per minimum for
            several): sweeps then record which one each converged run reached (``basin_of``).
        functions: ``(value, grad)`` Numba-jitted functions of a ``custom`` loss, compiled into
            the kernel instead of printed code; None for every other loss.
        weights: the weights' symbols in kernel order (``(W,)`` for one weight).
        options: settings that shape the loss rather than enter its kernel (``d``, the number
            of weights of rastrigin and ill-quadratic), as ``(name, value)`` pairs.
        start: a built-in's customary starting point (one value per weight), used for
            weights a sweep gives no starting axis.
    """

    name: str
    expr: sp.Expr
    params: tuple[tuple[str, float], ...] = ()
    source: str = "user formula"
    grad_code: str | None = field(default=None, repr=False)
    minima: tuple[float, ...] = ()
    functions: tuple | None = field(default=None, repr=False, compare=False)
    weights: tuple[sp.Symbol, ...] = (W,)
    options: tuple[tuple[str, float], ...] = ()
    start: tuple[float, ...] = ()

    @property
    def d(self) -> int:
        """Number of weights."""
        return len(self.weights)

    @property
    def weight_names(self) -> tuple[str, ...]:
        """The weights' names, the table's columns of the final point: ``("w",)`` for one."""
        return tuple(str(w) for w in self.weights)

    @property
    def settings(self) -> dict[str, float]:
        """Every value needed to rebuild the loss with ``make_loss``: options and parameters."""
        return {**dict(self.options), **dict(self.params)}

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

    def expression(self, expr: sp.Expr | None = None, keep: tuple[str, ...] = ()) -> str:
        """Readable text of the loss (or ``expr``) with the parameter values put in, in the
        same grammar: ``(w - 1)**2 + 2``, ``w**2 + 0.1*cos(4*pi*w)`` (a value prints as its
        float64 repr, a whole number below 2**53 as an integer; see
        ``sweep.problems.formula.substitute`` with ``exact=False``). Parameters named in
        ``keep`` (a sweep's swept ones) stay as names."""
        values = {name: value for name, value in self.params if name not in keep}
        return formula_text(substitute(self.expr if expr is None else expr, values, exact=False), readable=True)

    def hessian_eigenvalues(self) -> tuple[float, ...] | None:
        """Eigenvalues of the Hessian, ascending, when it does not depend on the weights (a
        quadratic); None otherwise or when sympy takes too long."""
        if self.functions is not None:
            return None
        try:
            with time_limit():
                values = dict(self.params)
                entries = [[substitute(sp.diff(self.expr, a, b), values) for b in self.weights] for a in self.weights]
                if any(entry.free_symbols for row in entries for entry in row):
                    return None
                matrix = [[constant_value(entry) for entry in row] for row in entries]
        except SympyTimeout:
            return None
        if any(v is None or not math.isfinite(v) for row in matrix for v in row):
            return None
        import numpy as np

        return tuple(float(v) for v in np.linalg.eigvalsh(np.array(matrix)))

    def curvature(self) -> float | None:
        """The top curvature L of a quadratic loss (its constant second derivative, or the
        largest eigenvalue of its constant Hessian), if L > 0 and the Hessian is positive
        semi-definite.

        For such a loss gradient descent converges iff 0 < lr < 2/L, and for one weight
        lr = 1/L reaches the minimum in one step (Nesterov, "Introductory Lectures on Convex
        Optimization", 2004, sec. 1.2.3; for the teaching loss L = 2). None when the
        curvature depends on the weights or is not positive.
        """
        if self.d == 1:
            try:
                with time_limit():
                    second = substitute(derivative(self.expr, 2), dict(self.params))
                    value = None if second.free_symbols else constant_value(second)
            except SympyTimeout:
                return None
            return value if value is not None and value > 0 and math.isfinite(value) else None
        eigenvalues = self.hessian_eigenvalues()
        if eigenvalues is None or eigenvalues[0] < 0 or eigenvalues[-1] <= 0:
            return None
        return eigenvalues[-1]

    def theory(self) -> dict[str, float]:
        """Learning rates that theory marks on the maps: empty where none is known. For one
        weight: 1/L (one step) and 2/L (the stability edge). For several, on a quadratic with
        Hessian eigenvalues in [mu, L]: the edge 2/L and the best constant rate 2/(mu + L),
        which minimizes the worst contraction factor max|1 - lr*lambda| (Nesterov 2004,
        sec. 2.1.5; Goh 2017)."""
        curvature = self.curvature()
        if curvature is None:
            return {}
        if self.d == 1:
            return {"one_step_lr": 1.0 / curvature, "stability_lr": 2.0 / curvature}
        mu = self.hessian_eigenvalues()[0]
        return {"best_lr": 2.0 / (mu + curvature), "stability_lr": 2.0 / curvature}

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
                values = dict(self.params)
                grads = [substitute(sp.diff(self.expr, w), values) for w in self.weights]
                points = sp.solve(grads, list(self.weights), dict=True)
        except SympyTimeout:
            return None
        found = []
        for point in points:
            if all(v.is_real for v in point.values()):
                at = [float(point.get(w, 0.0)) for w in self.weights]
                found.append(self.evaluate(at[0] if self.d == 1 else at)[0])
        return min(found) if found else None

    def _symbols(self) -> list[tuple[sp.Symbol, float]]:
        return [(sp.Symbol(name, real=True), value) for name, value in self.params]

    def evaluate(self, w) -> tuple[float, float]:
        """(loss, grad) at one point in plain Python floats, for figures and tests: ``w`` a
        float for one weight, a sequence of d floats for several (grad is then the
        gradient's 2-norm)."""
        values = dict(self._symbols())
        point = dict(zip(self.weights, [w] if self.d == 1 else list(w)))
        value = float(self.expr.subs(values).subs(point).evalf())
        if self.d == 1:
            return value, float(self.grad_expr.subs(values).subs(point).evalf())
        grads = [float(sp.diff(self.expr, x).subs(values).subs(point).evalf()) for x in self.weights]
        return value, math.sqrt(sum(g * g for g in grads))

    def numeric(self):
        """The loss as a NumPy function ``f(*weights)`` of arrays (for contour plots): the
        parameters put in, printed by sympy's NumPy printer from the checked expression."""
        expr = substitute(self.expr, dict(self.params), exact=False)
        return sp.lambdify(self.weights, expr, modules="numpy")


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


#: Most weights a loss may have: the kernel holds every weight of its runs in lanes, and its
#: generated code (a Hessian entry per pair of weights) grows with the square of the number.
MAX_WEIGHTS = 16


def _builtin(name: str, text: str, defaults: dict[str, float], source: str, minima=(), weights: tuple[str, ...] = ("w",), start=(), options=(), **given: float) -> Loss:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = [*(key for key, _ in options), *defaults]
        raise ValueError(f"loss {name!r} has no parameter {unknown[0]!r}; its parameters are {', '.join(known) or 'none'}")
    values = {**defaults, **{k: float(v) for k, v in given.items()}}
    for key, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} parameter {key}={value} must be finite")
        allowed, rule = _RULES.get((name, key), (None, ""))
        if allowed is not None and not allowed(value):
            raise ValueError(f"{name} parameter {key}={value:g} is not allowed: {rule}")
    expr, names = parse_formula(text)
    symbols = (W,) if weights == ("w",) else tuple(sp.Symbol(n, real=True) for n in weights)
    params = tuple(n for n in names if n not in weights)
    check_values(expr, values, f"the loss {name!r}")
    return Loss(name=name, expr=expr, params=tuple((n, values[n]) for n in params), source=source, minima=tuple(minima), weights=symbols, start=tuple(start), options=tuple(options))


def _dimension(name: str, d) -> int:
    """The number of weights of a d-weight built-in, checked."""
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not float(d).is_integer() or not 2 <= d <= MAX_WEIGHTS:
        raise ValueError(f"{name} parameter d={d!r} is not allowed: d is the number of weights, a whole number in 2..{MAX_WEIGHTS}")
    return int(d)


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


def rosenbrock(**params: float) -> Loss:
    """``(a - x)**2 + b*(y - x**2)**2``, a=1, b=100: a curved, narrow valley with its one
    minimum at (a, a**2) (Rosenbrock, "An automatic method for finding the greatest or least
    value of a function", The Computer Journal 3, 1960). Customary start (-1.5, 2)."""
    a = float(params.get("a", 1.0))
    return _builtin("rosenbrock", "(a - x)**2 + b*(y - x**2)**2", {"a": 1.0, "b": 100.0}, "Rosenbrock (1960)", minima=((a, a * a),), weights=("x", "y"), start=(-1.5, 2.0), **params)


def beale(**params: float) -> Loss:
    """``(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2``: flat
    plateaus and sharp ridges, one minimum at (3, 0.5) (Beale 1958; the test functions of
    Jamil and Yang, "A literature survey of benchmark functions for global optimisation
    problems", 2013, no. 10). Customary start (1, 1)."""
    return _builtin("beale", "(3/2 - x + x*y)**2 + (9/4 - x + x*y**2)**2 + (21/8 - x + x*y**3)**2", {}, "Beale (1958); Jamil and Yang (2013), no. 10", minima=((3.0, 0.5),), weights=("x", "y"), start=(1.0, 1.0), **params)


#: Himmelblau's four minima, all with value 0 (Himmelblau, "Applied Nonlinear Programming",
#: 1972): (3, 2) exactly, the other three roots of its gradient to 15 digits.
HIMMELBLAU_MINIMA = ((3.0, 2.0), (-2.805118086952745, 3.131312518250573), (-3.779310253377747, -3.283185991286170), (3.584428340330492, -1.848126526964404))


def himmelblau(**params: float) -> Loss:
    """``(x**2 + y - 11)**2 + (x + y**2 - 7)**2``: four minima of value 0 (``HIMMELBLAU_MINIMA``)
    whose basins of attraction meet in fractal boundaries (Himmelblau 1972). Start (0, 0)."""
    return _builtin("himmelblau", "(x**2 + y - 11)**2 + (x + y**2 - 7)**2", {}, "Himmelblau, 'Applied Nonlinear Programming' (1972)", minima=HIMMELBLAU_MINIMA, weights=("x", "y"), start=(0.0, 0.0), **params)


def booth(**params: float) -> Loss:
    """``(x + 2*y - 7)**2 + (2*x + y - 5)**2``: a quadratic with Hessian [[10, 8], [8, 10]]
    (eigenvalues 2 and 18), minimum at (1, 3) (Jamil and Yang 2013, no. 19). Start (0, 0)."""
    return _builtin("booth", "(x + 2*y - 7)**2 + (2*x + y - 5)**2", {}, "Jamil and Yang (2013), no. 19", minima=((1.0, 3.0),), weights=("x", "y"), start=(0.0, 0.0), **params)


def _weights(d: int) -> tuple[str, ...]:
    return tuple(f"w{i}" for i in range(1, d + 1))


def rastrigin(d: int = 2, **params: float) -> Loss:
    """``A*d + sum(w_i**2 - A*cos(2*pi*w_i))``, A=10, in d weights ``w1..wd`` (default 2): a
    lattice of local minima around the global one at the origin (Rastrigin 1974; Muehlenbein
    et al. 1991 for d weights). Start (2.5, ..., 2.5)."""
    d = _dimension("rastrigin", d)
    text = "A*" + str(d) + " + " + " + ".join(f"(w{i}**2 - A*cos(2*pi*w{i}))" for i in range(1, d + 1))
    return _builtin("rastrigin", text, {"A": 10.0}, "Rastrigin (1974); Muehlenbein, Schomisch and Born (1991)", minima=(tuple(0.0 for _ in range(d)),), weights=_weights(d), start=tuple(2.5 for _ in range(d)), options=(("d", float(d)),), **params)


def ill_quadratic(d: int = 2, **params: float) -> Loss:
    """``0.5*sum(kappa**((i-1)/(d-1)) * w_i**2)`` in d weights ``w1..wd`` (default 2, kappa
    10): a quadratic whose Hessian eigenvalues spread log-uniformly from 1 to kappa, the
    condition number. GD converges iff lr < 2/kappa, fastest at lr = 2/(1 + kappa); the heavy
    ball iff lr*kappa < 2 + 2*momentum (Polyak 1964; Goh, "Why Momentum Really Works", 2017).
    Start (1, ..., 1)."""
    d = _dimension("ill-quadratic", d)
    if "kappa" in params and not params["kappa"] >= 1:
        raise ValueError(f"ill-quadratic parameter kappa={params['kappa']!r} is not allowed: the condition number must be >= 1")
    text = " + ".join(f"kappa**({i}/{d - 1})*w{i + 1}**2/2" if i else f"w{i + 1}**2/2" for i in range(d))
    return _builtin("ill-quadratic", text, {"kappa": 10.0}, "an ill-conditioned quadratic (Goh 2017; Polyak 1964)", minima=(tuple(0.0 for _ in range(d)),), weights=_weights(d), start=tuple(1.0 for _ in range(d)), options=(("d", float(d)),), **params)


#: Named losses: name -> factory taking the parameters as keywords.
BUILTIN_LOSSES = {
    "quadratic": quadratic,
    "cosine": cosine,
    "cosine-mult": cosine_mult,
    "double-well": double_well,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "himmelblau": himmelblau,
    "booth": booth,
    "rastrigin": rastrigin,
    "ill-quadratic": ill_quadratic,
}
#: Built-in settings that shape a loss (its number of weights), not axes a sweep may vary.
SHAPE_OPTIONS = ("d",)


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
        loss: the Loss (its ``minima``). w: final weights, float64, shape (n,) for one weight
            or (n, d) for d. converged: 1-D bool, shape (n,).

    Returns:
        1-D float64 array of length n, NaN where the run did not converge to a listed minimum
        within half the distance between the two closest minima (a run stopped at the double
        well's maximum, w = 0, is in no basin). For one weight the value is the minimum
        itself; for several it is the minimum's index in ``loss.minima`` (0, 1, ...).
    """
    import numpy as np

    w = np.asarray(w, dtype=np.float64)
    n = w.shape[0]
    basin = np.full(n, np.nan)
    if not loss.minima:
        return basin
    points = np.asarray(loss.minima, dtype=np.float64).reshape(len(loss.minima), -1)
    ends = w.reshape(n, -1)
    gaps = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    reach = 0.5 * gaps[np.triu_indices(len(points), 1)].min() if len(points) > 1 else np.inf
    # A diverged run's end may square to inf (or be NaN): it is in no basin, quietly.
    with np.errstate(all="ignore"):
        distance = np.sqrt(((ends[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    nearest = np.argmin(np.where(np.isnan(distance), np.inf, distance), axis=1)
    inside = np.asarray(converged) & (distance[np.arange(n), nearest] < reach)
    basin[inside] = points[nearest[inside], 0] if points.shape[1] == 1 and w.ndim == 1 else nearest[inside]
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
            complex for every w (``sweep.problems.formula.check_values``: ``w/a`` at a = 0),
            a part that is complex once printed for the kernel (``sqrt(-1 - w**2)``), or the
            name of a model on data (``sweep.problems.models.MODELS``: not a loss of weights).
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
    from sweep.problems.models import MODELS

    if isinstance(loss, str) and loss.strip() in MODELS:  # else read as the formula mse - linear
        raise FormulaError(f"--loss {loss.strip()!r} is a model on data, not a loss of weights: sweep run --loss {loss.strip()} sweeps it on its dataset")
    if isinstance(loss, str) and loss.strip().isidentifier() and loss.strip() not in ("w", *CONSTANTS, *params):
        # A bare name is a typo for a built-in far more often than the linear loss in it.
        import difflib

        known = [*BUILTIN_LOSSES, *MODELS]
        close = difflib.get_close_matches(loss.strip(), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise FormulaError(f"--loss {loss.strip()[:40]!r} is neither a built-in loss nor a model: {hint}built-ins: {', '.join(BUILTIN_LOSSES)}; models: {', '.join(MODELS)}; or write a formula such as '(w-1)**2 + 2'")
    expr, names = parse_formula(loss)
    if not expr.has(W) and any(name not in params for name in names):
        # Names without a value and no w: those names are the weights.
        return _several_weights(loss, expr, names, params)
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
    return _printable(Loss(name="formula", expr=expr, params=tuple((n, float(params[n])) for n in names)), loss)


def rebuilt(loss: Loss, changes: dict[str, float]) -> Loss:
    """The same loss with some parameter values changed (a built-in by its name, a formula by
    its text); a custom loss cannot be rebuilt.

    Raises:
        ValueError: as ``make_loss`` does for the new values."""
    settings = {**loss.settings, **changes}
    if loss.name in BUILTIN_LOSSES:
        return make_loss(loss.name, settings)
    if loss.functions is not None:
        raise ValueError(f"the custom loss {loss.name!r} cannot be rebuilt with other parameters")
    return make_loss(loss.text(), settings)


def weight_order(names) -> list[str]:
    """The documented order of a formula's weights: by name, with the numbers in names
    compared as numbers (``x`` before ``y``; ``w2`` before ``w10``)."""
    return sorted(names, key=lambda name: [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)])


def _several_weights(text: str, expr: sp.Expr, names: tuple[str, ...], params: dict) -> Loss:
    """A formula without ``w``: its names with a value are parameters, the rest its weights
    (``weight_order``). One such weight is the one-weight case under another name: it is
    renamed ``w``, so the loss is the same as if it had been typed in ``w``."""
    unused = sorted(set(params) - set(names))
    if unused:
        raise ValueError(f"parameter {unused[0]!r} does not appear in the loss formula {text!r}")
    weights = weight_order(n for n in names if n not in params)
    if len(weights) > MAX_WEIGHTS:
        raise FormulaError(f"the loss formula {text!r} has {len(weights)} weights ({', '.join(weights[:4])}, ...), more than the {MAX_WEIGHTS} the kernel supports")
    for name in params:
        if not math.isfinite(float(params[name])):
            raise ValueError(f"parameter {name}={params[name]} must be finite")
    values = {n: float(params[n]) for n in names if n in params}
    if len(weights) == 1:
        expr = expr.xreplace({sp.Symbol(weights[0], real=True): W})
        check_derivatives(expr, 2, text)
        check_values(expr, values, f"the loss formula {text!r}")
        return _printable(Loss(name="formula", expr=expr, params=tuple((n, values[n]) for n in names if n in values)), text)
    symbols = tuple(sp.Symbol(n, real=True) for n in weights)
    with time_limit():
        for symbol in symbols:
            _check_partials(expr, symbol, symbols, text)
    check_values(expr, values, f"the loss formula {text!r}")
    return _printable(Loss(name="formula", expr=expr, params=tuple((n, values[n]) for n in names if n in values), weights=symbols), text)


def _printable(loss: Loss, text: str) -> Loss:
    """The loss, once its kernel code prints (``sweep.problems.code.problem_code``, kept for the
    kernel): sympy may rebuild a part as complex only there (the Hessian of sqrt(-1 - w**2) is
    I*...), and bad input must be refused before any work, not while the kernel compiles.

    Raises:
        FormulaError: a constant part of the loss or its derivatives is not a real number.
    """
    from sweep.problems.code import problem_code

    try:
        problem_code(loss)
    except ValueError as error:  # fold_constants: a constant that is complex or undefined
        raise FormulaError(f"the loss formula {text[:80]!r} has a part that is not real for real weights ({str(error)[:60]}); a loss and its derivatives must be real") from None
    return loss


def _check_partials(expr: sp.Expr, symbol: sp.Symbol, symbols: tuple[sp.Symbol, ...], text: str) -> None:
    """The partial derivatives of a loss in ``symbol`` held to the one-weight limits
    (``sweep.problems.formula.check_derivatives``, the other weights standing as parameters),
    and the Hessian's mixed entries of its row to the second derivative's."""
    check_derivatives(expr.xreplace({symbol: W}), 2, text)
    gradient = sp.diff(expr, symbol)
    for other in symbols[symbols.index(symbol) + 1 :]:
        mixed = sp.diff(gradient, other)
        if mixed.has(sp.zoo, sp.nan, sp.I) or sp.count_ops(mixed) > MAX_DERIVATIVE_OPS[1]:
            raise FormulaError(f"the Hessian entry d2/d{symbol}d{other} of the loss formula {text[:80]!r} is too large, undefined or complex; write it differently")


__all__ = [
    "BUILTIN_LOSSES", "HIMMELBLAU_MINIMA", "LIU_2024", "MAX_WEIGHTS", "Loss", "basin_of", "beale", "booth", "cosine", "cosine_mult", "custom", "double_well", "himmelblau",
    "ill_quadratic", "make_loss", "quadratic", "rastrigin", "rebuilt", "rosenbrock", "weight_order",
]
