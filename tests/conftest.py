"""Shared fixtures: the bundled example images, small, and the real VGG-19."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from impasto.images import EXAMPLES, resize_longest, to_tensor
from impasto.vgg import VGG19, load_vgg19


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def vgg() -> VGG19:
    return load_vgg19()


@pytest.fixture(scope="session")
def content_path() -> Path:
    return EXAMPLES / "tubingen.jpg"


@pytest.fixture(scope="session")
def style_path() -> Path:
    return EXAMPLES / "starry_night.jpg"


@pytest.fixture(scope="session")
def scream_path() -> Path:
    return EXAMPLES / "the_scream.jpg"


def small(path: Path, size: int) -> torch.Tensor:
    """An example image resized to `size` px on its longest side, (1, 3, H, W) in [0, 1]."""
    return to_tensor(resize_longest(Image.open(path).convert("RGB"), size))
