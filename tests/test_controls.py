"""Perceptual controls (Gatys et al. 2017): spatial masks, scale control and colour control."""

import pytest
import torch
from PIL import Image

import impasto
from impasto import TransferConfig
from impasto.color import COLOR_MATCH_METHODS, match_colors, match_histogram, rgb_to_yiq
from impasto.losses import gram_matrix
from impasto.masks import layer_masks

from .conftest import EXAMPLES, small

PHOTO, STARRY, SCREAM = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg", EXAMPLES / "the_scream.jpg"
SKY, TOWN = EXAMPLES / "tubingen_sky.png", EXAMPLES / "tubingen_town.png"
TINY = TransferConfig(size=64, iterations=60, seed=0)


def gram_distance(vgg, image: torch.Tensor, style: torch.Tensor, layer: str, mask: torch.Tensor | None = None) -> float:
    """Relative distance of per-position Grams at `layer`, the image's taken inside `mask` only."""
    ours, theirs = vgg(image, [layer])[layer], vgg(style, [layer])[layer]
    if mask is not None:
        guide = layer_masks(mask, [layer])[layer]
        g = gram_matrix(ours * guide) / guide.pow(2).sum()
    else:
        g = gram_matrix(ours) / ours[0, 0].numel()
    a = gram_matrix(theirs) / theirs[0, 0].numel()
    return ((g - a).norm() / a.norm()).item()


def test_each_masked_region_takes_its_own_style(vgg) -> None:
    result = impasto.transfer(PHOTO, [STARRY, SCREAM], TINY.replace(masks=(SKY, TOWN)))
    sky = (small(SKY, 64).mean(1, keepdim=True) > 0.5).float()
    town = 1 - sky
    starry, scream = small(STARRY, 64), small(SCREAM, 64)
    for layer in ("conv1_1", "conv2_1", "conv3_1"):
        image = result.image
        assert gram_distance(vgg, image, starry, layer, sky) < gram_distance(vgg, image, scream, layer, sky)
        assert gram_distance(vgg, image, scream, layer, town) < gram_distance(vgg, image, starry, layer, town)


def test_regions_without_a_mask_keep_the_content() -> None:
    result = impasto.transfer(PHOTO, [STARRY], TINY.replace(masks=(SKY,), iterations=30))
    photo, town = small(PHOTO, 64), small(TOWN, 64).mean(1, keepdim=True) > 0.5
    inside = (result.image - photo).abs().mean(1, keepdim=True)
    assert inside[town].mean() < 0.5 * inside[~town].mean()


def test_layer_masks_follow_the_pooling_and_erode_the_border() -> None:
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :, :16] = 1  # the left half
    guides = layer_masks(mask, ["conv1_1", "conv2_1", "conv5_1"])
    assert guides["conv1_1"].shape == (1, 1, 32, 32) and guides["conv5_1"].shape == (1, 1, 2, 2)
    assert guides["conv1_1"][0, 0, :, :15].eq(1).all() and guides["conv1_1"][0, 0, :, 15:].eq(0).all()
    assert guides["conv2_1"][0, 0, :, :7].eq(1).all() and guides["conv2_1"][0, 0, :, 7:].eq(0).all()


def test_mask_errors(tmp_path) -> None:
    with pytest.raises(impasto.ConfigError, match="got 1 masks for 2 style images"):
        impasto.transfer(PHOTO, [STARRY, SCREAM], TINY.replace(masks=(SKY,)))
    square = tmp_path / "square.png"
    Image.new("L", (50, 50), 255).save(square)
    with pytest.raises(impasto.ImageError, match="another shape than the content's 512x384"):
        impasto.transfer(PHOTO, [STARRY], TINY.replace(masks=(square,)))
    larger = tmp_path / "larger.png"
    Image.new("L", (400, 300), 255).save(larger)  # another size, the same shape: resized
    assert impasto.transfer(PHOTO, [STARRY], TINY.replace(masks=(larger,), iterations=1)).image.shape[-2:] == (48, 64)


def test_scale_control_takes_fine_and_coarse_scales_from_their_sources(vgg) -> None:
    starry, scream = small(STARRY, 64), small(SCREAM, 64)
    result = impasto.transfer(PHOTO, [STARRY, SCREAM], TINY.replace(scale_split="conv3_1")).image
    swapped = impasto.transfer(PHOTO, [SCREAM, STARRY], TINY.replace(scale_split="conv3_1")).image
    for fine in ("conv1_1", "conv2_1"):  # from the first style
        assert gram_distance(vgg, result, starry, fine) < gram_distance(vgg, swapped, starry, fine)
        assert gram_distance(vgg, swapped, scream, fine) < gram_distance(vgg, result, scream, fine)
    for coarse in ("conv3_1", "conv4_1"):  # from the second
        assert gram_distance(vgg, result, scream, coarse) < gram_distance(vgg, swapped, scream, coarse)
        assert gram_distance(vgg, swapped, starry, coarse) < gram_distance(vgg, result, starry, coarse)


def test_scale_control_errors() -> None:
    with pytest.raises(impasto.ConfigError, match="needs two style images"):
        impasto.transfer(PHOTO, [STARRY], TINY.replace(scale_split="conv3_1"))
    with pytest.raises(impasto.ConfigError, match="no style layer for the first"):
        impasto.transfer(PHOTO, [STARRY, SCREAM], TINY.replace(scale_split="conv1_1"))
    with pytest.raises(impasto.ConfigError, match="style_scale has 3 values for 2 style images"):
        impasto.transfer(PHOTO, [STARRY, SCREAM], TINY.replace(style_scale=(1, 2, 3)))


def test_per_style_scales_change_the_result() -> None:
    config = TINY.replace(iterations=5)
    same = impasto.transfer(PHOTO, [STARRY, STARRY], config.replace(scale_split="conv3_1")).image
    scaled = impasto.transfer(PHOTO, [STARRY, STARRY], config.replace(scale_split="conv3_1", style_scale=(1, 2))).image
    assert not torch.allclose(same, scaled, atol=1e-3)


@pytest.mark.parametrize("method", COLOR_MATCH_METHODS)
def test_color_matching_gives_the_content_statistics(method) -> None:
    photo, painting = small(PHOTO, 64), small(STARRY, 64)
    matched = match_colors(painting, photo, method).reshape(3, -1)
    target = photo.reshape(3, -1)
    assert torch.allclose(matched.mean(1), target.mean(1), atol=0.02)
    assert torch.allclose(torch.cov(matched), torch.cov(target), atol=0.005)
    assert impasto.transfer(PHOTO, STARRY, TINY.replace(preserve_colors="match", color_match=method, iterations=1))


def test_histogram_matching_takes_the_reference_distribution() -> None:
    values, reference = torch.rand(1, 1, 30, 40), torch.randn(1, 1, 20, 20) * 0.1 + 0.4
    matched = match_histogram(values, reference)
    assert torch.allclose(matched.flatten().sort().values.quantile(torch.tensor([0.1, 0.5, 0.9])),
                          reference.flatten().quantile(torch.tensor([0.1, 0.5, 0.9])), atol=0.01)
    in_order = matched.flatten()[values.flatten().argsort()]
    assert (in_order[1:] >= in_order[:-1]).all()  # the order is kept


def test_luminance_transfer_keeps_the_content_chroma() -> None:
    photo = small(PHOTO, 64)
    kept = impasto.transfer(PHOTO, STARRY, TINY.replace(preserve_colors="luminance")).image
    plain = impasto.transfer(PHOTO, STARRY, TINY).image

    def chroma_error(image: torch.Tensor) -> float:
        return (rgb_to_yiq(image)[:, 1:] - rgb_to_yiq(photo)[:, 1:]).abs().mean().item()

    assert chroma_error(kept) < 0.01 < chroma_error(plain)
