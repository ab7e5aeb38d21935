"""`impasto video --mode keyframes`: keyframes painted by optimisation, the frames between them by a
network trained on the clip and carried along the optical flow.

The first frame is a still transfer, as in `--mode frames`. A network (`propagate.PaintNet`) is then
trained on the clip's own frames against the objective a later frame of `--mode frames` minimises,
and each later frame is painted from it in one pass:

- `carry` 'keyframe' (the default): where a pixel can be traced back to the last keyframe (the flows
  since composed, and the frame there looks as the keyframe's input did: `Trace`), the keyframe's
  painting is sampled there once, so its strokes move with the scene and do not blur from warp to
  warp; elsewhere (disoccluded, new content) the network's painting, steadied.
- `carry` 'network': the network's painting, steadied, everywhere.

The network's painting is steadied by a blend with the previous output warped along the flow where
the flow holds (`STEADY` of it there): painted afresh every frame, it flickered more than `--mode
frames` on bigbuckbunny.mp4's rabbit.

A frame becomes a keyframe where less than `keyframe_coverage` of it can be traced back to the last
keyframe (after a cut, none), or `keyframe_every` frames after the last (or where `keyframes` says).
It is painted by optimisation as a later frame of `--mode frames` is (the still transfer's settings,
`later_iterations` steps at full size), from what the loop would have made of it and held to the
frame before by the temporal loss, so its strokes stay where they were: the still transfer's whole
schedule, from its coarse levels, repainted the sky of bigbuckbunny.mp4 with a visible jump.
`refine` N gives the other frames N L-BFGS steps of the same objective with the temporal loss.

The work dir is `--mode frames`' (`run.py`), with the network's checkpoint `network.pt`; which
frames are keyframes follows from the cached flows, so a resumed run makes the same choices.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ..device import prepare_device
from ..errors import Interrupted
from ..images import save_image
from ..memory import resolve_runtime
from ..optimize import Progress
from ..pipeline import painting_level
from ..vgg import load_vgg19
from .flow import warp
from .frames import FrameLoop
from .progress import FrameProgress
from .propagate import PaintNet, train_network

__all__ = ["LIKENESS", "STEADY", "STRETCH", "KeyframeLoop", "Trace"]

STEADY = 0.8
"""The share of the previous output, warped, in the network's painting of a frame where the flow holds."""
LIKENESS = 0.1
"""A pixel whose colour differs by more than this from where the flows say it was in the keyframe's
input frame (the mean absolute difference of RGB in [0, 1] over 3x3 px) cannot be traced back to
the keyframe: it was occluded, is new content, or the flow lost it."""
STRETCH = 0.5
"""Nor can a pixel where the keyframe's painting, carried, would be stretched to more than 1 / STRETCH
its size in some direction (the smaller singular value of the composed flows' Jacobian is under
this): the flow has lost it (new content entering at the frame's edge, a flat surface the flow
cannot follow), and the strokes there would smear into streaks. bikes.mp4's white board showed them."""


class Trace:
    """Where each pixel of the current frame was in the last keyframe, and whether it is still the
    same there.

    `coords` (1, 2, H, W): the pixel's position (x, y) in the keyframe, the flows since composed;
    `reach` (1, 1, H, W) in [0, 1]: 1 where that position is inside the keyframe, the frame looks
    there as the keyframe's input frame did (`LIKENESS`) and the painting is not stretched there
    (`STRETCH`), 0 elsewhere, softened over a pixel. Judged
    against the keyframe itself, not frame by frame, so a pixel the flow of one frame was unsure of
    is not lost for good, and an error the flows add up to is caught."""

    def __init__(self, keyframe: torch.Tensor, painting: torch.Tensor) -> None:
        """`keyframe`: the keyframe's input frame, `painting` its painting, (1, 3, H, W) each."""
        self.source, self.painting = keyframe, painting
        height, width = keyframe.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                                indexing="ij")
        self.grid = torch.stack([xs, ys])[None]
        self.coords, self.reach = self.grid.clone(), torch.ones(1, 1, height, width)

    def follow(self, flow: torch.Tensor, frame: torch.Tensor) -> None:
        """Move on to `frame` (1, 3, H, W), with `flow` (H, W, 2) from it to the frame before."""
        self.coords = warp(self.coords, flow)
        (height, width), x, y = frame.shape[-2:], self.coords[:, :1], self.coords[:, 1:]
        inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
        difference = (frame - self.carry(self.source)).abs().mean(1, keepdim=True)
        alike = F.avg_pool2d(difference, 3, 1, 1, count_include_pad=False) <= LIKENESS
        hard = (inside & alike & (_least_scale(self.coords) >= STRETCH)).float()
        self.reach = torch.minimum(hard, F.avg_pool2d(hard, 3, 1, 1, count_include_pad=False))

    @property
    def coverage(self) -> float:
        """The share of the frame that can be traced back to the keyframe."""
        return float(self.reach.mean())

    def carry(self, keyframe: torch.Tensor) -> torch.Tensor:
        """`keyframe` (its painting or its input frame, (1, 3, H, W)) sampled where each pixel came
        from, bicubically, once."""
        return warp(keyframe, (self.coords - self.grid)[0].permute(1, 2, 0), "bicubic").clamp(0, 1)


def _least_scale(coords: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W): how much the map from each pixel to `coords` (1, 2, H, W) shrinks lengths in
    the direction it shrinks them most (the smaller singular value of its Jacobian, by central
    differences, one-sided at the edges; 1 for a shift, 0 where many pixels map to one)."""
    along_x, along_y = torch.gradient(coords, dim=(-1, -2))  # d coords / dx = (a, c), d coords / dy = (b, d)
    squares = (along_x.pow(2) + along_y.pow(2)).sum(1, keepdim=True)  # a^2 + b^2 + c^2 + d^2
    area = (along_x[:, :1] * along_y[:, 1:] - along_y[:, :1] * along_x[:, 1:]).abs()  # |ad - bc|
    # The singular values s1 >= s2 have s1^2 + s2^2 = squares and s1 s2 = area.
    return ((squares - (squares.pow(2) - 4 * area.pow(2)).clamp_min(0).sqrt()) / 2).clamp_min(0).sqrt()


class KeyframeLoop(FrameLoop):
    """The frame loop of `--mode keyframes`, against a `run.py` work dir."""

    def all_passes(self) -> int:
        """Paint every frame the work dir lacks; returns how many it had."""
        (self.work / "pass1").mkdir(exist_ok=True)
        resumed, self.keyframes = 0, [0]
        net: PaintNet | None = None
        trace: Trace | None = None
        for index in range(self.count):
            self.done += 1
            path = self._frame_path(1, index)
            content = self._image(self.work / "input" / f"{index:06d}.png")
            key = index == 0
            if trace is not None:
                trace.follow(torch.from_numpy(self._flow(index, index - 1)[0]), content)
                key = self._is_keyframe(index, trace, index - self.keyframes[-1])
            if path.is_file():
                resumed += 1
                stop = self._report(None, loss=None, path=path, keyframe=key)
            else:
                started = time.perf_counter()
                if trace is None:  # the first frame: a still transfer
                    image, loss = self._optimise(content, None, [], self.config)
                else:
                    net = net or self._network()
                    image, loss = self._paint(index, content, key, net, trace)
                save_image(image, path)
                stop = self._report(None, loss=loss, seconds=time.perf_counter() - started, path=path, keyframe=key)
            if key:  # carried from its PNG, as a resumed run reads it
                self.keyframes, trace = sorted({*self.keyframes, index}), Trace(content, self._image(path))
            if stop and self.done < self.count:
                raise Interrupted(f"stopped after {self.done} of {self.count} frames", None, 0)
        return resumed

    def _is_keyframe(self, index: int, trace: Trace, since: int) -> bool:
        """Whether frame `index` is a keyframe, `since` frames after the last, `trace` followed to it."""
        if self.video.keyframes is not None:
            return index in self.video.keyframes
        return trace.coverage < self.video.keyframe_coverage or since >= self.video.keyframe_every

    def _paint(self, index: int, content: torch.Tensor, key: bool, net: PaintNet,
               trace: Trace) -> tuple[torch.Tensor, float]:
        """Frame `index` (1, 3, H, W) in [0, 1], `trace` followed to it from the last keyframe, and its
        final loss (nan where nothing was optimised)."""
        painted = net.paint(content.to(next(net.parameters()).device)).cpu()
        steps = self.later.iterations if key else self.video.refine
        # The previous output, warped: what the network's painting is blended with, and the temporal loss's target.
        previous = self._targets(1, index, [index - 1])
        steadied = painted + STEADY * previous[0].weight * (previous[0].image - painted)
        if self.video.carry == "keyframe":
            guess = trace.reach * trace.carry(trace.painting) + (1 - trace.reach) * steadied
        else:
            guess = steadied
        if not steps:
            return guess, float("nan")
        # A keyframe with the still transfer's settings at full size: its coarse levels would repaint the strokes.
        return self._optimise(content, guess, previous, self.later.replace(iterations=steps))

    def _network(self) -> PaintNet:
        """The network, trained on the clip (or the training continued from the work dir's checkpoint), on
        the run's device."""
        runtime = resolve_runtime(self.later, network_held=False)
        prepare_device(runtime.device)
        vgg = load_vgg19(self.later.weights, self.later.pooling, runtime.device, self.later.padding, runtime.dtype)
        first = self.work / "input" / f"{min(1, self.count - 1):06d}.png"
        styles = painting_level(first, self.styles, self.later, runtime.device).styles

        def frame(i: int) -> torch.Tensor:
            return self._image(self.work / "input" / f"{i:06d}.png").to(runtime.device)

        def relay(event: Progress) -> bool:
            return bool(self.callback and self.callback(
                FrameProgress(self.done - 1, self.count, event, stage="training")))

        net = train_network(frame, self.count, lambda i: self._flow(i, i - 1), vgg, styles, self.later,
                            self.video.temporal_weight, self.video.steps_for(self.count), self.work / "network.pt",
                            relay)
        return net
