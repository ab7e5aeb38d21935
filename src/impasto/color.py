"""Colour control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

Two ways to keep the content's colours:
- luminance-only transfer: transfer on the luminance channel (YIQ's Y), with the style's luminance
  matched in mean and spread to the content's, then put the content's chroma (I, Q) back;
- colour matching: before transfer, recolour each style image with the affine map that gives its
  pixels the content's mean and covariance.

Images are (1, 3, H, W) RGB in [0, 1].
"""

from __future__ import annotations

import torch

__all__ = ["luminance", "match_colors", "match_luminance", "restore_chroma", "rgb_to_yiq", "yiq_to_rgb"]

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
    """Gray image of the style's luminance, shifted and scaled to the content's mean and std."""
    y_style, y_content = rgb_to_yiq(style)[:, :1], rgb_to_yiq(content)[:, :1]
    matched = (y_style - y_style.mean()) / y_style.std().clamp_min(1e-5) * y_content.std() + y_content.mean()
    return matched.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def restore_chroma(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB image with the luminance of `stylized` and the chroma (I, Q) of `content`."""
    yiq = rgb_to_yiq(content)
    yiq[:, :1] = rgb_to_yiq(stylized)[:, :1]
    return yiq_to_rgb(yiq).clamp(0, 1)


def match_colors(style: torch.Tensor, content: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Recolour `style` so its pixels have the mean and covariance of `content`'s.

    Uses the symmetric matrix square roots: x -> C_c^1/2 C_s^-1/2 (x - mu_s) + mu_c.
    """
    pixels_s, pixels_c = style.reshape(3, -1), content.reshape(3, -1)  # (3, M)
    mu_s, mu_c = pixels_s.mean(1, keepdim=True), pixels_c.mean(1, keepdim=True)
    cov_s = torch.cov(pixels_s) + eps * torch.eye(3, device=style.device)
    cov_c = torch.cov(pixels_c) + eps * torch.eye(3, device=style.device)
    transform = _sqrtm(cov_c) @ torch.linalg.inv(_sqrtm(cov_s))
    return (transform @ (pixels_s - mu_s) + mu_c).reshape(style.shape).clamp(0, 1)


def _sqrtm(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
