"""The FastAPI app: the API, the page, error handling, and the job queue's life cycle."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from .. import __version__
from ..config import TransferConfig
from ..device import Runtime, resolve_device
from ..errors import ImpastoError
from ..memory import available_bytes, process_bytes, resolve_runtime
from .api import router
from .decoding import Decoder
from .guard import Framing, Guard
from .jobs import JobManager, disk_full
from .runners import LocalRunner, RayRunner, Runner
from .settings import ServerSettings
from .store import JobStore
from .uploads import BodyLimit

__all__ = ["create_app", "worker_devices"]

log = logging.getLogger("impasto.web")
STATIC = Path(__file__).resolve().parent / "static"
FORM_MARGIN = 1 << 20
"""Bytes allowed in a job's request beyond its two files (the settings, the multipart framing)."""


def worker_devices(name: str) -> list[torch.device]:
    """The devices that get a worker: each CUDA GPU for 'auto' (else the CPU or Apple GPU), or the one named."""
    if name == "auto" and torch.cuda.is_available():
        return [torch.device("cuda", index) for index in range(torch.cuda.device_count())]
    return [resolve_device(name)]


def create_app(settings: ServerSettings) -> FastAPI:
    """The app serving `settings.data_dir`'s jobs; its workers run while the app is started."""
    devices = worker_devices("cpu" if settings.ray else settings.device)
    runner: Runner = RayRunner(settings.ray) if settings.ray else LocalRunner(devices)
    store = JobStore(settings.data_dir, settings.keep_days)
    manager = JobManager(store, runner, settings.max_queue)
    decoder = Decoder(settings.decode_slots, settings.decode_memory_bytes, settings.decode_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The decoders' process starts beside the app (it imports torch): the first upload waits for it.
        threading.Thread(target=decoder.start, name="impasto-decoder", daemon=True).start()
        manager.start()
        try:
            yield
        finally:
            if manager.stop():
                store.close()
            else:  # the worker still writes to the store; the process ends without it
                log.warning("a job did not stop in time: it runs again at the next start")

    app = FastAPI(
        title="impasto",
        version=__version__,
        summary="Neural style transfer (Gatys, Ecker & Bethge, CVPR 2016): upload a photo and a painting, "
        "watch the painting emerge, keep every result.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings, app.state.manager, app.state.decoder = settings, manager, decoder
    app.state.memory_budget = _memory_budget(settings, devices)
    # What the process holds before any job (a running job's memory is its own, and freed when it
    # ends): the held part of every admission's plan, as of each run's on an idle server.
    app.state.held = process_bytes(devices[0])
    app.state.runtime = _runtime(app.state.memory_budget, devices, app.state.held)
    # A job is planned at admission for the device its run plans for: the first worker's (the budget
    # is the least of theirs), or on Ray the job's own, resolved on a node (here, a guess at it).
    app.state.plan_device = None if settings.ray else str(devices[0])
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_api_route("/", lambda: FileResponse(STATIC / "index.html"), include_in_schema=False)
    if settings.token is None:  # a server with a token loads nothing from elsewhere into its origin
        app.add_api_route("/docs", lambda: FileResponse(STATIC / "docs.html"), include_in_schema=False)
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(ImpastoError, _impasto_error)  # type: ignore[arg-type]
    app.add_exception_handler(OSError, _disk_error)  # type: ignore[arg-type]
    app.add_exception_handler(sqlite3.OperationalError, _disk_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)
    largest = max(settings.max_upload_bytes, settings.max_video_bytes)  # the photo's part: an image or a clip
    app.add_middleware(BodyLimit, max_bytes=largest + settings.max_upload_bytes + FORM_MARGIN)
    app.add_middleware(Guard, token=settings.token, allowed_hosts=settings.allowed_hosts,
                       rate_limit=settings.rate_limit)
    if settings.trusted_proxies:  # the Guard sees the client and scheme the proxy names
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    app.add_middleware(Framing)  # outermost: on every answer, refusals too
    return app


def _memory_budget(settings: ServerSettings, devices: list[torch.device]) -> int:
    """Bytes the server's process may hold while a job runs (each run plans within it, less what the
    process holds): the setting, or what the process holds now and the least any worker's device has
    free (with Ray: this machine's memory, a guess at the nodes')."""
    if settings.memory_budget_mb is not None:
        return int(settings.memory_budget_mb * 2**20)
    return min(process_bytes(device) + available_bytes(device) for device in devices)


def _runtime(budget: int, devices: list[torch.device], held: int) -> Runtime:
    """The runtime the page's largest sizes are planned with: the first worker's device, the budget
    less what the process holds (`held`) and a network to load, and on GPUs a share of the host's memory for L-BFGS's
    history (the workers share it; None unless every worker has a GPU)."""
    runtime = resolve_runtime(TransferConfig(device=str(devices[0]), memory_budget=budget), False, held)
    if runtime.host_budget is None or any(device.type != "cuda" for device in devices):
        return dataclasses.replace(runtime, host_budget=None)
    return dataclasses.replace(runtime, host_budget=runtime.host_budget // len(devices))


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    return JSONResponse({"detail": str(error.detail)}, status_code=error.status_code, headers=error.headers)


async def _impasto_error(request: Request, error: ImpastoError) -> JSONResponse:
    """The core's errors here are about the request: a setting or an image."""
    return JSONResponse({"detail": str(error)}, status_code=422)


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """FastAPI's list of problems as one line, e.g. a missing upload."""
    problems = []
    for problem in error.errors():
        location = problem.get("loc") or ("body", "request")
        where, name = str(location[0]), location[-1]
        what = {"body": "form field", "query": "query parameter", "path": "path part"}.get(where, where)
        if problem.get("type") == "missing":
            problems.append(f"the {what} {name!r} is missing")
        elif "UploadFile" in str(problem.get("msg")):
            problems.append(f"the {what} {name!r} must be a file, not text")
        else:
            problems.append(f"the {what} {name!r} is invalid ({problem.get('msg', 'bad value')})")
    detail = "; ".join(problems)
    if request.url.path == "/api/jobs":
        detail += ": send multipart/form-data with the files 'content' and 'style' and an optional JSON 'settings'"
    return JSONResponse({"detail": detail}, status_code=422)


async def _disk_error(request: Request, error: OSError | sqlite3.OperationalError) -> JSONResponse:
    """A full disk (an upload, a job's files or its row being written) is the server's state, not a bug."""
    if disk_full(error):
        log.warning("%s %s: the disk is full (%s)", request.method, request.url.path, error)
        return JSONResponse({"detail": "the server's disk is full: try again once space is freed"}, status_code=507)
    return await _unexpected_error(request, error)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "internal error: see the server's log"}, status_code=500)
