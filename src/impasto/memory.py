"""How much memory a style transfer needs, how much a device has, and the largest size that fits.

**The budget** (`--memory-budget`) bounds the whole process, as a container or a scheduler counts
it: `resolve_runtime` takes off what the process holds when the run is planned (Python, torch, the
decoded inputs; `process_bytes`) and the network still to be loaded (`NETWORK_BYTES`), and the run is
planned in the rest. The figures below are the run's own, above the loaded network.

A whole level's peak memory grows with its output pixels: the VGG-19 activations kept for the backward
pass, and L-BFGS's history (pairs of image-sized float32 vectors, 24 bytes a pixel each), are both
proportional to them. Measured with `benchmarks/memory.py` on the CPU (torch 2.13.0, 2026-11-27):
default settings at the output size only (the last level of a coarse-to-fine schedule is the
largest), 105 iterations so that the history holds its 100 pairs, peak RSS minus the RSS before
the run, in a fresh process with the weights loaded:

    output    pixels   fp32       bf16 (precision auto here)   FIXED_BYTES + 100 pairs' ACTIVATION_BYTES
    128x96     12288    191 MiB    129 MiB                     202 MiB
    256x192    49152    364 MiB    431 MiB                     448 MiB
    384x288   110592    829 MiB    792 MiB                     858 MiB
    512x384   196608   1390 MiB   1197 MiB                    1433 MiB

Least squares gives 80 MiB + 6,975 bytes a pixel (fp32) and 114 MiB + 5,961 (bf16); the planner's
whole level takes the larger of each, an upper bound for both within about 10%: 2,400 of the bytes a
pixel are the 100 history pairs, 4,600 are the activations. A GPU keeps the same tensors, so the
same model is used there (not measured on a GPU). Those runs used torch's L-BFGS, which keeps three
image-sized vectors more than impasto's (`optimize.LBFGS`), and a float32 last good image: an upper
bound still, by about 50 bytes a pixel.

**The plan.** A level too large for the budget is computed in blocks (`tiled.py`): its peak is then
`TILED_FIXED_BYTES`, the image-sized tensors (the image, its gradient, L-BFGS's vectors and history,
the last good image, the conv4_2 target: `IMAGE_BYTES` a pixel plus `HISTORY_BYTES` a history
pair) and one block's crop's activations (`CROP_BYTES` a crop pixel). Measured with
`benchmarks/tiled_memory.py` on the CPU (bf16, 2026-11-28, idle):

    output      block   crop (largest)   history   peak above the loaded weights   this model
    1024x768    256     416x416          2         612 MiB                         676 MiB
    2048x1536   256     416x416          2         874 MiB                         1054 MiB
    2048x1536   512     672x672          2         1397 MiB                        1585 MiB
    2048x1536   512     672x672          4         1560 MiB                        1729 MiB

which solve as 200 MiB + 62-68 bytes an image pixel + 27 bytes a history pair + 1,969 bytes a crop
pixel. Larger images keep more a pixel. Each level's own peak (`benchmarks/print_size.py`, which
samples the RSS level by level) in two default 8192x6144 runs within 8 GiB: their finest level,
in blocks of 432 px with 3 history pairs, peaked at 7.8 and 8.1 GiB against 8.0 GiB planned with
80 bytes, so 76-82 bytes an image pixel besides the history once the fixed part and the crop (at
this model's 2,000 bytes a pixel) are taken off: the image, its gradient, L-BFGS's direction and
last gradient (48 bytes in float32), the conv4_2 target (16 in bfloat16), the last good image (6 in
float16) and what the allocator keeps. (A level no longer holds a clamped copy of the image while
it computes its blocks: that was 12 bytes more.) The constants round the measurements up
(`IMAGE_BYTES` is 90). In float32 (2 AVX2 cores, `benchmarks/tiled_memory.py`, 2026-12-03):

    output      block   crop (largest)   history   peak above the loaded weights
    1024x768    144     304x304          2         498 MiB
    1024x768    256     416x416          2         662 MiB
    2048x1536   256     416x416          2         1107 MiB

which solve as 162 MiB + 198 bytes an image pixel with 2 history pairs (150 without) + 2,134
bytes a crop pixel; the same figures give a 3072x2304 level in 144 px blocks 1.65 GiB, and it
measured 1.63 GiB (`benchmarks/RESULTS.md`). `plan_run` picks, level by level, the
untiled run where it fits, else the largest blocks that fit with the longest history (L-BFGS's
history is shortened before the blocks go under `PREFERRED_BLOCK`; on the CPU no blocks are larger
than `CPU_MAX_BLOCK`, where larger crops cost more a pixel), and refuses a size that does
not fit even in `MIN_BLOCK` px blocks with `MIN_HISTORY` pairs, naming the largest that does. On a
GPU, a history the device cannot hold goes, with L-BFGS's two vectors (`OPTIMISER_BYTES`), to the
host's memory where it fits there, before the planner shortens it: the GPU then keeps 24 bytes a
pixel less than `IMAGE_BYTES` and no history, at the cost of two image-sized copies a step and of
L-BFGS's arithmetic on the host's CPU (on an H200, 8192x6144 within 7 GiB: 28 s in 42 blocks with
the full history there, against 73 s in 910 blocks with a shorter one on the GPU). A level
larger than `anchor_side` also computes the objective at that side, whole (`ANCHOR_BYTES` a pixel
of it, after the blocks, and an iteration's time at that size a step). Its
times are measured: on the CPU in units of a probe timed on the CPU at hand (`cpu_probe_seconds`,
`PROBES_PER_PIXEL`), on a GPU per device type (`SECONDS_PER_PIXEL`), with the measured costs of a
level's targets and of blocks (`BLOCK_STEP_COST`).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .config import TransferConfig
from .device import Runtime, compute_dtype, resolve_device
from .errors import ConfigError
from .images import longest_side
from .tiled import ALIGN, check_tileable, edges, halo

__all__ = [
    "ACTIVATION_BYTES",
    "ANCHOR_BYTES",
    "BLOCK_STEP_COST",
    "CPU_MAX_BLOCK",
    "CROP_BYTES",
    "FIXED_BYTES",
    "HISTORY_BYTES",
    "IMAGE_BYTES",
    "MIN_BLOCK",
    "MIN_HISTORY",
    "NETWORK_BYTES",
    "OPTIMISER_BYTES",
    "PREFERRED_BLOCK",
    "PROBES_PER_PIXEL",
    "SECONDS_PER_PIXEL",
    "TILED_FIXED_BYTES",
    "LevelPlan",
    "Plan",
    "anchor_shape",
    "available_bytes",
    "cpu_probe_seconds",
    "crop_lengths",
    "format_bytes",
    "host_bytes",
    "largest_planned_side",
    "parse_bytes",
    "plan_level",
    "plan_run",
    "process_bytes",
    "resolve_runtime",
    "seconds_per_pixel",
]

FIXED_BYTES = 120 * 2**20
"""Memory a run takes whatever its size (the targets, oneDNN's scratch space, the allocator's slack)."""
ACTIVATION_BYTES = 4_600
"""Memory a run takes per output pixel for the activations of the backward pass."""
HISTORY_BYTES = 24
"""Memory per output pixel of one L-BFGS history pair (two float32 RGB images), or of Adam's two moments."""
TILED_FIXED_BYTES = 220 * 2**20
"""Memory a tiled level takes whatever its size (measured: 200 MiB)."""
IMAGE_BYTES = {"bf16": 90, "fp32": 150}
"""Memory a tiled level takes per pixel besides the history: the image and its gradient, L-BFGS's
search direction and last gradient, the last good image (float16), the conv4_2 target (twice as
large in float32), and what the allocator keeps of freed blocks (measured in bf16: 62-68 at 2048 px,
76-82 at 8192 px; in float32 on AVX2: 150, which also accounts for a 3072x2304 level's peak)."""
OPTIMISER_BYTES = 24
"""Of `IMAGE_BYTES`, L-BFGS's search direction and last gradient (two float32 RGB images): they live
with its history, in the host's memory when the plan puts it there."""
CROP_BYTES = {"bf16": 2_000, "fp32": 2_200}
"""Memory a tiled level takes per pixel of its largest crop, for the activations of pass 2
(measured in bf16: 1,969; in float32: 2,134)."""
ANCHOR_BYTES = {"bf16": 1_900, "fp32": 2_700}
"""Memory a level takes per pixel of the image at `anchor_side` whose objective it also minimises,
for that objective's activations and gradient (measured at 512x384 beside a 3072x2304 image, peak
RSS: 340 MiB in bf16, 505 MiB in float32)."""
MIN_BLOCK = 64
"""px: the smallest blocks a plan uses (a crop is then mostly halo)."""
PREFERRED_BLOCK = 256
"""px: L-BFGS's history is shortened (down to `MIN_HISTORY`) before blocks get smaller than this."""
CPU_MAX_BLOCK = 1024
"""px: the largest blocks a plan uses on the CPU, where larger crops cost more a pixel (a 4096x3072
level, 2 steps: 175 s in 512 px blocks, 191 s in 1024, 263 s in 2048, `benchmarks/RESULTS.md`)."""
MIN_HISTORY = 2
"""The shortest L-BFGS history a plan uses."""
NETWORK_BYTES = 240 * 2**20
"""Memory the process takes to load VGG-19 (the float32 weights read from the file, kept for the next
load, and the network's own; measured: 228 MiB on the CPU), counted where a plan is made before it."""
SECONDS_PER_PIXEL = {("cuda", "bf16"): 1.8e-7}
"""One untiled iteration's time per pixel on a GPU, by device type and arithmetic: measured on an
H200 (a 4096x3072 default run in 12.9 s, `benchmarks/gpu.py`). CPUs differ too much for one figure
(the project's 2-core machines: 0.38 s an iteration at 512x384 in bfloat16 with AMX, 2.3 s in float32
with AVX2): their time is measured in `cpu_probe_seconds` instead."""
PROBES_PER_PIXEL = 7.5e-4
"""One untiled iteration's time per pixel on the CPU, in units of `cpu_probe_seconds`: the same kind of
work in the same arithmetic, so that one ratio serves CPUs of different speeds (measured with
`benchmarks/time_model.py` on 2 AVX2 cores in float32: 6.9e-4 at 192x144, 6.2e-4 at 512x384; in
emulated bfloat16, 4.8e-4; taken a little high, it predicted a 2048x1536 level in blocks within 2%).
Natively computed bfloat16 (AMX) was not measured in these units."""
BLOCK_STEP_COST = 1.6
"""An iteration in blocks per crop pixel, in untiled iterations per pixel (pass 1 is a forward, pass 2
a forward and a backward; measured: 1.56 in 144 px blocks). A level's targets take about one untiled
iteration's more."""

_DEFAULTS = TransferConfig()


@functools.cache
def cpu_probe_seconds(dtype: torch.dtype, threads: int) -> float:
    """Seconds this CPU takes, with `threads` of torch's threads, for the probe: three of VGG-19's
    convolutions in `dtype` at the sizes where a 64x64 image meets them (64 channels at 64x64, 256 at
    16x16, 512 at 8x8), forward and back to their input, the better of two after a warm-up (about
    0.05 s in all in float32 on 2 cores)."""
    generator = torch.Generator().manual_seed(0)
    convolutions = [(torch.rand(channels, channels, 3, 3, generator=generator).to(dtype),
                     torch.rand(1, channels, side, side, generator=generator).to(dtype).requires_grad_(True))
                    for channels, side in ((64, 64), (256, 16), (512, 8))]
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for weight, x in convolutions:
            torch.nn.functional.conv2d(x, weight, padding=1).float().sum().backward()
        times.append(time.perf_counter() - start)
    return min(times[1:])


def resolve_runtime(config: TransferConfig, network_held: bool, held: int | None = None) -> Runtime:
    """The device, arithmetic and memory budget of a run of `config`, resolved once.

    `config.memory_budget` bounds the whole process, as a container's or a scheduler's limit does:
    the run may take the budget less what the process holds (`held`, by default `process_bytes`
    now: Python, torch, the decoded inputs, and the network if `network_held`) and less the network
    if it is still to be loaded. Without a budget the run may take what the device has free.
    """
    device = resolve_device(config.device)
    to_load = 0 if network_held else NETWORK_BYTES
    if config.memory_budget is None:
        budget, taken = available_bytes(device) - to_load, to_load
    else:
        taken = (process_bytes(device) if held is None else held) + to_load
        budget = config.memory_budget - taken
    return Runtime(device, compute_dtype(config.precision, device), max(budget, 0), host_bytes(device), taken)


def process_bytes(device: torch.device) -> int:
    """Memory this process holds now: on a GPU what torch has reserved there; on the CPU the resident
    set (Linux; elsewhere the peak so far, an upper bound)."""
    if device.type == "cuda":
        return torch.cuda.memory_reserved(device)
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource  # not on Windows; macOS gives ru_maxrss in bytes, Linux in KiB

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def available_bytes(device: torch.device) -> int:
    """Memory free for a run on `device` now: on a GPU what the driver reports free plus what this
    process's torch holds in its cache; on the CPU the kernel's MemAvailable."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return _mem_available()


def host_bytes(device: torch.device) -> int | None:
    """Memory outside `device` that a plan may put L-BFGS's history in: on a GPU, the host's
    available memory; None on the CPU (the history is in the host's memory anyway) and on Apple's
    GPUs (which share it)."""
    return _mem_available() if device.type == "cuda" else None


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


@dataclass(frozen=True)
class LevelPlan:
    """How one level of the schedule runs."""

    width: int
    height: int
    iterations: int
    block: int | None
    """Side of the blocks in px; None: the level runs whole."""
    blocks: int
    """Blocks per evaluation (1 untiled)."""
    history: int
    """L-BFGS history pairs (the optimiser's memory)."""
    peak_bytes: int
    """Predicted peak memory on the device."""
    seconds: float
    """Predicted time (`seconds_per_pixel`)."""
    host_bytes: int = 0
    """Memory L-BFGS's history and vectors take in the host's memory, where the plan puts them there
    (a GPU's level that keeps its full history that way); 0: they are on the device."""
    workers: int = 0
    """Workers that compute the blocks (`workers.spread_level`); 0: the driver computes them."""
    worker_bytes: int = 0
    """Predicted peak memory of each worker."""
    moved_bytes: int = 0
    """Bytes a step moves between the driver and the workers."""
    anchor: tuple[int, int] | None = None
    """(width, height) of the image at `anchor_side` whose objective the level also minimises,
    computed whole (by the driver); None: none."""

    def describe(self) -> str:
        layout = "whole" if self.block is None else f"{self.blocks} blocks of {self.block} px"
        where = f" in host memory ({format_bytes(self.host_bytes)})" if self.host_bytes else ""
        spread = (f" on {self.workers} workers (each {format_bytes(self.worker_bytes)}, "
                  f"{format_bytes(self.moved_bytes)} moved a step)") if self.workers else ""
        anchored = "" if self.anchor is None else f" + the objective at {self.anchor[0]}x{self.anchor[1]}"
        return (f"{self.width}x{self.height}{anchored}, {self.iterations} iterations, {layout}{spread}, "
                f"history {self.history}"
                f"{where}, peak {format_bytes(self.peak_bytes)}, about {_clock(self.seconds)}")


@dataclass(frozen=True)
class Plan:
    """The levels of a run, coarsest first, within `runtime`'s budget."""

    levels: tuple[LevelPlan, ...]
    runtime: Runtime

    @property
    def peak_bytes(self) -> int:
        return max(level.peak_bytes for level in self.levels)

    @property
    def seconds(self) -> float:
        return sum(level.seconds for level in self.levels)

    def describe(self) -> str:
        """The plan as lines of text, for `impasto transfer --dry-run`."""
        lines = [f"level {i}/{len(self.levels)}: {level.describe()}" for i, level in enumerate(self.levels, 1)]
        runtime, timed_on = self.runtime, seconds_per_pixel(self.runtime)[1]
        held = f" + {format_bytes(runtime.held)} held before the run" if runtime.held else ""
        lines.append(f"peak {format_bytes(self.peak_bytes)}{held}, within a budget of "
                     f"{format_bytes(runtime.budget + runtime.held)}; "
                     + (f"about {_clock(self.seconds)} in all ({timed_on})" if timed_on else "no time estimate for "
                        f"{runtime.device.type}: its speed was never measured"))
        return "\n".join(lines)


def plan_level(
    width: int, height: int, iterations: int, runtime: Runtime, config: TransferConfig = _DEFAULTS,
    block: int | None = None,
) -> LevelPlan | None:
    """The plan of one `width` x `height` level within `runtime.budget` bytes, None if nothing fits.

    With `block` None: the longest history (from `config.history_size` down to `MIN_HISTORY`) with
    which the level runs whole, or else in the fewest blocks that fit, no smaller than
    `PREFERRED_BLOCK` px (`MIN_BLOCK` with the shortest history), and on the CPU no larger than
    `CPU_MAX_BLOCK`. With `block`: in blocks of that side wherever the level is larger.

    `runtime.host_budget`: memory outside the device (a GPU's host: `host_bytes`), None where there is
    none. Each history is tried on the device, then, where it fits there, in the host's memory with
    L-BFGS's vectors, before a shorter one: a step then copies the gradient to the host and the step back."""
    pixels, longest = width * height, max(width, height)
    budget, host_budget, device, precision = runtime.budget, runtime.host_budget, runtime.device, runtime.precision
    # L-BFGS stores a pair from its second iteration on: a level of n iterations holds n - 1 at most.
    lbfgs = config.optimizer == "lbfgs"
    full = min(config.history_size, max(iterations - 1, 1)) if lbfgs else 1
    rate = seconds_per_pixel(runtime)[0]
    margin = halo([*config.content_layers, *config.style_layers])
    anchor = anchor_shape(config, width, height)
    anchor_pixels = 0 if anchor is None else anchor[0] * anchor[1]

    def on_host(history: int) -> int:  # bytes L-BFGS takes in the host's memory: the pairs and 4 vectors
        return (HISTORY_BYTES * history + 2 * OPTIMISER_BYTES) * pixels

    def whole(history: int, host: bool) -> LevelPlan:
        kept = ACTIVATION_BYTES + (0 if host else HISTORY_BYTES * history)
        return LevelPlan(width, height, iterations, None, 1, history,
                         FIXED_BYTES + kept * pixels + ANCHOR_BYTES[precision] * anchor_pixels,
                         rate * (pixels + anchor_pixels) * (iterations + 1), on_host(history) if host else 0,
                         anchor=anchor)

    def tiled(history: int, host: bool, side: int) -> LevelPlan:
        rows, columns = crop_lengths(height, side, margin), crop_lengths(width, side, margin)
        crop = CROP_BYTES[precision] * max(rows) * max(columns)
        image = IMAGE_BYTES[precision]
        kept = image - OPTIMISER_BYTES if host else image + HISTORY_BYTES * history
        seconds = rate * (sum(rows) * sum(columns) * (BLOCK_STEP_COST * iterations + 1)
                          + anchor_pixels * (iterations + 1))
        # The anchor's objective is computed after the blocks, whose activations are gone by then.
        peak = TILED_FIXED_BYTES + kept * pixels + max(crop, ANCHOR_BYTES[precision] * anchor_pixels)
        return LevelPlan(width, height, iterations, side, len(rows) * len(columns), history, peak, seconds,
                         on_host(history) if host else 0, anchor=anchor)

    def side_of(count: int) -> int:  # the block side that cuts the longest side into `count` blocks
        return ALIGN * math.ceil(longest / count / ALIGN)

    histories = sorted({full, *(h for h in (full // 2, full // 4, MIN_HISTORY) if MIN_HISTORY <= h < full)},
                       reverse=True)

    def fit(history: int, host: bool) -> LevelPlan | None:
        """Whole, or in `block` px blocks, or in the fewest blocks that fit."""
        if block is not None:
            plan = whole(history, host) if block >= longest else tiled(history, host, block)
            return plan if plan.peak_bytes <= budget else None
        if (plan := whole(history, host)).peak_bytes <= budget:
            return plan
        smallest = MIN_BLOCK if history == histories[-1] else PREFERRED_BLOCK
        most = max(2, longest // smallest)  # more blocks than this would be smaller than `smallest`
        if tiled(history, host, side_of(most)).peak_bytes > budget:
            return None
        fewest = min(max(2, math.ceil(longest / CPU_MAX_BLOCK)), most) if device.type == "cpu" else 2
        while fewest < most:  # bisect for the fewest blocks that fit (the peak falls as they grow)
            middle = (fewest + most) // 2
            if tiled(history, host, side_of(middle)).peak_bytes <= budget:
                most = middle
            else:
                fewest = middle + 1
        return tiled(history, host, side_of(fewest))

    # Each history on the device first, then in the host's memory where it fits there.
    places = [(history, host) for history in histories for host in (False, True)
              if not host or (lbfgs and host_budget is not None and on_host(history) <= host_budget)]
    return next((plan for history, host in places if (plan := fit(history, host)) is not None), None)


def plan_run(config: TransferConfig, shapes: Sequence[tuple[int, int, int]], runtime: Runtime) -> Plan:
    """The plan of a run whose levels are `shapes` (width, height, iterations), coarsest first,
    within `runtime`'s budgets (see `plan_level`), with `config.tile_size` forcing blocks of that side.

    Raises:
        ConfigError: the finest level does not fit even in the smallest blocks (names the largest
            `size` that fits for this aspect ratio), or a level in blocks has a layer that cannot be
            computed in blocks (`tiled.check_tileable`).
    """
    levels = []
    for width, height, iterations in shapes:
        level = plan_level(width, height, iterations, runtime, config, config.tile_size)
        if level is None:
            width, height = shapes[-1][:2]
            largest = largest_planned_side(runtime, (width, height), config)
            fix = f"the largest --size that fits is {largest}" if largest else "no size fits"
            held = f" ({format_bytes(runtime.held)} of it held before the run)" \
                if runtime.held else ""
            raise ConfigError(
                f"a {width}x{height} output does not fit in the memory budget of "
                f"{format_bytes(runtime.budget + runtime.held)}{held}, not even in {config.tile_size or MIN_BLOCK} px "
                f"blocks with {MIN_HISTORY} history steps: {fix} (or raise --memory-budget)"
            )
        levels.append(level)
    if any(level.block is not None for level in levels):  # before any work, not at the first tiled level
        check_tileable([*config.content_layers, *config.style_layers])
    return Plan(tuple(levels), runtime)


def anchor_shape(config: TransferConfig, width: int, height: int) -> tuple[int, int] | None:
    """(width, height) of the image at `config.anchor_side` whose objective a `width` x `height`
    level also minimises (`levels.py`), None if the level is no larger than that."""
    if not config.anchor_side or max(width, height) <= config.anchor_side:
        return None
    return longest_side((width, height), config.anchor_side)


def crop_lengths(length: int, size: int, margin: int) -> list[int]:
    """The lengths of the blocks' crops along one side of `length` px."""
    cuts = edges(length, size)
    return [min(length, end + margin) - max(0, start - margin) for start, end in zip(cuts, cuts[1:], strict=False)]


def largest_planned_side(runtime: Runtime, aspect: tuple[int, int], config: TransferConfig = _DEFAULTS) -> int:
    """The largest `size` (longest side, px) whose finest level `plan_level` fits in `runtime`'s
    budgets, in blocks where needed, with an L-BFGS history of at least `MIN_HISTORY` pairs, for an
    image of `aspect` (width, height); 0 if none."""
    iterations = max(config.iterations, MIN_HISTORY + 1)

    def fits(side: int) -> bool:
        return plan_level(*longest_side(aspect, side), iterations, runtime, config, config.tile_size) is not None

    low, high = 0, 1
    while fits(high):
        low, high = high, high * 2
        if high > 2**20:
            return low
    while high - low > 1:
        middle = (low + high) // 2
        if fits(middle):
            low = middle
        else:
            high = middle
    return low


def seconds_per_pixel(runtime: Runtime) -> tuple[float, str | None]:
    """One untiled iteration's time per pixel on `runtime`, and what the figure stands on (None: a
    device never measured, whose figure is only good for weighing levels against each other)."""
    if runtime.device.type == "cpu":
        threads = torch.get_num_threads()
        probe = cpu_probe_seconds(runtime.dtype, threads)
        return PROBES_PER_PIXEL * probe, f"timed on this CPU's {threads} threads"
    measured = SECONDS_PER_PIXEL.get((runtime.device.type, runtime.precision))
    if measured is None:
        return PROBES_PER_PIXEL, None
    return measured, "as measured on an H200"


def parse_bytes(text: str) -> int:
    """'4G', '1500M', '512k' or a number of bytes -> bytes (binary units: G = 2**30)."""
    units = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (value[:-1], value[-1]) if value and value[-1] in units else (value, "")
    try:
        size = float(number) * units[unit]
    except ValueError:
        raise ConfigError(f"expected a memory size such as 4G, 1500M or 800000000, got {text!r}") from None
    if not math.isfinite(size) or size <= 0:
        raise ConfigError(f"a memory size must be positive, got {text!r}")
    return int(size)


def format_bytes(size: float) -> str:
    """Bytes as text in binary units: '1.5 GiB', '300 MiB'."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def _clock(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
