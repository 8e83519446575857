"""The playground's web app: one page, its scripts, and a JSON API over the library.

Everything the page needs is served here (plotly.js from the installed plotly package, the page's
own script and style sheet), so it works with no network. Every answer is JSON; every refusal is
``{"error": "<what is wrong>"}`` with a 4xx status: 422 for a bad or too-big request (unknown
optimizer or surface, bad hyperparameter or expression, a limit passed), 429 or 503 when the
server is busy. A bug is a 500 with the same shape and no traceback.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from plotly.offline import get_plotlyjs, get_plotlyjs_version
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from optiscope.errors import OptiscopeError
from optiscope.optimizers import list_entries
from optiscope.serve.compute import (
    basins_payload,
    check_payload,
    paths_payload,
    stream_paths,
    surface_payload,
    trace_payload,
)
from optiscope.serve.export import command_line, experiment_yaml
from optiscope.serve.limits import LimitExceeded, ServeLimits, ServerBusy
from optiscope.serve.requests import (
    BasinsBody,
    CheckBody,
    ExportBody,
    PathsBody,
    SurfaceBody,
    TraceBody,
    basins_job,
    export_job,
    paths_job,
    surface_of,
    trace_job,
)
from optiscope.serve.runner import EngineRunner
from optiscope.surfaces import list_surfaces
from optiscope.validated import pydantic_message

__all__ = ["create_app", "plotly_script_name"]

_LOG = logging.getLogger("optiscope.serve")
_STATIC = resources.files("optiscope.serve") / "static"
_PAGE_FILES = {
    "playground.js": "text/javascript",
    "controls.js": "text/javascript",
    "plots.js": "text/javascript",
    "playground.css": "text/css",
}
_CACHED = {"Cache-Control": "public, max-age=86400"}


def plotly_script_name() -> str:
    """``plotly-<plotly.js version>.min.js``: where the page loads plotly.js from (under /static/)."""
    return f"plotly-{get_plotlyjs_version()}.min.js"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_body(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
        return _error(422, f"{where}: {pydantic_message(first)}")

    @app.exception_handler(ServerBusy)
    async def busy(_: Request, error: ServerBusy) -> JSONResponse:
        return _error(error.status, str(error))

    @app.exception_handler(OptiscopeError)
    async def refused(_: Request, error: OptiscopeError) -> JSONResponse:
        return _error(422, str(error).replace("\n", " "))

    @app.exception_handler(ImportError)
    async def missing_package(_: Request, error: ImportError) -> JSONResponse:
        return _error(422, _missing_package_message(error))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(Exception)
    async def bug(_: Request, error: Exception) -> JSONResponse:
        _LOG.exception("internal error")
        return _error(500, f"internal error ({type(error).__name__}): {error}")


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, allow_nan=False)}\n\n".encode()


def _missing_package_message(error: ImportError) -> str:
    """An optimizer that needs a package this server lacks (pytorch-optimizer's ``demo`` wants
    ``einops``): the request cannot run here, which is not a bug."""
    return f"this server lacks a package the request needs: {error}"


def _error_event(error: BaseException) -> bytes:
    if isinstance(error, OptiscopeError):
        status = error.status if isinstance(error, ServerBusy) else 422
        return _sse("error", {"error": str(error), "status": status})
    if isinstance(error, ImportError):
        return _sse("error", {"error": _missing_package_message(error), "status": 422})
    _LOG.error("internal error in a streamed run", exc_info=error)
    return _sse("error", {"error": f"internal error ({type(error).__name__}): {error}", "status": 500})


def create_app(limits: ServeLimits | None = None) -> FastAPI:
    """The playground app (serve it with uvicorn; test it with FastAPI's TestClient).

    Args:
        limits: what one request may ask for; default :class:`ServeLimits`.
    """
    limits = limits or ServeLimits()
    runner = EngineRunner(limits)
    app = FastAPI(title="optiscope playground", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.limits, app.state.runner = limits, runner
    _install_error_handlers(app)
    plotly_name = plotly_script_name()
    page = (_STATIC / "index.html").read_text(encoding="utf-8").replace("{{PLOTLY_JS}}", plotly_name)
    listings: dict[str, bytes] = {}

    def listing(name: str, rows: Any) -> Response:
        if name not in listings:
            listings[name] = json.dumps(rows(), default=str).encode()
        return Response(listings[name], media_type="application/json")

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/static/{name}")
    async def static(name: str) -> Response:
        if name == plotly_name:
            return Response(get_plotlyjs(), media_type="text/javascript", headers=_CACHED)
        if name not in _PAGE_FILES:
            return _error(404, f"no static file {name!r}")
        return Response((_STATIC / name).read_bytes(), media_type=_PAGE_FILES[name])

    @app.get("/api/limits")
    async def get_limits() -> JSONResponse:
        return JSONResponse(limits.describe())

    @app.get("/api/optimizers")
    async def optimizers() -> Response:
        return listing("optimizers", lambda: [entry.describe() for entry in list_entries()])

    @app.get("/api/surfaces")
    async def surfaces() -> Response:
        return listing("surfaces", lambda: [surface.describe() for surface in list_surfaces()])

    @app.get("/api/surface")
    async def surface_grid(surface: str, noise: str | None = None, resolution: int = 100) -> JSONResponse:
        body = SurfaceBody.model_validate({"surface": surface, "noise": noise})
        limits.check_count("resolution", resolution, "max_resolution")
        if resolution < 2:
            raise LimitExceeded(f"resolution must be at least 2, got {resolution}")
        return JSONResponse(await run_in_threadpool(lambda: surface_payload(surface_of(body), resolution)))

    @app.post("/api/check")
    async def check(body: CheckBody) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(check_payload, body.optimizer))

    @app.post("/api/paths")
    async def paths(body: PathsBody) -> JSONResponse:
        job = paths_job(body, limits)
        return JSONResponse(await runner.run(lambda watch: paths_payload(job, watch)))

    @app.post("/api/paths/stream")
    async def paths_stream(body: PathsBody) -> StreamingResponse:
        job = paths_job(body, limits)
        events = runner.stream(lambda watch: stream_paths(job, watch))

        async def encoded() -> Any:
            async for item in events:
                yield _error_event(item) if isinstance(item, BaseException) else _sse(*item)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(encoded(), media_type="text/event-stream", headers=headers)

    @app.post("/api/basins")
    async def basins(body: BasinsBody) -> JSONResponse:
        job = basins_job(body, limits)
        return JSONResponse(await runner.run(lambda watch: basins_payload(job, watch)))

    @app.post("/api/trace")
    async def trace(body: TraceBody) -> JSONResponse:
        job = trace_job(body, limits)
        return JSONResponse(await runner.run(lambda watch: trace_payload(job, watch)))

    @app.post("/api/export")
    async def export(body: ExportBody) -> JSONResponse:
        job = export_job(body, limits)
        return JSONResponse({"command": command_line(job), "yaml": experiment_yaml(job)})

    return app
