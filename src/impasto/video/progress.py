"""The events a video run reports: a frame's iterations, a finished frame, a training step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..optimize import Progress

__all__ = ["FrameCallback", "FrameProgress"]


@dataclass(frozen=True)
class FrameProgress:
    """An event of a video run: an iteration of a frame, or a finished frame."""

    frame: int
    """1-based number of the frame in the run's order (passes one after the other)."""
    frames: int
    """Frames to stylise in all (frame count x passes)."""
    step: Progress | None
    """The iteration just done, or None when the frame is finished (`loss` and `seconds` set)."""
    loss: float | None = None
    """The finished frame's loss; None for a frame the work dir already held (resumed)."""
    seconds: float = 0.0
    """Time the finished frame took."""
    path: Path | None = None
    """The finished frame's PNG in the work dir; None for an iteration."""
    keyframe: bool = False
    """`--mode keyframes`: the finished frame is a keyframe (optimised)."""
    stage: str = "frame"
    """'frame', or 'training' for a step of `--mode keyframes`' network (`step` set; `frame` is
    the number of frames finished before it)."""


FrameCallback = Callable[[FrameProgress], bool | None]
"""Receives each `FrameProgress` event; returning True stops the run within the iteration
(`Interrupted` is raised; the finished frames stay in the work dir)."""
