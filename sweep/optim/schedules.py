"""Learning-rate schedules: the step's learning rate lr_k as a function of the run's lr and
the step count k (0, 1, 2, ...). A schedule changes the update only through lr_k.

Each schedule is defined as optax (``optax/schedules/_schedule.py``) or PyTorch
(``torch.optim.lr_scheduler``) defines it, with the run's ``lr`` as the peak value:

- ``constant``: lr_k = lr.
- ``step`` (PyTorch ``StepLR``): lr_k = lr * gamma ** floor(k / step_size).
- ``exponential`` (PyTorch ``ExponentialLR``, optax ``exponential_decay`` with
  ``transition_steps=1``): lr_k = lr * gamma ** k.
- ``cosine`` (optax ``cosine_decay_schedule``; Loshchilov and Hutter, "SGDR: stochastic
  gradient descent with warm restarts", ICLR 2017, without restarts):
  lr_k = lr_min + (lr - lr_min) * (1 + cos(pi * min(k, T) / T)) / 2, T defaulting to max_iter.
- ``warmup-cosine`` (optax ``warmup_cosine_decay_schedule`` from 0): lr_k = lr * k / warmup
  for k < warmup, then the cosine from lr to lr_min over the remaining T - warmup steps.
- ``inverse-time`` (optax ``inverse_time_decay`` with ``transition_steps=1``):
  lr_k = lr / (1 + decay * k).

A schedule's parameters are sweep axes like any hyperparameter. Under a schedule that is not
constant an update that leaves w unchanged is no fixed point (lr_k may grow again), so the
stall and cycle tests are off: such runs end converged, diverged, nan or at max_iter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sweep.optim.optimizers import Hyperparameter


@dataclass(frozen=True)
class Schedule:
    """A schedule's contract with the kernel generator.

    Attributes:
        name: as given on the command line.
        params: its parameters, each a per-run value in the kernel; a default of NaN means
            "max_iter" (the T of the cosine schedules), filled in when the sweep is planned.
        code: an expression of ``lr`` (the run's learning rate), ``t`` (the step count k as a
            float), ``max_iter`` and the parameters: lr_k.
        reference: where it is defined.
    """

    name: str
    params: tuple[Hyperparameter, ...]
    code: str
    reference: str

    @property
    def constant(self) -> bool:
        return self.name == "constant"


_STEPS = dict(low=0.0, high=math.inf, low_open=True)
_COSINE = "lr_min + (lr - lr_min) * (1.0 + vcos(math.pi * min(t, T) / T)) * 0.5"

SCHEDULES: dict[str, Schedule] = {
    "constant": Schedule("constant", (), "lr", "a constant learning rate"),
    "step": Schedule(
        "step",
        (Hyperparameter("gamma", 0.5, 0.0, 1.0, high_open=False), Hyperparameter("step_size", 100.0, **_STEPS)),
        # floor as a float: an integer conversion would raise on the NaN of an idle lane
        "lr * gamma ** np.floor(t / step_size)",
        "PyTorch StepLR",
    ),
    "exponential": Schedule("exponential", (Hyperparameter("gamma", 0.99, 0.0, 1.0, high_open=False),), "lr * gamma ** t", "PyTorch ExponentialLR"),
    "cosine": Schedule(
        "cosine",
        (Hyperparameter("lr_min", 0.0, 0.0, math.inf), Hyperparameter("T", math.nan, **_STEPS)),
        _COSINE,
        "optax cosine_decay_schedule; Loshchilov and Hutter 2017",
    ),
    "warmup-cosine": Schedule(
        "warmup-cosine",
        (Hyperparameter("warmup", 10.0, **_STEPS), Hyperparameter("lr_min", 0.0, 0.0, math.inf), Hyperparameter("T", math.nan, **_STEPS)),
        "lr * t / warmup if t < warmup else lr_min + (lr - lr_min) * (1.0 + vcos(math.pi * min(t - warmup, T - warmup) / max(T - warmup, 1.0))) * 0.5",
        "optax warmup_cosine_decay_schedule",
    ),
    "inverse-time": Schedule("inverse-time", (Hyperparameter("decay", 0.01, 0.0, math.inf),), "lr / (1.0 + decay * t)", "optax inverse_time_decay"),
}


def get_schedule(name: str) -> Schedule:
    """The Schedule called ``name``.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule {name!r} is not known; schedules are {', '.join(SCHEDULES)}")
    return SCHEDULES[name]
