import numpy as np
import pandas as pd
import pytest

from sweep import run_sweep
from sweep.plots.figures import axis_ticks, grid_of, is_log_axis, path_window, position_of
from sweep.plots.report import edge_table, outcome_table


def test_grid_has_w0_increasing_upward_and_lr_left_to_right():
    frame = run_sweep([0.1, 0.4, 2.0], [-1.0, 0.0, 3.0])
    grid = grid_of(frame, "n_iter")
    assert grid.index.tolist() == [3.0, 0.0, -1.0]
    assert grid.columns.tolist() == [0.1, 0.4, 2.0]
    assert grid.loc[0.0, 0.4] == frame.query("lr == 0.4 and w0 == 0.0")["n_iter"].item()
    codes = grid_of(frame, "outcome")
    assert codes.loc[3.0, 2.0] == 1  # diverged


def test_decade_ticks_are_short():
    axis = np.geomspace(1e-3, 10, 121)
    positions, labels = axis_ticks(axis, log=True)
    assert labels == ["0.001", "0.01", "0.1", "1", "10"]
    assert positions[0] == pytest.approx(0.5) and positions[-1] == pytest.approx(120.5)
    assert positions[2] == pytest.approx(60.5)


def test_linear_ticks_are_round_numbers():
    positions, labels = axis_ticks(np.linspace(-2, 3, 101), log=False)
    assert labels == ["-2", "-1", "0", "1", "2", "3"]
    assert positions[2] == pytest.approx(40.5)


def test_position_of_theory_lines():
    axis = np.geomspace(1e-3, 10, 5)  # one point per decade
    assert position_of(axis, 1.0, log=True) == pytest.approx(3.5)
    assert position_of(axis, np.sqrt(10), log=True) == pytest.approx(4.0)
    assert np.isnan(position_of(axis, 100.0, log=True))
    assert is_log_axis(axis) and not is_log_axis(np.linspace(-2, 3, 5))


def test_path_window_keeps_a_diverging_path_short():
    assert path_window([2, -18, 362, -6858, 1e5, 1e6], "diverged").tolist() == [2, -18, 362, -6858]
    long = path_window(list(range(1000)), "max_iter")
    assert long.size == 200 and long[0] == 0 and long[-1] == 999


def test_tables():
    frame = run_sweep(np.geomspace(1e-3, 10, 41), np.linspace(-2, 3, 11))
    counts = outcome_table(frame)
    assert counts["runs"].sum() == len(frame) and counts["share"].sum() == pytest.approx(1.0)
    edges = edge_table(frame, {"stability_lr": 1.0})
    off_minimum = edges[edges["w0"] != 1.0]
    # every w0 off the minimum converges up to the last grid lr below 2/L = 1, and no further
    below = np.geomspace(1e-3, 10, 41)
    assert (off_minimum["largest converging lr"] == below[below < 1.0].max()).all()
    assert isinstance(edges, pd.DataFrame)


def test_log_axis_is_told_from_spacing():
    assert is_log_axis(np.geomspace(1e-3, 10, 121))
    assert is_log_axis(np.append(np.geomspace(1e-3, 10, 121), 0.4))
    assert not is_log_axis(np.linspace(0.05, 1.5, 400))
    assert not is_log_axis(np.linspace(-2, 3, 101))


def test_the_page_speaks_of_the_dotted_edge_only_where_the_maps_draw_it():
    from sweep.plots.figures import edge_drawn
    from sweep.plots.report import _theory_paragraphs

    by_momentum = {"stability_lr_by": {"axis": "momentum", "values": {"0.5": 1.5}}}
    config = {"loss": {"theory": by_momentum}, "optimizer": "momentum", "max_iter": 100, "tol": 0.0}
    assert edge_drawn(by_momentum, "lr", "momentum") and not edge_drawn(by_momentum, "lr", "w0") and not edge_drawn(by_momentum, "w0", "momentum")
    drawn, folded = (" ".join(_theory_paragraphs(config, "lr", y)) for y in ("momentum", "w0"))
    assert "The dotted line marks that edge." in drawn and "dotted" not in folded and "--x lr --y momentum" in folded
    quadratic = {"loss": {"theory": {"stability_lr": 1.0, "one_step_lr": 0.5}}, "optimizer": "gd", "max_iter": 100, "tol": 0.0}
    assert "dashed and dotted lines" in _theory_paragraphs(quadratic, "lr", "w0")[0]
    assert "dotted" not in _theory_paragraphs(quadratic, "w0", "lr")[0]


def test_edge_table_leaves_out_runs_that_start_at_the_minimum():
    # From w0 = 1 every lr converges in 0 updates: folded into another axis's rows, those
    # runs made the largest converging lr the grid's largest (10 here, against theory's 1).
    lr = np.geomspace(1e-3, 10, 41)
    frame = run_sweep(lr, np.linspace(-2, 3, 11), max_iter=500, tol=1e-10)
    frame["group"] = 0.0
    edges = edge_table(frame, {"stability_lr": 1.0}, by="group")
    assert edges["largest converging lr"].tolist() == [lr[lr < 1.0].max()]
    by_w0 = edge_table(frame, {"stability_lr": 1.0})
    assert by_w0.loc[by_w0["w0"] == 1.0, "largest converging lr"].isna().all()
