"""The frame loop of `--mode frames` (Ruder, Dosovitskiy & Brox 2016), against a `run.py` work dir.

The first frame is a still transfer (the config's coarse-to-fine schedule). Every later frame
starts from the previous stylised frame warped into it along the flow of the input frames
(disoccluded pixels from the content frame) and is optimised at full size for
`VideoConfig.later_iterations` steps with the temporal loss added to the objective. With
`passes` > 1 the clip is run again, alternately backward and forward, each frame starting from a
blend of its last result and its warped neighbour's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..color import luminance
from ..config import TransferConfig
from ..errors import Interrupted
from ..files import atomic_file
from ..images import ImageSource, load_image, save_image, to_tensor
from ..optimize import Progress
from ..pipeline import transfer
from .config import VideoConfig
from .flow import flow_and_mask, warp
from .progress import FrameCallback, FrameProgress
from .temporal import TemporalLoss, TemporalTarget, closest_first

__all__ = ["FrameLoop"]


class FrameLoop:
    """The frame loop over the passes, against a work dir."""

    def __init__(
        self,
        work: Path,
        config: TransferConfig,
        video: VideoConfig,
        styles: list[ImageSource],
        count: int,
        callback: FrameCallback | None,
    ) -> None:
        self.work, self.config, self.video, self.styles, self.count = work, config, video, styles, count
        self.callback = callback
        # Later frames start from the warped previous one at full size: one level, fewer steps.
        self.later = config.replace(iterations=video.later_iterations, levels=1)
        self.done = 0
        self.keyframes: list[int] = []
        """The frames painted by the still transfer's whole schedule (`--mode keyframes`)."""

    def frame_paths(self, pass_: int) -> Iterator[Path]:
        return (self._frame_path(pass_, index) for index in range(self.count))

    def all_passes(self) -> int:
        """Stylise every frame of every pass that the work dir lacks; returns how many it had."""
        resumed = 0
        for pass_ in range(1, self.video.passes + 1):
            (self.work / f"pass{pass_}").mkdir(exist_ok=True)
            order = range(self.count) if pass_ % 2 else range(self.count - 1, -1, -1)
            for index in order:
                self.done += 1
                path = self._frame_path(pass_, index)
                if path.is_file():
                    resumed += 1
                    stop = self._report(None, loss=None, path=path)
                else:
                    started = time.perf_counter()
                    image, loss = self._stylise(pass_, index)
                    save_image(image, path)
                    stop = self._report(None, loss=loss, seconds=time.perf_counter() - started, path=path)
                if stop and self.done < self.count * self.video.passes:
                    raise Interrupted(f"stopped after {self.done} of {self.count * self.video.passes} frames", None, 0)
        return resumed

    def _stylise(self, pass_: int, index: int) -> tuple[torch.Tensor, float]:
        """Frame `index` of pass `pass_`: (1, 3, H, W) in [0, 1], and its final loss."""
        content = self._image(self.work / "input" / f"{index:06d}.png")
        step = 1 if pass_ % 2 else -1  # forward passes look back at i-1, backward ones at i+1
        neighbours = [index - step * j for j in self.video.temporal_frames if 0 <= index - step * j < self.count]
        if self.video.independent or (pass_ == 1 and not neighbours):
            return self._optimise(content, None, [], self.config)
        if not neighbours:  # the first frame of a later pass has nothing new to hold to
            return self._image(self._frame_path(pass_ - 1, index)), float("nan")
        targets = self._targets(pass_, index, neighbours)
        nearest = targets[0]
        if pass_ == 1:  # disoccluded pixels start from the content frame
            start = nearest.weight * nearest.image + (1 - nearest.weight) * content
        else:  # Ruder et al.'s multi-pass: half way to the warped neighbour where it can be trusted
            own = self._image(self._frame_path(pass_ - 1, index))
            start = own + 0.5 * nearest.weight * (nearest.image - own)
        return self._optimise(content, start, targets, self.later)

    def _targets(self, pass_: int, index: int, neighbours: list[int]) -> list[TemporalTarget]:
        """The finished frames `neighbours` of pass `pass_`, each warped into frame `index` along the
        flow, with the flow's consistency mask."""
        targets = []
        for neighbour in neighbours:
            flow, mask = self._flow(index, neighbour)
            earlier = self._image(self._frame_path(pass_, neighbour))
            # Bicubic: each frame starts from a warp of the one before, and a bilinear sub-pixel warp
            # blurs the strokes a little more every frame (measured in RESULTS.md).
            warped = warp(earlier, flow, "bicubic").clamp(0, 1)
            targets.append(TemporalTarget(warped, torch.from_numpy(mask)[None, None]))
        return targets

    def _optimise(self, content: torch.Tensor, start: torch.Tensor | None, targets: list[TemporalTarget],
                  config: TransferConfig) -> tuple[torch.Tensor, float]:
        """`transfer` of `content` under `config` from `start` (None: the config's own start), held to
        `targets` by the temporal loss, each pixel to the nearest target where it was visible.
        Returns the image and its final loss."""
        last: list[float] = []

        def relay(event: Progress) -> bool:
            last[:] = [event.loss]
            return self._report(event)

        weights = closest_first([t.weight for t in targets])
        if self.config.preserve_colors == "luminance" and start is not None:  # the optimisation runs on it then
            start = luminance(start)
            targets = [TemporalTarget(luminance(t.image), t.weight) for t in targets]
        targets = [TemporalTarget(t.image, w) for t, w in zip(targets, weights, strict=True)]
        terms = [TemporalLoss(targets, self.video.temporal_weight, self.config.normalization == "relative")] \
            if targets and self.video.temporal_weight > 0 else []
        result = transfer(content, self.styles, config, relay, init=start, terms=terms)
        return result.image, last[-1] if last else float("nan")

    def _flow(self, index: int, other: int) -> tuple[np.ndarray, np.ndarray]:
        """The flow from frame `index` to frame `other` and its consistency mask, cached."""
        path = self.work / "flow" / f"{index:06d}-{other:06d}.npz"
        if path.is_file():
            with np.load(path) as cached:
                return cached["flow"], cached["mask"]
        first, second = (load_image(self.work / "input" / f"{i:06d}.png", 10**9, "frame") for i in (index, other))
        flow, mask = flow_and_mask(first, second, self.video.flow)
        path.parent.mkdir(exist_ok=True)
        with atomic_file(path) as file:
            np.savez(file, flow=flow, mask=mask)
        return flow, mask

    def _frame_path(self, pass_: int, index: int) -> Path:
        return self.work / f"pass{pass_}" / f"{index:06d}.png"

    def _image(self, path: Path) -> torch.Tensor:
        return to_tensor(load_image(path, 10**9, "frame"))

    def _report(self, step: Progress | None, loss: float | None = None, seconds: float = 0.0,
                path: Path | None = None, keyframe: bool = False) -> bool:
        """Send an event; whether the callback asks to stop."""
        if self.callback is None:
            return False
        return bool(self.callback(FrameProgress(self.done, self.count * self.video.passes, step, loss, seconds, path,
                                                keyframe)))
