"""Colour control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

Two ways to keep the content's colours:
- luminance-only transfer: transfer on the luminance channel (YIQ's Y), with the style's luminance
  histogram matched to the content's, then put the content's chroma (I, Q) back;
- colour matching: before transfer, recolour each style image with the affine map that gives its
  pixels the content's mean and covariance. The map's matrix is one of three square roots of the
  covariances: 'chol' (Cholesky factors), 'pca' (eigenvectors scaled by the square roots of the
  eigenvalues) or 'sym' (symmetric square roots, as in image analogies).

Images are (1, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

import torch

from .errors import ConfigError

__all__ = [
    "COLOR_MATCH_METHODS",
    "luminance",
    "match_colors",
    "match_histogram",
    "match_luminance",
    "restore_chroma",
    "rgb_to_yiq",
    "yiq_to_rgb",
]

COLOR_MATCH_METHODS = ("chol", "pca", "sym")

_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> YIQ (Y in [0, 1])."""
    return torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) YIQ -> RGB (not clamped)."""
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YIQ).to(image), image)


def luminance(image: torch.Tensor) -> torch.Tensor:
    """The luminance as a gray RGB image, (N, 3, H, W)."""
    return rgb_to_yiq(image)[:, :1].expand(-1, 3, -1, -1).contiguous()


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Gray image of the style's luminance with its histogram matched to the content's."""
    y_style, y_content = rgb_to_yiq(style)[:, :1], rgb_to_yiq(content)[:, :1]
    return match_histogram(y_style, y_content).clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def match_histogram(values: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`values` remapped so their distribution is `reference`'s (any shapes; ranks are kept)."""
    flat = values.flatten()
    ranks = torch.empty_like(flat, dtype=torch.long)
    ranks[flat.argsort()] = torch.arange(flat.numel(), device=flat.device)
    quantiles = (ranks.to(flat.dtype) + 0.5) / flat.numel()
    sorted_reference = reference.flatten().sort().values
    positions = (quantiles * sorted_reference.numel() - 0.5).clamp(0, sorted_reference.numel() - 1)
    low = positions.floor().long()
    high = (low + 1).clamp(max=sorted_reference.numel() - 1)
    fraction = positions - low.to(positions.dtype)
    matched = sorted_reference[low] * (1 - fraction) + sorted_reference[high] * fraction
    return matched.reshape(values.shape)


def restore_chroma(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB image with the luminance of `stylized` and the chroma (I, Q) of `content`."""
    yiq = rgb_to_yiq(content)
    yiq[:, :1] = rgb_to_yiq(stylized)[:, :1]
    return yiq_to_rgb(yiq).clamp(0, 1)


def match_colors(style: torch.Tensor, content: torch.Tensor, method: str = "pca", eps: float = 1e-5) -> torch.Tensor:
    """Recolour `style` so its pixels have the mean and covariance of `content`'s.

    x -> A (x - mu_s) + mu_c with A C_s A^T = C_c; `method` picks A: 'chol' (L_c L_s^-1, Cholesky
    factors), 'pca' (Q_c D_c^1/2 D_s^-1/2 Q_s^T, eigendecompositions) or 'sym' (C_c^1/2 C_s^-1/2,
    symmetric square roots).
    """
    if method not in COLOR_MATCH_METHODS:
        raise ConfigError(f"color_match must be one of {', '.join(COLOR_MATCH_METHODS)}, got {method!r}")
    pixels_s, pixels_c = style.reshape(3, -1), content.reshape(3, -1)  # (3, M)
    mu_s, mu_c = pixels_s.mean(1, keepdim=True), pixels_c.mean(1, keepdim=True)
    eye = eps * torch.eye(3, device=style.device, dtype=style.dtype)
    cov_s, cov_c = torch.cov(pixels_s) + eye, torch.cov(pixels_c) + eye
    if method == "chol":
        transform = torch.linalg.cholesky(cov_c) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    elif method == "pca":
        values_s, vectors_s = torch.linalg.eigh(cov_s)
        values_c, vectors_c = torch.linalg.eigh(cov_c)
        transform = vectors_c @ torch.diag((values_c / values_s).clamp_min(0).sqrt()) @ vectors_s.T
    else:
        transform = _sqrtm(cov_c) @ torch.linalg.inv(_sqrtm(cov_s))
    return (transform @ (pixels_s - mu_s) + mu_c).reshape(style.shape).clamp(0, 1)


def _sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
