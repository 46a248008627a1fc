"""Chunked sweeps: the same rows as one piece, resumable after a kill, on Dask alike."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from sweep import SweepError
from sweep.cli import main
from sweep.plots.report import write_report
from sweep.run.plan import plan_sweep
from sweep.run.stream import chunk_bounds, default_chunk_size, stream_sweep
from sweep.store.aggregate import aggregate, axis_groups
from sweep.store.results import read_results, read_traces

LR, W0 = "1e-3:10:97:log,0.4", "-2:3:41"


def run_cli(args):
    return main(["run", "--lr", LR, "--w0", W0, "--no-report", "--quiet", *args])


def test_streamed_equals_single_shot(tmp_path):
    trace = ["--trace", "lr=0.4,0.001,10", "--trace", "sample:7:3"]
    assert run_cli(["--out", str(tmp_path / "one"), *trace]) == 0
    assert run_cli(["--out", str(tmp_path / "chunks"), "--chunk-size", "333", *trace]) == 0
    one_traces, chunk_traces = read_traces(tmp_path / "one"), read_traces(tmp_path / "chunks")
    assert one_traces.equals(chunk_traces) and one_traces["run"].nunique() >= 1
    one, _ = read_results(tmp_path / "one")
    # every traced run's last row is its row of the table
    last = one_traces.groupby("run").tail(1).set_index("run")
    assert (last["step"].to_numpy() == one["n_iter"].to_numpy()[last.index]).all()
    assert (last["w"].to_numpy() == one["w"].to_numpy()[last.index]).all()
    chunks, config = read_results(tmp_path / "chunks")
    assert (tmp_path / "one" / "runs.parquet").is_file() and (tmp_path / "chunks" / "runs").is_dir()
    assert config["n_chunks"] == len(list((tmp_path / "chunks" / "runs").iterdir())) == -(-len(one) // 333)
    assert chunks.equals(one)
    assert config["counts"] == one["outcome"].value_counts().to_dict() | {k: 0 for k in config["counts"] if k not in set(one["outcome"])}


def _command(out, extra=()):
    return [sys.executable, "-m", "sweep", "run", "--lr", "1e-4:1:3000:log", "--w0", "-2:3:400", "--max-iter", "2000",
            "--tol", "1e-13", "--chunk-size", "20000", "--trace", "sample:5:0", "--no-report", "--quiet", "--out", str(out), *extra]


def test_killed_run_resumes_to_the_same_dataset(tmp_path):
    killed = tmp_path / "killed"
    process = subprocess.Popen(_command(killed))
    deadline = time.time() + 120
    while time.time() < deadline and len(list((killed / "runs").glob("part-*.parquet")) if (killed / "runs").is_dir() else []) < 3:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list((killed / "runs").glob("part-*.parquet")))
    assert 3 <= done_before < 60, "the run finished before it could be killed: make it slower"
    assert all(p.name.startswith(".sweep-tmp-") for p in (killed / "runs").glob(".*"))
    assert json.loads((killed / "sweep.json").read_text())["status"] == "running"
    resumed = subprocess.run(_command(killed, ["--resume", str(killed)]), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    # A part renamed into place by the killed process but not yet recorded is redone.
    assert any(f"resuming: {n} of 60 chunks already done" in resumed.stdout for n in (done_before - 1, done_before)), resumed.stdout
    whole = tmp_path / "whole"
    assert subprocess.run(_command(whole), capture_output=True).returncode == 0
    a, config = read_results(killed)
    b, _ = read_results(whole)
    assert config["status"] == "complete" and a.equals(b)
    assert read_traces(killed).equals(read_traces(whole)) and read_traces(whole)["run"].nunique() == 5


def test_resume_refuses_another_configuration(tmp_path, capsys):
    out = tmp_path / "s"
    assert run_cli(["--out", str(out), "--chunk-size", "500"]) == 0
    capsys.readouterr()
    code = main(["run", "--lr", LR, "--w0", W0, "--max-iter", "200", "--no-report", "--resume", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "differs from this command in max_iter" in err
    code = main(["run", "--resume", str(tmp_path / "nothing-here")])
    assert code != 0 and "nothing to resume" in capsys.readouterr().err


def test_dask_backend_equals_local(tmp_path):
    plan = plan_sweep(np.geomspace(1e-3, 10, 37), np.linspace(-2, 3, 29), max_iter=300, tol=1e-10, trace="sample:9:2", grad_noise=[0.0, 0.2], seed=3)
    (tmp_path / "local").mkdir()
    stream_sweep(plan, tmp_path / "local", chunk_size=200, progress=False, log=lambda *_: None)
    (tmp_path / "dask").mkdir()
    config = stream_sweep(plan, tmp_path / "dask", chunk_size=200, scheduler="dask", progress=False, log=lambda *_: None)
    assert config["status"] == "complete"
    assert read_results(tmp_path / "dask")[0].equals(read_results(tmp_path / "local")[0])
    assert read_traces(tmp_path / "dask").equals(read_traces(tmp_path / "local"))


def test_bad_scheduler_and_chunk_size(tmp_path, capsys):
    assert main(["run", "--scheduler", "udp://x", "--out", str(tmp_path / "a")]) != 0
    assert "--scheduler 'udp://x' is not allowed" in capsys.readouterr().err
    assert main(["run", "--chunk-size", "0", "--out", str(tmp_path / "b")]) != 0
    assert "--chunk-size 0 is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    with pytest.raises(SweepError):
        chunk_bounds(10, 0)


def test_chunks_cover_the_grid_once():
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    plan = plan_sweep([0.1], [1.0])
    assert 2**16 <= default_chunk_size(plan, available=10**12) <= 2**22
    assert default_chunk_size(plan, available=1) == 2**16


def test_big_result_reports_aggregated_cells(tmp_path, monkeypatch):
    import sweep.store.aggregate as aggregate_module

    out = tmp_path / "big"
    assert main(["run", "--lr", "1e-3:10:300:log", "--w0", "-2:3:120", "--chunk-size", "9000", "--no-report", "--quiet", "--out", str(out)]) == 0
    monkeypatch.setattr(aggregate_module, "MAX_COLUMNS", 50)
    monkeypatch.setattr(aggregate_module, "MAX_ROWS", 40)
    config = json.loads((out / "sweep.json").read_text())
    from sweep.store.results import result_sources

    cells = aggregate(result_sources(out)[0], config, max_columns=50, max_rows=40)
    assert len(cells) == 50 * 40 and cells["runs"].sum() == 300 * 120
    full, _ = read_results(out)
    assert cells[[c for c in cells.columns if c.startswith("share_")]].sum(axis=1).round(12).eq(1).all()
    assert (cells["runs"] * cells["share_converged"]).sum() == pytest.approx((full["outcome"] == "converged").sum())
    monkeypatch.setattr("sweep.plots.report.needs_aggregation", lambda config: True)
    monkeypatch.setattr("sweep.plots.report.aggregate", lambda files, config: aggregate(files, config, 50, 40))
    page = write_report(out).read_text()
    assert "Aggregated:" in page and "data:image/png;base64," in page


def test_axis_groups():
    groups, middles = axis_groups(np.arange(10.0), 4)
    assert groups.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3] and middles.tolist() == [1.0, 4.0, 7.0, 9.0]


def test_resume_of_a_one_piece_sweep_says_it_is_complete(tmp_path, capsys):
    out = tmp_path / "one"
    assert run_cli(["--out", str(out)]) == 0
    capsys.readouterr()
    assert run_cli(["--resume", str(out)]) != 0
    assert "ran in one piece and is complete" in capsys.readouterr().err


def test_resume_takes_the_same_command_whatever_order_its_numbers_sort_in_as_text(tmp_path):
    """The theory edges are keyed by kappa: 1, 2, 10 in memory, "1.0", "10.0", "2.0" once
    read back from sweep.json. The same command must resume the folder, and finish it as a
    run without a break would have."""
    command = ["run", "--loss", "ill-quadratic", "--param", "kappa=1,2,10", "--lr", "1e-2:1:6:log", "--max-iter", "50", "--chunk-size", "6", "--no-report", "--quiet"]
    out, whole = tmp_path / "broken", tmp_path / "whole"
    assert main([*command, "--out", str(out)]) == 0 and main([*command, "--out", str(whole)]) == 0
    assert list(json.loads((out / "sweep.json").read_text())["loss"]["theory"]["stability_lr_by"]["values"]) == ["1.0", "2.0", "10.0"]
    (out / "runs" / "part-000001.parquet").unlink()
    assert main([*command, "--resume", str(out)]) == 0
    assert read_results(out)[0].equals(read_results(whole)[0])


def test_unreachable_scheduler_leaves_no_files(tmp_path, capsys):
    out = tmp_path / "never"
    assert run_cli(["--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]) != 0
    assert "cannot reach a Dask scheduler there" in capsys.readouterr().err
    assert not out.exists()


def test_streamed_optimizer_sweep_equals_one_piece(tmp_path):
    from sweep.run.executor import execute

    plan = plan_sweep(np.geomspace(1e-2, 3, 17), np.linspace(-2, 3, 7), max_iter=300, tol=1e-10, optimizer="adam", hyper={"b1": [0.5, 0.9], "b2": [0.9, 0.999]})
    out = tmp_path / "adam"
    out.mkdir()
    stream_sweep(plan, out, chunk_size=50, progress=False, log=lambda *_: None)
    streamed, config = read_results(out)
    assert config["n_chunks"] == -(-plan.n_runs // 50) and config["optimizer"] == "adam"
    assert streamed.equals(execute(plan))


def test_traces_are_written_with_their_chunks_and_resume(tmp_path, monkeypatch):
    from sweep.run import stream
    from sweep.store.folder import read_record

    plan = plan_sweep(np.geomspace(1e-3, 10, 21), np.linspace(-2, 3, 11), max_iter=200, tol=1e-10, trace=["w0=2", "sample:6:1"])
    whole = tmp_path / "whole"
    whole.mkdir()
    stream_sweep(plan, whole, chunk_size=50, progress=False, log=lambda *_: None)
    # the same sweep, stopped by a failing third chunk
    real = stream.write_chunk

    def failing(plan, out, index, start, stop, n_threads=None):
        if index == 2:
            raise KeyboardInterrupt
        return real(plan, out, index, start, stop, n_threads)

    monkeypatch.setattr(stream, "write_chunk", failing)
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(KeyboardInterrupt):
        stream_sweep(plan, broken, chunk_size=50, progress=False, log=lambda *_: None)
    record = read_record(broken)
    # each finished chunk's traced runs are on disk and in the record beside its runs
    finished = [i for i in (0, 1) if stream.traced_in(plan, i * 50, (i + 1) * 50).size]
    assert finished and all((broken / f"trace-parts/part-{i:06d}.parquet").is_file() and record[f"trace-parts/part-{i:06d}.parquet"].size > 0 for i in finished)
    assert not (broken / "traces.parquet").exists()
    monkeypatch.setattr(stream, "write_chunk", real)
    stream_sweep(plan, broken, chunk_size=50, resume=True, progress=False, log=lambda *_: None)
    assert read_traces(broken).equals(read_traces(whole)) and read_traces(whole)["run"].nunique() == plan.traced.size
    assert read_results(broken)[0].equals(read_results(whole)[0]) and not (broken / "trace-parts").exists()
