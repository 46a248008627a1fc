"""Big results made drawable: runs binned to the figure's resolution, read a batch at a time.

A heatmap of 10**8 cells is neither drawable nor readable. When an axis has more values than
a figure has room for, neighbouring axis values are grouped (``MAX_COLUMNS`` groups of
learning rates, ``MAX_ROWS`` of initial weights) and each cell of the figure summarizes its
group: the majority outcome, the share of each outcome, the mean n_iter and the mean finite
loss. The runs are read from Parquet in record batches, so memory stays bounded by the
figure, not the sweep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from sweep.outcomes import OUTCOMES, to_categorical

MAX_COLUMNS = 400
MAX_ROWS = 300


def needs_aggregation(config: dict, max_columns: int = MAX_COLUMNS, max_rows: int = MAX_ROWS) -> bool:
    """True when the sweep's grid is finer than a figure can show."""
    # Cells are folded on the (lr, w0) plane; a sweep over several weights' starts is drawn run by run.
    if "w0" not in config["axes"]:
        return False
    return len(config["axes"]["lr"]) > max_columns or len(config["axes"]["w0"]) > max_rows


def axis_groups(axis: np.ndarray, max_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Group a sorted axis into at most ``max_groups`` runs of neighbouring values.

    Returns:
        ``(group_of_index, representative)``: the group of each axis position, and each
        group's middle value (used for its position and label on the figure).
    """
    size = int(np.ceil(axis.size / max_groups))
    group_of_index = np.arange(axis.size) // size
    middles = [axis[min(start + size // 2, axis.size - 1)] for start in range(0, axis.size, size)]
    return group_of_index, np.asarray(middles)


def aggregate(files: list[Path], config: dict, max_columns: int = MAX_COLUMNS, max_rows: int = MAX_ROWS, batch_size: int = 1 << 20) -> pd.DataFrame:
    """One row per figure cell, with the columns the figures read.

    Args:
        files: the sweep's runs files, verified (``sweep.store.result_sources``).
        config: its ``sweep.json``.

    Returns:
        DataFrame with ``lr, w0`` (each group's middle value), ``outcome`` (majority),
        ``share_<outcome>`` for each outcome, ``n_iter`` (mean, int32), ``loss`` (mean of the
        finite values), ``runs`` (runs in the cell), and the mean of ``basin``, ``r2`` or
        ``accuracy`` where the sweep has them.
    """
    lr_axis, w0_axis = np.asarray(config["axes"]["lr"]), np.asarray(config["axes"]["w0"])
    lr_group, lr_middle = axis_groups(lr_axis, max_columns)
    w0_group, w0_middle = axis_groups(w0_axis, max_rows)
    n_cells = lr_middle.size * w0_middle.size
    dataset = ds.dataset([str(file) for file in files], format="parquet")
    # (a basin is a choice between minima: its mean over a cell means nothing, so it is left out)
    extra = [name for name in ("r2", "accuracy") if name in dataset.schema.names]
    counts = np.zeros((n_cells, len(OUTCOMES)), np.int64)
    iters = np.zeros(n_cells)
    loss_sum, loss_count = np.zeros(n_cells), np.zeros(n_cells)
    extra_sum = {name: np.zeros(n_cells) for name in extra}
    extra_count = {name: np.zeros(n_cells) for name in extra}
    for batch in dataset.to_batches(columns=["lr", "w0", "n_iter", "loss", "outcome", *extra], batch_size=batch_size):
        lr = batch.column("lr").to_numpy()
        w0 = batch.column("w0").to_numpy()
        cell = lr_group[np.searchsorted(lr_axis, lr)] * w0_middle.size + w0_group[np.searchsorted(w0_axis, w0)]
        outcome = batch.column("outcome")
        names = outcome.dictionary.to_pylist()
        codes = np.array([OUTCOMES.index(name) for name in names])[outcome.indices.to_numpy()]
        np.add.at(counts, (cell, codes), 1)
        iters += np.bincount(cell, weights=batch.column("n_iter").to_numpy().astype(float), minlength=n_cells)
        loss = batch.column("loss").to_numpy()
        finite = np.isfinite(loss) & (codes != OUTCOMES.index("diverged"))
        loss_sum += np.bincount(cell[finite], weights=loss[finite], minlength=n_cells)
        loss_count += np.bincount(cell[finite], minlength=n_cells)
        for name in extra:
            values = batch.column(name).to_numpy(zero_copy_only=False).astype(float)
            seen = np.isfinite(values)
            extra_sum[name] += np.bincount(cell[seen], weights=values[seen], minlength=n_cells)
            extra_count[name] += np.bincount(cell[seen], minlength=n_cells)
    runs = counts.sum(axis=1)
    filled = runs > 0
    frame = pd.DataFrame(
        {
            "lr": np.repeat(lr_middle, w0_middle.size)[filled],
            "w0": np.tile(w0_middle, lr_middle.size)[filled],
            "n_iter": (iters[filled] / runs[filled]).round().astype(np.int32),
            "loss": np.divide(loss_sum, loss_count, out=np.full(n_cells, np.nan), where=loss_count > 0)[filled],
            "runs": runs[filled],
            "outcome": to_categorical(np.argmax(counts, axis=1)[filled]),
        }
    )
    for code, name in enumerate(OUTCOMES):
        frame[f"share_{name}"] = counts[filled, code] / runs[filled]
    for name in extra:
        frame[name] = np.divide(extra_sum[name], extra_count[name], out=np.full(n_cells, np.nan), where=extra_count[name] > 0)[filled]
    return frame


def collapse(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Summarize a runs table over every axis but x and y: one row per (x, y) cell.

    Returns the same columns as ``aggregate``: majority ``outcome``, ``share_<outcome>``,
    ``runs``, mean ``n_iter``, mean finite ``loss``, and mean ``r2`` / ``accuracy``.
    """
    codes = frame["outcome"].cat.codes.to_numpy()
    work = pd.DataFrame({x: frame[x].to_numpy(), y: frame[y].to_numpy(), "n_iter": frame["n_iter"].to_numpy(float)})
    finite = np.isfinite(frame["loss"].to_numpy()) & (codes != OUTCOMES.index("diverged"))
    work["loss"] = np.where(finite, frame["loss"].to_numpy(), np.nan)
    for code, name in enumerate(OUTCOMES):
        work[f"share_{name}"] = (codes == code).astype(float)
    for name in ("r2", "accuracy"):
        if name in frame.columns:
            work[name] = frame[name].to_numpy()
    grouped = work.groupby([x, y], sort=True)
    cells = grouped.mean()
    cells["runs"] = grouped.size()
    cells = cells.reset_index()
    shares = cells[[f"share_{name}" for name in OUTCOMES]].to_numpy()
    cells["outcome"] = to_categorical(np.argmax(shares, axis=1))
    cells["n_iter"] = cells["n_iter"].round().astype(np.int32)
    return cells
