"""The settings of a video run beyond each frame's transfer. Free of the extra's modules (PyAV,
OpenCV), so the CLI can show the defaults without them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["FLOW_METHODS", "MAX_SECONDS", "MAX_SIDE", "MAX_TEMPORAL_FRAMES", "VideoConfig"]

FLOW_METHODS = ("dis", "farneback")
"""OpenCV's DIS (Kroeger et al. 2016; dense inverse search, medium preset, with variational
refinement), or Farneback's polynomial expansion (2003)."""

MAX_SIDE = 512
"""px: frames keep the clip's own size up to this longest side, unless a size is given."""
MAX_TEMPORAL_FRAMES = 8
"""Most offsets `temporal_frames` may list: each adds a flow per frame (cached on disk, 12 bytes a
pixel) and a warped target per frame (in memory), so the work grows with their number."""
MAX_SECONDS = 86_400.0
"""Latest `start` (and longest `duration`), in seconds: a day."""
FLOW_BYTES = 12
"""Bytes a pixel of a cached flow takes on disk: its two float32 components and a float32 mask."""
TARGET_BYTES = 32
"""Bytes a pixel of each temporal target takes in memory while a frame runs: the warped frame and
its weight (float32, 4 channels), its luminance copy and the warp's own temporaries."""


@dataclass(frozen=True)
class VideoConfig:
    """The settings of a clip beyond those of each frame's transfer (a `TransferConfig`)."""

    size: int | None = None
    """Longest side of the frames in px; None: the clip's own, at most MAX_SIDE. Frame sides are
    rounded down to even numbers (H.264's 4:2:0 needs them)."""
    temporal_weight: float = 50.0
    """gamma, the weight of the temporal loss, under the relative normalisation (the same at any
    size); 0 turns it off (later frames still start from the warped previous frame)."""
    temporal_frames: tuple[int, ...] = (1,)
    """Long-term consistency: hold frame i to frames i-j for these j (e.g. 1, 2, 4), each pixel to
    the closest one where it was visible."""
    later_iterations: int = 20
    """L-BFGS steps of each frame after the first (at full size, from the warped previous frame). At
    256 px their content + style loss is within 2% of its 80-step value after 20 (benchmarks/video.py
    --curve 80)."""
    passes: int = 1
    """Runs through the clip, alternately forward and backward (Ruder et al.'s multi-pass)."""
    flow: str = "dis"
    """'dis' or 'farneback' (OpenCV)."""
    independent: bool = False
    """Stylise every frame on its own, from its content frame, with the first frame's schedule:
    the baseline without temporal consistency."""
    start: float = 0.0
    """Seconds into the clip where the output begins."""
    duration: float | None = None
    """Seconds of the clip to stylise; None: to its end."""
    max_frames: int | None = None
    """At most this many frames; None: all."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "temporal_frames", tuple(sorted(set(self.temporal_frames))))
        if self.size is not None and (not isinstance(self.size, int) or self.size < 2):
            raise ConfigError(f"size must be a whole number of at least 2 px, got {self.size}")
        if not self.temporal_frames or any(not isinstance(j, int) or j < 1 for j in self.temporal_frames):
            raise ConfigError(f"temporal_frames must be whole numbers of at least 1, e.g. 1,2,4; got "
                              f"{','.join(map(str, self.temporal_frames)) or 'none'}")
        if len(self.temporal_frames) > MAX_TEMPORAL_FRAMES:
            raise ConfigError(f"temporal_frames takes at most {MAX_TEMPORAL_FRAMES} offsets (each adds a flow to "
                              f"cache and a target to hold per frame), got {len(self.temporal_frames)}")
        if not _number(self.temporal_weight) or self.temporal_weight < 0:
            raise ConfigError(f"temporal_weight must be zero or a positive number, got {self.temporal_weight!r}")
        if not _whole(self.later_iterations) or self.later_iterations < 0:
            raise ConfigError(f"later_iterations must be zero or a positive whole number, got "
                              f"{self.later_iterations!r}")
        if not _whole(self.passes) or self.passes < 1:
            raise ConfigError(f"passes must be a positive whole number, got {self.passes!r}")
        if self.independent and self.passes > 1:
            raise ConfigError("passes > 1 needs temporal consistency: leave out independent")
        if self.flow not in FLOW_METHODS:
            raise ConfigError(f"flow must be one of {', '.join(FLOW_METHODS)}, got {self.flow!r}")
        if not isinstance(self.independent, bool):
            raise ConfigError(f"independent must be true or false, got {self.independent!r}")
        if not _number(self.start) or not 0 <= self.start <= MAX_SECONDS or (self.duration is not None and (
                not _number(self.duration) or not 0 < self.duration <= MAX_SECONDS)):
            raise ConfigError(f"start must be from 0 and duration over 0, both at most {MAX_SECONDS:,.0f} seconds, "
                              f"got {self.start!r:.20} and {self.duration!r:.20}")
        if self.max_frames is not None and (not _whole(self.max_frames) or self.max_frames < 1):
            raise ConfigError(f"max_frames must be a positive whole number, got {self.max_frames!r}")

    def work_bytes(self, frames: int, size: tuple[int, int]) -> int:
        """The most bytes a run of `frames` frames of `size` (width, height) keeps in its work dir:
        the decoded frames and each pass's finished ones (uncompressed, at most), and a cached flow
        per frame and offset in each direction its passes run."""
        pixels = size[0] * size[1]
        directions = 1 if self.passes == 1 else 2
        flows = 0 if self.independent else frames * len(self.temporal_frames) * directions
        return frames * (1 + self.passes) * 3 * pixels + flows * FLOW_BYTES * pixels

    def target_bytes(self, size: tuple[int, int]) -> int:
        """The memory a later frame's temporal targets take besides its transfer's own (planned by
        `pipeline.plan_transfer`)."""
        return 0 if self.independent else len(self.temporal_frames) * TARGET_BYTES * size[0] * size[1]

    def replace(self, **changes: Any) -> VideoConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings."""
        return {**dataclasses.asdict(self), "temporal_frames": list(self.temporal_frames)}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    """A finite int or float (settings come from JSON too, where a string or a bool may stand)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


