"""The ``sweep`` command: a thin layer over the library; every error is one ``Error:`` line.

Only click and sweep's error classes are imported here at start-up; each command imports
what it needs when it runs, so that ``sweep --help`` and a mistyped option answer at once.
"""

from __future__ import annotations

import os
import shlex
import sys
import time

import click

from sweep.errors import SweepError, UserError

#: The default grid: the teaching example's learning rates 0.001, 0.4 and 10 inside a log
#: grid over 1e-3..10 (30 per decade), and initial weights -2..3 in steps of 0.05.
DEFAULT_LR = "1e-3:10:121:log,0.4"
DEFAULT_W0 = "-2:3:101"
DEFAULT_OUT = "sweep-results"
SPEC_HELP = (
    "a comma list of numbers (0.4,0.001,10), ranges START:STOP:NUM[:log] (1e-3:10:200:log), "
    "or seeded draws randint:LOW:HIGH:N:SEED / uniform:LOW:HIGH:N:SEED"
)

_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())
_STDOUT_GONE = False


def say(text: str = "") -> None:
    """Print one line on stdout. When the reader has gone (``sweep run | head -1``), stop
    printing quietly and let the work finish: stdout is pointed at /dev/null, as Python's
    documentation advises for command-line tools that meet a closed pipe."""
    global _STDOUT_GONE
    if _STDOUT_GONE:
        return
    try:
        click.echo(text)
    except BrokenPipeError:
        _STDOUT_GONE = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def command_line() -> str:
    """The command as typed, for the record and for a second writer's message."""
    obj = click.get_current_context().find_root().obj or {}
    return "sweep " + " ".join(shlex.quote(arg) for arg in obj.get("argv", sys.argv[1:]))


def _axis_spec(spec: str, option: str):
    from sweep.errors import SpecError
    from sweep.spec import parse_spec

    try:
        return parse_spec(spec)
    except SpecError as error:
        raise SpecError(f"{option} {spec!r}: {error}") from None


def parse_params(values: tuple[str, ...]) -> dict[str, float]:
    """``--param NAME=VALUE`` options as a dict, refused in one line when malformed."""
    params = {}
    for item in values:
        name, sep, text = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            value = float(text)
        except ValueError:
            raise click.BadParameter(f"{item!r} must read NAME=NUMBER, for example a=2", param_hint="--param") from None
        if name.strip() in params:
            raise click.BadParameter(f"{name.strip()!r} is given twice; give each parameter once", param_hint="--param")
        params[name.strip()] = value
    return params


def spinner(text: str, quiet: bool):
    """A spinner on stderr while a step runs, only on a terminal; otherwise nothing."""
    from contextlib import nullcontext

    if quiet or not sys.stderr.isatty():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(text)


def compile_step(compile_fn, quiet: bool) -> float:
    """Compile (or load) a kernel as its own step: a spinner while it runs, and a line
    after it when it took more than a second. Returns its seconds."""
    with spinner("compiling the kernel (first use; cached afterwards)...", quiet):
        seconds = compile_fn()
    if seconds > 1.0:
        say(f"compiled the kernel in {seconds:.1f} s (cached for later runs)")
    return seconds


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sweep")
def cli():
    """Map where gradient descent converges, crawls, stalls, cycles or diverges.

    Start with `sweep run`, which runs the classic teaching example over a grid of learning
    rates and initial weights and writes a report.
    """


@cli.command("run")
@click.option("--lr", "lr_spec", default=DEFAULT_LR, show_default=True, metavar="SPEC", help=f"Learning rates: {SPEC_HELP}.")
@click.option("--w0", "w0_spec", default=DEFAULT_W0, show_default=True, metavar="SPEC", help="Initial weights, same SPEC forms.")
@click.option("--loss", default="quadratic", show_default=True, help="A built-in loss (quadratic, cosine, cosine-mult, double-well), a model (mse-linear, logloss-logistic) or a formula in w, e.g. '(w-1)**2 + 2'.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A loss parameter (repeatable), e.g. --param a=2.")
@click.option("--dataset", default=None, help="For the models mse-linear / logloss-logistic: diabetes, breast-cancer or a CSV file.")
@click.option("--target", default=None, help="The column to predict, for a CSV dataset.")
@click.option("--features", default=None, metavar="A,B,C", help="The columns to learn from, for a CSV dataset (default: every column but the target).")
@click.option("--max-iter", type=int, default=100, show_default=True, help="Most updates per run (>= 0).")
@click.option("--tol", type=float, default=0.0, show_default=True, help="Stop when |grad| <= tol; 0 means exactly 0.")
@click.option("--div-factor", type=float, default=1e8, show_default=True, help="Diverged once |w| > div-factor * max(1, |w0|).")
@click.option("--threads", type=int, default=None, help="Numba threads (default: all cores).")
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Folder for runs.parquet, sweep.json and the report (new, empty, or written by sweep before).")
@click.option("--no-report", is_flag=True, help="Write the data only, no figures.")
@click.option("--chunk-size", type=int, default=None, help="Runs per chunk; chunks stream to DIR/runs/ (default: from free memory).")
@click.option("--resume", "resume_dir", default=None, metavar="DIR", help="Finish the interrupted sweep in DIR (same options as before); damaged parts are recomputed.")
@click.option("--scheduler", default=None, metavar="dask|tcp://HOST:PORT", help="Run the chunks on a local Dask cluster or an existing one.")
@click.option("--quiet", is_flag=True, help="No progress bar or spinner.")
@click.option("--optimizer", default="gd", show_default=True, help="gd, momentum, nesterov, adam or rmsprop.")
@click.option("--momentum", "momentum_spec", default=None, metavar="SPEC", help="momentum / nesterov coefficient(s), in [0, 1) (default 0.9).")
@click.option("--b1", "b1_spec", default=None, metavar="SPEC", help="Adam's b1, in [0, 1) (default 0.9).")
@click.option("--b2", "b2_spec", default=None, metavar="SPEC", help="Adam's b2, in [0, 1) (default 0.999).")
@click.option("--eps", "eps_spec", default=None, metavar="SPEC", help="Adam's / RMSprop's eps, > 0 (default 1e-8).")
@click.option("--rho", "rho_spec", default=None, metavar="SPEC", help="RMSprop's rho, in [0, 1) (default 0.9).")
def run_command(lr_spec, w0_spec, loss, params, dataset, target, features, max_iter, tol, div_factor, threads, out, no_report, chunk_size, resume_dir, scheduler, quiet, optimizer, momentum_spec, b1_spec, b2_spec, eps_spec, rho_spec):
    """Run every (lr, w0) pair and write DIR/runs.parquet, DIR/sweep.json and the report.

    \b
    Examples:
      sweep run                                   # the teaching example's grid
      sweep run --lr 0.4,0.001,10 --w0 randint:-2:3:1:0 --out teaching
      sweep run --lr 1e-4:10:400:log --w0 -2:3:200 --max-iter 1000 --tol 1e-12
      sweep run --loss cosine --param delta=0.2 --lr 0.01:1.5:600 --w0 -3:5:200
      sweep run --loss mse-linear --dataset diabetes --lr 1e-3:1:120:log --w0 -2:2:41
    """
    from sweep.api import plan_sweep
    from sweep.folder import check_name

    lr = _axis_spec(lr_spec, "--lr")
    w0 = _axis_spec(w0_spec, "--w0")
    given = {"momentum": momentum_spec, "b1": b1_spec, "b2": b2_spec, "eps": eps_spec, "rho": rho_spec}
    hyper = {name: _axis_spec(spec, f"--{name}") for name, spec in given.items() if spec is not None}
    feature_list = tuple(name.strip() for name in features.split(",")) if features is not None else None
    if feature_list is not None and not all(feature_list):
        raise SweepError(f"--features {features!r}: name the columns, separated by commas, for example --features age,bmi")
    if chunk_size is not None and chunk_size < 1:
        raise SweepError(f"--chunk-size {chunk_size} is not allowed: it must be at least 1")
    if scheduler is not None and scheduler != "dask" and not scheduler.startswith("tcp://"):
        raise SweepError(f"--scheduler {scheduler!r} is not allowed: use 'dask' (a local cluster) or tcp://HOST:PORT")
    if resume_dir is not None and out != DEFAULT_OUT and check_name(out).resolve() != check_name(resume_dir, "--resume").resolve():
        raise SweepError(f"--resume {resume_dir!r} writes into that folder: drop --out {out!r}, or give the same folder")
    out_path = check_name(resume_dir, "--resume") if resume_dir is not None else check_name(out)
    plan = plan_sweep(
        lr, w0, loss=loss, params=parse_params(params), max_iter=max_iter, tol=tol, div_factor=div_factor, n_threads=threads,
        dataset=dataset, target=target, optimizer=optimizer, hyper=hyper, features=feature_list,
    )
    extra = {"axes_spec": {"lr": lr_spec, "w0": w0_spec, **{name: spec for name, spec in given.items() if spec is not None}}}
    if resume_dir is not None:
        from sweep.errors import StoreError
        from sweep.store import read_config

        try:
            chunk_size = chunk_size or read_config(out_path).get("chunk_size")
        except StoreError as error:
            raise SweepError(f"--resume {resume_dir!r}: nothing to resume ({error})") from None
    _run(plan, out_path, chunk_size, resume_dir is not None, scheduler, extra, quiet, no_report)


def _run(plan, out_path, chunk_size, resume, scheduler, extra, quiet, no_report):
    from sweep.api import compile_kernel, memory_bytes, threads, worst_case_seconds
    from sweep.folder import claim
    from sweep.stream import default_chunk_size

    size = chunk_size or default_chunk_size(plan)
    streamed = resume or scheduler is not None or plan.n_runs > size
    axes = " x ".join(f"{axis.name} {axis.values.size}" for axis in plan.axes if axis.swept) or "one point"
    n = plan.n_runs
    say(
        f"{n:,} run{'s' if n != 1 else ''} ({axes}), at most {n * max(plan.max_iter, 1):.2g} steps; "
        + (f"in chunks of {size:,}, about {_size(n * 40)} on disk" if streamed else f"{_size(memory_bytes(plan))} in memory in one piece")
    )
    if not resume:
        from sweep.stream import check_disk

        check_disk(n, out_path)
    if scheduler and scheduler.startswith("tcp://"):
        say(f"the workers write the parts into {out_path}: every worker must see that folder at that path")
    with claim(out_path, command=command_line(), option="--resume" if resume else "--out") as folder:
        with threads(plan.n_threads):
            compile_step(lambda: compile_kernel(plan), quiet)
            bound = worst_case_seconds(plan)
        where = " on this machine" + (" (the Dask workers' speed may differ)" if scheduler else "")
        say(f"at most about {_seconds(bound)} in the kernel{where}, measured on a sample of the grid")
        if streamed:
            _stream(plan, folder, size, resume, scheduler, extra, quiet, no_report)
        else:
            _one_piece(plan, folder, extra, no_report)


def _size(n_bytes: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes:.0f} bytes"


def _seconds(value: float) -> str:
    return f"{value:.2g} s" if value < 120 else f"{value / 60:.3g} minutes"


def _counts_lines(counts, n_runs: int) -> None:
    from sweep.outcomes import OUTCOMES

    for name in OUTCOMES:
        if counts.get(name, 0):
            say(f"  {name:<10} {counts[name]:>12,}  ({counts[name] / n_runs:.1%})")


def _one_piece(plan, folder, extra, no_report):
    from sweep.api import execute
    from sweep.store import write_results

    started = time.perf_counter()
    frame = execute(plan)
    config = dict(frame.attrs["config"], wall_seconds=time.perf_counter() - started, **extra)
    files = {}
    if not no_report:
        from sweep.report import render_report

        # Drawn before anything is written: a report that fails leaves no data behind it.
        files = render_report(frame, config)
    runs_path, config_path = write_results(folder, frame, config, files)
    n_runs = len(frame)
    say(
        f"{n_runs:,} run{'s' if n_runs != 1 else ''} of {'gradient descent' if plan.optimizer.name == 'gd' else plan.optimizer.name} on {config['loss']['expression']}: "
        f"{config['seconds']:.3f} s in the kernel ({n_runs / max(config['seconds'], 1e-9):,.0f} runs/s), "
        f"{config['compile_seconds']:.2f} s compiling or loading it"
    )
    _counts_lines(frame["outcome"].value_counts(), n_runs)
    say(f"wrote {runs_path} and {config_path}")
    if files:
        say(f"report: {folder.path / 'report.html'}")


def _stream(plan, folder, chunk_size, resume, scheduler, extra, quiet, no_report):
    from sweep.stream import stream_sweep

    try:
        config = stream_sweep(plan, folder, chunk_size=chunk_size, resume=resume, scheduler=scheduler, extra_config=extra, progress=not quiet, log=say)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: finished chunks are kept in {folder.path}; finish with the same command and --resume {folder.path}") from None
    n_runs = plan.n_runs
    say(
        f"{n_runs:,} runs in {config['n_chunks']} chunk{'s' if config['n_chunks'] != 1 else ''} of {chunk_size:,} ({config['wall_seconds']:.2f} s{' on Dask' if scheduler else ''}; "
        f"{config['seconds']:.2f} s in the kernel, {config['compile_seconds']:.2f} s compiling or loading it)"
    )
    _counts_lines(config["counts"], n_runs)
    say(f"wrote {folder.path / 'runs'}/ and {folder.path / 'sweep.json'}")
    if not no_report:
        from sweep.report import write_report

        say(f"report: {write_report(folder.path, folder=folder)}")


class Interrupted(Exception):
    """Ctrl-C during a streamed sweep: what was finished is kept."""


@cli.command("report")
@click.argument("directory")
@click.option("--x", "x_axis", default=None, help="Axis across the maps (default lr).")
@click.option("--y", "y_axis", default=None, help="Axis up the maps (default w0, or the first other swept axis).")
@click.option("--out", default=None, help="Folder for the report (default: DIRECTORY; other axes than the default ones get their own file names there, report-X-Y.html).")
def report_command(directory, x_axis, y_axis, out):
    """Draw the heatmaps and report.html for the results in DIRECTORY.

    Axes other than --x and --y that have several values are aggregated in each cell
    (majority outcome, outcome shares, means), and the report says so.

    \b
    Examples:
      sweep report sweep-results
      sweep report momentum-map --x lr --y w0               # writes report-lr-w0.html beside report.html
      sweep report momentum-map --x lr --y w0 --out redrawn
    """
    from sweep.report import write_report

    say(f"report: {write_report(directory, x=x_axis, y=y_axis, into=out)}")


@cli.command("bench")
@click.option("--out", default="results", show_default=True, help="Folder for benchmarks.md, .csv and .png.")
@click.option("--quick", is_flag=True, help="Small grids: checks the whole benchmark quickly (under a minute for the kernel suite, about two for fractal). The requirements are not checked at this size.")
@click.option("--repeats", type=click.IntRange(1, 100), default=5, show_default=True, help="Timed repetitions per implementation.")
@click.option("--suite", type=click.Choice(["kernel", "fractal"]), default="kernel", show_default=True, help="kernel: the descent kernel against its baselines; fractal: the trainability images' sizes, FLOP/s and trig cost.")
def bench_command(out, quick, repeats, suite):
    """Time sweep's kernel against plain Python, NumPy, a plain Numba kernel and JAX
    (--suite kernel), or the trainability images (--suite fractal).

    \b
    Examples:
      sweep bench --out results                   # a few minutes on 2 cores
      sweep bench --suite fractal --out results   # about 7 minutes on 2 cores
    """
    from sweep.folder import check_name

    out_dir = check_name(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if suite == "fractal":
        from sweep.bench.trainability import run_fractal_benchmark

        say(f"wrote {run_fractal_benchmark(out_dir, quick=quick, log=say)}")
        return
    from sweep.bench.harness import run_benchmark

    say(f"wrote {run_benchmark(out_dir, quick=quick, repeats=repeats, log=say)}")


def _add_fractal_commands() -> None:
    from sweep.fractal_cli import fractal_command, zoom_command

    cli.add_command(fractal_command)
    cli.add_command(zoom_command)


_add_fractal_commands()


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run the CLI, turning user errors into one ``Error:`` line."""
    try:
        args = sys.argv[1:] if argv is None else list(argv)
        cli.main(args=args, prog_name="sweep", standalone_mode=False, obj={"argv": args})
    except click.exceptions.Abort:
        click.echo("Error: interrupted", err=True)
        return 130
    except Interrupted as stop:
        click.echo(f"Error: {stop}", err=True)
        return 130
    except _NO_ARGS as request:  # bare `sweep`: show the help, as a person expects
        say(request.ctx.get_help())
        return 0
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        return error.exit_code
    except UserError as error:
        click.echo(f"Error: {error}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
