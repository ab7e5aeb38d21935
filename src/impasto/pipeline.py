"""Style transfer, content reconstruction and texture synthesis, end to end: load and size the
images, build the targets, optimise, finish. The three share one objective and one optimiser.

This is the only module that knows the order of the steps.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from PIL import Image

from . import __version__
from .color import luminance, match_colors, match_luminance, restore_chroma
from .config import INIT_MODES, PAPER_STYLE_LAYERS, TransferConfig, equal_weights, parse_layers
from .device import compute_dtype, prepare_device, resolve_device
from .errors import ConfigError, ImageError, OptimizationError, OutOfMemory
from .images import ImageSource, load_image, longest_side, resize_longest, to_pil, to_tensor
from .memory import LevelPlan, Plan, available_bytes, host_bytes, plan_level, plan_run
from .objective import Objective, StyleImage
from .optimize import Progress, ProgressCallback, optimize
from .tiled import ALIGN, TiledObjective
from .vgg import LAYERS, VGG19, load_vgg19, min_input_side

__all__ = [
    "Result",
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

    def to_pil(self) -> Image.Image:
        """The image as an RGB PIL image."""
        return to_pil(self.image)

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
) -> Result:
    """Like `stylize`, returning the image as a tensor together with the settings used.

    `init`, (1, 3, H, W) in [0, 1], replaces `config.init` as the start (resized to the first
    level); `terms` are added to the objective at every level (see `Objective`). impasto.video
    starts each frame from the previous one, warped, and adds its temporal loss this way.
    """
    styles = list(style) if isinstance(style, (list, tuple)) else [cast(ImageSource, style)]
    blend = _blend_weights(config, len(styles))
    scales = _per_style(config.style_scales(len(styles)), len(styles), "style_scale")
    layer_sets = _scale_layers(config, len(styles))
    config = config.with_seed()
    device = resolve_device(config.device)
    photo = load_image(content, config.max_pixels, "content")
    paintings = [load_image(s, config.max_pixels, "style") for s in styles]
    masks = _load_masks(config, len(styles), photo.size)

    def level(side: int) -> _Level:
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

        style_images = [StyleImage(image, weight, layers, None if mask is None else mask[:, :1])
                        for image, weight, layers, mask in zip(work_styles, blend, layer_sets, masks_t, strict=True)]
        current = _Level(_shape(content_t), work_content, style_images)
        if config.preserve_colors == "luminance":  # only then does the level keep the photo to the end
            current.finish = functools.partial(restore_chroma, content=content_t)
        return current

    return _optimise(config, level, lambda side: _shape_of(photo.size, side), device, callback, init, terms)


def plan_transfer(content: ImageSource, config: TransferConfig) -> Plan:
    """How `transfer(content, ..., config)` would run, level by level, within its memory budget,
    without running it (the images are only measured).

    Raises:
        ConfigError: the output does not fit in the budget; the message names the largest size that does.
    """
    photo = load_image(content, config.max_pixels, "content")
    return _plan(config, lambda side: _shape_of(photo.size, side), resolve_device(config.device))[1]


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
                            strength=0.5, init="noise", preserve_colors=None, masks=None, scale_split=None,
                            precision=precision).with_seed()
    device = resolve_device(config.device)
    photo = load_image(image, config.max_pixels, "content")

    def level(side: int) -> _Level:
        target = to_tensor(resize_longest(photo, side), device)
        return _Level(_shape(target), target, [])

    return _optimise(config, level, lambda side: _shape_of(photo.size, side), device, callback)


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
    device = resolve_device(config.device)
    scale = _per_style(config.style_scales(1), 1, "style_scale")[0]
    painting = load_image(style, config.max_pixels, "style")
    if not isinstance(size, tuple):  # the painting's aspect ratio at `size`
        width, height = longest_side(painting.size, config.size)

    def shape(side: int) -> tuple[int, int]:
        return max(1, round(height * side / config.size)), max(1, round(width * side / config.size))

    def level(side: int) -> _Level:
        return _Level(shape(side), None, [StyleImage(to_tensor(resize_longest(painting, _style_side(scale, side)),
                                                                device))])

    return _optimise(config, level, shape, device, callback)


@dataclass
class _Level:
    """What one level of the coarse-to-fine schedule optimises against."""

    shape: tuple[int, int]
    """(height, width) of the image at this level."""
    content: torch.Tensor | None
    styles: list[StyleImage]
    finish: Callable[[torch.Tensor], torch.Tensor] = lambda image: image
    """Post-processes every image that leaves (progress previews, the result, the last good image)."""

    def targets_taken(self) -> _Level:
        """This level without its images, once the objective holds their targets: a print-size level's
        content and style images would take 24 bytes a pixel during the optimisation."""
        return dataclasses.replace(self, content=None, styles=[])


def _optimise(
    config: TransferConfig,
    level: Callable[[int], _Level],
    shape: Callable[[int], tuple[int, int]],
    device: torch.device,
    callback: ProgressCallback | None,
    start_image: torch.Tensor | None = None,
    terms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
) -> Result:
    """Minimise the objective level by level of the coarse-to-fine schedule: at each, `level(side)`
    gives the images at that longest side, and the previous level's result, upsampled, is the start
    (at the first, `start_image` resized, or the config's init). `shape(side)` is the level's
    (height, width), for the plan: known without making the level's images."""
    content_layers = list(config.content_layers) if config.alpha > 0 else []
    style_layers = list(config.style_layers) if config.beta > 0 else []
    stages, plan = _plan(config, shape, device)
    prepare_device(device)
    vgg = load_vgg19(config.weights, config.pooling, device, config.padding, compute_dtype(config.precision, device))
    image: torch.Tensor | None = None
    relay: _Relay | None = None
    steps_before, elapsed_before, start = 0, 0.0, time.perf_counter()
    for index, ((side, iterations), planned) in enumerate(zip(stages, plan.levels, strict=True)):
        current = level(side)
        _check_sizes(current, content_layers, style_layers)
        if image is None and start_image is not None:
            image = F.interpolate(start_image.to(device), size=current.shape, mode="bilinear", antialias=True)
        elif image is None:
            image = _initial_image(config, current.shape, device, current.content, current.styles)
        else:
            image = F.interpolate(image, size=current.shape, mode="bicubic", align_corners=False)
        done = 0
        while True:  # a level that runs out of memory is redone in smaller blocks from where it was
            relay = None if callback is None else _Relay(
                callback, config, plan, index, steps_before + done, elapsed_before, current.finish, image,
                None if relay is None else relay.last)
            try:
                objective = _objective(vgg, current, config, planned, relay, terms)
                current = current.targets_taken()
                image = optimize(objective, image, iterations - done, config.replace(history_size=planned.history),
                                 relay, torch.device("cpu") if planned.host_bytes else None)
                break
            except OutOfMemory as error:
                smaller = _smaller(planned, config)
                if smaller is None or error.image is None:
                    error.image = None if error.image is None else current.finish(error.image).cpu()
                    error.step += steps_before + done
                    raise
                image, done, planned, current = error.image, done + error.step, smaller, level(side)
            except OptimizationError as error:
                error.image = None if error.image is None else current.finish(error.image).cpu()
                error.step += steps_before + done
                raise
            elapsed_before = time.perf_counter() - start
        steps_before += iterations
        elapsed_before = time.perf_counter() - start
    assert image is not None
    return Result(current.finish(image).cpu(), config)


def _plan(
    config: TransferConfig, shape: Callable[[int], tuple[int, int]], device: torch.device
) -> tuple[list[tuple[int, int]], Plan]:
    """The run's schedule, (longest side, iterations) per level, and its plan: each level whole or in
    blocks, within the memory budget."""
    content_layers = list(config.content_layers) if config.alpha > 0 else []
    style_layers = list(config.style_layers) if config.beta > 0 else []
    stages = _schedule(config, shape, [*content_layers, *style_layers])
    budget = config.memory_budget or available_bytes(device)
    shapes = [(shape(side)[1], shape(side)[0], count) for side, count in stages]
    return stages, plan_run(config, shapes, budget, host_bytes(device))


def _shape_of(size: tuple[int, int], side: int) -> tuple[int, int]:
    """(height, width) of an image of `size` (width, height) resized to longest side `side`."""
    width, height = longest_side(size, side)
    return height, width


def _objective(
    vgg: VGG19,
    current: _Level,
    config: TransferConfig,
    planned: LevelPlan,
    relay: _Relay | None,
    terms: Sequence[Callable[[torch.Tensor], torch.Tensor]],
) -> Objective:
    """The level's objective, whole or in the plan's blocks (`relay` hears of each block), with the
    extra `terms` on the pixels."""
    if planned.block is None:
        return Objective(vgg, current.content, current.styles, config, current.shape, terms)
    on_block = None if relay is None else relay.on_block
    return TiledObjective(vgg, current.content, current.styles, config, current.shape, planned.block, on_block,
                          terms)


def _smaller(planned: LevelPlan, config: TransferConfig) -> LevelPlan | None:
    """The level's plan in blocks half the size (or, untiled, half its longest side), None if under
    `ALIGN` px: a recovery goes below the planner's smallest blocks rather than fail."""
    side = (planned.block or max(planned.width, planned.height)) // 2 // ALIGN * ALIGN
    if side < ALIGN:
        return None
    smaller = plan_level(planned.width, planned.height, planned.iterations, 2**62, config.replace(
        history_size=planned.history), side)
    # The history stays where the plan put it.
    return None if smaller is None else dataclasses.replace(smaller, host_bytes=planned.host_bytes)


class _Relay:
    """Passes the events of level `index` on to `callback`, counted over the whole schedule, and
    tells it of each block a tiled level computes: the last event again (in the level's first step,
    `previous`, the last of the level before), with `block` set, and `image` the one being optimised
    (the last event's is not kept, so that it is not one more image-sized tensor while the blocks
    are computed)."""

    def __init__(
        self,
        callback: ProgressCallback,
        config: TransferConfig,
        plan: Plan,
        index: int,
        steps_before: int,
        elapsed_before: float,
        finish: Callable[[torch.Tensor], torch.Tensor],
        image: torch.Tensor,
        previous: Progress | None,
    ) -> None:
        self.callback, self.config, self.plan, self.index = callback, config, plan, index
        self.steps_before, self.elapsed_before, self.finish, self.image = steps_before, elapsed_before, finish, image
        self.started = time.perf_counter()
        self.last = None if previous is None else dataclasses.replace(previous, image=image, level=index + 1)
        # The plan's predicted times weigh the levels (and blocks cost more per pixel) in the ETA.
        self.costs = [level.seconds for level in plan.levels]
        planned = plan.levels[index]
        self.level_steps_before = steps_before - sum(level.iterations for level in plan.levels[:index])
        self.per_step = self.costs[index] / max(planned.iterations, 1)

    def _work(self, steps: float) -> float:
        return (sum(self.costs[: self.index]) + self.per_step * (self.level_steps_before + steps)) / \
            max(sum(self.costs), 1e-9)

    def __call__(self, event: Progress) -> bool | None:
        relayed = dataclasses.replace(
            event, step=self.steps_before + event.step, total=self.config.iterations,
            elapsed=self.elapsed_before + event.elapsed, image=self.finish(event.image), level=self.index + 1,
            levels=len(self.plan.levels), work=self._work(event.step))
        self.last = dataclasses.replace(relayed, image=self.image)
        return self.callback(relayed)

    def on_block(self, block: int, blocks: int) -> None:
        if self.last is None:
            return
        done = self.last.step - self.steps_before
        elapsed = self.elapsed_before + time.perf_counter() - self.started
        self.callback(dataclasses.replace(self.last, elapsed=elapsed, block=block, blocks=blocks,
                                          work=self._work(done + (block - 1) / blocks)))


def _schedule(
    config: TransferConfig, shape: Callable[[int], tuple[int, int]], layers: list[str]
) -> list[tuple[int, int]]:
    """`config.stages()`, with an automatic schedule's levels too small for `layers` merged into the
    first that is large enough."""
    stages = config.stages()
    if config.levels is not None or not layers:
        return stages
    needed = min_input_side(layers)
    while len(stages) > 1 and min(shape(stages[0][0])) < needed:
        (_, count), (side, next_count) = stages[0], stages[1]
        stages = [(side, count + next_count), *stages[2:]]
    return stages


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


def _check_sizes(level: _Level, content_layers: list[str], style_layers: list[str]) -> None:
    _check_size("output" if level.content is None else "content", level.shape,
                [*content_layers, *style_layers], "--size")
    for style in level.styles:
        _check_size("style", _shape(style.image), style_layers, "--size or --style-scale")


def _check_size(role: str, shape: tuple[int, int], layers: list[str], option: str) -> None:
    if not layers:
        return
    deepest = max(layers, key=lambda name: min_input_side([name]))
    needed = min_input_side([deepest])
    height, width = shape
    if min(height, width) < needed:
        raise ImageError(
            f"the {role} image is {width}x{height} px, too small for {deepest}, which needs at least "
            f"{needed} px on each side: raise {option}{' or lower --levels' if role != 'style' else ''}"
        )


def _initial_image(
    config: TransferConfig,
    shape: tuple[int, int],
    device: torch.device,
    content: torch.Tensor | None,
    styles: list[StyleImage],
) -> torch.Tensor:
    if config.init == "noise":
        # White noise around mid-grey, drawn on the CPU so a seed gives the same start on any device.
        assert config.seed is not None, "a seed is drawn before the optimisation"
        generator = torch.Generator().manual_seed(config.seed)
        return (0.5 + 0.1 * torch.randn((1, 3, *shape), generator=generator)).to(device)
    if config.init == "content" and content is not None:
        return content.clone()
    if config.init == "style" and styles:
        return F.interpolate(styles[0].image, size=shape, mode="bilinear", antialias=True, align_corners=False)
    if config.init in INIT_MODES:
        raise ConfigError(f"init {config.init!r} needs a {config.init} image")
    image = load_image(config.init, config.max_pixels, "init")
    return to_tensor(image.resize((shape[1], shape[0]), Image.Resampling.LANCZOS), device)
