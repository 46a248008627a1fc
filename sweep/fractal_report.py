"""Figures and the HTML report of trainability pictures and zoom sequences.

Images are drawn as Sohl-Dickstein's notebook draws them: each class rank-equalized
(``sweep.boundary.rank_equalize``) on the Spectral colour map, blue where training
converged, red where it diverged, the deepest colours on the slowest runs, next to the
boundary. Log axes are labelled in plain numbers.
"""

from __future__ import annotations

import html
import io
import math

import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from sweep.boundary import Dimension, rank_equalize
from sweep.figures import plt
from sweep.report import PAGE_STYLE, img_tag, png_bytes
from sweep.fractal import Axis, Picture

AXIS_LABELS = {"lr_in": "input-layer learning rate", "lr_out": "output-layer learning rate", "lr": "learning rate"}


def _label(axis: Axis) -> str:
    return AXIS_LABELS.get(axis.name, axis.name) + (" (log scale)" if axis.log else "")


def _position(axis: Axis, value: float) -> float:
    return math.log10(value) if axis.log else value


def _format_axis(ax_axis, axis: Axis) -> None:
    """Ticks in the axis' own numbers (10**p printed as 0.001, 31.6, 12000, 1e+06), with
    enough digits to tell a zoomed window's ticks apart."""
    span = math.log10(axis.hi) - math.log10(axis.lo) if axis.log else (axis.hi - axis.lo) / max(abs(axis.lo), abs(axis.hi))
    ax_axis.set_major_locator(MaxNLocator(6 if span >= 2 else 4, integer=axis.log and span >= 2))  # whole decades when wide
    digits = 3 if span >= 1 else min(10, 3 + math.ceil(-math.log10(span)))
    if axis.log:
        ax_axis.set_major_formatter(FuncFormatter(lambda p, _: _number(10.0**p, digits)))


def _number(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, in plain digits between 1e-3 and 1e5."""
    if 1e-3 <= abs(value) < 1e5:
        return np.format_float_positional(value, precision=digits, unique=True, fractional=False, trim="-")
    return f"{value:.{digits}g}"


def draw_image(ax, picture: Picture, window=None) -> None:
    """Draw a picture on ``ax``; ``window`` (an (x Axis, y Axis) pair) is outlined on it."""
    e = picture.experiment
    colours = rank_equalize(picture.measure, picture.converged)
    extent = [_position(e.x, e.x.lo), _position(e.x, e.x.hi), _position(e.y, e.y.lo), _position(e.y, e.y.hi)]
    ax.imshow(colours, origin="lower", extent=extent, aspect="auto", cmap="Spectral", vmin=-1, vmax=1, interpolation="nearest")
    _format_axis(ax.xaxis, e.x)
    _format_axis(ax.yaxis, e.y)
    ax.set_xlabel(_label(e.x))
    ax.set_ylabel(_label(e.y))
    if window is not None:
        x, y = window
        x0, x1, y0, y1 = _position(x, x.lo), _position(x, x.hi), _position(y, y.lo), _position(y, y.hi)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="black", linewidth=1.2))


def image_figure(picture: Picture, title: str | None = None, window=None):
    """The picture as a figure (see ``draw_image``)."""
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    draw_image(ax, picture, window)
    ax.set_title(title or describe(picture), fontsize=10)
    return fig


def describe(picture: Picture) -> str:
    """One line saying what the picture shows."""
    e = picture.experiment
    if e.is_network:
        return f"Trainability of a width-{e.width} {e.nonlinearity} network, {e.steps} steps (blue: converged, red: diverged)"
    what = f"{e.problem} from w0 = {e.w0:g}, {e.steps} steps"
    return f"Trainability of gradient descent on {what} (blue: stays bounded, red: diverges)"


#: Columns of a line's picture at most: a finer line is shown by every k-th sample (the
#: figure is a few hundred pixels wide anyway; the data and the counts keep every sample).
LINE_COLUMNS = 1 << 16


def _line_colours(picture: Picture) -> np.ndarray:
    step = -(-picture.converged.size // LINE_COLUMNS)
    return rank_equalize(picture.measure, picture.converged)[None, ::step]


def draw_line(ax, picture: Picture, window: Axis | None = None) -> None:
    """Draw a line picture on ``ax`` as a strip; ``window`` (an lr Axis) is outlined on it."""
    e = picture.experiment
    ax.imshow(_line_colours(picture), extent=[e.x.lo, e.x.hi, 0, 1], aspect="auto", cmap="Spectral", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_yticks([])
    if window is not None:
        ax.add_patch(Rectangle((window.lo, 0.02), window.hi - window.lo, 0.96, fill=False, edgecolor="black", linewidth=1.2))


def line_figure(picture: Picture, window: Axis | None = None):
    """A line of learning rates: the classes along it, with the zoom window if any."""
    fig, ax = plt.subplots(figsize=(7.5, 1.9))
    draw_line(ax, picture, window)
    ax.set_xlabel(_label(picture.experiment.x))
    ax.set_title(describe(picture), fontsize=9)
    return fig


def dimension_figure(dim: Dimension, line: bool = False):
    """log-log plot of the box counts (or, for a line, boundary points per resolution) with
    the fitted slope over its fit range."""
    fig, ax = plt.subplots(figsize=(5.2, 3.8))
    sizes, counts = np.array(dim.sizes, dtype=float), np.array(dim.counts, dtype=float)
    shown = counts > 0
    ax.loglog(sizes[shown], counts[shown], "o", color="#1f77b4", label="counted")
    if math.isfinite(dim.value):
        lo, hi = dim.fit
        inside = (sizes >= lo) & (sizes <= hi) & shown
        slope = dim.value if line else -dim.value
        ref = np.exp(np.mean(np.log(counts[inside]) - slope * np.log(sizes[inside])))
        fitted = ref * sizes[inside] ** slope
        ax.loglog(sizes[inside], fitted, "-", color="#d62728", label=f"fit: dimension {dim.value:.3f} ± {dim.stderr:.3f}")
    if line:
        ax.set_xlabel("resolution (learning rates sampled, 2**k)")
        ax.set_ylabel("boundary points seen")
    else:
        ax.set_xlabel("box side (cells)")
        ax.set_ylabel("boxes holding boundary")
    ax.legend(frameon=False, fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    return fig


def zoom_strip(pictures: list[Picture]):
    """The frames of a zoom side by side, each outlining the window of the next."""
    line = pictures[0].experiment.y is None
    if line:
        fig, axes = plt.subplots(len(pictures), 1, figsize=(7.5, 1.3 * len(pictures)), squeeze=False)
        for k, (ax, picture) in enumerate(zip(axes[:, 0], pictures)):
            draw_line(ax, picture, pictures[k + 1].experiment.x if k + 1 < len(pictures) else None)
            ax.set_ylabel(f"frame {k}", rotation=0, ha="right", va="center", fontsize=8)
        axes[-1, 0].set_xlabel(_label(pictures[-1].experiment.x))
        fig.tight_layout()
        return fig
    fig, axes = plt.subplots(1, len(pictures), figsize=(3.3 * len(pictures), 3.4), squeeze=False)
    for k, (ax, picture) in enumerate(zip(axes[0], pictures)):
        nxt = pictures[k + 1].experiment if k + 1 < len(pictures) else None
        draw_image(ax, picture, (nxt.x, nxt.y) if nxt else None)
        ax.set_title(f"frame {k}: {picture.dimension.value:.2f}" if math.isfinite(picture.dimension.value) else f"frame {k}", fontsize=9)
        ax.xaxis.label.set_fontsize(8)
        ax.yaxis.label.set_fontsize(8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def gif_bytes(pictures: list[Picture], seconds_per_frame: float = 1.2) -> bytes:
    """An animated GIF of the zoom, one frame per picture (drawn with matplotlib, assembled
    by Pillow, which matplotlib already depends on)."""
    from PIL import Image

    frames = []
    for k, picture in enumerate(pictures):
        nxt = pictures[k + 1].experiment if k + 1 < len(pictures) else None
        if picture.experiment.y is None:
            fig = line_figure(picture, nxt.x if nxt else None)
        else:
            fig = image_figure(picture, f"frame {k} of {len(pictures) - 1}", (nxt.x, nxt.y) if nxt else None)
        frames.append(Image.open(io.BytesIO(png_bytes(fig, dpi=80))).convert("RGB"))
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
    return (
        f"Gradient descent on the loss {html.escape(e.problem)}{' with ' + params if params else ''} from w0 = {e.w0:g}, "
        f"at most {e.steps} steps. Red runs escaped (|w| grew past 1e8 max(1, |w0|)); blue ones stayed bounded "
        "(converged, cycled or still moving at the last step): Liu's trainable/untrainable split (2024, arXiv:2406.13971)."
    )


def picture_report(picture: Picture, pictures: dict[str, bytes], command: str) -> str:
    """The report page of one picture, with its PNGs embedded."""
    e = picture.experiment
    dim = picture.dimension
    line = e.y is None
    what = "boundary points along the line" if line else "boundary cells (2 x 2 windows holding both classes)"
    axes = _axis_text(e.x) + ("" if line else "; " + _axis_text(e.y))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sweep: {html.escape(describe(picture))}</title>
{PAGE_STYLE}</head><body>
<h1>{html.escape(describe(picture))}</h1>
<p class="lead">{math.prod(e.shape):,} runs in {picture.seconds:.1f} s; {np.mean(picture.converged):.1%} {'converged' if e.is_network else 'stayed bounded'}. Made by <code>{html.escape(command)}</code>.</p>
<p>{_setup_text(picture)}</p>
<p>Axes: {html.escape(axes)}.</p>
{img_tag(pictures['image'], 'trainability image')}
<h2>Fractal dimension of the boundary</h2>
<p>Box counting on the {what}: <b>{html.escape(dim.text())}</b>. A smooth boundary has dimension {0 if line else 1}; a larger value means structure at every scale.</p>
{img_tag(pictures['dimension'], 'box counts')}
</body></html>
"""


def zoom_report(frames: list[Picture], strip: bytes, dims: bytes, command: str) -> str:
    """The report page of a zoom sequence: the strip of frames, the GIF, and each frame's
    window and dimension."""
    rows = []
    for k, picture in enumerate(frames):
        e = picture.experiment
        dim = picture.dimension
        window = _axis_text(e.x) + ("" if e.y is None else "; " + _axis_text(e.y))
        rows.append(f"<tr><td>{k}</td><td>{html.escape(window)}</td><td>{np.mean(picture.converged):.1%}</td><td>{html.escape(dim.text())}</td></tr>")
    values = [p.dimension.value for p in frames]
    finite = [v for v in values if math.isfinite(v)]
    overall = f"median over the frames: <b>{np.median(finite):.3f}</b>" if finite else "no frame had enough boundary to measure"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sweep: zoom into {html.escape(describe(frames[0]))}</title>
{PAGE_STYLE}</head><body>
<h1>Zooming into the boundary</h1>
<p class="lead">{html.escape(describe(frames[0]))}. {len(frames)} frames, each recomputed at the same resolution inside the outlined window of the one before. Made by <code>{html.escape(command)}</code>.</p>
{img_tag(strip, 'zoom frames')}
<p><img alt="zoom animation" src="zoom.gif"></p>
<h2>Fractal dimension at every depth</h2>
<p>Box-counting dimension of each frame's boundary; {overall}. A fractal keeps its dimension as one zooms in.</p>
{img_tag(dims, 'box counts per frame')}
<table><tr><th>frame</th><th>window</th><th>converged</th><th>dimension</th></tr>
{''.join(rows)}
</table>
</body></html>
"""


def zoom_dimension_figure(frames: list[Picture]):
    """Box counts of every frame on one log-log plot."""
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    line = frames[0].experiment.y is None
    for k, picture in enumerate(frames):
        dim = picture.dimension
        sizes, counts = np.array(dim.sizes, float), np.array(dim.counts, float)
        shown = counts > 0
        label = f"frame {k}: {dim.value:.3f}" if math.isfinite(dim.value) else f"frame {k}"
        ax.loglog(sizes[shown], counts[shown], "o-", markersize=3, label=label)
    ax.set_xlabel("resolution (2**k)" if line else "box side (cells)")
    ax.set_ylabel("boundary points seen" if line else "boxes holding boundary")
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
