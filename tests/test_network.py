"""The network kernel: hand-written gradients, the convergence rule, and the compiled kernel
against a plain NumPy reference."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweep.fractal.network import CLIP, Network, NetworkError, convergence_measure, loss_and_grad, train_grid, train_reference
from sweep.kernels.activations import tanh_array, vtanh


def test_data_count_equals_parameter_count_and_draws_are_fixed():
    net = Network(16)
    assert net.n_params == 16 * 16 + 16 == net.n_data == 272
    w1, w2, x, y = net.arrays()
    assert w1.shape == (16, 16) and w2.shape == (16,) and x.shape == (272, 16) and y.shape == (272,)
    again = Network(16).arrays()
    assert all(np.array_equal(a, b) for a, b in zip(net.arrays(), again))
    assert not np.array_equal(Network(16, seed=1).arrays()[0], w1)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu", "identity"])
def test_gradient_matches_finite_differences(nonlinearity):
    net = Network(3, nonlinearity, seed=2)
    w1, w2, x, y = net.arrays()
    _, g1, g2 = loss_and_grad(w1[None], w2[None], x, y, nonlinearity)
    step = 1e-6
    for index in np.ndindex(w1.shape):
        up, down = w1.copy(), w1.copy()
        up[index] += step
        down[index] -= step
        numeric = (loss_and_grad(up[None], w2[None], x, y, nonlinearity)[0][0] - loss_and_grad(down[None], w2[None], x, y, nonlinearity)[0][0]) / (2 * step)
        assert g1[0][index] == pytest.approx(numeric, rel=1e-6, abs=1e-9)
    for j in range(w2.size):
        up, down = w2.copy(), w2.copy()
        up[j] += step
        down[j] -= step
        numeric = (loss_and_grad(w1[None], up[None], x, y, nonlinearity)[0][0] - loss_and_grad(w1[None], down[None], x, y, nonlinearity)[0][0]) / (2 * step)
        assert g2[0][j] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_reference_network_is_the_papers():
    """Z = X W1 / sqrt(n), tanh(sqrt(2) Z), output H W2 / n: one point worked by hand."""
    w1 = np.array([[[0.5, -1.0], [2.0, 0.25]]])
    w2 = np.array([[1.5, -0.5]])
    x = np.array([[1.0, -2.0]])
    y = np.array([0.3])
    z = np.array([0.5 - 4.0, -1.0 - 0.5]) / math.sqrt(2)
    out = (np.tanh(math.sqrt(2) * z) @ w2[0]) / 2
    loss, _, _ = loss_and_grad(w1, w2, x, y, "tanh")
    assert loss[0] == pytest.approx((out - 0.3) ** 2, rel=1e-14)


def test_convergence_measure_follows_the_notebook():
    steps = 30
    falling = 4.0 * 0.5 ** np.arange(steps)
    rising = 2.0 * 3.0 ** np.arange(steps, dtype=float)
    blown = rising.copy()
    blown[10:] = np.nan
    measure, converged = convergence_measure(np.stack([falling, rising, blown]))
    assert converged.tolist() == [True, False, False]
    assert measure[0] == pytest.approx(-np.sum(0.5 ** np.arange(steps)))
    capped = np.minimum(3.0 ** np.arange(steps, dtype=float), CLIP)
    assert measure[1] == pytest.approx(np.sum(1 / capped))
    # NaN losses count as the cap, divided by the first loss, then capped again.
    expected = np.concatenate([np.minimum(3.0 ** np.arange(10, dtype=float), CLIP), np.full(20, CLIP / 2.0)])
    assert measure[2] == pytest.approx(np.sum(1 / expected))


def test_converged_is_the_mean_of_the_last_twenty():
    ok = np.concatenate([np.full(10, 1e3), np.full(20, 0.99)])
    not_ok = np.concatenate([np.full(10, 0.5), np.full(19, 0.99), [1.3]])
    _, converged = convergence_measure(np.stack([np.r_[1.0, ok[1:]], np.r_[1.0, not_ok[1:]]]))
    assert converged.tolist() == [True, False]


GRID = np.logspace(-2, 4, 9)


@pytest.mark.parametrize("nonlinearity,width", [("tanh", 3), ("relu", 2), ("identity", 2)])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_kernel_matches_numpy_reference_step_by_step(nonlinearity, width, steps):
    """Over the first steps every run's measure is the reference's to rounding, diverging
    runs included: the gradients and the update are the same arithmetic. (Width 2 has 6 data
    points: the kernel's passes over several points at once leave a remainder there.)"""
    net = Network(width, nonlinearity, seed=1)
    lr_out, lr_in = (a.ravel() for a in np.meshgrid(GRID, GRID, indexing="ij"))
    result = train_grid(net, lr_in, lr_out, steps)
    measure, converged = convergence_measure(train_reference(net, lr_in, lr_out, steps))
    np.testing.assert_array_equal(result["converged"], converged)
    np.testing.assert_allclose(result["measure"], measure, rtol=1e-12)


@pytest.mark.parametrize("nonlinearity,width", [("tanh", 3), ("relu", 2), ("identity", 2)])
def test_kernel_matches_numpy_reference_on_a_small_grid(nonlinearity, width):
    """Over 40 steps the classes agree everywhere on this grid; measures agree to 1e-9 except
    in a few chaotic runs where rounding differences grow (the kernel fuses multiply-adds
    and sums in another order than NumPy)."""
    net = Network(width, nonlinearity, seed=1)
    lr_out, lr_in = (a.ravel() for a in np.meshgrid(GRID, GRID, indexing="ij"))
    result = train_grid(net, lr_in, lr_out, 40)
    measure, converged = convergence_measure(train_reference(net, lr_in, lr_out, 40))
    assert np.array_equal(result["converged"], converged)
    close = np.isclose(result["measure"], measure, rtol=1e-9)
    assert close.mean() >= 0.95
    assert 0 < converged.mean() < 1  # the grid spans both classes


@pytest.mark.two_threads
def test_threads_do_not_change_a_bit_and_odd_sizes_are_padded():
    net = Network(3)
    lr = np.logspace(-1, 3, 13)  # not a multiple of the block
    one = train_grid(net, lr, lr[::-1].copy(), 25, n_threads=1)
    two = train_grid(net, lr, lr[::-1].copy(), 25, n_threads=2)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key])
    alone = train_grid(net, lr[5:6], lr[::-1][5:6].copy(), 25)
    assert alone["measure"][0] == one["measure"][5]


def test_dead_blocks_stop_early_with_the_same_answer():
    """Huge learning rates overflow in a step or two; the kernel then stops the block and
    adds the remaining steps' known values: same result as training them all."""
    net = Network(2)
    lr = np.full(8, 1e8)
    result = train_grid(net, lr, lr, 50)
    measure, converged = convergence_measure(train_reference(net, lr, lr, 50))
    assert not result["converged"].any() and not converged.any()
    np.testing.assert_allclose(result["measure"], measure, rtol=1e-12)


@pytest.mark.parametrize("bad,fragment", [({"width": 0}, "width 0"), ({"width": 25}, "width 25"), ({"nonlinearity": "sigmoid"}, "sigmoid"), ({"seed": -1}, "seed -1")])
def test_bad_network_settings(bad, fragment):
    with pytest.raises(NetworkError, match=fragment):
        Network(**bad)


@pytest.mark.parametrize("scale", [1e-300, 1e-8, 1e-3, 0.3, 1.0, 3.0, 15.0, 30.0])
def test_vectorized_tanh_is_within_four_ulp(scale):
    x = np.random.default_rng(0).standard_normal(20_000) * scale
    ours, exact = tanh_array(x), np.tanh(x)
    ulp = np.abs(ours - exact) / np.spacing(np.maximum(np.abs(exact), np.finfo(float).tiny))
    assert ulp.max() <= 4


def test_vectorized_tanh_special_values():
    values = tanh_array(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 20.0, -20.0, 1e300]))
    assert np.isnan(values[0])
    assert values[1:3].tolist() == [1.0, -1.0]
    assert math.copysign(1, values[3]) == 1 and math.copysign(1, values[4]) == -1
    assert values[5:].tolist() == [1.0, -1.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(st.floats(-40, 40))
def test_vectorized_tanh_property(x):
    assert abs(vtanh(x) - math.tanh(x)) <= 4 * math.ulp(math.tanh(x)) + 1e-300
    assert vtanh(-x) == -vtanh(x)
