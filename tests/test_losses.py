"""Gram matrices and losses against values computed by hand."""

import math

import pytest
import torch
from PIL import Image

from impasto import TransferConfig
from impasto.images import to_tensor
from impasto.losses import (
    color_quantiles,
    content_loss,
    gaussian_w2,
    gram_matrix,
    mean_and_covariance,
    palette_loss,
    style_layer_loss,
    tv_loss,
)
from impasto.objective import StyleImage, _Palette

from .conftest import EXAMPLES


def test_gram_matrix_by_hand() -> None:
    # Two channels over three positions: F = [[1, 2, 0], [0, 1, 3]].
    features = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0]]).reshape(1, 2, 1, 3)
    expected = torch.tensor([[[5.0, 2.0], [2.0, 10.0]]])  # F F^T
    assert torch.equal(gram_matrix(features), expected)


def test_gram_matrix_is_symmetric_and_batched() -> None:
    features = torch.rand(2, 4, 3, 5)
    gram = gram_matrix(features)
    assert gram.shape == (2, 4, 4)
    assert torch.allclose(gram, gram.transpose(1, 2))


def test_content_loss_is_half_the_squared_error() -> None:
    features = torch.tensor([1.0, 2.0, 3.0]).reshape(1, 1, 1, 3)
    target = torch.tensor([1.0, 0.0, 6.0]).reshape(1, 1, 1, 3)
    assert content_loss(features, target).item() == pytest.approx(0.5 * (0 + 4 + 9))


def test_style_layer_loss_uses_the_papers_normalisation() -> None:
    # N = 2 maps, M = 3 positions: E = sum (G - A)^2 / (4 N^2 M^2).
    gram = torch.tensor([[[5.0, 2.0], [2.0, 10.0]]])
    target = torch.tensor([[[1.0, 0.0], [0.0, 4.0]]])
    expected = (16 + 4 + 4 + 36) / (4 * 2**2 * 3**2)
    assert style_layer_loss(gram, target, positions=3).item() == pytest.approx(expected)


def test_style_layer_loss_at_print_size() -> None:
    # conv1_1 of an 8192x6144 image: 4 N^2 M^2 = 4e19 does not fit an int64.
    positions = 8192 * 6144
    gram, target = torch.full((1, 64, 64), 2.0 * positions), torch.full((1, 64, 64), 1.0 * positions)
    expected = 64**2 * positions**2 / (4 * 64**2 * positions**2)
    assert style_layer_loss(gram, target, positions=positions).item() == pytest.approx(expected)


def test_style_layer_loss_is_zero_for_the_target_itself() -> None:
    features = torch.rand(1, 8, 4, 4)
    gram = gram_matrix(features)
    assert style_layer_loss(gram, gram.clone(), positions=16).item() == 0


def test_tv_loss_of_a_checkerboard() -> None:
    # A 2x2 checkerboard has 2 horizontal and 2 vertical neighbour pairs, each differing by 1.
    board = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).expand(1, 3, 2, 2)
    assert tv_loss(board).item() == pytest.approx(3 * 4)
    assert tv_loss(torch.full((1, 3, 5, 5), 0.3)).item() == 0


def test_losses_have_gradients() -> None:
    features = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    target = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    target_gram = gram_matrix(target)
    assert torch.autograd.gradcheck(lambda f: content_loss(f, target), (features,))
    assert torch.autograd.gradcheck(lambda f: style_layer_loss(gram_matrix(f).double(), target_gram, 16), (features,))


def test_w2_distance_between_gaussians_by_hand() -> None:
    # Diagonal covariances: W2^2 = |m1 - m2|^2 + sum (sqrt(s1) - sqrt(s2))^2.
    mean, target_mean = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    cov, target_cov = torch.diag(torch.tensor([4.0, 1.0])), torch.diag(torch.tensor([1.0, 9.0]))
    expected = (1 + 4) + (2 - 1) ** 2 + (1 - 3) ** 2
    assert gaussian_w2(mean, cov, target_mean, target_cov.sqrt()).item() == pytest.approx(expected, rel=1e-5)
    assert gaussian_w2(mean, cov, mean, cov.sqrt()).item() == pytest.approx(0, abs=1e-5)


def test_mean_and_covariance_of_features_with_weights() -> None:
    features = torch.tensor([[1.0, 3.0, 5.0], [0.0, 0.0, 6.0]]).reshape(1, 2, 1, 3)
    mean, cov = mean_and_covariance(features)
    assert torch.allclose(mean, torch.tensor([3.0, 2.0]))
    assert torch.allclose(cov, torch.tensor([[8 / 3, 4.0], [4.0, 8.0]]))
    weights = torch.tensor([1.0, 1.0, 0.0]).reshape(1, 1, 1, 3)  # the last position does not count
    assert torch.allclose(mean_and_covariance(features, weights)[0], torch.tensor([2.0, 0.0]))


def test_palette_loss_counts_colours_not_where_they_are() -> None:
    image = torch.rand(1, 3, 6, 8)
    directions = torch.nn.functional.normalize(torch.randn(3, 5), dim=0)
    quantiles = color_quantiles([image], [1.0], directions, 48)
    shuffled = image.flatten(2)[..., torch.randperm(48)].reshape(1, 3, 6, 8)
    assert palette_loss(shuffled, quantiles, directions).item() == pytest.approx(0, abs=1e-12)
    assert palette_loss(image * 0.5, quantiles, directions).item() > 0.01


def test_palette_of_a_blend_mixes_the_colours_by_share() -> None:
    # A quarter black, three quarters white, sampled at 8 levels along the grey axis.
    black, white = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 4, 4)
    grey = torch.full((3, 1), 3**-0.5)
    quantiles = color_quantiles([black, white], [0.25, 0.75], grey, 8)[:, 0] / 3**0.5
    assert quantiles.tolist() == pytest.approx([0, 0, 1, 1, 1, 1, 1, 1], abs=1e-6)


def test_a_large_paintings_palette_is_read_from_a_sample_of_its_pixels() -> None:
    original = Image.open(EXAMPLES / "starry_night.jpg").convert("RGB")
    painting = to_tensor(original.resize((2560, 1600), Image.Resampling.BICUBIC))
    palette = _Palette([StyleImage(painting, 1.0)], TransferConfig(seed=0), (6144, 8192))
    every_pixel = color_quantiles([painting], [1.0], palette.directions, math.prod(palette.shape))
    assert painting[0, 0].numel() > _Palette.SAMPLES  # sampled every other row and column
    assert (palette.quantiles - every_pixel).abs().max().item() < 0.01
