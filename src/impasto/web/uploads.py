"""Uploaded images and clips: size limits, the type judged by the content, a full decode (an image's)
or a probe (a clip's), and the body limit.

A file's name is never used: its bytes decide its type. Each upload is copied to a staging folder
(at most its limit of bytes), then opened and decoded in a child process (`decoding.Decoder`: a
memory limit and a deadline). What is kept is the decoded image, saved by the job store under a
generated name, or the clip as it came, under a generated name with the extension of its content.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError

from ..errors import ImageError
from ..images import decode_image, open_image, resize_longest
from ..video.config import VideoConfig
from .decoding import Decoder
from .settings import ServerSettings

__all__ = ["CLIP_TYPES", "FORMATS", "BodyLimit", "Clip", "read_content", "read_image", "staged"]

FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF"}
"""Pillow's format names that uploads may have, and how the messages name them."""
CLIP_TYPES = {".mp4": "video/mp4", ".webm": "video/webm", ".mkv": "video/x-matroska", ".gif": "image/gif"}
"""A kept clip's extension -> its media type. MOV is stored as .mp4 (one format: ISO base media)."""
_CLIP_FORMATS = {"mov,mp4,m4a,3gp,3g2,mj2": ".mp4", "matroska,webm": ".mkv", "gif": ".gif"}
"""ffmpeg's demuxers that uploaded clips may have -> the kept clip's extension."""
_WEBM_CODECS = {"vp8", "vp9", "av1"}
"""Matroska files of these codecs are WebM (browsers play them)."""
CLIPS = "MP4, MOV, WebM, MKV or GIF"

CHUNK = 1 << 20


@dataclass(frozen=True)
class Clip:
    """An uploaded clip, probed and kept in a staging folder until its job takes it."""

    path: Path
    """The file, named clip.EXT for its content."""
    width: int
    height: int
    frames: int
    """Frames between the job's start and end, counted without decoding."""
    first: Image.Image
    """The first of those frames, RGB."""


@contextlib.contextmanager
def staged(root: Path) -> Iterator[Path]:
    """A new folder under `root` (the job store's) for an upload being checked, removed when the block
    ends: a refused upload leaves no file, and a kept one has been moved out of it by then. (A server
    that dies meanwhile removes it at its next start, with other folders of no job.)"""
    folder = root / f".upload-{uuid.uuid4().hex}"
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def read_content(upload: UploadFile, limits: ServerSettings, folder: Path, video: VideoConfig,
                 decoder: Decoder, side: int) -> Image.Image | Clip:
    """The uploaded photo as `read_image` gives it, or, if it is a clip (MP4, MOV, WebM, MKV, or a GIF
    of several frames; judged by its content), the clip written to `folder` and probed. The frames
    it would paint (between `video.start` and its end, at most `video.max_frames`, times
    `video.passes`) are counted without decoding; only the first is decoded (in `decoder`'s child
    process, as an image is). An image larger than `side` on its longest side comes back downscaled
    to it (the most any run of the job uses), so a large upload never reaches the server whole. Call
    it from a worker thread.

    Raises:
        HTTPException: 413 too many bytes, pixels or frames, or too much memory to decode, 415
            neither an accepted image nor a clip, 422 empty, too slow to decode, or a clip without
            a frame in the part asked for or that cannot be decoded, 503 too many uploads decoding.
        ImageError: (422) an image that is truncated or corrupt.
    """
    path = folder / "upload"
    size, whole = _copy_at_most(upload.file, path, max(limits.max_upload_bytes, limits.max_video_bytes))
    if size == 0:
        raise HTTPException(422, "the photo file is empty (0 bytes): choose an image file or a clip")
    return decoder.run(_content, path, size, whole, limits, video, side)


def _content(path: Path, size: int, whole: bool, limits: ServerSettings, video: VideoConfig,
             side: int) -> Image.Image | Clip:
    """`read_content`'s work on the copied upload (`size` bytes of it; `whole`: all of it), in a child process."""
    with _image_or_none(path) as image:  # a file cut at the limit still shows its type in its header
        if image is not None and image.format not in FORMATS:
            raise HTTPException(415, f"the photo file is a {image.format} image: upload {_accepted()}")
        if image is not None and not (image.format == "GIF" and (not whole or _animated(image))):
            if not whole or size > limits.max_upload_bytes:
                raise HTTPException(413, f"the photo file is over the upload limit of "
                                         f"{_mib(limits.max_upload_bytes)}: downscale it")
            return _decoded(image, "photo", limits, side)
    if not whole or size > limits.max_video_bytes:
        raise HTTPException(413, f"the photo clip is over the video limit of {_mib(limits.max_video_bytes)} "
                                 f"(impasto serve --max-video-mb): shorten or downscale it")
    return _probed(path, limits, video)


def _animated(image: Image.Image) -> bool:
    """A GIF of several frames (a clip). Counting them reads the file: a damaged one is a still here,
    and its decoding says what is wrong."""
    try:
        return image.format == "GIF" and getattr(image, "n_frames", 1) > 1
    except Exception:  # noqa: BLE001 - Pillow's GIF plugin raises EOFError, OSError, ... on damage
        return False


@contextlib.contextmanager
def _image_or_none(path: Path) -> Iterator[Image.Image | None]:
    """`path` opened by the core's decoder, or None if it is not an image Pillow knows."""
    try:
        image = open_image(path, "the photo")
    except UnidentifiedImageError:
        yield None
        return
    with image:
        yield image


def _probed(path: Path, limits: ServerSettings, video: VideoConfig) -> Clip:
    """The clip at `path`, checked against the limits before any frame is decoded."""
    try:
        import av
        import av.error

        from ..video.io import count_frames, read_frames
    except ModuleNotFoundError:  # the server lacks impasto[video]: it takes images only
        raise HTTPException(415, f"the photo file is not an image: upload {_accepted(clips=False)}") from None
    try:
        with av.open(str(path), "r", metadata_errors="replace") as container:
            demuxer = container.format.name
            streams = container.streams.video
            codec = streams[0].codec_context if streams else None
            width, height = (codec.width, codec.height) if codec is not None else (0, 0)
            name = codec.name if codec is not None else ""
    except av.error.FFmpegError:
        raise HTTPException(415, f"the photo file is not an image or a clip: upload {_accepted()}") from None
    if demuxer not in _CLIP_FORMATS:
        raise HTTPException(415, f"the photo file is a {demuxer} file: upload {_accepted()}")
    if not width:
        what = "has no video" if not streams else "has video that ffmpeg cannot decode"
        raise HTTPException(415, f"the photo clip {what}: re-encode it, e.g. to H.264 MP4")
    if width * height > limits.max_pixels:
        raise HTTPException(413, f"the photo clip is {width}x{height} = {width * height:,} pixels a frame, over "
                                 f"the limit of {limits.max_pixels:,}: downscale it")
    try:
        frames = count_frames(path, video.start, video.duration)
    except ImageError:
        raise HTTPException(422, "the photo clip cannot be read: re-encode it, e.g. to H.264 MP4") from None
    frames = min(frames, video.max_frames or frames)
    if frames * video.passes > limits.max_frames:
        passes = f" x {video.passes} passes" if video.passes > 1 else ""
        raise HTTPException(413, f"the photo clip has {frames:,} frames to paint{passes}, over the limit of "
                                 f"{limits.max_frames:,} (impasto serve --max-frames): paint a part of it (the "
                                 f"settings start, duration, max_frames) or shorten it")
    try:
        first = next((frame for frame, _ in read_frames(path, video.start, video.duration, 1, limits.max_pixels)), None)
    except ImageError:
        raise HTTPException(422, "the photo clip cannot be decoded: re-encode it, e.g. to H.264 MP4") from None
    if first is None:
        raise HTTPException(422, f"the photo clip has no frame from {video.start:g} s on: start earlier")
    extension = _CLIP_FORMATS[demuxer]
    if extension == ".mkv" and name in _WEBM_CODECS:
        extension = ".webm"
    kept = path.rename(path.with_name(f"clip{extension}"))
    return Clip(kept, width, height, frames, first)


def read_image(upload: UploadFile, role: str, limits: ServerSettings, folder: Path, decoder: Decoder,
               side: int) -> Image.Image:
    """The uploaded `role` image ('photo', 'painting'), copied to `folder` and decoded to upright RGB
    in sRGB by the core's own decoder (`impasto.images`) in `decoder`'s child process, downscaled to
    `side` px if it is larger. Call it from a worker thread, not the event loop.

    Raises:
        HTTPException: 413 too many bytes or pixels, or too much memory to decode, 415 not an image
            of an accepted type, 422 empty or too slow to decode, 503 too many uploads decoding.
        ImageError: (422) truncated or corrupt, wherever Pillow finds the damage.
    """
    path = folder / role
    size, whole = _copy_at_most(upload.file, path, limits.max_upload_bytes)
    if not whole:
        raise HTTPException(413, f"the {role} file is over the upload limit of {_mib(limits.max_upload_bytes)}: "
                                 f"downscale it")
    if size == 0:
        raise HTTPException(422, f"the {role} file is empty (0 bytes): choose an image file")
    return decoder.run(_image, path, role, limits, side)


def _image(path: Path, role: str, limits: ServerSettings, side: int) -> Image.Image:
    """`read_image`'s work on the copied upload, in a child process."""
    try:
        image = open_image(path, f"the {role}")
    except UnidentifiedImageError:
        raise HTTPException(415, f"the {role} file is not an image: upload {_accepted(clips=False)}") from None
    with image:
        if image.format not in FORMATS:
            raise HTTPException(415, f"the {role} file is a {image.format} image: upload {_accepted(clips=False)}")
        return _decoded(image, role, limits, side)


DECODE_BYTES = 12
"""Bytes a pixel of an image takes while it is decoded to RGB: Pillow's 4-byte pixels, decoded and
converted (and composited on white where it has alpha)."""


def _decoded(image: Image.Image, role: str, limits: ServerSettings, side: int) -> Image.Image:
    """`image` decoded (at most `side` px on its longest side), if its size is within the pixel limit
    and the memory its decoding takes, as its header gives it, within the decode budget (the child's
    memory limit enforces that budget on files whose decoding takes more than their header says)."""
    width, height = image.size
    if width * height > limits.max_pixels:
        raise HTTPException(
            413,
            f"the {role} image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{limits.max_pixels:,}: downscale it",
        )
    if width * height * DECODE_BYTES > limits.decode_memory_bytes:
        raise HTTPException(413, f"the {role} image is {width}x{height}, which needs about "
                                 f"{width * height * DECODE_BYTES / 2**20:,.0f} MiB to decode, over the "
                                 f"{limits.decode_memory_mb:,.0f} MiB an upload may take (impasto serve "
                                 f"--decode-memory-mb): downscale it")
    decoded = decode_image(image, f"the {role}")
    return decoded if max(decoded.size) <= side else resize_longest(decoded, side)


def _copy_at_most(source: BinaryIO, path: Path, max_bytes: int) -> tuple[int, bool]:
    """Copy `source` to `path` up to `max_bytes`: the bytes copied, and whether that was all of it."""
    size = 0
    with open(path, "wb") as file:
        while chunk := source.read(CHUNK):
            if size + len(chunk) > max_bytes:
                file.write(chunk[:max_bytes - size])
                return max_bytes, False
            size += len(chunk)
            file.write(chunk)
    return size, True


def _accepted(clips: bool = True) -> str:
    images = ", ".join(sorted(set(FORMATS.values())))
    what = f"an image ({images}) or a clip ({CLIPS})" if clips else images
    return f"{what} (judged by the file's content, not its name)"


def _mib(count: int) -> str:
    """A byte count for people: 20 MiB, 512 KiB."""
    unit, name = (2**20, "MiB") if count >= 2**20 else (2**10, "KiB")
    return f"{count / unit:.3g} {name}"


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: refuse a POST body over `max_bytes` (413) or of unknown length (411)
    before any of it is read, so an oversized upload is never spooled to disk."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            headers = dict(scope["headers"])
            length = headers.get(b"content-length")
            if length is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():  # any case
                return await _refuse(send, 411, "send the upload with a Content-Length")
            if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
                return await _refuse(send, 413, f"the request is over the limit of {_mib(self.max_bytes)}")
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
