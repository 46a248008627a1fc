"""The Python entry point: ``run_sweep`` runs every (lr, w0) pair of a grid and tabulates it."""

from __future__ import annotations

import math
import platform
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version

import numba
import numpy as np
import pandas as pd

from sweep.codegen import kernel_module, model_kernel_module
from sweep.errors import SweepError
from sweep.kernels import models as model_kernels
from sweep.losses import Loss, basin_of, make_loss
from sweep.models import MODELS, Model, make_model, scores
from sweep.optimizers import OPTIMIZERS, get_optimizer, heavy_ball_edge, initial_state, nesterov_edge
from sweep.outcomes import regime_of, to_categorical

#: Default divergence bound, as a multiple of the run's starting scale max(1, |w0|).
DIV_FACTOR = 1e8
#: Most runs one sweep may hold: runs are numbered with 64-bit integers.
MAX_RUNS = 2**62


def _axis(values, name: str, positive: bool) -> np.ndarray:
    if isinstance(values, np.ma.MaskedArray) and np.ma.is_masked(values):
        raise SweepError(f"{name} has masked values: give plain numbers")
    try:
        raw = np.asarray(values)
        # Only real numbers: not text ("0.4"), dates, complex values or booleans.
        if raw.dtype.kind not in "iuf" and not (raw.dtype.kind == "O" and all(_is_real_number(v) for v in raw.ravel())):
            raise TypeError
        axis = np.atleast_1d(raw.astype(np.float64))
    except (TypeError, ValueError, OverflowError):
        raise SweepError(f"{name} must be real numbers, got {str(values)[:60]!r}") from None
    if axis.ndim != 1 or axis.size == 0:
        raise SweepError(f"{name} must be a non-empty 1-D list of numbers, got shape {axis.shape}")
    bad = ~np.isfinite(axis) | ((axis <= 0) if positive else False)
    if bad.any():
        allowed = "finite and > 0" if positive else "finite"
        raise SweepError(f"{name}={float(axis[bad][0])!r} is not allowed: every {name} must be {allowed}")
    values, counts = np.unique(axis, return_counts=True)
    if (counts > 1).any():
        raise SweepError(f"{name}={float(values[counts > 1][0])!r} is given {int(counts.max())} times: an axis is a set of values, give each once")
    return axis


def _is_real_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def check_settings(max_iter, tol, div_factor, n_threads=None) -> tuple[int, float, float]:
    """Validate the scalar settings of a sweep.

    Returns:
        ``(max_iter, tol, div_factor)`` as (int, float, float).

    Raises:
        SweepError: max_iter not a whole number in 0..2**31-1; tol negative or not finite;
            div_factor not finite or < 1; n_threads outside 1..numba's thread count.
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or not 0 <= max_iter <= 2**31 - 1:
        raise SweepError(f"max_iter={max_iter!r} is not allowed: it must be a whole number in 0..{2**31 - 1}")
    for name, value in (("tol", tol), ("div_factor", div_factor)):
        if not _is_real_number(value):
            raise SweepError(f"{name}={value!r} is not allowed: it must be a number")
    try:
        tol = float(tol)
        div_factor = float(div_factor)
    except OverflowError:
        raise SweepError(f"tol and div_factor must be float64 numbers, got tol={tol!r:.40}, div_factor={div_factor!r:.40}") from None
    if not (math.isfinite(tol) and tol >= 0):
        raise SweepError(f"tol={tol!r} is not allowed: it must be finite and >= 0 (0 means 'gradient exactly 0')")
    if not (math.isfinite(div_factor) and div_factor >= 1):
        raise SweepError(f"div_factor={div_factor!r} is not allowed: it must be finite and >= 1")
    if n_threads is not None and not (
        isinstance(n_threads, (int, np.integer)) and not isinstance(n_threads, bool) and 1 <= n_threads <= numba.config.NUMBA_NUM_THREADS
    ):
        raise SweepError(f"n_threads={n_threads!r} is not allowed: it must lie in 1..{numba.config.NUMBA_NUM_THREADS}")
    return int(max_iter), tol, div_factor


@contextmanager
def threads(n_threads: int | None):
    """Run the body with Numba limited to ``n_threads`` threads (None: leave the setting as is)."""
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads or previous)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)


#: Runs per kernel call: enough blocks to balance the threads between the calls' joins
#: (2**16 cost 15% on the benchmark's case (a)), few enough to return to Python often.
PIECE = 1 << 18


def hyper_arrays(optimizer: str, hyper: dict[str, np.ndarray] | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The optimizer's hyperparameters as three per-run float64 arrays h0, h1, h2 (unused
    ones zero), from ``hyper``: name -> 1-D array of length n (missing names take defaults)."""
    chosen = get_optimizer(optimizer)
    given = hyper or {}
    arrays = [np.ascontiguousarray(given[h.name], np.float64) if h.name in given else np.full(n, h.default) for h in chosen.hyperparameters]
    arrays += [np.zeros(n)] * (3 - len(arrays))
    return arrays[0], arrays[1], arrays[2]


def descend_runs(
    lr: np.ndarray, w0: np.ndarray, loss: Loss, max_iter: int, tol: float, div_factor: float, optimizer: str = "gd", hyper: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Run the kernel over flat per-run arrays: the unit that chunking and workers reuse.

    Args:
        lr, w0: 1-D float64 arrays of equal length n, one entry per run (already validated).
        loss: the Loss. max_iter, tol, div_factor: validated settings.
        optimizer: a name from ``sweep.optimizers.OPTIMIZERS``.
        hyper: the optimizer's hyperparameters by name, each a 1-D array of length n
            (missing ones take their defaults).

    Returns:
        dict of 1-D arrays of length n: ``n_iter`` (int64, updates applied), ``w`` (final
        weight), ``loss`` and ``grad`` (at the final weight, float64), ``outcome`` (int8 codes
        of ``sweep.outcomes``), ``oscillated`` (bool: the gradient changed sign at some step).
    """
    kernel = kernel_module(loss, optimizer)
    n = lr.size
    lr = np.ascontiguousarray(lr, np.float64)
    w0 = np.ascontiguousarray(w0, np.float64)
    n_iter = np.empty(n, np.int64)
    w = np.empty(n)
    outcome = np.empty(n, np.int8)
    crossed = np.empty(n, np.bool_)
    h = hyper_arrays(optimizer, hyper, n) if optimizer != "gd" else None
    for start in range(0, n, PIECE):
        # Python gets control back between pieces, so Ctrl-C stops a long sweep promptly
        # (a signal cannot interrupt compiled code).
        part = slice(start, min(n, start + PIECE))
        outputs = (n_iter[part], w[part], outcome[part], crossed[part])
        if h is None:
            kernel.descend(lr[part], w0[part], loss.param_values, max_iter, tol, div_factor, numba.get_num_threads(), *outputs)
        else:
            hp = tuple(array[part] for array in h)
            kernel.descend(lr[part], w0[part], *hp, loss.param_values, initial_state(optimizer), max_iter, tol, div_factor, numba.get_num_threads(), *outputs)
    loss_at_w = np.empty(n)
    grad_at_w = np.empty(n)
    kernel.evaluate(w, loss.param_values, loss_at_w, grad_at_w)
    return {"n_iter": n_iter, "w": w, "loss": loss_at_w, "grad": grad_at_w, "outcome": outcome, "oscillated": crossed}


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep, ready to run: the axes, the loss and the settings.

    Made by ``plan_sweep``; everything that can be wrong with the input has been checked, so
    a caller can create output files only after planning succeeded.
    """

    lr: np.ndarray
    w0: np.ndarray
    loss: Loss | Model
    max_iter: int
    tol: float
    div_factor: float
    n_threads: int | None
    optimizer: str = "gd"
    hyper: dict = field(default_factory=dict)

    @property
    def axes(self) -> dict[str, np.ndarray]:
        """Every axis of the grid in order, lr first: lr, w0, then the optimizer's
        hyperparameters (a fixed one is an axis of one value)."""
        return {"lr": self.lr, "w0": self.w0, **self.hyper}

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(axis.size for axis in self.axes.values())

    @property
    def n_runs(self) -> int:
        # Python's integers: a product of axis sizes must not wrap around 64 bits.
        return math.prod(self.shape)


def plan_sweep(
    lr,
    w0,
    *,
    loss: str | Loss = "quadratic",
    params: dict[str, float] | None = None,
    max_iter: int = 100,
    tol: float = 0.0,
    div_factor: float = DIV_FACTOR,
    n_threads: int | None = None,
    dataset: str | None = None,
    target: str | None = None,
    optimizer: str = "gd",
    hyper: dict | None = None,
    features: tuple[str, ...] | None = None,
) -> SweepPlan:
    """Validate a sweep's input without running it (arguments as for ``run_sweep``).

    Raises:
        SweepError: for a bad lr, w0, loss, model, dataset or setting (one-line message).
        sweep.formula.FormulaError: for a formula that is not allowed.
    """
    lr_axis = _axis(lr, "lr", positive=True)
    w0_axis = _axis(w0, "w0", positive=False)
    max_iter, tol, div_factor = check_settings(max_iter, tol, div_factor, n_threads)
    if not isinstance(loss, (str, Loss)):
        raise SweepError(f"loss={loss!r:.60} is not allowed: give a built-in name, a model name, a formula in w, or a sweep.losses.Loss")
    if params is not None and not (isinstance(params, dict) and all(isinstance(k, str) and _is_real_number(v) for k, v in params.items())):
        raise SweepError(f"params={params!r:.60} is not allowed: give a dict of parameter names to real numbers, such as {{'a': 2.0}}")
    try:
        params = {name: float(value) for name, value in (params or {}).items()}
    except OverflowError:
        raise SweepError("a parameter value is too large for a float64") from None
    is_model = isinstance(loss, str) and loss in MODELS
    if (dataset or target or features) and not is_model:
        raise SweepError(f"dataset, target and features belong to the models {', '.join(MODELS)}, not to the loss {loss!r}")
    try:
        if is_model:
            if params:
                raise SweepError(f"the model {loss!r} takes no parameters, got {', '.join(params)}")
            chosen = make_model(loss, dataset, target, tuple(features) if features else None)
        else:
            chosen = make_loss(loss, params)
    except ValueError as error:
        raise SweepError(str(error)) from None
    plan = SweepPlan(lr_axis, w0_axis, chosen, max_iter, tol, div_factor, n_threads, optimizer, _hyper_axes(optimizer, hyper))
    if plan.n_runs > MAX_RUNS:
        sizes = " x ".join(f"{axis.size:,}" for axis in plan.axes.values())
        raise SweepError(f"the grid has {sizes} = {plan.n_runs:.3g} runs, more than the {MAX_RUNS:.1e} a sweep can number: narrow the axes")
    return plan


def _hyper_axes(optimizer: str, hyper: dict | None) -> dict[str, np.ndarray]:
    """Validate an optimizer's hyperparameters: name -> sorted axis of allowed values."""
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS:
        raise SweepError(f"optimizer={optimizer!r:.40} is not allowed: optimizers are {', '.join(OPTIMIZERS)}")
    chosen = get_optimizer(optimizer)
    if hyper is not None and not (isinstance(hyper, dict) and all(isinstance(k, str) for k in hyper)):
        raise SweepError(f"hyper={hyper!r:.60} is not allowed: give a dict of hyperparameter names to numbers or lists, such as {{'momentum': [0, 0.9]}}")
    given = dict(hyper or {})
    known = {h.name: h for h in chosen.hyperparameters}
    for name in given:
        if name not in known:
            owners = [o.name for o in OPTIMIZERS.values() if any(h.name == name for h in o.hyperparameters)]
            where = f"; it belongs to {', '.join(owners)}" if owners else ""
            raise SweepError(f"{name} is not a hyperparameter of {optimizer} ({optimizer}'s are: {', '.join(known) or 'none'}){where}")
    axes = {}
    for name, rule in known.items():
        axis = np.unique(_axis(given.get(name, rule.default), name, positive=False))
        for value in axis:
            allowed = rule.check(float(value))
            if allowed:
                raise SweepError(f"{name}={float(value)!r} is not allowed: {name} must lie in {allowed}")
        axes[name] = axis
    return axes


def descend_model_runs(
    lr: np.ndarray, w0: np.ndarray, model: Model, max_iter: int, tol: float, div_factor: float, optimizer: str = "gd", hyper: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """``descend_runs`` for a model with a weight vector (see ``sweep.models``).

    Returns:
        dict of 1-D arrays of length n: ``n_iter``, ``loss``, ``grad`` (the gradient's 2-norm),
        ``w_norm`` (the final weights' 2-norm), ``outcome``, ``oscillated`` (some gradient
        component changed sign), and the model's score, ``r2`` or ``accuracy``; plus ``W``,
        the final weights, shape (n, d).
    """
    n, d = lr.size, model.n_weights
    H = 2.0 / model.n_samples * model.X.T @ model.X
    b = 2.0 / model.n_samples * model.X.T @ model.y
    n_iter, W, outcome, crossed = np.empty(n, np.int64), np.empty((n, d)), np.empty(n, np.int8), np.empty(n, np.bool_)
    h0, h1, h2 = hyper_arrays(optimizer, hyper, n)
    args = (model.kind, np.ascontiguousarray(lr, np.float64), np.ascontiguousarray(w0, np.float64), h0, h1, h2, initial_state(optimizer), H, b, model.X, model.y)
    model_kernel_module(optimizer).descend_model(*args, max_iter, tol, div_factor, numba.get_num_threads(), n_iter, W, outcome, crossed)
    loss, grad = np.empty(n), np.empty(n)
    model_kernels.evaluate_model(model.kind, W, H, b, model.X, model.y, loss, grad)
    score = "r2" if model.kind == 0 else "accuracy"
    with np.errstate(all="ignore"):
        w_norm = np.sqrt((W * W).sum(axis=1))
    return {"n_iter": n_iter, "loss": loss, "grad": grad, "w_norm": w_norm, "outcome": outcome, "oscillated": crossed, score: scores(model, W), "W": W}


def runs_of(plan: SweepPlan, start: int, stop: int) -> dict[str, np.ndarray]:
    """The flat per-run values of every axis for runs ``start..stop-1`` of the grid.

    Runs are numbered in C order over ``plan.axes`` (lr slowest, then w0, then the
    hyperparameters): any slice of the grid can be made without making the rest, which is
    what lets a huge sweep go out in chunks.
    """
    index = np.unravel_index(np.arange(start, stop, dtype=np.int64), plan.shape)
    return {name: axis[where] for (name, axis), where in zip(plan.axes.items(), index)}


def compile_kernel(plan: SweepPlan) -> float:
    """Compile the plan's kernel (or load it from the cache) with one run; returns seconds."""
    started = time.perf_counter()
    _descend(plan, runs_of(plan, 0, 1))
    return time.perf_counter() - started


def values_at(plan: SweepPlan, index: np.ndarray) -> dict[str, np.ndarray]:
    """The per-run values of every axis for the runs numbered ``index`` (any int64 array)."""
    where = np.unravel_index(np.asarray(index, dtype=np.int64), plan.shape)
    return {name: axis[at] for (name, axis), at in zip(plan.axes.items(), where)}


def lanes_per_block(plan: SweepPlan) -> int:
    """Runs the plan's kernel advances together: a block runs as long as its slowest run."""
    if isinstance(plan.loss, Model):
        return 1
    return int(kernel_module(plan.loss, plan.optimizer).BLOCK)


#: Margin on a measured time: timings on a shared machine vary by about a fifth.
TIME_MARGIN = 1.5


def worst_case_seconds(plan: SweepPlan, budget: float = 0.05) -> float:
    """An upper bound on the plan's kernel time on this machine, measured, not assumed.

    Runs a sample spread over the grid, growing it until it takes about ``budget`` seconds,
    counts the lane-steps the kernel spent on it (each block runs as long as its slowest
    run), and scales that rate to every block of the grid taking all max_iter steps, with a
    margin (``TIME_MARGIN``). Compile the kernel first (``compile_kernel``): the time to
    compile is not a kernel time.
    """
    block = lanes_per_block(plan)
    n = min(plan.n_runs, block * numba.get_num_threads())
    steps_cap = max(1, min(plan.max_iter, 64))
    while True:
        index = np.unique(np.linspace(0, plan.n_runs - 1, n).round().astype(np.int64))
        probe = replace(plan, max_iter=steps_cap)
        started = time.perf_counter()
        n_iter = _descend(probe, values_at(plan, index))["n_iter"]
        seconds = time.perf_counter() - started
        if seconds >= budget or (n >= plan.n_runs and steps_cap >= plan.max_iter) or n >= 1 << 20:
            break
        grow = 4 if seconds < budget / 4 else 2
        if n < plan.n_runs:
            n = min(plan.n_runs, n * grow)
        else:
            steps_cap = min(max(1, plan.max_iter), steps_cap * grow)
    rate = lane_steps(n_iter, block) / max(seconds, 1e-9)
    blocks = -(-plan.n_runs // block)
    return blocks * block * (plan.max_iter + 1) / rate * TIME_MARGIN


def lane_steps(n_iter: np.ndarray, block: int) -> float:
    """Lane-steps a lockstep kernel spends on runs that took ``n_iter`` updates, dealt in
    consecutive blocks of ``block``: each block iterates as long as its slowest run."""
    padded = np.concatenate([n_iter, np.zeros((-n_iter.size) % block, n_iter.dtype)]).reshape(-1, block)
    return float((padded.max(axis=1) + 1).sum()) * block


def _descend(plan: SweepPlan, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    runner = descend_model_runs if isinstance(plan.loss, Model) else descend_runs
    hyper = {name: values[name] for name in plan.hyper}
    return runner(values["lr"], values["w0"], plan.loss, plan.max_iter, plan.tol, plan.div_factor, plan.optimizer, hyper)


def run_range(plan: SweepPlan, start: int, stop: int) -> pd.DataFrame:
    """Runs ``start..stop-1`` of a planned sweep as a table (the columns of ``run_sweep``).

    The unit of work that chunked, resumed and distributed sweeps repeat: it depends on the
    plan and the range only, so any process anywhere makes the same rows.
    """
    values = runs_of(plan, start, stop)
    columns = _descend(plan, values)
    table = {"lr": values["lr"], "w0": values["w0"]}
    # A swept hyperparameter is a column; a fixed one is recorded in sweep.json only.
    table.update({name: values[name] for name, axis in plan.hyper.items() if axis.size > 1})
    table["n_iter"] = columns.pop("n_iter").astype(np.int32)
    columns.pop("W", None)
    codes = columns.pop("outcome")
    oscillated = columns.pop("oscillated")
    table.update(columns)
    table["outcome"] = to_categorical(codes)
    table["oscillated"] = oscillated
    table["regime"] = regime_of(codes, table["n_iter"], oscillated)
    frame = pd.DataFrame(table)
    if getattr(plan.loss, "minima", ()):
        frame["basin"] = basin_of(plan.loss, frame["w"].to_numpy(), (frame["outcome"] == "converged").to_numpy())
    return frame


#: Bytes per run held at once by a sweep run in one piece (inputs, kernel outputs, table).
MEMORY_BYTES_PER_RUN = 160


def memory_bytes(plan: SweepPlan) -> int:
    """Bytes a sweep run in one piece holds at its peak: per run, its inputs, outputs and
    table row (and a model's weight vector); for a model also the data and the scores'
    block of predictions (``sweep.models.SCORE_BYTES``)."""
    per_run = MEMORY_BYTES_PER_RUN
    fixed = 0
    if isinstance(plan.loss, Model):
        from sweep.models import SCORE_BYTES

        per_run += 16 * plan.loss.n_weights
        fixed = SCORE_BYTES + 3 * plan.loss.X.nbytes
    return plan.n_runs * per_run + fixed


def execute(plan: SweepPlan) -> pd.DataFrame:
    """Run a planned sweep in one piece; see ``run_sweep`` for the table it returns.

    Raises:
        SweepError: if the sweep would not fit in the free memory (stream it instead).
    """
    import psutil

    need = memory_bytes(plan)
    free = psutil.virtual_memory().available
    if need > free:
        raise SweepError(
            f"{plan.n_runs:,} runs need about {need / 1e9:,.1f} GB of memory in one piece, more than the {free / 1e9:,.1f} GB free; "
            "stream them to disk in chunks with 'sweep run --chunk-size N' (or sweep.stream.stream_sweep)"
        )
    with threads(plan.n_threads) as used:
        compile_seconds = compile_kernel(plan)
        started = time.perf_counter()
        frame = run_range(plan, 0, plan.n_runs)
        seconds = time.perf_counter() - started
    config = sweep_config(plan)
    config.update(seconds=seconds, compile_seconds=compile_seconds, n_threads=used, versions=versions())
    frame.attrs["config"] = config
    return frame


def run_sweep(
    lr,
    w0,
    *,
    loss: str | Loss = "quadratic",
    params: dict[str, float] | None = None,
    max_iter: int = 100,
    tol: float = 0.0,
    div_factor: float = DIV_FACTOR,
    n_threads: int | None = None,
    dataset: str | None = None,
    target: str | None = None,
    optimizer: str = "gd",
    hyper: dict | None = None,
    features: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Run gradient descent from every (lr, w0) pair of a grid, each run to its own stop.

    Every run iterates, with k the number of updates applied so far: if ``|grad(w)| <= tol``
    it has converged; else if k == max_iter it stops; else ``w <- w - lr * grad(w)`` (the
    classic teaching example; see ``sweep.outcomes`` for the diverged, stalled, cycling and
    nan tests added to it). Converged and max_iter runs reproduce the plain Python loop bit
    for bit (float64, no fastmath).

    Args:
        lr: learning rates, a 1-D array-like of finite floats > 0 (dimensionless step sizes).
        w0: initial weights, a 1-D array-like of finite floats.
        loss: a built-in name (``"quadratic"``, the teaching loss ``a*(w-c)**2 + b``), a
            formula in ``w`` such as ``"(w-1)**2 + 2"``, or a ``sweep.losses.Loss``.
        params: the loss's parameter values by name (``{"a": 2.0}``).
        max_iter: most updates per run, 0..2**31-1.
        tol: gradient tolerance, finite and >= 0; 0 stops only when the gradient is exactly 0.
        div_factor: a run has diverged once ``|w| > div_factor * max(1, |w0|)``; >= 1.
        n_threads: Numba threads to use (default: Numba's current setting, all cores unless
            changed). Results do not depend on it.
        dataset, target, features: for the models ``"mse-linear"`` and ``"logloss-logistic"``
            (given as ``loss``): ``"diabetes"``, ``"breast-cancer"`` or a CSV path, the CSV's
            target column and its feature columns (default: all others; see ``sweep.models``).
        optimizer: ``"gd"``, ``"momentum"``, ``"nesterov"``, ``"adam"`` or ``"rmsprop"``
            (``sweep.optimizers`` gives each update rule and its source).
        hyper: the optimizer's hyperparameters by name, each a number or a 1-D array-like;
            an array is an axis of the grid, like lr and w0 (``{"momentum": [0, 0.5, 0.9]}``).
            Missing ones take their defaults.

    Returns:
        DataFrame with one row per grid point, lr-major (all w0 for the first lr, then the
        next; hyperparameter axes vary fastest), columns ``lr, w0`` (float64), one column per
        hyperparameter with more than one value, ``n_iter`` (int32), ``w, loss, grad``
        (float64, at the end of the run), ``outcome`` (categorical, ``sweep.outcomes.OUTCOMES``),
        ``oscillated`` (bool: the gradient changed sign at some step) and ``regime``
        (categorical, ``sweep.outcomes.REGIMES``).
        ``attrs["config"]`` holds the settings (JSON-ready, as ``sweep.json`` stores them),
        with ``seconds`` (kernel wall time), ``compile_seconds`` (compiling or loading the
        kernel), ``n_threads`` and package ``versions``. A loss with several minima adds
        ``basin`` (the minimum reached, NaN if none). A model has no ``w`` column; it has
        ``w_norm`` (2-norm of the final weights), ``grad`` as the gradient's 2-norm, and its
        score, ``r2`` (regression) or ``accuracy`` (classification).

    Raises:
        SweepError: for a bad lr, w0 or setting (one-line message naming it).
        sweep.formula.FormulaError: for a formula that is not allowed.
    """
    plan = plan_sweep(
        lr, w0, loss=loss, params=params, max_iter=max_iter, tol=tol, div_factor=div_factor, n_threads=n_threads, dataset=dataset, target=target, optimizer=optimizer, hyper=hyper, features=features
    )
    return execute(plan)


def versions() -> dict[str, str]:
    """Versions of Python and the packages that decide a sweep's numbers and files."""
    found = {"python": platform.python_version()}
    for package in ("sweep", "numpy", "numba", "llvmlite", "pandas", "pyarrow", "sympy", "matplotlib", "seaborn"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


def sweep_config(plan: SweepPlan) -> dict:
    """The JSON-ready description of a sweep: everything needed to run it again."""
    loss = plan.loss
    if isinstance(loss, Model):
        described = {**loss.describe(), "formula": _MODEL_TEXT[loss.name], "expression": f"{_MODEL_TEXT[loss.name]} on {loss.dataset}", "theory": loss.theory(plan.w0)}
    else:
        described = {
            "name": loss.name,
            "formula": loss.text(),
            "expression": loss.expression(),
            "gradient": loss.text(loss.grad_expr),
            "gradient_expression": loss.expression(loss.grad_expr),
            "params": dict(loss.params),
            "source": loss.source,
            "theory": loss.theory(),
            "minima": list(loss.minima),
        }
    described["theory"] = _optimizer_theory(plan, described["theory"])
    from sweep.schema import FORMAT

    return {
        "format": FORMAT,
        "optimizer": plan.optimizer,
        "loss": described,
        "axes": {name: axis.tolist() for name, axis in plan.axes.items()},
        "max_iter": plan.max_iter,
        "tol": plan.tol,
        "div_factor": plan.div_factor,
        "n_runs": int(plan.n_runs),
    }


def _optimizer_theory(plan: SweepPlan, theory: dict) -> dict:
    """Theory for the plan's optimizer: gd's lines as the loss gives them; for momentum and
    nesterov on a loss of constant curvature L, the stability edge per momentum value."""
    if plan.optimizer == "gd":
        return theory
    # Only a constant curvature (a quadratic loss, the MSE model) gives an exact edge.
    curvature = plan.loss.curvature() if not isinstance(plan.loss, Model) or plan.loss.kind == 0 else None
    if plan.optimizer not in ("momentum", "nesterov") or not curvature:
        return {}
    edge = heavy_ball_edge if plan.optimizer == "momentum" else nesterov_edge
    values = {float(beta): edge(curvature, float(beta)) for beta in plan.hyper["momentum"]}
    if len(values) == 1:
        return {"stability_lr": next(iter(values.values()))}
    return {"stability_lr_by": {"axis": "momentum", "values": values}}


_MODEL_TEXT = {"mse-linear": "mean squared error of a linear model", "logloss-logistic": "log loss of a logistic model"}

