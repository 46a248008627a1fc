"""Trainability images, zoom and their commands, end to end on small grids."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from sweep.cli import main
from sweep.fractal import Axis, FractalError, compute, loss_experiment, network_experiment, zoom_in
from sweep.fractal.network import Network, convergence_measure, train_reference
from sweep.fractal.store import read_picture
from sweep.kernels.trig import cos, sin
from sweep.reference import reference_run


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_network_image_is_the_kernel_on_the_grid():
    e = network_experiment(width=2, steps=20, resolution=6, x_range=(1e-2, 1e3), y_range=(1e-2, 1e2))
    picture = compute(e)
    assert picture.converged.shape == (6, 6)
    lr_in, lr_out = np.logspace(-2, 3, 6), np.logspace(-2, 2, 6)
    # row r is lr_out[r], column c is lr_in[c]
    grid_out, grid_in = np.meshgrid(lr_out, lr_in, indexing="ij")
    measure, converged = convergence_measure(train_reference(Network(2), grid_in.ravel(), grid_out.ravel(), 20))
    np.testing.assert_array_equal(picture.converged, converged.reshape(6, 6))
    assert 0 < picture.converged.mean() < 1
    np.testing.assert_allclose(picture.measure, measure.reshape(6, 6), rtol=1e-9)


def cosine_mult_grad(w, delta=0.5, lam=0.5):
    u = 2 * math.pi * w / lam
    return 2 * w * (1 + delta * cos(u)) - w * w * delta * (2 * math.pi / lam) * sin(u)


def test_loss_line_matches_plain_python_runs():
    e = loss_experiment("cosine-mult", None, steps=200, resolution=256)
    picture = compute(e)
    lr = e.x.values()
    assert lr[0] == 0.0 and lr[-1] == 1.5 and lr.size == 257
    escaped = []
    for value in lr:
        _, _, outcome = reference_run(value, 5.0, cosine_mult_grad, max_iter=200, tol=1e-12, div_factor=1e8)
        escaped.append(outcome in ("diverged", "nan"))
    trainable = ~np.array(escaped)
    # The plain gradient rounds in another order than sweep's printed one, which can flip a
    # run that sits on the boundary; everywhere else the classes agree.
    differ = np.flatnonzero(picture.converged != trainable)
    assert differ.size <= 3
    assert 0.05 < trainable.mean() < 0.95


def test_loss_image_rows_are_parameter_values():
    e = loss_experiment("cosine-mult", "delta", steps=300, resolution=16, y_range=(0.1, 0.6))
    picture = compute(e)
    assert picture.converged.shape == (16, 16)
    delta = float(e.y.values()[5])
    expected = [reference_run(lr, 5.0, lambda w: cosine_mult_grad(w, delta=delta), max_iter=300, tol=1e-12)[2] not in ("diverged", "nan") for lr in e.x.values()]
    assert (picture.converged[5] == np.array(expected)).sum() >= 15  # a boundary run may round the other way


def row_by_row(e):
    """The loss image as it was computed before the pieces: one Loss and one kernel call per row."""
    from sweep.fractal.experiment import LOSS_DIV_FACTOR, LOSS_TOL, problem_loss
    from sweep.outcomes import DIVERGED, NAN
    from sweep.run.executor import descend_runs

    lr = e.x.values()
    converged, measure = np.empty(e.shape, dtype=bool), np.empty(e.shape)
    for row, value in enumerate(e.y.values()):
        loss = problem_loss(e.problem, {**e.params, e.y.name: float(value)})
        result = descend_runs(lr, np.full(lr.size, e.w0), loss, e.steps, LOSS_TOL, LOSS_DIV_FACTOR)
        escaped = (result["outcome"] == DIVERGED) | (result["outcome"] == NAN)
        converged[row], measure[row] = ~escaped, np.where(escaped, 1.0, -1.0) * result["n_iter"]
    return converged, measure


@pytest.mark.parametrize(
    "loss, y, params, y_range",
    [("cosine-mult", "delta", None, (0.1, 0.6)), ("a*w**2 + b*cos(3*w)", "b", {"a": 1.0, "b": 0.3}, (0.0, 0.5))],
)
def test_loss_image_in_pieces_is_bit_identical_to_row_by_row_runs(monkeypatch, loss, y, params, y_range):
    import dataclasses

    import sweep.fractal.experiment as experiment

    e = loss_experiment(loss, y, params=params, steps=300, resolution=20, y_range=y_range)
    e = e.with_window(e.x, dataclasses.replace(e.y, n=24))
    assert e.shape == (24, 20)
    expected = row_by_row(e)
    calls = []
    for piece in (experiment.PIECE, 7):  # one piece; pieces that end inside rows
        monkeypatch.setattr(experiment, "PIECE", piece)
        calls.clear()
        picture = compute(e, progress=lambda done, total: calls.append((done, total)))
        assert np.array_equal(picture.converged, expected[0]) and np.array_equal(picture.measure, expected[1])
        assert 0 < picture.converged.mean() < 1
        assert calls == [(min(480, k * piece), 480) for k in range(1, -(-480 // piece) + 1)]


def test_descend_runs_takes_parameters_per_run():
    from sweep.problems.losses import make_loss
    from sweep.run.executor import descend_runs

    loss = make_loss("cosine-mult")
    lr, w0 = np.full(3, 0.3), np.full(3, 5.0)
    delta = np.array([0.1, 0.2, 0.4])
    result = descend_runs(lr, w0, loss, 200, 1e-12, 1e8, param_values={"delta": delta})
    for i, value in enumerate(delta):
        one = descend_runs(lr[:1], w0[:1], make_loss("cosine-mult", {"delta": value}), 200, 1e-12, 1e8)
        assert result["n_iter"][i] == one["n_iter"][0] and result["w"][i] == one["w"][0]
    with pytest.raises(ValueError, match="not a parameter of the loss"):
        descend_runs(lr, w0, loss, 10, 1e-12, 1e8, param_values={"kappa": delta})
    with pytest.raises(ValueError, match="one value per run"):
        descend_runs(lr, w0, loss, 10, 1e-12, 1e8, param_values={"delta": delta[:2]})


def test_an_exception_from_progress_stops_compute_after_the_first_piece():
    e = network_experiment(width=2, steps=20, resolution=16, x_range=(1e-2, 1e3), y_range=(1e-2, 1e2))
    piece_flops = Network(2).flops_per_step() * e.steps * 16 * 2  # two rows per piece: 8 pieces
    default = compute(e)
    calls = []
    small = compute(e, progress=lambda done, total: calls.append((done, total)), piece_flops=piece_flops)
    assert calls == [(k, 8) for k in range(1, 9)]
    assert np.array_equal(small.converged, default.converged) and np.array_equal(small.measure, default.measure)

    class Stop(Exception):
        pass

    calls.clear()

    def stop(done, total):
        calls.append((done, total))
        raise Stop("the view was closed")

    with pytest.raises(Stop, match="the view was closed"):
        compute(e, progress=stop, piece_flops=piece_flops)
    assert calls == [(1, 8)]
    for bad in (0, -1.0, math.nan, math.inf):
        with pytest.raises(FractalError, match="piece_flops"):
            compute(e, piece_flops=bad)


def test_axis_windows():
    axis = Axis("lr", 1e-3, 1e6, 10, True)
    zoomed = axis.around(10.0, 3.0)
    assert zoomed.n == 10 and zoomed.log
    assert math.log10(zoomed.lo) == pytest.approx(1 - 1.5) and math.log10(zoomed.hi) == pytest.approx(1 + 1.5)
    linear = Axis("delta", 0.0, 1.0, 5, False).around(0.5, 4)
    assert (linear.lo, linear.hi) == (0.375, 0.625)
    assert axis.cells(2, 5).lo == axis.values()[2]
    with pytest.raises(FractalError, match="log-spaced"):
        Axis("lr", 0.0, 1.0, 4, True)
    with pytest.raises(FractalError, match="A < B"):
        Axis("lr", 2.0, 1.0, 4, False)


def test_fractal_command_writes_picture_and_report(tmp_path, capsys):
    out = tmp_path / "tanh"
    code, stdout, stderr = run_cli(["fractal", "--width", "2", "--steps", "30", "--resolution", "40", "--out", str(out), "--quiet"], capsys)
    assert code == 0, stderr
    assert "1,600 runs" in stdout and "boundary dimension" in stdout
    record = json.loads((out / "fractal.json").read_text())
    assert record["experiment"]["width"] == 2 and record["experiment"]["x"]["n"] == 40
    assert record["dimension"]["sizes"][0] == 1 and "fractal --width 2" in record["command"]
    picture = read_picture(out)
    again = compute(picture.experiment)
    np.testing.assert_array_equal(picture.converged, again.converged)
    np.testing.assert_array_equal(picture.measure, again.measure)
    for name in ("report.html", "boundary.png", "dimension.png", "image.parquet"):
        assert (out / name).stat().st_size > 1000, name
    assert "Fractal dimension" in (out / "report.html").read_text()


def test_zoom_window_keeps_resolution_and_settings(tmp_path, capsys):
    out = tmp_path / "net"
    assert run_cli(["fractal", "--width", "2", "--steps", "20", "--resolution", "24", "--out", str(out), "--quiet"], capsys)[0] == 0
    code, stdout, stderr = run_cli(["zoom", str(out), "--x-range", "1:100", "--y-range", "0.1:10", "--quiet"], capsys)
    assert code == 0, stderr
    zoomed = read_picture(tmp_path / "net-zoom")
    e = zoomed.experiment
    assert (e.x.lo, e.x.hi, e.x.n, e.y.lo, e.y.hi, e.y.n) == (1.0, 100.0, 24, 0.1, 10.0, 24)
    assert e.steps == 20 and e.width == 2 and e.x.log
    code, _, stderr = run_cli(["zoom", str(out), "--center", "10,1", "--factor", "9", "--out", str(tmp_path / "c"), "--quiet"], capsys)
    assert code == 0, stderr
    e = read_picture(tmp_path / "c").experiment
    assert math.log10(e.x.lo) == pytest.approx(1 - 0.5) and math.log10(e.y.hi) == pytest.approx(0.5)


def test_auto_zoom_writes_frames_and_gif(tmp_path, capsys):
    out = tmp_path / "line"
    args = ["fractal", "--problem", "cosine-mult", "--y", "none", "--resolution", "1024", "--steps", "200", "--out", str(out), "--quiet"]
    assert run_cli(args, capsys)[0] == 0
    code, stdout, stderr = run_cli(["zoom", str(out), "--auto", "2", "--factor", "8", "--out", str(tmp_path / "z"), "--quiet"], capsys)
    assert code == 0, stderr
    frames = sorted((tmp_path / "z" / "frames").iterdir())
    assert [f.name for f in frames] == ["frame-00.parquet", "frame-01.parquet", "frame-02.parquet"]
    widths = [read_picture(f).experiment.x for f in frames]
    assert all(w.n == 1025 for w in widths)
    assert (widths[1].hi - widths[1].lo) == pytest.approx((widths[0].hi - widths[0].lo) / 8, rel=0.01)
    assert widths[0].lo <= widths[1].lo < widths[1].hi <= widths[0].hi
    with Image.open(tmp_path / "z" / "zoom.gif") as gif:
        assert gif.n_frames == 3
    record = json.loads((tmp_path / "z" / "fractal.json").read_text())
    assert len(record["frames"]) == 3 and record["factor"] == 8


def test_zoom_in_narrows_around_the_boundary():
    e = network_experiment(width=2, steps=20, resolution=32)
    picture = compute(e)
    nxt = zoom_in(picture, 4)
    assert nxt.x.n == 32 and nxt.y.n == 32
    span = math.log10(nxt.x.hi) - math.log10(nxt.x.lo)
    assert span == pytest.approx(9 * 7 / 31, rel=1e-9)  # 8 of 32 cells: 7 steps of 9/31 decades


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["fractal", "--width", "0"], "width 0"),
        (["fractal", "--x-range", "a:b"], "A:B"),
        (["fractal", "--x-range", "0:10"], "log-spaced"),
        (["fractal", "--x-range", "5:1"], "A < B"),
        (["fractal", "--steps", "0"], "steps 0"),
        (["fractal", "--resolution", "1"], "--resolution 1 is not allowed: give at least 16 values per axis"),
        (["fractal", "--y", "delta"], "for a loss"),
        (["fractal", "--problem", "cosine", "--y", "zeta"], "no parameter 'zeta'"),
        (["fractal", "--problem", "cosine", "--y", "none", "--resolution", "1000"], "power of two"),
        (["fractal", "--problem", "w+"], "w+"),
        (["fractal", "--resolution", "100000"], "cells"),
        (["fractal", "--problem", "mse-linear"], "is a model on data"),
        (["fractal", "--nonlinearity", "sigmoid"], "sigmoid"),
        (["zoom", "nowhere", "--auto", "2"], "no trainability picture"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_files(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run_cli(args, capsys)
    assert code != 0
    assert stderr.startswith("Error:") and fragment in stderr and stderr.count("\n") == 1, stderr
    assert not any(tmp_path.iterdir())


def test_bad_zoom_requests(tmp_path, capsys):
    out = tmp_path / "net"
    assert run_cli(["fractal", "--width", "2", "--steps", "5", "--resolution", "16", "--out", str(out), "--quiet"], capsys)[0] == 0
    for args, fragment in [
        ([], "one way to zoom"),
        (["--auto", "2", "--x-range", "1:2"], "one way to zoom"),
        (["--center", "1,2"], "needs --factor"),
        (["--center", "1", "--factor", "4"], "two numbers"),
        (["--center", "-1,2", "--factor", "4"], "must be > 0"),
        (["--auto", "2", "--factor", "1"], "factor > 1"),
        (["--auto", "0"], "1 to 20"),
        (["--x-range", "1:2", "--out", str(out)], "being zoomed"),
    ]:
        code, _, stderr = run_cli(["zoom", str(out), *args], capsys)
        assert code != 0 and fragment in stderr and stderr.count("\n") == 1, (args, stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net"]


def test_reused_folders_never_mix_a_picture_and_a_zoom(tmp_path, capsys):
    out = tmp_path / "net"
    assert run_cli(["fractal", "--width", "2", "--steps", "5", "--resolution", "16", "--out", str(out), "--quiet"], capsys)[0] == 0
    zoom = tmp_path / "z"
    assert run_cli(["zoom", str(out), "--auto", "1", "--out", str(zoom), "--quiet"], capsys)[0] == 0
    # an auto zoom goes on from the deepest frame of a zoom folder
    assert run_cli(["zoom", str(zoom), "--auto", "1", "--out", str(tmp_path / "deeper"), "--quiet"], capsys)[0] == 0
    first = read_picture(zoom / "frames" / "frame-01.parquet").experiment
    deeper = read_picture(tmp_path / "deeper" / "frames" / "frame-00.parquet").experiment
    assert first == deeper
    assert run_cli(["zoom", str(out), "--x-range", "1:10", "--out", str(zoom), "--quiet"], capsys)[0] == 0
    assert sorted(p.name for p in zoom.iterdir() if p.name not in (".sweep.lock", "sweep-files.jsonl")) == ["boundary.png", "dimension.png", "fractal.json", "image.parquet", "report.html"]
    assert run_cli(["zoom", str(out), "--auto", "1", "--out", str(zoom), "--quiet"], capsys)[0] == 0
    assert "image.parquet" not in {p.name for p in zoom.iterdir()} and (zoom / "zoom.gif").is_file()


def test_loss_experiments_record_every_parameter_and_need_a_y_axis(tmp_path, capsys):
    e = loss_experiment("cosine-mult", "delta", resolution=4)
    assert e.params == {"lam": 0.5}
    assert loss_experiment("cosine", None, resolution=4).params == {"delta": 0.1, "lam": 0.5}
    code, _, stderr = run_cli(["fractal", "--problem", "w**2 + d*cos(5*w)", "--param", "d=0.3", "--out", str(tmp_path / "x")], capsys)
    assert code != 0 and "name the y axis with --y" in stderr and "d, none" in stderr
    code, _, stderr = run_cli(["fractal", "--problem", "cosine", "--y", "none", "--x-range", "-1:1", "--out", str(tmp_path / "x")], capsys)
    assert code != 0 and "a learning rate must be >= 0" in stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["fractal", "--width", "2", "--y-range", "1e308:1.7e308:linear"], "within 1e-100..1e100"),
        (["fractal", "--width", "2", "--x-range", "0:1.7e308:linear"], "within 1e-100..1e100"),
        (["fractal", "--problem", "cosine-mult", "--y-range", "-1e308:1e308:linear"], "within 1e-100..1e100"),
        (["fractal", "--threads", "0"], "--threads 0"),
        (["fractal", "--w0", "nan"], "--w0 is for a loss"),
        (["fractal", "--problem", "cosine", "--width", "4"], "--width is for the network"),
        (["fractal", "--out", ""], "--out ''"),
    ],
)
def test_second_hunt_inputs_get_one_line_before_any_work(tmp_path, capsys, monkeypatch, args, fragment):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run_cli(args, capsys)
    assert code != 0 and fragment in stderr and stderr.count("\n") == 1, stderr
    assert stdout == "" and not any(tmp_path.iterdir())


def test_second_hunt_zoom_inputs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(["fractal", "--width", "2", "--steps", "5", "--resolution", "16", "--out", "base", "--quiet"], capsys)[0] == 0
    (tmp_path / "sub").mkdir()
    for args, fragment in [
        (["--center", "1,20", "--factor", "1e300"], "at most 1e6"),
        (["--auto", "1", "--factor", "9"], "at most 8"),
        (["--x-range", "1:10:linear"], "keeps the picture's spacing"),
        (["--x-range", "1:10", "--out", ""], "--out ''"),
        (["--x-range", "1:10", "--out", "sub/../base"], "being zoomed"),
        (["--x-range", "1:10", "--threads", "99"], "--threads 99"),
    ]:
        code, _, stderr = run_cli(["zoom", "base", *args], capsys)
        assert code != 0 and fragment in stderr and stderr.count("\n") == 1, (args, stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "sub"]
    assert run_cli(["run", "--lr", "0.1", "--w0", "1", "--out", "r", "--no-report"], capsys)[0] == 0
    code, _, stderr = run_cli(["fractal", "--width", "2", "--out", "r"], capsys)
    assert code != 0 and "holds the results of 'sweep run'" in stderr


def test_unwritable_out_fails_before_the_work(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    code, stdout, stderr = run_cli(["fractal", "--width", "2", "--steps", "5", "--resolution", "16", "--out", str(tmp_path / "afile" / "sub")], capsys)
    assert code != 0 and "cannot write results" in stderr and "runs in" not in stdout


def test_auto_zoom_refuses_a_picture_without_boundary(tmp_path, capsys):
    out = tmp_path / "flat"
    assert run_cli(["fractal", "--width", "2", "--steps", "5", "--resolution", "16", "--x-range", "1e-4:1e-3", "--y-range", "1e-4:1e-3", "--out", str(out), "--quiet"], capsys)[0] == 0
    code, _, stderr = run_cli(["zoom", str(out), "--auto", "2"], capsys)
    assert code != 0 and "no boundary" in stderr


def test_auto_zoom_into_an_unwritable_folder_fails_before_the_frames(tmp_path, capsys):
    out = tmp_path / "net"
    assert run_cli(["fractal", "--width", "2", "--steps", "5", "--resolution", "16", "--out", str(out), "--quiet"], capsys)[0] == 0
    (tmp_path / "afile").write_text("x")
    code, stdout, stderr = run_cli(["zoom", str(out), "--auto", "2", "--out", str(tmp_path / "afile" / "z")], capsys)
    assert code != 0 and "cannot write results" in stderr and "frame 1" not in stdout


# Figures: what to draw is checked without rendering, then a figure is drawn and its tick
# labels are checked not to overlap.

from sweep.fractal import Picture  # noqa: E402
from sweep.fractal.boundary import box_dimension  # noqa: E402
from sweep.fractal.report import (  # noqa: E402
    CONVERGED_CMAP,
    DIVERGED_CMAP,
    axis_ticks,
    frame_title,
    image_figure,
    line_figure,
    render_picture_report,
    trainability_rgba,
    zoom_strip,
)
from sweep.plots.figures import plt  # noqa: E402


def synthetic_picture(x_range=(1e-3, 1e6), y_range=(1e-3, 1e6), n=64, seed=0) -> Picture:
    """A network picture with a ragged boundary and made-up speeds, without training."""
    e = network_experiment(width=2, steps=5, resolution=n, x_range=x_range, y_range=y_range)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / n
    converged = y + 0.15 * np.sin(40 * x) + 0.1 * rng.random((n, n)) < 0.55
    distance = np.abs(y - 0.55) + 0.01
    measure = np.where(converged, -1.0 / distance, 1.0 / distance)  # slowest at the boundary
    return Picture(e, converged, measure, 0.1)


def test_every_converged_cell_is_blue_and_every_diverged_cell_red():
    picture = synthetic_picture()
    rgba = trainability_rgba(picture.measure, picture.converged)
    assert rgba.shape == (64, 64, 4) and np.all(rgba[..., 3] == 1.0)
    rgb = rgba[..., :3]
    assert np.all(rgb[picture.converged].argmax(axis=1) == 2)
    assert np.all(rgb[~picture.converged].argmax(axis=1) == 0)
    # ... whatever the rank: every colour of each map has its channel the largest.
    samples = np.linspace(0, 1, 101)
    assert np.all(CONVERGED_CMAP(samples)[:, :3].argmax(axis=1) == 2) and np.all(DIVERGED_CMAP(samples)[:, :3].argmax(axis=1) == 0)
    # Deepest (darkest) colour on each class's slowest run, palest on its fastest.
    brightness = rgb.sum(axis=-1)
    for cls in (picture.converged, ~picture.converged):
        slow = np.abs(picture.measure) == np.abs(picture.measure[cls]).max()
        fast = np.abs(picture.measure) == np.abs(picture.measure[cls]).min()
        assert brightness[cls & slow].max() < brightness[cls].min() + 1e-12
        assert brightness[cls & fast].min() > brightness[cls].max() - 1e-12


@pytest.mark.parametrize(
    "axis,length",
    [
        (Axis("lr_in", 1e-3, 1e6, 512, True), 2.6),  # the paper's view, a frame of a zoom strip
        (Axis("lr_in", 1e-3, 1e6, 512, True), 5.0),
        (Axis("lr_in", 1000.0, 1.6e5, 512, True), 2.6),
        (Axis("lr_in", 3950.0, 13100.0, 512, True), 2.6),  # half a decade: crowds at its top
        (Axis("lr_in", 14100.0, 14800.0, 512, True), 2.6),
        (Axis("lr_out", 0.063096, 0.068129, 512, True), 2.6),
        (Axis("lr", 0.0, 1.5, 65537, False), 6.0),
        (Axis("lr", 0.27341, 0.27462, 65537, False), 6.0),
        (Axis("delta", 0.123456, 0.123457, 512, False), 2.6),
    ],
)
def test_axis_ticks_are_round_distinct_and_spaced(axis, length):
    for across in (True, False):
        positions, labels = axis_ticks(axis, length, fontsize=7.5, across=across)
        assert 2 <= len(labels) <= 8 and len(set(labels)) == len(labels)
        assert positions == sorted(positions)
        lo, hi = (math.log10(axis.lo), math.log10(axis.hi)) if axis.log else (axis.lo, axis.hi)
        assert all(lo - 1e-9 * (hi - lo) <= p <= hi + 1e-9 * (hi - lo) for p in positions)
        for p, label in zip(positions, labels):
            value = 10.0**p if axis.log else p
            shown = 10.0 ** float(label[5:-2]) if label.startswith("$10^{") else float(label)
            assert shown == pytest.approx(value, rel=1e-9, abs=1e-12), (label, value)  # the label is the tick's value
    across = axis_ticks(axis, length, fontsize=7.5)[1]
    assert max(len(t) for t in across) <= 9


def test_frame_titles_say_what_the_number_is():
    dim = synthetic_picture().dimension
    assert frame_title(2, dim) == f"frame 2: dimension {dim.value:.2f} ± {dim.stderr:.2f}"
    assert frame_title(2, dim, 4).startswith("frame 2 of 4: dimension ")
    assert frame_title(0, box_dimension(np.zeros((8, 8), bool))) == "frame 0: no dimension (too little boundary)"


def _tick_boxes(fig, ax_axis):
    renderer = fig.canvas.get_renderer()
    return [label.get_window_extent(renderer) for label in ax_axis.get_ticklabels() if label.get_visible() and label.get_text()]


def _no_overlaps(boxes):
    return all(not a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1 :])


def test_drawn_figures_have_legends_titles_and_readable_ticks():
    frames = [
        synthetic_picture(),
        synthetic_picture((1000.0, 1.6e5), (1e-3, 0.16), seed=1),
        synthetic_picture((14100.0, 14800.0), (0.063096, 0.068129), seed=2),
    ]
    for fig in (zoom_strip(frames), image_figure(frames[2])):
        fig.canvas.draw()
        labels = [ax.get_ylabel() for ax in fig.axes]
        assert "converged: rank of speed" in labels and "diverged: rank of speed" in labels
        bars = [ax for ax in fig.axes if ax.get_ylabel().endswith("rank of speed")]
        assert all([t.get_text() for t in bar.get_yticklabels()] == ["fastest", "slowest"] for bar in bars)
        images = [ax for ax in fig.axes if ax not in bars]
        for ax in images:
            for ax_axis in (ax.xaxis, ax.yaxis):
                boxes = _tick_boxes(fig, ax_axis)
                assert len(boxes) >= 2 and _no_overlaps(boxes), [t.get_text() for t in ax_axis.get_ticklabels()]
        plt.close(fig)
    fig = zoom_strip(frames)
    assert [ax.get_title() for ax in fig.axes[:3]] == [frame_title(k, p.dimension) for k, p in enumerate(frames)]
    assert fig.axes[0].get_title().startswith("frame 0: dimension ")
    plt.close(fig)


def test_line_figure_and_report_files():
    e = loss_experiment("cosine-mult", None, steps=5, resolution=1024, x_range=(0.27341, 0.27462))
    rng = np.random.default_rng(0)
    converged = rng.random(e.x.n) < 0.4
    line = Picture(e, converged, np.where(converged, -1.0, 1.0) * rng.integers(1, 5, e.x.n), 0.1)
    fig = line_figure(line)
    fig.canvas.draw()
    assert _no_overlaps(_tick_boxes(fig, fig.axes[0].xaxis)) and len(_tick_boxes(fig, fig.axes[0].xaxis)) >= 3
    assert {"stayed bounded: rank of speed", "escaped: rank of speed"} <= {ax.get_ylabel() for ax in fig.axes}
    plt.close(fig)
    files = render_picture_report(synthetic_picture(), "sweep fractal (test)")
    assert files["boundary.png"][:8] == b"\x89PNG\r\n\x1a\n" and files["dimension.png"][:8] == b"\x89PNG\r\n\x1a\n"
    page = files["report.html"].decode()
    assert "rank by speed" in page and "the ± holds the slope of every window" in page


def test_a_picture_records_the_compile_time_its_command_paid_first(monkeypatch):
    import time

    import sweep.fractal.experiment as experiment

    real = experiment._warm_up

    def slow(e):
        time.sleep(0.6)
        real(e)

    monkeypatch.setattr(experiment, "_WARM_SECONDS", {})
    monkeypatch.setattr(experiment, "_warm_up", slow)
    e = loss_experiment("cosine-mult", None, steps=20, resolution=8)
    first = experiment.warm_up(e)  # as `sweep fractal` does before its estimate
    picture = compute(e)
    assert 0.6 <= first == picture.compile_seconds


def test_trainability_pages_escape_what_they_are_given():
    from sweep.fractal.report import zoom_report

    page = render_picture_report(synthetic_picture(), "sweep fractal <script>alert(1)</script>")["report.html"].decode()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<code>measure</code>" in page  # sweep's own markup survives
    zoom = zoom_report([synthetic_picture()], b"png", b"png", "<b>x</b>")
    assert "<b>x</b>" not in zoom and "&lt;b&gt;x&lt;/b&gt;" in zoom
