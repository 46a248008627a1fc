"""``sweep.losses``: the losses of ``sweep.problems.losses`` under their public name
(``sweep.losses.custom``, ``sweep.losses.quadratic``, ...)."""

from sweep.problems.losses import *  # noqa: F403
from sweep.problems.losses import __all__  # noqa: F401
