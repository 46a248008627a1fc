"""sweep: see how an optimizer's hyperparameters decide whether gradient descent converges,
crawls, stalls, cycles or blows up, by running every (lr, w0) pair of a grid at once."""

from sweep.api import DIV_FACTOR, SweepError, run_sweep
from sweep.losses import Loss, make_loss, quadratic
from sweep.outcomes import OUTCOMES

__version__ = "0.1.0"

__all__ = ["DIV_FACTOR", "OUTCOMES", "Loss", "SweepError", "make_loss", "quadratic", "run_sweep", "__version__"]
