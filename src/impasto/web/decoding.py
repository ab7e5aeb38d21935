"""Uploads are decoded in a child process each, within a memory limit and a deadline, at most a few
at once: what a file costs to decode is bounded by what the decoder does, whatever the file says of
itself (a small PNG that inflates to 49 megapixels, a clip whose frames are larger than its header
says, a file that takes long to decode).

A child is forked from a server process that has imported the decoders already (multiprocessing's
forkserver), so it starts in milliseconds. Its address space is capped (RLIMIT_AS) at what it holds
when it starts plus the budget: a decode that needs more fails in the child, not in the server. A
child that has not answered by the deadline is killed. The server's thread waits without the GIL,
so the event loop goes on answering other clients; requests beyond those decoding and a few
waiting are refused at once (503), so that waiting uploads never hold all the server's threads.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException

__all__ = ["Decoder"]

T = TypeVar("T")
WAITING = 4
"""Uploads that may wait for a decoding slot, per slot; more are refused (503)."""
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["impasto.web.uploads"])  # children start with the decoders imported


class Decoder:
    """Runs decoding functions in child processes: at most `slots` at once, each within
    `memory_bytes` more than a fresh child holds and `seconds` of wall time."""

    def __init__(self, slots: int, memory_bytes: int, seconds: float) -> None:
        self.slots, self.memory_bytes, self.seconds = slots, memory_bytes, seconds
        self._free = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self._queued = 0

    def start(self) -> None:
        """Start the process that children are forked from, and wait until it has imported the
        decoders (else the first upload waits for it)."""
        self._in_child(int, ())

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a child process (both picklable), its result or its exception.

        Raises:
            HTTPException: 503 too many uploads are being decoded, 413 the decode needs more memory
                than the budget, 422 it takes longer than the deadline.
        """
        with self._lock:
            if self._queued >= self.slots * (1 + WAITING):
                raise HTTPException(503, f"{self._queued} uploads are being decoded or waiting: try again in a "
                                         f"few seconds", headers={"Retry-After": "5"})
            self._queued += 1
        try:
            if not self._free.acquire(timeout=self.seconds):
                raise HTTPException(503, "the server is busy decoding other uploads: try again in a few seconds",
                                    headers={"Retry-After": "5"})
            try:
                return self._in_child(function, args)
            finally:
                self._free.release()
        finally:
            with self._lock:
                self._queued -= 1

    def _in_child(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        receiver, sender = _CONTEXT.Pipe(duplex=False)
        child = _CONTEXT.Process(target=_child, args=(sender, self.memory_bytes, function, args), daemon=True)
        child.start()
        sender.close()
        try:
            if not receiver.poll(self.seconds):
                raise HTTPException(422, f"the upload takes more than {self.seconds:g} s to decode (impasto serve "
                                         f"--decode-seconds): re-encode it plainly or downscale it")
            try:
                failed, outcome = receiver.recv()
            except EOFError:  # the child died before it answered
                child.join()
                failed, outcome = True, _died(child.exitcode)
        finally:
            receiver.close()
            child.kill()
            child.join()
        if failed:
            raise outcome
        return outcome


def _died(exitcode: int | None) -> Exception:
    """Why a child that sent nothing is gone: a signal (its decoder crashed on the file, or the system
    ran out of memory), or a failure of its own start (the server's)."""
    if exitcode == -signal.SIGKILL:
        return HTTPException(413, "the upload needs more memory to decode than the server has: downscale it")
    if exitcode is not None and exitcode < 0:
        return HTTPException(422, f"the upload's decoder crashed on it ({signal.Signals(-exitcode).name}): "
                                  f"re-encode it")
    return RuntimeError(f"a decoding process ended with {exitcode} before it started decoding")


def _child(sender: multiprocessing.connection.Connection, memory_bytes: int, function: Callable[..., Any],
           args: tuple[Any, ...]) -> None:
    """In the child: cap the address space, run `function(*args)`, send (failed, result or exception)."""
    import resource

    held = _address_space()
    resource.setrlimit(resource.RLIMIT_AS, (held + memory_bytes, resource.RLIM_INFINITY))
    try:
        outcome: tuple[bool, Any] = (False, function(*args))
    except MemoryError:
        outcome = (True, HTTPException(413, f"the upload needs more than {memory_bytes / 2**20:,.0f} MiB to decode "
                                            f"(impasto serve --decode-memory-mb): downscale it"))
    except Exception as error:  # noqa: BLE001 - sent to the server, which raises it as a decode in it would
        outcome = (True, error)
    try:
        sender.send(outcome)
    except MemoryError:
        sender.send((True, HTTPException(413, "the decoded upload is too large to send back: downscale it")))
    sender.close()


def _address_space() -> int:
    """Bytes of address space this process holds (Linux: /proc/self/statm's first field, in pages)."""
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
