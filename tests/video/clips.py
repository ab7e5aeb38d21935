"""Clips with known motion, built from the shared test images, and their true flows.

Each builder returns the frames, (H, W, 3) uint8 arrays, and the true flow from every frame t > 0
back to frame t-1 (H, W, 2), in the convention of impasto.video.flow.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from impasto.images import EXAMPLES, to_tensor

__all__ = ["CODECS", "pan", "sprite", "still", "write_clip", "zoom"]

Frames = list[np.ndarray]


def _source(name: str, width: int) -> torch.Tensor:
    return to_tensor(Image.open(EXAMPLES / name).convert("RGB").resize((width, width * 3 // 4), Image.LANCZOS))


def _sample(source: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> np.ndarray:
    """`source` (1, 3, h, w) sampled bicubically at pixel positions xs, ys (H, W)."""
    h, w = source.shape[-2:]
    grid = torch.stack([xs / (w - 1) * 2 - 1, ys / (h - 1) * 2 - 1], -1)[None]
    image = F.grid_sample(source, grid, mode="bicubic", padding_mode="border", align_corners=True)
    return (image[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()


def _grid(size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    width, height = size
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32),
                            indexing="ij")
    return xs, ys


def pan(count: int, size: tuple[int, int] = (96, 64), step: tuple[float, float] = (0.6, 0.35)) -> tuple[Frames, Frames]:
    """A camera pan across tubingen by a sub-pixel `step` (px per frame): the flow back is +step."""
    source = _source("tubingen.jpg", 2 * size[0])
    xs, ys = _grid(size)
    frames = [_sample(source, xs + 20 + t * step[0], ys + 10 + t * step[1]) for t in range(count)]
    flow = np.broadcast_to(np.array(step, np.float32), (size[1], size[0], 2)).copy()
    return frames, [flow] * (count - 1)


def zoom(count: int, size: tuple[int, int] = (96, 64), factor: float = 1.03) -> tuple[Frames, Frames]:
    """A zoom into tubingen by `factor` per frame about the centre: the flow back is (x - c)(1/f - 1)."""
    source = _source("tubingen.jpg", 2 * size[0])
    xs, ys = _grid(size)
    cx, cy = (size[0] - 1) / 2, (size[1] - 1) / 2
    sx, sy = (source.shape[-1] - 1) / 2, (source.shape[-2] - 1) / 2
    frames = [_sample(source, sx + (xs - cx) / factor**t, sy + (ys - cy) / factor**t) for t in range(count)]
    flow = torch.stack([(xs - cx) * (1 / factor - 1), (ys - cy) * (1 / factor - 1)], -1).numpy()
    return frames, [flow] * (count - 1)


def sprite(
    count: int, size: tuple[int, int] = (96, 64), side: int = 24, velocity: tuple[int, int] = (4, 1)
) -> tuple[Frames, Frames, list[np.ndarray]]:
    """A square patch of The Starry Night moving by `velocity` px per frame over a still tubingen.
    Also returns, per frame t > 0, the true disocclusion: background pixels the sprite covered in
    frame t-1 and uncovered in frame t (bool (H, W))."""
    background = _sample(_source("tubingen.jpg", size[0]), *_grid(size))
    patch = np.asarray(Image.open(EXAMPLES / "starry_night.jpg").convert("RGB").resize((side, side), Image.LANCZOS))
    frames, flows, uncovered = [], [], []
    for t in range(count):
        x, y = 8 + t * velocity[0], 12 + t * velocity[1]
        frame = background.copy()
        frame[y:y + side, x:x + side] = patch
        frames.append(frame)
        if t:
            flow = np.zeros((size[1], size[0], 2), np.float32)
            flow[y:y + side, x:x + side] = -np.array(velocity, np.float32)
            flows.append(flow)
            before = np.zeros((size[1], size[0]), bool)
            before[y - velocity[1]:y - velocity[1] + side, x - velocity[0]:x - velocity[0] + side] = True
            now = np.zeros_like(before)
            now[y:y + side, x:x + side] = True
            uncovered.append(before & ~now)
    return frames, flows, uncovered


def still(count: int, size: tuple[int, int] = (96, 64)) -> Frames:
    """tubingen, unmoving."""
    frame = _sample(_source("tubingen.jpg", size[0]), *_grid(size))
    return [frame] * count


CODECS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9", ".gif": "gif"}
"""The video encoder of each container, unless `write_clip` is given another."""
_PIXEL_FORMATS = {"libx264": "yuv444p", "gif": "rgb8", "mjpeg": "yuvj444p", "ffv1": "yuv444p"}
"""The frames' pixel format for an encoder, where it is not yuv420p."""


def write_clip(
    path: Path, frames: Frames, rate: Fraction = Fraction(30000, 1001), audio: bool = False, codec: str | None = None
) -> Path:
    """Encode `frames` as a clip with the container's encoder (H.264 losslessly-enough: crf 0, yuv444p)
    or `codec`, with a sine tone if `audio` (AAC; Opus in WebM)."""
    codec = codec or CODECS[path.suffix.lower()]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = _PIXEL_FORMATS.get(codec, "yuv420p")
        if codec == "libx264":
            stream.options = {"crf": "0"}
        sample_rate = 48000 if path.suffix.lower() == ".webm" else 44100  # Opus takes 48 kHz only
        sound = container.add_stream("libopus" if sample_rate == 48000 else "aac", rate=sample_rate) if audio else None
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
        if sound is not None:
            samples = int(sample_rate * len(frames) / rate)
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / sample_rate)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = sample_rate, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path
