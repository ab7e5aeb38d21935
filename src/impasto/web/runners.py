"""Where the web app's jobs run: one small interface, two backends.

`LocalRunner` runs a job in the calling worker thread on one of this machine's devices (one slot per
device). `RayRunner` (`impasto serve --ray ADDRESS`, needs impasto[ray]) runs it on a cluster (one
slot per job the cluster can run at once): a still as one Ray task (a print-size still, whose finest
level runs in blocks, in the server's process with its blocks on the cluster's workers,
`cluster.Pool.print_transfer`), a comparison's variants as one
task each, all at once, and a clip as one task (its frames depend on each other). A task streams
its progress events back (a Ray streaming generator) and asks a small actor whether to stop, so
cancelling, previews, the event stream and the restart behaviour are those of the local backend; a
clip's task also sends back each file its work dir gains, so the job's folder holds the finished
frames a restarted job continues from. A task whose worker dies is run again by Ray; a server that
dies takes its tasks with it, and its restart queues their jobs again.
"""

from __future__ import annotations

import dataclasses
import queue
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from PIL import Image

from ..cluster import Ended, Pool, connect, prepare_worker, print_size, run_transfer
from ..config import TransferConfig
from ..errors import ImpastoError, Interrupted, OptimizationError
from ..files import atomic_file
from ..images import load_image
from ..optimize import Progress, ProgressCallback
from ..pipeline import Result, transfer
from ..video.config import VideoConfig

if TYPE_CHECKING:  # impasto[video] is imported when a clip's job runs
    from ..video.run import FrameCallback, FrameProgress, VideoResult

__all__ = ["LocalRunner", "Outcome", "RayRunner", "Runner"]

REPORT_EVERY = 0.25
"""Seconds between the progress events a Ray task sends (the server throttles them further)."""
RAY_RETRIES = 2
"""How often Ray runs a job's task again whose worker died."""

Outcome = Result | OptimizationError | None
"""How one run of several ended: its result, the error that stopped it (with its last image), or
None where it did not run (a stop came first)."""


class Runner(Protocol):
    """Runs one job at a time per slot; the job manager has a worker thread per slot."""

    slots: list[str]
    """One per job that can run at once, named for the log and the page (e.g. 'cpu', 'cuda:0', 'ray 1/4')."""

    def run(self, slot: str, content: Path, style: Path, config: TransferConfig,
            callback: ProgressCallback) -> Result:
        """`transfer(content, style, config, callback)` in `slot`: the same result, events and errors."""
        ...

    def run_all(self, slot: str, content: Path, style: Path, configs: Sequence[TransferConfig],
                callbacks: Sequence[ProgressCallback]) -> list[Outcome]:
        """`run` of each config with its callback, as many at once as the backend allows.

        Raises:
            ImpastoError: a bad input or setting (no run can succeed).
        """
        ...

    def run_video(self, slot: str, clip: Path, style: Path, output: Path, config: TransferConfig,
                  video: VideoConfig, work: Path, callback: FrameCallback) -> VideoResult:
        """`stylize_video(clip, style, output, config, video, work_dir=work, callback=callback)` in
        `slot`: the same result, events, errors and work dir."""
        ...


class LocalRunner:
    """Jobs in the job manager's own threads, one per device of this machine."""

    def __init__(self, devices: list[torch.device]) -> None:
        self.slots = [str(device) for device in devices]

    def run(self, slot: str, content: Path, style: Path, config: TransferConfig,
            callback: ProgressCallback) -> Result:
        return transfer(content, style, config.replace(device=slot), callback)

    def run_all(self, slot: str, content: Path, style: Path, configs: Sequence[TransferConfig],
                callbacks: Sequence[ProgressCallback]) -> list[Outcome]:
        """One after the other on the slot's device, until one is stopped (cancelled, or the server stops)."""
        outcomes: list[Outcome] = []
        for config, callback in zip(configs, callbacks, strict=True):
            if any(isinstance(outcome, Interrupted) for outcome in outcomes):
                outcomes.append(None)
                continue
            try:
                outcomes.append(self.run(slot, content, style, config, callback))
            except OptimizationError as error:
                outcomes.append(error)
        return outcomes

    def run_video(self, slot: str, clip: Path, style: Path, output: Path, config: TransferConfig,
                  video: VideoConfig, work: Path, callback: FrameCallback) -> VideoResult:
        from ..video.run import stylize_video

        return stylize_video(clip, style, output, config.replace(device=slot), video, work_dir=work,
                             callback=callback)


class RayRunner:
    """Jobs as tasks on a Ray cluster: on a GPU each if it has GPUs, else on `threads` CPU threads each."""

    def __init__(self, address: str, threads: int = 1) -> None:
        self.ray = ray = connect(address)
        self.pool = Pool(ray, threads, RAY_RETRIES)
        count = self.pool.slots
        self.slots = [f"ray {index}/{count}" for index in range(1, count + 1)]
        self.task = ray.remote(_job_task)
        self.video_task = ray.remote(_video_task)
        # Stop flags the tasks read; named after this server, so tasks never see another's.
        self.board = ray.remote(_Board).options(num_cpus=0, name=f"impasto-board-{uuid.uuid4().hex}").remote()

    def run(self, slot: str, content: Path, style: Path, config: TransferConfig,
            callback: ProgressCallback) -> Result:
        if print_size(content, config):  # in this process, its blocks on the cluster's workers
            return self.pool.print_transfer(content, [style], config, callback)[0]
        inputs = self.pool.inputs(config, content, [style])
        ended = self._follow(self.task, config, inputs, callback)
        if ended.error is not None:
            raise ended.error
        assert ended.result is not None
        return ended.result

    def run_all(self, slot: str, content: Path, style: Path, configs: Sequence[TransferConfig],
                callbacks: Sequence[ProgressCallback]) -> list[Outcome]:
        """A task each, all at once (the cluster queues those it cannot run yet)."""

        def one(config: TransferConfig, callback: ProgressCallback) -> Outcome:
            try:
                return self.run(slot, content, style, config, callback)
            except OptimizationError as error:
                return error

        with ThreadPoolExecutor(len(configs), thread_name_prefix="impasto-variant") as threads:
            return list(threads.map(one, configs, callbacks))

    def run_video(self, slot: str, clip: Path, style: Path, output: Path, config: TransferConfig,
                  video: VideoConfig, work: Path, callback: FrameCallback) -> VideoResult:
        """One task on a folder of its node's: the clip, the painting and the work dir so far are
        sent with it; the files the work dir gains come back as they are written, and the video at the end."""
        files = {str(path.relative_to(work)): path.read_bytes() for path in sorted(work.rglob("*")) if path.is_file()} \
            if work.is_dir() else {}
        inputs = [self.pool.weights(config), self.ray.put(clip.read_bytes()),
                  self.ray.put(load_image(style, config.max_pixels, "style")), self.ray.put(files)]

        def on_event(event: FrameProgress | _Files) -> bool | None:
            if isinstance(event, _Files):
                for name, data in event.files.items():
                    (work / name).parent.mkdir(parents=True, exist_ok=True)
                    with atomic_file(work / name) as file:
                        file.write(data)
                return False
            if event.path is not None:  # the node's file: the copy just received
                event = dataclasses.replace(event, path=work / event.path.relative_to(event.path.parents[1]))
            return callback(event)

        ended = self._follow(self.video_task, config, inputs, on_event, video, work.parent.name, clip.suffix)
        if isinstance(ended, Ended):
            assert ended.error is not None
            raise ended.error
        with atomic_file(output) as file:
            file.write(ended.data)
        return dataclasses.replace(ended.result, output=output)

    def _follow(self, task: Any, config: TransferConfig, inputs: list[Any], on_event: Callable[[Any], bool | None],
                *arguments: Any) -> Any:
        """Start `task` and hand each event it streams to `on_event` (True: ask the task to stop)
        until it ends; how it ended (an `Ended`, or a clip's `_Video`)."""
        key = uuid.uuid4().hex
        events = task.options(**self.pool.options(config)).remote(config, self.pool.threads, self.board, key,
                                                                  *arguments, *inputs)
        try:
            for ref in events:
                event = self.ray.get(ref)  # a bug in the task raises here, as it would in a local run
                if isinstance(event, (Ended, _Video)):
                    return event
                if on_event(event):
                    self.board.stop.remote(key)
        finally:
            self.board.forget.remote(key)
        raise RuntimeError("the job's task ended without a result")


@dataclass(frozen=True)
class _Files:
    """Files a clip's task wrote to its work dir: path relative to it -> content."""

    files: dict[str, bytes]


@dataclass(frozen=True)
class _Video:
    """How a clip's task ended when it finished: the video file and what stylize_video said of it
    (else it ends with an `Ended` holding the error)."""

    data: bytes
    result: VideoResult


class _Board:
    """A Ray actor: the keys of the runs asked to stop."""

    def __init__(self) -> None:
        self.stopped: set[str] = set()

    def stop(self, key: str) -> None:
        self.stopped.add(key)

    def forget(self, key: str) -> None:
        self.stopped.discard(key)

    def should_stop(self, key: str) -> bool:
        return key in self.stopped


def _job_task(config: TransferConfig, threads: int, board: Any, key: str, weights: dict[str, np.ndarray],
              content: Image.Image, style: Image.Image) -> Iterator[Progress | Ended]:
    """The task of a still (a streaming generator): `run_transfer` in a thread, with a `Progress`
    event about every `REPORT_EVERY` seconds and at each level's start and the last step, each asking
    the board whether to stop, then how the run ended (`Ended`)."""
    import ray

    last = {"time": 0.0, "level": 0}

    def report(event: Progress) -> Progress | None:
        now = time.monotonic()
        if now - last["time"] < REPORT_EVERY and event.step != event.total and event.level == last["level"]:
            return None
        last.update(time=now, level=event.level)
        return dataclasses.replace(event, image=event.image.detach().clone())

    def work(callback: Callable[[Any], bool]) -> Ended:
        return run_transfer(config, threads, weights, content, style, callback=callback)

    yield from _streamed(work, report, lambda: bool(ray.get(board.should_stop.remote(key))))


def _video_task(config: TransferConfig, threads: int, board: Any, key: str, video: VideoConfig, name: str,
                extension: str, weights: dict[str, np.ndarray], clip: bytes, style: Image.Image,
                files: dict[str, bytes]) -> Iterator[FrameProgress | _Files | Ended]:
    """The task of a clip: `stylize_video` in a thread, in a folder of the node's named for the job
    (`name`), with its work dir's files (`files`) as the server has them. Streams iteration events
    as `_job_task` does, each finished frame's event after the files the work dir gained by then
    (`_Files`), then how the run ended (`Ended`, with a `_Video`)."""
    import ray

    from ..video.run import stylize_video

    prepare_worker(config, threads, weights)
    folder = Path(tempfile.gettempdir()) / f"impasto-video-{name}"
    shutil.rmtree(folder, ignore_errors=True)  # an earlier task's, of this job: the server's files are newer
    folder.mkdir(parents=True)
    work, source, output = folder / "work", folder / f"clip{extension}", folder / "result.mp4"
    for relative, data in files.items():
        (work / relative).parent.mkdir(parents=True, exist_ok=True)
        (work / relative).write_bytes(data)
    source.write_bytes(clip)
    sent = set(files)
    last = {"time": 0.0}

    def report(event: FrameProgress) -> list[FrameProgress | _Files] | None:
        now = time.monotonic()
        if event.step is not None:
            if now - last["time"] < REPORT_EVERY and event.step.step != event.step.total:
                return None
            last["time"] = now
            # The page shows finished frames, not the iterate: a pixel of it travels, not the image.
            step = dataclasses.replace(event.step, image=event.step.image[..., :1, :1].clone())
            return [dataclasses.replace(event, step=step)]
        new = {str(path.relative_to(work)): path for path in work.rglob("*")
               if path.is_file() and not path.name.startswith(".") and str(path.relative_to(work)) not in sent}
        sent.update(new)
        return [_Files({relative: path.read_bytes() for relative, path in new.items()}), event]

    def run(callback: Callable[[Any], bool]) -> Ended | _Video:
        started = time.perf_counter()
        try:
            result = stylize_video(source, style, output, config, video, work_dir=work, callback=callback)
        except ImpastoError as error:  # a bad clip, or a stop: a retry cannot help
            return Ended(None, error, time.perf_counter() - started)
        return _Video(output.read_bytes(), result)

    try:
        yield from _streamed(run, report, lambda: bool(ray.get(board.should_stop.remote(key))))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _streamed(work: Callable[[Callable[[Any], bool]], Any], report: Callable[[Any], Any],
              should_stop: Callable[[], bool]) -> Iterator[Any]:
    """Run `work` in a thread with a callback that passes each event through `report` (None: not
    sent; a list: several items) to this generator's consumer, and asks `should_stop` whenever it
    sent one; yield those items, then what `work` returns."""
    events: queue.Queue[Any] = queue.Queue()
    end = object()

    def callback(event: Any) -> bool:
        items = report(event)
        if items is None:
            return False
        for item in items if isinstance(items, list) else [items]:
            events.put(item)
        return should_stop()

    def body() -> None:
        try:
            outcome = work(callback)
        except Exception as error:  # a bug: the task raises it, and the server logs it as a local run's
            events.put((end, error))
        else:
            events.put((end, outcome))

    threading.Thread(target=body, daemon=True).start()
    while True:
        item = events.get()
        if isinstance(item, tuple) and item[0] is end:
            if isinstance(item[1], Exception):
                raise item[1]
            yield item[1]
            return
        yield item
