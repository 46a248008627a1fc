"""The fault suite: nothing lost, no one in.

Planted user files survive every command; a second writer is refused while a first runs;
truncated, swapped and missing parts are found and named, and a resume recomputes them; a
full disk is one line and a later resume finishes; every edited sweep.json field is one
line; the kernel cache refuses unsafe folders and never touches $TMPDIR; pages escape what
they show; numeric traps are refused instead of computed.
"""

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from sweep.cli import main
from sweep.store.folder import RECORD, read_record
from sweep.store.results import read_results

SMALL = ["--lr", "0.01:1:13:log", "--w0", "-1:2:7", "--max-iter", "300", "--tol", "1e-10", "--quiet"]


def cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line(code, err, fragment):
    assert code != 0 and err.startswith("Error: ") and err.count("\n") == 1 and fragment in err, err


def files_of(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".sweep.lock"}


# -- planted user files survive every command ----------------------------------------------

PLANTED = {"report.html": b"my page", "notes.txt": b"mine", "runs/part-000000.parquet": b"my part", "frames/frame-00.parquet": b"my frame", "zoom.gif": b"GIF89a"}


def _plant(folder):
    for name, data in PLANTED.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


@pytest.fixture(scope="module")
def sweep_result(tmp_path_factory):
    out = tmp_path_factory.mktemp("result") / "r"
    assert main(["run", *SMALL, "--out", str(out), "--no-report"]) == 0
    return out


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    out = tmp_path_factory.mktemp("picture") / "p"
    assert main(["fractal", "--problem", "cosine-mult", "--y", "none", "--resolution", "64", "--steps", "60", "--quiet", "--out", str(out)]) == 0
    return out


COMMANDS = {
    "run": lambda out, result, picture: ["run", *SMALL, "--out", str(out)],
    "run --no-report": lambda out, result, picture: ["run", *SMALL, "--no-report", "--out", str(out)],
    "streamed run": lambda out, result, picture: ["run", *SMALL, "--chunk-size", "20", "--out", str(out)],
    "report --out": lambda out, result, picture: ["report", str(result), "--out", str(out)],
    "fractal": lambda out, result, picture: ["fractal", "--problem", "cosine-mult", "--y", "none", "--resolution", "64", "--steps", "60", "--quiet", "--out", str(out)],
    "zoom": lambda out, result, picture: ["zoom", str(picture), "--x-range", "0.5:1", "--quiet", "--out", str(out)],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_planted_user_files_survive_every_command(tmp_path, capsys, sweep_result, picture, command):
    out = tmp_path / "mine"
    out.mkdir()
    _plant(out)
    before = files_of(out)
    code, _, err = cli(COMMANDS[command](out, sweep_result, picture), capsys)
    assert_one_line(code, err, "holds files sweep did not write")
    assert files_of(out) == before


def test_report_into_a_result_folder_with_a_user_file_is_refused(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli(["run", *SMALL, "--out", str(out)], capsys)[0] == 0
    (out / "my-figure.png").write_bytes(b"mine")
    before = files_of(out)
    for args in (["report", str(out)], ["run", *SMALL, "--out", str(out)], ["run", *SMALL, "--resume", str(out)]):
        code, _, err = cli(args, capsys)
        assert_one_line(code, err, "my-figure.png")
        assert files_of(out) == before


def test_a_new_result_replaces_only_what_sweep_wrote(tmp_path, capsys):
    out = tmp_path / "r"
    assert cli(["run", *SMALL, "--out", str(out)], capsys)[0] == 0
    assert (out / "paths.png").is_file()
    # A momentum sweep draws no paths figure: the old one is removed, being sweep's own.
    assert cli(["run", *SMALL, "--optimizer", "momentum", "--out", str(out)], capsys)[0] == 0
    assert not (out / "paths.png").exists() and (out / "report.html").is_file()
    assert set(read_record(out)) == {p for p in files_of(out) if p != RECORD}


# -- a second writer is refused while a first runs -----------------------------------------

SLOW = ["--lr", "1e-4:1:3000:log", "--w0", "-2:3:400", "--max-iter", "2000", "--tol", "1e-13", "--chunk-size", "20000", "--no-report", "--quiet"]


def test_a_second_writer_is_refused_naming_the_first(tmp_path, capsys):
    out = tmp_path / "busy"
    first = subprocess.Popen([sys.executable, "-m", "sweep", "run", *SLOW, "--out", str(out)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (out / "sweep.json").is_file():
            time.sleep(0.05)
        code, _, err = cli(["run", *SMALL, "--max-iter", "50", "--out", str(out)], capsys)
        assert_one_line(code, err, f"is being written by process {first.pid}")
        assert "sweep run" in err
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    config = json.loads((out / "sweep.json").read_text())
    assert config["max_iter"] == 2000 and config["status"] == "running"


# -- damaged parts are found, named, and recomputed ----------------------------------------


def test_truncated_swapped_and_missing_parts_are_named_then_recomputed(tmp_path, capsys):
    out, whole = tmp_path / "s", tmp_path / "whole"
    assert cli(["run", *SMALL, "--chunk-size", "20", "--no-report", "--out", str(out)], capsys)[0] == 0
    assert cli(["run", *SMALL, "--no-report", "--out", str(whole)], capsys)[0] == 0
    parts = sorted((out / "runs").glob("part-*.parquet"))
    assert len(parts) == 5
    data = parts[1].read_bytes()
    parts[1].write_bytes(data[: len(data) // 2])  # truncated
    shutil.copy(parts[0], parts[3])  # swapped for a copy of another
    parts[4].unlink()  # missing
    code, _, err = cli(["report", str(out)], capsys)
    assert_one_line(code, err, "3 missing or damaged parts (runs/part-000001.parquet, runs/part-000003.parquet, runs/part-000004.parquet)")
    code, stdout, err = cli(["run", *SMALL, "--chunk-size", "20", "--no-report", "--resume", str(out)], capsys)
    assert code == 0, err
    assert "resuming: 2 of 5 chunks already done" in stdout
    assert read_results(out)[0].equals(read_results(whole)[0])
    assert cli(["report", str(out)], capsys)[0] == 0


def test_resume_over_another_versions_parts_is_refused_before_running(tmp_path, capsys):
    out = tmp_path / "old"
    assert cli(["run", *SMALL, "--chunk-size", "20", "--no-report", "--out", str(out)], capsys)[0] == 0
    config = json.loads((out / "sweep.json").read_text())
    config["format"] = 1
    (out / "sweep.json").write_text(json.dumps(config))
    (out / "runs" / "part-000002.parquet").unlink()
    before = files_of(out)
    code, _, err = cli(["run", *SMALL, "--chunk-size", "20", "--no-report", "--resume", str(out)], capsys)
    assert_one_line(code, err, "is in sweep's file format 1 (written by sweep")
    assert files_of(out) == before
    # Parts with other columns (written by another version in the same format) are refused too.
    config["format"] = 2
    (out / "sweep.json").write_text(json.dumps(config))
    table = pd.read_parquet(out / "runs" / "part-000000.parquet").drop(columns=["regime"])
    table.to_parquet(out / "runs" / "part-000000.parquet")
    from sweep.store.folder import file_digest

    size, digest = file_digest(out / "runs" / "part-000000.parquet")
    with open(out / RECORD, "a") as record:
        record.write(json.dumps({"name": "runs/part-000000.parquet", "size": size, "sha256": digest, "rows": [0, 20]}) + "\n")
    code, _, err = cli(["run", *SMALL, "--chunk-size", "20", "--no-report", "--resume", str(out)], capsys)
    assert_one_line(code, err, "part-000000.parquet has other columns than this version writes")


# -- a full disk is one line, and a later resume finishes ----------------------------------


def _full_disk_after(monkeypatch, module, name, calls):
    """Make ``module.name``'s writer raise ENOSPC from its ``calls``-th use on."""
    real = getattr(module, name)
    seen = {"n": 0}

    def writer_factory(*args, **kwargs):
        write = real(*args, **kwargs)

        def write_or_fail(path):
            seen["n"] += 1
            if seen["n"] >= calls:
                path.write_bytes(b"partial")
                raise OSError(errno.ENOSPC, "No space left on device")
            write(path)

        return write_or_fail

    monkeypatch.setattr(module, name, writer_factory)


def test_full_disk_in_a_streamed_sweep_is_one_line_and_resume_finishes(tmp_path, capsys, monkeypatch):
    import sweep.run.stream

    out, whole = tmp_path / "s", tmp_path / "whole"
    assert cli(["run", *SMALL, "--no-report", "--out", str(whole)], capsys)[0] == 0
    with monkeypatch.context() as patch:
        _full_disk_after(patch, sweep.run.stream, "runs_bytes", 3)
        code, _, err = cli(["run", *SMALL, "--chunk-size", "20", "--out", str(out)], capsys)
    assert_one_line(code, err, "no space left on the device")
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["part-000000.parquet", "part-000001.parquet"]
    assert not list(out.glob("*.png"))
    # The disk check of a resume counts only what is left to write.
    import collections

    usage = collections.namedtuple("usage", "total used free")
    with monkeypatch.context() as patch:
        patch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 0, 61 * 40))
        code, _, err = cli(["run", *SMALL, "--chunk-size", "20", "--out", str(tmp_path / "fresh")], capsys)
        assert_one_line(code, err, "91 runs need about")
        code, stdout, err = cli(["run", *SMALL, "--chunk-size", "20", "--no-report", "--resume", str(out)], capsys)
    assert code == 0, err
    assert read_results(out)[0].equals(read_results(whole)[0])


def test_full_disk_in_one_piece_writes_nothing(tmp_path, capsys, monkeypatch):
    import sweep.store.results

    _full_disk_after(monkeypatch, sweep.store.results, "runs_bytes", 1)
    code, _, err = cli(["run", *SMALL, "--out", str(tmp_path / "one")], capsys)
    assert_one_line(code, err, "no space left on the device")
    assert not (tmp_path / "one").exists()


def test_full_disk_while_reporting_changes_no_file(tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    assert cli(["run", *SMALL, "--out", str(out)], capsys)[0] == 0
    before = files_of(out)
    real = type(out).write_bytes
    seen = {"n": 0}

    def write_bytes(self, data):
        seen["n"] += 1
        if seen["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(type(out), "write_bytes", write_bytes)
    code, _, err = cli(["report", str(out)], capsys)
    assert_one_line(code, err, "no space left on the device")
    assert files_of(out) == before


# -- every edited sweep.json field is one line ---------------------------------------------


def _edit(out, **changes):
    config = json.loads((out / "sweep.json").read_text())
    for path, value in changes.items():
        target = config
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    (out / "sweep.json").write_text(json.dumps(config))


def _raw(out, old, new):
    text = (out / "sweep.json").read_text()
    assert old in text
    (out / "sweep.json").write_text(text.replace(old, new, 1))


def _deep_formula(out):
    config = json.loads((out / "sweep.json").read_text())
    config["loss"].update(name="formula", params={}, formula="cos(" * 99 + "w" + ")" * 99)
    for name in ("a", "b", "c"):
        config["axes"].pop(name)
    (out / "sweep.json").write_text(json.dumps(config))


EDITS = [
    (lambda out: _edit(out, chunk_size="x"), "chunk_size = 'x': must be of type integer"),
    (lambda out: _edit(out, chunk_size=1.5), "chunk_size = 1.5: must be of type integer"),
    (lambda out: _raw(out, '"chunk_size": 20', '"chunk_size": 1e400'), "chunk_size = inf: must be of type integer"),
    (lambda out: _edit(out, n_chunks=7), "n_chunks = 7"),
    (lambda out: _edit(out, max_iter=-1), "max_iter = -1: must be >= 0"),
    (lambda out: _edit(out, max_iter="100"), "max_iter = '100': must be of type integer"),
    (lambda out: _raw(out, '"tol": 1e-10', '"tol": NaN'), "tol = nan: must be finite"),
    (lambda out: _edit(out, div_factor=0.5), "div_factor = 0.5: must be >= 1"),
    (lambda out: _edit(out, axes__lr=["a", "b"]), "axes.lr[0] = 'a': must be of type number"),
    (lambda out: _edit(out, axes__lr=[0.5, 0.1]), "axes.lr is not sorted without duplicates"),
    (lambda out: _edit(out, axes__foo=[1.0, 2.0]), "axes.foo is not an axis of a gd sweep"),
    (lambda out: _edit(out, axes__w0=[]), "axes.w0 = []: must not be empty"),
    (lambda out: _edit(out, n_runs=5), "n_runs = 5: the axes hold 91 runs"),
    (lambda out: _edit(out, optimizer="sgd9"), "optimizer = 'sgd9': must be one of"),
    (lambda out: _edit(out, status="done"), "status = 'done': must be one of running, complete"),
    (lambda out: _edit(out, loss__params={"a": "x"}), "loss.params.a = 'x': must be of type number"),
    (lambda out: _edit(out, loss__formula=3), "loss.formula = 3: must be of type string"),
    (lambda out: _edit(out, loss__name="formula", loss__formula="__import__('os').system('true')"), "is not allowed in the loss formula"),
    (lambda out: _deep_formula(out), "nests"),
    (lambda out: (out / "sweep.json").write_text(json.dumps({"loss": []})), "the field 'axes' is missing"),
]


@pytest.mark.parametrize("edit, fragment", EDITS)
def test_every_edited_field_of_sweep_json_is_one_line(tmp_path, capsys, edit, fragment):
    out = tmp_path / "s"
    assert cli(["run", *SMALL, "--chunk-size", "20", "--no-report", "--out", str(out)], capsys)[0] == 0
    edit(out)
    before = files_of(out)
    code, _, err = cli(["report", str(out)], capsys)
    assert_one_line(code, err, fragment)
    code, _, err = cli(["run", *SMALL, "--chunk-size", "20", "--no-report", "--resume", str(out)], capsys)
    assert code != 0 and err.count("\n") == 1, err
    assert files_of(out) == before


def test_math_text_in_a_name_is_drawn_literally(tmp_path, capsys):
    out = tmp_path / "s"
    assert cli(["run", *SMALL, "--no-report", "--out", str(out)], capsys)[0] == 0
    _edit(out, loss__expression=r"$\frac{1}{$ w")
    code, _, err = cli(["report", str(out)], capsys)
    assert code == 0, err


# -- pages escape what they show -------------------------------------------------------------


def test_report_pages_escape_values_from_sweep_json(tmp_path, capsys):
    out = tmp_path / "s"
    assert cli(["run", *SMALL, "--no-report", "--out", str(out)], capsys)[0] == 0
    _edit(out, loss__expression="<script>alert(1)</script>", loss__source="<b onmouseover=alert(2)>x</b>")
    assert cli(["report", str(out)], capsys)[0] == 0
    page = (out / "report.html").read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    model = tmp_path / "m"
    assert cli(["run", "--loss", "mse-linear", "--lr", "0.01,0.1", "--w0", "0", "--max-iter", "50", "--no-report", "--out", str(model)], capsys)[0] == 0
    _edit(model, loss__dataset="<img src=x onerror=alert(3)>")
    assert cli(["report", str(model)], capsys)[0] == 0
    page = (model / "report.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(3)&gt;" in page
    _edit(model, loss__n_samples="<script>")
    assert_one_line(*cli(["report", str(model)], capsys)[::2], "loss.n_samples = '<script>': must be of type integer")


# -- the kernel cache refuses unsafe folders and never touches $TMPDIR ------------------------


def test_cache_folder_checks(tmp_path, monkeypatch):
    from sweep.kernels import cache as codegen

    mine = tmp_path / "mine"
    mine.mkdir(mode=0o700)
    assert codegen.private_folder_problem(mine) is None
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert "others may write to it (mode 777)" in codegen.private_folder_problem(shared)
    link = tmp_path / "link"
    link.symlink_to(mine)
    assert "not a plain folder" in codegen.private_folder_problem(link)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(mine).st_uid + 1)
    assert "belongs to another user" in codegen.private_folder_problem(mine)


def test_an_unsafe_cache_compiles_in_memory_and_never_touches_tmpdir(tmp_path):
    shared = tmp_path / "shared-cache"
    shared.mkdir()
    shared.chmod(0o777 | stat.S_ISVTX)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, SWEEP_CACHE_DIR=str(shared), TMPDIR=str(tmpdir))
    done = subprocess.run([sys.executable, "-m", "sweep", "run", "--loss", "w**2 + 0.25*w", "--lr", "0.1,0.2", "--w0", "1", "--no-report", "--out", str(tmp_path / "o")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("not caching compiled kernels on disk") == 1 and "others may write" in done.stderr
    assert list(tmpdir.iterdir()) == []
    assert not list(shared.rglob("*.py")) and not list(shared.rglob("*.nbi"))


# -- numeric traps ---------------------------------------------------------------------------

TRAPS = [
    (["--loss", "logloss-logistic", "--dataset", "diabetes"], "needs a 0/1 target"),
    (["--loss", "mse-linear", "--dataset", "diabetes", "--target", "age"], "--target is for a CSV dataset"),
    (["--loss", "mse-linear", "--features", "age"], "--features is for a CSV dataset"),
    (["--lr", "1e-3:1:3000000:log", "--w0", "-1:1:3000000", "--optimizer", "adam", "--b1", "0:0.9:3000000"], "more than the 4.6e+18 a sweep can number"),
    (["--lr", "0.1,0.1"], None),  # a SPEC makes a set: duplicates merge
]


@pytest.mark.parametrize("args, fragment", TRAPS)
def test_numeric_traps_are_refused_in_one_line(tmp_path, capsys, args, fragment):
    code, _, err = cli(["run", *args, "--no-report", "--quiet", "--out", str(tmp_path / "o")], capsys)
    if fragment is None:
        assert code == 0, err
        return
    assert_one_line(code, err, fragment)
    assert not (tmp_path / "o").exists()


def test_duplicate_axis_values_from_python_are_refused():
    from sweep import SweepError, run_sweep

    with pytest.raises(SweepError, match=r"lr=0.1 is given 2 times"):
        run_sweep([0.1, 0.2, 0.1], [1.0])
    with pytest.raises(SweepError, match=r"momentum=0.5 is given 2 times"):
        run_sweep([0.1], [1.0], optimizer="momentum", hyper={"momentum": [0.5, 0.5]})


def test_scores_of_a_large_dataset_go_a_block_at_a_time(monkeypatch):
    from sweep.problems import models

    model = models.make_model("logloss-logistic")
    W = np.random.default_rng(0).normal(size=(300, model.n_weights))
    whole = models.scores(model, W)
    monkeypatch.setattr(models, "SCORE_BYTES", 8 * model.n_samples * 7)  # 7 runs a block
    assert np.array_equal(models.scores(model, W), whole)


# -- Dask: a lost scheduler is one line; a relative --out reaches the workers -----------------


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_killed_scheduler_is_one_line_and_a_local_resume_finishes(tmp_path):
    port = _free_port()
    scheduler = subprocess.Popen(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen(["dask", "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    args = ["--lr", "1e-6:1e-4:400:log", "--w0", "-2:3:500", "--max-iter", "20000", "--chunk-size", "5000", "--no-report", "--quiet"]
    out = tmp_path / "d"
    try:
        run = subprocess.Popen([sys.executable, "-m", "sweep", "run", *args, "--out", "d", "--scheduler", f"tcp://127.0.0.1:{port}"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 90
        while time.time() < deadline and not list((out / "runs").glob("part-*.parquet") if (out / "runs").is_dir() else []):
            time.sleep(0.02)
        scheduler.kill()
        stdout, stderr = run.communicate(timeout=120)
    finally:
        scheduler.kill()
        worker.kill()
        scheduler.wait()
        worker.wait()
    if run.returncode == 0:
        pytest.skip("the sweep finished before the scheduler was killed")
    # The relative --out was resolved here, so the worker (started in tmp_path too) wrote there.
    assert f"the workers write the parts into {out}" in stdout
    assert stderr.count("\n") == 1 and stderr.startswith("Error: lost the Dask cluster") and f"--resume {out}" in stderr, stderr
    resumed = subprocess.run([sys.executable, "-m", "sweep", "run", *args, "--resume", str(out)], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert read_results(out)[0]["n_iter"].eq(20000).all()


def test_a_relative_out_with_a_cluster_is_made_absolute(tmp_path, monkeypatch, capsys):
    from distributed import LocalCluster

    workers_home = tmp_path / "workers"
    workers_home.mkdir()
    monkeypatch.chdir(workers_home)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        here = tmp_path / "here"
        here.mkdir()
        monkeypatch.chdir(here)
        code, stdout, err = cli(["run", *SMALL, "--chunk-size", "30", "--no-report", "--out", "rel", "--scheduler", cluster.scheduler_address], capsys)
    assert code == 0, err
    assert f"the workers write the parts into {here / 'rel'}" in stdout
    assert len(read_results(here / "rel")[0]) == 91 and not (workers_home / "rel").exists()
