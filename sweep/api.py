"""Compatibility layer: the names other modules imported from ``sweep.api`` before the core
moved into ``sweep.run`` (plan, executor, stream) and ``sweep.kernels`` (the generator)."""

from __future__ import annotations

import numba
import numpy as np

from sweep.codegen import model_kernel_module
from sweep.errors import SweepError
from sweep.kernels import models as model_kernels
from sweep.models import Model, scores
from sweep.optimizers import initial_state
from sweep.run.estimate import TIME_MARGIN, worst_case_seconds
from sweep.run.executor import MEMORY_BYTES_PER_RUN, PIECE, compile_kernel, descend, execute, memory_bytes, run_range, sweep_config, threads, versions
from sweep.run.plan import DIV_FACTOR, MAX_RUNS, Axis, Plan, check_settings, plan_sweep
from sweep.run.sweeps import run_sweep, trace

SweepPlan = Plan

__all__ = [
    "DIV_FACTOR", "MAX_RUNS", "MEMORY_BYTES_PER_RUN", "PIECE", "TIME_MARGIN", "SweepError", "SweepPlan", "check_settings", "compile_kernel", "descend_model_runs",
    "descend_runs", "execute", "memory_bytes", "plan_sweep", "run_range", "run_sweep", "sweep_config", "threads", "trace", "versions", "worst_case_seconds",
]


def hyper_arrays(optimizer: str, hyper: dict[str, np.ndarray] | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model kernel's hyperparameters: three per-run arrays h0, h1, h2 (unused ones zero)."""
    from sweep.optimizers import get_optimizer

    chosen = get_optimizer(optimizer)
    given = hyper or {}
    arrays = [np.ascontiguousarray(given[h.name], np.float64) if h.name in given else np.full(n, h.default) for h in chosen.hyperparameters]
    arrays += [np.zeros(n)] * (3 - len(arrays))
    return arrays[0], arrays[1], arrays[2]


def descend_runs(lr, w0, loss, max_iter: int, tol: float, div_factor: float, optimizer: str = "gd", hyper: dict | None = None) -> dict[str, np.ndarray]:
    """Flat per-run arrays (lr, w0 and the hyperparameters, each of length n, for one loss
    with fixed parameters) through the generated kernel; see ``sweep.run.executor.descend``."""
    from sweep.optim.optimizers import OPTIMIZERS
    from sweep.optim.schedules import SCHEDULES

    lr = np.ascontiguousarray(lr, np.float64)
    chosen = OPTIMIZERS[optimizer]
    n = lr.size
    values = {"lr": lr, "w0": np.ascontiguousarray(w0, np.float64)}
    axes = [Axis("lr", lr[:1], "lr"), Axis("w0", values["w0"][:1], "w0")]
    for h in chosen.hyperparameters:
        values[h.name] = np.broadcast_to(np.asarray((hyper or {}).get(h.name, h.default), np.float64), n)
        axes.append(Axis(h.name, values[h.name][:1], f"hyper:{h.name}"))
    for name, value in loss.params:
        values[name] = np.full(n, value)
        axes.append(Axis(name, values[name][:1], f"param:{name}"))
    plan = Plan(loss, tuple(axes), chosen, SCHEDULES["constant"], max_iter, tol, div_factor)
    return descend(plan, values)


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


