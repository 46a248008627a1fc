"""The two-layer network of the trainability-boundary experiment: its data, its initial
weights, a plain NumPy reference, and the driver of the compiled kernel.

Setup as in Sohl-Dickstein, "The boundary of neural network trainability is fractal" (2024,
arXiv:2402.06184): a network of ``width`` n with two weight layers and no biases, mean-field
scaling, as many training points as parameters (n*n + n), inputs, targets and weights all
drawn N(0, 1), full-batch gradient descent on the mean squared error with one learning rate
per layer. The paper draws with JAX's generator; here NumPy's ``default_rng(seed)`` draws W1,
W2, X and Y in that order, so the pictures have the same character, not the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sweep.errors import NetworkError
from sweep.fractal.passes import network_kernel_module

NONLINEARITIES = ("tanh", "relu", "identity")
#: The paper's convergence rule: normalized losses capped at CLIP, converged when the mean of
#: the last WINDOW of them is below 1.
CLIP = 1e6
WINDOW = 20


@dataclass(frozen=True)
class Network:
    """One network experiment: architecture, data and initial weights, fixed by ``seed``.

    Attributes:
        width: hidden width n (also the input dimension), 1..24 (the kernel is unrolled for
            each width: width 16 compiles in about a minute the first time, width 24 in four).
        nonlinearity: "tanh" (tanh(sqrt(2) z), the paper's), "relu" (sqrt(2) relu(z)) or
            "identity".
        seed: seed of NumPy's ``default_rng`` that draws W1, W2, X, Y.
    """

    width: int = 8
    nonlinearity: str = "tanh"
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.width, bool) or not isinstance(self.width, (int, np.integer)) or not 1 <= self.width <= 24:
            raise NetworkError(f"width {self.width!r} is not allowed; use a whole number from 1 to 24")
        if self.nonlinearity not in NONLINEARITIES:
            raise NetworkError(f"nonlinearity {self.nonlinearity!r} is not known; use one of {', '.join(NONLINEARITIES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise NetworkError(f"seed {self.seed!r} is not allowed; use a whole number >= 0")

    @property
    def n_params(self) -> int:
        """Number of weights: n*n in the input layer plus n in the output layer."""
        return self.width * self.width + self.width

    @property
    def n_data(self) -> int:
        """Number of training points: equal to the number of weights, as in the paper."""
        return self.n_params

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(W1 (n, n), W2 (n,), X (D, n), Y (D,)), all float64 draws of N(0, 1)."""
        rng = np.random.default_rng(self.seed)
        n = self.width
        w1 = rng.standard_normal((n, n))
        w2 = rng.standard_normal(n)
        x = rng.standard_normal((self.n_data, n))
        y = rng.standard_normal(self.n_data)
        return w1, w2, x, y

    def flops_per_step(self) -> int:
        """Floating-point operations of one gradient step of one run, counting the two layers'
        multiply-adds (2 each) forward and backward, and not the nonlinearity."""
        n, d = self.width, self.n_data
        return d * (4 * n * n + 6 * n + 3) + 2 * self.n_params


def _activation(z: np.ndarray, nonlinearity: str) -> tuple[np.ndarray, np.ndarray]:
    if nonlinearity == "tanh":
        h = np.tanh(math.sqrt(2.0) * z)
        return h, math.sqrt(2.0) * (1.0 - h * h)
    if nonlinearity == "relu":
        return math.sqrt(2.0) * np.maximum(z, 0.0), math.sqrt(2.0) * (z > 0)
    return z, np.ones_like(z)


def loss_and_grad(w1: np.ndarray, w2: np.ndarray, x: np.ndarray, y: np.ndarray, nonlinearity: str):
    """Plain NumPy loss and gradient of a batch of networks (the test reference).

    Args:
        w1: (R, n, n) and w2: (R, n) float64 weights of R networks.
        x: (D, n) inputs; y: (D,) targets.

    Returns:
        (loss (R,), dloss/dW1 (R, n, n), dloss/dW2 (R, n)).
    """
    n = w2.shape[1]
    z = np.matmul(x, w1) / math.sqrt(n)  # (R, D, n): one product per network, batched
    h, slope = _activation(z, nonlinearity)
    out = np.matmul(h, w2[:, :, None])[:, :, 0] / n
    err = out - y
    loss = np.mean(err * err, axis=1)
    e = 2.0 * err / (y.size * n)
    g2 = np.matmul(e[:, None, :], h)[:, 0, :]
    dz = e[:, :, None] * w2[:, None, :] * slope / math.sqrt(n)
    g1 = np.matmul(x.T, dz)
    return loss, g1, g2


def convergence_measure(losses: np.ndarray, clip: float = CLIP, window: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    """The paper's classification of loss histories (the notebook's ``convergence_measure``).

    Args:
        losses: (R, T) float64 loss before each of T steps.

    Returns:
        (measure (R,) float64, converged (R,) bool): converged when the mean of the last
        ``window`` normalized losses is below 1; measure -sum(v) if converged else sum(1/v).
    """
    v = np.where(np.isfinite(losses), losses, clip)
    v = v / v[:, :1]
    v = np.where(v > clip, clip, v)
    converged = np.mean(v[:, -window:], axis=1) < 1.0
    return np.where(converged, -np.sum(v, axis=1), np.sum(1.0 / v, axis=1)), converged


def train_reference(network: Network, lr_in: np.ndarray, lr_out: np.ndarray, steps: int) -> np.ndarray:
    """Loss histories (R, steps) of plain NumPy gradient descent: the kernel's reference."""
    w1, w2, x, y = network.arrays()
    r = lr_in.size
    w1 = np.repeat(w1[None], r, axis=0)
    w2 = np.repeat(w2[None], r, axis=0)
    history = np.empty((r, steps))
    with np.errstate(all="ignore"):
        for t in range(steps):
            loss, g1, g2 = loss_and_grad(w1, w2, x, y, network.nonlinearity)
            history[:, t] = loss
            w1 = w1 - lr_in[:, None, None] * g1
            w2 = w2 - lr_out[:, None] * g2
    return history


def train_grid(network: Network, lr_in: np.ndarray, lr_out: np.ndarray, steps: int, n_threads: int | None = None) -> dict[str, np.ndarray]:
    """Train one network per learning-rate pair with the compiled kernel.

    Args:
        network: the experiment.
        lr_in, lr_out: (R,) float64 learning rates of the input and output layer (any real
            value; negative ones simply ascend).
        steps: gradient steps per run, >= 1.
        n_threads: threads to use (None: Numba's default, all cores).

    Returns:
        Columns ``measure`` (R,) float64, ``converged`` (R,) bool and ``final`` (R,) float64
        (the last normalized loss); see ``sweep.kernels.network``.
    """
    lr_in = np.ascontiguousarray(lr_in, dtype=np.float64)
    lr_out = np.ascontiguousarray(lr_out, dtype=np.float64)
    w1, w2, x, y = network.arrays()
    r = lr_in.size
    measure, final = np.empty(r), np.empty(r)
    converged = np.empty(r, dtype=np.bool_)
    from sweep.run.executor import run_workers, threads

    kernel = network_kernel_module(network.width, network.nonlinearity)
    F = np.empty((3, r))
    with threads(n_threads):
        run_workers(kernel._worker, r, kernel.BLOCK, np.ascontiguousarray(np.stack([lr_in, lr_out])), x, y, w1, w2, steps, CLIP, WINDOW, F)
    measure[:], converged[:], final[:] = F[0], F[1] == 1.0, F[2]
    return {"measure": measure, "converged": converged, "final": final}
