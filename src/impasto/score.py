"""Quality figures of a stylised image, to compare runs: how close it is to the painting's style
and to the photo's content, by VGG-19 and by measures that do not use it.

Every figure is computed the same way whatever settings made the image (max pooling, float32,
per-position Gram matrices), at the output's size: the photo is resized to it, the painting to its
longest side.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from .config import PAPER_STYLE_LAYERS
from .device import resolve_device
from .images import ImageSource, load_image, resize_longest, shape_at_most, to_tensor
from .losses import gram_matrix
from .vgg import load_vgg19

__all__ = ["Score", "score", "texture_distance"]

CONTENT_LAYER = "conv4_2"
STRUCTURE_SIDE = 256  # px: the longest side at which `Score.structure` compares edges
_STRONGEST = 0.1  # the share of the photo's pixels whose edges `Score.structure` looks for
_DIRECTIONS = 64  # random projections of the sliced Wasserstein distance
_QUANTILES = 256
TEXTURE_FILTERS = (3, 5, 7)  # px: the sides of `Score.texture`'s random filters
TEXTURE_SCALES = 3  # full, half and quarter resolution
_TEXTURE_CHANNELS = 64  # random filters of each side


@dataclass(frozen=True)
class Score:
    """Quality figures of one image against a photo and a painting."""

    style: dict[str, float]
    """Per style layer, |G - A| / |A| for per-position Gram matrices: 0 is the painting's statistics."""
    content: float
    """|F - P| / |P| at conv4_2: 0 is the photo's content."""
    color: float
    """Sliced Wasserstein distance between the RGB colours of the image and of the painting, in
    units of the [0, 1] range: 0 is the painting's palette."""
    edges: float
    """Correlation of the image's edge strength (Sobel, on luminance) with the photo's: 1 keeps its
    structure exactly, 0 none of it."""
    outlines: float
    """The same correlation on both images averaged over 4 x 4 pixels: the outlines of the photo's
    main elements, which a painting's strokes should not replace (calibrated on the tuning grid of
    benchmarks/RESULTS.md: 0.5 and above kept them on every pair looked at)."""
    structure: float
    """Whether the photo's strong edges are still there, whatever the painting adds elsewhere: at
    `STRUCTURE_SIDE` px (brush texture averaged out), over the photo's strongest tenth of edge
    strength, the mean rank of the image's edge strength at the same places (within a pixel) among
    all of the image's, scaled so that the photo itself scores 1 and an unrelated image 0.
    Calibrated by eye on the 48 images of two tuning grids (benchmarks/RESULTS.md): under 0.6 the
    photo's lines had faded into the painting's strokes (a dome's outline, a face, a mane); 0.65-0.8
    kept the main elements, the finer lines in part; from about 0.8 the finer lines (window rows, a
    far tower, whiskers) were there too. It does not see forms the painting adds (an eye of
    Picasso's in the sky): those lower no edge of the photo."""

    texture: float
    """Fine texture apart from the network we optimise through (after Ustyuzhaninov et al., "Texture
    Synthesis Using Shallow Convolutional Networks with Random Filters", 2016): a fixed random
    one-layer network (64 rectified filters of each of 3, 5 and 7 px, each zero-mean in every colour
    so flat colour gives no response and is judged by `color` alone) at full, half and quarter
    resolution; the mean over these 9 of |G - A| / |A| for per-position Gram matrices. 0 is the
    painting's texture; a blurred image or the photo's own detail scores high."""

    @property
    def style_mean(self) -> float:
        """The mean of the per-layer style distances."""
        return sum(self.style.values()) / len(self.style)

    def to_dict(self) -> dict[str, Any]:
        """The figures as plain JSON-able values."""
        return {**asdict(self), "style_mean": self.style_mean}


@torch.no_grad()
def score(
    image: ImageSource,
    content: ImageSource,
    style: ImageSource,
    device: str = "cpu",
    max_pixels: int = 50_000_000,
) -> Score:
    """Score `image` (a stylised photo) against the `content` photo and the `style` painting."""
    output = load_image(image, max_pixels, "image")
    torch_device = resolve_device(device)
    x = to_tensor(output, torch_device)
    photo = to_tensor(load_image(content, max_pixels, "content").resize(output.size), torch_device)
    painting = to_tensor(resize_longest(load_image(style, max_pixels, "style"), max(output.size)), torch_device)
    vgg = load_vgg19(device=torch_device)
    layers = [*PAPER_STYLE_LAYERS, CONTENT_LAYER]
    ours, photo_features, painting_features = vgg(x, layers), vgg(photo, [CONTENT_LAYER]), vgg(painting, layers)
    return Score(
        style={name: _relative(_gram(ours[name]), _gram(painting_features[name])) for name in PAPER_STYLE_LAYERS},
        content=_relative(ours[CONTENT_LAYER], photo_features[CONTENT_LAYER]),
        color=_sliced_wasserstein(x, painting),
        edges=_correlation(_edge_strength(x), _edge_strength(photo)),
        outlines=_correlation(_edge_strength(F.avg_pool2d(x, 4)), _edge_strength(F.avg_pool2d(photo, 4))),
        structure=_structure(x, photo),
        texture=texture_distance(x, painting),
    )


def texture_distance(image: torch.Tensor, painting: torch.Tensor) -> float:
    """`Score.texture` of `image` against `painting`, both (1, 3, H, W) in [0, 1]; any sizes (a filter
    is left out at a scale where either image is smaller than it)."""
    shortest = min(*image.shape[-2:], *painting.shape[-2:])
    distances = []
    for side, filters in zip(TEXTURE_FILTERS, _random_filters(), strict=True):
        for scale in range(TEXTURE_SCALES):
            if shortest // 2**scale < side:
                continue
            ours, theirs = (_gram(F.relu(F.conv2d(F.avg_pool2d(x.cpu(), 2**scale) if scale else x.cpu(), filters)))
                            for x in (image, painting))
            distances.append(_relative(ours, theirs))
    return sum(distances) / len(distances) if distances else math.nan


def _random_filters() -> list[torch.Tensor]:
    """The texture figure's fixed filters, (64, 3, k, k) for each side k: Gaussian, zero-mean over
    each colour's k x k taps, unit norm."""
    generator = torch.Generator().manual_seed(0)
    banks = []
    for side in TEXTURE_FILTERS:
        bank = torch.randn(_TEXTURE_CHANNELS, 3, side, side, generator=generator)
        bank = bank - bank.mean(dim=(2, 3), keepdim=True)
        banks.append(bank / bank.flatten(1).norm(dim=1).view(-1, 1, 1, 1))
    return banks


def _gram(features: torch.Tensor) -> torch.Tensor:
    return gram_matrix(features) / features[0, 0].numel()


def _relative(ours: torch.Tensor, target: torch.Tensor) -> float:
    return ((ours - target).norm() / target.norm().clamp_min(1e-12)).item()


def _sliced_wasserstein(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over fixed random directions of the 1-D Wasserstein-1 distance between the projected
    pixel colours of `a` and `b` (1, 3, H, W), compared at equally spaced quantiles."""
    directions = F.normalize(torch.randn(3, _DIRECTIONS, generator=torch.Generator().manual_seed(0)), dim=0)
    levels = torch.linspace(0, 1, _QUANTILES)

    def quantiles(image: torch.Tensor) -> torch.Tensor:
        projected = image[0].flatten(1).T.cpu() @ directions  # (pixels, directions)
        return torch.quantile(projected, levels, dim=0)

    return (quantiles(a) - quantiles(b)).abs().mean().item()


def _edge_strength(image: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of the luminance, (H - 2) x (W - 2)."""
    luma = (image[:, :1] * 0.299 + image[:, 1:2] * 0.587 + image[:, 2:] * 0.114).cpu()
    sobel_x = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    gx, gy = F.conv2d(luma, sobel_x), F.conv2d(luma, sobel_x.transpose(2, 3))
    return (gx.pow(2) + gy.pow(2)).sqrt()


def _structure(image: torch.Tensor, photo: torch.Tensor) -> float:
    """`Score.structure` of `image` against `photo`, both (1, 3, H, W)."""
    shape = shape_at_most((image.shape[-2], image.shape[-1]), STRUCTURE_SIDE, least=3)
    ours, theirs = (_edge_strength(F.interpolate(x, size=shape, mode="area")).flatten() for x in (image, photo))
    strongest = theirs >= theirs.quantile(1 - _STRONGEST)

    def rank_at_strongest(edges: torch.Tensor) -> float:
        edges = F.max_pool2d(edges.view(1, 1, *[n - 2 for n in shape]), 3, stride=1, padding=1).flatten()
        ranks = torch.empty_like(edges)  # an edge a pixel away counts
        ranks[edges.argsort()] = torch.linspace(0, 1, edges.numel())
        return ranks[strongest].mean().item()

    return (rank_at_strongest(ours) - 0.5) / max(rank_at_strongest(theirs) - 0.5, 1e-6)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return (a @ b / (a.norm() * b.norm()).clamp_min(1e-12)).item()
