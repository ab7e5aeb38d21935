"""The paper's first findings as numbers: what each layer keeps of an image, on the real weights."""

import pytest
import torch

import impasto
from impasto import TransferConfig
from impasto.figures import FIGURE_DEFAULTS, FIGURES, make_figure
from impasto.losses import gram_matrix

from .conftest import EXAMPLES, small

PHOTO, PAINTING = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"
STYLE_LAYERS = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")


def relative_error(image: torch.Tensor, reference: torch.Tensor) -> float:
    return ((image - reference).norm() / reference.norm()).item()


def best_shift_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest normalised correlation of the luminances of a and b over all circular shifts."""
    x, y = a.mean(1)[0], b.mean(1)[0]  # (H, W)
    x, y = (x - x.mean()) / x.std(), (y - y.mean()) / y.std()
    correlation = torch.fft.ifft2(torch.fft.fft2(x) * torch.fft.fft2(y).conj()).real / x.numel()
    return correlation.max().item()


def style_distance(vgg, image: torch.Tensor, style: torch.Tensor) -> float:
    """Sum over the style layers of the relative distance of per-position Gram matrices."""
    ours, theirs = vgg(image, STYLE_LAYERS), vgg(style, STYLE_LAYERS)
    total = 0.0
    for name in STYLE_LAYERS:
        g = gram_matrix(ours[name]) / ours[name][0, 0].numel()
        a = gram_matrix(theirs[name]) / theirs[name][0, 0].numel()
        total += ((g - a).norm() / a.norm()).item()
    return total


def test_content_reconstructions_lose_detail_with_depth() -> None:
    photo = small(PHOTO, 64)
    errors = [relative_error(impasto.reconstruct_content(photo, layer, size=64, iterations=120, seed=0).image, photo)
              for layer in ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")]
    assert errors == sorted(errors), errors
    assert errors[0] < 0.12, errors  # near-perfect from conv1_2
    assert errors[-1] > 2 * errors[0], errors  # only the layout from conv5_2


def test_texture_matches_the_grams_but_not_the_arrangement() -> None:
    painting = small(PAINTING, 64)  # 64x40
    layers = ("conv1_1", "conv2_1", "conv3_1")
    events: list[impasto.Progress] = []
    texture = impasto.synthesize_texture(PAINTING, layers, (64, 40), iterations=150, seed=0,
                                         callback=events.append).image
    assert events[-1].style < 1e-2 * events[0].style  # orders of magnitude from white noise
    # A reconstruction from conv2_2 keeps the painting's arrangement; the texture does not.
    copy = impasto.reconstruct_content(PAINTING, "conv2_2", size=64, iterations=150, seed=0).image
    assert best_shift_correlation(copy, painting) > 0.8
    assert best_shift_correlation(texture, painting) < 0.5


def test_texture_size_is_free() -> None:
    wide = impasto.synthesize_texture(PAINTING, "conv1_1,conv2_1", (96, 32), iterations=2, seed=0)
    assert wide.image.shape == (1, 3, 32, 96)
    assert wide.config.size == 96 and wide.config.content_weight == 0
    aspect = impasto.synthesize_texture(PAINTING, ["conv1_1"], 64, iterations=1, seed=0)
    assert aspect.image.shape == (1, 3, 40, 64)  # the painting's 1024x640


def test_alpha_over_beta_moves_the_output_from_style_to_content(vgg) -> None:
    photo, painting = small(PHOTO, 64), small(PAINTING, 64)
    content_distances, style_distances = [], []
    # At 64 px the balance tips where alpha/beta is about 1 (at the paper's 512 px, about 1e-3).
    for ratio in (1e-1, 1, 10, 100):
        config = TransferConfig(size=64, iterations=50, seed=0, init="noise", style_weight=1 / ratio)
        image = impasto.transfer(photo, painting, config).image
        content_distances.append(relative_error(vgg(image, ["conv4_2"])["conv4_2"],
                                                vgg(photo, ["conv4_2"])["conv4_2"]))
        style_distances.append(style_distance(vgg, image, painting))
    assert content_distances == sorted(content_distances, reverse=True), content_distances
    assert style_distances == sorted(style_distances), style_distances


def test_reconstructions_refuse_bad_layers_and_sizes() -> None:
    with pytest.raises(impasto.ConfigError, match="did you mean conv4_2"):
        impasto.reconstruct_content(PHOTO, "conv4_22")
    with pytest.raises(impasto.ConfigError, match="at least one style layer"):
        impasto.synthesize_texture(PAINTING, [])
    with pytest.raises(impasto.ImageError, match="12x12 px, too small for conv5_1, which needs at least 16 px"):
        impasto.synthesize_texture(PAINTING, size=(12, 12), iterations=1)
    with pytest.raises(impasto.ImageError, match="too small for conv5_2"):
        impasto.reconstruct_content(PHOTO, "conv5_2", size=12, iterations=1)


@pytest.mark.parametrize("name, panels", [("reconstructions", 10), ("tradeoff", 20), ("layers", 2), ("init", 5),
                                          ("styles", 2), ("controls", 10)])
def test_every_figure_runs_its_panels(name, panels) -> None:
    seen: set[tuple[int, int, str]] = set()
    image = make_figure(name, str(PHOTO), [PAINTING, EXAMPLES / "the_scream.jpg"],
                        FIGURE_DEFAULTS.replace(size=32, iterations=1, seed=0),
                        lambda number, total, caption, event: seen.add((number, total, caption)))
    assert {total for _, total, _ in seen} == {panels}
    assert max(number for number, _, _ in seen) == panels  # every panel ran (a mask panel reports nothing)
    assert image.width >= 640 and image.height > 32 * 3
    assert image.getextrema() != ((255, 255), (255, 255), (255, 255))


def test_unknown_figure_lists_the_valid_ones() -> None:
    with pytest.raises(impasto.ConfigError, match="unknown figure 'fig1'; valid figures: " + ", ".join(FIGURES)):
        make_figure("fig1", PHOTO, [PAINTING])
