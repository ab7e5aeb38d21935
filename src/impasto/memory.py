"""How much memory a style transfer needs, how much a device has, and the largest size that fits.

A run's peak memory grows with its output pixels: the VGG-19 activations kept for the backward
pass, and L-BFGS's history (pairs of image-sized float32 vectors, 24 bytes a pixel each), are both
proportional to them. Measured with `benchmarks/memory.py` on the CPU (torch 2.13.0, 2026-11-27):
default settings at the output size only (the last level of a coarse-to-fine schedule is the
largest), 105 iterations so that the history holds its 100 pairs, peak RSS minus the RSS before
the run, in a fresh process with the weights loaded:

    output    pixels   fp32       bf16 (precision auto here)   this model (fp32, 100 pairs)
    128x96     12288    191 MiB    129 MiB                     202 MiB
    256x192    49152    364 MiB    431 MiB                     448 MiB
    384x288   110592    829 MiB    792 MiB                     858 MiB
    512x384   196608   1390 MiB   1197 MiB                    1433 MiB

Least squares gives 80 MiB + 6,975 bytes a pixel (fp32) and 114 MiB + 5,961 (bf16); the model
takes the larger of each, so it is an upper bound for both within about 10%: 2,400 of the bytes a
pixel are the 100 history pairs, 4,600 are the activations. A GPU keeps the same tensors, so the
same model is used there (not measured on a GPU).
"""

from __future__ import annotations

import os

import torch

from .config import TransferConfig
from .images import longest_side

__all__ = [
    "ACTIVATION_BYTES",
    "FIXED_BYTES",
    "HISTORY_BYTES",
    "available_bytes",
    "estimate_peak_bytes",
    "largest_side_that_fits",
    "pixel_bytes",
    "pixels_that_fit",
]

FIXED_BYTES = 120 * 2**20
"""Memory a run takes whatever its size (the targets, oneDNN's scratch space, the allocator's slack)."""
ACTIVATION_BYTES = 4_600
"""Memory a run takes per output pixel for the activations of the backward pass."""
HISTORY_BYTES = 24
"""Memory per output pixel of one L-BFGS history pair (two float32 RGB images), or of Adam's two moments."""

_DEFAULTS = TransferConfig()


def pixel_bytes(config: TransferConfig = _DEFAULTS) -> int:
    """Memory a run of `config` takes per output pixel.

    L-BFGS keeps a history pair per iteration, up to `history_size`; counting one for each of the
    run's iterations (not only the last level's) keeps this an upper bound whatever the schedule,
    and independent of the size."""
    pairs = min(config.history_size, config.iterations) if config.optimizer == "lbfgs" else 1
    return ACTIVATION_BYTES + HISTORY_BYTES * pairs


def estimate_peak_bytes(width: int, height: int, config: TransferConfig = _DEFAULTS) -> int:
    """The memory a run of `config` with a `width` x `height` output adds at its peak, in bytes.

    The style images are assumed no larger than the output (style_scale <= 1); pass the larger of
    the two shapes otherwise.
    """
    return FIXED_BYTES + pixel_bytes(config) * width * height


def pixels_that_fit(budget: int, config: TransferConfig = _DEFAULTS) -> int:
    """The most output pixels a run of `config` may have within `budget` bytes (0 if none)."""
    return max(0, (budget - FIXED_BYTES) // pixel_bytes(config))


def largest_side_that_fits(budget: int, aspect: tuple[int, int], config: TransferConfig = _DEFAULTS) -> int:
    """The largest `size` (longest side, px) whose run of `config` fits in `budget` bytes for an
    image of `aspect` (width, height); 0 if not even the fixed part fits."""
    low, high = 0, pixels_that_fit(budget, config)  # the short side is at least 1 px: no larger side fits
    while low < high:  # the estimate grows with the side: bisect for the last side that fits
        middle = (low + high + 1) // 2
        if estimate_peak_bytes(*longest_side(aspect, middle), config) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def available_bytes(device: torch.device) -> int:
    """Memory free for a run on `device` now: on a GPU what the driver reports free plus what this
    process's torch holds in its cache; on the CPU the kernel's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return _mem_available()


def _mem_available() -> int:
    """Linux's estimate of the memory that can be allocated without swapping; elsewhere the free pages."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
