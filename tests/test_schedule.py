"""The coarse-to-fine schedule, presets and the speed settings (precision, padding, pooling gains)."""

import pytest
import torch
from PIL import Image

import impasto
from impasto import TransferConfig
from impasto.device import compute_dtype
from impasto.score import score
from impasto.vgg import load_vgg19

from .conftest import EXAMPLES, small

PHOTO, STARRY = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"


def test_the_automatic_schedule_halves_the_size_and_doubles_the_iterations() -> None:
    assert TransferConfig(size=512, iterations=165).stages() == [(128, 94), (256, 47), (512, 24)]
    assert TransferConfig(size=256, iterations=30).stages() == [(128, 20), (256, 10)]
    assert TransferConfig(size=100, iterations=30).stages() == [(100, 30)]
    assert TransferConfig(size=512, iterations=50, levels=1).stages() == [(512, 50)]
    for size in (64, 300, 1024, 3000):
        stages = TransferConfig(size=size, iterations=200, anchor_side=0).stages()
        assert sum(count for _, count in stages) == 200 and stages[-1][0] == size
        assert 128 <= stages[0][0] < 256 or len(stages) == 1


@pytest.mark.parametrize("size", [600, 768, 1024, 3072, 8192])
def test_levels_larger_than_the_anchor_side_take_no_more_time_than_their_own_iterations_would(size: int) -> None:
    anchored, plain = TransferConfig(size=size).stages(), TransferConfig(size=size, anchor_side=0).stages()

    def cost(stages: list[tuple[int, int]], anchor: int) -> int:  # an iteration costs its pixels, and the anchor's
        return sum(count * (side**2 + (anchor**2 if side > anchor else 0)) for side, count in stages)

    assert cost(anchored, 512) <= cost(plain, 10**9)
    assert [stage for stage in anchored if stage[0] <= 512] == [stage for stage in plain if stage[0] <= 512]
    assert all(0 < count <= before for (_, count), (_, before) in zip(anchored, plain, strict=True))
    # Where the anchor costs a few per cent of an iteration, the finest level keeps its iterations.
    assert size < 3072 or anchored[-1] == plain[-1]


def test_a_run_goes_through_the_levels_and_reports_them() -> None:
    events: list[impasto.Progress] = []
    result = impasto.transfer(PHOTO, STARRY, TransferConfig(size=96, levels=2, iterations=6, seed=0), events.append)
    assert [event.step for event in events] == [1, 2, 3, 4, 5, 6] and {event.total for event in events} == {6}
    assert [event.level for event in events] == [1, 1, 1, 1, 2, 2] and events[0].levels == 2
    assert events[0].image.shape[-2:] == (36, 48) and events[-1].image.shape[-2:] == (72, 96)
    works = [event.work for event in events]
    assert works == sorted(works) and works[-1] == pytest.approx(1)
    assert result.image.shape[-2:] == (72, 96)


def test_levels_too_small_for_the_layers(tmp_path) -> None:
    strip = tmp_path / "strip.png"
    Image.new("RGB", (512, 40), "gray").save(strip)
    events: list[impasto.Progress] = []
    # 256x20 at the end; the automatic schedule's 128x10 level would be too small for conv5_1: merged.
    impasto.transfer(strip, STARRY, TransferConfig(size=256, iterations=2, seed=0), events.append)
    assert {event.levels for event in events} == {1}
    with pytest.raises(impasto.ImageError, match="too small for conv5_1.*lower --levels"):
        impasto.transfer(strip, STARRY, TransferConfig(size=256, iterations=2, levels=2))


def test_presets() -> None:
    paper = TransferConfig.from_preset("paper")
    assert (paper.normalization, paper.levels, paper.init, paper.pooling, paper.precision) == (
        "paper", 1, "noise", "avg", "fp32")
    assert TransferConfig.from_preset("fast").iterations < TransferConfig().iterations
    assert TransferConfig.from_preset("best").iterations > TransferConfig().iterations


def test_bf16_is_used_only_where_native_or_asked() -> None:
    cpu = torch.device("cpu")
    assert compute_dtype("fp32", cpu) == torch.float32 and compute_dtype("bf16", cpu) == torch.bfloat16
    assert compute_dtype("auto", cpu) in (torch.float32, torch.bfloat16)


def test_bf16_gives_the_quality_of_fp32(tmp_path) -> None:
    # 32 px: a CPU without AVX-512 BF16 or AMX emulates bfloat16 convolutions about 150x slower.
    figures = {}
    for precision in ("fp32", "bf16"):
        path = tmp_path / f"{precision}.png"
        impasto.save_image(impasto.stylize(PHOTO, STARRY, size=32, iterations=30, seed=0, precision=precision), path)
        figures[precision] = score(path, PHOTO, STARRY)
    assert figures["bf16"].style_mean == pytest.approx(figures["fp32"].style_mean, rel=0.1)
    assert figures["bf16"].content == pytest.approx(figures["fp32"].content, rel=0.1)


def test_average_pooling_keeps_the_scale_of_max_pooling() -> None:
    image = small(EXAMPLES / "shipwreck.jpg", 224)  # not one of the two images the gains come from
    maximum, average = load_vgg19(pooling="max"), load_vgg19(pooling="avg")
    for layer in ("pool1", "pool2", "pool3", "pool4"):
        ratio = average(image, [layer])[layer].mean() / maximum(image, [layer])[layer].mean()
        assert 0.8 < ratio < 1.25, f"{layer}: mean activation {ratio:.2f} x max pooling's"


def test_padding_changes_the_borders_most() -> None:
    image = small(PHOTO, 64)
    zeros, reflect = load_vgg19(padding="zeros"), load_vgg19(padding="reflect")
    difference = (zeros(image, ["conv1_2"])["conv1_2"] - reflect(image, ["conv1_2"])["conv1_2"]).abs().mean(1)[0]
    assert difference[:, 0].mean() > 10 * difference[8:-8, 8:-8].mean() and difference[8:-8, 8:-8].max() == 0


def test_relative_weights_give_the_same_balance_at_any_size(tmp_path) -> None:
    figures = {}
    for size in (64, 128):
        path = tmp_path / f"{size}.png"
        impasto.save_image(impasto.stylize(PHOTO, STARRY, size=size, iterations=40, levels=1, seed=0), path)
        figures[size] = score(path, PHOTO, STARRY)
    assert figures[128].content == pytest.approx(figures[64].content, rel=0.25)
    assert figures[128].style_mean == pytest.approx(figures[64].style_mean, rel=0.25)


def test_early_stop_ends_a_level_whose_loss_stops_falling() -> None:
    events: list[impasto.Progress] = []
    impasto.transfer(PHOTO, STARRY, TransferConfig(size=48, iterations=60, seed=0, early_stop=0.9), events.append)
    assert len(events) == 11  # PATIENCE + 1: the first chance to compare


def test_w2_loss_and_adam_iterate_averaging_run(tmp_path) -> None:
    photo = score(PHOTO, PHOTO, STARRY)
    for options in ({"style_loss": "w2"}, {"optimizer": "adam", "average_iterates": True}):
        path = tmp_path / "out.png"
        impasto.save_image(impasto.stylize(PHOTO, STARRY, size=64, iterations=30, seed=0, **options), path)
        assert score(path, PHOTO, STARRY).color < photo.color, options
    with pytest.raises(impasto.ConfigError, match="w2 has no paper normalisation"):
        TransferConfig(style_loss="w2", normalization="paper")
