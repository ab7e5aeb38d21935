"""Quality figures of a stylised clip: its temporal stability (the warping error of Lai et al.,
"Learning Blind Video Temporal Consistency", ECCV 2018) and each frame's style and content figures
(`impasto.score`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..images import ImageSource, to_tensor
from ..score import score
from .flow import flow_and_mask, warp
from .io import read_frames

__all__ = ["VideoScore", "score_video", "warping_error"]


@dataclass(frozen=True)
class VideoScore:
    """Figures of a stylised clip against its input clip and the painting."""

    e_warp: float
    """Warping error: over consecutive frames, the mean of sum M |O_t - warp(O_t+1)|^2 / sum M, with
    RGB in [0, 1], the squared difference summed over the channels, and the flow and consistency
    mask M of the input frames. 0: every visible pixel moves with the scene."""
    style: list[float]
    """Per frame, the mean relative Gram distance to the painting (`Score.style_mean`)."""
    content: list[float]
    """Per frame, the relative conv4_2 distance to the input frame (`Score.content`)."""

    @property
    def style_mean(self) -> float:
        return sum(self.style) / len(self.style)

    @property
    def content_mean(self) -> float:
        return sum(self.content) / len(self.content)

    def to_dict(self) -> dict[str, Any]:
        return {"e_warp": self.e_warp, "style_mean": self.style_mean, "content_mean": self.content_mean,
                "style": self.style, "content": self.content}


def warping_error(
    outputs: Iterable[Image.Image], inputs: Iterable[Image.Image], method: str = "dis"
) -> float:
    """E_warp of the stylised frames `outputs` against the input frames `inputs` (brought to the
    outputs' size), both streamed; see `VideoScore.e_warp`. 0 for a single frame."""
    errors: list[float] = []
    previous: tuple[torch.Tensor, Image.Image] | None = None
    for output, frame in zip(outputs, inputs, strict=True):
        frame = frame if frame.size == output.size else frame.resize(output.size, Image.Resampling.LANCZOS)
        current = (to_tensor(output), frame)
        if previous is not None:
            flow, mask = flow_and_mask(previous[1], frame, method)
            m = torch.from_numpy(mask)
            difference = (previous[0] - warp(current[0], flow)).pow(2).sum(1)[0]  # (H, W)
            errors.append(float((m * difference).sum() / m.sum().clamp_min(1e-12)))
        previous = current
    return float(np.mean(errors)) if errors else 0.0


def score_video(
    output: str | os.PathLike,
    input: str | os.PathLike,
    style: ImageSource,
    device: str = "cpu",
    method: str = "dis",
    start: float = 0.0,
) -> VideoScore:
    """Score the stylised clip `output` against the clip `input` it was made from (from `start`
    seconds, as the run had it) and the painting `style`."""
    outputs = [image for image, _ in read_frames(output)]
    inputs = [image for image, _ in read_frames(input, start, max_frames=len(outputs))]
    figures = [score(o, i.resize(o.size, Image.Resampling.LANCZOS), style, device)
               for o, i in zip(outputs, inputs, strict=True)]
    return VideoScore(
        warping_error(outputs, inputs, method),
        [f.style_mean for f in figures],
        [f.content for f in figures],
    )
