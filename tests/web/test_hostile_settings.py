"""Settings an attacker would send: each a 422 with one line (never a 500 with a traceback), and caps
on what multiplies a job's work or disk, in the API and the CLI alike."""

from __future__ import annotations

import logging

import pytest

from impasto.cli import main
from impasto.errors import ConfigError
from impasto.video.config import MAX_TEMPORAL_FRAMES, VideoConfig

from .conftest import clip_bytes, clip_upload, idle_client, upload

HOSTILE = [
    ("[" * 100_000 + "]" * 100_000, "settings is nested too deeply: give a flat JSON object such as {\"size\": 256}"),
    ('{"seed": ' + "9" * 4301 + "}", "settings has a number too long to read: give settings within their ranges"),
    ('{"size": ' + "9" * 400 + "}", "setting 'size' is out of range: a number of 400 digits"),
    ('{"iterations": ' + "9" * 30 + "}", "setting 'iterations' is out of range: a number of 30 digits"),
    ('{"style_scale": [1, 2]}', "style_scale takes one number in the web app (it has one painting), got 2: [1, 2]"),
]
HOSTILE_CLIP = [
    ({"start": 1e300}, "start must be from 0 and duration over 0, both at most 86,400 seconds, got 1e+300 and None"),
    ({"duration": 1e300}, "start must be from 0 and duration over 0, both at most 86,400 seconds, got 0.0 and 1e+300"),
    ({"size": 2**62}, "size 4611686018427387904 makes the photo"),
    ({"temporal_frames": list(range(1, 300))}, "temporal_frames takes at most 8 offsets (each adds a flow to cache "
                                               "and a target to hold per frame), got 299"),
]


@pytest.mark.parametrize(("text", "detail"), HOSTILE, ids=["nested", "digits", "size", "iterations", "style_scale"])
def test_hostile_settings_are_a_422_with_one_line(tmp_path, photo, painting, text, detail, caplog) -> None:
    client = idle_client(tmp_path / "data")
    files = upload(photo, painting)["files"]
    with caplog.at_level(logging.WARNING):
        refused = client.post("/api/jobs", files=files, data={"settings": text})
    assert (refused.status_code, refused.json()["detail"]) == (422, detail)
    assert not caplog.records, "nothing in the log: the client's mistake"


@pytest.mark.parametrize(("settings", "detail"), HOSTILE_CLIP, ids=["start", "duration", "size", "temporal_frames"])
def test_hostile_clip_settings_are_a_422_with_one_line(tmp_path, painting, settings, detail) -> None:
    client = idle_client(tmp_path / "data")
    refused = client.post("/api/jobs", **clip_upload(clip_bytes(tmp_path), painting, settings))
    assert refused.status_code == 422 and refused.json()["detail"].startswith(detail)
    assert list((tmp_path / "data" / "jobs").iterdir()) == []


def test_the_cli_caps_temporal_frames_and_start_alike(tmp_path, capsys) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(clip_bytes(tmp_path))
    style = tmp_path / "style.jpg"
    style.write_bytes(b"")
    many = ",".join(map(str, range(1, MAX_TEMPORAL_FRAMES + 2)))
    assert main(["video", str(clip), str(style), "-o", str(tmp_path / "out.mp4"), "--temporal-frames", many]) == 2
    assert capsys.readouterr().err == (f"impasto: error: temporal_frames takes at most {MAX_TEMPORAL_FRAMES} offsets "
                                       f"(each adds a flow to cache and a target to hold per frame), got "
                                       f"{MAX_TEMPORAL_FRAMES + 1}\n")
    with pytest.raises(ConfigError, match="at most 86,400 seconds"):
        VideoConfig(start=1e300)


def test_what_a_clip_keeps_and_holds_grows_with_its_offsets_and_passes() -> None:
    one, four = VideoConfig(), VideoConfig(temporal_frames=(1, 2, 4, 8), passes=2)
    size = (512, 384)
    assert one.work_bytes(300, size) == 300 * 2 * 3 * 512 * 384 + 300 * 12 * 512 * 384
    assert four.work_bytes(300, size) == 300 * 3 * 3 * 512 * 384 + 300 * 4 * 2 * 12 * 512 * 384
    assert four.target_bytes(size) == 4 * one.target_bytes(size) > 0
    assert VideoConfig(independent=True).target_bytes(size) == 0


def test_a_clip_downloads_under_its_own_extension(tmp_path, painting) -> None:
    client = idle_client(tmp_path / "data")
    job = client.post("/api/jobs", **clip_upload(clip_bytes(tmp_path), painting, {"size": 48})).json()
    download = client.get(f"/api/jobs/{job['id']}/clip", params={"download": 1})
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="clip_painting_clip.mp4"'
    assert job["kind"] == "video"
