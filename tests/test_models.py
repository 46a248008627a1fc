"""Models with a weight vector on real data: gradients, kernel, theory and input checks."""

import numpy as np
import pandas as pd
import pytest

from sweep import SweepError, run_sweep
from sweep.kernels.models import model_grad, model_loss
from sweep.outcomes import OUTCOMES
from sweep.problems.models import ModelError, make_model, scores
from sweep.run.executor import descend_runs


def _numeric_gradient(model, w, h=1e-6):
    grad = np.empty_like(w)
    for j in range(w.size):
        step = np.zeros_like(w)
        step[j] = h
        grad[j] = (model_loss(model.kind, w + step, model.X, model.y) - model_loss(model.kind, w - step, model.X, model.y)) / (2 * h)
    return grad


@pytest.mark.parametrize("name", ["mse-linear", "logloss-logistic"])
def test_gradient_equals_central_differences(name):
    model = make_model(name)
    H = 2.0 / model.n_samples * model.X.T @ model.X
    b = 2.0 / model.n_samples * model.X.T @ model.y
    rng = np.random.default_rng(1)
    for _ in range(3):
        w = rng.normal(0, 0.5, model.n_weights)
        g = np.empty_like(w)
        model_grad(model.kind, w, H, b, model.X, model.y, g)
        np.testing.assert_allclose(g, _numeric_gradient(model, w), rtol=1e-5, atol=1e-7)


def _reference(model, lr, w0, max_iter, tol, div_factor=1e8):
    """Plain NumPy full-batch descent with the kernel's rules, one run."""
    n = model.n_samples
    w = np.full(model.n_weights, w0)
    bound = div_factor * max(1.0, abs(w0))
    k = 0
    while True:
        if k & (k - 1) == 0:
            saved = w.copy()
        if model.kind == 0:
            g = 2.0 / n * model.X.T @ (model.X @ w - model.y)
        else:
            g = model.X.T @ (1 / (1 + np.exp(-(model.X @ w))) - model.y) / n
        if np.abs(g).max() <= tol:
            return k, "converged"
        if k == max_iter:
            return k, "max_iter"
        new = w - lr * g
        if not (np.abs(new) <= bound).all():
            return k + 1, "diverged"
        if (new == w).all():
            return k, "stalled"
        w = new
        if (w == saved).all():
            return k + 1, "cycling"
        k += 1


@pytest.mark.parametrize("name", ["mse-linear", "logloss-logistic"])
def test_kernel_matches_numpy_reference(name):
    model = make_model(name)
    lr = np.array([0.01, 0.1, 0.2, 0.3, 1.0, 5.0])
    w0 = np.array([-1.0, 0.0, 0.5, 2.0, -0.3, 1.0])
    result = descend_runs(lr, w0, model, 400, 1e-4, 1e8)
    for i in range(lr.size):
        n_iter, outcome = _reference(model, lr[i], w0[i], 400, 1e-4)
        assert OUTCOMES[result["outcome"][i]] == outcome
        assert abs(int(result["n_iter"][i]) - n_iter) <= 1  # summation order differs from BLAS
    assert np.isfinite(result["loss"][result["outcome"] != OUTCOMES.index("diverged")]).all()


def test_mse_stability_edge_is_two_over_l_within_one_cell():
    model = make_model("mse-linear")
    edge = 2.0 / model.curvature()
    lr = np.geomspace(edge / 2, edge * 2, 61)
    frame = run_sweep(lr, [-1.0, 0.5, 2.0], loss="mse-linear", max_iter=20_000, tol=1e-6)
    assert frame.attrs["config"]["loss"]["theory"]["stability_lr"] == pytest.approx(edge)
    for _, runs in frame.groupby("w0"):
        runs = runs.sort_values("lr")
        diverged = (runs["outcome"] == "diverged").to_numpy()
        first = int(np.argmax(diverged))
        assert diverged[first:].all() and not diverged[:first].any()  # one edge
        above = int(np.searchsorted(lr, edge))  # first grid lr above 2/L
        assert abs(first - above) <= 1


def test_scores_are_what_a_user_expects():
    model = make_model("logloss-logistic")
    from sklearn.linear_model import LogisticRegression

    fitted = LogisticRegression(C=1e6, max_iter=5000).fit(model.X[:, :-1], model.y)
    W = np.append(fitted.coef_[0], fitted.intercept_)[None, :]
    assert scores(model, W)[0] == pytest.approx(fitted.score(model.X[:, :-1], model.y))
    regression = make_model("mse-linear")
    exact = np.linalg.lstsq(regression.X, regression.y, rcond=None)[0]
    assert scores(regression, exact[None, :])[0] == pytest.approx(0.5177, abs=1e-3)  # diabetes OLS R^2
    assert np.isnan(scores(regression, np.full((1, regression.n_weights), np.inf))[0])


def test_log_loss_theory_is_per_w0():
    model = make_model("logloss-logistic")
    theory = model.theory([0.0, 1.0])
    assert set(theory["stability_lr_by"]["values"]) == {0.0, 1.0} and theory["stability_lr_by"]["axis"] == "w0"
    # at w = 0 every p is 1/2, so the Hessian is X^T X / (4 n)
    assert theory["stability_lr_by"]["values"][0.0] == pytest.approx(2 / np.linalg.eigvalsh(model.X.T @ model.X / (4 * model.n_samples))[-1])
    # Where the sigmoid saturates (L is 0: no rate is bounded) or X w overflows (no L in
    # floats), a start has no bound, rather than a division by zero or a NaN
    far = model.theory([0.0, 1e5, -1e308])["stability_lr_by"]["values"]
    assert set(far) == {0.0}
    assert run_sweep([0.1], [1e5], loss="logloss-logistic", max_iter=10).loc[0, "outcome"] in ("stalled", "max_iter")


def test_csv_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 2))
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([x, (x[:, 0] > 0).astype(float)]), delimiter=",", header="a,b,label", comments="")
    frame = run_sweep([0.5], [0.0], loss="logloss-logistic", dataset=str(path), target="label", max_iter=500)
    assert frame.loc[0, "accuracy"] > 0.9
    with pytest.raises(SweepError, match="target column 'nope'"):
        run_sweep([0.5], [0.0], loss="logloss-logistic", dataset=str(path), target="nope")
    with pytest.raises(SweepError, match="needs --target"):
        run_sweep([0.5], [0.0], loss="mse-linear", dataset=str(path))
    with pytest.raises(SweepError, match="needs a 0/1 target"):
        run_sweep([0.5], [0.0], loss="logloss-logistic", dataset=str(path), target="a")
    with pytest.raises(SweepError, match="neither diabetes nor breast-cancer"):
        run_sweep([0.5], [0.0], loss="mse-linear", dataset="iris")
    with pytest.raises(SweepError, match="belong to the models"):
        run_sweep([0.5], [0.0], dataset="diabetes")
    with pytest.raises(ModelError, match="unknown model"):
        make_model("svm")


@pytest.mark.two_threads
def test_the_memory_check_counts_every_workers_scratch_arrays():
    import re

    from sweep.kernels.generator import kernel_source
    from sweep.run.executor import kernel_spec, memory_bytes, model_lanes
    from sweep.run.plan import plan_sweep

    one = plan_sweep([0.1], [0.0], loss="logloss-logistic", n_threads=1)
    two = plan_sweep([0.1], [0.0], loss="logloss-logistic", n_threads=2)
    scratch = len(re.findall(r"np\.zeros\(\(n_samples, B\)\)", kernel_source(kernel_spec(one))))
    assert scratch >= 2
    per_worker = scratch * one.problem.n_samples * model_lanes(one.problem) * 8
    assert memory_bytes(two) - memory_bytes(one) == per_worker


def test_block_kernels_take_lanes_in_the_register_forms_groups():
    """The register form of H W sums LANE_SPLIT lanes per iteration: every model's lane count
    must be a multiple, and a spec with another count is refused rather than leaving lanes
    unsummed."""
    import dataclasses

    from sweep.kernels.generator import LANE_SPLIT, kernel_source
    from sweep.run.executor import kernel_spec, model_lanes
    from sweep.run.plan import plan_sweep

    plan = plan_sweep([0.1], [0.0], loss="mse-linear", n_threads=1)
    spec = kernel_spec(plan)
    assert spec.lanes == model_lanes(plan.problem) and spec.lanes % LANE_SPLIT == 0
    assert f"range(B // {LANE_SPLIT})" in kernel_source(spec)
    with pytest.raises(ValueError, match="lanes=30: a block kernel takes a multiple of 4"):
        kernel_source(dataclasses.replace(spec, lanes=30))


@pytest.mark.two_threads
def test_mse_workers_hold_no_sample_sized_scratch():
    from sweep.kernels.generator import kernel_source
    from sweep.run.executor import kernel_spec, memory_bytes
    from sweep.run.plan import plan_sweep

    one = plan_sweep([0.1], [0.0], loss="mse-linear", n_threads=1)
    two = plan_sweep([0.1], [0.0], loss="mse-linear", n_threads=2)
    assert "np.zeros((n_samples, B))" not in kernel_source(kernel_spec(one))
    assert memory_bytes(two) == memory_bytes(one)


@pytest.mark.parametrize("n_features", [19, 27])
def test_every_inline_form_of_the_mse_product_gives_the_kernels_bits(tmp_path, n_features):
    """Up to REGISTER_SUM_MAX weights H w is summed in registers, up to INLINE_PRODUCT_MAX
    into the gradient array: both add H[j, q] w_q in the order q = 0, 1, ..., so a plain loop
    in that order, with the kernel's stops, must give the same n_iter and the same weights."""
    from sweep.problems.code import INLINE_PRODUCT_MAX, REGISTER_SUM_MAX
    from sweep.problems.models import make_model
    from sweep.run.executor import model_data

    d = n_features + 1
    assert (d <= REGISTER_SUM_MAX) == (n_features == 19) and d <= INLINE_PRODUCT_MAX
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, n_features))
    y = x @ rng.normal(size=n_features) + 0.1 * rng.normal(size=60)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header=",".join([f"x{i}" for i in range(n_features)] + ["y"]), comments="")
    model = make_model("mse-linear", dataset=str(path), target="y")
    _, _, H, b, _ = model_data(model)
    lr = np.array([0.002, 0.05, 0.1, 0.2])
    w0 = np.array([0.5, -1.0, 0.0, 2.0])
    max_iter, tol = 400, 1e-2
    result = descend_runs(lr, w0, model, max_iter, tol, 1e8)
    for i in range(lr.size):
        w = np.full(d, w0[i])
        for k in range(max_iter + 1):
            g = np.zeros(d)
            for q in range(d):
                g = g + H[:, q] * w[q]
            g = g - b
            if np.abs(g).max() <= tol or k == max_iter:
                break
            w = w - lr[i] * g
        assert OUTCOMES[result["outcome"][i]] == ("max_iter" if k == max_iter else "converged")
        assert int(result["n_iter"][i]) == k
        np.testing.assert_array_equal(result["W"][i], w)
    assert {OUTCOMES[o] for o in result["outcome"]} == {"converged", "max_iter"}


@pytest.mark.parametrize("dynamics", [True, False])
@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_the_block_kernels_counted_tests_end_every_run_as_the_reference(tmp_path, optimizer, dynamics):
    """The block kernel counts the weights failing each test in the digits of two floats
    (COUNT_BASE): every outcome must still come out where the reference's plain tests put it.
    Two features correlated -0.95 make H[0, 1] close to -2, so from w0 = 1e308 (div_factor
    1e300 leaves the bound at the largest float) H w is inf - inf: a NaN gradient, in the
    same step as infinite ones; tol = 0 over 3000 steps stalls and cycles runs at the bottom;
    lr = 1e-30 stalls at once and lr >= 1 diverges."""
    from sweep.reference import optimizer_run
    from sweep.run.executor import descend, model_data
    from sweep.run.plan import plan_sweep

    rng = np.random.default_rng(1)
    a = rng.normal(size=40)
    b = -0.95 * a + 0.3 * rng.normal(size=40)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([a, b, 0.5 * a - 0.2 * b + 0.1 * rng.normal(size=40)]), delimiter=",", header="a,b,y", comments="")
    lr, w0 = [1e-30, 1e-3, 0.2, 0.5, 0.9, 1.0, 1.2], [-0.5, 0.3, 1e308]
    max_iter, div_factor = 3000, 1e300
    plan = plan_sweep(lr, w0, loss="mse-linear", dataset=str(path), target="y", optimizer=optimizer, max_iter=max_iter, tol=0.0, div_factor=div_factor, dynamics=dynamics)
    values = plan.values_of(0, plan.n_runs)
    result = descend(plan, values)
    _, _, H, b_, _ = model_data(plan.problem)
    rows, shift = H.tolist(), b_.tolist()

    def grad(w):  # H w - b summed as the kernel sums it, q = 0, 1, ...
        out = []
        for row, b_j in zip(rows, shift):
            total = 0.0
            for h, w_q in zip(row, w):
                total += h * w_q
            out.append(total - b_j)
        return tuple(out)

    with np.errstate(over="ignore", invalid="ignore"):
        for i, (rate, start) in enumerate(zip(values["lr"], values["w0"])):
            n_iter, w, outcome = optimizer_run(optimizer, rate, [start] * 3, grad, {}, max_iter, 0.0, div_factor)
            assert (int(result["n_iter"][i]), OUTCOMES[result["outcome"][i]]) == (n_iter, outcome), (rate, start)
            assert tuple(result["W"][i]) == w, (rate, start)
    found = {OUTCOMES[code] for code in result["outcome"]}
    assert {"stalled", "nan", "max_iter", "cycling", "diverged"} <= found, found
    assert optimizer != "gd" or "converged" in found


@pytest.mark.parametrize(("name", "start", "ends"), [("mse-linear", 1e155, {"max_iter"}), ("logloss-logistic", 1e308, {"stalled"})])
def test_a_loss_that_overflows_ends_runs_as_without_the_loss(name, start, ends):
    """From w0 = 1e155 the MSE loss, summed as w.(H w / 2 - b), is inf - inf, and from 1e308
    the log loss's softplus(z) - y z is too (X w overflows): NaN, where the loss itself is
    +inf, while the gradient is finite. A run ends the same with the loss tracked (the
    dynamics) or not: only a NaN gradient ends it as nan."""
    lr, w0 = [1e-3, 0.1], [-start, start, 0.5]
    settings = {"loss": name, "max_iter": 100, "tol": 1e-8, "div_factor": 1e300}
    with_loss, without = run_sweep(lr, w0, dynamics=True, **settings), run_sweep(lr, w0, dynamics=False, **settings)
    for column in ("n_iter", "outcome", "oscillated", "regime", "loss", "grad"):
        assert with_loss[column].equals(without[column]), column
    assert set(with_loss.loc[with_loss["w0"].abs() == start, "outcome"].astype(str)) == ends
    if start == 1e155:  # the squares overflow; the norm, about 3.3e155, need not
        assert np.isfinite(with_loss["w_norm"]).all() and with_loss["w_norm"].max() > 1e155


def test_a_dataset_wider_than_the_kernels_counts_is_one_clear_error(tmp_path, monkeypatch):
    from sweep.kernels.generator import COUNT_BASE
    from sweep.problems import models

    assert models.MAX_FEATURES + 1 == COUNT_BASE - 1  # the widest model's weights, intercept included
    monkeypatch.setattr(models, "MAX_FEATURES", 2)
    path = tmp_path / "wide.csv"
    path.write_text("a,b,c,y\n1,2,3,4\n2,1,0,5\n")
    with pytest.raises(SweepError) as error:
        run_sweep([0.1], [0.0], loss="mse-linear", dataset=str(path), target="y")
    assert str(error.value) == f"{str(path)!r} has 3 feature columns; at most 2 are supported (choose some with --features a,b,c)"
    assert len(run_sweep([0.1], [0.0], loss="mse-linear", dataset=str(path), target="y", features=("a", "b"))) == 1


def test_r2_from_the_runs_losses_is_r2_from_their_predictions():
    from sweep.kernels.models import evaluate_model
    from sweep.run.executor import model_data

    model = make_model("mse-linear")
    rng = np.random.default_rng(0)
    W = rng.normal(size=(300, model.n_weights)) * 10
    W[3, 2], W[4, 0] = np.inf, np.nan
    X, y, H, b, _ = model_data(model)
    loss, grad = np.empty(300), np.empty(300)
    evaluate_model(0, W, H, b, X, y, loss, grad)
    direct, from_loss = scores(model, W), scores(model, W, loss)
    assert np.isnan(direct[[3, 4]]).all() and np.isnan(from_loss[[3, 4]]).all()
    np.testing.assert_allclose(from_loss, direct, rtol=1e-12, atol=1e-12)
    assert np.nanmax(direct) < 0.99 and np.nanmin(direct) < -10  # far from the fit: real work for R^2


@pytest.mark.parametrize("text", ["a,y\n", "a,y\n1,2\n"])
def test_a_csv_with_fewer_than_two_rows_is_one_clear_error(tmp_path, text):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ModelError, match="has fewer than 2 rows"):
        make_model("mse-linear", str(path), "y")


@pytest.mark.parametrize("model", ["mse-linear", "logloss-logistic"])
def test_a_model_without_dynamics_skips_the_loss_and_leaves_out_its_columns(model):
    """Without dynamics (and without noise) a model's kernel never computes the loss along
    the run: the runs end where they end with it, and the columns read from that loss are
    left out rather than filled with zeros."""
    from sweep.kernels.generator import kernel_source
    from sweep.run.executor import LOSS_DYNAMICS, kernel_spec
    from sweep.run.plan import plan_sweep

    lr, w0 = np.geomspace(1e-3, 2.0, 12), [-1.0, 0.0, 0.5]
    with_dynamics = run_sweep(lr, w0, loss=model, max_iter=300, tol=1e-6)
    without = run_sweep(lr, w0, loss=model, max_iter=300, tol=1e-6, dynamics=False)
    assert set(LOSS_DYNAMICS) <= set(with_dynamics.columns) and not set(LOSS_DYNAMICS) & set(without.columns)
    # (a kernel that skipped the loss wrote 0; the final loss is summed in another order)
    assert (with_dynamics["loss_max"] >= with_dynamics["loss"] * (1 - 1e-12)).all()
    for column in ("n_iter", "outcome", "w_norm", "loss", "grad"):
        pd.testing.assert_series_equal(with_dynamics[column], without[column])
    source = kernel_source(kernel_spec(plan_sweep(lr, w0, loss=model, dynamics=False)))
    assert "V[l0] +=" not in source and "V[lane] +=" not in source
