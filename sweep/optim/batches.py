"""Mini-batches that every thread, chunk and Dask worker draws alike.

A run with ``batch_size`` b on n samples makes epochs of ceil(n / b) steps; step k is batch
t = k mod ceil(n / b) of epoch e = k // ceil(n / b): the samples at positions t*b .. t*b + b - 1
(the last batch of an epoch holds the rest, as PyTorch's DataLoader does without
``drop_last``) of that epoch's order. The order is a random permutation drawn without carried
state: sample i gets the 64-bit key Philox4x32-10(counter = (run's low and high 32 bits,
epoch, i), key = the seed's halves) (``sweep.optim.noise.philox4x32``; Salmon et al. 2011),
and the samples are ranked by key. So a run's batches are a pure function of (seed, run,
epoch), drawn without replacement within each epoch, and the same on every machine.

``epoch_ranks`` is what the kernel calls at each epoch's first step; ``batch_samples`` gives
one step's batch for tests and references.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sweep.optim.noise import philox4x32

_MASK = 0xFFFFFFFF


@njit(cache=True)
def epoch_ranks(seed, run, epoch, R, lane):
    """Fill column ``lane`` of R (int64, (n_samples, lanes)) with each sample's position in
    the order of epoch ``epoch`` of run ``run`` (0 .. n_samples - 1, a permutation)."""
    n = R.shape[0]
    keys = np.empty(n, np.uint64)
    s, r = np.uint64(seed), np.uint64(run)
    mask = np.uint64(_MASK)
    for i in range(n):
        a, b, _, _ = philox4x32(r & mask, r >> np.uint64(32), np.uint64(epoch) & mask, np.uint64(i) & mask, s & mask, s >> np.uint64(32))
        keys[i] = (a << np.uint64(32)) | b
    # A stable sort: the one order even in the (2**-64-rare) case of equal keys.
    order = np.argsort(keys, kind="mergesort")
    for position in range(n):
        R[order[position], lane] = position


def batches_per_epoch(n_samples: int, batch_size: int) -> int:
    """Steps per epoch: ceil(n_samples / batch_size)."""
    return -(-n_samples // batch_size)


def batch_samples(seed: int, run: int, step: int, n_samples: int, batch_size: int) -> np.ndarray:
    """The sample indices (int64, sorted) of step ``step``'s batch in run ``run``."""
    per_epoch = batches_per_epoch(n_samples, batch_size)
    epoch, t = divmod(step, per_epoch)
    ranks = np.zeros((n_samples, 1), np.int64)
    epoch_ranks(seed, run, epoch, ranks, 0)
    return np.flatnonzero(ranks[:, 0] // batch_size == t)


#: The kernel's batch functions (the generated module imports them).
BATCH_SOURCE = """from sweep.optim.batches import epoch_ranks as _epoch_ranks
"""
