"""A run's finished levels in a work dir: a run stopped after a level starts again after it, with the
image of a run never stopped; a work dir of other settings is refused."""

from __future__ import annotations

import pytest

import impasto
from impasto.config import TransferConfig
from impasto.errors import ConfigError, Interrupted
from impasto.pipeline import transfer

CONFIG = TransferConfig(size=64, levels=2, iterations=4, precision="fp32")


def test_a_run_stopped_after_a_level_resumes_after_it_with_the_same_image(tmp_path, content_path, style_path) -> None:

    def stop_at_level_2(event: impasto.Progress) -> bool:
        return event.level == 2

    work = tmp_path / "work"
    with pytest.raises(Interrupted):  # no seed given: the work dir keeps the one drawn
        transfer(content_path, style_path, CONFIG, stop_at_level_2, work_dir=work)
    levels: list[int] = []
    resumed = transfer(content_path, style_path, CONFIG, lambda event: levels.append(event.level), work_dir=work)
    assert set(levels) == {2} and resumed.steps == 4
    again = transfer(content_path, style_path, resumed.config)  # the same seed, never stopped
    assert (resumed.image - again.image).abs().max() < 1e-6


def test_a_work_dir_of_other_settings_is_refused(tmp_path, content_path, style_path) -> None:
    work = tmp_path / "work"
    with pytest.raises(Interrupted):
        transfer(content_path, style_path, CONFIG.replace(seed=1), lambda event: event.level == 2, work_dir=work)
    with pytest.raises(ConfigError, match="holds a run of other settings: delete it, or give another --work-dir"):
        transfer(content_path, style_path, CONFIG.replace(seed=1, iterations=6), work_dir=work)
