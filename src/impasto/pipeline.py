"""Style transfer end to end: load and size the images, build the targets, optimise, finish.

This is the only module that knows the order of the steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from PIL import Image

from . import __version__
from .color import luminance, match_colors, match_luminance, restore_chroma
from .config import TransferConfig
from .device import resolve_device
from .errors import ConfigError, ImageError, OptimizationError
from .images import ImageSource, load_image, resize_longest, to_pil, to_tensor
from .objective import Objective
from .optimize import Progress, ProgressCallback, optimize
from .vgg import load_vgg19, min_input_side

__all__ = ["Result", "run_metadata", "stylize", "transfer"]


@dataclass(frozen=True)
class Result:
    """A finished transfer."""

    image: torch.Tensor
    """(1, 3, H, W) RGB in [0, 1], on the CPU."""
    config: TransferConfig
    """The settings used, with the seed that was drawn if none was given."""

    def metadata(self, **inputs: Any) -> dict[str, Any]:
        """What goes into the output PNG; see `run_metadata`."""
        return run_metadata(self.config, self.config.iterations, **inputs)


def run_metadata(config: TransferConfig, iterations_done: int, **inputs: Any) -> dict[str, Any]:
    """A run's record for the output PNG: version, seed, settings, iterations done, and `inputs`
    (e.g. content="photo.jpg", styles=["painting.jpg"]). `TransferConfig(**record["settings"])`
    rebuilds the settings."""
    return {
        "version": __version__,
        "seed": config.seed,
        "iterations_done": iterations_done,
        **inputs,
        "settings": config.to_dict(),
    }


def stylize(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    config: TransferConfig | None = None,
    *,
    callback: ProgressCallback | None = None,
    **options: Any,
) -> Image.Image:
    """Paint `content` in the style of `style` (one image or several to blend).

    Images may be paths, PIL images or tensors (3, H, W) / (1, 3, H, W) in [0, 1]. Settings come
    from `config` (default `TransferConfig()`) with any field overridden by keyword, e.g.
    ``stylize("photo.jpg", "painting.jpg", size=256, iterations=200, seed=0)``. `callback`
    receives a `Progress` event after every iteration.

    Raises:
        ImpastoError: a bad image or setting, or an optimisation that failed or was interrupted.
    """
    config = (config or TransferConfig()).replace(**options)
    return to_pil(transfer(content, style, config, callback).image)


def transfer(
    content: ImageSource,
    style: ImageSource | Sequence[ImageSource],
    config: TransferConfig,
    callback: ProgressCallback | None = None,
) -> Result:
    """Like `stylize`, returning the image as a tensor together with the settings used."""
    styles = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    blend = _blend_weights(config, len(styles))
    config = config.with_seed()
    device = resolve_device(config.device)
    content_t, styles_t = _load_images(content, styles, config, device)

    work_content, work_styles = content_t, styles_t
    if config.preserve_colors == "luminance":
        work_content, work_styles = luminance(content_t), [match_luminance(s, content_t) for s in styles_t]
    elif config.preserve_colors == "match":
        work_styles = [match_colors(s, content_t) for s in styles_t]

    def finish(image: torch.Tensor) -> torch.Tensor:
        return restore_chroma(image, content_t) if config.preserve_colors == "luminance" else image

    def report(event: Progress) -> None:
        assert callback is not None
        callback(dataclasses.replace(event, image=finish(event.image)))

    objective = Objective(
        load_vgg19(config.weights, config.pooling, device), work_content, work_styles, blend,
        config.content_layers, config.style_layers, config.content_weight, config.style_weight,
        config.tv_weight, image_shape=(content_t.shape[-2], content_t.shape[-1]),
    )
    init = _initial_image(config, work_content, work_styles[0])
    try:
        image = optimize(objective, init, config.iterations, config.optimizer, config.lr,
                         report if callback is not None else None)
    except OptimizationError as error:
        error.image = None if error.image is None else finish(error.image).cpu()
        raise
    return Result(finish(image).cpu(), config)


def _blend_weights(config: TransferConfig, n_styles: int) -> tuple[float, ...]:
    if n_styles == 0:
        raise ConfigError("give at least one style image")
    blend = config.style_blend or (1.0,) * n_styles
    if len(blend) != n_styles:
        raise ConfigError(f"style_blend has {len(blend)} weights for {n_styles} style images: give one per style")
    return blend


def _load_images(
    content: ImageSource, styles: list[ImageSource], config: TransferConfig, device: torch.device
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The content at `size` and the styles at `size * style_scale`, as tensors on `device`."""
    content_image = resize_longest(load_image(content, config.max_pixels, "content"), config.size)
    style_size = max(1, round(config.size * config.style_scale))
    style_images = [resize_longest(load_image(s, config.max_pixels, "style"), style_size) for s in styles]
    _check_sizes(config, content_image, style_images)
    return to_tensor(content_image, device), [to_tensor(image, device) for image in style_images]


def _check_sizes(config: TransferConfig, content: Image.Image, styles: list[Image.Image]) -> None:
    deepest = max([*config.content_layers, *config.style_layers], key=lambda name: min_input_side([name]))
    needed = min_input_side([deepest])
    named = [("content", content, "--size")] + [("style", s, "--size or --style-scale") for s in styles]
    for role, image, option in named:
        if min(image.size) < needed:
            raise ImageError(
                f"the {role} image is {image.width}x{image.height} px after resizing, too small for "
                f"{deepest}, which needs at least {needed} px on each side: raise {option}"
            )


def _initial_image(config: TransferConfig, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    shape = content.shape
    if config.init == "noise":
        # White noise around mid-grey, drawn on the CPU so a seed gives the same start on any device.
        assert config.seed is not None, "transfer() draws a seed first"
        generator = torch.Generator().manual_seed(config.seed)
        return (0.5 + 0.1 * torch.randn(shape, generator=generator)).to(content.device)
    if config.init == "content":
        return content.clone()
    if config.init == "style":
        return F.interpolate(style, size=shape[-2:], mode="bilinear", antialias=True, align_corners=False)
    image = load_image(config.init, config.max_pixels, "init")
    return to_tensor(image.resize((shape[-1], shape[-2]), Image.Resampling.LANCZOS), content.device)
