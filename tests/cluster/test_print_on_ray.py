"""One print over a Ray cluster (tests/cluster/conftest.py's, two CPUs): the blocks of a tiled level on
two workers of one thread each give the loss and gradient of one process, a short run gives its
image, and a worker killed in the middle of a step has its blocks redone by the other, with the same
image (the driver in a process of its own: tests/cluster/print_driver.py); a batch's print-size item
runs on the workers too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from impasto.images import EXAMPLES

from .conftest import Cluster

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def figures(ray_cluster: Cluster) -> dict[str, Any]:
    env = {**ray_cluster.env, "OMP_NUM_THREADS": "1"}
    driver = subprocess.run([sys.executable, "-m", "tests.cluster.print_driver", ray_cluster.address],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert driver.returncode == 0, driver.stderr
    return json.loads(driver.stdout.splitlines()[-1])


def test_a_tiled_levels_loss_and_gradient_on_two_workers_equal_one_process(figures) -> None:
    assert figures["workers"] == 2 and figures["blocks"] == 9
    assert figures["terms"] < 1e-6 and figures["gradient"] < 1e-6  # float rounding (0 when both use 1 thread)


def test_a_run_on_the_workers_gives_the_image_of_one_process(figures) -> None:
    assert figures["spread"] == [2, 2]  # --tile-size: both levels in blocks, on the workers
    assert figures["run"] < 0.5 / 255  # the print tests' tolerance: float noise grown by L-BFGS


def test_a_worker_killed_in_a_step_has_its_blocks_redone_with_the_same_image(figures) -> None:
    assert figures["killed"] == 1 and figures["left"] == 1
    assert figures["steps"] == 6 and figures["killed_run"] < 0.5 / 255


def test_a_batchs_print_size_item_runs_on_the_workers(ray_cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "out"
    batch = subprocess.run(
        [sys.executable, "-m", "impasto", "batch", str(EXAMPLES / "tubingen.jpg"), "--style",
         str(EXAMPLES / "starry_night.jpg"), "-o", str(out), "--size", "64", "--tile-size", "32", "--iterations", "3",
         "--seed", "0", "--precision", "fp32", "--address", ray_cluster.address, "-q"],
        capture_output=True, text=True, env=ray_cluster.env, timeout=600)
    assert batch.returncode == 0, batch.stderr
    (entry,) = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert entry["status"] == "done" and entry["workers"] == 2  # its finest level in blocks: on the 2 workers
    assert (out / entry["output"]).is_file()
