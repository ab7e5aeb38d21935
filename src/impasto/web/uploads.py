"""Uploaded images: size limits, the type judged by the content, a full decode, and the body limit.

A file's name is never used: its bytes decide its type, and what is kept is the decoded image,
saved by the job store under a generated name.
"""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException, UploadFile
from PIL import Image, UnidentifiedImageError

from ..images import decode_image, open_image

__all__ = ["FORMATS", "BodyLimit", "read_image"]

FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF"}
"""Pillow's format names that uploads may have, and how the messages name them."""

CHUNK = 1 << 20


def read_image(upload: UploadFile, role: str, max_bytes: int, max_pixels: int) -> Image.Image:
    """The uploaded `role` image ('photo', 'painting'), decoded to upright RGB in sRGB by the core's
    own decoder (`impasto.images`). Decoding takes a while for large images: call it from a worker
    thread, not the event loop.

    Raises:
        HTTPException: 413 too many bytes or pixels, 415 not an image of an accepted type, 422 empty.
        ImageError: (422) truncated or corrupt, wherever Pillow finds the damage.
    """
    data = _read_at_most(upload, max_bytes, role)
    if not data:
        raise HTTPException(422, f"the {role} file is empty (0 bytes): choose an image file")
    try:
        image = open_image(io.BytesIO(data), f"the {role}")
    except UnidentifiedImageError:
        raise HTTPException(415, f"the {role} file is not an image: upload {_accepted()}") from None
    if image.format not in FORMATS:
        raise HTTPException(415, f"the {role} file is a {image.format} image: upload {_accepted()}")
    width, height = image.size
    if width * height > max_pixels:
        raise HTTPException(
            413,
            f"the {role} image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}: downscale it",
        )
    return decode_image(image, f"the {role}")


def _read_at_most(upload: UploadFile, max_bytes: int, role: str) -> bytes:
    chunks, size = [], 0
    while chunk := upload.file.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(413, f"the {role} file is over the upload limit of {_mib(max_bytes)}: downscale it")
        chunks.append(chunk)
    return b"".join(chunks)


def _accepted() -> str:
    return ", ".join(sorted(set(FORMATS.values()))) + " (judged by the file's content, not its name)"


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
            if length is None and b"chunked" in headers.get(b"transfer-encoding", b""):
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
