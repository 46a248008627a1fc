"""The boundary between trainable and untrainable hyperparameters, and its fractal dimension.

Pure functions on boolean images (True where training converged): the boundary cells, their
box-counting dimension with an uncertainty that holds every fit range's slope, boundary counts
along a line at every resolution and their dimension, and each run's rank by speed within its
class, which the trainability images are coloured by.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


def boundary_mask(converged: np.ndarray) -> np.ndarray:
    """Cells of the boundary: each 2 x 2 window of the image that holds both classes.

    The edge definition of Sohl-Dickstein's notebook (``extract_edges``): a window is on
    the boundary when its four cells are not all converged and not all diverged.

    Args:
        converged: (ny, nx) bool, ny, nx >= 2.

    Returns:
        (ny - 1, nx - 1) bool.
    """
    c = np.asarray(converged, dtype=bool)
    corners = np.stack([c[1:, 1:], c[:-1, 1:], c[1:, :-1], c[:-1, :-1]])
    return corners.any(axis=0) & ~corners.all(axis=0)


#: Grid placements per axis averaged in ``mean_box_counts``: offsets 0, s/4, s/2, 3s/4.
OFFSETS = 4
#: Fewest scales in one fit window: three, two octaves (two points always fit a line).
SPAN = 3
#: Smallest uncertainty quoted for one window's slope. Rasterized smooth curves (the sine and
#: circle edges of the tests) show slopes up to about 0.01 off their dimension 1 over windows
#: whose regression error is far smaller; a raster does not say more than that.
FLOOR = 0.01


@dataclass(frozen=True)
class Dimension:
    """A box-counting dimension estimate with an honest uncertainty.

    Attributes:
        value: the least-squares slope -d log N / d log s over every informative scale (on a
            line, d log N / d log resolution); NaN when fewer than ``SPAN`` are informative.
        stderr: the uncertainty of ``value``: the largest distance from it to either end of
            [low, high] (see ``fit_windows``), so that value ± stderr holds that interval.
        sizes: box sides s in cells (powers of two), or resolutions on a line, all counted.
        counts: N(s) for each size: mean boxes holding the set (see ``mean_box_counts``), or
            boundary points seen on a line.
        fit: (smallest, largest) size used in the fit.
        unit: what sizes are: "boxes" (sides in cells) or "resolutions" (samples on a line).
        low, high: the range of dimensions the counts allow: the slopes of every fit window
            of at least ``SPAN`` scales, each widened by its standard error (at least
            ``FLOOR``), and the extrapolation to the finest scale; clipped to the dimensions
            possible (0..2 in the plane, 0..1 on a line).
    """

    value: float
    stderr: float
    sizes: tuple[int, ...]
    counts: tuple[float, ...]
    fit: tuple[int, int]
    unit: str = "boxes"
    low: float = math.nan
    high: float = math.nan

    def text(self) -> str:
        """``1.270 ± 0.020 (boxes of 2..64 cells)``, or a sentence why there is no estimate."""
        if not math.isfinite(self.value):
            return "no estimate (too little boundary to fit)"
        scales = f"boxes of {self.fit[0]}..{self.fit[1]} cells" if self.unit == "boxes" else f"resolutions {self.fit[0]:,}..{self.fit[1]:,}"
        return f"{self.value:.3f} ± {self.stderr:.3f} ({scales})"


def box_counts(mask: np.ndarray, min_boxes: int = 4) -> tuple[list[int], list[int]]:
    """N(s) for s = 1, 2, 4, ...: the s x s boxes of a grid laid on the image from its
    corner (the last row and column of boxes may stick out) that hold a True cell.

    Args:
        mask: (ny, nx) bool.
        min_boxes: largest s kept has at least this many boxes along the shorter side.
    """
    mask = np.asarray(mask, dtype=bool)
    sizes, counts = [], []
    s = 1
    while -(-min(mask.shape) // s) >= max(min_boxes, 1) and s <= max(mask.shape):
        ny, nx = -(-mask.shape[0] // s), -(-mask.shape[1] // s)
        padded = np.zeros((ny * s, nx * s), dtype=bool)
        padded[: mask.shape[0], : mask.shape[1]] = mask
        sizes.append(s)
        counts.append(int(padded.reshape(ny, s, nx, s).any(axis=(1, 3)).sum()))
        s *= 2
    return sizes, counts


def _extent(mask: np.ndarray) -> int:
    """Cells spanned by the True cells' bounding box along its longer side (0 if none)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0
    return int(max(rows[-1] - rows[0], cols[-1] - cols[0])) + 1


def _box_edges(offset: int, n: int, s: int) -> np.ndarray:
    """Edges of boxes of side s along an axis of n cells, the grid shifted back by
    ``offset`` (0 <= offset < s): clipped to 0..n, so the first and last box may be partial."""
    edges = np.clip(np.arange(-offset, n + s, s), 0, n)
    return edges[np.concatenate(([True], edges[1:] > edges[:-1]))]


def mean_box_counts(mask: np.ndarray, min_boxes: int = 4, offsets: int = OFFSETS) -> tuple[list[int], list[float]]:
    """N(s) for s = 1, 2, 4, ...: boxes of side s holding a True cell, averaged over
    ``offsets`` x ``offsets`` placements of the grid (shifted by multiples of s / offsets).

    Averaged over all placements, N(s) would be the area of the set grown by an s x s box,
    over s**2: the Minkowski-sausage form of the box dimension (Falconer, "Fractal Geometry",
    3rd ed., 2014, ch. 2, equivalent definitions); 16 placements come close, without the
    jumps a single grid shows when a few large boxes fall one way or the other. For a convex
    region it is area / s**2 + (width + height) / s + 1: the edge adds boxes in proportion
    to s, the first-order error ``fit_windows`` extrapolates. A box that sticks out of the image counts for the
    fraction of it inside: the image is a window onto a set that goes on outside it (a
    trainability image is), and a box only partly seen is only partly counted; for a mask
    that is True everywhere this makes N(s) = ny * nx / s**2 exactly.

    Sizes stop before fewer than ``min_boxes`` boxes fit along the image's shorter side or
    along the longer side of the True cells' bounding box: boxes comparable to the set's
    size measure its size, not its dimension.

    Args:
        mask: (ny, nx) bool.
        min_boxes: see above.
        offsets: placements per axis (1: the single grid of ``box_counts``, weighted).

    Returns:
        (sizes s, int; mean counts, float), equally long.
    """
    mask = np.asarray(mask, dtype=bool)
    ny, nx = mask.shape
    # Summed-area table: the cells of any box are four look-ups, so every placement costs
    # one pass over the boxes, not over the cells (int32 holds 2**24 cells, MAX_CELLS).
    table = np.zeros((ny + 1, nx + 1), dtype=np.int64 if mask.size >= 2**31 else np.int32)
    table[1:, 1:] = mask.cumsum(axis=0, dtype=table.dtype).cumsum(axis=1, dtype=table.dtype)
    extent = _extent(mask)
    sizes, counts = [], []
    s = 1
    while s <= max(ny, nx) and -(-min(ny, nx) // s) >= max(min_boxes, 1) and -(-extent // s) >= max(min_boxes, 1):
        shifts = sorted({k * s // offsets for k in range(offsets)})
        total = 0.0
        for oy in shifts:
            ey = _box_edges(oy, ny, s)
            rows = table[ey]
            for ox in shifts:
                ex = _box_edges(ox, nx, s)
                cells = np.diff(np.diff(rows[:, ex], axis=0), axis=1)
                total += float(np.diff(ey) @ (cells > 0) @ np.diff(ex)) / (s * s)
        sizes.append(s)
        counts.append(total / len(shifts) ** 2)
        s *= 2
    return sizes, counts


def fit_windows(log_size: np.ndarray, log_count: np.ndarray, span: int = SPAN, floor: float = FLOOR) -> tuple[float, float, float, float]:
    """The slope of log count against log size, and the range of slopes the data allow.

    Which scales a fractal's power law holds over is not known in advance; the fitted slope
    depends on the choice, and the regression's standard error, which assumes the law holds
    over the whole range, is far smaller than that dependence (Theiler, "Estimating fractal
    dimension", J. Opt. Soc. Am. A 7, 1055, 1990). So the range is taken from every window
    of at least ``span`` consecutive scales: the lowest and highest of their slopes, each
    widened by its standard error (at least ``floor``). The first scale is the finest: box
    sides ascending, or a line's resolutions passed as -log(resolution), highest first.

    The first-order finite-size error of a count (boxes at the edge of a filled region or
    at the ends of a curve: N(s) = A s**-D (1 + c s)) shrinks in proportion to s, so the
    slope may still rise below the finest scale. When it rises toward the finest scale, the
    finest window's Richardson extrapolation, 2 D(s) - D(2 s) for an error proportional to s
    (Richardson, Phil. Trans. R. Soc. A 210, 307, 1911), is also allowed. When it
    falls there, that is the raster (below its cells every set looks smooth), and nothing
    is extrapolated.

    Args:
        log_size: (k,) float64, ascending, k >= span.
        log_count: (k,) float64.
        span: fewest scales in a window.
        floor: smallest uncertainty of one window's slope.

    Returns:
        (slope over all k scales, its standard error, lowest, highest) of -d log N / d log s.
    """
    value, whole_error = _slope(log_size, log_count)
    low, high = value - max(whole_error, floor), value + max(whole_error, floor)
    k = len(log_size)
    finest = []  # the two windows of `span` scales at the fine end
    for start in range(k):
        for stop in range(start + span, k + 1):
            slope, error = _slope(log_size[start:stop], log_count[start:stop])
            error = max(error, floor)
            low, high = min(low, slope - error), max(high, slope + error)
            if stop - start == span and start < 2:
                finest.append((slope, error))
    if len(finest) == 2 and finest[0][0] > finest[1][0]:
        high = max(high, 2 * finest[0][0] - finest[1][0] + finest[0][1])
    return value, whole_error, low, high


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """-slope of the least-squares line through (x, y), and its standard error (x: >= 3
    distinct values); a constant y has slope 0 and error 0 (``scipy.stats.linregress``
    gives NaN there)."""
    dx = x - x.mean()
    slope = float(dx @ (y - y.mean()) / (dx @ dx))
    residual = y - y.mean() - slope * dx
    return -slope + 0.0, math.sqrt(float(residual @ residual) / (x.size - 2) / float(dx @ dx))


def _estimate(sizes, counts, used, unit: str, sign: float, most: float) -> Dimension:
    """The Dimension of the (size, count) pairs ``used`` (sizes ascending): ``sign`` +1 for
    box sides (N falls with s, the smallest is the finest), -1 for a line's resolutions (N
    grows, the largest is the finest); value and range capped at 0..``most``."""
    if len(used) < SPAN:
        return Dimension(math.nan, math.nan, sizes, counts, (0, 0), unit)
    size = np.array([s for s, _ in used], dtype=np.float64)
    count = np.array([n for _, n in used], dtype=np.float64)
    if sign > 0:
        value, _, low, high = fit_windows(np.log(size), np.log(count))
    else:  # finest first: highest resolution first, as -log(resolution)
        value, _, low, high = fit_windows(-np.log(size[::-1]), np.log(count[::-1]))
    # No set in the plane has a dimension above 2, none on a line above 1 (Falconer, ch. 2).
    value, low, high = min(max(value, 0.0), most), max(low, 0.0), min(high, most)
    stderr = max(value - low, high - value, 0.0)
    return Dimension(value, stderr, sizes, counts, (int(size[0]), int(size[-1])), unit, low, high)


def box_dimension(mask: np.ndarray, smallest: int = 2, min_boxes: int = 4) -> Dimension:
    """Box-counting (Minkowski-Bouligand) dimension of the True cells of ``mask``, with an
    uncertainty that holds the slopes of every fit window.

    Counts N(s) are ``mean_box_counts`` (averaged over grid placements, edge boxes weighted
    by their part inside the image, sides up to a quarter of the set's and the image's
    size). Every side from ``smallest`` on is fitted: a count at which every box holds the
    set (a dense set, a boundary filling the window) is a count like any other and says
    the set fills the plane at that scale. One-cell boxes are left out by default: on a
    raster a curve's cells touch diagonally and a sparse set is a dust of single cells, so
    the smallest scale shows the raster, not the set. The value is the least-squares slope
    over all fitted sides, its uncertainty that of ``fit_windows`` (the range of slopes over
    every window of at least two octaves, widened by each window's standard error and by
    the extrapolation to the finest scale), clipped to 0..2, the dimensions a set in the
    plane can have (Falconer, "Fractal Geometry", 3rd ed., 2014, ch. 2).

    Tested on shapes of known dimension: straight lines, a circle, a sine edge (1); the Koch
    snowflake (log 4 / log 3), the Sierpinski triangle (log 3 / log 2) and carpet (log 8 /
    log 3), the product of two middle-thirds Cantor sets (log 4 / log 3); filled squares
    and disks, a random dense set and a mask that is True everywhere (2).

    Args:
        mask: (ny, nx) bool, the set to measure (for a trainability image, ``boundary_mask``).
        smallest: smallest box side in the fit, a power of two.
        min_boxes: see ``mean_box_counts``.

    Returns:
        A Dimension; its value is NaN when fewer than ``SPAN`` sides can be fitted.
    """
    sizes, counts = mean_box_counts(mask, min_boxes)
    used = [(s, n) for s, n in zip(sizes, counts) if s >= smallest and n > 0]
    return _estimate(tuple(sizes), tuple(counts), used, "boxes", 1.0, 2.0)


def line_boundary_counts(converged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boundary points of a line of 2**m + 1 samples seen at every resolution 2**k.

    At resolution 2**k the line is sampled at every 2**(m-k)-th point (2**k + 1 samples)
    and the class changes between neighbours are counted, as Liu does (arXiv:2406.13971,
    the ``numB`` count of the code liuyz0/FractalBoundary). For a fractal boundary the count
    grows as (2**k)**D with D < 1; for a simple edge it stays constant.

    Args:
        converged: (2**m + 1,) bool, m >= 1.

    Returns:
        (resolutions 2**k for k = 0..m, int64 counts), both of length m + 1.

    Raises:
        ValueError: if the length is not 2**m + 1.
    """
    line = np.asarray(converged, dtype=bool)
    m = int(round(math.log2(max(line.size - 1, 1))))
    if line.size < 3 or line.size != 2**m + 1:
        raise ValueError(f"a line of {line.size} samples cannot be halved evenly; use 2**m + 1 samples, m >= 1")
    resolutions, counts = [], []
    for k in range(m + 1):
        sampled = line[:: 2 ** (m - k)]
        resolutions.append(2**k)
        counts.append(int(np.count_nonzero(sampled[1:] != sampled[:-1])))
    return np.array(resolutions), np.array(counts, dtype=np.int64)


#: Fewest boundary points a line's count must see to be fitted: sampling the line at another
#: phase (every 2**(m-k)-th point from another start) changes a count of N by about
#: sqrt(N) (28 ± 4 at resolution 256 on Liu's cosine-mult line), more than 10% below 100.
LINE_MIN_COUNT = 100


def line_dimension(resolutions: np.ndarray, counts: np.ndarray, smallest: int = 64, min_count: int = LINE_MIN_COUNT) -> Dimension:
    """Dimension of a line's boundary points: the slope of log count against log resolution,
    with the uncertainty of ``fit_windows`` (the finest scale is the highest resolution),
    clipped to 0..1, the dimensions a set on a line can have.

    Fitted over the resolutions from ``smallest`` up whose count is at least ``min_count``;
    on a line with fewer boundary points than that at every resolution, over all from
    ``smallest`` (a few edges seen at every resolution give a constant count: dimension 0).

    Tested on a single edge and a few edges (0), noise (1), the endpoints of the
    middle-thirds Cantor set's removed intervals (log 2 / log 3) and the sign changes of
    sin(1/x), whose zeros 1/(k pi) have box dimension 1/2 (Falconer, "Fractal Geometry",
    3rd ed., 2014, ch. 2).

    Returns:
        A Dimension with unit "resolutions"; its value is NaN when fewer than ``SPAN``
        resolutions can be fitted.
    """
    sizes, numbers = tuple(int(r) for r in resolutions), tuple(int(c) for c in counts)
    enough = max(1, min(min_count, max(numbers, default=0)))
    used = [(r, c) for r, c in zip(sizes, numbers) if r >= smallest and c >= enough]
    return _estimate(sizes, numbers, used, "resolutions", -1.0, 1.0)


def class_ranks(measure: np.ndarray, converged: np.ndarray) -> np.ndarray:
    """Each cell's rank by speed within its class, in [0, 1]: 0 for the fastest run of its
    class, 1 for the slowest (for the network, the runs nearest the boundary), as the
    notebook's ``cdf_img`` ranks them, so that each class uses its whole colour map.

    Args:
        measure: (ny, nx) float64; converged cells' measure is -sum(v) (more negative =
            slower), diverged cells' sum(1/v) (larger = slower); for a loss, -n_iter and
            +n_iter.
        converged: (ny, nx) bool.

    Returns:
        (ny, nx) float64 in [0, 1]; ties share the slower rank.
    """
    measure = np.asarray(measure, dtype=np.float64)
    converged = np.asarray(converged, dtype=bool)
    out = np.zeros(measure.shape)
    # Sorted by these keys, each class starts with its slowest run.
    for cls, key in ((converged, measure), (~converged, -measure)):
        values = key[cls]
        if values.size == 0:
            continue
        ranks = stats.rankdata(values, method="min") - 1  # ties share the lower rank
        out[cls] = (values.size - 1 - ranks) / max(values.size - 1, 1)
    return out


def rank_equalize(measure: np.ndarray, converged: np.ndarray, gap: float = 0.25) -> np.ndarray:
    """``class_ranks`` as one signed value per cell, in [-1, 1]: converged cells get
    [gap, 1] and diverged ones [-1, -gap], the slowest runs of each class at the ends, as
    the notebook feeds them to one diverging colour map.

    Args:
        measure, converged: see ``class_ranks``.

    Returns:
        (ny, nx) float64 in [-1, 1].
    """
    converged = np.asarray(converged, dtype=bool)
    return np.where(converged, 1.0, -1.0) * (gap + (1.0 - gap) * class_ranks(measure, converged))
