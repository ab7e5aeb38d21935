"""What a worker does with each kind of job (store.KINDS), from its claim to its end: done, cancelled,
failed, or back to the queue when the server stops.

- **still**: one transfer; its result, or the last image of a stopped or failed run, is result.png.
- **video**: `stylize_video` on the clip with the job's work dir, so a job that the server's stop
  (or death) interrupted continues from its finished frames; the preview is the latest finished
  frame; a cancelled or failed job keeps its finished frames as a shorter video.
- **compare**: one transfer per strength (the runner decides how many at once); each variant's
  image is variant-N.png, replaced by its live preview as it runs; a job interrupted by a stop runs
  only its unfinished variants again.

A progress callback answers 'stop now?' with True once the job is cancelled or the server stops.
"""

from __future__ import annotations

import logging
import math
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import TransferConfig
from ..errors import ImpastoError, Interrupted, OptimizationError
from ..files import atomic_file
from ..images import save_image
from ..optimize import Progress, ProgressCallback
from ..pipeline import Result, run_metadata
from ..video.config import VideoConfig
from .runners import Outcome, Runner
from .store import Job, JobStore

if TYPE_CHECKING:  # impasto[video] is imported when a clip's job runs
    from ..video.run import FrameCallback, FrameProgress

__all__ = ["PREVIEW_EVERY", "REPORT_EVERY", "Running", "run_job"]

log = logging.getLogger("impasto.web")

PREVIEW_EVERY = 0.5
"""Seconds between preview images."""
REPORT_EVERY = 0.25
"""Seconds between progress events."""
RECENT_FRAMES = 5
"""A clip's time left counts on the mean of this many last frames."""


@dataclass
class Running:
    """A claimed job as its run sees it: its folder, its live figures, whether to stop, and how it ends."""

    job: Job
    store: JobStore
    cancel: threading.Event
    """Set when the job is cancelled."""
    stopping: threading.Event
    """Set when the server stops."""
    live: dict[str, Any]
    """Figures not worth storing (rate, ETA, preview version), shared with the API under `lock`."""
    lock: threading.Lock
    publish: Callable[[], None]
    """Tells the job's event streams that it changed."""

    @property
    def folder(self) -> Path:
        return self.store.folder(self.job.id)

    def should_stop(self) -> bool:
        return self.cancel.is_set() or self.stopping.is_set()

    def show(self, **figures: Any) -> None:
        with self.lock:
            self.live.update(figures)

    def report(self, **stored: Any) -> None:
        self.store.update(self.job.id, **stored)
        self.publish()

    def finish(self, status: str, error: str | None = None) -> None:
        self.store.finish(self.job.id, status, error)
        log.info("job %s: %s%s", self.job.id, status, f": {error}" if error else "")

    def stopped_by_the_server(self, error: BaseException) -> bool:
        """Whether `error` is the server's stop (not the user's): the job then goes back to the queue,
        to run again (or continue) at the next start."""
        if not isinstance(error, Interrupted) or self.cancel.is_set():
            return False
        self.store.update(self.job.id, status="queued", attempts=self.job.attempts - 1)
        log.info("job %s: stopped by the server's shutdown; queued to run again", self.job.id)
        return True


def run_job(running: Running, runner: Runner, slot: str) -> None:
    """Run one claimed job to its end."""
    log.info("job %s: %s job running on %s", running.job.id, running.job.kind, slot)
    running.publish()
    {"still": _still, "video": _video, "compare": _compare}[running.job.kind](running, runner, slot)


def _record(job: Job, **more: Any) -> dict[str, Any]:
    """What a result's metadata says of its job."""
    return {"job": job.id, "content": job.content_name, "styles": [job.style_name], **more}


def _still(running: Running, runner: Runner, slot: str) -> None:
    job, folder = running.job, running.folder
    config = TransferConfig(**job.config)
    try:
        result: Result | OptimizationError = runner.run(slot, folder / "content.png", folder / "style.png", config,
                                                        _progress_callback(running, folder / "preview.png"))
    except OptimizationError as error:  # cancelled, stopped, or a NaN loss: each keeps its last image
        result = error
    except ImpastoError as error:
        running.finish("failed", str(error))
        return
    if isinstance(result, Result):
        save_image(result.image, folder / "result.png", result.metadata(**_record(job)))
        running.store.update(job.id, step=result.steps)
        running.finish("done")
        return
    if running.stopped_by_the_server(result):
        return
    if result.image is not None:
        save_image(result.image, folder / "result.png", run_metadata(config, result.step, False, **_record(job)))
    running.store.update(job.id, step=result.step)
    running.finish(*_ending(result))


def _ending(error: OptimizationError) -> tuple[str, str | None]:
    """The status and message of a run that `error` stopped (not by the server)."""
    return ("cancelled", None) if isinstance(error, Interrupted) else ("failed", str(error))


def _progress_callback(running: Running, preview: Path, on_step: Callable[[Progress], dict[str, Any]] | None = None,
                      ) -> ProgressCallback:
    """The progress callback of one transfer: live figures, throttled events, previews to `preview`,
    and the answer to 'stop now?'. `on_step`: what to store at a reported event instead of the
    event's own step, total and loss."""
    last = {"report": 0.0, "preview": 0.0, "level": 0}

    def on_progress(event: Progress) -> bool:
        now = time.monotonic()
        running.show(rate=event.rate, eta=event.eta, elapsed=event.elapsed, level=event.level,
                     levels=event.levels, step=event.step)
        # A block event's image is the last iteration's, as the optimiser holds it: no new preview.
        if not event.blocks and (now - last["preview"] >= PREVIEW_EVERY or event.step == event.total
                                 or event.level != last["level"]):
            save_image(event.image, preview)
            height, width = event.image.shape[-2:]
            running.show(preview=event.step, preview_width=width, preview_height=height)
            last["preview"], last["level"] = now, event.level
        if now - last["report"] >= REPORT_EVERY or event.step == event.total:
            stored = on_step(event) if on_step else {"step": event.step, "total": event.total, "loss": event.loss}
            running.report(**stored)
            last["report"] = now
        return running.should_stop()

    return on_progress


def _video(running: Running, runner: Runner, slot: str) -> None:
    from ..video.run import write_finished_frames

    job, folder = running.job, running.folder
    config, video = TransferConfig(**job.config), VideoConfig(**(job.video or {}))
    [clip] = folder.glob("clip.*")
    work, output = folder / "work", folder / "result.mp4"
    try:
        result = runner.run_video(slot, clip, folder / "style.png", output, config, video, work,
                                  _frame_callback(running, video))
    except OptimizationError as error:  # cancelled, stopped, or a NaN loss: the finished frames are kept
        if running.stopped_by_the_server(error):
            return
        try:
            frames = write_finished_frames(clip, output, work)
        except ImpastoError as failure:
            log.warning("job %s: its finished frames could not be written: %s", job.id, failure)
            frames = 0
        running.store.update(job.id, step=frames)
        running.finish(*_ending(error))
    except ImpastoError as error:
        running.finish("failed", str(error))
    else:
        running.store.update(job.id, step=result.frames * video.passes)
        if result.resumed:
            log.info("job %s: %d frames were finished before the server stopped", job.id, result.resumed)
        running.finish("done")
    shutil.rmtree(work, ignore_errors=True)


def _frame_callback(running: Running, video: VideoConfig) -> FrameCallback:
    """A clip's progress callback: frame i/n with the current frame's iteration, the latest finished
    frame as the preview, and the time left from the frames' times so far."""
    preview = running.folder / "preview.png"
    times: list[float] = []  # seconds of the later frames run here (the first one runs a whole schedule)
    last = {"report": 0.0, "per_step": math.nan}

    def on_frame(event: FrameProgress) -> bool:
        now = time.monotonic()
        finished = event.step is None
        if event.step is not None and event.step.step:
            last["per_step"] = event.step.elapsed / event.step.step
        if finished and event.path is not None:
            if event.loss is not None and event.frame > 1:
                times.append(event.seconds)
            with atomic_file(preview) as file:
                file.write(event.path.read_bytes())
            running.show(preview=event.frame)
        step = event.step
        running.show(frame=event.frame, frames=event.frames, frame_step=None if step is None else step.step,
                     frame_total=None if step is None else step.total,
                     eta=_time_left(event, times, last["per_step"] * video.later_iterations))
        if finished or now - last["report"] >= REPORT_EVERY:
            done = event.frame if finished else event.frame - 1
            running.report(step=done, total=event.frames, **({} if step is None else {"loss": step.loss}))
            last["report"] = now
        return running.should_stop()

    return on_frame


def _time_left(event: FrameProgress, times: list[float], later: float) -> float | None:
    """Seconds left: the current frame's own estimate and, for each frame after it, the mean time of
    the last later frames, or before one has finished `later` (the time per iteration so far times
    a later frame's iterations)."""
    current = 0.0 if event.step is None else event.step.eta
    per_frame = sum(times[-RECENT_FRAMES:]) / len(times[-RECENT_FRAMES:]) if times else later
    estimate = current + (event.frames - event.frame) * per_frame
    return estimate if math.isfinite(estimate) else None


def _compare(running: Running, runner: Runner, slot: str) -> None:
    job, folder = running.job, running.folder
    config, variants = TransferConfig(**job.config), [dict(variant) for variant in job.variants or []]
    todo = [index for index, variant in enumerate(variants) if variant["status"] != "done"]
    lock = threading.Lock()

    def callback(index: int) -> ProgressCallback:
        def stored(event: Progress) -> dict[str, Any]:
            with lock:
                variants[index].update(status="running", step=event.step)
                return {"step": sum(variant["step"] for variant in variants), "variants": variants, "loss": event.loss}

        return _progress_callback(running, folder / f"variant-{index + 1}.png", stored)

    for index in todo:
        variants[index].update(status="running", step=0)
    configs = [config.replace(strength=variants[index]["strength"]) for index in todo]
    try:
        outcomes = runner.run_all(slot, folder / "content.png", folder / "style.png", configs,
                                  [callback(index) for index in todo])
    except ImpastoError as error:
        running.finish("failed", str(error))
        return
    for index, variant_config, outcome in zip(todo, configs, outcomes, strict=True):
        _keep_variant(running, index, variant_config, variants[index], outcome)
    running.store.update(job.id, variants=variants, step=sum(variant["step"] for variant in variants))
    stops = [outcome for outcome in outcomes if isinstance(outcome, Interrupted)]
    if stops and running.stopped_by_the_server(stops[0]):
        return
    failures = [(variant, outcome) for variant, outcome in zip([variants[i] for i in todo], outcomes, strict=True)
                if isinstance(outcome, OptimizationError) and not isinstance(outcome, Interrupted)]
    if running.cancel.is_set():
        running.finish("cancelled")
    elif failures:
        variant, failure = failures[0]
        running.finish("failed", f"at strength {variant['strength']:g}: {failure}")
    else:
        running.finish("done")


def _keep_variant(running: Running, index: int, config: TransferConfig, variant: dict[str, Any],
                  outcome: Outcome) -> None:
    """Write a variant's image as its run ended, and its status in `variant`."""
    path = running.folder / f"variant-{index + 1}.png"
    record = _record(running.job, strength=variant["strength"])
    if isinstance(outcome, Result):
        save_image(outcome.image, path, outcome.metadata(**record))
        variant.update(status="done", step=outcome.steps)
    elif isinstance(outcome, OptimizationError) and running.stopping.is_set() and not running.cancel.is_set():
        variant.update(status="queued", step=0)  # run again at the next start
    elif isinstance(outcome, OptimizationError):
        if outcome.image is not None:
            save_image(outcome.image, path, run_metadata(config, outcome.step, False, **record))
        variant.update(status=_ending(outcome)[0], step=outcome.step)
    else:  # not run: an earlier variant was stopped
        variant.update(status="cancelled" if running.cancel.is_set() else "queued", step=0)
