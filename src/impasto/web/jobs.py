"""The job queue: one worker thread per slot of its runner (a device of this machine, or a job a Ray
cluster can run at once: see runners.py) runs queued jobs oldest first through the core (runs.py:
what each kind of job does).

Workers report progress to the store (throttled), to a preview image on disk and to the event hub
that feeds the browsers' event streams. Cancelling makes the progress callback return True: the
core stops after the current iteration and hands back its image, which is kept as the result.
A server that stops (or is killed) mid-job runs that job again when it restarts, with the same seed
and inputs, so the result is the one the first run would have given: a still from the start, a clip
from its finished frames, a comparison from its unfinished variants.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import sqlite3
import threading
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from ..files import atomic_file
from .runners import Runner
from .runs import Running, run_job
from .store import Job, JobStore

__all__ = ["DISK_FULL", "EventHub", "JobManager", "QueueFull", "disk_full"]

log = logging.getLogger("impasto.web")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
RETRY_EVERY = (0.5, 5.0)
"""Seconds a worker waits before it tries a write to the store again that failed (a full disk):
the first wait, doubled each time up to the second."""
EXPIRE_EVERY = 600.0
"""Seconds between an idle worker's looks for jobs whose --keep-days are over."""
T = TypeVar("T")


def disk_full(error: BaseException) -> bool:
    """Whether `error` is a full disk (or quota): a file's write or SQLite's."""
    if isinstance(error, OSError):
        return error.errno in DISK_FULL
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error)


class QueueFull(Exception):
    """As many jobs are waiting as the server allows."""


class EventHub:
    """Tells the event streams of a job (asyncio tasks) that it changed, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[None]]]] = defaultdict(set)

    def publish(self, job_id: str) -> None:
        with self._lock:
            listeners = list(self._queues.get(job_id, ()))
        for loop, queue in listeners:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
                loop.call_soon_threadsafe(queue.put_nowait, None)

    @contextlib.contextmanager
    def subscribe(self, job_id: str) -> Iterator[asyncio.Queue[None]]:
        """A queue that receives an item each time the job changes, while the context lasts."""
        entry = (asyncio.get_running_loop(), asyncio.Queue[None]())
        with self._lock:
            self._queues[job_id].add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._queues[job_id].discard(entry)
                if not self._queues[job_id]:
                    del self._queues[job_id]


class JobManager:
    """Queued jobs, the worker threads that run them, cancelling and deleting."""

    def __init__(self, store: JobStore, runner: Runner, max_queue: int) -> None:
        self.store, self.runner, self.max_queue = store, runner, max_queue
        self.devices = runner.slots
        self.hub = EventHub()
        self._wakeup = threading.Condition()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._cancel: dict[str, threading.Event] = {}
        """Running jobs -> set to stop them."""
        self._ended: dict[str, threading.Event] = {}
        """Running jobs -> set when their worker has let go of them."""
        self._live: dict[str, dict[str, Any]] = {}
        """Running jobs -> figures not worth storing (rate, ETA, preview version)."""
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Put jobs interrupted by a stop back in the queue, remove those whose time is up, and start
        one worker per slot (which also remove jobs as their time comes, while they wait)."""
        for job_id in self.store.recover():
            log.info("job %s was interrupted by a server stop: queued to run again", job_id)
        self._expire()
        for slot in self.devices:
            thread = threading.Thread(target=self._work, args=(slot,), name=f"impasto-worker-{slot}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the workers: a running job is told to stop at once (its progress callback answers
        True, also between the blocks of a level computed in blocks) and is queued again. False if a
        worker is still running after `timeout` seconds: its job stays marked running, and the next
        start queues it again."""
        self._stopping.set()
        with self._wakeup:
            self._wakeup.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def submit(self, content: Image.Image, style: Image.Image, files: dict[str, Path] | None = None,
               **fields: Any) -> Job:
        """Queue a job on its two images, already at their working sizes, and its other `files` (a
        clip), with its stored `fields` (see `Job`).

        Raises:
            QueueFull: `max_queue` jobs are waiting already.
        """
        with self._wakeup:
            if len(self.store.queued_ids()) >= self.max_queue:
                raise QueueFull(f"{self.max_queue} jobs are waiting already: try again when one has started")
            job = self.store.add(content, style, files, **fields)
            self._wakeup.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        """A job with its live figures."""
        job = self.store.get(job_id)
        if job is not None:
            with self._lock:
                job.extra = dict(self._live.get(job_id, {}))
        return job

    def cancel(self, job_id: str) -> None:
        """Stop a running job (it keeps its last image) or drop a queued one from the queue."""
        with self._wakeup:  # no worker claims a job while this runs
            job = self.store.get(job_id)
            if job is not None and job.status == "queued":
                self.store.finish(job_id, "cancelled")
        with self._lock:
            if job_id in self._cancel:
                self._cancel[job_id].set()
        self.hub.publish(job_id)

    def keep(self, job_id: str, variant: int) -> None:
        """Make a comparison's finished `variant` (1-based) its result."""
        folder = self.store.folder(job_id)
        with atomic_file(folder / "result.png") as file:
            file.write((folder / f"variant-{variant}.png").read_bytes())
        self.store.update(job_id, kept=variant)
        self.hub.publish(job_id)

    def delete(self, job_id: str, timeout: float = 30.0) -> bool:
        """Remove a job and its files, stopping it first if it runs. False if it did not stop in time."""
        self.cancel(job_id)
        with self._lock:
            ended = self._ended.get(job_id)
        if ended is not None and not ended.wait(timeout):
            return False
        self.store.delete(job_id)
        self.hub.publish(job_id)
        return True

    def _work(self, slot: str) -> None:
        while (job := self._next_job()) is not None:
            with self._lock:
                running = Running(job, self.store, self._cancel[job.id], self._stopping, self._live[job.id],
                                  self._lock, functools.partial(self.hub.publish, job.id))
            try:
                run_job(running, self.runner, slot)
            except Exception as error:  # a bug or a full disk: the worker lives on, the job says what happened
                if disk_full(error):
                    log.warning("job %s: failed: the disk is full (%s)", job.id, error)
                    message = "the server's disk was full while it ran: run it again once space is freed"
                else:
                    log.error("job %s: failed: %s", job.id, _described(error))
                    message = f"internal error ({type(error).__name__}): see the server's log"
                self._retried(functools.partial(self.store.finish, job.id, "failed", message))
            finally:
                with self._lock:
                    del self._cancel[job.id], self._live[job.id]
                    self._ended.pop(job.id).set()
                self.hub.publish(job.id)

    def _retried(self, write: Callable[[], T]) -> T | None:
        """`write()` (to the store), tried again while the disk is full until it succeeds; None if
        the server stops first (the job it was about is then still marked running, and the next
        start queues it again)."""
        wait = RETRY_EVERY[0]
        while True:
            try:
                return write()
            except (OSError, sqlite3.Error) as error:
                log.warning("the job store cannot be written (%s): trying again in %g s", error, wait)
            if self._stopping.wait(wait):
                return None
            wait = min(2 * wait, RETRY_EVERY[1])

    def _next_job(self) -> Job | None:
        """Wait for a queued job and claim it; None when the server stops."""
        with self._wakeup:
            while not self._stopping.is_set():
                job = self._retried(self.store.claim_next)
                if job is not None:
                    with self._lock:
                        self._cancel[job.id], self._ended[job.id] = threading.Event(), threading.Event()
                        self._live[job.id] = {}
                    return job
                if not self._wakeup.wait(EXPIRE_EVERY):
                    self._expire()
        return None

    def _expire(self) -> None:
        for job_id in self._retried(self.store.expire) or []:
            log.info("job %s: removed, its --keep-days are over", job_id)
            self.hub.publish(job_id)


def _described(error: Exception) -> str:
    """An unexpected error in one line: its type, message and where it was raised. (One job failed,
    not the server: a traceback in the server's log would read as the server's own failure.)"""
    where = traceback.extract_tb(error.__traceback__)[-1]
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message} (at {Path(where.filename).name}:{where.lineno} in {where.name})"
