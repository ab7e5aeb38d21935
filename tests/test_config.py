"""Settings: parsing, validation, normalisation and the public API."""

import json
from pathlib import Path

import pytest

import impasto
from impasto import ConfigError, TransferConfig
from impasto.config import parse_layers


def test_layer_lists_parse_with_equal_or_given_weights() -> None:
    assert parse_layers("conv1_1, conv2_1") == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert parse_layers("conv4_2:2,conv5_2:0.5") == {"conv4_2": 2.0, "conv5_2": 0.5}
    with pytest.raises(ConfigError, match="layer weight must be a number"):
        parse_layers("conv4_2:x")


def test_layer_maps_are_canonical() -> None:
    config = TransferConfig(content_layers="relu4_2", style_layers={"RELU1_1": 1.0})
    assert config.content_layers == {"conv4_2": 1.0}
    assert config.style_layers == {"conv1_1": 1.0}


def test_settings_round_trip_through_json(tmp_path: Path) -> None:
    config = TransferConfig(init=tmp_path / "start.png", weights=tmp_path / "vgg.pth", style_blend=[1, 2], seed=3)
    settings = json.loads(json.dumps(config.to_dict()))
    assert settings["init"] == str(tmp_path / "start.png") and settings["style_blend"] == [1.0, 2.0]
    assert TransferConfig(**settings) == config


def test_replace_rejects_unknown_settings() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        TransferConfig().replace(colour="blue")


def test_with_seed_draws_once() -> None:
    config = TransferConfig().with_seed()
    assert isinstance(config.seed, int)
    assert config.with_seed() is config


def test_nothing_to_optimise_is_an_error() -> None:
    with pytest.raises(ConfigError, match="nothing to do"):
        TransferConfig(content_weight=0, style_weight=0, palette_weight=0)
    with pytest.raises(ConfigError, match="all 0 at this strength"):
        TransferConfig(content_weight=0, strength=0)


def test_public_api() -> None:
    assert set(impasto.__all__) == {
        "ConfigError", "DeviceError", "ImageError", "ImpastoError", "Interrupted", "NonFiniteLoss",
        "OptimizationError", "Progress", "Result", "TransferConfig", "WeightsError", "__version__", "load_image",
        "read_metadata", "reconstruct_content", "save_image", "stylize", "synthesize_texture", "transfer",
    }
    for name in impasto.__all__:
        assert hasattr(impasto, name), name


def test_presets_are_starting_points_that_options_override() -> None:
    assert TransferConfig.from_preset("default") == TransferConfig()
    paper = TransferConfig.from_preset("paper", size=256)
    assert paper.init == "noise" and paper.pooling == "avg" and paper.size == 256
    with pytest.raises(ConfigError, match="preset must be one of fast, default, best, paper"):
        TransferConfig.from_preset("ultra")
