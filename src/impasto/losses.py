"""The loss functions of Gatys, Ecker & Bethge (CVPR 2016), as pure tensor functions.

Notation of the paper: a layer l has N_l feature maps of M_l = height x width positions; F^l is the
(N_l, M_l) matrix of the generated image's responses, P^l the content image's, and A^l the style
image's Gram matrix.
"""

from __future__ import annotations

import torch

__all__ = ["content_loss", "gaussian_w2", "gram_matrix", "mean_and_covariance", "style_layer_loss", "tv_loss"]


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


def mean_and_covariance(
    features: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C,) and covariance (C, C) of the feature vectors at the positions of `features`
    (1, C, H, W), each position weighted by `weights` (1, 1, H, W) if given; in float32 or wider."""
    flat = _at_least_float32(features).flatten(2)[0]  # (C, M)
    w = torch.ones_like(flat[:1]) if weights is None else weights.flatten(2)[0].to(flat.dtype)  # (1, M)
    w = w / w.sum()
    mean = (flat * w).sum(1)
    centred = flat - mean[:, None]
    return mean, (centred * w) @ centred.T


def gaussian_w2(
    mean: torch.Tensor, cov: torch.Tensor, target_mean: torch.Tensor, target_cov_sqrt: torch.Tensor
) -> torch.Tensor:
    """Squared Wasserstein-2 distance between the Gaussians N(mean, cov) and N(target_mean, T),
    given T's symmetric square root: |m - m_T|^2 + tr(cov) + tr(T) - 2 tr sqrt(T^1/2 cov T^1/2)."""
    cross = target_cov_sqrt @ cov @ target_cov_sqrt
    eigenvalues = torch.linalg.eigvalsh(cross)
    # Clamped: rounding makes the smallest slightly negative, and sqrt's slope is infinite at 0.
    root_trace = eigenvalues.clamp_min(1e-6 * eigenvalues[-1].detach().clamp_min(1e-12)).sqrt().sum()
    target_trace = target_cov_sqrt.pow(2).sum()  # tr(T) = |T^1/2|_F^2
    return (mean - target_mean).pow(2).sum() + cov.trace() + target_trace - 2 * root_trace


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
