"""A problem's code for the kernel generator: sympy expressions printed as Numba-ready Python.

Weights are renamed ``w_0, w_1, ...`` and parameters ``p_0, p_1, ...`` in the printed code, so
that a formula may name them anything it allows without clashing with the kernel's names.
sin and cos print as sweep's branch-free versions (``sweep.kernels.trig``), which vectorize;
everything else as the math module's functions.
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from sweep.kernels.generator import LANE_SPLIT, BlockProblem, LaneProblem

PRINTER_SETTINGS = {"fully_qualified_modules": True, "strict": True, "user_functions": {"sin": "vsin", "cos": "vcos"}}


class _KernelPrinter(PythonCodePrinter):
    """sympy's Python printer, with x**-k (k a whole number) printed as 1.0/x**k: Numba
    computes a negative integer power in a helper that raises ZeroDivisionError at x = 0,
    where the kernel needs inf (its error model is NumPy's)."""

    def _print_Pow(self, expr, rational=False):
        exponent = expr.exp
        if exponent.is_Integer and exponent < 0:
            base = self.parenthesize(expr.base, 100)
            power = base if exponent == -1 else f"{base}**{-exponent}"
            return f"(1.0/{power})"
        return super()._print_Pow(expr, rational=rational)


def print_code(expr: sp.Expr, renames: dict) -> str:
    """``expr`` as one line of Python for the kernel, symbols renamed: derivatives of abs
    taken pointwise (DiracDelta is 0 off the kink), constant parts correctly rounded to
    float64 (``sweep.problems.formula.fold_constants``, the last step: it rebuilds the expression)."""
    from sweep.problems.formula import fold_constants, pointwise

    return _KernelPrinter(PRINTER_SETTINGS).doprint(fold_constants(pointwise(expr.xreplace(renames))))


def lane_problem(
    expr: sp.Expr,
    weights: tuple[sp.Symbol, ...],
    params: tuple[str, ...],
    *,
    grad_codes: tuple[str, ...] | None = None,
    description: str = "",
    with_hessian: bool = True,
) -> LaneProblem:
    """The LaneProblem of a loss expression in the symbols ``weights``.

    Args:
        expr: the loss, a sympy expression in ``weights`` and the real symbols of ``params``.
        weights: the weights' symbols, in kernel order.
        params: the parameters' names, in kernel order.
        grad_codes: hand-written gradient code per weight (in the names of the formula),
            used instead of the printed derivative where an exact operation order matters
            (the teaching quadratic's ``2*(w-1)``).
        description: one line for the generated module's header.
        with_hessian: print the Hessian (for the sharpness).
    """
    names = {w: sp.Symbol(f"w_{j}", real=True) for j, w in enumerate(weights)}
    names.update({sp.Symbol(name, real=True): sp.Symbol(f"p_{i}", real=True) for i, name in enumerate(params)})
    value = print_code(expr, names)
    if grad_codes is None:
        grads = tuple(print_code(sp.diff(expr, w), names) for w in weights)
    else:
        from sweep.kernels.generator import rename

        text_names = {str(w): f"w_{j}" for j, w in enumerate(weights)} | {name: f"p_{i}" for i, name in enumerate(params)}
        grads = tuple(rename(code, text_names) for code in grad_codes)
    hessian, constant = None, False
    if with_hessian:
        entries = [sp.diff(expr, weights[i], weights[j]) for i in range(len(weights)) for j in range(i, len(weights))]
        hessian = tuple(print_code(entry, names) for entry in entries)
        constant = not any(entry.free_symbols & set(weights) for entry in entries)
    return LaneProblem(tuple(str(w) for w in weights), tuple(params), value, grads, hessian, description=description, hessian_constant=constant)


def custom_problem(name: str, params: tuple[str, ...], value, grad) -> LaneProblem:
    """The LaneProblem of a user's jitted functions ``value(w, p)`` and ``grad(w, p)`` (one
    weight, p the tuple of parameter values): put into the kernel as globals, no Hessian."""
    p = "(" + "".join(f"p_{i}, " for i in range(len(params))) + ")"
    return LaneProblem(
        ("w",), tuple(params), f"_user_value(w_0, {p})", (f"_user_grad(w_0, {p})",), None, user_functions=(("_user_value", value), ("_user_grad", grad)), description=f"the user's jitted functions {name}"
    )


def problem_code(loss) -> LaneProblem:
    """The LaneProblem of a ``sweep.problems.losses.Loss``: its formula printed, or a custom loss's
    jitted functions."""
    from sweep.problems.formula import W

    names = tuple(name for name, _ in loss.params)
    if loss.functions is not None:
        return custom_problem(loss.name, names, *loss.functions)
    return _printed(loss.expr, tuple(getattr(loss, "weights", (W,))), names, (loss.grad_code,) if loss.grad_code else None, loss.text().replace("\n", " ")[:200])


@functools.lru_cache(maxsize=128)
def _printed(expr, weights, names, grad_codes, description) -> LaneProblem:
    # Printing with sympy costs milliseconds, more than a small sweep: remembered per loss.
    return lane_problem(expr, weights, names, grad_codes=grad_codes, description=description)


#: Up to this many weights, H W is written as loops the kernel inlines: for a small d, the
#: call into BLAS costs more than its d*d*B multiply-adds.
INLINE_PRODUCT_MAX = 32

#: Up to this many weights, each lane's sum over q is kept in a register, the loop over q
#: written out (D is a constant of the module) and the lanes vectorized. Past it adding into
#: out[j, lane] q by q is faster (measured on MSE models of 11 to 31 weights,
#: benchmarks/README.md).
REGISTER_SUM_MAX = 24


def _register_rows(matrix: str, vectors: str, d: int, row: str, row_start: tuple[str, ...] = ()) -> str:
    """For each row j: ``row_start`` (statements run once per row), then for every lane of the
    block acc = sum over q = 0, 1, ... of matrix[j, q] * vectors[q, lane], in that order, then
    ``row`` (statements with ``{acc}`` and ``{lane}``)."""
    parts = range(LANE_SPLIT)
    lines = ["for j in range(D):", *(f"    {line}" for line in row_start), *(f"    h{q} = {matrix}[j, {q}]" for q in range(d)), f"    for lane in range(B // {LANE_SPLIT}):"]
    lines += [f"        l{p} = lane + {p} * (B // {LANE_SPLIT})" for p in parts]
    lines += [f"        a{p} = 0.0" for p in parts]
    lines += [f"        a{p} += h{q} * {vectors}[{q}, l{p}]" for q in range(d) for p in parts]
    for p in parts:
        lines += ["        " + line.format(acc=f"a{p}", lane=f"l{p}") for line in row.split("\n")]
    return "\n".join(lines)


def _product(matrix: str, vectors: str, out: str, d: int, minus: str = "") -> str:
    """``out = matrix @ vectors`` (``- minus[j]`` in row j, if given) for a (d, d) matrix and
    (d, B) blocks. Up to INLINE_PRODUCT_MAX weights every form adds in the same order (q = 0,
    1, ...), so gives the same bits as a plain loop; past it BLAS adds in its own order (with
    FMA), the same bits on one machine for any grid, but only equal to a plain loop to
    rounding."""
    subtract = f"\nfor j in range(D):\n    for lane in range(B):\n        {out}[j, lane] -= {minus}[j]" if minus else ""
    if d > INLINE_PRODUCT_MAX:
        return f"matmul({matrix}, {vectors}, {out}){subtract}"
    if d > REGISTER_SUM_MAX:
        return f"""for j in range(D):
    for lane in range(B):
        {out}[j, lane] = 0.0
    for q in range(D):
        h = {matrix}[j, q]
        for lane in range(B):
            {out}[j, lane] += h * {vectors}[q, lane]{subtract}"""
    # Adding into out[j, lane] q by q would load and store it d times: the stores, not the
    # multiply-adds, would set the pace.
    return _register_rows(matrix, vectors, d, f"{out}[j, {{lane}}] = {{acc}}" + (f" - {minus}[j]" if minus else ""))


def _mse_gradient(d: int, with_loss: bool) -> str:
    # g = H w - b, with H = (2/n) X^T X and b = (2/n) X^T y; v = w.(H w)/2 - b.w + mean(y**2)
    if not with_loss:
        # V stays 0, as for the log loss: the loss's sum over the weights, its loads and
        # stores of V in every row, are left out.
        return _product("DH", "W", "G", d, minus="DB")
    start = "for lane in range(B):\n    V[lane] = DC[1]\n"
    if d > REGISTER_SUM_MAX:
        return f"""{_product("DH", "W", "G", d, minus="DB")}
{start}for j in range(D):
    half_b = 0.5 * DB[j]
    for lane in range(B):
        V[lane] += W[j, lane] * (0.5 * G[j, lane] - half_b)"""
    # The same sums, with each row of g added into the loss as it is made (one pass over W).
    row = "g_j = {acc} - b_j\nG[j, {lane}] = g_j\nV[{lane}] += W[j, {lane}] * (0.5 * g_j - half_b)"
    return start + _register_rows("DH", "W", d, row, ("b_j = DB[j]", "half_b = 0.5 * b_j"))


def _sample_pass(sample: str) -> str:
    """The block's gradient through its predictions: Z = X W (one product), one pass over
    the samples running ``sample`` for each (sample i, lane) with y_i at hand, filling the
    losses V and turning ZB into the residuals' weights, then G = X^T ZB (one product)."""
    body = sample.replace("\n", "\n        ")
    return f"""matmul(DX, W, ZB)
inv_n = 1.0 / n_samples
for lane in range(B):
    V[lane] = 0.0
for i in range(n_samples):
    y_i = DY[i]
    for lane in range(B):
        {body}
matmul_tn(DX, ZB, G)"""


def _logloss_sample(with_loss: bool, with_curvature: bool, weight: str) -> str:
    # sigmoid and softplus from one e = exp(-|z|), overflow-free for every z; the loss and the
    # curvature p (1 - p) (the Hessian's weights) cost as much as the rest of the pass, so a
    # kernel that records neither skips them. ``weight`` is 1/n, or a mini-batch's weights.
    lines = ["z = ZB[i, lane]", "e = vexp_unit(-abs(z))", "q = 1.0 / (1.0 + e)", "p = q if z >= 0.0 else e * q"]
    if with_loss:
        lines += ["soft = max(z, 0.0) + vlog1p_unit(e)", "V[lane] += (soft - y_i * z) * inv_n"]
    if with_curvature:
        lines.append("SC[i, lane] = p * (1.0 - p)")
    lines.append(f"ZB[i, lane] = (p - y_i) * {weight}")
    return "\n".join(lines)


def _logloss_gradient(with_loss: bool, with_curvature: bool) -> str:
    # z = X w and g = X^T (sigmoid(z) - y) / n
    return _sample_pass(_logloss_sample(with_loss, with_curvature, "inv_n"))


def _batched_gradient(mse: bool, with_curvature: bool) -> str:
    # A mini-batch gradient from the batch's weights MB[i, lane] (1/|batch| for the lane's
    # batch, 0 elsewhere); the loss is the full one (the run's objective).
    if mse:
        return _sample_pass("r = ZB[i, lane] - y_i\nV[lane] += r * r * inv_n\nZB[i, lane] = 2.0 * r * MB[i, lane]")
    return _sample_pass(_logloss_sample(True, with_curvature, "MB[i, lane]"))


_LOGLOSS_HVP = """
# H x = X^T (p (1 - p) X x) / n
matmul(DX, PX, ZB)
inv_n = 1.0 / n_samples
for i in range(n_samples):
    for lane in range(B):
        ZB[i, lane] = SC[i, lane] * ZB[i, lane] * inv_n
matmul_tn(DX, ZB, HX)
"""


def model_problem(model, with_loss: bool = True, with_curvature: bool = True, batched: bool = False) -> BlockProblem:
    """The BlockProblem of a ``sweep.problems.models.Model``: its gradient and Hessian-vector
    product as loops over the data with the lanes innermost.

    Args:
        model: the Model (``kind`` 0 for MSE, 1 for log loss; ``n_weights`` d).
        with_loss: fill the block's losses ``V`` at every step (the dynamics columns and the
            noisy outcomes need them; without, V stays 0 and the kernel skips the work).
        with_curvature: keep what the Hessian-vector product needs (the sharpness).
        batched: the gradient of each lane's mini-batch (``sweep.optim.batches``), from the
            weights ``MB`` the kernel fills at every step; the loss is still the full one.
    """
    mse = model.kind == 0
    d = model.n_weights
    if batched:
        gradient = _batched_gradient(mse, with_curvature)
    else:
        gradient = _mse_gradient(d, with_loss) if mse else _logloss_gradient(with_loss, with_curvature)
    return BlockProblem(
        d=d,
        kind="mse" if mse else "logloss",
        gradient_code=gradient,
        hvp_code=_product("DH", "PX", "HX", d) if mse else _LOGLOSS_HVP.strip("\n"),
        hessian_constant=mse,
        description=f"{model.name} on {model.n_samples} samples x {d} weights",
        weights=tuple(model.feature_names),
    )
