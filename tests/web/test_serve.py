"""`impasto serve` as a real process: jobs survive a crash, and the command's own errors."""

from __future__ import annotations

import io
import json
import sys

import pytest
from PIL import Image

from impasto.cli import main

from .conftest import upload, wait_for


def test_a_killed_server_loses_nothing_and_finishes_its_jobs(server, photo, painting) -> None:
    client = server.start()
    finished = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 3})).json()
    finished = wait_for(client, finished["id"], {"done"})
    before = client.get(finished["urls"]["result"]).content
    interrupted = client.post("/api/jobs", **upload(photo, painting, {"size": 64, "iterations": 150, "seed": 5}))
    waiting = client.post("/api/jobs", **upload(photo, painting, {"size": 48, "iterations": 4}))
    interrupted, waiting = interrupted.json(), waiting.json()
    wait_for(client, interrupted["id"], {"running"}, step=10)

    server.kill()  # SIGKILL mid-job: no shutdown code runs
    client = server.start()

    assert client.get(finished["urls"]["result"]).content == before, "finished results are kept"
    assert client.get(f"/api/jobs/{interrupted['id']}").json()["status"] in ("queued", "running")
    job = wait_for(client, interrupted["id"], {"done"}, timeout=120)
    assert job["step"] == job["total"] == 150 and job["error"] is None
    result = Image.open(io.BytesIO(client.get(job["urls"]["result"]).content))
    assert result.size == (64, 48)
    meta = json.loads(result.info["impasto"])
    assert meta["iterations_done"] == 150 and meta["seed"] == 5
    assert wait_for(client, waiting["id"], {"done"})["step"] == 4, "the queued job runs after the restart"
    listed = {job["id"]: job["status"] for job in client.get("/api/jobs").json()["jobs"]}
    assert listed == {finished["id"]: "done", interrupted["id"]: "done", waiting["id"]: "done"}
    assert "was interrupted by a server stop" in server.log.read_text()


def test_serve_without_the_web_extra_says_how_to_get_it(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "impasto.web.server", raising=False)
    assert main(["serve", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "impasto: error: the web app needs uvicorn: pip install 'impasto[web]'\n"


@pytest.mark.parametrize("option", ["--max-queue", "--max-upload-mb", "--memory-budget-mb", "--port"])
def test_serve_refuses_a_limit_that_is_not_positive(option, tmp_path, capsys) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), option, "0"]) == 2
    assert capsys.readouterr().err == f"impasto: error: {option} must be positive, got 0\n"
