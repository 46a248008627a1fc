"""Trainability images: which hyperparameters train and which diverge, on a fine grid.

Two experiments, both from 2024 papers that found the boundary between the two fractal:

- ``network``: the two-layer network of Sohl-Dickstein (arXiv:2402.06184), trained with one
  learning rate per layer; the image spans input-layer lr x output-layer lr.
- a loss of one weight (Liu, arXiv:2406.13971, uses the cosine families of
  ``sweep.problems.losses``): learning rate x one of the loss's parameters, or a single line of
  learning rates, sampled finely enough to count the boundary at every resolution.

An ``Experiment`` is a complete, JSON-ready description (what ``sweep zoom`` changes only the
window of); ``compute`` turns it into a ``Picture``.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field, replace

import numba
import numpy as np

from sweep.errors import FractalError
from sweep.fractal.boundary import Dimension, boundary_mask, box_dimension, line_boundary_counts, line_dimension
from sweep.fractal.network import Network, NetworkError, train_grid
from sweep.outcomes import DIVERGED, NAN
from sweep.problems.losses import make_loss
from sweep.run.executor import PIECE, descend_runs, threads
from sweep.run.spec import geometric_grid

NETWORK = "network"
#: Largest axis end in size (and, on a log axis, 1 / the smallest): far beyond any useful
#: hyperparameter, and far enough from float64's limits that spacing and plotting stay finite.
AXIS_LIMIT = 1e100
#: Axes that hold learning rates (which must be >= 0).
LR_AXES = ("lr", "lr_in", "lr_out")
#: Default experiment settings: the notebook's interactive view, and Liu's line setup.
NETWORK_RANGE = (1e-3, 1e6)
NETWORK_STEPS = 100
LOSS_STEPS = 1000
LOSS_W0 = 5.0
LOSS_LR_RANGE = (0.0, 1.5)
#: A loss's runs stop where |w| passes div_factor * max(1, |w0|): escaped for good.
LOSS_DIV_FACTOR = 1e8
LOSS_TOL = 1e-12
MAX_CELLS = 1 << 24
MAX_LINE = (1 << 24) + 1


@dataclass(frozen=True)
class Axis:
    """One axis of the image: ``n`` values from ``lo`` to ``hi``, log- or evenly spaced.

    Attributes:
        name: ``lr_in``, ``lr_out`` (the network's layers), ``lr``, or a loss parameter.
        lo, hi: first and last value (lo < hi; both > 0 on a log axis).
        n: number of values, >= 2.
        log: log-spaced (True) or evenly spaced.
    """

    name: str
    lo: float
    hi: float
    n: int
    log: bool

    def __post_init__(self):
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise FractalError(f"{self.name} range {self.lo:g}:{self.hi:g} is not allowed; give finite A < B")
        if self.name in LR_AXES and self.lo < 0:
            raise FractalError(f"{self.name} range {self.lo:g}:{self.hi:g} reaches below 0; a learning rate must be >= 0")
        if self.log and self.lo <= 0:
            raise FractalError(f"{self.name} range {self.lo:g}:{self.hi:g} is log-spaced, so both ends must be > 0; use A:B:linear to include 0 or negatives")
        if max(abs(self.lo), abs(self.hi)) > AXIS_LIMIT or (self.log and self.lo < 1 / AXIS_LIMIT):
            raise FractalError(f"{self.name} range {self.lo:g}:{self.hi:g} is not allowed; keep both ends within 1e-100..1e100 in size")
        if self.n < 2:
            raise FractalError(f"{self.name} needs at least 2 values, not {self.n}")
        if self.log and not math.log10(self.hi) - math.log10(self.lo) > 1e-12 * max(1.0, abs(math.log10(self.lo))):
            raise FractalError(f"{self.name} range {self.lo!r}:{self.hi!r} is narrower than float64 can resolve")
        if not self.log and not (self.hi - self.lo) > 1e-12 * max(abs(self.lo), abs(self.hi)):
            raise FractalError(f"{self.name} range {self.lo!r}:{self.hi!r} is narrower than float64 can resolve")

    def values(self) -> np.ndarray:
        """The n values, float64."""
        if self.log:
            return geometric_grid(self.lo, self.hi, self.n)
        return np.linspace(self.lo, self.hi, self.n)

    def _to(self, value: float) -> float:  # position on the axis' own scale
        return math.log10(value) if self.log else value

    def _from(self, position: float) -> float:
        return 10.0**position if self.log else position

    def window(self, lo: float, hi: float) -> Axis:
        """The same axis (resolution and spacing) between lo and hi."""
        return replace(self, lo=float(lo), hi=float(hi))

    def around(self, center: float, factor: float) -> Axis:
        """A window ``factor`` times narrower (on the axis' own scale) centred on ``center``."""
        if self.log and not center > 0:
            raise FractalError(f"centre {center:g} of the log axis {self.name} must be > 0")
        half = (self._to(self.hi) - self._to(self.lo)) / (2.0 * factor)
        c = self._to(center)
        return self.window(self._from(c - half), self._from(c + half))

    def cells(self, start: int, stop: int) -> Axis:
        """The window spanned by values start..stop-1 of this axis."""
        values = self.values()
        return self.window(values[start], values[stop - 1])


@dataclass(frozen=True)
class Experiment:
    """What to train and where to look.

    Attributes:
        problem: ``"network"``, or a loss: a built-in name (``"cosine-mult"``) or a formula.
        x: the horizontal axis (``lr_in`` for the network, ``lr`` for a loss).
        y: the vertical axis (``lr_out``, or a loss parameter), or None for a line of lrs.
        steps: gradient steps per run (the network) or the most a run may take (a loss).
        width, nonlinearity, seed: the network's (see ``sweep.fractal.network.Network``).
        params: a loss's fixed parameter values (the one on the y axis is swept instead).
        w0: a loss's initial weight.
    """

    problem: str
    x: Axis
    y: Axis | None
    steps: int
    width: int = 8
    nonlinearity: str = "tanh"
    seed: int = 0
    params: dict = field(default_factory=dict)
    w0: float = LOSS_W0

    @property
    def is_network(self) -> bool:
        return self.problem == NETWORK

    @property
    def shape(self) -> tuple[int, ...]:
        """(ny, nx) of an image, (nx,) of a line."""
        return (self.x.n,) if self.y is None else (self.y.n, self.x.n)

    def to_config(self) -> dict:
        """JSON-ready dict; ``from_config`` reads it back."""
        config = asdict(self)
        if not self.is_network:
            for key in ("width", "nonlinearity", "seed"):
                config.pop(key)
        else:
            for key in ("params", "w0"):
                config.pop(key)
        return config

    @staticmethod
    def from_config(config: dict) -> Experiment:
        """The Experiment of a ``to_config`` dict (as read from ``fractal.json``).

        Raises:
            FractalError: when the dict does not describe a valid experiment.
        """
        try:
            fields = dict(config)
            fields["x"] = Axis(**fields["x"])
            fields["y"] = None if fields.get("y") is None else Axis(**fields["y"])
            return validate(Experiment(**fields))
        except (TypeError, KeyError, AttributeError) as error:
            raise FractalError(f"not a trainability experiment ({error})") from None

    def with_window(self, x: Axis, y: Axis | None) -> Experiment:
        """The same experiment over another window."""
        return validate(replace(self, x=x, y=y))


def network_experiment(
    width: int = 8, nonlinearity: str = "tanh", steps: int = NETWORK_STEPS, resolution: int = 512, x_range=None, y_range=None, seed: int = 0
) -> Experiment:
    """The network experiment; ranges default to the notebook's first view, 1e-3..1e6 on
    both learning rates, log-spaced. A range is ``(lo, hi)`` or ``(lo, hi, log)``."""
    x = _axis("lr_in", x_range, NETWORK_RANGE + (True,), resolution, "--x-range")
    y = _axis("lr_out", y_range, NETWORK_RANGE + (True,), resolution, "--y-range")
    return validate(Experiment(NETWORK, x, y, steps, width=width, nonlinearity=nonlinearity, seed=seed))


def loss_experiment(
    loss: str, y: str | None, params: dict | None = None, steps: int = LOSS_STEPS, resolution: int = 512, x_range=None, y_range=None, w0: float = LOSS_W0
) -> Experiment:
    """A loss experiment: lr (evenly spaced, default 0..1.5 as in Liu's runs) against the
    loss parameter ``y`` (evenly spaced over ``y_range``, default 0.5x..1.5x its value),
    or, when ``y`` is None, a line of ``resolution + 1`` learning rates (resolution a power
    of two, so that it can be halved down to one cell)."""
    made = problem_loss(loss, params)
    # Record every parameter's value, defaults included, so the experiment says what ran.
    params = {name: float(value) for name, value in made.params if name != y}
    if y is None:
        if resolution < 2 or resolution & (resolution - 1):
            raise FractalError(f"a line's resolution {resolution} must be a power of two >= 2 (it is halved down to 1)")
        x = _axis("lr", x_range, LOSS_LR_RANGE + (False,), resolution + 1, "--x-range")
        return validate(Experiment(loss, x, None, steps, params=params, w0=w0))
    names = [name for name, _ in made.params]
    if y not in names:
        raise FractalError(f"the loss has no parameter {y!r} to put on the y axis; it has {', '.join(names) or 'none'}")
    value = dict(made.params)[y]
    default = (0.5 * value, 1.5 * value, False) if value > 0 else (0.0, 1.0, False)
    x = _axis("lr", x_range, LOSS_LR_RANGE + (False,), resolution, "--x-range")
    return validate(Experiment(loss, x, _axis(y, y_range, default, resolution, "--y-range"), steps, params=params, w0=w0))


def _axis(name: str, given, default: tuple, n: int, option: str) -> Axis:
    lo, hi, log = default
    if given is not None:
        lo, hi = given[0], given[1]
        if len(given) > 2 and given[2] is not None:
            log = given[2]
    try:
        return Axis(name, float(lo), float(hi), int(n), bool(log))
    except FractalError as error:
        # A range someone gave is named by the option they typed (the axis in brackets).
        text, prefix = str(error), f"{name} range "
        if given is None or not text.startswith(prefix):
            raise
        window, _, rest = text[len(prefix) :].partition(" ")
        raise FractalError(f"{option} {window} ({name}) {rest}") from None


def problem_loss(problem: str, params: dict | None):
    """The Loss of a loss experiment's problem (a built-in name or a formula).

    Raises:
        FractalError: for an unknown loss, a bad formula or a bad parameter.
    """
    try:
        made = make_loss(problem, params)
    except ValueError as error:  # FormulaError is a ValueError
        # make_loss speaks of `sweep run`'s --loss; here the loss is the --problem.
        raise FractalError(str(error).replace("--loss ", "--problem ", 1)) from None
    if made.d != 1:
        raise FractalError(f"--problem {problem!r} has {made.d} weights ({', '.join(made.weight_names)}); a trainability image takes the network or a loss of one weight w")
    return made


def validate(experiment: Experiment) -> Experiment:
    """Check an experiment as a whole; returns it unchanged.

    Raises:
        FractalError: naming the bad setting and what is allowed.
    """
    e = experiment
    if isinstance(e.steps, bool) or not isinstance(e.steps, (int, np.integer)) or not 1 <= e.steps <= 1_000_000:
        raise FractalError(f"steps {e.steps!r} is not allowed; use a whole number from 1 to 1000000")
    if e.is_network:
        if e.y is None or (e.x.name, e.y.name) != ("lr_in", "lr_out"):
            raise FractalError("the network's image spans lr_in (x) and lr_out (y)")
        try:
            Network(e.width, e.nonlinearity, e.seed)
        except NetworkError as error:
            raise FractalError(str(error)) from None
        if e.x.n * e.y.n > MAX_CELLS:
            raise FractalError(f"a {e.x.n} x {e.y.n} image has more than {MAX_CELLS:,} cells; use a smaller resolution")
        return e
    if e.x.name != "lr":
        raise FractalError("a loss's image has lr on its x axis")
    if not math.isfinite(e.w0):
        raise FractalError(f"w0 {e.w0!r} is not allowed; use a finite number")
    if e.y is None:
        m = e.x.n - 1
        if m < 2 or m & (m - 1) or e.x.n > MAX_LINE:
            raise FractalError(f"a line has 2**m + 1 learning rates, at most {MAX_LINE:,}; {e.x.n} is not allowed")
    elif e.x.n * e.y.n > MAX_CELLS:
        raise FractalError(f"a {e.x.n} x {e.y.n} image has more than {MAX_CELLS:,} cells; use a smaller resolution")
    made = problem_loss(e.problem, {**e.params, **({e.y.name: e.y.lo} if e.y is not None else {})})
    if e.y is not None and e.y.name not in dict(made.params):
        raise FractalError(f"the loss has no parameter {e.y.name!r}")
    return e


@dataclass
class Picture:
    """A computed experiment.

    Attributes:
        experiment: what was computed.
        converged: (ny, nx) bool image (or (nx,) for a line): True where training converged.
        measure: same shape, float64: the network's signed speed (-sum v if converged, else
            sum 1/v; see ``sweep.kernels.network_template``), or for a loss -n_iter if the
            run stayed bounded and +n_iter if it diverged: more negative or more positive is
            slower, nearer the boundary.
        seconds: wall time of the computation, compiling or loading the kernel excluded.
        compile_seconds: wall time of compiling (first use) or loading the kernel.
    """

    experiment: Experiment
    converged: np.ndarray
    measure: np.ndarray
    seconds: float
    compile_seconds: float = 0.0

    @functools.cached_property
    def dimension(self) -> Dimension:
        """Box-counting dimension of the boundary (of the boundary points, for a line);
        computed once, since the report, the summary and a zoom all ask for it."""
        if self.experiment.y is None:
            return line_dimension(*line_boundary_counts(self.converged))
        return box_dimension(boundary_mask(self.converged))


#: Work per kernel call, in floating-point operations: about a second on 2 cores, so that
#: Ctrl-C (which Python sees only between calls) stops a long image promptly.
FLOPS_PER_PIECE = 2e10


def _pieces(n_rows: int, row_cells: int, cells_per_piece: int = 1 << 14) -> list[tuple[int, int]]:
    rows = max(1, cells_per_piece // row_cells)
    return [(start, min(n_rows, start + rows)) for start in range(0, n_rows, rows)]


def compute(experiment: Experiment, n_threads: int | None = None, progress=None, *, piece_flops: float = FLOPS_PER_PIECE) -> Picture:
    """Train every cell of the experiment's window.

    The work goes in pieces (one kernel call each); Python gets control back between them,
    so Ctrl-C, or an exception raised by ``progress``, stops it within one piece and
    propagates out of ``compute`` unchanged (no Picture is made).

    Args:
        experiment: a validated Experiment.
        n_threads: threads (None: all of Numba's).
        progress: optional callable ``progress(done, total)`` called after each piece:
            the network's pieces done of ``total``; a loss's cells done of ``total`` cells
            (a line's learning rates, or every cell of an image).
        piece_flops: the network's work per piece, in floating-point operations (default
            ``FLOPS_PER_PIECE``, about a second on 2 cores); smaller gives more, shorter
            pieces, so that ``progress`` is called (and a caller may stop) more often. A
            piece holds at least one row of the image. A loss's pieces are at most
            ``sweep.run.executor.PIECE`` runs whatever this is.

    Returns:
        The Picture.

    Raises:
        FractalError: when piece_flops is not a positive finite number.
    """
    e = experiment
    if isinstance(piece_flops, bool) or not isinstance(piece_flops, (int, float, np.integer, np.floating)) or not (math.isfinite(piece_flops) and piece_flops > 0):
        raise FractalError(f"piece_flops {piece_flops!r} is not allowed; give a positive finite number of floating-point operations")
    with threads(n_threads):
        compile_seconds = warm_up(e)
        compiled = time.perf_counter()
        if e.is_network:
            converged, measure = _compute_network(e, progress, piece_flops)
        elif e.y is None:
            converged, measure = _compute_loss_rows(e, progress)
            converged, measure = converged[0], measure[0]
        else:
            converged, measure = _compute_loss_image(e, progress)
    return Picture(e, converged, measure, time.perf_counter() - compiled, compile_seconds)


def worst_case_seconds(experiment: Experiment, budget: float = 0.05) -> float:
    """An upper bound on ``compute``'s time for the experiment on this machine, measured:
    a sample of runs (growing until it takes about ``budget`` seconds) is timed and scaled to
    every run taking all its steps, with ``sweep.run.estimate.TIME_MARGIN`` and ``CALL_SECONDS``.
    Call ``warm_up`` first, so that compiling is not timed."""
    from sweep.run.estimate import CALL_SECONDS, TIME_MARGIN

    e = experiment
    runs = math.prod(e.shape)
    steps = max(1, min(e.steps, 4))
    n = 2 * 8 * numba.get_num_threads()
    while True:
        started = time.perf_counter()
        if e.is_network:
            # Small learning rates: no sampled network dies early, so none is cheap.
            train_grid(Network(e.width, e.nonlinearity, e.seed), np.full(n, 1e-3), np.full(n, 1e-3), steps)
            work = n * steps
        else:
            lr = e.x.values()[np.unique(np.linspace(0, e.x.n - 1, min(n, e.x.n)).round().astype(np.int64))]
            params = dict(e.params) if e.y is None else {**e.params, e.y.name: e.y.lo}
            loss = problem_loss(e.problem, params)
            result = descend_runs(lr, np.full(lr.size, e.w0), loss, steps, LOSS_TOL, LOSS_DIV_FACTOR)
            work = float((result["n_iter"] + 1).sum())
        seconds = time.perf_counter() - started
        if seconds >= budget or n >= 1 << 16 or (not e.is_network and n >= e.x.n and steps >= e.steps):
            break
        if not e.is_network and n >= e.x.n:
            steps = min(e.steps, steps * 4)
        else:
            n *= 4
    return runs * e.steps / (work / max(seconds, 1e-9)) * TIME_MARGIN + CALL_SECONDS


#: Seconds this process took to compile (or load) each experiment's kernel.
_WARM_SECONDS: dict = {}


def warm_up(e: Experiment) -> float:
    """Compile (or load from the cache) the experiment's kernel, once per process.

    Returns:
        The seconds the first compile or load took in this process (the same figure on every
        later call), so that the picture records that cost whichever step paid it.
    """
    params = dict(e.params) if e.y is None else {**e.params, e.y.name: e.y.lo}
    key = (e.width, e.nonlinearity, e.seed) if e.is_network else (e.problem, tuple(sorted(params.items())), e.w0)
    if key not in _WARM_SECONDS:
        started = time.perf_counter()
        _warm_up(e)
        _WARM_SECONDS[key] = time.perf_counter() - started
    return _WARM_SECONDS[key]


def _warm_up(e: Experiment) -> None:
    """Compile (or load from the cache) the experiment's kernel with one tiny run, so that
    the timing of the picture is the kernel's alone."""
    one = np.ones(1)
    if e.is_network:
        train_grid(Network(e.width, e.nonlinearity, e.seed), one, one, 1)
    else:
        params = dict(e.params) if e.y is None else {**e.params, e.y.name: e.y.lo}
        descend_runs(one, one * e.w0, problem_loss(e.problem, params), 1, LOSS_TOL, LOSS_DIV_FACTOR)


def _compute_network(e: Experiment, progress, piece_flops: float = FLOPS_PER_PIECE) -> tuple[np.ndarray, np.ndarray]:
    network = Network(e.width, e.nonlinearity, e.seed)
    x, y = e.x.values(), e.y.values()
    converged = np.empty((y.size, x.size), dtype=bool)
    measure = np.empty((y.size, x.size))
    cells = int(piece_flops / (network.flops_per_step() * e.steps))
    pieces = _pieces(y.size, x.size, max(cells, 1))
    for done, (lo, hi) in enumerate(pieces):
        lr_out, lr_in = np.meshgrid(y[lo:hi], x, indexing="ij")
        result = train_grid(network, lr_in.ravel(), lr_out.ravel(), e.steps, numba.get_num_threads())
        converged[lo:hi] = result["converged"].reshape(hi - lo, x.size)
        measure[lo:hi] = result["measure"].reshape(hi - lo, x.size)
        if progress is not None:
            progress(done + 1, len(pieces))
    return converged, measure


def _compute_loss_rows(e: Experiment, progress) -> tuple[np.ndarray, np.ndarray]:
    """A loss's line of learning rates (y None), as a (1, nx) image: converged and measure."""
    lr = e.x.values()
    converged = np.empty((1, lr.size), dtype=bool)
    measure = np.empty((1, lr.size))
    w0 = np.full(lr.size, e.w0)
    loss = problem_loss(e.problem, dict(e.params))
    for lo, hi in _pieces(lr.size, 1, PIECE):
        result = descend_runs(lr[lo:hi], w0[lo:hi], loss, e.steps, LOSS_TOL, LOSS_DIV_FACTOR)
        converged[0, lo:hi], measure[0, lo:hi] = _loss_outcome(result)
        if progress is not None:
            progress(hi, lr.size)
    return converged, measure


def _compute_loss_image(e: Experiment, progress) -> tuple[np.ndarray, np.ndarray]:
    """The image's cells in row-major order (row r: the y parameter's r-th value; column c:
    the c-th lr), in pieces of at most PIECE cells, one kernel call each with the parameter
    given per run. The Loss is built once; the kernel reads the parameter per run, so every
    cell ends with the same bits as in a run of a loss built with its row's value."""
    lr, y = e.x.values(), e.y.values()
    n = y.size * lr.size
    converged = np.empty(n, dtype=bool)
    measure = np.empty(n)
    loss = problem_loss(e.problem, {**e.params, e.y.name: e.y.lo})
    for lo, hi in _pieces(n, 1, PIECE):
        cells = np.arange(lo, hi)
        rows, columns = np.divmod(cells, lr.size)
        result = descend_runs(lr[columns], np.full(hi - lo, e.w0), loss, e.steps, LOSS_TOL, LOSS_DIV_FACTOR, param_values={e.y.name: y[rows]})
        converged[lo:hi], measure[lo:hi] = _loss_outcome(result)
        if progress is not None:
            progress(hi, n)
    return converged.reshape(y.size, lr.size), measure.reshape(y.size, lr.size)


def _loss_outcome(result: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """converged (bool) and measure (-n_iter if the run stayed bounded, +n_iter if it
    escaped) of a loss's runs."""
    escaped = (result["outcome"] == DIVERGED) | (result["outcome"] == NAN)
    return ~escaped, np.where(escaped, 1.0, -1.0) * result["n_iter"]


def most_mixed_window(converged: np.ndarray, factor: float) -> tuple[slice, slice]:
    """The window 1/factor the image's size (per side) where the boundary is most worth a
    closer look: both classes present in even shares and boundary cells dense, but not so
    dense that the window is noise at this resolution.

    Score: 4 p (1 - p) * b (1 - b)**4, with p the window's converged share and b its share
    of boundary cells (the second factor peaks at b = 0.2); ties go to the window nearest
    the centre.

    Args:
        converged: (ny, nx) bool.
        factor: zoom factor > 1.

    Returns:
        (rows, columns) slices of the image.
    """
    ny, nx = converged.shape
    wy, wx = max(2, int(round(ny / factor))), max(2, int(round(nx / factor)))
    edge = np.zeros((ny, nx))
    edge[:-1, :-1] = boundary_mask(converged)

    def window_sums(values: np.ndarray) -> np.ndarray:
        table = np.zeros((ny + 1, nx + 1))
        table[1:, 1:] = values.cumsum(0).cumsum(1)
        return table[wy:, wx:] - table[:-wy, wx:] - table[wy:, :-wx] + table[:-wy, :-wx]

    share = window_sums(converged.astype(float)) / (wy * wx)
    density = window_sums(edge) / (wy * wx)
    score = 4.0 * share * (1.0 - share) * density * (1.0 - density) ** 4
    top = np.flatnonzero(score == score.max())
    iy, ix = np.unravel_index(top, score.shape)
    centre = np.argmin((iy + wy / 2 - ny / 2) ** 2 + (ix + wx / 2 - nx / 2) ** 2)
    return slice(int(iy[centre]), int(iy[centre]) + wy), slice(int(ix[centre]), int(ix[centre]) + wx)


def most_mixed_span(converged: np.ndarray, factor: float) -> slice:
    """For a line: the span 1/factor its length holding the most class changes (ties: the
    one nearest the middle)."""
    n = converged.size
    w = max(2, int(round(n / factor)))
    changes = np.concatenate([[0], np.cumsum(converged[1:] != converged[:-1])])
    counts = changes[w - 1 :] - changes[: n - w + 1]
    top = np.flatnonzero(counts == counts.max())
    best = top[np.argmin(np.abs(top + w / 2 - n / 2))]
    return slice(int(best), int(best) + w)


def zoom_in(picture: Picture, factor: float) -> Experiment:
    """The next frame of an automatic zoom: the experiment over the most mixed window."""
    e = picture.experiment
    if e.y is None:
        span = most_mixed_span(picture.converged, factor)
        x = e.x.cells(span.start, span.stop)
        return e.with_window(replace(x, n=e.x.n), None)
    rows, cols = most_mixed_window(picture.converged, factor)
    x = replace(e.x.cells(cols.start, cols.stop), n=e.x.n)
    y = replace(e.y.cells(rows.start, rows.stop), n=e.y.n)
    return e.with_window(x, y)
