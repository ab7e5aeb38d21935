"""Where the web app's jobs run: one small interface, two backends.

`LocalRunner` runs a job in the calling worker thread on one of this machine's devices (one slot per
device). `RayRunner` (`impasto serve --ray ADDRESS`, needs impasto[ray]) runs it as a Ray task on a
cluster (one slot per job the cluster can run at once): the task streams its progress events back
(a Ray streaming generator) and asks a small actor whether to stop, so cancelling, previews, the
event stream and the restart behaviour are those of the local backend. A task whose worker dies is
run again by Ray; a server that dies takes its tasks with it, and its restart queues their jobs again.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from ..cluster import Ended, Pool, connect, run_transfer
from ..config import TransferConfig
from ..optimize import Progress, ProgressCallback
from ..pipeline import Result, transfer

__all__ = ["LocalRunner", "RayRunner", "Runner"]

REPORT_EVERY = 0.25
"""Seconds between the progress events a Ray task sends (the server throttles them further)."""
RAY_RETRIES = 2
"""How often Ray runs a job's task again whose worker died."""


class Runner(Protocol):
    """Runs one job at a time per slot; the job manager has a worker thread per slot."""

    slots: list[str]
    """One per job that can run at once, named for the log and the page (e.g. 'cpu', 'cuda:0', 'ray 1/4')."""

    def run(self, slot: str, content: Path, style: Path, config: TransferConfig,
            callback: ProgressCallback) -> Result:
        """`transfer(content, style, config, callback)` in `slot`: the same result, events and errors."""
        ...


class LocalRunner:
    """Jobs in the job manager's own threads, one per device of this machine."""

    def __init__(self, devices: list[torch.device]) -> None:
        self.slots = [str(device) for device in devices]

    def run(self, slot: str, content: Path, style: Path, config: TransferConfig,
            callback: ProgressCallback) -> Result:
        return transfer(content, style, config.replace(device=slot), callback)


class RayRunner:
    """Jobs as tasks on a Ray cluster: on a GPU each if it has GPUs, else on `threads` CPU threads each."""

    def __init__(self, address: str, threads: int = 1) -> None:
        self.ray = ray = connect(address)
        self.pool = Pool(ray, threads, RAY_RETRIES)
        count = self.pool.slots
        self.slots = [f"ray {index}/{count}" for index in range(1, count + 1)]
        self.task = ray.remote(_job_task)
        # Stop flags the tasks read; named after this server, so tasks never see another's.
        self.board = ray.remote(_Board).options(num_cpus=0, name=f"impasto-board-{uuid.uuid4().hex}").remote()

    def run(self, slot: str, content: Path, style: Path, config: TransferConfig,
            callback: ProgressCallback) -> Result:
        key = uuid.uuid4().hex
        inputs = self.pool.inputs(config, content, [style])
        events = self.task.options(**self.pool.options(config)).remote(config, self.pool.threads, self.board, key,
                                                                       *inputs)
        try:
            for ref in events:
                event = self.ray.get(ref)  # a bug in the task raises here, as it would in a local run
                if not isinstance(event, Progress):
                    if event.error is not None:
                        raise event.error
                    return event.result
                if callback(event):
                    self.board.stop.remote(key)
        finally:
            self.board.forget.remote(key)
        raise RuntimeError("the job's task ended without a result")


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
    """The task (a streaming generator): `run_transfer` in a thread, with a `Progress` event about
    every `REPORT_EVERY` seconds and at each level's start and the last step, each asking the board
    whether to stop, then how the run ended (`Ended`)."""
    import ray

    events: queue.Queue[Progress | Ended | Exception] = queue.Queue()
    last = {"time": 0.0, "level": 0}

    def report(event: Progress) -> bool:
        now = time.monotonic()
        if now - last["time"] < REPORT_EVERY and event.step != event.total and event.level == last["level"]:
            return False
        last.update(time=now, level=event.level)
        events.put(dataclasses.replace(event, image=event.image.detach().clone()))
        return bool(ray.get(board.should_stop.remote(key)))

    def work() -> None:
        try:
            events.put(run_transfer(config, threads, weights, content, style, callback=report))
        except Exception as error:  # a bug: the task raises it, and the server logs it as a local run's
            events.put(error)

    threading.Thread(target=work, daemon=True).start()
    while True:
        event = events.get()
        if isinstance(event, Exception):
            raise event
        yield event
        if isinstance(event, Ended):
            return
