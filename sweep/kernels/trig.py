"""sin and cos that vectorize: the same arithmetic in Numba's lane loop, NumPy and Python.

libm's sin is a call that LLVM cannot vectorize, so a loss with a cosine term ran one lane at
a time (about 15 ns a step). These versions are the classic fdlibm algorithm (Sun
Microsystems, 1993, as in FreeBSD's ``k_sin.c``, ``k_cos.c`` and ``e_rem_pio2.c``) written
without branches: Cody-Waite reduction by pi/2 in three parts, the minimax polynomials on
[-pi/4, pi/4], and the quadrant chosen by arithmetic instead of ``if``. They use only
``+ - *`` and ``floor``, so the same function gives the same bits when Numba compiles it
(and vectorizes it), when NumPy runs it on arrays and when Python runs it on floats; the
benchmark's baselines use them for exactly that reason.

Accuracy: within 1 ulp of the true value for |x| < 2**19 * pi (about 1.6e6), where each
part of the reduction is exact; beyond that the error grows with |x| (still deterministic).
Sweeps only go there on diverging runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_INV_PIO2 = 6.36619772367581382433e-01
# pi/2 in three 33-bit parts plus the tails (fdlibm's pio2_1, pio2_1t, pio2_2, ...)
_PIO2_1 = 1.57079632673412561417e00
_PIO2_1T = 6.07710050650619224932e-11
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_2T = 2.02226624879595063154e-21
_PIO2_3 = 2.02226624871116645580e-21
_PIO2_3T = 8.47842766036889956997e-32

_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


def _reduce(x):
    """x = n*pi/2 + (y0 + y1) with |y0| <= pi/4; returns (quadrant n mod 4 as a float, y0, y1)."""
    n = np.floor(x * _INV_PIO2 + 0.5)
    r = x - n * _PIO2_1
    w = n * _PIO2_1T
    t = r
    w = n * _PIO2_2
    r = t - w
    w = n * _PIO2_2T - ((t - r) - w)
    t = r
    w = n * _PIO2_3
    r = t - w
    w = n * _PIO2_3T - ((t - r) - w)
    y0 = r - w
    y1 = (r - y0) - w
    quadrant = n - 4.0 * np.floor(n * 0.25)
    return quadrant, y0, y1


def _kernel_sin(x, y):
    z = x * x
    w = z * z
    r = _S2 + z * (_S3 + z * _S4) + z * w * (_S5 + z * _S6)
    v = z * x
    return x - ((z * (0.5 * y - v * r) - y) - v * _S1)


def _kernel_cos(x, y):
    z = x * x
    w = z * z
    r = z * (_C1 + z * (_C2 + z * _C3)) + w * w * (_C4 + z * (_C5 + z * _C6))
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * r - x * y))


def _pick(quadrant, s, c, shift):
    """sin for shift 0, cos for shift 1: choose s or c and the sign from the quadrant."""
    q = quadrant + shift
    q = q - 4.0 * np.floor(q * 0.25)
    odd = q - 2.0 * np.floor(q * 0.5)  # 0 or 1
    negative = np.floor(q * 0.5)  # 0 or 1
    return (1.0 - 2.0 * negative) * (odd * c + (1.0 - odd) * s)


def sin(x):
    """sin(x) for a float or a float64 array (fdlibm algorithm, branch-free; see module doc)."""
    quadrant, y0, y1 = _reduce(x)
    return _pick(quadrant, _kernel_sin(y0, y1), _kernel_cos(y0, y1), 0.0)


def cos(x):
    """cos(x) for a float or a float64 array (fdlibm algorithm, branch-free; see module doc)."""
    quadrant, y0, y1 = _reduce(x)
    return _pick(quadrant, _kernel_sin(y0, y1), _kernel_cos(y0, y1), 1.0)


# The compiled twins the generated kernels call; inlined into the lane loop by LLVM.
_reduce_jit = njit(cache=True, error_model="numpy")(_reduce)
_kernel_sin_jit = njit(cache=True, error_model="numpy")(_kernel_sin)
_kernel_cos_jit = njit(cache=True, error_model="numpy")(_kernel_cos)
_pick_jit = njit(cache=True, error_model="numpy")(_pick)


@njit(cache=True, error_model="numpy")
def vsin(x):
    """Compiled ``sin`` (same bits as the Python/NumPy one)."""
    quadrant, y0, y1 = _reduce_jit(x)
    return _pick_jit(quadrant, _kernel_sin_jit(y0, y1), _kernel_cos_jit(y0, y1), 0.0)


@njit(cache=True, error_model="numpy")
def vcos(x):
    """Compiled ``cos`` (same bits as the Python/NumPy one)."""
    quadrant, y0, y1 = _reduce_jit(x)
    return _pick_jit(quadrant, _kernel_sin_jit(y0, y1), _kernel_cos_jit(y0, y1), 1.0)
