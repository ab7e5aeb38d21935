"""Style transfer of a clip, held together by optical flow: the work dir, resume and muxing, shared
by the two frame loops `VideoConfig.mode` picks between:

- 'frames' (`frames.py`, Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos", 2016):
  the first frame is a still transfer, and every later frame is optimised from the previous one
  warped along the flow, with the temporal loss.
- 'keyframes' (`keyframes.py`): keyframes are optimised; the frames between them are carried
  along the flow from the last keyframe, or painted by a network trained on the clip
  (`propagate.py`) where the flow cannot reach.

The work dir holds everything a run has finished, each file written atomically:

    manifest.json            the run's settings and the input frames' timestamps
    input/000000.png ...     the input frames at the working size, decoded once
    flow/000001-000000.npz   the flow from frame 1 to frame 0 and its consistency mask
    pass1/000000.png ...     the stylised frames of each pass
    network.pt               'keyframes': the network, its optimiser and training step (a checkpoint)

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from PIL import Image

from ..config import TransferConfig
from ..device import resolve_device
from ..errors import ConfigError, ImageError, ImpastoError, OptimizationError
from ..files import atomic_file
from ..images import ImageSource, load_image, longest_side, save_image, to_tensor
from ..memory import process_bytes
from ..pipeline import plan_transfer
from ..vgg import min_input_side
from .config import MAX_SIDE, VideoConfig
from .frames import FrameLoop
from .io import Clip, check_audio, check_video_output, open_clip, read_frames, write_video
from .keyframes import KeyframeLoop
from .progress import FrameCallback, FrameProgress

__all__ = ["FrameCallback", "FrameProgress", "VideoResult", "frame_size", "stylize_video", "write_finished_frames"]

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
    keyframes: tuple[int, ...] = ()
    """`--mode keyframes`: the frames painted by optimisation (0-based); () in `--mode frames`."""


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
    if video.mode == "keyframes" and config is not None and (config.preserve_colors == "luminance" or config.masks):
        raise ConfigError("mode keyframes paints without --preserve-colors luminance and masks: use --mode frames")
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
        loop = KeyframeLoop if video.mode == "keyframes" else FrameLoop
        run = loop(work, config, video, styles, len(timestamps), callback)
        resumed = run.all_passes()
        frames = (load_image(path, 10**9, "frame") for path in run.frame_paths(video.passes))
        write_video(out, frames, timestamps, clip, video.start, video.duration)
    if work_dir is None:
        shutil.rmtree(work, ignore_errors=True)
    return VideoResult(out, len(timestamps), (width, height), config, video, resumed, tuple(run.keyframes))


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


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_file(path, "w", encoding="utf-8") as file:
        json.dump(data, file)


def _digest(image: ImageSource) -> str:
    """A name for an in-memory style image in the manifest: a hash of its pixels."""
    return "sha256:" + hashlib.sha256(to_tensor(load_image(image, 10**9, "style")).numpy().tobytes()).hexdigest()
