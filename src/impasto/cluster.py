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

**One print over the cluster** (`RayBlocks`, `impasto transfer --address`): the blocks of a level
that runs in blocks are computed on actors (`BlockWorker`) that keep the network and the level's
targets, the driver keeping the image and L-BFGS and adding their results in block order; a batch's
print-size items run that way too, one after another, after its other items.

Nothing in impasto's core imports this module or Ray.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import secrets
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from .batch import Item
from .config import TransferConfig
from .device import compute_dtype, prepare_device
from .errors import ImpastoError
from .images import load_image
from .memory import PROBES_PER_PIXEL, cpu_probe_seconds
from .optimize import ProgressCallback
from .pipeline import Result, plan_transfer, transfer
from .tiled import Block, Blockwise, Slopes
from .vgg import load_vgg19, read_weights, use_weights
from .workers import Workers, deal, gpu_seconds_per_pixel

__all__ = ["BlockWorker", "Ended", "Outcome", "Pool", "RayBlocks", "connect", "prepare_worker", "print_size",
           "run_transfer"]

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
    workers: int = 0
    """A print-size item's workers (`RayBlocks`); 0: the item ran as one task."""


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
        come out first. Print-size items (whose finest level runs in blocks) run last, one after
        another, each with its blocks on the cluster's workers (`run_print`). On KeyboardInterrupt
        (or when the caller stops iterating), the tasks not yet finished are cancelled."""
        prints = [item for item in items if item.config is not None and print_size(item.photo, item.config)]
        pending: dict[Any, Item] = {}
        images: dict[tuple[str, int], Any] = {}
        try:
            for item in (item for item in items if item not in prints):
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
        for item in prints:
            yield self.run_print(item)

    def run_print(self, item: Item) -> Outcome:
        """A print-size item (`print_transfer`), its outcome."""
        assert item.config is not None
        started = time.perf_counter()
        try:
            result, workers = self.print_transfer(item.photo, item.styles, item.config)
        except ImpastoError as error:
            return Outcome(item, error=str(error), seconds=time.perf_counter() - started)
        return Outcome(item, result, None, time.perf_counter() - started, workers)

    def print_transfer(self, photo: os.PathLike[str], styles: Sequence[os.PathLike[str]], config: TransferConfig,
                       callback: ProgressCallback | None = None) -> tuple[Result, int]:
        """A print-size transfer in this process, its blocks on the cluster's workers (as `impasto
        transfer --address` runs it), the workers stopped after it; and their number.

        Raises:
            ImpastoError: as `transfer` does.
        """
        blocks = RayBlocks(self.ray, config, self.threads)
        try:
            blocks.make()
            workers = blocks.workers(config.memory_budget)
            return transfer(photo, list(styles), config, callback, workers=workers), workers.count
        finally:
            blocks.shutdown()

    def _outcome(self, item: Item, ref: Any) -> Outcome:
        try:
            ended: Ended = self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as failure:  # a bug: say what it was
            cause = failure.cause
            return Outcome(item, error=f"internal error ({type(cause).__name__}: {cause})")
        except self.ray.exceptions.RayError as failure:  # the worker died more often than `retries` allows
            return Outcome(item, error=f"the task was lost {self.retries + 1} times ({type(failure).__name__})")
        return Outcome(item, ended.result, None if ended.error is None else str(ended.error), ended.seconds)


LOST = ("ActorDiedError", "ActorUnavailableError", "RayActorError", "ObjectLostError", "OwnerDiedError",
        "NodeDiedError", "WorkerCrashedError")
"""Ray's errors of a worker lost (killed, out of memory, its node gone), as opposed to a bug in it."""
DEPTH = 2
"""Calls queued on each worker at a time: one computing, one waiting, so that no worker idles while
the driver takes a result; the rest stay with the driver, in block order."""
SLOWER = 1.3
"""A worker whose blocks took this much longer than the others' is given fewer (`RayBlocks._rebalance`)."""
BANDWIDTH = 1.25e8
"""Bytes a second assumed between the driver and workers on other machines (1 Gbit/s Ethernet): the
planner's figure for a cluster, never measured here (all the tests and benchmarks run on one machine)."""


class BlockWorker:
    """A Ray actor that computes blocks of tiled levels (`tiled.Blockwise`): the network, loaded once,
    on a GPU where Ray gave it one; a level's fixed part; the content targets of the blocks it
    serves; and between the two passes of an evaluation, their crops. Results come back on the CPU."""

    def __init__(self, config: TransferConfig, threads: int, weights: dict[str, np.ndarray], gpu: bool) -> None:
        prepare_worker(config, threads, weights)
        self.device = torch.device("cuda" if gpu else "cpu")
        prepare_device(self.device)
        self.dtype = compute_dtype(config.precision, self.device)
        self.threads = threads
        self.vgg = load_vgg19(config.weights, config.pooling, self.device, config.padding, self.dtype)
        self.work: Blockwise | None = None
        self.targets: dict[int, dict[str, torch.Tensor]] = {}
        self.crops: dict[int, torch.Tensor] = {}

    def probe(self) -> tuple[int, float]:
        """This worker's process id, and one untiled iteration's seconds per pixel here."""
        if self.device.type == "cuda":
            return os.getpid(), gpu_seconds_per_pixel("bf16" if self.dtype == torch.bfloat16 else "fp32")
        return os.getpid(), PROBES_PER_PIXEL * cpu_probe_seconds(self.dtype, self.threads)

    def start(self, work: Blockwise) -> None:
        """A new level: its fixed part (the masks' guides moved to this worker's device); the last
        level's blocks are dropped."""
        for group in work.style_targets:
            for target in group.values():
                target.guide = None if target.guide is None else target.guide.to(self.device)
        self.work, self.targets, self.crops = work, {}, {}

    def norms(self, norms: dict[str, float]) -> None:
        assert self.work is not None
        self.work.content_norms = norms

    def content_targets(self, index: int, block: Block, content: torch.Tensor) -> dict[str, float]:
        """Make and keep block `index`'s content targets from its `content` crop; its norms' shares."""
        assert self.work is not None
        self.targets[index] = self.work.content_targets(self.vgg, content.to(self.device), block)
        return self.work.norm_parts(self.targets[index])

    def drop(self, indices: list[int]) -> None:
        """Forget blocks that moved to another worker."""
        for index in indices:
            self.targets.pop(index, None)

    def statistics(self, index: int, block: Block, crop: torch.Tensor, terms: bool) -> tuple[Any, ...]:
        """Pass 1 (`Blockwise.statistics`); the crop is kept for pass 2. Also the seconds it took."""
        assert self.work is not None
        started = time.perf_counter()
        self.crops[index] = crop = crop.to(self.device)
        sums, content, tv = self.work.statistics(self.vgg, crop, block, self.targets.get(index, {}) if terms else None)
        sums = [{name: [part.cpu() for part in parts] for name, parts in group.items()} for group in sums]
        return sums, content.cpu(), tv.cpu(), time.perf_counter() - started

    def gradient(self, index: int, block: Block, slopes: Slopes, crop: torch.Tensor | None) -> tuple[Any, ...]:
        """Pass 2 (`Blockwise.gradient`) on `crop`, or on the one pass 1 kept. Also the seconds it took."""
        assert self.work is not None
        started = time.perf_counter()
        crop = self.crops.pop(index) if crop is None else crop.to(self.device)
        slopes = [{name: [None if s is None else s.to(self.device) for s in parts] for name, parts in group.items()}
                  for group in slopes]
        grad, content, tv = self.work.gradient(self.vgg, crop, block, slopes, self.targets.get(index, {}))
        return grad.cpu(), content.cpu(), tv.cpu(), time.perf_counter() - started


class RayBlocks:
    """The blocks of tiled levels computed on Ray actors (`BlockWorker`): a `tiled.BlockEvaluator`.

    The actors are made once (the first level, or `workers`) and serve every level of the run: one
    per GPU where the cluster has GPUs and the settings allow one, else one per `threads` CPUs, at
    most `count` (default: as many as the cluster holds). Each level's blocks are dealt out by their
    crops' pixels (`workers.deal`); a worker whose blocks take `SLOWER` times the others' gives some
    to the fastest, and a lost worker's blocks go to the others, which make their content targets
    from the content's crops (kept in the object store for the level) and redo the step's blocks it
    had not given back. The driver takes every result in block order.

    Raises:
        ImpastoError: the cluster has no room for one worker.
    """

    def __init__(self, ray: Any, config: TransferConfig, threads: int = 1, count: int | None = None) -> None:
        self.ray, self.config, self.threads = ray, config, threads
        resources = ray.cluster_resources()
        self.gpu = int(resources.get("GPU", 0)) > 0 and config.device in ("auto", "cuda")
        slots = int(resources.get("GPU", 0)) if self.gpu else int(resources.get("CPU", 0)) // threads
        if slots < 1:
            raise ImpastoError(f"the Ray cluster has {int(resources.get('CPU', 0))} CPUs, fewer than --threads "
                               f"{threads}: lower it")
        self.count = slots if count is None else min(count, slots)
        self.memory = int(resources.get("memory", 0)) // self.count
        self.remote_nodes = len([node for node in ray.nodes() if node.get("Alive")]) > 1
        self.actors: list[Any] = []
        self.pids: dict[Any, int] = {}
        self.speed: dict[Any, float] = {}
        """Crop pixels a second each worker computed in pass 2, as last measured."""
        self.work: Blockwise | None = None
        self.grid: list[Block] = []
        self.owner: list[Any] = []
        self.content: list[Any] = []
        self.fresh: dict[int, Any] = {}
        """The blocks whose crop their owner holds from this evaluation's pass 1."""
        self.norms_sent = False
        self.weights: Any = None
        self.speed_probed: dict[Any, float] = {}
        self.busy: dict[Any, float] = {}
        """Seconds each worker spent computing blocks' passes, as it timed them (for benchmarks)."""

    def workers(self, budget: int | None, more_steps: bool = True) -> Workers:
        """The workers as the planner sees them (`workers.Workers`), with this evaluator; each worker
        within `budget` bytes (default: its share of the cluster's memory). Their speed is the median
        of their probes where they are made, else this machine's with `threads` threads."""
        if self.actors:
            rate = sorted(1 / self.speed_probed[actor] for actor in self.actors)[len(self.actors) // 2]
        elif self.gpu:
            rate = gpu_seconds_per_pixel(self.config.precision if self.config.precision != "auto" else "bf16")
        else:
            before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
            try:
                rate = PROBES_PER_PIXEL * cpu_probe_seconds(compute_dtype(self.config.precision, torch.device("cpu")),
                                                            self.threads)
            finally:
                torch.set_num_threads(before)
        return Workers(self.count, rate, budget or self.memory, BANDWIDTH if self.remote_nodes else None, self.gpu,
                       more_steps, self)

    def make(self) -> None:
        """Make the workers that are missing (all of them at first, those lost since), and probe them."""
        if len(self.actors) >= self.count:
            return
        if self.weights is None:
            state = read_weights(self.config.weights)
            self.weights = self.ray.put({name: value.numpy() for name, value in state.items()})
        worker = self.ray.remote(BlockWorker)
        options = {"num_cpus": 1, "num_gpus": 1} if self.gpu else {"num_cpus": self.threads, "num_gpus": 0}
        made = [worker.options(max_restarts=0, max_task_retries=0, **options).remote(
            self.config, self.threads, self.weights, self.gpu) for _ in range(self.count - len(self.actors))]
        for actor, (pid, rate) in zip(made, self.ray.get([actor.probe.remote() for actor in made]), strict=True):
            self.pids[actor] = pid
            self.speed[actor] = self.speed_probed[actor] = 1 / rate
        self.actors += made

    def shutdown(self) -> None:
        """Stop the workers."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors = []

    # The tiled.BlockEvaluator interface.

    def start(self, work: Blockwise, grid: Sequence[Block], content: torch.Tensor | None) -> list[dict[str, float]]:
        self.make()
        self.work, self.grid, self.fresh, self.norms_sent = work, list(grid), {}, False
        self.owner = [None] * len(self.grid)
        for actor, indices in zip(self.actors, deal([_pixels(b) for b in self.grid], len(self.actors)), strict=True):
            for index in indices:
                self.owner[index] = actor
        self.content = []
        self._rebalance()  # by the speeds measured so far
        work_ref = self.ray.put(work)
        for actor in self.actors:
            actor.start.remote(work_ref)
        if content is None:
            return []
        self.content = [self.ray.put(_sent(block.crop(content))) for block in self.grid]
        return list(self._in_order(lambda index, actor: actor.content_targets.remote(
            index, self.grid[index], self.content[index]), lambda: None))

    def statistics(self, image: torch.Tensor, grid: Sequence[Block], terms: bool,
                   told: Callable[[], None]) -> Iterator[tuple[Any, torch.Tensor, torch.Tensor]]:
        self._send_norms()
        self.fresh = {}

        def submit(index: int, actor: Any) -> Any:
            self.fresh[index] = actor
            return actor.statistics.remote(index, self.grid[index], _sent(self.grid[index].crop(image)), terms)

        for index, (sums, content, tv, took) in enumerate(self._in_order(submit, told)):
            self.busy[self.owner[index]] = self.busy.get(self.owner[index], 0.0) + took
            yield sums, content, tv

    def gradients(self, image: torch.Tensor, grid: Sequence[Block], slopes: Slopes,
                  told: Callable[[], None]) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        self._send_norms()
        slopes_ref = self.ray.put([{name: [None if s is None else s.cpu() for s in parts]
                                    for name, parts in group.items()} for group in slopes])
        seconds: dict[Any, float] = {}
        pixels: dict[Any, int] = {}

        def submit(index: int, actor: Any) -> Any:
            crop = None if self.fresh.pop(index, None) is actor else _sent(self.grid[index].crop(image))
            return actor.gradient.remote(index, self.grid[index], slopes_ref, crop)

        for index, (grad, content, tv, took) in enumerate(self._in_order(submit, told)):
            actor = self.owner[index]
            seconds[actor] = seconds.get(actor, 0.0) + took
            self.busy[actor] = self.busy.get(actor, 0.0) + took
            pixels[actor] = pixels.get(actor, 0) + _pixels(self.grid[index])
            yield grad, content, tv
        for actor, took in seconds.items():
            if actor in self.speed and took > 0:
                self.speed[actor] = pixels[actor] / took
        self._rebalance()

    # Dealing the blocks out, and taking their results in block order.

    def _send_norms(self) -> None:
        if not self.norms_sent:
            assert self.work is not None
            for actor in self.actors:
                actor.norms.remote(self.work.content_norms)
            self.norms_sent = True

    def _in_order(self, submit: Callable[[int, Any], Any], told: Callable[[], None]) -> Iterator[Any]:
        """Each block's result, in block order: `submit(index, actor)` asks `actor` for it, at most
        `DEPTH` at a time a worker; a lost worker's blocks not yet taken are moved and asked again."""
        queued = {actor: [i for i, owner in enumerate(self.owner) if owner is actor] for actor in self.actors}
        asked: dict[Any, int] = {}  # ref -> block
        done: dict[int, Any] = {}  # block -> its ref, finished or failed
        index = 0
        while index < len(self.grid):
            if index not in done:
                for actor in self.actors:
                    busy = sum(self.owner[block] is actor for block in asked.values())
                    for block in queued[actor][:max(0, DEPTH - busy)]:
                        asked[submit(block, actor)] = block
                    queued[actor] = queued[actor][max(0, DEPTH - busy):]
                ready, _ = self.ray.wait(list(asked), num_returns=1)
                done[asked.pop(ready[0])] = ready[0]
                continue
            try:
                value = self.ray.get(done.pop(index))
            except self.ray.exceptions.RayError as error:
                if type(error).__name__ not in LOST:
                    raise
                lost = self.owner[index]
                again = {index, *queued.pop(lost, []),
                         *(block for block in [*asked.values(), *done] if self.owner[block] is lost)}
                asked = {ref: block for ref, block in asked.items() if self.owner[block] is not lost}
                done = {block: ref for block, ref in done.items() if self.owner[block] is not lost}
                self._lose(lost)
                for block in sorted(again):
                    queued[self.owner[block]].append(block)
                for blocks in queued.values():
                    blocks.sort()
                continue
            told()
            yield value
            index += 1

    def _lose(self, lost: Any) -> None:
        """Give a lost worker's blocks to the others, each to the one that would finish first, which
        makes its content targets."""
        self.actors.remove(lost)
        self.speed.pop(lost, None)
        with contextlib.suppress(Exception):
            self.ray.kill(lost)
        if not self.actors:
            raise ImpastoError(f"every worker was lost ({self.count}): check the cluster's nodes and their memory, "
                               f"then run again (with --work-dir, from the last finished level)")
        load = self._loads()
        for index, owner in enumerate(self.owner):
            if owner is lost:
                actor = min(self.actors, key=lambda a: load[a] + _pixels(self.grid[index]) / self.speed[a])
                load[actor] += _pixels(self.grid[index]) / self.speed[actor]
                self._move(index, actor)

    def _rebalance(self) -> None:
        """Move blocks from the worker that would finish last to the one that would finish first while
        the first takes `SLOWER` times as long and a move shortens it."""
        load = self._loads()
        for _ in range(len(self.grid)):
            slow, fast = max(self.actors, key=load.__getitem__), min(self.actors, key=load.__getitem__)
            if load[slow] <= SLOWER * load[fast]:
                return
            better = [(max(load[slow] - _pixels(self.grid[i]) / self.speed[slow],
                           load[fast] + _pixels(self.grid[i]) / self.speed[fast]), i)
                      for i, owner in enumerate(self.owner) if owner is slow]
            finish, index = min(better, default=(math.inf, -1))
            if finish >= load[slow]:
                return
            load[slow] -= _pixels(self.grid[index]) / self.speed[slow]
            load[fast] += _pixels(self.grid[index]) / self.speed[fast]
            slow.drop.remote([index])
            self._move(index, fast)

    def _loads(self) -> dict[Any, float]:
        """Each worker's predicted seconds for its blocks."""
        load = dict.fromkeys(self.actors, 0.0)
        for index, owner in enumerate(self.owner):
            if owner in load:
                load[owner] += _pixels(self.grid[index]) / self.speed[owner]
        return load

    def _move(self, index: int, actor: Any) -> None:
        self.owner[index] = actor
        if self.content:
            actor.content_targets.remote(index, self.grid[index], self.content[index])


def print_size(photo: os.PathLike[str], config: TransferConfig) -> bool:
    """Whether a transfer of `photo` with `config` has its finest level in blocks (planned in this
    process): a print-size job, which runs with `Pool.print_transfer`."""
    try:
        return plan_transfer(photo, config).levels[-1].block is not None
    except ImpastoError:  # an unreadable photo, a size that cannot fit: its task says so
        return False


def _sent(crop: torch.Tensor) -> torch.Tensor:
    """A crop as it is sent to a worker: a copy of its own on the CPU (a view would pickle the whole
    image's storage)."""
    return crop.clone(memory_format=torch.contiguous_format).cpu()


def _pixels(block: Block) -> int:
    """A block's cost: its crop's pixels."""
    return (block.crop_bottom - block.crop_top) * (block.crop_right - block.crop_left)
