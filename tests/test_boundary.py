"""Boundary cells, box-counting dimension on shapes of known dimension, line counts, colours."""

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from sweep.boundary import boundary_mask, box_counts, box_dimension, line_boundary_counts, line_dimension, rank_equalize
from sweep.fractal import most_mixed_span, most_mixed_window


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


@pytest.mark.parametrize("shape", ["vertical", "diagonal", "circle"])
def test_smooth_boundaries_have_dimension_one(shape):
    y, x = np.mgrid[0:1024, 0:1024] / 1024
    region = {"vertical": x < 0.37, "diagonal": x + 0.3 * y > 0.5, "circle": (x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.1}[shape]
    dim = box_dimension(boundary_mask(region))
    assert dim.value == pytest.approx(1.0, abs=0.03)
    assert dim.stderr < 0.02 and dim.fit == (2, 256)


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


def test_rank_equalize_fills_each_class_by_speed():
    measure = np.array([[-10.0, -2.0, 0.5], [3.0, -5.0, 0.1]])
    converged = measure < 0
    colours = rank_equalize(measure, converged)
    assert (colours[converged] > 0).all() and (colours[~converged] < 0).all()
    # slowest converging (-10) deepest blue (1), fastest (-2) palest (0.25)
    assert colours[0, 0] == 1.0 and colours[0, 1] == 0.25 and colours[1, 1] == pytest.approx(0.625)
    # slowest diverging (sum 1/v largest, 3.0) deepest red (-1), fastest (0.1) palest
    assert colours[1, 0] == -1.0 and colours[1, 2] == -0.25


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
