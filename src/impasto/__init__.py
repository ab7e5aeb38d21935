"""impasto: neural style transfer after Gatys, Ecker & Bethge (CVPR 2016), on PyTorch.

    >>> import impasto
    >>> image = impasto.stylize("photo.jpg", "painting.jpg", size=256, seed=0)  # doctest: +SKIP
    >>> image.save("out.png")  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .config import TransferConfig
from .errors import (
    ConfigError,
    DeviceError,
    ImageError,
    ImpastoError,
    Interrupted,
    NonFiniteLoss,
    OptimizationError,
    WeightsError,
)
from .images import load_image, read_metadata, save_image
from .optimize import Progress
from .pipeline import Result, reconstruct_content, stylize, synthesize_texture, transfer

__all__ = [
    "ConfigError",
    "DeviceError",
    "ImageError",
    "ImpastoError",
    "Interrupted",
    "NonFiniteLoss",
    "OptimizationError",
    "Progress",
    "Result",
    "TransferConfig",
    "WeightsError",
    "__version__",
    "load_image",
    "read_metadata",
    "reconstruct_content",
    "save_image",
    "stylize",
    "synthesize_texture",
    "transfer",
]
