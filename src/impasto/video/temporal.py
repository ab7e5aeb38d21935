"""The temporal loss of Ruder, Dosovitskiy & Brox (2016): one more weighted term of the objective.

L_temporal = sum_j sum c_j (x - w_j)^2 over the pixels, with w_j an earlier stylised frame warped
into this one and c_j where that warp can be trusted. The paper divides by D, the number of values;
under the 'relative' normalisation each sum is divided by sum w_j^2 instead, the size of its target,
as impasto's content loss is, so that `--temporal-weight` means the same at any size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["TemporalLoss", "TemporalTarget", "closest_first"]


@dataclass(frozen=True)
class TemporalTarget:
    """An earlier stylised frame, warped into the current one, and where to hold the image to it."""

    image: torch.Tensor
    """(1, 3, H, W) in [0, 1]."""
    weight: torch.Tensor
    """(1, 1, H, W) in [0, 1]: c, 0 where the warp cannot be trusted."""


class TemporalLoss:
    """gamma L_temporal as a function of the image, for `Objective`'s extra terms.

    Args:
        targets: the warped earlier frames with their weights (c_j), at the image's size.
        weight: gamma.
        relative: divide each target's sum by sum w_j^2 (True) or by D, the paper's (False).
    """

    def __init__(self, targets: Sequence[TemporalTarget], weight: float, relative: bool = True) -> None:
        self.targets, self.weight = list(targets), weight
        self.norms = [t.image.pow(2).sum().clamp_min(1e-12).item() if relative else float(t.image.numel())
                      for t in self.targets]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """gamma L_temporal of `image` (1, 3, H', W'); targets are resized to it if H', W' differ."""
        if self.targets and self.targets[0].image.device != image.device:  # moved once, not every iteration
            self.targets = [TemporalTarget(t.image.to(image.device), t.weight.to(image.device)) for t in self.targets]
        loss = image.new_zeros(())
        for target, norm in zip(self.targets, self.norms, strict=True):
            warped, c = target.image, target.weight
            if warped.shape[-2:] != image.shape[-2:]:
                warped = F.interpolate(warped, size=image.shape[-2:], mode="bilinear", antialias=True)
                c = F.interpolate(c, size=image.shape[-2:], mode="bilinear", antialias=True)
                norm = norm * image[0, 0].numel() / target.image[0, 0].numel()
            loss = loss + (c * (image - warped).pow(2)).sum() / norm
        return self.weight * loss


def closest_first(weights: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Long-term weights (Ruder et al., section 3.2): each pixel is held to the nearest earlier frame
    where it was visible. `weights` are the c_j of frames i-j for increasing j; returns
    max(c_j - sum_{k < j} c_k, 0) for each."""
    return [(c - sum(weights[:j], torch.zeros_like(c))).clamp_min(0) for j, c in enumerate(weights)]
