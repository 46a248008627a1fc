"""sweep's branch-free exp, log1p, sigmoid and softplus (sweep/kernels/expfun.py): accuracy
against mpmath over the whole range and at the edges, the same bits from NumPy, the compiled
scalar and the lane loop, and a lane loop that vectorizes without libm calls."""

import math
import re

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from sweep.kernels import expfun

PREC = 200
DBL_MAX = np.finfo(np.float64).max
DBL_MIN = 2.2250738585072014e-308  # the smallest normal double
TINIEST = 5e-324
LN_MAX = 709.782712893384  # the largest x with a finite exp(x)
LN_MIN = -745.1332191019411  # the smallest x with exp(x) > 0 (it rounds to 2**-1074)


# --- references --------------------------------------------------------------------------------


def ref_exp(x):
    return mpmath.exp(x)


def ref_log1p(x):
    return mpmath.log1p(x)


def ref_sigmoid(z):
    e = mpmath.exp(-abs(z))
    return 1 / (1 + e) if z >= 0 else e / (1 + e)


def ref_softplus(z):
    return max(z, 0) + mpmath.log1p(mpmath.exp(-abs(z)))


def correctly_rounded(v):
    """The double nearest to the mpf v (ties cannot occur here), subnormals and overflow included."""
    if v == 0:
        return 0.0
    sign, a = (-1.0 if v < 0 else 1.0), abs(v)
    if a < mpmath.ldexp(1, -1022):
        return sign * math.ldexp(float(int(mpmath.nint(mpmath.ldexp(a, 1074)))), -1074)
    if a >= mpmath.ldexp(1, 1024) * (1 - mpmath.ldexp(1, -54)):
        return sign * math.inf
    return sign * float(a)


def errors(values, xs, reference):
    """For each value: (|value - exact| in ulps of the correctly rounded result, |value - that
    result| in whole ulps). Overflowing results must be exactly inf."""
    frac, whole = [], []
    with mpmath.workprec(PREC):
        for v, x in zip(np.asarray(values, dtype=np.float64).ravel(), np.asarray(xs, dtype=np.float64).ravel()):
            exact = reference(mpmath.mpf(float(x)))
            rounded = correctly_rounded(exact)
            if math.isinf(rounded):
                assert v == rounded, (x, v)
                frac.append(0.0)
                whole.append(0.0)
                continue
            unit = math.ulp(rounded)
            frac.append(float(abs(mpmath.mpf(float(v)) - exact) / unit))
            whole.append(abs(float(v) - rounded) / unit)
    return np.array(frac), np.array(whole)


# The largest error against the exact value that the module's doc reports (from 10**6 random
# arguments), rounded up: what the tests below allow.
BOUND = {"exp": 0.51, "log1p": 0.65, "sigmoid": 0.51, "softplus": 0.65}
# The log-loss kernel's lean versions on their domains (vexp_unit, vlog1p_unit): the largest
# errors found on 10**6 (exp) and 10**5 (log1p) random arguments, rounded up. Subnormal
# results of vexp_unit may round twice: y's 0.70 ulp is at most 0.35 ulp of the subnormal
# grid, plus half a unit for the last rounding (0.764 found at x = -708.7669277791041).
LEAN_BOUND = {"exp": 0.70, "exp_subnormal": 0.85, "log1p": 0.78}


def assert_accurate(values, xs, reference, bound=None):
    """Within 1 ulp of the correctly rounded result, and within ``bound`` (BOUND's entry by
    default) ulp of the exact value."""
    bound = BOUND[reference.__name__.removeprefix("ref_")] if bound is None else bound
    frac, whole = errors(values, xs, reference)
    xs = np.asarray(xs).ravel()
    assert whole.max() <= 1.0, xs[whole > 1][:5]
    assert frac.max() <= bound, (xs[np.argmax(frac)], frac.max())


# --- lane loops, compiled without the cache so that their IR can be inspected -------------------


def _lane_loop(function):
    """A lane loop, ``out[i] = function(x[i])``, compiled on its own (without the cache)."""

    @njit(error_model="numpy")
    def loop(x, out):
        for i in range(x.size):
            out[i] = function(x[i])

    return loop


_lanes_exp = _lane_loop(expfun.vexp)
_lanes_log1p = _lane_loop(expfun.vlog1p)
_lanes_sigmoid = _lane_loop(expfun.vsigmoid)
_lanes_softplus = _lane_loop(expfun.vsoftplus)
_lanes_exp_unit = _lane_loop(expfun.vexp_unit)
_lanes_log1p_unit = _lane_loop(expfun.vlog1p_unit)


@njit(error_model="numpy")
def _lanes_pair(x, sig, sp):
    for i in range(x.size):
        s, p = expfun.vlogistic_pair(x[i])
        sig[i] = s
        sp[i] = p


@njit(error_model="numpy")
def _lanes_libm_exp(x, out):
    for i in range(x.size):
        out[i] = math.exp(x[i])


def lanes(loop, x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    loop(x, out)
    return out


def lanes_pair(x):
    x = np.ascontiguousarray(x, dtype=np.float64)
    sig, sp = np.empty_like(x), np.empty_like(x)
    _lanes_pair(x, sig, sp)
    return sig, sp


LOOPS = {"exp": _lanes_exp, "log1p": _lanes_log1p, "sigmoid": _lanes_sigmoid, "softplus": _lanes_softplus}
NUMPY = {"exp": expfun.exp, "log1p": expfun.log1p, "sigmoid": expfun.sigmoid, "softplus": expfun.softplus}
SCALAR = {"exp": expfun.vexp, "log1p": expfun.vlog1p, "sigmoid": expfun.vsigmoid, "softplus": expfun.vsoftplus}
REFERENCE = {"exp": ref_exp, "log1p": ref_log1p, "sigmoid": ref_sigmoid, "softplus": ref_softplus}


def signed(rng, v):
    return v * rng.choice([-1.0, 1.0], v.size)


def samples(name, seed, n=600):
    """Random arguments across the whole domain of each function, denser where it is hard."""
    rng = np.random.default_rng(seed)
    if name == "exp":
        x = [rng.uniform(LN_MIN - 0.1, LN_MAX + 0.1, n), rng.uniform(-1, 1, n // 4), rng.uniform(705, LN_MAX, n // 4), rng.uniform(-746, -708, n // 2), signed(rng, 10.0 ** rng.uniform(-20, 0, n // 4))]
    elif name == "log1p":
        x = [10.0 ** rng.uniform(-320, 308.2, n), -(10.0 ** rng.uniform(-320, -1e-9, n // 2)), rng.uniform(-0.5, 1.5, n // 2), -1.0 + 10.0 ** rng.uniform(-16, -1, n // 4)]
    elif name == "sigmoid":
        x = [rng.uniform(-750, 40, n), rng.uniform(-40, 40, n // 2), signed(rng, 10.0 ** rng.uniform(-20, 1, n // 4))]
    else:
        x = [rng.uniform(-750, 750, n), rng.uniform(-40, 40, n // 2), signed(rng, 10.0 ** rng.uniform(-20, 1, n // 4)), signed(rng, 10.0 ** rng.uniform(1, 308, n // 4))]
    x = np.concatenate(x)
    return x[np.isfinite(x) & ((x > -1) if name == "log1p" else True)]


# --- accuracy ---------------------------------------------------------------------------------------


def test_exp_table():
    with mpmath.workprec(PREC):
        for j in range(128):
            exact = mpmath.mpf(2) ** (mpmath.mpf(j) / 128)
            assert expfun._EXP_HI[j] == float(exact) == expfun._EXP_TABLE[2 * j]
            assert expfun._EXP_LO[j] == expfun._EXP_TABLE[2 * j + 1]
            assert abs(mpmath.mpf(expfun._EXP_HI[j]) + expfun._EXP_LO[j] - exact) < mpmath.ldexp(exact, -105)
    # fdlibm's two-part ln2: the high part has 32 significant bits, so k * ln2_hi is exact.
    mantissa = math.frexp(expfun._LN2_HI)[0] * 2.0**32
    assert mantissa == int(mantissa)


def test_the_log_polynomial_is_fdlibms_bound():
    # |Lg1 z + ... + Lg7 z**7 - R(z)| <= 2**-58.45 with R(s*s) = (log((1 + s)/(1 - s)) - 2s)/s.
    lg = [expfun._LG1, expfun._LG2, expfun._LG3, expfun._LG4, expfun._LG5, expfun._LG6, expfun._LG7]
    worst = 0
    with mpmath.workprec(PREC):
        for s in np.linspace(1e-6, 0.1716, 301):
            s = mpmath.mpf(float(s))
            z = s * s
            exact = (mpmath.log((1 + s) / (1 - s)) - 2 * s) / s
            worst = max(worst, abs(sum(c * z ** (i + 1) for i, c in enumerate(lg)) - exact))
    assert worst <= 2.0**-58.45


@pytest.mark.parametrize("name", ["exp", "log1p", "sigmoid", "softplus"])
def test_random_arguments_across_the_range(name):
    x = samples(name, seed=sorted(LOOPS).index(name))
    values = lanes(LOOPS[name], x)
    assert_accurate(values, x, REFERENCE[name])


def test_exp_edges():
    lowest_normal = -708.3964185322641  # exp of it is just above 2**-1022
    small = [0.0, -0.0, TINIEST, -TINIEST, DBL_MIN, 1e-300, -1e-300, 2.0**-53, -(2.0**-54), 1.0, -1.0, math.log(2.0), math.log(2.0) / 256]
    high = [LN_MAX, np.nextafter(LN_MAX, 0), 709.0, 705.5]
    low = [lowest_normal, np.nextafter(lowest_normal, 0), np.nextafter(lowest_normal, -1000), -709.08956571282405, -744.4400719213812, -745.0, LN_MIN, np.nextafter(LN_MIN, 0)]
    x = np.array(small + high + low)
    assert_accurate(lanes(_lanes_exp, x), x, ref_exp)
    assert expfun.vexp(0.0) == expfun.vexp(-0.0) == 1.0 and expfun.vexp(1e-300) == 1.0
    assert expfun.vexp(LN_MAX) == math.exp(LN_MAX) == 1.7976931348622732e308
    assert expfun.vexp(lowest_normal) >= DBL_MIN > expfun.vexp(np.nextafter(lowest_normal, -1000))
    assert expfun.vexp(LN_MIN) == TINIEST and expfun.vexp(np.nextafter(LN_MIN, -1000)) == 0.0  # the last subnormal, then 0
    overflow = [np.nextafter(LN_MAX, 1000), 709.79, 710.0, 1e300, DBL_MAX, math.inf]
    underflow = [np.nextafter(LN_MIN, -1000), -746.0, -1e300, -DBL_MAX, -math.inf]
    values = lanes(_lanes_exp, np.array(overflow + underflow + [math.nan]))
    assert np.all(values[: len(overflow)] == math.inf)
    assert np.all(values[len(overflow) : -1] == 0.0) and not np.signbit(values[:-1]).any()
    assert math.isnan(values[-1])


def test_exp_rounds_subnormal_results_correctly():
    # The subnormal path rounds once at the subnormal grid: not flushed to 0, and as close as
    # the normal range (errors in units of 2**-1074).
    x = np.random.default_rng(11).uniform(LN_MIN - 0.01, -708.3964185322641, 1500)
    values = lanes(_lanes_exp, x)
    assert np.all(values[x > LN_MIN] > 0) and np.all(values < DBL_MIN)
    assert_accurate(values, x, ref_exp)


def test_log1p_edges():
    tiny = [TINIEST, -TINIEST, DBL_MIN, 1e-300, -1e-300, 1e-20, 2.0**-53, -(2.0**-53), 2.0**-52, 1.6377971217150964e-16, -1.7575133349095297e-16, 1e-8, -1e-8]
    table_edges = [1 / 256, -1 / 256, math.sqrt(2) - 1, math.sqrt(0.5) - 1, np.nextafter(math.sqrt(2) - 1, 1), np.nextafter(math.sqrt(0.5) - 1, -1), -0.5, 1.0, 2.0]
    large = [1e16, 2.0**53, 2.0**53 + 2, 1e300, DBL_MAX]
    near_minus_one = [-1.0 + 2.0**-53, -1.0 + 2.0**-52, -0.9999999]
    x = np.array(tiny + table_edges + large + near_minus_one)
    assert_accurate(lanes(_lanes_log1p, x), x, ref_log1p)
    assert expfun.vlog1p(1e-300) == 1e-300 and expfun.vlog1p(TINIEST) == TINIEST and expfun.vlog1p(-TINIEST) == -TINIEST
    assert expfun.vlog1p(1.0) == math.log(2.0)
    values = lanes(_lanes_log1p, np.array([0.0, -0.0, -1.0, -1.0 - 2.0**-52, -2.0, -DBL_MAX, -math.inf, math.inf, math.nan]))
    assert values[0] == 0.0 and not np.signbit(values[0]) and values[1] == 0.0 and np.signbit(values[1])
    assert values[2] == -math.inf and np.isnan(values[3:7]).all() and values[7] == math.inf and math.isnan(values[8])


def test_logistic_edges():
    small = [0.0, -0.0, TINIEST, -TINIEST, 1e-300, -1e-300, 1e-17, -1e-17, 1.0, -1.0]
    moderate = [36.7, -36.7, 40.0, -40.0, 700.0, -700.0, -703.0, -708.0, -709.0, -720.0, -745.0, LN_MIN, 745.2]
    huge = [1e10, -1e10, 1e300, -1e300, DBL_MAX, -DBL_MAX]
    z = np.array(small + moderate + huge)
    sig, sp = lanes_pair(z)
    assert_accurate(sig, z, ref_sigmoid)
    assert_accurate(sp, z, ref_softplus)
    assert expfun.vlogistic_pair(0.0) == expfun.vlogistic_pair(-0.0) == (0.5, math.log(2.0))
    assert expfun.vlogistic_pair(1e-300) == (0.5, math.log(2.0))
    assert expfun.vlogistic_pair(DBL_MAX) == (1.0, DBL_MAX) and expfun.vlogistic_pair(1e300) == (1.0, 1e300)
    assert expfun.vlogistic_pair(-DBL_MAX) == expfun.vlogistic_pair(-1e300) == (0.0, 0.0)
    assert 0.0 < expfun.vsigmoid(-720.0) < DBL_MIN and expfun.vsoftplus(-720.0) == expfun.vsigmoid(-720.0) == expfun.vexp(-720.0)
    sig, sp = lanes_pair(np.array([math.inf, -math.inf, math.nan]))
    assert sig[0] == 1.0 and sig[1] == 0.0 and sp[0] == math.inf and sp[1] == 0.0
    assert math.isnan(sig[2]) and math.isnan(sp[2])


@settings(max_examples=150, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_double(v):
    x = np.array([v])
    for name in ("exp", "sigmoid", "softplus"):
        assert_accurate(np.array([SCALAR[name](v)]), x, REFERENCE[name])
    if v >= -1.0:
        assert_accurate(np.array([expfun.vlog1p(v)]), x, ref_log1p)


def test_the_lean_exp_on_x_at_most_zero():
    rng = np.random.default_rng(13)
    x = np.concatenate([-rng.uniform(0, 708.39, 3000), -rng.exponential(1.0, 3000), -(10.0 ** rng.uniform(-20, 0, 1000)), [0.0, -0.0, -TINIEST, -1e-300, -(2.0**-54), -1.0, -math.log(2.0)]])
    values = lanes(_lanes_exp_unit, x)
    assert_accurate(values, x, ref_exp, LEAN_BOUND["exp"])
    # below x = -708.4 the results are subnormal, down to the last one and then 0
    x = np.concatenate([rng.uniform(LN_MIN - 0.01, -708.3964185322641, 1500), [LN_MIN, np.nextafter(LN_MIN, 0), -708.7669277791041]])
    values = lanes(_lanes_exp_unit, x)
    assert np.all(values[x > LN_MIN] > 0) and np.all(values < DBL_MIN)
    assert_accurate(values, x, ref_exp, LEAN_BOUND["exp_subnormal"])
    values = lanes(_lanes_exp_unit, np.array([0.0, -0.0, np.nextafter(LN_MIN, -1000), -746.0, -1e300, -DBL_MAX, -math.inf, math.nan]))
    assert values[0] == values[1] == 1.0 and np.all(values[2:-1] == 0.0) and not np.signbit(values[2:-1]).any()
    assert math.isnan(values[-1])


def test_the_lean_log1p_on_the_unit_interval():
    rng = np.random.default_rng(14)
    x = np.concatenate([rng.uniform(0, 1, 3000), 10.0 ** rng.uniform(-320, 0, 3000), [0.0, 1.0, TINIEST, DBL_MIN, 2.0**-53, 2.0**-52, math.sqrt(2) - 1, np.nextafter(math.sqrt(2) - 1, 1)]])
    assert_accurate(lanes(_lanes_log1p_unit, x), x, ref_log1p, LEAN_BOUND["log1p"])
    values = lanes(_lanes_log1p_unit, np.array([0.0, 1.0, math.nan]))
    assert values[0] == 0.0 and values[1] == math.log(2.0) and math.isnan(values[2])


# --- one algorithm, the same bits everywhere ----------------------------------------------------------


@pytest.mark.parametrize("name", ["exp", "log1p", "sigmoid", "softplus"])
def test_numpy_python_compiled_and_vectorized_give_the_same_bits(name):
    rng = np.random.default_rng(5)
    x = np.concatenate([samples(name, seed=20, n=20_000), rng.uniform(-50, 50, 5000), [0.0, -0.0, TINIEST, -TINIEST, DBL_MAX, -DBL_MAX, math.inf, -math.inf, math.nan, -1.0, -2.0]])
    vectorized = lanes(LOOPS[name], x)
    numpy_ = NUMPY[name](x)
    assert np.array_equal(vectorized, numpy_, equal_nan=True)
    assert np.array_equal(np.signbit(vectorized), np.signbit(numpy_))
    for i in range(0, x.size, 97):
        expected = vectorized[i]
        for got in (SCALAR[name](x[i]), NUMPY[name](float(x[i]))):
            assert got == expected or (math.isnan(got) and math.isnan(expected))
    if name in ("sigmoid", "softplus"):
        sig, sp = lanes_pair(x)
        assert np.array_equal(sig if name == "sigmoid" else sp, vectorized, equal_nan=True)
        np_sig, np_sp = expfun.logistic_pair(x)
        assert np.array_equal(np_sig, sig, equal_nan=True) and np.array_equal(np_sp, sp, equal_nan=True)
        assert expfun.vlogistic_pair(1.5) == (expfun.vsigmoid(1.5), expfun.vsoftplus(1.5))


# --- vectorization --------------------------------------------------------------------------------------

LIBM_CALL = re.compile(r"call [^\n]*@(llvm\.)?(exp|exp2|expm1|log|log1p|log2)(\.f64)?\(")


@pytest.mark.parametrize("name", ["exp", "log1p", "sigmoid", "softplus", "pair", "exp_unit", "log1p_unit"])
def test_the_lane_loop_vectorizes_without_libm_calls(name):
    loop = {"pair": _lanes_pair, "exp_unit": _lanes_exp_unit, "log1p_unit": _lanes_log1p_unit}.get(name) or LOOPS[name]
    lanes_pair(np.ones(8)) if name == "pair" else lanes(loop, np.ones(8))
    ir = loop.inspect_llvm(loop.signatures[0])
    assert re.search(r"<[248] x double>", ir), f"the {name} lane loop was not vectorized"
    assert "vector.body" in ir
    assert not LIBM_CALL.search(ir), LIBM_CALL.search(ir).group(0)


def test_the_libm_pattern_is_found_in_a_libm_loop():
    lanes(_lanes_libm_exp, np.ones(8))
    assert LIBM_CALL.search(_lanes_libm_exp.inspect_llvm(_lanes_libm_exp.signatures[0]))
