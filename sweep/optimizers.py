"""The optimizers a sweep can run, as contracts: hyperparameters, state, and one update rule.

Each optimizer is a small state (at most four numbers per weight) and a step that maps
(w, grad, state) to (new w, new state). The learning rate touches the update in exactly one
place, the final ``w - lr * direction``; everything else only shapes the direction. The code
of each step is printed into the kernel (``sweep.codegen``), so Numba inlines it into the lane
loop like the loss.

- ``gd``: w <- w - lr * g (the teaching example).
- ``momentum``: heavy ball (Polyak, "Some methods of speeding up the convergence of iteration
  methods", 1964), in the form PyTorch uses: m <- momentum * m + g;  w <- w - lr * m.
- ``nesterov``: Nesterov's accelerated gradient in the form of Sutskever, Martens, Dahl and
  Hinton, "On the importance of initialization and momentum in deep learning" (ICML 2013), as
  PyTorch writes it: m <- momentum * m + g;  w <- w - lr * (g + momentum * m).
- ``adam``: Kingma and Ba, "Adam: a method for stochastic optimization" (ICLR 2015):
  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g**2;  w <- w - lr * m_hat / (sqrt(v_hat) + eps)
  with m_hat = m / (1 - b1**t), v_hat = v / (1 - b2**t), t the step number from 1 (b1**t is
  kept as a running product, so no power is taken in the loop).
- ``rmsprop``: Tieleman and Hinton, Lecture 6.5 of "Neural Networks for Machine Learning"
  (Coursera, 2012): v <- rho v + (1 - rho) g**2;  w <- w - lr * g / (sqrt(v) + eps).

With momentum = 0, ``momentum`` and ``nesterov`` compute gd's update bit for bit (0 * m + g is
exactly g); the tests pin that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of an optimizer: its default and the interval it must lie in."""

    name: str
    default: float
    low: float
    high: float
    low_open: bool = False
    high_open: bool = True

    def check(self, value: float) -> str | None:
        """None if ``value`` is allowed, else what is allowed, as text."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        if math.isfinite(value) and above and below:
            return None
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class Optimizer:
    """An optimizer's contract for the kernel generator.

    Attributes:
        name: as given on the command line.
        hyperparameters: in kernel order; the kernel receives them as h0, h1, h2.
        step_code: Python statements computing ``d`` (the direction: the kernel then takes
            ``w - lr * d``, the one place lr enters) and ``n0..n3`` (the new state) from
            ``g, s0..s3, h0..h2``; inlined into the kernel.
        state_names: what s0..s3 hold, for the docs.
        reference: where the update rule comes from.
    """

    name: str
    hyperparameters: tuple[Hyperparameter, ...]
    step_code: str
    state_names: tuple[str, ...]
    reference: str
    # The state as the next step sees it: each slot times the coefficient that multiplies it
    # in the update (momentum * m, b1 * m, ...). Stall and cycle tests compare this, not the
    # raw state, so a state that cannot change the future (momentum 0) cannot delay them,
    # and momentum 0 finds every stall and cycle exactly when gd does.
    effective_code: str = "e0, e1, e2, e3 = 0.0, 0.0, 0.0, 0.0"

    def defaults(self) -> dict[str, float]:
        return {h.name: h.default for h in self.hyperparameters}


_UNIT = dict(low=0.0, high=1.0)
OPTIMIZERS = {
    "gd": Optimizer(
        "gd",
        (),
        "d = g\n    n0, n1, n2, n3 = s0, s1, s2, s3",
        (),
        "the classic teaching example",
    ),
    "momentum": Optimizer(
        "momentum",
        (Hyperparameter("momentum", 0.9, **_UNIT),),
        "n0 = h0 * s0 + g\n    d = n0\n    n1, n2, n3 = s1, s2, s3",
        ("m (velocity)",),
        "Polyak 1964 (heavy ball), PyTorch's form",
        "e0, e1, e2, e3 = h0 * s0, 0.0, 0.0, 0.0",
    ),
    "nesterov": Optimizer(
        "nesterov",
        (Hyperparameter("momentum", 0.9, **_UNIT),),
        "n0 = h0 * s0 + g\n    d = g + h0 * n0\n    n1, n2, n3 = s1, s2, s3",
        ("m (velocity)",),
        "Sutskever, Martens, Dahl and Hinton 2013, PyTorch's form",
        "e0, e1, e2, e3 = h0 * s0, 0.0, 0.0, 0.0",
    ),
    "adam": Optimizer(
        "adam",
        (Hyperparameter("b1", 0.9, **_UNIT), Hyperparameter("b2", 0.999, **_UNIT), Hyperparameter("eps", 1e-8, 0.0, math.inf, low_open=True)),
        "n0 = h0 * s0 + (1.0 - h0) * g\n"
        "    n1 = h1 * s1 + (1.0 - h1) * (g * g)\n"
        "    n2 = s2 * h0\n"
        "    n3 = s3 * h1\n"
        "    d = (n0 / (1.0 - n2)) / (math.sqrt(n1 / (1.0 - n3)) + h2)",
        ("m (first moment)", "v (second moment)", "b1**t", "b2**t"),
        "Kingma and Ba 2015",
        "e0, e1, e2, e3 = h0 * s0, h1 * s1, s2 * h0, s3 * h1",
    ),
    "rmsprop": Optimizer(
        "rmsprop",
        (Hyperparameter("rho", 0.9, **_UNIT), Hyperparameter("eps", 1e-8, 0.0, math.inf, low_open=True)),
        "n0 = h0 * s0 + (1.0 - h0) * (g * g)\n    d = g / (math.sqrt(n0) + h1)\n    n1, n2, n3 = s1, s2, s3",
        ("v (mean square)",),
        "Tieleman and Hinton 2012",
        "e0, e1, e2, e3 = h0 * s0, 0.0, 0.0, 0.0",
    ),
}

#: Initial state per optimizer: Adam's running products b1**0 and b2**0 start at 1.
INITIAL_STATE = {"adam": (0.0, 0.0, 1.0, 1.0)}


def initial_state(name: str) -> tuple[float, float, float, float]:
    """(s0, s1, s2, s3) before the first step."""
    return INITIAL_STATE.get(name, (0.0, 0.0, 0.0, 0.0))


def get_optimizer(name: str) -> Optimizer:
    """The Optimizer called ``name``.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} is not known; optimizers are {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def heavy_ball_edge(curvature: float, momentum: float) -> float:
    """Largest stable lr of the heavy ball on a quadratic with curvature L: it converges iff
    0 < lr * L < 2 + 2 * momentum, for 0 <= momentum < 1 (Polyak 1964; Goh, "Why Momentum
    Really Works", Distill 2017)."""
    return (2.0 + 2.0 * momentum) / curvature


def nesterov_edge(curvature: float, momentum: float) -> float:
    """Largest stable lr of Nesterov's method (PyTorch's form) on a quadratic with curvature L:
    lr * L < (2 + 2 momentum) / (1 + 2 momentum), from the roots of its characteristic
    polynomial z**2 - (1 + b)(1 - a) z + b(1 - a) with a = lr L, b = momentum."""
    return (2.0 + 2.0 * momentum) / (1.0 + 2.0 * momentum) / curvature
