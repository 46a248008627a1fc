"""sweep's branch-free sin and cos (sweep/kernels/trig.py): accuracy for every finite float64,
and the same bits from NumPy, Python floats, the compiled scalar and the vectorized lane loop."""

import math
import re

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from sweep.kernels import trig

# Enough bits for an exact reduction of any double (2**1024 * 2/pi, plus the ~60 bits a
# double can cancel against a multiple of pi/2, plus 53).
PREC = 1400
DBL_MAX = np.finfo(np.float64).max
WORST = 6381956970095103 * 2.0**797  # the double nearest to a multiple of pi/2, relatively


@njit(error_model="numpy")
def _lanes(x, s, c):
    for i in range(x.size):
        s[i] = trig.vsin(x[i])
        c[i] = trig.vcos(x[i])


def lanes(x):
    s, c = np.empty_like(x), np.empty_like(x)
    _lanes(x, s, c)
    return s, c


def log_uniform(seed, n, low=-12.0, high=308.25):
    """n doubles with log10|x| uniform in [low, high] and random signs (the ones past the largest double dropped)."""
    rng = np.random.default_rng(seed)
    x = 10.0 ** rng.uniform(low, high, n) * rng.choice([-1.0, 1.0], n)
    return x[np.isfinite(x)]


def ulps_from_correctly_rounded(values, x, function):
    """|value - round(function(x))| in ulps of the correctly rounded result, by mpmath."""
    out = []
    with mpmath.workprec(PREC):
        for v, xi in zip(values, x):
            exact = float(function(mpmath.mpf(float(xi))))
            out.append(abs(float(v) - exact) / math.ulp(exact))
    return np.array(out)


def nearest_to_multiples_of_pio2(exponent, count=2):
    """The doubles in [2**exponent, 2**(exponent+1)) nearest to a multiple of pi/2: M * 2**(exponent-52)
    with M a multiple of a continued-fraction denominator of frac(2**(exponent-52) * 2/pi)."""
    with mpmath.workprec(PREC):
        alpha = mpmath.frac(2 / mpmath.pi * mpmath.ldexp(1, exponent - 52))
        a, (q_prev, q) = alpha, (1, 0)
        candidates = set()
        for _ in range(120):
            digit = int(mpmath.floor(a))
            q_prev, q = q, digit * q + q_prev
            if q >= 2**53:
                break
            for m in range(-(-(2**52) // q), -(-(2**52) // q) + 3):
                candidates.update(M for M in (m * q, m * q + q_prev, m * q - q_prev) if 2**52 <= M < 2**53)
            if a == digit:
                break
            a = 1 / (a - digit)
        best = sorted(candidates, key=lambda M: abs(M * alpha - mpmath.nint(M * alpha)))
    return [math.ldexp(M, exponent - 52) for M in best[:count]]


def test_table_bits_are_two_over_pi():
    with mpmath.workprec(1300):
        assert trig._two_over_pi(1152) == int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** 1152))


def test_within_one_ulp_of_libm_at_every_magnitude():
    x = np.concatenate([log_uniform(1, 40_000), np.linspace(-2e7, 2e7, 2001), [DBL_MAX, -DBL_MAX, 1e308, 2.0**1023]])
    s, c = trig.sin(x), trig.cos(x)
    for ours, libm in ((s, math.sin), (c, math.cos)):
        expected = np.array([libm(v) for v in x])
        assert np.all(np.abs(ours - expected) <= np.spacing(np.abs(expected))), x[np.abs(ours - expected) > np.spacing(np.abs(expected))][:5]


def test_within_one_ulp_of_correctly_rounded():
    # Where libm itself may be off (it is, near multiples of pi/2), compare with mpmath.
    x = np.concatenate([log_uniform(2, 1500), [WORST, -WORST, DBL_MAX, 2.0**-1074, 2.2250738585072014e-308]])
    assert ulps_from_correctly_rounded(trig.sin(x), x, mpmath.sin).max() <= 1
    assert ulps_from_correctly_rounded(trig.cos(x), x, mpmath.cos).max() <= 1


@pytest.mark.parametrize("exponent", [-1, 1, 7, 19, 20, 21, 24, 40, 52, 53, 64, 100, 200, 333, 500, 612, 797, 800, 900, 1000, 1023])
def test_near_multiples_of_pi_over_2(exponent):
    x = np.array([sign * v for v in nearest_to_multiples_of_pio2(exponent) for sign in (1.0, -1.0)])
    assert ulps_from_correctly_rounded(trig.sin(x), x, mpmath.sin).max() <= 1
    assert ulps_from_correctly_rounded(trig.cos(x), x, mpmath.cos).max() <= 1


def test_the_closest_double_to_a_multiple_of_pi_over_2():
    # cos(WORST) = -4.687165924254627611e-19: |x mod pi/2| is about 2**-61 for x ~ 2**850.
    assert trig.vcos(WORST) == trig.cos(WORST) == -4.6871659242546276e-19
    assert trig.vsin(WORST) == 1.0


def test_multiples_of_pi_over_2_where_the_spacing_allows():
    rng = np.random.default_rng(3)
    k = np.concatenate([np.arange(1, 200), rng.integers(1, 2**52, 200), 2 ** rng.integers(20, 52, 100)])
    with mpmath.workprec(200):
        x = np.array([float(int(ki) * mpmath.pi / 2) for ki in k])
    assert ulps_from_correctly_rounded(trig.sin(x), x, mpmath.sin).max() <= 1
    assert ulps_from_correctly_rounded(trig.cos(x), x, mpmath.cos).max() <= 1


def test_around_the_switch_between_the_reductions():
    edge = trig._FAST_MAX
    x = np.concatenate([np.nextafter(edge, 0.0) - np.arange(50) * 0.25, edge + np.arange(50) * 0.25, np.nextafter(edge, [0.0, np.inf])])
    x = np.concatenate([x, -x])
    assert ulps_from_correctly_rounded(trig.sin(x), x, mpmath.sin).max() <= 1
    assert ulps_from_correctly_rounded(trig.cos(x), x, mpmath.cos).max() <= 1


def test_special_values():
    for f in (trig.sin, trig.cos, trig.vsin, trig.vcos):
        for v in (math.inf, -math.inf, math.nan):
            with np.errstate(invalid="ignore"):  # inf - inf inside, as IEEE arithmetic has it
                assert math.isnan(f(v))
    for f in (trig.sin, trig.vsin):
        assert f(0.0) == 0.0 and not math.copysign(1.0, f(0.0)) < 0
        assert f(-0.0) == 0.0 and math.copysign(1.0, f(-0.0)) < 0
        assert f(5e-324) == 5e-324 and f(-5e-324) == -5e-324
        assert f(2.2250738585072014e-308) == 2.2250738585072014e-308
    for f in (trig.cos, trig.vcos):
        assert f(0.0) == f(-0.0) == f(5e-324) == 1.0
    s, c = lanes(np.array([math.inf, -math.inf, math.nan, -0.0, DBL_MAX]))
    assert np.isnan(s[:3]).all() and np.isnan(c[:3]).all() and math.copysign(1.0, s[3]) < 0 and c[3] == 1.0
    assert s[4] == math.sin(DBL_MAX) and c[4] == math.cos(DBL_MAX)


def test_numpy_python_compiled_and_vectorized_give_the_same_bits():
    rng = np.random.default_rng(4)
    x = np.concatenate([log_uniform(5, 20_000), rng.uniform(-10, 10, 5000), log_uniform(6, 5000, low=-320.0, high=-12.0), [0.0, -0.0, DBL_MAX, -DBL_MAX, 5e-324]])
    s, c = trig.sin(x), trig.cos(x)
    vs, vc = lanes(x)
    assert np.array_equal(s, vs) and np.array_equal(c, vc)
    assert np.array_equal(np.signbit(s), np.signbit(vs))
    for i in range(0, x.size, 50):
        assert trig.vsin(x[i]) == trig.sin(float(x[i])) == s[i]
        assert trig.vcos(x[i]) == trig.cos(float(x[i])) == c[i]


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_double(v):
    x = np.array([v])
    s, c = trig.sin(x), trig.cos(x)
    assert trig.vsin(v) == s[0] and trig.vcos(v) == c[0]
    assert ulps_from_correctly_rounded(s, x, mpmath.sin)[0] <= 1
    assert ulps_from_correctly_rounded(c, x, mpmath.cos)[0] <= 1


def test_the_lane_loop_still_vectorizes():
    lanes(np.ones(8))
    ir = _lanes.inspect_llvm(_lanes.signatures[0])
    assert re.search(r"<[248] x double>", ir), "the vsin/vcos lane loop was not vectorized"
