"""Style transfer, content reconstruction and texture synthesis, end to end: load the images,
resolve the run's device and budget once, say what each level of the coarse-to-fine schedule
optimises against, and run the levels (`levels.py`). The three share one objective and one optimiser.

With `levels.py`, this is the only module that knows the order of the steps.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image

from . import __version__
from .color import luminance, match_colors, match_luminance, restore_chroma
from .config import PAPER_STYLE_LAYERS, TransferConfig, equal_weights, parse_layers
from .errors import ConfigError, ImageError
from .images import ImageSource, load_image, longest_side, resize_longest, to_pil, to_tensor
from .levels import Level, plan_levels, run_levels
from .memory import Plan, resolve_runtime
from .objective import StyleImage
from .optimize import ProgressCallback
from .resume import WorkDir
from .vgg import LAYERS
from .workers import Workers

__all__ = [
    "Result",
    "painting_level",
    "plan_transfer",
    "reconstruct_content",
    "run_metadata",
    "stylize",
    "synthesize_texture",
    "transfer",
]


@dataclass(frozen=True)
class Result:
    """A finished optimisation."""

    image: torch.Tensor
    """(1, 3, H, W) RGB in [0, 1], on the CPU."""
    config: TransferConfig
    """The settings used, with the seed that was drawn if none was given."""
    steps: int
    """Iterations taken: `config.iterations`, or fewer where `early_stop` ended levels early."""

    def to_pil(self) -> Image.Image:
        """The image as an RGB PIL image."""
        return to_pil(self.image)

    def metadata(self, **inputs: Any) -> dict[str, Any]:
        """What goes into the output PNG; see `run_metadata`."""
        return run_metadata(self.config, self.steps, True, **inputs)


def run_metadata(config: TransferConfig, iterations_done: int, finished: bool, **inputs: Any) -> dict[str, Any]:
    """A run's record for the output PNG: version, seed, settings, the iterations taken, whether the
    run finished (False: an intermediate image, or the last of a run that was interrupted or
    failed), and `inputs` (e.g. content="photo.jpg", styles=["painting.jpg"]).
    `TransferConfig(**record["settings"])` rebuilds the settings."""
    return {
        "version": __version__,
        "seed": config.seed,
        "iterations_done": iterations_done,
        "finished": finished,
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
    receives a `Progress` event after every iteration; returning True stops the run.

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
    *,
    init: torch.Tensor | None = None,
    terms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    workers: Workers | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> Result:
    """Like `stylize`, returning the image as a tensor together with the settings used.

    `init`, (1, 3, H, W) in [0, 1], replaces `config.init` as the start (resized to the first
    level); `terms` are added to the objective at every level (see `Objective`). impasto.video
    starts each frame from the previous one, warped, and adds its temporal loss this way.
    `workers` compute the blocks of the levels the planner spreads over them (`impasto.cluster`).
    `work_dir` keeps each finished level: run again with the same folder, inputs and settings (the
    seed may be left out), a run starts after the last level it finished.
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    # Bad style settings are refused before the work dir is touched.
    _blend_weights(config, len(styles))
    _per_style(config.style_scales(len(styles)), len(styles), "style_scale")
    _scale_layers(config, len(styles))
    checkpoint = None if work_dir is None else WorkDir(work_dir, config, {"content": _identity(content),
                                                                          "styles": [_identity(s) for s in styles]})
    config = config.with_seed() if checkpoint is None else checkpoint.config
    photo = load_image(content, config.max_pixels, "content")
    paintings = [load_image(s, config.max_pixels, "style") for s in styles]
    masks = _load_masks(config, len(styles), photo.size)
    runtime = resolve_runtime(config, network_held=False)
    device = runtime.device

    def level(side: int) -> Level:
        return _level(photo, paintings, masks, config, side, device)

    reached = run_levels(config, runtime, level, lambda side: _shape_of(photo.size, side), callback, init, terms,
                         workers, checkpoint)
    return Result(reached.image, config, reached.steps)


def painting_level(content: ImageSource, style: ImageSource | Sequence[ImageSource], config: TransferConfig,
                   device: torch.device) -> Level:
    """What `transfer(content, style, config)` matches at full size (`config.size`), on `device`: the
    content and the style images as its finest level has them. impasto.video trains its network on
    crops of a clip's frames against these style images."""
    styles = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    photo = load_image(content, config.max_pixels, "content")
    paintings = [load_image(s, config.max_pixels, "style") for s in styles]
    return _level(photo, paintings, _load_masks(config, len(styles), photo.size), config, config.size, device)


def _level(photo: Image.Image, paintings: list[Image.Image], masks: list[Image.Image | None], config: TransferConfig,
           side: int, device: torch.device) -> Level:
    """The images of a transfer's level at longest side `side`."""
    blend = _blend_weights(config, len(paintings))
    scales = _per_style(config.style_scales(len(paintings)), len(paintings), "style_scale")
    content_t = to_tensor(resize_longest(photo, side), device)
    styles_t = [to_tensor(resize_longest(p, _style_side(scale, side)), device)
                for p, scale in zip(paintings, scales, strict=True)]
    masks_t = [None if m is None else to_tensor(m.resize(_size(content_t), Image.Resampling.BILINEAR), device)
               for m in masks]
    work_content, work_styles = content_t, styles_t
    if config.preserve_colors == "luminance":
        work_content, work_styles = luminance(content_t), [match_luminance(s, content_t) for s in styles_t]
    elif config.preserve_colors == "match":
        work_styles = [match_colors(s, content_t, config.color_match) for s in styles_t]

    layer_sets = _scale_layers(config, len(paintings))
    style_images = [StyleImage(image, weight, layers, None if mask is None else mask[:, :1])
                    for image, weight, layers, mask in zip(work_styles, blend, layer_sets, masks_t, strict=True)]
    current = Level(_shape(content_t), work_content, style_images)
    if config.preserve_colors == "luminance":  # only then does the level keep the photo to the end
        current.finish = functools.partial(restore_chroma, content=content_t)
    return current


def plan_transfer(content: ImageSource, config: TransferConfig, held: int | None = None,
                  workers: Workers | None = None) -> Plan:
    """How `transfer(content, ..., config)` would run, level by level, within its memory budget
    (and on `workers`), without running it (the images are only measured). `held`: what the process
    will hold when the run starts, the network aside (default: what it holds now; see
    `memory.resolve_runtime`).

    Raises:
        ConfigError: the output does not fit in the budget; the message names the largest size that does.
    """
    photo = load_image(content, config.max_pixels, "content")
    runtime = resolve_runtime(config, network_held=False, held=held)
    return plan_levels(config, runtime, lambda side: _shape_of(photo.size, side), workers)[1]


def _identity(source: ImageSource) -> Any:
    """What a work dir records of an input: a file's resolved path and size; other sources by their type."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).resolve()
        return [str(path), path.stat().st_size if path.is_file() else None]
    return type(source).__name__


def reconstruct_content(
    image: ImageSource,
    layer: str = "conv4_2",
    config: TransferConfig | None = None,
    *,
    callback: ProgressCallback | None = None,
    **options: Any,
) -> Result:
    """Reconstruct `image` from its responses at one layer, starting from white noise.

    The paper's Figure 1, content row: near-perfect from conv1_2, only the layout from conv5_2.
    Settings as in `stylize` (size, iterations, seed, optimizer, ...); the loss is the content
    loss at `layer` alone.
    """
    config = (config or TransferConfig()).replace(**options)
    # 'auto' precision in float32: bfloat16 loses the finest detail a low layer keeps (25 dB rather than 28).
    precision = "fp32" if config.precision == "auto" else config.precision
    config = config.replace(content_layers={layer: 1.0}, content_weight=1.0, style_weight=0.0, tv_weight=0.0,
                            laplacian_weight=0.0, anchor_side=0, strength=0.5, init="noise", preserve_colors=None,
                            masks=None, scale_split=None, precision=precision).with_seed()
    photo = load_image(image, config.max_pixels, "content")
    runtime = resolve_runtime(config, network_held=False)

    def level(side: int) -> Level:
        target = to_tensor(resize_longest(photo, side), runtime.device)
        return Level(_shape(target), target, [])

    reached = run_levels(config, runtime, level, lambda side: _shape_of(photo.size, side), callback)
    return Result(reached.image, config, reached.steps)


def synthesize_texture(
    style: ImageSource,
    layers: str | Sequence[str] = PAPER_STYLE_LAYERS,
    size: int | tuple[int, int] | None = None,
    config: TransferConfig | None = None,
    *,
    callback: ProgressCallback | None = None,
    **options: Any,
) -> Result:
    """Synthesise a texture from the Gram matrices of `style` at `layers`, from white noise.

    The paper's Figure 1, style row. `size` is the output's (width, height), free of the
    painting's, or its longest side with the painting's aspect ratio (default: `config.size`).
    The painting is resized so its longest side is the output's longest side x `style_scale`.
    """
    style_layers = parse_layers(layers) if isinstance(layers, str) else equal_weights(layers)
    if not style_layers:
        raise ConfigError("give at least one style layer, e.g. conv1_1,conv2_1")
    config = (config or TransferConfig()).replace(**options)
    if isinstance(size, tuple):
        width, height = size
        if width <= 0 or height <= 0:
            raise ConfigError(f"size must be positive, got {width}x{height}")
        config = config.replace(size=max(width, height))
    elif size is not None:
        config = config.replace(size=size)
    config = config.replace(style_layers=style_layers, content_weight=0.0, strength=0.5, init="noise",
                            preserve_colors=None, masks=None, scale_split=None).with_seed()
    scale = _per_style(config.style_scales(1), 1, "style_scale")[0]
    painting = load_image(style, config.max_pixels, "style")
    runtime = resolve_runtime(config, network_held=False)
    if not isinstance(size, tuple):  # the painting's aspect ratio at `size`
        width, height = longest_side(painting.size, config.size)

    def shape(side: int) -> tuple[int, int]:
        return max(1, round(height * side / config.size)), max(1, round(width * side / config.size))

    def level(side: int) -> Level:
        painting_t = to_tensor(resize_longest(painting, _style_side(scale, side)), runtime.device)
        return Level(shape(side), None, [StyleImage(painting_t)])

    reached = run_levels(config, runtime, level, shape, callback)
    return Result(reached.image, config, reached.steps)


def _shape_of(size: tuple[int, int], side: int) -> tuple[int, int]:
    """(height, width) of an image of `size` (width, height) resized to longest side `side`."""
    width, height = longest_side(size, side)
    return height, width


def _blend_weights(config: TransferConfig, n_styles: int) -> tuple[float, ...]:
    if n_styles == 0:
        raise ConfigError("give at least one style image")
    blend = config.style_blend or (1.0,) * n_styles
    if len(blend) != n_styles:
        raise ConfigError(f"style_blend has {len(blend)} weights for {n_styles} style images: give one per style")
    return blend


def _style_side(scale: float, output_side: int) -> int:
    return max(1, round(output_side * scale))


def _per_style(values: tuple[float, ...], n_styles: int, name: str) -> tuple[float, ...]:
    if len(values) != n_styles:
        raise ConfigError(f"{name} has {len(values)} values for {n_styles} style images: give one, or one per style")
    return values


def _scale_layers(config: TransferConfig, n_styles: int) -> list[frozenset[str] | None]:
    """Scale control: the layers each style gives (None: all)."""
    if config.scale_split is None:
        return [None] * n_styles
    if n_styles != 2:
        raise ConfigError(f"scale_split needs two style images (fine, then coarse), got {n_styles}")
    split = LAYERS.index(config.scale_split)
    fine = frozenset(name for name in config.style_layers if LAYERS.index(name) < split)
    if not fine:
        raise ConfigError(f"scale_split {config.scale_split} leaves no style layer for the first (fine) style")
    return [fine, frozenset(config.style_layers) - fine]


def _load_masks(config: TransferConfig, n_styles: int, size: tuple[int, int]) -> list[Image.Image | None]:
    """Spatial control: one gray mask per style, checked against the content's `size` (width, height)."""
    if config.masks is None:
        return [None] * n_styles
    if len(config.masks) != n_styles:
        raise ConfigError(f"got {len(config.masks)} masks for {n_styles} style images: give one mask per style")
    if config.style_blend is not None:
        raise ConfigError("style_blend does not apply with masks: each style has its own region")
    width, height = size
    masks: list[Image.Image | None] = []
    for path in config.masks:
        mask = load_image(path, config.max_pixels, "mask")
        if abs(mask.width / mask.height - width / height) > 0.02 * width / height:
            raise ImageError(
                f"mask {path!r} is {mask.width}x{mask.height}, another shape than the content's {width}x{height}: "
                f"draw it on the content image (any size with its aspect ratio)"
            )
        masks.append(mask.convert("L").convert("RGB"))
    return masks


def _shape(image: torch.Tensor) -> tuple[int, int]:
    return image.shape[-2], image.shape[-1]


def _size(image: torch.Tensor) -> tuple[int, int]:
    return image.shape[-1], image.shape[-2]


