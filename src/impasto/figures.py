"""The paper's figures as labelled grids, built on the pipeline.

Each figure is a list of panels, each made by one optimisation; `make_figure` runs them in order
and lays them out with the input images on top and every panel's settings under it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from .color import COLOR_MATCH_METHODS
from .config import PAPER_STYLE_LAYERS, TransferConfig
from .errors import ConfigError
from .images import EXAMPLES, ImageSource, load_image, longest_side, resize_longest, to_tensor
from .optimize import Progress, ProgressCallback
from .pipeline import Result, reconstruct_content, synthesize_texture, transfer

__all__ = ["FIGURES", "FIGURE_DEFAULTS", "FigureProgress", "make_figure"]

FIGURE_DEFAULTS = TransferConfig.from_preset("paper", size=256, iterations=300, pooling="max")
"""The paper's settings (white noise, L-BFGS, its normalisation, alpha/beta = 1e-3, one scale, float32)
at a size a CPU makes quickly, with max pooling as in the gallery's figures."""

PAPER_SIZE = 512  # about the paper's image size, in px on the longest side
CONTENT_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
RATIOS = (1e-5, 1e-4, 1e-3, 1e-2)  # alpha / beta, the paper's Figure 4 columns


@dataclass(frozen=True)
class _Panel:
    row: str
    caption: str
    run: Callable[..., Result]
    """Makes the panel's image; called with callback=..."""


FigureProgress = Callable[[int, int, str, Progress], None]
"""Called with (panel number from 1, number of panels, panel caption, the panel's Progress)."""


def _paper_balance(config: TransferConfig) -> TransferConfig:
    """`config` with alpha scaled by (512 / size)^2.

    The content loss grows with the number of pixels and the style loss does not, so the paper's
    alpha/beta values, chosen at about 512 px, tip towards style in a smaller figure. Scaling alpha
    by the ratio of pixel counts keeps the paper's balance at any --size.
    """
    return config.replace(content_weight=config.content_weight * (PAPER_SIZE / config.size) ** 2)


def _subset_label(layers: Sequence[str]) -> str:
    return layers[0] if len(layers) == 1 else f"{layers[0]} ... {layers[-1]}"


def _reconstructions(content: ImageSource, styles: list[ImageSource], config: TransferConfig) -> list[_Panel]:
    """Figure 1: content reconstructions from single layers, style reconstructions from growing subsets."""
    width, height = longest_side(load_image(content, config.max_pixels, "content").size, config.size)
    panels = [_Panel("content reconstruction", layer, partial(reconstruct_content, content, layer, config))
              for layer in CONTENT_LAYERS]
    for k in range(1, len(PAPER_STYLE_LAYERS) + 1):
        layers = PAPER_STYLE_LAYERS[:k]
        run = partial(synthesize_texture, styles[0], layers, (width, height), config)
        panels.append(_Panel("style reconstruction", _subset_label(layers), run))
    return panels


def _tradeoff(content: ImageSource, styles: list[ImageSource], config: TransferConfig) -> list[_Panel]:
    """Figure 4: alpha/beta (columns) against the style layers used (rows)."""
    panels = []
    for k in range(1, len(PAPER_STYLE_LAYERS) + 1):
        layers = PAPER_STYLE_LAYERS[:k]
        for ratio in RATIOS:
            # beta = 1 / ratio against the paper's alpha = 1 (scaled by _paper_balance).
            settings = config.replace(style_layers=",".join(layers), style_weight=1 / ratio)
            panels.append(_Panel(f"style {_subset_label(layers)}", f"alpha/beta {ratio:.0e}",
                                 partial(transfer, content, styles[0], settings)))
    return panels


def _layers(content: ImageSource, styles: list[ImageSource], config: TransferConfig) -> list[_Panel]:
    """Figure 5: the content matched at conv2_2 versus conv4_2."""
    return [_Panel("content layer", f"content {layer}",
                   partial(transfer, content, styles[0], config.replace(content_layers=layer)))
            for layer in ("conv2_2", "conv4_2")]


def _init(content: ImageSource, styles: list[ImageSource], config: TransferConfig) -> list[_Panel]:
    """Figure 6: initialised from the content, from the style, and from white noise with three seeds."""
    seed = config.seed if config.seed is not None else 0
    runs = [("content", config.replace(init="content")), ("style", config.replace(init="style"))]
    runs += [(f"noise, seed {s}", config.replace(init="noise", seed=s)) for s in (seed, seed + 1, seed + 2)]
    return [_Panel("initialised from", label, partial(transfer, content, styles[0], settings))
            for label, settings in runs]


def _styles(content: ImageSource, styles: list[ImageSource], config: TransferConfig) -> list[_Panel]:
    """Figure 3: one photo in several styles."""
    return [_Panel("styles", _name(style), partial(transfer, content, style, config)) for style in styles]


def _controls(content: ImageSource, styles: list[ImageSource], config: TransferConfig) -> list[_Panel]:
    """Gatys et al. 2017: spatial, scale and colour control."""
    if len(styles) < 2 or config.masks is None or len(config.masks) != 2:
        raise ConfigError("the controls figure needs two styles and two masks (one per style)")
    first, second = styles[:2]
    plain = config.replace(masks=None)
    mask = to_tensor(resize_longest(load_image(config.masks[0], config.max_pixels, "mask"), config.size))
    panels = [
        _Panel("spatial control", f"mask of {_name(first)}", partial(_show, mask, plain)),
        _Panel("spatial control", f"{_name(first)} in the mask, {_name(second)} outside",
               partial(transfer, content, [first, second], config)),
    ]
    # Scale control balances the layers, which strengthens the style: a tenth of beta shows the photo.
    split = plain.replace(scale_split="conv3_1", style_weight=plain.style_weight / 10)
    row = f"scale control (split at conv3_1, beta {split.style_weight:g})"
    panels += [
        _Panel(row, f"fine {_name(first)}, coarse {_name(second)}", partial(transfer, content, [first, second], split)),
        _Panel(row, f"fine {_name(second)}, coarse {_name(first)}", partial(transfer, content, [second, first], split)),
        _Panel(row, f"{_name(first)}: fine at 1x, coarse at 2x",
               partial(transfer, content, [first, first], split.replace(style_scale=(1.0, 2.0)))),
    ]
    colours = [("no colour control", plain), ("luminance only", plain.replace(preserve_colors="luminance"))]
    colours += [(f"colour match ({method})", plain.replace(preserve_colors="match", color_match=method))
                for method in COLOR_MATCH_METHODS]
    panels += [_Panel("colour control", label, partial(transfer, content, first, settings))
               for label, settings in colours]
    return panels


def _show(image: torch.Tensor, config: TransferConfig, callback: ProgressCallback | None = None) -> Result:
    """A panel that shows an image as it is (a mask, say)."""
    return Result(image.expand(-1, 3, -1, -1), config, 0)


FIGURES: dict[str, Callable[[ImageSource, list[ImageSource], TransferConfig], list[_Panel]]] = {
    "reconstructions": _reconstructions,
    "tradeoff": _tradeoff,
    "layers": _layers,
    "init": _init,
    "styles": _styles,
    "controls": _controls,
}


def make_figure(
    name: str,
    content: ImageSource,
    styles: Sequence[ImageSource],
    config: TransferConfig = FIGURE_DEFAULTS,
    progress: FigureProgress | None = None,
    masks: Sequence[str] | None = None,
) -> Image.Image:
    """Run every panel of figure `name` and lay them out in one labelled image.

    `masks` (two paths) are for the `controls` figure; with the bundled photo they default to its
    sky and the rest.
    """
    if name not in FIGURES:
        raise ConfigError(f"unknown figure {name!r}; valid figures: {', '.join(FIGURES)}")
    if not styles:
        raise ConfigError("give at least one style image")
    bundled_photo = isinstance(content, (str, Path)) and Path(content) == EXAMPLES / "tubingen.jpg"
    if name == "controls" and masks is None and bundled_photo:
        masks = [str(EXAMPLES / "tubingen_sky.png"), str(EXAMPLES / "tubingen_town.png")]
    config = config.replace(masks=tuple(masks) if name == "controls" and masks else None).with_seed()
    inputs = [("content", _name(content), load_image(content, config.max_pixels, "content"))]
    inputs += [("style", _name(s), load_image(s, config.max_pixels, "style")) for s in styles]
    balanced = _paper_balance(config) if name != "reconstructions" else config
    panels = FIGURES[name](content, list(styles), balanced)
    images = []
    for number, panel in enumerate(panels, 1):
        callback = None if progress is None else partial(progress, number, len(panels), panel.caption)
        images.append(panel.run(callback=callback).to_pil())
    rows: dict[str, list[tuple[str, Image.Image]]] = {}
    for panel, image in zip(panels, images, strict=True):
        rows.setdefault(panel.row, []).append((panel.caption, image))
    title = (f"impasto figure {name}: {config.size} px, {config.iterations} {config.optimizer} iterations, "
             f"seed {config.seed}, {config.pooling} pooling, init {config.init}")
    if balanced is not config:
        title += (f", alpha {config.content_weight:g} x {(PAPER_SIZE / config.size) ** 2:.3g} for the paper's balance "
                  f"at {PAPER_SIZE} px, beta {config.style_weight:g} unless a panel says otherwise")
    return _grid(title, [(f"{role}: {label}", image) for role, label, image in inputs], rows)


def _name(source: ImageSource) -> str:
    return Path(source).name if isinstance(source, (str, Path)) else type(source).__name__


def _grid(
    title: str, inputs: list[tuple[str, Image.Image]], rows: dict[str, list[tuple[str, Image.Image]]]
) -> Image.Image:
    """White sheet: the title, the input images, then one labelled row of panels per row name."""
    font = ImageFont.load_default(size=13)
    bold = ImageFont.load_default(size=15)
    height = max(image.height for row in rows.values() for _, image in row)
    gap, caption_lines, line = 12, 2, 16
    cells = [[(caption, _fit(image, height)) for caption, image in row] for row in rows.values()]
    input_cells = [(caption, _fit(image, height)) for caption, image in inputs]
    width = max(640, max(sum(image.width + gap for _, image in row) for row in [*cells, input_cells]) + gap)
    title_lines = textwrap.wrap(title, width=width // 8)
    cell_height = height + caption_lines * line + gap
    top = gap + len(title_lines) * (line + 2) + gap
    sheet = Image.new("RGB", (width, top + (len(cells) + 1) * (cell_height + line + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    draw.multiline_text((gap, gap), "\n".join(title_lines), fill="black", font=bold, spacing=2)
    y = top
    for label, row in [("inputs", input_cells), *zip(rows, cells, strict=True)]:
        draw.text((gap, y), label, fill=(40, 40, 40), font=bold)
        y += line + 4
        x = gap
        for caption, image in row:
            sheet.paste(image, (x, y))
            wrapped = textwrap.wrap(caption, width=max(8, image.width // 7))[:caption_lines]
            draw.multiline_text((x, y + height + 3), "\n".join(wrapped), fill="black", font=font, spacing=2)
            x += image.width + gap
        y += cell_height
    return sheet


def _fit(image: Image.Image, height: int) -> Image.Image:
    return image.resize((max(1, round(image.width * height / image.height)), height), Image.Resampling.LANCZOS)
