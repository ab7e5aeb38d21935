"""A job's settings JSON -> `TransferConfig`, through the presets and the config's own validation.

The settings use the CLI's option names (`style-weight` or `style_weight`) plus `preset`; every
default comes from `impasto.config`. Settings that name server files or resources (weights, init
images, masks, the device, limits) are the server's business and are refused.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..config import INIT_MODES, PRESETS, TransferConfig
from ..errors import ConfigError

__all__ = ["REFUSED", "editable_defaults", "parse_settings", "presets"]

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


def parse_settings(text: str | None) -> tuple[TransferConfig, dict[str, Any]]:
    """The config of `text` (a JSON object, or None for the defaults) and the settings as given,
    with canonical names. A seed is drawn if none is given, so a restarted job repeats its run.

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
    preset = options.pop("preset", None)
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    seed = options.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63):
        raise ConfigError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
    base = TransferConfig() if preset is None else TransferConfig.from_preset(preset)
    try:
        config = base.replace(**options)
    except (TypeError, AttributeError):  # a JSON value of a type the config's checks do not expect
        raise ConfigError(_wrong_type(base, options)) from None
    return config.with_seed(), settings


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
    if not isinstance(value, dict):
        raise ConfigError(f'settings must be a JSON object such as {{"size": 256}}, got {type(value).__name__}')
    return value
