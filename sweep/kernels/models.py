"""Kernel for models with a weight vector: full-batch gradient descent, one run per task.

Same stopping rules as the one-weight kernel, on vectors: converged when max_j |g_j| <= tol;
nan when a gradient component is NaN; max_iter; diverged when an update carries some |w_j|
past div_factor * max(1, |w0|) (or to NaN/inf); stalled when an update changes no component;
cycling when the new vector equals the one saved at the last power of two (Brent).

Runs are dealt round-robin to the threads (neighbouring runs of an lr-major grid cost about
the same), and each run's arithmetic is fixed, so results do not depend on the thread count.
"""

import math

import numpy as np
from numba import njit, prange

from sweep.outcomes import CONVERGED, CYCLING, DIVERGED, MAX_ITER, NAN, STALLED

MSE, LOGLOSS = 0, 1


@njit(cache=True, error_model="numpy")
def model_grad(kind, w, H, b, X, y, g):
    """Gradient at w into g. MSE: g = H w - b with H = (2/n) X^T X and b = (2/n) X^T y
    (O(d^2) a step). Log loss: g = (1/n) X^T (sigmoid(X w) - y) (O(n d) a step)."""
    d = w.size
    if kind == MSE:
        for j in range(d):
            total = 0.0
            for k in range(d):
                total += H[j, k] * w[k]
            g[j] = total - b[j]
        return
    n = X.shape[0]
    for j in range(d):
        g[j] = 0.0
    for i in range(n):
        z = 0.0
        for k in range(d):
            z += X[i, k] * w[k]
        residual = (1.0 / (1.0 + math.exp(-z)) - y[i]) / n
        for k in range(d):
            g[k] += residual * X[i, k]


@njit(cache=True, error_model="numpy")
def model_loss(kind, w, X, y):
    """Loss at w: (1/n) ||X w - y||^2, or the mean log loss written stably
    (max(z, 0) + log1p(exp(-|z|)) - y z, which never overflows)."""
    n, d = X.shape
    total = 0.0
    for i in range(n):
        z = 0.0
        for k in range(d):
            z += X[i, k] * w[k]
        if kind == MSE:
            total += (z - y[i]) ** 2
        else:
            total += max(z, 0.0) + math.log1p(math.exp(-abs(z))) - y[i] * z
    return total / n


@njit(cache=True, error_model="numpy")
def _descend_one(kind, lr, w0, H, b, X, y, max_iter, tol, div_factor, w, wn, g, saved):
    d = w.size
    for j in range(d):
        w[j] = w0
    bound = div_factor * max(1.0, abs(w0))
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
        if not has_nan and largest <= tol:
            return k, CONVERGED
        if has_nan:
            return k, NAN
        if k == max_iter:
            return k, MAX_ITER
        outside = False
        same = True
        repeat = True
        for j in range(d):
            wn[j] = w[j] - lr * g[j]
            outside |= not (abs(wn[j]) <= bound)
            same &= wn[j] == w[j]
            repeat &= wn[j] == saved[j]
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
    """Run every (lr[i], w0[i]) pair; fills n_iter (runs,), W_out (runs, d) and outcome (runs,)."""
    n_runs = lr.size
    d = W_out.shape[1]
    n_workers = max(1, min(n_workers, n_runs))
    for worker in prange(n_workers):
        w, wn, g, saved = np.empty(d), np.empty(d), np.empty(d), np.empty(d)
        for run in range(worker, n_runs, n_workers):
            n_iter[run], outcome[run] = _descend_one(kind, lr[run], w0[run], H, b, X, y, max_iter, tol, div_factor, w, wn, g, saved)
            for j in range(d):
                W_out[run, j] = w[j]


@njit(cache=True, parallel=True, error_model="numpy")
def evaluate_model(kind, W, H, b, X, y, loss_out, grad_norm_out):
    """Loss and gradient 2-norm at every row of W (runs, d)."""
    d = W.shape[1]
    for run in prange(W.shape[0]):
        g = np.empty(d)
        w = W[run].copy()
        model_grad(kind, w, H, b, X, y, g)
        loss_out[run] = model_loss(kind, w, X, y)
        grad_norm_out[run] = math.sqrt(np.sum(g * g))
