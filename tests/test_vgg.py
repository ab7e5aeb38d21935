"""The network: layer names, the layer mapping of the real Caffe weights, weight files."""

import pytest
import torch

from impasto.errors import ConfigError, WeightsError
from impasto.vgg import CONV_LAYERS, LAYERS, VGG19, canonical_layer, feature_size, load_vgg19, min_input_side

from .conftest import EXAMPLES, small

# Activation statistics of examples/tubingen.jpg at 64x48 px through the bundled weights with max
# pooling: (shape, mean, std). They pin which weights sit at which named layer and the preprocessing.
PINNED = {
    "conv1_1": ((1, 64, 48, 64), 23.347, 39.4704),
    "conv2_2": ((1, 128, 24, 32), 132.1573, 256.0333),
    "conv3_4": ((1, 256, 12, 16), 661.8434, 829.4207),
    "conv4_2": ((1, 512, 6, 8), 423.6433, 776.2071),
    "conv5_1": ((1, 512, 3, 4), 72.844, 162.3297),
    "pool5": ((1, 512, 1, 2), 2.5627, 8.3286),
}


def test_architecture_has_16_convs_and_5_pools() -> None:
    assert len(CONV_LAYERS) == 16
    assert [name for name in LAYERS if name.startswith("pool")] == ["pool1", "pool2", "pool3", "pool4", "pool5"]
    assert LAYERS[:5] == ("conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2")


def test_layer_mapping_is_pinned(vgg: VGG19) -> None:
    features = vgg(small(EXAMPLES / "tubingen.jpg", 64), PINNED)
    for name, (shape, mean, std) in PINNED.items():
        assert tuple(features[name].shape) == shape, name
        assert features[name].mean().item() == pytest.approx(mean, rel=1e-2), name
        assert features[name].std().item() == pytest.approx(std, rel=1e-2), name


def test_features_are_rectified_and_relu_names_alias_conv(vgg: VGG19) -> None:
    image = torch.rand(1, 3, 32, 32)
    features = vgg(image, [canonical_layer("relu3_1")])
    assert list(features) == ["conv3_1"]
    assert features["conv3_1"].min() >= 0


def test_preprocessing_is_caffes(vgg: VGG19) -> None:
    red = torch.zeros(1, 3, 1, 1)
    red[0, 0] = 1.0
    # RGB red -> BGR, x255, minus the BGR mean.
    expected = torch.tensor([-103.939, -116.779, 255 - 123.68]).view(1, 3, 1, 1)
    assert torch.allclose(vgg.preprocess(red), expected)


def test_average_pooling_changes_deep_features_only(vgg: VGG19) -> None:
    image = small(EXAMPLES / "tubingen.jpg", 32)
    avg = load_vgg19(pooling="avg")
    assert torch.equal(vgg(image, ["conv1_2"])["conv1_2"], avg(image, ["conv1_2"])["conv1_2"])
    assert not torch.allclose(vgg(image, ["conv2_1"])["conv2_1"], avg(image, ["conv2_1"])["conv2_1"])


def test_forward_returns_only_what_was_asked(vgg: VGG19) -> None:
    features = vgg(torch.rand(1, 3, 32, 32), ["conv2_1", "conv1_1"])
    assert set(features) == {"conv1_1", "conv2_1"}


def test_no_gradients_for_weights(vgg: VGG19) -> None:
    assert not any(p.requires_grad for p in vgg.parameters())


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_a_bfloat16_network_holds_its_weights_in_bfloat16_and_follows_float32(vgg: VGG19, pooling: str) -> None:
    """The weights are cast once, when the network is built, not at every call; the responses are
    those of float32 to bfloat16's rounding, and the gradient reaches a float32 image."""
    fast = load_vgg19(pooling=pooling, dtype=torch.bfloat16)
    exact = vgg if pooling == "max" else load_vgg19(pooling=pooling)
    assert {conv.weight.dtype for conv in fast.convs.values()} == {torch.bfloat16}
    image = small(EXAMPLES / "tubingen.jpg", 64).requires_grad_(True)
    ours, theirs = fast(image, ["conv1_1", "conv5_1"]), exact(image, ["conv1_1", "conv5_1"])
    for name in ours:
        assert ours[name].dtype == torch.bfloat16
        assert ((ours[name].float() - theirs[name]).norm() / theirs[name].norm()).item() < 0.02
    ours["conv5_1"].float().sum().backward()
    assert image.grad is not None and image.grad.dtype == torch.float32 and image.grad.abs().sum() > 0


def test_sizes_after_pooling() -> None:
    assert min_input_side(["conv1_1"]) == 1
    assert min_input_side(["conv5_1", "conv1_1"]) == 16
    assert min_input_side(["pool5"]) == 32
    assert feature_size("conv4_2", (48, 64)) == (6, 8)
    assert feature_size("conv3_1", (33, 17)) == (8, 4)


def test_unknown_layer_suggests_the_nearest() -> None:
    with pytest.raises(ConfigError, match=r"conv4_5.*did you mean conv4_4.*valid layers: conv1_1"):
        canonical_layer("conv4_5")


def test_full_precision_state_dicts_in_both_layouts(vgg: VGG19, tmp_path) -> None:
    ours = {f"{name}.{kind}": getattr(vgg.convs[name], kind).detach().clone()
            for name in CONV_LAYERS for kind in ("weight", "bias")}
    indices = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
    torchvision = {f"features.{i}.{kind}": ours[f"{name}.{kind}"]
                   for name, i in zip(CONV_LAYERS, indices, strict=True) for kind in ("weight", "bias")}
    torchvision["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    image = torch.rand(1, 3, 32, 32)
    expected = vgg(image, ["conv5_1"])["conv5_1"]
    for i, state in enumerate((ours, torchvision)):
        path = tmp_path / f"weights{i}.pth"
        torch.save(state, path)
        assert torch.equal(load_vgg19(path)(image, ["conv5_1"])["conv5_1"], expected)


def test_bad_weight_files(tmp_path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load_vgg19(tmp_path / "missing.pth")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read"):
        load_vgg19(tmp_path / "text.pth")
    torch.save({"foo": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="not a VGG-19 state dict"):
        load_vgg19(tmp_path / "other.pth")
    torch.save({"conv1_1.weight": torch.zeros(64, 3, 5, 5)}, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=r"conv1_1.weight should have shape \(64, 3, 3, 3\)"):
        load_vgg19(tmp_path / "shape.pth")
