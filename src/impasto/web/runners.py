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
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from PIL import Image

from ..config import TransferConfig
from ..errors import ImpastoError, Interrupted, NonFiniteLoss, OptimizationError
from ..images import load_image
from ..optimize import Progress, ProgressCallback
from ..pipeline import Result, transfer
from ..vgg import read_weights, use_weights

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
        from ..cluster import connect

        self.ray = ray = connect(address)
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 0))
        count = gpus or max(1, cpus // threads)
        self.slots = [f"ray {index}/{count}" for index in range(1, count + 1)]
        self.threads = 1 if gpus else threads
        self.task = ray.remote(_job_task).options(num_cpus=self.threads, num_gpus=1 if gpus else 0,
                                                  max_retries=RAY_RETRIES, retry_exceptions=False)
        # Stop flags the tasks read; named after this server, so tasks never see another's.
        self.board = ray.remote(_Board).options(num_cpus=0, name=f"impasto-board-{uuid.uuid4().hex}").remote()
        self.weights = ray.put({name: value.numpy() for name, value in read_weights().items()})

    def run(self, slot: str, content: Path, style: Path, config: TransferConfig,
            callback: ProgressCallback) -> Result:
        key = uuid.uuid4().hex
        photo, painting = (self.ray.put(load_image(path, config.max_pixels, role))
                           for path, role in ((content, "content"), (style, "style")))
        events = self.task.remote(config, self.threads, self.board, key, self.weights, photo, painting)
        try:
            for ref in events:
                kind, *values = self.ray.get(ref)
                if kind == "progress":
                    if callback(values[0]):
                        self.board.stop.remote(key)
                elif kind == "done":
                    return values[0]
                elif kind == "stopped":
                    name, message, image, step = values
                    raise (Interrupted if name == "Interrupted" else NonFiniteLoss)(message, image, step)
                elif kind == "failed":
                    raise ImpastoError(values[0])
                else:
                    raise RuntimeError(f"the job's task failed: {values[0]}")
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
              content: Image.Image, style: Image.Image) -> Iterator[tuple[Any, ...]]:
    """The task (a streaming generator): ('progress', event) about every `REPORT_EVERY` seconds and at
    each level's start and the last step, then ('done', image, config), ('stopped', error name,
    message, image, step), ('failed', message) for a bad input, or ('crashed', message) for a bug."""
    import ray

    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the store's arrays are read-only; the network copies them
        use_weights({name: torch.from_numpy(value) for name, value in weights.items()})
    events: queue.Queue[tuple[Any, ...]] = queue.Queue()
    last = {"time": 0.0, "level": 0}

    def report(event: Progress) -> bool:
        now = time.monotonic()
        if now - last["time"] < REPORT_EVERY and event.step != event.total and event.level == last["level"]:
            return False
        last.update(time=now, level=event.level)
        events.put(("progress", dataclasses.replace(event, image=event.image.detach().clone())))
        return bool(ray.get(board.should_stop.remote(key)))

    def work() -> None:
        try:
            result = transfer(content, [style], config, report)
            events.put(("done", result))
        except OptimizationError as error:
            events.put(("stopped", type(error).__name__, str(error), error.image, error.step))
        except ImpastoError as error:
            events.put(("failed", str(error)))
        except Exception as error:  # a bug: the server logs it as the local backend would
            events.put(("crashed", f"{type(error).__name__}: {error}"))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while True:
        message = events.get()
        yield message
        if message[0] != "progress":
            return
