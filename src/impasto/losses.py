"""The loss functions of Gatys, Ecker & Bethge (CVPR 2016), as pure tensor functions.

Notation of the paper: a layer l has N_l feature maps of M_l = height x width positions; F^l is the
(N_l, M_l) matrix of the generated image's responses, P^l the content image's, and A^l the style
image's Gram matrix.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "at_least_float32",
    "color_quantiles",
    "content_loss",
    "gaussian_w2",
    "gram_matrix",
    "laplacian",
    "mean_and_covariance",
    "palette_loss",
    "style_layer_loss",
    "tv_loss",
]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """G^l = F^l F^l^T, unnormalised as in the paper.

    Args:
        features: (N, C, H, W) activations, float32 or bfloat16 (its products are accumulated in
            float32 by torch's CPU and CUDA kernels; the result is rounded to bfloat16, then widened).
    Returns:
        (N, C, C) Gram matrices in float32 (or float64 for float64 features).
    """
    n, c, h, w = features.shape
    # (N, M, C): a view without copying in both the contiguous and the channels-last layout.
    gram = _Gram.apply(features.permute(0, 2, 3, 1).reshape(n, h * w, c))
    return at_least_float32(gram)


class _Gram(torch.autograd.Function):
    """F^T F for features (N, M, C), with a one-product backward: d/dF = F (dG + dG^T) (autograd's
    would take two)."""

    @staticmethod
    def forward(ctx: Any, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        # bmm, not @: in bfloat16 on CPU, `@` copies the transposed operand and is 5-10x slower.
        return torch.bmm(flat.transpose(1, 2), flat)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        grad = grad.to(flat.dtype)
        return flat @ (grad + grad.transpose(1, 2))


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_content = 1/2 sum (F - P)^2 over all maps and positions (paper eq. 1)."""
    return 0.5 * (at_least_float32(features) - target).pow(2).sum()


def style_layer_loss(gram: torch.Tensor, target_gram: torch.Tensor, positions: float) -> torch.Tensor:
    """E_l = sum (G - A)^2 / (4 N_l^2 M_l^2) (paper eq. 4).

    Args:
        gram: (N, C, C) Gram matrix of the generated image, G^l.
        target_gram: (N, C, C) or (1, C, C) target Gram matrix, A^l.
        positions: M_l, the number of positions of the generated image's feature map. (The
            target's M_l may differ: its Gram must then be rescaled to this image's size first.)
    """
    channels = gram.shape[-1]
    # In floats: at 8192x6144, conv1_1's 4 N^2 M^2 is 4e19, past the int64 a tensor op takes.
    return (gram - target_gram).pow(2).sum() / (4.0 * channels**2 * float(positions) ** 2)


def mean_and_covariance(
    features: torch.Tensor, weights: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C,) and covariance (C, C) of the feature vectors at the positions of `features`
    (1, C, H, W), each position weighted by `weights` (1, 1, H, W) if given; in float32 or wider."""
    flat = at_least_float32(features).flatten(2)[0]  # (C, M)
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


def laplacian(image: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The Laplacian of `image` (1, 3, H, W) averaged down to `shape` (h, w), its borders replicated:
    the image's edges at that scale, (1, 3, h, w), in float32 or wider (Li, Wang, Liu, Yan & Hu,
    "Laplacian-Steered Neural Style Transfer", 2017)."""
    small = at_least_float32(image)
    if small.shape[-2:] != shape:
        small = F.interpolate(small, size=shape, mode="area")
    kernel = small.new_tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]]).expand(3, 1, 3, 3)
    return F.conv2d(F.pad(small, (1, 1, 1, 1), mode="replicate"), kernel, groups=3)


def color_quantiles(
    images: list[torch.Tensor], shares: list[float], directions: torch.Tensor, count: int
) -> torch.Tensor:
    """The quantile functions of the pixel colours of `images` mixed in proportion to `shares`,
    projected on each of `directions`, at `count` equally spaced levels.

    Args:
        images: (1, 3, h, w) RGB in [0, 1], any sizes.
        shares: one non-negative weight per image, summing to 1 (images of weight 0 take no part).
        directions: (3, K) unit vectors.
        count: the number of levels, (i + 1/2) / count for i < count: an image's pixel count.
    Returns:
        (count, K): for each direction, the mixture's projected colours at those levels.
    """
    used = [(image, share) for image, share in zip(images, shares, strict=True) if share > 0]
    projected = torch.cat([image.reshape(3, -1).T.float() @ directions for image, _ in used])  # (T, K)
    weights = torch.cat([torch.full((image[0, 0].numel(),), share / image[0, 0].numel(), device=projected.device)
                         for image, share in used])  # (T,)
    values, order = projected.sort(dim=0)
    cumulative = weights[order].cumsum(0) - weights[order] / 2  # (T, K): each sample's mid-level
    levels = (torch.arange(count, device=projected.device, dtype=projected.dtype) + 0.5) / count
    columns = []
    for k in range(directions.shape[1]):
        above = torch.searchsorted(cumulative[:, k].contiguous(), levels).clamp(1, len(values) - 1)
        low, high = cumulative[above - 1, k], cumulative[above, k]
        fraction = ((levels - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)
        columns.append(torch.lerp(values[above - 1, k], values[above, k], fraction))
    return torch.stack(columns, dim=1)


def palette_loss(image: torch.Tensor, target_quantiles: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Sliced squared Wasserstein-2 distance between the pixel colours of `image` (1, 3, H, W) and a
    palette given by `color_quantiles` at H x W levels: the mean over directions of the squared
    differences of the sorted projections. Where each pixel's colour sits is free; only the
    distribution of colours counts."""
    projected = image.reshape(3, -1).T.float() @ directions  # (H W, K)
    return (projected.sort(dim=0).values - target_quantiles).pow(2).mean()


def at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` in float32, or as it is if wider (float64)."""
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))
