"""The memory model: a straight line in the output's pixels, its history term, and its inverse."""

import pytest
import torch

from impasto.config import TransferConfig
from impasto.images import longest_side
from impasto.memory import (
    ACTIVATION_BYTES,
    FIXED_BYTES,
    HISTORY_BYTES,
    available_bytes,
    estimate_peak_bytes,
    largest_side_that_fits,
    pixel_bytes,
    pixels_that_fit,
)


def test_the_estimate_is_fixed_plus_per_pixel() -> None:
    full_history = TransferConfig(iterations=105, levels=1, history_size=100)
    assert pixel_bytes(full_history) == ACTIVATION_BYTES + HISTORY_BYTES * 100
    assert estimate_peak_bytes(512, 384, full_history) == FIXED_BYTES + pixel_bytes(full_history) * 512 * 384
    assert 1390 * 2**20 < estimate_peak_bytes(512, 384, full_history) < 1.1 * 1390 * 2**20  # measured: 1390 MiB


def test_the_history_term_follows_the_optimiser() -> None:
    assert pixel_bytes(TransferConfig(iterations=10)) == ACTIVATION_BYTES + HISTORY_BYTES * 10
    assert pixel_bytes(TransferConfig(iterations=500, history_size=1000)) == ACTIVATION_BYTES + HISTORY_BYTES * 500
    assert pixel_bytes(TransferConfig(optimizer="adam", iterations=500)) == ACTIVATION_BYTES + HISTORY_BYTES


@pytest.mark.parametrize("aspect", [(4, 3), (3, 4), (1, 1), (1000, 10), (7, 5)])
@pytest.mark.parametrize("budget_mb", [150, 512, 4096, 80_000])
def test_the_largest_side_that_fits_fits_and_one_more_does_not(aspect, budget_mb) -> None:
    budget = budget_mb * 2**20
    side = largest_side_that_fits(budget, aspect)
    assert side > 0
    assert estimate_peak_bytes(*longest_side(aspect, side)) <= budget
    assert estimate_peak_bytes(*longest_side(aspect, side + 1)) > budget


def test_a_budget_under_the_fixed_part_fits_nothing() -> None:
    assert pixels_that_fit(FIXED_BYTES) == 0 and largest_side_that_fits(FIXED_BYTES // 2, (4, 3)) == 0


def test_the_cpu_has_some_memory_free() -> None:
    assert 2**27 < available_bytes(torch.device("cpu")) < 2**50
