"""`sweep serve` without a browser: the views' data against the runs they show, the jobs'
cancelling, the routes' answers to bad requests, and the command's refusals."""

from __future__ import annotations

import base64
import io
import re
import socket
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sweep.cli import main
from sweep.fractal import loss_experiment, network_experiment
from sweep.run.sweeps import run_sweep, trace
from sweep.serve import Shown, create_app
from sweep.serve.fractalview import picture_png, save_view, view_payload, windowed
from sweep.serve.jobs import Cancelled, Worker
from sweep.serve.sweepview import ViewError, axis_roles, live_maps, open_sweep, run_story, sweep_maps
from sweep.serve.sweepview import describe as sweepview_describe

LR = "1e-2:2:24:log"
W0 = "-2:3:11"


def _swept(factory, name: str, *options: str):
    """A finished sweep folder made by `sweep run OPTIONS`, opened as the server opens it."""
    out = factory.mktemp("serve") / name
    assert main(["run", *options, "--out", str(out), "--no-report", "--quiet"]) == 0
    return open_sweep(out)


@pytest.fixture(scope="module")
def teaching(tmp_path_factory):
    return _swept(tmp_path_factory, "teaching", "--lr", LR, "--w0", W0)


@pytest.fixture(scope="module")
def momentum(tmp_path_factory):
    return _swept(tmp_path_factory, "momentum", "--optimizer", "momentum", "--momentum", "0,0.5,0.9", "--lr", "1e-2:1.5:12:log", "--w0", "-1:3:5", "--max-iter", "300", "--tol", "1e-10")


@pytest.fixture(scope="module")
def himmelblau(tmp_path_factory):
    return _swept(tmp_path_factory, "himmelblau", "--loss", "himmelblau", "--lr", "0.005,0.012", "--w0", "x=-5:5:9", "--w0", "y=-5:5:7", "--max-iter", "2000", "--tol", "1e-8")


def _cell(maps: dict, i: int, j: int) -> tuple:
    k = j * len(maps["x"]["values"]) + i
    return maps["outcomes"][maps["outcome"][k]], maps["n_iter"][k], maps["loss"][k]


def test_saved_maps_hold_every_run_of_the_folder_in_its_cell(teaching):
    maps = sweep_maps(teaching)
    assert (maps["x"]["name"], maps["y"]["name"], maps["x"]["log"], maps["y"]["log"]) == ("lr", "w0", True, False)
    frame = teaching.frame
    assert len(maps["outcome"]) == len(frame) == 24 * 11
    for _, row in frame.sample(40, random_state=0).iterrows():
        i = maps["x"]["values"].index(row["lr"])
        j = maps["y"]["values"].index(row["w0"])
        outcome, n_iter, loss = _cell(maps, i, j)
        assert (outcome, n_iter) == (row["outcome"], row["n_iter"])
        assert loss == (row["loss"] if np.isfinite(row["loss"]) else None)


def test_a_slice_holds_the_runs_of_its_fixed_setting_only(momentum):
    maps = sweep_maps(momentum, fixed={"momentum": 0.9})
    assert maps["fixed"] == {"momentum": 0.9}
    part = momentum.frame[momentum.frame["momentum"] == 0.9]
    for _, row in part.iterrows():
        outcome, n_iter, _ = _cell(maps, maps["x"]["values"].index(row["lr"]), maps["y"]["values"].index(row["w0"]))
        assert (outcome, n_iter) == (row["outcome"], row["n_iter"])
    # Unnamed, the other axis sits at its middle value; and any two swept axes can span the map.
    assert sweep_maps(momentum)["fixed"] == {"momentum": 0.5}
    across = sweep_maps(momentum, "lr", "momentum", {"w0": 3.0})
    assert (across["y"]["values"], across["fixed"]) == ([0.0, 0.5, 0.9], {"w0": 3.0})


def test_axis_roles_follow_the_plan_names():
    config = {"optimizer": "momentum", "schedule": "warmup-cosine", "starts": ["x0", "y0"], "loss": {"weights": ["x", "y"]}, "axes": dict.fromkeys(["lr", "x0", "y0", "momentum", "warmup", "T", "grad_noise", "a"], [1.0])}
    assert axis_roles(config) == {"lr": "lr", "x0": "w0:x", "y0": "w0:y", "momentum": "hyper:momentum", "warmup": "schedule:warmup", "T": "schedule:T", "grad_noise": "noise", "a": "param:a"}


def test_a_live_grid_with_the_saved_settings_is_the_saved_sweep(teaching, momentum):
    for view, fixed in ((teaching, {}), (momentum, {"momentum": 0.9})):
        saved = sweep_maps(view, fixed=fixed)
        live = live_maps(view, None, None, fixed, {"max_iter": view.config["max_iter"]})
        for key in ("x", "y", "fixed", "outcome", "n_iter", "loss"):
            assert live[key] == saved[key], key


def test_a_live_grid_runs_the_changed_settings(momentum, teaching):
    for view, fixed, changes, direct in [
        (momentum, {"momentum": 0.5}, {"max_iter": 7}, {"optimizer": "momentum", "hyper": {"momentum": 0.5}, "max_iter": 7, "tol": 1e-10}),
        (teaching, {}, {"a": 3.0, "b": -1.0}, {"params": {"a": 3.0, "b": -1.0}, "max_iter": 100}),
    ]:
        live = live_maps(view, "lr", "w0", fixed, changes)
        lr, w0 = np.array(live["x"]["values"]), np.array(live["y"]["values"])
        for _, row in run_sweep(lr, w0, **direct).iterrows():
            outcome, n_iter, _ = _cell(live, int(np.flatnonzero(lr == row["lr"])[0]), int(np.flatnonzero(w0 == row["w0"])[0]))
            assert (outcome, n_iter) == (row["outcome"], row["n_iter"])
    assert max(live["n_iter"]) == 100 and live["changes"] == {"a": 3.0, "b": -1.0}


def test_a_long_axis_is_thinned_for_a_live_grid(tmp_path):
    out = tmp_path / "long"
    assert main(["run", "--lr", "1e-3:1:300:log", "--w0", "2", "--out", str(out), "--no-report", "--quiet"]) == 0
    live = live_maps(open_sweep(out), None, None, None, {"max_iter": 50})
    values = live["x"]["values"]
    assert len(values) == 128 and values[0] == 1e-3 and values[-1] == 1.0 and live["y"] is None


def test_a_run_story_is_the_run_of_its_cell(teaching):
    row = teaching.frame.iloc[137]
    story = run_story(teaching, {"lr": float(row["lr"]), "w0": float(row["w0"])})
    assert (story["outcome"], story["n_iter"]) == (row["outcome"], row["n_iter"])
    rows = trace(float(row["lr"]), float(row["w0"]), max_iter=100)
    assert story["n_iter"] == int(rows["step"].iloc[-1])
    for picture in story["pictures"].values():
        assert picture.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(picture.split(",", 1)[1])))
        assert image.width > 200 and image.height > 150


def test_a_run_story_with_changed_settings_and_two_weights(momentum, himmelblau):
    story = run_story(momentum, {"lr": 0.01, "w0": 3.0, "momentum": 0.9}, {"max_iter": 5})
    assert (story["outcome"], story["n_iter"]) == ("max_iter", 5)
    assert story["summary"].startswith("lr=0.01, w0=3, momentum=0.9, max_iter=5: max_iter after 5 updates")
    x0, y0 = himmelblau.axes["x0"][2], himmelblau.axes["y0"][5]
    story = run_story(himmelblau, {"lr": 0.012, "x0": float(x0), "y0": float(y0)})
    row = himmelblau.frame[(himmelblau.frame["lr"] == 0.012) & (himmelblau.frame["x0"] == x0) & (himmelblau.frame["y0"] == y0)].iloc[0]
    assert (story["outcome"], story["n_iter"]) == (row["outcome"], row["n_iter"])
    assert f"x = {row['x']:.6g}" in story["summary"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda v: sweep_maps(v, "bogus", "w0"), "axis 'bogus' is not a swept axis of this sweep; choose from lr, w0"),
        (lambda v: sweep_maps(v, "lr", "lr"), "the x and y axes must differ"),
        (lambda v: sweep_maps(v, "lr", None, {"w0": 0.123}), "w0=0.123 is not a value of this sweep's w0 axis"),
        (lambda v: sweep_maps(v, "lr", "w0", {"w0": 0.5}), "'w0' cannot be fixed here"),
        (lambda v: live_maps(v, None, None, None, {"max_iter": 0}), "max_iter=0 is not allowed in a live view"),
        (lambda v: live_maps(v, None, None, None, {"max_iter": 2.5}), "max_iter=2.5 is not allowed in a live view"),
        (lambda v: live_maps(v, None, None, None, {"momentum": 0.5}), "'momentum' is not a setting this view can change; it can change max_iter, a, c, b"),
        (lambda v: live_maps(v, None, None, None, {"a": float("inf")}), "params['a']=inf is not allowed: every params['a'] must be finite"),
        (lambda v: run_story(v, {"lr": 0.1}), "a trace needs a value for w0"),
        (lambda v: run_story(v, {"lr": float("nan"), "w0": 1.0}), "lr=nan is not allowed: give a finite number"),
        (lambda v: run_story(v, {"lr": 0.1, "w0": 1.0, "beta": 2.0}), "'beta' is not a setting of this sweep"),
        (lambda v: run_story(v, {"lr": -0.1, "w0": 1.0}), "lr=-0.1 is not allowed: every lr must be finite and > 0"),
    ],
)
def test_bad_view_requests_are_one_line_naming_the_value(teaching, call, message):
    with pytest.raises(ViewError) as caught:
        call(teaching)
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_a_live_change_never_overrides_a_swept_axis(momentum):
    for x, y, fixed in (("lr", "momentum", {"w0": 3.0}), ("lr", "w0", {"momentum": 0.0})):
        with pytest.raises(ViewError, match="momentum is swept in this sweep; choose its value in the menu above the maps instead"):
            live_maps(momentum, x, y, fixed, {"momentum": 0.3})
    assert [c["name"] for c in sweepview_describe(momentum)["controls"]] == ["max_iter", "a", "c", "b"]


def test_a_live_grid_too_long_to_wait_for_is_refused(teaching, monkeypatch):
    import sweep.serve.sweepview as sweepview

    monkeypatch.setattr(sweepview, "LIVE_WORK", 1e5)
    with pytest.raises(ViewError, match=r"264 runs x max_iter 1,000 is too much for a live view \(at most 1e\+05 steps\); on this grid max_iter may be at most 378"):
        live_maps(teaching, None, None, None, {"max_iter": 1000})


def test_noisy_and_model_sweeps_say_why_they_are_not_traced(tmp_path):
    out = tmp_path / "noisy"
    assert main(["run", "--lr", "0.1,0.5", "--w0", "2", "--grad-noise", "0.1", "--max-iter", "30", "--out", str(out), "--no-report", "--quiet"]) == 0
    with pytest.raises(ViewError, match="traces are computed without gradient noise"):
        run_story(open_sweep(out), {"lr": 0.1})


# --- jobs ---------------------------------------------------------------------------------


def test_a_newer_job_of_the_same_kind_cancels_the_older_at_its_next_piece():
    worker = Worker()
    started, release = threading.Event(), threading.Event()

    def slow(job):
        for piece in range(1, 1000):
            started.set()
            release.wait(5)
            job.progress(piece, 999)
        return "finished"

    first = worker.submit("image", slow)
    assert started.wait(5)
    second = worker.submit("image", lambda job: "second")
    other = worker.submit("trace", lambda job: "other kind")
    release.set()
    assert second.future.result(10) == "second" and other.future.result(10) == "other kind"
    assert (first.state, first.done, second.state, other.state) == ("cancelled", 0, "done", "done")
    assert worker.get(first.id).status()["state"] == "cancelled"
    worker.close()


def test_a_job_that_fails_says_why_and_the_worker_goes_on():
    worker = Worker(errors=(ViewError,))
    failed = worker.run("live", lambda job: (_ for _ in ()).throw(ViewError("resolution 9 is not allowed")))
    assert (failed.state, failed.error) == ("failed", "resolution 9 is not allowed")
    with pytest.raises(ZeroDivisionError):
        worker.run("live", lambda job: 1 / 0)
    assert worker.run("live", lambda job: 42).result == 42
    job = worker.submit("x", lambda job: None)
    job.cancelled.set()
    with pytest.raises(Cancelled):
        job.progress(1, 2)
    worker.close()


# --- the trainability view ------------------------------------------------------------------


def test_a_window_keeps_the_experiment_and_checks_what_float64_allows():
    base = loss_experiment("cosine-mult", "delta", resolution=32, steps=200)
    moved = windowed(base, (0.5, 0.6), (0.4, 0.45), 24)
    assert (moved.x.lo, moved.x.hi, moved.x.n, moved.y.lo, moved.y.hi, moved.y.n, moved.steps) == (0.5, 0.6, 24, 0.4, 0.45, 24, 200)
    assert moved.params == base.params and moved.problem == base.problem
    for x, y, n, message in [
        ((0.5, 0.5 + 1e-15), (0.4, 0.45), 24, "narrower than float64 can resolve"),
        ((-1.0, 0.5), (0.4, 0.45), 24, "reaches below 0"),
        ((0.5, float("inf")), (0.4, 0.45), 24, "give two finite numbers"),
        ((0.5, 0.6), (0.4, 0.45), 4096, "resolution 4096 is not allowed: give a whole number of values per axis in 16..512"),
        ((0.6, 0.5), (0.4, 0.45), 24, "give finite A < B"),
    ]:
        with pytest.raises(ViewError, match=re.escape(message)):
            windowed(base, x, y, n)
    network = network_experiment(width=2, resolution=16, steps=10)
    with pytest.raises(ViewError, match="keep both ends within 1e-100..1e100"):
        windowed(network, (1e-120, 1.0), (1e-3, 1.0))


def test_the_view_image_has_a_pixel_per_cell_and_y_going_up():
    from sweep.fractal import compute
    from sweep.fractal.report import trainability_rgba

    picture = compute(loss_experiment("cosine-mult", "delta", resolution=20, steps=200))
    image = np.asarray(Image.open(io.BytesIO(picture_png(picture))))
    assert image.shape == (20, 20, 4)
    rgba = (trainability_rgba(picture.measure, picture.converged) * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(image[0], rgba[-1])  # top row: the highest delta
    payload = view_payload(picture)
    assert payload["dimension"]["text"] == picture.dimension.text()
    assert payload["converged_share"] == pytest.approx(picture.converged.mean())


def test_a_saved_view_is_a_fractal_folder_inside_the_given_one(tmp_path):
    from sweep.fractal import compute
    from sweep.fractal.store import read_picture

    root = tmp_path / "views"
    picture = compute(loss_experiment("cosine-mult", "delta", resolution=16, steps=100))
    first = save_view(root, picture, "sweep serve (test)")
    second = save_view(root, picture, "sweep serve (test)")
    assert (first.name, second.name) == ("view-1", "view-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["views"]
    again = read_picture(first)
    np.testing.assert_array_equal(again.converged, picture.converged)
    assert again.experiment == picture.experiment


# --- the routes -----------------------------------------------------------------------------


def test_the_sweep_routes_answer_and_refuse_with_one_line(teaching):
    with TestClient(create_app(Shown(sweep=teaching))) as client:
        info = client.get("/api/info").json()
        assert (info["mode"], info["x"], info["y"], info["traceable"]) == ("sweep", "lr", "w0", None)
        assert [c["name"] for c in info["controls"]] == ["max_iter", "a", "c", "b"]
        assert "<canvas" in client.get("/").text
        assert client.post("/api/sweep/maps", json={}).json()["outcome"] == sweep_maps(teaching)["outcome"]
        for body, status, text in [
            ({"x": "bogus"}, 400, "axis 'bogus' is not a swept axis"),
            ({"changes": {"max_iter": -1}}, 400, "max_iter=-1 is not allowed"),
            ({"fixed": "w0"}, 422, "fixed: Input should be a valid dictionary"),
            ({"extra": 1}, 422, "extra"),
        ]:
            answer = client.post("/api/sweep/maps", json=body)
            assert answer.status_code == status and text in answer.json()["error"], answer.text
        assert client.post("/api/sweep/maps", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
        assert client.post("/api/sweep/trace", json={"settings": {"lr": 0.5}}).status_code == 400
        assert client.post("/api/fractal/view", json={"x": [0, 1], "y": [0, 1]}).json()["error"] == "this server shows a sweep, not a trainability image"
        assert client.get("/api/jobs/999").status_code == 404
        # After every refusal the server still serves.
        story = client.post("/api/sweep/trace", json={"settings": {"lr": 0.5, "w0": 2.0}}).json()
        assert story["outcome"] == "converged" and story["n_iter"] == 1


def test_the_image_routes_run_a_job_and_save_only_inside_the_folder(tmp_path):
    base = loss_experiment("cosine-mult", "delta", resolution=32, steps=200)
    with TestClient(create_app(Shown(experiment=base, save_root=tmp_path / "views"))) as client:
        info = client.get("/api/info").json()
        assert (info["mode"], info["resolution"], info["can_save"]) == ("fractal", 32, True)
        job = client.post("/api/fractal/view", json={"x": [0.5, 0.9], "y": [0.3, 0.6], "resolution": 32})
        assert job.status_code == 202
        job_id = job.json()["id"]
        app_worker = client.app.state.worker
        app_worker.get(job_id).future.result(60)
        assert client.get(f"/api/jobs/{job_id}").json()["state"] == "done"
        view = client.get(f"/api/jobs/{job_id}/view").json()
        assert (view["x"]["lo"], view["x"]["hi"], view["y"]["n"]) == (0.5, 0.9, 32)
        assert view["image"].startswith("data:image/png;base64,") and view["dimension"]["text"]
        saved = client.post("/api/fractal/save", json={"job": job_id}).json()
        assert saved["folder"] == str(tmp_path / "views" / "view-1") and not saved["again"] and (tmp_path / "views" / "view-1" / "fractal.json").exists()
        again = client.post("/api/fractal/save", json={"job": job_id}).json()
        assert (again["folder"], again["again"]) == (saved["folder"], True) and sorted(p.name for p in (tmp_path / "views").iterdir()) == ["view-1"]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["views"]
        bad = client.post("/api/fractal/view", json={"x": [0.5, 0.5], "y": [0.3, 0.6]})
        assert bad.status_code == 400 and "lr range" in bad.json()["error"]
        assert client.post("/api/fractal/view", json={"x": [0.5, 0.9], "y": [0.3, 0.6], "resolution": 10**6}).status_code == 400
        short = client.post("/api/fractal/view", json={"x": [0.5], "y": [0.3, 0.6]})
        assert short.status_code == 422 and short.json()["error"] == "x[1]: Field required"
        typed = client.post("/api/fractal/view", json={"x": ["abc", 0.9], "y": [0.3, 0.6]})
        assert typed.status_code == 422 and typed.json()["error"] == "x[0]: Input should be a valid number, unable to parse string as a number (got 'abc')"
        assert client.post("/api/fractal/save", json={"job": 12345}).status_code == 404
    with TestClient(create_app(Shown(experiment=base))) as client:
        assert "without a folder to save views in" in client.post("/api/fractal/save", json={"job": 1}).json()["error"]


def test_a_network_view_reports_its_pieces(monkeypatch):
    import sweep.serve.fractalview as fractalview

    monkeypatch.setattr(fractalview, "SERVE_PIECE_FLOPS", 2e5)
    base = network_experiment(width=2, resolution=16, steps=20)
    with TestClient(create_app(Shown(experiment=base))) as client:
        job_id = client.post("/api/fractal/view", json={"x": [1e-2, 10.0], "y": [1e-2, 10.0]}).json()["id"]
        client.app.state.worker.get(job_id).future.result(120)
        status = client.get(f"/api/jobs/{job_id}").json()
        assert status["state"] == "done" and status["total"] > 1 and status["done"] == status["total"]


# --- the command ----------------------------------------------------------------------------


def test_serve_refuses_what_it_cannot_show_in_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("mine")
    assert main(["serve", str(empty)]) == 2
    assert "holds no sweep (sweep.json) or trainability image (fractal.json)" in capsys.readouterr().err
    assert main(["serve", "--problem", "cosine-mult", "--y", "none"]) == 2
    assert "--y none (a single line of learning rates) is not shown here" in capsys.readouterr().err
    assert main(["serve", "--problem", "network", "--param", "a=1"]) == 2
    assert "--param is for a loss" in capsys.readouterr().err
    assert main(["serve", "--port", "70000"]) == 2
    assert (empty / "notes.txt").read_text() == "mine" and sorted(p.name for p in empty.iterdir()) == ["notes.txt"]


def test_serve_says_when_its_port_is_taken(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--problem", "cosine-mult", "--resolution", "16", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and err.count("\n") == 1


def test_every_refusal_has_the_one_line_form(teaching):
    with TestClient(create_app(Shown(sweep=teaching))) as client:
        for answer, status, text in [
            (client.get("/nope"), 404, "no such page"),
            (client.get("/api/sweep/maps"), 405, "this address does not take that method"),
            (client.post("/api/sweep/maps", content=b"[" * 70_000 + b"]" * 70_000, headers={"content-type": "application/json"}), 413, "a request body may hold at most 65,536 bytes"),
        ]:
            assert answer.status_code == status and answer.json() == {"error": text}, answer.text
        assert client.get("/api/info").status_code == 200


def test_a_window_must_hold_distinct_float64_values():
    base = loss_experiment("cosine-mult", "delta", resolution=32, steps=100)
    with pytest.raises(ViewError, match=re.escape("lr range 0.0:5e-324 is narrower than float64 can resolve at 64 values")):
        windowed(base, (0.0, 5e-324), (0.4, 0.5), 64)
    assert windowed(base, (0.0, 1e-300), (0.4, 0.5), 64).x.hi == 1e-300


def test_a_model_live_grid_is_bounded_by_its_arithmetic(tmp_path, monkeypatch):
    import sweep.serve.sweepview as sweepview

    out = tmp_path / "model"
    assert main(["run", "--loss", "mse-linear", "--dataset", "diabetes", "--lr", "1e-3:1:6:log", "--w0", "0,1", "--max-iter", "20", "--out", str(out), "--no-report", "--quiet"]) == 0
    view = open_sweep(out)
    assert live_maps(view, None, None, None, {"max_iter": 20})["outcome"] == sweep_maps(view)["outcome"]
    monkeypatch.setattr(sweepview, "LIVE_FLOPS", 1e4)
    with pytest.raises(ViewError, match=r"12 runs x max_iter 20 on diabetes is too much for a live view \(at most 1e\+04 floating-point operations\); on this grid max_iter may be at most 2"):
        live_maps(view, None, None, None, {"max_iter": 20})


def test_serve_checks_its_folder_and_resolution_before_it_listens(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args, message in [
        (["serve", "--problem", "cosine-mult", "--resolution", "5"], "--resolution 5 is not allowed: the browser view takes 16..512 values per axis"),
        (["serve", "--problem", "rosenbrock", "--y", "a"], "--problem 'rosenbrock' has 2 weights (x, y); a trainability image takes the network or a loss of one weight w"),
        (["serve", "--problem", "unknown"], "Error: --problem 'unknown' is neither"),
        (["serve", str(afile), "--problem", "cosine-mult"], "is a file, not a folder"),
        (["serve", str(afile / "sub"), "--problem", "cosine-mult"], "cannot be made"),
        (["serve", "--host", " "], "--host ' ' is not allowed"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_views_of_a_fractal_folder_are_saved_by_sweep_zoom(tmp_path, capsys):
    from sweep.cli.serve import _shown

    folder = tmp_path / "fr"
    assert main(["fractal", "--problem", "cosine-mult", "--resolution", "32", "--steps", "100", "--out", str(folder), "--quiet"]) == 0
    before = sorted(p.name for p in folder.iterdir())
    shown = _shown(str(folder), False, {})
    assert shown.save_root is None and shown.experiment.x.n == 32
    with TestClient(create_app(shown)) as client:
        answer = client.post("/api/fractal/save", json={"job": 1})
        assert answer.status_code == 409 and f"sweep zoom {folder}" in answer.json()["error"]
    assert sorted(p.name for p in folder.iterdir()) == before
