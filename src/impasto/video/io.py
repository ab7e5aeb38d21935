"""Reading and writing clips, through PyAV.

Why PyAV rather than a pipe to an ffmpeg binary (imageio-ffmpeg): its wheels carry ffmpeg's own
libraries, so there is no binary to install or find; it decodes one frame at a time, so a clip is
never held in memory; it demuxes and muxes packets, so the audio track is copied into the output
as it is rather than re-encoded; and it opens whatever ffmpeg opens (MP4, MOV, MKV, WebM, GIF, an
image sequence such as ``frames/%04d.png``), with ffmpeg's errors as Python exceptions that become
one-line messages here.

Damaged input: a clip is styled as far as ffmpeg decodes it (frames its decoder conceals come out
as it repairs them, a clip cut short gives the frames before the cut, metadata that is not UTF-8
is read with replacement characters, damaged audio packets are left out); a clip ffmpeg cannot
open, with no frame it can decode, or whose decoder stops with an error is refused before any
frame is styled.

Frames are RGB PIL images; timestamps are kept in the input stream's time base, so the output has
the input's frame count, frame rate and timing (variable frame rates included).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.error
from PIL import Image

from ..errors import ImageError
from ..files import atomic_path

__all__ = ["OUTPUT_FORMATS", "Clip", "check_audio", "check_video_output", "count_frames", "open_clip", "read_frames",
           "write_video"]

OUTPUT_FORMATS = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9"}
"""Output extension -> video encoder; H.264 (yuv420p, crf 18) unless the container is WebM."""
_AUDIO_FALLBACK = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}
"""The encoder of an audio track the output container cannot take as it is."""
_MUXERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}


@dataclass(frozen=True)
class Clip:
    """What a video file holds: its first video stream, and whether there is audio."""

    path: str
    width: int
    height: int
    rate: Fraction
    """Average frames per second (ffmpeg's guess for streams that do not say)."""
    time_base: Fraction
    """Unit of the frames' timestamps."""
    audio: bool


def open_clip(path: str | os.PathLike) -> Clip:
    """Probe `path` (any input ffmpeg reads, or an image sequence pattern such as ``img%03d.png``).

    Raises:
        ImageError: missing, empty, not a video, or no video stream.
    """
    with _opened(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        return Clip(
            str(path),
            stream.codec_context.width,
            stream.codec_context.height,
            Fraction(rate),
            Fraction(stream.time_base or Fraction(1, 90000)),
            bool(container.streams.audio),
        )


def read_frames(
    path: str | os.PathLike, start: float = 0.0, duration: float | None = None, max_frames: int | None = None,
    max_pixels: int | None = None,
) -> Iterator[tuple[Image.Image, int]]:
    """Decode the frames from `start` seconds on, for `duration` seconds or `max_frames` frames,
    one at a time: (RGB image, timestamp in the stream's time base). `max_pixels`: the most pixels
    a frame may have, as decoded (a stream's header may claim another size than its frames have):
    ffmpeg's decoder refuses larger ones, and each frame is checked before it is converted.

    Raises:
        ImageError: the file cannot be decoded (unknown codec, corrupt data), or a frame is over `max_pixels`.
    """
    with _opened(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if max_pixels is not None:
            stream.codec_context.options = {**stream.codec_context.options, "max_pixels": str(max_pixels)}
        time_base = stream.time_base or Fraction(1, 90000)
        if start > 0:
            container.seek(int(start / time_base), stream=stream)  # to the key frame before `start`
        count = 0
        try:
            for index, frame in enumerate(container.decode(stream)):
                pts = frame.pts if frame.pts is not None else round(index / (stream.guessed_rate or 25) / time_base)
                seconds = float(pts * time_base)
                if seconds < start - 1e-6:
                    continue
                if (duration is not None and seconds >= start + duration - 1e-6) or count == max_frames:
                    return
                if max_pixels is not None and frame.width * frame.height > max_pixels:
                    raise ImageError(f"input video {str(path)!r} has a frame of {frame.width}x{frame.height} = "
                                     f"{frame.width * frame.height:,} pixels, over the limit of {max_pixels:,}: "
                                     f"downscale it")
                count += 1
                yield frame.to_image().convert("RGB"), pts
        except av.error.FFmpegError as error:
            refused = "" if max_pixels is None else f"; its decoder refuses frames over {max_pixels:,} pixels"
            raise ImageError(f"input video {str(path)!r} cannot be decoded ({error}{refused}): re-encode it, e.g. "
                             f"to H.264 MP4 with ffmpeg") from None


def count_frames(path: str | os.PathLike, start: float = 0.0, duration: float | None = None) -> int:
    """How many frames `read_frames(path, start, duration)` would give, counted from the video
    stream's packets (one frame each) without decoding any: quick, and safe on a clip that is
    too long to decode.

    Raises:
        ImageError: the file cannot be read as a video.
    """
    with _opened(path) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 90000)
        count = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                seconds = None if packet.pts is None else float(packet.pts * time_base)
                before, after = seconds is not None and seconds < start - 1e-6, \
                    seconds is not None and duration is not None and seconds >= start + duration - 1e-6
                count += not (before or after)
        except av.error.FFmpegError as error:
            raise ImageError(f"input video {str(path)!r} cannot be read ({error}): re-encode it, e.g. to "
                             f"H.264 MP4 with ffmpeg") from None
        return count


@contextlib.contextmanager
def _opened(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    name = f"input video {str(path)!r}"
    file = Path(path)
    if "%" not in file.name:  # an image sequence pattern names no single file
        if not file.exists():
            raise ImageError(f"{name} does not exist: check the path")
        if file.is_dir():
            raise ImageError(f"{name} is a folder: give a video file or a pattern such as frames/%04d.png")
        if file.stat().st_size == 0:
            raise ImageError(f"{name} is an empty file (0 bytes): give a real video")
    try:
        # A damaged file's tags need not be UTF-8: read them with replacement characters.
        container = av.open(str(path), "r", metadata_errors="replace")
    except av.error.FFmpegError as error:
        raise ImageError(f"{name} is not a video ffmpeg can read ({error.strerror}): give an MP4, MOV, WebM, "
                         f"GIF, ... or an image sequence pattern") from None
    try:
        if not container.streams.video:
            raise ImageError(f"{name} has no video stream")
        codec = container.streams.video[0].codec_context
        if codec is None or not codec.width:
            raise ImageError(f"{name} has a video stream ffmpeg cannot decode: re-encode it, e.g. to H.264 MP4")
        yield container
    finally:
        container.close()


def check_video_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Fail now, before any work, if `path` cannot take a video: an extension not in
    OUTPUT_FORMATS, a missing or read-only folder, a folder in its place, or one of `inputs`."""
    out = Path(path)
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise ImageError(f"output {str(out)!r} needs a video extension: {', '.join(OUTPUT_FORMATS)}")
    if out.is_dir():
        raise ImageError(f"output {str(out)!r} is a folder: give a file name such as {out / 'out.mp4'}")
    if not out.parent.is_dir():
        raise ImageError(f"output folder {str(out.parent)!r} does not exist: create it or choose another path")
    try:
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError:
        raise ImageError(f"output folder {str(out.parent)!r} is not writable: choose another path") from None
    for source in inputs:
        if out.resolve() == Path(source).resolve():
            raise ImageError(f"output {str(out)!r} is also an input: choose another output path")
    return out


def check_audio(clip: Clip, path: str | os.PathLike) -> None:
    """Fail now, before any work, if the output `path` can hold the audio of `clip` neither as it is
    nor re-encoded."""
    if clip.audio:
        with _opened(clip.path) as source:
            _copies_audio(source.streams.audio[0], Path(path).suffix.lower(), clip.path)


def _copies_audio(stream: av.AudioStream, extension: str, name: str) -> bool:
    """Whether `stream` goes into a file of `extension` as it is (True) or re-encoded (False): the one
    that lets such a file, written in memory, begin. (A muxer may list a codec it then refuses, as
    MOV does Opus, and a damaged track's parameters may be ones no muxer takes.) PyAV raises
    ValueError for a codec the muxer does not list; a track of a codec ffmpeg does not know (no
    codec context) can only be copied."""
    for copying in (True, False) if stream.codec_context is not None else (True,):
        with contextlib.suppress(av.error.FFmpegError, ValueError), \
                av.open(io.BytesIO(), "w", format=_MUXERS[extension]) as probe:
            _audio_stream(probe, stream, extension, copying)
            probe.start_encoding()
            return copying
    strip = "remove the audio (ffmpeg -i INPUT -an -c copy OUTPUT)"
    if stream.codec_context is None:
        raise ImageError(f"input video {name!r} has an audio track of a codec ffmpeg does not know, which a "
                         f"{extension} file cannot hold as it is: {strip}")
    raise ImageError(f"input video {name!r} has {stream.codec_context.name} audio that a {extension} file can hold "
                     f"neither as it is nor re-encoded to {_AUDIO_FALLBACK[extension]}: choose another output "
                     f"format, or {strip}")


def _audio_stream(
    container: av.container.OutputContainer, stream: av.AudioStream, extension: str, copying: bool
) -> av.AudioStream:
    """The output's audio stream: a copy of `stream`'s parameters, or the container's encoder at the
    supported sample rate nearest `stream`'s (Opus takes 48 kHz, not the 44.1 kHz of most AAC)."""
    if copying:
        return cast(av.AudioStream, container.add_stream_from_template(stream))
    encoder = _AUDIO_FALLBACK[extension]
    rate = stream.codec_context.sample_rate
    rates = av.Codec(encoder, "w").audio_rates or [rate]
    return cast(av.AudioStream, container.add_stream(encoder, rate=min(rates, key=lambda r: abs(r - rate))))


def write_video(
    path: str | os.PathLike,
    frames: Iterable[Image.Image],
    timestamps: list[int],
    clip: Clip,
    start: float = 0.0,
    duration: float | None = None,
) -> None:
    """Encode `frames` (RGB, all of one even size) at `timestamps` (in `clip.time_base`, the first
    one becoming 0) into `path`, atomically (a temporary file renamed into place), with the audio of
    `clip` between `start` and `start + duration` seconds copied (re-encoded only if the container
    cannot hold its codec)."""
    out, extension = Path(path), Path(path).suffix.lower()
    images = iter(frames)
    first = next(images, None)
    if first is None:
        raise ImageError("no frames to write")
    with atomic_path(out) as temporary, av.open(str(temporary), "w") as container, \
            contextlib.ExitStack() as inputs:
        # Every stream is added before the first packet is written: the header lists them.
        video = cast(av.VideoStream, container.add_stream(OUTPUT_FORMATS[extension], rate=clip.rate))
        video.width, video.height, video.pix_fmt = first.width, first.height, "yuv420p"
        video.codec_context.time_base = clip.time_base
        video.options = {"crf": "18"} if extension != ".webm" else {"crf": "30", "b": "0"}
        audio = None
        if clip.audio:
            source = inputs.enter_context(_opened(clip.path))
            audio = _AudioCopy(container, source, extension)
        for image, pts in zip(itertools.chain([first], images), timestamps, strict=True):
            frame = av.VideoFrame.from_image(image)
            frame.pts, frame.time_base = pts - timestamps[0], clip.time_base
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            offset = float(timestamps[0] * clip.time_base)
            audio.copy(offset, None if duration is None else start + duration)


class _AudioCopy:
    """The input's first audio track into the output: its packets copied, or decoded and re-encoded
    where the output container cannot hold its codec."""

    def __init__(
        self, container: av.container.OutputContainer, source: av.container.InputContainer, extension: str
    ) -> None:
        self.container, self.source = container, source
        self.stream = source.streams.audio[0]
        self.copying = _copies_audio(self.stream, extension, source.name)
        self.target = _audio_stream(container, self.stream, extension, self.copying)

    def copy(self, start: float, end: float | None) -> None:
        """The packets from `start` to `end` seconds, shifted to begin at 0."""
        for packet in self.source.demux(self.stream):
            if packet.pts is None or packet.time_base is None:
                continue
            seconds = float(packet.pts * packet.time_base)
            # Before a clip's start, but not the encoder-delay packets before 0 of a whole clip.
            if (start > 0 and seconds < start - 1e-6) or (end is not None and seconds >= end):
                continue
            shift = round(start / packet.time_base)
            # A damaged packet is left out, as ffmpeg's own command does: one whose data does not decode
            # or whose timestamps the muxer refuses (before the last one's).
            with contextlib.suppress(av.error.FFmpegError):
                self.container.mux(self._shifted(packet, shift))
        if not self.copying:
            with contextlib.suppress(av.error.FFmpegError):
                self.container.mux(self.target.encode(None))

    def _shifted(self, packet: av.Packet, shift: int) -> list[av.Packet]:
        """`packet` for the output, `shift` (in its time base) earlier: itself, or re-encoded."""
        if self.copying:
            packet.pts = None if packet.pts is None else packet.pts - shift
            packet.dts = None if packet.dts is None else packet.dts - shift
            packet.stream = self.target
            return [packet]
        encoded = []
        for frame in self.stream.decode(packet):
            frame.pts = None if frame.pts is None else frame.pts - shift
            encoded += self.target.encode(frame)
        return encoded
