"""Uploads whose decoding costs more than their bytes suggest: crafted files of every accepted format
(3072x3072 of one colour, a few kB to 2 MB each) sent at once to a real `impasto serve`, and to one
whose decodes may take 64 MiB each; a clip whose frames are larger than its header says; the decode
memory limit and deadline of the child processes."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest
from fastapi import HTTPException
from PIL import Image

from impasto.web.decoding import Decoder
from impasto.web.settings import ServerSettings
from impasto.web.uploads import _image

from .conftest import Server, app_client, clip_upload, idle_client, image_bytes, wait_for

SIDE = 3072
"""Pixels a side of the crafted images: 9.4 megapixels, 28 MB as RGB, under the default --max-pixels."""
BUDGET_MB = 64
SETTINGS = '{"size": 32, "iterations": 0}'
"""The jobs of the crafted uploads: the smallest run, should one start before it is deleted."""


def crafted(image_format: str) -> bytes:
    """A SIDE x SIDE image of one colour in `image_format`: small on disk, large once decoded."""
    mode, options = {"JPEG": ("RGB", {"quality": 50, "progressive": True}), "PNG": ("RGB", {}), "GIF": ("P", {}),
                     "WEBP": ("RGB", {"lossless": True}), "BMP": ("1", {}),
                     "TIFF": ("RGB", {"compression": "tiff_adobe_deflate"})}[image_format]
    buffer = io.BytesIO()
    Image.new(mode, (SIDE, SIDE), 1 if mode in ("P", "1") else (90, 120, 200)).save(buffer, image_format, **options)
    return buffer.getvalue()


def peak_memory(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """A crafted file of each format the server takes (MPO is JPEG's), 2 MB at most."""
    files = {name: crafted(name) for name in ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")}
    assert max(map(len, files.values())) < 2 * 2**20
    return files


def test_crafted_files_decoded_at_once_leave_the_server_small_and_answering(tmp_path, bombs, painting) -> None:
    """Four 3072x3072 PNGs of 30 kB each at once. On main before issue 33 the server's peak memory grew
    by 1.2 GiB with six files of 4096x4096 (every decode was in the server)."""
    bombs = {f"PNG {number}": bombs["PNG"] for number in range(4)}
    server = Server(tmp_path / "data")
    client = server.start()
    try:
        small = client.post("/api/jobs", files={"content": ("photo.jpg", image_bytes("tubingen.jpg"), "image/jpeg"),
                                                "style": ("painting.jpg", painting, "image/jpeg")},
                            data={"settings": '{"size": 32, "iterations": 1}'})
        wait_for(client, small.json()["id"], {"done"})  # the network is loaded: what the process holds from now on
        before = peak_memory(server.process.pid)

        def post(name: str) -> httpx.Response:
            files = {"content": ("bomb.png", bombs[name], "application/octet-stream"),
                     "style": ("painting.jpg", painting, "image/jpeg")}
            return httpx.post(f"{server.url}/api/jobs", files=files, data={"settings": SETTINGS}, timeout=60)

        with ThreadPoolExecutor(len(bombs)) as pool:
            answers = pool.map(post, bombs)
            latencies = []
            for _ in range(10):  # another client meanwhile
                started = time.monotonic()
                assert client.get("/api/jobs").status_code == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.1)
            answers = dict(zip(bombs, answers, strict=True))
        assert {name: answer.status_code for name, answer in answers.items()} == dict.fromkeys(bombs, 201)
        grown = peak_memory(server.process.pid) - before
        assert grown < 100 * 2**20, f"the server's peak memory grew by {grown / 2**20:.0f} MiB"
        assert sorted(latencies)[len(latencies) // 2] < 1.0, latencies
        for answer in answers.values():
            assert client.delete(f"/api/jobs/{answer.json()['id']}").status_code == 204
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text()


def test_crafted_files_over_the_decode_budget_are_refused(tmp_path, bombs, painting) -> None:
    client = idle_client(tmp_path / "data", decode_memory_mb=BUDGET_MB)
    for name, data in bombs.items():
        files = {"content": ("bomb", data, "application/octet-stream"),
                 "style": ("painting.jpg", painting, "image/jpeg")}
        answer = client.post("/api/jobs", files=files, data={"settings": '{"size": 32}'})
        if name == "WEBP":  # its decoder allocates its canvas as the file is opened: the child's memory limit
            # stops it there, and Pillow calls that "could not create decoder object"
            assert answer.status_code == 422 and "could not create decoder object" in answer.json()["detail"]
            continue
        assert answer.status_code == 413, (name, answer.text)
        assert answer.json()["detail"] == (f"the photo image is {SIDE}x{SIDE}, which needs about 108 MiB to decode, "
                                           f"over the {BUDGET_MB} MiB an upload may take (impasto serve "
                                           f"--decode-memory-mb): downscale it"), name
    assert list((tmp_path / "data" / "jobs").iterdir()) == []


UNLIMITED = ServerSettings(max_pixels=10**9, decode_memory_mb=2**20)
"""Limits that let every image through to its decoder: the child's own memory limit and deadline decide."""


def test_a_decode_past_its_memory_is_stopped_whatever_the_file_claims(tmp_path, bombs) -> None:
    for name in ("PNG", "BMP"):
        path = tmp_path / f"bomb.{name.lower()}"
        path.write_bytes(bombs[name])
        with pytest.raises(HTTPException) as refused:
            Decoder(1, 16 * 2**20, 30).run(_image, path, "photo", UNLIMITED, 512)
        assert refused.value.status_code == 413, name
        assert refused.value.detail.startswith("the upload needs more than 16 MiB to decode"), name


def test_an_upload_that_decodes_too_slowly_is_stopped_at_the_deadline(tmp_path) -> None:
    path = tmp_path / "large.jpg"
    Image.effect_noise((4000, 4000), 60).convert("RGB").save(path, "JPEG", progressive=True)
    slow = Decoder(1, 2**30, 0.2)
    slow.start()
    started = time.monotonic()
    with pytest.raises(HTTPException) as refused:
        slow.run(_image, path, "photo", UNLIMITED, 512)
    assert refused.value.status_code == 422
    assert refused.value.detail.startswith("the upload takes more than 0.2 s to decode (impasto serve "
                                           "--decode-seconds)")
    assert time.monotonic() - started < 5, "the child was stopped, not waited for"
    Image.new("RGB", (64, 48), "red").save(tmp_path / "small.png")
    assert Decoder(1, 2**30, 30).run(_image, tmp_path / "small.png", "photo", UNLIMITED, 512).size == (64, 48)


def mjpeg_clip(sizes: list[tuple[int, int]]) -> bytes:
    """A Matroska clip of Motion JPEG frames of `sizes` whose header says 48x36: each JPEG has its own size."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=Fraction(8))
        stream.width, stream.height, stream.pix_fmt = 48, 36, "yuvj420p"
        for index, size in enumerate(sizes):
            frame = io.BytesIO()
            Image.new("RGB", size, (40 * index, 90, 120)).save(frame, "JPEG", quality=50)
            packet = av.Packet(frame.getvalue())
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, Fraction(1, 8)
            container.mux(packet)
    return buffer.getvalue()


def test_a_clip_whose_frames_grow_past_the_pixel_limit_fails_with_a_message(tmp_path, painting) -> None:
    clip = mjpeg_clip([(48, 36), (48, 36), (2000, 2000), (48, 36)])
    with app_client(tmp_path / "data", max_pixels=1_000_000) as client:
        job = client.post("/api/jobs", **clip_upload(clip, painting, {"size": 48, "iterations": 2,
                                                                      "later_iterations": 1}))
        assert job.status_code == 201, job.text  # its header and first frame are 48x36
        failed = wait_for(client, job.json()["id"], {"failed", "done"}, timeout=60)
    assert failed["status"] == "failed", "the large frame was decoded"
    assert "its decoder refuses frames over 1,000,000 pixels" in failed["error"]
