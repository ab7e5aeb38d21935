"""The settings of a video run beyond each frame's transfer. Free of the extra's modules (PyAV,
OpenCV), so the CLI can show the defaults without them."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError

__all__ = ["CARRY", "FLOW_METHODS", "MAX_SECONDS", "MAX_SIDE", "MAX_TEMPORAL_FRAMES", "MODES", "VideoConfig"]

FLOW_METHODS = ("dis", "farneback")
"""OpenCV's DIS (Kroeger et al. 2016; dense inverse search, medium preset, with variational
refinement), or Farneback's polynomial expansion (2003)."""

MODES = ("frames", "keyframes")
"""'frames': every frame optimised (Ruder et al.); 'keyframes': keyframes optimised, the other frames
painted by a network trained on the clip and carried along the flow (`keyframes.py`)."""
CARRY = ("keyframe", "network")
"""How `--mode keyframes` paints a frame between keyframes: 'keyframe', the last keyframe's painting
carried along the flow where the frames since can be traced back to it, the network's painting
elsewhere; 'network', the network's painting everywhere. The network's painting is steadied by a
blend with the previous output warped along the flow where the flow holds."""
MAX_TRAIN_STEPS = 100_000
"""Most training steps `train_steps` may ask for (about 14 hours at 512 px on 2 CPU cores)."""

TRAIN_STEPS_BASE, TRAIN_STEPS_PER_FRAME, TRAIN_STEPS_MAX = 150, 1, 600
"""The default training steps: BASE + PER_FRAME x frames, at most MAX."""

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
    mode: str = "frames"
    """'frames' or 'keyframes' (see MODES)."""
    keyframes: tuple[int, ...] | None = None
    """'keyframes' mode: the frames (0-based, in the output) to paint by optimisation; None: chosen
    from the flow (the first frame, then wherever less than `keyframe_coverage` of a frame can be
    traced back to the last keyframe, at most `keyframe_every` frames apart)."""
    keyframe_every: int = 50
    """'keyframes' mode: most frames from one automatic keyframe to the next."""
    keyframe_coverage: float = 0.6
    """'keyframes' mode: a frame of which a smaller share can be traced back to the last keyframe
    along the flow (occlusions and new content counted out) is painted as a keyframe."""
    train_steps: int | None = None
    """'keyframes' mode: steps of the network's training; None: `steps_for(frames)`."""
    refine: int = 0
    """'keyframes' mode: L-BFGS steps of each frame between keyframes from what it is painted with,
    with the temporal loss, as `--mode frames` runs `later_iterations`."""
    carry: str = "keyframe"
    """'keyframes' mode: how frames between keyframes are painted (see CARRY)."""

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
        self._check_keyframes()

    def _check_keyframes(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.keyframes is not None:
            object.__setattr__(self, "keyframes", tuple(sorted(set(self.keyframes))))
            if any(not _whole(k) or k < 0 for k in self.keyframes) or self.keyframes[:1] != (0,):
                raise ConfigError(f"keyframes must be whole numbers from 0, the first frame included, e.g. "
                                  f"0,120,240; got {','.join(map(str, self.keyframes)) or 'none'}")
        if not _whole(self.keyframe_every) or self.keyframe_every < 1:
            raise ConfigError(f"keyframe_every must be a positive whole number, got {self.keyframe_every!r}")
        if not _number(self.keyframe_coverage) or not 0 <= self.keyframe_coverage <= 1:
            raise ConfigError(f"keyframe_coverage must be a share from 0 to 1, got {self.keyframe_coverage!r}")
        if self.train_steps is not None and (not _whole(self.train_steps)
                                             or not 0 <= self.train_steps <= MAX_TRAIN_STEPS):
            raise ConfigError(f"train_steps must be a whole number from 0 to {MAX_TRAIN_STEPS:,}, got "
                              f"{self.train_steps!r}")
        if not _whole(self.refine) or self.refine < 0:
            raise ConfigError(f"refine must be zero or a positive whole number, got {self.refine!r}")
        if self.carry not in CARRY:
            raise ConfigError(f"carry must be one of {', '.join(CARRY)}, got {self.carry!r}")
        if self.mode == "keyframes" and (self.independent or self.passes > 1):
            raise ConfigError("mode keyframes paints frames between keyframes with a network: leave out "
                              "independent and passes, or use mode frames")

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

    def steps_for(self, frames: int) -> int:
        """The network's training steps on a clip of `frames` frames: `train_steps`, or by default a
        fixed part and a part that grows with the clip, up to a cap (what benchmarks/RESULTS.md's
        keyframes runs used; not tuned further)."""
        if self.train_steps is not None:
            return self.train_steps
        return min(TRAIN_STEPS_BASE + TRAIN_STEPS_PER_FRAME * frames, TRAIN_STEPS_MAX)

    def replace(self, **changes: Any) -> VideoConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings."""
        return {**dataclasses.asdict(self), "temporal_frames": list(self.temporal_frames),
                "keyframes": None if self.keyframes is None else list(self.keyframes)}


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    """A finite int or float (settings come from JSON too, where a string or a bool may stand)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


