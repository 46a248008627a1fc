"""Figures of a sweep: each function takes the runs table and returns the Axes it drew on.

What to draw is computed by small pure functions (``grid_of``, ``axis_ticks``,
``position_of``) that tests check without rendering; drawing uses seaborn heatmaps on
explicit Axes, never ``plt.show()``.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from sweep.outcomes import OUTCOMES


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """A figure and its axes, outside pyplot: written to files, never shown, and never
    touching the backend a notebook user chose (the figure has an Agg canvas of its own)."""
    figure_keys = {key: kwargs.pop(key) for key in ("figsize", "layout", "dpi") if key in kwargs}
    fig = Figure(**figure_keys)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **kwargs)


#: One colour per outcome, in code order: green converges, red blows up, and the
#: floating-point endings (stalled, cycling) in colours of their own.
OUTCOME_COLORS = {
    "converged": "#2a9d8f",
    "diverged": "#d62828",
    "stalled": "#f4a261",
    "cycling": "#7b2cbf",
    "max_iter": "#adb5bd",
    "nan": "#000000",
}
DIVERGED_COLOR = OUTCOME_COLORS["diverged"]
ZERO_COLOR = "#ffd60a"  # cells where the run started at its stopping point


def plain(text: str) -> str:
    """``text`` as matplotlib should print it, literally: a ``$`` would start mathtext,
    which a hand-edited name or formula could make unparseable."""
    return str(text).replace("$", r"\$")


def grid_of(frame: pd.DataFrame, value: str, x: str = "lr", y: str = "w0") -> pd.DataFrame:
    """Pivot one column of the runs table into a 2-D grid for a heatmap.

    Args:
        frame: runs table with columns ``x``, ``y`` and ``value``, one row per (x, y) pair.
        value: column to place in the cells.

    Returns:
        DataFrame indexed by ``y`` (descending, so the largest value is drawn at the top) with
        one column per ``x`` value (ascending). Outcomes become their integer codes.
    """
    cells = frame[[x, y, value]].copy()
    if isinstance(cells[value].dtype, pd.CategoricalDtype):
        cells[value] = cells[value].cat.codes
    grid = cells.pivot(index=y, columns=x, values=value)
    return grid.sort_index(ascending=False).sort_index(axis=1)


def position_of(axis_values, value: float, log: bool) -> float:
    """Fractional heatmap position (cell centres at i + 0.5) of ``value`` on a sorted axis.

    Interpolates between the axis values, in log space for a log axis; NaN outside the axis.
    """
    values = np.asarray(axis_values, dtype=float)
    if log:
        values, value = np.log10(values), np.log10(value)
    if values.size == 1:
        return 0.5 if value == values[0] else np.nan
    if not values[0] <= value <= values[-1]:
        return np.nan
    return float(np.interp(value, values, np.arange(values.size))) + 0.5


def is_log_axis(axis_values) -> bool:
    """True for a positive axis spanning more than a factor of 20 whose values are spread
    more evenly in log than in linear terms (a geometric grid): drawn with decade ticks."""
    values = np.unique(np.asarray(axis_values, dtype=float))
    if values.size < 3 or values.min() <= 0 or values.max() / values.min() <= 20:
        return bool(values.size == 2 and values.min() > 0 and values.max() / values.min() > 20)

    def unevenness(points):
        steps = np.diff(points)
        return np.median(np.abs(steps - np.median(steps))) / np.median(steps)

    return bool(unevenness(np.log(values)) < unevenness(values))


def _short(value: float) -> str:
    return f"{value:g}"


#: Axes with at most this many values are labelled value by value, as categories.
FEW_VALUES = 12


def axis_ticks(axis_values, log: bool, max_ticks: int = 8) -> tuple[list[float], list[str]]:
    """Tick positions and short labels for a heatmap axis of sorted values.

    A short axis (``FEW_VALUES`` or fewer) gets one tick per value, at its cell. A longer log
    axis gets its decades (``0.001, 0.01, 0.1, 1, 10``); a linear one at most ``max_ticks``
    round numbers. Labels are short (``%g``), never the raw grid values.
    """
    values = np.asarray(axis_values, dtype=float)
    lo, hi = values.min(), values.max()
    if values.size <= FEW_VALUES:
        return [i + 0.5 for i in range(values.size)], [_short(v) for v in values]
    if log:
        decades = 10.0 ** np.arange(np.ceil(np.log10(lo) - 1e-9), np.floor(np.log10(hi) + 1e-9) + 1)
        candidates = decades
    elif lo == hi:
        candidates = np.array([lo])
    else:
        candidates = MaxNLocator(nbins=max_ticks, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        candidates = candidates[(candidates >= lo - 1e-12) & (candidates <= hi + 1e-12)]
    positions, labels = [], []
    for value in candidates:
        position = position_of(values, float(np.clip(value, lo, hi)), log)
        if np.isfinite(position):
            positions.append(position)
            labels.append(_short(0.0 if abs(value) < 1e-12 * max(1.0, abs(hi)) else value))
    return positions, labels


def edge_drawn(theory: dict | None, x: str, y: str) -> bool:
    """Whether the maps on axes (x, y) mark theory's stability edge (the dotted line of
    ``_dress``): on an lr axis only, and an edge that depends on an axis only with that axis up."""
    if x != "lr" or not theory:
        return False
    by_row = theory.get("stability_lr_by")
    return bool(by_row and y == by_row["axis"]) or isinstance(theory.get("stability_lr"), (int, float))


def _dress(ax, grid: pd.DataFrame, x: str, y: str, theory: dict[str, float] | None, title: str):
    x_values = grid.columns.to_numpy(dtype=float)
    y_values = grid.index.to_numpy(dtype=float)[::-1]  # ascending, as drawn bottom to top
    x_log = is_log_axis(x_values)
    positions, labels = axis_ticks(x_values, x_log)
    ax.set_xticks(positions, labels, rotation=0)
    # Cells are equal in width; only a long, regular axis reads as a log scale.
    x_log_scale = x_log and x_values.size > FEW_VALUES
    positions, labels = axis_ticks(y_values, is_log_axis(y_values))
    # Rows are drawn top-down in descending order: flip positions to match.
    ax.set_yticks([len(y_values) - p for p in positions], labels)
    scale_note = " (log scale)" if x_log_scale else (" (one column per value)" if x_values.size <= FEW_VALUES else "")
    ax.set_xlabel(f"learning rate {x}{scale_note}" if x == "lr" else f"{plain(x)}{scale_note}")
    ax.set_ylabel("initial weight w0" if y == "w0" else plain(y))
    ax.set_title(title, loc="left", fontsize=11)
    handles = []
    if x != "lr":
        return handles  # theory's marks are learning rates: they belong on an lr axis
    by_row = (theory or {}).get("stability_lr_by")
    if by_row and x == "lr" and y == by_row["axis"]:
        # An edge that depends on the y axis (momentum's 2(1 + b)/L, log loss's 2/L(w0)):
        # one mark per row.
        bound = {float(k): v for k, v in by_row["values"].items()}
        rows = [(position_of(x_values, bound[v], x_log), len(y_values) - i - 0.5) for i, v in enumerate(y_values) if v in bound]
        rows = [(px, py) for px, py in rows if np.isfinite(px)]
        if rows:
            ax.plot(*zip(*rows), color="black", linestyle=":", linewidth=1.2, alpha=0.8)
            label = "lr = 2/L(w0): local stability edge" if y == "w0" else f"stability edge for each {plain(y)} (theory)"
            handles.append(Line2D([], [], color="black", linestyle=":", label=label))
    best = (theory or {}).get("best_pair")
    if best and x == "lr" and y == best["axis"]:
        # The heavy ball's best (lr, momentum) pair (Polyak 1964), where it lies on the map.
        px, py = position_of(x_values, best["lr"], x_log), position_of(y_values, best["value"], is_log_axis(y_values))
        if np.isfinite(px) and np.isfinite(py):
            ax.plot(px, len(y_values) - py, "*", color="#ffd60a", markeredgecolor="black", markersize=13)
            handles.append(Line2D([], [], color="#ffd60a", marker="*", markeredgecolor="black", linestyle="", markersize=11, label=f"fastest pair (theory): lr {_short(best['lr'])}, {plain(y)} {_short(best['value'])}"))
    for name, lr_value in (theory or {}).items():
        if name in ("stability_lr_by", "best_pair") or not isinstance(lr_value, (int, float)):
            continue  # per-row edges above; other theory (the noise floor) belongs to its own map
        position = position_of(x_values, lr_value, x_log)
        if x_values.size <= FEW_VALUES and np.isfinite(position) and lr_value not in x_values:
            # Between columns of a short axis nothing is known: draw at the column border.
            position = float(np.searchsorted(x_values, lr_value))
        if not np.isfinite(position):
            continue
        style = {"one_step_lr": ("--", "lr = 1/L: one step"), "stability_lr": (":", "lr = 2/L: stability edge"), "best_lr": ("--", "lr = 2/(mu+L): fastest")}
        linestyle, label = style.get(name, ("-.", name))
        ax.axvline(position, color="black", linestyle=linestyle, linewidth=1.0, alpha=0.75)
        handles.append(Line2D([], [], color="black", linestyle=linestyle, label=f"{label} ({_short(lr_value)})"))
    ax.tick_params(length=3)
    return handles


def outcome_map(frame: pd.DataFrame, *, theory=None, ax=None, x: str = "lr", y: str = "w0"):
    """Categorical map of outcomes over (x, y), with a legend of the outcomes present."""
    ax = ax or plt.gca()
    grid = grid_of(frame, "outcome", x, y)
    cmap = ListedColormap([OUTCOME_COLORS[name] for name in OUTCOMES])
    norm = BoundaryNorm(np.arange(len(OUTCOMES) + 1) - 0.5, cmap.N)
    sns.heatmap(grid, cmap=cmap, norm=norm, cbar=False, ax=ax, xticklabels=False, yticklabels=False, rasterized=True)
    handles = _dress(ax, grid, x, y, theory, "How each run ended")
    present = [name for code, name in enumerate(OUTCOMES) if (grid.to_numpy() == code).any()]
    handles = [Patch(color=OUTCOME_COLORS[name], label=name) for name in present] + handles
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return ax


def basin_map(frame: pd.DataFrame, *, theory=None, ax=None, x: str = "lr", y: str = "w0", labels: dict | None = None):
    """Which minimum each converged run reached (``basin`` column); grey where none.
    ``labels`` names each basin value in the legend (several weights: the minimum's point
    for its index); by default a value is the minimum itself (one weight)."""
    ax = ax or plt.gca()
    basin = grid_of(frame, "basin", x, y).astype(float)
    minima = np.sort(frame["basin"].dropna().unique())
    palette = sns.color_palette("Set2", max(len(minima), 1))
    codes = basin.apply(lambda column: column.map({m: i for i, m in enumerate(minima)}))
    if len(minima):
        sns.heatmap(codes, mask=codes.isna(), cmap=ListedColormap(palette[: len(minima)]), vmin=-0.5, vmax=len(minima) - 0.5, cbar=False, ax=ax, xticklabels=False, yticklabels=False, rasterized=True)
    _overlay(ax, codes.isna(), OUTCOME_COLORS["max_iter"])
    handles = _dress(ax, basin, x, y, theory, "Which minimum each run reached")
    names = labels or {}
    handles = [Patch(color=palette[i], label=names.get(m, f"w* = {_short(m)}")) for i, m in enumerate(minima)] + [Patch(color=OUTCOME_COLORS["max_iter"], label="no minimum reached")] + handles
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    return ax


def score_map(frame: pd.DataFrame, *, theory=None, ax=None, x: str = "lr", y: str = "w0"):
    """A model's score per run: R^2 (regression) or accuracy (classification); diverged red."""
    ax = ax or plt.gca()
    column = "r2" if "r2" in frame.columns else "accuracy"
    score = grid_of(frame, column, x, y).astype(float)
    hidden = ~np.isfinite(score) | (grid_of(frame, "outcome", x, y) == OUTCOMES.index("diverged"))
    shown = score.where(~hidden)
    low = float(np.nanmin(shown.to_numpy())) if shown.notna().to_numpy().any() else 0.0
    high = float(np.nanmax(shown.to_numpy())) if shown.notna().to_numpy().any() else 1.0
    sns.heatmap(shown, mask=hidden, cmap="viridis", vmin=low, vmax=max(high, low + 1e-9), cbar_kws={"label": f"{column} at the final weights"}, ax=ax, xticklabels=False, yticklabels=False, rasterized=True)
    _overlay(ax, hidden, DIVERGED_COLOR)
    handles = _dress(ax, score, x, y, theory, f"{'R^2' if column == 'r2' else 'Accuracy'} of the trained model")
    handles = ([Patch(color=DIVERGED_COLOR, label="diverged / not finite")] if hidden.to_numpy().any() else []) + handles
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.25, 1.0), frameon=False, fontsize=9)
    return ax


def _log_map(ax, values, hidden, *, cmap: str, norm, label: str, title: str, zero_label: str, hidden_label: str, theory, x, y):
    """A colour-scaled heatmap: values below norm.vmin in the zero colour, hidden cells red."""
    sns.heatmap(
        values,
        mask=hidden,
        cmap=matplotlib.colormaps[cmap].with_extremes(under=ZERO_COLOR),
        norm=norm,
        cbar_kws={"label": label, "extend": "min"},
        ax=ax,
        xticklabels=False,
        yticklabels=False,
        rasterized=True,
    )
    _overlay(ax, hidden, DIVERGED_COLOR)
    handles = _dress(ax, values, x, y, theory, title)
    present = [Patch(color=ZERO_COLOR, label=zero_label)] if (values.to_numpy() < norm.vmin).any() else []
    present += [Patch(color=DIVERGED_COLOR, label=hidden_label)] if hidden.to_numpy().any() else []
    handles = present + handles
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.25, 1.0), frameon=False, fontsize=9)
    return ax


def _count_map(frame: pd.DataFrame, column: str, *, theory, ax, x: str, y: str, cmap: str, label: str, title: str, zero_label: str):
    """A count per run (log colour), 0 in its own colour, diverged runs red."""
    count = grid_of(frame, column, x, y).astype(float)
    diverged = grid_of(frame, "outcome", x, y) == OUTCOMES.index("diverged")
    vmax = max(2.0, float(np.nanmax(count.where(~diverged).to_numpy(), initial=0.0)))
    return _log_map(
        ax or plt.gca(),
        count.where(~diverged).replace(0.0, 0.5),  # 0: below vmin = 1, drawn gold
        diverged,
        cmap=cmap,
        norm=LogNorm(vmin=1, vmax=vmax),
        label=label,
        title=title,
        zero_label=zero_label,
        hidden_label="diverged",
        theory=theory,
        x=x,
        y=y,
    )


def iterations_map(frame: pd.DataFrame, *, theory=None, ax=None, x: str = "lr", y: str = "w0"):
    """Updates applied per run (log colour), 0-update cells in their own colour, diverged runs red."""
    return _count_map(
        frame, "n_iter", theory=theory, ax=ax, x=x, y=y, cmap="mako_r", label="n_iter (updates applied)",
        title="Iterations to stop (crawling runs are dark)", zero_label="0: started at the stop",
    )


def loss_map(frame: pd.DataFrame, *, theory=None, ax=None, x: str = "lr", y: str = "w0"):
    """Final loss above the best final loss in the sweep (log colour from finite values)."""
    loss = grid_of(frame, "loss", x, y).astype(float)
    diverged = grid_of(frame, "outcome", x, y) == OUTCOMES.index("diverged")
    usable = ~diverged & np.isfinite(loss)
    best = float(loss.where(usable).min().min()) if usable.to_numpy().any() else 0.0
    gap = (loss - best).where(usable)
    # Within rounding of the best loss counts as reaching it: last-bit noise is not a colour.
    at_best = gap <= 1e-12 * max(1.0, abs(best))
    above = gap.where(~at_best)
    vmin = float(above.min().min()) if above.notna().to_numpy().any() else 1e-12
    vmax = float(above.max().max()) if above.notna().to_numpy().any() else 1.0
    vmax = max(vmax, vmin * 1.001)
    norm = LogNorm(vmin=vmin, vmax=vmax) if vmax / vmin > 10 else Normalize(vmin=vmin, vmax=vmax)
    return _log_map(
        ax or plt.gca(),
        gap.where(~at_best, vmin / 2),  # at the best loss: below vmin (> 0), drawn gold
        ~usable,
        cmap="crest",  # no reds: the red of diverged cells must stand apart
        norm=norm,
        label=f"final loss minus the best final loss ({best:.6g})",
        title="Final loss above the best reached",
        zero_label="at the best loss",
        hidden_label="diverged / not finite",
        theory=theory,
        x=x,
        y=y,
    )


def _overlay(ax, where: pd.DataFrame, color: str) -> None:
    """Paint the cells where ``where`` is True in one flat colour."""
    if where.to_numpy().any():
        sns.heatmap(where.astype(float), mask=~where, cmap=ListedColormap([color]), cbar=False, ax=ax, xticklabels=False, yticklabels=False, rasterized=True)


def path_window(path, outcome: str, max_points: int = 200) -> np.ndarray:
    """The iterates worth drawing: the first 4 of a diverging run (later ones dwarf the
    curve), otherwise the whole path thinned to at most ``max_points``, endpoints kept."""
    values = np.asarray(path, dtype=float)
    if outcome == "diverged":
        return values[:4]
    if values.size <= max_points:
        return values
    keep = np.unique(np.linspace(0, values.size - 1, max_points).round().astype(int))
    return values[keep]


def paths_figure(paths: list[dict], loss_curve, *, loss_text: str):
    """The classic teaching figure: each learning rate's path drawn on the loss curve.

    Args:
        paths: one dict per panel with ``lr``, ``w0``, ``path`` (every iterate, list of float),
            ``outcome`` and ``n_iter``.
        loss_curve: vectorized loss, 1-D float64 array of w -> array of loss values.
        loss_text: the loss formula, for the title.

    Returns:
        The Figure (one panel per path; the caller saves and closes it).
    """
    fig, axes = subplots(1, len(paths), figsize=(4.2 * len(paths), 3.6), squeeze=False)
    for ax, run in zip(axes[0], paths):
        shown = path_window(run["path"], run["outcome"])
        shown = shown[np.isfinite(shown)]
        lo, hi = shown.min(), shown.max()
        pad = 0.15 * max(hi - lo, 1.0)
        curve_w = np.linspace(lo - pad, hi + pad, 801)
        ax.plot(curve_w, loss_curve(curve_w), color="#495057", linewidth=1.5, zorder=1)
        ax.plot(shown, loss_curve(shown), "-o", color=OUTCOME_COLORS.get(run["outcome"], "#495057"), markersize=4, linewidth=1, zorder=2)
        ax.plot(shown[:1], loss_curve(shown[:1]), "s", color="black", markersize=6, zorder=3, label=f"w0 = {_short(run['w0'])}")
        note = f"final w = {run['path'][-1]:.6g}"
        if run["outcome"] == "diverged":
            note = f"first {shown.size} iterates drawn; " + note
        ax.set_title(f"lr = {_short(run['lr'])}: {run['outcome']} after {run['n_iter']} updates\n{note}", fontsize=10)
        ax.set_xlabel("w")
        ax.legend(frameon=False, fontsize=8, loc="upper center")
    axes[0][0].set_ylabel("loss")
    fig.suptitle(f"Paths on the loss {plain(loss_text)}", x=0.01, ha="left", fontsize=11)
    fig.tight_layout()
    return fig


# --- every run's story: dynamics maps and traced runs ------------------------------------------


def rise_map(frame: pd.DataFrame, *, theory=None, ax=None, x: str = "lr", y: str = "w0"):
    """How far each run's loss climbed above where it started: ``loss_max / initial loss``
    (the frame's ``loss_rise`` column, made by ``sweep.plots.report``), log colour; runs
    whose loss never rose are gold, diverged runs red."""
    rise = grid_of(frame, "loss_rise", x, y).astype(float)
    diverged = grid_of(frame, "outcome", x, y) == OUTCOMES.index("diverged")
    hidden = diverged | ~np.isfinite(rise)
    above = rise.where(~hidden & (rise > 1.0))
    vmax = float(above.max().max()) if above.notna().to_numpy().any() else 10.0
    return _log_map(
        ax or plt.gca(),
        rise.where(~hidden & (rise > 1.0), 0.5),  # never above the start: below vmin, gold
        hidden,
        cmap="rocket_r",
        norm=LogNorm(vmin=1.0, vmax=max(vmax, 1.01)),
        label="largest loss / initial loss",
        title="How far the loss climbed above its start",
        zero_label="never above the start",
        hidden_label="diverged / not finite",
        theory=theory,
        x=x,
        y=y,
    )


def increase_map(frame: pd.DataFrame, *, theory=None, ax=None, x: str = "lr", y: str = "w0"):
    """Updates that raised the loss (``n_increase``), log colour; none in gold, diverged red."""
    return _count_map(
        frame, "n_increase", theory=theory, ax=ax, x=x, y=y, cmap="flare", label="n_increase (updates that raised the loss)",
        title="Updates that raised the loss", zero_label="0: the loss only fell",
    )


def steps_figure(rows: pd.DataFrame, *, title: str, color: str = "#495057", best: float | None = None):
    """One run's loss and gradient norm against the step (``sweep.trace``'s table), on a
    log scale when they stay positive, so that a linear rate of convergence is a line.

    Args:
        rows: the trace: ``step``, ``loss`` and ``grad`` columns, one row per iterate.
        title: the panel's title (the run's settings and outcome).
        color: the loss line's colour (the outcome's).
        best: the loss's least value where it is known: the loss is then drawn as its height
            above it (a quadratic's ``(1 - 2 lr)**(2k)`` decay is then a straight line).

    Returns:
        The Figure (the caller saves it).
    """
    fig, ax = subplots(figsize=(5.2, 3.4), layout="constrained")
    steps = rows["step"].to_numpy()
    loss = rows["loss"].to_numpy(dtype=float) - (best or 0.0)
    grad = np.abs(rows["grad"].to_numpy(dtype=float))
    with np.errstate(all="ignore"):
        loss, grad = (np.where(np.abs(v) < DRAWN_MAX, v, np.nan) for v in (loss, grad))  # a diverged run's last iterates
        values = np.concatenate([loss, grad])
        finite = values[np.isfinite(values)]
        log = bool(finite.size and finite.min() >= 0 and finite.max() > 0)
        if log:  # an exact 0 (the teaching example's stop) has no place on a log scale
            loss, grad = (np.where(v > 0, v, np.nan) for v in (loss, grad))
    marker = "o" if steps.size <= 30 else None  # a short run's few points, each seen
    ax.plot(steps, loss, "-", color=color, linewidth=1.4, marker=marker, markersize=3, label="loss" if best is None else f"loss - {best:g}")
    ax.plot(steps, grad, "--", color="#495057", linewidth=1.2, marker=marker, markersize=3, label="|grad|")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title(plain(title), fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return fig


def _run_label(run: pd.DataFrame, axes: list[str]) -> str:
    first = run.iloc[0]
    return ", ".join(f"{plain(name)} = {_short(float(first[name]))}" for name in axes)


#: Largest magnitude a trace figure draws (see ``trace_figure``).
DRAWN_MAX = 1e200


def trace_figure(traces: pd.DataFrame, runs: pd.DataFrame, *, threshold: float, max_runs: int = 8):
    """Loss and sharpness against step for traced runs: the loss on a log scale (when it
    stays positive), the sharpness (lr_k times the top curvature, preconditioned for adaptive
    methods) with the edge of stability drawn at ``threshold`` (2 for gd; Cohen et al. 2021,
    2022).

    Args:
        traces: long-form traces (``run``, ``step``, ``loss``, ``sharpness``, ...).
        runs: one row per traced run, indexed by run number, with its axis values and outcome.
        threshold: the edge of stability, in the units of ``sharpness``.
        max_runs: most runs drawn (the first ones by run number).

    Returns:
        The Figure (two panels side by side).
    """
    fig, (loss_ax, sharp_ax) = subplots(1, 2, figsize=(11.0, 3.8))
    shown = sorted(traces["run"].unique())[:max_runs]
    axes = [name for name in runs.columns if name not in ("outcome",)]
    palette = sns.color_palette("colorblind", len(shown))
    positive = bool((traces.loc[traces["run"].isin(shown), "loss"] > 0).all())
    for color, number in zip(palette, shown):
        run = traces[traces["run"] == number]
        finite = run[np.isfinite(run["loss"])]
        label = f"{_run_label(runs.loc[[number]], axes)}: {runs.loc[number, 'outcome']}"
        # Values past +-1e200 (lr = 1e300) are drawn at that edge: matplotlib's log axes
        # cannot place ticks near the largest double, and infinite ones are left out.
        loss_ax.plot(finite["step"], finite["loss"].clip(-DRAWN_MAX, DRAWN_MAX), color=color, linewidth=1.2, label=label)
        sharp_ax.plot(run["step"], run["sharpness"].where(np.isfinite(run["sharpness"])).clip(-DRAWN_MAX, DRAWN_MAX), color=color, linewidth=1.2)
    if positive:
        loss_ax.set_yscale("log")
    sharp_ax.axhline(threshold, color="black", linestyle="--", linewidth=1.0)
    sharp_ax.text(0.99, threshold, f" edge of stability ({threshold:g})", transform=sharp_ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=8)
    drawn = traces.loc[traces["run"].isin(shown), "sharpness"].to_numpy()
    drawn = np.clip(drawn[np.isfinite(drawn)], -DRAWN_MAX, DRAWN_MAX)
    # Negative curvature (a concave stretch of the loss) needs a scale through zero.
    if drawn.size and (drawn > 0).all():
        sharp_ax.set_yscale("log")
        low, high = min(drawn.min(), threshold) / 3, max(drawn.max(), threshold)
        # room above the top line, unless that would pass the largest double (lr = 1e300)
        sharp_ax.set_ylim(low, high * 3 if np.isfinite(high * 3) else high)
    else:
        sharp_ax.set_yscale("symlog", linthresh=1e-3)
    loss_ax.set_xlabel("step")
    loss_ax.set_ylabel("loss" + (" (log scale)" if positive else ""))
    loss_ax.set_title("Loss along each traced run", loc="left", fontsize=11)
    sharp_ax.set_xlabel("step")
    sharp_ax.set_ylabel("sharpness: lr_k x top curvature")
    sharp_ax.set_title("Sharpness against the edge of stability", loc="left", fontsize=11)
    loss_ax.legend(frameon=False, fontsize=7, loc="best")
    if len(traces["run"].unique()) > max_runs:
        fig.text(0.01, -0.02, f"the first {max_runs} of {len(traces['run'].unique())} traced runs", fontsize=8)
    fig.tight_layout()
    return fig


def spread(values, most: int) -> list:
    """At most ``most`` of the sorted ``values``, spread evenly over them (the first and the
    last included): what a figure shows of more runs or learning rates than it has room for."""
    values = list(values)
    if len(values) <= most:
        return values
    return [values[round(i * (len(values) - 1) / (most - 1))] for i in range(most)]


def trace_paths(traces: pd.DataFrame, runs: pd.DataFrame, max_runs: int = 3) -> list[dict]:
    """The traced runs in the form ``paths_figure`` draws (at most ``max_runs``, spread over
    the traced runs: first, middle, last)."""
    numbers = spread(sorted(traces["run"].unique()), max_runs)
    found = []
    for number in numbers:
        run = traces[traces["run"] == number]
        if not np.isfinite(run["w"].to_numpy()).any():
            continue  # nothing to draw on the curve
        found.append({"lr": float(runs.loc[number, "lr"]), "w0": float(runs.loc[number, "w0"]), "path": run["w"].tolist(), "outcome": str(runs.loc[number, "outcome"]), "n_iter": int(run["step"].iloc[-1])})
    return found


def paths_gif(paths: list[dict], loss_curve, *, loss_text: str, max_frames: int = 60, milliseconds: int = 120) -> bytes:
    """The teaching figure in motion: each traced run's iterate moving along the loss curve,
    one frame per step (at most ``max_frames``, evenly spread over the longest run), as an
    animated GIF (one figure whose moving parts are updated per frame, assembled by Pillow)."""
    import io

    from PIL import Image

    fig, axes = subplots(1, len(paths), figsize=(3.6 * len(paths), 3.0), squeeze=False)
    moving = []
    for ax, run in zip(axes[0], paths):
        shown = path_window(run["path"], run["outcome"])
        shown = shown[np.isfinite(shown)]
        lo, hi = shown.min(), shown.max()
        pad = 0.15 * max(hi - lo, 1.0)
        curve_w = np.linspace(lo - pad, hi + pad, 401)
        ax.plot(curve_w, loss_curve(curve_w), color="#495057", linewidth=1.2)
        color = OUTCOME_COLORS.get(run["outcome"], "#495057")
        (trail,) = ax.plot([], [], "-", color=color, linewidth=0.8, alpha=0.6)
        (point,) = ax.plot([], [], "o", color=color, markersize=7)
        ax.set_xlabel("w")
        moving.append((ax, run, shown, loss_curve(shown), trail, point))
    axes[0][0].set_ylabel("loss")
    fig.suptitle(f"Traced runs on the loss {plain(loss_text)}", x=0.01, ha="left", fontsize=10)
    for ax, run, *_ in moving:
        ax.set_title(f"lr = {_short(run['lr'])}, step 00000", fontsize=9)  # room for the longest title
    fig.tight_layout()
    for ax, *_ in moving:
        ax.set_title("")
    fig.set_dpi(70)
    # Blitting: the curves, axes and labels are drawn once; each frame restores that
    # background and draws only what moves (a full redraw per frame costs 30x more).
    canvas = fig.canvas
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    longest = max(item[2].size for item in moving)
    frames = []
    for step in np.unique(np.linspace(0, longest - 1, min(max_frames, longest)).round().astype(int)):
        canvas.restore_region(background)
        for ax, run, shown, values, trail, point in moving:
            at = min(step, shown.size - 1)
            trail.set_data(shown[: at + 1], values[: at + 1])
            point.set_data(shown[at : at + 1], values[at : at + 1])
            ax.set_title(f"lr = {_short(run['lr'])}, step {at}", fontsize=9)
            for artist in (trail, point, ax.title):
                ax.draw_artist(artist)
        frames.append(Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("RGB"))
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=milliseconds, loop=0)
    return out.getvalue()


def noise_floor_sigma(lr, curvature: float, gap: float) -> np.ndarray:
    """The noise scale at which GD on a quadratic of curvature L settles, on average, ``gap``
    above the minimum's loss: the stationary variance of w is lr sigma^2 / (L (2 - lr L)), and
    the loss gap is L/2 times it, so sigma = sqrt(2 gap (2 - lr L) / lr). NaN where lr L >= 2
    (no stationary spread: GD diverges)."""
    lr = np.asarray(lr, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(lr * curvature < 2, np.sqrt(2 * gap * (2 - lr * curvature) / lr), np.nan)


def tail_map(frame: pd.DataFrame, *, theory=None, ax=None, x: str = "lr", y: str = "w0"):
    """Noisy runs: the mean loss over the last 10% of the steps (``loss_tail``) above the best
    of the sweep, log colour; diverged runs red. On an lr x grad_noise map of a quadratic the
    theory's noise floor is drawn where it equals the target gap (``theory["noise_floor"]``:
    curvature and gap)."""
    tail = grid_of(frame, "loss_tail", x, y).astype(float)
    diverged = grid_of(frame, "outcome", x, y) == OUTCOMES.index("diverged")
    usable = ~diverged & np.isfinite(tail)
    best = float(tail.where(usable).min().min()) if usable.to_numpy().any() else 0.0
    gap = (tail - best).where(usable)
    positive = gap.where(gap > 0)
    present = positive.to_numpy()[np.isfinite(positive.to_numpy())]
    vmin = float(present.min()) if present.size else 1e-12
    # The runs next to the stability edge settle far above the rest: the top 5% share the
    # darkest colour, so that the floor's gradient stays readable.
    vmax = max(float(np.percentile(present, 95)) if present.size else 1.0, vmin * 1.001)
    ax = ax or plt.gca()
    _log_map(
        ax,
        gap.where(gap > 0, vmin / 2),
        ~usable,
        cmap="crest",
        norm=LogNorm(vmin=vmin, vmax=vmax) if vmax / vmin > 10 else Normalize(vmin=vmin, vmax=vmax),
        label=f"loss_tail minus the best ({best:.6g})",
        title="Where the noisy runs settle: mean loss over the last 10% of steps",
        zero_label="the best tail",
        hidden_label="diverged / not finite",
        theory={k: v for k, v in (theory or {}).items() if k != "noise_floor"},
        x=x,
        y=y,
    )
    floor = (theory or {}).get("noise_floor")
    if floor and x == "lr" and y == "grad_noise":
        x_values = tail.columns.to_numpy(dtype=float)
        y_values = tail.index.to_numpy(dtype=float)[::-1]
        sigma = noise_floor_sigma(x_values, floor["curvature"], floor["gap"])
        points = [(position_of(x_values, lr, is_log_axis(x_values)), len(y_values) - position_of(y_values, s, is_log_axis(y_values))) for lr, s in zip(x_values, sigma)]
        points = [(px, py) for px, py in points if np.isfinite(px) and np.isfinite(py)]
        if points:
            ax.plot(*zip(*points), color="white", linestyle="--", linewidth=1.4)
            handles, _ = ax.get_legend_handles_labels()
            legend = ax.get_legend()
            extra = Line2D([], [], color="black", linestyle="--", label=f"theory: noise floor = {floor['gap']:g} above the minimum")
            ax.legend(handles=[*legend.legend_handles, extra], loc="upper left", bbox_to_anchor=(1.25, 1.0), frameon=False, fontsize=9)
    return ax


# -- several weights --------------------------------------------------------------------------


def point_label(point) -> str:
    """A point of several coordinates as a legend shows it: ``(3, 2)``, 4 digits each."""
    return "(" + ", ".join(f"{c:.4g}" for c in point) + ")"


def contour_window(paths: list[np.ndarray], minima=(), pad: float = 0.15) -> tuple[float, float, float, float]:
    """The (x_lo, x_hi, y_lo, y_hi) box that holds every finite point of the paths (each an
    (n, 2) float64 array of iterates) and the listed minima, padded by ``pad`` of its size;
    points beyond 1e3 times the starts' spread (a diverging run) are left out."""
    starts = np.array([path[0] for path in paths if len(path)], dtype=float).reshape(-1, 2)
    scale = max(1.0, float(np.abs(starts).max()) if starts.size else 1.0)
    points = [starts, np.asarray(minima, dtype=float).reshape(-1, 2)]
    for path in paths:
        path = np.asarray(path, dtype=float).reshape(-1, 2)
        points.append(path[np.isfinite(path).all(axis=1) & (np.abs(path) <= 1e3 * scale).all(axis=1)])
    allp = np.concatenate(points)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    span = np.maximum(hi - lo, 1e-3 * scale)
    lo, hi = lo - pad * span, hi + pad * span
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def contour_paths(panels: list[dict], loss_fn, *, names: tuple[str, str], loss_text: str, minima=(), best: float | None = None, resolution: int = 240):
    """Paths of runs over the contours of a loss of two weights, one panel per entry.

    Args:
        panels: one dict per panel: ``title`` and ``runs``, a list of dicts with ``path``
            (an (n, 2) float64 array of iterates), ``label`` and ``outcome``.
        loss_fn: the loss as a NumPy function of two arrays (``Loss.numeric``).
        names: the two weights' names, for the axis labels.
        loss_text: the loss, for the title.
        minima: known minima, marked with stars. best: the least value of the loss, if known:
            the contours are then of log10(loss - best), which shows a narrow valley's floor.
        resolution: grid points per side of the contour plot.

    Returns:
        The Figure (the caller saves it); every panel shares one window.
    """
    window = contour_window([run["path"] for panel in panels for run in panel["runs"]], minima)
    gx, gy = np.meshgrid(np.linspace(window[0], window[1], resolution), np.linspace(window[2], window[3], resolution))
    with np.errstate(all="ignore"):
        values = np.asarray(loss_fn(gx, gy), dtype=float) * np.ones_like(gx)
        shown = np.log10(np.maximum(values - (best if best is not None else np.nanmin(values)), 1e-12))
    fig, axes = subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False, layout="constrained")
    for ax, panel in zip(axes[0], panels):
        ax.contourf(gx, gy, shown, levels=24, cmap="Greys_r", alpha=0.55)
        ax.contour(gx, gy, shown, levels=24, colors="#495057", linewidths=0.4, alpha=0.6)
        palette = sns.color_palette("colorblind", max(len(panel["runs"]), 1))
        for color, run in zip(palette, panel["runs"]):
            path = np.asarray(run["path"], dtype=float).reshape(-1, 2)
            inside = path[np.isfinite(path).all(axis=1)]
            ax.plot(inside[:, 0], inside[:, 1], "-", color=color, linewidth=1.4, marker="o", markersize=2, label=f"{run['label']}: {run['outcome']}")
            ax.plot(inside[:1, 0], inside[:1, 1], "s", color="black", markersize=5)
        for point in minima:
            ax.plot(point[0], point[1], "*", color="#ffd60a", markeredgecolor="black", markersize=12)
        ax.set_xlim(window[0], window[1])
        ax.set_ylim(window[2], window[3])
        ax.set_xlabel(plain(names[0]))
        ax.set_ylabel(plain(names[1]))
        ax.set_title(plain(panel["title"]), fontsize=10)
        # Below the panel: inside it the legend would hide a path or a minimum.
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False, ncols=1 if len(panel["runs"]) < 4 else 2)
    fig.suptitle(f"Paths on the contours of {plain(loss_text)}" + (" (shading: log10 of loss above its minimum)" if best is not None else ""), fontsize=10)
    return fig


def basin_panels(frame: pd.DataFrame, *, x: str, y: str, minima, max_panels: int = 4):
    """Which minimum runs from each start reached, over the plane of starts, one panel per
    learning rate (at most ``max_panels``, spread over the sweep's): Himmelblau's four basins
    meet in fractal boundaries, as a Newton fractal's do.

    Args:
        frame: the runs table with ``lr``, the two start columns ``x`` and ``y``, and
            ``basin`` (the minimum's index in ``minima``, NaN for none).
        minima: the loss's listed minima (points of two coordinates), for the legend.

    Returns:
        The Figure.
    """
    lrs = np.array(spread(np.sort(frame["lr"].unique()), max_panels))
    fig, axes = subplots(1, lrs.size, figsize=(4.3 * lrs.size + 1.8, 4.0), squeeze=False, layout="constrained")
    palette = sns.color_palette("Set2", max(len(minima), 1))
    for ax, lr in zip(axes[0], lrs):
        grid = grid_of(frame[frame["lr"] == lr], "basin", x, y).astype(float)
        if np.isfinite(grid.to_numpy()).any():
            sns.heatmap(grid, mask=grid.isna(), cmap=ListedColormap(palette[: len(minima)]), vmin=-0.5, vmax=len(minima) - 0.5, cbar=False, ax=ax, xticklabels=False, yticklabels=False, rasterized=True)
        _overlay(ax, grid.isna(), OUTCOME_COLORS["max_iter"])
        _dress(ax, grid, x, y, None, f"lr = {_short(lr)}")
    handles = [Patch(color=palette[i], label=point_label(m)) for i, m in enumerate(minima)]
    handles.append(Patch(color=OUTCOME_COLORS["max_iter"], label="no minimum reached"))
    axes[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, title="minimum reached")
    return fig


def cloud_panels(frame: pd.DataFrame, *, x: str, y: str, minima=(), max_panels: int = 4):
    """Runs from a cloud of starts, each a dot at its start coloured by the minimum it
    reached (``basin``, where the loss lists several) or else by its outcome, one panel per
    learning rate (at most ``max_panels``, spread over the sweep's).

    Returns:
        The Figure.
    """
    lrs = np.array(spread(np.sort(frame["lr"].unique()), max_panels))
    fig, axes = subplots(1, lrs.size, figsize=(4.3 * lrs.size + 1.8, 4.0), squeeze=False, layout="constrained")
    by_basin = "basin" in frame.columns
    palette = sns.color_palette("Set2", max(len(minima), 1))
    for ax, lr in zip(axes[0], lrs):
        runs = frame[frame["lr"] == lr]
        if by_basin:
            code = runs["basin"].to_numpy()
            colors = [palette[int(c)] if np.isfinite(c) else OUTCOME_COLORS["max_iter"] for c in code]
        else:
            colors = [OUTCOME_COLORS[str(o)] for o in runs["outcome"]]
        ax.scatter(runs[x], runs[y], c=colors, s=9, linewidths=0, rasterized=True)
        for point in minima:
            ax.plot(point[0], point[1], "*", color="#ffd60a", markeredgecolor="black", markersize=11)
        ax.set_xlabel(plain(x))
        ax.set_ylabel(plain(y))
        ax.set_title(f"lr = {_short(lr)}", loc="left", fontsize=11)
    if by_basin:
        handles = [Patch(color=palette[i], label=point_label(m)) for i, m in enumerate(minima)]
        handles.append(Patch(color=OUTCOME_COLORS["max_iter"], label="no minimum reached"))
        title = "minimum reached"
    else:
        present = [name for name in OUTCOMES if (frame["outcome"].astype(str) == name).any()]
        handles, title = [Patch(color=OUTCOME_COLORS[name], label=name) for name in present], "outcome"
    axes[0][-1].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9, title=title)
    return fig
