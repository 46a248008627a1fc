"""Results on disk: ``DIR/runs.parquet`` (one row per run) and ``DIR/sweep.json`` (the config).

Files appear whole or not at all: each is written under a temporary name in the same folder
and renamed into place, so an interrupted or failed write leaves no partial file behind.
The configuration is also kept in the Parquet file's metadata (key ``sweep.config``), so a
runs file that travels alone still says what produced it.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

RUNS_FILE = "runs.parquet"
RUNS_DIR = "runs"
CONFIG_FILE = "sweep.json"
CONFIG_KEY = b"sweep.config"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class StoreError(OSError):
    """A results folder that cannot be written or read; the message names the path."""


def prepare_out_dir(out: str | os.PathLike) -> Path:
    """Make sure results can be written to ``out`` before any work is done.

    Creates the folder (and parents) if needed and checks that a file can be created in it.

    Returns:
        The folder as a Path.

    Raises:
        StoreError: if ``out`` is a file, or cannot be created or written (the message names
            the path and the reason).
    """
    path = Path(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise StoreError(f"cannot write results to --out {str(path)!r}: {error.strerror or error}") from None
    return path


@contextmanager
def results_dir(out: str | os.PathLike):
    """``prepare_out_dir`` for the body; if the body fails, a folder this call created is
    removed again when still empty, so a failed command leaves nothing behind."""
    path = Path(out)
    existed = path.exists()
    prepared = prepare_out_dir(path)
    try:
        yield prepared
    except BaseException:
        if not existed and prepared.is_dir() and not any(prepared.iterdir()):
            prepared.rmdir()
        raise


@contextmanager
def atomic_path(target: Path):
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the body succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and
    ``target`` is left as it was.
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private; give it the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON to ``path``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=True) + "\n")


def write_results(frame: pd.DataFrame, out: Path, config: dict) -> tuple[Path, Path]:
    """Write the runs table and the configuration into the folder ``out``.

    Args:
        frame: the table from ``run_sweep`` (any columns; written without its index).
        out: a folder already checked by ``prepare_out_dir``.
        config: JSON-ready configuration, written to ``sweep.json`` and into the Parquet metadata.

    Returns:
        Paths of the runs file and the config file.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[CONFIG_KEY] = json.dumps(config).encode()
    table = table.replace_schema_metadata(metadata)
    runs_path, config_path = out / RUNS_FILE, out / CONFIG_FILE
    with atomic_path(runs_path) as tmp:
        pq.write_table(table, tmp)
    write_json(config_path, config)
    remove_stale(out, keep_runs_file=True)
    return runs_path, config_path


#: Files a report writes: a new sweep's data makes an old folder's copies wrong.
REPORT_FILES = ("report.html", "outcomes.png", "iterations.png", "loss.png", "paths.png", "basins.png", "score.png")


def remove_stale(out: Path, keep_runs_file: bool) -> None:
    """Delete what an earlier sweep left in ``out`` and the new one will not rewrite: its
    report files, and its runs in the other layout (a single file or a folder of parts)."""
    for name in REPORT_FILES:
        (out / name).unlink(missing_ok=True)
    if keep_runs_file:
        for part in (out / RUNS_DIR).glob("part-*.parquet") if (out / RUNS_DIR).is_dir() else ():
            part.unlink()
    else:
        (out / RUNS_FILE).unlink(missing_ok=True)


def read_results(out: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Read what ``write_results`` wrote.

    Returns:
        ``(frame, config)``.

    Raises:
        StoreError: if the folder lacks either file or they cannot be read.
    """
    path = Path(out)
    config = read_config(path)
    parts = sorted((path / RUNS_DIR).glob("part-*.parquet")) if (path / RUNS_DIR).is_dir() else []
    if not (path / RUNS_FILE).is_file() and not parts:
        raise StoreError(f"{str(path)!r} holds no sweep results: {RUNS_FILE} is missing (run 'sweep run --out {path}')")
    if parts and len(parts) != config.get("n_chunks"):
        raise StoreError(f"{str(path)!r} holds {len(parts)} of {config.get('n_chunks')} chunks: finish it with 'sweep run ... --resume {path}'")
    try:
        files = [path / RUNS_FILE] if not parts else parts
        frame = pa.concat_tables([pq.read_table(file) for file in files]).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as error:
        raise StoreError(f"cannot read sweep results in {str(path)!r}: {error}") from None
    _check_runs(frame, path)
    return frame, config


def _check_runs(frame: pd.DataFrame, path: Path) -> None:
    """Refuse a runs table that sweep did not write: missing columns, no rows, bad values."""
    from sweep.outcomes import OUTCOMES

    missing = [name for name in ("lr", "w0", "n_iter", "loss", "outcome") if name not in frame.columns]
    problem = None
    if missing:
        problem = f"it lacks the column {missing[0]!r}"
    elif frame.empty:
        problem = "it has no rows"
    elif not set(frame["outcome"].astype(str).unique()) <= set(OUTCOMES):
        problem = f"its outcomes are not among {', '.join(OUTCOMES)}"
    elif not (np.isfinite(frame["lr"].to_numpy(float)).all() and np.isfinite(frame["w0"].to_numpy(float)).all()):
        problem = "its lr or w0 values are not all finite"
    if problem:
        raise StoreError(f"the runs in {str(path)!r} are not a sweep's: {problem}")


def read_config(out: str | os.PathLike) -> dict:
    """The ``sweep.json`` of a results folder.

    Raises:
        StoreError: if it is missing or not valid JSON.
    """
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise StoreError(f"{str(Path(out))!r} holds no sweep results: {CONFIG_FILE} is missing (run 'sweep run --out {Path(out)}')")
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise StoreError(f"cannot read {str(path)!r}: {error}") from None
    problem = _config_problem(config)
    if problem:
        raise StoreError(f"{str(path)!r} is not a sweep configuration: {problem}")
    return config


def _config_problem(config) -> str | None:
    """What is wrong with a sweep.json's structure, or None."""
    number = (int, float)
    if not isinstance(config, dict):
        return "it is not a JSON object"
    loss, axes = config.get("loss"), config.get("axes")
    if not isinstance(loss, dict) or not all(isinstance(loss.get(key), str) for key in ("name", "formula", "expression")):
        return "'loss' must hold name, formula and expression"
    if not isinstance(loss.get("params", {}), dict) or not all(isinstance(v, number) and not isinstance(v, bool) for v in loss.get("params", {}).values()):
        return "'loss.params' must map names to numbers"
    if not isinstance(axes, dict) or not all(isinstance(axes.get(key), list) and axes[key] and all(isinstance(v, number) for v in axes[key]) for key in ("lr", "w0")):
        return "'axes' must hold non-empty lists lr and w0"
    for key, kind in (("max_iter", int), ("tol", number), ("div_factor", number), ("n_runs", int)):
        if not isinstance(config.get(key), kind) or isinstance(config.get(key), bool):
            return f"{key!r} is missing or not a number"
    return None
