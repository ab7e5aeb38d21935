"""Every setting and default of a run, in one frozen dataclass.

The Python API, the CLI and (later) the web app all build a `TransferConfig`; no default lives
anywhere else. Validation happens here, so every entry point rejects the same bad values with the
same message.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .color import COLOR_MATCH_METHODS
from .errors import ConfigError
from .vgg import LAYERS, canonical_layer

__all__ = [
    "COLOR_MODES",
    "INIT_MODES",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "PADDINGS",
    "POOLINGS",
    "PRECISIONS",
    "PRESETS",
    "STYLE_LOSSES",
    "TransferConfig",
    "equal_weights",
    "parse_layers",
]

INIT_MODES = ("noise", "content", "style")
OPTIMIZERS = ("lbfgs", "adam")
POOLINGS = ("max", "avg")
COLOR_MODES = ("luminance", "match")
NORMALIZATIONS = ("relative", "paper")
PRECISIONS = ("auto", "fp32", "bf16")
PADDINGS = ("zeros", "reflect")
STYLE_LOSSES = ("gram", "w2")
COARSEST_SIDE = 128  # px: the automatic coarse-to-fine schedule starts at about this longest side

PAPER_STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def equal_weights(names: Sequence[str]) -> dict[str, float]:
    """Each layer weighted 1/n, as the paper's w_l."""
    return {name: 1 / len(names) for name in names}


@dataclass(frozen=True)
class TransferConfig:
    """Settings of one style transfer. Field names match the CLI's long options.

    Layer maps give each layer its weight; `conv4_2` and `relu4_2` name the same rectified
    response (see `impasto.vgg`). Weights are the paper's alpha (content), beta (style) and w_l.
    """

    size: int = 512
    """Longest side of the output in pixels; the content image is resized to it."""
    iterations: int = 130  # 74 + 37 + 19 at 512 px, chosen on the tuning grid with the two weights below
    """Optimisation steps in all, shared among the levels of the coarse-to-fine schedule (levels
    larger than `anchor_side` take fewer, to keep their time)."""
    levels: int | None = None
    """Coarse-to-fine schedule: optimise at this many sizes, each twice the one before and ending at
    `size`, with the iterations shared so that each level has twice as many as the next finer one.
    None picks the number so the coarsest level is about 128 px; 1 optimises at `size` only."""
    seed: int | None = None
    """Seed of the white-noise init and of every random choice; None picks one and records it."""
    init: str = "content"  # the paper starts from white noise; the content converges in fewer steps
    """'noise', 'content', 'style' or the path of an image file."""
    optimizer: Literal["lbfgs", "adam"] = "lbfgs"
    learning_rate: float | None = None
    """Step size; None means 1.0 for L-BFGS and 0.02 for Adam (pixels are in [0, 1])."""
    history_size: int = 20
    """L-BFGS: how many past steps its curvature estimate remembers (each costs 2 images of memory;
    20 scored as 100 did, benchmarks/RESULTS.md)."""
    average_iterates: bool = False
    """Adam: return the running average of the last iterates rather than the last one."""
    early_stop: float = 0.0
    """End a level once the loss fell by less than this fraction over its last 10 iterations; 0 never."""
    normalization: Literal["relative", "paper"] = "relative"
    """'relative': each loss term is divided by the size of its target (the squared norm of the
    content's responses, of each per-position Gram matrix), so the weights mean the same at any
    image size and for any layer. 'paper': the paper's formulas, eq. 1 and 4."""
    strength: float = 0.5
    """How far toward the painting, from 0 (the photo) to 1 (the painting's statistics alone, no
    content term): the style and palette terms are weighed by 2 S and the content term by 2 (1 - S),
    so 0.5 leaves the weights as they are and each step multiplies beta / alpha by S / (1 - S)."""
    content_weight: float = 1.0
    style_weight: float = 3.5  # chosen on benchmarks/tuning.py's grid: 10 over-painted strong styles
    tv_weight: float = 0.0
    """Total-variation smoothing (under 'relative', of the mean squared neighbour difference)."""
    palette_weight: float = 1.5  # holds the colours that the first level's 74 steps set (RESULTS.md)
    """Weight of the painting's palette: the sliced Wasserstein distance between the pixel colours
    of the image and of the style images (blended), relative to the spread of the painting's. Only
    the distribution of colours counts, not where they go. Off with masks."""
    laplacian_weight: float = 1.2  # keeps the photo's lines; 1.2 gives back what palette 1.5 takes
    """Weight of the photo's edges: the squared difference between the Laplacians of the image and of
    the photo, both averaged down to `laplacian_side` px (Li et al., "Laplacian-Steered Neural Style
    Transfer", 2017), counted where the photo has edges (flat regions stay free for the painting's
    strokes), relative to the photo's own. Part of the content term: weighed by 2 (1 - S) as it is."""
    laplacian_side: int = 128
    """Longest side in px at which `laplacian_weight` compares edges: the same share of the image at
    any size, coarser than brush strokes."""
    laplacian_finest: float = 0.25  # chosen on the tuning grid with the texture figure (benchmarks/RESULTS.md)
    """The share of `laplacian_weight` at the finest level of a coarse-to-fine schedule: the coarser
    levels lay the photo's lines down, and the finest paints the painting's texture over them (at
    1, the finest level holds the photo's detail at `laplacian_side` px and paints less). A run of
    one level keeps the whole weight."""
    anchor_side: int = 512  # the side the other defaults were chosen at (benchmarks/RESULTS.md, issue 35)
    """Levels larger than this also minimise the objective at this longest side, on the image
    scaled down to it, so that a large run keeps the painting's strokes at the scale they have at
    this side: VGG-19's receptive fields are fixed in pixels, and alone a level at 1536 px paints
    strokes a third as large, relative to the image, as a level at 512 px does. Such levels take
    fewer iterations, so that the run's planned time stays what it would be without this. 0: off."""
    content_layers: Mapping[str, float] = field(default_factory=lambda: {"conv4_2": 1.0})
    style_layers: Mapping[str, float] = field(
        default_factory=lambda: equal_weights(PAPER_STYLE_LAYERS)
    )
    style_loss: Literal["gram", "w2"] = "gram"
    """'gram' matches Gram matrices (the paper); 'w2' the features' mean and covariance, by the
    Wasserstein-2 distance between Gaussians."""
    style_blend: tuple[float, ...] | None = None
    """Relative weight of each style image; None weighs them equally."""
    style_scale: float | tuple[float, ...] = 1.0
    """Size of the style images relative to the output's longest side: one for all, or one each."""
    scale_split: str | None = None
    """Scale control with two styles: the first gives the layers before this one (fine scales), the
    second this layer and those after it (coarse scales)."""
    masks: tuple[str, ...] | None = None
    """Spatial control: one mask image per style (white where that style goes); unmasked regions
    keep the content."""
    pooling: Literal["max", "avg"] = "max"
    padding: Literal["zeros", "reflect"] = "zeros"
    """How the convolutions pad the borders of their input."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """Arithmetic of the network: 'bf16' (its weights and responses; losses stay in float32), 'fp32',
    or 'auto': bf16 where the device computes it natively, else fp32."""
    preserve_colors: Literal["luminance", "match"] | None = None
    color_match: Literal["chol", "pca", "sym"] = "pca"
    """The matrix square root of `preserve_colors='match'`."""
    device: str = "auto"
    weights: str | None = None
    """Path of a full-precision VGG-19 state dict; None uses the bundled Caffe weights."""
    save_every: int = 0
    """Write an intermediate image every N iterations (CLI); 0 never."""
    max_pixels: int = 50_000_000
    """Largest input image accepted, in pixels (decompression-bomb guard)."""
    memory_budget: int | None = None
    """Bytes a run may use at its peak; None: the memory the device has free when it starts. Levels
    that do not fit whole are computed in blocks (`impasto.tiled`), with the same result."""
    tile_size: int | None = None
    """Force every level larger than this into blocks of this side in px (rounded up to a multiple
    of 16); None: blocks only where the memory budget needs them."""

    def __post_init__(self) -> None:
        # Normalise to plain, JSON-able values: canonical layer maps, float tuples, str paths.
        normal = {
            "content_layers": _check_layer_map("content_layers", self.content_layers),
            "style_layers": _check_layer_map("style_layers", self.style_layers),
            "style_blend": None if self.style_blend is None else tuple(float(w) for w in self.style_blend),
            "style_scale": _float_or_tuple(self.style_scale),
            "scale_split": None if self.scale_split is None else canonical_layer(self.scale_split),
            "masks": None if self.masks is None else tuple(os.fspath(mask) for mask in self.masks),
            "init": os.fspath(self.init) if isinstance(self.init, os.PathLike) else self.init,
            "weights": os.fspath(self.weights) if isinstance(self.weights, os.PathLike) else self.weights,
        }
        for name, value in normal.items():
            object.__setattr__(self, name, value)
        self._check()

    def _check(self) -> None:
        _positive_int("size", self.size)
        _non_negative_int("iterations", self.iterations)
        if self.levels is not None:
            _positive_int("levels", self.levels)
        _positive_int("history_size", self.history_size)
        _non_negative_float("early_stop", self.early_stop)
        if not isinstance(self.average_iterates, bool):
            raise ConfigError(f"average_iterates must be true or false, got {self.average_iterates!r}")
        _non_negative_int("save_every", self.save_every)
        _positive_int("max_pixels", self.max_pixels)
        if self.memory_budget is not None:
            _positive_int("memory_budget", self.memory_budget)
        if self.tile_size is not None and (not isinstance(self.tile_size, int) or self.tile_size < 16):
            raise ConfigError(f"tile_size must be a whole number of pixels, at least 16, got {self.tile_size}")
        _positive_int("laplacian_side", self.laplacian_side)
        _non_negative_int("anchor_side", self.anchor_side)
        for name in ("content_weight", "style_weight", "tv_weight", "palette_weight", "laplacian_weight"):
            _non_negative_float(name, getattr(self, name))
        if not _finite(self.laplacian_finest) or not 0 <= self.laplacian_finest <= 1:
            raise ConfigError(f"laplacian_finest must be a share from 0 to 1, got {self.laplacian_finest}")
        if not _finite(self.strength) or not 0 <= self.strength <= 1:
            raise ConfigError(f"strength must be a number from 0 (the photo) to 1 (the painting), got {self.strength}")
        if self.learning_rate is not None:
            _positive_float("learning_rate", self.learning_rate)
        for scale in self.style_scales(1):
            _positive_float("style_scale", scale)
        _choice("color_match", self.color_match, COLOR_MATCH_METHODS)
        if self.scale_split is not None and self.scale_split not in self.style_layers:
            raise ConfigError(
                f"scale_split {self.scale_split} is not one of the style layers ({', '.join(self.style_layers)})"
            )
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("pooling", self.pooling, POOLINGS)
        _choice("padding", self.padding, PADDINGS)
        _choice("precision", self.precision, PRECISIONS)
        _choice("normalization", self.normalization, NORMALIZATIONS)
        _choice("style_loss", self.style_loss, STYLE_LOSSES)
        if self.style_loss == "w2" and self.normalization == "paper":
            raise ConfigError("style_loss w2 has no paper normalisation: use it with normalization relative")
        if self.preserve_colors is not None:
            _choice("preserve_colors", self.preserve_colors, COLOR_MODES)
        if not isinstance(self.init, str) or not self.init:
            raise ConfigError(f"init must be one of {', '.join(INIT_MODES)} or an image path")
        if self.style_blend is not None:
            if any(not _finite(w) or w < 0 for w in self.style_blend) or sum(self.style_blend) == 0:
                raise ConfigError(
                    f"style_blend weights must be non-negative and not all zero, got "
                    f"{','.join(f'{w:g}' for w in self.style_blend)}"
                )
        if self.alpha == 0 and self.beta == 0 and self.tv_weight == 0 and self.palette == 0:
            raise ConfigError("the content, style, palette and tv weights are all 0 at this strength: nothing to do")

    @property
    def alpha(self) -> float:
        """The content term's weight in force: `content_weight` x 2 (1 - `strength`)."""
        return self.content_weight * 2 * (1 - self.strength)

    @property
    def beta(self) -> float:
        """The style term's weight in force: `style_weight` x 2 `strength`."""
        return self.style_weight * 2 * self.strength

    @property
    def palette(self) -> float:
        """The palette term's weight in force: `palette_weight` x 2 `strength`."""
        return self.palette_weight * 2 * self.strength

    @property
    def lr(self) -> float:
        """The step size in use: `learning_rate`, or the optimiser's default."""
        if self.learning_rate is not None:
            return self.learning_rate
        return 1.0 if self.optimizer == "lbfgs" else 0.02

    def stages(self) -> list[tuple[int, int]]:
        """The coarse-to-fine schedule: (longest side, iterations) per level, coarsest first."""
        levels = self.levels or max(1, 1 + int(math.log2(max(self.size / COARSEST_SIDE, 1))))
        levels = min(levels, 1 + int(math.log2(self.size)))  # no level under 1 px
        shares = [2 ** (levels - 1 - level) for level in range(levels)]  # 4, 2, 1: most where pixels are cheap
        counts = [self.iterations * share // sum(shares) for share in shares]
        counts[-1] += self.iterations - sum(counts)
        sides = [max(1, round(self.size / 2 ** (levels - 1 - level))) for level in range(levels)]
        return self._time_kept(list(zip(sides, counts, strict=True)))

    def _time_kept(self, stages: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """`stages` with fewer iterations at the levels larger than `anchor_side`, which also compute
        the objective there, so that the run costs no more than it would without, counted as the
        planner counts levels run whole (an iteration costs its pixels, and those at `anchor_side`):
        each such level's iterations scaled by its share of the cost and rounded, then one fewer at
        the one with the most (where an iteration costs least) while the run costs more."""
        anchor = self.anchor_side
        anchored = [bool(anchor) and side > anchor and count > 0 for side, count in stages]

        def cost(counts: list[int]) -> int:
            return sum(count * (side**2 + (anchor**2 if on else 0))
                       for (side, _), count, on in zip(stages, counts, anchored, strict=True))

        before = sum(count * side**2 for side, count in stages)
        counts = [max(1, round(count * side**2 / (side**2 + anchor**2))) if on else count
                  for (side, count), on in zip(stages, anchored, strict=True)]
        while cost(counts) > before and (fewer := [i for i, on in enumerate(anchored) if on and counts[i] > 1]):
            counts[max(fewer, key=lambda i: counts[i])] -= 1
        return [(side, count) for (side, _), count in zip(stages, counts, strict=True)]

    def style_scales(self, n_styles: int) -> tuple[float, ...]:
        """One style scale per style image."""
        if isinstance(self.style_scale, tuple):
            return self.style_scale
        return (self.style_scale,) * n_styles

    @classmethod
    def from_preset(cls, name: str, **options: Any) -> TransferConfig:
        """The settings of a named preset (see `PRESETS`), with any field overridden by keyword."""
        _choice("preset", name, tuple(PRESETS))
        return cls(**PRESETS[name]).replace(**options)

    def with_seed(self) -> TransferConfig:
        """These settings with a random seed drawn if none is set, so the run can be repeated."""
        return self if self.seed is not None else self.replace(seed=random.SystemRandom().randrange(2**31))

    def replace(self, **changes: Any) -> TransferConfig:
        """A copy with some fields changed; unknown names raise ConfigError."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings, e.g. for the output image's metadata."""
        return {
            f.name: dict(value) if isinstance(value, Mapping) else value
            for f in dataclasses.fields(self)
            for value in [getattr(self, f.name)]
        }


PRESETS: dict[str, dict[str, Any]] = {
    "fast": {"iterations": 80},
    "default": {},
    "best": {"iterations": 400},
    # The paper's settings: white noise, L-BFGS, w_l = 1/5, alpha/beta = 1e-3, average pooling ("slightly
    # more appealing results", section 2).
    "paper": {"init": "noise", "iterations": 1000, "levels": 1, "normalization": "paper", "content_weight": 1.0,
              "style_weight": 1e3, "palette_weight": 0.0, "laplacian_weight": 0.0, "anchor_side": 0, "pooling": "avg",
              "precision": "fp32"},
}
"""Named starting points: speed against quality, and the paper's exact settings."""


def parse_layers(text: str) -> dict[str, float]:
    """Parse 'conv1_1,conv2_1' (equal weights summing to 1) or 'conv1_1:0.5,conv2_1:2'."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ConfigError(f"expected comma-separated layer names, got {text!r}; valid layers: {', '.join(LAYERS)}")
    layers: dict[str, float] = {}
    for item in items:
        name, sep, weight = item.partition(":")
        if not sep:
            layers[name.strip()] = 1 / len(items)
            continue
        try:
            layers[name.strip()] = float(weight)
        except ValueError:
            raise ConfigError(f"layer weight must be a number, got {item!r}") from None
    return layers


def _check_layer_map(what: str, layers: Mapping[str, float] | str) -> dict[str, float]:
    if isinstance(layers, str):
        layers = parse_layers(layers)
    checked: dict[str, float] = {}
    for name, weight in layers.items():
        if not _finite(weight) or weight < 0:
            raise ConfigError(f"{what}: weight of {name} must be a non-negative number, got {weight}")
        checked[canonical_layer(name)] = float(weight)
    return checked


def _float_or_tuple(value: float | tuple[float, ...] | list[float]) -> float | tuple[float, ...]:
    if isinstance(value, (tuple, list)):
        return value[0] if len(value) == 1 else tuple(value)
    return value


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name} must be a positive whole number, got {value}")


def _non_negative_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name} must be zero or a positive whole number, got {value}")


def _positive_float(name: str, value: object) -> None:
    if not _finite(value) or value <= 0:  # type: ignore[operator]
        raise ConfigError(f"{name} must be a positive number, got {value}")


def _non_negative_float(name: str, value: object) -> None:
    if not _finite(value) or value < 0:  # type: ignore[operator]
        raise ConfigError(f"{name} must be zero or a positive number, got {value}")


def _choice(name: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ConfigError(f"{name} must be one of {', '.join(valid)}, got {value!r}")

