"""sweep: see how an optimizer's hyperparameters decide whether gradient descent converges,
crawls, stalls, cycles or blows up, by running every (lr, w0) pair of a grid at once.

The public names are imported on first use (PEP 562), so that ``import sweep`` is cheap and
the ``sweep`` command can answer Ctrl-C even while Numba and pandas are still loading.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "DIV_FACTOR": "sweep.run.plan",
    "SweepError": "sweep.errors",
    "run_sweep": "sweep.run.sweeps",
    "trace": "sweep.run.sweeps",
    "compare": "sweep.run.sweeps",
    "Loss": "sweep.problems.losses",
    "make_loss": "sweep.problems.losses",
    "quadratic": "sweep.problems.losses",
    "OUTCOMES": "sweep.outcomes",
}

__all__ = [*sorted(_EXPORTS), "__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sweep' has no attribute {name!r}")
