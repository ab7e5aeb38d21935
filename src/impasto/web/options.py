"""A job's settings JSON -> `TransferConfig` (and `VideoConfig`), through the presets and the
configs' own validation.

The settings use the CLI's option names (`style-weight` or `style_weight`) plus `preset`; every
default comes from `impasto.config` and `impasto.video.config`. A clip's job also takes the options
of `impasto video` (`temporal-weight`, `passes`, ...; `size` is the frames'); `strengths`, a list,
makes a comparison: the photo at each strength. Settings that name server files or resources
(weights, init images, masks, the device, limits) are the server's business and are refused.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..config import INIT_MODES, PRESETS, TransferConfig
from ..errors import ConfigError
from ..video.config import VideoConfig

__all__ = ["COMPARE_STRENGTHS", "MAX_VARIANTS", "REFUSED", "VIDEO_SETTINGS", "JobSettings", "editable_defaults",
           "parse_settings", "presets"]

VIDEO_SETTINGS = tuple(f.name for f in dataclasses.fields(VideoConfig) if f.name != "size")
"""The settings of a clip's job beyond those of each frame (`impasto video`'s options)."""
COMPARE_STRENGTHS = (0.25, 0.5, 0.75)
"""The strengths the page offers to compare."""
MAX_VARIANTS = 6
"""Most strengths one comparison may ask for."""

REFUSED = {
    "weights": "the server chooses the VGG-19 weights",
    "masks": "masks are files on the server; the web app takes no masks",
    "device": "the server runs each job on its own device",
    "max_pixels": "the server sets its own limits (impasto serve --max-pixels)",
    "save_every": "the web app keeps the latest image of every job already",
    "style_blend": "the web app takes one style image",
    "scale_split": "scale control needs two style images; the web app takes one",
    "memory_budget": "the server sets the memory a run may use (impasto serve --memory-budget-mb)",
    "tile_size": "the server plans the blocks of large sizes from its memory budget",
}
"""Settings a remote user may not give, and why."""


@dataclass(frozen=True)
class JobSettings:
    """A job's settings, checked."""

    config: TransferConfig
    """Each run's settings, with a seed."""
    video: VideoConfig
    """A clip's settings (its `size` that of the settings, if given)."""
    strengths: tuple[float, ...] | None
    """The strengths of a comparison; None: one run."""
    given: dict[str, Any]
    """The settings as given, with canonical names."""

    def check_kind(self, clip: bool) -> None:
        """Refuse settings of the other kind of job: video settings for a photo, a comparison of a clip.

        Raises:
            ConfigError: one of them.
        """
        if clip and self.strengths is not None:
            raise ConfigError("strengths compares a photo at several strengths: upload a photo, or leave out strengths")
        video = [name for name in VIDEO_SETTINGS if name in self.given]
        if not clip and video:
            raise ConfigError(f"setting(s) {', '.join(video)} apply to clips: upload a clip as the photo, or leave "
                              f"them out")


def parse_settings(text: str | None) -> JobSettings:
    """The settings of `text` (a JSON object, or None for the defaults). A seed is drawn if none is
    given, so a restarted job repeats its run.

    Raises:
        ConfigError: not a JSON object, an unknown or refused setting, or an invalid value.
    """
    given = _json_object(text)
    settings = {name.replace("-", "_"): value for name, value in given.items()}
    for name, reason in REFUSED.items():
        if name in settings:
            raise ConfigError(f"setting {name!r} cannot be set from the web app: {reason}")
    init = settings.get("init")
    if init is not None and init not in INIT_MODES:
        raise ConfigError(f"init must be one of {', '.join(INIT_MODES)} in the web app, got {init!r}")
    options = {name: tuple(value) if isinstance(value, list) else value for name, value in settings.items()}
    video = {name: options.pop(name) for name in VIDEO_SETTINGS if name in options}
    strengths = options.pop("strengths", None)
    preset = options.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    for name, value in settings.items():
        _check_magnitude(name, value)
    seed = options.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63):
        raise ConfigError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
    base = TransferConfig() if preset is None else TransferConfig.from_preset(preset)
    try:
        config = base.replace(**options)
    except (TypeError, AttributeError):  # a JSON value of a type the config's checks do not expect
        raise ConfigError(_wrong_type(base, options)) from None
    if isinstance(config.style_scale, tuple) and len(config.style_scale) != 1:
        raise ConfigError(f"style_scale takes one number in the web app (it has one painting), got "
                          f"{len(config.style_scale)}: {json.dumps(list(config.style_scale))}")
    frames = _video(config.size if "size" in options else None, video)  # after the config: its size is checked
    return JobSettings(config.with_seed(), frames, _strengths(strengths, config, "strength" in options), settings)


MAX_MAGNITUDE = 2**63
"""Every whole number in the settings is less than this in size (a seed's range): larger ones name no
run, and overflow a float (a size of 400 digits). Floats are finite or infinite: the configs' checks
refuse infinities."""


def _check_magnitude(name: str, value: Any) -> None:
    """Refuse a whole number (or one in a list) too large to mean anything, before arithmetic overflows on it."""
    for number in value if isinstance(value, list) else (value,):
        if isinstance(number, int) and not abs(number) < MAX_MAGNITUDE:
            raise ConfigError(f"setting {name!r} is out of range: a number of {len(str(abs(number)))} digits")


def _video(size: int | None, options: dict[str, Any]) -> VideoConfig:
    for name, value in options.items():  # each on its own first: a JSON value of a type the checks do not expect
        try:
            VideoConfig(**{name: value})
        except TypeError:
            raise ConfigError(f"setting {name!r} has a value of the wrong type: {json.dumps(value)}") from None
    return VideoConfig(size=size, **options)


def _strengths(value: Any, config: TransferConfig, strength_given: bool) -> tuple[float, ...] | None:
    """A comparison's strengths, checked by the config's own check of each."""
    if value is None:
        return None
    if strength_given:
        raise ConfigError("give strength (one run) or strengths (a comparison), not both")
    if not isinstance(value, tuple) or not 2 <= len(value) <= MAX_VARIANTS:
        raise ConfigError(f"strengths must be a list of 2 to {MAX_VARIANTS} numbers from 0 to 1, e.g. "
                          f"{list(COMPARE_STRENGTHS)}; got {json.dumps(value)}")
    for strength in value:
        if not isinstance(strength, (int, float)) or isinstance(strength, bool):
            raise ConfigError(f"strengths must be numbers from 0 to 1, got {json.dumps(strength)}")
        config.replace(strength=strength)
    if len(set(value)) < len(value):
        raise ConfigError(f"strengths must differ from each other, got {json.dumps(list(value))}")
    return tuple(float(strength) for strength in value)


def presets() -> dict[str, dict[str, Any]]:
    """Every preset's full settings, for the page's quality control."""
    return {name: TransferConfig.from_preset(name).to_dict() for name in PRESETS}


def editable_defaults() -> dict[str, Any]:
    """The default settings a remote user may change."""
    fields = {f.name for f in dataclasses.fields(TransferConfig)}
    defaults = TransferConfig().to_dict()
    return {name: defaults[name] for name in sorted(fields - set(REFUSED))}


def _wrong_type(base: TransferConfig, options: dict[str, Any]) -> str:
    """The message naming the setting whose value has the wrong type."""
    for name, value in options.items():
        try:
            base.replace(**{name: value})
        except (TypeError, AttributeError):
            return f"setting {name!r} has a value of the wrong type: {json.dumps(value)}"
        except ConfigError:
            pass
    return "a setting has a value of the wrong type"


def _json_object(text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"settings is not valid JSON ({error.msg} at character {error.pos})") from None
    except RecursionError:
        raise ConfigError("settings is nested too deeply: give a flat JSON object such as {\"size\": 256}") from None
    except ValueError:  # an integer of more digits than Python converts (4,300)
        raise ConfigError("settings has a number too long to read: give settings within their ranges") from None
    if not isinstance(value, dict):
        raise ConfigError(f'settings must be a JSON object such as {{"size": 256}}, got {type(value).__name__}')
    return value
