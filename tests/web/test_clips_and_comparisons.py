"""Video jobs and comparisons through the API, with the real core on clips of a few frames at 32 px
made here with PyAV: a restart mid-clip, cancelling, the limits of clips, keeping a variant, the
files a deleted job leaves (none), and the schema."""

from __future__ import annotations

import errno
import io
import json
import zipfile

import pytest
from PIL import Image

from impasto.web import store
from tests.video.clips import pan, write_clip

from .conftest import Server, app_client, clip_bytes, clip_upload, frames_of, idle_client, upload, wait_for

CLIP = {"size": 32, "iterations": 3, "later_iterations": 8, "seed": 1}
"""A clip's settings: frames of 32x24 px, the first of 3 iterations, each later one of 8."""


def test_a_video_job_survives_a_restart_mid_clip_and_finishes_with_every_frame(tmp_path, painting) -> None:
    server = Server(tmp_path / "data")
    try:
        client = server.start()
        job = client.post("/api/jobs", **clip_upload(clip_bytes(tmp_path, frames=5), painting, CLIP)).json()
        assert job["kind"] == "video" and (job["width"], job["height"], job["total"]) == (32, 24, 5)
        assert job["video"]["later_iterations"] == 8 and "clip" in job["urls"]
        wait_for(client, job["id"], {"running"}, step=2)
        server.kill()  # SIGKILL mid-clip: the finished frames are in the job's folder
        work = tmp_path / "data" / "jobs" / job["id"] / "work"
        assert len(list((work / "pass1").glob("*.png"))) >= 2
        client = server.start()
        done = wait_for(client, job["id"], {"done"}, timeout=120)
        video = client.get(done["urls"]["result"]).content
    finally:
        server.stop()
    assert done["step"] == done["total"] == 5 and done["error"] is None
    assert frames_of(video) == (5, 8.0, True), "every frame, the rate, the audio"
    log = server.log.read_text()
    assert "was interrupted by a server stop" in log
    resumed = [line for line in log.splitlines() if "frames were finished before the server stopped" in line]
    assert resumed and int(resumed[0].split(": ")[-1].split()[0]) >= 2, "it continued, not started again"
    assert not work.exists(), "the work dir goes once the video is written"


def test_a_cancelled_video_job_keeps_its_finished_frames_as_a_shorter_video(client, tmp_path, painting) -> None:
    settings = {**CLIP, "later_iterations": 100_000}
    job = client.post("/api/jobs", **clip_upload(clip_bytes(tmp_path), painting, settings)).json()
    running = wait_for(client, job["id"], {"running"}, step=1)
    assert "preview" in running["urls"], "the latest finished frame"
    assert Image.open(io.BytesIO(client.get(running["urls"]["preview"]).content)).size == (32, 24)
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    cancelled = wait_for(client, job["id"], {"cancelled"})
    assert cancelled["step"] == 1
    assert frames_of(client.get(cancelled["urls"]["result"]).content) == (1, 8.0, True)

    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert list((tmp_path / "data" / "jobs").iterdir()) == [], "deleting a job removes all its files"


def test_a_clip_over_a_limit_is_413_naming_it_and_leaves_no_file(tmp_path, painting) -> None:
    clip = clip_bytes(tmp_path, frames=6)
    data = tmp_path / "data"
    small = idle_client(data, max_video_mb=len(clip) / 2**20 / 2)
    refused = small.post("/api/jobs", **clip_upload(clip, painting, CLIP))
    assert refused.status_code == 413 and "(impasto serve --max-video-mb)" in refused.json()["detail"]
    assert list((data / "jobs").iterdir()) == []

    short = idle_client(tmp_path / "short", max_frames=5)
    refused = short.post("/api/jobs", **clip_upload(clip, painting, CLIP))
    assert refused.json() == {"detail": "the photo clip has 6 frames to paint, over the limit of 5 (impasto serve "
                                        "--max-frames): paint a part of it (the settings start, duration, max_frames) "
                                        "or shorten it"}
    assert refused.status_code == 413 and list((tmp_path / "short" / "jobs").iterdir()) == []
    twice = short.post("/api/jobs", **clip_upload(clip, painting, {**CLIP, "max_frames": 3, "passes": 2}))
    assert twice.status_code == 413 and "3 frames to paint x 2 passes" in twice.json()["detail"]
    part = short.post("/api/jobs", **clip_upload(clip, painting, {**CLIP, "max_frames": 5}))
    assert part.status_code == 201 and part.json()["total"] == 5


@pytest.mark.parametrize(("settings", "words"), [
    ({"passes": 2}, "apply to clips: upload a clip"),
    ({"strengths": [0.25, 1.5]}, "strength must be a number from 0"),
    ({"strengths": [0.5]}, "strengths must be a list of 2 to 6 numbers"),
    ({"strengths": [0.5, 0.5]}, "strengths must differ"),
    ({"strengths": [0.2, 0.8], "strength": 0.3}, "not both"),
])
def test_settings_of_the_wrong_kind_are_422(tmp_path, photo, painting, settings, words) -> None:
    client = idle_client(tmp_path / "data")
    refused = client.post("/api/jobs", **upload(photo, painting, {"size": 48, **settings}))
    assert refused.status_code == 422 and words in refused.json()["detail"]


def test_a_clip_with_strengths_or_bad_video_settings_is_422(tmp_path, painting) -> None:
    client = idle_client(tmp_path / "data")
    clip = clip_bytes(tmp_path)
    for settings, words in [({"strengths": [0.2, 0.8]}, "upload a photo"),
                            ({"passes": "two"}, "passes must be a positive whole number, got 'two'"),
                            ({"later_iterations": 1.5}, "later_iterations must be"),
                            ({"later_iterations": 5000}, "later_iterations must be at most 2,000"),
                            ({"mode": "sometimes"}, "mode must be one of frames, keyframes, got 'sometimes'"),
                            ({"mode": "keyframes", "passes": 2}, "mode keyframes paints frames between keyframes"),
                            ({"train_steps": "many"}, "train_steps must be a whole number from 0 to 100,000"),
                            ({"keyframes": [3, 9]}, "keyframes must be whole numbers from 0, the first frame"),
                            ({"keyframes": [0, "x"]}, "setting 'keyframes' has a value of the wrong type"),
                            ({"keyframe_coverage": 2}, "keyframe_coverage must be a share from 0 to 1"),
                            ({"refine": -1}, "refine must be zero or a positive whole number"),
                            ({"refine": 5000}, "refine must be at most 2,000 on this server"),
                            ({"mode": "keyframes", "train_steps": 5000}, "train_steps must be at most 1,200 on this "
                                                                         "server (impasto serve --max-train-steps)")]:
        refused = client.post("/api/jobs", **clip_upload(clip, painting, {**CLIP, **settings}))
        assert refused.status_code == 422 and words in refused.json()["detail"], refused.json()
    assert list((tmp_path / "data" / "jobs").iterdir()) == []


def test_a_comparison_runs_each_strength_keeps_one_and_downloads_all(client, photo, painting) -> None:
    settings = {"size": 48, "iterations": 4, "seed": 2, "strengths": [0.25, 0.5, 0.75]}
    job = client.post("/api/jobs", **upload(photo, painting, settings)).json()
    assert job["kind"] == "compare" and job["total"] == 12
    assert [variant["strength"] for variant in job["variants"]] == [0.25, 0.5, 0.75]
    done = wait_for(client, job["id"], {"done"})
    assert done["step"] == 12 and all(variant["status"] == "done" for variant in done["variants"])
    images = [client.get(variant["url"]).content for variant in done["variants"]]
    metas = [json.loads(Image.open(io.BytesIO(image)).info["impasto"]) for image in images]
    assert [meta["strength"] for meta in metas] == [0.25, 0.5, 0.75]
    assert [meta["settings"]["strength"] for meta in metas] == [0.25, 0.5, 0.75] and len(set(images)) == 3
    assert "result" not in done["urls"], "no result until one is kept"

    kept = client.post(f"/api/jobs/{job['id']}/keep", params={"variant": 3}).json()
    assert kept["kept"] == 3 and client.get(kept["urls"]["result"]).content == images[2]
    download = client.get(kept["urls"]["result"], params={"download": 1})
    assert download.headers["content-disposition"] == 'attachment; filename="photo_painting_strength-0.75.png"'
    archive = zipfile.ZipFile(io.BytesIO(client.get(kept["urls"]["all"]).content))
    assert archive.namelist() == [f"photo_painting_strength-{s}.png" for s in ("0.25", "0.5", "0.75")]
    assert [archive.read(name) for name in archive.namelist()] == images
    assert client.post(f"/api/jobs/{job['id']}/keep", params={"variant": 4}).status_code == 404
    still = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 0})).json()
    assert client.post(f"/api/jobs/{still['id']}/keep", params={"variant": 1}).status_code == 409
    listed = {job["id"]: job["kind"] for job in client.get("/api/jobs").json()["jobs"]}
    assert listed == {job["id"]: "compare", still["id"]: "still"}


def test_a_full_disk_is_507(tmp_path, photo, painting, monkeypatch) -> None:
    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "save_image", full)
    client = idle_client(tmp_path / "data")
    refused = client.post("/api/jobs", **upload(photo, painting))
    assert refused.status_code == 507 and refused.json() == {
        "detail": "the server's disk is full: try again once space is freed"}
    assert list((tmp_path / "data" / "jobs").iterdir()) == []


def test_the_schema_documents_the_kinds_and_the_errors(tmp_path) -> None:
    with app_client(tmp_path / "data") as client:
        schema = client.get("/openapi.json").json()
    job = schema["components"]["schemas"]["JobView"]
    assert job["properties"]["kind"]["enum"] == ["still", "video", "compare"]
    assert {"frame", "frames", "frame_step", "variants", "kept", "video"} <= set(job["properties"])
    create = schema["paths"]["/api/jobs"]["post"]
    assert {"413", "415", "422", "429", "507"} <= set(create["responses"])
    assert create["responses"]["413"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    paths = set(schema["paths"])
    assert {"/api/jobs/{job_id}/keep", "/api/jobs/{job_id}/all.zip", "/api/jobs/{job_id}/{name}"} <= paths


def test_a_clip_is_judged_by_its_content_not_its_name(tmp_path, painting) -> None:
    client = idle_client(tmp_path / "data")
    animated, still = io.BytesIO(), io.BytesIO()
    images = [Image.new("RGB", (48, 36), color) for color in ("red", "green", "blue")]
    images[0].save(animated, "GIF", save_all=True, append_images=images[1:], duration=100)
    images[0].save(still, "GIF")
    webm = write_clip(tmp_path / "clip.webm", pan(3, (48, 36))[0])
    cases = [(clip_bytes(tmp_path, frames=3), "video"), (webm.read_bytes(), "video"),
             (animated.getvalue(), "video"), (still.getvalue(), "still")]
    for data, kind in cases:
        settings = CLIP if kind == "video" else {"size": 48, "iterations": 0}
        job = client.post("/api/jobs", **clip_upload(data, painting, settings))  # all named clip.mp4
        assert job.status_code == 201 and job.json()["kind"] == kind, job.json()
        if kind == "video":
            assert job.json()["total"] == 3
    kept = sorted(path.name for path in (tmp_path / "data" / "jobs").glob("*/clip.*"))
    assert kept == ["clip.gif", "clip.mp4", "clip.webm"]
