"""The sweep view's data: a finished sweep folder as maps for the page, a run's story on
demand, and small grids recomputed with other fixed settings.

Pure functions over the runs table and ``sweep.json``; the web app (``sweep.serve.app``) only
turns their dicts into JSON. Every setting a request names is checked here, and a bad one
raises ``ViewError`` with one line naming it and what is allowed.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sweep.errors import UserError
from sweep.outcomes import OUTCOMES

#: Largest grid recomputed live (cells), and most steps a live run may take: a recompute
#: stays under about a second on 2 cores.
LIVE_CELLS = 128 * 128
LIVE_MAX_ITER = 100_000
LIVE_WORK = 2e8  # cells x max_iter, for a loss
LIVE_FLOPS = 2e10  # cells x max_iter x floating-point operations per step, for a model on data
#: Values per axis of a live grid: longer axes are thinned evenly, ends kept.
LIVE_AXIS = 128


class ViewError(UserError, ValueError):
    """A request the view cannot serve; the message names the bad value and what is allowed."""


@dataclass(frozen=True)
class SweepView:
    """A finished sweep, loaded once.

    Attributes:
        folder: the sweep's folder.
        frame: its runs table (``sweep.store.results.read_results``).
        config: its ``sweep.json``.
        axes: every axis' values (1-D float64, grid order), fixed settings included.
        roles: each axis' role (``lr``, ``w0``, ``w0:x``, ``hyper:momentum``, ``schedule:T``,
            ``param:a``, ``noise``, ``batch``, ``start``), as ``sweep.run.plan.Axis`` names them.
    """

    folder: Path
    frame: pd.DataFrame
    config: dict
    axes: dict[str, np.ndarray]
    roles: dict[str, str]

    @property
    def swept(self) -> list[str]:
        """The axes with more than one value, in grid order."""
        return [name for name, values in self.axes.items() if values.size > 1]

    @property
    def traceable(self) -> str | None:
        """None when a run's trace can be computed, else why not (one line)."""
        loss = self.config["loss"]
        if "dataset" in loss:
            return f"traces are computed for losses; this sweep trains a model on {loss['dataset']}"
        if any(role in ("noise", "batch") for role in self.roles.values()):
            return "traces are computed without gradient noise; this sweep is noisy"
        if "start" in self.roles.values():
            return "this sweep starts from a cloud of points; trace one start with sweep.trace"
        from sweep.plots.report import loss_from_config

        if loss_from_config(self.config) is None:
            return "this sweep's loss is a custom jitted function, which its folder cannot carry"
        return None


def axis_roles(config: dict) -> dict[str, str]:
    """Each axis of a ``sweep.json`` and the kernel input it feeds, from the names the plan
    gives them (``sweep.run.plan``): lr, the starts, the optimizer's hyperparameters, the
    schedule's parameters, grad_noise, batch_size, and the loss's parameters."""
    from sweep.optim.optimizers import OPTIMIZERS
    from sweep.optim.schedules import SCHEDULES

    hyper = {h.name for h in OPTIMIZERS[config["optimizer"]].hyperparameters}
    schedule = {p.name for p in SCHEDULES[config["schedule"]].params}
    weights = config["loss"].get("weights", ["w"])
    starts = dict(zip(config.get("starts", []), weights))
    roles = {}
    for name in config["axes"]:
        if name == "lr":
            roles[name] = "lr"
        elif name == "start":
            roles[name] = "start"
        elif name in starts:
            roles[name] = "w0" if len(weights) == 1 else f"w0:{starts[name]}"
        elif name in hyper:
            roles[name] = f"hyper:{name}"
        elif name in schedule:
            roles[name] = f"schedule:{name}"
        elif name == "grad_noise":
            roles[name] = "noise"
        elif name == "batch_size":
            roles[name] = "batch"
        else:
            roles[name] = f"param:{name}"
    return roles


def open_sweep(folder: str | Path) -> SweepView:
    """Load a complete sweep folder.

    Raises:
        StoreError: when the folder holds no complete, unchanged sweep.
    """
    from sweep.store.results import read_results

    frame, config = read_results(folder)
    axes = {name: np.asarray(values, dtype=float) for name, values in config["axes"].items()}
    return SweepView(Path(folder), frame, config, axes, axis_roles(config))


def default_axes(view: SweepView) -> tuple[str, str | None]:
    """The map's axes when the page asks for none: lr across, the first swept start (or the
    next swept axis) up; no y axis for a sweep that varies one setting only."""
    swept = view.swept or ["lr"]
    x = "lr" if "lr" in swept else swept[0]
    rest = [name for name in swept if name != x]
    starts = [name for name in rest if view.roles[name].startswith("w0") or view.roles[name] == "start"]
    return x, (starts or rest or [None])[0]


def _index_of(values: np.ndarray, wanted: float, name: str) -> int:
    hits = np.flatnonzero(values == wanted)
    if not hits.size:
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if values.size > 6 else "")
        raise ViewError(f"{name}={wanted!r} is not a value of this sweep's {name} axis ({shown})")
    return int(hits[0])


def check_axes(view: SweepView, x: str | None, y: str | None) -> tuple[str, str | None]:
    """The map's axes, defaulted and checked: two different swept axes (y may be None).

    Raises:
        ViewError: naming an unknown or unswept axis, and the swept ones.
    """
    if x is None and y is None:
        return default_axes(view)
    swept = view.swept
    for name in (x, y):
        if name is not None and name not in swept:
            raise ViewError(f"axis {name!r} is not a swept axis of this sweep; choose from {', '.join(swept) or 'none'}")
    if x is None:
        raise ViewError("give the x axis as well as the y axis")
    if x == y:
        raise ViewError(f"the x and y axes must differ, not both {x!r}")
    return x, y


def fixed_settings(view: SweepView, x: str, y: str | None, fixed: dict[str, float] | None) -> dict[str, float]:
    """A value for every swept axis off the map: the given one (checked to be on its axis)
    or the axis' middle value.

    Raises:
        ViewError: for a name that is no other swept axis, or a value not on its axis.
    """
    fixed = dict(fixed or {})
    others = [name for name in view.swept if name not in (x, y)]
    for name in fixed:
        if name not in others:
            raise ViewError(f"{name!r} cannot be fixed here; the settings off the map are {', '.join(others) or 'none'}")
    chosen = {}
    for name in others:
        values = view.axes[name]
        chosen[name] = float(values[_index_of(values, float(fixed[name]), name)]) if name in fixed else float(values[values.size // 2])
    return chosen


def _finite_or_none(values: np.ndarray) -> list:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def _axis_payload(name: str, values: np.ndarray) -> dict:
    from sweep.plots.figures import is_log_axis

    return {"name": name, "values": [float(v) for v in values], "log": is_log_axis(values)}


def maps(frame: pd.DataFrame, axes: dict[str, np.ndarray], x: str, y: str | None, fixed: dict[str, float]) -> dict:
    """The outcome, iterations and final-loss maps of one slice of a runs table.

    Args:
        frame: runs table with a column per axis and ``outcome``, ``n_iter``, ``loss``.
        axes: each axis' values; ``x`` and ``y`` span the map (y None: a single row).
        fixed: a value for every other axis with more than one value.

    Returns:
        JSON-ready dict: ``x``, ``y`` (name, values, log), ``fixed``, and row-major lists of
        ``ny * nx`` cells: ``outcome`` (code into ``outcomes``, None for a missing cell),
        ``n_iter`` and ``loss`` (None where missing or not finite).
    """
    keep = np.ones(len(frame), dtype=bool)
    for name, value in fixed.items():
        if name in frame:  # a grid run with that one value has no column for it
            keep &= frame[name].to_numpy() == value
    part = frame[keep]
    xs = axes[x]
    ys = axes[y] if y is not None else np.zeros(1)
    ix = _positions(xs, part[x].to_numpy())
    iy = np.zeros(len(part), dtype=np.int64) if y is None else _positions(ys, part[y].to_numpy())
    cells = iy * xs.size + ix
    outcome = np.full(xs.size * ys.size, -1, dtype=np.int64)
    n_iter = np.full(xs.size * ys.size, np.nan)
    loss = np.full(xs.size * ys.size, np.nan)
    codes = pd.Categorical(part["outcome"].astype(str), categories=OUTCOMES).codes
    outcome[cells] = codes
    n_iter[cells] = part["n_iter"].to_numpy(dtype=float)
    loss[cells] = part["loss"].to_numpy(dtype=float)
    return {
        "x": _axis_payload(x, xs),
        "y": None if y is None else _axis_payload(y, ys),
        "fixed": fixed,
        "outcomes": list(OUTCOMES),
        "outcome": [int(c) if c >= 0 else None for c in outcome.tolist()],
        "n_iter": _finite_or_none(n_iter),
        "loss": _finite_or_none(loss),
    }


def _positions(values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each wanted value sits on an axis, whatever the axis' order."""
    order = np.argsort(values, kind="stable")
    return order[np.searchsorted(values[order], wanted)]


def sweep_maps(view: SweepView, x: str | None = None, y: str | None = None, fixed: dict[str, float] | None = None) -> dict:
    """The saved sweep's maps over axes x and y (defaults: ``default_axes``), the other swept
    axes held at ``fixed`` (default: their middle values); see ``maps``.

    Raises:
        ViewError: for an unknown axis or a value not on its axis.
    """
    x, y = check_axes(view, x, y)
    chosen = fixed_settings(view, x, y, fixed)
    payload = maps(view.frame, view.axes, x, y, chosen)
    payload["source"] = "saved"
    return payload


def describe(view: SweepView) -> dict:
    """What the page shows about the sweep and the controls it offers: the axes (swept
    ones first), the settings a live recompute may change, and whether runs can be traced."""
    import matplotlib

    from sweep.optim.optimizers import OPTIMIZERS
    from sweep.optim.schedules import SCHEDULES
    from sweep.plots.figures import OUTCOME_COLORS

    c = view.config
    x, y = default_axes(view)
    controls = [{"name": "max_iter", "value": c["max_iter"], "meaning": "most updates a run may take"}]
    swept = set(view.swept)  # a swept setting is chosen in its menu, not typed
    for h in OPTIMIZERS[c["optimizer"]].hyperparameters:
        if h.name in swept:
            continue
        controls.append({"name": h.name, "value": float(view.axes[h.name][view.axes[h.name].size // 2]), "meaning": h.meaning})
    for p in SCHEDULES[c["schedule"]].params:
        if p.name in swept:
            continue
        controls.append({"name": p.name, "value": float(view.axes[p.name][view.axes[p.name].size // 2]), "meaning": p.meaning or f"a parameter of the {c['schedule']} schedule"})
    for name, role in view.roles.items():
        if role.startswith("param:") and name not in swept:
            controls.append({"name": name, "value": float(view.axes[name][view.axes[name].size // 2]), "meaning": "a parameter of the loss"})
    return {
        "folder": view.folder.name,
        "command": c.get("command", ""),
        "loss": c["loss"].get("expression", c["loss"]["name"]),
        "optimizer": c["optimizer"],
        "schedule": c["schedule"],
        "n_runs": int(c["n_runs"]),
        "axes": {name: _axis_payload(name, values) for name, values in view.axes.items() if values.size > 1},
        "settled": {name: float(values[0]) for name, values in view.axes.items() if values.size == 1 and not view.roles[name].startswith("param:")},
        "x": x,
        "y": y,
        "controls": controls,
        "traceable": view.traceable,
        "live": "start" not in view.roles.values(),
        "colors": dict(OUTCOME_COLORS),
        "ramp": [matplotlib.colors.to_hex(rgb) for rgb in matplotlib.colormaps["viridis"](np.linspace(0, 1, 64))],
    }


# --- settings of one run or one small grid, as ``run_sweep`` and ``trace`` take them ---------


def _base_kwargs(view: SweepView) -> dict:
    c = view.config
    kwargs = {"max_iter": int(c["max_iter"]), "tol": float(c["tol"]), "div_factor": float(c["div_factor"]), "optimizer": c["optimizer"], "schedule": c["schedule"]}
    if "dataset" in c["loss"]:
        from sweep.problems.models import DATASETS

        dataset = c["loss"]["dataset"]
        kwargs.update(loss=c["loss"]["name"], dataset=dataset)
        if dataset not in DATASETS:  # a CSV file: its target column is recorded with the command's options
            target = (c.get("options") or {}).get("--target")
            if target is None:
                raise ViewError(f"this sweep's record does not name the target column of {dataset}; it cannot be run again here")
            if not Path(dataset).is_file():
                raise ViewError(f"the data file {dataset!r} of this sweep is not found from here; serve it from the folder the sweep was run in")
            features = tuple(name for name in c["loss"].get("features") or () if name != "intercept")  # the model's own column
            kwargs.update(target=target, features=features or None)
    else:
        from sweep.problems.losses import BUILTIN_LOSSES

        spec = c["loss"]
        if spec["name"] != "formula" and spec["name"] not in BUILTIN_LOSSES:
            raise ViewError("this sweep's loss is a custom jitted function, which its folder cannot carry; it cannot be run again here")
        kwargs["loss"] = spec["formula"] if spec["name"] == "formula" else spec["name"]
        kwargs["params"] = dict(spec.get("params") or {})
    return kwargs


def run_kwargs(view: SweepView, values: dict[str, object], changes: dict[str, float] | None = None) -> dict:
    """``run_sweep`` keyword arguments for the sweep's settings with ``values`` (axis name to
    a value or an array of values) put in place of its axes, and ``changes`` (max_iter, a
    hyperparameter, a schedule or loss parameter) in place of fixed settings.

    Raises:
        ViewError: for a change that names no setting of this sweep.
    """
    kwargs = _base_kwargs(view)
    hyper, schedule_params, params = {}, {}, dict(kwargs.pop("params", {}))
    merged: dict[str, object] = {name: (v[0] if v.size == 1 else v) for name, v in view.axes.items()}
    merged.update(values)
    swept = set(view.swept)
    for name, value in (changes or {}).items():
        if name in swept:
            raise ViewError(f"{name} is swept in this sweep; choose its value in the menu above the maps instead")
        if name == "max_iter":
            if isinstance(value, bool) or not float(value).is_integer() or not 1 <= value <= LIVE_MAX_ITER:
                raise ViewError(f"max_iter={value:g} is not allowed in a live view: give a whole number in 1..{LIVE_MAX_ITER:,} (and at most {LIVE_WORK:.0e} steps in all)")
            kwargs["max_iter"] = int(value)
        elif name in view.roles and (view.roles[name].split(":")[0] in ("hyper", "schedule", "param")):
            merged[name] = float(value)
        else:
            names = ["max_iter", *(n for n, r in view.roles.items() if r.split(":")[0] in ("hyper", "schedule", "param"))]
            raise ViewError(f"{name!r} is not a setting this view can change; it can change {', '.join(names)}")
    starts: dict[str, object] = {}
    for name, value in merged.items():
        role = view.roles[name]
        if role == "lr":
            kwargs["lr"] = value
        elif role == "w0":
            kwargs["w0"] = value
        elif role.startswith("w0:"):
            starts[role[3:]] = value
        elif role.startswith("hyper:"):
            hyper[name] = value
        elif role.startswith("schedule:"):
            schedule_params[name] = value
        elif role.startswith("param:"):
            params[name] = value
        elif role == "noise":
            kwargs["grad_noise"] = value
        elif role == "batch":
            kwargs["batch_size"] = value
    if starts:
        kwargs["w0"] = starts
    if "T" in schedule_params and "max_iter" in (changes or {}) and "T" not in (changes or {}) and float(np.min(view.axes["T"])) == view.config["max_iter"] == float(np.max(view.axes["T"])):
        schedule_params["T"] = float(kwargs["max_iter"])  # T was max_iter by default: it follows it
    kwargs.update(hyper=hyper or None, schedule_params=schedule_params or None)
    if "dataset" not in view.config["loss"]:
        kwargs["params"] = params or None
    if "seed" in view.config:
        kwargs["seed"] = int(view.config["seed"])
    if "target_loss" in view.config:
        kwargs["target_loss"] = float(view.config["target_loss"])
    return kwargs


def live_maps(view: SweepView, x: str | None, y: str | None, fixed: dict[str, float] | None, changes: dict[str, float]) -> dict:
    """The slice's maps recomputed with ``changes`` (see ``run_kwargs``) on a small grid: each
    map axis thinned to at most ``LIVE_AXIS`` values.

    Raises:
        ViewError: for a bad axis, setting or change, a grid that is too much work for a live
            view, or a setting ``run_sweep`` refuses (its message).
    """
    from sweep.errors import SweepError
    from sweep.run.sweeps import run_sweep

    if "start" in view.roles.values():
        raise ViewError("a sweep from a cloud of starts cannot be recomputed live")
    x, y = check_axes(view, x, y)
    chosen = fixed_settings(view, x, y, fixed)
    from sweep.plots.figures import spread

    grid = {x: np.array(spread(view.axes[x], LIVE_AXIS))}
    if y is not None:
        grid[y] = np.array(spread(view.axes[y], LIVE_AXIS))
    cells = math.prod(v.size for v in grid.values())
    kwargs = run_kwargs(view, {**chosen, **grid}, changes)
    flops = view.config["loss"].get("flops_per_step")
    if flops is not None:  # a model: each step reads every sample
        if cells * kwargs["max_iter"] * flops > LIVE_FLOPS:
            most = max(0, int(LIVE_FLOPS // (cells * flops)))
            raise ViewError(f"{cells:,} runs x max_iter {kwargs['max_iter']:,} on {view.config['loss']['dataset']} is too much for a live view (at most {LIVE_FLOPS:.0e} floating-point operations); on this grid max_iter may be at most {most:,}")
    elif cells * kwargs["max_iter"] > LIVE_WORK:
        raise ViewError(f"{cells:,} runs x max_iter {kwargs['max_iter']:,} is too much for a live view (at most {LIVE_WORK:.0e} steps); on this grid max_iter may be at most {int(LIVE_WORK // cells):,}")
    lr = kwargs.pop("lr")
    w0 = kwargs.pop("w0", None)
    try:
        frame = run_sweep(np.atleast_1d(lr), w0 if isinstance(w0, dict) or w0 is None else np.atleast_1d(w0), **kwargs)
    except SweepError as error:
        raise ViewError(str(error)) from None
    axes = {name: grid.get(name, np.atleast_1d(np.asarray(values, dtype=float))) for name, values in view.axes.items()}
    payload = maps(frame, axes, x, y, chosen)
    payload["source"] = "live"
    payload["changes"] = changes
    return payload


def run_story(view: SweepView, settings: dict[str, float], changes: dict[str, float] | None = None) -> dict:
    """One run's trace, computed on demand with ``sweep.trace``: its summary and two PNG
    figures (loss against step; the path on the loss curve, or on the contours of a loss of
    two weights), as data URLs.

    Args:
        settings: a value for every swept axis of the sweep (the map's cell and the fixed
            settings off the map).
        changes: the live view's changed settings, if any (see ``run_kwargs``).

    Raises:
        ViewError: when the sweep's runs cannot be traced, a setting is missing or not a
            number, or ``trace`` refuses a value (its message).
    """
    from sweep.errors import SweepError
    from sweep.run.sweeps import trace

    why = view.traceable
    if why is not None:
        raise ViewError(why)
    missing = [name for name in view.swept if name not in settings]
    unknown = [name for name in settings if name not in view.axes]
    if unknown:
        raise ViewError(f"{unknown[0]!r} is not a setting of this sweep; its axes are {', '.join(view.axes)}")
    if missing:
        raise ViewError(f"a trace needs a value for {', '.join(missing)}")
    for name, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ViewError(f"{name}={value!r} is not allowed: give a finite number")
    kwargs = run_kwargs(view, {name: float(v) for name, v in settings.items()}, changes)
    lr, w0 = kwargs.pop("lr"), kwargs.pop("w0", None)
    try:
        rows = trace(float(lr), w0 if isinstance(w0, dict) or w0 is None else float(w0), **kwargs)
    except SweepError as error:
        raise ViewError(str(error)) from None
    from sweep.problems.losses import make_loss

    loss = make_loss(kwargs["loss"], kwargs["params"])
    outcome = rows.attrs["outcome"]
    n_iter = int(rows["step"].iloc[-1])
    names = list(loss.weight_names)
    final = ", ".join(f"{name} = {rows[name].iloc[-1]:.6g}" for name in names)
    label = ", ".join(f"{name}={value:g}" for name, value in {**settings, **(changes or {})}.items())
    pictures = {}
    for key, draw in (("steps", lambda: _steps_png(rows, label, outcome, loss.best_value())), ("path", lambda: _path_png(rows, loss, names, outcome, float(lr)))):
        try:
            pictures[key] = _data_url(draw())
        except (ValueError, OverflowError, FloatingPointError):  # matplotlib's locators on values near float64's limits
            pictures[key] = None
    return {
        "settings": settings,
        "outcome": outcome,
        "n_iter": n_iter,
        "summary": f"{label}: {outcome} after {n_iter} updates; {final}, loss {rows['loss'].iloc[-1]:.6g}",
        "pictures": pictures,
    }


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _steps_png(rows: pd.DataFrame, label: str, outcome: str, best: float | None) -> bytes:
    from sweep.plots.figures import OUTCOME_COLORS, steps_figure
    from sweep.plots.report import png_bytes

    return png_bytes(steps_figure(rows, title=f"{label}: {outcome}", color=OUTCOME_COLORS.get(outcome, "#495057"), best=best), dpi=90)


def _path_png(rows: pd.DataFrame, loss, names: list[str], outcome: str, lr: float) -> bytes:
    from sweep.plots.figures import contour_paths, paths_figure
    from sweep.plots.report import loss_curve, png_bytes

    if len(names) == 1:
        run = {"lr": lr, "w0": float(rows["w"].iloc[0]), "path": rows["w"].tolist(), "outcome": outcome, "n_iter": int(rows["step"].iloc[-1])}
        return png_bytes(paths_figure([run], loss_curve(loss), loss_text=loss.expression()), dpi=90)
    shown = names[:2]
    path = rows[shown].to_numpy(dtype=float)
    minima = [m[:2] for m in loss.minima] if len(names) == 2 else []
    fn = loss.numeric()
    if len(names) > 2:  # the other weights held at the run's start
        rest = [float(rows[name].iloc[0]) for name in names[2:]]

        def fn2(a, b, _f=fn, _rest=rest):
            return _f(a, b, *_rest)
    else:
        fn2 = fn
    panel = {"title": f"lr = {lr:g}", "runs": [{"path": path, "label": f"from ({path[0, 0]:.3g}, {path[0, 1]:.3g})", "outcome": outcome}]}
    return png_bytes(contour_paths([panel], fn2, names=(shown[0], shown[1]), loss_text=loss.expression(), minima=minima, resolution=160), dpi=90)
