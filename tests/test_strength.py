"""The style strength and the painting's palette (the defaults' levers), measured on real images:
the bundled photo with The Shipwreck, whose browns and greys the photo does not have."""

import pytest
import torch

import impasto
from impasto import TransferConfig
from impasto.color import match_colors
from impasto.score import score

from .conftest import EXAMPLES, small

PHOTO, SHIPWRECK = EXAMPLES / "tubingen.jpg", EXAMPLES / "shipwreck.jpg"
TINY = TransferConfig(size=64, iterations=40, seed=0)


def test_strength_zero_keeps_the_photo() -> None:
    result = impasto.transfer(PHOTO, SHIPWRECK, TINY.replace(strength=0.0))

    assert torch.allclose(result.image, small(PHOTO, 64), atol=1e-6)


def test_each_step_of_strength_moves_toward_the_painting() -> None:
    figures = [score(impasto.transfer(PHOTO, SHIPWRECK, TINY.replace(strength=s)).image, PHOTO, SHIPWRECK)
               for s in (0.25, 0.5, 0.75)]

    styles, contents = [f.style_mean for f in figures], [f.content for f in figures]
    assert styles[0] > styles[1] > styles[2]
    assert contents[0] < contents[1] < contents[2]


def test_strength_half_leaves_the_weights_as_given() -> None:
    config = TransferConfig(content_weight=2.0, style_weight=7.0, palette_weight=3.0)

    assert (config.alpha, config.beta, config.palette) == (2.0, 7.0, 3.0)
    assert config.replace(strength=0.75).beta / config.replace(strength=0.75).alpha == pytest.approx(3 * 7 / 2)


def test_the_palette_term_takes_the_paintings_colours() -> None:
    assert TransferConfig().palette_weight > 0
    plain = impasto.transfer(PHOTO, SHIPWRECK, TINY.replace(palette_weight=0.0)).image
    painted = impasto.transfer(PHOTO, SHIPWRECK, TINY.replace(palette_weight=TransferConfig().palette_weight)).image
    recoloured = match_colors(small(PHOTO, 64), small(SHIPWRECK, 64))

    plain_colour, painted_colour = (score(image, PHOTO, SHIPWRECK).color for image in (plain, painted))
    assert painted_colour < 0.7 * plain_colour
    assert painted_colour < score(recoloured, PHOTO, SHIPWRECK).color


def test_preserve_colors_still_keeps_the_photos_colours_with_the_palette_term() -> None:
    result = impasto.transfer(PHOTO, SHIPWRECK, TINY.replace(preserve_colors="match"))

    photo_colour = score(result.image, PHOTO, PHOTO).color
    assert photo_colour < score(result.image, PHOTO, SHIPWRECK).color
