"""The sweep command end to end, in-process and as a real process."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sweep.cli import cli, main


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_teaching_run_end_to_end(tmp_path, capsys):
    out = tmp_path / "teaching"
    code, stdout, stderr = run_cli(["run", "--lr", "0.4,0.001,10", "--w0", "randint:-2:3:1:0", "--out", str(out)], capsys)
    assert code == 0, stderr
    assert "3 runs" in stdout and "converged" in stdout and "diverged" in stdout and "max_iter" in stdout
    frame = pd.read_parquet(out / "runs.parquet").set_index("lr")
    assert frame.loc[0.4, "n_iter"] == 23 and frame.loc[0.4, "w"] == 1.0
    assert frame.loc[0.001, "w"] == 1.8185668046884278
    assert frame.loc[10.0, "outcome"] == "diverged"
    config = json.loads((out / "sweep.json").read_text())
    assert config["n_runs"] == 3 and config["axes"]["w0"] == [2.0]
    assert config["loss"]["expression"] == "(w - 1)**2 + 2"
    assert config["loss"]["gradient"] == "2*a*(-c + w)"
    assert config["loss"]["gradient_expression"] == "2*w - 2"
    assert {"numpy", "numba", "pandas"} <= set(config["versions"])
    assert config["wall_seconds"] > 0
    for name in ("report.html", "outcomes.png", "iterations.png", "loss.png", "paths.png"):
        assert (out / name).stat().st_size > 1000, name
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".sweep.lock"]  # the lock file stays: removing it would race


def test_default_run_and_report_again(tmp_path, capsys):
    out = tmp_path / "default"
    code, stdout, _ = run_cli(["run", "--out", str(out), "--no-report"], capsys)
    assert code == 0
    frame = pd.read_parquet(out / "runs.parquet")
    assert {0.001, 0.4, 10.0} <= set(frame["lr"]) and {-2.0, -1.0, 0.0, 1.0, 2.0} <= set(frame["w0"])
    assert set(frame["outcome"]) == {"converged", "diverged", "stalled", "cycling", "max_iter"}
    assert not (out / "report.html").exists()
    code, stdout, _ = run_cli(["report", str(out)], capsys)
    assert code == 0 and (out / "report.html").exists()
    page = (out / "report.html").read_text()
    assert "data:image/png;base64," in page and "Runs per outcome" in page


BAD_INPUTS = [
    (["--lr", "0"], "lr=0.0"),
    (["--lr", "-0.1,0.2"], "lr=-0.1"),
    (["--lr", "inf"], "'inf'"),
    (["--lr", "nan"], "'nan'"),
    (["--max-iter", "-1"], "max_iter=-1"),
    (["--max-iter", "1.5"], "'1.5'"),
    (["--tol", "-1e-3"], "tol=-0.001"),
    (["--tol", "nan"], "tol=nan"),
    (["--lr", ""], "'--lr': ''"),
    (["--w0", "1:2"], "'--w0': '1:2'"),
    (["--lr", "1e-3:10:1e12"], "'1e-3:10:1e12': count '1e12' must be written as digits and lie in 1..100000000"),
    (["--lr", "abc"], "'--lr': 'abc' is not a number"),
    (["--w0", "a,b"], "'a'"),
    (["--loss", "__import__('os')"], "__import__"),
    (["--loss", "w**2 + q"], "--param q=VALUE"),
    (["--param", "oops"], "NAME=VALUE or NAME=SPEC"),
    (["--threads", "0"], "n_threads=0"),
    # complex only once sympy rebuilds the Hessian for a real w: refused before any work
    (["--loss", "sqrt(-1-w**2)"], "not real for real weights"),
    (["--loss", "rosenbrock", "--w0", "cloud:5:-1e308:1e308:0"], "HIGH - LOW finite"),
    (["--w0", "x=1"], "--w0 x=... names a weight, but the loss 'quadratic' has one weight: give --w0 a SPEC alone"),
    (["--loss", "mse-linear", "--w0", "x=1"], "the model 'mse-linear' starts all its weights at one w0"),
    (["--loss", "w**2 # + 5"], "'#' is not allowed in the loss formula"),
]


@pytest.mark.parametrize("args, fragment", BAD_INPUTS)
def test_bad_input_is_one_line_and_leaves_no_files(tmp_path, capsys, args, fragment):
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", *args, "--out", str(out)], capsys)
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _, stderr = run_cli(["run", "--out", str(blocker / "sub")], capsys)
    assert code != 0 and stderr.startswith("Error: cannot write results to --out") and stderr.count("\n") == 1


def test_report_of_a_folder_without_results(tmp_path, capsys):
    code, _, stderr = run_cli(["report", str(tmp_path)], capsys)
    assert code != 0 and "holds no sweep results" in stderr and stderr.count("\n") == 1


def test_real_process_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sweep", "run", "--lr", "0,1", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "Error: lr=0.0 is not allowed: every lr must be finite and > 0"


def test_every_command_has_help_with_an_example(capsys):
    for name, command in cli.commands.items():
        assert command.help and "Example" in command.help, name
        code, stdout, _ = run_cli([name, "--help"], capsys)
        assert code == 0 and "Usage:" in stdout


@pytest.mark.parametrize("args", [["--tol", "-1"], ["--threads", "0"], ["--loss", "w+q"], ["--max-iter", "-1"]])
def test_rejected_run_does_not_create_the_out_folder(tmp_path, capsys, args):
    out = tmp_path / "never"
    code, _, _ = run_cli(["run", *args, "--out", str(out)], capsys)
    assert code != 0 and not out.exists()


def test_singular_run_count(tmp_path, capsys):
    code, stdout, _ = run_cli(["run", "--lr", "0.4", "--w0", "2", "--out", str(tmp_path / "one"), "--no-report"], capsys)
    # a cold kernel cache adds its own line, "compiled (or loaded) the kernel in ...": not counted
    lines = [line for line in stdout.splitlines() if not line.startswith("compiled")]
    assert code == 0 and lines[0].startswith("1 run (one point)") and lines[1].startswith("at most about") and lines[2].startswith("1 run of gradient descent")


def test_sweeps_too_big_for_disk_or_memory_are_refused(tmp_path, capsys, monkeypatch):
    import collections
    import shutil

    import numpy as np

    from sweep import SweepError, run_sweep

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**12, 0, 50 * 10**9))
    code, _, stderr = run_cli(["run", "--lr", "1e-3:1:100000:log", "--w0", "-2:3:100000", "--out", str(tmp_path / "huge")], capsys)
    assert code != 0 and "10,000,000,000 runs need about 400.0 GB" in stderr and "50.0 GB free" in stderr
    assert not (tmp_path / "huge").exists()
    with pytest.raises(SweepError, match="stream them to disk"):
        run_sweep(np.geomspace(1e-3, 1, 100_000), np.linspace(-2, 3, 100_000))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"lr": "0.4"}, "lr must be real numbers"),
        ({"lr": np.array([0.1 + 1j])}, "lr must be real numbers"),
        ({"lr": np.array(["2020-01-01"], dtype="datetime64[D]")}, "lr must be real numbers"),
        ({"lr": np.ma.array([0.1, 0.2], mask=[0, 1])}, "masked"),
        ({"lr": [10**400]}, "lr must be real numbers"),
        ({"lr": [True]}, "lr must be real numbers"),
        ({"tol": "1e-3"}, "tol='1e-3'"),
        ({"tol": True}, "tol=True"),
        ({"n_threads": True}, "n_threads=True"),
        ({"loss": ["w"]}, "loss=['w']"),
        ({"loss": None}, "loss=None"),
        ({"params": {"a": "2"}}, "params['a'] must be real numbers"),
        ({"params": [1, 2]}, "params="),
        ({"params": {"a": 10**400}}, "too large"),
    ],
)
def test_api_rejects_wrong_types_in_one_line(kwargs, fragment):
    from sweep import SweepError, run_sweep

    arguments = {"lr": [0.1], "w0": [1.0], **kwargs}
    with pytest.raises(SweepError) as error:
        run_sweep(**arguments)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_duplicate_param_and_empty_out(tmp_path, capsys, monkeypatch):
    code, _, stderr = run_cli(["run", "--loss", "w**2 + d*w", "--param", "d=1", "--param", "d=2", "--out", str(tmp_path / "x")], capsys)
    assert code != 0 and "'d' is given twice" in stderr
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_cli(["run", "--out", ""], capsys)
    assert code != 0 and "--out '' is not allowed" in stderr and list(tmp_path.iterdir()) == []


def test_a_new_sweep_removes_the_old_report(tmp_path, capsys):
    out = tmp_path / "reused"
    assert run_cli(["run", "--lr", "0.1,0.4", "--w0", "2", "--out", str(out)], capsys)[0] == 0
    assert (out / "report.html").exists()
    assert run_cli(["run", "--lr", "0.2", "--w0", "1", "--out", str(out), "--no-report"], capsys)[0] == 0
    assert not (out / "report.html").exists() and not (out / "outcomes.png").exists()


@pytest.mark.parametrize(
    "corrupt, fragment",
    [
        (lambda out: (out / "sweep.json").write_text("[]"), "must be of type object"),
        (lambda out: (out / "sweep.json").write_text("{}"), "the field 'loss' is missing"),
        (lambda out: (out / "sweep.json").write_text("{not json"), "cannot read"),
        (lambda out: _edit_config(out, tol="x"), "tol = 'x': must be of type number"),
        (lambda out: _edit_config(out, loss_params={"a": "x"}), "loss.params.a = 'x': must be of type number"),
        (lambda out: pd.DataFrame({"a": [1]}).to_parquet(out / "runs.parquet"), "differs from what sweep wrote"),
        (lambda out: pd.read_parquet(out / "runs.parquet").iloc[:0].to_parquet(out / "runs.parquet"), "differs from what sweep wrote"),
        (lambda out: pd.read_parquet(out / "runs.parquet").assign(outcome="exploded").to_parquet(out / "runs.parquet"), "differs from what sweep wrote"),
        (lambda out: (out / "runs.parquet").write_bytes(b"PAR1garbage"), "differs from what sweep wrote"),
        (lambda out: (out / "runs.parquet").unlink(), "runs.parquet is missing"),
    ],
)
def test_report_refuses_damaged_results_in_one_line(tmp_path, capsys, corrupt, fragment):
    out = tmp_path / "r"
    assert run_cli(["run", "--lr", "0.1,0.4", "--w0", "2", "--out", str(out), "--no-report"], capsys)[0] == 0
    corrupt(out)
    before = sorted(p.name for p in out.iterdir())
    code, _, stderr = run_cli(["report", str(out)], capsys)
    assert code != 0 and stderr.startswith("Error: ") and stderr.count("\n") == 1 and fragment in stderr, stderr
    assert sorted(p.name for p in out.iterdir()) == before


def _edit_config(out, tol=None, loss_params=None):
    config = json.loads((out / "sweep.json").read_text())
    if tol is not None:
        config["tol"] = tol
    if loss_params is not None:
        config["loss"]["params"] = loss_params
    (out / "sweep.json").write_text(json.dumps(config))


def test_momentum_map_end_to_end(tmp_path, capsys):
    out = tmp_path / "momentum"
    args = ["run", "--optimizer", "momentum", "--momentum", "0:0.9:4", "--lr", "0.05:3:30:log", "--w0", "-1,2", "--max-iter", "500", "--out", str(out)]
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    assert stdout.startswith("240 runs (lr 30 x w0 2 x momentum 4), at most 1.2e+05 steps")
    frame = pd.read_parquet(out / "runs.parquet")
    assert "momentum" in frame.columns and set(frame["momentum"]) == {0.0, 0.3, 0.6, 0.9}
    page = (out / "report.html").read_text()
    assert "each cell holds every value of w0" in page and "per momentum" in page
    code, _, stderr = run_cli(["report", str(out), "--y", "b1"], capsys)
    assert code != 0 and "--y b1: the sweep has no such axis; its swept axes are lr, w0, momentum (and at one value: a, c, b)" in stderr
    code, _, stderr = run_cli(["run", "--b1", "0.5", "--out", str(tmp_path / "x")], capsys)
    assert code != 0 and "b1 is not a hyperparameter of gd" in stderr and "it belongs to adam" in stderr


def test_report_with_swapped_axes_draws_no_lr_theory(tmp_path, capsys):
    out = tmp_path / "t"
    assert run_cli(["run", "--lr", "0.01:2:30:log", "--w0", "-2:3:11", "--out", str(out), "--no-report"], capsys)[0] == 0
    code, _, stderr = run_cli(["report", str(out), "--x", "w0", "--y", "lr"], capsys)
    # Other axes than the sweep's own get their own file names: the main report is never overwritten.
    page = (out / "report-w0-lr.html").read_text()
    assert code == 0 and "initial weight across, learning rate up" in page and "Where convergence starts" not in page
    assert not (out / "report.html").exists() and (out / "outcomes-w0-lr.png").is_file()


def test_second_hunt_inputs_get_one_line(tmp_path, capsys):
    csv = tmp_path / "inf.csv"
    csv.write_text("a,y\n1,inf\n2,3\n3,4\n")
    text = tmp_path / "text.csv"
    text.write_text("a,y\n1,t0\n2,t1\n")
    cases = [
        (["run", "--loss", "mse-linear", "--dataset", str(csv), "--target", "y"], "column 'y' of"),
        (["run", "--loss", "mse-linear", "--dataset", str(text), "--target", "y"], "column 'y' of"),
        (["run", "--scheduler", "tcp://", "--lr", "0.1", "--w0", "1"], "cannot reach a Dask scheduler"),
        (["run", "--lr", "0.1", "--w0", "1", "--resume", str(tmp_path / "a"), "--out", str(tmp_path / "b")], "drop --out"),
    ]
    for args, fragment in cases:
        code, _, stderr = run_cli([*args, "--out", str(tmp_path / "o")] if "--out" not in args else args, capsys)
        assert code != 0 and stderr.count("\n") == 1 and fragment in stderr, (args, stderr)
    out = tmp_path / "adam"
    assert run_cli(["run", "--optimizer", "adam", "--b1", "0.5,0.9", "--lr", "0.1", "--w0", "-1,1", "--out", str(out), "--no-report"], capsys)[0] == 0
    code, _, stderr = run_cli(["report", str(out), "--y", "b2"], capsys)
    assert code != 0 and "--y b2: that axis has one value only" in stderr
    code, _, stderr = run_cli(["report", str(out), "--x", ""], capsys)
    assert code != 0 and "must name an axis" in stderr


def test_bench_replaces_only_the_files_it_wrote(tmp_path, capsys):
    from sweep.cli import main

    (tmp_path / "benchmarks.md").write_text("my notes")
    code = main(["bench", "--quick", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "benchmarks.md there was not written by sweep bench" in err
    assert (tmp_path / "benchmarks.md").read_text() == "my notes"
