"""Style transfer of a clip, frame by frame, held together by optical flow (Ruder, Dosovitskiy &
Brox, "Artistic style transfer for videos", 2016).

The first frame is a still transfer (the config's coarse-to-fine schedule). Every later frame
starts from the previous stylised frame warped into it along the flow of the input frames
(disoccluded pixels from the content frame) and is optimised at full size for
`VideoConfig.later_iterations` steps with the temporal loss added to the objective. With
`passes` > 1 the clip is run again, alternately backward and forward, each frame starting from a
blend of its last result and its warped neighbour's.

The work dir holds everything a run has finished, each file written atomically:

    manifest.json            the run's settings and the input frames' timestamps
    input/000000.png ...     the input frames at the working size, decoded once
    flow/000001-000000.npz   the flow from frame 1 to frame 0 and its consistency mask
    pass1/000000.png ...     the stylised frames of each pass

so running the same command again continues where it stopped, and gives the same video as an
uninterrupted run (later frames always read their predecessors back from the PNGs), on the same
device or another. A new run that is refused (a bad clip or setting: the same command would be
refused again), or stopped before its frames are decoded, takes away what it put in the work dir.
`write_finished_frames` makes a shorter video of what a stopped run finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from PIL import Image

from ..color import luminance
from ..config import TransferConfig
from ..device import resolve_device
from ..errors import ConfigError, ImageError, ImpastoError, Interrupted, OptimizationError
from ..files import atomic_file
from ..images import ImageSource, load_image, longest_side, save_image, to_tensor
from ..memory import process_bytes
from ..optimize import Progress
from ..pipeline import plan_transfer, transfer
from ..vgg import min_input_side
from .config import MAX_SIDE, VideoConfig
from .flow import flow_and_mask, warp
from .io import Clip, check_audio, check_video_output, open_clip, read_frames, write_video
from .temporal import TemporalLoss, TemporalTarget, closest_first

__all__ = ["FrameCallback", "FrameProgress", "VideoResult", "frame_size", "stylize_video", "write_finished_frames"]

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


FrameCallback = Callable[[FrameProgress], bool | None]
"""Receives each `FrameProgress` event; returning True stops the run within the iteration
(`Interrupted` is raised; the finished frames stay in the work dir)."""


@dataclass(frozen=True)
class VideoResult:
    """A finished clip."""

    output: Path
    frames: int
    size: tuple[int, int]
    """(width, height) of the frames."""
    config: TransferConfig
    """The settings of each frame, with the seed used."""
    video: VideoConfig
    resumed: int
    """Frames that were already in the work dir."""


def stylize_video(
    input: str | os.PathLike,
    style: ImageSource | Sequence[ImageSource],
    output: str | os.PathLike,
    config: TransferConfig | None = None,
    video: VideoConfig | None = None,
    *,
    work_dir: str | os.PathLike | None = None,
    callback: FrameCallback | None = None,
) -> VideoResult:
    """Stylise the clip `input` (any file or image sequence pattern ffmpeg reads) in the style of
    `style` into `output` (.mp4, .mov, .mkv or .webm), keeping its frame count, frame rate and audio.

    `config` sets each frame's transfer (its `size` is ignored: see `VideoConfig.size`); the first
    frame runs its whole schedule. `work_dir` keeps the finished frames and flows, so a run that
    was stopped continues where it stopped; by default it is OUTPUT.work beside the output,
    removed once the video is written. `callback` receives each iteration and each finished frame;
    returning True stops the run.

    Raises:
        ImpastoError: a bad input, setting or path (nothing written), or a failed or stopped
            optimisation (`Interrupted`; the frames done so far stay in the work dir).
    """
    video = video or VideoConfig()
    styles: list[ImageSource] = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    out = check_video_output(output, [input, *(s for s in styles if isinstance(s, (str, os.PathLike)))])
    clip = open_clip(input)
    for image in styles:  # a bad style image fails now, before any work
        load_image(image, (config or TransferConfig()).max_pixels, "style")
    width, height = frame_size((clip.width, clip.height), video)
    config = (config or TransferConfig()).replace(size=max(width, height))
    _check_frame_size(clip, (width, height), config)
    # A budget the frames and their temporal targets cannot fit: refused now.
    held = process_bytes(resolve_device(config.device)) + video.target_bytes((width, height))
    plan_transfer(Image.new("RGB", (width, height)), config, held)
    check_audio(clip, out)
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".work")
    record = {
        "input": str(Path(input).resolve()),
        "input_bytes": Path(input).stat().st_size if Path(input).is_file() else None,
        "styles": [str(Path(s).resolve()) if isinstance(s, (str, os.PathLike)) else _digest(s) for s in styles],
        "frame_size": [width, height],
        "video": video.to_dict(),
    }
    with _undone_unless_resumable(work):
        config, timestamps = _open_work_dir(work, clip, config, video, record, (width, height))
        run = _Run(work, config, video, styles, len(timestamps), callback)
        resumed = run.all_passes()
        frames = (load_image(path, 10**9, "frame") for path in run.frame_paths(video.passes))
        write_video(out, frames, timestamps, clip, video.start, video.duration)
    if work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return VideoResult(out, len(timestamps), (width, height), config, video, resumed)


def frame_size(size: tuple[int, int], video: VideoConfig) -> tuple[int, int]:
    """(width, height) of the frames of a clip of `size`: its own, at most MAX_SIDE on the longest
    side, or `video.size`, rounded down to even numbers."""
    side = video.size or min(max(size), MAX_SIDE)
    width, height = (max(2, n - n % 2) for n in longest_side(size, side))
    return width, height


def write_finished_frames(input: str | os.PathLike, output: str | os.PathLike, work_dir: str | os.PathLike) -> int:
    """Encode what a stopped run in `work_dir` finished into `output`: each frame from the latest pass
    that holds it, from the first frame up to the first one no pass finished, with the audio of
    `input` for as long. Returns the frame count (0: nothing written).

    Raises:
        ImageError: `work_dir` holds no run, or the output cannot be written.
    """
    work = Path(work_dir)
    manifest = work / "manifest.json"
    if not manifest.is_file():
        raise ImageError(f"work dir {str(work)!r} holds no run of impasto video")
    stored = json.loads(manifest.read_text())
    timestamps, video = stored["timestamps"], VideoConfig(**stored["video"])
    frames = []
    for index in range(len(timestamps)):
        done = [path for p in range(video.passes, 0, -1) if (path := work / f"pass{p}" / f"{index:06d}.png").is_file()]
        if not done:
            break
        frames.append(done[0])
    if not frames:
        return 0
    clip = open_clip(input)
    count = len(frames)
    # The audio up to the next frame's start (or the run's own end, for the whole clip).
    end = float(timestamps[count] * clip.time_base) if count < len(timestamps) else \
        None if video.duration is None else video.start + video.duration
    write_video(check_video_output(output, [input]), (load_image(path, 10**9, "frame") for path in frames),
                timestamps[:count], clip, video.start, None if end is None else end - video.start)
    return count


def _check_frame_size(clip: Clip, size: tuple[int, int], config: TransferConfig) -> None:
    """Refuse frames too small for the network's deepest layer now, naming the clip, rather than in
    the first frame's transfer once the clip is decoded."""
    layers = [*(config.content_layers if config.alpha > 0 else ()), *(config.style_layers if config.beta > 0 else ())]
    if layers and min(size) < (needed := min_input_side(layers)):
        raise ImageError(f"input video {clip.path!r} is {clip.width}x{clip.height} px, so its frames at --size "
                         f"{max(size)} are {size[0]}x{size[1]}, less than the {needed} px on each side the layers "
                         f"need: raise --size")


@contextlib.contextmanager
def _undone_unless_resumable(work: Path) -> Iterator[None]:
    """For a new run in `work`: if the block is refused (an ImpastoError other than a failed
    optimisation) or stops before the work dir's manifest is written, remove what it added to `work`
    (`work` itself, if it made it). A run that resumes, or stops later, keeps everything."""
    manifest = work / "manifest.json"
    resuming = manifest.is_file()
    before = set(work.iterdir()) if work.is_dir() else None
    try:
        yield
    except BaseException as error:
        refused = isinstance(error, ImpastoError) and not isinstance(error, OptimizationError)
        if not resuming and (refused or not manifest.is_file()) and work.is_dir():
            for entry in [work] if before is None else set(work.iterdir()) - before:
                if entry.is_dir():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        raise


def _open_work_dir(
    work: Path,
    clip: Clip,
    config: TransferConfig,
    video: VideoConfig,
    record: dict[str, Any],
    size: tuple[int, int],
) -> tuple[TransferConfig, list[int]]:
    """Continue the run `work` holds, or start one there: decode the input frames into it.
    Returns the settings (with the seed of the run) and the frames' timestamps."""
    manifest = work / "manifest.json"
    if manifest.is_file():
        stored = json.loads(manifest.read_text())
        if config.seed is None:
            config = config.replace(seed=stored["settings"]["seed"])
        # Where it runs is not what it makes: a run continues on another device (a server's other GPU).
        mine = {**record, "settings": {**config.to_dict(), "device": stored["settings"].get("device")}}
        if {key: stored.get(key) for key in mine} != mine:
            changed = sorted(key for key in mine if stored.get(key) != mine[key])
            raise ConfigError(f"work dir {str(work)!r} holds a run of another input or other settings "
                              f"({', '.join(changed)}): delete it, or give another --work-dir")
        return config, stored["timestamps"]
    if work.exists() and not work.is_dir():
        raise ImageError(f"work dir {str(work)!r} is a file: give a folder with --work-dir")
    config = config.with_seed()
    timestamps: list[int] = []
    (work / "input").mkdir(parents=True, exist_ok=True)
    frames = read_frames(clip.path, video.start, video.duration, video.max_frames, config.max_pixels)
    for index, (frame, pts) in enumerate(frames):
        frame = frame if frame.size == size else frame.resize(size, Image.Resampling.LANCZOS)
        save_image(frame, work / "input" / f"{index:06d}.png")
        timestamps.append(pts)
    if not timestamps:
        end = "its end" if video.duration is None else f"{video.start + video.duration:g} s"
        raise ImageError(f"input video {clip.path!r} has no frames between {video.start:g} s and {end}")
    _write_json(manifest, {**record, "settings": config.to_dict(), "timestamps": timestamps})
    return config, timestamps


class _Run:
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
        last: list[float] = []

        def relay(event: Progress) -> bool:
            last[:] = [event.loss]
            return self._report(event)

        if self.video.independent or (pass_ == 1 and not neighbours):
            result = transfer(content, self.styles, self.config, relay)
            return result.image, last[-1] if last else float("nan")
        if not neighbours:  # the first frame of a later pass has nothing new to hold to
            return self._image(self._frame_path(pass_ - 1, index)), float("nan")
        targets = []
        for neighbour in neighbours:
            flow, mask = self._flow(index, neighbour)
            earlier = self._image(self._frame_path(pass_, neighbour))
            # Bicubic: each frame starts from a warp of the one before, and a bilinear sub-pixel warp
            # blurs the strokes a little more every frame (measured in RESULTS.md).
            warped = warp(earlier, flow, "bicubic").clamp(0, 1)
            targets.append(TemporalTarget(warped, torch.from_numpy(mask)[None, None]))
        nearest = targets[0]
        if pass_ == 1:  # disoccluded pixels start from the content frame
            start = nearest.weight * nearest.image + (1 - nearest.weight) * content
        else:  # Ruder et al.'s multi-pass: half way to the warped neighbour where it can be trusted
            own = self._image(self._frame_path(pass_ - 1, index))
            start = own + 0.5 * nearest.weight * (nearest.image - own)
        weights = closest_first([t.weight for t in targets])
        if self.config.preserve_colors == "luminance":  # the optimisation runs on the luminance then
            start = luminance(start)
            targets = [TemporalTarget(luminance(t.image), t.weight) for t in targets]
        targets = [TemporalTarget(t.image, w) for t, w in zip(targets, weights, strict=True)]
        terms = [TemporalLoss(targets, self.video.temporal_weight, self.config.normalization == "relative")] \
            if self.video.temporal_weight > 0 else []
        result = transfer(content, self.styles, self.later, relay, init=start, terms=terms)
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
                path: Path | None = None) -> bool:
        """Send an event; whether the callback asks to stop."""
        if self.callback is None:
            return False
        return bool(self.callback(FrameProgress(self.done, self.count * self.video.passes, step, loss, seconds, path)))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_file(path, "w", encoding="utf-8") as file:
        json.dump(data, file)


def _digest(image: ImageSource) -> str:
    """A name for an in-memory style image in the manifest: a hash of its pixels."""
    return "sha256:" + hashlib.sha256(to_tensor(load_image(image, 10**9, "style")).numpy().tobytes()).hexdigest()
