"""The total loss L = alpha L_content + beta L_style (+ TV) against fixed targets.

Targets (the content's responses P^l and the styles' Gram matrices A^l) are computed once, under
no_grad, when the Objective is built; calling it on an image returns the loss and its breakdown.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .losses import content_loss, gram_matrix, style_layer_loss, tv_loss
from .vgg import VGG19, feature_size

__all__ = ["LossTerms", "Objective"]


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


class Objective:
    """Loss of a generated image against a content image and a blend of style images.

    Args:
        vgg: the network.
        content: (1, 3, H, W) in [0, 1], or None when content_weight is 0 (texture synthesis).
        styles: style images, each (1, 3, h, w) in [0, 1]; their sizes may differ from the content.
        blend: one non-negative weight per style image, normalised to sum 1.
        content_layers, style_layers: layer -> weight (w_l), canonical names.
        content_weight, style_weight, tv_weight: alpha, beta and the TV weight.
        image_shape: (H, W) of the images this objective will be called on.
    """

    def __init__(
        self,
        vgg: VGG19,
        content: torch.Tensor | None,
        styles: Sequence[torch.Tensor],
        blend: Sequence[float],
        content_layers: Mapping[str, float],
        style_layers: Mapping[str, float],
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        image_shape: tuple[int, int],
    ) -> None:
        self.vgg = vgg
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        self.content_layers = dict(content_layers) if content_weight > 0 else {}
        self.style_layers = dict(style_layers) if style_weight > 0 and styles else {}
        self.layers = sorted({*self.content_layers, *self.style_layers})
        with torch.no_grad():
            self.content_targets = vgg(content, self.content_layers) if self.content_layers else {}
            self.style_targets = self._blend_grams(styles, blend, image_shape) if self.style_layers else {}

    def _blend_grams(
        self, styles: Sequence[torch.Tensor], blend: Sequence[float], image_shape: tuple[int, int]
    ) -> dict[str, torch.Tensor]:
        total = sum(blend)
        targets: dict[str, torch.Tensor] = {}
        for style, weight in zip(styles, blend, strict=True):
            for name, features in self.vgg(style, self.style_layers).items():
                positions = features.shape[-1] * features.shape[-2]
                image_positions = math.prod(feature_size(name, image_shape))
                # Scale A^l to the generated image's M_l, so E_l compares like with like when the
                # style's size differs from the output's (the paper assumes equal sizes).
                gram = gram_matrix(features) * (weight / total * image_positions / positions)
                targets[name] = targets[name] + gram if name in targets else gram
        return targets

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
        for name, weight in self.style_layers.items():
            feature = features[name]
            positions = feature.shape[-1] * feature.shape[-2]
            loss = style_layer_loss(gram_matrix(feature), self.style_targets[name], positions)
            per_layer[f"style:{name}"] = loss.item()
            style = style + weight * loss
        tv = tv_loss(image) if self.tv_weight > 0 else image.new_zeros(())
        content, style, tv = self.content_weight * content, self.style_weight * style, self.tv_weight * tv
        total = content + style + tv
        return LossTerms(total, total.item(), content.item(), style.item(), tv.item(), per_layer)
