"""A seeded sample of benchmarks/fuzz_video.py: damaged clips through `impasto video` are styled or
refused with exit code 2 and one line naming the clip, with no traceback and nothing left behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from benchmarks.fuzz_video import fuzz

SAMPLE = [*range(20), 43, 44, 65, 88, 242, 348]
"""The first 20 cases of seed 0, and six that broke a rule before this test: a pre-existing work dir
kept decoded frames (7), a GIF whose header says 32x2 px (19), Opus audio into a .mov (43), AAC into a
.webm (44), tags that are not UTF-8 (65, 88), an audio track of no known codec (242), audio packets
with timestamps out of order (348)."""


@pytest.fixture
def one_thread() -> Iterator[None]:
    """32 px frames gain nothing from a second thread, and on busy cores two threads wait for each
    other (3x the time here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_damaged_clips_are_styled_or_refused_in_one_line(tmp_path: Path, one_thread: None) -> None:
    outcomes = fuzz(0, SAMPLE, tmp_path)
    assert [(o.case, o.problems) for o in outcomes if o.problems] == []
    codes = [o.code for o in outcomes]
    assert codes.count(0) >= 5 and codes.count(2) >= 5, codes  # the sample holds both kinds
    assert list(tmp_path.iterdir()) == [tmp_path / "style.png"]
