"""tanh that vectorizes, for the network kernel's lane loop.

libm's tanh is a call that LLVM cannot vectorize (and Numba here has no SVML), so a network
kernel that calls it spends most of its time there: a width-16 network evaluates 4,352 of them
per step. This version uses only ``+ - * /``, ``floor``, ``abs``, a compare-and-select and a
lookup in a table of exact powers of two, so LLVM turns it into vector code.

    tanh(a) = -e / (2 + e)    with    e = expm1(-2a),  a = |x|  (sign restored at the end)

expm1(y) for y in [-40, 0] is reduced the classic way (Tang, "Table-driven implementation of
the exponential function", ACM TOMS 15(2), 1989, with a one-entry-per-octave table):
y = k*ln2 + r with |r| <= ln2/2 (Cody-Waite, ln2 in two parts), expm1(r) by its Taylor
polynomial to degree 13 (truncation error below 2e-17 relative on that interval), and
expm1(y) = 2**k * expm1(r) + (2**k - 1). Working on the negative side keeps e in (-1, 0], so
no overflow and no cancellation: the result is within a few ulp of the true tanh, relative
accuracy kept down to the smallest arguments. |x| >= 20 gives +-1 exactly (tanh(20) rounds
to 1 in float64); NaN gives NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (fdlibm's ln2_hi, ln2_lo)
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_SATURATE = 20.0
# 2**-j for j = 0..63: every 2**k the reduction can produce (k >= -58), each exact.
_POW2_NEG = np.ldexp(1.0, -np.arange(64)).astype(np.float64)
# 1/k! for k = 13 down to 2 (Horner order): the Taylor polynomial of expm1.
_INV_FACT = tuple(1.0 / float(np.prod(np.arange(1, k + 1, dtype=np.float64))) for k in range(13, 1, -1))
_F13, _F12, _F11, _F10, _F9, _F8, _F7, _F6, _F5, _F4, _F3, _F2 = _INV_FACT


@njit(cache=True, error_model="numpy", inline="always")
def vtanh(x):
    """tanh(x) for one float64 (see the module doc); inlined into the lane loop of the
    network kernel, where LLVM vectorizes it (the table read becomes a gather)."""
    a = abs(x)
    a = a if a < _SATURATE else _SATURATE  # NaN takes 20 here and is restored below
    y = -2.0 * a
    k = np.floor(y * _INV_LN2 + 0.5)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    scale = _POW2_NEG[np.int64(-k)]
    p = _F13
    p = p * r + _F12
    p = p * r + _F11
    p = p * r + _F10
    p = p * r + _F9
    p = p * r + _F8
    p = p * r + _F7
    p = p * r + _F6
    p = p * r + _F5
    p = p * r + _F4
    p = p * r + _F3
    p = p * r + _F2
    e = scale * (r + r * r * p) + (scale - 1.0)
    t = -e / (2.0 + e)
    t = math.copysign(t, x)  # tanh(-0.0) is -0.0
    return x if x != x else t


@njit(cache=True, error_model="numpy")
def tanh_array(x):
    """``vtanh`` at every element of a float64 array of any shape; returns a new array."""
    flat = x.ravel()
    out = np.empty(flat.size)
    for i in range(flat.size):
        out[i] = vtanh(flat[i])
    return out.reshape(x.shape)
