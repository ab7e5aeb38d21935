"""The JSON API under /api: options, examples, and jobs of three kinds, stills, clips and comparisons
(create, list, get, events, files, keep a variant, cancel, delete). Every error is JSON
`{"detail": "one line"}` with a 4xx status (507 for a full disk)."""

from __future__ import annotations

import asyncio
import io
import json
import math
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from PIL import Image

from ..config import PRESETS, TransferConfig
from ..device import Runtime
from ..errors import ConfigError
from ..images import EXAMPLES, longest_side, resize_longest
from ..memory import largest_planned_side
from ..pipeline import plan_transfer
from ..vgg import min_input_side
from ..video.config import MAX_SIDE, MODES, TRAIN_STEPS_BASE, TRAIN_STEPS_MAX, TRAIN_STEPS_PER_FRAME, VideoConfig
from .jobs import JobManager, QueueFull
from .options import (
    COMPARE_STRENGTHS,
    MAX_VARIANTS,
    REFUSED,
    VIDEO_SETTINGS,
    JobSettings,
    editable_defaults,
    parse_settings,
    presets,
)
from .schema import JobList, JobView, errors
from .settings import ServerSettings
from .store import FINAL, KINDS, STATUSES, Job
from .uploads import CLIP_TYPES, CLIPS, FORMATS, Clip, read_content, read_image, staged

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
"""The PNG files every kind of job may have (a clip's result is its MP4)."""
CHECKPOINT_BYTES = 17 * 2**20
"""Bytes of the network's checkpoint that a clip's work dir gains in `mode` 'keyframes' (network.pt:
the 1.37 M float32 parameters of `propagate.PaintNet` and Adam's two moments of each, 16.5 MB)."""
SETTINGS_HELP = ('JSON object with the CLI\'s option names, e.g. {"size": 256, "preset": "fast"}. A clip also takes '
                 f"those of impasto video ({', '.join(VIDEO_SETTINGS)}); \"strengths\": [0.25, 0.5, 0.75] makes a "
                 f"comparison of a photo (2 to {MAX_VARIANTS} strengths)")


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
        "kinds": list(KINDS),
        "video": {name: value for name, value in VideoConfig().to_dict().items() if name in VIDEO_SETTINGS},
        "video_modes": list(MODES),
        "default_train_steps": {"base": TRAIN_STEPS_BASE, "per_frame": TRAIN_STEPS_PER_FRAME, "max": TRAIN_STEPS_MAX},
        "compare_strengths": list(COMPARE_STRENGTHS),
        "limits": {
            "max_upload_bytes": settings.max_upload_bytes,
            "max_video_bytes": settings.max_video_bytes,
            "max_frames": settings.max_frames,
            "max_pixels": settings.max_pixels,
            "max_queue": settings.max_queue,
            "max_iterations": settings.max_iterations,
            "max_train_steps": settings.max_train_steps,
            "memory_budget_bytes": budget,
            "max_run_pixels": {
                name: _planned_pixels(runtime, TransferConfig.from_preset(name)) for name in PRESETS
            },
            "formats": sorted(set(FORMATS.values())),
            "clip_formats": CLIPS,
        },
        "devices": [str(device) for device in request.app.state.manager.devices],
        "docs": "/docs" if settings.token is None else None,
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


@router.post("/jobs", status_code=201, response_model=JobView, responses=errors(413, 415, 422, 429, 507),
             summary="Create a job: a photo or a clip, a painting and settings")
def create_job(
    request: Request,
    response: Response,
    jobs: Manager,
    limits: Settings,
    content: Annotated[UploadFile, File(description=f"the photo (an image), or a clip ({CLIPS})")],
    style: Annotated[UploadFile, File(description="the painting")],
    settings: Annotated[str | None, Form(description=SETTINGS_HELP)] = None,
) -> dict[str, Any]:
    """Validate everything first (settings, then the files), then queue the job: a `video` job if
    `content` is a clip (judged by its content), a `compare` job if the settings give `strengths`,
    else a `still`. (A plain `def`: FastAPI runs it in a worker thread, so decoding large images
    does not hold up the event streams.)

    Errors: 413 a file, image or clip too large (bytes, pixels, frames), 415 neither an image nor a
    clip, 422 a bad setting, too many iterations, a damaged file or a size that does not fit the
    memory, 429 the queue is full, 507 the server's disk is full."""
    given = parse_settings(settings)
    _check_iterations("iterations", given.config.iterations, limits)
    client = request.client.host if request.client else "unknown"
    _check_client_queue(jobs, client, limits)
    decoder, side = request.app.state.decoder, given.config.size
    with staged(jobs.store.root) as folder:
        photo = read_content(content, limits, folder, given.video, decoder, side)
        given.check_kind(isinstance(photo, Clip))
        if isinstance(photo, Clip):
            _check_iterations("later_iterations", given.video.later_iterations, limits)
            _check_iterations("refine", given.video.refine, limits)
            _check_train_steps(given.video, photo.frames, limits)
            side = given.video.size or MAX_SIDE  # the frames' longest side, at most
        painting = read_image(style, "painting", limits, folder, decoder, _painting_side(given.config, side))
        job = _submit(request, jobs, given, photo, painting, _display_name(content.filename, "photo"),
                      _display_name(style.filename, "painting"), client)
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_json(job, jobs)


def _check_iterations(name: str, value: int, limits: ServerSettings) -> None:
    if value > limits.max_iterations:
        raise ConfigError(f"{name} must be at most {limits.max_iterations:,} on this server "
                          f"(impasto serve --max-iterations), got {value:,}")


def _check_train_steps(video: VideoConfig, frames: int, limits: ServerSettings) -> None:
    """Refuse a network that would train longer than the server allows: `train_steps` as given (in
    either mode), or in `mode` 'keyframes' the default for the clip's `frames`."""
    steps = video.steps_for(frames) if video.mode == "keyframes" else video.train_steps
    if steps is None or steps <= limits.max_train_steps:
        return
    if video.train_steps is None:
        raise ConfigError(f"the network's default training for {frames:,} frames is {steps:,} steps, over the "
                          f"{limits.max_train_steps:,} this server allows (impasto serve --max-train-steps): give "
                          f"train_steps")
    raise ConfigError(f"train_steps must be at most {limits.max_train_steps:,} on this server "
                      f"(impasto serve --max-train-steps), got {steps:,}")


def _check_client_queue(jobs: JobManager, client: str, limits: ServerSettings) -> None:
    """Refuse a client that has as many jobs waiting or running as one may (before its uploads are decoded)."""
    waiting = jobs.store.usage(client)[1]
    if waiting >= limits.client_queue:
        raise HTTPException(429, f"{waiting} jobs from your address are waiting or running, the most one address "
                                 f"may have on this server (impasto serve --client-queue): wait for one to end")


def _check_disk(jobs: JobManager, client: str, planned: int, limits: ServerSettings) -> None:
    """Refuse a job whose files (at most `planned` bytes) would take the data dir, or the client's
    jobs, over their quota."""
    used, mine = jobs.store.usage()[0], jobs.store.usage(client)[0]
    if used + planned > limits.max_disk_bytes:
        raise HTTPException(507, f"this job may need {_gib(planned)}, and the server's jobs hold {_gib(used)} of "
                                 f"the {_gib(limits.max_disk_bytes)} they may (impasto serve --max-disk): try "
                                 f"again once older jobs are deleted or expire")
    if mine + planned > limits.client_disk_bytes:
        raise HTTPException(507, f"this job may need {_gib(planned)}, and your jobs hold {_gib(mine)} of the "
                                 f"{_gib(limits.client_disk_bytes)} one address may (impasto serve "
                                 f"--client-disk-mb): delete some of them")


def _gib(count: int) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def _planned_bytes(kind: str, shape: tuple[int, int], painting: tuple[int, int], files: dict[str, Path],
                   count: int, video: VideoConfig) -> int:
    """The most a job's folder comes to: its inputs at their working sizes, its uploaded clip, and
    what its run writes (a still's preview and result, a comparison's `count` variants, a clip's
    work dir for its `count` frames, the network's checkpoint in `mode` 'keyframes', and its video),
    each image at 3 bytes a pixel (PNG's deflate makes them smaller)."""
    pixels = shape[0] * shape[1]
    inputs = 3 * (pixels + painting[0] * painting[1]) + sum(path.stat().st_size for path in files.values())
    if kind == "video":
        network = CHECKPOINT_BYTES if video.mode == "keyframes" else 0
        return inputs + video.work_bytes(count, shape) + network + count * pixels  # H.264 at crf 18: under a byte a px
    return inputs + 3 * pixels * (2 + (count if kind == "compare" else 0))


def _submit(request: Request, jobs: JobManager, given: JobSettings, photo: Image.Image | Clip,
            painting: Image.Image, content_name: str, style_name: str, client: str) -> Job:
    """Check the sizes against the layers, the pixel limit, the memory and the disk, and queue the job."""
    # The run decodes no image (nor a clip's frame) larger than the server takes.
    config = given.config.replace(max_pixels=min(given.config.max_pixels, request.app.state.settings.max_pixels))
    fields, files, held = dict[str, Any](), dict[str, Path](), request.app.state.held
    shape = photo.size if isinstance(photo, Image.Image) else (photo.width, photo.height)
    if isinstance(photo, Clip):
        from ..video.run import frame_size  # impasto[video] is there: the clip was probed with it

        shape = frame_size(shape, given.video)
        config = config.replace(size=max(shape))
        frames = photo.frames * given.video.passes
        fields = {"kind": "video", "video": given.video.to_dict(), "total": frames}
        files = {photo.path.name: photo.path}
        held += given.video.target_bytes(shape)  # a later frame holds its temporal targets besides its run
    elif given.strengths is not None:
        fields = {"kind": "compare", "total": config.iterations * len(given.strengths),
                  "variants": [{"strength": strength, "status": "queued", "step": 0} for strength in given.strengths]}
    _check_layers(config, shape, painting.size)
    _check_pixels(config, shape, painting.size)
    config = config.replace(memory_budget=request.app.state.memory_budget)  # the run plans its blocks in it
    if isinstance(photo, Clip):
        photo = photo.first.resize(shape, Image.Resampling.LANCZOS)
    photo, painting = resize_longest(photo, config.size), resize_longest(painting, _painting_side(config, config.size))
    # The run's own planner on the run's own image: what it refuses would fail the run (ConfigError, 422).
    plan_transfer(photo, config.replace(device=request.app.state.plan_device or config.device), held)
    fields = {"total": config.iterations, **fields}
    kind = fields.get("kind", "still")
    count = fields["total"] // given.video.passes if kind == "video" else len(given.strengths or ())
    planned = _planned_bytes(kind, photo.size, painting.size, files, count, given.video)
    _check_disk(jobs, client, planned, request.app.state.settings)
    try:
        return jobs.submit(photo, painting, files, settings=given.given, config=config.to_dict(),
                           content_name=content_name, style_name=style_name, client=client, bytes=planned, **fields)
    except QueueFull as error:
        raise HTTPException(429, str(error)) from None


@router.get("/jobs", response_model=JobList, summary="Every job, newest first")
def list_jobs(jobs: Manager) -> dict[str, list[dict[str, Any]]]:
    queue = jobs.store.queued_ids()
    return {"jobs": [job_json(job, jobs, queue) for job in jobs.store.all()]}


@router.get("/jobs/{job_id}", response_model=JobView, responses=errors(404),
            summary="One job: status, progress, settings, file URLs")
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


@router.get("/jobs/{job_id}/all.zip", responses={**errors(404, 409), 200: {"content": {"application/zip": {}}}},
            response_class=Response, summary="A comparison's variants, each a PNG with its settings, as a ZIP")
def job_archive(job_id: str, jobs: Manager) -> Response:
    job = _job(jobs, job_id)
    if job.kind != "compare":
        raise HTTPException(409, f"job {job.id} is a {job.kind} job: only a comparison has variants to download")
    folder, buffer = jobs.store.folder(job.id), io.BytesIO()
    done = [f"variant-{index}" for index, variant in enumerate(job.variants or [], 1) if variant["status"] == "done"]
    if not done:
        raise HTTPException(404, f"job {job.id} has no finished variant yet (it is {job.status})")
    with zipfile.ZipFile(buffer, "w") as archive:  # stored: PNGs are compressed already
        for name in done:
            archive.write(folder / f"{name}.png", _download_name(job, name))
    name = f"{_stem(job.content_name)}_{_stem(job.style_name)}_strengths.zip"
    return Response(buffer.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/jobs/{job_id}/{name}", response_class=FileResponse, responses=errors(404),
            summary="A file of the job: content, style, preview, result, clip, variant-N")
def job_file(job_id: str, name: str, jobs: Manager, download: bool = False) -> Response:
    """`content` (the photo at its working size; a clip's first frame), `style`, `preview` (the
    latest image of the run; a clip's latest finished frame), `result` (the finished image with the
    run's settings in its metadata, or the last image of a cancelled or failed run; a clip's MP4; a
    comparison's kept variant), `clip` (the uploaded clip) and `variant-N` (a comparison's Nth
    strength); `?download=1` sends it as an attachment."""
    job = _job(jobs, job_id)
    path, media_type = _file(jobs, job, name)
    if not path.is_file():
        what = "clip" if name == "clip" else f"{name} {'video' if path.suffix == '.mp4' else 'image'}"
        raise HTTPException(404, f"job {job.id} has no {what} yet (it is {job.status})")
    if name == "preview" or (name.startswith("variant-") and job.status == "running"):
        # Replaced as the run goes: send one version whole, not a file that changes size.
        return Response(path.read_bytes(), media_type=media_type, headers={"Cache-Control": "no-cache"})
    return FileResponse(path, media_type=media_type,
                        filename=_download_name(job, name, path.suffix) if download else None,
                        headers={"Cache-Control": "no-cache"},
                        content_disposition_type="attachment" if download else "inline")


def _file(jobs: JobManager, job: Job, name: str) -> tuple[Path, str]:
    """The path and media type of the job's file `name`."""
    folder = jobs.store.folder(job.id)
    names = [*IMAGES, *(["clip"] if job.kind == "video" else []),
             *(f"variant-{index}" for index in range(1, len(job.variants or []) + 1))]
    if name not in names:
        raise HTTPException(404, f"no file {name!r} of this {job.kind} job: choose one of {', '.join(names)}")
    if name == "clip":
        clips = list(folder.glob("clip.*"))
        return (clips[0], CLIP_TYPES[clips[0].suffix]) if clips else (folder / "clip", "video/mp4")
    if name == "result" and job.kind == "video":
        return folder / "result.mp4", "video/mp4"
    return folder / f"{name}.png", "image/png"


def _download_name(job: Job, name: str, suffix: str = ".png") -> str:
    """photo_painting.png, clip_painting.mp4, clip_painting_clip.webm, photo_painting_strength-0.25.png;
    `suffix`: the file's own."""
    stem = f"{_stem(job.content_name)}_{_stem(job.style_name)}"
    if job.kind == "video":
        return f"{stem}.mp4" if name == "result" else f"{stem}_{name}{suffix}"
    index = int(name.split("-")[1]) if name.startswith("variant-") else job.kept if name == "result" else None
    if index is not None and job.variants:
        return f"{stem}_strength-{job.variants[index - 1]['strength']:g}.png"
    return f"{stem}.png" if name == "result" else f"{stem}_{name}.png"


@router.post("/jobs/{job_id}/keep", response_model=JobView, responses=errors(404, 409),
             summary="Keep a comparison's variant as its result")
def keep_variant(job_id: str, jobs: Manager, variant: int) -> dict[str, Any]:
    """`?variant=N` (1-based, in the order of the strengths): its image becomes the job's `result`."""
    job = _job(jobs, job_id)
    if job.kind != "compare" or not job.variants:
        raise HTTPException(409, f"job {job.id} is a {job.kind} job: only a comparison has variants to keep")
    if not 1 <= variant <= len(job.variants):
        raise HTTPException(404, f"job {job.id} has variants 1 to {len(job.variants)}, not {variant}")
    if job.variants[variant - 1]["status"] != "done":
        raise HTTPException(409, f"variant {variant} of job {job.id} is {job.variants[variant - 1]['status']}: "
                                 f"keep a finished one")
    jobs.keep(job.id, variant)
    return job_json(_job(jobs, job_id), jobs)


@router.post("/jobs/{job_id}/cancel", response_model=JobView, responses=errors(404, 409),
             summary="Stop a job; a running one keeps its last image (a clip: its finished frames)")
def cancel_job(job_id: str, jobs: Manager) -> dict[str, Any]:
    job = _job(jobs, job_id)
    if job.status in FINAL:
        raise HTTPException(409, f"job {job.id} is {job.status} already: there is nothing to cancel")
    jobs.cancel(job.id)
    return job_json(_job(jobs, job_id), jobs)


@router.delete("/jobs/{job_id}", status_code=204, responses=errors(404, 409),
               summary="Delete a job and all its files (stopping it first)")
def delete_job(job_id: str, jobs: Manager) -> Response:
    job = _job(jobs, job_id)
    if not jobs.delete(job.id):
        raise HTTPException(409, f"job {job.id} is still stopping: try again in a few seconds")
    return Response(status_code=204)


def job_json(job: Job, jobs: JobManager, queue: list[str] | None = None) -> dict[str, Any]:
    """The API's view of a job (schema.JobView)."""
    queue = jobs.store.queued_ids() if queue is None and job.status == "queued" else queue or []
    folder = jobs.store.folder(job.id)
    base = f"/api/jobs/{job.id}"
    live = job.extra
    names = [*IMAGES, "clip"] if job.kind == "video" else IMAGES
    urls = {name: f"{base}/{name}" for name in names if _file(jobs, job, name)[0].is_file()}
    if "preview" in urls:  # a new URL for each preview, so browsers fetch the new image
        urls["preview"] += f"?step={live.get('preview', job.step)}"
    variants = None
    if job.variants is not None:
        variants = [{**variant, "total": job.config["iterations"],
                     "url": f"{base}/variant-{index}?step={variant['step']}"
                     if (folder / f"variant-{index}.png").is_file() else None}
                    for index, variant in enumerate(job.variants, 1)]
        if any(variant["status"] == "done" for variant in job.variants):
            urls["all"] = f"{base}/all.zip"
    eta = live.get("eta")
    return {
        "id": job.id,
        "kind": job.kind,
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
        "frame": live.get("frame"),
        "frames": live.get("frames"),
        "frame_step": live.get("frame_step"),
        "frame_total": live.get("frame_total"),
        "stage": live.get("stage"),
        "train_step": live.get("train_step"),
        "train_steps": live.get("train_steps"),
        "train_eta": live.get("train_eta"),
        "fps": live.get("fps"),
        "content_name": job.content_name,
        "style_name": job.style_name,
        "settings": job.settings,
        "config": job.config,
        "video": job.video,
        "variants": variants,
        "kept": job.kept,
        "expires": job.expires,
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
