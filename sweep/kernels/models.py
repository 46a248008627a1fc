"""Gradients and losses of the models with a weight vector (``sweep.problems.models``).

The descent loop that uses them is generated per optimizer from ``model_template.py``.
"""

import math

import numpy as np
from numba import njit, prange

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
