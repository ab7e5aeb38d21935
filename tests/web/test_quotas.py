"""Disk that does not only grow: the data dir's quota, each client's share of the queue and the disk,
a cancelled clip's upload freed at once, and ended jobs removed after --keep-days."""

from __future__ import annotations

import time

from .conftest import app_client, clip_bytes, clip_upload, idle_client, upload, wait_for

PROXY = "10.0.0.2"


def post(client, photo: bytes, painting: bytes, forwarded_for: str = "203.0.113.5"):
    return client.post("/api/jobs", headers={"X-Forwarded-For": forwarded_for}, **upload(photo, painting))


def test_the_data_dir_has_a_quota_counting_what_waiting_jobs_may_come_to(tmp_path, photo, painting) -> None:
    roomy = idle_client(tmp_path / "roomy", max_disk_gb=0.001)
    job = roomy.post("/api/jobs", **upload(photo, painting)).json()
    stored = roomy.app.state.manager.store.get(job["id"]).bytes
    assert 0 < stored < 2**20 / 2
    full = idle_client(tmp_path / "full", max_disk_gb=stored / 2**30 * 1.5)
    assert full.post("/api/jobs", **upload(photo, painting)).status_code == 201
    refused = full.post("/api/jobs", **upload(photo, painting))
    assert refused.status_code == 507
    assert refused.json()["detail"].startswith("this job may need ")
    assert "(impasto serve --max-disk): try again once older jobs are deleted or expire" in refused.json()["detail"]
    assert len(list((tmp_path / "full" / "jobs").iterdir())) == 1, "nothing of the refused job"


def test_each_client_has_its_share_of_the_queue_and_the_disk(tmp_path, photo, painting) -> None:
    client = idle_client(tmp_path / "data", peer=PROXY, trusted_proxies=(PROXY,), client_queue=2)
    assert [post(client, photo, painting).status_code for _ in range(2)] == [201, 201]
    refused = post(client, photo, painting)
    assert refused.status_code == 429
    assert refused.json()["detail"] == ("2 jobs from your address are waiting or running, the most one address may "
                                        "have on this server (impasto serve --client-queue): wait for one to end")
    assert post(client, photo, painting, "203.0.113.6").status_code == 201, "another client has its own share"
    waiting = client.get("/api/jobs").json()["jobs"][-1]["id"]
    stored = client.app.state.manager.store.get(waiting).bytes  # what one such job may come to
    client.post(f"/api/jobs/{waiting}/cancel")
    assert post(client, photo, painting).status_code == 201, "an ended job frees its place"

    small = idle_client(tmp_path / "small", peer=PROXY, trusted_proxies=(PROXY,), client_disk_mb=stored / 2**20 * 1.5)
    assert post(small, photo, painting).status_code == 201
    refused = post(small, photo, painting)
    assert refused.status_code == 507 and "(impasto serve --client-disk-mb): delete some of them" in refused.text
    assert post(small, photo, painting, "203.0.113.6").status_code == 201


def test_a_cancelled_clip_frees_its_upload_at_once(tmp_path, painting) -> None:
    client = idle_client(tmp_path / "data")
    job = client.post("/api/jobs", **clip_upload(clip_bytes(tmp_path, frames=24), painting, {"size": 48})).json()
    folder = tmp_path / "data" / "jobs" / job["id"]
    assert [path.name for path in folder.glob("clip.*")] == ["clip.mp4"]
    before = client.app.state.manager.store.get(job["id"]).bytes
    client.post(f"/api/jobs/{job['id']}/cancel")
    assert list(folder.glob("clip.*")) == []
    after = client.app.state.manager.store.get(job["id"]).bytes
    assert after == sum(path.stat().st_size for path in folder.iterdir()) < before
    assert "clip" not in client.get(f"/api/jobs/{job['id']}").json()["urls"]


def test_ended_jobs_go_after_keep_days_and_say_when(tmp_path, photo, painting) -> None:
    keep_days = 1 / 86_400  # a second
    with app_client(tmp_path / "data", keep_days=keep_days) as client:
        job = client.post("/api/jobs", **upload(photo, painting, {"size": 32, "iterations": 2})).json()
        assert job["expires"] is None, "not while it waits"
        done = wait_for(client, job["id"], {"done"})
        assert abs(done["expires"] - (done["finished"] + 1.0)) < 0.01
    time.sleep(1.2)
    with app_client(tmp_path / "data", keep_days=keep_days) as client:
        assert client.get(f"/api/jobs/{job['id']}").status_code == 404
        assert list((tmp_path / "data" / "jobs").iterdir()) == []
    with app_client(tmp_path / "kept", keep_days=0) as client:
        job = client.post("/api/jobs", **upload(photo, painting, {"size": 32, "iterations": 2})).json()
        assert wait_for(client, job["id"], {"done"})["expires"] is None, "--keep-days 0 keeps them for ever"
