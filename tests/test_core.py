"""The one generated kernel, for every kind of problem and every optimizer, against the slow
reference (``sweep.reference.optimizer_run``) run by run."""

import math

import numpy as np
import pytest

from sweep.optim.optimizers import OPTIMIZERS
from sweep.outcomes import OUTCOMES
from sweep.problems.losses import make_loss
from sweep.problems.models import make_model
from sweep.reference import optimizer_run
from sweep.run.executor import descend_runs, model_data
from sweep.run.plan import plan_sweep

HYPER = {"adamw": {"weight_decay": 0.1}, "lion": {"weight_decay": 0.05}}
FORMULA = "(w - 1)**2 * (1 + w**2/10) + sin(3*w)/4"


def _formula_grad(w):
    return 2 * (w - 1) * (1 + w * w / 10) + (w - 1) ** 2 * w / 5 + 0.75 * math.cos(3 * w)


def _model_grad(name):
    model = make_model(name)
    X, y, H, b, _ = model_data(model)
    if model.kind == 0:
        return lambda w: tuple(H @ np.array(w) - b)
    def grad(w):
        with np.errstate(over="ignore"):  # exp(-z) overflows to inf for very negative z: sigmoid 0, as it should
            return tuple(X.T @ (1.0 / (1.0 + np.exp(-(X @ np.array(w)))) - y) / len(y))

    return grad


PROBLEMS = {
    "quadratic": (lambda w: 2 * (w - 1), [-1.5, 0.5, 2.5], np.geomspace(1e-3, 2.0, 7)),
    FORMULA: (_formula_grad, [-1.5, 0.5, 2.5], np.geomspace(1e-3, 2.0, 7)),
    "mse-linear": (_model_grad("mse-linear"), [-0.5, 0.3], np.array([0.01, 0.2, 0.9, 3.0])),
    "logloss-logistic": (_model_grad("logloss-logistic"), [-0.5, 0.3], np.array([0.01, 0.5, 5.0, 1e3])),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_the_kernel_of_every_problem_and_optimizer_is_the_reference(problem, optimizer):
    grad, w0, lr = PROBLEMS[problem]
    hyper = HYPER.get(optimizer, {})
    model = problem.endswith(("linear", "logistic"))
    max_iter = 30
    loss = make_model(problem) if model else make_loss(problem)
    tol = 0.0 if model else 1e-9
    lr_runs, w0_runs = np.repeat(lr, len(w0)), np.tile(w0, len(lr))
    result = descend_runs(lr_runs, w0_runs, loss, max_iter, tol, 1e8, optimizer, hyper)
    ends = result["W"] if model else result["w"][:, None]
    for i, (rate, start) in enumerate(zip(lr_runs, w0_runs)):
        n_iter, w, outcome = optimizer_run(optimizer, rate, [start] * ends.shape[1] if model else start, grad, hyper, max_iter, tol)
        assert (int(result["n_iter"][i]), OUTCOMES[result["outcome"][i]]) == (n_iter, outcome), (rate, start)
        if model:
            # the products' summation order is BLAS's, not NumPy's: equal to rounding
            np.testing.assert_allclose(ends[i], w, rtol=1e-9, atol=1e-12)
        elif problem == "quadratic":
            assert tuple(ends[i]) == w, (rate, start)  # the same arithmetic, bit for bit
        else:
            # sympy's gradient and sweep's sine against the hand-written one and libm's
            np.testing.assert_allclose(ends[i], w, rtol=1e-10)


@pytest.mark.parametrize(("optimizer", "substeps"), [("gd", (16, 5, 4, 1)), ("momentum", (8, 3)), ("lion", (6, 1))])
def test_passes_of_any_length_meet_stalls_cycles_and_firsts_at_their_steps(optimizer, substeps, monkeypatch):
    # Under a constant schedule the vector pass tests a stall at its last substep only and
    # saves Brent's points at substep 0 (and 1, 2, 4 of the first pass) where the pass length
    # is a power of two: lr = 1 cycles (w -> 2 - w), lr = 0.5 converges in one step, tol = 0
    # stalls many runs, large rates diverge, so every kind of stop lands inside passes.
    from sweep.run.sweeps import run_sweep

    lr = np.concatenate([np.geomspace(1e-3, 3, 37), [0.5, 1.0]])
    args, settings = (lr, np.linspace(-2, 3, 11)), {"optimizer": optimizer, "max_iter": 77, "tol": 0.0}
    frames = []
    for count in substeps:
        monkeypatch.setenv("SWEEP_SUBSTEPS", str(count))
        frames.append(run_sweep(*args, **settings))
    assert all(frame.equals(frames[0]) for frame in frames[1:])
    found = set(frames[0]["outcome"].astype(str))
    assert len(found) >= 2, found
    if optimizer == "gd":
        assert {"converged", "diverged", "max_iter", "stalled", "cycling"} <= found, found
        for row in frames[0].itertuples():
            n_iter, w, outcome = optimizer_run("gd", row.lr, row.w0, lambda w: 2 * (w - 1), {}, 77, 0.0)
            assert (row.n_iter, row.outcome, (row.w,)) == (n_iter, outcome, w), (row.lr, row.w0)


def test_both_forms_of_the_increase_count_give_the_same_runs(monkeypatch):
    # With AVX-512 the kernels count the loss's increases with a select of sums (one masked
    # add), elsewhere with a sum of a select (KernelSpec.masked_adds): the same bits.
    from sweep.run import executor
    from sweep.run.sweeps import run_sweep

    lr = np.concatenate([np.geomspace(1e-3, 3, 37), [0.5, 1.0]])
    args, settings = (lr, np.linspace(-2, 3, 11)), {"loss": "(w-1)**2 + 0.1*cos(8*w)", "max_iter": 77, "tol": 0.0}
    frames = []
    for masked in (False, True):
        monkeypatch.setattr(executor, "has_avx512", lambda masked=masked: masked)
        assert executor.kernel_spec(plan_sweep(*args, **settings)).masked_adds is masked
        frames.append(run_sweep(*args, **settings))
    assert frames[0].equals(frames[1])
    assert frames[0]["n_increase"].between(1, 76).any()  # runs whose loss rose at some steps, not all


@pytest.mark.parametrize(("features", "expected"), [({"avx512f": True, "avx2": True}, 4), ({"avx2": True}, 16), ({}, 16)])
def test_default_steps_per_pass_follow_the_instruction_set(features, expected, monkeypatch):
    import llvmlite.binding

    from sweep.kernels.target import has_avx512
    from sweep.run.executor import default_substeps

    monkeypatch.setattr(llvmlite.binding, "get_host_cpu_features", lambda: features)
    has_avx512.cache_clear()  # the host's answer is kept once asked
    try:
        assert default_substeps() == expected
        assert has_avx512() == (expected == 4)
    finally:
        monkeypatch.undo()
        has_avx512.cache_clear()


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_steps_per_pass_do_not_change_a_single_bit(optimizer, monkeypatch):
    # The suite compiles kernels with two steps per vector pass (tests/conftest.py); the
    # default is 16 or 4 by instruction set (fewer for long updates): every run ends the same either way.
    from sweep.run.sweeps import run_sweep

    args = (np.geomspace(1e-3, 3, 40), np.linspace(-2, 3, 21))
    settings = {"optimizer": optimizer, "max_iter": 300, "tol": 1e-12, "schedule": "cosine"}
    monkeypatch.setenv("SWEEP_SUBSTEPS", "16")
    most = run_sweep(*args, **settings)
    monkeypatch.setenv("SWEEP_SUBSTEPS", "2")
    two = run_sweep(*args, **settings)
    monkeypatch.setenv("SWEEP_SUBSTEPS", "1")
    one = run_sweep(*args, **settings)
    assert most.equals(two) and two.equals(one)
    assert len(set(most["outcome"].astype(str))) >= 2  # runs that stop early and late alike
    monkeypatch.setenv("SWEEP_SUBSTEPS", "17")
    from sweep.errors import SweepError

    with pytest.raises(SweepError, match="SWEEP_SUBSTEPS"):
        run_sweep(*args, **settings)
