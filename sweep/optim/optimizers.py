"""The optimizers a sweep can run, as contracts: hyperparameters, state, one update rule.

An optimizer declares its named hyperparameters (any number, each a sweep axis), its named
state (any number of slots per weight, and counters per run), and an update that maps the
gradient ``g`` of one weight ``w`` to a direction ``d`` and the new state. The kernel then
takes ``w - lr_k * d``: the learning rate touches the update in exactly that one place
(optax's ``scale_by_learning_rate``), so momentum, Adam's scaling and weight decay never see
it. The code of each update is printed into the generated kernel, where Numba inlines it
into the lane loop like the loss.

- ``gd``: d = g (the teaching example).
- ``momentum``: heavy ball (Polyak, "Some methods of speeding up the convergence of iteration
  methods", 1964), PyTorch's form: m <- momentum m + g;  d = m.
- ``nesterov``: Sutskever, Martens, Dahl and Hinton, "On the importance of initialization and
  momentum in deep learning" (ICML 2013), PyTorch's form: m <- momentum m + g;  d = g + momentum m.
- ``adam``: Kingma and Ba, "Adam: a method for stochastic optimization" (ICLR 2015):
  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g**2;  d = m_hat / (sqrt(v_hat) + eps), with
  m_hat = m / (1 - b1**t), v_hat = v / (1 - b2**t) at step t = 1, 2, ... (b1**t and b2**t are
  kept as running products, counters of the run: no power is taken in the loop).
- ``rmsprop``: Tieleman and Hinton, Lecture 6.5 of "Neural Networks for Machine Learning"
  (Coursera, 2012): v <- rho v + (1 - rho) g**2;  d = g / (sqrt(v) + eps).
- ``adamw``: Loshchilov and Hutter, "Decoupled weight decay regularization" (ICLR 2019): Adam's
  direction plus the decay of the weight itself, d = m_hat / (sqrt(v_hat) + eps) + weight_decay w.
- ``lion``: Chen et al., "Symbolic discovery of optimization algorithms" (NeurIPS 2023):
  d = sign(b1 m + (1 - b1) g) + weight_decay w;  m <- b2 m + (1 - b2) g.

With momentum = 0, ``momentum`` and ``nesterov`` compute gd's update bit for bit (0 * m + g is
exactly g); with weight_decay = 0, ``adamw`` computes ``adam``'s; the tests pin both.

Stall and cycle tests compare the state "as the next step sees it" (``effective``): each slot
times the coefficient that multiplies it in the update, so a state that cannot change the
future (momentum 0) cannot delay them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter of an optimizer: its default and the interval it must lie in."""

    name: str
    default: float
    low: float
    high: float
    low_open: bool = False
    high_open: bool = True
    meaning: str = ""

    def check(self, value: float) -> str | None:
        """None if ``value`` is allowed, else what is allowed, as text."""
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        if math.isfinite(value) and above and below:
            return None
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


@dataclass(frozen=True)
class Optimizer:
    """An optimizer's contract with the kernel generator.

    Attributes:
        name: as given on the command line.
        hyperparameters: named, each a per-run value in the kernel (any number).
        slots: per-weight state, as ``(name, initial value)`` pairs.
        counters: per-run state shared by all weights (Adam's running products), as
            ``(name, initial value)`` pairs.
        count_code: statements computing each counter's new value ``<name>_new`` from the
            counters and hyperparameters; run once per step, before the weights' updates.
        update_code: statements for one weight, from ``g`` (its gradient), ``w`` (its value),
            the slots, the counters' new values and the hyperparameters, setting ``d`` (the
            direction) and each slot's new value ``<name>_new``. lr never appears.
        effective: per slot, the expression of it "as the next step sees it" (stall and cycle
            tests compare these).
        preconditioner: per weight, the expression P of the diagonal preconditioner after the
            update (from the new slots and counters), for the preconditioned sharpness
            lr * lambda_max(P**-1 H) of Cohen et al. 2022; None where the update is not
            preconditioned (the sharpness is then lr * lambda_max(H)).
        eos_threshold: expression of the hyperparameters: the sharpness above which the
            quadratic model of the loss is unstable for this optimizer (2 for gd).
        reference: where the update rule comes from.
        substeps: steps per vector pass of the lane kernel: the most at which LLVM still
            vectorizes the pass over the lanes for this update on the quadratic (a longer
            update needs fewer; past the limit the pass runs scalar and 2 to 3 times slower;
            measured with ``sweep bench``, see benchmarks/README.md).
        propagates_nan: a NaN gradient gives a NaN direction (true of an update built from
            arithmetic alone, not of Lion's sign): the NaN then reaches the iterate, where the
            vector pass sees it, so the pass need not test the gradient for NaN itself.
    """

    name: str
    hyperparameters: tuple[Hyperparameter, ...]
    slots: tuple[tuple[str, float], ...]
    update_code: str
    effective: tuple[str, ...]
    reference: str
    counters: tuple[tuple[str, float], ...] = ()
    count_code: str = ""
    preconditioner: str | None = None
    eos_threshold: str = "2.0"
    theory: dict = field(default_factory=dict, compare=False)
    substeps: int = 16
    propagates_nan: bool = True

    def defaults(self) -> dict[str, float]:
        return {h.name: h.default for h in self.hyperparameters}

    @property
    def hyper_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hyperparameters)


_UNIT = dict(low=0.0, high=1.0)
_EPS = dict(low=0.0, high=math.inf, low_open=True)
_DECAY = dict(low=0.0, high=math.inf, high_open=True)

_ADAM_COUNT = "b1t_new = b1t * b1\nb2t_new = b2t * b2"
_ADAM_UPDATE = "m_new = b1 * m + (1.0 - b1) * g\nv_new = b2 * v + (1.0 - b2) * (g * g)\nd = (m_new / (1.0 - b1t_new)) / (math.sqrt(v_new / (1.0 - b2t_new)) + eps)"
# Cohen et al. 2022, sec. 2: P = (1 - b1**t) (sqrt(v_hat) + eps); the threshold (2 + 2 b1) / (1 - b1).
_ADAM_PRE = "(1.0 - b1t_new) * (math.sqrt(v_new / (1.0 - b2t_new)) + eps)"
_ADAM_EOS = "(2.0 + 2.0 * b1) / (1.0 - b1)"

OPTIMIZERS: dict[str, Optimizer] = {
    "gd": Optimizer("gd", (), (), "d = g", (), "the classic teaching example"),
    "momentum": Optimizer(
        "momentum",
        (Hyperparameter("momentum", 0.9, **_UNIT, meaning="velocity decay"),),
        (("m", 0.0),),
        "m_new = momentum * m + g\nd = m_new",
        ("momentum * m",),
        "Polyak 1964 (heavy ball), PyTorch's form",
        eos_threshold="2.0 + 2.0 * momentum",
    ),
    "nesterov": Optimizer(
        "nesterov",
        (Hyperparameter("momentum", 0.9, **_UNIT, meaning="velocity decay"),),
        (("m", 0.0),),
        "m_new = momentum * m + g\nd = g + momentum * m_new",
        ("momentum * m",),
        "Sutskever, Martens, Dahl and Hinton 2013, PyTorch's form",
        eos_threshold="(2.0 + 2.0 * momentum) / (1.0 + 2.0 * momentum)",
    ),
    "adam": Optimizer(
        "adam",
        (Hyperparameter("b1", 0.9, **_UNIT), Hyperparameter("b2", 0.999, **_UNIT), Hyperparameter("eps", 1e-8, **_EPS)),
        (("m", 0.0), ("v", 0.0)),
        _ADAM_UPDATE,
        ("b1 * m", "b2 * v"),
        "Kingma and Ba 2015",
        counters=(("b1t", 1.0), ("b2t", 1.0)),
        count_code=_ADAM_COUNT,
        preconditioner=_ADAM_PRE,
        eos_threshold=_ADAM_EOS,
        substeps=4,
    ),
    "rmsprop": Optimizer(
        "rmsprop",
        (Hyperparameter("rho", 0.9, **_UNIT), Hyperparameter("eps", 1e-8, **_EPS)),
        (("v", 0.0),),
        "v_new = rho * v + (1.0 - rho) * (g * g)\nd = g / (math.sqrt(v_new) + eps)",
        ("rho * v",),
        "Tieleman and Hinton 2012",
        preconditioner="math.sqrt(v_new) + eps",
        substeps=6,
    ),
    "adamw": Optimizer(
        "adamw",
        (Hyperparameter("b1", 0.9, **_UNIT), Hyperparameter("b2", 0.999, **_UNIT), Hyperparameter("eps", 1e-8, **_EPS), Hyperparameter("weight_decay", 0.01, **_DECAY)),
        (("m", 0.0), ("v", 0.0)),
        _ADAM_UPDATE + " + weight_decay * w",
        ("b1 * m", "b2 * v"),
        "Loshchilov and Hutter 2019 (decoupled weight decay)",
        counters=(("b1t", 1.0), ("b2t", 1.0)),
        count_code=_ADAM_COUNT,
        preconditioner=_ADAM_PRE,
        eos_threshold=_ADAM_EOS,
        substeps=3,
    ),
    "lion": Optimizer(
        "lion",
        (Hyperparameter("b1", 0.9, **_UNIT), Hyperparameter("b2", 0.99, **_UNIT), Hyperparameter("weight_decay", 0.0, **_DECAY)),
        (("m", 0.0),),
        "c = b1 * m + (1.0 - b1) * g\nd = (1.0 if c > 0.0 else (-1.0 if c < 0.0 else 0.0)) + weight_decay * w\nm_new = b2 * m + (1.0 - b2) * g",
        ("b2 * m",),
        "Chen et al. 2023 (evolved sign momentum)",
        substeps=6,
        propagates_nan=False,
    ),
}


def eos_threshold(name: str, hyper: dict[str, float] | None = None) -> float:
    """The edge of stability of an optimizer as a number: the sharpness (lr times the top
    curvature, preconditioned for adaptive methods) above which its iterates cannot settle
    (2 for gd; Cohen et al. 2021 and 2022), for hyperparameters ``hyper`` (defaults filled
    in). The expression is the optimizer's own ``eos_threshold``, evaluated by sympy."""
    import sympy as sp

    chosen = OPTIMIZERS[name]
    values = {**chosen.defaults(), **(hyper or {})}
    return float(sp.sympify(chosen.eos_threshold).subs({sp.Symbol(k): v for k, v in values.items()}))


def get_optimizer(name: str) -> Optimizer:
    """The Optimizer called ``name``.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} is not known; optimizers are {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def heavy_ball_optimum(mu: float, curvature: float) -> tuple[float, float]:
    """The heavy ball's best constant pair on a quadratic with Hessian eigenvalues in
    [mu, L]: lr* = 4 / (sqrt(L) + sqrt(mu))**2 and momentum* = ((sqrt(L) - sqrt(mu)) /
    (sqrt(L) + sqrt(mu)))**2, at which the iterates contract by (sqrt(kappa) - 1) /
    (sqrt(kappa) + 1) a step (Polyak 1964; Goh, "Why Momentum Really Works", Distill 2017)."""
    root_l, root_mu = math.sqrt(curvature), math.sqrt(mu)
    return 4.0 / (root_l + root_mu) ** 2, ((root_l - root_mu) / (root_l + root_mu)) ** 2


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
