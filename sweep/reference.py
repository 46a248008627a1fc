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


def _sign(x: float) -> float:
    return 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0)


def optimizer_step(name: str, h: dict, w: float, g: float, state: dict) -> tuple[float, dict]:
    """One optimizer's direction ``d`` (the kernel then takes ``w - lr * d``) and new state, for
    one weight, written out from the papers (see ``sweep.optim.optimizers`` for the sources).

    ``state`` holds the slots (``m``, ``v``) and Adam's running products ``b1t``, ``b2t``
    (b1**t and b2**t at step t, kept as products as the kernel keeps them).
    """
    if name == "gd":
        return g, state
    if name in ("momentum", "nesterov"):
        m = h["momentum"] * state["m"] + g
        return (m if name == "momentum" else g + h["momentum"] * m), {"m": m}
    if name in ("adam", "adamw"):
        b1t, b2t = state["b1t"] * h["b1"], state["b2t"] * h["b2"]
        m = h["b1"] * state["m"] + (1.0 - h["b1"]) * g
        v = h["b2"] * state["v"] + (1.0 - h["b2"]) * (g * g)
        d = (m / (1.0 - b1t)) / (math.sqrt(v / (1.0 - b2t)) + h["eps"])
        if name == "adamw":
            d = d + h["weight_decay"] * w
        return d, {"m": m, "v": v, "b1t": b1t, "b2t": b2t}
    if name == "rmsprop":
        v = h["rho"] * state["v"] + (1.0 - h["rho"]) * (g * g)
        return g / (math.sqrt(v) + h["eps"]), {"v": v}
    if name == "lion":
        d = _sign(h["b1"] * state["m"] + (1.0 - h["b1"]) * g) + h["weight_decay"] * w
        return d, {"m": h["b2"] * state["m"] + (1.0 - h["b2"]) * g}
    raise ValueError(f"no reference for optimizer {name!r}")


INITIAL_STATE = {"momentum": {"m": 0.0}, "nesterov": {"m": 0.0}, "adam": {"m": 0.0, "v": 0.0, "b1t": 1.0, "b2t": 1.0}, "rmsprop": {"v": 0.0}, "lion": {"m": 0.0}}
INITIAL_STATE["adamw"] = INITIAL_STATE["adam"]


def seen_state(name: str, h: dict, state: dict) -> tuple:
    """The state as the next step sees it: each slot times the coefficient that multiplies it
    in the update (momentum 0 cannot delay a stall), then Adam's running products."""
    decay = {"momentum": ("momentum",), "nesterov": ("momentum",), "adam": ("b1", "b2"), "adamw": ("b1", "b2"), "rmsprop": ("rho",), "lion": ("b2",)}.get(name, ())
    slots = [key for key in state if key in ("m", "v")]
    return tuple(h[c] * state[s] for c, s in zip(decay, slots)) + tuple(state[k] for k in ("b1t", "b2t") if k in state)


def optimizer_run(
    name: str,
    lr: float,
    w0,
    grad: Callable,
    hyper: dict | None = None,
    max_iter: int = 100,
    tol: float = 0.0,
    div_factor: float = 1e8,
    value: Callable | None = None,
    lr_at: Callable[[int], float] | None = None,
    grad_at: Callable[[int, tuple], tuple] | None = None,
) -> tuple[int, tuple[float, ...], str]:
    """One run of any optimizer on any number of weights, with sweep's outcome rules.

    Args:
        name: an optimizer of ``sweep.optim.optimizers.OPTIMIZERS``. hyper: its
            hyperparameters by name (defaults filled in). w0: a float or a sequence of floats
            (one per weight). grad: the gradient, a tuple of floats -> a tuple of floats (a
            float -> a float for one weight). value: the loss, same argument (a NaN loss stops
            the run as nan). lr_at: the learning rate at step k (default: ``lr`` throughout).
            grad_at: a stochastic gradient ``grad_at(k, w)`` (mini-batches) used instead of
            ``grad``: the run then stops only as nan, max_iter or diverged.

    At step k: nan if the loss is NaN; converged if every |g| <= tol and every |d| <= tol;
    nan if a gradient is NaN; max_iter at k == max_iter; after the update, diverged if some
    |w| left ``div_factor * max(1, max |w0|)``; stalled if no weight and no seen state moved;
    cycling if weights and seen state equal those saved at the last power of two (Brent 1980).

    Returns:
        ``(n_iter, w, outcome_name)``, w a tuple with one float per weight.
    """
    from sweep.optim.optimizers import OPTIMIZERS

    h = {**OPTIMIZERS[name].defaults(), **(hyper or {})}
    one = not isinstance(w0, (tuple, list))
    w = (float(w0),) if one else tuple(float(x) for x in w0)
    call = (lambda f, x: (f(x[0]),)) if one else (lambda f, x: tuple(f(x)))
    states = [dict(INITIAL_STATE.get(name, {})) for _ in w]
    bound = min(div_factor * max(1.0, *(abs(x) for x in w)), sys.float_info.max)
    k = 0
    while True:
        seen = [seen_state(name, h, s) for s in states]
        if k & (k - 1) == 0:
            saved = (w, seen)
        g = call(grad, w) if grad_at is None else tuple(grad_at(k, w))
        steps = [optimizer_step(name, h, wj, gj, sj) for wj, gj, sj in zip(w, g, states)]
        d = [step[0] for step in steps]
        new_states = [step[1] for step in steps]
        rate = lr if lr_at is None else lr_at(k)
        new = tuple(wj - rate * dj for wj, dj in zip(w, d))
        new_seen = [seen_state(name, h, s) for s in new_states]
        if value is not None and math.isnan(value(w[0]) if one else value(w)):
            return k, w, OUTCOMES[NAN]
        if grad_at is None and all(abs(x) <= tol for x in g) and all(abs(x) <= tol for x in d):
            return k, w, OUTCOMES[CONVERGED]
        if any(math.isnan(x) for x in g):
            return k, w, OUTCOMES[NAN]
        if k == max_iter:
            return k, w, OUTCOMES[MAX_ITER]
        if not all(abs(x) <= bound for x in new):
            return k + 1, new, OUTCOMES[DIVERGED]
        if grad_at is None and new == w and new_seen == seen:
            return k, w, OUTCOMES[STALLED]
        if grad_at is None and (new, new_seen) == saved:
            return k + 1, new, OUTCOMES[CYCLING]
        w, states = new, new_states
        k += 1
