"""What new users hit: pipes and terminals, wrong answers that looked right, honest tables,
and kernels that must not outlive the code they were built from."""

import json
import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from sweep import run_sweep
from sweep.cli import main
from sweep.reference import reference_run

SMALL = ["--lr", "0.01:1:13:log", "--w0", "-1:2:7", "--max-iter", "300", "--tol", "1e-10"]


def cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- the terminal and pipes --------------------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--chunk-size", "20"]], ids=["one piece", "streamed"])
def test_a_closed_pipe_stops_the_printing_not_the_work(tmp_path, extra):
    out = tmp_path / "piped"
    process = subprocess.Popen([sys.executable, "-m", "sweep", "run", *SMALL, *extra, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # what `| head -1` does once it has its line
    stderr = process.communicate()[1].decode()
    assert first.startswith(b"91 runs") and process.returncode == 0 and stderr == "", stderr
    assert (out / "report.html").is_file() and (out / "sweep.json").is_file()
    assert json.loads((out / "sweep.json").read_text())["n_runs"] == 91


def test_progress_goes_to_the_terminal_on_stderr_never_into_redirected_stdout(tmp_path):
    main_fd, terminal = pty.openpty()
    with open(tmp_path / "stdout.txt", "wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "sweep", "run", *SMALL, "--chunk-size", "10", "--no-report", "--out", str(tmp_path / "o")],
            stdout=stdout, stderr=terminal, env=dict(os.environ, COLUMNS="100"),
        )
        os.close(terminal)
        seen = b""
        while True:
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        process.wait()
    os.close(main_fd)
    written = (tmp_path / "stdout.txt").read_text()
    assert process.returncode == 0
    assert "runs/s" in seen.decode(errors="replace")  # the bar, on the terminal
    assert "runs/s" not in written and "\x1b[" not in written and "91 runs in 10 chunks" in written


def test_help_and_bad_options_answer_without_loading_the_numeric_stack():
    script = (
        "import sys\nfrom sweep.cli import main\n"
        "assert main(['--help']) == 0 and main(['run', '--help']) == 0 and main(['run', '--bogus']) != 0\n"
        "print(sorted(m for m in ('numba', 'numpy', 'scipy', 'pandas', 'matplotlib', 'sympy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_compiling_is_its_own_step_and_the_estimate_comes_after(tmp_path, capsys, monkeypatch):
    import time

    import sweep.run.executor as executor

    real = executor.compile_kernel

    def slow_compile(plan):
        time.sleep(1.1)
        return real(plan) + 1.1

    monkeypatch.setattr(executor, "compile_kernel", slow_compile)
    code, stdout, _ = cli(["run", *SMALL, "--no-report", "--out", str(tmp_path / "o")], capsys)
    lines = stdout.splitlines()
    assert code == 0 and lines[1].startswith("compiled (or loaded) the kernel in") and lines[2].startswith("at most about")


def test_the_time_bound_assumes_every_run_takes_all_its_steps(monkeypatch):
    import sweep.run.estimate as estimate
    from sweep.run.plan import plan_sweep

    plan = plan_sweep(np.geomspace(0.01, 1, 50), np.linspace(-1, 2, 40), max_iter=500, tol=1e-10)
    seen = {}
    clock = iter(range(1000))

    def fake_descend(probe, values):
        seen["max_iter"], seen["runs"] = probe.max_iter, next(iter(values.values())).size
        return {"n_iter": np.full(seen["runs"], 9)}  # every sampled run takes 9 steps

    monkeypatch.setattr("sweep.run.executor.descend", fake_descend)
    monkeypatch.setattr(estimate.time, "perf_counter", lambda: float(next(clock)))  # each probe takes 1 s
    bound = estimate.worst_case_seconds(plan)
    # 10 evaluated iterates per sampled run in 1 s, scaled to 2000 runs x 501 iterates, with the margin
    assert seen["max_iter"] == 64 and bound == pytest.approx(2000 * 501 / (10 * seen["runs"]) * estimate.TIME_MARGIN + estimate.CALL_SECONDS)


def test_bench_quick_says_the_requirements_are_not_checked():
    from sweep.bench.harness import verdict

    assert verdict(False, quick=True) == "not checked at --quick sizes" and verdict(False, quick=False) == "FAIL"


# -- wrong answers that looked right ----------------------------------------------------------


def test_a_loss_undefined_at_the_iterate_ends_nan_whatever_its_gradient_says():
    frame = run_sweep([0.1], [-2.0, -0.5, 0.5, 2.0], loss="w**2 - log(w)", max_iter=500, tol=1e-12)
    by_w0 = frame.set_index("w0")
    # From w0 < 0 the gradient 2*w - 1/w is finite, but the loss is NaN: those runs are nan.
    assert (by_w0.loc[[-2.0, -0.5], "outcome"] == "nan").all() and (by_w0.loc[[-2.0, -0.5], "n_iter"] == 0).all()
    assert (by_w0.loc[[0.5, 2.0], "outcome"] == "converged").all()
    assert np.allclose(by_w0.loc[[0.5, 2.0], "w"], np.sqrt(0.5))
    momentum = run_sweep([0.1], [-2.0], loss="w**2 - log(w)", optimizer="momentum", hyper={"momentum": 0.5})
    assert momentum.loc[0, "outcome"] == "nan"


def test_an_infinite_iterate_past_an_overflowing_bound_is_diverged_at_once():
    lr, w0 = 1e300, 10.0
    frame = run_sweep([lr], [w0], div_factor=1e308)
    expected = reference_run(lr, w0, div_factor=1e308)
    assert expected[2] == "diverged" and np.isinf(expected[1])
    assert (int(frame.loc[0, "n_iter"]), float(frame.loc[0, "w"]), frame.loc[0, "outcome"]) == expected


def test_custom_losses_with_the_same_name_get_their_own_kernels():
    from numba import njit

    from sweep.problems.losses import custom

    first = custom(njit(lambda w, p: (w - 1.0) ** 2), njit(lambda w, p: 2.0 * (w - 1.0)))
    second = custom(njit(lambda w, p: (w + 3.0) ** 2), njit(lambda w, p: 2.0 * (w + 3.0)))
    a = run_sweep([0.25], [0.0], loss=first, max_iter=200, tol=1e-12)
    b = run_sweep([0.25], [0.0], loss=second, max_iter=200, tol=1e-12)
    assert a.loc[0, "w"] == pytest.approx(1.0) and b.loc[0, "w"] == pytest.approx(-3.0)


def test_the_kernel_cache_key_covers_every_source_it_inlines(monkeypatch):
    from pathlib import Path

    from sweep.kernels import cache
    from sweep.run.executor import kernel_of
    from sweep.run.plan import plan_sweep

    before = cache.sources_digest()
    real = Path.read_bytes

    def changed(self):
        data = real(self)
        return data + b"\n# changed" if self.name == "trig.py" else data

    cache.sources_digest.cache_clear()
    monkeypatch.setattr(Path, "read_bytes", changed)
    try:
        after = cache.sources_digest()
    finally:
        monkeypatch.undo()
        cache.sources_digest.cache_clear()
    assert after != before and cache.sources_digest() == before
    module = kernel_of(plan_sweep([0.1], [1.0]))
    assert Path(module.__file__).read_text().startswith(f"# sweep sources {before}\n")


# -- honest tables -----------------------------------------------------------------------------


def test_a_folded_report_counts_runs_not_cells(tmp_path, capsys):
    out = tmp_path / "m"
    args = ["run", "--optimizer", "momentum", "--momentum", "0:0.9:4", "--lr", "1e-3:0.5:12:log", "--w0", "-1,2", "--max-iter", "1000", "--tol", "1e-10", "--no-report", "--out", str(out)]
    assert cli(args, capsys)[0] == 0
    assert cli(["report", str(out), "--x", "lr", "--y", "w0"], capsys)[0] == 0
    page = (out / "report-lr-w0.html").read_text()
    from sweep.store.results import read_results

    runs = read_results(out)[0]
    counts = runs["outcome"].value_counts()
    assert (runs.loc[runs["outcome"] == "max_iter", "n_iter"] == 1000).all() and counts["max_iter"] > 0
    row = page[page.index("<td>max_iter</td>") :].split("</tr>")[0]
    assert f"<td>{counts['max_iter']:,}</td>" in row and "<td>1000</td>" in row


def test_a_csv_names_the_bad_column_and_takes_chosen_features(tmp_path, capsys):
    csv = tmp_path / "data.csv"
    csv.write_text("x1,label,x2,y\n0.5,a,1,1.0\n1.5,b,2,2.1\n2.5,c,,2.9\n3.5,d,4,4.2\n")
    code, _, err = cli(["run", "--loss", "mse-linear", "--dataset", str(csv), "--target", "y", "--out", str(tmp_path / "a")], capsys)
    assert code != 0 and "column 'label'" in err and "not numeric" in err and "--features" in err
    code, _, err = cli(["run", "--loss", "mse-linear", "--dataset", str(csv), "--target", "y", "--features", "x1,x2", "--out", str(tmp_path / "b")], capsys)
    assert code != 0 and "column 'x2'" in err and "1 missing value (first in row 3)" in err
    code, _, err = cli(["run", "--loss", "mse-linear", "--dataset", str(csv), "--target", "y", "--features", "x1", "--lr", "0.1", "--w0", "0", "--no-report", "--out", str(tmp_path / "c")], capsys)
    assert code == 0, err
    config = json.loads((tmp_path / "c" / "sweep.json").read_text())
    assert config["loss"]["features"] == ["x1", "intercept"]
    code, _, err = cli(["run", "--loss", "mse-linear", "--dataset", str(csv), "--target", "y", "--features", "x1,nope", "--out", str(tmp_path / "d")], capsys)
    assert code != 0 and "'nope' is not a column" in err


def test_every_sweep_module_a_generated_kernel_imports_is_in_the_cache_key():
    import re

    from sweep.kernels import cache
    from sweep.kernels.generator import kernel_source
    from sweep.run.executor import kernel_spec
    from sweep.run.plan import plan_sweep

    package = cache.Path(cache.__file__).parent.parent
    covered = set(cache.digest_files())
    plans = [
        plan_sweep([0.1], [1.0]),
        plan_sweep([0.1], [1.0], grad_noise=[0.1], optimizer="adam", schedule="cosine"),
        plan_sweep([0.1], [1.0], loss="logloss-logistic", grad_noise=[0.1]),
    ]
    imported = set()
    for plan in plans:
        for module in re.findall(r"^from (sweep[\w.]*) import", kernel_source(kernel_spec(plan)), re.M):
            imported.add(package.parent / (module.replace(".", "/") + ".py"))
    assert "sweep/optim/noise.py" in {p.relative_to(package.parent).as_posix() for p in imported}
    assert imported <= covered, imported - covered


@pytest.mark.parametrize("mode", ["one piece", "streamed"])
def test_the_record_keeps_the_compile_time_the_command_paid(tmp_path, capsys, monkeypatch, mode):
    import json
    import time

    import sweep.run.executor as executor

    real = executor.descend

    def slow_first(plan, values):
        if next(iter(values.values())).size == 1:  # compiling: one run
            time.sleep(1.2)
        return real(plan, values)

    monkeypatch.setattr(executor, "_COMPILE_SECONDS", {})
    monkeypatch.setattr(executor, "descend", slow_first)
    extra = ["--chunk-size", "7"] if mode == "streamed" else []
    code, stdout, _ = cli(["run", *SMALL, *extra, "--no-report", "--out", str(tmp_path / "o")], capsys)
    config = json.loads((tmp_path / "o" / "sweep.json").read_text())
    assert code == 0 and "compiled (or loaded) the kernel in 1.2 s" in stdout
    assert 1.2 <= config["compile_seconds"] < 5, config["compile_seconds"]
    assert f"{config['compile_seconds']:.2f} s compiling or loading it" in stdout
