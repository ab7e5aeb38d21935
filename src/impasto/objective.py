"""The total loss L = alpha L_content + beta L_style (+ TV) against fixed targets.

Targets (the content's responses P^l and the styles' Gram matrices A^l) are computed once, under
no_grad, when the Objective is built; calling it on an image returns the loss and its breakdown, and
`evaluate` also leaves the loss's gradient in the image's `.grad` (what an optimiser needs; the tiled
objective of `tiled.py` computes both block by block).

Styles are matched in groups. Without masks there is one group: at each layer, the Gram matrices
of the style images that use that layer are blended. With masks (spatial control) each style is
its own group, matched only inside its mask, with guided Gram matrices (Gatys et al. 2017).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import TransferConfig
from .images import shape_at_most
from .losses import (
    at_least_float32,
    color_quantiles,
    content_loss,
    gaussian_w2,
    gram_matrix,
    laplacian,
    mean_and_covariance,
    palette_loss,
    style_layer_loss,
    tv_loss,
)
from .masks import layer_masks
from .vgg import VGG19, feature_size

__all__ = ["LayerStatistics", "LossTerms", "Objective", "StyleImage"]


@dataclass(frozen=True)
class StyleImage:
    """One style image and what it is used for."""

    image: torch.Tensor
    """(1, 3, h, w) in [0, 1]; its size may differ from the output's."""
    weight: float = 1.0
    """Blend weight among the styles that share a layer (no masks)."""
    layers: frozenset[str] | None = None
    """The style layers it gives (scale control); None for all of them."""
    mask: torch.Tensor | None = None
    """(1, 1, H, W) in [0, 1] at the output's size: where it applies (spatial control)."""


@dataclass
class LossTerms:
    """One evaluation of the objective; `content`, `style` and `tv` are already weighted. Tensors,
    so that reading them (a device sync) is left to whoever needs the numbers."""

    total: torch.Tensor
    """The loss, a scalar tensor to back-propagate."""
    content: torch.Tensor
    style: torch.Tensor
    tv: torch.Tensor

    def numbers(self) -> tuple[float, float, float, float]:
        """(total, content, style, tv) as floats, read in one transfer."""
        total, content, style, tv = torch.stack([self.total.detach(), self.content, self.style, self.tv]).tolist()
        return total, content, style, tv


@dataclass(frozen=True)
class LayerStatistics:
    """What a style image's responses at one layer give its target."""

    gram: torch.Tensor
    """(1, C, C) Gram matrix per position, G^l / M_l, in float32 or wider."""
    mean: torch.Tensor | None = None
    """(C,) mean of the feature vectors ('w2' only)."""
    cov: torch.Tensor | None = None
    """(C, C) their covariance ('w2' only)."""


@dataclass
class _StyleTarget:
    """What one layer of one style group is matched to: its loss is `distance` / `norm`."""

    positions: float  # M_l of the output, or the mask's area at this layer
    guide: torch.Tensor | None  # (1, 1, h, w) mask at this layer, or None for the whole image
    weight: float  # w_l, times the region's share of the image
    gram: torch.Tensor  # A^l, (1, C, C), scaled to `positions`
    w2: tuple[torch.Tensor, torch.Tensor] | None  # the target's mean and covariance square root ('w2')
    norm: float = 1.0

    def distance(self, feature: torch.Tensor) -> torch.Tensor:
        """E_l of `feature` (1, C, h, w) as in the paper (eq. 4), or its W2 distance ('w2')."""
        if self.w2 is not None:
            mean, cov = mean_and_covariance(feature, None if self.guide is None else self.guide.pow(2))
            return gaussian_w2(mean, cov, *self.w2)
        guided = feature if self.guide is None else feature * self.guide.to(feature.dtype)
        return style_layer_loss(gram_matrix(guided), self.gram, self.positions)

    @property
    def start_loss(self) -> float:
        """The loss of an image whose features are all zero: the size of this layer's loss."""
        if self.w2 is None:
            return style_layer_loss(torch.zeros_like(self.gram), self.gram, self.positions).item() / self.norm
        mean, cov_sqrt = self.w2
        return (mean.pow(2).sum() + cov_sqrt.pow(2).sum()).item() / self.norm


class _Palette:
    """The styles' palette: `palette_loss` against their blended pixel colours, on fixed random
    directions of RGB, divided by the painting's colour variance along them. Evaluated on the image
    averaged down to at most `PIXELS` pixels: the colours' distribution barely changes, and sorting
    them costs about 2 ms a step (16 directions of 2^14 pixels cost 10 ms, a tenth of a 128 px step)."""

    DIRECTIONS = 8
    PIXELS = 2**12
    SAMPLES = 2**20
    """The most pixels of a painting whose colours are sorted: every s-th row and column of a larger one
    (the quantiles at `PIXELS` levels stay the same; sorting all of an 8192 px painting's would take 8 GB)."""

    def __init__(self, styles: Sequence[StyleImage], config: TransferConfig, shape: tuple[int, int]) -> None:
        generator = torch.Generator().manual_seed(config.seed or 0)
        device = styles[0].image.device
        self.directions = F.normalize(torch.randn(3, self.DIRECTIONS, generator=generator), dim=0).to(device)
        factor = math.ceil(math.sqrt(math.prod(shape) / self.PIXELS))
        self.shape = (max(1, shape[0] // factor), max(1, shape[1] // factor))
        total = sum(style.weight for style in styles)
        samples = [s.image[..., ::step, ::step] for s in styles
                   for step in [math.ceil(math.sqrt(s.image[0, 0].numel() / self.SAMPLES))]]
        self.quantiles = color_quantiles(samples, [s.weight / total for s in styles],
                                         self.directions, math.prod(self.shape))  # (pixels, K)
        self.norm = max(self.quantiles.var(dim=0).mean().item(), 1e-12)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-2:] != self.shape:
            image = F.interpolate(image, size=self.shape, mode="area")
        return palette_loss(image, self.quantiles, self.directions) / self.norm


class _Edges:
    """The photo's edges (`laplacian_weight`): the squared difference between `laplacian` of the image
    and of the photo at `laplacian_side` px, divided by the photo's own ('relative')."""

    def __init__(self, content: torch.Tensor, config: TransferConfig, shape: tuple[int, int]) -> None:
        self.shape = shape_at_most(shape, config.laplacian_side, least=3)
        self.target = laplacian(content, self.shape)
        # Departs from Li et al.'s, which weighs every position alike: a position counts by the photo's
        # edge strength within a pixel of it, relative to the mean and at most 1, so flat sky and water
        # stay free for the painting's strokes (alike, they flattened them: benchmarks/RESULTS.md).
        strength = F.max_pool2d(self.target.abs().sum(1, keepdim=True), 3, stride=1, padding=1)
        self.where = (strength / strength.mean().clamp_min(1e-12)).clamp_max(1)
        norm = (self.where * self.target.pow(2)).sum().item() if config.normalization != "paper" else 1.0
        self.weight = config.laplacian_weight / max(norm, 1e-12)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.weight * (self.where * (laplacian(image, self.shape) - self.target).pow(2)).sum()


class Objective:
    """Loss of a generated image against a content image and style images.

    Args:
        vgg: the network.
        content: (1, 3, H, W) in [0, 1], or None when content_weight is 0 (texture synthesis).
        styles: the style images; with masks, every one must have a mask.
        config: the weights (alpha, beta, TV, w_l), layers, normalisation and style loss; with
            scale control (`scale_split`) the w_l are rescaled so every style layer's loss starts
            equal (their sum kept).
        image_shape: (H, W) of the images this objective will be called on.
        terms: further loss terms, each a function of the image (1, 3, H, W) to a weighted scalar,
            added to the total (e.g. impasto.video's temporal loss); not in the breakdown.
    """

    def __init__(
        self,
        vgg: VGG19,
        content: torch.Tensor | None,
        styles: Sequence[StyleImage],
        config: TransferConfig,
        image_shape: tuple[int, int],
        terms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        self.vgg = vgg
        self.config, self.image_shape = config, image_shape
        self.terms = list(terms)
        self.relative = config.normalization != "paper"
        self.content_weight, self.style_weight, self.tv_weight, self.palette_weight = (
            config.alpha, config.beta, config.tv_weight, config.palette
        )
        self.content_layers = dict(config.content_layers) if config.alpha > 0 else {}
        self.style_layers = dict(config.style_layers) if config.beta > 0 and styles else {}
        self.w2 = config.style_loss == "w2"
        with torch.no_grad():
            self.content_targets = self._content_targets(content) if self.content_layers and content is not None \
                else {}
            # 'relative': the content loss divided by its value for an all-zero response.
            self.content_norms = {name: self._content_norm(p) if self.relative else 1.0
                                  for name, p in self.content_targets.items()}
            self.style_targets = self._style_targets(styles, image_shape) if self.style_layers else []
            if config.scale_split is not None:
                self._balance()
            self.layers = sorted({*self.content_layers, *(name for group in self.style_targets for name in group)})
            self.palette = _Palette(styles, config, image_shape) \
                if self.palette_weight > 0 and styles and styles[0].mask is None else None
            self.edges = _Edges(content, config, image_shape) \
                if config.laplacian_weight > 0 and config.alpha > 0 and content is not None else None

    def with_content(self, content: torch.Tensor) -> Objective:
        """This objective against another content image (1, 3, H, W) of the same shape, sharing the
        style targets (impasto.video's network trains on many crops against one painting)."""
        other = copy.copy(self)
        with torch.no_grad():
            other.content_targets = self._content_targets(content) if self.content_layers else {}
            other.content_norms = {name: self._content_norm(p) if self.relative else 1.0
                                   for name, p in other.content_targets.items()}
            other.edges = None if self.edges is None else _Edges(content, self.config, self.image_shape)
        return other

    def _style_loss(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """sum_l w_l E_l over the style groups, each E_l divided by its norm."""
        terms = [target.weight * target.distance(features[name]) / target.norm
                 for group in self.style_targets for name, target in group.items()]
        return torch.stack(terms).sum() if terms else torch.zeros(())

    def _content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """P^l at each content layer, (1, C, h, w)."""
        return {name: at_least_float32(f) for name, f in self.vgg(content, self.content_layers).items()}

    def _content_norm(self, target: torch.Tensor) -> float:
        """The content loss of an all-zero response to `target`."""
        return content_loss(torch.zeros_like(target), target).item()

    def _statistics(self, image: torch.Tensor, layers: list[str]) -> dict[str, LayerStatistics]:
        """The statistics of a style image (1, 3, h, w) at `layers`."""
        statistics = {}
        for name, f in self.vgg(image, layers).items():
            f = at_least_float32(f)
            w2 = mean_and_covariance(f) if self.w2 else (None, None)
            statistics[name] = LayerStatistics(gram_matrix(f) / f[0, 0].numel(), *w2)
        return statistics

    def _style_targets(self, styles: Sequence[StyleImage], shape: tuple[int, int]) -> list[dict[str, _StyleTarget]]:
        features = [self._statistics(style.image, layers) if (layers := self._layers_of(style)) else {}
                    for style in styles]
        if styles[0].mask is None:
            groups = [list(range(len(styles)))]
            guides: list[dict[str, torch.Tensor]] = [{}]
        else:
            groups = [[i] for i in range(len(styles))]
            guides = [layer_masks(style.mask, self._layers_of(style)) for style in styles if style.mask is not None]
        targets = []
        for members, guide in zip(groups, guides, strict=True):
            group: dict[str, _StyleTarget] = {}
            for name in self.style_layers:
                users = [i for i in members if name in features[i]]
                total = sum(styles[i].weight for i in users)
                image_positions = math.prod(feature_size(name, shape))
                positions = float(guide[name].pow(2).sum()) if guide else image_positions
                if total == 0 or positions < 1e-6:  # no style gives this layer, or the mask vanishes here
                    continue
                blend = [(features[i][name], styles[i].weight / total) for i in users]
                # Per-position Grams scaled to the output's M_l (or the mask's area), so that E_l
                # compares like with like when sizes differ (the paper assumes equal sizes).
                gram = torch.stack([stats.gram * share for stats, share in blend]).sum(0) * positions
                # A region's E_l is as large as a whole image's, on fewer pixels: weigh it by its share
                # of the image, so a region is styled as strongly as a whole image is.
                weight = self.style_layers[name] * positions / image_positions
                target = _StyleTarget(positions, guide.get(name), weight, gram, self._w2_target(blend))
                target.norm = target.start_loss if self.relative else 1.0
                group[name] = target
            targets.append(group)
        return targets

    def _w2_target(self, blend: list[tuple[LayerStatistics, float]]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The blended styles' feature mean and the square root of their covariance ('w2')."""
        if not self.w2:
            return None
        stats = [(s.mean, s.cov, share) for s, share in blend if s.mean is not None and s.cov is not None]
        mean = torch.stack([m * share for m, _, share in stats]).sum(0)
        # The mixture's covariance: the shares' mean second moment minus the squared mean.
        second = torch.stack([(c + torch.outer(m, m)) * share for m, c, share in stats]).sum(0)
        cov = second - torch.outer(mean, mean)
        eigenvalues, vectors = torch.linalg.eigh(cov)
        return mean, (vectors * eigenvalues.clamp_min(0).sqrt()) @ vectors.T

    def _balance(self) -> None:
        """Under the paper's weights, conv4_1's loss is about a million times conv1_1's, so the fine
        scales have no say; give every layer the same share of the same total instead."""
        for group in self.style_targets:
            total = sum(target.weight * target.start_loss for target in group.values())
            weights = sum(target.weight for target in group.values())
            for target in group.values():
                if target.start_loss > 0:  # a layer whose target is all zeros has nothing to balance
                    target.weight *= total / (weights * target.start_loss)

    def _layers_of(self, style: StyleImage) -> list[str]:
        return [name for name in self.style_layers if style.layers is None or name in style.layers]

    def __call__(self, image: torch.Tensor) -> LossTerms:
        """Loss of `image`, (1, 3, H, W) in [0, 1], with its breakdown."""
        features = self.vgg(image, self.layers) if self.layers else {}
        content = image.new_zeros(())
        for name, weight in self.content_layers.items():
            loss = content_loss(features[name], self.content_targets[name]) / self.content_norms[name]
            content = content + weight * loss
        if self.edges is not None:  # the photo's edges are part of the content: reported with it
            content = content + self.edges(image)
        style = self.style_weight * self._style_loss(features)
        if self.palette is not None:  # the palette is part of the style: reported with it
            style = style + self.palette_weight * self.palette(image)
        tv = image.new_zeros(())
        if self.tv_weight > 0:
            # 'relative': the mean squared neighbour difference, the same at any size.
            tv = tv_loss(image) / (image.numel() if self.relative else 1)
        content, tv = self.content_weight * content, self.tv_weight * tv
        extra = sum((term(image) for term in self.terms), image.new_zeros(()))
        return LossTerms(content + style + tv + extra, content.detach(), style.detach(), tv.detach())

    def evaluate(self, image: torch.Tensor) -> LossTerms:
        """The loss of `image` (1, 3, H, W), a leaf that requires grad, with its gradient
        accumulated into `image.grad`; the returned terms need no backward pass."""
        terms = self(image)
        terms.total.backward()
        return LossTerms(terms.total.detach(), terms.content, terms.style, terms.tv)
