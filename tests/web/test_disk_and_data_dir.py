"""The data dir under stress: a full disk that comes and goes, and two servers on one data dir."""

from __future__ import annotations

import errno
import sqlite3
import threading
import time

import pytest

from impasto.cli import main
from impasto.errors import ConfigError
from impasto.web.store import JobStore

from .conftest import app_client, upload, wait_for


def test_a_full_disk_fails_the_running_job_with_a_message_and_the_worker_lives_on(tmp_path, monkeypatch, photo,
                                                                                  painting) -> None:
    """Saving the preview fails (ENOSPC) and so does SQLite's write of the failure, until space is freed."""
    full, refused = threading.Event(), threading.Event()
    save_image, update = __import__("impasto.web.runs", fromlist=["save_image"]).save_image, JobStore.update

    def save_on_a_full_disk(*args, **kwargs):
        if full.is_set():
            refused.set()
            raise OSError(errno.ENOSPC, "No space left on device")
        return save_image(*args, **kwargs)

    def update_on_a_full_disk(self, job_id, **fields):
        if full.is_set():
            raise sqlite3.OperationalError("database or disk is full")
        return update(self, job_id, **fields)

    monkeypatch.setattr("impasto.web.runs.save_image", save_on_a_full_disk)
    monkeypatch.setattr(JobStore, "update", update_on_a_full_disk)
    with app_client(tmp_path / "data") as client:
        full.set()
        first = client.post("/api/jobs", **upload(photo, painting, {"size": 32, "iterations": 3})).json()
        assert refused.wait(120), "the run wrote its first preview"
        time.sleep(1.5)  # the worker tries to record the failure, and tries again
        assert client.get(f"/api/jobs/{first['id']}").json()["status"] == "running"
        full.clear()  # space is freed
        failed = wait_for(client, first["id"], {"failed"}, timeout=20)
        assert failed["error"] == "the server's disk was full while it ran: run it again once space is freed"
        second = client.post("/api/jobs", **upload(photo, painting, {"size": 32, "iterations": 3})).json()
        assert wait_for(client, second["id"], {"done"}, timeout=30)["status"] == "done", "the worker lives"


def test_a_full_disk_refuses_a_new_job_with_507_and_leaves_nothing(tmp_path, monkeypatch, photo, painting) -> None:
    with app_client(tmp_path / "data") as client:
        store = client.app.state.manager.store
        monkeypatch.setattr(store, "_db", _FullDatabase(store._db))
        refused = client.post("/api/jobs", **upload(photo, painting))
        assert refused.status_code == 507, refused.text
        assert refused.json()["detail"] == "the server's disk is full: try again once space is freed"
        assert list(store.root.iterdir()) == [], "no folder without its row"
        monkeypatch.undo()
        assert client.post("/api/jobs", **upload(photo, painting)).status_code == 201


class _FullDatabase:
    """A SQLite connection whose INSERTs fail as on a full disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, *args):
        if sql.startswith("INSERT"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)


def test_a_second_server_on_the_same_data_dir_refuses_to_start_with_one_line(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = JobStore(data)
    try:
        with pytest.raises(ConfigError, match=r"^another impasto serve \(pid \d+\) uses the data dir "):
            JobStore(data)
        assert main(["serve", "--data-dir", str(data), "--device", "cpu", "--memory-budget-mb", "2000"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "another impasto serve" in err and "--data-dir" in err
    finally:
        store.close()
    JobStore(data).close()  # free again once the first has closed


def test_start_up_removes_only_what_impasto_made(tmp_path) -> None:
    data = tmp_path / "data"
    JobStore(data).close()
    jobs = data / "jobs"
    ours = [jobs / ("a" * 32), jobs / f".new-{'b' * 32}", jobs / f".upload-{'c' * 32}"]
    theirs = [jobs / "my photos", jobs / "notes.txt", jobs / ("d" * 31)]
    for folder in ours + theirs[:1] + theirs[2:]:
        folder.mkdir()
    theirs[1].write_text("keep me")
    store = JobStore(data)
    store.recover()
    store.close()
    assert sorted(path.name for path in jobs.iterdir()) == sorted(path.name for path in theirs)
