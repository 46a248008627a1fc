"""Built-in losses, custom jitted losses, and what sweeps record about them."""

import math

import numba
import numpy as np
import pytest

from sweep import run_sweep
from sweep.problems.losses import BUILTIN_LOSSES, basin_of, custom, make_loss
from sweep.reference import reference_run


def test_double_well_basins_by_hand():
    # w1 = w0 - lr * 4 w0 (w0**2 - 1): from 2 at lr 0.1 the first step lands on -0.4,
    # on the other side of the maximum at 0, so the run ends in the left well.
    frame = run_sweep([0.01, 0.1], [-0.5, 0.0, 0.3, 2.0], loss="double-well", max_iter=10_000, tol=1e-12)
    basin = frame.set_index(["lr", "w0"])["basin"]
    assert basin[(0.1, 2.0)] == -1.0
    assert basin[(0.01, 2.0)] == 1.0
    assert basin[(0.1, 0.3)] == 1.0 and basin[(0.01, -0.5)] == -1.0
    assert math.isnan(basin[(0.1, 0.0)])  # converged at the maximum: no basin
    assert 2.0 - 0.1 * 4 * 2.0 * (2.0**2 - 1) == pytest.approx(-0.4)


def test_double_well_matches_reference_runs():
    lr = np.geomspace(1e-3, 0.6, 23)
    w0 = np.linspace(-2, 2, 17)
    frame = run_sweep(lr, w0, loss="double-well", max_iter=500, tol=1e-10)
    for row in frame.itertuples():
        expected = reference_run(row.lr, row.w0, lambda w: 4 * w * (w * w - 1), max_iter=500, tol=1e-10)
        assert (row.n_iter, row.outcome) == (expected[0], expected[2])
        assert row.w == pytest.approx(expected[1], rel=1e-12, abs=1e-12)


def test_basin_of_rules():
    loss = make_loss("double-well")
    basin = basin_of(loss, np.array([-1.0, 0.999, 0.6, 0.0, 5.0]), np.array([True, True, True, True, False]))
    assert basin[:3].tolist() == [-1.0, 1.0, 1.0]  # within half the gap between the minima
    assert np.isnan(basin[3:]).all()  # the maximum between them; a run that did not converge


@pytest.mark.parametrize("name", ["cosine", "cosine-mult"])
def test_cosine_families_have_a_ragged_boundary(name):
    # Liu (2024): past convexity the diverging learning rates are not one interval [lr*, inf):
    # along lr, a run that diverges has larger neighbours that do not.
    lr = np.linspace(0.3, 1.5, 400)
    frame = run_sweep(lr, np.linspace(-3, 5, 33), loss=name, max_iter=1000, tol=1e-9)
    ragged = []
    for w0, runs in frame.groupby("w0"):
        diverged = (runs.sort_values("lr")["outcome"] == "diverged").to_numpy()
        if np.count_nonzero(diverged[1:] != diverged[:-1]) >= 2:
            ragged.append(w0)
    assert len(ragged) >= 3
    if name == "cosine-mult":
        # the literal picture: a converging learning rate right next to a diverging one
        beside = 0
        for _, runs in frame.groupby("w0"):
            ended = runs.sort_values("lr")["outcome"].astype(str).to_numpy()
            pairs = set(zip(ended[:-1], ended[1:]))
            beside += ("converged", "diverged") in pairs or ("diverged", "converged") in pairs
        assert beside >= 3
    # and a quadratic, for contrast, has one edge for every w0 off the minimum
    plain = run_sweep(lr, np.linspace(-3, 5, 33), max_iter=1000, tol=1e-9)
    for _, runs in plain.groupby("w0"):
        diverged = (runs.sort_values("lr")["outcome"] == "diverged").to_numpy()
        assert np.count_nonzero(diverged[1:] != diverged[:-1]) <= 1


def test_builtin_defaults_and_parameters():
    one = {"quadratic", "cosine", "cosine-mult", "double-well"}
    several = {"rosenbrock", "beale", "himmelblau", "booth", "rastrigin", "ill-quadratic"}
    assert set(BUILTIN_LOSSES) == one | several
    assert {name for name, factory in BUILTIN_LOSSES.items() if factory().d == 1} == one
    assert dict(make_loss("cosine").params) == {"delta": 0.1, "lam": 0.5}
    assert dict(make_loss("cosine", {"delta": 0.2}).params) == {"delta": 0.2, "lam": 0.5}
    with pytest.raises(ValueError, match="has no parameter 'a'"):
        make_loss("cosine", {"a": 1.0})
    with pytest.raises(ValueError, match="parameters are none"):
        make_loss("double-well", {"a": 1.0})


@numba.njit
def _value(w, p):
    return (w - p[0]) ** 2 + 2.0


@numba.njit
def _grad(w, p):
    return 2 * (w - p[0])


def test_custom_jitted_loss_equals_builtin():
    lr, w0 = np.geomspace(1e-3, 3, 31), np.linspace(-2, 3, 21)
    mine = run_sweep(lr, w0, loss=custom(_value, _grad, name="mine", params={"c": 1.0}))
    builtin = run_sweep(lr, w0)
    for column in ("n_iter", "w", "loss", "grad", "outcome"):
        assert mine[column].equals(builtin[column]), column
    assert mine.attrs["config"]["loss"]["name"] == "mine"


def test_custom_rejects_plain_python():
    with pytest.raises(ValueError, match="must be a numba.njit function"):
        custom(lambda w, p: w, _grad)


@pytest.mark.parametrize("name", ["cosine", "cosine-mult"])
def test_lam_zero_is_refused(name):
    # 2*pi*w/lam at lam = 0 made every run NaN
    with pytest.raises(ValueError, match=rf"^{name} parameter lam=0 is not allowed: .*must be nonzero") as error:
        make_loss(name, {"lam": 0.0})
    assert "\n" not in str(error.value)
    assert dict(make_loss(name, {"lam": -0.5}).params)["lam"] == -0.5


def test_a_sweep_with_lam_zero_is_refused_before_it_runs():
    from sweep import SweepError
    from sweep.run.plan import plan_sweep

    with pytest.raises(SweepError, match="lam=0 is not allowed"):
        plan_sweep([0.1], [1.0], loss="cosine", params={"lam": 0.0})


def test_builtin_losses_print_in_the_formula_grammar():
    for name in BUILTIN_LOSSES:
        loss = make_loss(name)
        rebuilt = make_loss(loss.text(), dict(loss.params))
        assert rebuilt.expr == loss.expr and rebuilt.params == loss.params
    assert make_loss("cosine").expression() == "w**2 + 0.1*cos(4*pi*w)"
    assert make_loss("abs(w - c) + e*w", {"c": 1.5}).expression() == "e*w + abs(w - 1.5)"


def test_curvature_of_a_quadratic_formula():
    assert make_loss("a*(w - c)**2 + b", {"a": 0.1, "b": 2.0, "c": 1.0}).curvature() == 0.2
    assert make_loss("sqrt(2)*w**2").curvature() == 2 * math.sqrt(2)
    assert make_loss("w**2*sin(cosh(a))", {"a": 1e300}).curvature() is None  # not evaluated at 10**300 bits


def test_a_bare_name_is_a_typo_not_a_loss():
    from sweep.problems.formula import FormulaError

    with pytest.raises(FormulaError, match="did you mean 'rosenbrock'"):
        make_loss("rosenbrok")
    with pytest.raises(FormulaError, match="neither a built-in loss nor a model"):
        make_loss("nosuch")
    assert make_loss("w").text() == "w"  # the linear loss in w is still a formula
