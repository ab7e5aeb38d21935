"""The JSON API with the real core on tiny images: jobs from upload to result, events, cancelling,
deleting, settings and the queue (the limits: test_limits.py)."""

from __future__ import annotations

import io
import json
import time

from PIL import Image

import impasto
from impasto.config import PRESETS, TransferConfig
from impasto.web.store import MAX_ATTEMPTS, JobStore

from .conftest import TINY, app_client, upload, wait_for


def test_a_job_from_upload_to_result(client, photo, painting) -> None:
    response = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 6, "seed": 3}))
    assert response.status_code == 201
    job = response.json()
    assert job["status"] in ("queued", "running") and response.headers["location"] == f"/api/jobs/{job['id']}"
    assert (job["width"], job["height"]) == (48, 36)
    assert job["content_name"] == "photo.jpg" and job["style_name"] == "painting.jpg"

    job = wait_for(client, job["id"], {"done"})
    assert job["step"] == job["total"] == 6 and job["error"] is None and job["loss"] > 0
    assert set(job["urls"]) == {"content", "style", "preview", "result"}
    result = client.get(job["urls"]["result"])
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(result.content))
    assert image.format == "PNG" and image.size == (48, 36)
    meta = json.loads(image.info["impasto"])
    assert meta["seed"] == 3 and meta["iterations_done"] == 6 and meta["job"] == job["id"]
    assert meta["content"] == "photo.jpg" and meta["styles"] == ["painting.jpg"]
    assert TransferConfig(**meta["settings"]).replace(device="auto") == TransferConfig(**job["config"])

    download = client.get(job["urls"]["result"], params={"download": 1})
    assert download.headers["content-disposition"] == 'attachment; filename="photo_painting.png"'
    assert [listed["id"] for listed in client.get("/api/jobs").json()["jobs"]] == [job["id"]]


def test_the_result_is_the_cores_result(client, photo, painting, tmp_path) -> None:
    """The web app adds nothing to the run: the same inputs and seed give the same image as the API."""
    job = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 4, "seed": 1})).json()
    job = wait_for(client, job["id"], {"done"})
    (tmp_path / "content.png").write_bytes(client.get(job["urls"]["content"]).content)
    (tmp_path / "style.png").write_bytes(client.get(job["urls"]["style"]).content)
    expected = impasto.stylize(tmp_path / "content.png", tmp_path / "style.png", TransferConfig(**job["config"]))
    got = Image.open(io.BytesIO(client.get(job["urls"]["result"]).content)).convert("RGB")
    assert got.tobytes() == expected.tobytes()


def test_events_stream_progress_previews_and_the_end(client, photo, painting) -> None:
    job = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 30})).json()
    with client.stream("GET", job["events_url"]) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in stream.iter_lines() if line.startswith("data: ")]
    assert events[-1]["status"] == "done" and events[-1]["step"] == 30
    running = [event for event in events if event["status"] == "running" and event["step"] > 0]
    assert len(running) >= 2, "progress comes during the run, not only at the end"
    steps = [event["step"] for event in running]
    assert steps == sorted(steps)
    assert all(event["total"] == 30 and event["loss"] > 0 and event["eta"] is not None for event in running)
    assert any("preview" in event["urls"] for event in running)


def test_settings_use_the_cli_names_and_the_presets(client, photo, painting) -> None:
    settings = {"preset": "fast", "size": 48, "iterations": 3, "style-weight": 5.0, "style_layers": "conv1_1,conv2_1",
                "style_scale": [0.5], "preserve-colors": "luminance", "init": "noise"}
    job = client.post("/api/jobs", **upload(photo, painting, settings)).json()
    expected = TransferConfig.from_preset("fast", size=48, iterations=3, style_weight=5.0,
                                          style_layers="conv1_1,conv2_1", style_scale=0.5,
                                          preserve_colors="luminance", init="noise")
    budget = client.get("/api/options").json()["limits"]["memory_budget_bytes"]  # each run plans in the server's
    assert TransferConfig(**job["config"]) == expected.replace(seed=job["config"]["seed"], memory_budget=budget)
    assert job["settings"]["style_weight"] == 5.0 and job["settings"]["preset"] == "fast"
    style = Image.open(io.BytesIO(client.get(job["urls"]["style"]).content))
    assert max(style.size) == 24, "the painting is kept at its working size, size x style_scale"
    assert wait_for(client, job["id"], {"done"})["error"] is None


def test_options_come_from_the_config(client) -> None:
    options = client.get("/api/options").json()
    assert options["presets"] == {name: TransferConfig.from_preset(name).to_dict() for name in PRESETS}
    assert options["defaults"]["style_weight"] == TransferConfig().style_weight
    assert "device" not in options["defaults"] and "weights" in options["refused"]
    assert options["limits"]["max_upload_bytes"] == 20 * 2**20 and options["devices"] == ["cpu"]
    names = [example["name"] for example in options["examples"]]
    assert "tubingen.jpg" in names and "starry_night.jpg" in names
    picture = client.get(options["examples"][0]["url"])
    assert picture.status_code == 200 and Image.open(io.BytesIO(picture.content)).format == "JPEG"
    assert client.get("/api/examples/..%2Fcli.py").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/jobs", "/api/jobs/{job_id}", "/api/jobs/{job_id}/events", "/api/jobs/{job_id}/cancel"} <= set(paths)
    assert client.get("/docs").status_code == 200 and "<title>impasto" in client.get("/").text


def test_cancelling_a_running_job_stops_it_quickly_and_keeps_its_image(client, photo, painting) -> None:
    job = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 100_000})).json()
    wait_for(client, job["id"], {"running"}, step=3)
    asked = time.monotonic()
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    job = wait_for(client, job["id"], {"cancelled"}, timeout=10)
    assert time.monotonic() - asked < 2
    assert 3 <= job["step"] < 100_000 and job["error"] is None
    result = Image.open(io.BytesIO(client.get(job["urls"]["result"]).content))
    assert result.size == (48, 36) and json.loads(result.info["impasto"])["iterations_done"] == job["step"]
    assert client.post(f"/api/jobs/{job['id']}/cancel").status_code == 409


def test_queued_jobs_wait_their_turn_and_can_be_cancelled_or_deleted(tmp_path, photo, painting) -> None:
    with app_client(tmp_path / "data", max_queue=2) as client:
        first = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 100_000})).json()
        wait_for(client, first["id"], {"running"})
        second = client.post("/api/jobs", **upload(photo, painting)).json()
        third = client.post("/api/jobs", **upload(photo, painting)).json()
        assert (second["queue_position"], third["queue_position"]) == (1, 2)
        full = client.post("/api/jobs", **upload(photo, painting))
        assert full.status_code == 429 and "2 jobs are waiting" in full.json()["detail"]

        assert client.post(f"/api/jobs/{second['id']}/cancel").json()["status"] == "cancelled"
        assert client.get(f"/api/jobs/{third['id']}").json()["queue_position"] == 1
        assert "result" not in client.get(f"/api/jobs/{second['id']}").json()["urls"]
        assert client.delete(f"/api/jobs/{first['id']}").status_code == 204, "a running job is stopped, then deleted"
        assert client.get(f"/api/jobs/{first['id']}").status_code == 404
        assert not (tmp_path / "data" / "jobs" / first["id"]).exists()
        assert wait_for(client, third["id"], {"done"})["step"] == TINY["iterations"]
        assert sorted(path.name for path in (tmp_path / "data" / "jobs").iterdir()) == sorted([second["id"],
                                                                                               third["id"]])


def test_a_failed_run_says_why_and_the_worker_goes_on(client, photo, painting) -> None:
    overflow = {"size": 48, "iterations": 5, "normalization": "paper", "style_weight": 1e38}
    bad = client.post("/api/jobs", **upload(photo, painting, overflow))
    good = client.post("/api/jobs", **upload(photo, painting))
    job = wait_for(client, bad.json()["id"], {"failed"})
    assert "the loss became inf" in job["error"] and "lower the weights" in job["error"]
    assert "result" in job["urls"], "the last good image is kept"
    assert wait_for(client, good.json()["id"], {"done"})["error"] is None


def test_a_stopping_server_queues_its_running_job_again(tmp_path, photo, painting) -> None:
    with app_client(tmp_path / "data") as client:
        job = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 100_000})).json()
        wait_for(client, job["id"], {"running"}, step=2)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 2, "the running job is told to stop, not waited for"
    with app_client(tmp_path / "data") as client:
        again = client.get(f"/api/jobs/{job['id']}").json()
        assert again["status"] in ("queued", "running") and again["error"] is None
        client.delete(f"/api/jobs/{job['id']}")


def test_missing_jobs_and_images_are_json_404s(client, photo, painting) -> None:
    busy = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 100_000})).json()
    wait_for(client, busy["id"], {"running"})
    never_ran = client.post("/api/jobs", **upload(photo, painting)).json()
    client.post(f"/api/jobs/{never_ran['id']}/cancel")
    base = f"/api/jobs/{never_ran['id']}"
    for image in ("content", "style"):
        assert client.get(f"{base}/{image}").headers["content-type"] == "image/png"
    for image in ("preview", "result"):
        missing = client.get(f"{base}/{image}")
        assert missing.status_code == 404
        assert missing.json() == {"detail": f"job {never_ran['id']} has no {image} image yet (it is cancelled)"}
    assert client.get(f"{base}/secrets").status_code == 404
    for path in ("/api/jobs/0123456789abcdef0123456789abcdef", "/api/jobs/..%2F..%2Fjobs.sqlite3/result"):
        assert client.get(path).status_code == 404 and "detail" in client.get(path).json()
    client.post(f"/api/jobs/{busy['id']}/cancel")


def test_a_restart_gives_up_on_a_job_that_keeps_killing_the_server_and_drops_half_added_ones(tmp_path) -> None:
    data = tmp_path / "data"
    store = JobStore(data)
    image = Image.new("RGB", (64, 48), "gray")
    fields = {"settings": {}, "config": TransferConfig(size=64).to_dict(), "content_name": "a.png",
              "style_name": "b.png"}
    crashing, interrupted = store.add(image, image, **fields), store.add(image, image, **fields)
    store.update(crashing.id, status="running", attempts=MAX_ATTEMPTS)
    store.update(interrupted.id, status="running", attempts=1)
    (data / "jobs" / f".new-{'e' * 32}").mkdir()  # a job being added (its id)
    (data / "jobs" / ("f" * 32)).mkdir()  # renamed into place, but the server died before storing its row

    assert store.recover() == [interrupted.id]

    assert store.get(interrupted.id).status == "queued"
    crashed = store.get(crashing.id)
    assert crashed.status == "failed" and "stopped during this job 3 times" in crashed.error
    assert sorted(path.name for path in (data / "jobs").iterdir()) == sorted([crashing.id, interrupted.id])
