"""The trainability view's data: an experiment moved to the window a person zoomed to,
computed at the same resolution, drawn as a PNG with its box-counting dimension, and saved
as a ``sweep fractal`` folder on request.

The windows a request may ask for are those ``sweep.fractal.Axis`` allows (finite, inside
1e-100..1e100, wider than float64 can resolve, learning rates >= 0), so a zoom goes down to
float64's limit and stops there with a message, never with a wrong picture.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import numpy as np

from sweep.errors import FractalError
from sweep.fractal import Axis, Experiment, Picture
from sweep.serve.sweepview import ViewError

#: Values per axis a view may ask for: a 512 x 512 network image is about a minute on
#: 2 cores, the most a person waits for in a browser.
MIN_RESOLUTION = 16
MAX_RESOLUTION = 512
#: Work per piece of a network image (floating-point operations): about 0.1 s on 2 cores,
#: so progress moves and a newer request cancels this one promptly.
SERVE_PIECE_FLOPS = 1e9
#: Default resolutions of the first view: a loss image in well under a second, a width-8
#: network in a few seconds.
LOSS_RESOLUTION = 256
NETWORK_RESOLUTION = 128


def windowed(base: Experiment, x: tuple[float, float], y: tuple[float, float], resolution: int | None = None) -> Experiment:
    """The experiment over another window, at ``resolution`` values per axis (default: the
    base's own).

    Raises:
        ViewError: for a window ``sweep.fractal.Axis`` refuses, a resolution outside
            MIN_RESOLUTION..MAX_RESOLUTION, or a base with no y axis.
    """
    if base.y is None:
        raise ViewError("the browser view draws images; give the experiment a parameter on the y axis")
    n = base.x.n if resolution is None else resolution
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_RESOLUTION <= n <= MAX_RESOLUTION:
        raise ViewError(f"resolution {n!r} is not allowed: give a whole number of values per axis in {MIN_RESOLUTION}..{MAX_RESOLUTION}")
    for name, pair in (("x", x), ("y", y)):
        if len(pair) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pair):
            raise ViewError(f"the {name} window {pair!r} is not allowed: give two finite numbers, low and high")
    try:
        moved = base.with_window(Axis(base.x.name, float(x[0]), float(x[1]), n, base.x.log), Axis(base.y.name, float(y[0]), float(y[1]), n, base.y.log))
    except FractalError as error:
        raise ViewError(str(error)) from None
    for axis in (moved.x, moved.y):
        # n distinct float64 values, or the picture would repeat columns (a window near 0
        # passes the relative test above while holding only a few representable numbers).
        if np.unique(axis.values()).size < n:
            raise ViewError(f"{axis.name} range {axis.lo!r}:{axis.hi!r} is narrower than float64 can resolve at {n} values; widen it or lower the resolution")
    return moved


def compute_view(experiment: Experiment, progress=None, phase=None) -> Picture:
    """``sweep.fractal.compute`` in pieces small enough for live progress (see
    ``SERVE_PIECE_FLOPS``); ``progress(done, total)`` may raise to stop it, and
    ``phase(text)``, if given, hears when the kernel is compiled (or loaded) and when
    training starts."""
    from sweep.fractal import compute, warm_up

    if phase is not None:
        phase("compiling or loading the kernel (a first view of a problem can take a minute)")
    warm_up(experiment)
    if phase is not None:
        phase("training")
    return compute(experiment, None, progress, piece_flops=SERVE_PIECE_FLOPS)


def picture_png(picture: Picture) -> bytes:
    """The picture's cells as a PNG, one pixel per cell, y increasing upwards (the image's
    first row is the y axis' low end), coloured as the reports colour it."""
    from PIL import Image

    from sweep.fractal.report import trainability_rgba

    rgba = trainability_rgba(picture.measure, picture.converged)[::-1]
    buffer = io.BytesIO()
    Image.fromarray((rgba * 255).round().astype(np.uint8), "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def axis_payload(axis) -> dict:
    """An axis for the page: name, ends, values, spacing, and the lowest value a window may
    reach (0 for a learning rate, else None: only float64's limits)."""
    from sweep.fractal.experiment import AXIS_LIMIT, LR_AXES

    floor = (1 / AXIS_LIMIT) if axis.log else (0.0 if axis.name in LR_AXES else -AXIS_LIMIT)
    return {"name": axis.name, "lo": axis.lo, "hi": axis.hi, "n": axis.n, "log": axis.log, "floor": floor, "ceiling": AXIS_LIMIT}


def view_payload(picture: Picture) -> dict:
    """JSON-ready description of a computed view: axes, image (a PNG data URL), share that
    trained, dimension, timing."""
    from matplotlib.colors import to_hex

    from sweep.fractal.report import CONVERGED_CMAP, DIVERGED_CMAP, class_names

    e = picture.experiment
    dim = picture.dimension
    good, bad = class_names(picture)
    return {
        "problem": e.problem,
        "x": axis_payload(e.x),
        "y": axis_payload(e.y),
        "image": "data:image/png;base64," + base64.b64encode(picture_png(picture)).decode("ascii"),
        # Row-major from the y axis' low end, one character per cell: what hover reads.
        "converged": "".join("1" if c else "0" for c in picture.converged.ravel().tolist()),
        "converged_share": float(picture.converged.mean()),
        "classes": [good, bad],
        "class_colours": [[to_hex(cmap(t)) for t in np.linspace(0, 1, 5)] for cmap in (CONVERGED_CMAP, DIVERGED_CMAP)],
        "dimension": {"value": dim.value if math.isfinite(dim.value) else None, "text": dim.text()},
        "seconds": round(picture.seconds, 3),
    }


def save_view(root: Path, picture: Picture, command: str) -> Path:
    """Write the picture as a ``sweep fractal`` folder ``view-N`` (the first free N) inside
    ``root``, the folder the server was given; never anywhere else.

    Returns:
        The new folder.

    Raises:
        ViewError: when ``root`` cannot take another view.
    """
    from sweep.errors import StoreError
    from sweep.fractal.report import save_picture
    from sweep.store.folder import claim

    root = Path(root)
    for number in range(1, 10_000):
        target = root / f"view-{number}"
        if not target.exists():
            break
    else:
        raise ViewError(f"{root} holds 9,999 saved views already; move some away")
    try:
        root.mkdir(parents=True, exist_ok=True)
        with claim(target, command=command) as folder:
            save_picture(folder, picture, command)
    except (StoreError, OSError) as error:
        raise ViewError(f"cannot save the view in {root}: {str(error).splitlines()[0][:200]}") from None
    return target
