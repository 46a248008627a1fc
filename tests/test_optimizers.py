"""Optimizers: identities that pin them to gd, a table against plain references, theory."""


import numpy as np
import pytest

from sweep import SweepError, run_sweep
from sweep.optim.optimizers import OPTIMIZERS, heavy_ball_edge, nesterov_edge
from sweep.reference import optimizer_run

LR = np.geomspace(1e-3, 3, 37)
W0 = np.linspace(-2, 3, 11)


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov"])
@pytest.mark.parametrize("loss", ["quadratic", "cosine", "mse-linear"])
@pytest.mark.parametrize("tol", [1e-10, 0.0])
def test_zero_momentum_is_gd_bit_for_bit(optimizer, loss, tol):
    # tol 0 makes many runs stall and some cycle: those tests must fire at the same update too
    lr = np.append(LR, 1.0) if loss != "mse-linear" else np.geomspace(1e-3, 0.5, 9)
    w0 = np.linspace(-2, 3, 41) if loss != "mse-linear" else W0[:5]
    gd = run_sweep(lr, w0, loss=loss, max_iter=500, tol=tol)
    other = run_sweep(lr, w0, loss=loss, max_iter=500, tol=tol, optimizer=optimizer, hyper={"momentum": 0.0})
    if loss == "quadratic" and tol == 0.0:
        assert {"stalled", "cycling"} <= set(gd["outcome"])
    for column in gd.columns:
        assert other[column].equals(gd[column]), column


def test_adam_first_step_has_size_lr():
    frame = run_sweep([0.01, 0.1, 0.5], [-2.0, 0.3, 3.0], optimizer="adam", max_iter=1)
    step = (frame["w"] - frame["w0"]).abs()
    # |m_hat| / sqrt(v_hat) = |g| / |g| = 1 at t = 1, up to eps / |g|
    assert step.to_numpy() == pytest.approx(frame["lr"].to_numpy(), rel=1e-7)


GRADIENTS = {"quadratic": lambda w: 2 * (w - 1), "double-well": lambda w: 4 * w * (w * w - 1)}


HYPER = {"momentum": {"momentum": 0.5}, "nesterov": {"momentum": 0.5}, "adamw": {"weight_decay": 0.1}, "lion": {"weight_decay": 0.05}}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("loss", list(GRADIENTS))
def test_optimizer_table_against_plain_python(optimizer, loss):
    hyper = HYPER.get(optimizer, {})
    frame = run_sweep(np.geomspace(1e-3, 2, 13), [-1.5, 0.25, 2.0], loss=loss, optimizer=optimizer, hyper=hyper, max_iter=400, tol=1e-9)
    outcomes = set()
    for row in frame.itertuples():
        n_iter, (w,), outcome = optimizer_run(optimizer, row.lr, row.w0, GRADIENTS[loss], hyper, 400, 1e-9)
        assert (row.n_iter, row.w, row.outcome) == (n_iter, w, outcome), (row.lr, row.w0)
        outcomes.add(outcome)
    # the grid reaches more than one ending (weight decay and Lion's sign steps never rest)
    assert len(outcomes) >= 2 or optimizer in ("adamw", "lion")


def test_adamw_without_decay_is_adam_and_lion_steps_by_lr():
    lr, w0 = np.geomspace(1e-3, 1, 11), [-1.5, 0.5, 2.5]
    adam = run_sweep(lr, w0, optimizer="adam", max_iter=300, tol=1e-9)
    adamw = run_sweep(lr, w0, optimizer="adamw", hyper={"weight_decay": 0.0}, max_iter=300, tol=1e-9)
    for column in ("n_iter", "w", "loss", "outcome"):
        assert adamw[column].equals(adam[column]), column
    # Lion's direction is a sign: its first step moves every weight by lr toward the minimum
    # at w = 1 (computed as w0 -/+ lr, rounded once)
    lion = run_sweep([0.01, 0.1, 0.25], [-2.0, 3.0], optimizer="lion", max_iter=1)
    expected = np.where(lion["w0"] < 1, lion["w0"] + lion["lr"], lion["w0"] - lion["lr"])
    assert (lion["w"] == expected).all() and (lion["n_iter"] == 1).all()


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_every_optimizer_trains_the_real_data_model(optimizer):
    frame = run_sweep([0.01, 0.05], [0.0], loss="mse-linear", optimizer=optimizer, max_iter=3000, tol=1e-4)
    assert (frame["r2"] > 0.45).all()  # the least-squares R^2 of the diabetes data is 0.518


def test_heavy_ball_region_within_one_grid_cell():
    momentum = np.linspace(0.0, 0.9, 10)
    lr = np.geomspace(0.2, 4.0, 121)
    frame = run_sweep(lr, [2.0], optimizer="momentum", hyper={"momentum": momentum}, max_iter=20_000, tol=1e-8)
    for beta, runs in frame.groupby("momentum"):
        runs = runs.sort_values("lr")
        edge = heavy_ball_edge(2.0, beta)  # the teaching loss has L = 2
        stable = runs["outcome"].isin(["converged", "stalled"]).to_numpy()
        first_unstable = int(np.argmin(stable))
        assert stable[:first_unstable].all() and not stable[first_unstable:].any()
        assert abs(first_unstable - int(np.searchsorted(lr, edge))) <= 1, beta


def test_nesterov_edge_is_checked_too():
    lr = np.geomspace(0.2, 2.0, 121)
    frame = run_sweep(lr, [2.0], optimizer="nesterov", hyper={"momentum": [0.5]}, max_iter=20_000, tol=1e-8)
    stable = frame.sort_values("lr")["outcome"].isin(["converged", "stalled"]).to_numpy()
    assert abs(int(np.argmin(stable)) - int(np.searchsorted(lr, nesterov_edge(2.0, 0.5)))) <= 1


def test_regimes_on_hand_checked_runs():
    # gd on (w-1)**2 + 2 from w0 = 2: lr 0.25 halves the error each step (monotone), lr 0.5
    # lands on the minimum at once (one-step), lr 0.75 flips its sign each step
    # (oscillating), lr 1.5 diverges; momentum 0.9 at lr 0.1 overshoots and rings.
    frame = run_sweep([0.25, 0.5, 0.75, 1.5], [2.0], max_iter=10_000, tol=1e-12).set_index("lr")
    assert frame["regime"].astype(str).to_dict() == {0.25: "monotone", 0.5: "one-step", 0.75: "oscillating", 1.5: "divergent"}
    assert frame.loc[0.75, "oscillated"] and not frame.loc[0.25, "oscillated"]
    rung = run_sweep([0.1], [2.0], optimizer="momentum", hyper={"momentum": 0.9}, max_iter=10_000, tol=1e-12)
    assert rung.loc[0, "regime"] == "oscillating"


def test_swept_hyperparameters_are_columns_and_fixed_ones_config():
    frame = run_sweep([0.1], [1.5], optimizer="adam", hyper={"b1": [0.5, 0.9], "eps": 1e-6})
    assert "b1" in frame.columns and "b2" not in frame.columns and len(frame) == 2
    config = frame.attrs["config"]
    assert config["optimizer"] == "adam" and config["axes"]["b2"] == [0.999] and config["axes"]["eps"] == [1e-6]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"optimizer": "sgd2"}, "optimizers are gd, momentum"),
        ({"optimizer": "momentum", "hyper": {"momentum": 1.0}}, "momentum=1.0 is not allowed: momentum must lie in [0, 1)"),
        ({"optimizer": "adam", "hyper": {"eps": 0.0}}, "eps must lie in (0, inf)"),
        ({"optimizer": "gd", "hyper": {"momentum": 0.5}}, "momentum is not a hyperparameter of gd"),
        ({"optimizer": "adam", "hyper": {"rho": 0.5}}, "it belongs to rmsprop"),
    ],
)
def test_bad_optimizer_input(kwargs, fragment):
    with pytest.raises(SweepError) as error:
        run_sweep([0.1], [1.0], **kwargs)
    assert fragment in str(error.value)
