"""The Python entry points: ``run_sweep`` runs every point of a grid and tabulates it,
``trace`` follows one run iterate by iterate."""

from __future__ import annotations

import pandas as pd

from sweep.run.executor import execute, trace_runs
from sweep.run.plan import DIV_FACTOR, plan_sweep


def run_sweep(
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
    target_loss: float | None = None,
    batch_size=None,
) -> pd.DataFrame:
    """Run gradient descent from every point of a grid, each run to its own stop.

    Every run iterates, with k the number of updates applied so far: if ``|grad(w)| <= tol``
    it has converged; else if k == max_iter it stops; else ``w <- w - lr * grad(w)`` (the
    classic teaching example; see ``sweep.outcomes`` for the diverged, stalled, cycling and
    nan tests added to it). Converged and max_iter runs reproduce the plain Python loop bit
    for bit (float64, no fastmath).

    Args:
        lr: learning rates, a 1-D array-like of distinct finite floats > 0.
        w0: initial weights, a 1-D array-like of distinct finite floats (for a model, the
            value every weight starts at). For a loss of several weights, a dict of weight
            name to its axis of starts (``{"x": [...], "y": [...]}``), each an axis of the
            grid; a weight left out starts at the built-in's customary point (None: all do).
        loss: a built-in name (``"quadratic"``, the teaching loss ``a*(w-c)**2 + b``; of
            several weights ``"rosenbrock"``, ``"beale"``, ``"himmelblau"``, ``"booth"``,
            ``"rastrigin"``, ``"ill-quadratic"``), a formula (in ``w``, such as
            ``"(w-1)**2 + 2"``; or in several weights, every name without a value in
            ``params``, in ``sweep.problems.losses.weight_order``), a model
            (``"mse-linear"``, ``"logloss-logistic"``), or a ``sweep.problems.losses.Loss``.
        params: the loss's parameters by name, each a number or a 1-D array-like (an axis of
            the grid, like lr: ``{"delta": [0.1, 0.2]}``).
        max_iter: most updates per run, 0..2**31-1.
        tol: gradient tolerance, finite and >= 0; 0 stops only when the gradient is exactly 0.
        div_factor: a run has diverged once ``|w| > div_factor * max(1, |w0|)`` (several
            weights: the largest coordinate against the largest starting one); >= 1.
        n_threads: Numba threads to use (default: all). Results do not depend on it.
        dataset, target, features: for the models: ``"diabetes"``, ``"breast-cancer"`` or a
            CSV path, the CSV's target column and its feature columns (``sweep.problems.models``).
        optimizer: ``"gd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"rmsprop"``,
            ``"adamw"`` or ``"lion"`` (``sweep.optim.optimizers`` gives each update rule
            and its source).
        hyper: the optimizer's hyperparameters by name, each a number or a 1-D array-like
            (an axis: ``{"momentum": [0, 0.5, 0.9]}``); missing ones take their defaults.
        schedule, schedule_params: the learning-rate schedule and its parameters, each a
            number or an axis (``sweep.optim.schedules``).
        grad_noise: the scale of Gaussian noise added to every gradient component, a number
            or an axis (>= 0); None for exact gradients. With noise a run stops only by
            divergence, NaN or max_iter, and the table adds ``loss_tail`` (mean loss over the
            last 10% of the steps) and ``reached`` (``sweep.optim.noise``).
        seed: the noise's seed; the noise of a run is a function of (seed, run, step), and
            its mini-batches of (seed, run, epoch).
        batch_size: for a model, samples per mini-batch (a whole number in 1..n_samples, or
            an axis of them); None for full-batch gradients. Each epoch visits every sample
            once in an order drawn afresh (``sweep.optim.batches``); the runs then stop as
            under noise, and the recorded loss is always the full one.
        target_loss: for noisy runs, a gap >= 0 above the loss's best known value:
            ``reached`` is the first step whose loss came within it (-1 if none, and -1
            everywhere when None).
        dynamics: compute the sharpness at every step (the other dynamics are always on).

    Returns:
        DataFrame with one row per grid point, lr-major (the last axis varies fastest):
        ``lr, w0`` (float64), one column per other axis with more than one value, ``n_iter``
        (int32, updates applied), ``w, loss, grad`` (float64, at the end of the run),
        ``outcome`` (categorical, ``sweep.outcomes.OUTCOMES``), ``oscillated`` (bool: the
        gradient changed sign), ``regime`` (categorical, ``sweep.outcomes.REGIMES``), and
        the run's dynamics: ``loss_max`` (largest loss along the run, the start included),
        ``n_increase`` (updates that raised the loss, int32), ``first_increase`` (the first
        such update, 0-based, -1 if none), ``sharpness_max`` (largest lr_k times the top
        eigenvalue of the Hessian, preconditioned for Adam and RMSprop, at an iterate where
        an update was computed) and ``eos_step`` (the first iterate at which it passed the
        optimizer's stability threshold, 2 for gd; -1 if never). A loss with several minima
        adds ``basin``. Several weights: the starts (``x0, y0`` or ``w1_0, ...``,
        ``sweep.run.plan.start_name``) instead of ``w0``, the end point (``x, y`` or
        ``w1, ...``) instead of ``w``, ``grad`` as the gradient's 2-norm, and ``basin`` as
        the index of the minimum reached in the loss's ``minima``. A model has ``w_norm`` instead of ``w``, ``grad`` as the gradient's
        2-norm, and ``r2`` or ``accuracy``; with ``dynamics=False`` (and no noise or
        mini-batches) its kernel skips the loss along the run, so it has no ``loss_max``,
        ``n_increase`` or ``first_increase``. ``attrs["config"]`` holds what ``sweep.json``
        stores, with ``seconds`` (kernel time), ``compile_seconds``, ``n_threads`` and
        package ``versions``.

    Raises:
        SweepError: for a bad lr, w0, loss, optimizer, schedule or setting (one line).
        sweep.problems.formula.FormulaError: for a formula that is not allowed.
    """
    plan = plan_sweep(
        lr, w0, loss=loss, params=params, max_iter=max_iter, tol=tol, div_factor=div_factor, n_threads=n_threads, dataset=dataset, target=target,
        features=features, optimizer=optimizer, hyper=hyper, schedule=schedule, schedule_params=schedule_params, grad_noise=grad_noise, seed=seed, dynamics=dynamics,
        target_loss=target_loss, batch_size=batch_size,
    )
    return execute(plan)


def trace(
    lr: float,
    w0: float,
    *,
    loss="quadratic",
    params: dict | None = None,
    max_iter: int = 100,
    tol: float = 0.0,
    div_factor: float = DIV_FACTOR,
    optimizer: str = "gd",
    hyper: dict | None = None,
    schedule: str = "constant",
    schedule_params: dict | None = None,
) -> pd.DataFrame:
    """Every iterate of one run, as ``run_sweep`` would run it.

    With ``div_factor=math.inf`` and ``tol=0`` this is the teaching notebook's loop: its
    ``weight_list`` is the ``w`` column (101 entries for lr 10 from w0 = 2).

    Args:
        lr, w0: the run's learning rate (> 0) and initial weight; for a loss of several
            weights, w0 is a dict of weight name to its start (weights left out start at the
            built-in's customary point), or None for that point.
        loss, params, max_iter, tol, div_factor, optimizer, hyper, schedule,
            schedule_params: as for ``run_sweep`` (each a single value).

    Returns:
        DataFrame with one row per iterate: ``step`` (0, 1, ..., n_iter), ``w`` (or one
        column per weight), ``loss``, ``grad`` (the 2-norm for several weights), ``lr``
        (lr_k, the schedule's learning rate at that step), ``sharpness`` (lr_k times the
        top Hessian eigenvalue; NaN at a final iterate no update was computed at) and the
        optimizer's state. The last row is the run's final state in ``run_sweep``'s table,
        and ``attrs["outcome"]`` its outcome there.

    Raises:
        SweepError: as for ``run_sweep``, and for more than one value of a setting.
    """
    from sweep.errors import SweepError
    from sweep.run.plan import is_real_number

    given = w0.items() if isinstance(w0, dict) else (() if w0 is None else (("w0", w0),))
    for name, value in (("lr", lr), *given):
        if not is_real_number(value):
            raise SweepError(f"{name}={value!r:.40} is not allowed: sweep.trace follows one run; give one number (run_sweep takes axes)")
    plan = plan_sweep(
        [lr], {name: [value] for name, value in w0.items()} if isinstance(w0, dict) else (None if w0 is None else [w0]), loss=loss, params=params, max_iter=max_iter, tol=tol, div_factor=div_factor, optimizer=optimizer, hyper=hyper, schedule=schedule, schedule_params=schedule_params
    )
    if plan.n_runs != 1:
        swept = [axis.name for axis in plan.axes if axis.swept]
        raise SweepError(f"sweep.trace follows one run, but {', '.join(swept)} {'has' if len(swept) == 1 else 'have'} several values")
    frame = trace_runs(plan, [0])
    outcome = frame.attrs["outcomes"][0]
    frame = frame.drop(columns="run")
    frame.attrs = {"outcome": outcome}
    return frame


def compare(
    lr: float,
    w0=None,
    *,
    loss="rosenbrock",
    params: dict | None = None,
    optimizers=("gd", "momentum", "adam", "rmsprop"),
    max_iter: int = 1000,
    tol: float = 0.0,
    div_factor: float = DIV_FACTOR,
    hyper: dict | None = None,
) -> pd.DataFrame:
    """Several optimizers from the same start with the same learning rate, every iterate.

    Args:
        lr: the learning rate (> 0), the same for every optimizer.
        w0: the start: a number for one weight; for several a dict of weight name to its
            start (weights left out, or all with None, start at the built-in's customary point).
        loss, params, max_iter, tol, div_factor: as for ``run_sweep`` (single values).
        optimizers: names from ``sweep.optim.optimizers.OPTIMIZERS``, each once.
        hyper: hyperparameters by optimizer name (``{"momentum": {"momentum": 0.9}}``); the
            rest keep their defaults.

    Returns:
        The traces of ``trace`` for each optimizer, one after another, with a first column
        ``optimizer``; the state columns of optimizers without that state are NaN.
        ``attrs["outcomes"]`` maps each optimizer to its run's outcome.

    Raises:
        SweepError: for an empty or repeated list of optimizers, or as ``trace`` does.
    """
    from sweep.errors import SweepError

    names = [optimizers] if isinstance(optimizers, str) else list(optimizers)
    if not names or len(set(names)) != len(names) or not all(isinstance(name, str) for name in names):
        raise SweepError(f"optimizers={optimizers!r:.60} is not allowed: give one or more optimizer names, each once, such as ('gd', 'momentum', 'adam')")
    settings = dict(hyper or {})
    unknown = [name for name in settings if name not in names]
    if unknown:
        raise SweepError(f"hyper names the optimizer {unknown[0]!r:.40}, which is not among those compared ({', '.join(names)})")
    frames = []
    for name in names:
        frame = trace(lr, w0, loss=loss, params=params, max_iter=max_iter, tol=tol, div_factor=div_factor, optimizer=name, hyper=settings.get(name))
        frame.insert(0, "optimizer", name)
        frames.append(frame)
    outcomes = {frame["optimizer"].iloc[0]: frame.attrs["outcome"] for frame in frames}
    for frame in frames:
        frame.attrs = {}
    joined = pd.concat(frames, ignore_index=True)
    joined.attrs["outcomes"] = outcomes
    return joined
