"""The trainability explorer: which hyperparameters train and which diverge, on a grid fine
enough to see the fractal boundary between them (Sohl-Dickstein 2024; Liu 2024), its
box-counting dimension, and zooms into it.

    from sweep.fractal import compute, loss_experiment, network_experiment

    picture = compute(network_experiment(width=8, steps=100, resolution=256))
"""

from sweep.errors import FractalError
from sweep.fractal.experiment import (
    NETWORK,
    Axis,
    Experiment,
    Picture,
    compute,
    loss_experiment,
    most_mixed_span,
    most_mixed_window,
    network_experiment,
    problem_loss,
    warm_up,
    worst_case_seconds,
    zoom_in,
)

__all__ = [
    "NETWORK",
    "Axis",
    "Experiment",
    "FractalError",
    "Picture",
    "compute",
    "loss_experiment",
    "most_mixed_span",
    "most_mixed_window",
    "network_experiment",
    "problem_loss",
    "warm_up",
    "worst_case_seconds",
    "zoom_in",
]
