"""The total loss L = alpha L_content + beta L_style (+ TV) against fixed targets.

Targets (the content's responses P^l and the styles' Gram matrices A^l) are computed once, under
no_grad, when the Objective is built; calling it on an image returns the loss and its breakdown.

Styles are matched in groups. Without masks there is one group: at each layer, the Gram matrices
of the style images that use that layer are blended. With masks (spatial control) each style is
its own group, matched only inside its mask, with guided Gram matrices (Gatys et al. 2017).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .losses import content_loss, gram_matrix, style_layer_loss, tv_loss
from .masks import layer_masks
from .vgg import VGG19, feature_size

__all__ = ["LossTerms", "Objective", "StyleImage"]


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
    """One evaluation of the objective; `content`, `style` and `tv` are already weighted."""

    total: torch.Tensor
    """The loss, a scalar tensor to back-propagate."""
    value: float
    """The loss as a number."""
    content: float
    style: float
    tv: float
    per_layer: dict[str, float] = field(default_factory=dict)
    """Unweighted E_l (style) and L_content (content) of each layer, keyed 'style:conv1_1' etc."""


@dataclass
class _StyleTarget:
    """What one layer of one style group is matched to."""

    gram: torch.Tensor  # A^l, (1, C, C), scaled to `positions`
    positions: float  # M_l of the output, or the mask's area at this layer
    guide: torch.Tensor | None  # (1, 1, h, w) mask at this layer, or None for the whole image
    weight: float  # w_l

    @property
    def start_loss(self) -> float:
        """E_l of an image whose features are all zero: the size of this layer's loss."""
        return style_layer_loss(torch.zeros_like(self.gram), self.gram, self.positions).item()


class Objective:
    """Loss of a generated image against a content image and style images.

    Args:
        vgg: the network.
        content: (1, 3, H, W) in [0, 1], or None when content_weight is 0 (texture synthesis).
        styles: the style images; with masks, every one must have a mask.
        content_layers, style_layers: layer -> weight (w_l), canonical names.
        content_weight, style_weight, tv_weight: alpha, beta and the TV weight.
        image_shape: (H, W) of the images this objective will be called on.
        balance_layers: rescale the w_l so every style layer's loss starts equal (their sum kept).
    """

    def __init__(
        self,
        vgg: VGG19,
        content: torch.Tensor | None,
        styles: Sequence[StyleImage],
        content_layers: Mapping[str, float],
        style_layers: Mapping[str, float],
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        image_shape: tuple[int, int],
        balance_layers: bool = False,
    ) -> None:
        self.vgg = vgg
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.content_layers = dict(content_layers) if content_weight > 0 else {}
        self.style_layers = dict(style_layers) if style_weight > 0 and styles else {}
        with torch.no_grad():
            self.content_targets = vgg(content, self.content_layers) if self.content_layers else {}
            self.style_targets = self._style_targets(styles, image_shape) if self.style_layers else []
        if balance_layers:
            self._balance()
        self.layers = sorted({*self.content_layers, *(name for group in self.style_targets for name in group)})

    def _style_targets(self, styles: Sequence[StyleImage], shape: tuple[int, int]) -> list[dict[str, _StyleTarget]]:
        per_position = [
            {name: gram_matrix(f) / (f.shape[-1] * f.shape[-2]) for name, f in self.vgg(style.image, layers).items()}
            if (layers := self._layers_of(style)) else {}
            for style in styles
        ]
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
                users = [i for i in members if name in per_position[i]]
                total = sum(styles[i].weight for i in users)
                image_positions = math.prod(feature_size(name, shape))
                positions = float(guide[name].pow(2).sum()) if guide else image_positions
                if total == 0 or positions < 1e-6:  # no style gives this layer, or the mask vanishes here
                    continue
                # Per-position Grams scaled to the output's M_l (or the mask's area), so that E_l
                # compares like with like when sizes differ (the paper assumes equal sizes).
                gram = sum(per_position[i][name] * (styles[i].weight / total) for i in users) * positions
                # A region's E_l is as large as a whole image's, on fewer pixels: weigh it by its share
                # of the image, so a region is styled as strongly as a whole image is.
                weight = self.style_layers[name] * positions / image_positions
                group[name] = _StyleTarget(gram, positions, guide.get(name), weight)
            targets.append(group)
        return targets

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
        per_layer: dict[str, float] = {}
        content = image.new_zeros(())
        for name, weight in self.content_layers.items():
            loss = content_loss(features[name], self.content_targets[name])
            per_layer[f"content:{name}"] = loss.item()
            content = content + weight * loss
        style = image.new_zeros(())
        for group in self.style_targets:
            for name, target in group.items():
                feature = features[name] if target.guide is None else features[name] * target.guide
                loss = style_layer_loss(gram_matrix(feature), target.gram, target.positions)
                per_layer[f"style:{name}"] = per_layer.get(f"style:{name}", 0.0) + loss.item()
                style = style + target.weight * loss
        tv = tv_loss(image) if self.tv_weight > 0 else image.new_zeros(())
        content, style, tv = self.content_weight * content, self.style_weight * style, self.tv_weight * tv
        total = content + style + tv
        return LossTerms(total, total.item(), content.item(), style.item(), tv.item(), per_layer)
