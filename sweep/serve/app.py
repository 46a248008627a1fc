"""The web app of ``sweep serve``: a FastAPI application over the sweep and trainability views.

FastAPI (with Starlette and uvicorn under it) is the maintained stack: it validates request
bodies, routes, serves the page's template and static files, and turns errors into HTTP
answers, so sweep writes none of that. The page is one Jinja2 template (autoescaped) with a
small script that draws the maps on canvases and asks these routes for data:

    GET  /                       the page
    GET  /api/info               what is shown: a sweep or a trainability experiment
    POST /api/sweep/maps         the saved maps of one slice, or a small grid recomputed live
    POST /api/sweep/trace        one run's story, traced on demand
    POST /api/fractal/view       start computing a window of the image (a job)
    GET  /api/jobs/{id}          a job's state and progress
    GET  /api/jobs/{id}/view     a finished image job's picture and dimension
    POST /api/fractal/save       write a finished view as a `sweep fractal` folder

Every bad request gets a 4xx answer ``{"error": "one line"}``; every computation runs on the
one worker thread of ``sweep.serve.jobs``, and the server writes only inside the folder it
was given (saved views, nowhere else).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sweep.errors import UserError
from sweep.fractal import Experiment
from sweep.serve.fractalview import MAX_RESOLUTION, MIN_RESOLUTION, axis_payload, compute_view, save_view, view_payload, windowed
from sweep.serve.jobs import Cancelled, Worker
from sweep.serve.sweepview import SweepView, ViewError, describe, live_maps, run_story, sweep_maps

HERE = Path(__file__).parent
#: Largest request body: the page's requests are a few hundred bytes.
MAX_BODY = 64 * 1024


@dataclass
class Shown:
    """What one server shows: a sweep, or a trainability experiment (its first view), and
    where saved views go (None: nowhere)."""

    sweep: SweepView | None = None
    experiment: Experiment | None = None
    save_root: Path | None = None
    save_note: str = "this server was started without a folder to save views in; start it as: sweep serve DIR --problem ..."


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MapsRequest(_Body):
    x: str | None = None
    y: str | None = None
    fixed: dict[str, float] = Field(default_factory=dict)
    changes: dict[str, float] = Field(default_factory=dict)


class TraceRequest(_Body):
    settings: dict[str, float]
    changes: dict[str, float] = Field(default_factory=dict)


class ViewRequest(_Body):
    x: tuple[float, float]
    y: tuple[float, float]
    resolution: int | None = None


class SaveRequest(_Body):
    job: int


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _first_problem(error: RequestValidationError) -> str:
    """One line for a malformed request body: where, and what was wrong."""
    problems = error.errors()
    if not problems:
        return "malformed request"
    first = problems[0]
    where = ""
    for part in first.get("loc", ()):
        if part == "body":
            continue
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    given = first.get("input")
    shown = f" (got {given!r:.40})" if isinstance(given, (str, int, float)) and not isinstance(given, bool) else ""
    return f"{where or 'the request'}: {first.get('msg', 'not allowed')}{shown}"


def create_app(shown: Shown) -> FastAPI:
    """The application for one sweep or one trainability experiment.

    Args:
        shown: what to serve (``Shown``); exactly one of ``sweep`` and ``experiment`` is set.

    Returns:
        The FastAPI app; its worker thread stops when the app shuts down.
    """
    worker = Worker(errors=(UserError,))

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        worker.close()

    app = FastAPI(title="sweep serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.worker = worker

    @app.exception_handler(RequestValidationError)
    async def malformed(_request: Request, error: RequestValidationError):
        return _error(422, _first_problem(error))

    @app.exception_handler(UserError)
    async def refused(_request: Request, error: UserError):
        return _error(400, str(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException):
        # Starlette's own answers (no such page, wrong method, an unreadable body) in the
        # same one-line form as every other refusal.
        detail = {404: "no such page", 405: "this address does not take that method"}.get(error.status_code, str(error.detail))
        return _error(error.status_code, detail)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
            return _error(413, f"a request body may hold at most {MAX_BODY:,} bytes")
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def page():
        from sweep.serve.page import render_page

        return render_page("sweep" if shown.sweep is not None else "fractal")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.get("/api/info")
    def info():
        if shown.sweep is not None:
            return {"mode": "sweep", **describe(shown.sweep)}
        e = shown.experiment
        return {
            "mode": "fractal",
            "problem": e.problem,
            "x": axis_payload(e.x),
            "y": axis_payload(e.y),
            "resolution": min(e.x.n, MAX_RESOLUTION),
            "resolutions": [MIN_RESOLUTION, MAX_RESOLUTION],
            "can_save": shown.save_root is not None,
            "save_note": shown.save_note,
            "save_root": str(shown.save_root) if shown.save_root is not None else None,
        }

    def _sweep() -> SweepView:
        if shown.sweep is None:
            raise ViewError("this server shows a trainability image, not a sweep")
        return shown.sweep

    @app.post("/api/sweep/maps")
    def sweep_maps_route(request: MapsRequest):
        view = _sweep()
        if not request.changes:
            return sweep_maps(view, request.x, request.y, request.fixed)
        job = worker.run("live", lambda _job: live_maps(view, request.x, request.y, request.fixed, request.changes))
        return _finished(job)

    @app.post("/api/sweep/trace")
    def trace_route(request: TraceRequest):
        view = _sweep()
        job = worker.run("trace", lambda _job: run_story(view, request.settings, request.changes))
        return _finished(job)

    def _finished(job):
        if job.state == "failed":
            return _error(400, job.error)
        if job.state == "cancelled":
            return _error(409, "replaced by a newer request")
        return job.result

    @app.post("/api/fractal/view", status_code=202)
    def view_route(request: ViewRequest):
        if shown.experiment is None:
            raise ViewError("this server shows a sweep, not a trainability image")
        experiment = windowed(shown.experiment, request.x, request.y, request.resolution)

        def compute(job):
            started = time.perf_counter()

            def phase(text):
                job.phase = text
                if job.cancelled.is_set():
                    raise Cancelled

            picture = compute_view(experiment, job.progress, phase)
            payload = view_payload(picture)
            # The first view of a problem pays the compile: say so, beside the training time.
            payload["compile_seconds"] = round(max(0.0, time.perf_counter() - started - picture.seconds), 3)
            return {"picture": picture, "payload": payload}

        return worker.submit("image", compute).status()

    @app.get("/api/jobs/{job_id}")
    def job_route(job_id: int):
        job = worker.get(job_id)
        if job is None:
            return _error(404, f"no job {job_id}: it finished long ago or never started")
        return job.status()

    @app.get("/api/jobs/{job_id}/view")
    def job_view_route(job_id: int):
        job = worker.get(job_id)
        if job is None or job.kind != "image":
            return _error(404, f"no image job {job_id}")
        if job.state != "done":
            return _error(409, f"job {job_id} is {job.state}" + (f": {job.error}" if job.error else ""))
        return job.result["payload"]

    @app.post("/api/fractal/save")
    def save_route(request: SaveRequest):
        if shown.save_root is None:
            return _error(409, shown.save_note)
        job = worker.get(request.job)
        if job is None or job.kind != "image" or job.state != "done":
            return _error(404, f"no finished image job {request.job} to save")
        if "saved" in job.result:
            return {"folder": job.result["saved"], "dimension": job.result["picture"].dimension.text(), "again": True}
        picture = job.result["picture"]
        e = picture.experiment
        command = f"sweep serve (saved view of {e.problem}: {e.x.name} {e.x.lo!r}:{e.x.hi!r}, {e.y.name} {e.y.lo!r}:{e.y.hi!r})"
        # Drawn and written here, not on the worker: a save never waits behind an image.
        folder = save_view(shown.save_root, picture, command)
        job.result["saved"] = str(folder)
        return {"folder": str(folder), "dimension": picture.dimension.text(), "again": False}

    return app
