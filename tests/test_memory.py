"""The memory model: a straight line in the output's pixels, and its inverse."""

import pytest
import torch

from impasto.images import longest_side
from impasto.memory import (
    FIXED_BYTES,
    PIXEL_BYTES,
    available_bytes,
    estimate_peak_bytes,
    largest_side_that_fits,
    pixels_that_fit,
)


def test_the_estimate_is_fixed_plus_per_pixel() -> None:
    assert estimate_peak_bytes(512, 384) == FIXED_BYTES + PIXEL_BYTES * 512 * 384
    assert 1.2 * 2**30 < estimate_peak_bytes(512, 384) < 1.5 * 2**30  # measured: 1337 MiB


@pytest.mark.parametrize("aspect", [(4, 3), (3, 4), (1, 1), (1000, 10), (7, 5)])
@pytest.mark.parametrize("budget_mb", [120, 512, 4096, 80_000])
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
