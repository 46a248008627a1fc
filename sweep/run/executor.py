"""One executor: a plan's runs through the generated kernel into a table.

``run_range(plan, start, stop)`` is the unit of work: it depends on the plan and the range
only, so a chunk made here, in a resumed process or on a Dask worker is the same, row for
row. A sweep in one piece (``execute``) is that unit over the whole grid, in memory; a
streamed sweep (``sweep.run.stream``) repeats it chunk by chunk into part files.
"""

from __future__ import annotations

import functools
import os
import platform
import threading
import time
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd

from sweep.errors import SweepError
from sweep.kernels.generator import FLOAT_OUTPUTS, INT_OUTPUTS, STOCHASTIC_OUTPUTS, KernelSpec
from sweep.kernels.target import has_avx512
from sweep.outcomes import OUTCOMES, regime_of, to_categorical
from sweep.run.plan import RUN_NUMBER, TRACE_BYTES, Plan, trace_bytes

#: Runs per kernel call: enough blocks to balance the threads between the calls' joins,
#: few enough to return to Python often (Ctrl-C is seen only between calls).
PIECE = 1 << 18
#: Runs a thread keeps in flight (measured on case (a) of the benchmark: see
#: benchmarks/README.md).
LANES = 128
#: The most steps per vector pass that ``SWEEP_SUBSTEPS`` may ask for.
MAX_SUBSTEPS = 16


def default_substeps() -> int:
    """Steps per vector pass by default, by the host's instruction set (an optimizer with a
    longer update takes fewer, ``Optimizer.substeps``, so that its pass still vectorizes).

    Measured on case (a) of the benchmark (benchmarks/README.md): with AVX2, 16 steps were
    the fastest; with AVX-512 (AMD Zen 5), 4 steps ran gd 9% faster than 16, momentum 11% and
    Nesterov 22% (more steps per pass make a longer chain of dependent operations per vector
    of lanes than the core overlaps). The results are the same bits either way.
    """
    return 4 if has_avx512() else MAX_SUBSTEPS


def _substeps_setting() -> int:
    """``default_substeps()``, or another count from the environment (``SWEEP_SUBSTEPS``,
    1..16): fewer steps per pass compile in less time; the results are the same bits (a pass
    that meets a stop is replayed step by step). The test suite uses 2.

    Raises:
        SweepError: ``SWEEP_SUBSTEPS`` is not a whole number in 1..16.
    """
    text = os.environ.get("SWEEP_SUBSTEPS", "")
    if not text:
        return default_substeps()
    if not text.isdigit() or not 1 <= int(text) <= MAX_SUBSTEPS:
        raise SweepError(f"SWEEP_SUBSTEPS={text[:20]!r} is not allowed: it must be a whole number in 1..{MAX_SUBSTEPS} (steps per vector pass)")
    return int(text)


@contextmanager
def threads(n_threads: int | None):
    """Run the body with Numba limited to ``n_threads`` threads (None: leave it as is)."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads or previous)
    try:
        yield numba.get_num_threads()
    finally:
        numba.set_num_threads(previous)


def run_workers(worker, n: int, lanes: int, *args) -> None:
    """Run a generated worker over n runs in blocks of ``lanes``: ``worker(blocks, *args)`` on
    n_threads Python threads at once (the workers release the GIL), each taking the next block
    from the shared counter ``blocks`` as its lanes free up, and wait. Each run's end is the
    same whichever thread runs it, with whichever others.

    Threads from Python rather than Numba's ``prange``: compiling a parallel region costs
    seconds for every kernel, and the workers need none of it (each writes only its own runs).
    The thread count is Numba's setting (``threads``), never more than there are blocks.

    The threads are new at every call: on 2 cores (Intel Rocket Lake) gd's kernel ran case (a)
    10 to 12% faster on new threads than on the same number of threads kept in a pool
    (benchmarks/README.md); starting two threads costs about 0.1 ms a call. One counter for
    all, rather than fixed shares of the blocks, leaves no thread idle while another finishes
    its share (case (a) ran as fast as with sixteen shares a thread, 6% faster than with four).

    Raises:
        whatever a worker raised, in the calling thread, once every thread has stopped.
    """
    import numba

    blocks = -(-n // lanes)
    n_threads = max(1, min(numba.get_num_threads(), blocks))
    counter = np.zeros(1, np.int64)
    if n_threads == 1:
        worker(counter, *args)
        return
    errors = []

    def work():
        try:
            worker(counter, *args)
        except BaseException as error:  # raised again in the calling thread
            errors.append(error)

    helpers = [threading.Thread(target=work, name=f"sweep-worker-{i}") for i in range(n_threads)]
    for helper in helpers:
        helper.start()
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]


def is_model(plan: Plan) -> bool:
    from sweep.problems.models import Model

    return isinstance(plan.problem, Model)


#: Lanes of a model's block: its gradient is matrix-shaped over them.
MODEL_SCRATCH_ARRAYS = 2


def model_lanes(model) -> int:
    """Runs a worker of the block kernel keeps in flight for a model (measured on the
    benchmark's models, see benchmarks/README.md): more lanes amortize each pass's loop
    overhead, but each worker holds ``MODEL_SCRATCH_ARRAYS`` arrays of (n_samples, lanes)
    floats, so large datasets get fewer."""
    if model.kind == 0:
        return 128
    return 64 if model.n_samples <= 4096 else 32


def model_tracks_loss(plan: Plan) -> bool:
    """Whether a model's kernel computes the loss at every step: only the dynamics and the
    noisy outcomes need it (each run's final loss is computed from its final weights), and
    skipping it saves a pass over the data (log loss) or over the weights (MSE)."""
    return plan.dynamics or plan.stochastic


def kernel_spec(plan: Plan) -> KernelSpec:
    """The generator's parts for a plan: a loss's printed code, or a model's block code."""
    from sweep.problems.code import model_problem, problem_code

    if is_model(plan):
        problem = model_problem(plan.problem, with_loss=model_tracks_loss(plan), with_curvature=plan.dynamics, batched=plan.batched)
        return KernelSpec(problem, plan.optimizer, plan.schedule, noisy=plan.noisy, dynamics=plan.dynamics, lanes=model_lanes(plan.problem), substeps=1, batched=plan.batched)
    return KernelSpec(problem_code(plan.problem), plan.optimizer, plan.schedule, noisy=plan.noisy, dynamics=plan.dynamics, lanes=LANES, substeps=min(_substeps_setting(), plan.optimizer.substeps), masked_adds=has_avx512())


@functools.lru_cache(maxsize=64)
def _kernel(spec: KernelSpec, functions):
    from sweep.kernels.cache import load_source
    from sweep.kernels.generator import kernel_source

    return load_source(kernel_source(spec), dict(spec.problem.user_functions) or None)


def kernel_of(plan: Plan):
    """The compiled kernel module of a plan (generated, cached, imported as needed)."""
    spec = kernel_spec(plan)
    return _kernel(spec, tuple(value for _, value in spec.problem.user_functions))


def inputs(plan: Plan, spec: KernelSpec, values: dict[str, np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """The kernel's per-run input array X (rows of ``spec.rows()``) for the runs ``values``,
    written into ``out`` (a float64 array of that shape) when it is given."""
    n = next(iter(values.values())).size
    X = np.empty((len(spec.rows()), n)) if out is None else out
    by_role = {axis.role: axis.name for axis in plan.axes}
    for i, row in enumerate(spec.rows()):
        if row == "noise:run":
            # the runs' numbers in the grid (exact in float64 below 2**53); runs given
            # without theirs are numbered 0..n-1
            X[i] = values[RUN_NUMBER] if RUN_NUMBER in values else np.arange(n)
            continue
        source = by_role.get(row) or (by_role.get("w0") if row.startswith("w0:") else None)
        if source is None and plan.points is not None and row.startswith("w0:"):
            source = plan.starts[plan.weights.index(row[3:])]  # a cloud's point, by its start column
        X[i] = values[source]
    return X


def descend(plan: Plan, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the runs ``values`` (per-run axis values, each of length n) to their stops.

    Returns:
        dict of 1-D arrays of length n: ``n_iter`` (int32), the final weight (``w``, or one
        array per weight), ``loss`` and ``grad`` at it, ``outcome`` (int8 codes of
        ``sweep.outcomes``), ``oscillated`` (bool), the dynamics ``loss_max``,
        ``n_increase``, ``first_increase``, ``eos_step`` (int32; -1: never) and
        ``sharpness_max`` (a model without dynamics or noise has no ``loss_max``,
        ``n_increase`` or ``first_increase``); for stochastic runs also ``loss_tail`` and
        ``reached`` (int32).
    """
    if is_model(plan):
        return _descend_model(plan, values)

    spec = kernel_spec(plan)
    kernel = kernel_of(plan)
    n = next(iter(values.values())).size
    # Noise is keyed by run number: runs given without theirs are numbered 0..n-1 here, once.
    if spec.stochastic and RUN_NUMBER not in values:
        values = {**values, RUN_NUMBER: np.arange(n)}
    D = spec.problem.d
    # Every output row is a stream of fresh memory that a short run's end writes into (faulted
    # in, then filled): counts as int32 and no rows for the stochastic outputs unless the
    # kernel writes them made case (b) of the benchmark about 15% faster than int64 and all rows.
    floats = np.empty((D + len(FLOAT_OUTPUTS), n))
    ints = np.empty((len(INT_OUTPUTS), n), np.int32)
    tail_from = plan.max_iter - -(-plan.max_iter // 10)
    # One buffer for every piece's inputs, rather than an allocation per piece.
    rows = len(spec.rows())
    buffer = np.empty(rows * min(n, PIECE))
    for start in range(0, n, PIECE):
        # Python gets control back between pieces, so Ctrl-C stops a long sweep promptly.
        part = slice(start, min(n, start + PIECE))
        # Each piece's inputs are built as they are needed, and the kernel writes its runs'
        # ends straight into the outputs (columns start.., the last argument): no copies.
        X = inputs(plan, spec, {name: column[part] for name, column in values.items()}, buffer[: rows * (part.stop - start)].reshape(rows, -1))
        run_workers(kernel._worker, part.stop - start, spec.lanes, X, plan.max_iter, plan.tol, plan.div_factor, plan.seed, tail_from, plan.target, floats, ints, start)
    return _outputs(plan, spec, floats, ints)


def model_data(model) -> tuple[np.ndarray, ...]:
    """A model's data for its kernel: X (n, d), y (n,), H = (2/n) X^T X, b = (2/n) X^T y, and
    (lambda_max(H), mean(y**2))."""
    H = 2.0 / model.n_samples * model.X.T @ model.X
    b = 2.0 / model.n_samples * model.X.T @ model.y
    top = float(np.linalg.eigvalsh(H)[-1]) if model.kind == 0 else 0.0
    return model.X, model.y, H, b, np.array([top, float(np.mean(model.y * model.y))])


def _descend_model(plan: Plan, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A model's runs through its block kernel; the final loss, gradient norm and score are
    computed from the final weights (``sweep.kernels.models``, ``sweep.problems.models.scores``)."""
    from sweep.kernels import models as model_kernels
    from sweep.problems.models import scores

    spec = kernel_spec(plan)
    kernel = kernel_of(plan)
    X = inputs(plan, spec, values)
    n, d = X.shape[1], plan.problem.n_weights
    data = model_data(plan.problem)
    floats = np.empty((d + len(FLOAT_OUTPUTS), n))
    ints = np.empty((len(INT_OUTPUTS), n), np.int32)
    tail_from = plan.max_iter - -(-plan.max_iter // 10)
    from threadpoolctl import threadpool_limits

    # One BLAS thread per worker: the workers already use every core, and small products
    # that wait on each other's threads run many times slower.
    with threadpool_limits(1, user_api="blas"):
        for start in range(0, n, PIECE):
            part = slice(start, min(n, start + PIECE))
            run_workers(kernel._worker, part.stop - start, spec.lanes, np.ascontiguousarray(X[:, part]), *data, plan.max_iter, plan.tol, plan.div_factor, plan.seed, tail_from, plan.target, floats, ints, start)
    W = np.ascontiguousarray(floats[:d].T)
    loss, grad = np.empty(n), np.empty(n)
    model_kernels.evaluate_model(plan.problem.kind, W, data[2], data[3], data[0], data[1], loss, grad)
    with np.errstate(all="ignore"):
        w_norm = np.sqrt((W * W).sum(axis=1))
        # Weights past about 1e154 overflow the squares; those norms, and only those, are
        # taken again scaled by the largest weight (finite weights, a finite norm).
        over = np.isinf(w_norm) & np.isfinite(W).all(axis=1)
        if over.any():
            top = np.abs(W[over]).max(axis=1)
            w_norm[over] = top * np.sqrt(((W[over] / top[:, None]) ** 2).sum(axis=1))
    out = {"n_iter": ints[0], "outcome": ints[1].astype(np.int8), "oscillated": ints[5].astype(bool), "loss": loss, "grad": grad, "w_norm": w_norm}
    out.update({name: floats[d + i] for i, name in enumerate(FLOAT_OUTPUTS) if name not in ("loss", "grad")})
    out.update({"n_increase": ints[2], "first_increase": ints[3], "eos_step": ints[4], "reached": ints[6]})
    _drop_unwritten(plan, spec, out)
    out["r2" if plan.problem.kind == 0 else "accuracy"] = scores(plan.problem, W, loss)
    out["W"] = W
    return out


def descend_runs(
    lr, w0, loss, max_iter: int, tol: float, div_factor: float, optimizer: str = "gd", hyper: dict | None = None, param_values: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Flat per-run arrays (lr, w0 and the hyperparameters, each of length n, for one loss)
    through the generated kernel; see ``sweep.run.executor.descend``.

    The loss's parameters take the loss's own values in every run, except those named in
    ``param_values``: a dict of parameter name -> 1-D array of n values (converted to float64),
    run i using element i. The kernel reads every parameter per run, so runs given a value
    here end with the same bits as runs of a loss built with that value.

    Raises:
        ValueError: when ``param_values`` names a parameter the loss does not have, or holds
            an array that is not 1-D of length n.
    """
    from sweep.optim.optimizers import OPTIMIZERS
    from sweep.optim.schedules import SCHEDULES
    from sweep.run.plan import Axis

    lr = np.ascontiguousarray(lr, np.float64)
    chosen = OPTIMIZERS[optimizer]
    n = lr.size
    values = {"lr": lr, "w0": np.ascontiguousarray(w0, np.float64)}
    axes = [Axis("lr", lr[:1], "lr"), Axis("w0", values["w0"][:1], "w0")]
    for h in chosen.hyperparameters:
        values[h.name] = np.broadcast_to(np.asarray((hyper or {}).get(h.name, h.default), np.float64), n)
        axes.append(Axis(h.name, values[h.name][:1], f"hyper:{h.name}"))
    params = tuple(getattr(loss, "params", ()))
    given = dict(param_values or {})
    unknown = sorted(set(given) - {name for name, _ in params})
    if unknown:
        raise ValueError(f"param_values names {unknown[0]!r}, which is not a parameter of the loss (its parameters: {', '.join(name for name, _ in params) or 'none'})")
    for name, value in params:
        if name in given:
            values[name] = np.ascontiguousarray(given[name], np.float64)
            if values[name].shape != (n,):
                raise ValueError(f"param_values[{name!r}] has shape {values[name].shape}, not ({n},): give one value per run")
        else:
            values[name] = np.broadcast_to(np.float64(value), n)
        axes.append(Axis(name, values[name][:1], f"param:{name}"))
    plan = Plan(loss, tuple(axes), chosen, SCHEDULES["constant"], max_iter, tol, div_factor)
    return descend(plan, values)


def _outputs(plan: Plan, spec: KernelSpec, floats: np.ndarray, ints: np.ndarray) -> dict[str, np.ndarray]:
    D = spec.problem.d
    names = ["w"] if D == 1 else list(spec.problem.weights)
    out = {"n_iter": ints[0], "outcome": ints[1].astype(np.int8), "oscillated": ints[5].astype(bool)}
    out.update({name: floats[j] for j, name in enumerate(names)})
    out.update({name: floats[D + i] for i, name in enumerate(FLOAT_OUTPUTS)})
    out.update({"n_increase": ints[2], "first_increase": ints[3], "eos_step": ints[4], "reached": ints[6]})
    _drop_unwritten(plan, spec, out)
    return out


def _drop_unwritten(plan: Plan, spec: KernelSpec, out: dict) -> None:
    """Only a stochastic kernel writes ``STOCHASTIC_OUTPUTS``: elsewhere their rows were never
    written (nor their memory touched), so they are left out rather than read. A model's
    kernel that skips the loss along the run (``model_tracks_loss``) never saw what
    ``LOSS_DYNAMICS`` are read from: they are unknown, not zero, and left out too."""
    if not spec.stochastic:
        for name in STOCHASTIC_OUTPUTS:
            del out[name]
    if is_model(plan) and not model_tracks_loss(plan):
        for name in LOSS_DYNAMICS:
            del out[name]


#: Seconds this process took to compile (or load from the cache) each kernel it has used.
_COMPILE_SECONDS: dict = {}


def compile_kernel(plan: Plan) -> float:
    """Compile the plan's kernel (or load it from the cache) with one run, once per process.

    Returns:
        The seconds that first compile or load took in this process: every later call for the
        same kernel returns the same figure, so whoever records a sweep's cost records it,
        whichever step happened to pay it.
    """
    spec = kernel_spec(plan)
    key = (spec, tuple(value for _, value in spec.problem.user_functions))
    if key not in _COMPILE_SECONDS:
        started = time.perf_counter()
        descend(plan, plan.values_of(0, 1))
        _COMPILE_SECONDS[key] = time.perf_counter() - started
    return _COMPILE_SECONDS[key]


#: Columns of a run's end, after the axes: in this order, with these dtypes.
#: The dynamics read from the loss along the run (a model without dynamics has none of them).
LOSS_DYNAMICS = ("loss_max", "n_increase", "first_increase")
DYNAMICS = (*LOSS_DYNAMICS, "sharpness_max", "eos_step")


def table(plan: Plan, values: dict[str, np.ndarray], result: dict[str, np.ndarray]) -> pd.DataFrame:
    """The runs table: the axes first (lr, w0 and every swept one), then the end state
    (``n_iter``, the final weight(s), ``loss``, ``grad``), ``outcome``, ``oscillated``,
    ``regime``, the dynamics, and ``basin`` where the loss lists its minima; a model has
    ``w_norm`` and its score instead of the weights."""
    columns = {name: values[name] for name in ("lr", *plan.starts)}
    # A swept setting is a column; a fixed one is recorded in sweep.json only.
    columns.update({axis.name: values[axis.name] for axis in plan.axes if axis.swept and axis.name not in columns})
    columns["n_iter"] = result["n_iter"].astype(np.int32, copy=False)
    for name in ("w",) if len(plan.weights) == 1 else plan.weights:
        if name in result:
            columns[name] = result[name]
    for name in ("w_norm", "loss", "grad", "r2", "accuracy"):
        if name in result:
            columns[name] = result[name]
    codes = result["outcome"]
    columns["outcome"] = to_categorical(codes)
    columns["oscillated"] = result["oscillated"]
    columns["regime"] = regime_of(codes, columns["n_iter"], result["oscillated"])
    names = DYNAMICS + (STOCHASTIC_OUTPUTS if plan.stochastic else ())
    for name in names:
        if name in result:
            columns[name] = result[name].astype(np.int32, copy=False) if name in ("n_increase", "first_increase", "eos_step", "reached") else result[name]
    frame = pd.DataFrame(columns)
    # A basin tells minima apart: a loss with one listed minimum has none to tell.
    if len(getattr(plan.problem, "minima", ())) > 1:
        from sweep.problems.losses import basin_of

        ends = frame[list(plan.weights)].to_numpy()
        frame["basin"] = basin_of(plan.problem, ends[:, 0] if ends.shape[1] == 1 else ends, (frame["outcome"] == "converged").to_numpy())
    return frame


def run_range(plan: Plan, start: int, stop: int) -> pd.DataFrame:
    """Runs ``start..stop-1`` of a planned sweep as a table (see ``table``)."""
    values = plan.values_of(start, stop)
    return table(plan, values, descend(plan, values))


#: Bytes per run held at once by a sweep run in one piece (inputs, kernel outputs, table).
MEMORY_BYTES_PER_RUN = 256


def memory_bytes(plan: Plan) -> int:
    """Bytes a sweep run in one piece holds at its peak: per run its inputs, outputs and
    table row (and a model's weight vector); for a model also the data and the scores'
    block of predictions (``sweep.problems.models.SCORE_BYTES``)."""
    per_run = MEMORY_BYTES_PER_RUN + 8 * len(plan.axes)
    fixed = 0
    if is_model(plan):
        from sweep.problems.models import SCORE_BYTES

        per_run += 16 * plan.problem.n_weights
        fixed = SCORE_BYTES + 3 * plan.problem.X.nbytes
        # Every worker of the log-loss block kernel holds its own (n_samples, lanes) arrays.
        import numba

        workers = plan.n_threads or numba.get_num_threads()
        # Mini-batches add the batch weights and each sample's rank in its epoch's order.
        arrays = MODEL_SCRATCH_ARRAYS + 2 if plan.batched else plan.problem.kind * MODEL_SCRATCH_ARRAYS
        fixed += workers * arrays * plan.problem.n_samples * model_lanes(plan.problem) * 8
    return plan.n_runs * per_run + fixed


def execute(plan: Plan) -> pd.DataFrame:
    """Run a planned sweep in one piece; see ``sweep.run_sweep`` for the table it returns.

    Raises:
        SweepError: if the sweep would not fit in the free memory (stream it instead).
    """
    import psutil

    need = memory_bytes(plan)
    free = psutil.virtual_memory().available
    if need > free:
        raise SweepError(
            f"{plan.n_runs:,} runs need about {need / 1e9:,.1f} GB of memory in one piece, more than the {free / 1e9:,.1f} GB free; "
            "stream them to disk in chunks with 'sweep run --chunk-size N' (or sweep.run.stream.stream_sweep)"
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


def versions() -> dict[str, str]:
    """Versions of Python and the packages that decide a sweep's numbers and files."""
    found = {"python": platform.python_version()}
    for package in ("sweep", "numpy", "numba", "llvmlite", "pandas", "pyarrow", "sympy", "matplotlib", "seaborn"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "not installed"
    return found


_MODEL_TEXT = {"mse-linear": "mean squared error of a linear model", "logloss-logistic": "log loss of a logistic model"}


def sweep_config(plan: Plan) -> dict:
    """The JSON-ready description of a sweep: everything needed to run it again."""
    from sweep.store.schema import FORMAT

    problem = plan.problem
    if is_model(plan):
        described = {**problem.describe(), "formula": _MODEL_TEXT[problem.name], "expression": f"{_MODEL_TEXT[problem.name]} on {problem.dataset}", "theory": problem.theory(plan.axis["w0"].values)}
    else:
        import sympy as sp

        swept_params = tuple(axis.name for axis in plan.axes if axis.role.startswith("param:") and axis.swept)
        gradient = problem.grad_expr if problem.d == 1 else sp.Matrix([sp.diff(problem.expr, w) for w in problem.weights])
        described = {
            "name": problem.name,
            "formula": problem.text(),
            "expression": problem.expression(keep=swept_params),
            "gradient": problem.text(gradient) if problem.d == 1 else [problem.text(g) for g in gradient],
            "gradient_expression": problem.expression(gradient, keep=swept_params) if problem.d == 1 else [problem.expression(g, keep=swept_params) for g in gradient],
            "params": problem.settings,
            "source": problem.source,
            "theory": problem.theory(),
            "minima": [list(m) if isinstance(m, tuple) else m for m in problem.minima],
        }
        if problem.d > 1:
            described["weights"] = list(problem.weight_names)
    described["theory"] = _optimizer_theory(plan, described["theory"])
    return {
        "format": FORMAT,
        "optimizer": plan.optimizer.name,
        "schedule": plan.schedule.name,
        "dynamics": plan.dynamics,
        "loss": described,
        "axes": {axis.name: axis.values.tolist() for axis in plan.axes},
        "starts": list(plan.starts),
        **({"points": plan.points.tolist()} if plan.points is not None else {}),
        "max_iter": plan.max_iter,
        "tol": plan.tol,
        "div_factor": plan.div_factor,
        "n_runs": int(plan.n_runs),
        **({"seed": plan.seed} if plan.stochastic else {}),
        **({"target_loss": plan.target_loss, "target": plan.target} if plan.target_loss is not None else {}),
        **({"trace": list(plan.trace_request), "n_traced": int(plan.traced.size)} if plan.traced is not None else {}),
    }


def _optimizer_theory(plan: Plan, theory: dict) -> dict:
    """Theory for the plan's optimizer: gd's lines as the loss gives them; for momentum and
    nesterov on a loss of constant curvature L, the stability edge per momentum value; and
    for a swept parameter of a quadratic loss (ill-quadratic's kappa), the edge per value."""
    from sweep.optim.optimizers import heavy_ball_edge, nesterov_edge

    name = plan.optimizer.name
    if name not in ("gd", "momentum", "nesterov"):
        return {}
    edge = {"gd": lambda L, beta: 2.0 / L, "momentum": heavy_ball_edge, "nesterov": nesterov_edge}[name]
    beta = plan.axis["momentum"].values if name != "gd" else np.array([0.0])
    swept = [axis for axis in plan.axes if axis.role.startswith("param:") and axis.swept]
    if not is_model(plan) and len(swept) == 1 and beta.size == 1:
        edges = _edges_by_param(plan.problem, swept[0], lambda L: edge(L, float(beta[0])))
        if edges:
            return {"stability_lr_by": {"axis": swept[0].name, "values": edges}}
    if name == "gd":
        return theory
    # Only a constant curvature (a quadratic loss, the MSE model) gives an exact edge.
    curvature = plan.problem.curvature() if not is_model(plan) or plan.problem.kind == 0 else None
    if not curvature:
        return {}
    values = {float(b): edge(curvature, float(b)) for b in beta}
    if len(values) == 1:
        return {"stability_lr": next(iter(values.values()))}
    found = {"stability_lr_by": {"axis": "momentum", "values": values}}
    eigenvalues = plan.problem.hessian_eigenvalues() if name == "momentum" and not is_model(plan) else None
    if eigenvalues and eigenvalues[0] > 0:
        from sweep.optim.optimizers import heavy_ball_optimum

        lr_best, momentum_best = heavy_ball_optimum(eigenvalues[0], eigenvalues[-1])
        found["best_pair"] = {"axis": "momentum", "lr": lr_best, "value": momentum_best}
    return found


def _edges_by_param(loss, axis, edge) -> dict[float, float] | None:
    """The stability edge for each value of a swept loss parameter, where the loss is a
    quadratic at every value (its curvature constant); None elsewhere."""
    from sweep.problems.losses import rebuilt

    edges = {}
    for value in axis.values:
        curvature = rebuilt(loss, {axis.name: float(value)}).curvature()
        if not curvature:
            return None
        edges[float(value)] = edge(curvature)
    return edges


def trace_runs(plan: Plan, index: np.ndarray) -> pd.DataFrame:
    """Every iterate of the runs numbered ``index``, in long form: ``run`` (the run's number
    in the grid), ``step`` (0 .. n_iter), the weight(s), ``loss``, ``grad``, ``lr`` (lr_k),
    ``sharpness``, and the optimizer's state. The runs stop by the same rules as in the
    table, and each run's last row is its final state there; ``attrs["outcomes"]`` maps each
    run's number to its outcome.

    Raises:
        SweepError: for a model (traces are for losses), or traces larger than
            ``TRACE_BYTES`` (the message gives the estimate).
    """

    from sweep.kernels.generator import trace_fields

    if is_model(plan):
        raise SweepError("traces are for losses of one or several weights; a model on data has no per-step trace")
    index = np.asarray(index, dtype=np.int64)
    need = trace_bytes(plan, index.size)
    if need > TRACE_BYTES:
        raise SweepError(f"tracing {index.size:,} runs of up to {plan.max_iter + 1:,} iterates needs about {need / 1e9:,.1f} GB, more than {TRACE_BYTES / 1e9:.1f} GB: trace fewer runs or lower max_iter")
    spec = kernel_spec(plan)
    kernel = kernel_of(plan)
    values = plan.values_at(index)
    X = inputs(plan, spec, values)
    n = X.shape[1]
    fields = trace_fields(spec)
    floats = np.empty((spec.problem.d + len(FLOAT_OUTPUTS), n))
    ints = np.empty((len(INT_OUTPUTS), n), np.int32)
    T = np.full((n, plan.max_iter + 2, len(fields)), np.nan)
    T_len = np.zeros(n, np.int64)
    tail_from = plan.max_iter - -(-plan.max_iter // 10)
    run_workers(kernel._worker_traced, n, spec.lanes, X, plan.max_iter, plan.tol, plan.div_factor, plan.seed, tail_from, plan.target, floats, ints, 0, T, T_len)
    rows = np.concatenate([T[i, : T_len[i]] for i in range(n)]) if n else np.empty((0, len(fields)))
    frame = pd.DataFrame(rows, columns=fields)
    frame.insert(0, "run", np.repeat(index, T_len))
    frame["step"] = frame["step"].astype(np.int64)
    # How each traced run ended, as the table records it (the rows hold only its iterates).
    frame.attrs["outcomes"] = {int(run): OUTCOMES[code] for run, code in zip(index, ints[1])}
    return frame
