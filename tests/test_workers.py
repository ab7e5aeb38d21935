"""The planner of levels spread over workers (`impasto.workers`): blocks dealt out by cost, a level
kept on the driver where workers would not be faster or do not fit, the finest levels' extra steps."""

from __future__ import annotations

import pytest
import torch

from impasto.config import TransferConfig
from impasto.device import Runtime
from impasto.memory import plan_level, seconds_per_pixel
from impasto.workers import MAX_STEP_FACTOR, Workers, deal, more_steps, spread_level

GiB = 2**30
CPU = Runtime(torch.device("cpu"), torch.bfloat16, 3 * GiB)
RATE = seconds_per_pixel(CPU)[0]  # the workers as fast as this process


def test_blocks_are_dealt_largest_first_to_the_least_loaded() -> None:
    sizes = [9, 4, 4, 6, 6, 9, 4, 4, 6]
    dealt = deal(sizes, 3)
    assert sorted(i for indices in dealt for i in indices) == list(range(9))
    assert all(indices == sorted(indices) for indices in dealt)
    loads = [sum(sizes[i] for i in indices) for indices in dealt]
    assert loads == [19, 17, 16]  # 9+6+4, 9+4+4, 6+6+4: within a block of each other


def _level(side: int, iterations: int = 10):
    config = TransferConfig(size=side)
    width, height = side, side * 3 // 4
    level = plan_level(width, height, iterations, CPU, config)
    assert level is not None and level.block is not None, "a level the driver computes in blocks"
    return level, config


def test_a_large_level_goes_to_the_workers_and_a_small_one_stays() -> None:
    level, config = _level(4096)
    spread = spread_level(level, config, CPU, Workers(8, RATE, 4 * GiB, None))
    assert spread.workers == 8 and spread.blocks >= 16
    assert spread.seconds < level.seconds / 4
    assert spread.peak_bytes <= CPU.budget
    assert spread.worker_bytes <= 4 * GiB and spread.moved_bytes > 24 * 4096 * 3072
    one = spread_level(level, config, CPU, Workers(1, RATE, 4 * GiB, None))
    assert one == level  # one worker as fast as the driver: no faster


def test_a_level_stays_on_the_driver_where_a_worker_cannot_hold_its_blocks() -> None:
    level, config = _level(4096)
    assert spread_level(level, config, CPU, Workers(8, RATE, 600 * 2**20, None)) == level


def test_a_slow_network_keeps_a_level_on_the_driver() -> None:
    level, config = _level(2048)
    assert spread_level(level, config, CPU, Workers(4, RATE, 4 * GiB, None)).workers == 4
    assert spread_level(level, config, CPU, Workers(4, RATE, 4 * GiB, 1.0)) == level  # a byte a second


@pytest.mark.parametrize(("speedups", "expected"), [
    ([1.0, 1.0, 3.0], [(512, 74), (1024, 28), (2048, 57)]),
    ([1.0, 2.5, 9.0], [(512, 74), (1024, 70), (2048, 19 * MAX_STEP_FACTOR)]),
    ([1.0, 0.8, 1.0], [(512, 74), (1024, 28), (2048, 19)]),
])
def test_the_finest_levels_get_the_workers_speed_up_in_steps(speedups, expected) -> None:
    assert more_steps([(512, 74), (1024, 28), (2048, 19)], speedups) == expected


class _Cluster:
    """`impasto transfer --address`'s workers without a cluster (the CLI is the thin layer here; the
    workers themselves are tested on a real Ray cluster in tests/cluster/test_print_on_ray.py)."""

    def __init__(self) -> None:
        self.stopped = False

    def workers(self, budget: int | None, more: bool) -> Workers:
        return Workers(8, RATE, budget or 4 * GiB, None, more_steps=more)

    def shutdown(self) -> None:
        self.stopped = True


@pytest.mark.parametrize("same_steps", [False, True])
def test_dry_run_with_workers_shows_them_and_the_finest_levels_steps(tmp_path, capsys, monkeypatch, content_path,
                                                                     style_path, same_steps) -> None:
    from impasto.cli import main
    from impasto.cli import transfer as command

    cluster = _Cluster()
    monkeypatch.setattr(command, "_ray_blocks", lambda args, config: cluster)
    out = tmp_path / "out.png"
    code = main(["transfer", str(content_path), str(style_path), "-o", str(out), "--size", "4096",
                 "--memory-budget", "6G", "--address", "auto", "--dry-run", *(["--same-steps"] if same_steps else [])])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0 and not out.exists() and cluster.stopped
    finest = TransferConfig(size=4096).stages()[-1][1]
    assert "on 8 workers (each" in lines[5] and "moved a step" in lines[5]
    steps = int(lines[5].split(", ")[1].split()[0])
    assert steps == finest if same_steps else finest < steps <= MAX_STEP_FACTOR * finest
