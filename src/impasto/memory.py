"""How much memory a style transfer needs, how much a device has, and the largest size that fits.

A run's peak memory grows with its output pixels: the VGG-19 activations kept for the backward
pass and L-BFGS's history of 100 image-sized vector pairs are both proportional to them. The line
below was measured with `benchmarks/memory.py` (default settings, 105 iterations so L-BFGS's history
is full, a fresh process with the weights already loaded, peak RSS minus the RSS before the run)
on the CPU (torch 2.13.0, 2026-11-27), and fits within 1% from 128 to 512 px:

    output    pixels    added at peak   fit: 100 MiB + 6,595 bytes/pixel
    128x96     12288       175 MiB        177 MiB
    256x192    49152       413 MiB        409 MiB
    384x288   110592       792 MiB        796 MiB
    512x384   196608      1337 MiB       1337 MiB

Of the 6.6 kB per pixel, L-BFGS's history is 2.4 kB (100 pairs of 3 float32 values per pixel);
the rest is VGG-19's activations. A GPU keeps the same float32 tensors, so the same line is used
there (not measured on a GPU).
"""

from __future__ import annotations

import os

import torch

from .images import longest_side

__all__ = [
    "FIXED_BYTES",
    "PIXEL_BYTES",
    "available_bytes",
    "estimate_peak_bytes",
    "largest_side_that_fits",
    "pixels_that_fit",
]

FIXED_BYTES = 100 * 2**20
"""Memory a run takes whatever its size (the targets, oneDNN's scratch space, the allocator's slack)."""
PIXEL_BYTES = 6_600
"""Memory a run takes per output pixel (activations for the backward pass, L-BFGS's history)."""


def estimate_peak_bytes(width: int, height: int) -> int:
    """The memory a default run at `width` x `height` output pixels adds at its peak, in bytes.

    The style images are assumed no larger than the output (style_scale <= 1); pass the larger of
    the two shapes otherwise.
    """
    return FIXED_BYTES + PIXEL_BYTES * width * height


def pixels_that_fit(budget: int) -> int:
    """The most output pixels a run may have within `budget` bytes (0 if none)."""
    return max(0, (budget - FIXED_BYTES) // PIXEL_BYTES)


def largest_side_that_fits(budget: int, aspect: tuple[int, int]) -> int:
    """The largest `size` (longest side, px) whose run fits in `budget` bytes for an image of
    `aspect` (width, height); 0 if not even the fixed part fits."""
    low, high = 0, pixels_that_fit(budget)  # the short side is at least 1 px, so no side beyond this fits
    while low < high:  # the estimate grows with the side: bisect for the last side that fits
        middle = (low + high + 1) // 2
        if estimate_peak_bytes(*longest_side(aspect, middle)) <= budget:
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
