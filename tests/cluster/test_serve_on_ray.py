"""`impasto serve --ray ADDRESS` against a real Ray cluster (tests/cluster/conftest.py): a job runs to
the end with its events and previews, a cancelled one keeps its image, a killed server's job is run
again after the restart, a comparison's variants run at once and a clip as one task (in either mode),
a print-size still runs in the server with its blocks on the cluster's workers, and a server without
the cluster's token does not start."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from impasto.cluster import TOKEN_HELP
from impasto.web.store import FINAL

from ..web.conftest import Server, clip_bytes, clip_upload, frames_of, image_bytes, upload, wait_for
from .conftest import Cluster, ray_env


def with_token(monkeypatch: pytest.MonkeyPatch, cluster: Cluster) -> None:
    """The environment of the servers the test starts: the cluster's token."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(cluster.token))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)


@pytest.fixture
def server(tmp_path: Path, ray_cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    with_token(monkeypatch, ray_cluster)
    server = Server(tmp_path / "data", "--ray", ray_cluster.address)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def images() -> tuple[bytes, bytes]:
    return image_bytes("tubingen.jpg"), image_bytes("starry_night.jpg")


def test_jobs_run_on_the_cluster_with_progress_and_can_be_cancelled(server, images) -> None:
    client = server.start(timeout=300)  # Ray and torch import slowly on a busy machine
    assert client.get("/api/options").json()["devices"] == ["ray 1/2", "ray 2/2"]
    job = client.post("/api/jobs", **upload(*images, {"size": 48, "iterations": 4, "seed": 3})).json()
    long = client.post("/api/jobs", **upload(*images, {"size": 48, "iterations": 400})).json()
    events = client.get(job["events_url"]).text  # the stream ends with the job
    states = [json.loads(line[6:]) for line in events.splitlines() if line.startswith("data: ")]
    assert states[-1]["status"] == "done" and states[-1]["step"] == 4
    result = Image.open(io.BytesIO(client.get(states[-1]["urls"]["result"]).content))
    assert result.size == (48, 36) and json.loads(result.info["impasto"])["seed"] == 3
    wait_for(client, long["id"], {"running"}, timeout=120, step=2)
    assert client.get(f"/api/jobs/{long['id']}/preview").status_code == 200
    client.post(f"/api/jobs/{long['id']}/cancel")
    cancelled = wait_for(client, long["id"], {"cancelled"}, timeout=60)
    assert 2 <= cancelled["step"] < 400 and "result" in cancelled["urls"]


def test_a_killed_servers_job_runs_again_on_the_cluster_after_the_restart(server, images) -> None:
    client = server.start(timeout=300)  # Ray and torch import slowly on a busy machine
    job = client.post("/api/jobs", **upload(*images, {"size": 48, "iterations": 40, "seed": 5})).json()
    wait_for(client, job["id"], {"running"}, timeout=120, step=2)
    server.kill()  # SIGKILL: Ray drops the dead server's tasks
    client = server.start(timeout=300)  # Ray and torch import slowly on a busy machine
    done = wait_for(client, job["id"], {"done"}, timeout=240)
    assert done["step"] == done["total"] == 40 and done["error"] is None
    meta = json.loads(Image.open(io.BytesIO(client.get(done["urls"]["result"]).content)).info["impasto"])
    assert meta["iterations_done"] == 40 and meta["seed"] == 5
    assert "was interrupted by a server stop" in server.log.read_text()


def test_a_server_without_the_clusters_token_stops_with_one_line(ray_cluster, tmp_path) -> None:
    env = {**ray_env(), "RAY_gcs_server_port_wait_time_s": "2"}  # Ray tries twice, not for 20 s
    serve = subprocess.run([sys.executable, "-m", "impasto", "serve", "--data-dir", str(tmp_path / "data"), "--ray",
                            ray_cluster.address], capture_output=True, text=True, env=env, timeout=300)
    assert serve.returncode == 2, serve.stderr
    assert serve.stderr.splitlines()[-1] == (
        f"impasto: error: the Ray cluster at {ray_cluster.address!r} wants an authentication token and RAY_AUTH_MODE "
        f"is not 'token' here: set RAY_AUTH_MODE=token and {TOKEN_HELP}")
    assert "Traceback" not in serve.stderr


def test_a_comparisons_variants_run_at_once_and_a_clip_runs_as_one_task(server, images, tmp_path) -> None:
    client = server.start(timeout=300)  # Ray and torch import slowly on a busy machine
    settings = {"size": 48, "iterations": 40, "seed": 4, "strengths": [0.3, 0.7]}
    compare = client.post("/api/jobs", **upload(*images, settings)).json()
    deadline, together = time.monotonic() + 240, False
    while (job := client.get(f"/api/jobs/{compare['id']}").json())["status"] not in FINAL:
        assert time.monotonic() < deadline, job
        together = together or all(variant["status"] == "running" and variant["step"] for variant in job["variants"])
        time.sleep(0.05)
    assert job["status"] == "done" and job["step"] == 80, job
    assert together, "both variants ran at once, a task each"

    clip = client.post("/api/jobs", **clip_upload(clip_bytes(tmp_path), images[1],
                                                  {"size": 32, "iterations": 3, "later_iterations": 4})).json()
    keyframes = {"size": 32, "iterations": 3, "later_iterations": 4, "mode": "keyframes", "train_steps": 3}
    keyed = client.post("/api/jobs", **clip_upload(clip_bytes(tmp_path), images[1], keyframes)).json()
    work = tmp_path / "data" / "jobs" / clip["id"] / "work" / "pass1"
    wait_for(client, clip["id"], {"running"}, timeout=120, step=2)
    assert len(list(work.glob("*.png"))) >= 2, "the task sends its finished frames back to the job's folder"
    done = wait_for(client, clip["id"], {"done"}, timeout=240)
    assert done["step"] == 4 and frames_of(client.get(done["urls"]["result"]).content) == (4, 8.0, True)
    done = wait_for(client, keyed["id"], {"done"}, timeout=240)  # the task ran the VideoConfig as given
    assert done["step"] == 4 and done["video"]["mode"] == "keyframes" and done["error"] is None
    assert frames_of(client.get(done["urls"]["result"]).content) == (4, 8.0, True)


def test_a_print_size_still_runs_its_blocks_on_the_clusters_workers(ray_cluster, images, tmp_path, monkeypatch) -> None:
    with_token(monkeypatch, ray_cluster)
    # 2000 MiB less what the server holds (about 1 GiB) fits a 768 px level in blocks, not whole.
    server = Server(tmp_path / "data", "--ray", ray_cluster.address, "--memory-budget-mb", "2000")
    try:
        client = server.start(timeout=300)  # Ray and torch import slowly on a busy machine
        job = client.post("/api/jobs", **upload(*images, {"size": 768, "iterations": 2, "seed": 6})).json()
        deadline, workers = time.monotonic() + 300, 0
        while (state := client.get(f"/api/jobs/{job['id']}").json())["status"] not in FINAL:
            assert time.monotonic() < deadline, state
            workers = max(workers, len(ray_cluster.task_processes("BlockWorker")))
            time.sleep(0.1)
        assert state["status"] == "done" and state["step"] == state["total"] > 2, state  # more steps for the speed
        assert workers == 2, "the finest level's blocks ran on the cluster's two workers"
        assert Image.open(io.BytesIO(client.get(state["urls"]["result"]).content)).size == (768, 576)
    finally:
        server.stop()
