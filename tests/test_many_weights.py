"""Losses of several weights: built-ins and formulas, their derivatives, the kernel against the
plain-Python reference, the stops, the theory edges, Himmelblau's basins and ``sweep compare``."""

import json
import math

import numpy as np
import pytest

import sweep
from sweep.cli import main
from sweep.errors import SweepError
from sweep.kernels import trig
from sweep.optim.optimizers import OPTIMIZERS
from sweep.problems.code import problem_code
from sweep.problems.formula import FormulaError
from sweep.problems.losses import BUILTIN_LOSSES, HIMMELBLAU_MINIMA, MAX_WEIGHTS, basin_of, make_loss, weight_order
from sweep.reference import optimizer_run
from sweep.run.plan import plan_sweep

SEVERAL = [name for name, factory in BUILTIN_LOSSES.items() if factory().d > 1]


def _printed(loss):
    """The kernel's own value, gradient and Hessian code of a loss, as Python functions of a
    point (the code the generator puts in the kernel, run here by the interpreter)."""
    code = problem_code(loss)
    scope = {"math": math, "vsin": trig.vsin, "vcos": trig.vcos}
    params = {f"p_{i}": value for i, (_, value) in enumerate(loss.params)}

    def run(text, point):
        return eval(text, scope, {**params, **{f"w_{j}": x for j, x in enumerate(point)}})  # our own printed code

    return code, run


@pytest.mark.parametrize("name", SEVERAL + ["0.5*(x**2 + k*y**2) + sin(x*y)"])
def test_gradient_and_hessian_of_every_builtin_match_finite_differences(name):
    loss = make_loss(name, {"k": 10.0} if "*" in name else None)
    code, run = _printed(loss)
    d = loss.d
    rng = np.random.default_rng(0)
    h = 1e-5
    def f(p):
        return run(code.value, p)

    def g(p):
        return np.array([run(t, p) for t in code.grads])

    for point in rng.uniform(-2, 2, size=(5, d)):
        grad = np.array([run(g, point) for g in code.grads])
        numeric = np.array([(f(point + h * e) - f(point - h * e)) / (2 * h) for e in np.eye(d)])
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-5 * max(1.0, np.abs(grad).max()))
        # the Hessian's upper triangle, row by row, against differences of the gradient
        entries = iter(run(text, point) for text in code.hessian)
        H = np.zeros((d, d))
        for i in range(d):
            for j in range(i, d):
                H[i, j] = H[j, i] = next(entries)
        numeric_H = np.array([(g(point + h * e) - g(point - h * e)) / (2 * h) for e in np.eye(d)])
        np.testing.assert_allclose(H, numeric_H, rtol=1e-5, atol=1e-4 * max(1.0, np.abs(H).max()))


def test_builtins_know_their_minima_and_weights():
    for name in SEVERAL:
        loss = make_loss(name)
        assert loss.weight_names == (("x", "y") if loss.d == 2 and name not in ("rastrigin", "ill-quadratic") else tuple(f"w{i}" for i in range(1, loss.d + 1)))
        for point in loss.minima:
            value, grad = loss.evaluate(point)
            assert grad < 1e-9 and value == pytest.approx(loss.best_value(), abs=1e-12), (name, point)
    assert make_loss("rastrigin", {"d": 5}).d == 5 and make_loss("ill-quadratic", {"d": 4, "kappa": 100.0}).theory() == pytest.approx({"best_lr": 2 / 101, "stability_lr": 2 / 100})
    assert len(HIMMELBLAU_MINIMA) == 4


def _rosenbrock_grad(w):
    x, y = w
    return (-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x))


def _himmelblau_grad(w):
    x, y = w
    return (4 * x * (x * x + y - 11) + 2 * (x + y * y - 7), 2 * (x * x + y - 11) + 4 * y * (x + y * y - 7))


REFERENCE = {
    "rosenbrock": (_rosenbrock_grad, [1e-4, 1e-3, 2e-3], ([-1.5, 0.0, 1.2], [-0.5, 2.0])),
    "himmelblau": (_himmelblau_grad, [1e-3, 0.01, 0.02], ([-4.0, 0.5, 3.5], [-3.0, 1.0])),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("name", list(REFERENCE))
def test_the_kernel_on_two_builtins_is_the_reference_for_every_optimizer(name, optimizer):
    grad, lrs, (xs, ys) = REFERENCE[name]
    hyper = {"adamw": {"weight_decay": 0.1}, "lion": {"weight_decay": 0.05}}.get(optimizer, {})
    frame = sweep.run_sweep(lrs, {"x": xs, "y": ys}, loss=name, optimizer=optimizer, hyper=hyper, max_iter=40, tol=1e-9)
    assert list(frame.columns[:3]) == ["lr", "x0", "y0"] and {"x", "y", "grad"} <= set(frame.columns)
    # a basin tells several minima apart: Himmelblau's four, not Rosenbrock's one
    assert ("basin" in frame.columns) == (name == "himmelblau")
    for row in frame.itertuples():
        n_iter, w, outcome = optimizer_run(optimizer, row.lr, [row.x0, row.y0], grad, hyper, 40, 1e-9)
        assert (row.n_iter, str(row.outcome)) == (n_iter, outcome), (row.lr, row.x0, row.y0)
        if outcome != "diverged":
            # sympy's arrangement of the gradient against the hand-written one: equal to rounding
            np.testing.assert_allclose([row.x, row.y], w, rtol=1e-8, atol=1e-10)
        value, norm = make_loss(name).evaluate([row.x, row.y])
        if np.isfinite(value) and outcome != "diverged":
            assert row.loss == pytest.approx(value, rel=1e-9, abs=1e-12) and row.grad == pytest.approx(norm, rel=1e-6, abs=1e-9)


def test_the_quadratic_of_curvature_ten_converges_below_its_edges():
    # 0.5*(x**2 + k*y**2), k = 10: L = 10, mu = 1. GD converges iff lr < 2/L = 0.2; the heavy
    # ball with momentum 0.5 iff lr*L < 2 + 2*0.5, lr < 0.3 (Polyak 1964).
    lrs = np.array([0.05, 0.1, 0.15, 0.19, 0.199, 0.201, 0.21, 0.25, 0.29, 0.299, 0.301, 0.32, 0.4])
    starts = {"x": [-1.0, 2.0], "y": [-1.5, 1.0]}
    for optimizer, edge, hyper in (("gd", 0.2, None), ("momentum", 0.3, {"momentum": 0.5})):
        frame = sweep.run_sweep(lrs, starts, loss="0.5*(x**2 + k*y**2)", params={"k": 10.0}, optimizer=optimizer, hyper=hyper, max_iter=20000, tol=1e-10)
        converged = frame.groupby("lr")["outcome"].apply(lambda o: (o == "converged").all())
        diverged = frame.groupby("lr")["outcome"].apply(lambda o: (o == "diverged").all())
        assert converged[lrs < edge].all() and diverged[lrs > edge].all(), (optimizer, frame[["lr", "outcome"]])
        theory = frame.attrs["config"]["loss"]["theory"]
        assert theory["stability_lr"] == pytest.approx(edge)


def test_himmelblau_runs_end_at_its_four_minima_and_every_basin_appears():
    side = np.linspace(-5, 5, 41)
    frame = sweep.run_sweep([0.005], {"x": side, "y": side}, loss="himmelblau", max_iter=5000, tol=1e-9)
    converged = frame[frame["outcome"] == "converged"]
    assert len(converged) > 0.9 * len(frame)
    ends = converged[["x", "y"]].to_numpy()
    distance = np.sqrt(((ends[:, None, :] - np.array(HIMMELBLAU_MINIMA)[None]) ** 2).sum(axis=2))
    assert (distance.min(axis=1) < 1e-6).all()
    assert set(converged["basin"].astype(int)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(converged["basin"].to_numpy(), distance.argmin(axis=1))


def test_stops_in_several_weights():
    # diverged: once the largest coordinate passes div_factor * max(1, largest |w0|)
    frame = sweep.run_sweep([0.3], {"x": [0.5], "y": [3.0]}, loss="0.5*(x**2 + k*y**2)", params={"k": 10.0}, max_iter=100, div_factor=10.0)
    # y_k = 3 * (1 - 0.3*10)**k = 3 * (-2)**k passes 10 * 3 = 30 first at k = 4 (48)
    assert (str(frame["outcome"][0]), int(frame["n_iter"][0]), float(frame["y"][0])) == ("diverged", 4, 48.0)
    # converged only when every component is within tol: x is at its minimum from the start
    frame = sweep.run_sweep([0.1], {"x": [0.0], "y": [1.0]}, loss="0.5*(x**2 + k*y**2)", params={"k": 10.0}, max_iter=1000, tol=1e-6)
    y_k = [1.0]
    while abs(10 * y_k[-1]) > 1e-6:
        y_k.append(y_k[-1] - 0.1 * 10 * y_k[-1])
    assert str(frame["outcome"][0]) == "converged"
    # with lr*k = 1 exactly, y reaches 0 in one step
    assert int(frame["n_iter"][0]) == len(y_k) - 1 == 1


def test_formulas_in_several_weights():
    loss = make_loss("(x - a)**2 + w10*y + w2**2", {"a": 1.0})
    assert loss.weight_names == ("w2", "w10", "x", "y") == tuple(weight_order(["y", "x", "w10", "w2"]))
    # one weight under another name is the one-weight loss in w
    assert make_loss("(z - 1)**2 + 2").text() == make_loss("(w - 1)**2 + 2").text()
    # every name with a value and no w: a loss of w that does not depend on it, as before
    assert make_loss("a*b", {"a": 1.0, "b": 2.0}).weight_names == ("w",)
    many = " + ".join(f"v{i}**2" for i in range(MAX_WEIGHTS + 1))
    with pytest.raises(FormulaError, match=f"more than the {MAX_WEIGHTS} the kernel supports"):
        make_loss(many)
    # a formula's text in sweep.json rebuilds the same loss
    assert make_loss(loss.text(), dict(loss.params)) == loss


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"w0": [0.0, 1.0]}, "give one axis per weight"),
        ({"w0": {"x": [0.0], "z": [1.0]}}, "does not have"),
        ({"w0": {"x": [0.0]}, "loss": "(x-1)**2 + y**2"}, "no start for the weight 'y'"),
        ({"w0": {"w": [0.0]}, "loss": "quadratic"}, "one weight"),
        ({"w0": None, "loss": "rastrigin", "params": {"d": [2, 3]}}, "cannot be an axis"),
        ({"w0": None, "loss": "rastrigin", "params": {"d": 40}}, "whole number in 2..16"),
        ({"w0": None, "loss": "ill-quadratic", "params": {"kappa": 0.5}}, "condition number"),
        # a weight's end is a column: it may not take another column's name
        ({"w0": {"lr": [2.0], "x": [1.0], "y": [1.0]}, "loss": "x**2 + lr*y**2"}, "weight named 'lr'"),
        ({"w0": {"x": [1.0], "x0": [2.0], "y": [1.0]}, "loss": "x**2 + x0*y**2"}, "weight named 'x0'"),
        ({"w0": {"loss": [1.0], "grad": [1.0]}, "loss": "loss**2 + grad**2"}, "weight named 'grad'"),
    ],
)
def test_bad_starts_and_shapes_are_one_line(kwargs, message):
    kwargs = {"loss": "rosenbrock", **kwargs}
    with pytest.raises(SweepError, match=message):
        plan_sweep([0.1], kwargs.pop("w0"), **kwargs)


def test_the_basin_of_several_weights_is_the_index_of_the_minimum():
    loss = make_loss("himmelblau")
    ends = np.array([[3.0, 2.0], [-2.8051, 3.1313], [0.0, 0.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(basin_of(loss, ends, np.array([True, True, True, True])), [0.0, 1.0, np.nan, np.nan])
    np.testing.assert_array_equal(basin_of(loss, ends, np.array([False, True, True, True])), [np.nan, 1.0, np.nan, np.nan])


def test_an_lr_by_kappa_sweep_records_the_edge_for_each_kappa(tmp_path):
    kappas = [1.0, 10.0, 100.0]
    frame = sweep.run_sweep(np.geomspace(1e-3, 3, 25), None, loss="ill-quadratic", params={"kappa": kappas}, max_iter=3000, tol=1e-8)
    by = frame.attrs["config"]["loss"]["theory"]["stability_lr_by"]
    assert by["axis"] == "kappa" and by["values"] == pytest.approx({k: 2 / k for k in kappas})
    for kappa, runs in frame.groupby("kappa"):
        assert (runs.loc[runs["lr"] > 2 / kappa * 1.01, "outcome"] == "diverged").all()
        assert (runs.loc[runs["lr"] < 2 / kappa * 0.99, "outcome"] != "diverged").all()


def test_sweep_run_report_and_compare_on_a_plane_of_starts(tmp_path, capsys):
    out = tmp_path / "basins"
    code = main(["run", "--loss", "himmelblau", "--lr", "0.005,0.015", "--w0", "x=-5:5:21", "--w0", "y=-5:5:21", "--max-iter", "400", "--tol", "1e-8", "--trace", "x0=-4,4", "--trace", "y0=4", "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr()
    config = json.loads((out / "sweep.json").read_text())
    assert config["starts"] == ["x0", "y0"] and config["loss"]["weights"] == ["x", "y"]
    assert {"basins_by_lr.png", "contours.png", "traces.parquet", "report.html"} <= {p.name for p in out.iterdir()}
    frame = sweep.run_sweep([0.005, 0.015], {"x": np.linspace(-5, 5, 21), "y": np.linspace(-5, 5, 21)}, loss="himmelblau", max_iter=400, tol=1e-8)
    import pandas as pd

    stored = pd.read_parquet(out / "runs.parquet")
    np.testing.assert_array_equal(stored[["x", "y"]].to_numpy(), frame[["x", "y"]].to_numpy())
    # the folder reads back: sweep report draws it again, over the plane of starts
    assert main(["report", str(out), "--x", "x0", "--y", "y0"]) == 0, capsys.readouterr().err
    assert (out / "report-x0-y0.html").is_file() or (out / "report.html").is_file()
    # streamed in chunks, the same runs and traces
    chunked = tmp_path / "chunked"
    assert main(["run", "--loss", "himmelblau", "--lr", "0.005,0.015", "--w0", "x=-5:5:21", "--w0", "y=-5:5:21", "--max-iter", "400", "--tol", "1e-8", "--trace", "x0=-4,4", "--trace", "y0=4", "--chunk-size", "200", "--out", str(chunked), "--quiet"]) == 0
    from sweep.store.results import read_results, read_traces

    assert read_results(chunked)[0].equals(read_results(out)[0]) and read_traces(chunked).equals(read_traces(out))
    # a bad --w0 is one line and writes nothing
    assert main(["run", "--loss", "himmelblau", "--w0", "z=1:2:3", "--out", str(tmp_path / "bad")]) == 2
    assert "does not have" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    # sweep compare: the four optimizers side by side, every iterate on disk
    compared = tmp_path / "compare"
    assert main(["compare", "--loss", "booth", "--lr", "0.05", "--max-iter", "300", "--tol", "1e-9", "--out", str(compared)]) == 0
    said = capsys.readouterr().out
    summary = json.loads((compared / "compare.json").read_text())
    assert [run["optimizer"] for run in summary["runs"]] == ["gd", "momentum", "adam", "rmsprop"]
    traces = pd.read_parquet(compared / "compare.parquet")
    gd = traces[traces["optimizer"] == "gd"]
    # booth from (0, 0) with lr 0.05: gd converges to (1, 3); the table's end is the trace's
    ran = sweep.run_sweep([0.05], None, loss="booth", max_iter=300, tol=1e-9)
    assert summary["runs"][0]["outcome"] == str(ran["outcome"][0]) == "converged"
    assert (gd["x"].iloc[-1], gd["y"].iloc[-1]) == (ran["x"][0], ran["y"][0]) and len(gd) == ran["n_iter"][0] + 1
    assert "gd" in said and (compared / "compare.png").stat().st_size > 10_000
    assert main(["compare", "--loss", "quadratic", "--out", str(tmp_path / "one")]) == 2
    assert "two weights" in capsys.readouterr().err and not (tmp_path / "one").exists()
    assert main(["compare", "--loss", "mse-linear", "--out", str(tmp_path / "model")]) == 2
    assert "is a model on data" in capsys.readouterr().err and not (tmp_path / "model").exists()


def test_a_seeded_cloud_of_starts(tmp_path, capsys):
    frame = sweep.run_sweep([0.01], "cloud:300:-5:5:4", loss="himmelblau", max_iter=2000, tol=1e-9)
    points = np.random.RandomState(4).uniform(-5, 5, size=(300, 2))
    assert list(frame.columns[:4]) == ["lr", "x0", "y0", "start"]
    np.testing.assert_array_equal(frame[["x0", "y0"]].to_numpy(), points)
    # each run is the run from its point: the same as that point on a grid of one
    for i in (0, 123, 299):
        one = sweep.run_sweep([0.01], {"x": [points[i, 0]], "y": [points[i, 1]]}, loss="himmelblau", max_iter=2000, tol=1e-9)
        assert (frame["x"][i], frame["y"][i], frame["n_iter"][i]) == (one["x"][0], one["y"][0], one["n_iter"][0])
    # points given as an array are the same cloud
    assert sweep.run_sweep([0.01], points, loss="himmelblau", max_iter=2000, tol=1e-9).equals(frame)
    # from the command line, streamed in chunks, with its report and the points in sweep.json
    out = tmp_path / "cloud"
    assert main(["run", "--loss", "himmelblau", "--lr", "0.01", "--w0", "cloud:300:-5:5:4", "--max-iter", "2000", "--tol", "1e-9", "--chunk-size", "64", "--out", str(out), "--quiet"]) == 0
    from sweep.store.results import read_results

    runs, config = read_results(out)
    assert runs.equals(frame) and np.array_equal(np.array(config["points"]), points) and (out / "cloud.png").is_file()
    assert main(["report", str(out)]) == 0
    for bad, message in (("cloud:0:-5:5:4", "cloud:N:LOW:HIGH:SEED"), ("cloud:10:5:-5:4", "LOW < HIGH"), ("cloud:10:-5:5", "cloud:N:LOW:HIGH:SEED")):
        assert main(["run", "--loss", "himmelblau", "--w0", bad, "--out", str(tmp_path / "bad")]) == 2
        assert message in capsys.readouterr().err and not (tmp_path / "bad").exists()
    with pytest.raises(SweepError, match="for losses of several weights"):
        plan_sweep([0.1], "cloud:10:-1:1:0")
    with pytest.raises(SweepError, match=r"\(n, 2\) array"):
        plan_sweep([0.1], np.zeros((5, 3)), loss="himmelblau")


def test_sharpness_of_several_weights_is_lr_times_the_top_eigenvalue():
    # 0.5*(x**2 + 10*y**2): Hessian diag(1, 10), so sharpness = 10*lr at every iterate and
    # GD passes the edge of stability (2) from the first step exactly when lr > 0.2
    lrs = np.array([0.01, 0.1, 0.19, 0.21, 0.3])
    frame = sweep.run_sweep(lrs, {"x": [1.0], "y": [1.0]}, loss="0.5*(x**2 + k*y**2)", params={"k": 10.0}, max_iter=200, tol=1e-10)
    np.testing.assert_allclose(frame["sharpness_max"], 10 * lrs, rtol=1e-12)
    assert (frame["eos_step"].to_numpy() == np.where(lrs > 0.2, 0, -1)).all()
    # an off-diagonal Hessian (booth: eigenvalues 2 and 18), the top one found
    booth = sweep.run_sweep([0.01, 0.1], None, loss="booth", max_iter=50, tol=1e-10)
    np.testing.assert_allclose(booth["sharpness_max"], [0.18, 1.8], rtol=1e-10)
    # a Hessian that changes along the run (rosenbrock) against numpy's eigenvalues on the trace
    trace = sweep.trace(1e-4, {"x": -1.5, "y": 2.0}, loss="rosenbrock", max_iter=30)
    x, y = trace["x"].to_numpy()[:-1], trace["y"].to_numpy()[:-1]
    H = np.array([[[2 - 400 * (yi - 3 * xi * xi), -400 * xi], [-400 * xi, 200.0]] for xi, yi in zip(x, y)])
    np.testing.assert_allclose(trace["sharpness"].to_numpy()[:-1], 1e-4 * np.linalg.eigvalsh(H)[:, -1], rtol=1e-6)


@pytest.mark.two_threads
def test_schedules_and_noise_with_several_weights():
    # a cosine schedule on Himmelblau: the kernel against the reference with the same lr_k
    lrs, max_iter = [0.005, 0.02], 200
    frame = sweep.run_sweep(lrs, {"x": [-4.0, 0.5], "y": [-3.0, 1.0]}, loss="himmelblau", schedule="cosine", max_iter=max_iter, tol=1e-9)
    for row in frame.itertuples():
        def lr_at(k, lr=row.lr):
            return 0.5 * lr * (1 + math.cos(math.pi * min(k, max_iter) / max_iter))

        n_iter, w, outcome = optimizer_run("gd", row.lr, [row.x0, row.y0], _himmelblau_grad, None, max_iter, 1e-9, lr_at=lr_at)
        assert (row.n_iter, str(row.outcome)) == (n_iter, outcome)
        np.testing.assert_allclose([row.x, row.y], w, rtol=1e-8, atol=1e-10)
    # gradient noise on every weight: the same runs for any thread count and in chunks
    plan = plan_sweep(np.geomspace(1e-3, 0.02, 7), {"x": [-4.0, 0.5, 3.0], "y": [-3.0, 1.0]}, loss="himmelblau", grad_noise=[0.0, 1.0], seed=5, max_iter=150)
    from sweep.run.executor import run_range, threads

    with threads(1):
        one = run_range(plan, 0, plan.n_runs)
    with threads(2):
        pieces = [run_range(plan, start, min(start + 11, plan.n_runs)) for start in range(0, plan.n_runs, 11)]
    import pandas as pd

    assert one.equals(pd.concat(pieces, ignore_index=True)) and {"loss_tail", "reached"} <= set(one.columns)
    noisy = one[one["grad_noise"] == 1.0]
    assert not np.array_equal(noisy["x"].to_numpy(), one[one["grad_noise"] == 0.0]["x"].to_numpy())
