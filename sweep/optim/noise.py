"""Gradient noise that every thread, chunk and Dask worker draws alike.

Each gradient component of each step is perturbed by ``grad_noise * z`` with z a standard
normal that is a pure function of (seed, run, step, component): no generator state is
carried, so a run's noise does not depend on which thread or machine computes it, or on
what else was drawn before. The function is Philox4x32-10, the counter-based generator of
Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC 2011):
the counter is (run's low and high 32 bits, step, component) and the key the seed's two
halves; its first two 32-bit outputs give two uniforms in (0, 1], and Box and Muller's
transform ("A note on the generation of random normal deviates", Ann. Math. Stat. 1958)
gives z = sqrt(-2 ln u1) cos(2 pi u2).

``NORMAL_SOURCE`` is the text the kernel generator puts into a noisy kernel; ``philox4x32``
and ``normal`` are the same arithmetic for Python, for tests and references.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK = 0xFFFFFFFF


@njit(cache=True, error_model="numpy")
def philox4x32(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of the counter (c0, c1, c2, c3) under the key (k0, k1), each a 32-bit
    value held in a uint64; returns the four 32-bit outputs."""
    c0, c1, c2, c3 = np.uint64(c0), np.uint64(c1), np.uint64(c2), np.uint64(c3)
    k0, k1 = np.uint64(k0), np.uint64(k1)
    mask = np.uint64(_MASK)
    shift = np.uint64(32)
    for _ in range(10):
        p0 = np.uint64(_M0) * c0
        p1 = np.uint64(_M1) * c2
        c0, c1, c2, c3 = ((p1 >> shift) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> shift) ^ c3 ^ k1) & mask, p0 & mask
        k0 = (k0 + np.uint64(_W0)) & mask
        k1 = (k1 + np.uint64(_W1)) & mask
    return c0, c1, c2, c3


@njit(cache=True, error_model="numpy")
def normal(seed, run, step, component):
    """The standard normal of (seed, run, step, component): Philox, then Box-Muller."""
    s = np.uint64(seed)
    r = np.uint64(run)
    out0, out1, _, _ = philox4x32(r & np.uint64(_MASK), r >> np.uint64(32), np.uint64(step) & np.uint64(_MASK), np.uint64(component) & np.uint64(_MASK), s & np.uint64(_MASK), s >> np.uint64(32))
    # (x + 1) / 2**32 lies in (0, 1]: the logarithm stays finite.
    u1 = (float(out0) + 1.0) * 2.3283064365386963e-10
    u2 = (float(out1) + 1.0) * 2.3283064365386963e-10
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


#: The kernel's noise function (a plain wrapper: the generated module imports ``normal``).
NORMAL_SOURCE = '''from sweep.optim.noise import normal as _normal_draw


@njit(cache=True, error_model="numpy")
def _normal(seed, run, step, component):
    """A standard normal, a pure function of (seed, run, step, component): sweep.optim.noise."""
    return _normal_draw(seed, run, step, component)
'''
