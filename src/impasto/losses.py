"""The loss functions of Gatys, Ecker & Bethge (CVPR 2016), as pure tensor functions.

Notation of the paper: a layer l has N_l feature maps of M_l = height x width positions; F^l is the
(N_l, M_l) matrix of the generated image's responses, P^l the content image's, and A^l the style
image's Gram matrix.
"""

from __future__ import annotations

import torch

__all__ = ["content_loss", "gram_matrix", "style_layer_loss", "tv_loss"]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G^l = F^l F^l^T, unnormalised as in the paper.

    Args:
        features: (N, C, H, W) activations.
    Returns:
        (N, C, C) Gram matrices, computed in float32 or wider.
    """
    n, c, h, w = features.shape
    flat = _at_least_float32(features).reshape(n, c, h * w)  # (N, C, M)
    return flat @ flat.transpose(1, 2)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = 1/2 sum (F - P)^2 over all maps and positions (paper eq. 1)."""
    return 0.5 * (_at_least_float32(features) - target).pow(2).sum()


def style_layer_loss(gram: torch.Tensor, target_gram: torch.Tensor, positions: float) -> torch.Tensor:
    """E_l = sum (G - A)^2 / (4 N_l^2 M_l^2) (paper eq. 4).

    Args:
        gram: (N, C, C) Gram matrix of the generated image, G^l.
        target_gram: (N, C, C) or (1, C, C) target Gram matrix, A^l.
        positions: M_l, the number of positions of the generated image's feature map. (The
            target's M_l may differ: its Gram must then be rescaled to this image's size first.)
    """
    channels = gram.shape[-1]
    return (gram - target_gram).pow(2).sum() / (4 * channels**2 * positions**2)


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: the sum of squared differences between neighbouring pixels.

    Args:
        image: (N, 3, H, W) in [0, 1].
    """
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).sum() + dy.pow(2).sum()


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))
