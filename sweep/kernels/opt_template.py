# Kernel template for optimizers with state (momentum, nesterov, adam, rmsprop).
#
# Like gd_template.py, this text follows a generated header, which here also defines
#     opt_step(w, g, s0, s1, s2, s3, lr, h0, h1, h2) -> (w - lr * d, d, n0, n1, n2, n3)
# the optimizer's update (sweep.optimizers), with s0..s3 its state and h0..h2 its
# hyperparameters. Each run has its own lr and hyperparameters, so any of them can be a
# sweep axis. The outcome tests are gd's, on the whole state: a stall or a cycle means the
# weight AND the optimizer's state as the next step sees it (opt_effective) repeat; converged means |g| <= tol AND the step the
# optimizer would take has a direction d with |d| <= tol (a ball rolling through the
# minimum with speed has not converged; for gd, d is g itself). error_model="numpy" as in gd_template.py.

import math  # noqa: F401 (the generated opt_step above may call math.sqrt)

import numpy as np
from numba import njit, prange

from sweep.outcomes import CONVERGED, CYCLING, DIVERGED, MAX_ITER, NAN, STALLED

# Lanes per block, as in gd_template.py (fewer: each lane carries four state values).
BLOCK = 64
DBL_MAX = 1.7976931348623157e308


@njit(cache=True, error_model="numpy")
def _classify(v, g, d, wn, wi, same_state, repeats, bound, tol, at_max_iter):
    """Outcome of one run at one iteration, in the order gd checks it (a NaN loss first)."""
    if v != v:
        return NAN
    if abs(g) <= tol and abs(d) <= tol:
        return CONVERGED
    if g != g:
        return NAN
    if at_max_iter:
        return MAX_ITER
    if not (abs(wn) <= bound):  # also true for NaN and inf
        return DIVERGED
    if wn == wi and same_state:
        return STALLED
    if repeats:
        return CYCLING
    return -1


@njit(cache=True, error_model="numpy")
def _descend_block(start, stop, lr, w0, h0, h1, h2, p, state0, max_iter, tol, div_factor, n_iter, w_out, outcome, crossed_out):
    """Run runs start..stop-1 in lockstep (see gd_template.py), with optimizer state."""
    m = stop - start
    w = np.empty(BLOCK)
    lrs = np.empty(BLOCK)
    hp0 = np.empty(BLOCK)
    hp1 = np.empty(BLOCK)
    hp2 = np.empty(BLOCK)
    bound = np.empty(BLOCK)
    s = np.empty((4, BLOCK))  # optimizer state
    saved = np.empty((5, BLOCK))  # w and state at the last power of two (Brent)
    new = np.empty((4, BLOCK))  # state after this iteration's step
    g_buf = np.zeros(BLOCK)  # also the previous step's gradient, for the oscillation test
    d_buf = np.empty(BLOCK)
    v_buf = np.empty(BLOCK)
    wn_buf = np.empty(BLOCK)
    event = np.empty(BLOCK, np.bool_)
    active = np.empty(BLOCK, np.bool_)
    swing = np.zeros(BLOCK)  # least product of successive gradients (gd_template.py)
    for lane in range(BLOCK):
        run = start + (lane if lane < m else 0)
        w[lane] = w0[run]
        lrs[lane] = lr[run]
        hp0[lane] = h0[run]
        hp1[lane] = h1[run]
        hp2[lane] = h2[run]
        bound[lane] = min(div_factor * max(1.0, abs(w0[run])), DBL_MAX)
        for j in range(4):
            s[j, lane] = state0[j]
        active[lane] = lane < m
    n_active = m
    k = 0
    while n_active > 0:
        if k & (k - 1) == 0:
            for lane in range(BLOCK):
                saved[0, lane] = w[lane]
                c = opt_effective(s[0, lane], s[1, lane], s[2, lane], s[3, lane], hp0[lane], hp1[lane], hp2[lane])  # noqa: F821
                saved[1, lane], saved[2, lane], saved[3, lane], saved[4, lane] = c
        any_event = False
        at_max_iter = k == max_iter
        for lane in range(BLOCK):
            wi = w[lane]
            g = loss_grad(wi, p)  # noqa: F821 (defined by the generated header)
            v = loss_value(wi, p)  # noqa: F821
            wn, d, n0, n1, n2, n3 = opt_step(wi, g, s[0, lane], s[1, lane], s[2, lane], s[3, lane], lrs[lane], hp0[lane], hp1[lane], hp2[lane])  # noqa: F821
            # Compare the state as the next step sees it (opt_effective), not the raw state.
            c0, c1, c2, c3 = opt_effective(s[0, lane], s[1, lane], s[2, lane], s[3, lane], hp0[lane], hp1[lane], hp2[lane])  # noqa: F821
            e0, e1, e2, e3 = opt_effective(n0, n1, n2, n3, hp0[lane], hp1[lane], hp2[lane])  # noqa: F821
            same = (e0 == c0) & (e1 == c1) & (e2 == c2) & (e3 == c3)
            repeats = (wn == saved[0, lane]) & (e0 == saved[1, lane]) & (e1 == saved[2, lane]) & (e2 == saved[3, lane]) & (e3 == saved[4, lane])
            ev = at_max_iter | (not (abs(g) > tol)) | (not (abs(wn) <= bound[lane])) | ((wn == wi) & same) | repeats | (v != v)
            ev = ev & active[lane]
            swing[lane] = min(swing[lane], g * g_buf[lane])
            g_buf[lane] = g
            d_buf[lane] = d
            v_buf[lane] = v
            wn_buf[lane] = wn
            new[0, lane] = n0
            new[1, lane] = n1
            new[2, lane] = n2
            new[3, lane] = n3
            event[lane] = ev
            if not ev:
                w[lane] = wn
                s[0, lane] = n0
                s[1, lane] = n1
                s[2, lane] = n2
                s[3, lane] = n3
            any_event |= ev
        if any_event:
            for lane in range(m):
                if not (active[lane] and event[lane]):
                    continue
                c0, c1, c2, c3 = opt_effective(s[0, lane], s[1, lane], s[2, lane], s[3, lane], hp0[lane], hp1[lane], hp2[lane])  # noqa: F821
                e0, e1, e2, e3 = opt_effective(new[0, lane], new[1, lane], new[2, lane], new[3, lane], hp0[lane], hp1[lane], hp2[lane])  # noqa: F821
                same = e0 == c0 and e1 == c1 and e2 == c2 and e3 == c3
                repeats = wn_buf[lane] == saved[0, lane] and e0 == saved[1, lane] and e1 == saved[2, lane] and e2 == saved[3, lane] and e3 == saved[4, lane]
                status = _classify(v_buf[lane], g_buf[lane], d_buf[lane], wn_buf[lane], w[lane], same, repeats, bound[lane], tol, at_max_iter)
                if status == -1:
                    # |g| <= tol but still moving: take the step the vector pass held back.
                    w[lane] = wn_buf[lane]
                    for j in range(4):
                        s[j, lane] = new[j, lane]
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
def descend(lr, w0, h0, h1, h2, p, state0, max_iter, tol, div_factor, n_workers, n_iter, w_out, outcome, crossed_out):
    """Run every run i (lr[i], w0[i], hyperparameters h0[i], h1[i], h2[i]) to its stop.

    Blocks are dealt round-robin to the threads, as in gd_template.py; results do not
    depend on the thread count.
    """
    n = lr.size
    n_blocks = (n + BLOCK - 1) // BLOCK
    n_workers = max(1, min(n_workers, n_blocks))
    for worker in prange(n_workers):
        for block in range(worker, n_blocks, n_workers):
            start = block * BLOCK
            _descend_block(start, min(n, start + BLOCK), lr, w0, h0, h1, h2, p, state0, max_iter, tol, div_factor, n_iter, w_out, outcome, crossed_out)
