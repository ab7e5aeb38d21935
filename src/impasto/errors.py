"""The exceptions impasto raises.

Our exception hierarchy::

    ImpastoError            the root: anything impasto raises on purpose
    ├── ConfigError         a setting is invalid (unknown layer, negative weight, bad size, ...)
    ├── ImageError          an input image cannot be used, or an output path cannot be written
    ├── WeightsError        the VGG-19 weights are missing or malformed
    ├── DeviceError         the requested device is not available
    └── OptimizationError   the optimisation failed or was stopped; carries the last good image
        └── OutOfMemory     a level ran out of memory (the pipeline retries it in smaller blocks)

Messages name the problem, the value received and the way out, in one line. Only the entry points
(the CLI, the web app) turn these into exit codes or HTTP errors.
"""

from __future__ import annotations

import torch

__all__ = [
    "ConfigError",
    "DeviceError",
    "ImageError",
    "ImpastoError",
    "Interrupted",
    "NonFiniteLoss",
    "OptimizationError",
    "OutOfMemory",
    "WeightsError",
]


class ImpastoError(Exception):
    """Root of every error impasto raises on purpose."""


class ConfigError(ImpastoError, ValueError):
    """A setting is invalid."""


class ImageError(ImpastoError):
    """An input image cannot be read or used, or an output image cannot be written."""


class WeightsError(ImpastoError):
    """The VGG-19 weights cannot be found or loaded."""


class DeviceError(ImpastoError):
    """The requested compute device is not available."""


class OptimizationError(ImpastoError):
    """The optimisation stopped early.

    Attributes:
        image: the last good image, shape (1, 3, H, W) in [0, 1], or None if there was none yet.
        step: the iteration that image comes from (0 is the initial image).
    """

    def __init__(self, message: str, image: torch.Tensor | None, step: int) -> None:
        super().__init__(message)
        self.image = image
        self.step = step

    def __reduce__(self) -> tuple[type[OptimizationError], tuple[str, torch.Tensor | None, int]]:
        # Pickled with its image and step (a Ray task hands it back to the server this way).
        return type(self), (str(self), self.image, self.step)


class NonFiniteLoss(OptimizationError):
    """The loss became NaN or infinite."""


class Interrupted(OptimizationError):
    """The user interrupted the run (Ctrl-C)."""


class OutOfMemory(OptimizationError):
    """The device ran out of memory during a level; `image` is the image reached so far."""
