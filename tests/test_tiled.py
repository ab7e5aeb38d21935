"""The tiled objective: the same loss and pixel gradient as the untiled one, block by block."""

from __future__ import annotations

import pytest
import torch

from impasto.config import TransferConfig
from impasto.errors import ConfigError
from impasto.images import EXAMPLES
from impasto.objective import Objective, StyleImage
from impasto.tiled import ALIGN, TiledObjective, blocks, halo, stride
from impasto.vgg import load_vgg19

from .conftest import small

SIZE, BLOCK = 96, 48  # a 96x72 image in 2 x 2 blocks
# Layers to conv3_1 need a halo of 16 px: a 96x72 image in 32 px blocks has crops of at most 64 px,
# cut inside the image (so the halo, not the image's edge, is what makes them exact).
SHALLOW = TransferConfig(content_layers="conv2_2", style_layers="conv1_1,conv2_1,conv3_1")


def test_the_halo_covers_the_reach_of_the_deepest_layer() -> None:
    assert halo(["conv5_1"]) == 80  # 5 positions of stride 16
    assert halo(["conv1_1", "conv4_2"]) == 48  # 5 positions of stride 8 = 40 px, on the 16 px grid
    assert halo(["conv1_1"]) == 16
    assert [stride(name) for name in ("conv1_1", "conv2_1", "conv3_1", "conv4_2", "conv5_1")] == [1, 2, 4, 8, 16]


@pytest.mark.parametrize("shape", [(96, 128), (97, 250), (300, 33), (16, 16)])
def test_blocks_tile_the_image_on_the_16_px_grid(shape: tuple[int, int]) -> None:
    grid = blocks(shape, 64, 80)
    owned = torch.zeros(shape, dtype=torch.int32)
    for block in grid:
        owned[block.top: block.bottom, block.left: block.right] += 1
        assert block.top % ALIGN == 0 and block.left % ALIGN == 0
        assert block.crop_top % ALIGN == 0 and block.crop_left % ALIGN == 0
        assert block.crop_top == max(0, block.top - 80) and block.crop_bottom == min(shape[0], block.bottom + 80)
        assert block.bottom - block.top <= 64 + ALIGN
    assert (owned == 1).all()  # every pixel is owned by exactly one block


def _images(config: TransferConfig, masks: bool = False, split: bool = False, dtype=torch.float32):
    content = small(EXAMPLES / "tubingen.jpg", SIZE).to(dtype)
    starry, scream = (small(EXAMPLES / name, 80).to(dtype) for name in ("starry_night.jpg", "the_scream.jpg"))
    if masks:
        sky, town = (small(EXAMPLES / f"tubingen_{name}.png", SIZE)[:, :1].to(dtype) for name in ("sky", "town"))
        styles = [StyleImage(starry, mask=sky), StyleImage(scream, mask=town)]
    elif split:
        fine = frozenset({"conv1_1", "conv2_1"})
        styles = [StyleImage(starry, layers=fine), StyleImage(scream, layers=frozenset(config.style_layers) - fine)]
    else:
        styles = [StyleImage(starry)]
    start = (content + 0.05 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    return content, styles, start.to(dtype)


def _evaluate(objective: Objective, start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    image = start.clone().requires_grad_(True)
    terms = objective.evaluate(image)
    assert image.grad is not None
    return torch.stack([terms.total, terms.content, terms.style, terms.tv]).double(), image.grad.double()


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize(
    ("config", "masks", "split"),
    [
        (TransferConfig(), False, False),  # content + style
        (TransferConfig(), True, False),  # masks: guided Gram matrices
        (TransferConfig(scale_split="conv3_1"), False, True),  # scale control
        (TransferConfig(normalization="paper", style_weight=1e3, tv_weight=10.0), False, False),  # the paper's, TV
    ],
    ids=["content+style", "masks", "scale-control", "paper+tv"],
)
def test_tiled_loss_and_gradient_equal_the_untiled_ones(vgg, config: TransferConfig, masks: bool, split: bool) -> None:
    content, styles, start = _images(config, masks, split)
    shape = (start.shape[-2], start.shape[-1])
    whole_terms, whole_grad = _evaluate(Objective(vgg, content, styles, config, shape), start)
    tiled = TiledObjective(vgg, content, styles, config, shape, BLOCK)
    assert len(tiled._blocks(start)) == 4
    tiled_terms, tiled_grad = _evaluate(tiled, start)
    nonzero = whole_terms != 0
    assert ((tiled_terms - whole_terms).abs()[nonzero] / whole_terms.abs()[nonzero]).max() < 1e-5
    assert (tiled_terms[~nonzero] == 0).all()
    assert _relative(tiled_grad, whole_grad) < 1e-5
    assert (tiled_grad - whole_grad).abs().max() < 1e-5 * whole_grad.abs().max()
    if config.tv_weight:
        assert whole_terms[3] > 0


def test_crops_cut_inside_the_image_are_exact_with_the_halo_and_wrong_without() -> None:
    """The halo is what makes a block exact: with crops cut inside the image on every side, the
    tiled loss and gradient equal the untiled ones with `halo` px, and are far off with 16 px less.
    In float64, where exact means exact (in float32 the Gram gradient alone moves by 7e-4 between
    two orders of summation)."""
    content, styles, start = _images(SHALLOW, dtype=torch.float64)
    shape = (start.shape[-2], start.shape[-1])
    vgg64 = load_vgg19().to(torch.float64)
    whole_terms, whole_grad = _evaluate(Objective(vgg64, content, styles, SHALLOW, shape), start)
    tiled = TiledObjective(vgg64, content, styles, SHALLOW, shape, 32)
    assert tiled.margin == halo(["conv2_2", "conv3_1"]) == 16
    grid = tiled._blocks(start)
    assert len(grid) == 9 and any(0 < b.crop_top and b.crop_bottom < shape[0] and 0 < b.crop_left
                                  and b.crop_right < shape[1] for b in grid), "a crop cut on all four sides"
    tiled_terms, tiled_grad = _evaluate(tiled, start)
    assert ((tiled_terms - whole_terms).abs()[:3] / whole_terms.abs()[:3]).max() < 1e-12
    assert _relative(tiled_grad, whole_grad) < 1e-12
    tiled.margin -= ALIGN  # the targets were made with the full halo: only the evaluation is cut short
    short_terms, short_grad = _evaluate(tiled, start)
    assert _relative(short_grad, whole_grad) > 0.1
    assert ((short_terms - whole_terms).abs()[:3] / whole_terms.abs()[:3]).max() > 0.1


def test_the_default_layers_in_blocks_whose_crops_are_cut_inside(vgg) -> None:
    """The same with the default layers (to conv5_1, an 80 px halo) on an image wide enough for it."""
    config = TransferConfig()
    content = small(EXAMPLES / "tubingen.jpg", 320)
    styles = [StyleImage(small(EXAMPLES / "starry_night.jpg", 160))]
    start = (content + 0.05 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    shape = (start.shape[-2], start.shape[-1])
    whole_terms, whole_grad = _evaluate(Objective(vgg, content, styles, config, shape), start)
    tiled = TiledObjective(vgg, content, styles, config, shape, 64)
    assert any(0 < b.crop_left and b.crop_right < shape[1] for b in tiled._blocks(start))
    tiled_terms, tiled_grad = _evaluate(tiled, start)
    assert ((tiled_terms - whole_terms).abs()[:3] / whole_terms.abs()[:3]).max() < 1e-5
    assert _relative(tiled_grad, whole_grad) < 1e-5


def test_a_layer_past_the_blocks_grid_is_refused_for_blocks() -> None:
    """pool5's positions are 32 px apart, the blocks' grid 16: a block could own half a position."""
    config = TransferConfig(style_layers="conv1_1,pool5")
    content, styles, start = _images(TransferConfig())
    with pytest.raises(ConfigError, match="pool5 cannot be computed in blocks"):
        TiledObjective(load_vgg19(), content, styles, config, (start.shape[-2], start.shape[-1]), 32)


def test_tiled_w2_equals_the_untiled_loss_exactly_in_float64_and_within_1e_5_in_float32() -> None:
    """W2's square roots of small eigenvalues make its gradient sensitive to rounding: the untiled
    float32 gradient is itself 4e-4 off the float64 one. The tiled one sums its statistics in float64."""
    config = TransferConfig(style_loss="w2", style_layers="conv1_1,conv2_1,conv3_1")  # small covariances: fast
    content, styles, start = _images(config, dtype=torch.float64)
    shape = (start.shape[-2], start.shape[-1])
    vgg64 = load_vgg19().to(torch.float64)
    exact_terms, exact_grad = _evaluate(Objective(vgg64, content, styles, config, shape), start)
    tiled_terms, tiled_grad = _evaluate(TiledObjective(vgg64, content, styles, config, shape, BLOCK), start)
    assert (tiled_terms - exact_terms).abs().max() < 1e-12 * exact_terms.abs().max()
    assert _relative(tiled_grad, exact_grad) < 1e-12
    vgg32 = load_vgg19()
    content, styles, start = content.float(), [StyleImage(s.image.float()) for s in styles], start.float()
    terms32, grad32 = _evaluate(TiledObjective(vgg32, content, styles, config, shape, BLOCK), start)
    assert ((terms32 - exact_terms).abs()[:3] / exact_terms.abs()[:3]).max() < 1e-5
    assert _relative(grad32, exact_grad) < 1e-5


def test_calling_the_tiled_objective_gives_the_loss_without_a_gradient(vgg) -> None:
    config = TransferConfig(tv_weight=1.0)
    content, styles, start = _images(config)
    shape = (start.shape[-2], start.shape[-1])
    seen: list[tuple[int, int]] = []
    tiled = TiledObjective(vgg, content, styles, config, shape, BLOCK, on_block=lambda i, n: seen.append((i, n)))
    terms = tiled(start)
    whole = Objective(vgg, content, styles, config, shape)(start)
    assert abs(terms.total.item() - whole.total.item()) < 1e-5 * whole.total.item()
    assert seen == [(i, 4) for i in range(1, 5)]
