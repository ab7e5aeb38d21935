"""The JSON API under /api: options, examples, and jobs (create, list, get, events, images, cancel,
delete). Every error is JSON `{"detail": "one line"}` with a 4xx status."""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import FileResponse, StreamingResponse

from ..config import PRESETS, TransferConfig
from ..device import Runtime
from ..errors import ConfigError
from ..images import EXAMPLES, longest_side, resize_longest
from ..memory import largest_planned_side
from ..pipeline import plan_transfer
from ..vgg import min_input_side
from .jobs import JobManager, QueueFull
from .options import REFUSED, editable_defaults, parse_settings, presets
from .settings import ServerSettings
from .store import FINAL, STATUSES, Job
from .uploads import FORMATS, read_image

__all__ = ["job_json", "router"]

router = APIRouter(prefix="/api")

EXAMPLE_TITLES = {
    "tubingen.jpg": ("Tübingen", "photo"),
    "starry_night.jpg": ("Starry Night", "painting"),
    "the_scream.jpg": ("The Scream", "painting"),
    "shipwreck.jpg": ("Shipwreck", "painting"),
}
"""The bundled examples the page offers (see the examples' ATTRIBUTION.md)."""
HEARTBEAT = 15.0
"""Seconds between keep-alive comments on a quiet event stream."""
IMAGES = ("content", "style", "preview", "result")


def manager(request: Request) -> JobManager:
    return request.app.state.manager


def server(request: Request) -> ServerSettings:
    return request.app.state.settings


Manager = Annotated[JobManager, Depends(manager)]
Settings = Annotated[ServerSettings, Depends(server)]


@router.get("/options", summary="Presets, default settings, limits and bundled examples")
def options(request: Request, settings: Settings) -> dict[str, Any]:
    """What the page needs to build its controls; nothing in it is hard-coded in the page."""
    budget, runtime = request.app.state.memory_budget, request.app.state.runtime
    return {
        "presets": presets(),
        "defaults": editable_defaults(),
        "refused": sorted(REFUSED),
        "statuses": list(STATUSES),
        "limits": {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_pixels": settings.max_pixels,
            "max_queue": settings.max_queue,
            "max_iterations": settings.max_iterations,
            "memory_budget_bytes": budget,
            "max_run_pixels": {
                name: _planned_pixels(runtime, TransferConfig.from_preset(name)) for name in PRESETS
            },
            "formats": sorted(set(FORMATS.values())),
        },
        "devices": [str(device) for device in request.app.state.manager.devices],
        "examples": [
            {"name": name, "title": title, "kind": kind, "url": f"/api/examples/{name}"}
            for name, (title, kind) in EXAMPLE_TITLES.items()
        ],
    }


@router.get("/examples/{name}", summary="A bundled example image", response_class=FileResponse)
def example(name: str) -> FileResponse:
    if name not in EXAMPLE_TITLES:
        raise HTTPException(404, f"no example {name!r}: the examples are {', '.join(EXAMPLE_TITLES)}")
    return FileResponse(EXAMPLES / name, media_type="image/jpeg")


@router.post("/jobs", status_code=201, summary="Create a job from a photo, a painting and settings")
def create_job(
    request: Request,
    response: Response,
    jobs: Manager,
    limits: Settings,
    content: Annotated[UploadFile, File(description="the photo")],
    style: Annotated[UploadFile, File(description="the painting")],
    settings: Annotated[str | None, Form(description='JSON object with CLI option names, e.g. {"size": 256}')] = None,
) -> dict[str, Any]:
    """Validate everything first (settings, then the images), then queue the job. (A plain `def`:
    FastAPI runs it in a worker thread, so decoding large images does not hold up the event streams.)

    Errors: 413 a file or image too large, 415 not an image, 422 a bad setting, too many iterations,
    a truncated image or a size that does not fit the memory, 429 the queue is full."""
    config, given = parse_settings(settings)
    if config.iterations > limits.max_iterations:
        raise ConfigError(f"iterations must be at most {limits.max_iterations:,} on this server "
                          f"(impasto serve --max-iterations), got {config.iterations:,}")
    photo = read_image(content, "photo", limits.max_upload_bytes, limits.max_pixels)
    painting = read_image(style, "painting", limits.max_upload_bytes, limits.max_pixels)
    _check_layers(config, photo.size, painting.size)
    _check_pixels(config, photo.size, painting.size)
    config = config.replace(memory_budget=request.app.state.memory_budget)  # the run plans its blocks in it
    photo, painting = resize_longest(photo, config.size), resize_longest(painting, _painting_side(config, config.size))
    # The run's own planner on the run's own image: what it refuses would fail the run (ConfigError, 422).
    plan_transfer(photo, config.replace(device=request.app.state.plan_device or config.device), request.app.state.held)
    try:
        job = jobs.submit(photo, painting, config, given, _display_name(content.filename, "photo"),
                          _display_name(style.filename, "painting"))
    except QueueFull as error:
        raise HTTPException(429, str(error)) from None
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_json(job, jobs)


@router.get("/jobs", summary="Every job, newest first")
def list_jobs(jobs: Manager) -> dict[str, list[dict[str, Any]]]:
    queue = jobs.store.queued_ids()
    return {"jobs": [job_json(job, jobs, queue) for job in jobs.store.all()]}


@router.get("/jobs/{job_id}", summary="One job: status, progress, settings, image URLs")
def get_job(job_id: str, jobs: Manager) -> dict[str, Any]:
    return job_json(_job(jobs, job_id), jobs)


@router.get("/jobs/{job_id}/events", summary="Server-sent events: the job as JSON each time it changes",
            response_class=StreamingResponse)
async def job_events(job_id: str, jobs: Manager) -> StreamingResponse:
    """A `text/event-stream` of the job's JSON (as from GET /api/jobs/{id}), sent on connecting and
    after each change (at most four times a second); it ends once the job is done, failed,
    cancelled or deleted."""
    _job(jobs, job_id)
    return StreamingResponse(_events(jobs, job_id), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _events(jobs: JobManager, job_id: str) -> AsyncIterator[str]:
    with jobs.hub.subscribe(job_id) as changes:
        while (job := jobs.get(job_id)) is not None:
            yield f"data: {json.dumps(job_json(job, jobs))}\n\n"
            if job.status in FINAL:
                return
            try:
                await asyncio.wait_for(changes.get(), HEARTBEAT)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"
            while not changes.empty():  # several changes since the last event: send the latest state once
                changes.get_nowait()
        yield f"event: deleted\ndata: {json.dumps({'id': job_id})}\n\n"


@router.get("/jobs/{job_id}/{image}", summary="An image of the job: content, style, preview or result (PNG)",
            response_class=FileResponse)
def job_image(job_id: str, image: str, jobs: Manager, download: bool = False) -> Response:
    """`result` is the finished image (or the last image of a cancelled or failed run), with the
    run's settings in its metadata; `?download=1` sends it as an attachment."""
    job = _job(jobs, job_id)
    if image not in IMAGES:
        raise HTTPException(404, f"no image {image!r}: choose one of {', '.join(IMAGES)}")
    path = jobs.store.folder(job.id) / f"{image}.png"
    if not path.is_file():
        raise HTTPException(404, f"job {job.id} has no {image} image yet (it is {job.status})")
    if image == "preview":  # replaced as the run goes: send one version whole, not a file that changes size
        return Response(path.read_bytes(), media_type="image/png", headers={"Cache-Control": "no-cache"})
    name = f"{_stem(job.content_name)}_{_stem(job.style_name)}.png" if download else None
    return FileResponse(path, media_type="image/png", filename=name, headers={"Cache-Control": "no-cache"},
                        content_disposition_type="attachment" if download else "inline")


@router.post("/jobs/{job_id}/cancel", summary="Stop a job; a running one keeps its last image")
def cancel_job(job_id: str, jobs: Manager) -> dict[str, Any]:
    job = _job(jobs, job_id)
    if job.status in FINAL:
        raise HTTPException(409, f"job {job.id} is {job.status} already: there is nothing to cancel")
    jobs.cancel(job.id)
    return job_json(_job(jobs, job_id), jobs)


@router.delete("/jobs/{job_id}", status_code=204, summary="Delete a job and its images (stopping it first)")
def delete_job(job_id: str, jobs: Manager) -> Response:
    job = _job(jobs, job_id)
    if not jobs.delete(job.id):
        raise HTTPException(409, f"job {job.id} is still stopping: try again in a few seconds")
    return Response(status_code=204)


def job_json(job: Job, jobs: JobManager, queue: list[str] | None = None) -> dict[str, Any]:
    """The API's view of a job."""
    queue = jobs.store.queued_ids() if queue is None and job.status == "queued" else queue or []
    folder = jobs.store.folder(job.id)
    base = f"/api/jobs/{job.id}"
    live = job.extra
    urls = {name: f"{base}/{name}" for name in IMAGES if (folder / f"{name}.png").is_file()}
    if "preview" in urls:  # a new URL for each preview, so browsers fetch the new image
        urls["preview"] += f"?step={live.get('preview', job.step)}"
    eta = live.get("eta")
    return {
        "id": job.id,
        "status": job.status,
        "error": job.error,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "queue_position": queue.index(job.id) + 1 if job.id in queue else None,
        "step": job.step,
        "total": job.total,
        "loss": job.loss,
        "rate": live.get("rate"),
        "level": live.get("level"),
        "levels": live.get("levels"),
        "eta": eta if eta is not None and math.isfinite(eta) else None,
        "width": job.width,
        "height": job.height,
        "preview_width": live.get("preview_width"),
        "preview_height": live.get("preview_height"),
        "content_name": job.content_name,
        "style_name": job.style_name,
        "settings": job.settings,
        "config": job.config,
        "urls": urls,
        "events_url": f"{base}/events",
    }


def _job(jobs: JobManager, job_id: str) -> Job:
    job = jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}: it never existed or was deleted")
    return job


def _painting_side(config: TransferConfig, side: int) -> int:
    """The painting's longest side when the output's is `side` (as the core sizes it)."""
    return max(1, round(side * config.style_scales(1)[0]))


def _check_layers(config: TransferConfig, photo: tuple[int, int], painting: tuple[int, int]) -> None:
    """Refuse a size too small for the deepest layer at the smallest level of the schedule (a 422
    now rather than a failed job later). An automatic schedule skips levels that are too small."""
    layers = [*(config.content_layers if config.alpha else ()), *(config.style_layers if config.beta else ())]
    needed = min_input_side(layers) if layers else 1
    side = config.stages()[0][0] if config.levels is not None else config.size
    shapes = {"photo": longest_side(photo, side), "painting": longest_side(painting, _painting_side(config, side))}
    for role, (width, height) in shapes.items():
        if min(width, height) < needed:
            way_out = "raise size" if config.levels is None else "raise size or lower levels"
            raise ConfigError(
                f"size {config.size} makes the {role} {width}x{height} px at its smallest, but the layers need at "
                f"least {needed} px on each side: {way_out}"
            )


def _check_pixels(config: TransferConfig, photo: tuple[int, int], painting: tuple[int, int]) -> None:
    """Refuse a size that makes the images, at their working sizes, larger than the run will load
    (`max_pixels`), before they are resized to it."""
    shapes = {"photo": longest_side(photo, config.size),
              "painting": longest_side(painting, _painting_side(config, config.size))}
    for role, (width, height) in shapes.items():
        if width * height > config.max_pixels:
            raise ConfigError(f"size {config.size} makes the {role} {width}x{height} = {width * height:,} pixels, "
                              f"over the limit of {config.max_pixels:,}: lower size")


def _planned_pixels(runtime: Runtime, config: TransferConfig) -> int:
    """The most output pixels the memory planner fits in `runtime`'s budgets (at 4:3, in blocks where needed)."""
    width, height = longest_side((4, 3), largest_planned_side(runtime, (4, 3), config))
    return width * height


def _display_name(filename: str | None, role: str) -> str:
    """The uploaded file's name, shortened and stripped of folders: shown, never used as a path."""
    name = Path((filename or "").replace("\\", "/")).name.strip()
    return (name or role)[:120]


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(name).stem).strip("_")[:40] or "image"
