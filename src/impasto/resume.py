"""A run's finished levels kept in a work dir, so that a run whose process was lost (a cluster's
driver, a killed job) starts again after the last level it finished, as impasto.video resumes
its frames.

The folder holds `manifest.json` (what the run is of: its inputs and settings, with its seed) and
`level.pt`, the last finished level's image in float32 with the steps taken so far, each written
atomically. A folder that holds another run is refused rather than mixed with this one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .config import TransferConfig
from .errors import ConfigError, ImageError
from .files import atomic_file

__all__ = ["WorkDir"]


class WorkDir:
    """The levels a run of `config` on `inputs` (a JSON-able record of its images) finished in
    `folder`, opened (or started) there: a `levels.Checkpoint`.

    Raises:
        ConfigError: the folder holds a run of other inputs or settings.
        ImageError: the folder is a file.
    """

    def __init__(self, folder: str | os.PathLike[str], config: TransferConfig, inputs: dict[str, Any]) -> None:
        self.folder = Path(folder)
        manifest = self.folder / "manifest.json"
        if self.folder.exists() and not self.folder.is_dir():
            raise ImageError(f"work dir {str(self.folder)!r} is a file: give a folder with --work-dir")
        if manifest.is_file():
            stored = json.loads(manifest.read_text())
            if config.seed is None:
                config = config.replace(seed=stored["settings"]["seed"])
            # Where it runs is not what it makes: a run continues on another device or cluster.
            mine = {"inputs": inputs, "settings": {**config.to_dict(), "device": stored["settings"].get("device")}}
            if {key: stored.get(key) for key in mine} != mine:
                changed = sorted(key for key in mine if stored.get(key) != mine[key])
                raise ConfigError(f"work dir {str(self.folder)!r} holds a run of other {' and '.join(changed)}: delete "
                                  f"it, or give another --work-dir")
        else:
            config = config.with_seed()
            self.folder.mkdir(parents=True, exist_ok=True)
            with atomic_file(manifest, "w") as file:
                json.dump({"inputs": inputs, "settings": config.to_dict()}, file)
        self.config = config
        """The run's settings, with the seed of the run the folder holds."""

    def finished(self) -> tuple[int, torch.Tensor, int] | None:
        path = self.folder / "level.pt"
        if not path.is_file():
            return None
        saved = torch.load(path, weights_only=True)
        return int(saved["levels"]), saved["image"], int(saved["steps"])

    def save(self, levels: int, image: torch.Tensor, steps: int) -> None:
        with atomic_file(self.folder / "level.pt") as file:
            torch.save({"levels": levels, "image": image.detach().float().cpu(), "steps": steps}, file)
