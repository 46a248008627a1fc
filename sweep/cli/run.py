"""``sweep run``: every point of a grid, to a results folder, with a report."""

from __future__ import annotations

import time

import click

from sweep.cli.options import SPEC, SPEC_HELP, START_SPEC, param_option, params_dict, quiet_option, threads_option
from sweep.cli.output import Interrupted, command_line, compile_step, counts_lines, say, seconds_text, size_text
from sweep.errors import SweepError
from sweep.optim.optimizers import OPTIMIZERS
from sweep.optim.schedules import SCHEDULES

#: The default grid: the teaching example's learning rates 0.001, 0.4 and 10 inside a log
#: grid over 1e-3..10 (30 per decade), and initial weights -2..3 in steps of 0.05.
DEFAULT_LR = "1e-3:10:121:log,0.4"
DEFAULT_W0 = "-2:3:101"
DEFAULT_OUT = "sweep-results"


def _setting_options(table: dict, attribute: str, kind: str):
    """One SPEC option per hyperparameter (or schedule parameter) name in a table, with the
    entries that have it and its default: declared once, from the table itself."""
    owners: dict[str, list] = {}
    for entry in table.values():
        for setting in getattr(entry, attribute):
            owners.setdefault(setting.name, []).append((entry.name, setting))

    def decorate(command):
        for name, entries in reversed(owners.items()):
            # Entries that share a default are named together: "adam, adamw: 0.999; lion: 0.99".
            by_default: dict[str, list[str]] = {}
            for owner, setting in entries:
                default = "max_iter" if setting.default != setting.default else f"{setting.default:g}"
                by_default.setdefault(default, []).append(owner)
            defaults = "; ".join(f"{', '.join(owners_)}: {default}" for default, owners_ in by_default.items())
            flag = "--" + name.replace("_", "-")
            command = click.option(flag, f"{kind}_{name}", type=SPEC, default=None, metavar="SPEC", help=f"{name} (default {defaults}).")(command)
        return command

    return decorate, list(owners)


_hyper_options, HYPER_NAMES = _setting_options(OPTIMIZERS, "hyperparameters", "hyper")
_schedule_options, SCHEDULE_NAMES = _setting_options(SCHEDULES, "params", "schedule")


@click.command("run")
@click.option("--lr", "lr_axis", type=SPEC, default=DEFAULT_LR, show_default=True, metavar="SPEC", help=f"Learning rates: {SPEC_HELP}.")
@click.option(
    "--w0", "w0_axis", type=START_SPEC, multiple=True, metavar="[NAME=]SPEC",
    help=f"Initial weights, same SPEC forms (default {DEFAULT_W0}). For a loss of several weights one per weight, --w0 x=-2:2:41 --w0 y=-1:3:41; weights left out start at the built-in's customary point.",
)
@click.option(
    "--loss", default="quadratic", show_default=True,
    help="A built-in loss (one weight: quadratic, cosine, cosine-mult, double-well; several: rosenbrock, beale, himmelblau, booth, rastrigin, ill-quadratic), "
    "a model (mse-linear, logloss-logistic) or a formula: in w, e.g. '(w-1)**2 + 2', or in several weights, e.g. '0.5*(x**2 + k*y**2)' --param k=10.",
)
@param_option
@click.option("--dataset", default=None, help="For the models mse-linear / logloss-logistic: diabetes, breast-cancer or a CSV file.")
@click.option("--target", default=None, help="The column to predict, for a CSV dataset.")
@click.option("--features", default=None, metavar="A,B,C", help="The columns to learn from, for a CSV dataset (default: every column but the target).")
@click.option("--max-iter", type=int, default=100, show_default=True, help="Most updates per run (>= 0).")
@click.option("--tol", type=float, default=0.0, show_default=True, help="Stop when |grad| <= tol; 0 means exactly 0.")
@click.option("--div-factor", type=float, default=1e8, show_default=True, help="Diverged once |w| > div-factor * max(1, |w0|) (inf: never).")
@click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default="gd", show_default=True, help="The update rule.")
@_hyper_options
@click.option("--schedule", type=click.Choice(list(SCHEDULES)), default="constant", show_default=True, help="The learning-rate schedule.")
@_schedule_options
@click.option("--grad-noise", "grad_noise", type=SPEC, default=None, metavar="SPEC", help="Scale of Gaussian noise on every gradient component (>= 0); runs then stop only by divergence, NaN or max_iter.")
@click.option("--batch-size", "batch_size", type=SPEC, default=None, metavar="SPEC", help="For a model: samples per mini-batch (1..n_samples), drawn afresh each epoch; runs then stop only by divergence, NaN or max_iter.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the gradient noise and of the mini-batches' order.")
@click.option("--target-loss", "target_loss", type=float, default=None, help="With noise: the gap above the loss's best value that counts as reached (the table's reached column).")
@click.option("--dynamics/--no-dynamics", default=True, show_default=True, help="Track the sharpness at every step.")
@click.option("--trace", "trace", multiple=True, metavar="AXIS=V1,V2|sample:N:SEED|all", help="Keep every iterate of these runs in DIR/traces.parquet (repeatable: the runs matching every AXIS=... given, plus any sample).")
@threads_option
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Folder for runs.parquet, sweep.json and the report (new, empty, or written by sweep before).")
@click.option("--no-report", is_flag=True, help="Write the data only, no figures.")
@click.option("--chunk-size", type=int, default=None, help="Runs per chunk; chunks stream to DIR/runs/ (default: from free memory).")
@click.option("--resume", "resume_dir", default=None, metavar="DIR", help="Finish the interrupted sweep in DIR (same options as before); damaged parts are recomputed.")
@click.option("--scheduler", default=None, metavar="dask|tcp://HOST:PORT", help="Run the chunks on a local Dask cluster or an existing one.")
@quiet_option
def run_command(lr_axis, w0_axis, loss, params, dataset, target, features, max_iter, tol, div_factor, optimizer, schedule, grad_noise, batch_size, seed, target_loss, dynamics, trace, threads, out, no_report, chunk_size, resume_dir, scheduler, quiet, **settings):
    """Run every point of the grid and write DIR/runs.parquet, DIR/sweep.json and the report.

    \b
    Examples:
      sweep run                                   # the teaching example's grid
      sweep run --lr 0.4,0.001,10 --w0 randint:-2:3:1:0 --out teaching
      sweep run --lr 1e-4:10:400:log --w0 -2:3:200 --max-iter 1000 --tol 1e-12
      sweep run --loss cosine --param delta=0.2 --lr 0.01:1.5:600 --w0 -3:5:200
      sweep run --optimizer momentum --momentum 0:0.95:40 --lr 1e-2:4:160:log
      sweep run --schedule cosine --lr 0.5:2:60 --max-iter 200
      sweep run --loss mse-linear --dataset diabetes --lr 1e-3:1:120:log --w0 -2:2:41
      sweep run --trace lr=0.4,0.001,10 --trace w0=2   # every iterate of the teaching runs
    """
    from sweep.run.plan import plan_sweep
    from sweep.store.folder import check_name

    hyper = {name: settings[f"hyper_{name}"] for name in HYPER_NAMES if settings.get(f"hyper_{name}") is not None}
    schedule_params = {name: settings[f"schedule_{name}"] for name in SCHEDULE_NAMES if settings.get(f"schedule_{name}") is not None}
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
        lr_axis, starts_argument(w0_axis, loss, params_dict(params)), loss=loss, params=params_dict(params), max_iter=max_iter, tol=tol, div_factor=div_factor, n_threads=threads, dataset=dataset, target=target,
        features=feature_list, optimizer=optimizer, hyper=hyper, schedule=schedule, schedule_params=schedule_params, grad_noise=grad_noise, seed=seed, dynamics=dynamics, trace=trace or None, target_loss=target_loss, batch_size=batch_size,
    )
    ctx = click.get_current_context()
    # What the user typed, by the option's own flag, each value as the library read it.
    typed = {param.opts[0]: _plain(ctx.params[param.name]) for param in ctx.command.params if ctx.get_parameter_source(param.name).name == "COMMANDLINE"}
    extra = {"command": command_line(), "options": typed}
    if resume_dir is not None:
        from sweep.errors import StoreError
        from sweep.store.results import read_config

        try:
            chunk_size = chunk_size or read_config(out_path).get("chunk_size")
        except StoreError as error:
            raise SweepError(f"--resume {resume_dir!r}: nothing to resume ({error})") from None
    _run(plan, out_path, chunk_size, resume_dir is not None, scheduler, extra, quiet, no_report)


def starts_argument(given, loss, params):
    """What ``--w0`` gives ``plan_sweep``: one axis (unnamed, or the default for a loss of one
    weight), or a dict of weight name to axis (None: every weight at its customary start)."""
    from sweep.run.spec import parse_spec

    named = params_dict([(name, value) for name, value in given if name], "--w0")
    bare = [value for name, value in given if not name]
    if len(bare) > 1 or (bare and named):
        raise SweepError("--w0 is given more than once: give one SPEC for a loss of one weight, or one NAME=SPEC per weight for several")
    if bare:
        return bare[0]
    several = loss_weights(loss, params) > 1
    if named and not several:
        first = next(iter(named))
        from sweep.problems.models import MODELS

        which = f"the model {loss!r} starts all its weights at one w0" if loss in MODELS else f"the loss {loss[:60]!r} has one weight"
        raise SweepError(f"--w0 {first}=... names a weight, but {which}: give --w0 a SPEC alone, e.g. --w0 {DEFAULT_W0}")
    if named:
        return named
    return None if several else parse_spec(DEFAULT_W0)


def loss_weights(loss, params) -> int:
    """How many weights a --loss has (1 for a model, or when the loss cannot be built: the
    plan then says what is wrong with it)."""
    from sweep.problems.losses import make_loss
    from sweep.problems.models import MODELS

    if loss in MODELS:
        return 1
    try:
        return make_loss(loss, {name: value if isinstance(value, float) else float(value[0]) for name, value in params.items()}).d
    except (ValueError, TypeError, IndexError):
        return 1


def _plain(value):
    """An option's value as JSON holds it (an axis as its list of values)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _run(plan, out_path, chunk_size, resume, scheduler, extra, quiet, no_report):
    from sweep.run.estimate import worst_case_seconds
    from sweep.run.executor import compile_kernel, memory_bytes, threads
    from sweep.run.stream import check_disk, default_chunk_size
    from sweep.store.folder import claim

    size = chunk_size or default_chunk_size(plan)
    streamed = resume or scheduler is not None or plan.n_runs > size
    axes = " x ".join(f"{axis.name} {axis.values.size}" for axis in plan.axes if axis.swept) or "one point"
    n = plan.n_runs
    planned = f"{n:,} run{'s' if n != 1 else ''} ({axes}), at most {n * max(plan.max_iter, 1):.2g} steps; " + (
        f"in chunks of {size:,}, about {size_text(n * 40)} on disk" if streamed else f"{size_text(memory_bytes(plan))} in memory in one piece"
    )
    if not resume:
        check_disk(n, out_path)
    if plan.traced is not None:
        from sweep.run.plan import trace_bytes

        check_disk(0, out_path, extra_bytes=trace_bytes(plan, plan.traced.size), what=f"the traces of {plan.traced.size:,} runs")
    with claim(out_path, command=command_line(), option="--resume" if resume else "--out") as folder:
        # Said once the folder is ours: a refused --out is one error line, nothing before it.
        say(planned)
        if scheduler and scheduler.startswith("tcp://"):
            say(f"the workers write the parts into {out_path}: every worker must see that folder at that path")
        with threads(plan.n_threads):
            compile_step(lambda: compile_kernel(plan), quiet)
            bound = worst_case_seconds(plan)
        where = " on this machine" + (" (the Dask workers' speed may differ)" if scheduler else "")
        say(f"at most about {seconds_text(bound)} in the kernel{where}, measured on a sample of the grid")
        if streamed:
            _stream(plan, folder, size, resume, scheduler, extra, quiet, no_report)
        else:
            _one_piece(plan, folder, extra, no_report)


def _one_piece(plan, folder, extra, no_report):
    from sweep.run.executor import execute
    from sweep.store.results import write_results

    started = time.perf_counter()
    frame = execute(plan)
    traces = None
    if plan.traced is not None:
        from sweep.run.executor import trace_runs
        from sweep.store.results import TRACES_FILE, traces_bytes

        traces = trace_runs(plan, plan.traced)
    config = dict(frame.attrs["config"], wall_seconds=time.perf_counter() - started, **extra)
    files = {} if traces is None else {TRACES_FILE: traces_bytes(traces)}
    if not no_report:
        from sweep.plots.report import render_report

        # Drawn before anything is written: a report that fails leaves no data behind it.
        files.update(render_report(frame, config, traces=traces))
    runs_path, config_path = write_results(folder, frame, config, files)
    n_runs = len(frame)
    method = "gradient descent" if plan.optimizer.name == "gd" else plan.optimizer.name
    say(
        f"{n_runs:,} run{'s' if n_runs != 1 else ''} of {method} on {config['loss']['expression']}: "
        f"{config['seconds']:.3f} s in the kernel ({n_runs / max(config['seconds'], 1e-9):,.0f} runs/s), "
        f"{config['compile_seconds']:.2f} s compiling or loading it"
    )
    counts_lines(frame["outcome"].value_counts(), n_runs)
    if plan.target_loss is not None:
        reached = int((frame["reached"] >= 0).sum())
        say(f"  reached the target (a loss within {plan.target_loss:g} of the best, {plan.target - plan.target_loss:.6g}): {reached:,} runs ({reached / n_runs:.1%})")
    say(f"wrote {runs_path} and {config_path}")
    if traces is not None:
        _say_traced(plan, folder.path / "traces.parquet", len(traces))
    if not no_report:
        say(f"report: {folder.path / 'report.html'}")


def _say_traced(plan, path, iterates: int | None = None):
    """The traced line; ``iterates`` read from the file's footer when not at hand (a
    streamed sweep joined its chunks' traces on disk)."""
    if iterates is None:
        import pyarrow.parquet as pq

        iterates = pq.read_metadata(path).num_rows
    n = plan.traced.size
    say(f"traced {n:,} run{'s' if n != 1 else ''} ({iterates:,} iterates) into {path}")


def _stream(plan, folder, chunk_size, resume, scheduler, extra, quiet, no_report):
    from sweep.run.stream import stream_sweep

    try:
        config = stream_sweep(plan, folder, chunk_size=chunk_size, resume=resume, scheduler=scheduler, extra_config=extra, progress=not quiet, log=say)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: finished chunks are kept in {folder.path}; finish with the same command and --resume {folder.path}") from None
    n_runs = plan.n_runs
    say(
        f"{n_runs:,} runs in {config['n_chunks']} chunk{'s' if config['n_chunks'] != 1 else ''} of {chunk_size:,} ({config['wall_seconds']:.2f} s{' on Dask' if scheduler else ''}; "
        f"{config['seconds']:.2f} s in the kernel, {config['compile_seconds']:.2f} s compiling or loading it)"
    )
    counts_lines(config["counts"], n_runs)
    say(f"wrote {folder.path / 'runs'}/ and {folder.path / 'sweep.json'}")
    if plan.traced is not None:
        _say_traced(plan, folder.path / "traces.parquet")
    if not no_report:
        from sweep.plots.report import write_report

        say(f"report: {write_report(folder.path, folder=folder)}")
