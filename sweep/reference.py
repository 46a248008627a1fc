"""Slow, readable versions of one descent run: the ground truth the kernels are tested against.

``teaching_loop`` is the classic teaching example as it is usually written; ``reference_run``
adds sweep's outcome tests (diverged, stalled, cycling, nan) to it in the same plain style.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

from sweep.outcomes import CONVERGED, CYCLING, DIVERGED, MAX_ITER, NAN, OUTCOMES, STALLED


def teaching_grad(w: float) -> float:
    """Gradient of the teaching loss ``(w-1)**2 + 2``: ``2*(w-1)``."""
    return 2 * (w - 1)


def teaching_loop(lr: float, w0: float, max_iter: int = 100, tol: float = 0.0, grad=teaching_grad) -> tuple[int, float, list[float]]:
    """The classic example: ``w <- w - lr*grad(w)`` until ``|grad| <= tol`` or max_iter updates.

    Args:
        lr: learning rate. w0: initial weight. max_iter: most updates. tol: gradient tolerance
            (0 means "stop when the gradient is exactly 0"). grad: the gradient, float -> float.

    Returns:
        ``(n_iter, w, path)``: updates applied, the final weight, and every iterate from w0.
    """
    w = w0
    path = [w]
    k = 0
    while True:
        if abs(grad(w)) <= tol:
            break
        if k == max_iter:
            break
        w = w - lr * grad(w)
        path.append(w)
        k += 1
    return k, w, path


def reference_run(
    lr: float,
    w0: float,
    grad: Callable[[float], float] = teaching_grad,
    max_iter: int = 100,
    tol: float = 0.0,
    div_factor: float = 1e8,
    value: Callable[[float], float] | None = None,
) -> tuple[int, float, str]:
    """One run with sweep's outcome rules, written as plainly as possible.

    At iteration k (updates applied so far): nan if the loss ``value`` (when given) is NaN
    at the iterate; converged if |grad| <= tol; nan if grad is NaN;
    max_iter if k == max_iter; else update, then diverged if |w| left
    ``div_factor * max(1, |w0|)``, stalled if w did not move, cycling if w equals the iterate
    saved at the last power of two (Brent, "An improved Monte Carlo factorization algorithm",
    BIT 1980: every cycle is caught within about twice its period and start).

    Returns:
        ``(n_iter, w, outcome_name)``, with the counting rules of ``sweep.outcomes``.
    """
    bound = min(div_factor * max(1.0, abs(w0)), sys.float_info.max)
    w = w0
    k = 0
    while True:
        if k & (k - 1) == 0:  # k = 0, 1, 2, 4, 8, ...
            saved = w
        g = grad(w)
        if value is not None and math.isnan(value(w)):
            return k, w, OUTCOMES[NAN]
        if abs(g) <= tol:
            return k, w, OUTCOMES[CONVERGED]
        if math.isnan(g):
            return k, w, OUTCOMES[NAN]
        if k == max_iter:
            return k, w, OUTCOMES[MAX_ITER]
        new = w - lr * g
        if not abs(new) <= bound:
            return k + 1, new, OUTCOMES[DIVERGED]
        if new == w:
            return k, w, OUTCOMES[STALLED]
        if new == saved:
            return k + 1, new, OUTCOMES[CYCLING]
        w = new
        k += 1
