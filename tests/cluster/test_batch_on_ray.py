"""`impasto batch` against a real Ray cluster (tests/cluster/conftest.py): failures, a killed
worker, resume (with and without a seed), a result equal to `impasto transfer`'s, and a client
without the cluster's token; and on a local Ray instance of its own."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from impasto.cluster import TOKEN_HELP
from impasto.images import EXAMPLES, read_metadata

from .conftest import Cluster, ray_env

TINY = ["--size", "48", "--iterations", "3", "--seed", "0", "--precision", "fp32", "--threads", "1", "-q"]
UNSEEDED = [a for a in TINY if a not in ("--seed", "0")]


def impasto(*args: str, env: dict[str, str] | None = None, threads: int | None = None) -> subprocess.Popen[str]:
    env = ray_env() if env is None else env
    if threads is not None:
        env = {**env, "OMP_NUM_THREADS": str(threads)}
    return subprocess.Popen([sys.executable, "-m", "impasto", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str]:
    _, err = process.communicate(timeout=timeout)
    return process.returncode, err


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small photos and a corrupt one in photos/, a painting beside them."""
    folder = tmp_path_factory.mktemp("album")
    (folder / "photos").mkdir()
    for name, target in [("tubingen.jpg", "photos/tubingen.jpg"), ("shipwreck.jpg", "photos/ship.jpg"),
                         ("starry_night.jpg", "starry.jpg")]:
        image = Image.open(EXAMPLES / name).convert("RGB")
        image.thumbnail((80, 80))
        image.save(folder / target)
    (folder / "photos" / "broken.jpg").write_bytes((folder / "photos" / "ship.jpg").read_bytes()[:300])
    return folder


@pytest.fixture(scope="module")
def first_run(album: Path, ray_cluster: Cluster) -> tuple[int, str, Path]:
    out = album / "out"
    code, err = finish(impasto("batch", str(album / "photos"), "--style", str(album / "starry.jpg"), "-o", str(out),
                               "--address", ray_cluster.address, *TINY, env=ray_cluster.env))
    return code, err, out


def test_a_corrupt_photo_fails_alone_with_one_line_and_exit_1(first_run, album) -> None:
    code, err, out = first_run
    assert code == 1, err
    failures = [line for line in err.splitlines() if line.startswith("impasto: failed:")]
    assert len(failures) == 1, err
    assert failures[0].startswith(f"impasto: failed: {album}/photos/broken.jpg + {album}/starry.jpg: content image "
                                  f"'{album}/photos/broken.jpg' is truncated or corrupt (")
    assert "Traceback" not in err
    assert sorted(p.name for p in out.glob("*.png")) == ["ship__starry.png", "tubingen__starry.png"]
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [(entry["output"], entry["status"]) for entry in index] == [
        ("broken__starry.png", "failed"), ("ship__starry.png", "done"), ("tubingen__starry.png", "done")]
    meta = read_metadata(out / "tubingen__starry.png")
    assert meta["seed"] == 0 and meta["settings"]["size"] == 48 and meta["iterations_done"] == 3
    assert meta["content"] == f"{album}/photos/tubingen.jpg" and meta["styles"] == [f"{album}/starry.jpg"]
    assert Image.open(out / "contact_sheet.jpg").size[0] > 192


def test_a_result_is_pixel_identical_to_impasto_transfer(first_run, album, tmp_path) -> None:
    _, _, out = first_run
    single = tmp_path / "single.png"
    code, err = finish(impasto("transfer", str(album / "photos" / "tubingen.jpg"), str(album / "starry.jpg"),
                               "-o", str(single), *[a for a in TINY if a not in ("--threads", "1")], threads=1))
    assert code == 0, err
    batch = out / "tubingen__starry.png"
    assert np.array_equal(np.asarray(Image.open(batch)), np.asarray(Image.open(single)))
    assert read_metadata(batch)["settings"] == read_metadata(single)["settings"]


def test_a_rerun_recomputes_and_rewrites_nothing(first_run, album, ray_cluster) -> None:
    _, _, out = first_run
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.png")}
    code, err = finish(impasto("batch", str(album / "photos"), "--style", str(album / "starry.jpg"), "-o", str(out),
                               "--address", ray_cluster.address, *TINY, env=ray_cluster.env))
    assert code == 1, err  # the corrupt photo is still there
    assert "3 items: 2 done already, 1 to run" in err
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("*.png")} == before
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [entry["status"] for entry in index] == ["failed", "existing", "existing"]
    assert index[1]["seed"] == 0


def test_a_worker_killed_mid_task_is_run_again_and_its_item_completes(album, ray_cluster, tmp_path) -> None:
    out = tmp_path / "out"
    batch = impasto("batch", str(album / "photos" / "tubingen.jpg"), "--style", str(album / "starry.jpg"), "-o",
                    str(out), "--address", ray_cluster.address, "--size", "64", "--iterations", "30",
                    "--seed", "1", "--threads", "1", "-q", env=ray_cluster.env)
    deadline = time.monotonic() + 180
    while not (running := ray_cluster.task_processes("run_transfer")):
        assert batch.poll() is None and time.monotonic() < deadline, batch.communicate()
        time.sleep(0.1)
    os.kill(running[0], signal.SIGKILL)
    code, err = finish(batch)
    assert code == 0, err
    assert read_metadata(out / "tubingen__starry.png")["iterations_done"] == 30
    assert "1 made, 0 kept or not run, 0 failed" in err


def test_a_rerun_without_a_seed_rewrites_nothing_and_changed_settings_run_again(album, ray_cluster, tmp_path) -> None:
    out = tmp_path / "out"
    args = ["batch", str(album / "photos" / "tubingen.jpg"), "--style", str(album / "starry.jpg"), "-o", str(out),
            "--address", ray_cluster.address, *UNSEEDED]
    code, err = finish(impasto(*args, env=ray_cluster.env))
    assert code == 0, err
    result = out / "tubingen__starry.png"
    first = (result.stat().st_ino, result.stat().st_mtime_ns)
    seed = read_metadata(result)["seed"]
    assert isinstance(seed, int), "the task drew a seed and stored it"
    code, err = finish(impasto(*args, env=ray_cluster.env))
    assert code == 0, err
    assert "1 items: 1 done already, 0 to run" in err
    assert (result.stat().st_ino, result.stat().st_mtime_ns) == first
    [entry] = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert entry["status"] == "existing" and entry["seed"] == seed
    code, err = finish(impasto(*args, "--style-weight", "3", env=ray_cluster.env))
    assert code == 0, err
    assert "1 items: 0 done already, 1 to run" in err
    assert read_metadata(result)["settings"]["style_weight"] == 3


@pytest.mark.parametrize("token", ["none", "another"])
def test_a_client_without_the_clusters_token_is_refused_in_one_line(album, ray_cluster, tmp_path, token) -> None:
    another = tmp_path / "auth_token"
    another.write_text(secrets.token_hex(32))
    env = {**ray_env(another if token == "another" else None),
           "RAY_gcs_server_port_wait_time_s": "2"}  # Ray tries twice, not for 20 s
    out = tmp_path / "out"
    code, err = finish(impasto("batch", str(album / "photos" / "tubingen.jpg"), "--style", str(album / "starry.jpg"),
                               "-o", str(out), "--address", ray_cluster.address, *TINY, env=env))
    assert code == 2, err
    cluster = f"impasto: error: the Ray cluster at {ray_cluster.address!r}"
    assert err.splitlines()[-1] == {
        "none": f"{cluster} wants an authentication token and RAY_AUTH_MODE is not 'token' here: set "
                f"RAY_AUTH_MODE=token and {TOKEN_HELP}",
        "another": f"{cluster} refused impasto's authentication token: {TOKEN_HELP}",
    }[token]
    assert "Traceback" not in err and not out.exists()


@pytest.fixture
def ray_tmp() -> Iterator[Path]:
    """The folder of a local instance's files, removed after: short, as Ray's socket paths must fit 107 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_a_local_instance_runs_the_batch_with_a_token_of_its_own(album, tmp_path, ray_tmp) -> None:
    home, out = tmp_path / "home", tmp_path / "out"
    home.mkdir()
    code, err = finish(impasto("batch", str(album / "photos" / "tubingen.jpg"), "--style", str(album / "starry.jpg"),
                               "-o", str(out), *TINY, env={**ray_env(), "HOME": str(home), "RAY_TMPDIR": str(ray_tmp)}))
    assert code == 0, err
    assert "impasto batch: on a local Ray instance" in err and "Token authentication" not in err
    assert read_metadata(out / "tubingen__starry.png")["iterations_done"] == 3
    assert not (home / ".ray").exists(), "Ray would keep a token made up for it in ~/.ray/auth_token"
