"""The benchmark's baselines follow sweep's rules exactly, so its agreement check means something."""

import numpy as np
import pytest

from sweep.bench.baselines import bare_lockstep_runs, numpy_runs, plain_numba_runs, python_runs
from sweep.bench.harness import COSINE, Case, time_case
from sweep.outcomes import OUTCOMES
from sweep.problems.losses import make_loss
from sweep.run.executor import descend_runs, threads


@pytest.mark.parametrize("loss_text", ["quadratic", COSINE, "sqrt(w) + (w - 2)**2"])
@pytest.mark.parametrize("implementation", [numpy_runs, plain_numba_runs, python_runs])
def test_baseline_equals_kernel(loss_text, implementation):
    loss = make_loss(loss_text)
    rng = np.random.default_rng(3)
    # 300 runs: not a multiple of the kernel's block; every outcome appears for the quadratic
    lr = np.concatenate([rng.choice([1e-3, 0.1, 0.2, 0.5, 1.0, 1.2, 3.0], 250), np.geomspace(1e-3, 5, 50)])
    w0 = np.round(rng.uniform(-2, 3, lr.size), 2)
    for max_iter, tol in ((300, 0.0), (50, 1e-9)):
        expected = descend_runs(lr, w0, loss, max_iter, tol, 1e8)
        n_iter, w, outcome = implementation(lr, w0, loss, max_iter, tol, 1e8)
        np.testing.assert_array_equal(n_iter, expected["n_iter"])
        np.testing.assert_array_equal(outcome, expected["outcome"])
        np.testing.assert_array_equal(w, expected["w"])


@pytest.mark.parametrize("n_threads", [1, pytest.param(2, marks=pytest.mark.two_threads)])
def test_bare_lockstep_kernel_ends_its_three_outcomes_as_the_kernel_does(n_threads):
    # Its blocks go to the threads in strided shares; 1000 runs are 8 blocks, the last one
    # partly padding, and the lr-major grid puts the slow runs in the first blocks.
    from sweep.outcomes import CONVERGED, DIVERGED, MAX_ITER

    lr = np.repeat(np.geomspace(1e-3, 3.0, 40), 25)
    w0 = np.tile(np.linspace(-2, 3, 25), 40)
    loss = make_loss("quadratic")
    for max_iter, tol in ((300, 1e-12), (50, 0.0)):
        expected = descend_runs(lr, w0, loss, max_iter, tol, 1e8)
        with threads(n_threads):
            n_iter, w, outcome = bare_lockstep_runs(lr, w0, loss, max_iter, tol, 1e8)
        known = np.isin(expected["outcome"], (CONVERGED, DIVERGED, MAX_ITER))
        assert known.sum() > 900 and {CONVERGED, DIVERGED, MAX_ITER} <= set(outcome[known])
        np.testing.assert_array_equal(n_iter[known], expected["n_iter"][known])
        np.testing.assert_array_equal(outcome[known], expected["outcome"][known])
        np.testing.assert_array_equal(w[known], expected["w"][known])
        # stalled and cycling runs are not its business: it runs them on to max_iter
        assert (n_iter[~known] == max_iter).all()


def test_time_case_reports_agreement_and_ratios():
    rows = time_case(Case("tiny", "quadratic", 12, 11, 100, 0.0, python_runs=50), repeats=1, n_threads=1, log=lambda *_: None)
    by_name = {row.implementation: row for row in rows}
    assert {"sweep", "numpy", "numba-plain", "python"} <= set(by_name)
    assert all(row.agree.startswith("exact") for row in rows if row.implementation != "jax")
    # XLA contracts multiply-adds into FMAs, so JAX's last bits may differ, never its counts.
    assert all(not row.agree.startswith("DIFFERS") for row in rows)
    assert by_name["python"].n_runs == len(range(0, 132, 132 // 50)) and by_name["sweep"].n_runs == 132
    assert by_name["sweep"].steps > 0 and by_name["numpy"].ratios["sweep"] > 0


def test_the_batched_numpy_model_descent_stops_where_the_kernel_does():
    # The benchmark's "x batched NumPy" ratio counts the same runs' steps: every run of the
    # MSE model must stop at the kernel's step, with its outcome and (to BLAS's rounding) weights.
    from sweep.bench.baselines import numpy_model_runs
    from sweep.problems.models import make_model

    model = make_model("mse-linear")
    lr = np.repeat(np.geomspace(1e-3, 3.0, 9), 4)
    w0 = np.tile([-2.0, -0.5, 0.3, 2.0], 9)
    expected = descend_runs(lr, w0, model, 2000, 1e-3, 1e8)
    n_iter, ends, outcome = numpy_model_runs(model, lr, w0, 2000, 1e-3, 1e8)
    assert {"converged", "diverged", "max_iter"} <= {OUTCOMES[code] for code in outcome}
    np.testing.assert_array_equal(n_iter, expected["n_iter"])
    np.testing.assert_array_equal(outcome, expected["outcome"])
    np.testing.assert_allclose(ends, expected["W"], rtol=1e-9, atol=1e-12)
