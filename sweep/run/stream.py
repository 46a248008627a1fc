"""Sweeps larger than memory: chunks written as a Parquet dataset, resumable, on Dask if asked.

The grid's runs are numbered lr-major; chunk i holds runs ``i*chunk_size`` up to the next
chunk, and is written whole (temporary name, then rename) to ``DIR/runs/part-<i>.parquet``.
``DIR/sweep.json`` is written first, with the configuration and the chunk size, and the
folder's record lists every part before it is written; as each part is finished, its size,
SHA-256 and row range are recorded. A resumed command checks it is asked for the same sweep
in the same file format, verifies every finished part against the record, and recomputes
what is missing or damaged. Every chunk depends on the plan and its range only, so a chunk
made by a Dask worker on another machine is the same, row for row, as one made here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sweep.errors import SweepError
from sweep.outcomes import OUTCOMES
from sweep.problems.models import Model
from sweep.run.executor import compile_kernel, run_range, sweep_config, threads, trace_runs, versions
from sweep.run.plan import Plan as SweepPlan
from sweep.store.folder import TEMP_PREFIX, Folder, StoreError, disk_errors, file_digest
from sweep.store.results import CONFIG_FILE, TRACE_PARTS_DIR, TRACES_FILE, check_format, config_bytes, damaged_parts, expected_parts, part_name, read_config, runs_bytes, trace_part_name, traces_bytes
from sweep.store.schema import FORMAT

#: Bytes per run a chunk holds while it runs: inputs, kernel outputs, the table, its encoding.
BYTES_PER_RUN = 320
#: Parquet bytes per run, with room to spare (the teaching grid's file holds 23).
DISK_BYTES_PER_RUN = 40
#: What a resumed sweep must share with the parts already written (and its traces).
RESUME_KEYS = ("optimizer", "schedule", "dynamics", "loss", "axes", "max_iter", "tol", "div_factor", "chunk_size", "seed", "target_loss", "trace", "points")


def default_chunk_size(plan: SweepPlan, available: int | None = None) -> int:
    """Runs per chunk: an eighth of the free memory, between 2**16 and 2**22 runs.

    Args:
        plan: the sweep (a model's weight vectors make each run larger).
        available: free bytes (default: psutil's reading of this machine).
    """
    import psutil

    free = psutil.virtual_memory().available if available is None else available
    per_run = BYTES_PER_RUN + (16 * plan.problem.n_weights if isinstance(plan.problem, Model) else 0)
    return int(np.clip(free // 8 // per_run, 2**16, 2**22))


def chunk_bounds(n_runs: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each chunk, in order; the last may be shorter."""
    if chunk_size < 1:
        raise SweepError(f"chunk_size={chunk_size} is not allowed: it must be at least 1")
    return [(start, min(start + chunk_size, n_runs)) for start in range(0, n_runs, chunk_size)]


def part_path(out: Path, index: int) -> Path:
    """Where chunk ``index`` lives."""
    return Path(out) / part_name(index)


def write_chunk(plan: SweepPlan, out: str, index: int, start: int, stop: int, n_threads: int | None = None) -> dict:
    """Run one chunk and write its part file atomically: the task a Dask worker runs, with
    everything it needs in the arguments.

    Returns:
        ``name`` (the part's path in the folder), ``rows``, ``size`` and ``sha256`` of the
        file (for the folder's record), outcome ``counts``, ``seconds`` in the kernel and
        ``compile_seconds`` (compiling or loading the kernel in this process, the same for
        every chunk the process runs) and ``process`` (host and process id, so that the
        sweep's record counts each process's compile once); for a chunk that holds traced
        runs, ``trace``: the ``name``, ``size`` and ``sha256`` of their traces' part.
    """
    traced = traced_in(plan, start, stop)
    with threads(n_threads):
        compile_seconds = compile_kernel(plan)
        started = time.perf_counter()
        frame = run_range(plan, start, stop)
        seconds = time.perf_counter() - started
        traces = trace_runs(plan, traced) if traced.size else None
    # The traces first: a chunk whose runs are recorded has its traces on disk too.
    trace = _write_part(Path(out) / trace_part_name(index), traces_bytes(traces)) if traces is not None else None
    size, digest = _write_part(part_path(Path(out), index), runs_bytes(frame))
    counts = frame["outcome"].value_counts()
    return {
        "name": part_name(index),
        "rows": (start, stop),
        "size": size,
        "sha256": digest,
        "seconds": seconds,
        "compile_seconds": compile_seconds,
        "process": f"{socket.gethostname()}:{os.getpid()}",
        "counts": {name: int(counts.get(name, 0)) for name in OUTCOMES},
        **({"trace": {"name": trace_part_name(index), "size": trace[0], "sha256": trace[1]}} if trace else {}),
    }


def traced_in(plan: SweepPlan, start: int, stop: int) -> np.ndarray:
    """The traced runs among runs ``start..stop-1`` (sorted run numbers, int64)."""
    if plan.traced is None:
        return np.empty(0, np.int64)
    return plan.traced[(plan.traced >= start) & (plan.traced < stop)]


def _write_part(target: Path, write) -> tuple[int, str]:
    """Write a file through ``write(path)`` under a temporary name, then rename it into place;
    returns its size and SHA-256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{TEMP_PREFIX}{target.name}-{os.getpid()}"
    try:
        with disk_errors(target):
            write(tmp)
            size, digest = file_digest(tmp)
            os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size, digest


def _differences(old: dict, new: dict) -> list[str]:
    """The RESUME_KEYS in which a folder's configuration (as read back from sweep.json) and
    this command's differ."""
    return [key for key in RESUME_KEYS if _as_stored(old.get(key)) != _as_stored(new.get(key))]


def _as_stored(value) -> str:
    # Through JSON first: a table keyed by numbers (kappa 1, 2, 10) has string keys once read
    # back, and "10.0" sorts before "2.0" where 10.0 sorts after 2.0.
    return json.dumps(json.loads(json.dumps(value)), sort_keys=True)


def stream_sweep(
    plan: SweepPlan,
    folder: Folder | str | os.PathLike,
    *,
    chunk_size: int,
    resume: bool = False,
    scheduler: str | None = None,
    extra_config: dict | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Run a sweep chunk by chunk into ``folder/runs/`` (see the module docstring).

    Args:
        plan: the validated sweep.
        folder: a folder claimed with ``sweep.store.folder.claim``, or a path to claim here.
        chunk_size: runs per chunk (>= 1); memory is bounded by it, not by the grid.
        resume: continue the sweep already in the folder: check its configuration and
            format, verify the finished parts, recompute the missing or damaged ones.
        scheduler: None to run here; ``"dask"`` for a local Dask cluster (two processes);
            ``"tcp://HOST:PORT"`` for an existing Dask scheduler, whose workers must see the
            folder at the same absolute path.
        extra_config: more JSON-ready settings for ``sweep.json`` (the command line's specs).
        progress: show a progress bar (only when stderr is a terminal).
        log: where one-line messages go.

    Returns:
        The configuration written to ``sweep.json`` at the end (with outcome ``counts``).

    Raises:
        SweepError: resume asked but the folder holds no chunked sweep, or a different one
            (the message names the settings that differ); a bad chunk size or scheduler; the
            Dask cluster was lost (the finished chunks are kept).
        StoreError: the folder's files are of another format, or cannot be written (a full
            disk: the finished chunks are kept).
    """
    if not isinstance(folder, Folder):
        from sweep.store.folder import claim

        with claim(folder, command="sweep.run.stream.stream_sweep") as claimed:
            return stream_sweep(plan, claimed, chunk_size=chunk_size, resume=resume, scheduler=scheduler, extra_config=extra_config, progress=progress, log=log)
    out = folder.path
    config = sweep_config(plan)
    config.update(extra_config or {})
    bounds = chunk_bounds(plan.n_runs, chunk_size)
    config.update(format=FORMAT, chunk_size=chunk_size, n_chunks=len(bounds), status="running", versions=versions())
    todo_names = _todo(plan, folder, config, resume)
    if resume:
        log(f"resuming: {len(bounds) - len(todo_names)} of {len(bounds)} chunks already done")
    if resume:
        check_disk(sum(stop - start for i, (start, stop) in enumerate(bounds) if part_name(i) in todo_names), out, "still to write ")
    # Reach the cluster before writing: an unreachable one must change nothing.
    connection = _connect(scheduler) if scheduler is not None else None
    try:
        folder.write({CONFIG_FILE: config_bytes(config)})
        todo = [(i, start, stop) for i, (start, stop) in enumerate(bounds) if part_name(i) in todo_names]
        folder.plan({part_name(i): (start, stop) for i, start, stop in todo})
        folder.plan({trace_part_name(i): (start, stop) for i, start, stop in todo if traced_in(plan, start, stop).size})
        (out / "runs").mkdir(exist_ok=True)
        started = time.perf_counter()
        results = _run_chunks(plan, folder, todo, connection, progress and sys.stderr.isatty())
    finally:
        _disconnect(connection)
    counts = {name: 0 for name in OUTCOMES}
    for name in expected_parts(config):
        # Counts come from the files, so a resumed sweep reports all of them.
        table = pq.read_table(out / name, columns=["outcome"])
        for outcome, count in table.column("outcome").to_pandas().value_counts().items():
            counts[str(outcome)] += int(count)
    if plan.traced is not None:
        # Each chunk wrote its traced runs' traces with its runs; joined here, in run order.
        folder.write({TRACES_FILE: traces_bytes(_joined_traces(plan, out, bounds))})
        folder.remove([name for name in list(folder.record) if name.startswith(TRACE_PARTS_DIR + "/")])
    else:
        folder.remove([TRACES_FILE])  # an earlier sweep's traces, if this folder had them
    config.update(
        status="complete",
        counts=counts,
        wall_seconds=time.perf_counter() - started,
        seconds=sum(r["seconds"] for r in results),
        compile_seconds=sum({r["process"]: r["compile_seconds"] for r in results}.values()),
    )
    folder.write({CONFIG_FILE: config_bytes(config)})
    return config


def _trace_parts(plan: SweepPlan, bounds) -> dict[str, str]:
    """Trace part -> runs part, for each chunk that holds traced runs."""
    return {trace_part_name(i): part_name(i) for i, (start, stop) in enumerate(bounds) if traced_in(plan, start, stop).size}


def _joined_traces(plan: SweepPlan, out: Path, bounds):
    """Every chunk's traces, verified against the folder's record, in one table."""
    import pandas as pd

    from sweep.store.folder import verify

    names = list(_trace_parts(plan, bounds))
    bad = verify(out, names)
    if bad:
        raise StoreError(f"the traces {bad[0]} in {str(out)!r} differ from what sweep wrote there: finish the sweep again with --resume {out}")
    return pd.concat([pq.read_table(out / name).to_pandas() for name in names], ignore_index=True)


def _todo(plan: SweepPlan, folder: Folder, config: dict, resume: bool) -> set[str]:
    """The parts still to compute: all of them for a new sweep (after removing what an
    earlier result left in the folder), the missing or damaged ones for a resumed one."""
    out = folder.path
    parts = expected_parts(config)
    if not resume:
        folder.keep_only([])
        return set(parts)
    if not (out / CONFIG_FILE).is_file():
        raise SweepError(f"--resume {str(out)!r}: no {CONFIG_FILE} there, so nothing to resume")
    old = read_config(out)
    check_format(out, old, "finish it with that version, or start a new --out")
    if "n_chunks" not in old:
        raise SweepError(f"--resume {str(out)!r}: the sweep there ran in one piece and is complete; nothing to resume")
    differ = _differences(old, config)
    if differ:
        raise SweepError(f"--resume {str(out)!r}: the sweep there differs from this command in {', '.join(differ)}; run the same command, or a new --out")
    bad = set(damaged_parts(out, config))
    # A chunk whose traces are missing or damaged is run again, traces and all.
    from sweep.store.folder import verify

    traces = _trace_parts(plan, chunk_bounds(plan.n_runs, int(config["chunk_size"])))
    bad |= {traces[name] for name in verify(out, traces)}
    expected = _part_schema(plan)
    for name in sorted(set(parts) - bad):
        if pq.read_schema(out / name).remove_metadata() != expected:
            raise StoreError(f"--resume {str(out)!r}: {name} has other columns than this version writes; start a new --out")
    return bad


def _part_schema(plan: SweepPlan):
    """The schema of a part as this version writes it (through Parquet and back, as a reader
    sees it)."""
    import io

    import pyarrow as pa

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(run_range(plan, 0, 1), preserve_index=False), buffer)
    buffer.seek(0)
    return pq.read_schema(buffer).remove_metadata()


def check_disk(n_runs: int, out: Path, still: str = "", extra_bytes: int = 0, what: str = "") -> None:
    """Refuse runs whose files would not fit on the disk of ``out`` (or of its nearest
    existing parent): for a resumed sweep, only the parts still to write count. ``extra_bytes``
    more (``what``: the traces, at their uncompressed size) are checked the same way."""
    place = Path(out)
    while not place.exists():
        place = place.parent
    free = shutil.disk_usage(place).free
    need = n_runs * DISK_BYTES_PER_RUN + extra_bytes
    if need > free:
        subject = what or f"{n_runs:,} runs {still}"
        raise SweepError(
            f"{subject.rstrip()} need about {need / 1e9:,.1f} GB in {str(out)!r}, more than the "
            f"{free / 1e9:,.1f} GB free there; free some space, narrow the axes, or point --out at a larger disk"
        )


def _disconnect(connection) -> None:
    if connection is not None:
        client, cluster = connection
        try:
            client.close()
            if cluster is not None:
                cluster.close()
        except Exception:  # noqa: BLE001 (a lost cluster cannot be closed cleanly; nothing is left to do)
            pass


def _run_chunks(plan, folder: Folder, todo, connection, show_progress) -> list[dict]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    total = sum(stop - start for _, start, stop in todo)
    results = []
    # Progress goes to stderr (the terminal), never into a redirected stdout.
    with Progress(*columns, console=Console(stderr=True), disable=not show_progress, transient=False) as bar:
        task = bar.add_task("sweep", total=total, rate="")
        began = time.perf_counter()

        def done(result):
            if "trace" in result:
                trace = result["trace"]
                folder.note(trace["name"], trace["size"], trace["sha256"], tuple(result["rows"]))
            folder.note(result["name"], result["size"], result["sha256"], tuple(result["rows"]))
            results.append(result)
            finished = sum(r["rows"][1] - r["rows"][0] for r in results)
            bar.update(task, completed=finished, rate=f"{finished / max(time.perf_counter() - began, 1e-9):,.0f} runs/s")

        if connection is None:
            for index, start, stop in todo:
                done(write_chunk(plan, os.fspath(folder.path), index, start, stop, plan.n_threads))
        else:
            for result in _dask_chunks(plan, folder.path, todo, connection):
                done(result)
    return results


def _connect(scheduler: str):
    """(client, cluster) for a scheduler spec; the cluster is None for an existing one."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("--scheduler needs Dask: pip install 'sweep[dask]'") from None
    import logging

    # A lost connection is reported in one line below; Dask's own log would add tracebacks.
    for name in ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    if scheduler == "dask":
        # silence_logs reaches the worker processes, where the loop above does not: without
        # it Ctrl-C printed their warnings about cancelled chunks beside the one-line error.
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.CRITICAL)
        return Client(cluster), cluster
    if scheduler.startswith("tcp://"):
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError, ValueError) as error:
            raise SweepError(f"--scheduler {scheduler!r}: cannot reach a Dask scheduler there ({error})") from None
    raise SweepError(f"--scheduler {scheduler!r} is not allowed: use 'dask' (a local cluster) or tcp://HOST:PORT")


def _dask_chunks(plan, out: Path, todo, connection):
    from concurrent.futures import CancelledError

    from distributed import as_completed
    from distributed.comm.core import CommClosedError

    client, cluster = connection
    # Each worker uses its own cores' threads: one task per worker thread, Numba inside it.
    per_worker = 1 if cluster is not None else None
    try:
        plan_on_cluster = client.scatter(plan, broadcast=True)
        futures = [client.submit(write_chunk, plan_on_cluster, os.fspath(out), index, start, stop, per_worker, key=f"sweep-chunk-{index}", pure=False) for index, start, stop in todo]
        for future in as_completed(futures):
            yield future.result()
    except (SweepError, StoreError):
        raise
    except (OSError, TimeoutError, CancelledError, CommClosedError) as error:
        reason = (str(error).splitlines() or [""])[0][:80]
        raise SweepError(
            f"lost the Dask cluster ({type(error).__name__}: {reason}); the finished chunks are kept in {str(out)!r}: "
            f"finish with the same command and --resume {out} (here, or on a cluster)"
        ) from None


__all__ = ["chunk_bounds", "default_chunk_size", "part_path", "stream_sweep", "write_chunk"]
