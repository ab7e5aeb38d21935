"""Fixtures of the web tests: the app in-process (TestClient) or `impasto serve` in a subprocess,
on tiny copies of the bundled images and the real core."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from impasto.images import EXAMPLES
from impasto.memory import NETWORK_BYTES, process_bytes
from impasto.web.app import create_app
from impasto.web.settings import ServerSettings

TINY = {"size": 48, "iterations": 5}


def image_bytes(name: str, side: int = 96, image_format: str = "JPEG") -> bytes:
    """A bundled example downscaled to `side` px, encoded."""
    image = Image.open(EXAMPLES / name).convert("RGB")
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def photo() -> bytes:
    return image_bytes("tubingen.jpg")


@pytest.fixture(scope="session")
def painting() -> bytes:
    return image_bytes("starry_night.jpg")


def upload(photo: bytes, painting: bytes, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of a job's POST: two files and the settings."""
    files = {"content": ("photo.jpg", photo, "image/jpeg"), "style": ("painting.jpg", painting, "image/jpeg")}
    return {"files": files, "data": {"settings": json.dumps(TINY if settings is None else settings)}}


@contextlib.contextmanager
def app_client(data_dir: Path, **settings: Any) -> Iterator[TestClient]:
    """The app on `data_dir` with its workers running, as a TestClient."""
    settings.setdefault("rate_limit", 10_000)  # the tests send many requests; test_guard.py tests the limit
    settings.setdefault("max_iterations", 100_000)  # jobs that run until they are cancelled; test_limits.py
    settings.setdefault("client_queue", 10_000)  # one client sends them all; test_quotas.py tests the limit
    app = create_app(ServerSettings(data_dir=data_dir, device="cpu", **settings))
    with TestClient(app, base_url="http://localhost") as client:  # a name the server answers to
        yield client


def run_budget_mb(megabytes: float) -> float:
    """A server's `--memory-budget-mb` that leaves a run about `megabytes` besides what this process
    (the test suite's) holds and the network: the budget bounds the whole process."""
    return (process_bytes(torch.device("cpu")) + NETWORK_BYTES) / 2**20 + megabytes


def idle_client(data_dir: Path, peer: str = "testclient", scheme: str = "http", raise_server_exceptions: bool = True,
                **settings: Any) -> TestClient:
    """The app on `data_dir` with its workers not started (accepted jobs stay queued, nothing runs),
    as a TestClient whose requests come from the address `peer` over `scheme`."""
    settings.setdefault("client_queue", 10_000)
    app = create_app(ServerSettings(data_dir=data_dir, device="cpu", **settings))
    return TestClient(app, base_url=f"{scheme}://localhost", client=(peer, 50000),
                      raise_server_exceptions=raise_server_exceptions)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with app_client(tmp_path / "data") as client:
        yield client


def wait_for(client: TestClient | httpx.Client, job_id: str, statuses: set[str], timeout: float = 60,
              step: int = 0) -> dict[str, Any]:
    """Poll a job until its status is one of `statuses` (and it has done `step` iterations)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in statuses and job["step"] >= step:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {statuses} in {timeout} s: {job}")


class Server:
    """`impasto serve` in a subprocess on a free port, to be killed and started again."""

    def __init__(self, data_dir: Path, *options: str) -> None:
        self.data_dir, self.options = data_dir, options
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / "server.log"

    def start(self, timeout: float = 60) -> httpx.Client:
        command = [sys.executable, "-m", "impasto", "serve", "--port", str(self.port), "--data-dir",
                   str(self.data_dir), "--device", "cpu", *self.options]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        token = dict(zip(self.options, self.options[1:], strict=False)).get("--token")
        client = httpx.Client(base_url=self.url, timeout=30,
                              headers={"Authorization": f"Bearer {token}"} if token else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"impasto serve exited with {self.process.returncode}:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/api/options").status_code == 200:
                    return client
            time.sleep(0.2)
        raise AssertionError(f"impasto serve did not answer in {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash or a power cut."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path / "data")
    try:
        yield server
    finally:
        server.stop()


def clip_bytes(folder: Path, frames: int = 4, size: tuple[int, int] = (48, 36), rate: int = 8,
               audio: bool = True) -> bytes:
    """An H.264 MP4 of a pan across tubingen, with a tone if `audio`, made with PyAV."""
    from tests.video.clips import pan, write_clip

    return write_clip(folder / "clip.mp4", pan(frames, size)[0], rate=Fraction(rate), audio=audio).read_bytes()


def clip_upload(clip: bytes, painting: bytes, settings: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a video job's POST."""
    files = {"content": ("clip.mp4", clip, "video/mp4"), "style": ("painting.jpg", painting, "image/jpeg")}
    return {"files": files, "data": {"settings": json.dumps(settings)}}


def frames_of(data: bytes) -> tuple[int, float, bool]:
    """A video's frame count, frame rate and whether it has audio."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        return sum(1 for _ in container.decode(stream)), float(stream.average_rate), bool(container.streams.audio)
