"""The kernels of sweep 0.1 (before the generator): gd on the quadratic loss, and gd on a
model with a weight vector, one run per task. Baselines that the benchmark runs beside
today's kernels in the same process, so that "no slower than before" and "4x faster than
before" are ratios measured on the same machine at the same moment.

It is the one-piece lockstep template that the generator replaced, with the loss of the
teaching example compiled in: lanes advance one step per pass in lockstep blocks, a stopped
lane stays masked until its whole block is done.
"""

import numpy as np
from numba import njit, prange

from sweep.kernels.models import model_grad
from sweep.outcomes import CONVERGED, CYCLING, DIVERGED, MAX_ITER, NAN, STALLED


@njit(cache=True, error_model="numpy")
def loss_value(w, p):
    a, c, b = p
    return a * (w - c) ** 2 + b


@njit(cache=True, error_model="numpy")
def loss_grad(w, p):
    a, c, b = p
    return 2 * a * (w - c)


BLOCK = 128
DBL_MAX = 1.7976931348623157e308


@njit(cache=True, error_model="numpy")
def _classify(v, g, wn, wi, saved, bound, tol, at_max_iter):
    """Outcome of one run at one iteration, in the order the teaching loop checks it, after
    the one test it lacks: a loss undefined at the iterate (NaN) ends the run whatever the
    gradient says (sqrt(w)'s gradient can be finite where the loss is not)."""
    if v != v:
        return NAN
    if abs(g) <= tol:
        return CONVERGED
    if g != g:
        return NAN
    if at_max_iter:
        return MAX_ITER
    if not (abs(wn) <= bound):  # also true for NaN and inf, with or without fastmath
        return DIVERGED
    if wn == wi:
        return STALLED
    if wn == saved:
        return CYCLING
    return -1


@njit(cache=True, error_model="numpy")
def _descend_block(start, stop, lr, w0, p, max_iter, tol, div_factor, n_iter, w_out, outcome, crossed_out):
    """Run runs start..stop-1 (at most BLOCK of them) to their stops, in lockstep.

    Every lane takes the same iteration k at the same time, so the lane loop has no
    per-lane control flow and vectorizes; a lane that stops is masked, and the rare
    iterations in which some lane stops are classified by a scalar pass over the buffers
    the vector pass filled (never recomputed, so both passes see the same bits).
    """
    m = stop - start
    w = np.empty(BLOCK)
    lrs = np.empty(BLOCK)
    bound = np.empty(BLOCK)
    saved = np.empty(BLOCK)
    g_buf = np.zeros(BLOCK)  # also the previous step's gradient, for the oscillation test
    v_buf = np.empty(BLOCK)
    wn_buf = np.empty(BLOCK)
    event = np.empty(BLOCK, np.bool_)
    active = np.empty(BLOCK, np.bool_)
    # The least product of two successive gradients: negative once the gradient changed
    # sign (the run oscillated). A running min is one vector instruction a step.
    swing = np.zeros(BLOCK)
    for lane in range(BLOCK):
        run = start + (lane if lane < m else 0)  # padding lanes copy a real run and stay masked
        w[lane] = w0[run]
        lrs[lane] = lr[run]
        # Capped at the largest double, so that an infinite iterate is always past it.
        bound[lane] = min(div_factor * max(1.0, abs(w0[run])), DBL_MAX)
        active[lane] = lane < m
    n_active = m
    k = 0
    while n_active > 0:
        # Brent's cycle check: compare each new iterate with the one saved at the last power
        # of two; any cycle of period <= 2**j entered before step 2**j is caught by 2**(j+1).
        if k & (k - 1) == 0:
            for lane in range(BLOCK):
                saved[lane] = w[lane]
        any_event = False
        if k < max_iter:
            for lane in range(BLOCK):
                wi = w[lane]
                g = loss_grad(wi, p)  
                v = loss_value(wi, p)
                wn = wi - lrs[lane] * g
                # One comparison per test: "not (|g| > tol)" also holds for a NaN gradient and
                # "not (|wn| <= bound)" for a NaN or infinite iterate; _classify tells them apart.
                ev = (not (abs(g) > tol)) | (not (abs(wn) <= bound[lane])) | (wn == wi) | (wn == saved[lane]) | (v != v)
                ev = ev & active[lane]
                swing[lane] = min(swing[lane], g * g_buf[lane])
                g_buf[lane] = g
                v_buf[lane] = v
                wn_buf[lane] = wn
                event[lane] = ev
                w[lane] = wi if ev else wn
                any_event |= ev
        else:
            # The last iteration: no update, every active run stops here.
            for lane in range(BLOCK):
                g = loss_grad(w[lane], p)
                swing[lane] = min(swing[lane], g * g_buf[lane])
                g_buf[lane] = g
                v_buf[lane] = loss_value(w[lane], p)
                event[lane] = True
            any_event = True
        if any_event:
            for lane in range(m):
                if not (active[lane] and event[lane]):
                    continue
                status = _classify(v_buf[lane], g_buf[lane], wn_buf[lane], w[lane], saved[lane], bound[lane], tol, k == max_iter)
                if status == -1:
                    continue
                run = start + lane
                moved = status == DIVERGED or status == CYCLING
                w_out[run] = wn_buf[lane] if moved else w[lane]
                n_iter[run] = k + 1 if moved else k
                outcome[run] = status
                crossed_out[run] = swing[lane] < 0.0
                active[lane] = False
                n_active -= 1
        k += 1


@njit(cache=True, parallel=True, error_model="numpy")
def descend(lr, w0, p, max_iter, tol, div_factor, n_workers, n_iter, w_out, outcome, crossed_out):
    """Run every (lr[i], w0[i]) pair to its stop; fills n_iter, w_out, outcome and
    crossed_out (the gradient changed sign at some step: the run oscillated) in place.

    Blocks of BLOCK consecutive runs are dealt round-robin to the threads: neighbouring runs
    of an lr-major grid cost about the same, so every thread gets its share of slow and fast
    learning rates. Each run's result depends on that run alone, never on the thread count.
    """
    n = lr.size
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_workers = max(1, min(n_workers, n_blocks))
    for worker in prange(n_workers):
        for block in range(worker, n_blocks, n_workers):
            start = block * BLOCK
            _descend_block(start, min(n, start + BLOCK), lr, w0, p, max_iter, tol, div_factor, n_iter, w_out, outcome, crossed_out)


@njit(cache=True, error_model="numpy")
def _descend_model_one(kind, lr, w0, H, b, X, y, max_iter, tol, div_factor, w, wn, g, saved):
    """One run of gd on a model, as sweep 0.1's model template ran it (its opt_step for gd
    inlined: direction g, no state)."""
    d = w.size
    for j in range(d):
        w[j] = w0
    bound = min(div_factor * max(1.0, abs(w0)), DBL_MAX)
    k = 0
    while True:
        if k & (k - 1) == 0:
            for j in range(d):
                saved[j] = w[j]
        model_grad(kind, w, H, b, X, y, g)
        largest = 0.0
        has_nan = False
        for j in range(d):
            size = abs(g[j])
            has_nan |= size != size
            largest = max(largest, size)
        if has_nan:
            return k, NAN
        outside = False
        same = True
        repeat = True
        for j in range(d):
            wn[j] = w[j] - lr * g[j]
            outside |= not (abs(wn[j]) <= bound)
            same &= wn[j] == w[j]
            repeat &= wn[j] == saved[j]
        if largest <= tol:
            return k, CONVERGED
        if k == max_iter:
            return k, MAX_ITER
        if outside:
            for j in range(d):
                w[j] = wn[j]
            return k + 1, DIVERGED
        if same:
            return k, STALLED
        for j in range(d):
            w[j] = wn[j]
        if repeat:
            return k + 1, CYCLING
        k += 1


@njit(cache=True, parallel=True, error_model="numpy")
def descend_model(kind, lr, w0, H, b, X, y, max_iter, tol, div_factor, n_workers, n_iter, W_out, outcome):
    """Every run i (lr[i], w0[i]) of gd on a model (kind 0: MSE through H = (2/n) X^T X and
    b = (2/n) X^T y; kind 1: log loss through X and y), one run per task, runs dealt
    round-robin to n_workers threads; fills n_iter, W_out (runs, d) and outcome in place."""
    n_runs = lr.size
    d = W_out.shape[1]
    n_workers = max(1, min(n_workers, n_runs))
    for worker in prange(n_workers):
        w, wn, g, saved = np.empty(d), np.empty(d), np.empty(d), np.empty(d)
        for run in range(worker, n_runs, n_workers):
            n_iter[run], outcome[run] = _descend_model_one(kind, lr[run], w0[run], H, b, X, y, max_iter, tol, div_factor, w, wn, g, saved)
            for j in range(d):
                W_out[run, j] = w[j]
