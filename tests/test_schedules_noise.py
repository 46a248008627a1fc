"""Schedules and gradient noise: lr_k against each schedule's formula, the noise floor of GD
against its closed form, and noisy sweeps that are the same however they are run."""

import math

import numpy as np
import pytest

import sweep
from sweep import SweepError

# The formulas of sweep.optim.schedules, written out here as PyTorch and optax define them.
SCHEDULES = {
    "constant": ({}, lambda lr, k, T: lr),
    "step": ({"gamma": 0.5, "step_size": 7.0}, lambda lr, k, T: lr * 0.5 ** math.floor(k / 7)),
    "exponential": ({"gamma": 0.97}, lambda lr, k, T: lr * 0.97**k),
    "cosine": ({"lr_min": 0.01, "T": 30.0}, lambda lr, k, T: 0.01 + (lr - 0.01) * (1 + math.cos(math.pi * min(k, 30) / 30)) / 2),
    "warmup-cosine": ({"warmup": 5.0, "lr_min": 0.0, "T": 40.0}, lambda lr, k, T: lr * k / 5 if k < 5 else (lr * (1 + math.cos(math.pi * min(k - 5, 35) / 35)) / 2)),
    "inverse-time": ({"decay": 0.1}, lambda lr, k, T: lr / (1 + 0.1 * k)),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_schedules_lr_k_read_back_from_a_trace_is_its_formula(name):
    params, formula = SCHEDULES[name]
    trace = sweep.trace(0.2, 3.0, max_iter=50, tol=0.0, schedule=name, schedule_params=params)
    steps = trace["step"].to_numpy()[:-1]  # every step at which an update was computed
    expected = [formula(0.2, int(k), 50) for k in steps]
    assert len(steps) == 50
    # sweep's cosine is its own branch-free vcos, within an ulp of libm's
    np.testing.assert_allclose(trace["lr"].to_numpy()[:-1], expected, rtol=4e-16, atol=1e-18)


def test_a_cosine_schedule_rescues_a_learning_rate_that_diverges_when_constant():
    # The teaching quadratic has L = 2, so a constant lr = 1.5 > 2/L multiplies the distance to
    # the minimum by |1 - 2 lr| = 2 each step and leaves the bound 1e8 max(1, |w0|) in about 27
    # steps. Cosine decay from 1.5 to lr_min = 0.1 over T = 20 steps brings lr_k below 2/L = 1 at
    # step 9 (0.1 + 1.4 (1 + cos(pi k / 20)) / 2 < 1), when the distance has grown at most 2**9-fold; from there every step shrinks it, and after T
    # lr_k stays at 0.1, where GD converges.
    constant = sweep.run_sweep([1.5], [2.0], max_iter=400, tol=1e-10).iloc[0]
    decayed = sweep.run_sweep([1.5], [2.0], max_iter=400, tol=1e-10, schedule="cosine", schedule_params={"T": 20, "lr_min": 0.1}).iloc[0]
    assert constant["outcome"] == "diverged"
    assert decayed["outcome"] == "converged" and abs(decayed["w"] - 1) < 1e-10
    trace = sweep.trace(1.5, 2.0, max_iter=400, tol=1e-10, schedule="cosine", schedule_params={"T": 20, "lr_min": 0.1})
    below = int(np.argmax(trace["lr"].to_numpy() < 1.0))
    assert below == 9 and abs(trace["w"].to_numpy()[: below + 1] - 1).max() < 1e3


def test_the_noise_floor_of_gd_on_a_quadratic_is_its_closed_form():
    # w_{k+1} - 1 = (1 - lr L)(w_k - 1) - lr sigma xi_k settles to a variance
    # lr sigma^2 / (L (2 - lr L)) (the stationary variance of an AR(1) process).
    lr, sigma, L = 0.1, 0.5, 2.0
    w0 = 1.0 + np.linspace(-1e-3, 1e-3, 20_000)
    runs = sweep.run_sweep([lr], w0, grad_noise=sigma, seed=11, max_iter=400)
    assert (runs["outcome"] == "max_iter").all()
    expected = lr * sigma**2 / (L * (2 - lr * L))
    assert abs(np.var(runs["w"]) / expected - 1) < 0.05
    assert abs(np.mean(runs["w"]) - 1) < 4 * math.sqrt(expected / w0.size)


@pytest.mark.two_threads
def test_noisy_sweeps_are_the_same_at_any_thread_count_and_in_chunks(tmp_path):
    from sweep.run.plan import plan_sweep
    from sweep.run.stream import stream_sweep
    from sweep.store.results import read_results

    settings = {"grad_noise": [0.0, 0.3, 1.0], "seed": 5, "max_iter": 120, "optimizer": "adam"}
    one = sweep.run_sweep(np.geomspace(1e-3, 1, 23), np.linspace(-2, 3, 17), n_threads=1, **settings)
    two = sweep.run_sweep(np.geomspace(1e-3, 1, 23), np.linspace(-2, 3, 17), n_threads=2, **settings)
    assert one.equals(two)
    plan = plan_sweep(np.geomspace(1e-3, 1, 23), np.linspace(-2, 3, 17), **settings)
    stream_sweep(plan, tmp_path / "chunks", chunk_size=97, progress=False, log=lambda *_: None)
    assert read_results(tmp_path / "chunks")[0].equals(one)
    other_seed = sweep.run_sweep(np.geomspace(1e-3, 1, 23), np.linspace(-2, 3, 17), **{**settings, "seed": 6})
    assert not other_seed["w"].equals(one["w"])


def test_reached_is_the_first_step_within_the_target():
    runs = sweep.run_sweep([0.1, 0.3], [3.0], grad_noise=1e-12, max_iter=100, target_loss=0.01)
    # without noise (1e-12 is far below every gap here) |w - 1| = 2 (1 - 2 lr)**k; the loss
    # (w - 1)**2 + 2 is within 0.01 of its best, 2, once |w - 1| <= 0.1
    for row in runs.itertuples():
        expected = math.ceil(math.log(0.1 / 2) / math.log(1 - 2 * row.lr))
        assert row.reached == expected, row.lr
    assert runs["loss_tail"].between(2, 2 + 1e-9).all()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"schedule": "linear"}, "schedule='linear' is not allowed"),
        ({"schedule": "cosine", "schedule_params": {"gamma": 0.5}}, "gamma is not a parameter of the cosine schedule"),
        ({"grad_noise": -0.1}, "a noise scale must be finite and >= 0"),
        ({"grad_noise": math.inf}, "grad_noise"),
        ({"target_loss": 0.1}, "--target-loss is for noisy runs"),
        ({"grad_noise": 0.1, "target_loss": -1}, "target_loss=-1 is not allowed"),
        ({"grad_noise": 0.1, "target_loss": 0.1, "loss": "cosine"}, "none is known for 'w**2 + 0.1*cos(4*pi*w)' (cosine)"),
    ],
)
def test_bad_schedule_and_noise_input_is_one_line(kwargs, fragment):
    with pytest.raises(SweepError) as error:
        sweep.run_sweep([0.1], [1.0], **kwargs)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_the_noise_floor_line_and_the_tail_map(tmp_path, capsys):
    from PIL import Image

    from sweep.cli import main
    from sweep.plots.figures import noise_floor_sigma

    # gap = (L/2) lr sigma^2 / (L (2 - lr L)): 0.01 at lr = 0.1, L = 2 when sigma = 0.6
    assert noise_floor_sigma([0.1], 2.0, 0.01)[0] == pytest.approx(0.6, rel=1e-12)
    assert np.isnan(noise_floor_sigma([1.0], 2.0, 0.01)[0])  # lr L = 2: no stationary spread
    out = tmp_path / "noise"
    code = main(["run", "--grad-noise", "0:1:9", "--lr", "0.01:1.2:12:log", "--w0", "2", "--max-iter", "100", "--target-loss", "0.01", "--quiet", "--out", str(out)])
    assert code == 0 and Image.open(out / "tail.png").size[0] > 300
    assert "Where the noisy runs settle" in (out / "report.html").read_text()
    # the teaching paths would be noiseless runs the sweep never made: not drawn
    assert not (out / "paths.png").exists()
