"""Style transfer end to end on small real images with the real weights."""

import math

import pytest
import torch
from PIL import Image

import impasto
from impasto import TransferConfig
from impasto.color import match_colors, rgb_to_yiq
from impasto.losses import gram_matrix

from .conftest import EXAMPLES, small

STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
TINY = TransferConfig(size=64, iterations=30, seed=0, device="cpu")


def relative_gram_distances(vgg, image: torch.Tensor, style: torch.Tensor) -> dict[str, float]:
    """Per style layer, |G - A| / |A| with Grams normalised per position (sizes may differ)."""
    ours, theirs = vgg(image, STYLE_LAYERS), vgg(style, STYLE_LAYERS)
    distances = {}
    for name in STYLE_LAYERS:
        g = gram_matrix(ours[name]) / ours[name][0, 0].numel()
        a = gram_matrix(theirs[name]) / theirs[name][0, 0].numel()
        distances[name] = ((g - a).norm() / a.norm()).item()
    return distances


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / ((a - b) ** 2).mean().item())


def test_lbfgs_loss_falls(content_path, style_path) -> None:
    losses: list[float] = []
    impasto.transfer(content_path, style_path, TINY.replace(iterations=40, init="noise"), losses.append)
    values = [event.loss for event in losses]
    assert [event.step for event in losses] == list(range(1, 41))
    assert values[-1] < 0.2 * values[0]
    rises = sum(b > a for a, b in zip(values, values[1:], strict=False))
    assert rises <= 4, f"the loss rose {rises} times in 40 L-BFGS steps"


def test_adam_loss_falls(content_path, style_path) -> None:
    events: list[impasto.Progress] = []
    impasto.transfer(content_path, style_path, TINY.replace(optimizer="adam", init="noise"), events.append)
    assert events[-1].loss < 0.5 * events[0].loss


def test_content_reconstruction_from_conv1_2_is_close() -> None:
    photo = small(EXAMPLES / "tubingen.jpg", 64)
    # In float32: bfloat16's 8-bit mantissa loses the finest detail (25 dB rather than 28 here).
    config = TINY.replace(iterations=300, init="noise", style_weight=0, content_layers="conv1_2", precision="fp32")
    result = impasto.transfer(photo, photo, config)
    assert psnr(result.image, photo) > 27


def test_transfer_moves_style_statistics_toward_the_style(vgg, content_path, style_path) -> None:
    photo, painting = small(content_path, 64), small(style_path, 64)
    result = impasto.transfer(photo, painting, TINY.replace(iterations=60))
    before = relative_gram_distances(vgg, photo, painting)
    after = relative_gram_distances(vgg, result.image, painting)
    assert all(after[name] < 0.7 * before[name] for name in STYLE_LAYERS), (before, after)
    assert sum(after.values()) < 0.5 * sum(before.values()), (before, after)
    # ... while keeping the photo's layout: closer to the photo than to the painting.
    assert psnr(result.image, photo) > psnr(
        result.image, torch.nn.functional.interpolate(painting, size=photo.shape[-2:], mode="bilinear")
    )


def test_texture_synthesis_with_zero_content_weight(vgg, content_path, style_path) -> None:
    painting = small(style_path, 64)
    result = impasto.transfer(content_path, style_path, TINY.replace(content_weight=0, init="noise", iterations=60))
    noise = 0.5 + 0.1 * torch.randn_like(result.image)
    before = relative_gram_distances(vgg, noise, painting)
    after = relative_gram_distances(vgg, result.image, painting)
    assert all(after[name] < 0.7 * before[name] for name in STYLE_LAYERS), (before, after)
    assert sum(after.values()) < 0.4 * sum(before.values()), (before, after)


def test_same_seed_same_image_other_seed_other_image(content_path, style_path) -> None:
    config = TINY.replace(iterations=5, init="noise")
    first = impasto.transfer(content_path, style_path, config).image
    again = impasto.transfer(content_path, style_path, config).image
    other = impasto.transfer(content_path, style_path, config.replace(seed=1)).image
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_random_seed_is_drawn_and_recorded(content_path, style_path) -> None:
    result = impasto.transfer(content_path, style_path, TINY.replace(seed=None, iterations=1, init="noise"))
    assert isinstance(result.config.seed, int)
    replay = impasto.transfer(content_path, style_path, result.config)
    assert torch.equal(result.image, replay.image)


def test_style_blend_weights(content_path, style_path, scream_path) -> None:
    config = TINY.replace(iterations=5)
    alone = impasto.transfer(content_path, style_path, config).image
    only_first = impasto.transfer(content_path, [style_path, scream_path], config.replace(style_blend=(1, 0))).image
    mixed = impasto.transfer(content_path, [style_path, scream_path], config).image
    assert torch.allclose(alone, only_first, atol=1e-5)
    assert not torch.allclose(alone, mixed, atol=1e-3)


def test_style_blend_needs_one_weight_per_style(content_path, style_path) -> None:
    with pytest.raises(impasto.ConfigError, match="2 weights for 1 style"):
        impasto.transfer(content_path, style_path, TINY.replace(style_blend=(1, 2)))


def test_style_scale_and_tv_weight_take_effect(content_path, style_path) -> None:
    base = impasto.transfer(content_path, style_path, TINY).image
    scaled = impasto.transfer(content_path, style_path, TINY.replace(style_scale=2.0)).image
    assert not torch.allclose(base, scaled, atol=1e-3)
    smooth = impasto.transfer(content_path, style_path, TINY.replace(tv_weight=1e10)).image

    def tv(image: torch.Tensor) -> float:
        return (image[..., 1:, :] - image[..., :-1, :]).abs().mean().item()

    assert tv(smooth) < 0.8 * tv(base)


def test_preserve_colors_luminance_keeps_the_content_chroma(content_path, style_path) -> None:
    photo = small(content_path, 64)
    plain = impasto.transfer(content_path, style_path, TINY).image
    kept = impasto.transfer(content_path, style_path, TINY.replace(preserve_colors="luminance")).image

    def chroma_error(image: torch.Tensor) -> float:
        return (rgb_to_yiq(image)[:, 1:] - rgb_to_yiq(photo)[:, 1:]).abs().mean().item()

    assert chroma_error(kept) < 0.01
    assert chroma_error(kept) < 0.25 * chroma_error(plain)


def test_match_colors_gives_the_content_mean_and_covariance(content_path, style_path) -> None:
    photo, painting = small(content_path, 64), small(style_path, 64)
    matched = match_colors(painting, photo)
    pixels, target = matched.reshape(3, -1), photo.reshape(3, -1)
    assert torch.allclose(pixels.mean(1), target.mean(1), atol=0.02)
    assert torch.allclose(torch.cov(pixels), torch.cov(target), atol=0.005)
    result = impasto.transfer(content_path, style_path, TINY.replace(preserve_colors="match"))
    assert result.image.shape == photo.shape


@pytest.mark.parametrize("init", ["content", "style", "file"])
def test_init_modes(init, content_path, style_path, scream_path) -> None:
    config = TINY.replace(iterations=0, init=str(scream_path) if init == "file" else init)
    image = impasto.transfer(content_path, style_path, config).image
    assert image.shape == (1, 3, 48, 64)
    if init == "content":
        assert torch.allclose(image, small(content_path, 64))


def test_api_takes_paths_pil_images_and_tensors(content_path, style_path) -> None:
    photo = Image.open(content_path)
    painting = small(style_path, 64)[0]  # (3, H, W)
    events: list[impasto.Progress] = []
    image = impasto.stylize(photo, painting, size=48, iterations=3, seed=0, callback=events.append)
    assert isinstance(image, Image.Image)
    assert image.size == (48, 36)
    assert len(events) == 3 and events[-1].image.shape == (1, 3, 36, 48)
    assert events[-1].rate > 0 and events[-1].eta == pytest.approx(0)


def test_nan_is_caught_and_the_last_good_image_kept(content_path, style_path) -> None:
    with pytest.raises(impasto.NonFiniteLoss, match="the loss became") as caught:
        impasto.transfer(content_path, style_path, TINY.replace(normalization="paper", style_weight=1e38))
    assert caught.value.image is not None and torch.isfinite(caught.value.image).all()


def test_a_callback_returning_true_stops_the_run_with_the_current_image(content_path, style_path) -> None:
    steps: list[int] = []

    def stop_at_five(event: impasto.Progress) -> bool:
        steps.append(event.step)
        return event.step == 5

    with pytest.raises(impasto.Interrupted, match="stopped after 5 iterations") as caught:
        impasto.transfer(content_path, style_path, TINY, stop_at_five)
    assert steps == [1, 2, 3, 4, 5]
    assert caught.value.step == 5 and caught.value.image is not None and caught.value.image.shape[0] == 1


def test_the_iterations_taken_are_counted(content_path, style_path, tmp_path) -> None:
    """`early_stop` ends levels early: the result, its metadata and the CLI count the steps taken."""
    config = TINY.replace(iterations=60, early_stop=0.5)  # a level ends once its loss falls < 50% in 10 steps
    result = impasto.transfer(content_path, style_path, config)
    assert 10 < result.steps < 60
    meta = result.metadata()
    assert meta["iterations_done"] == result.steps and meta["finished"] is True
