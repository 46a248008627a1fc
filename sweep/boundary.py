"""The boundary between trainable and untrainable hyperparameters, and its fractal dimension.

Pure functions on boolean images (True where training converged): the boundary cells, their
box-counting dimension, boundary counts along a line at every resolution, and the
rank-equalized colouring of the trainability images.
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


@dataclass(frozen=True)
class Dimension:
    """A box-counting dimension estimate.

    Attributes:
        value: the slope -d log N / d log s of the fit (NaN when it cannot be fitted).
        stderr: standard error of that slope from the least-squares fit.
        sizes: box sides s in cells, powers of two, all that were counted.
        counts: N(s), boxes holding at least one boundary cell, for each size.
        fit: (smallest, largest) box side used in the fit.
        unit: what sizes are: "boxes" (sides in cells) or "resolutions" (samples on a line).
    """

    value: float
    stderr: float
    sizes: tuple[int, ...]
    counts: tuple[int, ...]
    fit: tuple[int, int]
    unit: str = "boxes"

    def text(self) -> str:
        """``1.27 ± 0.02 (boxes of 2..64 cells)``, or a sentence why there is no estimate."""
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


def box_dimension(mask: np.ndarray, smallest: int = 2, min_boxes: int = 4) -> Dimension:
    """Box-counting (Minkowski-Bouligand) dimension of the True cells of ``mask``.

    The slope of log N(s) against log s, fitted by least squares over box sides from
    ``smallest`` up to the largest with at least ``min_boxes`` boxes along the shorter side,
    leaving out sides at which every box is occupied (there the count says nothing about the
    set). One-cell boxes are left out by default: on a raster, a curve's cells touch
    diagonally and the smallest scale over-counts. The standard error is that of the
    regression slope. (Falconer, "Fractal Geometry", 3rd ed., 2014, sec. 2.1.)

    Args:
        mask: (ny, nx) bool, the set to measure (for a trainability image, ``boundary_mask``).
        smallest: smallest box side in the fit, a power of two.
        min_boxes: see ``box_counts``.

    Returns:
        A Dimension; its value is NaN when fewer than three sizes can be fitted.
    """
    sizes, counts = box_counts(mask, min_boxes)
    used = [
        (s, n)
        for s, n in zip(sizes, counts)
        if s >= smallest and 0 < n < -(-mask.shape[0] // s) * -(-mask.shape[1] // s)
    ]
    if len(used) < 3:
        return Dimension(math.nan, math.nan, tuple(sizes), tuple(counts), (0, 0))
    log_s = np.log([s for s, _ in used])
    log_n = np.log([n for _, n in used])
    fit = stats.linregress(log_s, log_n)
    return Dimension(float(-fit.slope), float(fit.stderr), tuple(sizes), tuple(counts), (used[0][0], used[-1][0]))


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


def line_dimension(resolutions: np.ndarray, counts: np.ndarray, smallest: int = 64) -> Dimension:
    """Dimension of a line's boundary points: the slope of log count against log resolution,
    fitted over resolutions from ``smallest`` up (coarser ones see too few points)."""
    sizes, numbers = tuple(int(r) for r in resolutions), tuple(int(c) for c in counts)
    used = [(r, c) for r, c in zip(sizes, numbers) if r >= smallest and c > 0]
    if len(used) < 3:
        return Dimension(math.nan, math.nan, sizes, numbers, (0, 0), "resolutions")
    fit = stats.linregress(np.log([r for r, _ in used]), np.log([c for _, c in used]))
    return Dimension(float(fit.slope), float(fit.stderr), sizes, numbers, (used[0][0], used[-1][0]), "resolutions")


def rank_equalize(measure: np.ndarray, converged: np.ndarray, gap: float = 0.25) -> np.ndarray:
    """Colour values in [-1, 1] that use the whole colour map within each class.

    Converged cells get (gap, 1] and diverged ones [-1, -gap), each by the rank of their
    measure within their class, as the notebook's ``cdf_img`` does: the slowest runs of
    each class (nearest the boundary) get the deepest colours. With the Spectral map,
    positive (converged) is blue and negative (diverged) red.

    Args:
        measure: (ny, nx) float64; converged cells' measure is -sum(v) (more negative =
            slower), diverged cells' sum(1/v) (larger = slower).
        converged: (ny, nx) bool.

    Returns:
        (ny, nx) float64 in [-1, 1].
    """
    measure = np.asarray(measure, dtype=np.float64)
    converged = np.asarray(converged, dtype=bool)
    out = np.zeros(measure.shape)
    # Sorted by these keys, each class starts with its slowest run.
    for cls, sign, key in ((converged, 1.0, measure), (~converged, -1.0, -measure)):
        values = key[cls]
        if values.size == 0:
            continue
        ranks = stats.rankdata(values, method="min") - 1  # ties share the lower rank
        ranks = (values.size - 1 - ranks) / max(values.size - 1, 1)
        out[cls] = sign * (gap + (1.0 - gap) * ranks)
    return out
