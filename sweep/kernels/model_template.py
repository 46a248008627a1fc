# Kernel template for models with a weight vector: full-batch descent, one run per task.
#
# Follows a generated header that defines opt_step (sweep.optimizers), applied to every
# weight component. Same stopping rules as the one-weight kernels, on vectors: converged when
# max_j |g_j| <= tol and every component's direction |d_j| <= tol; nan when a gradient
# component is NaN; max_iter; diverged when some |w_j| leaves div_factor * max(1, |w0|) (or
# becomes NaN/inf); stalled when no component of w or of the state moves; cycling when w and
# the state equal those saved at the last power of two (Brent). Runs are dealt round-robin
# to the threads and each run's arithmetic is fixed: results do not depend on thread count.

import numpy as np
from numba import njit, prange

from sweep.kernels.models import model_grad
from sweep.outcomes import CONVERGED, CYCLING, DIVERGED, MAX_ITER, NAN, STALLED


@njit(cache=True, error_model="numpy")
def _descend_one(kind, lr, w0, h0, h1, h2, state0, H, b, X, y, max_iter, tol, div_factor, w, wn, g, s, new, saved):
    d = w.size
    for j in range(d):
        w[j] = w0
        for q in range(4):
            s[q, j] = state0[q]
    bound = min(div_factor * max(1.0, abs(w0)), 1.7976931348623157e308)
    crossed = False
    g_prev = np.zeros(d)
    k = 0
    while True:
        if k & (k - 1) == 0:
            for j in range(d):
                saved[0, j] = w[j]
                saved[1, j], saved[2, j], saved[3, j], saved[4, j] = opt_effective(s[0, j], s[1, j], s[2, j], s[3, j], h0, h1, h2)  # noqa: F821
        model_grad(kind, w, H, b, X, y, g)
        largest = 0.0
        has_nan = False
        for j in range(d):
            size = abs(g[j])
            has_nan |= size != size
            largest = max(largest, size)
            crossed |= g[j] * g_prev[j] < 0.0
            g_prev[j] = g[j]
        if has_nan:
            return k, NAN, crossed
        outside = False
        same = True
        repeat = True
        resting = True
        for j in range(d):
            wn[j], direction, new[0, j], new[1, j], new[2, j], new[3, j] = opt_step(w[j], g[j], s[0, j], s[1, j], s[2, j], s[3, j], lr, h0, h1, h2)  # noqa: F821
            outside |= not (abs(wn[j]) <= bound)
            resting &= abs(direction) <= tol
            same &= wn[j] == w[j]
            repeat &= wn[j] == saved[0, j]
            # the state as the next step sees it (opt_effective), as in opt_template.py
            c0, c1, c2, c3 = opt_effective(s[0, j], s[1, j], s[2, j], s[3, j], h0, h1, h2)  # noqa: F821
            e0, e1, e2, e3 = opt_effective(new[0, j], new[1, j], new[2, j], new[3, j], h0, h1, h2)  # noqa: F821
            same &= e0 == c0 and e1 == c1 and e2 == c2 and e3 == c3
            repeat &= e0 == saved[1, j] and e1 == saved[2, j] and e2 == saved[3, j] and e3 == saved[4, j]
        if largest <= tol and resting:
            return k, CONVERGED, crossed
        if k == max_iter:
            return k, MAX_ITER, crossed
        if outside:
            for j in range(d):
                w[j] = wn[j]
            return k + 1, DIVERGED, crossed
        if same:
            return k, STALLED, crossed
        for j in range(d):
            w[j] = wn[j]
            for q in range(4):
                s[q, j] = new[q, j]
        if repeat:
            return k + 1, CYCLING, crossed
        k += 1


@njit(cache=True, parallel=True, error_model="numpy")
def descend_model(kind, lr, w0, h0, h1, h2, state0, H, b, X, y, max_iter, tol, div_factor, n_workers, n_iter, W_out, outcome, crossed_out):
    """Run every run i (lr[i], w0[i], h0[i], h1[i], h2[i]); fills n_iter, W_out (runs, d),
    outcome and crossed_out (some gradient component changed sign)."""
    n_runs = lr.size
    d = W_out.shape[1]
    n_workers = max(1, min(n_workers, n_runs))
    for worker in prange(n_workers):
        w, wn, g = np.empty(d), np.empty(d), np.empty(d)
        s, new, saved = np.empty((4, d)), np.empty((4, d)), np.empty((5, d))
        for run in range(worker, n_runs, n_workers):
            n_iter[run], outcome[run], crossed_out[run] = _descend_one(
                kind, lr[run], w0[run], h0[run], h1[run], h2[run], state0, H, b, X, y, max_iter, tol, div_factor, w, wn, g, s, new, saved
            )
            for j in range(d):
                W_out[run, j] = w[j]
