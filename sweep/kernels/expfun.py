"""exp, log1p and the logistic pieces that vectorize: the same arithmetic in Numba's lane loop,
NumPy and Python.

libm's exp and log1p are calls that LLVM cannot vectorize (Numba here has no SVML), so a lane
loop that calls them runs one lane at a time. These versions use only ``+ - * /``, compares,
value selects, exact bit reinterpretation, integer shifts and (for exp) a lookup in a table,
with no branch, so LLVM turns a lane loop calling them into ``<4 x double>`` code on AVX2.

exp (P. T. P. Tang, "Table-driven implementation of the exponential function in IEEE
floating-point arithmetic", ACM TOMS 15(2), 1989, with a 128-entry table): x is clamped to
[-746, 710] (beyond that exp rounds to 0 or overflows anyway) and written as
``x = (128 m + j) ln2/128 + r`` with 0 <= j < 128 and |r| <= ln2/256. The integer
``k = 128 m + j`` is rounded by adding 1.5 * 2**52 and read off the bits of the sum, so no
float-to-integer conversion is needed (AVX2 has none for 64-bit integers). ``k ln2/128`` is
removed in two parts (fdlibm's ln2_hi, whose 32 significant bits make ``k * ln2_hi/128`` and
the subtraction exact, and ln2_lo), ``exp(r) - 1`` is its Taylor polynomial to degree 6
(truncation below 3e-22 relative) and ``exp(x) = 2**m * (T_j + (t_j + T_j * p(r)))`` with
``T_j + t_j = 2**(j/128)`` to 2**-105. 2**m is applied as two exact factors
2**floor(m/2) * 2**ceil(m/2) built from the bits, so that results near the overflow
threshold round (to inf when they should) only once. Where the result is subnormal the last
rounding is done at the subnormal grid instead: with ``y = exp(x) * 2**1022 < 1``,
``(1 + y) - 1`` rounds y to a multiple of 2**-52 once, and times 2**-1022 that is exact (the
trick of Szabolcs Nagy's exp in ARM's optimized-routines, as in musl and glibc since 2.28).
Both results are computed and one is selected.

log1p (fdlibm's ``s_log1p.c``, Sun Microsystems 1993, written branch-free and with its
leading terms kept exact): ``1 + x = u + c`` exactly (Knuth's TwoSum, so no separate
correction term is needed), ``u = 2**k * m`` with m in [sqrt(2)/2, sqrt(2)) read off the bits,
and with ``F = f + c'``, ``f = m - 1`` (exact) and ``c' = c / 2**k``::

    log1p(x) = k ln2 + log1p(F),    log1p(F) = F - F**2/2 + s * (F**2/2 + R(s**2)),

    s = F / (2 + F)  (|s| <= 0.1716),    R = fdlibm's minimax polynomial of degree 7 in s**2
                                              (error below 2**-58.45).

``f**2/2`` is formed exactly (T. J. Dekker's product with Veltkamp's splitting, "A
floating-point technique for extending the available precision", Numer. Math. 18, 1971) and
the large terms ``k ln2_hi``, ``f - f**2/2`` and ``c'`` are added with TwoSum, so what is
rounded before the last addition is below 0.05 of the result, and only through it does the
rounding of s enter. This keeps the error near 0.5 ulp and tiny x at full relative accuracy
(log1p(1e-300) = 1e-300). No table: LLVM computes the address of every table read (and all
that it depends on) lane by lane, which made a table-driven log (Tang, ACM TOMS 16(4), 1990)
slower here, and slowed down the exp in front of it in softplus.

The logistic pieces share one ``e = exp(-|z|)`` in [0, 1], kept as ``(w + wl) * 2**m`` (the exp
above before its last rounding), and ``1 + e = d + dc + dl`` exactly, so nothing overflows:

* sigmoid(z) = 1/(1 + e) for z >= 0 and e/(1 + e) for z < 0. ``1/d`` is corrected by its exact
  residual (Dekker's product) and by ``dc + dl``; for z < 0 the product with ``w + wl`` is
  formed exactly too and scaled by 2**m at the end, rounding once (subnormal results below
  z = -708.4 included, by the exp's subnormal path).
* softplus(z) = max(z, 0) + log1p(e): the log above applied to ``d + dc + dl`` and a TwoSum
  with max(z, 0). Below z = -700, log1p(e) rounds as e does, and that (exp's rounding of
  ``w + wl``) is the result.
* logistic_pair(z) returns both from the same e and d, for a log-loss kernel.

Accuracy (against mpmath at 200 bits on about 10**6 random arguments over the whole range and
at the edges, see tests/test_expfun.py): every result is within 1 ulp of the correctly rounded
one, and equal to it for all but about 0.07% (exp, sigmoid, softplus) and 0.25% (log1p) of the
arguments. The largest errors found against the exact value: exp 0.506 ulp, sigmoid 0.505,
softplus 0.55, log1p 0.62 (the rounding of s, at |f| near 0.4). Subnormal results of exp and
sigmoid are rounded the same way, not flushed to 0. Special values: exp(-inf) = 0,
exp(x) = inf for x > 709.782712893384 and x = inf; log1p(-1) = -inf, log1p(x < -1) = nan,
log1p(inf) = inf, log1p(+-0) = +-0; sigmoid(-inf) = 0, sigmoid(inf) = 1, softplus(-inf) = 0,
softplus(inf) = inf; NaN gives NaN everywhere. The exact steps assume every operation is
rounded as written (no fused multiply-add contraction), as NumPy and Numba (without fastmath)
do.

Cost, one AVX2 core (znver3), a lane loop over 10**6 values: exp about 2.7 ns a value (glibc's
exp 5 ns, 9.5 ns over [-700, 700]), log1p 3.8 ns (glibc 15.5 ns), logistic_pair 11.8 ns
(libm-based, less accurate: 14.2 ns). sigmoid alone, 7 ns, is slower than libm's plain
``1/(1 + exp(-z))`` (5.4 ns): the exact residuals cost more than the exp. Each call site
adds 1 to 5 seconds to a kernel's compile time.

The log-loss kernel needs neither 0.51 ulp nor x > 0 and calls ``vexp_unit`` (fdlibm's
table-free exp, 0.70 ulp) and ``vlog1p_unit`` (0.78 ulp): its pass over the samples takes
3.9 ns a value with ``vexp_unit`` and 6 ns with ``vexp`` (2-core AVX2 EPYC).
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
from numba import njit
from numba import types as _types
from numba.extending import intrinsic, overload, register_jitable

from sweep.kernels.bits import bitcast_f2u as _bitcast_f2u
from sweep.kernels.bits import bitcast_u2f as _bitcast_u2f

# --- constants -------------------------------------------------------------------------------

_LN2_HI = 6.93147180369123816490e-01  # fdlibm's ln2_hi (32 significant bits) and ln2_lo
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2_128 = 128.0 / math.log(2.0)  # any nearby value works: it only picks k
_LN2_128_HI = _LN2_HI / 128.0  # exact scalings
_LN2_128_LO = _LN2_LO / 128.0
_SHIFT = 6755399441055744.0  # 1.5 * 2**52: bits(v + _SHIFT) hold round(v) in the low bits
_SPLIT = 134217729.0  # 2**27 + 1: Veltkamp's constant, a double into two halves of <= 26 bits
_EXP_CLAMP_HI = 710.0  # exp(710) overflows and exp(-746) rounds to 0; clamping keeps k small
_EXP_CLAMP_LO = -746.0
_SUBNORMAL_ZONE = -700.0  # below this x the subnormal rounding path may be selected
_TWO_M1022 = 2.0**-1022
_TWO511 = 2.0**511
_TWO52_BIAS = 4503599627370496.0 + 1023.0  # 2**52 + 1023

# Taylor coefficients of exp(r) - 1 (degree 6), Horner order.
_E2, _E3, _E4, _E5, _E6 = 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0
# fdlibm's minimax polynomial for log (e_log.c's Lg1..Lg7, s_log1p.c's Lp1..Lp7):
# |Lg1 z + ... + Lg7 z**7 - R(z)| <= 2**-58.45 for R(s*s) = (log1p(f) - 2s)/s, s = f/(2 + f),
# |s| <= 0.1716 (f in [sqrt(2)/2 - 1, sqrt(2) - 1]).
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01

_U1 = np.uint64(1)
_U7 = np.uint64(7)
_U52 = np.uint64(52)
_U127 = np.uint64(127)
_U1023_52 = np.uint64(1023 << 52)
_U2047 = np.uint64(2047)
_U_TWO52 = np.uint64(0x4330000000000000)  # the bits of 2**52
_U_SQRT1_2 = np.uint64(0x3FE6A09E667F3BCD)  # the bits of sqrt(2)/2 (rounded): m's lower end
# m + 2046 = (bits(k + _SHIFT) >> 7) - _U_EXP_BIAS, for k = 128 m + j (see _exp_parts).
_U_EXP_BIAS = np.uint64((0x4338000000000000 >> 7) - 2046)


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """2**(j/128) as hi + lo for j = 0..127: hi the double nearest to it and lo the double
    nearest to the rest, from 60-digit decimals."""
    exp_hi, exp_lo = np.zeros(128), np.zeros(128)
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        for j in range(128):
            v = (ln2 * j / 128).exp()
            exp_hi[j] = float(v)
            exp_lo[j] = float(v - Decimal(exp_hi[j]))
    return exp_hi, exp_lo


_EXP_HI, _EXP_LO = _tables()
# The same in one table, hi and lo of 2**(j/128) at [2j] and [2j + 1]: one address per lane.
_EXP_TABLE = np.stack([_EXP_HI, _EXP_LO], axis=1).ravel()


# --- four small operations with one meaning in NumPy and in Numba ----------------------------


def _float_bits(v):
    """The IEEE 754 bits of a float64 (array) as uint64."""
    return np.asarray(v, dtype=np.float64).view(np.uint64)


def _bits_float(i):
    """The float64 (array) whose IEEE 754 bits are the uint64 ``i``."""
    return np.asarray(i, dtype=np.uint64).view(np.float64)


def _gather(table, i):
    """``table[i]`` for an index or an index array (a gather in the lane loop)."""
    return table[i]


def _select(c, a, b):
    """``a`` where ``c`` else ``b``, exactly (a value select, not arithmetic)."""
    return np.where(c, a, b)


@intrinsic
def _select_ir(typingctx, c, a, b):
    # Two float64 or two uint64 values (and nothing else) to select from.
    if not (isinstance(c, _types.Boolean) and a == b and a in (_types.float64, _types.uint64)):
        return None

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return a(c, a, b), codegen


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


# --- the algorithms, written once for NumPy and Numba ----------------------------------------
# Each is a plain Python function (NumPy calls it as it is) that Numba compiles and inlines
# wherever a compiled function calls it: a call would stop the lane loop from vectorizing,
# and the bodies are too big for LLVM's own inliner.


def _twin(fn):
    return register_jitable(inline="always", error_model="numpy")(fn)


@_twin
def _two_sum(a, b):
    """s + e = a + b exactly (Knuth's TwoSum, no assumption on the magnitudes)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@_twin
def _two_prod(a, b):
    """p + e = a * b exactly (Dekker's product with Veltkamp's splitting), for normal a, b."""
    c = a * _SPLIT
    ah = c - (c - a)
    al = a - ah
    c = b * _SPLIT
    bh = c - (c - b)
    bl = b - bh
    p = a * b
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@_twin
def _exp_parts(x):
    """exp(x) = (th + tl) * 2**m as (th, tl, the uint64 m + 2046); |tl| < 0.006 th, th a
    table entry in [1, 2). x is clamped to [-746, 710] (NaN becomes -746)."""
    xc = _select(x < _EXP_CLAMP_HI, x, _EXP_CLAMP_HI)
    xc = _select(xc > _EXP_CLAMP_LO, xc, _EXP_CLAMP_LO)
    kd = xc * _INV_LN2_128 + _SHIFT
    ki = _float_bits(kd)
    k = kd - _SHIFT
    r = (xc - k * _LN2_128_HI) - k * _LN2_128_LO
    # The table row is taken from x itself, the same as from xc inside [-746, 710] and
    # harmless outside (any row then still rounds to inf or 0). The loop vectorizer computes
    # a gather's address lane by lane, with everything it depends on; the clamps need not be.
    row = (_float_bits(x * _INV_LN2_128 + _SHIFT) & _U127) << _U1
    th = _gather(_EXP_TABLE, row)
    p = r + r * r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * _E6))))
    tl = _gather(_EXP_TABLE, row + _U1) + th * p
    return th, tl, (ki >> _U7) - _U_EXP_BIAS


@_twin
def _scale_parts(u):
    """2**m = s1 * s2 with both factors normal (u = m + 2046, -1077 <= m <= 1024)."""
    half = u >> _U1
    return _bits_float(half << _U52), _bits_float((u - half) << _U52)


@_twin
def _ldexp_rounded(h, lo_part, u, deep):
    """(h + lo_part) * 2**m, rounded once, for |lo_part| <= |h| < 2 and u = m + 2046 (-1077 <= m <= 1024):
    to inf on overflow and to the subnormal grid where the result is subnormal. ``deep`` must
    be true only where m < -1000 (where 2**(m + 1022) below is a normal double)."""
    s1, s2 = _scale_parts(u)
    normal = ((h + lo_part) * s1) * s2
    # Subnormal results: y = (h + lo_part) * 2**(m + 1022) < 1 is rounded once at the grid of
    # 2**-52 as (1 + y) - 1, then scaled exactly by 2**-1022. 2**(m + 1022) is formed as
    # (s1 * 2**511) * (s2 * 2**511), exact where the path is taken; elsewhere it may overflow
    # (harmless, unlike subnormal operands, which would slow every lane down).
    s = (s1 * _TWO511) * (s2 * _TWO511)
    yh = h * s
    yl = lo_part * s
    hi = 1.0 + yh
    lo = ((1.0 - hi) + yh) + yl  # 1 + y = hi + lo, to 2**-105
    tiny = ((hi + lo) - 1.0) * _TWO_M1022
    return _select(deep & (yh + yl < 1.0), tiny, normal)


@_twin
def _exp(x):
    th, tl, u = _exp_parts(x)
    v = _ldexp_rounded(th, tl, u, x < _SUBNORMAL_ZONE)
    return _select(x != x, x, v)


@_twin
def _log_parts(u, c, cl):
    """log(u + c + cl) as (hi, lo), hi + lo to about 2**-57 relative, for a normal u > 0 and
    |c|, |cl| <= ulp(u)/2 (see the module doc)."""
    ib = _float_bits(u)
    kb = (ib - _U_SQRT1_2 + _U1023_52) >> _U52  # k + 1023, for u = 2**k * m
    m = _bits_float(ib + _U1023_52 - (kb << _U52))  # in [sqrt(2)/2, sqrt(2))
    kf = _bits_float(kb | _U_TWO52) - _TWO52_BIAS  # k as a float, exactly
    scale = _bits_float((_U2047 - kb) << _U52)  # 2**(1 - k); 0 for k = 1024, where c is negligible
    cs = (c * scale) * 0.5  # c * 2**-k
    cls = (cl * scale) * 0.5
    f = m - 1.0  # exact; log(u + c + cl) = k ln2 + log1p(f + cs + cls)
    fr = f + cs
    s = fr / (2.0 + fr)
    z = s * s
    w = z * z
    r = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7))) + w * (_LG2 + w * (_LG4 + w * _LG6))
    # f*f/2 = hh + hl exactly (Dekker's product, f split once).
    cf = f * _SPLIT
    fh = cf - (cf - f)
    fl = f - fh
    p = f * f
    hh = 0.5 * p
    hl = 0.5 * (((fh * fh - p) + 2.0 * (fh * fl)) + fl * fl)
    ct = cs + cls
    fcs = f * ct + 0.5 * (ct * ct)  # (f + cs + cls)**2 / 2 = hh + hl + fcs, to 2**-106
    a = f - hh
    ae = (f - a) - hh  # Fast2Sum: f - hh = a + ae exactly
    # The large terms k ln2_hi, f - hh and cs are summed exactly (cs is as large as f when f
    # has few bits, as at x ~ 1e-16); the rest is below 0.05 of the result.
    s1, e1 = _two_sum(kf * _LN2_HI, a)
    s2, e2 = _two_sum(s1, cs)
    small = s * ((hh + fcs) + r)
    lo = ((((e1 + e2) + ae) + (cls - (hl + fcs))) + small) + kf * _LN2_LO
    return s2, lo


@_twin
def _log1p(x):
    u = x + 1.0
    bb = u - x
    c = (x - (u - bb)) + (1.0 - bb)  # 1 + x = u + c exactly
    hi, lo = _log_parts(u, c, 0.0)
    v = hi + lo
    v = _select(x == 0.0, x, v)  # keeps the sign of -0.0
    v = _select(x == -1.0, -np.inf, v)
    v = _select(x < -1.0, np.nan, v)
    v = _select(x == np.inf, x, v)
    return _select(x != x, x, v)


@_twin
def _one_plus_e(z):
    """e = exp(-|z|) in [0, 1] as (w + wl) * 2**m (w in [1, 2), |wl| <= ulp(w)/2, u = m + 2046),
    and 1 + e = d + dc + dl exactly (dl = wl * 2**m, e's low part, loses bits to underflow
    where e < 2**-969, z < -671)."""
    th, tl, u = _exp_parts(-np.abs(z))
    w = th + tl
    wl = (th - w) + tl  # Fast2Sum: th + tl = w + wl exactly
    s1, s2 = _scale_parts(u)
    eh = (w * s1) * s2
    el = (wl * s1) * s2
    d = 1.0 + eh
    return w, wl, u, d, (1.0 - d) + eh, el


@_twin
def _sigmoid_from(z, w, wl, u, d, dc, dl):
    # 1/(d + dc) = s * (1 + rho) with s = 1/d rounded and rho from the exact residual.
    s = 1.0 / d
    p, pe = _two_prod(s, d)
    rho = ((1.0 - p) - pe) - s * (dc + dl)
    positive = s + s * rho
    # e/(1 + e) = (w + wl) * s * (1 + rho) * 2**m, scaled (and rounded) only at the end.
    ph, pl = _two_prod(w, s)
    negative = _ldexp_rounded(ph, pl + (wl * s + ph * rho), u, z < _SUBNORMAL_ZONE)
    v = _select(z < 0.0, negative, positive)
    return _select(z != z, z, v)


@_twin
def _softplus_core(z, d, dc, dl):
    lh, ll = _log_parts(d, dc, dl)
    zp = _select(z > 0.0, z, 0.0)
    sh, se = _two_sum(zp, lh)
    v = sh + (se + ll)
    v = _select(z == np.inf, z, v)
    return _select(z != z, z, v)


@_twin
def _softplus_from(z, w, wl, u, d, dc, dl):
    v = _softplus_core(z, d, dc, dl)
    # Below z = -700, log1p(e) rounds as e does (e/2 < 1e-304 relative), and dl has lost bits
    # to underflow from z = -703 on: there the result is e itself, rounded from w + wl.
    deep = z < _SUBNORMAL_ZONE
    return _select(deep, _ldexp_rounded(w, wl, u, deep), v)


def _sigmoid(z):
    w, wl, u, d, dc, dl = _one_plus_e(z)
    return _sigmoid_from(z, w, wl, u, d, dc, dl)


def _softplus(z):
    w, wl, u, d, dc, dl = _one_plus_e(z)
    return _softplus_from(z, w, wl, u, d, dc, dl)


def _logistic_pair(z):
    w, wl, u, d, dc, dl = _one_plus_e(z)
    sig = _sigmoid_from(z, w, wl, u, d, dc, dl)
    # Below z = -700 both round as e does (see _softplus_from): softplus takes sigmoid's value.
    return sig, _select(z < _SUBNORMAL_ZONE, sig, _softplus_core(z, d, dc, dl))


# --- NumPy and Python: arrays or scalars in, the same bits as the compiled versions out -------


def _numpy(kernel, x):
    a = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):  # inf - inf and wrapped bits on the discarded paths
        out = kernel(a)
    if isinstance(out, tuple):
        return tuple(o if np.ndim(o) else np.float64(o) for o in out)
    return out if np.ndim(out) else np.float64(out)


def exp(x):
    """exp(x) for a float or a float64 array (Tang's method, branch-free; see the module doc)."""
    return _numpy(_exp, x)


def log1p(x):
    """log(1 + x) for a float or a float64 array (fdlibm's method, branch-free; see the module doc)."""
    return _numpy(_log1p, x)


def sigmoid(z):
    """1 / (1 + exp(-z)) for a float or a float64 array, without overflow."""
    return _numpy(_sigmoid, z)


def softplus(z):
    """log(1 + exp(z)) for a float or a float64 array, without overflow."""
    return _numpy(_softplus, z)


def logistic_pair(z):
    """(sigmoid(z), softplus(z)) for a float or a float64 array, sharing one exp."""
    return _numpy(_logistic_pair, z)


# --- the compiled versions the kernels call (scalar float64 in, float64 out) -----------------

_jit = njit(cache=True, error_model="numpy", inline="always")

vexp = _jit(_exp)
vexp.__doc__ = """exp(x) for one float64 (Tang's method, branch-free; see the module doc), the same
bits as ``exp``. Inlined into a lane loop, LLVM vectorizes it (the table reads done lane by lane)."""

vlog1p = _jit(_log1p)
vlog1p.__doc__ = """log(1 + x) for one float64 (branch-free; see the module doc), the same bits as ``log1p``."""

vsigmoid = _jit(_sigmoid)
vsigmoid.__doc__ = """1 / (1 + exp(-z)) for one float64, without overflow; the same bits as ``sigmoid``."""

vsoftplus = _jit(_softplus)
vsoftplus.__doc__ = """log(1 + exp(z)) for one float64, without overflow; the same bits as ``softplus``."""

vlogistic_pair = _jit(_logistic_pair)
vlogistic_pair.__doc__ = """(sigmoid(z), softplus(z)) for one float64 from one shared exp, as a log-loss
kernel needs at every sample; the same bits as ``vsigmoid`` and ``vsoftplus``."""


_SQRT2 = 1.4142135623730951
_LN2_HI_L, _LN2_LO_L = 6.93147180369123816490e-01, 1.90821492927058770002e-10


@njit(cache=True, error_model="numpy", inline="always")
def vlog1p_unit(e):
    """log(1 + e) for 0 <= e <= 1 (NaN gives NaN): fdlibm's log1p reduction without the
    exact leading terms of ``vlog1p``, within 0.78 ulp of the exact value (1 ulp of the
    correctly rounded one) and a third of its cost. 1 + e = u + c exactly (u >= 1 >= e:
    Fast2Sum), u in [1, 2] scaled to m in [sqrt(2)/2, sqrt(2)]
    (k = 0 or 1, a select), f = m - 1 exact, and log1p(f + c/u') by fdlibm's minimax R."""
    u = 1.0 + e
    c = e - (u - 1.0)
    big = u > _SQRT2
    k = 1.0 if big else 0.0
    m = 0.5 * u if big else u
    f = m - 1.0
    c = c / u  # the relative size of the part of 1 + e that u lost
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    hfsq = 0.5 * f * f
    return k * _LN2_HI_L - ((hfsq - (s * (hfsq + t1 + t2) + (k * _LN2_LO_L + c))) - f)


# fdlibm's e_exp.c (Sun Microsystems 1993): R(r) = r (exp(r) + 1)/(exp(r) - 1) = 2 + r**2/6 - ...,
# minimax of degree 5 in r**2 on |r| <= ln2/2 (error below 2**-59).
_EP1 = 1.66666666666666019037e-01
_EP2 = -2.77777777770155933842e-03
_EP3 = 6.61375632143793436117e-05
_EP4 = -1.65339022054652515390e-06
_EP5 = 4.13813679705723846039e-08
_INV_LN2 = 1.44269504088896338700e00
_U_EXP_BIAS_1 = np.uint64(0x4338000000000000 - 2046)  # bits(k + _SHIFT) - this = k + 2046


@njit(cache=True, error_model="numpy", inline="always")
def vexp_unit(x):
    """exp(x) for x <= 0 (a result in [0, 1]; NaN gives NaN): fdlibm's table-free
    reduction, within 0.70 ulp of the exact value and 1 ulp of the correctly rounded one
    (about 1.5% of results on random arguments are not correctly rounded), at about half
    ``vexp``'s cost in a lane loop: ``vexp``'s table reads, done lane by lane, cost more
    than the rest of it. The log-loss kernel's exp.

    x = k ln2 + hi - lo (k ln2_hi exact, as in ``vexp``), and with r = hi - lo,
    exp(r) = 1 + hi - (lo - r c/(2 - c)), c = r - r**2 P(r**2) (fdlibm's e_exp.c). 1 + hi is
    summed exactly (Fast2Sum, |hi| < 1), which brings fdlibm's 0.8 ulp down to 0.70, and the
    result is scaled by 2**k as two normal factors, rounding once where it is normal
    (subnormal results, below x = -708.4, may round twice: within 0.85 ulp of the subnormal
    grid, y's 0.70 ulp being at most 0.35 of it, and within 1 ulp of the correctly rounded
    result)."""
    xc = x if x > _EXP_CLAMP_LO else _EXP_CLAMP_LO
    kd = xc * _INV_LN2 + _SHIFT
    k = kd - _SHIFT
    hi = xc - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    t2 = t * t  # Estrin's scheme: the chain through the polynomial is half Horner's
    c = r - t * ((_EP1 + t * _EP2) + t2 * ((_EP3 + t * _EP4) + t2 * _EP5))
    s = 1.0 + hi
    y = s + (((1.0 - s) + hi) - (lo - (r * c) / (2.0 - c)))
    s1, s2 = _scale_parts(_bitcast_f2u(kd) - _U_EXP_BIAS_1)
    v = (y * s1) * s2
    return x if x != x else v
