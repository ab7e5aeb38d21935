"""Optical flow between frames (OpenCV), warping along it, and where it can be trusted.

Flows are numpy arrays (H, W, 2), float32, in pixels: ``flow[y, x] = (u, v)`` says that pixel
(x, y) of the first frame is at (x + u, y + v) in the second. Frames are RGB images (PIL or uint8
arrays (H, W, 3)); flow is computed on their luminance.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import ConfigError
from .config import FLOW_METHODS

__all__ = ["FLOW_METHODS", "consistency", "flow_and_mask", "optical_flow", "warp"]

def optical_flow(first: Image.Image | np.ndarray, second: Image.Image | np.ndarray, method: str = "dis") -> np.ndarray:
    """The flow (H, W, 2) from `first` to `second`, two frames of one size."""
    a, b = _gray(first), _gray(second)
    if a.shape != b.shape:
        raise ConfigError(f"optical flow needs frames of one size, got {a.shape[::-1]} and {b.shape[::-1]}")
    flow = np.zeros((*a.shape, 2), np.float32)
    if method == "dis":
        return np.asarray(cv2.DISOpticalFlow.create(cv2.DISOpticalFlow_PRESET_MEDIUM).calc(a, b, flow))
    if method == "farneback":
        return np.asarray(cv2.calcOpticalFlowFarneback(a, b, flow, pyr_scale=0.5, levels=4, winsize=15, iterations=3,
                                            poly_n=5, poly_sigma=1.1, flags=0))
    raise ConfigError(f"flow must be one of {', '.join(FLOW_METHODS)}, got {method!r}")


def consistency(flow: np.ndarray, back: np.ndarray, blur: float = 1.0) -> np.ndarray:
    """Where `flow` (frame a -> b) can be trusted, from `back` (b -> a): (H, W) float32 in [0, 1].

    Ruder, Dosovitskiy & Brox (2016), section 3.1, with w^ = `flow` and w~ = `back` sampled at
    x + w^: 0 where the two disagree (disocclusions, |w~ + w^|^2 > 0.01 (|w~|^2 + |w^|^2) + 0.5),
    at motion boundaries (|grad u^|^2 + |grad v^|^2 > 0.01 |w^|^2 + 0.002) and where x + w^ leaves
    the frame; 1 elsewhere, softened next to the zeros by a Gaussian blur of `blur` px.
    """
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    to_x, to_y = xs + flow[..., 0], ys + flow[..., 1]
    back_there = cv2.remap(back, to_x, to_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    squared = (flow**2).sum(-1)
    occluded = ((flow + back_there) ** 2).sum(-1) > 0.01 * (squared + (back_there**2).sum(-1)) + 0.5
    du_y, du_x = np.gradient(flow[..., 0])
    dv_y, dv_x = np.gradient(flow[..., 1])
    boundary = du_x**2 + du_y**2 + dv_x**2 + dv_y**2 > 0.01 * squared + 0.002
    outside = (to_x < 0) | (to_x > width - 1) | (to_y < 0) | (to_y > height - 1)
    hard = (~(occluded | boundary | outside)).astype(np.float32)
    if blur <= 0:
        return hard
    return np.minimum(hard, cv2.GaussianBlur(hard, (0, 0), blur))


def flow_and_mask(
    first: Image.Image | np.ndarray, second: Image.Image | np.ndarray, method: str = "dis"
) -> tuple[np.ndarray, np.ndarray]:
    """The flow from `first` to `second` (H, W, 2) and its consistency mask (H, W) in [0, 1]."""
    flow = optical_flow(first, second, method)
    return flow, consistency(flow, optical_flow(second, first, method))


def warp(image: torch.Tensor, flow: np.ndarray | torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """`image` (N, C, H, W) of frame b, seen from frame a: sampled at x + flow(x) ('bilinear' or
    'bicubic'), with `flow` (H, W, 2) from a to b. Samples outside the frame take the nearest border
    pixel."""
    flow = torch.as_tensor(flow, dtype=torch.float32, device=image.device)
    height, width = flow.shape[:2]
    ys, xs = torch.meshgrid(torch.arange(height, device=image.device, dtype=torch.float32),
                            torch.arange(width, device=image.device, dtype=torch.float32), indexing="ij")
    grid = torch.stack([(xs + flow[..., 0]) / max(width - 1, 1), (ys + flow[..., 1]) / max(height - 1, 1)], -1)
    grid = (grid * 2 - 1).unsqueeze(0).expand(image.shape[0], -1, -1, -1)  # (N, H, W, 2) in [-1, 1]
    return F.grid_sample(image, grid.to(image.dtype), mode=mode, padding_mode="border", align_corners=True)


def _gray(frame: Image.Image | np.ndarray) -> np.ndarray:
    array = np.asarray(frame.convert("RGB") if isinstance(frame, Image.Image) else frame, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2GRAY)
