"""One plan: every setting of a sweep checked once, here, into an immutable ``Plan``.

The Python API, the command line, streaming and Dask all call ``plan_sweep``; nothing after it
validates again. A plan holds the grid's axes (each a sorted-or-given set of values), the
problem, the optimizer, the schedule and the noise, the stops, and the recorder's options.
Runs are numbered in C order over the axes (lr slowest), so any slice of the grid can be made
without making the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from sweep.errors import SweepError
from sweep.optim.optimizers import OPTIMIZERS, Optimizer
from sweep.optim.schedules import SCHEDULES, Schedule

#: Default divergence bound, as a multiple of the run's starting scale max(1, |w0|).
DIV_FACTOR = 1e8
#: Most runs one sweep may hold: runs are numbered with 64-bit integers.
MAX_RUNS = 2**62


def is_real_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def axis_values(values, name: str, positive: bool = False, sort: bool = False) -> np.ndarray:
    """One axis as a 1-D float64 array of distinct finite values.

    Raises:
        SweepError: not real numbers, empty, not 1-D, not finite (or not > 0 when
            ``positive``), or a value given twice.
    """
    if isinstance(values, np.ma.MaskedArray) and np.ma.is_masked(values):
        raise SweepError(f"{name} has masked values: give plain numbers")
    try:
        raw = np.asarray(values)
        # Only real numbers: not text ("0.4"), dates, complex values or booleans.
        if raw.dtype.kind not in "iuf" and not (raw.dtype.kind == "O" and all(is_real_number(v) for v in raw.ravel())):
            raise TypeError
        axis = np.atleast_1d(raw.astype(np.float64))
    except OverflowError:
        raise SweepError(f"{name} must be real numbers that fit a float64; {str(values)[:40]} is too large") from None
    except (TypeError, ValueError):
        raise SweepError(f"{name} must be real numbers, got {str(values)[:60]!r}") from None
    if axis.ndim != 1 or axis.size == 0:
        raise SweepError(f"{name} must be a non-empty 1-D list of numbers, got shape {axis.shape}")
    bad = ~np.isfinite(axis) | ((axis <= 0) if positive else False)
    if bad.any():
        allowed = "finite and > 0" if positive else "finite"
        raise SweepError(f"{name}={float(axis[bad][0])!r} is not allowed: every {name} must be {allowed}")
    distinct, counts = np.unique(axis, return_counts=True)
    if (counts > 1).any():
        raise SweepError(f"{name}={float(distinct[counts > 1][0])!r} is given {int(counts.max())} times: an axis is a set of values, give each once")
    return np.sort(axis) if sort else axis


def check_settings(max_iter, tol, div_factor, n_threads=None) -> tuple[int, float, float]:
    """Validate the scalar settings of a sweep.

    Returns:
        ``(max_iter, tol, div_factor)`` as (int, float, float).

    Raises:
        SweepError: max_iter not a whole number in 0..2**31-1; tol negative or not finite;
            div_factor NaN or < 1 (inf is allowed: no bound); n_threads outside 1..numba's
            thread count.
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or not 0 <= max_iter <= 2**31 - 1:
        raise SweepError(f"max_iter={max_iter!r} is not allowed: it must be a whole number in 0..{2**31 - 1}")
    for name, value in (("tol", tol), ("div_factor", div_factor)):
        if not is_real_number(value):
            raise SweepError(f"{name}={value!r} is not allowed: it must be a number")
    try:
        tol, div_factor = float(tol), float(div_factor)
    except OverflowError:
        raise SweepError(f"tol and div_factor must be float64 numbers, got tol={tol!r:.40}, div_factor={div_factor!r:.40}") from None
    if not (math.isfinite(tol) and tol >= 0):
        raise SweepError(f"tol={tol!r} is not allowed: it must be finite and >= 0 (0 means 'gradient exactly 0')")
    if not div_factor >= 1:
        raise SweepError(f"div_factor={div_factor!r} is not allowed: it must be >= 1 (inf: no divergence bound)")
    if n_threads is not None:
        import numba

        if not (isinstance(n_threads, (int, np.integer)) and not isinstance(n_threads, bool) and 1 <= n_threads <= numba.config.NUMBA_NUM_THREADS):
            raise SweepError(f"n_threads={n_threads!r} is not allowed: it must lie in 1..{numba.config.NUMBA_NUM_THREADS} (the cores Numba may use: NUMBA_NUM_THREADS)")
    return int(max_iter), tol, div_factor


@dataclass(frozen=True)
class Axis:
    """One axis of the grid.

    Attributes:
        name: the table column (``lr``, ``w0`` or ``x0``, ``momentum``, ``T``, ``kappa``).
        values: 1-D float64, the values in grid order.
        role: the kernel input it feeds (``lr``, ``w0``, ``w0:x``, ``hyper:momentum``,
            ``schedule:T``, ``noise:grad_noise``, ``param:kappa``).
    """

    name: str
    values: np.ndarray = field(repr=False)
    role: str

    @property
    def swept(self) -> bool:
        return self.values.size > 1


#: The key of ``Plan.values_at``'s run numbers (not an axis name: axes are identifiers).
RUN_NUMBER = "run number"


@dataclass(frozen=True, eq=False)
class Plan:
    """A validated sweep, ready to run (made by ``plan_sweep``: nothing in it is unchecked,
    so a caller may create files only after planning succeeded).

    Attributes:
        problem: the loss (``sweep.problems.losses.Loss``) or model (``sweep.problems.models.Model``).
        axes: every axis, in grid order (lr first); a fixed setting is an axis of one value.
        optimizer, schedule: the parts (``sweep.optim``).
        max_iter, tol, div_factor: the stops.
        noisy, seed: gradient noise is on (a ``grad_noise`` axis), and its generator's seed
            (also the seed of the mini-batches' order).
        batched: a model's gradients are of mini-batches (a ``batch_size`` axis).
        dynamics: compute the sharpness at every step.
        n_threads: Numba threads (None: all).
        traced, trace_request: the runs to trace (``select_traced``), or None.
    """

    problem: object
    axes: tuple[Axis, ...]
    optimizer: Optimizer
    schedule: Schedule
    max_iter: int
    tol: float
    div_factor: float
    noisy: bool = False
    seed: int = 0
    dynamics: bool = True
    batched: bool = False
    #: A cloud of starting points, (n_points, d) float64, indexed by the ``start`` axis.
    points: np.ndarray | None = None
    n_threads: int | None = None
    #: The runs whose every iterate is kept (sorted run numbers), and the request they came from.
    traced: np.ndarray | None = None
    trace_request: tuple[str, ...] = ()
    #: The loss a noisy run must reach for ``reached``: best known value + target_loss.
    target: float = -math.inf
    target_loss: float | None = None

    @property
    def stochastic(self) -> bool:
        """The gradients are not exact (noise or mini-batches): runs stop only by divergence,
        NaN or max_iter, and the table adds ``loss_tail`` and ``reached``."""
        return self.noisy or self.batched

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(axis.values.size for axis in self.axes)

    @property
    def n_runs(self) -> int:
        # Python's integers: a product of axis sizes must not wrap around 64 bits.
        return math.prod(self.shape)

    @property
    def axis(self) -> dict[str, Axis]:
        return {axis.name: axis for axis in self.axes}

    @property
    def lr(self) -> np.ndarray:
        return self.axis["lr"].values

    @property
    def weights(self) -> tuple[str, ...]:
        """The weights' names: the table's columns of the final point (``w`` for one)."""
        return tuple(getattr(self.problem, "weight_names", ("w",)))

    @property
    def starts(self) -> tuple[str, ...]:
        """The table's columns of the starting point, one per weight (``w0`` for one weight, a
        model's one axis for all its weights; ``x0, y0`` or ``w1_0, w2_0, ...`` for several,
        each an axis, or taken from a cloud of points by the ``start`` axis)."""
        if self.points is not None:
            return tuple(start_name(weight, len(self.weights)) for weight in self.weights)
        return tuple(axis.name for axis in self.axes if axis.role == "w0" or axis.role.startswith("w0:"))

    def values_at(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """The per-run value of every axis for the runs numbered ``index`` (int64 array), and
        under ``RUN_NUMBER`` the numbers themselves (the key of a run's gradient noise)."""
        index = np.asarray(index, dtype=np.int64)
        where = np.unravel_index(index, self.shape)
        values = {axis.name: axis.values[at] for axis, at in zip(self.axes, where)}
        if self.points is not None:
            # A cloud's runs start at the point their start axis names.
            at = values["start"].astype(np.int64)
            values.update({name: self.points[at, j] for j, name in enumerate(self.starts)})
        return values | {RUN_NUMBER: index}

    def values_of(self, start: int, stop: int) -> dict[str, np.ndarray]:
        """The per-run values of every axis for runs ``start..stop-1``."""
        return self.values_at(np.arange(start, stop, dtype=np.int64))


#: The table's columns besides the axes and the weights' ends (``sweep.run.executor.table``).
TABLE_COLUMNS = (
    "w", "w0", "n_iter", "loss", "grad", "outcome", "oscillated", "regime", "basin", "loss_max", "n_increase", "first_increase", "sharpness_max", "eos_step", "loss_tail", "reached", "w_norm", "r2", "accuracy",
)


def axes_listed(axes: dict[str, int]) -> str:
    """An error's list of a sweep's axes (name -> number of values): the swept ones, then
    those at one value apart, which are settings rather than axes to a reader."""
    swept = [name for name, size in axes.items() if size > 1]
    fixed = [name for name, size in axes.items() if size <= 1]
    return (", ".join(swept) or "none") + (f" (and at one value: {', '.join(fixed)})" if fixed else "")


def start_name(weight: str, d: int) -> str:
    """The table column of a weight's start: ``w0`` for one weight, else the weight's name
    and 0 (``x0``), with an underscore after a name ending in a digit (``w1_0``)."""
    if d == 1:
        return "w0"
    return f"{weight}_0" if weight[-1].isdigit() else f"{weight}0"


#: Most points a cloud of starts may hold: sweep.json keeps every point (some 40 MB at most).
MAX_POINTS = 1_000_000


def cloud_points(w0, d: int) -> np.ndarray | None:
    """The points of a cloud of starts: ``"cloud:N:LOW:HIGH:SEED"`` (N points drawn by
    ``numpy.random.RandomState(SEED).uniform(LOW, HIGH, size=(N, d))``) or an (N, d) array of
    points; None for anything else (axes per weight).

    Raises:
        SweepError: for a malformed cloud, or points that are not finite.
    """
    if isinstance(w0, str) and w0.startswith("cloud:"):
        fields = w0.split(":")[1:]
        try:
            if len(fields) != 4:
                raise ValueError
            n, low, high, seed = int(fields[0]), float(fields[1]), float(fields[2]), int(fields[3])
            # high - low must be finite too: numpy's uniform draws low + (high - low) * u.
            if not (1 <= n <= MAX_POINTS and np.isfinite(low) and np.isfinite(high) and low < high and np.isfinite(high - low) and 0 <= seed < 2**32):
                raise ValueError
        except ValueError:
            raise SweepError(f"w0={w0[:60]!r} is not allowed: write cloud:N:LOW:HIGH:SEED, N points in 1..{MAX_POINTS:,} drawn uniformly in [LOW, HIGH) for every weight, LOW < HIGH with HIGH - LOW finite, SEED in 0..2**32-1") from None
        return np.random.RandomState(seed).uniform(low, high, size=(n, d))
    if isinstance(w0, np.ndarray) and w0.ndim == 2:
        if w0.shape[1] != d or w0.shape[0] < 1 or w0.dtype.kind not in "iuf" or not np.isfinite(w0).all():
            raise SweepError(f"w0 as points must be an (n, {d}) array of finite numbers, one column per weight; got shape {w0.shape}")
        return np.ascontiguousarray(w0, dtype=np.float64)
    return None


def _start_axes(w0, problem) -> tuple[list[Axis], np.ndarray | None]:
    """The starting point's axes: one ``w0`` axis for one weight (and for a model, whose
    weights all start there); for several weights one axis per weight, from a dict of weight
    name to values, the loss's customary start for a weight the dict leaves out; or a cloud
    of points (``cloud_points``) and the ``start`` axis that numbers them."""
    weights = tuple(getattr(problem, "weight_names", ("w",)))
    if len(weights) == 1 or not hasattr(problem, "start"):
        if isinstance(w0, dict):
            raise SweepError("w0={...} by weight is for losses of several weights; this loss has one weight: give w0 as a list of numbers")
        if isinstance(w0, str) and w0.startswith("cloud:"):
            raise SweepError(f"w0={w0[:40]!r}: a cloud of starts is for losses of several weights; give this loss's w0 as a SPEC (uniform:LOW:HIGH:N:SEED draws at random)")
        return [Axis("w0", axis_values(w0, "w0"), "w0")], None
    names = ", ".join(weights)
    points = cloud_points(w0, len(weights))
    if points is not None:
        return [Axis("start", np.arange(points.shape[0], dtype=np.float64), "w0:cloud")], points
    if w0 is not None and not isinstance(w0, dict):
        raise SweepError(
            f"w0={str(w0)[:40]!r} is not allowed for a loss of {len(weights)} weights ({names}): give one axis per weight, w0={{'{weights[0]}': [...], ...}} "
            f"(--w0 {weights[0]}=SPEC), or a cloud of points, cloud:N:LOW:HIGH:SEED"
        )
    given = dict(w0 or {})
    unknown = [name for name in given if name not in weights]
    if unknown:
        raise SweepError(f"w0 names the weight {str(unknown[0])[:40]!r}, which the loss does not have (its weights: {names})")
    axes = []
    for j, weight in enumerate(weights):
        if weight in given:
            values = axis_values(given[weight], f"w0 of {weight}")
        elif problem.start:
            values = np.array([problem.start[j]])
        else:
            raise SweepError(f"w0 gives no start for the weight {weight!r}: give one axis per weight ({names}), such as --w0 {weight}=-2:2:41")
        axes.append(Axis(start_name(weight, len(weights)), values, f"w0:{weight}"))
    return axes, None


def _batch_axes(batch_size, problem) -> list[Axis]:
    """A model's mini-batch sizes as an axis (none without ``batch_size``)."""
    from sweep.problems.models import Model

    if batch_size is None:
        return []
    if not isinstance(problem, Model):
        raise SweepError(f"batch_size={str(batch_size)[:40]} is for the models on data (mse-linear, logloss-logistic): the loss {problem.name!r} has no samples to batch; use --grad-noise for noisy gradients")
    values = axis_values(batch_size, "batch_size", sort=True)
    n = problem.n_samples
    bad = values[(values != np.round(values)) | (values < 1) | (values > n)]
    if bad.size:
        value = float(bad[0])  # a whole number as the user wrote it: 0, not 0.0
        shown = int(value) if value.is_integer() and abs(value) < 2**53 else value
        raise SweepError(f"batch_size={shown!r} is not allowed: a batch size is a whole number of samples in 1..{n} (the {problem.dataset} data has {n})")
    return [Axis("batch_size", values, "batch:batch_size")]


def _hyper_axes(optimizer: str, hyper: dict | None) -> tuple[Optimizer, list[Axis]]:
    """An optimizer's hyperparameters: name -> sorted axis of allowed values."""
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise SweepError(f"optimizer={optimizer!r:.40} is not allowed: optimizers are {', '.join(OPTIMIZERS)}")
    chosen = OPTIMIZERS[optimizer]
    if hyper is not None and not (isinstance(hyper, dict) and all(isinstance(k, str) for k in hyper)):
        raise SweepError(f"hyper={hyper!r:.60} is not allowed: give a dict of hyperparameter names to numbers or lists, such as {{'momentum': [0, 0.9]}}")
    given = dict(hyper or {})
    known = {h.name: h for h in chosen.hyperparameters}
    for name in given:
        if name not in known:
            owners = [o.name for o in OPTIMIZERS.values() if any(h.name == name for h in o.hyperparameters)]
            where = f"; it belongs to {', '.join(owners)}" if owners else ""
            raise SweepError(f"{name} is not a hyperparameter of {optimizer} ({optimizer}'s are: {', '.join(known) or 'none'}){where}")
    axes = []
    for name, rule in known.items():
        values = axis_values(given.get(name, rule.default), name, sort=True)
        for value in values:
            allowed = rule.check(float(value))
            if allowed:
                raise SweepError(f"{name}={float(value)!r} is not allowed: {name} must lie in {allowed}")
        axes.append(Axis(name, values, f"hyper:{name}"))
    return chosen, axes


def _schedule_axes(schedule: str, params: dict | None, max_iter: int) -> tuple[Schedule, list[Axis]]:
    if not isinstance(schedule, str) or schedule not in SCHEDULES:
        raise SweepError(f"schedule={schedule!r:.40} is not allowed: schedules are {', '.join(SCHEDULES)}")
    chosen = SCHEDULES[schedule]
    given = dict(params or {})
    known = {p.name: p for p in chosen.params}
    for name in given:
        if name not in known:
            owners = [s.name for s in SCHEDULES.values() if any(p.name == name for p in s.params)]
            where = f"; it belongs to {', '.join(owners)}" if owners else ""
            raise SweepError(f"{name} is not a parameter of the {schedule} schedule (its parameters: {', '.join(known) or 'none'}){where}")
    axes = []
    for name, rule in known.items():
        default = float(max_iter) if math.isnan(rule.default) else rule.default
        values = axis_values(given.get(name, default), name, sort=True)
        for value in values:
            allowed = rule.check(float(value))
            if allowed:
                raise SweepError(f"{name}={float(value)!r} is not allowed: the {schedule} schedule's {name} must lie in {allowed}")
        axes.append(Axis(name, values, f"schedule:{name}"))
    if schedule == "warmup-cosine":
        # The cosine runs over T - warmup steps after the warmup: at least one.
        by_name = {axis.name: axis.values for axis in axes}
        T, warmup = float(by_name["T"].min()), float(by_name["warmup"].max())
        if T - warmup < 1:
            where = " (T defaults to max_iter)" if "T" not in given else ""
            raise SweepError(f"T={T:g} and warmup={warmup:g} are not allowed together: the warmup-cosine schedule needs T - warmup >= 1{where}; lengthen T or shorten the warmup")
    return chosen, axes


def _problem(loss, params, dataset, target, features):
    """The problem, and its parameters as (name, axis values) pairs."""
    from sweep.problems.losses import Loss, make_loss
    from sweep.problems.models import MODELS, make_model

    if not isinstance(loss, (str, Loss)):
        raise SweepError(f"loss={loss!r:.60} is not allowed: give a built-in name, a model name, a formula in w, or a sweep.problems.losses.Loss")
    if params is not None and not (isinstance(params, dict) and all(isinstance(k, str) for k in params)):
        raise SweepError(f"params={params!r:.60} is not allowed: give a dict of parameter names to real numbers, such as {{'a': 2.0}}")
    from sweep.problems.losses import SHAPE_OPTIONS

    swept = {name: axis_values(value, f"params[{name!r}]", sort=True) for name, value in (params or {}).items()}
    for name in SHAPE_OPTIONS:
        if name in swept and swept[name].size > 1:
            raise SweepError(f"{name} fixes the loss's number of weights and cannot be an axis: give one value (--param {name}=N)")
    first = {name: float(values[0]) for name, values in swept.items()}
    is_model = isinstance(loss, str) and loss in MODELS
    if (dataset or target or features) and not is_model:
        raise SweepError(f"dataset, target and features belong to the models {', '.join(MODELS)}, not to the loss {loss!r}")
    try:
        if is_model:
            if params:
                raise SweepError(f"the model {loss!r} takes no parameters, got {', '.join(params)}")
            return make_model(loss, dataset, target, tuple(features) if features else None), []
        made = make_loss(loss, first)
    except ValueError as error:
        raise SweepError(str(error)) from None
    # Every value of a swept parameter must make a valid loss too (cosine's lam = 0 does not).
    for name, values in swept.items():
        for value in values[1:]:
            try:
                make_loss(loss, {**first, name: float(value)})
            except ValueError as error:
                raise SweepError(str(error)) from None
    axes = [Axis(name, swept.get(name, np.array([value])), f"param:{name}") for name, value in made.params]
    return made, axes


def plan_sweep(
    lr,
    w0,
    *,
    loss="quadratic",
    params: dict | None = None,
    max_iter: int = 100,
    tol: float = 0.0,
    div_factor: float = DIV_FACTOR,
    n_threads: int | None = None,
    dataset: str | None = None,
    target: str | None = None,
    features: tuple[str, ...] | None = None,
    optimizer: str = "gd",
    hyper: dict | None = None,
    schedule: str = "constant",
    schedule_params: dict | None = None,
    grad_noise=None,
    seed: int = 0,
    dynamics: bool = True,
    trace=None,
    target_loss: float | None = None,
    batch_size=None,
) -> Plan:
    """Check a sweep's input without running it (arguments as for ``sweep.run_sweep``;
    ``trace`` as for ``select_traced``; ``target_loss``, for noisy runs, the gap above the
    loss's best known value within which ``reached`` counts a run as there; ``batch_size``,
    for a model, samples per mini-batch, a whole number or an axis of them in 1..n_samples).

    Raises:
        SweepError: for a bad lr, w0, loss, model, dataset, optimizer, schedule or setting
            (one-line message naming it).
        sweep.problems.formula.FormulaError: for a formula that is not allowed.
    """
    lr_axis = axis_values(lr, "lr", positive=True)
    max_iter, tol, div_factor = check_settings(max_iter, tol, div_factor, n_threads)
    problem, param_axes = _problem(loss, params, dataset, target, features)
    start_axes, points = _start_axes(w0, problem)
    chosen, hyper_axes = _hyper_axes(optimizer, hyper)
    scheduled, schedule_axes = _schedule_axes(schedule, schedule_params, max_iter)
    if not isinstance(dynamics, bool):
        raise SweepError(f"dynamics={dynamics!r:.20} is not allowed: give True or False")
    noise_axes = []
    if grad_noise is not None:
        values = axis_values(grad_noise, "grad_noise", sort=True)
        if (values < 0).any():
            raise SweepError(f"grad_noise={float(values[0])!r} is not allowed: a noise scale must be finite and >= 0")
        noise_axes.append(Axis("grad_noise", values, "noise:grad_noise"))
    batch_axes = _batch_axes(batch_size, problem)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise SweepError(f"seed={seed!r:.30} is not allowed: it must be a whole number in 0..2**63-1")
    axes = (Axis("lr", lr_axis, "lr"), *start_axes, *hyper_axes, *schedule_axes, *noise_axes, *batch_axes, *param_axes)
    names = [axis.name for axis in axes]
    weights = getattr(problem, "weight_names", ("w",))
    if len(weights) > 1:
        # A weight's end is a column too: it must not take another column's name.
        taken = [name for name in weights if name in names or name in TABLE_COLUMNS or (points is not None and name in ("start", *(start_name(w, len(weights)) for w in weights)))]
        if taken:
            raise SweepError(f"the loss has a weight named {taken[0]!r}, which is also the name of a column of the table (or a weight's start): rename that weight in the formula")
    clash = sorted({name for name in names if names.count(name) > 1})
    if clash:
        raise SweepError(f"{clash[0]!r} names both a setting of the optimizer or schedule and a parameter of the loss: rename the loss's parameter")
    plan = Plan(problem, axes, chosen, scheduled, max_iter, tol, div_factor, noisy=bool(noise_axes), seed=int(seed), dynamics=dynamics, n_threads=n_threads, batched=bool(batch_axes), points=points)
    if plan.n_runs > MAX_RUNS:
        sizes = " x ".join(f"{size:,}" for size in plan.shape)
        raise SweepError(f"the grid has {sizes} = {plan.n_runs:.3g} runs, more than the {MAX_RUNS:.1e} a sweep can number: narrow the axes")
    if target_loss is not None:
        if isinstance(target_loss, bool) or not is_real_number(target_loss) or not (0 <= float(target_loss) < math.inf):
            raise SweepError(f"target_loss={target_loss!r:.30} is not allowed: it must be a finite number >= 0 (a gap above the loss's best value)")
        if not plan.stochastic:
            raise SweepError("--target-loss is for noisy runs (give --grad-noise, or --batch-size for a model): an exact-gradient run has its outcome")
        best = getattr(plan.problem, "best_value", lambda: None)()
        if best is None:
            shown = plan.problem.expression() if hasattr(plan.problem, "expression") else plan.problem.name
            raise SweepError(f"--target-loss needs the loss's best value, and none is known for {shown!r} ({plan.problem.name}): it is known for quadratics and for losses that list their minima (double-well)")
        plan = replace(plan, target=best + float(target_loss), target_loss=float(target_loss))
    if trace is not None and trace != ():
        request = (trace,) if isinstance(trace, str) else tuple(trace)
        plan = replace(plan, traced=select_traced(plan, request), trace_request=request)
    return plan


#: Most bytes the iterates of traced runs may take in memory at once.
TRACE_BYTES = 2 << 30


def trace_bytes(plan: Plan, n_runs: int) -> int:
    """Bytes the traces of ``n_runs`` runs take while they are computed, every run taking
    all max_iter steps: per iterate the step, the weights, loss, grad, lr, sharpness and the
    optimizer's state (``sweep.kernels.generator.trace_fields``), 8 bytes each."""
    d = len(plan.weights)
    fields = 1 + d + 4 + len(plan.optimizer.slots) * d + len(plan.optimizer.counters)
    return n_runs * (plan.max_iter + 2) * fields * 8


def select_traced(plan: Plan, request: tuple[str, ...]) -> np.ndarray:
    """The run numbers a trace request picks, sorted.

    Args:
        plan: the sweep.
        request: one or more strings, each ``"all"`` (every run of the sweep),
            ``"sample:N:SEED"`` (N runs drawn without replacement by NumPy's ``default_rng(SEED)``)
            or ``"AXIS=V1,V2,..."`` (the runs whose AXIS value is one of those listed; several
            such strings pick the runs that match all of them).

    Raises:
        SweepError: for a malformed request, an axis the sweep lacks, a value not on its
            axis, a sample larger than the sweep, a request that matches no run, a model on
            data (whose runs have no per-step trace), or traces too large for memory
            (``TRACE_BYTES``; the message gives the estimate).
    """
    from sweep.problems.models import Model

    if isinstance(plan.problem, Model):
        raise SweepError(f"--trace {request[0]!r} is not allowed for the model {plan.problem.name}: traces are for losses (of one weight or several); a model's runs keep their end state only")
    by_axis: dict[str, set[int]] = {}

    def bounded(n: int, item: str) -> None:
        # Checked before any run number is drawn: "all" of a huge grid must not allocate it.
        need = trace_bytes(plan, n)
        if need > TRACE_BYTES:
            raise SweepError(
                f"--trace {item!r}: {n:,} runs of up to {plan.max_iter + 1:,} iterates need about {need / 2**30:,.1f} GiB in memory, "
                f"more than the {TRACE_BYTES / 2**30:.0f} GiB allowed: trace fewer runs (sample:N:SEED) or lower --max-iter"
            )

    drawn = []  # samples and "all": their runs are added to those the lists pick
    for item in request:
        if not isinstance(item, str):
            raise SweepError(f"trace={item!r:.40} is not allowed: give 'all', 'sample:N:SEED' or 'AXIS=V1,V2,...'")
        if item == "all":
            bounded(plan.n_runs, item)
            drawn.append(np.arange(plan.n_runs, dtype=np.int64))
        elif item.startswith("sample:"):
            parts = item.split(":")
            try:
                if len(parts) != 3:
                    raise ValueError
                n, seed = int(parts[1]), int(parts[2])
                if n < 1 or seed < 0:
                    raise ValueError
            except ValueError:
                raise SweepError(f"--trace {item!r} is not allowed: write sample:N:SEED with whole numbers N >= 1 and SEED >= 0") from None
            if n > plan.n_runs:
                raise SweepError(f"--trace {item!r} asks for {n:,} runs, but the sweep has {plan.n_runs:,}: sample at most that many, or trace all")
            bounded(n, item)
            drawn.append(np.sort(np.random.default_rng(seed).choice(plan.n_runs, size=n, replace=False)).astype(np.int64))
        else:
            name, sep, listed = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise SweepError(f"--trace {item!r} is not allowed: give 'all', 'sample:N:SEED' or 'AXIS=V1,V2,...' (such as lr=0.4,0.001,10)")
            if name not in plan.axis:
                raise SweepError(f"--trace {item!r}: the sweep has no axis {name!r}; its swept axes are {axes_listed({axis.name: axis.values.size for axis in plan.axes})}")
            axis = plan.axis[name].values
            at = set()
            for text in listed.split(","):
                try:
                    value = float(text)
                except ValueError:
                    raise SweepError(f"--trace {item!r}: {text!r} is not a number") from None
                if not math.isfinite(value):
                    raise SweepError(f"--trace {item!r}: {text.strip()!r} is not allowed: axis values are finite numbers")
                # A value as typed names the axis value it rounds to: 0.55 on a linspace whose
                # value is 0.5499999999999999 is that value.
                hit = np.flatnonzero(np.abs(axis - value) <= 1e-9 * max(abs(value), 1e-300))
                if hit.size == 0:
                    nearest = float(axis[np.argmin(np.abs(axis - value))])
                    raise SweepError(f"--trace {item!r}: {value!r} is not a value of the {name} axis (the nearest is {nearest!r}); list values the axis holds")
                at.add(int(hit[0]))
            # Two lists for one axis must both match: their common values.
            by_axis[name] = by_axis[name] & at if name in by_axis else at
    if by_axis:
        if any(not values for values in by_axis.values()):
            empty = next(name for name, values in by_axis.items() if not values)
            raise SweepError(f"--trace {' '.join(request)!r}: the lists for {empty} have no value in common, so they match no run")
        picks = [np.asarray(sorted(by_axis[axis.name]) if axis.name in by_axis else range(axis.values.size), dtype=np.int64) for axis in plan.axes]
        bounded(math.prod(pick.size for pick in picks), " ".join(item for item in request if "=" in item))
        drawn.append(np.ravel_multi_index(np.meshgrid(*picks, indexing="ij"), plan.shape).ravel())
    chosen = np.unique(np.concatenate(drawn)) if drawn else None
    if chosen is not None and chosen.size:
        bounded(chosen.size, " ".join(request))
    if chosen is None or chosen.size == 0:
        raise SweepError(f"--trace {' '.join(request)!r} matches no run of the sweep")
    return chosen
