"""The planner's third part (after sizes and blocks, `memory.py`): a level spread over workers.

A tiled level's blocks are independent within each of its two passes, so W workers compute them at
once (`impasto.cluster.RayBlocks`), the driver keeping the image and L-BFGS and adding the blocks'
results in block order. For each level that runs in blocks on the driver, `spread_level` weighs that
against the same level on the workers, in the block side of `SPREAD_SIDES` predicted fastest there
(smaller blocks balance the workers' loads better, larger ones have less halo), within each worker's
memory budget:

- a step's time: the most loaded worker's crop pixels (blocks dealt out largest first, `deal`)
  at the workers' measured rate, x `BLOCK_STEP_COST`; plus the bytes moved through the driver's
  network at `Workers.bandwidth` (the image's crops to the workers and their gradients back, 12
  bytes a crop pixel each way, float32; each block's style statistics, 8 bytes a value; the
  statistics' slopes to each worker); plus `CALL_SECONDS` of the driver's time per block and pass;
- a worker's memory: the network, `TILED_FIXED_BYTES`, its largest crop's activations, and for
  each block it serves, its crop (kept from pass 1 for pass 2) and its content targets
  (`TARGET_BYTES` an owned pixel);
- the driver's, within its budget: the tiled level's image-sized tensors (as `memory.plan_level`
  counts them), less the content targets, which the workers hold, and one crop's activations (it
  computes the style images' statistics in the same blocks).

A level is kept on the driver where it runs whole or where the workers would not be faster by
`GAIN` (small levels: the transfers and calls cost more than the compute they share). With
`--tile-size`, every level in blocks goes to the workers, in the blocks asked for, where they fit.

**Steps for the speed** (`more_steps`): with W workers the finest levels' steps are multiplied by
the predicted speed-up, at most `MAX_STEP_FACTOR`, so a large print gets more steps where it is
soft close up in about the time one machine takes. The cap comes from `benchmarks/print_steps.py`
(benchmarks/RESULTS.md; one pair, Tübingen x The Starry Night), on crops at full resolution against
a run of 8x the steps: at 4x, a 1024 px finest level (10 steps by the schedule) is within 0.015 of
that run's content figure and 0.02-0.06 of its structure figure, but a 2048 px one (6 steps) still
lacks 0.035-0.09 of its structure.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from dataclasses import dataclass, field

from .config import TransferConfig
from .device import Runtime
from .memory import (
    ANCHOR_BYTES,
    BLOCK_STEP_COST,
    CROP_BYTES,
    HISTORY_BYTES,
    IMAGE_BYTES,
    NETWORK_BYTES,
    OPTIMISER_BYTES,
    SECONDS_PER_PIXEL,
    TILED_FIXED_BYTES,
    LevelPlan,
    crop_lengths,
    seconds_per_pixel,
)
from .tiled import ALIGN, BlockEvaluator, halo
from .vgg import feature_size

__all__ = [
    "CALL_SECONDS",
    "GAIN",
    "MAX_STEP_FACTOR",
    "TARGET_BYTES",
    "Workers",
    "deal",
    "more_steps",
    "spread_level",
    "statistic_values",
]

TARGET_BYTES = {"bf16": 16, "fp32": 32}
"""Memory per owned pixel of a block's content targets (conv4_2: 512 channels a position, one position
per 8 x 8 pixels), in the network's precision."""
CROP_HELD_BYTES = 12
"""Memory per crop pixel of a block's crop a worker keeps from pass 1 for pass 2 (float32 RGB)."""
CALL_SECONDS = 0.004
"""The driver's time per block and pass: a Ray call submitted, waited for and its result taken
(measured with benchmarks/cluster_print.py on a local Ray head: see RESULTS.md)."""
GAIN = 1.1
"""A level goes to the workers only if they are predicted this much faster than the driver alone."""
MAX_STEP_FACTOR = 8
"""The most the finest levels' steps are multiplied by with workers (measured: see above)."""
SPREAD_SIDES = (1024, 768, 512, 384, 256)
"""px: the block sides a spread level is tried in."""


@dataclass(frozen=True)
class Workers:
    """The workers a run may spread its tiled levels over, as the planner sees them."""

    count: int
    """Workers (Ray actors): one per GPU, or one per `threads` CPUs."""
    seconds_per_pixel: float
    """One untiled iteration's time per pixel on one worker (`memory.seconds_per_pixel`'s unit)."""
    budget: int
    """Bytes each worker process may hold (the run's --memory-budget, or its node's memory)."""
    bandwidth: float | None
    """Bytes a second between the driver and the workers; None: on the driver's machine (the
    transfers are then memory copies, counted in `CALL_SECONDS`)."""
    gpu: bool = False
    more_steps: bool = True
    """Spend the speed-up on more steps at the finest levels (`more_steps`)."""
    evaluator: BlockEvaluator | None = field(default=None, compare=False)
    """What computes the blocks of the levels spread over the workers (`impasto.cluster.RayBlocks`)."""


def deal(sizes: list[int], count: int) -> list[list[int]]:
    """The indices of `sizes` dealt out to `count` workers, largest first, each to the least loaded
    (a block's cost is its crop's pixels: crops at the image's edge are smaller); each worker's list
    in ascending order."""
    loads = [(0, worker) for worker in range(count)]
    dealt: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        load, worker = heapq.heappop(loads)
        dealt[worker].append(index)
        heapq.heappush(loads, (load + sizes[index], worker))
    return [sorted(indices) for indices in dealt]


def statistic_values(config: TransferConfig, shape: tuple[int, int]) -> int:
    """The values of one block's style statistics, all groups taken as one (a C x C Gram matrix a
    layer, or for 'w2' its weighted sums, C^2 + C + 1)."""
    channels = {"conv1": 64, "conv2": 128, "conv3": 256, "conv4": 512, "conv5": 512}
    layers = [name for name in config.style_layers if min(feature_size(name, shape)) > 0]
    extra = config.style_loss == "w2"
    return sum(channels[name[:5]] ** 2 + extra * (channels[name[:5]] + 1) for name in layers)


def spread_level(level: LevelPlan, config: TransferConfig, runtime: Runtime, workers: Workers) -> LevelPlan:
    """`level` (the driver's plan) on `workers` where they are predicted faster by `GAIN` and fit
    their budget; else `level` as it is. A level that runs whole stays whole on the driver."""
    if level.block is None or workers.count < 1:
        return level
    margin = halo([*config.content_layers, *config.style_layers])
    if config.tile_size is not None:  # the blocks asked for, on the workers where they fit
        return _on_workers(level, config, runtime, workers, level.block, margin) or level
    longest = max(level.width, level.height)
    sides = sorted({side for side in (*SPREAD_SIDES, level.block) if ALIGN <= side < longest}, reverse=True)
    candidates = [plan for side in sides if (plan := _on_workers(level, config, runtime, workers, side, margin))]
    best = min(candidates, key=lambda plan: plan.seconds, default=None)
    return best if best is not None and best.seconds * GAIN < level.seconds else level


def _on_workers(level: LevelPlan, config: TransferConfig, runtime: Runtime, workers: Workers, side: int,
                margin: int) -> LevelPlan | None:
    """`level` in blocks of `side` on the workers, None if a worker's blocks do not fit its budget."""
    rows, columns = crop_lengths(level.height, side, margin), crop_lengths(level.width, side, margin)
    crops = [height * width for height in rows for width in columns]
    dealt = deal(crops, workers.count)
    precision = runtime.precision
    owned = level.width * level.height / len(crops)  # an owned block's pixels, on average
    worker_bytes = max(
        NETWORK_BYTES + TILED_FIXED_BYTES + CROP_BYTES[precision] * max(rows) * max(columns)
        + sum(CROP_HELD_BYTES * crops[i] + TARGET_BYTES[precision] * owned for i in indices)
        for indices in dealt)
    if worker_bytes > workers.budget:
        return None
    load = max(sum(crops[i] for i in indices) for indices in dealt)
    statistics = 8 * statistic_values(config, (level.height, level.width))
    moved = 24 * sum(crops) + statistics * (len(crops) + workers.count)
    transfer = 0.0 if workers.bandwidth is None else moved / workers.bandwidth
    # The driver computes the anchor's objective (`LevelPlan.anchor`) whole, after the blocks.
    anchor = 0 if level.anchor is None else level.anchor[0] * level.anchor[1]
    step = (workers.seconds_per_pixel * BLOCK_STEP_COST * load + transfer + 2 * CALL_SECONDS * len(crops)
            + seconds_per_pixel(runtime)[0] * anchor)
    targets = workers.seconds_per_pixel * load  # the content targets: a forward of each crop, about one step's third
    pixels = level.width * level.height
    image = IMAGE_BYTES[precision] - TARGET_BYTES[precision]
    kept = image - OPTIMISER_BYTES if level.host_bytes else image + HISTORY_BYTES * level.history
    # The driver computes the style images' statistics in the same blocks.
    peak = TILED_FIXED_BYTES + kept * pixels + max(CROP_BYTES[precision] * max(rows) * max(columns),
                                                    ANCHOR_BYTES[precision] * anchor)
    if peak > runtime.budget:
        return None
    return dataclasses.replace(level, block=side, blocks=len(crops), seconds=step * level.iterations + targets,
                               peak_bytes=peak, workers=workers.count, worker_bytes=int(worker_bytes),
                               moved_bytes=int(moved))


def more_steps(stages: list[tuple[int, int]], speedups: list[float]) -> list[tuple[int, int]]:
    """`stages` (side, steps) with each level the workers speed up by a factor s given
    min(s, `MAX_STEP_FACTOR`) times its steps (`speedups`: one a level, 1 where it stays on the driver)."""
    return [(side, steps if speedup <= 1 else math.ceil(steps * min(speedup, MAX_STEP_FACTOR)))
            for (side, steps), speedup in zip(stages, speedups, strict=True)]


def gpu_seconds_per_pixel(precision: str) -> float:
    """A GPU worker's rate: the one measured (an H200), the planner's only figure for a GPU."""
    return SECONDS_PER_PIXEL.get(("cuda", precision), SECONDS_PER_PIXEL[("cuda", "bf16")])
