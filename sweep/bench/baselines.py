"""The implementations sweep's kernel is measured against, all with sweep's outcome rules.

Each function takes flat per-run arrays ``lr`` and ``w0`` (1-D float64, one entry per run) and
returns ``(n_iter, w, outcome)``: int64 updates applied, float64 final weight, int8 outcome
codes of ``sweep.outcomes``. They are written the way a careful person would write them
first: the teaching loop in Python, NumPy over all runs with an active mask, and one scalar
while-loop per run under Numba's ``prange``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from numba import get_num_threads, njit, prange

from sweep.kernels import trig
from sweep.outcomes import CONVERGED, CYCLING, DIVERGED, MAX_ITER, NAN, OUTCOMES, STALLED
from sweep.problems.formula import W
from sweep.problems.losses import Loss
from sweep.reference import reference_run


def trig_with(array_module) -> tuple:
    """sweep's sin and cos with ``np`` bound to another array module (jax.numpy): the same
    code, hence the same arithmetic, on that module's arrays."""
    import types

    scope = dict(vars(trig), np=array_module)
    # Every plain Python function of the module, rebound (the helpers call each other).
    for name, value in vars(trig).items():
        if isinstance(value, types.FunctionType) and value.__module__ == trig.__name__:
            scope[name] = types.FunctionType(value.__code__, scope, name, value.__defaults__)
    return scope["sin"], scope["cos"]


def _gradient_function(loss: Loss, module: str):
    # sin and cos are sweep's own (the kernel's arithmetic, in Python, NumPy or JAX), so every
    # implementation computes the same bits and the agreement check can demand equality.
    values = {sp.Symbol(name, real=True): value for name, value in loss.params}
    if module == "jax":
        import jax.numpy as jnp

        sin, cos = trig_with(jnp)
    else:
        sin, cos = trig.sin, trig.cos
    return sp.lambdify(W, loss.grad_expr.subs(values), modules=[{"sin": sin, "cos": cos}, module])


def python_runs(lr, w0, loss: Loss, max_iter: int, tol: float, div_factor: float):
    """The teaching loop with sweep's outcome tests, one run at a time in plain Python."""
    plain = _gradient_function(loss, "math")
    ieee = _gradient_function(loss, "numpy")

    def grad(w):
        try:
            return plain(w)
        except (ZeroDivisionError, ValueError, OverflowError):
            # Python raises where IEEE arithmetic (and the kernel) gives inf or NaN.
            with np.errstate(all="ignore"):
                return float(ieee(np.float64(w)))
    n = lr.size
    n_iter, w, outcome = np.empty(n, np.int64), np.empty(n), np.empty(n, np.int8)
    codes = {name: code for code, name in enumerate(OUTCOMES)}
    for i in range(n):
        n_iter[i], w[i], name = reference_run(float(lr[i]), float(w0[i]), grad, max_iter, tol, div_factor)
        outcome[i] = codes[name]
    return n_iter, w, outcome


def numpy_runs(lr, w0, loss: Loss, max_iter: int, tol: float, div_factor: float):
    """All runs advanced together as NumPy arrays; finished runs are masked, not removed."""
    grad = _gradient_function(loss, "numpy")
    n = lr.size
    w = w0.astype(np.float64).copy()
    saved = w.copy()
    bound = div_factor * np.maximum(1.0, np.abs(w0))
    n_iter = np.zeros(n, np.int64)
    outcome = np.full(n, -1, np.int8)
    active = np.ones(n, bool)

    def stop(where, code, count):
        outcome[where] = code
        n_iter[where] = count
        active[where] = False

    k = 0
    while active.any():
        if k & (k - 1) == 0:
            np.copyto(saved, w, where=active)
        with np.errstate(all="ignore"):  # inf and NaN are outcomes here, not errors
            g = grad(w) + np.zeros(n)  # a constant gradient formula returns a scalar
            stop(active & (np.abs(g) <= tol), CONVERGED, k)
            stop(active & np.isnan(g), NAN, k)
            if k == max_iter:
                stop(active, MAX_ITER, k)
                break
            wn = w - lr * g
            diverged = active & ~(np.abs(wn) <= bound)
            stalled = active & ~diverged & (wn == w)
            cycling = active & ~diverged & ~stalled & (wn == saved)
        moved = active & ~stalled
        np.copyto(w, wn, where=moved)
        stop(diverged, DIVERGED, k + 1)
        stop(stalled, STALLED, k)
        stop(cycling, CYCLING, k + 1)
        k += 1
    return n_iter, w, outcome


@njit(parallel=True, error_model="numpy")
def _plain_numba(lr, w0, grad, p, max_iter, tol, div_factor, n_iter, w_out, outcome):
    for i in prange(lr.size):
        w = w0[i]
        bound = div_factor * max(1.0, abs(w0[i]))
        saved = w
        k = 0
        status = MAX_ITER
        while True:
            if k & (k - 1) == 0:
                saved = w
            g = grad(w, p)
            if abs(g) <= tol:
                status = CONVERGED
                break
            if g != g:
                status = NAN
                break
            if k == max_iter:
                status = MAX_ITER
                break
            wn = w - lr[i] * g
            if not (abs(wn) <= bound):
                status, w, k = DIVERGED, wn, k + 1
                break
            if wn == w:
                status = STALLED
                break
            if wn == saved:
                status, w, k = CYCLING, wn, k + 1
                break
            w = wn
            k += 1
        n_iter[i] = k
        w_out[i] = w
        outcome[i] = status


def loss_gradient(loss: Loss):
    """The loss's gradient as a jitted ``grad(w, p)`` (p the tuple of parameter values): the
    kernel's own code for it, so that baselines agree with sweep bit for bit."""
    from sweep.run.executor import kernel_of
    from sweep.run.plan import plan_sweep

    return _GRADIENTS.setdefault(loss, _wrap(kernel_of(plan_sweep([1.0], [0.0], loss=loss))._gradient))


_GRADIENTS: dict = {}


def _wrap(gradient):
    @njit(cache=False, error_model="numpy")
    def grad(w, p):
        return gradient(w, *p)[0]

    return grad


def plain_numba_runs(lr, w0, loss: Loss, max_iter: int, tol: float, div_factor: float):
    """One scalar while-loop per run under ``prange``: the obvious Numba kernel."""
    grad = loss_gradient(loss)
    n = lr.size
    n_iter, w, outcome = np.empty(n, np.int64), np.empty(n), np.empty(n, np.int8)
    _plain_numba(lr, w0, grad, loss.param_values, max_iter, tol, div_factor, n_iter, w, outcome)
    return n_iter, w, outcome


def jax_runs_factory():
    """JAX (jit + vmap, float64) version, or None with the reason when JAX is not installed."""
    try:
        import jax
    except ImportError:
        return None, "JAX is not installed (pip install -e '.[bench]' adds it)"
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def build(loss: Loss, max_iter: int, tol: float, div_factor: float):
        grad = _gradient_function(loss, "jax")

        def one_run(lr, w0):
            bound = div_factor * jnp.maximum(1.0, jnp.abs(w0))

            def running(state):
                return state[4] < 0

            def step(state):
                w, saved, k, _, status = state
                saved = jnp.where((k & (k - 1)) == 0, w, saved)
                g = grad(w) + 0.0 * w
                wn = w - lr * g
                status = jnp.select(
                    [jnp.abs(g) <= tol, jnp.isnan(g), k == max_iter, ~(jnp.abs(wn) <= bound), wn == w, wn == saved],
                    [CONVERGED, NAN, MAX_ITER, DIVERGED, STALLED, CYCLING],
                    -1,
                )
                moves = (status == -1) | (status == DIVERGED) | (status == CYCLING)
                return jnp.where(moves, wn, w), saved, jnp.where(moves, k + 1, k), g, status

            w, _, k, _, status = jax.lax.while_loop(running, step, (w0, w0, jnp.int64(0), 0.0 * w0, jnp.int64(-1)))
            return k, w, status

        batched = jax.jit(jax.vmap(one_run))

        def runs(lr, w0):
            k, w, status = batched(jnp.asarray(lr), jnp.asarray(w0))
            return np.asarray(k, np.int64), np.asarray(w), np.asarray(status, np.int8)

        return runs

    return build, None


@njit(parallel=True, error_model="numpy")
def _bare_updates(lr, w0, c, n_steps, w_out):
    # The arithmetic of the teaching update alone, in lockstep blocks with no stopping tests:
    # an estimate of the machine's ceiling for this update (what vector units can do).
    n = lr.size
    block = 128
    n_blocks = n // block
    for b in prange(n_blocks):
        w = w0[b * block : (b + 1) * block].copy()
        rate = lr[b * block : (b + 1) * block]
        for _ in range(n_steps):
            for lane in range(block):
                w[lane] = w[lane] - rate[lane] * (2.0 * (w[lane] - c))
        w_out[b * block : (b + 1) * block] = w


@njit(parallel=True, error_model="numpy")
def _bare_lockstep(lr, w0, max_iter, tol, div_factor, n_iter, w_out, outcome):
    # The bare lockstep kernel of the teaching loss: blocks of 128 runs in lockstep, a stopped
    # lane masked until its block is done, and only three tests: |g| <= tol, |w| past the
    # bound, max_iter. A vector pass notes whether a test fired; the rare steps in which one
    # did are classified by a scalar pass (sweep 0.1's design, without its other tests).
    # prange hands each thread one contiguous range of its iterations, and a grid's slow runs
    # sit together (small learning rates first): so each iteration is a share of strided
    # blocks (share s: blocks s, s + n_shares, ...), and every thread gets slow and fast runs
    # alike, as sweep's workers do. Contiguous blocks left one of two threads idle for most
    # of case (a).
    block = 128
    n_blocks = -(-lr.size // block)
    n_shares = min(n_blocks, 4 * get_num_threads())
    for share in prange(n_shares):
        for b in range(share, n_blocks, n_shares):
            _bare_block(lr, w0, b * block, block, max_iter, tol, div_factor, n_iter, w_out, outcome)


@njit(inline="always", error_model="numpy")
def _bare_block(lr, w0, start, block, max_iter, tol, div_factor, n_iter, w_out, outcome):
    m = min(block, lr.size - start)
    w = np.empty(block)
    rate = np.empty(block)
    bound = np.empty(block)
    active = np.zeros(block, np.bool_)
    event = np.zeros(block, np.bool_)
    for lane in range(block):
        run = start + (lane if lane < m else 0)
        w[lane] = w0[run]
        rate[lane] = lr[run]
        bound[lane] = min(div_factor * max(1.0, abs(w0[run])), 1.7976931348623157e308)
        active[lane] = lane < m
    k = 0
    n_active = m
    while n_active > 0:
        if k == max_iter:
            for lane in range(m):
                if active[lane]:
                    g = 2.0 * (w[lane] - 1.0)
                    n_iter[start + lane] = k
                    w_out[start + lane] = w[lane]
                    outcome[start + lane] = CONVERGED if abs(g) <= tol else MAX_ITER
            break
        any_event = False
        for lane in range(block):
            wi = w[lane]
            g = 2.0 * (wi - 1.0)
            wn = wi - rate[lane] * g
            ev = ((abs(g) <= tol) | (not (abs(wn) <= bound[lane]))) & active[lane]
            event[lane] = ev
            w[lane] = wi if ev else wn
            any_event |= ev
        if any_event:
            for lane in range(m):
                if event[lane]:
                    g = 2.0 * (w[lane] - 1.0)
                    converged = abs(g) <= tol
                    n_iter[start + lane] = k if converged else k + 1
                    w_out[start + lane] = w[lane] if converged else w[lane] - rate[lane] * g
                    outcome[start + lane] = CONVERGED if converged else DIVERGED
                    active[lane] = False
                    n_active -= 1
        k += 1


def bare_lockstep_runs(lr, w0, loss, max_iter, tol, div_factor):
    """The bare lockstep kernel on the teaching loss (``_bare_lockstep``): converged, diverged
    and max_iter only, so stalled and cycling runs run on to max_iter."""
    n = lr.size
    n_iter, w, outcome = np.empty(n, np.int64), np.empty(n), np.empty(n, np.int8)
    _bare_lockstep(np.ascontiguousarray(lr), np.ascontiguousarray(w0), max_iter, tol, div_factor, n_iter, w, outcome)
    return n_iter, w, outcome


def bare_update_rate(n_runs: int = 1 << 16, n_steps: int = 2000) -> tuple[float, float]:
    """(seconds, steps) of ``n_steps`` bare teaching updates on ``n_runs`` runs."""
    import time

    lr = np.full(n_runs, 1e-4)
    w0 = np.linspace(-2, 3, n_runs)
    out = np.empty(n_runs)
    _bare_updates(lr[:128], w0[:128], 1.0, 2, out)
    started = time.perf_counter()
    _bare_updates(lr, w0, 1.0, n_steps, out)
    return time.perf_counter() - started, float(n_runs) * n_steps


def numpy_model_runs(model, lr, w0, max_iter: int, tol: float, div_factor: float):
    """Full-batch gradient descent on a model, all runs at once in NumPy: the runs are the
    columns of one weight matrix W (d, runs), each step's gradient is BLAS matrix products
    (``H @ W - b`` for MSE with ``H = (2/n) X^T X``; ``X^T (sigmoid(X W) - y) / n`` for log
    loss), and runs that stop leave the matrix. Tests converged (every |g_j| <= tol), NaN,
    max_iter and diverged (|w_j| past the bound), in the teaching loop's order.

    Args:
        model: a ``sweep.problems.models.Model``.
        lr, w0: 1-D float64 arrays, one entry per run (every weight starts at w0).

    Returns:
        ``(n_iter, W_end, outcome)``: int64 (runs,), float64 (runs, d), int8 (runs,).
    """
    from sweep.run.executor import model_data

    X, y, H, b, _ = model_data(model)
    n, d = X.shape
    lr, w0 = np.asarray(lr, np.float64), np.asarray(w0, np.float64)
    runs = lr.size
    n_iter, outcome, ends = np.zeros(runs, np.int64), np.full(runs, -1, np.int8), np.empty((runs, d))
    active = np.arange(runs)
    weights = np.repeat(w0[None, :], d, axis=0)
    bound = np.minimum(div_factor * np.maximum(1.0, np.abs(w0)), np.finfo(np.float64).max)
    with np.errstate(all="ignore"):
        for k in range(max_iter + 1):
            if model.kind == 0:
                grad = H @ weights - b[:, None]
            else:
                grad = X.T @ (1.0 / (1.0 + np.exp(-(X @ weights))) - y[:, None]) / n
            moved = weights - lr[active] * grad
            converged = (np.abs(grad) <= tol).all(axis=0)
            nan = ~converged & np.isnan(grad).any(axis=0)
            at_max = ~converged & ~nan & (k == max_iter)
            diverged = ~converged & ~nan & ~at_max & (~(np.abs(moved) <= bound[active])).any(axis=0)
            stopped = converged | nan | at_max | diverged
            if stopped.any():
                where = active[stopped]
                codes = np.where(converged, CONVERGED, np.where(nan, NAN, np.where(at_max, MAX_ITER, DIVERGED)))[stopped]
                outcome[where] = codes
                n_iter[where] = k + (codes == DIVERGED)
                ends[where] = np.where(codes == DIVERGED, moved[:, stopped], weights[:, stopped]).T
            keep = ~stopped
            active, weights = active[keep], moved[:, keep]
            if active.size == 0:
                break
    return n_iter, ends, outcome


def matmul_gflops(size: int = 1500, repeats: int = 3) -> float:
    """The machine's float64 matrix-multiply rate through NumPy's BLAS (all its threads), in
    GFLOP/s: the best of ``repeats`` products of two (size, size) matrices."""
    import time

    a, c = np.random.default_rng(0).standard_normal((2, size, size))
    best = np.inf
    for _ in range(repeats):
        started = time.perf_counter()
        a @ c
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / best / 1e9


IMPLEMENTATIONS = {"python": python_runs, "numpy": numpy_runs, "numba-plain": plain_numba_runs}
__all__ = ["IMPLEMENTATIONS", "bare_lockstep_runs", "bare_update_rate", "jax_runs_factory", "matmul_gflops", "numpy_model_runs"]
