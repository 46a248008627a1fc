"""sin and cos that vectorize: the same arithmetic in Numba's lane loop, NumPy and Python.

libm's sin is a call that LLVM cannot vectorize, so a loss with a cosine term ran one lane at
a time (about 15 ns a step). These versions are the classic fdlibm algorithm (Sun
Microsystems, 1993, as in FreeBSD's ``k_sin.c``, ``k_cos.c`` and ``e_rem_pio2.c``) written
without branches: the argument is reduced to ``y = x - n*pi/2`` with |y| <= pi/4, the minimax
polynomials on [-pi/4, pi/4] are evaluated, and the quadrant ``n mod 4`` is chosen by
arithmetic and selects instead of ``if``. Only ``+ - *``, ``floor``, comparisons, selects,
exact bit reinterpretation and table lookups are used, so the same function gives the same
bits when Numba compiles it (and vectorizes it), when NumPy runs it on arrays and when Python
runs it on floats; the benchmark's baselines use them for exactly that reason.

Two reductions are computed for every argument and one is chosen by a value select on |x|:

* |x| < 2**19 * pi (about 1.6e6): Cody-Waite reduction by pi/2 in three parts (fdlibm's
  medium case), where every product ``n * part`` is exact.
* otherwise a Payne-Hanek reduction (M. Payne and R. Hanek, "Radian reduction for
  trigonometric functions", SIGNUM Newsletter 18(1), 1983): |x| is written as
  ``t * 2**(32*j - 1023)`` with 1 <= t < 2**32, where ``j`` (the top six bits of the
  exponent) picks a row of a table holding the 212 bits of ``2**(32*j - 1023) * 2/pi`` that
  matter modulo 4, in four doubles. The bits above those only add multiples of 4 quadrants
  once multiplied by t. ``t`` times the row is formed with exact products: T. J. Dekker's
  two-product with Veltkamp's splitting ("A floating-point technique for extending the
  available precision", Numer. Math. 18, 1971), so no fused multiply-add is needed, and
  error-free sums (Knuth's TwoSum). Whole quadrants are removed while every term is still
  exact, so the fraction of ``x * 2/pi`` comes out as a double-double good to about 2**-121
  even where it cancels to its smallest possible size (about 2**-61.6, at
  x = 6381956970095103 * 2**797); ``(fraction) * pi/2`` is then another Dekker product.

Accuracy: within 1 ulp of the correctly rounded sin(x) and cos(x) for every finite float64
x, checked against mpmath at 1400 bits on random arguments of every magnitude up to the
largest double and on the doubles nearest to a multiple of pi/2 in every binade (there the
reduced argument is within a relative 2**-68 of exact and the results came out correctly
rounded, where the glibc 2.36 behind ``math.sin`` was off by up to 1.4e5 ulp). NaN and
+-inf give NaN; sin(-0.0) is -0.0. The exact steps assume each operation is rounded as
written, as NumPy, Numba and eager JAX do; under ``jax.jit`` XLA fuses multiplies and adds,
which the large-argument path does not survive (below 1.6e6 jit is within 1 ulp, as before).

Cost: being branch-free, every call pays for both reductions. A vectorized sin + cos pair
takes about three times as long as with the Cody-Waite reduction alone (about 12 instead of
4 ns on one AVX2 core; libm's scalar pair takes about 32 ns), and each call site adds about
half a second to a kernel's compile time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numba import types as _types
from numba.extending import intrinsic, overload

from sweep.kernels.bits import bitcast_f2u as _bitcast_f2u
from sweep.kernels.bits import bitcast_u2f as _bitcast_u2f

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

# Below this |x| the Cody-Waite reduction is exact enough; at and above it Payne-Hanek's is used.
_FAST_MAX = 2.0**19 * math.pi
_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's constant, a double into two halves of <= 26 bits
_RINT = 6755399441055744.0  # 1.5 * 2**52: (v + _RINT) - _RINT is v rounded to an integer, |v| < 2**51
_GRID51 = 3.0  # (v + 3) - 3 is v rounded to a multiple of 2**-51, 0 <= v < 1
_GRID28 = 1.5 * 2.0**80  # (v + c) - c is v rounded to a multiple of 2**28, |v| < 2**79
_PIO2_H = 1.5707963267948966  # pi/2 = _PIO2_H + _PIO2_L to about 2**-107
_PIO2_L = 6.123233995736766e-17
_U5, _U52, _U57, _U2046 = np.uint64(5), np.uint64(52), np.uint64(57), np.uint64(2046)


# Four small operations with one meaning everywhere: NumPy (arrays, NumPy and Python
# scalars), JAX when sweep's baselines rebind ``np`` to ``jax.numpy``, and Numba, where
# each compiles to a single instruction that LLVM vectorizes.
def _namespace(v):
    root = type(v).__module__.partition(".")[0]
    if root in ("jax", "jaxlib"):
        import jax.numpy

        return jax.numpy
    return np


def _float_bits(v):
    """The IEEE 754 bits of a float64 (array) as uint64."""
    return (v if hasattr(v, "view") else np.float64(v)).view(np.uint64)


def _bits_float(i):
    """The float64 (array) whose IEEE 754 bits are the uint64 ``i``."""
    return (i if hasattr(i, "view") else np.uint64(i)).view(np.float64)


def _gather(table, i):
    """``table[i]`` for an index or an index array (a gather in the lane loop)."""
    return _namespace(i).asarray(table)[i]


def _select(c, a, b):
    """``a`` where ``c`` else ``b``, exactly (not ``c*a + (1-c)*b``, which loses -0.0 and NaN)."""
    return _namespace(c).where(c, a, b)


@intrinsic
def _select_ir(typingctx, c, a, b):
    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return _types.float64(_types.boolean, _types.float64, _types.float64), codegen


@overload(_float_bits)
def _float_bits_numba(v):
    return lambda v: _bitcast_f2u(v)


@overload(_bits_float)
def _bits_float_numba(i):
    return lambda i: _bitcast_u2f(i)


@overload(_gather)
def _gather_numba(table, i):
    return lambda table, i: table[i]


@overload(_select)
def _select_numba(c, a, b):
    return lambda c, a, b: _select_ir(c, a, b)


def _two_over_pi(bits: int) -> int:
    """floor(2/pi * 2**bits), in integer arithmetic from Machin's formula
    pi = 16 atan(1/5) - 4 atan(1/239) with 96 guard bits."""
    scale = bits + 96
    one = 1 << scale

    def arctan_inverse(k):
        total, power, n = 0, one // k, 1
        while power:
            total += power // n if n % 4 == 1 else -(power // n)
            power //= k * k
            n += 2
        return total

    pi = 16 * arctan_inverse(5) - 4 * arctan_inverse(239)
    return (2 << (scale + bits)) // pi


def _split(v: float) -> tuple[float, float]:
    c = v * _SPLIT
    hi = c - (c - v)
    return hi, v - hi


def _payne_hanek_table() -> tuple[np.ndarray, ...]:
    """Row j (j = the top 6 bits of a double's exponent field): the bits of
    V = 2**(32*j - 1023) * 2/pi mod 2**54 at weights 2**53 ... 2**-158, in four 53-bit
    doubles covering 2**53..2**1, 2**0..2**-52, 2**-53..2**-105, 2**-106..2**-158."""
    bits = 1152  # rows up to j = 63 need bits of 2/pi down to 2**-(32*63 - 1023 + 158)
    two_over_pi = _two_over_pi(bits)
    columns = ([], [], [], [])
    for j in range(64):
        window = (two_over_pi >> (bits - (32 * j - 1023) - 158)) & ((1 << 212) - 1)
        for column, shift in zip(columns, (159, 106, 53, 0)):
            column.append(math.ldexp(float((window >> shift) & ((1 << 53) - 1)), shift - 158))
    return tuple(np.array(column) for column in columns)


_PH0, _PH1, _PH2, _PH3 = _payne_hanek_table()
_PIO2_HH, _PIO2_HL = _split(_PIO2_H)


def _cody_waite(ax):
    """ax = n*pi/2 + (y0 + y1) for 0 <= ax < _FAST_MAX, where each step is exact; returns
    (n as a float, y0, y1)."""
    n = np.floor(ax * _INV_PIO2 + 0.5)
    r = ax - n * _PIO2_1
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
    return n, y0, y1


def _payne_hanek(ax):
    """ax = n*pi/2 + (y0 + y1) for ax >= 1 (see the module doc); returns (n, y0, y1)."""
    # Payne-Hanek, exact for ax >= 1 (so for ax >= _FAST_MAX). ax = t * 2**(32j - 1023) with
    # 1 <= t < 2**32, so t is a multiple of 2**-52 and t * V is x * 2/pi modulo 4.
    j = _float_bits(ax) >> _U57
    t = ax * _bits_float((_U2046 - (j << _U5)) << _U52)
    d0 = _gather(_PH0, j)
    d1 = _gather(_PH1, j)
    d2 = _gather(_PH2, j)
    d3 = _gather(_PH3, j)
    c = t * _SPLIT
    th = c - (c - t)  # 26 bits, a multiple of 2**-25
    tl = t - th  # |tl| <= 2**5, a multiple of 2**-52
    # t * d0 modulo 4: th times the part of d0 at weights >= 2**28 is a multiple of 8; the
    # three other products are exact and each a multiple of 2**-51 (all mod 4 steps exact).
    d0h = (d0 + _GRID28) - _GRID28
    d0l = d0 - d0h
    u = th * d0l
    v = tl * d0h
    w = tl * d0l
    s = (u - 4.0 * np.floor(u * 0.25)) + (v - 4.0 * np.floor(v * 0.25))  # in [0, 8)
    k0 = np.floor(s)
    kw = (w + _RINT) - _RINT
    f0 = (s - k0) + (w - kw)  # in [-0.5, 1.5), a multiple of 2**-51
    # t * d1 = p1h + p1l and t * d2 = p2h + p2l exactly (Dekker); p1h < 2**33.
    c = d1 * _SPLIT
    d1h = c - (c - d1)
    d1l = d1 - d1h
    p1h = t * d1
    p1l = ((th * d1h - p1h) + th * d1l + tl * d1h) + tl * d1l
    k1 = np.floor(p1h)
    f1 = p1h - k1
    f1c = (f1 + _GRID51) - _GRID51  # f1's part on the 2**-51 grid
    f1f = f1 - f1c  # |f1f| <= 2**-52
    c = d2 * _SPLIT
    d2h = c - (c - d2)
    d2l = d2 - d2h
    p2h = t * d2  # < 2**-20
    p2l = ((th * d2h - p2h) + th * d2l + tl * d2h) + tl * d2l
    p3 = t * d3  # < 2**-73, rounded: an error below 2**-126
    g = f0 + f1c  # exact, on the 2**-51 grid
    k2 = (g + _RINT) - _RINT
    h = g - k2  # in [-0.5, 0.5]
    # h + p2h + p1l + f1f with TwoSum: when the total is tiny, h is at most about 2**-19,
    # so the errors e1, e2, e3 are below 2**-71 and rounding their sum costs < 2**-122.
    s1 = h + p2h
    z = s1 - h
    e1 = (h - (s1 - z)) + (p2h - z)
    s2 = s1 + p1l
    z = s2 - s1
    e2 = (s1 - (s2 - z)) + (p1l - z)
    s3 = s2 + f1f
    z = s3 - s2
    e3 = (s2 - (s3 - z)) + (f1f - z)
    low = (((p3 + p2l) + e1) + e2) + e3
    rh = s3 + low
    rl = low - (rh - s3)  # x * 2/pi = k + rh + rl (mod 4), |rh + rl| <= 0.5 + 2**-19
    # (rh + rl) * pi/2 as a double-double: Dekker's product for rh * _PIO2_H.
    c = rh * _SPLIT
    rhh = c - (c - rh)
    rhl = rh - rhh
    yh = rh * _PIO2_H
    yl = ((rhh * _PIO2_HH - yh) + rhh * _PIO2_HL + rhl * _PIO2_HH) + rhl * _PIO2_HL
    yl = yl + (rh * _PIO2_L + rl * _PIO2_H)
    y0_ph = yh + yl
    y1_ph = yl - (y0_ph - yh)
    n_ph = ((k0 + kw) + k1) + k2  # an integer below 2**35
    return n_ph, y0_ph, y1_ph


def _reduce(x):
    """|x| = n*pi/2 + (y0 + y1) with |y0| <~ pi/4; returns (n as a float, y0, y1). Only n mod 4
    matters (``_pick`` takes it). Both reductions are computed, one is selected."""
    ax = np.abs(np.float64(x))
    n, y0_cw, y1_cw = _cody_waite(ax)
    n_ph, y0_ph, y1_ph = _payne_hanek(ax)
    large = ax >= _FAST_MAX
    return _select(large, n_ph, n), _select(large, y0_ph, y0_cw), _select(large, y1_ph, y1_cw)


def _reduce_fast(x):
    """``_reduce`` for |x| < _FAST_MAX, the same bits there; NaN beyond. The kernels' vector
    pass uses it: a NaN stops the lane, and the scalar pass computes the step again with the
    exact functions, so a huge argument costs only the lanes that meet it."""
    ax = np.abs(np.float64(x))
    n, y0, y1 = _cody_waite(ax)
    return n, _select(ax < _FAST_MAX, y0, np.nan), y1


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
    return np.copysign(1.0, x) * _pick(quadrant, _kernel_sin(y0, y1), _kernel_cos(y0, y1), 0.0)


def cos(x):
    """cos(x) for a float or a float64 array (fdlibm algorithm, branch-free; see module doc)."""
    quadrant, y0, y1 = _reduce(x)
    return _pick(quadrant, _kernel_sin(y0, y1), _kernel_cos(y0, y1), 1.0)


# The compiled twins the generated kernels call. They are inlined into the caller by Numba
# (inline="always"): the reduction is too big for LLVM's inliner, and a call would stop the
# lane loop from vectorizing.
_cody_waite_jit = njit(cache=True, error_model="numpy", inline="always")(_cody_waite)
_payne_hanek_jit = njit(cache=True, error_model="numpy", inline="always")(_payne_hanek)
_kernel_sin_jit = njit(cache=True, error_model="numpy", inline="always")(_kernel_sin)
_kernel_cos_jit = njit(cache=True, error_model="numpy", inline="always")(_kernel_cos)
_pick_jit = njit(cache=True, error_model="numpy", inline="always")(_pick)


@njit(cache=True, error_model="numpy", inline="always")
def _reduce_jit(x):
    ax = abs(x)
    n, y0_cw, y1_cw = _cody_waite_jit(ax)
    n_ph, y0_ph, y1_ph = _payne_hanek_jit(ax)
    large = ax >= _FAST_MAX
    return _select(large, n_ph, n), _select(large, y0_ph, y0_cw), _select(large, y1_ph, y1_cw)


@njit(cache=True, error_model="numpy", inline="always")
def _reduce_fast_jit(x):
    ax = abs(x)
    n, y0, y1 = _cody_waite_jit(ax)
    return n, _select(ax < _FAST_MAX, y0, np.nan), y1


@njit(cache=True, error_model="numpy", inline="always")
def vsin_fast(x):
    """``vsin`` for |x| < 2**19 pi (the same bits), NaN beyond: the kernels' vector pass."""
    quadrant, y0, y1 = _reduce_fast_jit(x)
    return np.copysign(1.0, x) * _pick_jit(quadrant, _kernel_sin_jit(y0, y1), _kernel_cos_jit(y0, y1), 0.0)


@njit(cache=True, error_model="numpy", inline="always")
def vcos_fast(x):
    """``vcos`` for |x| < 2**19 pi (the same bits), NaN beyond: the kernels' vector pass."""
    quadrant, y0, y1 = _reduce_fast_jit(x)
    return _pick_jit(quadrant, _kernel_sin_jit(y0, y1), _kernel_cos_jit(y0, y1), 1.0)


@njit(cache=True, error_model="numpy", inline="always")
def vsin(x):
    """Compiled ``sin`` (same bits as the Python/NumPy one)."""
    quadrant, y0, y1 = _reduce_jit(x)
    return np.copysign(1.0, x) * _pick_jit(quadrant, _kernel_sin_jit(y0, y1), _kernel_cos_jit(y0, y1), 0.0)


@njit(cache=True, error_model="numpy", inline="always")
def vcos(x):
    """Compiled ``cos`` (same bits as the Python/NumPy one)."""
    quadrant, y0, y1 = _reduce_jit(x)
    return _pick_jit(quadrant, _kernel_sin_jit(y0, y1), _kernel_cos_jit(y0, y1), 1.0)
