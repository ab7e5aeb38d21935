"""`impasto serve` as a real process: jobs survive a crash, behind a proxy, its log, and the command's
own errors."""

from __future__ import annotations

import io
import json
import sys

import pytest
from PIL import Image

from impasto.cli import main

from .conftest import Server, upload, wait_for


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


@pytest.mark.parametrize("option", ["--max-queue", "--max-upload-mb", "--memory-budget-mb", "--port",
                                    "--max-iterations", "--max-train-steps"])
def test_serve_refuses_a_limit_that_is_not_positive(option, tmp_path, capsys) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), option, "0"]) == 2
    assert capsys.readouterr().err == f"impasto: error: {option} must be positive, got 0\n"


def test_behind_a_trusted_proxy_the_log_names_each_client_and_never_the_token(tmp_path, photo, painting) -> None:
    token = "s3cret-token"
    server = Server(tmp_path / "data", "--token", token, "--trusted-proxy", "127.0.0.1", "--rate-limit", "1")
    client = server.start()
    try:
        page = client.get("/", params={"token": token},
                          headers={"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"})
        assert page.status_code == 200 and page.headers["set-cookie"].endswith("; Secure")
        statuses = [_post(client, photo, painting, forwarded_for) for forwarded_for in
                    ("203.0.113.5", "203.0.113.6", "203.0.113.5")]
        assert statuses == [201, 201, 429]
    finally:
        server.stop()
    log = server.log.read_text()
    assert '203.0.113.5:0 - "GET /?token=hidden HTTP/1.1" 200' in log
    [shown] = [line for line in log.splitlines() if token in line]
    assert f"impasto: {server.url}/?token={token} " in shown, "only the link printed at start-up has it"


def test_without_a_trusted_proxy_forwarded_addresses_count_for_nothing(tmp_path, photo, painting) -> None:
    """Not even from 127.0.0.1, which uvicorn itself would trust."""
    server = Server(tmp_path / "data", "--rate-limit", "1")
    client = server.start()
    try:
        statuses = [_post(client, photo, painting, forwarded_for) for forwarded_for in ("203.0.113.5", "203.0.113.6")]
        assert statuses == [201, 429]
    finally:
        server.stop()
    assert '127.0.0.1:' in log_line(server, "POST /api/jobs")


def _post(client, photo: bytes, painting: bytes, forwarded_for: str) -> int:
    """POST a tiny job as from `forwarded_for`, and delete it if it was made; the status."""
    response = client.post("/api/jobs", headers={"X-Forwarded-For": forwarded_for},
                           **upload(photo, painting, {"size": 32, "iterations": 0}))
    if response.status_code == 201:
        assert client.delete(f"/api/jobs/{response.json()['id']}").status_code == 204
    return response.status_code


def log_line(server: Server, request: str) -> str:
    """The first access-log line of `request` ('POST /api/jobs')."""
    return next(line for line in server.log.read_text().splitlines() if f'"{request} HTTP' in line)


@pytest.mark.parametrize("address", ["proxy.example", "10.0.0.1/8", "300.1.2.3"])
def test_serve_refuses_a_trusted_proxy_that_is_not_an_address(address, tmp_path, capsys) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), "--trusted-proxy", address]) == 2
    assert capsys.readouterr().err == ("impasto: error: --trusted-proxy must be an IP address or a network such as "
                                       f"10.0.0.0/8, got {address!r}\n")
