"""Every run's story: traces of single runs, and the dynamics columns every run records
(loss_max, n_increase, first_increase, sharpness_max, eos_step), against closed forms and
plain-Python references."""

import math

import numpy as np
import pytest

import sweep
from sweep.reference import INITIAL_STATE, optimizer_step, teaching_loop


@pytest.mark.parametrize("lr", [0.4, 0.001, 10])
def test_trace_is_the_teaching_notebooks_weight_list_bit_for_bit(lr):
    n_iter, w, weight_list = teaching_loop(lr, 2.0)
    trace = sweep.trace(lr, 2, div_factor=math.inf, tol=0.0, max_iter=100)
    assert trace["w"].tolist() == weight_list
    assert trace["step"].tolist() == list(range(len(weight_list)))
    assert len(trace) == (101 if lr == 10 else n_iter + 1)


@pytest.mark.parametrize(
    "settings",
    [
        {"lr": 0.4, "w0": -1.5},
        {"lr": 1.5, "w0": 2.0},
        {"lr": 1.0, "w0": 0.5},  # cycles
        {"lr": 0.3, "w0": 2.5, "optimizer": "momentum", "hyper": {"momentum": 0.5}},
        {"lr": 0.05, "w0": -1.0, "optimizer": "adam", "tol": 1e-9, "max_iter": 400},
        {"lr": 0.55, "w0": 0.5, "loss": "cosine", "tol": 1e-9, "max_iter": 2000},
    ],
)
def test_a_traces_last_row_is_the_tables_row(settings):
    settings = {"max_iter": 100, "tol": 0.0, **settings}
    lr, w0 = settings.pop("lr"), settings.pop("w0")
    row = sweep.run_sweep([lr], [w0], **settings).iloc[0]
    trace = sweep.trace(lr, w0, **settings)
    last = trace.iloc[-1]
    assert last["step"] == row["n_iter"] and last["w"] == row["w"] and last["loss"] == row["loss"]
    assert trace["loss"].max() == row["loss_max"]
    rises = np.flatnonzero(np.diff(trace["loss"].to_numpy()) > 0)
    assert rises.size == row["n_increase"]
    assert (rises[0] if rises.size else -1) == row["first_increase"]


def test_the_quadratics_dynamics_have_their_closed_forms():
    lr = np.concatenate([np.geomspace(1e-3, 0.99, 25), np.geomspace(1.01, 5, 15)])
    w0 = np.array([-2.0, -0.5, 0.25, 3.0])
    runs = sweep.run_sweep(lr, w0, max_iter=200, tol=0.0)
    below = runs["lr"] < 1
    assert (runs["sharpness_max"] == 2 * runs["lr"]).all()  # lr * f'' with f'' = 2
    assert (runs.loc[below, "eos_step"] == -1).all() and (runs.loc[~below, "eos_step"] == 0).all()
    assert (runs.loc[below, "n_increase"] == 0).all() and (runs.loc[below, "first_increase"] == -1).all()
    assert (runs.loc[~below, "n_increase"] == runs.loc[~below, "n_iter"]).all() and (runs.loc[~below, "first_increase"] == 0).all()
    start = (runs["w0"] - 1) ** 2 + 2
    assert (runs.loc[below, "loss_max"] == start[below]).all()
    assert (runs.loc[~below, "loss_max"] == runs.loc[~below, "loss"]).all()


def test_a_nonconvex_loss_that_rises_then_falls():
    row = sweep.run_sweep([0.55], [0.5], loss="cosine", max_iter=2000, tol=1e-9).iloc[0]
    start = 0.5**2 + 0.1 * math.cos(2 * math.pi * 0.5 / 0.5)
    assert row["outcome"] == "converged" and row["n_increase"] > 0 and row["first_increase"] == 1
    # it climbs past its start, then falls into another minimum, below the peak
    assert row["loss_max"] > max(start, row["loss"]) and row["loss_max"] - row["loss"] > 0.01


@pytest.mark.parametrize("lr", [0.01, 0.3, 2.0])
def test_adams_preconditioned_sharpness_is_the_plain_python_one(lr):
    # Cohen et al. 2022: lr * lambda_max(P^-1 H) with P = (1 - b1**t) (sqrt(v_hat) + eps), and
    # the edge (2 + 2 b1) / (1 - b1); on the teaching quadratic H = 2.
    h = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}
    trace = sweep.trace(lr, 2.5, optimizer="adam", max_iter=150, tol=1e-12)
    w, state, expected = 2.5, dict(INITIAL_STATE["adam"]), []
    for _ in range(len(trace) - 1):
        d, state = optimizer_step("adam", h, w, 2 * (w - 1), state)
        p = (1 - state["b1t"]) * (math.sqrt(state["v"] / (1 - state["b2t"])) + h["eps"])
        expected.append(lr * 2 / p)
        w = w - lr * d
    np.testing.assert_allclose(trace["sharpness"].to_numpy()[:-1], expected, rtol=1e-13)
    row = sweep.run_sweep([lr], [2.5], optimizer="adam", max_iter=150, tol=1e-12).iloc[0]
    assert row["sharpness_max"] == pytest.approx(max(expected), rel=1e-13)
    edge = (2 + 2 * 0.9) / (1 - 0.9)
    above = [k for k, s in enumerate(expected) if s > edge]
    assert row["eos_step"] == (above[0] if above else -1)


# -- traces inside sweeps: selection, bad input, files and figures -----------------------------


def _cli(args, capsys):
    from sweep.cli import main

    code = main(["run", "--lr", "1e-3:10:31:log,0.4", "--w0", "-2:3:11", "--quiet", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "trace, fragment",
    [
        ("lr=0.5", "0.5 is not a value of the lr axis"),
        ("sample:1000:0", "asks for 1,000 runs, but the sweep has 352"),
        ("momentum=0.5", "the sweep has no axis 'momentum'; its swept axes are lr, w0 (and at one value: a, c, b)"),
        ("sample:x:0", "write sample:N:SEED"),
        ("everything", "give 'all', 'sample:N:SEED' or 'AXIS=V1,V2,...'"),
        ("lr=abc", "'abc' is not a number"),
        ("lr=inf", "'inf' is not allowed: axis values are finite numbers"),
        ("lr=1e400", "is not allowed: axis values are finite numbers"),
    ],
)
def test_a_bad_trace_is_one_line_and_writes_nothing(tmp_path, capsys, trace, fragment):
    code, _, err = _cli(["--trace", trace, "--out", str(tmp_path / "t")], capsys)
    assert code != 0 and err.count("\n") == 1 and fragment in err, err
    assert not (tmp_path / "t").exists()


def test_a_trace_too_large_for_memory_names_the_estimate(tmp_path, capsys):
    from sweep.cli import main

    code = main(["run", "--lr", "1e-3:1:2000:log", "--w0", "-2:3:1000", "--max-iter", "1000", "--trace", "all", "--quiet", "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "GiB in memory, more than the" in err and "2,000,000 runs" in err
    assert not (tmp_path / "t").exists()


def test_traces_of_a_model_are_refused(tmp_path, capsys):
    from sweep.cli import main

    code = main(["run", "--loss", "mse-linear", "--lr", "0.1", "--w0", "0", "--trace", "all", "--quiet", "--out", str(tmp_path / "t")])
    err = capsys.readouterr().err
    assert code != 0 and "traces are for losses" in err and not (tmp_path / "t").exists()


def test_a_traced_sweep_writes_its_traces_and_draws_them(tmp_path, capsys):
    from PIL import Image

    from sweep.store.results import read_results, read_traces

    out = tmp_path / "t"
    code, stdout, _ = _cli(["--trace", "lr=0.4,0.001,10", "--trace", "w0=2", "--out", str(out)], capsys)
    assert code == 0 and "traced 3 runs" in stdout
    traces, (runs, config) = read_traces(out), read_results(out)
    # streamed in chunks, the command says the same of the same traces
    code, chunked, _ = _cli(["--trace", "lr=0.4,0.001,10", "--trace", "w0=2", "--chunk-size", "500", "--no-report", "--out", str(tmp_path / "c")], capsys)
    said = [line for line in stdout.splitlines() + chunked.splitlines() if line.startswith("traced ")]
    assert code == 0 and len(said) == 2 and said[0].split(" into ")[0] == said[1].split(" into ")[0] == f"traced 3 runs ({len(traces):,} iterates)"
    assert read_traces(tmp_path / "c").equals(traces)
    assert config["trace"] == ["lr=0.4,0.001,10", "w0=2"] and config["n_traced"] == 3
    for lr in (0.4, 0.001, 10):
        number = int(np.flatnonzero((runs["lr"] == lr) & (runs["w0"] == 2))[0])
        # the notebook's weight_list, inside a sweep (its stops are the sweep's: diverged ends lr 10)
        mine = traces[traces["run"] == number]["w"].tolist()
        assert mine == teaching_loop(lr, 2.0)[2][: len(mine)] and len(mine) == runs["n_iter"][number] + 1
    for name in ("traces.png", "paths.png", "rise.png", "increase.png"):
        assert Image.open(out / name).size[0] > 300
    gif = Image.open(out / "paths.gif")
    assert gif.n_frames > 10
    page = (out / "report.html").read_text()
    assert "Every step of the traced runs" in page and "paths.gif" in page
    # the report redraws what the folder holds
    from sweep.plots.report import write_report

    (out / "traces.png").unlink()
    write_report(out)
    assert (out / "traces.png").is_file()


def test_trace_selections_combine_as_documented():
    from sweep.run.plan import plan_sweep, select_traced

    plan = plan_sweep(np.geomspace(0.01, 1, 5), np.linspace(-1, 1, 3))
    assert select_traced(plan, ("all", "sample:3:0")).size == 15
    one, two = select_traced(plan, ("sample:3:0",)), select_traced(plan, ("sample:3:1",))
    assert np.array_equal(select_traced(plan, ("sample:3:0", "sample:3:1")), np.union1d(one, two))
    grid = select_traced(plan, ("lr=0.01,1", "w0=0"))
    assert grid.tolist() == [1, 13]  # lr-major: run = 3 * lr index + w0 index
    assert select_traced(plan, ("lr=0.01,1", "lr=1")).tolist() == [12, 13, 14]  # both lists match: lr = 1
    with pytest.raises(sweep.SweepError, match="have no value in common"):
        select_traced(plan, ("lr=0.01", "lr=1"))
    assert np.array_equal(select_traced(plan, ("lr=0.01", "sample:3:0")), np.union1d([0, 1, 2], one))


def test_resume_refuses_another_trace_seed_target_or_dynamics(tmp_path, capsys):
    from sweep.cli import main

    base = ["run", "--lr", "0.01:1:5", "--w0", "-1:1:3", "--max-iter", "20", "--no-report", "--quiet", "--chunk-size", "2", "--grad-noise", "0.1", "--seed", "3", "--target-loss", "0.1", "--trace", "lr=0.01"]
    out = tmp_path / "s"
    assert main([*base, "--out", str(out)]) == 0
    (out / "runs" / "part-000003.parquet").unlink()
    for change, name in ((["--seed", "4"], "seed"), (["--target-loss", "5"], "target_loss"), (["--no-dynamics"], "dynamics"), (["--trace", "lr=1"], "trace")):
        args = [*base, *change] if name != "trace" else [*base[:-2], *change]
        capsys.readouterr()
        code = main([*args, "--resume", str(out)])
        err = capsys.readouterr().err
        assert code != 0 and name in err and err.count("\n") == 1, (name, err)
    assert main([*base, "--resume", str(out)]) == 0


def test_a_traced_run_with_a_huge_learning_rate_is_drawn(tmp_path, capsys):
    from sweep.cli import main

    assert main(["run", "--lr", "1e300,0.1", "--w0", "3", "--max-iter", "20", "--trace", "all", "--quiet", "--out", str(tmp_path / "h")]) == 0
    assert (tmp_path / "h" / "traces.png").is_file()


@pytest.mark.parametrize("damage", ["a table", "changed", "outside"])
def test_a_damaged_trace_file_is_one_line_in_the_report(tmp_path, capsys, damage):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from sweep.cli import main

    out = tmp_path / "t"
    assert main(["run", "--lr", "0.01:1:5", "--w0", "-1:1:3", "--max-iter", "20", "--trace", "sample:3:0", "--quiet", "--out", str(out)]) == 0
    traces = out / "traces.parquet"
    if damage == "a table":
        shutil.copy(out / "runs.parquet", traces)
    else:
        table = pq.read_table(traces).to_pandas()
        table["run"] = table["run"] + (999 if damage == "outside" else 0)
        table["loss"] = table["loss"] * (2 if damage == "changed" else 1)
        pq.write_table(pa.Table.from_pandas(table, preserve_index=False), traces)
    capsys.readouterr()
    code = main(["report", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "traces.parquet" in err and "is not the file sweep wrote there" in err


def test_a_report_without_its_traces_drops_their_figures(tmp_path, capsys):
    from sweep.cli import main
    from sweep.plots.report import write_report

    out = tmp_path / "t"
    assert main(["run", "--lr", "0.01:1:5", "--w0", "-1:1:3", "--max-iter", "20", "--trace", "sample:2:0", "--quiet", "--out", str(out)]) == 0
    assert (out / "traces.png").is_file() and (out / "paths.gif").is_file()
    (out / "traces.parquet").unlink()
    write_report(out)
    assert not (out / "traces.png").exists() and not (out / "paths.gif").exists() and (out / "outcomes.png").is_file()


def test_a_new_streamed_sweep_without_traces_removes_the_old_ones(tmp_path, capsys):
    from sweep.cli import main

    args = ["run", "--lr", "0.01:1:5", "--w0", "-1:1:3", "--max-iter", "20", "--no-report", "--quiet", "--chunk-size", "4", "--out", str(tmp_path / "s")]
    assert main([*args, "--trace", "sample:2:0"]) == 0 and (tmp_path / "s" / "traces.parquet").is_file()
    assert main(args) == 0 and not (tmp_path / "s" / "traces.parquet").exists()
