"""How a descent run ended: the outcome codes shared by kernels, tables and reports.

The codes are stored on disk (a categorical column in Parquet), so their order is fixed:
new outcomes are appended, never inserted, and a stored code keeps its meaning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Kernel code of a run that has not stopped yet. Never appears in a finished table.
RUNNING = -1
#: |grad(w)| <= tol before an update.
CONVERGED = 0
#: An update carried w outside the divergence bound (or to NaN/inf).
DIVERGED = 1
#: An update left w unchanged although grad(w) != 0: a floating-point fixed point.
STALLED = 2
#: An update reproduced an earlier iterate exactly: the run repeats forever.
CYCLING = 3
#: None of the above within max_iter updates.
MAX_ITER = 4
#: grad(w) was NaN at the current iterate (the loss is undefined there).
NAN = 5

#: Category names in code order; index i is the name of code i.
OUTCOMES: tuple[str, ...] = ("converged", "diverged", "stalled", "cycling", "max_iter", "nan")

#: One line per outcome, used by the README, the report and ``sweep run``'s summary.
OUTCOME_MEANINGS: dict[str, str] = {
    "converged": "|grad(w)| <= tol was reached; n_iter updates were applied.",
    "diverged": "an update carried |w| past div_factor * max(1, |w0|) (or to NaN/inf); "
    "n_iter counts that update and w is the iterate that left the bound.",
    "stalled": "an update left w unchanged although grad(w) != 0, so the run would sit there "
    "forever; n_iter counts the updates before that no-op and w is where it sits.",
    "cycling": "an update reproduced an earlier iterate exactly, so the run repeats forever; "
    "n_iter counts updates up to and including the one that closed the cycle.",
    "max_iter": "none of the above within max_iter updates; n_iter == max_iter.",
    "nan": "grad(w) was NaN at the iterate (the loss is undefined there); w is that iterate.",
}

OUTCOME_DTYPE = pd.CategoricalDtype(categories=list(OUTCOMES), ordered=False)


def to_categorical(codes: np.ndarray) -> pd.Categorical:
    """Turn kernel outcome codes into a pandas Categorical with the fixed category order.

    Args:
        codes: 1-D integer array of outcome codes (``CONVERGED`` .. ``NAN``), one per run.

    Returns:
        A Categorical of the same length whose categories are ``OUTCOMES`` in code order.

    Raises:
        ValueError: if any code is outside ``0 .. len(OUTCOMES) - 1`` (for example a run the
            kernel never finished, ``RUNNING``).
    """
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() >= len(OUTCOMES)):
        raise ValueError(f"outcome codes must lie in 0..{len(OUTCOMES) - 1}, got {codes.min()}..{codes.max()}")
    return pd.Categorical.from_codes(codes.astype(np.int8), dtype=OUTCOME_DTYPE)


#: How a run behaved, in the words of Goh, "Why Momentum Really Works" (Distill, 2017), for
#: the quadratic: fixed order, appended to only.
REGIMES: tuple[str, ...] = ("monotone", "oscillating", "one-step", "divergent", "cycling", "unfinished", "undefined")
REGIME_DTYPE = pd.CategoricalDtype(categories=list(REGIMES), ordered=False)


def regime_of(codes: np.ndarray, n_iter: np.ndarray, oscillated: np.ndarray) -> pd.Categorical:
    """Name each run's regime from its outcome, update count and oscillation flag.

    A run that converged (or stalled a rounding step from the minimum) did so in one step
    (``one-step``: n_iter <= 1), with the gradient changing sign on the way (``oscillating``)
    or not (``monotone``); ``divergent``, ``cycling``, ``unfinished`` (max_iter) and
    ``undefined`` (nan) follow the outcome.

    Args:
        codes: int outcome codes. n_iter: updates applied. oscillated: bool per run.
    """
    codes = np.asarray(codes)
    settled = (codes == CONVERGED) | (codes == STALLED)
    names = np.select(
        [settled & (np.asarray(n_iter) <= 1), settled & np.asarray(oscillated), settled, codes == DIVERGED, codes == CYCLING, codes == MAX_ITER],
        [2, 1, 0, 3, 4, 5],
        6,
    )
    return pd.Categorical.from_codes(names.astype(np.int8), dtype=REGIME_DTYPE)
