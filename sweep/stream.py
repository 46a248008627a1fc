"""Sweeps larger than memory: chunks written as a Parquet dataset, resumable, on Dask if asked.

The grid's runs are numbered lr-major; chunk i holds runs ``i*chunk_size`` up to the next
chunk, and is written whole (temporary name, then rename) to ``DIR/runs/part-<i>.parquet``.
``DIR/sweep.json`` is written first, with the configuration and the chunk size, so that a
resumed command can check it is asked for the same sweep, then skip the parts that exist.
Every chunk depends on the plan and its range only, so a chunk made by a Dask worker on
another machine is the same, row for row, as one made here.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sweep.api import SweepError, SweepPlan, compile_kernel, run_range, sweep_config, threads, versions
from sweep.models import Model
from sweep.outcomes import OUTCOMES
from sweep.store import CONFIG_FILE, RUNS_DIR, atomic_path, remove_stale, write_json
#: Bytes per run a chunk holds while it runs: inputs, kernel outputs, the table, its encoding.
BYTES_PER_RUN = 320
#: Settings that must match for ``--resume`` to continue a sweep.
RESUME_KEYS = ("optimizer", "loss", "axes", "max_iter", "tol", "div_factor", "chunk_size")


def default_chunk_size(plan: SweepPlan, available: int | None = None) -> int:
    """Runs per chunk: an eighth of the free memory, between 2**16 and 2**22 runs.

    Args:
        plan: the sweep (a model's weight vectors make each run larger).
        available: free bytes (default: psutil's reading of this machine).
    """
    import psutil

    free = psutil.virtual_memory().available if available is None else available
    per_run = BYTES_PER_RUN + (16 * plan.loss.n_weights if isinstance(plan.loss, Model) else 0)
    return int(np.clip(free // 8 // per_run, 2**16, 2**22))


def chunk_bounds(n_runs: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of each chunk, in order; the last may be shorter."""
    if chunk_size < 1:
        raise SweepError(f"chunk_size={chunk_size} is not allowed: it must be at least 1")
    return [(start, min(start + chunk_size, n_runs)) for start in range(0, n_runs, chunk_size)]


def part_path(out: Path, index: int) -> Path:
    """Where chunk ``index`` lives."""
    return out / RUNS_DIR / f"part-{index:06d}.parquet"


def write_chunk(plan: SweepPlan, out: str, index: int, start: int, stop: int, n_threads: int | None = None) -> dict:
    """Run one chunk and write its part file atomically; returns its outcome counts and time.

    The task a Dask worker runs: everything it needs travels in the arguments.
    """
    started = time.perf_counter()
    with threads(n_threads):
        frame = run_range(plan, start, stop)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    target = part_path(Path(out), index)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    counts = frame["outcome"].value_counts()
    return {"index": index, "runs": stop - start, "seconds": time.perf_counter() - started, "counts": {name: int(counts.get(name, 0)) for name in OUTCOMES}}


def _differences(old: dict, new: dict) -> list[str]:
    return [key for key in RESUME_KEYS if json.dumps(old.get(key), sort_keys=True) != json.dumps(new.get(key), sort_keys=True)]


def stream_sweep(
    plan: SweepPlan,
    out: Path,
    *,
    chunk_size: int,
    resume: bool = False,
    scheduler: str | None = None,
    extra_config: dict | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Run a sweep chunk by chunk into ``out/runs/`` (see the module docstring).

    Args:
        plan: the validated sweep. out: a folder checked by ``prepare_out_dir``.
        chunk_size: runs per chunk (>= 1); memory is bounded by it, not by the grid.
        resume: continue the sweep already in ``out``: check its configuration, skip the
            chunks whose part file exists.
        scheduler: None to run here; ``"dask"`` for a local Dask cluster (two processes);
            ``"tcp://HOST:PORT"`` for an existing Dask scheduler.
        extra_config: more JSON-ready settings for ``sweep.json`` (the command line's specs).
        progress: show a progress bar (only when stderr is a terminal).
        log: where one-line messages go.

    Returns:
        The configuration written to ``sweep.json`` at the end (with outcome ``counts``).

    Raises:
        SweepError: resume asked but ``out`` holds no chunked sweep, or holds a different one
            (the message names the settings that differ); a bad chunk size or scheduler.
    """
    config = sweep_config(plan)
    config.update(extra_config or {})
    bounds = chunk_bounds(plan.n_runs, chunk_size)
    config.update(chunk_size=chunk_size, n_chunks=len(bounds), layout=f"{RUNS_DIR}/", status="running", versions=versions())
    config_path = out / CONFIG_FILE
    # Reach the cluster before touching the folder: an unreachable one must change nothing.
    connection = _connect(scheduler) if scheduler is not None else None
    try:
        _prepare_folder(out, config, resume)
    except BaseException:
        _disconnect(connection)
        raise
    todo = [(i, start, stop) for i, (start, stop) in enumerate(bounds) if not part_path(out, i).is_file()]
    if resume:
        log(f"resuming: {len(bounds) - len(todo)} of {len(bounds)} chunks already done")
    started = time.perf_counter()
    results = _run_chunks(plan, out, todo, connection, progress and sys.stderr.isatty())
    counts = {name: 0 for name in OUTCOMES}
    for index in range(len(bounds)):
        # Counts come from the files, so a resumed sweep reports all of them.
        table = pq.read_table(part_path(out, index), columns=["outcome"])
        for name, count in table.column("outcome").to_pandas().value_counts().items():
            counts[str(name)] += int(count)
    config.update(status="complete", counts=counts, wall_seconds=time.perf_counter() - started, seconds=sum(r["seconds"] for r in results))
    write_json(config_path, config)
    return config


def _prepare_folder(out: Path, config: dict, resume: bool) -> None:
    """Check a resumed sweep's folder against the command, or clear a reused one; then
    write the configuration (status "running")."""
    config_path = out / CONFIG_FILE
    if resume:
        if not config_path.is_file():
            raise SweepError(f"--resume {str(out)!r}: no {CONFIG_FILE} there, so nothing to resume")
        old = json.loads(config_path.read_text())
        if "n_chunks" not in old:
            raise SweepError(f"--resume {str(out)!r}: the sweep there ran in one piece and is complete; nothing to resume")
        differ = _differences(old, config)
        if differ:
            raise SweepError(f"--resume {str(out)!r}: the sweep there differs from this command in {', '.join(differ)}; run the same command, or a new --out")
    else:
        # A fresh sweep into an old folder: stale parts of another sweep must not mix in.
        for stale in (out / RUNS_DIR).glob("part-*.parquet") if (out / RUNS_DIR).is_dir() else ():
            stale.unlink()
        remove_stale(out, keep_runs_file=False)
    write_json(config_path, config)


def _disconnect(connection) -> None:
    if connection is not None:
        client, cluster = connection
        client.close()
        if cluster is not None:
            cluster.close()


def _run_chunks(plan, out, todo, connection, show_progress) -> list[dict]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn())
    total = sum(stop - start for _, start, stop in todo)
    results = []
    with Progress(*columns, disable=not show_progress, transient=False) as bar:
        task = bar.add_task("sweep", total=total, rate="")
        began = time.perf_counter()

        def done(result):
            results.append(result)
            finished = sum(r["runs"] for r in results)
            bar.update(task, completed=finished, rate=f"{finished / max(time.perf_counter() - began, 1e-9):,.0f} runs/s")

        if connection is None:
            with threads(plan.n_threads):
                compile_kernel(plan)
                for index, start, stop in todo:
                    done(write_chunk(plan, str(out), index, start, stop))
        else:
            for result in _dask_chunks(plan, out, todo, connection):
                done(result)
    return results


def _connect(scheduler: str):
    """(client, cluster) for a scheduler spec; the cluster is None for an existing one."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("--scheduler needs Dask: pip install 'sweep[dask]'") from None
    if scheduler == "dask":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        return Client(cluster), cluster
    if scheduler.startswith("tcp://"):
        try:
            return Client(scheduler, timeout="10s"), None
        except (OSError, TimeoutError, ValueError) as error:
            raise SweepError(f"--scheduler {scheduler!r}: cannot reach a Dask scheduler there ({error})") from None
    raise SweepError(f"--scheduler {scheduler!r} is not allowed: use 'dask' (a local cluster) or tcp://HOST:PORT")


def _dask_chunks(plan, out, todo, connection):
    from distributed import as_completed

    client, cluster = connection
    try:
        # Each worker uses its own cores' threads: one task per worker thread, Numba inside it.
        per_worker = 1 if cluster is not None else None
        plan_on_cluster = client.scatter(plan, broadcast=True)
        futures = [client.submit(write_chunk, plan_on_cluster, os.fspath(out), index, start, stop, per_worker, key=f"sweep-chunk-{index}", pure=False) for index, start, stop in todo]
        for future in as_completed(futures):
            yield future.result()
    finally:
        _disconnect(connection)


__all__ = ["chunk_bounds", "default_chunk_size", "part_path", "stream_sweep", "write_chunk"]
