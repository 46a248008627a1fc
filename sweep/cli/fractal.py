"""The ``sweep fractal`` and ``sweep zoom`` commands: trainability images and zooms into
their boundary. Registered on the ``sweep`` group by ``sweep.cli``."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sweep.cli.options import NAME_VALUE, RANGE, params_dict, quiet_option
from sweep.cli.output import command_line, compile_step, say
from sweep.errors import FractalError

if TYPE_CHECKING:
    from sweep.fractal import Picture

NETWORK = "network"
DEFAULT_OUT = "fractal-results"


def _check_threads(threads: int | None) -> None:
    import numba

    if threads is not None and not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise FractalError(f"--threads {threads} is not allowed: it must lie in 1..{numba.config.NUMBA_NUM_THREADS} (the cores Numba may use: NUMBA_NUM_THREADS)")


def _check_out(out: str) -> Path:
    """``--out`` as an absolute path; refused when empty, or when it holds a `sweep run`
    result (mixing the two would leave a folder that is neither)."""
    from sweep.store.folder import check_name, read_record
    from sweep.store.results import CONFIG_FILE

    path = check_name(out)
    if CONFIG_FILE in read_record(path):
        raise FractalError(f"--out {out!r} holds the results of 'sweep run'; name another folder")
    return path


def _given(name: str) -> bool:
    """Whether the user typed the option ``name`` (a parameter name), rather than its default."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(name) == ParameterSource.COMMANDLINE


def _progress(quiet: bool, total_label: str):
    """A rich progress bar (only on a terminal) and the callback that advances it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn(total_label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=Console(stderr=True), disable=quiet or not sys.stderr.isatty(), transient=True)
    task = bar.add_task(total_label, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, advance


def _size_line(experiment) -> str:
    """What the experiment computes, printed before it starts."""
    from sweep.fractal.network import Network

    e = experiment
    runs = math.prod(e.shape)
    if e.is_network:
        flops = Network(e.width, e.nonlinearity, e.seed).flops_per_step() * runs * e.steps
        return f"{runs:,} networks x {e.steps} steps ({flops:.2g} floating-point operations)"
    return f"{runs:,} runs x at most {e.steps} steps"


def _prepare(experiment, threads, quiet: bool) -> str:
    """Compile the experiment's kernel as its own step, then measure how long the picture
    takes at most on this machine; returns that as text."""
    from sweep.fractal import warm_up, worst_case_seconds
    from sweep.run.executor import threads as numba_threads

    with numba_threads(threads):
        compile_step(lambda: warm_up(experiment), quiet)
        bound = worst_case_seconds(experiment)
    return f"at most about {bound:.2g} s on this machine, measured on a sample"


def compute_with_progress(experiment, threads: int | None, quiet: bool, label: str = "training") -> Picture:
    """``sweep.fractal.compute`` under a progress bar; Ctrl-C stops it within one piece."""
    from sweep.fractal import compute

    bar, advance = _progress(quiet, label)
    with bar:
        return compute(experiment, threads, advance)


def _mixed(picture: Picture) -> bool:
    """Whether the picture holds both classes, so that it has a boundary to zoom into."""
    return bool(picture.converged.any() and not picture.converged.all())


def _summary(picture: Picture) -> str:
    dim = picture.dimension
    runs = picture.converged.size
    trained = "converged" if picture.experiment.is_network else "stayed bounded"
    compiled = f" (+{picture.compile_seconds:.1f} s compiling or loading the kernel)" if picture.compile_seconds >= 0.5 else ""
    return f"{runs:,} runs in {picture.seconds:.1f} s{compiled}: {picture.converged.mean():.1%} {trained}; boundary dimension {dim.text()}"


def experiment_options(resolution_help: str):
    """The options that describe a trainability experiment, declared once for ``sweep fractal``
    and ``sweep serve`` (which differ only in their default resolution)."""
    options = [
        click.option("--problem", default=NETWORK, show_default=True, help="'network' (a two-layer network, one learning rate per layer) or a loss of one weight: cosine, cosine-mult, double-well, or a formula in w."),
        click.option("--y", "y_name", default=None, help="For a loss: the parameter up the y axis (default delta when the loss has one), or 'none' for a single line of learning rates."),
        click.option("--param", "params", type=NAME_VALUE, multiple=True, help="A loss parameter held fixed (repeatable), e.g. --param lam=0.5."),
        click.option("--w0", type=float, default=5.0, show_default=True, help="For a loss: the initial weight of every run."),
        click.option("--width", type=int, default=8, show_default=True, help="The network's width (1..24; its first use compiles the kernel: about a minute at 16, four at 24); it trains on width*width + width points."),
        click.option("--nonlinearity", type=click.Choice(["tanh", "relu", "identity"]), default="tanh", show_default=True, help="The network's hidden nonlinearity."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the network's weights and data."),
        click.option("--steps", type=int, default=None, help="Gradient steps per run (default: 100 for the network, at most 1000 for a loss)."),
        click.option("--resolution", type=int, default=None, help=resolution_help),
        click.option("--x-range", type=RANGE, default=None, help="Window across (default: lr_in 1e-3:1e6:log for the network, lr 0:1.5:linear for a loss)."),
        click.option("--y-range", type=RANGE, default=None, help="Window up (default: lr_out 1e-3:1e6:log, or the loss parameter from half to 1.5 times its value; 0:1 when that value is 0 or less)."),
    ]

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def experiment_from_options(problem, y_name, params, w0, width, nonlinearity, seed, steps, resolution, x_range, y_range, image_resolution: int = 512, line: bool = True):
    """The Experiment the options of ``experiment_options`` describe; ``image_resolution`` is
    the default resolution of an image. ``line=False`` refuses a single line of learning rates.

    Raises:
        FractalError: naming a bad or misplaced option.
    """
    from sweep.fractal.experiment import LOSS_STEPS, NETWORK_STEPS, loss_experiment, network_experiment

    xr, yr = x_range, y_range
    if problem == NETWORK:
        for name in ("params", "y_name", "w0"):
            if _given(name):
                option = {"params": "--param", "y_name": "--y", "w0": "--w0"}[name]
                raise FractalError(f"{option} is for a loss, not the network (whose axes are lr_in and lr_out)")
        return network_experiment(width, nonlinearity, NETWORK_STEPS if steps is None else steps, image_resolution if resolution is None else resolution, xr, yr, seed)
    for name in ("width", "nonlinearity", "seed"):
        if _given(name):
            raise FractalError(f"--{name} is for the network, not a loss of one weight")
    fixed = params_dict(params)
    if y_name is None:
        from sweep.fractal import problem_loss

        names = [name for name, _ in problem_loss(problem, fixed).params]
        if "delta" not in names:
            choices = ", ".join([*names, "none"] if line else names)
            line_text = " or 'none' for a single line of learning rates" if line else ""
            raise FractalError(f"name the y axis with --y: one of the loss's parameters{line_text} ({choices or 'the loss has none'})")
        y_name = "delta"
    is_line = y_name.lower() == "none"
    if is_line and not line:
        raise FractalError("--y none (a single line of learning rates) is not shown here; name a parameter of the loss for the y axis")
    if is_line and yr is not None:
        raise FractalError("--y-range needs a parameter on the y axis; a line (--y none) has only --x-range")
    default_resolution = 1 << 20 if is_line else image_resolution
    return loss_experiment(problem, None if is_line else y_name, fixed, LOSS_STEPS if steps is None else steps, default_resolution if resolution is None else resolution, xr, yr, w0)


#: The fewest values per axis `sweep fractal` takes (as `sweep serve`).
MIN_IMAGE_RESOLUTION = 16


@click.command("fractal")
@experiment_options("Values per axis (default 512; for a line, 2**20 + 1 learning rates: give a power of two).")
@click.option("--threads", type=int, default=None, help="Numba threads (default: all cores).")
@click.option("--out", default=DEFAULT_OUT, show_default=True, help="Folder for image.parquet, fractal.json and the report.")
@quiet_option
def fractal_command(problem, y_name, params, w0, width, nonlinearity, seed, steps, resolution, x_range, y_range, threads, out, quiet):
    """Map which hyperparameters train and which diverge, finely enough to see the
    boundary's fractal structure, and measure its dimension.

    \b
    Examples:
      sweep fractal                                # width-8 tanh network, 512 x 512, 100 steps
      sweep fractal --width 16 --steps 500 --resolution 256
      sweep fractal --problem cosine-mult --y delta --y-range 0:1
      sweep fractal --problem cosine-mult --y none --resolution 1048576
    Then zoom in: sweep zoom fractal-results --auto 4
    """
    out = _check_out(out)
    _check_threads(threads)
    if resolution is not None and resolution < MIN_IMAGE_RESOLUTION:
        raise FractalError(f"--resolution {resolution} is not allowed: give at least {MIN_IMAGE_RESOLUTION} values per axis (fewer leave the boundary's box count no scales to fit)")
    experiment = experiment_from_options(problem, y_name, params, w0, width, nonlinearity, seed, steps, resolution, x_range, y_range)
    _compute_and_save(experiment, threads, quiet, out)


def _compute_and_save(experiment, threads, quiet: bool, out: Path) -> None:
    """Estimate, compute and write one picture; --out is claimed before the work starts."""
    from sweep.fractal.report import save_picture
    from sweep.store.folder import claim

    say(_size_line(experiment))
    with claim(out, command=command_line()) as folder:
        say(_prepare(experiment, threads, quiet))
        picture = compute_with_progress(experiment, threads, quiet)
        save_picture(folder, picture, command_line())
    say(_summary(picture))
    say(f"report: {folder.path / 'report.html'}")
