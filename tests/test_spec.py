import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sweep.run.spec import SpecError, geometric_grid, parse_spec


def test_comma_list_is_sorted_and_unique():
    assert parse_spec("0.4,0.001,10,0.4").tolist() == [0.001, 0.4, 10.0]


def test_linear_range_includes_both_ends():
    values = parse_spec("-2:3:101")
    assert values.size == 101 and values[0] == -2 and values[-1] == 3
    assert {-2.0, -1.0, 0.0, 1.0, 2.0} <= set(values.tolist())


def test_log_range_with_an_extra_point():
    values = parse_spec("1e-3:10:121:log,0.4")
    assert values.size == 122
    assert {0.001, 0.4, 10.0} <= set(values.tolist())
    ratios = np.diff(np.log10(np.delete(values, np.searchsorted(values, 0.4))))
    assert np.allclose(ratios, 1 / 30)


def _correctly_rounded_grid(start, stop, num, picked=None):
    import mpmath

    with mpmath.workprec(256):
        first, ratio = mpmath.mpf(start), mpmath.mpf(stop) / mpmath.mpf(start)
        return np.array([float(first * ratio ** (mpmath.mpf(int(k)) / (num - 1))) for k in (range(num) if picked is None else picked)])


@given(
    st.floats(1e-8, 1e8),
    st.floats(1e-8, 1e8),
    st.integers(2, 400),
)
def test_log_grid_is_the_correctly_rounded_geometric_progression(start, stop, num):
    # mpmath at 256 bits is the same on every machine, unlike NumPy's SIMD power
    values = geometric_grid(start, stop, num)
    np.testing.assert_array_equal(values, _correctly_rounded_grid(start, stop, num))
    assert values[0] == start and values[-1] == stop
    steps = np.diff(values)
    assert (steps >= 0).all() if stop >= start else (steps <= 0).all()


def test_log_grid_of_a_long_axis_and_extreme_ends():
    # blocks of sqrt(num) values share one coarse factor: check values across many blocks
    for start, stop, num in ((1e-3, 10.0, 100_001), (1e-300, 1e300, 5_000), (10.0, 1e-4, 77)):
        values = geometric_grid(start, stop, num)
        picked = np.unique(np.linspace(0, num - 1, 200).round().astype(int))
        np.testing.assert_array_equal(values[picked], _correctly_rounded_grid(start, stop, num, picked))
        # numpy.geomspace is near, not exact: its power of a rounded exponent loses up to 11
        # units in the last place on 1e-3..10, over a thousand on 1e-300..1e300
        assert np.allclose(values, np.geomspace(start, stop, num), rtol=1e-12, atol=0)


def test_log_spec_is_the_geometric_grid():
    np.testing.assert_array_equal(parse_spec("1e-3:10:120:log"), geometric_grid(1e-3, 10.0, 120))
    with pytest.raises(ValueError, match="ends > 0"):
        geometric_grid(0.0, 1.0, 5)


def test_one_value_ranges_start_at_start():
    assert parse_spec("1:10:1").tolist() == parse_spec("1:10:1:log").tolist() == [1.0]


def test_randint_reproduces_the_teaching_draw():
    np.random.seed(0)
    expected = np.random.randint(-2, 3)
    assert parse_spec("randint:-2:3:1:0").tolist() == [expected] == [2]


def test_uniform_is_seeded():
    assert parse_spec("uniform:0:1:5:3").tolist() == sorted(np.random.RandomState(3).uniform(0, 1, 5).tolist())


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("", "empty SPEC"),
        ("   ", "empty SPEC"),
        ("0.1,,0.2", "empty item"),
        ("abc", "'abc'"),
        ("1:2", "cannot read"),
        ("1:2:x", "count 'x'"),
        ("1:2:0", "count 0"),
        ("0:1:10:log", "log range"),
        ("1:10:5:lin", "'lin'"),
        ("nan", "not finite"),
        ("inf,1", "not finite"),
        ("randint:-2:3:1", "randint:LOW:HIGH:N:SEED"),
        ("randint:3:-2:1:0", "LOW < HIGH"),
        ("randint:0.5:3:1:0", "whole-number"),
        ("uniform:0:1:2:-1", "seed -1"),
        ("1:2:1000000000", "must lie in"),
        ("randint:0:1e20:1:0", "out of range for randint"),
        ("uniform:-1e308:1e308:3:0", "out of range for uniform"),
        ("-1e308:1e308:3", "overflows a float64"),
    ],
)
def test_bad_specs_name_the_problem(spec, fragment):
    with pytest.raises(SpecError) as error:
        parse_spec(spec)
    message = str(error.value)
    assert fragment in message and "\n" not in message


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=20))
def test_any_number_list_round_trips(values):
    spec = ",".join(repr(v) for v in values)
    assert parse_spec(spec).tolist() == sorted(set(values))
