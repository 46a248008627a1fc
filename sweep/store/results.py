"""Results on disk: ``DIR/runs.parquet`` or the parts ``DIR/runs/part-*.parquet`` (one row
per run), and ``DIR/sweep.json`` (the configuration).

Every file is written through a claimed ``sweep.store.folder.Folder``: whole or not at all, and
recorded with its size and SHA-256, so that a reader can tell a complete, unchanged result
from a damaged one. The configuration is also kept in the Parquet file's metadata (key
``sweep.config``), so a runs file that travels alone still says what produced it.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sweep.store.folder import PLANNED, Folder, StoreError, read_record, verify
from sweep.store.schema import FORMAT, sweep_config_problem

RUNS_FILE = "runs.parquet"
RUNS_DIR = "runs"
CONFIG_FILE = "sweep.json"
CONFIG_KEY = b"sweep.config"

__all__ = ["CONFIG_FILE", "RUNS_DIR", "RUNS_FILE", "StoreError", "atomic_path", "config_bytes", "part_name", "read_config", "read_results", "runs_bytes", "write_results"]


@contextmanager
def atomic_path(target: Path):
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the body
    succeeds (for files outside a results folder, such as the benchmark's tables).

    On any exception (KeyboardInterrupt included) the temporary file is removed and
    ``target`` is left as it was.
    """
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".sweep-tmp-{target.name}-")
    os.close(fd)
    try:
        yield Path(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def part_name(index: int) -> str:
    """The path of chunk ``index``'s part, relative to the results folder."""
    return f"{RUNS_DIR}/part-{index:06d}.parquet"


#: Where a streamed sweep's chunks put the traces of their traced runs, until the sweep is
#: complete and they are joined into ``traces.parquet``.
TRACE_PARTS_DIR = "trace-parts"


def trace_part_name(index: int) -> str:
    """The path of chunk ``index``'s traces, relative to the results folder."""
    return f"{TRACE_PARTS_DIR}/part-{index:06d}.parquet"


def config_bytes(config: dict) -> bytes:
    """``sweep.json``'s text: the configuration as indented JSON."""
    return (json.dumps(config, indent=2, allow_nan=True) + "\n").encode()


def runs_bytes(frame: pd.DataFrame, config: dict | None = None):
    """A writer (callable taking a path) of the runs table as Parquet, the configuration in
    its metadata; for ``Folder.write``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if config is not None:
        metadata = dict(table.schema.metadata or {})
        metadata[CONFIG_KEY] = json.dumps(config).encode()
        table = table.replace_schema_metadata(metadata)
    return lambda path: pq.write_table(table, path)


TRACES_FILE = "traces.parquet"


def traces_bytes(traces: pd.DataFrame):
    """A writer (callable taking a path) of traced runs in long form as Parquet."""
    table = pa.Table.from_pandas(traces, preserve_index=False)
    return lambda path: pq.write_table(table, path)


def read_traces(out: str | os.PathLike, n_runs: int | None = None) -> pd.DataFrame | None:
    """The traced runs of a results folder (``traces.parquet``), or None if it has none.

    Args:
        out: the folder.
        n_runs: the sweep's run count; when given, every ``run`` must lie in 0..n_runs-1.

    Raises:
        StoreError: if the file differs from what the folder's record says sweep wrote, cannot
            be read as Parquet, or lacks the columns a trace has (``run`` and ``step`` whole
            numbers, ``loss`` and ``sharpness`` numbers).
    """
    path = Path(out) / TRACES_FILE
    if not path.is_file():
        return None
    if verify(Path(out), [TRACES_FILE]):
        raise StoreError(f"{str(path)!r} is not the file sweep wrote there (its size or checksum differs from the folder's record): run the sweep again")
    try:
        traces = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException) as error:
        raise StoreError(f"{str(path)!r} cannot be read: {error}") from None
    for name, kinds in (("run", "iu"), ("step", "iu"), ("loss", "f"), ("sharpness", "f"), ("w", "f")):
        if name == "w" and name not in traces.columns:
            continue  # several weights: one column each
        if name not in traces.columns or traces[name].dtype.kind not in kinds:
            raise StoreError(f"{str(path)!r} is not a trace: its column {name!r} is missing or not {'whole numbers' if kinds == 'iu' else 'numbers'}")
    if n_runs is not None and len(traces) and not (traces["run"].min() >= 0 and traces["run"].max() < n_runs):
        raise StoreError(f"{str(path)!r} names runs outside the sweep's 0..{n_runs - 1}")
    return traces


def write_results(folder: Folder, frame: pd.DataFrame, config: dict, extra: dict[str, bytes] | None = None) -> tuple[Path, Path]:
    """Write a one-piece sweep's table, configuration and report files (``extra``) into a
    claimed folder, all or nothing; what an earlier result left there and this one does not
    rewrite is removed (only files the folder's record lists).

    Returns:
        Paths of the runs file and the config file.

    Raises:
        StoreError: when the files cannot be written (nothing has changed then).
    """
    files = {RUNS_FILE: runs_bytes(frame, config), CONFIG_FILE: config_bytes(config), **(extra or {})}
    folder.write(files)
    folder.keep_only(files)
    return folder.path / RUNS_FILE, folder.path / CONFIG_FILE


def read_config(out: str | os.PathLike) -> dict:
    """The ``sweep.json`` of a results folder, checked (``sweep.store.schema``).

    Raises:
        StoreError: if it is missing, not JSON, or not a sweep configuration (the message
            names the field and what is allowed).
    """
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        if (Path(out) / "fractal.json").is_file():
            raise StoreError(f"{str(Path(out))!r} is a trainability picture (fractal.json), not a sweep: open its report.html, or zoom into it with 'sweep zoom {Path(out)}'")
        raise StoreError(f"{str(Path(out))!r} holds no sweep results: {CONFIG_FILE} is missing (run 'sweep run --out {Path(out)}')")
    try:
        if path.stat().st_size > 256 << 20:
            raise StoreError(f"{str(path)!r} is larger than 256 MB: it is not a sweep configuration")
        config = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as error:
        if isinstance(error, StoreError):
            raise
        raise StoreError(f"cannot read {str(path)!r}: {getattr(error, 'strerror', None) or str(error)[:100]}") from None
    problem = sweep_config_problem(config)
    if problem:
        raise StoreError(f"{str(path)!r} is not a sweep configuration: {problem}")
    return config


def check_format(out: Path, config: dict, action: str) -> None:
    """Refuse a folder written in another file format than this version's.

    Raises:
        StoreError: naming the version that wrote it.
    """
    if config.get("format") != FORMAT:
        wrote = config.get("versions", {}).get("sweep", "an older version")
        raise StoreError(f"{str(out)!r} is in sweep's file format {config.get('format', 1)} (written by sweep {wrote}); this version reads format {FORMAT}: {action}")


def expected_parts(config: dict) -> dict[str, tuple[int, int]]:
    """Each part of a streamed sweep and the rows ``[start, stop)`` it holds."""
    size, n_runs = int(config["chunk_size"]), int(config["n_runs"])
    return {part_name(i): (start, min(start + size, n_runs)) for i, start in enumerate(range(0, n_runs, size))}


def damaged_parts(out: Path, config: dict) -> list[str]:
    """Parts of a streamed sweep that are missing, unfinished, or differ from the record
    (size, SHA-256 or row range): what a resume recomputes and a report refuses."""
    record = read_record(out)
    parts = expected_parts(config)
    bad = set(verify(out, parts, record))
    bad |= {name for name, rows in parts.items() if name in record and record[name].rows != rows}
    return sorted(bad)


def read_results(out: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Read a complete sweep back, verified against its record.

    Returns:
        ``(frame, config)``.

    Raises:
        StoreError: if the folder holds no complete, unchanged result (the message names the
            missing or damaged files).
    """
    path = Path(out)
    config = read_config(path)
    files = _result_files(path, config)
    try:
        frame = pa.concat_tables([pq.read_table(path / name) for name in files]).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as error:
        raise StoreError(f"cannot read sweep results in {str(path)!r}: {str(error).splitlines()[0][:200]}") from None
    _check_runs(frame, path, config)
    return frame, config


def _result_files(path: Path, config: dict) -> list[str]:
    """The runs files of a complete result, verified; refuses what is missing or damaged."""
    check_format(path, config, "read it with that version, or run the sweep again")
    if config.get("status") == "running":
        raise StoreError(f"{str(path)!r} holds an unfinished sweep: finish it with 'sweep run ... --resume {path}'")
    if "n_chunks" in config:
        bad = damaged_parts(path, config)
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            raise StoreError(f"{str(path)!r} has {len(bad)} missing or damaged part{'s' if len(bad) != 1 else ''} ({shown}): recompute them with 'sweep run ... --resume {path}'")
        return list(expected_parts(config))
    bad = verify(path, [RUNS_FILE])
    if bad:
        raise StoreError(f"{str(path)!r}: {RUNS_FILE} is missing or differs from what sweep wrote: run the sweep again")
    return [RUNS_FILE]


def result_sources(out: str | os.PathLike) -> tuple[list[Path], dict]:
    """The verified runs files of a complete result and its configuration, for readers
    that go through them a batch at a time (``sweep.store.aggregate``)."""
    path = Path(out)
    config = read_config(path)
    return [path / name for name in _result_files(path, config)], config


def _check_runs(frame: pd.DataFrame, path: Path, config: dict) -> None:
    """Refuse a runs table that does not fit its configuration: missing columns, another
    row count, bad values."""
    from sweep.outcomes import OUTCOMES

    starts = config.get("starts", ["w0"])
    missing = [name for name in ("lr", *starts, "n_iter", "loss", "outcome") if name not in frame.columns]
    problem = None
    if missing:
        problem = f"it lacks the column {missing[0]!r}"
    elif len(frame) != config["n_runs"]:
        problem = f"it has {len(frame):,} rows, but sweep.json says {config['n_runs']:,} runs"
    elif not set(frame["outcome"].astype(str).unique()) <= set(OUTCOMES):
        problem = f"its outcomes are not among {', '.join(OUTCOMES)}"
    elif not all(np.isfinite(frame[name].to_numpy(float)).all() for name in ("lr", *starts)):
        problem = f"its {' or '.join(('lr', *starts))} values are not all finite"
    if problem:
        raise StoreError(f"the runs in {str(path)!r} are not a sweep's: {problem}")


#: Re-exported for callers that check a planned part.
__all__ += ["PLANNED", "check_format", "damaged_parts", "expected_parts", "result_sources"]
