"""What a worker does with each kind of job (store.KINDS), from its claim to its end: done, cancelled,
failed, or back to the queue when the server stops.

- **still**: one transfer; its result, or the last image of a stopped or failed run, is result.png.
- **video**: `stylize_video` on the clip with the job's work dir, so a job that the server's stop
  (or death) interrupted continues from its finished frames; the preview is the latest finished
  frame; a cancelled or failed job keeps its finished frames as a shorter video. In `mode`
  'keyframes' the network's training shows as a stage of its own, and the time left counts it.
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
    """A clip's progress callback: frame i/n with the current frame's iteration (or, in `mode`
    'keyframes', the network's training step), the latest finished frame as the preview, frames per
    second and the time left from the times measured so far (`_Pace`)."""
    preview = running.folder / "preview.png"
    pace = _Pace(video)
    last = {"report": 0.0}

    def on_frame(event: FrameProgress) -> bool:
        now = time.monotonic()
        pace.observe(event, now)
        if event.step is None and event.path is not None:  # a finished frame
            with atomic_file(preview) as file:
                file.write(event.path.read_bytes())
            running.show(preview=event.frame)
        train = event.step if event.stage == "training" else None  # the network's step, before frame + 1
        iteration = None if train is not None else event.step  # the current frame's
        running.show(frame=event.frame if train is None else event.frame + 1, frames=event.frames,
                     stage="frame" if train is None else "training",
                     frame_step=None if iteration is None else iteration.step,
                     frame_total=None if iteration is None else iteration.total,
                     train_step=None if train is None else train.step,
                     train_steps=None if train is None else train.total,
                     train_eta=None if train is None else _finite(train.eta),
                     fps=pace.fps, eta=pace.time_left(event))
        if event.step is None or now - last["report"] >= REPORT_EVERY:
            done = event.frame if iteration is None else event.frame - 1
            # A training step's loss is not a frame's: the stored loss stays the last frame's.
            running.report(step=done, total=event.frames, **({} if iteration is None else {"loss": iteration.loss}))
            last["report"] = now
        return running.should_stop()

    return on_frame


class _Pace:
    """A clip's times so far, from its events, and what they say of the time left.

    A frame's time is the wall-clock time from the previous finished frame to its own (its flow,
    files and painting), measured for the frames painted in this run after the first (which runs a
    whole schedule), but not for the one whose painting began with the network's training. In `mode`
    'keyframes' the keyframes (optimised) and the frames between them (painted by the network,
    refined by `refine` steps) are timed apart."""

    def __init__(self, video: VideoConfig) -> None:
        self.video = video
        self.keyframes = video.mode == "keyframes"
        self.key_times: list[float] = []  # every later frame's in 'frames' mode
        self.between_times: list[float] = []
        self.per_step = math.nan  # seconds an iteration of a frame
        self.train_per_step = math.nan
        self.train_left: float | None = None  # None: not started (or, for a clip of one frame, none)
        self.trained = False
        self.previous: float | None = None  # when the last finished frame was reported
        self.trained_here = False  # the current frame's painting began with the training

    def observe(self, event: FrameProgress, now: float) -> None:
        step = event.step
        if step is not None and event.stage == "training":
            self.trained_here = True
            self.train_left = _finite(step.eta)
            if step.step < step.total and math.isfinite(step.eta):  # of the steps run here (a resumed training's too)
                self.train_per_step = step.eta / (step.total - step.step)
            self.trained = self.trained or step.step >= step.total
            return
        if step is not None:
            if step.step:
                self.per_step = step.elapsed / step.step
            return
        if event.frame > 1:  # a later frame exists: the network it needed is trained
            self.trained = True
        if event.loss is not None and event.frame > 1 and not self.trained_here:
            seconds = now - self.previous if self.previous is not None else event.seconds
            # In 'frames' mode every frame is timed as a keyframe is.
            (self.key_times if event.keyframe or not self.keyframes else self.between_times).append(seconds)
        self.previous, self.trained_here = now, False

    @property
    def fps(self) -> float | None:
        """Frames a second over the frames timed so far."""
        times = self.key_times + self.between_times
        return len(times) / sum(times) if times and sum(times) > 0 else None

    def time_left(self, event: FrameProgress) -> float | None:
        """Seconds left: the current frame's (or the training's) own estimate, the training still to
        come, and for each frame after, the mean time of the last frames of its kind; before one
        has finished, a frame's iterations at the time per iteration so far (a frame between
        keyframes without `refine`: a training step's time). None where a part is not known yet."""
        step = event.step
        training = step is not None and event.stage == "training"
        current = 0.0 if step is None else _finite(step.eta)
        if current is None:
            return None
        after = event.frames - event.frame  # frames still to paint after the current one (training: from it on)
        if not self.keyframes:
            estimate = current + after * _recent(self.key_times, self.per_step * self.video.later_iterations)
            return estimate if math.isfinite(estimate) else None
        if not training and not self.trained and event.frames > 1:  # the training is still to come
            if self.train_left is None:
                return None
            current += self.train_left
        keys = self._keyframes_among(event.frame, after)  # from the 0-based index of the next frame to paint
        key = _recent(self.key_times, self.per_step * self.video.later_iterations)
        between = _recent(self.between_times, self.per_step * self.video.refine if self.video.refine
                          else self.train_per_step)
        estimate = current + keys * key + (after - keys) * between
        return estimate if math.isfinite(estimate) else None

    def _keyframes_among(self, first: int, count: int) -> float:
        """How many of the `count` frames from index `first` on are keyframes: those listed, or as
        many as the share so far (at least one every `keyframe_every`)."""
        if self.video.keyframes is not None:
            return sum(1 for index in self.video.keyframes if first <= index < first + count)
        timed = len(self.key_times) + len(self.between_times)
        share = max(1 / self.video.keyframe_every, len(self.key_times) / timed if timed else 0.0)
        return count * share


def _recent(times: list[float], otherwise: float) -> float:
    """The mean of the last RECENT_FRAMES `times`, or `otherwise` if there are none."""
    recent = times[-RECENT_FRAMES:]
    return sum(recent) / len(recent) if recent else otherwise


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


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
