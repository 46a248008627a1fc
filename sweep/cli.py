"""The ``sweep`` command: a thin layer over the library; every error is one ``Error:`` line."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from sweep.api import DIV_FACTOR, SweepError, execute, plan_sweep
from sweep.formula import FormulaError
from sweep.fractal import FractalError
from sweep.fractal_cli import fractal_command, zoom_command
from sweep.outcomes import OUTCOMES
from sweep.spec import SPEC_HELP, SpecError, parse_spec
from sweep.store import StoreError, results_dir, write_results

#: The default grid: the teaching example's learning rates 0.001, 0.4 and 10 inside a log
#: grid over 1e-3..10 (30 per decade), and initial weights -2..3 in steps of 0.05.
DEFAULT_LR = "1e-3:10:121:log,0.4"
DEFAULT_W0 = "-2:3:101"
DEFAULT_OUT = "sweep-results"

_USER_ERRORS = (SweepError, SpecError, FormulaError, StoreError, FractalError)
_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())


def _axis_spec(spec: str, option: str):
    try:
        return parse_spec(spec)
    except SpecError as error:
        raise SpecError(f"{option} {spec!r}: {error}") from None


def _param(values: tuple[str, ...]) -> dict[str, float]:
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
@click.option("--max-iter", type=int, default=100, show_default=True, help="Most updates per run (>= 0).")
@click.option("--tol", type=float, default=0.0, show_default=True, help="Stop when |grad| <= tol; 0 means exactly 0.")
@click.option("--div-factor", type=float, default=DIV_FACTOR, show_default=True, help="Diverged once |w| > div-factor * max(1, |w0|).")
@click.option("--threads", type=int, default=None, help="Numba threads (default: all cores).")
@click.option("--out", default=DEFAULT_OUT, show_default=True, type=click.Path(file_okay=False), help="Folder for runs.parquet, sweep.json and the report.")
@click.option("--no-report", is_flag=True, help="Write the data only, no figures.")
@click.option("--chunk-size", type=int, default=None, help="Runs per chunk; chunks stream to DIR/runs/ (default: from free memory).")
@click.option("--resume", "resume_dir", default=None, type=click.Path(file_okay=False), metavar="DIR", help="Finish the interrupted sweep in DIR (same options as before).")
@click.option("--scheduler", default=None, metavar="dask|tcp://HOST:PORT", help="Run the chunks on a local Dask cluster or an existing one.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--optimizer", default="gd", show_default=True, help="gd, momentum, nesterov, adam or rmsprop.")
@click.option("--momentum", "momentum_spec", default=None, metavar="SPEC", help="momentum / nesterov coefficient(s), in [0, 1) (default 0.9).")
@click.option("--b1", "b1_spec", default=None, metavar="SPEC", help="Adam's b1, in [0, 1) (default 0.9).")
@click.option("--b2", "b2_spec", default=None, metavar="SPEC", help="Adam's b2, in [0, 1) (default 0.999).")
@click.option("--eps", "eps_spec", default=None, metavar="SPEC", help="Adam's / RMSprop's eps, > 0 (default 1e-8).")
@click.option("--rho", "rho_spec", default=None, metavar="SPEC", help="RMSprop's rho, in [0, 1) (default 0.9).")
def run_command(lr_spec, w0_spec, loss, params, dataset, target, max_iter, tol, div_factor, threads, out, no_report, chunk_size, resume_dir, scheduler, quiet, optimizer, momentum_spec, b1_spec, b2_spec, eps_spec, rho_spec):
    """Run every (lr, w0) pair and write DIR/runs.parquet, DIR/sweep.json and the report.

    \b
    Examples:
      sweep run                                   # the teaching example's grid
      sweep run --lr 0.4,0.001,10 --w0 randint:-2:3:1:0 --out teaching
      sweep run --lr 1e-4:10:400:log --w0 -2:3:200 --max-iter 1000 --tol 1e-12
      sweep run --loss cosine --param delta=0.2 --lr 0.01:1.5:600 --w0 -3:5:200
      sweep run --loss mse-linear --dataset diabetes --lr 1e-3:1:120:log --w0 -2:2:41
    """
    if not str(out).strip():
        raise SweepError("--out '' is not allowed: name the folder for the results, for example --out sweep-results")
    lr = _axis_spec(lr_spec, "--lr")
    w0 = _axis_spec(w0_spec, "--w0")
    given = {"momentum": momentum_spec, "b1": b1_spec, "b2": b2_spec, "eps": eps_spec, "rho": rho_spec}
    hyper = {name: _axis_spec(spec, f"--{name}") for name, spec in given.items() if spec is not None}
    plan = plan_sweep(
        lr, w0, loss=loss, params=_param(params), max_iter=max_iter, tol=tol, div_factor=div_factor, n_threads=threads, dataset=dataset, target=target, optimizer=optimizer, hyper=hyper
    )
    click.echo(_estimate(plan))
    if chunk_size is not None and chunk_size < 1:
        raise SweepError(f"--chunk-size {chunk_size} is not allowed: it must be at least 1")
    if scheduler is not None and scheduler != "dask" and not scheduler.startswith("tcp://"):
        raise SweepError(f"--scheduler {scheduler!r} is not allowed: use 'dask' (a local cluster) or tcp://HOST:PORT")
    from sweep.stream import default_chunk_size

    if resume_dir is not None and out != DEFAULT_OUT and Path(out).absolute() != Path(resume_dir).absolute():
        raise SweepError(f"--resume {resume_dir!r} writes into that folder: drop --out {out!r}, or give the same folder")
    out = resume_dir or out
    if resume_dir is not None:
        from sweep.store import CONFIG_FILE, read_config

        if not (Path(resume_dir) / CONFIG_FILE).is_file():
            raise SweepError(f"--resume {resume_dir!r}: no {CONFIG_FILE} there, so nothing to resume")
        chunk_size = chunk_size or read_config(resume_dir).get("chunk_size")
    size = chunk_size or default_chunk_size(plan)
    _check_disk(plan, out)
    extra = {"axes_spec": {"lr": lr_spec, "w0": w0_spec, **{name: spec for name, spec in given.items() if spec is not None}}}
    if resume_dir is not None or scheduler is not None or plan.n_runs > size:
        _stream(plan, out, size, resume_dir is not None, scheduler, extra, quiet, no_report)
        return
    # Only a valid sweep touches the disk; a folder this command made stays only if filled.
    with results_dir(out) as out_dir:
        started = time.perf_counter()
        frame = execute(plan)
        config = dict(frame.attrs["config"], wall_seconds=time.perf_counter() - started, **extra)
        runs_path, config_path = write_results(frame, out_dir, config)
    n_runs = len(frame)
    click.echo(
        f"{n_runs:,} run{'s' if n_runs != 1 else ''} of {'gradient descent' if plan.optimizer == 'gd' else plan.optimizer} on {config['loss']['expression']}: "
        f"{config['seconds']:.3f} s in the kernel ({n_runs / max(config['seconds'], 1e-9):,.0f} runs/s), "
        f"{config['compile_seconds']:.2f} s compiling or loading it"
    )
    counts = frame["outcome"].value_counts()
    for name in OUTCOMES:
        if counts.get(name, 0):
            click.echo(f"  {name:<10} {counts[name]:>10,}  ({counts[name] / n_runs:.1%})")
    click.echo(f"wrote {runs_path} and {config_path}")
    if not no_report:
        from sweep.report import write_report

        click.echo(f"report: {write_report(out_dir)}")


#: Steps per second on 2 cores, rounded down from the benchmark, for the time estimate:
#: gd's lockstep kernel, the stateful optimizers' one, and a model's floating-point rate.
STEPS_PER_SECOND = {"gd": 1e9, "optimizer": 3e8}
MODEL_FLOPS_PER_SECOND = 1e9


def _estimate(plan) -> str:
    """One line before the run: its size, and at most how long and how much memory it takes
    (every run taking max_iter steps at the speeds the benchmark measured here)."""
    from sweep.api import MEMORY_BYTES_PER_RUN
    from sweep.models import Model

    axes = " x ".join(f"{name} {axis.size}" for name, axis in plan.axes.items() if axis.size > 1) or "one point"
    steps = plan.n_runs * max(plan.max_iter, 1)
    if isinstance(plan.loss, Model):
        rate = MODEL_FLOPS_PER_SECOND / plan.loss.flops_per_step()
    else:
        rate = STEPS_PER_SECOND["gd" if plan.optimizer == "gd" else "optimizer"]
    return (
        f"{plan.n_runs:,} run{'s' if plan.n_runs != 1 else ''} ({axes}), at most {steps:.2g} steps: at most about {steps / rate:.2g} s, "
        f"{plan.n_runs * MEMORY_BYTES_PER_RUN / 1e6:,.1f} MB in one piece"
    )


#: Parquet bytes per run, with room to spare (the teaching grid's file holds 23).
DISK_BYTES_PER_RUN = 40


def _check_disk(plan, out) -> None:
    """Refuse a sweep whose files would not fit on the disk of --out."""
    import shutil

    place = Path(out).absolute()
    while not place.exists():
        place = place.parent
    free = shutil.disk_usage(place).free
    need = plan.n_runs * DISK_BYTES_PER_RUN
    if need > free:
        raise SweepError(
            f"{plan.n_runs:,} runs need about {need / 1e9:,.1f} GB in --out {str(out)!r}, more than the "
            f"{free / 1e9:,.1f} GB free there; narrow --lr/--w0 or point --out at a larger disk"
        )


def _stream(plan, out, chunk_size, resume, scheduler, extra, quiet, no_report):
    from sweep.stream import stream_sweep

    click.echo(f"{plan.n_runs:,} runs in chunks of {chunk_size:,}: about {plan.n_runs * DISK_BYTES_PER_RUN / 1e9:,.2f} GB on disk")
    with results_dir(out) as out_dir:
        try:
            config = stream_sweep(plan, out_dir, chunk_size=chunk_size, resume=resume, scheduler=scheduler, extra_config=extra, progress=not quiet, log=click.echo)
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted: finished chunks are kept in {out_dir}; finish with the same command and --resume {out_dir}") from None
    n_runs = plan.n_runs
    click.echo(f"{n_runs:,} runs in {config['n_chunks']} chunk{'s' if config['n_chunks'] != 1 else ''} of {chunk_size:,} ({config['wall_seconds']:.2f} s{' on Dask' if scheduler else ''})")
    for name in OUTCOMES:
        if config["counts"].get(name, 0):
            click.echo(f"  {name:<10} {config['counts'][name]:>12,}  ({config['counts'][name] / n_runs:.1%})")
    click.echo(f"wrote {out_dir / 'runs'}/ and {out_dir / 'sweep.json'}")
    if not no_report:
        from sweep.report import write_report

        click.echo(f"report: {write_report(out_dir)}")


class Interrupted(Exception):
    """Ctrl-C during a streamed sweep: what was finished is kept."""


@cli.command("report")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--x", "x_axis", default=None, help="Axis across the maps (default lr).")
@click.option("--y", "y_axis", default=None, help="Axis up the maps (default w0, or the first other swept axis).")
def report_command(directory, x_axis, y_axis):
    """Draw the heatmaps and report.html for the results in DIRECTORY.

    Axes other than --x and --y that have several values are aggregated in each cell
    (majority outcome, outcome shares, means), and the report says so.

    \b
    Examples:
      sweep report sweep-results
      sweep report momentum-map --x lr --y momentum
    """
    from sweep.report import write_report

    click.echo(f"report: {write_report(directory, x=x_axis, y=y_axis)}")


@cli.command("bench")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False), help="Folder for benchmarks.md, .csv and .png.")
@click.option("--quick", is_flag=True, help="Small grids: checks the whole benchmark quickly (under a minute for the kernel suite, about two for fractal); limits are not checked.")
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
    with results_dir(out) as out_dir:
        if suite == "fractal":
            from sweep.bench.trainability import run_fractal_benchmark

            click.echo(f"wrote {run_fractal_benchmark(out_dir, quick=quick, log=click.echo)}")
            return
        from sweep.bench.harness import run_benchmark

        click.echo(f"wrote {run_benchmark(out_dir, quick=quick, repeats=repeats, log=click.echo)}")


cli.add_command(fractal_command)
cli.add_command(zoom_command)


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
        click.echo(request.ctx.get_help())
        return 0
    except click.ClickException as error:
        click.echo(f"Error: {error.format_message()}", err=True)
        return error.exit_code
    except _USER_ERRORS as error:
        click.echo(f"Error: {error}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
