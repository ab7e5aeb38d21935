"""Transfers as Ray tasks (the optional extra impasto[ray]): on a local Ray instance or a cluster.

One task per transfer: an item of `impasto batch`, or a job of `impasto serve --ray`, whose task
streams its progress (web/runners.py); both run the same body, `run_transfer`. A task asks for one
GPU on a cluster that has GPUs, else `threads` CPUs, and runs torch with that many threads, so the
tasks on a node never ask for more cores than it has. The driver decodes each input image once and
puts it, and the VGG-19 weights, in Ray's object store once; tasks read them from there, so no node
needs the driver's files or the weights file. A task whose worker dies (killed, out of memory, a
lost node) is run again by Ray up to `retries` times; a bad input or setting fails at once (a retry
cannot help). Results come back to the driver, which writes them: the workers need no shared file
system.

A cluster with token authentication (Ray's RAY_AUTH_MODE=token) is reached the way Ray documents:
RAY_AUTH_MODE=token in impasto's environment and the cluster's token in RAY_AUTH_TOKEN, the file
RAY_AUTH_TOKEN_PATH names, or ~/.ray/auth_token. A local instance gets a token of its own.

Nothing in impasto's core imports this module or Ray.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import time
import warnings
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from .batch import Item
from .config import TransferConfig
from .errors import ImpastoError
from .images import load_image
from .optimize import ProgressCallback
from .pipeline import Result, transfer
from .vgg import read_weights, use_weights

__all__ = ["Ended", "Outcome", "Pool", "connect", "prepare_worker", "run_transfer"]

TOKEN_HELP = ("give impasto the cluster's token in ~/.ray/auth_token, in a file named by RAY_AUTH_TOKEN_PATH, or "
              "in RAY_AUTH_TOKEN (`ray get-auth-token` on its head prints it)")
"""Where Ray reads a cluster's authentication token from."""


def connect(address: str | None) -> Any:
    """Connect this process to Ray and return the `ray` module: a new local instance with this
    machine's CPUs and GPUs (None), the instance started on this machine with `ray start` ('auto'),
    or the cluster whose head is at HOST:PORT.

    A local instance, and a cluster on a loopback address, listen on 127.0.0.1 only: Ray's ports
    run any code they are sent, so they must not face a network by accident. For the same reason a
    local instance wants a token (unless RAY_AUTH_MODE says otherwise): one made up for this process,
    which its own workers inherit.

    Raises:
        ImpastoError: no cluster answers at `address`; it wants an authentication token that impasto
            did not send or that is not the cluster's; or it runs another version of Ray or Python.
    """
    if address is None or _is_loopback(address):
        # Read when ray is imported: use the loopback address as this node's address.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if address is None and os.environ.setdefault("RAY_AUTH_MODE", "token") == "token":
        # Ray would make one up and keep it in ~/.ray/auth_token, where every later `ray start --head`
        # on this machine finds it and then wants it of its clients.
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_urlsafe(32))
    import ray

    if not ray.is_initialized():
        where = "a local Ray instance" if address is None else f"the Ray cluster at {address!r}"
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": "warning"}
        if address is None:
            options.update(include_dashboard=False)
        try:
            # 'local': a new instance, never one that `ray start` or RAY_ADDRESS names.
            ray.init(address=address or "local", **options)
        except ray.exceptions.AuthenticationError as error:  # RAY_AUTH_MODE=token, and no token where Ray looks
            raise ImpastoError(f"no authentication token for {where} ({error.message}): {TOKEN_HELP}") from None
        except ConnectionError as error:
            raise ImpastoError(_unreachable(where, error)) from None
        except RuntimeError as error:
            if not str(error).startswith("Version mismatch"):
                raise
            versions = " ".join(str(error).split())  # Ray's lines, in one
            raise ImpastoError(f"{where} runs another Ray or Python than impasto here ({versions}): install the "
                               f"cluster's versions here") from None
    return ray


def _unreachable(where: str, error: ConnectionError) -> str:
    """Why Ray could not connect, in one line. Ray tells a refused token apart only in the text of the
    error it caught (the error's cause; its context in older Rays)."""
    if "InvalidAuthToken" not in str(error.__cause__ or error.__context__):
        return f"cannot reach {where}: start one with `ray start --head` or check the address"
    if os.environ.get("RAY_AUTH_MODE") != "token":
        return (f"{where} wants an authentication token and RAY_AUTH_MODE is not 'token' here: set "
                f"RAY_AUTH_MODE=token and {TOKEN_HELP}")
    return f"{where} refused impasto's authentication token: {TOKEN_HELP}"


def _is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]") or address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Ended:
    """How a transfer on a worker ended; it comes back from the worker, so all of it pickles."""

    result: Result | None
    """The image and the settings with the seed used; None if the run failed or was stopped."""
    error: ImpastoError | None
    """A bad input or setting, a NaN loss, or a stop asked for by the callback (an `OptimizationError`
    with its last image): a retry cannot help."""
    seconds: float
    """How long the transfer ran (without the task's time in the queue)."""


def run_transfer(config: TransferConfig, threads: int, weights: dict[str, np.ndarray], content: Image.Image,
                 *styles: Image.Image, callback: ProgressCallback | None = None) -> Ended:
    """The body of impasto's Ray tasks: one transfer on a worker, torch on `threads` threads, the
    VGG-19 weights as `Pool` stored them. The images come as positional arguments: Ray resolves
    object refs there. Any other exception than an `ImpastoError` is a bug and fails the task."""
    started = time.perf_counter()
    prepare_worker(config, threads, weights)
    try:
        result = transfer(content, list(styles), config, callback)
    except ImpastoError as error:
        return Ended(None, error, time.perf_counter() - started)
    return Ended(result, None, time.perf_counter() - started)


def prepare_worker(config: TransferConfig, threads: int, weights: dict[str, np.ndarray]) -> None:
    """What every impasto task does first: torch on `threads` threads, and the network built from
    the VGG-19 weights as `Pool` stored them."""
    torch.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the store's arrays are read-only; the network copies them
        use_weights({name: torch.from_numpy(value) for name, value in weights.items()}, config.weights)


@dataclass(frozen=True)
class Outcome:
    """How one item of a batch ended: its result, or an error."""

    item: Item
    result: Result | None = None
    """The image, (1, 3, H, W) in [0, 1], and the settings with the seed used."""
    error: str | None = None
    seconds: float = 0.0
    """How long the task ran (without its time in the queue)."""


class Pool:
    """The cluster's resources, the object store's copies of the inputs, and the options of a task:
    runs a batch's items as tasks and hands their outcomes back as they finish.

    Args:
        ray: the connected module (`connect`).
        threads: CPU threads per task on CPU nodes (the task's `num_cpus`).
        retries: how often Ray runs a task again whose worker died.

    Raises:
        ImpastoError: a CPU cluster with fewer CPUs than `threads`.
    """

    def __init__(self, ray: Any, threads: int, retries: int) -> None:
        self.ray, self.threads, self.retries = ray, threads, retries
        resources = ray.cluster_resources()
        self.gpus = int(resources.get("GPU", 0))
        self.cpus = int(resources.get("CPU", 0))
        if not self.gpus and self.cpus < threads:
            raise ImpastoError(f"--threads {threads} is more than the cluster's {self.cpus} CPUs: lower it")
        self._task = ray.remote(run_transfer)
        self._weights: dict[str | None, Any] = {}

    @property
    def slots(self) -> int:
        """How many tasks the cluster runs at once."""
        return self.gpus or self.cpus // self.threads

    def options(self, config: TransferConfig) -> dict[str, Any]:
        """The Ray options of a task that runs `config`: a GPU if the cluster has one and the settings
        allow it, else `threads` CPUs; run again if its worker dies, never for an error it raised."""
        gpu = self.gpus > 0 and config.device in ("auto", "cuda")
        return {"num_cpus": 1 if gpu else self.threads, "num_gpus": 1 if gpu else 0, "max_retries": self.retries,
                "retry_exceptions": False}

    def weights(self, config: TransferConfig) -> Any:
        """The object ref of the VGG-19 weights `config` names, stored once per pool."""
        if config.weights not in self._weights:
            state = read_weights(config.weights)
            self._weights[config.weights] = self.ray.put({name: value.numpy() for name, value in state.items()})
        return self._weights[config.weights]

    def inputs(self, config: TransferConfig, photo: os.PathLike[str], styles: Sequence[os.PathLike[str]],
               images: dict[tuple[str, int], Any] | None = None) -> list[Any]:
        """Object refs of the weights, the photo and the paintings, as `run_transfer` takes them after
        its first two arguments: the weights stored once per pool, each image once per `images`.

        Raises:
            ImageError: an image that cannot be read.
        """
        images = {} if images is None else images
        refs = [self.weights(config)]
        for path, role in [(photo, "content"), *((style, "style") for style in styles)]:
            key = (os.fspath(path), config.max_pixels)
            if key not in images:
                images[key] = self.ray.put(load_image(path, config.max_pixels, role))
            refs.append(images[key])
        return refs

    def run(self, items: Sequence[Item]) -> Generator[Outcome, None, None]:
        """Submit every item and yield each outcome as it comes; items whose inputs cannot be read
        come out first. On KeyboardInterrupt (or when the caller stops iterating), the tasks not yet
        finished are cancelled."""
        pending: dict[Any, Item] = {}
        images: dict[tuple[str, int], Any] = {}
        try:
            for item in items:
                assert item.config is not None, "items with invalid settings are not run"
                try:
                    refs = self.inputs(item.config, item.photo, item.styles, images)
                except ImpastoError as error:
                    yield Outcome(item, error=str(error))
                    continue
                task = self._task.options(**self.options(item.config))
                pending[task.remote(item.config, self.threads, *refs)] = item
            while pending:
                done, _ = self.ray.wait(list(pending), num_returns=1)
                yield self._outcome(pending.pop(done[0]), done[0])
        finally:
            for ref in pending:
                self.ray.cancel(ref, force=True)

    def _outcome(self, item: Item, ref: Any) -> Outcome:
        try:
            ended: Ended = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as failure:  # a bug: say what it was
            cause = failure.cause
            return Outcome(item, error=f"internal error ({type(cause).__name__}: {cause})")
        except self.ray.exceptions.RayError as failure:  # the worker died more often than `retries` allows
            return Outcome(item, error=f"the task was lost {self.retries + 1} times ({type(failure).__name__})")
        return Outcome(item, ended.result, None if ended.error is None else str(ended.error), ended.seconds)
