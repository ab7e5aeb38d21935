"""Gradient descent on the pixels at one resolution: L-BFGS or Adam, with a NaN guard.

The optimiser never prints: it reports each iteration as a `Progress` event to a callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .config import TransferConfig
from .errors import Interrupted, NonFiniteLoss, OutOfMemory
from .objective import LossTerms, Objective

__all__ = ["PATIENCE", "Progress", "ProgressCallback", "optimize"]


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
    """The current image, (1, 3, H, W), clamped to [0, 1]; copy it to keep it."""
    level: int = 1
    """The level of the coarse-to-fine schedule, 1 (coarsest) to `levels`."""
    levels: int = 1
    work: float | None = None
    """Fraction of the run's work done, weighing iterations by their pixels; None: step / total."""
    block: int = 0
    """1-based block of the iteration in progress, on a level computed in blocks; 0 for the event
    of a finished iteration (a block event repeats that of the last finished iteration)."""
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


def optimize(
    objective: Objective,
    init: torch.Tensor,
    iterations: int,
    config: TransferConfig,
    callback: ProgressCallback | None = None,
) -> torch.Tensor:
    """Minimise `objective` over the pixels, starting from `init` (1, 3, H, W), with the optimiser
    settings of `config` (optimizer, lr, history_size, average_iterates, early_stop).

    Pixels are optimised unconstrained and clamped to [0, 1] only in the returned image and in
    progress events (clamping inside would corrupt L-BFGS's curvature estimates).

    Raises:
        NonFiniteLoss: the loss became NaN or infinite; carries the last image with a finite loss.
        Interrupted: Ctrl-C, or the callback returned True; carries the current image.
    """
    image = init.detach().clone().requires_grad_(True)
    del init  # a large image is not kept twice
    if config.optimizer == "lbfgs":
        # One L-BFGS iteration per step() call keeps its history and lets us report every step.
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [image], lr=config.lr, max_iter=1, history_size=config.history_size, tolerance_grad=-1,
            tolerance_change=-1,
        )
    else:
        opt = torch.optim.Adam([image], lr=config.lr)
    average = _IterateAverage(image) if config.average_iterates and config.optimizer == "adam" else None
    last_good = (image.detach().clamp(0, 1), 0)  # (image, iterations that made it)
    done = 0  # iterations finished; closure() evaluates the image they produced
    terms: LossTerms | None = None
    value = math.inf
    scale: float | None = None
    losses: list[float] = []

    def closure() -> float:
        nonlocal terms, last_good, scale, value
        opt.zero_grad(set_to_none=True)
        terms = objective.evaluate(image)
        value = terms.total.item()
        if not math.isfinite(value):
            raise NonFiniteLoss(
                f"the loss became {value} at iteration {done + 1}: lower the weights or the learning rate",
                *last_good,
            )
        last_good = (image.detach().clamp(0, 1), done)
        assert image.grad is not None
        if scale is None:
            # The paper's loss is of order 1e13 at the start. torch's L-BFGS makes its first step
            # lr / |g|_1, a move lost in float32 rounding, and its curvature estimate is then noise.
            # Scaling the objective so that step moves pixels by about 1% fixes that; L-BFGS's
            # later steps are invariant to the scale.
            scale = 0.01 * image.numel() / max(image.grad.abs().sum().item(), 1e-30)
        image.grad.mul_(scale)
        return value * scale

    start = time.perf_counter()
    try:
        while done < iterations:
            opt.step(closure)
            done += 1
            if average is not None:
                average.update(image)
            current = (image if average is None else average.image).detach().clamp(0, 1)
            if callback is not None and terms is not None:
                _, content, style, tv = terms.numbers()
                event = Progress(done, iterations, value, content, style, tv, time.perf_counter() - start, current)
                if callback(event):
                    raise Interrupted(f"stopped after {done} iterations", current, done)
            losses.append(value)
            if config.early_stop and len(losses) > PATIENCE and \
                    losses[-PATIENCE - 1] - value < config.early_stop * abs(losses[-PATIENCE - 1]):
                break
    except KeyboardInterrupt:
        current = (image if average is None else average.image).detach().clamp(0, 1)
        image_done = (current, done) if torch.isfinite(current).all() else last_good
        raise Interrupted(f"interrupted after {image_done[1]} iterations", *image_done) from None
    except (MemoryError, torch.OutOfMemoryError):
        opt.state.clear()  # free L-BFGS's history before the image is copied
        current = (image if average is None else average.image).detach().clamp(0, 1)
        image_done = (current, done) if torch.isfinite(current).all() else last_good
        raise OutOfMemory(f"out of memory after {image_done[1]} iterations", *image_done) from None
    result = (image if average is None else average.image).detach().clamp(0, 1)
    if not torch.isfinite(result).all():
        raise NonFiniteLoss("the image became NaN: lower the weights or the learning rate", *last_good)
    return result


class _IterateAverage:
    """An exponential moving average of the iterates, warmed up so early iterates do not dominate:
    the decay grows as 1 - 1/(t + 1) up to 0.98 (about the last 50 iterates)."""

    def __init__(self, image: torch.Tensor) -> None:
        self.image, self.count = image.detach().clone(), 0

    def update(self, image: torch.Tensor) -> None:
        self.count += 1
        decay = min(0.98, 1 - 1 / (self.count + 1))
        self.image.lerp_(image.detach(), 1 - decay)
