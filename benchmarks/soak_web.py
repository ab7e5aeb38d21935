"""A soak of `impasto serve` on 127.0.0.1: tiny jobs of every kind (stills, comparisons, clips) sent
for `--minutes`, some cancelled, while the data dir's disk fills up and is freed again, and the
server is stopped twice (SIGINT, as Ctrl-C) and killed once (SIGKILL) and started again each time.

At the end every accepted job (201) must have ended: done (with its result), failed with a message,
or cancelled; none lost, and none run twice (a job runs again only after a stop that interrupted
it, and never after it ended). The data dir lives on a tmpfs of `--disk-mb` mounted here (root
only), so the full disk is a real one: a file fills it, and its deletion frees it.

    sudo python benchmarks/soak_web.py --minutes 30 --seed 0
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
from PIL import Image

from impasto.images import EXAMPLES

FINAL = {"done", "failed", "cancelled"}
EVENTS = ((0.15, "disk full"), (0.30, "disk freed"), (0.45, "restart"), (0.60, "kill -9"), (0.80, "restart"))
"""When (a fraction of the run) each disruption happens."""


def image(name: str, side: int) -> bytes:
    picture = Image.open(EXAMPLES / name).convert("RGB")
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG")
    return buffer.getvalue()


def clip(frames: int = 4, size: tuple[int, int] = (48, 36)) -> bytes:
    """An H.264 MP4 of `frames` frames panning across tubingen."""
    photo = Image.open(EXAMPLES / "tubingen.jpg").convert("RGB").resize((size[0] * 2, size[1]))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(8))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(frames):
            crop = photo.crop((index * 4, 0, index * 4 + size[0], size[1]))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.asarray(crop), format="rgb24")))
        container.mux(stream.encode(None))
    return buffer.getvalue()


@dataclass
class Server:
    """`impasto serve` on a free port of 127.0.0.1, started again as often as asked."""

    data_dir: Path
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = self.port or probe.getsockname()[1]
        command = [sys.executable, "-m", "impasto", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--data-dir", str(self.data_dir), "--device", "cpu", "--memory-budget-mb", "3000",
                   "--rate-limit", "100000", "--max-queue", "40", "--client-queue", "40"]
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                            env={**os.environ, "OMP_NUM_THREADS": "1"})
        self.starts += 1
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/api/options", timeout=5).status_code == 200:
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"impasto serve exited with {self.process.returncode}: see {self.log}")
            time.sleep(0.3)
        raise RuntimeError(f"impasto serve did not answer in 120 s: see {self.log}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, kill: bool = False) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Soak:
    server: Server
    disk: Path
    rng: random.Random
    inputs: dict[str, bytes]
    accepted: dict[str, str] = field(default_factory=dict)
    """Job id -> kind."""
    answers: Counter[str] = field(default_factory=Counter)
    cancelled: set[str] = field(default_factory=set)
    log: list[str] = field(default_factory=list)

    def submit(self, client: httpx.Client) -> None:
        kind = self.rng.choice(("still", "still", "still", "compare", "video"))
        settings: dict[str, object] = {"size": self.rng.choice((32, 48, 64)), "iterations": self.rng.randint(3, 15),
                                       "seed": self.rng.randrange(1000)}
        content = ("photo.jpg", self.inputs["photo"], "image/jpeg")
        if kind == "compare":
            settings["strengths"] = [0.3, 0.7]
        elif kind == "video":
            settings = {"size": 48, "iterations": 4, "later_iterations": 2}
            content = ("clip.mp4", self.inputs["clip"], "video/mp4")
        files = {"content": content, "style": ("painting.jpg", self.inputs["painting"], "image/jpeg")}
        try:
            answer = client.post("/api/jobs", files=files, data={"settings": json.dumps(settings)})
        except httpx.TransportError:
            self.answers["no answer (server down)"] += 1
            return
        self.answers[str(answer.status_code)] += 1
        if answer.status_code == 201:
            self.accepted[answer.json()["id"]] = kind
        elif answer.status_code >= 500 and answer.status_code != 507:
            self.log.append(f"a {answer.status_code}: {answer.text[:200]}")

    def cancel_one(self, client: httpx.Client) -> None:
        with contextlib.suppress(httpx.TransportError):
            jobs = client.get("/api/jobs").json()["jobs"]
            waiting = [job["id"] for job in jobs if job["status"] in ("queued", "running")]
            if waiting:
                job_id = self.rng.choice(waiting)
                if client.post(f"/api/jobs/{job_id}/cancel").status_code == 200:
                    self.cancelled.add(job_id)

    def fill_disk(self) -> None:
        """Write a file until the tmpfs is full, to its last byte."""
        with open(self.disk / "filler", "wb", buffering=0) as filler:
            for chunk in (1 << 20, 1 << 14, 1 << 9, 1):
                try:
                    while True:
                        filler.write(b"\0" * chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise


def run(minutes: float, seed: int, disk_mb: int) -> int:
    rng = random.Random(seed)
    inputs = {"photo": image("tubingen.jpg", 96), "painting": image("starry_night.jpg", 96), "clip": clip()}
    with tempfile.TemporaryDirectory(prefix="soak-web-") as temporary:
        disk = Path(temporary) / "disk"
        disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={disk_mb}m", "tmpfs", str(disk)], check=True)
        try:
            return _soak(Soak(Server(disk / "data", Path(temporary) / "server.log"), disk, rng, inputs), minutes)
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=False)


def _soak(soak: Soak, minutes: float) -> int:
    server = soak.server
    server.start()
    started = time.monotonic()
    events = list(EVENTS)
    timeline: list[str] = []
    client = httpx.Client(base_url=server.url, timeout=60)
    while (elapsed := time.monotonic() - started) < minutes * 60:
        if events and elapsed >= events[0][0] * minutes * 60:
            _, event = events.pop(0)
            timeline.append(f"{elapsed / 60:.1f} min: {event}")
            print(timeline[-1], file=sys.stderr)
            if event == "disk full":
                soak.fill_disk()
            elif event == "disk freed":
                (soak.disk / "filler").unlink()
            else:
                server.stop(kill=event == "kill -9")
                server.start()
        soak.submit(client)
        if soak.rng.random() < 0.15:
            soak.cancel_one(client)
        time.sleep(soak.rng.uniform(1.0, 4.0))
    ended = _wait_for_the_end(client, soak, 600)
    server.stop()
    status = _report(soak, ended, timeline, minutes)
    shutil.copy(server.log, Path(tempfile.gettempdir()) / "soak-web-server.log")
    return status


def _wait_for_the_end(client: httpx.Client, soak: Soak, seconds: float) -> dict[str, dict]:
    deadline = time.monotonic() + seconds
    while True:
        jobs = {job["id"]: job for job in client.get("/api/jobs").json()["jobs"]}
        if all(jobs.get(job_id, {}).get("status") in FINAL for job_id in soak.accepted) or time.monotonic() > deadline:
            for job in jobs.values():  # a comparison's result is its variants until one is kept
                if job["status"] == "done":
                    url = job["urls"].get("result") or job["urls"].get("all", "/none")
                    job["result_ok"] = client.get(url).status_code == 200
            return jobs
        time.sleep(2)


def _report(soak: Soak, jobs: dict[str, dict], timeline: list[str], minutes: float) -> int:
    problems = list(soak.log)
    outcomes: Counter[tuple[str, str]] = Counter()
    log = soak.server.log.read_text(errors="replace")
    runs = Counter(re.findall(r"job ([0-9a-f]{32}): \w+ job running on", log))
    requeued = Counter(re.findall(r"job ([0-9a-f]{32}) was interrupted by a server stop", log))
    requeued += Counter(re.findall(r"job ([0-9a-f]{32}): stopped by the server's shutdown", log))
    for job_id, kind in soak.accepted.items():
        job = jobs.get(job_id)
        if job is None:
            problems.append(f"job {job_id} ({kind}) was lost: not listed at the end")
            continue
        outcomes[(kind, job["status"])] += 1
        if job["status"] not in FINAL:
            problems.append(f"job {job_id} ({kind}) did not end: {job['status']}")
        elif job["status"] == "failed" and not job["error"]:
            problems.append(f"job {job_id} ({kind}) failed without a message")
        elif job["status"] == "done" and not job.get("result_ok"):
            problems.append(f"job {job_id} ({kind}) is done without its result")
        if runs[job_id] > 1 + requeued[job_id]:
            problems.append(f"job {job_id} ({kind}) ran {runs[job_id]} times, interrupted {requeued[job_id]} times")
    problems += [f"server log: {line}" for line in log.splitlines() if "Traceback" in line]
    failed = Counter(job["error"] for job in jobs.values() if job["status"] == "failed" and job["id"] in soak.accepted)
    full = log.count("the disk is full") + log.count("the job store cannot be written")
    print(f"soak of {minutes:g} minutes, {len(soak.accepted)} jobs accepted, on {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f}); the server started {soak.server.starts} times")
    print("\n".join(timeline))
    print("answers to POST /api/jobs: " + ", ".join(f"{count} x {status}" for status, count in soak.answers.items()))
    print("\n| kind | " + " | ".join(sorted(FINAL)) + " |\n|---|---|---|---|")
    for kind in ("still", "compare", "video"):
        print(f"| {kind} | " + " | ".join(str(outcomes[(kind, status)]) for status in sorted(FINAL)) + " |")
    print(f"\ncancelled by the soak: {len(soak.cancelled)}; runs started: {sum(runs.values())}, of which again after "
          f"an interrupting stop: {sum(max(0, runs[j] - 1) for j in soak.accepted)} (stops that requeued a job: "
          f"{sum(requeued.values())})")
    print("why jobs failed: " + "; ".join(f"{count} x {error!r}" for error, count in failed.most_common()))
    print(f"the server's log saw the full disk {full} times (a refused upload or write, a store write tried again)")
    print("\n" + ("\n".join(problems) if problems else "no problems: every accepted job ended (done with its "
                                                         "result, failed with a message, or cancelled), none lost, "
                                                         "none run twice, no traceback"))
    return 1 if problems else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--disk-mb", type=int, default=256, help="size of the tmpfs holding the data dir")
    args = parser.parse_args()
    sys.exit(run(args.minutes, args.seed, args.disk_mb))


if __name__ == "__main__":
    main()
