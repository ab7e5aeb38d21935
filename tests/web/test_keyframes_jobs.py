"""Clip jobs in `mode` 'keyframes' (issue 32): a job runs to done, its network's training shows as a
stage of its own (step k of n, with the time left counting the training and the frames after it),
the server's limit on training steps, the network's checkpoint in the planned disk, and the time
left and frames per second the progress callback works out from events (no run)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from PIL import Image

from impasto.optimize import Progress
from impasto.video.config import TRAIN_STEPS_MAX, VideoConfig
from impasto.video.progress import FrameProgress
from impasto.web import runs
from impasto.web.api import CHECKPOINT_BYTES, _planned_bytes
from impasto.web.runs import Running, _frame_callback
from impasto.web.settings import ServerSettings

from .conftest import clip_bytes, clip_upload, frames_of, idle_client, wait_for

KEYFRAMES = {"size": 32, "iterations": 3, "later_iterations": 4, "seed": 1, "mode": "keyframes", "train_steps": 3}
"""Frames of 32x24 px, the first of 3 iterations, keyframes of 4, a network of 3 training steps."""


def test_a_clip_in_mode_keyframes_runs_to_done_and_shows_its_training(client, tmp_path, painting) -> None:
    clip = clip_bytes(tmp_path)
    job = client.post("/api/jobs", **clip_upload(clip, painting, {**KEYFRAMES, "keyframes": [0, 2]})).json()
    assert job["kind"] == "video" and job["total"] == 4
    assert (job["video"]["mode"], job["video"]["train_steps"], job["video"]["keyframes"]) == ("keyframes", 3, [0, 2])
    done = wait_for(client, job["id"], {"done"}, timeout=120)
    assert done["step"] == 4 and done["error"] is None
    assert frames_of(client.get(done["urls"]["result"]).content) == (4, 8.0, True)

    # A network that trains long enough to be seen doing it, then cancelled mid-training.
    job = client.post("/api/jobs", **clip_upload(clip, painting, {**KEYFRAMES, "train_steps": 1000})).json()
    deadline = time.monotonic() + 60
    while (seen := client.get(f"/api/jobs/{job['id']}").json())["stage"] != "training" or not seen["train_step"]:
        assert time.monotonic() < deadline and seen["status"] in ("queued", "running"), seen
        time.sleep(0.05)
    assert (seen["train_steps"], seen["frame"], seen["step"]) == (1000, 2, 1), "training before frame 2 is painted"
    assert seen["frame_step"] is None and seen["frame_total"] is None, "training steps are no frame's iterations"
    assert seen["train_eta"] is not None and seen["eta"] is not None and seen["eta"] > seen["train_eta"]
    client.post(f"/api/jobs/{job['id']}/cancel")
    assert wait_for(client, job["id"], {"cancelled"})["step"] == 1


def test_training_steps_and_refine_are_held_to_the_servers_limits(tmp_path, painting) -> None:
    assert ServerSettings().max_train_steps == 2 * TRAIN_STEPS_MAX
    clip = clip_bytes(tmp_path)
    strict = idle_client(tmp_path / "data", max_train_steps=100, max_iterations=50)
    assert strict.get("/api/options").json()["limits"]["max_train_steps"] == 100
    for settings, detail in [
        ({"train_steps": 101}, "train_steps must be at most 100 on this server (impasto serve --max-train-steps), "
                               "got 101"),
        ({"train_steps": None}, "the network's default training for 4 frames is 154 steps, over the 100 this server "
                                "allows (impasto serve --max-train-steps): give train_steps"),
        ({"refine": 51}, "refine must be at most 50 on this server (impasto serve --max-iterations), got 51"),
    ]:
        refused = strict.post("/api/jobs", **clip_upload(clip, painting, {**KEYFRAMES, **settings}))
        assert (refused.status_code, refused.json()["detail"]) == (422, detail)
    assert list((tmp_path / "data" / "jobs").iterdir()) == []
    accepted = strict.post("/api/jobs", **clip_upload(clip, painting, {**KEYFRAMES, "train_steps": 100, "refine": 50}))
    assert accepted.status_code == 201 and accepted.json()["video"]["refine"] == 50


def test_the_planned_disk_counts_the_networks_checkpoint(tmp_path) -> None:
    from impasto.video.propagate import PaintNet, _save

    net = PaintNet()
    adam = torch.optim.Adam(net.parameters())
    schedule = torch.optim.lr_scheduler.LambdaLR(adam, lambda step: 1.0)
    net(torch.rand(1, 3, 16, 16)).mean().backward()
    adam.step()  # Adam's moments exist once it has stepped
    _save(tmp_path / "network.pt", net, adam, schedule, 1)
    assert (tmp_path / "network.pt").stat().st_size <= CHECKPOINT_BYTES
    frames, keyframes = (_planned_bytes("video", (32, 24), (32, 24), {}, 4, VideoConfig(mode=mode))
                         for mode in ("frames", "keyframes"))
    assert keyframes - frames == CHECKPOINT_BYTES


class _Store:
    """What a run's callback touches of the job store: its folder and its stored figures."""

    def __init__(self, folder: Path) -> None:
        self.root = folder
        self.stored: list[dict[str, Any]] = []

    def folder(self, job_id: str) -> Path:
        return self.root

    def update(self, job_id: str, **fields: Any) -> None:
        self.stored.append(fields)


def _step(step: int, total: int, elapsed: float, work: float | None = None) -> Progress:
    return Progress(step, total, 1.0, 0.0, 0.0, 0.0, elapsed, torch.zeros(1, 3, 1, 1), work=work)


def test_the_time_left_counts_the_training_and_each_kind_of_frame(tmp_path, monkeypatch) -> None:
    """5 frames, keyframes 0 and 3, 4 steps a keyframe: frame 1 (unknown training ahead: no time
    left), 10 training steps, frames 2 and 3 by the network, keyframe 4 optimised, frame 5."""
    clock = {"now": 0.0}
    monkeypatch.setattr(runs.time, "monotonic", lambda: clock["now"])
    frame = tmp_path / "frame.png"
    Image.new("RGB", (4, 3)).save(frame)
    store, live = _Store(tmp_path), dict[str, Any]()
    running = Running(SimpleNamespace(id="job"), store, threading.Event(), threading.Event(), live,  # type: ignore[arg-type]
                      threading.Lock(), lambda: None)
    on = _frame_callback(running, VideoConfig(mode="keyframes", keyframes=(0, 3), later_iterations=4))

    def at(now: float, event: FrameProgress) -> dict[str, Any]:
        clock["now"] = now
        on(event)
        return dict(live)

    first = at(1.0, FrameProgress(1, 5, _step(2, 8, 1.0)))  # 0.5 s an iteration
    assert (first["stage"], first["frame_step"], first["eta"], first["fps"]) == ("frame", 2, None, None)
    at(4.0, FrameProgress(1, 5, None, loss=1.0, seconds=4.0, path=frame))
    training = at(5.0, FrameProgress(1, 5, _step(1, 10, 0.5, work=0.1), stage="training"))
    assert (training["stage"], training["frame"], training["train_step"], training["train_steps"]) == (
        "training", 2, 1, 10)
    assert training["frame_step"] is None and training["train_eta"] == pytest.approx(4.5)
    # the training left, keyframe 4 at 4 iterations x 0.5 s, frames 2, 3 and 5 at a training step's 0.5 s
    assert training["eta"] == pytest.approx(4.5 + 4 * 0.5 + 3 * 0.5)
    assert store.stored[-1] == {"step": 1, "total": 5}, "a training step's loss is not stored as a frame's"
    at(9.5, FrameProgress(1, 5, _step(10, 10, 5.0, work=1.0), stage="training"))
    at(10.0, FrameProgress(2, 5, None, loss=float("nan"), seconds=5.5, path=frame))  # began with the training: untimed
    third = at(10.25, FrameProgress(3, 5, None, loss=float("nan"), seconds=0.2, path=frame))
    assert third["fps"] == pytest.approx(4.0) and third["eta"] == pytest.approx(4 * 0.5 + 0.25)
    keyframe = at(11.0, FrameProgress(4, 5, _step(1, 4, 0.75)))  # its own 2.25 s left, then frame 5
    assert keyframe["stage"] == "frame" and keyframe["eta"] == pytest.approx(2.25 + 0.25)
    at(13.25, FrameProgress(4, 5, None, loss=1.0, seconds=3.0, path=frame, keyframe=True))
    assert live["fps"] == pytest.approx(2 / 3.25) and live["eta"] == pytest.approx(0.25)


def test_the_time_left_of_mode_frames_is_the_later_frames_mean(tmp_path, monkeypatch) -> None:
    clock = {"now": 0.0}
    monkeypatch.setattr(runs.time, "monotonic", lambda: clock["now"])
    frame = tmp_path / "frame.png"
    Image.new("RGB", (4, 3)).save(frame)
    live = dict[str, Any]()
    running = Running(SimpleNamespace(id="job"), _Store(tmp_path), threading.Event(), threading.Event(),  # type: ignore[arg-type]
                      live, threading.Lock(), lambda: None)
    on = _frame_callback(running, VideoConfig(later_iterations=10))
    for now, event in [(1.0, FrameProgress(1, 4, _step(4, 8, 1.0))), (2.0, FrameProgress(1, 4, None, 1.0, 2.0, frame))]:
        clock["now"] = now
        on(event)
    assert live["eta"] == pytest.approx(3 * 10 * 0.25), "before a later frame: its iterations at the time of one so far"
    clock["now"] = 5.0
    on(FrameProgress(2, 4, None, 1.0, 2.9, frame))
    assert live["eta"] == pytest.approx(2 * 3.0) and live["fps"] == pytest.approx(1 / 3)
