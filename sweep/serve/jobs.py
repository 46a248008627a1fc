"""One worker thread for every computation the server starts, and the jobs it runs.

Numba's parallel kernels must not be launched from two threads at once, so every kernel
call the server makes (images, live grids, traces) runs on this one thread, in order. A
long job (an image) reports progress as its pieces finish; submitting another job of the
same kind cancels it: the job's progress callback raises ``Cancelled`` at its next piece, so
a person who zooms again does not wait for the view they left.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

#: Jobs kept for their results: older ones are forgotten (the page asks for the newest).
KEPT = 8


class Cancelled(Exception):
    """Raised inside a job that a newer job of its kind replaced."""


@dataclass
class Job:
    """One computation: its state as the page polls it.

    Attributes:
        id: a number, unique in this server.
        kind: what it computes (``"image"``); a newer job of the same kind cancels it.
        state: ``"queued"``, ``"running"``, ``"done"``, ``"failed"`` or ``"cancelled"``.
        phase: what it is doing now, in words for the page (``"compiling the kernel"``).
        done, total: pieces finished and pieces in all (0 and 0 before the first report).
        result: what the job returned, once done. error: the one-line message, once failed.
    """

    id: int
    kind: str
    state: str = "queued"
    phase: str = ""
    done: int = 0
    total: int = 0
    result: Any = None
    error: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    future: Future | None = field(default=None, repr=False)

    def progress(self, done: int, total: int) -> None:
        """The progress callback handed to the computation; raises ``Cancelled`` once the
        job was replaced."""
        if self.cancelled.is_set():
            raise Cancelled
        self.done, self.total = int(done), int(total)

    def status(self) -> dict:
        """JSON-ready state for the page (the result is fetched on its own)."""
        return {"id": self.id, "kind": self.kind, "state": self.state, "phase": self.phase, "done": self.done, "total": self.total, "error": self.error}


class Worker:
    """Runs jobs one at a time on a single thread.

    ``errors`` are the exception classes whose message is the job's failure (a bad request
    that only the computation could find); any other exception is a bug and propagates to
    ``wait``'s caller after the job is marked failed.
    """

    def __init__(self, errors: tuple[type[BaseException], ...] = ()):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-serve")
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._errors = errors

    def submit(self, kind: str, compute: Callable[[Job], Any]) -> Job:
        """Queue ``compute(job)``; a running or queued job of the same kind is cancelled."""
        with self._lock:
            for old in self._jobs.values():
                if old.kind == kind and old.state in ("queued", "running"):
                    old.cancelled.set()
            job = Job(next(self._ids), kind)
            self._jobs[job.id] = job
            for stale in sorted(self._jobs)[:-KEPT]:
                del self._jobs[stale]
        job.future = self._pool.submit(self._run, job, compute)
        return job

    def _run(self, job: Job, compute: Callable[[Job], Any]) -> Any:
        if job.cancelled.is_set():
            job.state = "cancelled"
            return None
        job.state = "running"
        try:
            job.result = compute(job)
        except Cancelled:
            job.state = "cancelled"
            return None
        except self._errors as error:
            job.state, job.error = "failed", str(error)
            return None
        except BaseException as error:
            job.state, job.error = "failed", f"internal error: {type(error).__name__}"
            raise
        job.state = "done"
        return job.result

    def run(self, kind: str, compute: Callable[[Job], Any]) -> Job:
        """Submit and wait: for short work (a trace, a live grid) that the page awaits."""
        job = self.submit(kind, compute)
        job.future.result()
        return job

    def get(self, job_id: int) -> Job | None:
        """The job with this id, or None when unknown or forgotten."""
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        """Cancel every job and stop the thread (the server is shutting down)."""
        with self._lock:
            for job in self._jobs.values():
                job.cancelled.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
