"""A network that paints a clip's frames in one pass each, trained on the clip itself.

Every frame of `impasto video --mode keyframes` goes through `PaintNet`, a small residual
encoder-decoder (after Johnson et al. 2016, with instance norm as Ulyanov et al. 2017 found
needed): frame in, painted frame out. It is trained on the clip, not on a dataset: on crops of its
frames at full size, against the objective a later frame of `--mode frames` minimises (the
painting's Gram matrices and palette, the frame's conv4_2 content and Laplacian, at the still
transfer's weights), plus the temporal term between neighbouring frames along their flow. So it
learns what the optimisation would make of this clip's own content, at the optimisation's balance
of style and content, and needs no data beyond the clip.

Training is deterministic: the crops of step k are drawn from a generator seeded by the run's seed
and k, and the network, its optimiser and the step are saved to a checkpoint every
`CHECKPOINT_EVERY` steps, so a run killed mid-training continues where it stopped and ends with the
same network.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import TransferConfig
from ..errors import Interrupted
from ..files import atomic_file
from ..objective import Objective, StyleImage
from ..optimize import Progress
from ..vgg import VGG19
from .flow import warp

__all__ = ["CHECKPOINT_EVERY", "CROP", "PaintNet", "train_network"]

CROP = 160
"""px: the side of the square crops the network trains on (smaller frames: their own size)."""
LEARNING_RATE = 2e-3
"""Adam's at the start, decayed along a cosine to a twentieth at the last step (the probes of issue 32
found Texler et al.'s 2e-4 far too slow for the steps a clip can afford)."""
CHECKPOINT_EVERY = 20
"""Steps between checkpoints."""


class PaintNet(nn.Module):
    """Frame (N, 3, H, W) in [0, 1] -> painted frame, the same size, as the frame plus a change: three
    convolutions down to a quarter of the size, `blocks` residual blocks there, and two upsampling
    convolutions back, each with instance norm and ReLU (reflection padding: no dark borders)."""

    def __init__(self, width: int = 32, blocks: int = 4) -> None:
        super().__init__()
        self.down = nn.Sequential(_conv(3, width), _conv(width, 2 * width, 2), _conv(2 * width, 4 * width, 2))
        self.blocks = nn.ModuleList(nn.Sequential(_conv(4 * width, 4 * width), _conv(4 * width, 4 * width, relu=False))
                                    for _ in range(blocks))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _conv(4 * width, 2 * width),
                                nn.Upsample(scale_factor=2, mode="nearest"), _conv(2 * width, width))
        self.out = nn.Conv2d(width, 3, 3, padding=1, padding_mode="reflect")
        nn.init.zeros_(self.out.weight)  # starts as the identity: the frame itself
        nn.init.zeros_(self.out.bias)  # type: ignore[arg-type]

    def forward(self, frame: torch.Tensor) -> torch.Tensor:
        height, width = frame.shape[-2:]
        # Sides a multiple of 4 for the two halvings; reflected, then cut back.
        padded = F.pad(frame, (0, -width % 4, 0, -height % 4), mode="reflect")
        x = self.down(padded)
        for block in self.blocks:
            x = x + block(x)
        change = self.out(self.up(x))[..., :height, :width]
        return frame + change

    @torch.no_grad()
    def paint(self, frame: torch.Tensor) -> torch.Tensor:
        """The painted frame (1, 3, H, W) in [0, 1] of `frame` (1, 3, H, W)."""
        return self(frame).clamp(0, 1)


def _conv(inputs: int, outputs: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(inputs, outputs, 3, stride, 1, padding_mode="reflect"),
                               nn.InstanceNorm2d(outputs, affine=True)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


TrainCallback = Callable[[Progress], bool | None]
"""Receives a `Progress` event each training step (loss, content, style, tv = the temporal term);
True stops the training (`Interrupted`)."""


def train_network(
    frame: Callable[[int], torch.Tensor],
    count: int,
    flows: Callable[[int], tuple[np.ndarray, np.ndarray]],
    vgg: VGG19,
    styles: Sequence[StyleImage],
    config: TransferConfig,
    temporal_weight: float,
    steps: int,
    checkpoint: Path,
    callback: TrainCallback | None = None,
) -> PaintNet:
    """Train a `PaintNet` on the `count` frames of a clip, `frame(i)` (1, 3, H, W) in [0, 1] on the
    device to train on, for `steps` steps.

    Each step takes a crop of a frame i and the same crop of frame i - 1, paints both, and adds
    their `Objective` losses under `config` (against `styles`, at the frames' scale) and
    `temporal_weight` times the temporal loss between painted frame i and painted frame i - 1 warped
    along `flows(i)` (the flow from frame i to i - 1 and its consistency mask), relative as
    `TemporalLoss` is. The network is saved to `checkpoint` (with its optimiser and step) every
    `CHECKPOINT_EVERY` steps and at the end; a checkpoint already there is continued from.

    Raises:
        Interrupted: `callback` asked to stop (the last checkpoint stays).
    """
    start = frame(min(1, count - 1))
    device = start.device
    seed = config.seed or 0
    with torch.random.fork_rng(devices=[]):  # the run's seed draws the initial weights; the caller's state stays
        torch.manual_seed(seed)
        net = PaintNet().to(device)
    adam = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.LambdaLR(adam, lambda k: 0.05 + 0.475 * (1 + math.cos(math.pi * k / steps)))
    done = 0
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location=device, weights_only=True)
        net.load_state_dict(state["network"])
        adam.load_state_dict(state["adam"])
        schedule.load_state_dict(state["schedule"])
        done = int(state["step"])
    height, width = start.shape[-2:]
    crop = (min(CROP, height), min(CROP, width))
    objective = Objective(vgg, start[..., : crop[0], : crop[1]], styles, config, crop)
    started = time.perf_counter()
    net.train()
    for step in range(done, steps):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
        total = content = style = temporal = torch.zeros((), device=device)
        # A crop of frame `index` and of the one before it (a clip of one frame: itself alone).
        index = 1 + int(torch.randint(count - 1, (1,), generator=generator)) if count > 1 else 0
        top = int(torch.randint(height - crop[0] + 1, (1,), generator=generator))
        left = int(torch.randint(width - crop[1] + 1, (1,), generator=generator))
        pair = torch.cat([frame(i)[..., top : top + crop[0], left : left + crop[1]]
                          for i in range(max(index - 1, 0), index + 1)])
        painted = net(pair)
        for crop_frame, crop_painted in zip(pair.split(1), painted.split(1), strict=True):
            terms = objective.with_content(crop_frame)(crop_painted)
            total, content, style = total + terms.total, content + terms.content, style + terms.style
        if index > 0 and temporal_weight > 0:
            temporal = _temporal(painted[1:], painted[:1], flows(index), (top, left), temporal_weight)
            total = total + temporal
            temporal = temporal.detach()
        adam.zero_grad(set_to_none=True)
        total.backward()
        adam.step()
        schedule.step()
        if (step + 1) % CHECKPOINT_EVERY == 0 or step + 1 == steps:
            _save(checkpoint, net, adam, schedule, step + 1)
        if callback is not None:
            loss, c, s, t = torch.stack([total.detach(), content, style, temporal]).tolist()
            event = Progress(step + 1, steps, loss, c, s, t, time.perf_counter() - started,
                             painted[-1:].detach().clamp(0, 1), work=(step + 1 - done) / (steps - done))
            if callback(event) and step + 1 < steps:
                _save(checkpoint, net, adam, schedule, step + 1)
                raise Interrupted(f"stopped after {step + 1} of {steps} training steps", None, 0)
    net.eval()
    return net


def _temporal(
    painted: torch.Tensor,
    previous: torch.Tensor,
    flow_and_mask: tuple[np.ndarray, np.ndarray],
    corner: tuple[int, int],
    weight: float,
) -> torch.Tensor:
    """weight sum c (x - w(x_prev))^2 / sum w^2 over a crop at `corner` (top, left): `painted` against
    `previous` warped along the crop's part of the flow; pixels whose flow leaves the crop count 0."""
    (top, left), (height, width) = corner, painted.shape[-2:]
    flow, c = (torch.from_numpy(a[top : top + height, left : left + width]).to(painted.device) for a in flow_and_mask)
    ys, xs = torch.meshgrid(torch.arange(height, device=painted.device), torch.arange(width, device=painted.device),
                            indexing="ij")
    to_x, to_y = xs + flow[..., 0], ys + flow[..., 1]
    c = c * ((to_x >= 0) & (to_x <= width - 1) & (to_y >= 0) & (to_y <= height - 1))
    warped = warp(previous, flow)
    return weight * (c * (painted - warped).pow(2)).sum() / warped.detach().pow(2).sum().clamp_min(1e-12)


def _save(path: Path, net: PaintNet, adam: torch.optim.Optimizer, schedule: torch.optim.lr_scheduler.LRScheduler,
          step: int) -> None:
    with atomic_file(path) as file:
        torch.save({"network": net.state_dict(), "adam": adam.state_dict(), "schedule": schedule.state_dict(),
                    "step": step}, file)
