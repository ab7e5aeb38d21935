"""All image file I/O: decoding any common image into RGB, resizing, tensors, and atomic saving.

Tensors are (1, 3, H, W), float32, RGB in [0, 1]. Saved files carry an sRGB ICC profile, the
resolution if given (dpi), and the run's settings as JSON (PNG: a text chunk; TIFF: the image
description). 16-bit PNG and TIFF files (the optional extra impasto[print]: pypng, tifffile) are
computed from the float image, without rounding to 8 bits on the way.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import threading
import warnings
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, PngImagePlugin, UnidentifiedImageError

from .errors import ImageError
from .files import atomic_file

__all__ = [
    "BIT_DEPTHS",
    "EXAMPLES",
    "ImageSource",
    "check_output_path",
    "decode_image",
    "load_image",
    "longest_side",
    "open_image",
    "read_metadata",
    "resize_longest",
    "save_image",
    "shape_at_most",
    "to_pil",
    "to_tensor",
]

ImageSource = str | os.PathLike | Image.Image | torch.Tensor
"""A path, a PIL image, or a tensor (3, H, W) / (1, 3, H, W) in [0, 1]."""

METADATA_KEY = "impasto"
BIT_DEPTHS = (8, 16)
SIXTEEN_BIT_EXTENSIONS = (".png", ".tif", ".tiff")
_ICC_PROFILE_TAG = 34675  # TIFF's InterColorProfile
EXAMPLES = Path(__file__).resolve().parent / "examples"
"""The bundled example images: tubingen.jpg (a photo), starry_night.jpg, the_scream.jpg, shipwreck.jpg."""


def load_image(source: ImageSource, max_pixels: int, role: str = "input") -> Image.Image:
    """Decode `source` into an 8-bit RGB PIL image, upright and in sRGB.

    Handles EXIF orientation, embedded ICC profiles, grayscale, palette, alpha (composited on
    white), CMYK and 16-bit images. `role` ('content', 'style', ...) names the image in errors.
    """
    if isinstance(source, torch.Tensor):
        return to_pil(_check_tensor(source, role))
    if isinstance(source, Image.Image):
        _check_pixels(source, max_pixels, role, "the image")
        return decode_image(source, f"the {role} image")
    path = Path(source)
    name = f"{role} image {str(path)!r}"
    if not path.exists():
        raise ImageError(f"{name} does not exist: check the path")
    if path.is_dir():
        raise ImageError(f"{name} is a folder: give the path of an image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{name} is an empty file (0 bytes): give a real image")
    try:
        image = open_image(path, name)
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image file Pillow can read (PNG, JPEG, WebP, TIFF, ...)") from None
    with image:
        _check_pixels(image, max_pixels, role, name)
        return decode_image(image, name)


def open_image(file: str | os.PathLike | IO[bytes], name: str) -> Image.Image:
    """`file` opened lazily: its format and size are known, its pixels not yet read (see
    `decode_image`). `name` ('the photo', "content image 'a.jpg'") names it in errors.

    Raises:
        UnidentifiedImageError: (Pillow's) the file is not an image of a format Pillow reads.
        ImageError: its header is damaged.
    """
    try:
        with warnings.catch_warnings(), _no_pillow_pixel_limit():
            warnings.simplefilter("ignore")  # problems become ImageErrors, not stray warnings
            return Image.open(file)
    except (UnidentifiedImageError, MemoryError):  # not an image; or out of memory, which is not damage
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise OSError, ValueError, struct.error, ...
        raise _damaged(name, exc) from None


def decode_image(image: Image.Image, name: str) -> Image.Image:
    """The pixels of `image` (opened by `open_image`, or any PIL image) as 8-bit RGB, upright and in
    sRGB. A damaged file raises ImageError naming `name`, whatever Pillow's decoder raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
            return _to_rgb(image)
    except MemoryError:  # the file may be fine: the memory it needs is not there (or not allowed)
        raise
    except Exception as exc:  # noqa: BLE001 - decoders raise OSError, SyntaxError, ValueError, EOFError, ...
        raise _damaged(name, exc) from None


def _damaged(name: str, exc: Exception) -> ImageError:
    reason = " ".join(str(exc).split()) or type(exc).__name__  # Pillow's words, on one line
    return ImageError(f"{name} is truncated or corrupt ({reason}): re-export or re-download it")


_PIXEL_LIMIT = threading.Lock()
"""Held while Pillow's limit is lifted: it is process-wide, and the web app opens images in several threads."""


@contextlib.contextmanager
def _no_pillow_pixel_limit() -> Iterator[None]:
    """Lift Pillow's own decompression-bomb limit, so that `max_pixels` alone decides."""
    with _PIXEL_LIMIT:
        limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def _check_pixels(image: Image.Image, max_pixels: int, role: str, name: str) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"{name} is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}: downscale it or raise --max-pixels"
        )


def _to_rgb(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        scale = 65535.0 if image.mode.startswith("I;16") or np.asarray(image).max() > 255 else 255.0
        gray = np.clip(np.asarray(image, dtype=np.float64) / scale * 255 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(gray, "L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image) * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    profile = image.info.get("icc_profile")
    if profile and image.mode in ("RGB", "RGBA", "CMYK", "L", "LA"):
        image = _icc_to_srgb(image, profile)
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _icc_to_srgb(image: Image.Image, profile: bytes) -> Image.Image:
    with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError):
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        mode = "RGBA" if image.mode in ("RGBA", "LA") else "RGB"
        if image.mode == "LA":
            image = image.convert("RGBA")  # Little CMS has no gray-with-alpha transform
            mode = "RGBA"
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=mode)
        if converted is not None:
            return converted
    return image  # an unreadable profile: use the pixels as they are


def _check_tensor(tensor: torch.Tensor, role: str) -> torch.Tensor:
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 4 or tensor.shape[:2] != (1, 3):
        raise ImageError(f"{role} tensor must have shape (3, H, W) or (1, 3, H, W), got {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ImageError(f"{role} tensor must be floating point in [0, 1], got {tensor.dtype}")
    return tensor


def longest_side(size: tuple[int, int], side: int) -> tuple[int, int]:
    """(width, height) `size` scaled so its longest side is `side`, keeping the aspect ratio."""
    width, height = size
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def shape_at_most(shape: tuple[int, int], side: int, least: int = 1) -> tuple[int, int]:
    """(height, width) `shape` scaled down so its longest side is at most `side`, keeping the aspect
    ratio, and no side under `least`."""
    height, width = shape
    if max(shape) > side:
        width, height = longest_side((width, height), side)
    return max(least, height), max(least, width)


def resize_longest(image: Image.Image, size: int) -> Image.Image:
    """Resize so the longest side is `size` px, keeping the aspect ratio (Lanczos)."""
    new = longest_side(image.size, size)
    return image if new == image.size else image.resize(new, Image.Resampling.LANCZOS)


def to_tensor(image: Image.Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB PIL image -> (1, 3, H, W) float32 in [0, 1]."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous().to(device)


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) in [0, 1] (clamped) -> RGB PIL image."""
    array = tensor.detach().float().squeeze(0).clamp(0, 1).mul(255).round().byte()
    return Image.fromarray(array.permute(1, 2, 0).cpu().numpy(), "RGB")


def check_output_path(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """Fail now, before any work, if `path` cannot take an image: unknown format, a missing or
    read-only folder, a folder in its place, or the same file as one of `inputs`."""
    out = Path(path)
    extension = out.suffix.lower()
    if not _can_save_rgb(extension):
        raise ImageError(
            f"output {str(out)!r} needs the extension of a format that holds RGB images, such as .png, .jpg or .webp"
        )
    if out.is_dir():
        raise ImageError(f"output {str(out)!r} is a folder: give a file name such as {out / 'out.png'}")
    folder = out.parent
    if not folder.is_dir():
        raise ImageError(f"output folder {str(folder)!r} does not exist: create it or choose another path")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        raise ImageError(f"output folder {str(folder)!r} is not writable: choose another path") from None
    for source in inputs:
        if out.resolve() == Path(source).resolve():
            raise ImageError(f"output {str(out)!r} is also an input image: choose another output path")
    return out


def _can_save_rgb(extension: str) -> bool:
    """Whether Pillow can write an RGB image to a file with this extension (try it in memory)."""
    image_format = Image.registered_extensions().get(extension)
    if image_format is None or image_format not in Image.SAVE:
        return False
    try:
        Image.new("RGB", (1, 1)).save(io.BytesIO(), format=image_format)
    except Exception:  # noqa: BLE001 - plugins raise OSError, ValueError, KeyError, ...
        return False
    return True


def save_image(
    image: torch.Tensor | Image.Image,
    path: str | os.PathLike,
    metadata: dict[str, Any] | None = None,
    bit_depth: int = 8,
    dpi: int | None = None,
) -> None:
    """Write an image atomically (a temporary file renamed into place), with an sRGB profile,
    `metadata` stored as JSON (PNG and TIFF; other formats carry none) and `dpi` as its resolution.

    Args:
        image: a tensor (1, 3, H, W) in [0, 1] (clamped), or an RGB PIL image (8 bits only).
        bit_depth: 8, or 16 for a PNG or TIFF with 16 bits per channel from the float tensor.
    """
    out = Path(path)
    extension = out.suffix.lower()
    check_bit_depth(out, bit_depth)
    with atomic_file(out) as file:
        if bit_depth == 16:
            if isinstance(image, Image.Image):
                raise ImageError("a 16-bit file is written from a float tensor, not from an 8-bit PIL image")
            _save_16_bit(image, file, extension, metadata, dpi)
        else:
            _save_8_bit(image if isinstance(image, Image.Image) else to_pil(image), file, extension, metadata, dpi)


def check_bit_depth(path: str | os.PathLike, bit_depth: int) -> None:
    """Refuse a bit depth the output's format cannot take (before any work)."""
    extension = Path(path).suffix.lower()
    if bit_depth not in BIT_DEPTHS:
        raise ImageError(f"bit depth must be 8 or 16, got {bit_depth}")
    if bit_depth == 16 and extension not in SIXTEEN_BIT_EXTENSIONS:
        raise ImageError(f"output {str(path)!r}: 16 bits per channel need a .png, .tif or .tiff file")


def _srgb_profile() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def _save_8_bit(
    picture: Image.Image, file: Any, extension: str, metadata: dict[str, Any] | None, dpi: int | None
) -> None:
    options: dict[str, Any] = {}
    if extension in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"):
        options["icc_profile"] = _srgb_profile()
    if dpi is not None:
        options["dpi"] = (dpi, dpi)
    if extension == ".png" and metadata is not None:
        info = PngImagePlugin.PngInfo()
        info.add_text(METADATA_KEY, json.dumps(metadata, sort_keys=True))
        info.add_text("Software", f"impasto {metadata.get('version', '')}".strip())
        options["pnginfo"] = info
    elif extension in (".tif", ".tiff") and metadata is not None:
        options["description"] = json.dumps(metadata, sort_keys=True)
        options["software"] = f"impasto {metadata.get('version', '')}".strip()
    elif extension in (".jpg", ".jpeg"):
        options["quality"] = 95
    picture.save(file, format=Image.registered_extensions()[extension], **options)


def _save_16_bit(
    image: torch.Tensor, file: Any, extension: str, metadata: dict[str, Any] | None, dpi: int | None
) -> None:
    """A 16-bit RGB PNG (pypng, with iCCP, pHYs and text chunks) or TIFF (tifffile, zlib)."""
    try:
        import png
        import tifffile
    except ImportError:
        raise ImageError("16-bit files need the extra impasto[print]: pip install 'impasto[print]'") from None
    array = image.detach().float().squeeze(0).clamp(0, 1).mul(65535).round().to(torch.int32)
    pixels = array.permute(1, 2, 0).cpu().numpy().astype(np.uint16)  # (H, W, 3)
    height, width = pixels.shape[:2]
    text = None if metadata is None else json.dumps(metadata, sort_keys=True)
    software = f"impasto {(metadata or {}).get('version', '')}".strip()
    if extension in (".tif", ".tiff"):
        profile = _srgb_profile()
        encoded = io.BytesIO()  # tifffile wants a named file or a buffer
        tifffile.imwrite(
            encoded, pixels, photometric="rgb", compression="zlib", metadata=None, description=text, software=software,
            resolution=None if dpi is None else (dpi, dpi), resolutionunit=None if dpi is None else "INCH",
            extratags=[(_ICC_PROFILE_TAG, "B", len(profile), profile, True)],
        )
        file.write(encoded.getbuffer())
        return
    per_metre = None if dpi is None else round(dpi / 0.0254)
    encoded = io.BytesIO()
    png.Writer(width, height, greyscale=False, bitdepth=16, x_pixels_per_unit=per_metre,
               y_pixels_per_unit=per_metre, unit_is_meter=per_metre is not None).write(
        encoded, pixels.reshape(height, width * 3))
    chunks = list(png.Reader(bytes=encoded.getvalue()).chunks())
    extra = [(b"iCCP", b"sRGB\x00\x00" + zlib.compress(_srgb_profile())),
             (b"tEXt", b"Software\x00" + software.encode("latin-1"))]
    if text is not None:
        extra.append((b"tEXt", METADATA_KEY.encode() + b"\x00" + text.encode("latin-1")))
    png.write_chunks(file, [chunks[0], *extra, *chunks[1:]])  # after IHDR, before the image data


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The settings impasto stored in a PNG or TIFF it wrote; {} if there are none."""
    with Image.open(path) as image:
        text = image.info.get(METADATA_KEY) if hasattr(image, "info") else None
        if text is None and image.format == "TIFF":
            description = image.getexif().get(270)  # ImageDescription
            text = description if isinstance(description, str) and description.startswith("{") else None
    return json.loads(text) if text else {}
