"""Boundary cells, box-counting dimension on shapes of known dimension, line counts, colours."""

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sweep.fractal import most_mixed_span, most_mixed_window
from sweep.fractal.boundary import (
    FLOOR,
    boundary_mask,
    box_counts,
    box_dimension,
    class_ranks,
    fit_windows,
    line_boundary_counts,
    line_dimension,
    mean_box_counts,
    rank_equalize,
)


def test_boundary_cells_are_mixed_two_by_two_windows():
    image = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1]], dtype=bool)
    assert boundary_mask(image).tolist() == [[False, True], [False, True]]
    assert not boundary_mask(np.ones((4, 5), bool)).any()


def test_box_counts_by_hand():
    mask = np.zeros((8, 8), bool)
    mask[0, 0] = mask[7, 7] = mask[3, 4] = True
    sizes, counts = box_counts(mask, min_boxes=2)
    assert sizes == [1, 2, 4]
    assert counts == [3, 3, 3]
    mask[0, 1] = True
    assert box_counts(mask, min_boxes=2)[1] == [4, 3, 3]


def test_mean_box_counts_by_hand():
    # Averaged over placements, a full image holds ny * nx / s**2 boxes exactly: a box that
    # sticks out counts for its part inside.
    sizes, counts = mean_box_counts(np.ones((8, 8), bool), min_boxes=2)
    assert sizes == [1, 2, 4] and counts == [64.0, 16.0, 4.0]
    # One corner cell, boxes of 2, grids shifted by 0 or 1 cell per axis: the box holding
    # it lies wholly inside (1), half inside (0.5, twice) or a quarter inside (0.25).
    corner = np.zeros((8, 8), bool)
    corner[0, 0] = True
    assert mean_box_counts(corner, min_boxes=1, offsets=2)[1][:2] == [1.0, (1 + 0.5 + 0.5 + 0.25) / 4]
    # Sides stop at a quarter of the set's longer side (here 8 cells of a 64 x 64 image).
    bar = np.zeros((64, 64), bool)
    bar[10, 20:28] = True
    assert mean_box_counts(bar)[0] == [1, 2]
    assert mean_box_counts(np.zeros((64, 64), bool)) == ([], [])


@pytest.mark.parametrize("shape,fit,most", [("vertical", (2, 256), 0.02), ("diagonal", (2, 256), 0.02), ("circle", (2, 128), 0.03)])
def test_smooth_boundaries_have_dimension_one(shape, fit, most):
    y, x = np.mgrid[0:1024, 0:1024] / 1024
    region = {"vertical": x < 0.37, "diagonal": x + 0.3 * y > 0.5, "circle": (x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1}[shape]
    dim = box_dimension(boundary_mask(region))
    assert dim.value == pytest.approx(1.0, abs=0.03)
    assert abs(dim.value - 1.0) <= dim.stderr and dim.low <= 1.0 <= dim.high
    # The circle (650 cells across) stops at boxes of 128: at 256 it is 2.5 boxes wide, and
    # its slopes over 32..128 (0.98) are a closed curve's finite size, which its larger
    # uncertainty holds.
    assert dim.stderr < most and dim.fit == fit


def koch_snowflake(depth: int) -> np.ndarray:
    """Vertices of the Koch snowflake after ``depth`` refinements (closed polygon)."""
    points = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, -math.sqrt(3) / 2], [0.0, 0.0]])
    turn = np.array([[0.5, -math.sqrt(3) / 2], [math.sqrt(3) / 2, 0.5]])
    for _ in range(depth):
        a, b = points[:-1], points[1:]
        third = (b - a) / 3
        peak = a + third + third @ turn.T
        points = np.concatenate([np.stack([a, a + third, peak, a + 2 * third], axis=1).reshape(-1, 2), points[-1:]])
    return points


def test_koch_snowflake_boundary_has_dimension_log4_over_log3():
    size = 1024
    image = Image.new("1", (size, size), 0)
    xy = (koch_snowflake(7) - [-0.2, -1.1]) / 1.4 * size
    ImageDraw.Draw(image).polygon([tuple(p) for p in xy], fill=1)
    filled = np.array(image, dtype=bool)
    assert 0.3 < filled.mean() < 0.6
    dim = box_dimension(boundary_mask(filled))
    assert dim.value == pytest.approx(math.log(4) / math.log(3), abs=0.05)
    assert dim.value > 1.15  # far from a smooth curve's 1
    assert abs(dim.value - math.log(4) / math.log(3)) <= dim.stderr < 0.15


def sierpinski_carpet(depth: int) -> np.ndarray:
    """(3**depth, 3**depth) bool: the carpet after ``depth`` steps, True on what remains."""
    carpet = np.ones((1, 1), bool)
    for _ in range(depth):
        hole = np.zeros_like(carpet)
        carpet = np.block([[carpet, carpet, carpet], [carpet, hole, carpet], [carpet, carpet, carpet]])
    return carpet


def cantor_dust(depth: int) -> np.ndarray:
    """(3**depth, 3**depth) bool: the product of two middle-thirds Cantor sets."""
    line = np.ones(1, bool)
    for _ in range(depth):
        line = np.concatenate([line, np.zeros_like(line), line])
    return line[:, None] & line[None, :]


def known_shape(name: str) -> tuple[np.ndarray, float]:
    """A set of known box-counting dimension on a raster, and that dimension."""
    n = 1024
    y, x = np.mgrid[0:n, 0:n] / n
    i, j = np.mgrid[0:n, 0:n]
    log3 = math.log(3)
    return {
        "filled square": lambda: ((np.abs(x - 0.52) < 0.35) & (np.abs(y - 0.47) < 0.35), 2.0),
        "filled disk": lambda: ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.4**2, 2.0),
        "random dense set": lambda: (np.random.default_rng(3).random((n, n)) < 0.5, 2.0),
        "boundary everywhere": lambda: (np.ones((511, 511), bool), 2.0),
        "Sierpinski carpet": lambda: (sierpinski_carpet(6), math.log(8) / log3),
        "Sierpinski triangle": lambda: ((i & j) == 0, math.log(3) / math.log(2)),  # Pascal's triangle mod 2
        "Cantor dust": lambda: (cantor_dust(6), math.log(4) / log3),
        "sine edge": lambda: (boundary_mask(y < 0.5 + 0.15 * np.sin(2 * np.pi * 1.5 * x + 0.3)), 1.0),
    }[name]()


@pytest.mark.parametrize(
    "name,most",
    [
        ("filled square", 0.15),
        ("filled disk", 0.2),
        ("random dense set", 0.08),
        ("boundary everywhere", FLOOR),
        ("Sierpinski carpet", 0.06),
        ("Sierpinski triangle", 0.15),
        ("Cantor dust", 0.35),
        ("sine edge", 0.05),
    ],
)
def test_uncertainty_holds_the_dimension_of_new_shapes(name, most):
    mask, truth = known_shape(name)
    dim = box_dimension(mask)
    assert abs(dim.value - truth) <= dim.stderr, dim.text()
    assert dim.low <= truth <= dim.high and dim.low <= dim.value <= dim.high
    assert dim.stderr <= most + 1e-12, dim.text()  # honest, and still says something
    assert 0.0 <= dim.low and dim.high <= 2.0


def test_filled_and_dense_sets_are_no_longer_too_little_boundary():
    # Every box full at every scale: the count says "fills the plane", not "nothing to fit".
    for mask in (np.ones((64, 64), bool), np.ones((200, 77), bool)):
        dim = box_dimension(mask)
        assert dim.value == pytest.approx(2.0, abs=1e-12) and dim.stderr == pytest.approx(FLOOR)
        assert "no estimate" not in dim.text()
    # The regression's own standard error on a filled disk is far smaller than its distance
    # to 2; the quoted uncertainty is not.
    mask, _ = known_shape("filled disk")
    dim = box_dimension(mask)
    assert dim.sizes[0] == 1 and dim.fit[0] == 2
    _, regression_error, _, _ = fit_windows(np.log(dim.sizes[1:]), np.log(dim.counts[1:]))
    assert regression_error < 0.05 < 2.0 - dim.value <= dim.stderr


def test_fit_windows_on_exact_power_laws():
    sizes = 2.0 ** np.arange(1, 8)
    value, error, low, high = fit_windows(np.log(sizes), np.log(1e6 * sizes**-1.5))
    assert value == pytest.approx(1.5) and error == pytest.approx(0.0, abs=1e-12)
    assert (low, high) == (pytest.approx(1.5 - FLOOR), pytest.approx(1.5 + FLOOR))
    # A filled region's edge adds boxes in proportion to the side, N = A s**-2 (1 + s / 50):
    # every window's slope is below 2, and the Richardson extrapolation at the fine end
    # reaches it.
    counts = 1e6 * sizes**-2 * (1 + sizes / 50)
    value, _, low, high = fit_windows(np.log(sizes), np.log(counts))
    window_slopes = -np.diff(np.log(counts)) / np.diff(np.log(sizes))
    assert window_slopes.max() < 1.99 and value < 1.9 and high >= 2.0 and low < value
    # Slopes falling toward the fine end (a raster hiding structure) are not extrapolated:
    # the range ends at the finest window's slope less its error.
    counts = 1e6 * sizes**-1.5 / (1 + 3 / sizes)
    _, _, low, high = fit_windows(np.log(sizes), np.log(counts))
    finest, next_finest = (-np.polyfit(np.log(sizes[k : k + 3]), np.log(counts[k : k + 3]), 1)[0] for k in (0, 1))
    assert finest < next_finest < 1.5 and 2 * finest - next_finest < low < finest - FLOOR + 1e-9
    assert high < 1.5 + FLOOR


def test_no_estimate_without_a_boundary():
    assert math.isnan(box_dimension(boundary_mask(np.ones((64, 64), bool))).value)
    assert "no estimate" in box_dimension(np.zeros((64, 64), bool)).text()


def test_line_counts_by_hand():
    line = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)  # 2**3 + 1 samples
    resolutions, counts = line_boundary_counts(line)
    assert resolutions.tolist() == [1, 2, 4, 8]
    # every 8th: [1, 1]; every 4th: [1, 1, 1]; every 2nd: [1, 0, 1, 1, 1]; all: 4 changes
    assert counts.tolist() == [0, 0, 2, 4]
    with pytest.raises(ValueError, match="2\\*\\*m \\+ 1"):
        line_boundary_counts(np.ones(10, bool))


def test_line_dimension_of_a_single_edge_and_of_noise():
    edge = np.arange(2**12 + 1) < 1000
    assert line_dimension(*line_boundary_counts(edge)).value == pytest.approx(0.0, abs=1e-12)
    noise = np.random.default_rng(0).random(2**14 + 1) < 0.5
    assert line_dimension(*line_boundary_counts(noise)).value == pytest.approx(1.0, abs=0.02)
    for line, truth in ((edge, 0.0), (noise, 1.0), (np.sin(np.linspace(0, 40, 2**14 + 1)) > 0.3, 0.0)):
        dim = line_dimension(*line_boundary_counts(line))
        assert abs(dim.value - truth) <= dim.stderr and dim.low <= truth <= dim.high and dim.high <= 1.0


def cantor_parity(m: int, depth: int) -> np.ndarray:
    """(2**m + 1,) bool on [0, 1]: the parity of the step at which the middle-thirds
    construction removes each sample's interval. Its class changes are the removed
    intervals' endpoints, which accumulate on the Cantor set: dimension log 2 / log 3."""
    y = np.linspace(0.0, 1.0, 2**m + 1)
    step = np.full(y.size, depth)
    left = np.ones(y.size, bool)
    for k in range(depth):
        digit = np.floor(y * 3)
        removed = left & (digit == 1)
        step[removed], left = k, left & ~removed
        y = y * 3 - digit
    return step % 2 == 0


def test_line_uncertainty_holds_the_dimension_of_new_sets():
    m = 18
    x = np.linspace(0.0, 1.0, 2**m + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        zeros_of_sin = np.sin(1.0 / x) > 0  # zeros 1/(k pi): box dimension 1/2
    for line, truth, most in ((cantor_parity(m, 12), math.log(2) / math.log(3), 0.3), (zeros_of_sin, 0.5, 0.06)):
        dim = line_dimension(*line_boundary_counts(line))
        assert dim.value == pytest.approx(truth, abs=0.04)
        assert abs(dim.value - truth) <= dim.stderr < most and dim.low <= truth <= dim.high
        assert dim.counts[dim.sizes.index(dim.fit[0])] >= 100  # counts under 100 are not fitted


def test_line_counts_below_the_minimum_are_not_fitted():
    resolutions = 2 ** np.arange(11)
    counts = np.array([0, 1, 2, 4, 9, 12, 30, 50, 160, 320, 640])  # few points scatter
    dim = line_dimension(resolutions, counts)
    assert dim.fit == (256, 1024) and dim.value == pytest.approx(1.0) and dim.stderr == pytest.approx(FLOOR)
    everything = line_dimension(resolutions, counts, min_count=1)
    assert everything.fit == (64, 1024) and everything.stderr > 0.05


def test_rank_equalize_fills_each_class_by_speed():
    measure = np.array([[-10.0, -2.0, 0.5], [3.0, -5.0, 0.1]])
    converged = measure < 0
    colours = rank_equalize(measure, converged)
    assert (colours[converged] > 0).all() and (colours[~converged] < 0).all()
    # slowest converging (-10) deepest blue (1), fastest (-2) palest (0.25)
    assert colours[0, 0] == 1.0 and colours[0, 1] == 0.25 and colours[1, 1] == pytest.approx(0.625)
    # slowest diverging (sum 1/v largest, 3.0) deepest red (-1), fastest (0.1) palest
    assert colours[1, 0] == -1.0 and colours[1, 2] == -0.25
    ranks = class_ranks(measure, converged)
    assert ranks.tolist() == [[1.0, 0.0, 0.5], [1.0, 0.5, 0.0]]
    assert class_ranks(measure, np.ones_like(converged)).max() == 1.0  # one class only


def test_most_mixed_window_maximizes_the_documented_score():
    rng = np.random.default_rng(1)
    image = np.zeros((40, 48), bool)
    image[:, :20] = True
    image[25:35, 5:15] = rng.random((10, 10)) < 0.5
    rows, cols = most_mixed_window(image, 4)
    assert (rows.stop - rows.start, cols.stop - cols.start) == (10, 12)
    edge = np.zeros(image.shape)
    edge[:-1, :-1] = boundary_mask(image)

    def score(r, c):
        p = image[r : r + 10, c : c + 12].mean()
        b = edge[r : r + 10, c : c + 12].mean()
        return 4 * p * (1 - p) * b * (1 - b) ** 4

    best = max(score(r, c) for r in range(31) for c in range(37))
    assert score(rows.start, cols.start) == pytest.approx(best, rel=1e-12)
    assert best > 0


def test_most_mixed_span_holds_the_most_changes():
    rng = np.random.default_rng(2)
    line = np.r_[np.zeros(100, bool), rng.random(28) < 0.5, np.ones(129, bool)]
    span = most_mixed_span(line, 8)
    assert span.stop - span.start == 32 and 84 <= span.start <= 116
