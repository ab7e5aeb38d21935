"""Clips with known motion as files, and runs of impasto video on them, shared by the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from impasto import TransferConfig
from impasto.images import EXAMPLES
from impasto.video import VideoConfig, stylize_video
from impasto.video.io import read_frames
from impasto.video.score import warping_error
from tests.video.clips import pan, sprite, still, write_clip

SIZE = (64, 48)
FRAMES = 5
CONFIG = TransferConfig(iterations=30, seed=0)
"""The first frame's settings: 30 steps at 64 px (one level)."""
VIDEO = VideoConfig(later_iterations=20)
PAINTING = EXAMPLES / "starry_night.jpg"
STILL_CONFIG = CONFIG.replace(iterations=TransferConfig().iterations)
"""The still clip's first frame runs the default steps: from a first frame as short as CONFIG's,
later frames keep converging (0.6, 0.45, ... 0.27 levels a frame at the default temporal weight)."""


@dataclass(frozen=True)
class Run:
    clip: Path
    output: Path
    work: Path

    def frames(self) -> list[Image.Image]:
        return [image for image, _ in read_frames(self.output)]

    def e_warp(self) -> float:
        return warping_error(self.frames(), [image for image, _ in read_frames(self.clip)])


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    return {
        "pan": write_clip(folder / "pan.mp4", pan(FRAMES, SIZE)[0]),
        "sprite": write_clip(folder / "sprite.mp4", sprite(FRAMES, SIZE, side=16, velocity=(3, 1))[0]),
        "still": write_clip(folder / "still.mp4", still(8, SIZE)),
    }


@pytest.fixture(scope="session")
def runs(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """impasto video with the test settings, and with independent frames, on the pan and sprite clips.
    Work dirs are kept."""
    folder = tmp_path_factory.mktemp("runs")
    made = {}
    for name, independent in (("pan", False), ("pan", True), ("sprite", False), ("sprite", True)):
        key = f"{name}{'_independent' if independent else ''}"
        run = Run(clips[name], folder / f"{key}.mp4", folder / f"{key}.work")
        stylize_video(run.clip, PAINTING, run.output, CONFIG, VIDEO.replace(independent=independent),
                      work_dir=run.work)
        made[key] = run
    return made


@pytest.fixture(scope="session")
def still_run(clips: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Run:
    """impasto video on the still clip, at the default temporal weight, from a first frame of the default steps."""
    folder = tmp_path_factory.mktemp("still")
    run = Run(clips["still"], folder / "still.mp4", folder / "still.work")
    stylize_video(run.clip, PAINTING, run.output, STILL_CONFIG, VIDEO, work_dir=run.work)
    return run
