"""The API's answers as Pydantic models: what the OpenAPI schema at /openapi.json (and /docs) shows of
each kind of job, and of errors. The API builds plain dicts; FastAPI checks them against these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["ERRORS", "Error", "JobList", "JobView", "Variant", "errors"]


class Error(BaseModel):
    """Every error: one line naming the problem and the way out."""

    detail: str = Field(examples=["the photo clip is over the video limit of 100 MiB (impasto serve --max-video-mb): "
                                  "shorten or downscale it"])


ERRORS = {
    404: "No such job, or no such file of it (yet)",
    409: "The job is in the wrong state for this (finished, not a comparison, still stopping)",
    413: "A file over --max-upload-mb or --max-video-mb, an image or a frame over --max-pixels, or a clip of more "
         "frames than --max-frames",
    415: "Neither an accepted image nor a clip, judged by the file's content",
    422: "A bad setting, an empty, truncated or corrupt file, or a size the layers or the memory cannot take",
    429: "The queue is full, or too many new jobs from one address",
    507: "The server's disk is full",
}
"""Statuses the API answers with an `Error`, and when."""


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route that answers `codes` with an `Error`."""
    return {code: {"model": Error, "description": ERRORS[code]} for code in codes}


class Variant(BaseModel):
    """One strength of a comparison."""

    strength: float
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    step: int = Field(description="Iterations done")
    total: int = Field(description="Iterations planned")
    url: str | None = Field(description="Its image (PNG; the live preview while it runs), once there is one")


class JobView(BaseModel):
    """A job of one of three kinds: `still` (a photo in the style of a painting), `video` (a clip,
    frame by frame) or `compare` (a photo at several strengths)."""

    id: str
    kind: Literal["still", "video", "compare"]
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    error: str | None = Field(description="Why it failed, in one line")
    created: float
    started: float | None
    finished: float | None
    queue_position: int | None = Field(description="1 = next to run")
    step: int = Field(description="Iterations done (a clip: frames finished; a comparison: over all its variants)")
    total: int = Field(description="Iterations planned (a clip: frames to paint, times its passes)")
    loss: float | None
    rate: float | None = Field(description="Iterations per second of the current run")
    level: int | None = Field(description="Level of the coarse-to-fine schedule now running")
    levels: int | None
    eta: float | None = Field(description="Seconds left (a clip: over all its frames, and in mode keyframes the "
                                          "network's training; null until it can be estimated)")
    width: int = Field(description="Output width in px (a clip: the frames')")
    height: int
    preview_width: int | None
    preview_height: int | None
    frame: int | None = Field(None, description="A clip: the frame being painted (1-based, over its passes)")
    frames: int | None = Field(None, description="A clip: frames to paint, times its passes")
    frame_step: int | None = Field(None, description="A clip: the current frame's iteration")
    frame_total: int | None = Field(None, description="A clip: the current frame's iterations")
    stage: Literal["frame", "training"] | None = Field(
        None, description="A clip: 'frame', or 'training' while the network of mode keyframes trains")
    train_step: int | None = Field(None, description="A clip in mode keyframes: the network's training step")
    train_steps: int | None = Field(None, description="A clip in mode keyframes: the network's training steps")
    train_eta: float | None = Field(None, description="A clip in mode keyframes: seconds of training left")
    fps: float | None = Field(None, description="A clip: frames painted a second so far (after the first frame)")
    content_name: str = Field(description="The uploaded photo's (or clip's) file name, as given: shown, never a path")
    style_name: str
    settings: dict[str, Any] = Field(description="The settings as given, with canonical names")
    config: dict[str, Any] = Field(description="Each run's full TransferConfig, with its seed")
    video: dict[str, Any] | None = Field(description="A clip: its VideoConfig")
    variants: list[Variant] | None = Field(description="A comparison: one per strength, in the order asked for")
    kept: int | None = Field(description="A comparison: the 1-based variant kept as its result")
    expires: float | None = Field(description="When the job and its files are removed (impasto serve --keep-days); "
                                  "null while it waits or runs, or if the server keeps jobs for ever")
    urls: dict[str, str] = Field(description="Its files that exist now, by name: content (the photo, a clip's first "
                                 "frame), style, preview, result (PNG; a clip's: MP4), clip (the uploaded clip), "
                                 "all (a comparison's variants as a ZIP)")
    events_url: str


class JobList(BaseModel):
    jobs: list[JobView] = Field(description="Newest first")
