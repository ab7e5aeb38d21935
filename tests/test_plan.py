"""The memory planner: whole where it fits, else the largest blocks with the longest history; refusals.

Plans are made for a pinned device, the CPU in bfloat16 (the planner's limits differ on a GPU), so
these hold on any machine.
"""

from __future__ import annotations

import math

import pytest
import torch

from impasto.config import TransferConfig
from impasto.device import Runtime
from impasto.errors import ConfigError
from impasto.images import longest_side
from impasto.memory import (
    ACTIVATION_BYTES,
    ANCHOR_BYTES,
    CPU_MAX_BLOCK,
    FIXED_BYTES,
    HISTORY_BYTES,
    MIN_BLOCK,
    MIN_HISTORY,
    OPTIMISER_BYTES,
    format_bytes,
    largest_planned_side,
    parse_bytes,
    plan_level,
    plan_run,
)

GiB = 2**30
CONFIG = TransferConfig()


def cpu(budget: int, host_budget: int | None = None) -> Runtime:
    """The CPU in bfloat16 with `budget` bytes for the run (and, as on a GPU, `host_budget` outside it)."""
    return Runtime(torch.device("cpu"), torch.bfloat16, budget, host_budget)


def test_a_level_that_fits_runs_whole_with_its_full_history() -> None:
    level = plan_level(512, 384, 24, cpu(8 * GiB))
    assert level is not None and level.block is None and level.blocks == 1 and level.history == 20
    assert level.peak_bytes == FIXED_BYTES + (ACTIVATION_BYTES + HISTORY_BYTES * 20) * 512 * 384


def test_a_level_larger_than_the_anchor_side_counts_the_objective_it_also_computes_there() -> None:
    plain = CONFIG.replace(anchor_side=0)
    whole, alone = plan_level(1024, 768, 10, cpu(64 * GiB)), plan_level(1024, 768, 10, cpu(64 * GiB), plain)
    assert whole.anchor == (512, 384) and alone.anchor is None
    assert whole.peak_bytes - alone.peak_bytes == ANCHOR_BYTES["bf16"] * 512 * 384
    assert whole.seconds == pytest.approx(alone.seconds * (1024 * 768 + 512 * 384) / (1024 * 768))
    assert "1024x768 + the objective at 512x384, 10 iterations" in whole.describe()
    # In blocks, it is computed after them, when their activations are gone: the larger of the two counts.
    tiled, tiled_alone = plan_level(3072, 2304, 6, cpu(4 * GiB), block=512), \
        plan_level(3072, 2304, 6, cpu(4 * GiB), plain, 512)
    assert tiled.peak_bytes == tiled_alone.peak_bytes
    assert plan_level(512, 384, 10, cpu(64 * GiB)).anchor is None


@pytest.mark.parametrize("budget_gib", [2, 4, 8, 16])
@pytest.mark.parametrize("size", [2048, 4096, 8192])
def test_a_level_too_large_is_tiled_within_the_budget(size: int, budget_gib: int) -> None:
    width, height = longest_side((4, 3), size)
    level = plan_level(width, height, 10, cpu(budget_gib * GiB))
    if level is None:  # nothing fits: not even the smallest blocks with the shortest history
        assert plan_level(width, height, 10, cpu(budget_gib * GiB), CONFIG, MIN_BLOCK) is None
        return
    assert level.peak_bytes <= budget_gib * GiB
    if level.block is None:  # it fits whole
        assert FIXED_BYTES + (ACTIVATION_BYTES + HISTORY_BYTES * level.history) * width * height <= budget_gib * GiB
        return
    assert level.block % 16 == 0 and level.block >= MIN_BLOCK
    assert level.history >= MIN_HISTORY
    assert level.block <= CPU_MAX_BLOCK
    count = math.ceil(max(width, height) / level.block)
    if count > max(2, math.ceil(max(width, height) / CPU_MAX_BLOCK)):
        # one block fewer along the longest side does not fit with this history
        larger = plan_level(width, height, 10, cpu(budget_gib * GiB), CONFIG.replace(history_size=level.history),
                            16 * math.ceil(max(width, height) / (count - 1) / 16))
        assert larger is None or larger.history < level.history  # only with a shorter history


def test_blocks_on_the_cpu_are_no_larger_than_its_largest_however_much_memory() -> None:
    level = plan_level(8192, 6144, 10, cpu(64 * GiB))  # too large to run whole in 64 GiB
    assert level is not None and level.block == CPU_MAX_BLOCK and level.blocks == 8 * 6


def test_more_memory_never_gives_smaller_blocks() -> None:
    width, height = longest_side((4, 3), 4096)
    plans = [plan_level(width, height, 10, cpu(budget * GiB)) for budget in (3, 4, 6, 8, 12, 24, 64)]
    sizes = [(p.history, p.block or 10**6) for p in plans if p is not None]
    assert sizes == sorted(sizes)


def test_a_history_the_device_cannot_hold_goes_to_the_hosts_memory_where_it_fits_there() -> None:
    """A GPU's plan (a `host_budget`): the full history in the host's memory rather than a shorter one
    on the device, the device's peak without it, and in blocks no smaller."""
    width, height = longest_side((4, 3), 4096)
    on_device = plan_level(width, height, 10, cpu(3 * GiB))
    assert on_device is not None and on_device.history < 9 and on_device.host_bytes == 0
    on_host = plan_level(width, height, 10, cpu(3 * GiB, 64 * GiB))
    assert on_host is not None and on_host.history == 9 and on_host.peak_bytes <= 3 * GiB
    assert on_host.host_bytes == (HISTORY_BYTES * 9 + 2 * OPTIMISER_BYTES) * width * height
    assert on_host.block is not None and on_device.block is not None and on_host.block >= on_device.block
    assert "history 9 in host memory (3.1 GiB)" in on_host.describe()
    # Where the device holds the full history, or the host cannot hold a longer one, nothing moves.
    assert plan_level(width, height, 10, cpu(8 * GiB, 64 * GiB)) == plan_level(width, height, 10, cpu(8 * GiB))
    assert plan_level(width, height, 10, cpu(3 * GiB, GiB)) == on_device
    # A GPU fits larger sizes with its history in the host's memory.
    assert largest_planned_side(cpu(2 * GiB, 64 * GiB), (4, 3)) > 1.3 * largest_planned_side(cpu(2 * GiB), (4, 3))


def test_forced_blocks_are_used_where_the_level_is_larger_than_them() -> None:
    config = CONFIG.replace(tile_size=256)
    plan = plan_run(config, [(256, 192, 40), (512, 384, 20), (1024, 768, 10)], cpu(64 * GiB))
    assert [level.block for level in plan.levels] == [None, 256, 256]
    assert [level.blocks for level in plan.levels] == [1, 4, 12]
    assert "level 3/3: 1024x768 + the objective at 512x384, 10 iterations, 12 blocks of 256 px" in plan.describe()


def test_a_size_that_cannot_fit_is_refused_naming_the_largest_that_fits() -> None:
    width, height = longest_side((4, 3), 8000)
    with pytest.raises(ConfigError) as refusal:
        plan_run(CONFIG, [(1000, 750, 100), (width, height, 65)], cpu(2 * GiB))
    largest = largest_planned_side(cpu(2 * GiB), (4, 3))
    assert f"the largest --size that fits is {largest}" in str(refusal.value)
    assert "\n" not in str(refusal.value)
    # With the shortest history a plan uses (a level of n iterations keeps n - 1 pairs).
    assert plan_level(*longest_side((4, 3), largest), MIN_HISTORY + 1, cpu(2 * GiB)) is not None
    assert plan_level(*longest_side((4, 3), largest + 1), MIN_HISTORY + 1, cpu(2 * GiB)) is None


def test_tiling_fits_far_larger_images_than_the_whole_run() -> None:
    whole = math.isqrt((8 * GiB - FIXED_BYTES) // (ACTIVATION_BYTES + HISTORY_BYTES * MIN_HISTORY) * 4 // 3)
    assert plan_level(*longest_side((4, 3), whole + 16), 10, cpu(8 * GiB)).block is not None
    assert largest_planned_side(cpu(8 * GiB), (4, 3)) > 3 * whole


@pytest.mark.parametrize(("text", "size"), [("4G", 4 * GiB), ("1500M", 1500 * 2**20), ("512k", 512 * 1024),
                                            ("2GiB", 2 * GiB), ("1.5g", int(1.5 * GiB)), ("800000000", 800000000)])
def test_memory_sizes_are_read_in_binary_units(text: str, size: int) -> None:
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["", "G", "-1G", "4X", "lots", "0"])
def test_bad_memory_sizes_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="memory size"):
        parse_bytes(text)


def test_sizes_are_shown_in_binary_units() -> None:
    assert format_bytes(1.5 * GiB) == "1.5 GiB" and format_bytes(300 * 2**20) == "300 MiB"
