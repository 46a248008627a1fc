"""The ``sweep fractal`` and ``sweep zoom`` commands: trainability images and zooms into
their boundary. Registered on the ``sweep`` group by ``sweep.cli``."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sweep.cli import command_line, compile_step, parse_params, say
from sweep.errors import FractalError

if TYPE_CHECKING:
    from sweep.fractal import Picture

NETWORK = "network"
DEFAULT_OUT = "fractal-results"


def _range(text: str | None, option: str):
    """``A:B`` or ``A:B:log`` / ``A:B:linear`` -> (A, B, log or None)."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("log", "linear")):
            raise ValueError
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise click.BadParameter(f"{text!r} must read A:B or A:B:log or A:B:linear, for example 1e-3:1e6", param_hint=option) from None
    return lo, hi, (parts[2] == "log") if len(parts) == 3 else None


def _check_threads(threads: int | None) -> None:
    import numba

    if threads is not None and not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise FractalError(f"--threads {threads} is not allowed: it must lie in 1..{numba.config.NUMBA_NUM_THREADS}")


def _check_out(out: str) -> Path:
    """``--out`` as an absolute path; refused when empty, or when it holds a `sweep run`
    result (mixing the two would leave a folder that is neither)."""
    from sweep.folder import check_name, read_record
    from sweep.store import CONFIG_FILE

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
    from sweep.network import Network

    e = experiment
    runs = math.prod(e.shape)
    if e.is_network:
        flops = Network(e.width, e.nonlinearity, e.seed).flops_per_step() * runs * e.steps
        return f"{runs:,} networks x {e.steps} steps ({flops:.2g} floating-point operations)"
    return f"{runs:,} runs x at most {e.steps} steps"


def _prepare(experiment, threads, quiet: bool) -> str:
    """Compile the experiment's kernel as its own step, then measure how long the picture
    takes at most on this machine; returns that as text."""
    from sweep.api import threads as numba_threads
    from sweep.fractal import warm_up, worst_case_seconds

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


def save_picture(folder, picture, command: str) -> None:
    """Write a picture's data and report into a claimed folder (``sweep.folder.claim``), all
    files at once; what an earlier result left there is removed (only files sweep wrote)."""
    from sweep.fractal_report import render_picture_report
    from sweep.fractal_store import CONFIG_FILE, IMAGE_FILE, config_bytes, picture_bytes, summary

    files = render_picture_report(picture, command)
    record = summary(picture)
    record["command"] = command
    files.update({IMAGE_FILE: picture_bytes(picture), CONFIG_FILE: config_bytes(record)})
    folder.write(files)
    folder.keep_only(files)


def _mixed(picture: Picture) -> bool:
    """Whether the picture holds both classes, so that it has a boundary to zoom into."""
    return bool(picture.converged.any() and not picture.converged.all())


def _summary(picture: Picture) -> str:
    dim = picture.dimension
    runs = picture.converged.size
    trained = "converged" if picture.experiment.is_network else "stayed bounded"
    compiled = f" (+{picture.compile_seconds:.1f} s compiling or loading the kernel)" if picture.compile_seconds >= 0.5 else ""
    return f"{runs:,} runs in {picture.seconds:.1f} s{compiled}: {picture.converged.mean():.1%} {trained}; boundary dimension {dim.text()}"


@click.command("fractal")
@click.option("--problem", default=NETWORK, show_default=True, help="'network' (a two-layer network, one learning rate per layer) or a loss of one weight: cosine, cosine-mult, double-well, or a formula in w.")
@click.option("--y", "y_name", default=None, help="For a loss: the parameter up the y axis (default delta when the loss has one), or 'none' for a single line of learning rates.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A loss parameter held fixed (repeatable), e.g. --param lam=0.5.")
@click.option("--w0", type=float, default=5.0, show_default=True, help="For a loss: the initial weight of every run.")
@click.option("--width", type=int, default=8, show_default=True, help="The network's width (1..24; its first use compiles the kernel: about a minute at 16, four at 24); it trains on width*width + width points.")
@click.option("--nonlinearity", type=click.Choice(["tanh", "relu", "identity"]), default="tanh", show_default=True, help="The network's hidden nonlinearity.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the network's weights and data.")
@click.option("--steps", type=int, default=None, help="Gradient steps per run (default: 100 for the network, at most 1000 for a loss).")
@click.option("--resolution", type=int, default=None, help="Values per axis (default 512; for a line, 2**20 + 1 learning rates: give a power of two).")
@click.option("--x-range", default=None, metavar="A:B[:log|linear]", help="Window across (default: lr_in 1e-3:1e6:log for the network, lr 0:1.5:linear for a loss).")
@click.option("--y-range", default=None, metavar="C:D[:log|linear]", help="Window up (default: lr_out 1e-3:1e6:log, or the loss parameter from half to 1.5 times its value; 0:1 when that value is 0 or less).")
@click.option("--threads", type=int, default=None, help="Numba threads (default: all cores).")
@click.option("--out", default=DEFAULT_OUT, show_default=True, type=click.Path(file_okay=False), help="Folder for image.parquet, fractal.json and the report.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
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
    from sweep.fractal import LOSS_STEPS, NETWORK_STEPS, loss_experiment, network_experiment

    out = _check_out(out)
    _check_threads(threads)
    xr, yr = _range(x_range, "--x-range"), _range(y_range, "--y-range")
    if problem == NETWORK:
        for name in ("params", "y_name", "w0"):
            if _given(name):
                option = {"params": "--param", "y_name": "--y", "w0": "--w0"}[name]
                raise FractalError(f"{option} is for a loss, not the network (whose axes are lr_in and lr_out)")
        experiment = network_experiment(width, nonlinearity, NETWORK_STEPS if steps is None else steps, 512 if resolution is None else resolution, xr, yr, seed)
    else:
        for name in ("width", "nonlinearity", "seed"):
            if _given(name):
                raise FractalError(f"--{name} is for the network, not a loss of one weight")
        fixed = parse_params(params)
        if y_name is None:
            from sweep.fractal import problem_loss

            names = [name for name, _ in problem_loss(problem, fixed).params]
            if "delta" not in names:
                choices = ", ".join([*names, "none"])
                raise FractalError(f"name the y axis with --y: one of the loss's parameters or 'none' for a single line of learning rates ({choices})")
            y_name = "delta"
        line = y_name.lower() == "none"
        if line and yr is not None:
            raise FractalError("--y-range needs a parameter on the y axis; a line (--y none) has only --x-range")
        default_resolution = 1 << 20 if line else 512
        experiment = loss_experiment(problem, None if line else y_name, fixed, LOSS_STEPS if steps is None else steps, default_resolution if resolution is None else resolution, xr, yr, w0)
    _compute_and_save(experiment, threads, quiet, out)


def _compute_and_save(experiment, threads, quiet: bool, out: Path) -> None:
    """Estimate, compute and write one picture; --out is claimed before the work starts."""
    from sweep.folder import claim

    say(_size_line(experiment))
    with claim(out, command=command_line()) as folder:
        say(_prepare(experiment, threads, quiet))
        picture = compute_with_progress(experiment, threads, quiet)
        save_picture(folder, picture, command_line())
    say(_summary(picture))
    say(f"report: {folder.path / 'report.html'}")


@click.command("zoom")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--x-range", default=None, metavar="A:B", help="The new window across, in the axis' units.")
@click.option("--y-range", default=None, metavar="C:D", help="The new window up.")
@click.option("--center", default=None, metavar="X[,Y]", help="Centre of the new window (with --factor).")
@click.option("--factor", type=float, default=None, help="How many times narrower the new window is, per axis (default 4 with --auto).")
@click.option("--auto", "frames", type=int, default=None, metavar="N", help="Zoom N times, each into the most mixed part of the boundary; writes every frame, zoom.png and zoom.gif.")
@click.option("--threads", type=int, default=None, help="Numba threads (default: all cores).")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Folder for the result (default: DIRECTORY-zoom).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def zoom_command(directory, x_range, y_range, center, factor, frames, threads, out, quiet):
    """Recompute a trainability image inside a smaller window, at the same resolution and
    with the same settings.

    \b
    Examples:
      sweep zoom fractal-results --x-range 0.5:2 --y-range 10:40
      sweep zoom fractal-results --center 1,20 --factor 8
      sweep zoom fractal-results --auto 4 --out results/fractal-tanh-zoom
    """
    from sweep.fractal_store import read_picture

    modes = [x_range is not None or y_range is not None, center is not None, frames is not None]
    if sum(modes) != 1:
        raise FractalError("give one way to zoom: --x-range/--y-range, --center with --factor, or --auto N")
    if factor is not None and not (math.isfinite(factor) and 1 < factor <= 1e6):
        raise FractalError(f"--factor {factor:g} is not allowed; zooming in needs a factor > 1 (at most 1e6)")
    out = _check_out(f"{str(directory).rstrip('/')}-zoom" if out is None else out)
    _check_threads(threads)
    if out.resolve() == Path(directory).resolve():
        raise FractalError(f"--out {str(out)!r} is the folder being zoomed into; name another folder")
    base = read_picture(directory)
    e = base.experiment
    if frames is not None:
        if not 1 <= frames <= 20:
            raise FractalError(f"--auto {frames} is not allowed; zoom 1 to 20 times")
        factor = factor or 4.0
        if factor > min(e.shape) / 2:
            raise FractalError(f"--factor {factor:g} is too large for --auto at {min(e.shape)} values per axis; use at most {min(e.shape) / 2:g}")
        if not _mixed(base):
            raise FractalError(f"{directory} shows no boundary (every run ended the same way); nothing to zoom into")
        _auto_zoom(base, frames, factor, threads, quiet, out)
        return
    if center is not None:
        if factor is None:
            raise FractalError("--center needs --factor: how many times narrower the window is")
        try:
            values = [float(v) for v in center.split(",")]
        except ValueError:
            raise FractalError(f"--center {center!r} must read X,Y (or X for a line), for example 1.5,20") from None
        if len(values) != (1 if e.y is None else 2):
            raise FractalError(f"--center {center!r} needs {'one number' if e.y is None else 'two numbers, X,Y'}")
        try:
            window = (e.x.around(values[0], factor), None if e.y is None else e.y.around(values[1], factor))
        except FractalError as error:
            raise FractalError(f"--center {center} --factor {factor:g}: {error}") from None
    else:
        xr, yr = _range(x_range, "--x-range"), _range(y_range, "--y-range")
        if (xr and xr[2] is not None) or (yr and yr[2] is not None):
            raise FractalError("a zoom keeps the picture's spacing: give the window as A:B, without :log or :linear")
        if e.y is None and yr is not None:
            raise FractalError("this picture is a line of learning rates: give --x-range only")
        x = e.x.window(*xr[:2]) if xr else e.x
        y = None if e.y is None else (e.y.window(*yr[:2]) if yr else e.y)
        window = (x, y)
    experiment = e.with_window(*window)
    _compute_and_save(experiment, threads, quiet, out)


def _auto_zoom(base, n_frames: int, factor: float, threads, quiet: bool, out: Path) -> None:
    from sweep.folder import claim
    from sweep.fractal import zoom_in
    from sweep.fractal_report import gif_bytes, zoom_dimension_figure, zoom_report, zoom_strip
    from sweep.fractal_store import CONFIG_FILE, FRAMES_DIR, config_bytes, picture_bytes, summary
    from sweep.report import png_bytes

    say(f"{n_frames} frame{'s' if n_frames != 1 else ''}, each {factor:g} times narrower per axis; {_size_line(base.experiment)} each")
    with claim(out, command=command_line()) as folder:  # checked before the work; removed again if it fails
        say(_prepare(base.experiment, threads, quiet) + ", per frame")
        pictures = [base]
        for k in range(n_frames):
            if not _mixed(pictures[-1]):
                say(f"frame {k} shows no boundary: stopping after {k} frame{'s' if k != 1 else ''}")
                break
            try:
                experiment = zoom_in(pictures[-1], factor)
            except FractalError as error:
                say(f"stopping after {k} frame{'s' if k != 1 else ''}: the next window cannot be resolved ({error})")
                break
            picture = compute_with_progress(experiment, threads, quiet, f"frame {k + 1} of {n_frames}")
            pictures.append(picture)
            say(f"frame {k + 1}: {_summary(picture)}")
        command = command_line()
        strip = png_bytes(zoom_strip(pictures))
        dims = png_bytes(zoom_dimension_figure(pictures))
        files = {"zoom.png": strip, "dimension.png": dims, "zoom.gif": gif_bytes(pictures), "report.html": zoom_report(pictures, strip, dims, command).encode()}
        files.update({f"{FRAMES_DIR}/frame-{k:02d}.parquet": picture_bytes(picture) for k, picture in enumerate(pictures)})
        files[CONFIG_FILE] = config_bytes({"command": command, "factor": factor, "frames": [summary(p) for p in pictures]})
        folder.write(files)
        folder.keep_only(files)
    say(f"report: {folder.path / 'report.html'}")
