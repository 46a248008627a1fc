"""``sweep zoom``: a trainability image recomputed inside a smaller window, once or again
and again into the most mixed part of its boundary."""

from __future__ import annotations

import math
from pathlib import Path

import click

from sweep.cli.fractal import _check_out, _check_threads, _compute_and_save, _mixed, _prepare, _size_line, _summary, compute_with_progress
from sweep.cli.options import RANGE, quiet_option
from sweep.cli.output import command_line, say
from sweep.errors import FractalError


@click.command("zoom")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--x-range", type=RANGE, default=None, help="The new window across, in the axis' units.")
@click.option("--y-range", type=RANGE, default=None, help="The new window up.")
@click.option("--center", default=None, metavar="X[,Y]", help="Centre of the new window (with --factor).")
@click.option("--factor", type=float, default=None, help="How many times narrower the new window is, per axis (default 4 with --auto).")
@click.option("--auto", "frames", type=int, default=None, metavar="N", help="Zoom N times, each into the most mixed part of the boundary; writes every frame, zoom.png and zoom.gif.")
@click.option("--threads", type=int, default=None, help="Numba threads (default: all cores).")
@click.option("--out", default=None, help="Folder for the result (default: DIRECTORY-zoom).")
@quiet_option
def zoom_command(directory, x_range, y_range, center, factor, frames, threads, out, quiet):
    """Recompute a trainability image inside a smaller window, at the same resolution and
    with the same settings.

    \b
    Examples:
      sweep zoom fractal-results --x-range 0.5:2 --y-range 10:40
      sweep zoom fractal-results --center 1,20 --factor 8
      sweep zoom fractal-results --auto 4 --out results/fractal-tanh-zoom
    """
    from sweep.fractal.store import read_picture

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
        xr, yr = x_range, y_range
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
    from sweep.fractal import zoom_in
    from sweep.fractal.report import gif_bytes, zoom_dimension_figure, zoom_report, zoom_strip
    from sweep.fractal.store import CONFIG_FILE, FRAMES_DIR, config_bytes, picture_bytes, summary
    from sweep.plots.report import png_bytes
    from sweep.store.folder import claim

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
