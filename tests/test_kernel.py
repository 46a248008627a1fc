"""The descent kernel against the plain Python teaching loop, the reference run and theory."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweep import run_sweep
from sweep.outcomes import OUTCOMES
from sweep.problems.losses import quadratic
from sweep.reference import reference_run, teaching_loop
from sweep.run.executor import descend_runs, kernel_of, threads
from sweep.run.plan import plan_sweep

TEACHING = quadratic()


def flat_runs(lr, w0, max_iter=100, tol=0.0, div_factor=1e8, loss=TEACHING):
    result = descend_runs(np.asarray(lr, float), np.asarray(w0, float), loss, max_iter, tol, div_factor)
    names = [OUTCOMES[c] for c in result["outcome"]]
    return result["n_iter"], result["w"], names


def test_teaching_example_values():
    np.random.seed(0)
    w0 = np.random.randint(-2, 3)
    assert w0 == 2
    frame = run_sweep([0.4, 0.001, 10], [w0])
    by_lr = frame.set_index("lr")
    assert by_lr.loc[0.4, "n_iter"] == 23 and by_lr.loc[0.4, "w"] == 1.0
    assert by_lr.loc[0.4, "outcome"] == "converged"
    assert by_lr.loc[0.001, "n_iter"] == 100 and by_lr.loc[0.001, "w"] == 1.8185668046884278
    assert by_lr.loc[0.001, "outcome"] == "max_iter"
    assert by_lr.loc[10.0, "outcome"] == "diverged"
    # The teaching loop itself never leaves the finite range in 100 updates at lr = 10.
    n_iter, w, _ = teaching_loop(10.0, 2.0)
    assert n_iter == 100 and math.isfinite(w) and 7e127 < abs(w) < 8e127


def _assert_matches_teaching_loop(lr, w0, max_iter, tol):
    n_iter, w, outcome = flat_runs(lr, w0, max_iter, tol)
    for i in range(len(lr)):
        loop_n, loop_w, _ = teaching_loop(lr[i], w0[i], max_iter, tol)
        if outcome[i] in ("converged", "max_iter"):
            assert (n_iter[i], w[i]) == (loop_n, loop_w), (lr[i], w0[i])
        elif outcome[i] == "stalled":
            assert w[i] == loop_w, (lr[i], w0[i])
            assert loop_n == max_iter  # the loop sits at the fixed point until it runs out


def test_bit_exact_with_teaching_loop_on_default_grid():
    from sweep.cli.run import DEFAULT_LR, DEFAULT_W0
    from sweep.run.spec import parse_spec

    lr_axis, w0_axis = parse_spec(DEFAULT_LR), parse_spec(DEFAULT_W0)
    lr, w0 = np.repeat(lr_axis, w0_axis.size), np.tile(w0_axis, lr_axis.size)
    _assert_matches_teaching_loop(lr, w0, 100, 0.0)


@settings(max_examples=30, deadline=None)
@given(
    lr=st.lists(st.floats(1e-4, 3.0), min_size=1, max_size=300),
    w0=st.floats(-50, 50),
    max_iter=st.integers(0, 400),
    tol=st.sampled_from([0.0, 1e-12, 1e-6, 0.5]),
)
def test_kernel_equals_reference_on_random_runs(lr, w0, max_iter, tol):
    rng = np.random.default_rng(len(lr))
    w0s = w0 + rng.integers(-3, 4, size=len(lr))  # several starting points per example
    lr = np.array(lr)
    n_iter, w, outcome = flat_runs(lr, w0s, max_iter, tol)
    for i in range(lr.size):
        assert (n_iter[i], w[i], outcome[i]) == reference_run(lr[i], w0s[i], max_iter=max_iter, tol=tol)
    _assert_matches_teaching_loop(lr, w0s, max_iter, tol)


def test_block_edges_and_mixed_stops():
    # 3 blocks and a ragged tail; neighbouring runs stop at very different iterations.
    n = 2 * 128 + 37
    rng = np.random.default_rng(7)
    lr = rng.choice([1e-3, 0.05, 0.4, 0.5, 0.99, 1.0, 1.3, 0.2], size=n)
    w0 = rng.uniform(-3, 3, size=n).round(2)
    n_iter, w, outcome = flat_runs(lr, w0, 300, 0.0)
    assert len(set(n_iter.tolist())) > 10
    for i in range(n):
        assert (n_iter[i], w[i], outcome[i]) == reference_run(lr[i], w0[i], max_iter=300, tol=0.0)


@pytest.mark.parametrize("lr", [0.01, 0.1, 0.3, 0.45, 0.55, 0.7, 0.9, 0.99])
@pytest.mark.parametrize("w0", [-2.0, 0.5, 3.0])
def test_iteration_count_matches_closed_form(lr, w0):
    # w_k - 1 = (1 - 2 lr)**k (w0 - 1), so |grad| = 2 |1-2lr|**k |w0-1| <= tol at the first k past
    tol = 1e-8
    expected = math.ceil(math.log(tol / (2 * abs(w0 - 1))) / math.log(abs(1 - 2 * lr)))
    frame = run_sweep([lr], [w0], max_iter=100_000, tol=tol)
    assert frame.loc[0, "outcome"] == "converged"
    assert abs(int(frame.loc[0, "n_iter"]) - expected) <= 1


def test_outcomes_where_theory_puts_them():
    w0 = [-2.0, 0.0, 2.0, 3.0]
    one_step = run_sweep([0.5], w0)
    assert (one_step["outcome"] == "converged").all() and (one_step["n_iter"] == 1).all()
    assert (one_step["w"] == 1.0).all()
    cycling = run_sweep([1.0], w0)
    assert (cycling["outcome"] == "cycling").all()
    # the cycle alternates between w0 and 2 - w0
    assert set(cycling["w"]) <= set(w0) | {2 - v for v in w0}
    diverged = run_sweep([1.01, 1.5, 3.0, 10.0], w0, max_iter=5000)
    assert (diverged["outcome"] == "diverged").all()
    assert (diverged["w"].abs() > 1e8).all()
    stalled = run_sweep([0.01, 0.1, 0.2], w0, max_iter=100_000, tol=0.0)
    assert (stalled["outcome"] == "stalled").all()
    # A stalled run sits next to the minimum, where the step lr*grad is at most half an ulp
    # of w and rounds away: a fixed point of floating point, not of the loss (grad != 0).
    step = stalled["lr"] * stalled["grad"].abs()
    assert (stalled["grad"] != 0).all()
    assert (step <= np.spacing(stalled["w"].to_numpy()) / 2).all()
    assert (abs(stalled["w"] - 1.0) < 1e-13).all()
    at_minimum = run_sweep([0.3, 5.0], [1.0])
    assert (at_minimum["n_iter"] == 0).all() and (at_minimum["outcome"] == "converged").all()


@pytest.mark.two_threads
def test_same_output_for_one_and_two_threads():
    lr = np.geomspace(1e-3, 10, 97)
    w0 = np.linspace(-2, 3, 53)
    with threads(1):
        one = run_sweep(lr, w0, max_iter=300, tol=1e-10)
    two = run_sweep(lr, w0, max_iter=300, tol=1e-10, n_threads=2)
    assert one.attrs["config"]["n_threads"] == 1
    assert one.equals(two)


def test_workers_taking_blocks_from_one_counter_run_every_run_once():
    # Each worker takes the next block of B runs from a counter shared by the threads of one
    # call (run_workers): however their turns interleave, every run goes to one worker once.
    kernel = kernel_of(plan_sweep([0.1], [0.0]))
    rng = np.random.default_rng(3)
    for n in (1, kernel.B - 1, kernel.B, 5 * kernel.B + 7):
        blocks = np.zeros(1, np.int64)
        cursors = [np.zeros(2, np.int64) for _ in range(3)]
        taken, done = [], set()
        while len(done) < len(cursors):
            i = int(rng.integers(len(cursors)))
            run = kernel._next_run(blocks, cursors[i], n)
            if run < 0:
                done.add(i)
            else:
                assert i not in done  # a worker that ran out stays out
                taken.append(run)
        assert sorted(taken) == list(range(n))


@pytest.mark.two_threads
def test_fetch_add_is_atomic_across_threads():
    import threading

    from numba import njit

    from sweep.kernels.bits import fetch_add

    @njit(nogil=True)
    def take(counter, out):
        for i in range(out.size):
            out[i] = fetch_add(counter, 1)

    counter = np.zeros(1, np.int64)
    outs = [np.empty(200_000, np.int64) for _ in range(2)]
    take(np.zeros(1, np.int64), np.empty(1, np.int64))
    helpers = [threading.Thread(target=take, args=(counter, out)) for out in outs]
    for helper in helpers:
        helper.start()
    for helper in helpers:
        helper.join()
    assert counter[0] == 400_000
    assert np.array_equal(np.sort(np.concatenate(outs)), np.arange(400_000))


@pytest.mark.two_threads
def test_a_worker_error_is_raised_in_the_calling_thread():
    from sweep.run.executor import run_workers

    seen = []

    def worker(counter, tag):
        seen.append(tag)
        raise ValueError(f"bad {tag}")

    with threads(2), pytest.raises(ValueError, match="bad x"):
        run_workers(worker, 1000, 128, "x")
    assert seen == ["x", "x"]  # every thread ran and stopped before the error was raised


def test_nan_gradient_is_an_outcome():
    frame = run_sweep([0.1], [-1.0, 4.0], loss="sqrt(w)", max_iter=50)
    by_w0 = frame.set_index("w0")
    assert by_w0.loc[-1.0, "outcome"] == "nan" and by_w0.loc[-1.0, "n_iter"] == 0
    assert by_w0.loc[4.0, "outcome"] in ("max_iter", "nan")


def test_nan_loss_with_a_finite_gradient_stops_the_run_inside_a_pass():
    # log(w) is NaN at w < 0 where its gradient 1/w is finite: a run that steps there and
    # back ends at the NaN step (the reference's first test), not where a later step of the
    # same vector pass lands with a finite loss (lr 0.3 from 0.5: w = -0.4, then 0.59).
    def value(w):
        with np.errstate(invalid="ignore"):
            return float(np.log(w) + w**2)

    def grad(w):
        return 1.0 / w + 2.0 * w

    lr = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5])
    w0 = np.array([-1.0, 0.2, 0.5, 0.9, 2.0])
    frame = run_sweep(lr, w0, loss="log(w) + w**2", max_iter=60, tol=1e-9)
    ended_nan = 0
    for row in frame.itertuples():
        expected = reference_run(row.lr, row.w0, grad=grad, max_iter=60, tol=1e-9, value=value)
        assert (row.n_iter, row.w, row.outcome) == expected, (row.lr, row.w0)
        ended_nan += expected[2] == "nan" and expected[0] > 0
    assert ended_nan >= 5  # runs that reach the NaN after some steps, not only at w0 < 0


def test_evaluate_gives_loss_and_grad():
    kernel = kernel_of(plan_sweep([0.1], [0.0]))
    for w in (-2.0, 1.0, 2.5):
        loss, grad, *_ = kernel._evaluate_exact(w, *(value for _, value in TEACHING.params))
        assert (loss, grad) == ((w - 1) ** 2 + 2, 2 * (w - 1))


def test_table_dtypes_are_compact():
    frame = run_sweep(np.geomspace(1e-3, 1, 40), np.linspace(-2, 3, 50))
    assert frame["n_iter"].dtype == np.int32
    assert list(frame["outcome"].cat.categories) == list(OUTCOMES)
    # 47 bytes for the end state and outcome, 28 for the dynamics (two float64, three int32)
    assert frame.memory_usage(index=False, deep=True).sum() / len(frame) <= 76
    assert frame["n_increase"].dtype == frame["first_increase"].dtype == frame["eos_step"].dtype == np.int32
    dynamics = ["loss_max", "n_increase", "first_increase", "sharpness_max", "eos_step"]
    assert list(frame.columns) == ["lr", "w0", "n_iter", "w", "loss", "grad", "outcome", "oscillated", "regime", *dynamics]


def test_kernel_writes_compact_outputs_and_only_the_rows_it_fills():
    # Each output row is a stream of fresh memory per run: counts are int32, and a kernel
    # without noise returns no loss_tail or reached (rows it never writes, so never reads).
    lr, w0 = np.repeat(np.geomspace(1e-3, 2.0, 30), 7), np.tile(np.linspace(-2, 3, 7), 30)
    result = descend_runs(lr, w0, quadratic(), 100, 0.0, 1e8)
    assert "loss_tail" not in result and "reached" not in result
    assert all(result[name].dtype == np.int32 for name in ("n_iter", "n_increase", "first_increase", "eos_step"))
    for run in (0, 45, 200):
        n_iter, w, outcome = reference_run(lr[run], w0[run])
        assert (int(result["n_iter"][run]), result["w"][run], OUTCOMES[result["outcome"][run]]) == (n_iter, w, outcome)
    noisy = run_sweep([0.1, 0.3], [2.0], grad_noise=0.01, max_iter=50)
    assert noisy["reached"].dtype == np.int32 and noisy["loss_tail"].notna().all()
