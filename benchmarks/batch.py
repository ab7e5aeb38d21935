"""Items per minute of `impasto batch` on this machine: Ray tasks of 1 or 2 threads, against
`impasto transfer` run one after another and two at once (each with torch's default threads).

Starts its own Ray head on loopback (`ray start --head --block` in a temporary folder) and stops
it at the end. Every variant makes the same items: the bundled photo and shipwreck painting as
photos, The Starry Night as the painting, `--grid style-weight=3,10,30`: 6 items.

    python benchmarks/batch.py [--size 128] [--iterations 40]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from impasto.images import EXAMPLES

LOOPBACK = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
RAY = Path(sys.executable).with_name("ray")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench", dir="/tmp"))
    photos = folder / "photos"
    photos.mkdir()
    for name in ("tubingen.jpg", "shipwreck.jpg"):
        image = Image.open(EXAMPLES / name).convert("RGB")
        image.thumbnail((2 * args.size, 2 * args.size))
        image.save(photos / name)
    style = EXAMPLES / "starry_night.jpg"
    weights = ["3", "10", "30"]
    settings = ["--size", str(args.size), "--iterations", str(args.iterations), "--seed", "0", "-q"]
    items = 2 * len(weights)
    head = subprocess.Popen([str(RAY), "start", "--head", "--block", "--port=0", f"--temp-dir={folder}/ray",
                             "--include-dashboard=false", "--disable-usage-stats"], env=LOOPBACK,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not (folder / "ray" / "ray_current_cluster").is_file():
            time.sleep(0.2)
        address = (folder / "ray" / "ray_current_cluster").read_text().strip()
        print(f"{items} items at {args.size} px, {args.iterations} iterations, on {os.cpu_count()} cores "
              f"(other work on the machine: load average {os.getloadavg()[0]:.1f})")
        print("| variant | wall (s) | items / minute |\n|---|---|---|")
        for threads in (1, 2):
            started = time.perf_counter()
            run(["batch", str(photos), "--style", str(style), "--grid", f"style-weight={','.join(weights)}",
                 "-o", str(folder / f"ray{threads}"), "--address", address, "--threads", str(threads), *settings])
            report(f"impasto batch, {2 // threads} task(s) x {threads} thread(s)", started, items)
        jobs = [[str(photos / photo), str(style), "-o", str(folder / f"{photo}_{w}.png"), "--style-weight", w,
                 *settings] for photo in ("tubingen.jpg", "shipwreck.jpg") for w in weights]
        started = time.perf_counter()
        for job in jobs:
            run(["transfer", *job])
        report("impasto transfer, one after another (2 threads)", started, items)
        started = time.perf_counter()
        for first, second in zip(jobs[::2], jobs[1::2], strict=True):
            together = [start(["transfer", *first]), start(["transfer", *second])]
            for process in together:
                if process.wait() != 0:
                    raise SystemExit("impasto transfer failed")
        report("impasto transfer, two at once (2 threads each)", started, items)
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


def start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "impasto", *args], env=LOOPBACK, stderr=subprocess.DEVNULL)


def run(args: list[str]) -> None:
    if start(args).wait() != 0:
        raise SystemExit(f"impasto {args[0]} failed")


def report(variant: str, started: float, items: int) -> None:
    wall = time.perf_counter() - started
    print(f"| {variant} | {wall:.0f} | {60 * items / wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
