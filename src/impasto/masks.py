"""Spatial control (Gatys et al. 2017): masks that say which style goes where.

A mask is (1, 1, H, W) in [0, 1] at the output's size, white where its style applies. For each VGG
layer it is brought to that layer's resolution the way the image is (area-averaged at each
pooling), then eroded by one position (a 3x3 minimum), so that the features that make a region's
Gram matrix come from positions whose 3x3 neighbourhood lies inside the region and the two styles
do not bleed into each other's statistics at the border.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

from .vgg import LAYERS

__all__ = ["layer_masks"]


def layer_masks(mask: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """The guidance of `mask` (1, 1, H, W) at each of `layers` (canonical names), each
    (1, 1, h_l, w_l) in [0, 1]."""
    wanted = set(layers)
    last = max(LAYERS.index(name) for name in wanted)
    current = mask
    guides: dict[str, torch.Tensor] = {}
    for name in LAYERS[: last + 1]:
        if name.startswith("pool"):
            current = F.avg_pool2d(current, 2, 2)
        if name in wanted:
            # Erode: a 3x3 minimum, with the image's own edges counting as inside.
            guides[name] = -F.max_pool2d(-current, 3, stride=1, padding=1)
    return guides
