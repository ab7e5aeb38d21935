"""Gradient descent on the pixels at one resolution: L-BFGS or Adam, with a NaN guard.

The optimiser never prints: it reports each iteration as a `Progress` event to a callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .config import TransferConfig
from .errors import Interrupted, NonFiniteLoss, OutOfMemory
from .objective import LossTerms, Objective

__all__ = ["LBFGS", "PATIENCE", "Optimized", "Progress", "ProgressCallback", "optimize"]


@dataclass(frozen=True)
class Progress:
    """One finished iteration. Losses are those of the image the iteration started from."""

    step: int
    """1-based iteration number, counted over all levels of the schedule."""
    total: int
    """Iterations planned in all."""
    loss: float
    content: float
    style: float
    tv: float
    elapsed: float
    """Seconds since the optimisation started."""
    image: torch.Tensor
    """The current image, (1, 3, H, W), clamped to [0, 1]; copy it to keep it. On a block event, the
    image being optimised as it is (not clamped, nor recoloured by `preserve_colors`): no copy is
    made while a print-size level computes its blocks."""
    level: int = 1
    """The level of the coarse-to-fine schedule, 1 (coarsest) to `levels`."""
    levels: int = 1
    work: float | None = None
    """Fraction of the run's work done, weighing iterations by their pixels; None: step / total."""
    block: int = 0
    """1-based block of the iteration in progress, on a level computed in blocks; 0 for the event
    of a finished iteration (a block event repeats that of the last finished iteration, but for
    `image`, `elapsed` and `work`)."""
    blocks: int = 0
    """Blocks per iteration (over both of the tiled objective's passes)."""

    @property
    def rate(self) -> float:
        """Iterations per second so far."""
        return self.step / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float:
        """Estimated seconds left."""
        done = self.step / self.total if self.work is None else self.work
        return self.elapsed * (1 - done) / done if done > 0 and self.elapsed > 0 else math.inf


ProgressCallback = Callable[[Progress], bool | None]
"""Receives each `Progress` event; returning True stops the optimisation (`Interrupted` is raised)."""

PATIENCE = 10  # iterations over which `early_stop` measures the loss's fall
READS_PER_SECOND = 4  # on a GPU, how often the losses are read back (for progress events and the early stop)
MAX_MOVE = 1.0  # the most an L-BFGS step moves any value: the range of the pixels


class Optimized(NamedTuple):
    """What `optimize` reached."""

    image: torch.Tensor
    """(1, 3, H, W) in [0, 1]."""
    steps: int
    """Iterations taken: fewer than asked where `early_stop` ended the level."""


def optimize(
    objective: Objective,
    init: torch.Tensor,
    iterations: int,
    config: TransferConfig,
    callback: ProgressCallback | None = None,
    history_device: torch.device | None = None,
) -> Optimized:
    """Minimise `objective` over the pixels, starting from `init` (1, 3, H, W), with the optimiser
    settings of `config` (optimizer, lr, history_size, average_iterates, early_stop), for at most
    `iterations` steps. `init` is optimised in place and, clamped, is the result (a print-size image
    is not copied): pass a tensor you do not need again. L-BFGS keeps its history on
    `history_device` (by default `init`'s).

    Pixels are optimised unconstrained and clamped to [0, 1] only in the returned image and in
    progress events (clamping inside would corrupt L-BFGS's curvature estimates).

    Raises:
        NonFiniteLoss: the loss became NaN or infinite; carries the last image with a finite loss.
        Interrupted: Ctrl-C, or the callback returned True (also on a block event, within the
            iteration); carries the current image.
    """
    image = init.detach().requires_grad_(True)  # optimised in place: no second image-sized copy
    opt: LBFGS | torch.optim.Adam
    if config.optimizer == "lbfgs":
        opt = LBFGS(image, lr=config.lr, history_size=config.history_size, device=history_device)
    else:
        opt = torch.optim.Adam([image], lr=config.lr)
    average = _IterateAverage(image) if config.average_iterates and config.optimizer == "adam" else None
    guard = _Guard(image)
    done = 0  # iterations finished; closure() evaluates the image they produced
    terms: LossTerms | None = None
    scale: float | None = None
    unread: list[torch.Tensor] = []  # the losses of the steps since the last reading, on the device
    losses: list[float] = []
    # Losses are read (a host sync on a GPU) only for a progress event or the early stop: on the CPU
    # after every step, on a GPU about `READS_PER_SECOND` times a second.
    reading = callback is not None or config.early_stop > 0
    every, last_read = 1, time.perf_counter()

    def closure() -> torch.Tensor:
        nonlocal terms, scale
        image.grad = None
        terms = objective.evaluate(image)
        guard.keep(image, terms.total, done)
        unread.append(terms.total)
        assert image.grad is not None
        if scale is None:
            # The paper's loss is of order 1e13 at the start. Scaled so that its gradient's mean
            # magnitude is 0.01, L-BFGS's first step (lr x the gradient) moves each value by about
            # 1% of its range; its later steps are invariant to the scale. (One read a level.)
            scale = 0.01 * image.numel() / max(image.grad.abs().sum().item(), 1e-30)
        image.grad.mul_(scale)
        return terms.total * scale

    start = time.perf_counter()
    try:
        while done < iterations:
            opt.step(closure)
            done += 1
            if average is not None:
                average.update(image)
            if not reading or (done % every and done < iterations):
                continue
            values = torch.stack(unread).tolist()
            guard.check(values, done - len(values))
            unread.clear()
            if image.device.type == "cuda":  # read about 4 times a second, from the steps' measured time
                now = time.perf_counter()
                per_step = (now - last_read) / len(values)
                every = max(1, min(64, round(1 / READS_PER_SECOND / max(per_step, 1e-6))))
                last_read = now
            if callback is not None and terms is not None:
                # A clamped copy for the event only: kept through the next evaluation, it would be one
                # more image-sized tensor at the peak of a print-size level.
                current = (image if average is None else average.image).detach().clamp(0, 1)
                _, content, style, tv = terms.numbers()
                event = Progress(done, iterations, values[-1], content, style, tv, time.perf_counter() - start,
                                 current)
                if callback(event):
                    raise Interrupted(f"stopped after {done} iterations", current, done)
                del current, event
            if config.early_stop and _stalled(losses, values, config.early_stop):
                break
    except (KeyboardInterrupt, Interrupted) as stop:
        if isinstance(stop, Interrupted) and stop.image is not None:
            raise
        # Ctrl-C, or a block event's callback asked to stop (the objective has no image to give).
        current = (image if average is None else average.image).detach().clamp(0, 1)
        image_done = (current, done) if torch.isfinite(current).all() else guard.last_good()
        verb = "interrupted" if isinstance(stop, KeyboardInterrupt) else "stopped"
        raise Interrupted(f"{verb} after {image_done[1]} iterations", *image_done) from None
    except (MemoryError, torch.OutOfMemoryError):
        if isinstance(opt, LBFGS):  # free the history before the image is copied
            opt.forget()
        else:
            opt.state.clear()
        current = (image if average is None else average.image).detach().clamp(0, 1)
        image_done = (current, done) if torch.isfinite(current).all() else guard.last_good()
        raise OutOfMemory(f"out of memory after {image_done[1]} iterations", *image_done) from None
    del opt  # the history's memory is free before the result is made
    if unread:
        guard.check(torch.stack(unread).tolist(), done - len(unread))
    result = image.detach().clamp_(0, 1) if average is None else average.image.clamp(0, 1)  # `init`, in place
    if not torch.isfinite(result).all():
        raise NonFiniteLoss("the image became NaN: lower the weights or the learning rate", *guard.last_good())
    return Optimized(result, done)


def _stalled(losses: list[float], values: list[float], early_stop: float) -> bool:
    """Append `values` to `losses`; whether, at one of them, the loss fell by less than `early_stop`
    (a fraction) over the `PATIENCE` iterations before."""
    for value in values:
        losses.append(value)
        if len(losses) > PATIENCE and losses[-PATIENCE - 1] - value < early_stop * abs(losses[-PATIENCE - 1]):
            return True
    return False


class _Guard:
    """The NaN guard, without reading the loss: the last image whose loss and every loss before were
    finite is kept on the device (in float16, as a failure's image), chosen by a mask, and the losses
    are checked when they are read."""

    def __init__(self, image: torch.Tensor) -> None:
        self.image = _compact(image)
        self.step = torch.zeros((), dtype=torch.int64, device=image.device)
        self.finite = torch.ones((), dtype=torch.bool, device=image.device)

    def keep(self, image: torch.Tensor, loss: torch.Tensor, step: int) -> None:
        """`image`, made by `step` iterations, has `loss`: keep it while every loss was finite."""
        self.finite &= torch.isfinite(loss)
        torch.where(self.finite, _compact(image), self.image, out=self.image)
        self.step = torch.where(self.finite, step, self.step)

    def check(self, values: list[float], first: int) -> None:
        """Raise NonFiniteLoss if one of `values`, the losses of iterations `first` + 1 on, is not finite."""
        for offset, value in enumerate(values, first + 1):
            if not math.isfinite(value):
                raise NonFiniteLoss(
                    f"the loss became {value} at iteration {offset}: lower the weights or the learning rate",
                    *self.last_good(),
                )

    def last_good(self) -> tuple[torch.Tensor, int]:
        return self.image.float(), int(self.step.item())


def _compact(image: torch.Tensor) -> torch.Tensor:
    """A half-size copy of `image` clamped to [0, 1] (2**-11 from the float32 one): the last good
    image is kept for a failure, and a print-size image's float32 copy would cost 12 bytes a pixel."""
    return image.detach().to(torch.float16).clamp_(0, 1)


class LBFGS:
    """L-BFGS with one gradient per step and no line search: torch.optim.LBFGS's iteration
    (`max_iter=1`: steps of `lr` along the two-loop direction, pairs with y.s <= 1e-10 given no
    weight), holding fewer image-sized vectors, so a print-size image fits in less memory, and never
    reading a number back from the device, so that a GPU never waits for the host.

    The first step (and the first after `forget`) is `lr` times the gradient, where torch's is
    `lr / |g|_1` times it: on n values a move of 1/n each, lost in float32 rounding at print size,
    which wasted the first step of every level and gave a curvature pair of rounding noise.

    Where torch's branches on a number (is the new pair's curvature y.s positive? is the step
    downhill?), this masks: every step's pair enters the history, with weight 1 / y.s or 0, and an
    uphill step is taken with length 0. So a rejected pair takes a place in the history (torch's
    skips it, and keeps an older one): the same iterates wherever no pair is rejected, which for a
    style transfer's loss is everywhere but after a NaN.

    torch's keeps, besides the image and its gradient, a flat copy of the gradient, the previous
    one, the direction, and during the update two more (q and r), plus the history pairs: 5 vectors.
    This keeps 2 (the previous gradient and the direction), and turns them into the new history pair
    in place (y = g - g_prev, s = t d), reusing the buffers of a pair that leaves the history.

    They live on `device`, by default the image's. Another (the host's memory, for a GPU that cannot
    hold them beside a print-size level) costs two copies a step: the gradient there, the step back.
    """

    def __init__(
        self, image: torch.Tensor, lr: float = 1.0, history_size: int = 100, device: torch.device | None = None
    ) -> None:
        self.image, self.lr, self.history_size = image, lr, history_size
        self.device = image.device if device is None else device
        # (s, y, 1 / y.s or 0), oldest first; the weights are 0-d tensors on `device`.
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.direction: torch.Tensor | None = None
        self.previous: torch.Tensor | None = None  # the last step's gradient
        self.step_size: torch.Tensor | None = None  # 0-d, on `device`
        self.scale: torch.Tensor | None = None  # of the initial inverse Hessian, y.s / y.y of the latest good pair

    def forget(self) -> None:
        """Drop the history and the vectors (to free their memory): the next step starts afresh."""
        self.pairs, self.direction, self.previous, self.scale = [], None, None, None

    def step(self, closure: Callable[[], object]) -> None:
        """Evaluate the loss and gradient with `closure` and move the image one step."""
        closure()
        assert self.image.grad is not None
        gradient = self.image.grad.detach().flatten().to(self.device)
        if self.direction is None or self.previous is None or self.step_size is None:
            self.direction = gradient.neg()
            self.previous = gradient.clone()
            self.step_size = torch.full((), self.lr, dtype=gradient.dtype, device=self.device)
            self.scale = torch.ones((), dtype=gradient.dtype, device=self.device)
        else:
            assert self.scale is not None
            y = self.previous.neg_().add_(gradient)
            s = self.direction.mul_(self.step_size)
            ys = y.dot(s)
            curved = ys > 1e-10
            spare: list[torch.Tensor] = []  # image-sized buffers free for reuse
            if len(self.pairs) == self.history_size:
                spare.extend(self.pairs.pop(0)[:2])
            self.pairs.append((s, y, torch.where(curved, ys.reciprocal(), 0.0)))
            self.scale = torch.where(curved, ys / y.dot(y), self.scale)
            self.direction = self._direction(gradient, spare)
            self.previous = spare.pop().copy_(gradient) if spare else gradient.clone()
            # Departs from torch's: no step moves a value by more than MAX_MOVE (the pixels' whole
            # range). A curvature pair from the first, 1% step can make the second step's direction
            # huge (from white noise: the loss went from 3.7 to 2.6e12 and back); otherwise the same.
            self.step_size = (MAX_MOVE / self.direction.abs().max().clamp_min(1e-30)).clamp_max(self.lr)
        # torch's test (tolerance_change -1): an uphill step is not taken.
        length = torch.where(gradient.dot(self.direction) <= 1, self.step_size, 0.0)
        with torch.no_grad():
            self.image.addcmul_(self.direction.view_as(self.image).to(self.image.device),
                                length.to(self.image.device))

    def _direction(self, gradient: torch.Tensor, spare: list[torch.Tensor]) -> torch.Tensor:
        """The two-loop recursion: -H g, with H the inverse Hessian the history pairs estimate."""
        assert self.scale is not None
        q = spare.pop().copy_(gradient).neg_() if spare else gradient.neg()
        alphas = []
        for s, y, rho in reversed(self.pairs):
            alpha = torch.where(rho > 0, s.dot(q) * rho, 0.0)  # 0 x an overflowed s.q would be NaN
            q.addcmul_(y, alpha, value=-1)
            alphas.append(alpha)
        q.mul_(self.scale)
        for (s, y, rho), alpha in zip(self.pairs, reversed(alphas), strict=True):
            beta = torch.where(rho > 0, y.dot(q) * rho, 0.0)
            q.addcmul_(s, alpha - beta)
        return q


class _IterateAverage:
    """An exponential moving average of the iterates, warmed up so early iterates do not dominate:
    the decay grows as 1 - 1/(t + 1) up to 0.98 (about the last 50 iterates)."""

    def __init__(self, image: torch.Tensor) -> None:
        self.image, self.count = image.detach().clone(), 0

    def update(self, image: torch.Tensor) -> None:
        self.count += 1
        decay = min(0.98, 1 - 1 / (self.count + 1))
        self.image.lerp_(image.detach(), 1 - decay)
