"""Gradient descent on the pixels at one resolution: L-BFGS or Adam, with a NaN guard.

The optimiser never prints: it reports each iteration as a `Progress` event to a callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import Interrupted, NonFiniteLoss
from .objective import LossTerms, Objective

__all__ = ["Progress", "ProgressCallback", "optimize"]


@dataclass(frozen=True)
class Progress:
    """One finished iteration. Losses are those of the image the iteration started from."""

    step: int
    """1-based iteration number."""
    total: int
    loss: float
    content: float
    style: float
    tv: float
    elapsed: float
    """Seconds since the optimisation started."""
    image: torch.Tensor
    """The current image, (1, 3, H, W), clamped to [0, 1]; copy it to keep it."""

    @property
    def rate(self) -> float:
        """Iterations per second so far."""
        return self.step / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float:
        """Estimated seconds left."""
        return (self.total - self.step) / self.rate if self.rate > 0 else math.inf


ProgressCallback = Callable[[Progress], bool | None]
"""Receives each `Progress` event; returning True stops the optimisation (`Interrupted` is raised)."""


def optimize(
    objective: Objective,
    init: torch.Tensor,
    iterations: int,
    optimizer: str = "lbfgs",
    lr: float = 1.0,
    callback: ProgressCallback | None = None,
) -> torch.Tensor:
    """Minimise `objective` over the pixels, starting from `init` (1, 3, H, W).

    Pixels are optimised unconstrained and clamped to [0, 1] only in the returned image and in
    progress events (clamping inside would corrupt L-BFGS's curvature estimates).

    Raises:
        NonFiniteLoss: the loss became NaN or infinite; carries the last image with a finite loss.
        Interrupted: Ctrl-C, or the callback returned True; carries the current image.
    """
    image = init.detach().clone().requires_grad_(True)
    if optimizer == "lbfgs":
        # One L-BFGS iteration per step() call keeps its history and lets us report every step.
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [image], lr=lr, max_iter=1, history_size=100, tolerance_grad=-1, tolerance_change=-1
        )
    else:
        opt = torch.optim.Adam([image], lr=lr)
    last_good = (image.detach().clamp(0, 1), 0)  # (image, iterations that made it)
    done = 0  # iterations finished; closure() evaluates the image they produced
    terms: LossTerms | None = None
    scale: float | None = None

    def closure() -> float:
        nonlocal terms, last_good, scale
        opt.zero_grad(set_to_none=True)
        terms = objective(image)
        if not math.isfinite(terms.value):
            raise NonFiniteLoss(
                f"the loss became {terms.value} at iteration {done + 1}: lower the weights or the learning rate",
                *last_good,
            )
        last_good = (image.detach().clamp(0, 1), done)
        terms.total.backward()
        assert image.grad is not None
        if scale is None:
            # The paper's loss is of order 1e13 at the start. torch's L-BFGS makes its first step
            # lr / |g|_1, a move lost in float32 rounding, and its curvature estimate is then noise.
            # Scaling the objective so that step moves pixels by about 1% fixes that; L-BFGS's
            # later steps are invariant to the scale.
            scale = 0.01 * image.numel() / max(image.grad.abs().sum().item(), 1e-30)
        image.grad.mul_(scale)
        return terms.value * scale

    start = time.perf_counter()
    try:
        while done < iterations:
            opt.step(closure)
            done += 1
            if callback is not None and terms is not None:
                elapsed = time.perf_counter() - start
                current = image.detach().clamp(0, 1)
                if callback(Progress(done, iterations, terms.value, terms.content, terms.style,
                                     terms.tv, elapsed, current)):
                    raise Interrupted(f"stopped after {done} iterations", current, done)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted after {last_good[1]} iterations", *last_good) from None
    result = image.detach().clamp(0, 1)
    if not torch.isfinite(result).all():
        raise NonFiniteLoss("the image became NaN: lower the weights or the learning rate", *last_good)
    return result
