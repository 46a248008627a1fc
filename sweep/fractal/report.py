"""Figures and the HTML report of trainability pictures and zoom sequences.

Each class has its own colour map, blue where training converged and red where it diverged,
and within its class each run is coloured by its rank by speed (``sweep.fractal.boundary.class_ranks``,
the notebook's rank equalization): pale for the fastest runs, deep for the slowest, which lie
next to the boundary. Two colour bars say so on every picture. Log axes are labelled in plain
numbers at round values, as few as fit without overlapping.

What to draw is computed by pure functions that tests check without rendering
(``trainability_rgba``, ``axis_ticks``, ``frame_title``); the ``draw_*`` and ``*_figure``
functions only draw it.
"""

from __future__ import annotations

import html
import io
import math

import matplotlib
import numpy as np
from markupsafe import Markup
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.patches import Rectangle
from matplotlib.ticker import FixedFormatter, FixedLocator, MaxNLocator

from sweep.fractal.boundary import FLOOR, Dimension, class_ranks
from sweep.fractal.experiment import Axis, Picture
from sweep.plots.figures import subplots
from sweep.plots.pages import render
from sweep.plots.report import png_bytes

AXIS_LABELS = {"lr_in": "input-layer learning rate", "lr_out": "output-layer learning rate", "lr": "learning rate"}


def _part_of(name: str, lo: float, hi: float) -> ListedColormap:
    """The part lo..hi of a matplotlib colour map, as a map of its own."""
    return ListedColormap(matplotlib.colormaps[name](np.linspace(lo, hi, 256)), name=f"{name}[{lo}:{hi}]")


#: One sequential map per class. The palest 30% are cut off so that the fastest runs are
#: still plainly blue or red (the blue channel is the largest on every converged cell, the red
#: on every diverged one), the darkest 5% so that the two classes' slowest runs, side by side
#: at the boundary, are still told apart.
CONVERGED_CMAP = _part_of("Blues", 0.3, 0.95)
DIVERGED_CMAP = _part_of("Reds", 0.3, 0.95)


def class_names(picture: Picture) -> tuple[str, str]:
    """What the two classes are called: (converged, diverged) for the network, (stayed
    bounded, escaped) for a loss, whose runs may cycle or still move at the last step."""
    return ("converged", "diverged") if picture.experiment.is_network else ("stayed bounded", "escaped")


def trainability_rgba(measure: np.ndarray, converged: np.ndarray) -> np.ndarray:
    """The image to draw: converged cells on ``CONVERGED_CMAP``, diverged ones on
    ``DIVERGED_CMAP``, each by its rank by speed within its class (0: fastest, palest; 1:
    slowest, deepest; ``sweep.fractal.boundary.class_ranks``).

    Args:
        measure: (...) float64, the picture's signed speed (``Picture.measure``).
        converged: (...) bool, same shape.

    Returns:
        (..., 4) float64 RGBA in [0, 1].
    """
    converged = np.asarray(converged, dtype=bool)
    return _paint(class_ranks(measure, converged), converged)


def _paint(ranks: np.ndarray, converged: np.ndarray) -> np.ndarray:
    """RGBA of cells with these ranks in their classes (see ``trainability_rgba``)."""
    return np.where(converged[..., None], CONVERGED_CMAP(ranks), DIVERGED_CMAP(ranks))


def _label(axis: Axis) -> str:
    return AXIS_LABELS.get(axis.name, axis.name) + (" (log scale)" if axis.log else "")


def _position(axis: Axis, value: float) -> float:
    return math.log10(value) if axis.log else value


#: Width of a digit and height of a line of tick labels, in font sizes (DejaVu Sans, which
#: matplotlib uses by default, has digits 0.64 em wide), and the space kept between labels.
DIGIT_WIDTH = 0.64
LINE_HEIGHT = 1.2
LABEL_GAP = 1.0


def axis_ticks(axis: Axis, length: float, fontsize: float = 10.0, across: bool = True) -> tuple[list[float], list[str]]:
    """Tick positions (on the drawn scale: log10 of the value on a log axis) and labels for
    an image axis: as many round values as fit along ``length`` inches without their labels
    touching.

    A log axis spanning two decades or more gets whole decades (every second, third, ...
    when they do not all fit), labelled 0.001 .. 1000, or 10^k when any is outside that;
    half a decade or more, the values 1, 2 and 5 (or 1 and 3) times a power of ten when
    three or more of them fit; a narrower one, and a linear axis, evenly spaced round
    values with the digits that tell them apart (a zoomed window 14100..14800, 2.6 inches
    wide, gets 14200, 14400, 14600, 14800).

    Args:
        axis: the Axis drawn.
        length: the axis' length on the figure, inches.
        fontsize: the labels' font size, points.
        across: True for a horizontal axis (labels side by side), False for a vertical one.

    Returns:
        (positions, labels), ascending, at least two ticks.
    """
    em = fontsize / 72.0  # inches
    inches = length / (_position(axis, axis.hi) - _position(axis, axis.lo))  # per drawn unit

    def fits(positions: list[float], labels: list[str]) -> bool:
        # Neighbours' centres must be half of each label apart, and a gap more; on a log
        # axis evenly spaced values crowd toward its top, so every pair is checked.
        sizes = [_label_ems(t) if across else LINE_HEIGHT for t in labels]
        pairs = zip(positions, positions[1:], sizes, sizes[1:])
        return all((b - a) * inches >= ((wa + wb) / 2 + LABEL_GAP) * em for a, b, wa, wb in pairs)

    for ticks in range(8, 1, -1):
        values, labels = _round_values(axis, ticks)
        positions = [_position(axis, v) for v in values]
        if fits(positions, labels) or ticks == 2:
            return positions, labels
    raise AssertionError("unreachable")


def _label_ems(label: str) -> float:
    """Width of a tick label in font sizes: digits, and a mathtext power's exponent at 70%."""
    if label.startswith("$10^{"):
        return DIGIT_WIDTH * (2 + 0.7 * len(label[5:-2]))
    return DIGIT_WIDTH * len(label)


def _round_values(axis: Axis, most: int) -> tuple[list[float], list[str]]:
    """At most ``most`` (>= 2) round values inside the axis, and their labels."""
    lo, hi = axis.lo, axis.hi
    if axis.log:
        first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
        if last - first >= 2:
            step = -(-(last - first + 1) // most)
            decades = [d for d in range(first, last + 1) if d % step == 0]
            decades = decades if len(decades) >= 2 else [first, last]
            plain = all(-3 <= d <= 3 for d in decades)
            return [10.0**d for d in decades], [_number(10.0**d, 1) if plain else f"$10^{{{d}}}$" for d in decades]
        if math.log10(hi / lo) >= 0.5:
            for mantissas in ((1, 2, 5), (1, 3), (1,)):
                values = [m * 10.0**d for d in range(first - 1, last + 1) for m in mantissas if lo * (1 - 1e-12) <= m * 10.0**d <= hi * (1 + 1e-12)]
                if 3 <= len(values) <= most:  # two would say less than even spacing
                    return values, [_number(v, 1) for v in values]
    values = MaxNLocator(nbins=most - 1, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    values = [float(v) for v in values if lo - 1e-9 * (hi - lo) <= v <= hi + 1e-9 * (hi - lo)]
    if len(values) < 2:
        values = [lo, hi]
    values = [0.0 if abs(v) < 1e-9 * (hi - lo) else v for v in values]
    # The digits the step needs (a step of 2.5 one more), none beyond: as decimals between
    # 1e-3 and 1e6, as significant digits in scientific notation outside.
    step = values[1] - values[0]
    place = math.floor(math.log10(step) + 1e-9)
    extra = 1 if round(step / 10.0**place, 6) == 2.5 else 0
    top = max(abs(v) for v in values)
    if 1e-3 <= top < 1e6:
        return values, [f"{v:.{max(0, extra - place)}f}" for v in values]
    digits = math.floor(math.log10(top)) - place + 1 + extra
    return values, [f"{v:.{max(1, digits)}g}" for v in values]


def _number(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, in plain digits between 1e-3 and 1e6."""
    if 1e-3 <= abs(value) < 1e6:
        return np.format_float_positional(value, precision=digits, unique=True, fractional=False, trim="-")
    return f"{value:.{digits}g}"


def frame_title(k: int, dim: Dimension, last: int | None = None) -> str:
    """``frame 2: dimension 1.47 ± 0.05`` (``frame 2 of 4: ...`` given the last frame's
    number), or ``frame 2: no dimension (too little boundary)`` without an estimate."""
    frame = f"frame {k}" if last is None else f"frame {k} of {last}"
    if not math.isfinite(dim.value):
        return f"{frame}: no dimension (too little boundary)"
    return f"{frame}: dimension {dim.value:.2f} ± {dim.stderr:.2f}"


def _axes_inches(ax) -> tuple[float, float]:
    box = ax.get_position()
    width, height = ax.figure.get_size_inches()
    return box.width * width, box.height * height


def _set_ticks(ax_axis, axis: Axis, length: float, fontsize: float, across: bool) -> None:
    positions, labels = axis_ticks(axis, length, fontsize, across)
    ax_axis.set_major_locator(FixedLocator(positions))
    ax_axis.set_major_formatter(FixedFormatter(labels))
    ax_axis.set_minor_locator(FixedLocator([]))


def draw_image(ax, picture: Picture, window=None, fontsize: float = 10.0) -> None:
    """Draw a picture on ``ax`` (``trainability_rgba``); ``window`` (an (x Axis, y Axis)
    pair) is outlined on it. Ticks are chosen for the axes' size, so size the figure first."""
    e = picture.experiment
    extent = [_position(e.x, e.x.lo), _position(e.x, e.x.hi), _position(e.y, e.y.lo), _position(e.y, e.y.hi)]
    ax.imshow(trainability_rgba(picture.measure, picture.converged), origin="lower", extent=extent, aspect="auto", interpolation="nearest")
    width, height = _axes_inches(ax)
    _set_ticks(ax.xaxis, e.x, width, fontsize, True)
    _set_ticks(ax.yaxis, e.y, height, fontsize, False)
    ax.tick_params(labelsize=fontsize)
    ax.set_xlabel(_label(e.x), fontsize=fontsize)
    ax.set_ylabel(_label(e.y), fontsize=fontsize)
    if window is not None:
        x, y = window
        _outline(ax, _position(x, x.lo), _position(x, x.hi), _position(y, y.lo), _position(y, y.hi))


def _outline(ax, x0: float, x1: float, y0: float, y1: float) -> None:
    """The next frame's window: black on a white halo, seen on pale and deep colours alike."""
    for colour, width in (("white", 2.6), ("black", 1.2)):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=width))


def add_colour_bars(fig, axes, picture: Picture, fontsize: float = 9.0) -> None:
    """Two colour bars beside ``axes`` (an Axes or a list of them): each class's map, from
    its fastest run (pale) to its slowest (deep)."""
    # Each bar goes between the axes and the bars before it: the diverged one first, so
    # that the converged (blue) bar comes next to the picture.
    for name, cmap in reversed(list(zip(class_names(picture), (CONVERGED_CMAP, DIVERGED_CMAP)))):
        bar = fig.colorbar(ScalarMappable(norm=Normalize(0.0, 1.0), cmap=cmap), ax=axes, fraction=0.035, pad=0.02, aspect=25)
        bar.set_ticks([0.0, 1.0], labels=["fastest", "slowest"])
        bar.ax.tick_params(labelsize=fontsize - 1, length=2)
        bar.set_label(f"{name}: rank of speed", fontsize=fontsize)


def image_figure(picture: Picture, title: str | None = None, window=None):
    """The picture as a figure (see ``draw_image``), with the two colour bars."""
    fig, ax = subplots(figsize=(7.4, 5.6), layout="constrained")
    add_colour_bars(fig, ax, picture)
    fig.get_layout_engine().execute(fig)  # the axes' size beside the bars, for the ticks
    draw_image(ax, picture, window)
    ax.set_title(title or describe(picture), fontsize=10)
    return fig


def describe(picture: Picture) -> str:
    """One line saying what the picture shows."""
    e = picture.experiment
    if e.is_network:
        return f"Trainability of a width-{e.width} {e.nonlinearity} network, {e.steps} steps (blue: converged, red: diverged)"
    what = f"{e.problem} from w0 = {e.w0:g}, {e.steps} steps"
    return f"Trainability of gradient descent on {what} (blue: stayed bounded, red: escaped)"


#: Columns of a line's picture at most: a finer line is shown by every k-th sample (the
#: figure is a few hundred pixels wide anyway; the data and the counts keep every sample).
LINE_COLUMNS = 1 << 16


def _line_colours(picture: Picture) -> np.ndarray:
    """(1, columns, 4) RGBA of a line picture: ``trainability_rgba`` of every k-th sample,
    ranked among all samples."""
    step = -(-picture.converged.size // LINE_COLUMNS)
    ranks = class_ranks(picture.measure, picture.converged)
    return _paint(ranks[::step], picture.converged[::step])[None]


def draw_line(ax, picture: Picture, window: Axis | None = None, fontsize: float = 10.0) -> None:
    """Draw a line picture on ``ax`` as a strip; ``window`` (an lr Axis) is outlined on it."""
    e = picture.experiment
    ax.imshow(_line_colours(picture), extent=[e.x.lo, e.x.hi, 0, 1], aspect="auto", interpolation="nearest")
    _set_ticks(ax.xaxis, e.x, _axes_inches(ax)[0], fontsize, True)
    ax.tick_params(labelsize=fontsize)
    ax.set_yticks([])
    if window is not None:
        _outline(ax, window.lo, window.hi, 0.03, 0.97)


def line_figure(picture: Picture, window: Axis | None = None, title: str | None = None):
    """A line of learning rates: the classes along it, with the zoom window if any."""
    fig, ax = subplots(figsize=(8.4, 2.9), layout="constrained")  # tall enough for the bars' labels
    add_colour_bars(fig, ax, picture, fontsize=8)
    fig.get_layout_engine().execute(fig)
    draw_line(ax, picture, window)
    ax.set_xlabel(_label(picture.experiment.x))
    ax.set_title(title or describe(picture), fontsize=9)
    return fig


def dimension_figure(dim: Dimension, line: bool = False):
    """log-log plot of the box counts (or, for a line, boundary points per resolution) with
    the fitted slope over its fit range, and the slopes of its uncertainty's ends."""
    fig, ax = subplots(figsize=(5.2, 3.8))
    sizes, counts = np.array(dim.sizes, dtype=float), np.array(dim.counts, dtype=float)
    shown = counts > 0
    ax.loglog(sizes[shown], counts[shown], "o", color="#1f77b4", label="counted")
    if math.isfinite(dim.value):
        lo, hi = dim.fit
        inside = (sizes >= lo) & (sizes <= hi) & shown
        sign = 1.0 if line else -1.0
        # Lines through the centre of the fitted points: the fit, and the range's ends.
        centre_x, centre_y = np.mean(np.log(sizes[inside])), np.mean(np.log(counts[inside]))
        for slope, style, label in (
            (dim.value, "-", f"fit: dimension {dim.value:.3f} ± {dim.stderr:.3f}"),
            (dim.low, ":", f"slopes of all fit windows: {dim.low:.3f}..{dim.high:.3f}"),
            (dim.high, ":", None),
        ):
            if math.isfinite(slope):
                ax.loglog(sizes[inside], np.exp(centre_y + sign * slope * (np.log(sizes[inside]) - centre_x)), style, color="#d62728", label=label)
    if line:
        ax.set_xlabel("resolution (learning rates sampled, 2**k)")
        ax.set_ylabel("boundary points seen")
    else:
        ax.set_xlabel("box side (cells)")
        ax.set_ylabel("boxes holding boundary (mean)")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return fig


def zoom_strip(pictures: list[Picture]):
    """The frames of a zoom side by side, each outlining the window of the next, titled with
    its dimension, with the two colour bars."""
    line = pictures[0].experiment.y is None
    if line:
        fig, axes = subplots(len(pictures), 1, figsize=(8.4, 1.0 + 1.1 * len(pictures)), squeeze=False, layout="constrained")
        add_colour_bars(fig, list(axes[:, 0]), pictures[0], fontsize=8)
        fig.get_layout_engine().execute(fig)
        for k, (ax, picture) in enumerate(zip(axes[:, 0], pictures)):
            draw_line(ax, picture, pictures[k + 1].experiment.x if k + 1 < len(pictures) else None, fontsize=8)
            ax.set_title(frame_title(k, picture.dimension), fontsize=8, loc="left")
        axes[-1, 0].set_xlabel(_label(pictures[-1].experiment.x), fontsize=8)
        return fig
    fig, axes = subplots(1, len(pictures), figsize=(3.4 * len(pictures) + 1.2, 3.6), squeeze=False, layout="constrained")
    add_colour_bars(fig, list(axes[0]), pictures[0], fontsize=8)
    fig.get_layout_engine().execute(fig)
    for k, (ax, picture) in enumerate(zip(axes[0], pictures)):
        nxt = pictures[k + 1].experiment if k + 1 < len(pictures) else None
        draw_image(ax, picture, (nxt.x, nxt.y) if nxt else None, fontsize=7.5)
        ax.set_title(frame_title(k, picture.dimension), fontsize=9)
    return fig


def _fixed_png(fig, dpi: int) -> bytes:
    """The figure as PNG at its own size (no tight crop, so every frame of a GIF has the
    same size)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def gif_bytes(pictures: list[Picture], seconds_per_frame: float = 1.2) -> bytes:
    """An animated GIF of the zoom, one frame per picture (drawn with matplotlib, assembled
    by Pillow, which matplotlib already depends on)."""
    from PIL import Image

    frames = []
    for k, picture in enumerate(pictures):
        nxt = pictures[k + 1].experiment if k + 1 < len(pictures) else None
        title = frame_title(k, picture.dimension, len(pictures) - 1)
        if picture.experiment.y is None:
            fig = line_figure(picture, nxt.x if nxt else None, title)
        else:
            fig = image_figure(picture, title, (nxt.x, nxt.y) if nxt else None)
        frames.append(Image.open(io.BytesIO(_fixed_png(fig, dpi=80))).convert("RGB"))
    size = frames[0].size
    frames = [frame.resize(size) for frame in frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=int(seconds_per_frame * 1000), loop=0)
    return buffer.getvalue()


def _axis_text(axis: Axis) -> str:
    return f"{axis.name} from {axis.lo:.6g} to {axis.hi:.6g}, {axis.n} values, {'log' if axis.log else 'evenly'}-spaced"


def _setup_text(picture: Picture) -> str:
    e = picture.experiment
    if e.is_network:
        n = e.width
        return (
            f"A network of width {n} with two weight layers and no biases, mean-field scaling "
            f"(Z = X W1 / sqrt({n}), {e.nonlinearity} hidden layer, output H W2 / {n}), trained by full-batch gradient descent "
            f"on the mean squared error of {n * n + n} random points (as many as it has weights), {e.steps} steps, "
            f"one learning rate per layer; weights, inputs and targets drawn N(0, 1) with seed {e.seed}. "
            f"A run converged when the mean of its last {min(20, e.steps)} losses, divided by the first and capped at 1e6, is below 1 "
            "(Sohl-Dickstein, 2024, arXiv:2402.06184)."
        )
    params = ", ".join(f"{k} = {v:g}" for k, v in e.params.items())
    return Markup(
        f"Gradient descent on the loss {html.escape(e.problem)}{' with ' + html.escape(params) if params else ''} from w0 = {e.w0:g}, "
        f"at most {e.steps} steps. Red runs escaped (|w| grew past 1e8 max(1, |w0|)); blue ones stayed bounded "
        "(converged, cycled or still moving at the last step): Liu's trainable/untrainable split (2024, arXiv:2406.13971)."
    )


def _colour_text(picture: Picture) -> str:
    """What the colours of a picture mean, for the caption under it."""
    yes, no = class_names(picture)
    slow = "next to the boundary (and, among converging runs, at the smallest learning rates)" if picture.experiment.is_network else "next to the boundary"
    if picture.experiment.is_network:
        speed = "the <code>measure</code> column: the sum of a converged run's normalized losses, of the reciprocals of a diverged one's"
    else:
        speed = "the steps a run took to converge or to escape, the <code>measure</code> column"
    # Fixed text and numbers only, with markup of its own: safe as it is.
    return Markup(
        f"Blue cells {yes}, red ones {no}. Within each class the shade is the run's rank by speed ({speed}): "
        f"the palest are the fastest runs of their class, the deepest the slowest, which lie {slow}. "
        "Each class is ranked on its own, so every picture and every zoom frame uses each colour bar from end to end."
    )


def _dimension_text(dim: Dimension, line: bool) -> str:
    """How the dimension's uncertainty was found, for the text under its figure."""
    scales = "resolutions" if line else "box sides"
    if not math.isfinite(dim.value):
        return f"Too few {scales} see the boundary to fit a slope."
    return Markup(
        f"The value is the least-squares slope over all {scales} fitted; the ± holds the slope of every window of "
        f"three or more consecutive {scales} (each widened by its standard error, at least {FLOOR}) and, where the "
        f"slopes still rise toward the finest scale, their extrapolation beyond it: from {dim.low:.3f} to {dim.high:.3f}. "
        "Which scales a fractal's power law holds over is not known, and the fitted slope depends on the choice "
        f"far more than the regression's standard error says. {'' if line else 'Counts are averaged over 16 placements of the grid of boxes. '}"
        "See <code>sweep.fractal.boundary.box_dimension</code>."
    )


def picture_report(picture: Picture, pictures: dict[str, bytes], command: str) -> str:
    """The report page of one picture (template ``picture.html``), its PNGs embedded."""
    e = picture.experiment
    dim = picture.dimension
    line = e.y is None
    return render(
        "picture.html",
        title=describe(picture),
        lead=f"{math.prod(e.shape):,} runs in {picture.seconds:.1f} s; {np.mean(picture.converged):.1%} {'converged' if e.is_network else 'stayed bounded'}.",
        command=command,
        setup=_setup_text(picture),
        axes=_axis_text(e.x) + ("" if line else "; " + _axis_text(e.y)),
        image=pictures["image"],
        colours=_colour_text(picture),
        what="boundary points along the line" if line else "boundary cells (2 x 2 windows holding both classes)",
        dimension=dim.text(),
        smooth=0 if line else 1,
        counts=pictures["dimension"],
        dimension_note=_dimension_text(dim, line),
    )


def zoom_report(frames: list[Picture], strip: bytes, dims: bytes, command: str) -> str:
    """The report page of a zoom sequence (template ``zoom.html``): the strip of frames, the
    GIF, and each frame's window and dimension."""
    rows = []
    for k, picture in enumerate(frames):
        e = picture.experiment
        window = _axis_text(e.x) + ("" if e.y is None else "; " + _axis_text(e.y))
        rows.append((k, window, f"{np.mean(picture.converged):.1%}", picture.dimension.text()))
    finite = [p.dimension.value for p in frames if math.isfinite(p.dimension.value)]
    overall = Markup("median over the frames: <b>{:.3f}</b>").format(np.median(finite)) if finite else "no frame had enough boundary to measure"
    return render(
        "zoom.html",
        title=f"zoom into {describe(frames[0])}",
        first=describe(frames[0]),
        n_frames=len(frames),
        command=command,
        strip=strip,
        colours=_colour_text(frames[0]),
        overall=overall,
        scales="resolutions" if frames[0].experiment.y is None else "box sides",
        counts=dims,
        rows=rows,
    )


def zoom_dimension_figure(frames: list[Picture]):
    """Box counts of every frame on one log-log plot."""
    fig, ax = subplots(figsize=(5.6, 4.0))
    line = frames[0].experiment.y is None
    for k, picture in enumerate(frames):
        dim = picture.dimension
        sizes, counts = np.array(dim.sizes, float), np.array(dim.counts, float)
        shown = counts > 0
        ax.loglog(sizes[shown], counts[shown], "o-", markersize=3, label=frame_title(k, dim))
    ax.set_xlabel("resolution (2**k)" if line else "box side (cells)")
    ax.set_ylabel("boundary points seen" if line else "boxes holding boundary (mean)")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return fig


def render_picture_report(picture: Picture, command: str) -> dict[str, bytes]:
    """The files of a picture's report, drawn in memory: ``boundary.png``, ``dimension.png``
    and ``report.html``, by name."""
    e = picture.experiment
    image = png_bytes(line_figure(picture) if e.y is None else image_figure(picture))
    dimension = png_bytes(dimension_figure(picture.dimension, line=e.y is None))
    page = picture_report(picture, {"image": image, "dimension": dimension}, command)
    return {"boundary.png": image, "dimension.png": dimension, "report.html": page.encode()}


def save_picture(folder, picture: Picture, command: str) -> None:
    """Write a picture's data and report into a claimed folder (``sweep.store.folder.claim``),
    all files at once; what an earlier result left there is removed (only files sweep wrote).

    Args:
        folder: the claimed ``sweep.store.folder.Folder``.
        picture: the computed picture.
        command: the command line (or the browser view's action) recorded with it.
    """
    from sweep.fractal.store import CONFIG_FILE, IMAGE_FILE, config_bytes, picture_bytes, summary

    files = render_picture_report(picture, command)
    record = summary(picture)
    record["command"] = command
    files.update({IMAGE_FILE: picture_bytes(picture), CONFIG_FILE: config_bytes(record)})
    folder.write(files)
    folder.keep_only(files)
