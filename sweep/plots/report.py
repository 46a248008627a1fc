"""The report of a sweep: heatmap PNGs and one self-contained ``report.html``.

``write_report(DIR)`` reads ``DIR/runs.parquet`` and ``DIR/sweep.json`` and writes
``outcomes.png``, ``iterations.png``, ``loss.png``, ``paths.png`` and ``report.html`` (which
embeds the pictures, so it can be mailed or opened anywhere on its own).
"""

from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sweep.optim.optimizers import OPTIMIZERS, eos_threshold
from sweep.outcomes import OUTCOME_MEANINGS, OUTCOMES
from sweep.plots import figures
from sweep.plots.figures import subplots
from sweep.problems.losses import BUILTIN_LOSSES, Loss, make_loss
from sweep.run.plan import axes_listed
from sweep.run.sweeps import trace
from sweep.store.aggregate import aggregate, collapse, needs_aggregation
from sweep.store.results import CONFIG_FILE, StoreError, read_config, read_results

#: The learning rates and initial weight of the classic teaching example.
TEACHING_LRS = (0.4, 0.001, 10.0)
TEACHING_W0 = 2.0


def loss_from_config(config: dict) -> Loss | None:
    """Rebuild the Loss a sweep ran with from its ``sweep.json``; None for a custom loss of
    the user's own jitted functions, which the files cannot carry."""
    spec = config["loss"]
    if spec["name"] != "formula" and spec["name"] not in BUILTIN_LOSSES:
        return None
    return make_loss(spec["name"] if spec["name"] != "formula" else spec["formula"], spec["params"])


def outcome_table(frame: pd.DataFrame, counts: dict | None = None) -> pd.DataFrame:
    """Runs per outcome, with their share and median n_iter, in the fixed outcome order.

    Args:
        frame: the runs (one row per run), or one row per figure cell (with ``runs``).
        counts: for cells, the exact runs per outcome (``sweep.json``'s ``counts``); the
            median n_iter is then the median of the cells' means, an approximation.
    """
    if "runs" in frame.columns:
        if counts is None:
            counts = {name: int(round((frame[f"share_{name}"] * frame["runs"]).sum())) for name in OUTCOMES}
        counts = pd.Series({name: int(counts.get(name, 0)) for name in OUTCOMES})
    else:
        counts = frame["outcome"].value_counts().reindex(list(OUTCOMES), fill_value=0)
    medians = frame.groupby("outcome", observed=False)["n_iter"].median().reindex(list(OUTCOMES))
    table = pd.DataFrame({"runs": counts, "share": counts / max(counts.sum(), 1), "median n_iter": medians})
    table.index.name = "outcome"
    return table[table["runs"] > 0]


def edge_table(frame: pd.DataFrame, theory: dict, max_rows: int = 11, by: str = "w0") -> pd.DataFrame:
    """Smallest and largest converging lr per value of ``by`` (sampled to ``max_rows`` rows),
    beside theory's edge.

    For a quadratic with curvature L, gd from any w0 off the minimum converges exactly for
    0 < lr < 2/L; the sweep's largest converging lr should be the last grid value below 2/L.
    A run that converged in 0 updates started at a minimum, where every lr converges: it says
    nothing of the edge, and is left out (else a folded axis's edge would be the largest lr).
    """
    if "lr" not in frame.columns or by == "lr":
        return pd.DataFrame()
    converged = frame[(frame["outcome"] == "converged") & (frame["n_iter"] > 0)]
    largest = converged.groupby(by)["lr"].max()
    smallest = converged.groupby(by)["lr"].min()
    values = np.sort(frame[by].unique())
    picks = values[np.unique(np.linspace(0, values.size - 1, min(max_rows, values.size)).round().astype(int))]
    table = pd.DataFrame({by: picks})
    table["smallest converging lr"] = table[by].map(smallest)
    table["largest converging lr"] = table[by].map(largest)
    by_row = theory.get("stability_lr_by")
    if "stability_lr" in theory:
        table["theory: converges iff lr <"] = theory["stability_lr"]
    elif by_row and by_row["axis"] == by:
        edges = {float(k): v for k, v in by_row["values"].items()}
        table["theory: converges iff lr <"] = table[by].map(edges)
    return table


def teaching_paths(frame: pd.DataFrame, loss: Loss, config: dict) -> list[dict]:
    """The runs drawn in the paths figure, from the w0 nearest the teaching example's 2.

    The teaching loss gets the teaching learning rates where the grid has them. Any other
    loss gets the story of its own grid: the smallest learning rate, the largest that still
    converged, and the first above it that did not (or the smallest, middle and largest).
    """
    lrs = np.sort(frame["lr"].unique())
    w0_values = frame["w0"].unique()
    w0 = float(w0_values[np.argmin(np.abs(w0_values - TEACHING_W0))])
    chosen = [lr for lr in TEACHING_LRS if lr in set(lrs)] if loss.name == "quadratic" else []
    if len(chosen) < 3:
        row = frame[frame["w0"] == w0].sort_values("lr")
        converged = row.loc[row["outcome"] == "converged", "lr"]
        if converged.size and converged.max() < lrs[-1]:
            above = lrs[lrs > converged.max()]
            chosen = sorted({lrs[0], float(converged.max()), float(above[0])})
        else:
            chosen = [lrs[0], lrs[lrs.size // 2], lrs[-1]] if lrs.size >= 3 else list(lrs)
    paths = []
    for lr in chosen:
        # A traced run (an aggregated table has no rows to read the path from): the same
        # kernel and stops as the sweep's, every iterate kept.
        rows = trace(float(lr), w0, loss=loss, max_iter=config["max_iter"], tol=config["tol"], div_factor=config["div_factor"])
        final = table_row(float(lr), w0, loss, config)
        paths.append({"lr": float(lr), "w0": w0, "path": rows["w"].tolist(), "outcome": final["outcome"], "n_iter": int(final["n_iter"])})
    return paths


def table_row(lr: float, w0: float, loss: Loss, config: dict) -> dict:
    """The table row of one run (outcome and n_iter), run again with the sweep's stops."""
    from sweep.run.sweeps import run_sweep

    row = run_sweep([lr], [w0], loss=loss, max_iter=config["max_iter"], tol=config["tol"], div_factor=config["div_factor"]).iloc[0]
    return {"outcome": str(row["outcome"]), "n_iter": int(row["n_iter"])}


def loss_curve(loss: Loss):
    """The loss as a vectorized function of a float64 array, through the compiled kernel's
    own evaluation of the problem (the same code the runs used)."""
    from sweep.run.executor import kernel_of
    from sweep.run.plan import plan_sweep

    evaluate = kernel_of(plan_sweep([1.0], [0.0], loss=loss))._evaluate_exact
    params = loss.param_values

    def curve(w: np.ndarray) -> np.ndarray:
        return np.array([evaluate(float(x), *params)[0] for x in np.ravel(w)]).reshape(np.shape(w))

    return curve


def png_bytes(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def _heatmap_png(draw, frame, theory, x: str = "lr", y: str = "w0") -> bytes:
    fig, ax = subplots(figsize=(8.6, 4.6))
    with warnings.catch_warnings():
        # an all-NaN map (every run undefined) is drawn empty; seaborn's warning says so twice
        warnings.simplefilter("ignore", RuntimeWarning)
        draw(frame, theory=theory, ax=ax, x=x, y=y)
    return png_bytes(fig)


def choose_axes(config: dict, x: str | None, y: str | None) -> tuple[str, str, list[str]]:
    """The maps' axes: x defaults to lr; y to the first swept optimizer hyperparameter (the
    lr x momentum map), else w0. Returns (x, y, the other swept axes, which each cell
    aggregates).

    Raises:
        StoreError: for an axis the sweep does not have, or x == y.
    """
    axes = config["axes"]
    starts = config.get("starts", ["w0"])
    swept = [name for name, values in axes.items() if len(values) > 1]
    if x is not None and not x.strip() or y is not None and not y.strip():
        raise StoreError("--x and --y must name an axis, not ''")
    swept_starts = [name for name in starts if name in swept]  # a cloud's starts are no axes
    if x is None and y is None and len(axes["lr"]) == 1 and len(swept_starts) >= 2:
        # One learning rate over a plane of starts: the map is that plane (the basin map).
        x, y = swept_starts[:2]
    x = x or "lr"
    if y is None:
        hyper = [name for name in swept if name not in ("lr", *starts, x)]
        plane = [name for name in [*swept_starts, *starts] if name != x and name in axes]
        others = [name for name in swept if name != x]
        y = hyper[0] if hyper else (plane[0] if plane else (others[0] if others else "lr"))
    for option, name in (("--x", x), ("--y", y)):
        if name not in axes:
            raise StoreError(f"{option} {name}: the sweep has no such axis; its swept axes are {axes_listed({other: len(values) for other, values in axes.items()})}")
    if x == y:
        raise StoreError(f"--x and --y are both {x}: choose two different axes")
    for option, name in (("--x", x), ("--y", y)):
        if len(axes[name]) < 2 and name not in ("lr", *starts):
            raise StoreError(f"{option} {name}: that axis has one value only ({axes[name][0]:g}); swept axes are {', '.join(swept) or 'none'}")
    return x, y, [name for name in swept if name not in (x, y)]


def report_names(config: dict, x: str, y: str) -> dict[str, str]:
    """File names of a report: ``report.html``, ``outcomes.png``, ... for the sweep's own
    axes; for other axes the names say which (``report-lr-w0.html``), so that redrawing a
    folder over other axes never overwrites its main report."""
    default = choose_axes(config, None, None)[:2]
    suffix = "" if (x, y) == default else f"-{x}-{y}"
    names = {name: f"{name}{suffix}.png" for name in ("outcomes", "iterations", "loss", "paths", "basins", "basins_by_lr", "cloud", "contours", "score", "rise", "increase", "traces", "tail")}
    names["paths_gif"] = f"paths{suffix}.gif"
    names["report"] = f"report{suffix}.html"
    return names


def render_report(frame: pd.DataFrame, config: dict, x: str | None = None, y: str | None = None, source=None, traces: pd.DataFrame | None = None) -> dict[str, bytes]:
    """Draw a sweep's figures and report page in memory.

    Args:
        frame: the runs table (all of it, in one piece), or None to read ``source``.
        config: its configuration (``sweep.json``).
        x, y: the maps' axes (see ``choose_axes``); other swept axes are aggregated per cell.
        source: a verified results folder to read a batch at a time when ``frame`` is None
            (for sweeps too large to draw cell by cell); its ``traces.parquet``, if any, is read.
        traces: traced runs in long form (``sweep.run.executor.trace_runs``), or None.

    Returns:
        File name -> bytes (``report_names``): the page and every PNG it embeds.

    Raises:
        StoreError: an axis the sweep does not have, or a loss that cannot be rebuilt.
    """
    x, y, folded = choose_axes(config, x, y)
    runs = frame
    if frame is None and needs_aggregation(config):
        if (x, y) != ("lr", "w0") or folded:
            raise StoreError(f"{str(source)!r} is too large to draw as any map but the default one: lr across, w0 up (--x lr --y w0), no other axis folded")
        from sweep.store.results import result_sources

        cells = aggregate(result_sources(source)[0], config)
    else:
        runs = read_results(source)[0] if frame is None else frame
        cells = collapse(runs, x, y) if folded else runs
    try:
        loss = loss_from_config(config)
    except ValueError as error:
        raise StoreError(f"the loss in {CONFIG_FILE} cannot be rebuilt: {error}") from None
    theory = config["loss"].get("theory") or {}
    maps = [("outcomes", figures.outcome_map), ("iterations", figures.iterations_map), ("loss", figures.loss_map)]
    starts = config.get("starts", ["w0"])
    minima = config["loss"].get("minima") or []
    if "basin" in cells.columns and "points" not in config:  # a cloud's basins: its own figure
        labels = {float(i): figures.point_label(point) for i, point in enumerate(minima)} if len(starts) > 1 else None
        maps.append(("basins", functools.partial(figures.basin_map, labels=labels)))
    if "r2" in cells.columns or "accuracy" in cells.columns:
        maps.append(("score", figures.score_map))
    if "loss_tail" in cells.columns and cells["loss_tail"].notna().any():
        maps.append(("tail", figures.tail_map))
        curvature = loss.curvature() if loss is not None else None
        if curvature:
            theory = {**theory, "noise_floor": {"curvature": curvature, "gap": float(config.get("target_loss") or 0.01)}}
    if "loss_max" in cells.columns and "n_increase" in cells.columns:
        rise = _loss_rise(cells, loss, config)
        if rise is not None:
            cells = cells.assign(loss_rise=rise)
            maps.append(("rise", figures.rise_map))
        maps.append(("increase", figures.increase_map))
    pictures = {name: _heatmap_png(draw, cells, theory, x, y) for name, draw in maps}
    if "points" in config and len(starts) == 2 and runs is not None:
        # A cloud of starts: each run a dot at its start.
        pictures["cloud"] = png_bytes(figures.cloud_panels(runs, x=starts[0], y=starts[1], minima=minima if "basin" in runs.columns else ()))
    plane = [name for name in starts if name in config["axes"] and len(config["axes"][name]) > 1][:2]
    swept = {name for name, values in config["axes"].items() if len(values) > 1}
    if len(plane) == 2 and runs is not None and "basin" in runs.columns and len(config["axes"]["lr"]) > 1 and swept <= {"lr", *plane}:
        # Basins over the plane of starts, one panel per learning rate.
        pictures["basins_by_lr"] = png_bytes(figures.basin_panels(runs, x=plane[0], y=plane[1], minima=minima))
    if traces is None and source is not None:
        from sweep.store.results import read_traces

        traces = read_traces(source, int(config["n_runs"]))
    if traces is not None and len(traces):
        traced = _traced_runs(traces, config, runs if runs is not None else cells)
        hyper = {name: float(values[0]) for name, values in config["axes"].items() if len(values) == 1}
        pictures["traces"] = png_bytes(figures.trace_figure(traces, traced, threshold=eos_threshold(config.get("optimizer", "gd"), {k: v for k, v in hyper.items() if k in OPTIMIZERS[config.get("optimizer", "gd")].defaults()})))
        if loss is not None and "w" in traces.columns:
            paths = figures.trace_paths(traces, traced)
            if paths:
                curve = loss_curve(loss)
                pictures["paths"] = png_bytes(figures.paths_figure(paths, curve, loss_text=config["loss"]["expression"]))
                gif = figures.paths_gif(paths, curve, loss_text=config["loss"]["expression"])
        if loss is not None and loss.d == 2 and all(name in traces.columns for name in loss.weight_names):
            pictures["contours"] = png_bytes(contour_figure(traces, traced, loss, config))
    elif loss is not None and config.get("optimizer", "gd") == "gd" and "lr" in cells.columns and "w0" in cells.columns and _plain_gd(config):
        paths = teaching_paths(cells, loss, config)
        pictures["paths"] = png_bytes(figures.paths_figure(paths, loss_curve(loss), loss_text=config["loss"]["expression"]))
    names = report_names(config, x, y)
    page = render_html(cells, config, pictures, x, y, folded, runs=runs)
    files = {names[name]: data for name, data in pictures.items()}
    if traces is not None and len(traces) and "paths" in pictures and loss is not None and "w" in traces.columns:
        files[names["paths_gif"]] = gif
    files[names["report"]] = page.encode()
    return files


def _plain_gd(config: dict) -> bool:
    """The sweep's runs are the teaching loop's: exact gradients and a constant learning rate
    (the teaching paths, recomputed from the table's settings, would be other runs)."""
    return config.get("schedule", "constant") == "constant" and not {"grad_noise", "batch_size"} & set(config["axes"])


def contour_figure(traces: pd.DataFrame, traced: pd.DataFrame, loss: Loss, config: dict, max_runs: int = 6):
    """The traced runs of a two-weight loss on its contours (at most ``max_runs``, spread
    over the traced runs: first, last and evenly between)."""
    names = loss.weight_names
    total = traces["run"].nunique()
    numbers = figures.spread(sorted(traces["run"].unique()), max_runs)
    axes = [name for name in traced.columns if name != "outcome"]
    runs = []
    for number in numbers:
        rows = traces[traces["run"] == number]
        label = ", ".join(f"{name} = {traced.loc[number, name]:g}" for name in axes if len(config["axes"][name]) > 1) or f"run {number}"
        runs.append({"path": rows[list(names)].to_numpy(), "label": label, "outcome": traced.loc[number, "outcome"]})
    title = f"{config.get('optimizer', 'gd')}, traced runs" + (f" ({len(numbers)} of {total}, spread over them)" if total > len(numbers) else "")
    return figures.contour_paths([{"title": title, "runs": runs}], loss.numeric(), names=names, loss_text=config["loss"]["expression"], minima=loss.minima, best=loss.best_value())


def _loss_rise(cells: pd.DataFrame, loss, config: dict) -> np.ndarray | None:
    """``loss_max / loss(w0)`` per run, for a loss of one weight with fixed parameters and
    positive values at the starts (None otherwise: the ratio would mean nothing)."""
    if loss is None or "w0" not in cells.columns or any(name in cells.columns for name, _ in loss.params):
        return None
    starts = np.unique(cells["w0"].to_numpy())
    at_start = loss_curve(loss)(starts)
    if not (np.isfinite(at_start).all() and (at_start > 0).all()):
        return None
    return cells["loss_max"].to_numpy() / at_start[np.searchsorted(starts, cells["w0"].to_numpy())]


def _traced_runs(traces: pd.DataFrame, config: dict, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per traced run, indexed by run number: its swept axis values and outcome
    (from the table when it is at hand in full, else from the grid and the trace)."""
    numbers = np.sort(traces["run"].unique())
    axes = config["axes"]
    shape = tuple(len(values) for values in axes.values())
    where = np.unravel_index(numbers, shape)
    found = pd.DataFrame({name: np.asarray(values)[at] for (name, values), at in zip(axes.items(), where) if len(values) > 1 or name in ("lr", "w0")}, index=numbers)
    if runs is not None and len(runs) == int(np.prod(shape)) and "outcome" in runs.columns:
        found["outcome"] = runs["outcome"].astype(str).to_numpy()[numbers]
    else:
        found["outcome"] = "traced"
    return found


def write_report(out: str | Path, x: str | None = None, y: str | None = None, into: str | Path | None = None, folder=None) -> Path:
    """Draw the figures and the HTML report of the sweep stored in ``out``.

    Everything is drawn in memory first and written only when all of it succeeded, all
    files at once, so a failure (a full disk included) leaves the folder as it was.

    Args:
        out: a folder written by ``sweep run`` (``runs.parquet`` or ``runs/``, and ``sweep.json``).
        x, y: the maps' axes (see ``choose_axes``); other swept axes are aggregated per cell.
        into: the folder to write the report into (default ``out``); claimed like any
            output folder (``sweep.store.folder.claim``).
        folder: a ``sweep.store.folder.Folder`` already claimed by the caller for ``into``.

    Returns:
        Path of the report page.

    Raises:
        sweep.store.StoreError: if the folder holds no readable, complete, unchanged results,
            or the report cannot be written.
    """
    from sweep.store.folder import claim

    out = Path(out)
    config = read_config(out)
    files = render_report(None, config, x, y, source=out)
    page = next(name for name in files if name.endswith(".html"))
    # Figures of this report's axes that it no longer draws (a trace deleted since) go too;
    # only files the folder's record lists are ever removed.
    stale = set(report_names(config, *choose_axes(config, x, y)[:2]).values()) - set(files)
    if folder is not None:
        folder.write(files)
        folder.remove(stale)
        return folder.path / page
    with claim(into if into is not None else out, command="sweep report", option="--out" if into is not None else "DIR") as claimed:
        claimed.write(files)
        claimed.remove(stale)
    return claimed.path / page


def _listed(text) -> str:
    """A gradient as text: one formula, or one per weight (several weights) in brackets."""
    return text if isinstance(text, str) else "(" + ", ".join(text) + ")"


def _axis_text(values: list[float]) -> str:
    values = np.asarray(values)
    if values.size == 1:
        return f"{values[0]:g}"
    return f"{values.size} values from {values.min():g} to {values.max():g}"


def _cells_caption(frame: pd.DataFrame, x: str, y: str) -> str:
    names = {"lr": "learning rate", "w0": "initial weight"}
    cells = "One cell per run" if "runs" not in frame.columns else "One cell per group of runs (see the note above)"
    return f"{cells}: {names.get(x, x)} across, {names.get(y, y)} up."


def _aggregation_note(frame: pd.DataFrame, folded: list[str] | None) -> str:
    if "runs" not in frame.columns:
        return ""
    why = f"each cell holds every value of {', '.join(folded)}" if folded else "the grid is finer than a figure"
    return f"{why}, so each cell stands for up to {int(frame['runs'].max()):,} runs and shows their majority outcome, mean n_iter and mean finite loss."


def _theory_paragraphs(config: dict, x: str = "lr", y: str = "w0") -> list[str]:
    from sweep.plots.figures import edge_drawn

    loss_cfg = config["loss"]
    theory = loss_cfg.get("theory") or {}
    optimizer = config.get("optimizer", "gd")
    # The page speaks of the dotted line only where the maps of this view draw it.
    drawn = edge_drawn(theory, x, y)
    by_row = theory.get("stability_lr_by")
    shown_with = f"--x lr --y {by_row['axis']}" if by_row else "--x lr"

    def marks(what: str, lines: str = "The dotted line marks") -> str:
        return f"{lines} {what}." if drawn else f"(The maps of this view leave {what} out; `sweep report DIR {shown_with}` draws it.)"

    dotted = marks("that edge")
    if "n_weights" in loss_cfg:
        text = (
            f"Full-batch gradient descent on {loss_cfg['n_samples']} samples of the {loss_cfg.get('dataset', '?')} data, "
            f"{loss_cfg['n_weights']} weights (standardized features and an intercept), every weight starting at w0. "
        )
        if "stability_lr" in theory and optimizer == "gd":
            text += f"The Hessian of the MSE is constant; its largest eigenvalue L gives the exact stability edge lr < 2/L = {theory['stability_lr']:.4g}. {dotted}"
        else:
            text += f"The stability edge is 2/L(w0), from the largest Hessian eigenvalue at each starting point: a local guide, since log loss flattens as the weights grow. {dotted}"
        return [text]
    if theory and optimizer != "gd":
        return [
            f"Optimizer: {optimizer}. On a quadratic with curvature L, the heavy ball converges iff 0 < lr L < 2 + 2 momentum "
            "(Polyak 1964; Goh, Distill 2017), and Nesterov's method iff lr L < (2 + 2 momentum) / (1 + 2 momentum). " + dotted
        ]
    if "stability_lr" in theory and "one_step_lr" in theory:
        return [
            f"The loss is quadratic with curvature L = {2 / theory['stability_lr']:g}. Given enough iterations, gradient descent converges for "
            f"0 < lr < 2/L = {theory['stability_lr']:g}; it reaches the minimum in one step at lr = 1/L = {theory['one_step_lr']:g} and oscillates "
            "around it for lr between 1/L and 2/L. " + marks("both", "The dashed and dotted lines mark") + " Within this sweep's "
            f"max_iter = {config['max_iter']} and tol = {config['tol']:g}, small learning rates run out of iterations first, and with tol = 0 "
            "some runs stall a rounding step short of the minimum: the table below shows where convergence really starts and ends."
        ]
    return []


def _rows(table: pd.DataFrame, formats: dict | None = None) -> dict:
    """A table as column names and rows of text, for the page template (which escapes)."""
    formats = formats or {}

    def text(column, value):
        if isinstance(value, float) and np.isnan(value):
            return "none"
        if column in formats:
            return formats[column](value)
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    return {"columns": list(table.columns), "rows": [[text(c, v) for c, v in zip(table.columns, row)] for row in table.itertuples(index=False)]}


def render_html(frame: pd.DataFrame, config: dict, pictures: dict[str, bytes], x: str = "lr", y: str = "w0", folded: list[str] | None = None, runs: pd.DataFrame | None = None) -> str:
    """The report page as one HTML string with the pictures embedded.

    Args:
        frame: what the maps show: the runs, or one row per cell when axes were folded or
            the sweep was binned (``sweep.store.aggregate``).
        runs: the runs themselves when they are at hand: the tables count them (a folded
            cell's mean is not a run); without them the counts come from ``sweep.json`` and
            the medians from the cells, and the page says they are approximate.
    """
    from sweep.plots.pages import render

    loss_cfg = config["loss"]
    theory = loss_cfg.get("theory") or {}
    counts_note = ""
    if runs is not None:
        counts = outcome_table(runs)
    else:
        counts = outcome_table(frame, config.get("counts"))
        counts_note = "Counts are exact; each median n_iter is the median over the figure's cells of their mean n_iter, an approximation for so large a sweep."
    lead = ", ".join(f"{share:.1%} {name}" if share < 0.01 else f"{share:.0%} {name}" for name, share in counts["share"].items())
    swept = [name for name, values in config["axes"].items() if len(values) > 1]
    starts = config.get("starts", ["w0"])
    optimizer = config.get("optimizer", "gd")
    bound = "|w| > {0:g} * max(1, |w0|)" if starts == ["w0"] else "max_i |w_i| > {0:g} * max(1, max_i |w0_i|)"
    settings = [
        ["optimizer", optimizer],
        *[[f"axis {name}" if len(values) > 1 else name, _axis_text(values)] for name, values in config["axes"].items() if name not in ("lr", *starts)],
        ["loss", loss_cfg["formula"]],
        ["loss with its parameters", loss_cfg["expression"]],
        ["gradient (symbolic)", _listed(loss_cfg.get("gradient", "written by hand in the model kernel"))],
        ["gradient with its parameters", _listed(loss_cfg.get("gradient_expression", "-"))],
        ["parameters", ", ".join(f"{k} = {v:g}" for k, v in loss_cfg.get("params", {}).items()) or "none"],
        ["lr", _axis_text(config["axes"]["lr"])],
        *[[name, _axis_text(config["axes"][name])] for name in starts if name in config["axes"]],
        *([["starts", f"a cloud of {len(config['points']):,} points (the start axis numbers them)"]] if "points" in config else []),
        ["max_iter", str(config["max_iter"])],
        ["tol", f"{config['tol']:g}" + (" (stop only at a gradient of exactly 0)" if config["tol"] == 0 else "")],
        ["divergence bound", bound.format(config["div_factor"])],
        ["runs", f"{config['n_runs']:,}"],
        ["kernel time", f"{config.get('seconds', float('nan')):.3f} s (plus {config.get('compile_seconds', float('nan')):.2f} s compiling or loading the kernel)"],
    ]
    edges = edge_table(runs if runs is not None else frame, theory, by=y) if x == "lr" else pd.DataFrame()
    edge_context = None
    if not edges.empty:
        note = f"{len(edges)} of the sweep's {frame[y].nunique()} values of {y}, evenly picked; runs that converged in 0 updates (started at a minimum, where every lr converges) are left out."
        edge_context = {"by": y, "note": note, **_rows(edges)}
    table = counts.reset_index()
    return render(
        "report.html",
        title=f"{'Gradient descent' if optimizer == 'gd' else optimizer} on {loss_cfg['expression']}",
        method="Gradient descent" if optimizer == "gd" else optimizer.capitalize(),
        expression=loss_cfg["expression"],
        n_runs=config["n_runs"],
        swept=", ".join(swept) or "one point",
        lead=lead,
        aggregation=_aggregation_note(frame, folded),
        theory=_theory_paragraphs(config, x, y),
        cells_caption=_cells_caption(frame, x, y),
        pictures=pictures,
        counts=_rows(table, {"share": "{:.1%}".format, "median n_iter": "{:g}".format, "runs": "{:,}".format}),
        counts_note=counts_note,
        edges=edge_context,
        settings=settings,
        meanings=list(OUTCOME_MEANINGS.items()),
        gif=report_names(config, x, y)["paths_gif"],
        sharpness_what="preconditioned by the optimizer's step sizes, as Cohen et al. 2022 define it" if optimizer in ("adam", "adamw", "rmsprop") else "f''(w) for one weight, the top Hessian eigenvalue for several",
    )
