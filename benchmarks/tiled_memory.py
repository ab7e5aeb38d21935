"""Peak memory of a tiled level against its size, its block and L-BFGS's history (calibrates
`impasto.memory`'s IMAGE_BYTES and ACTIVATION_BYTES for crops).

Each measurement runs in a fresh process: one level at the given size, in blocks of the given side,
a few L-BFGS iterations, and reports the peak RSS minus the RSS before the run (weights loaded) beside
the planner's figure for the same level (`memory.plan_level`, the run's own peak besides what is held).

    python benchmarks/tiled_memory.py 2048:512:3 2048:256:3 1024:256:3
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import torch

from impasto.config import TransferConfig
from impasto.images import EXAMPLES
from impasto.memory import format_bytes, plan_level, resolve_runtime
from impasto.pipeline import transfer
from impasto.vgg import load_vgg19


def _rss() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def measure(size: int, block: int, history: int, iterations: int) -> dict[str, float]:
    load_vgg19()
    torch.zeros(1)
    before = _rss()
    config = TransferConfig(size=size, levels=1, iterations=iterations, history_size=history, tile_size=block,
                            seed=0, memory_budget=2**40)
    start = time.perf_counter()
    image = transfer(EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg", config).image
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    height, width = image.shape[-2:]
    planned = plan_level(width, height, iterations, resolve_runtime(config, network_held=True), config, block)
    assert planned is not None
    return {"width": width, "height": height, "block": block, "history": history, "iterations": iterations,
            "seconds": seconds, "peak_bytes": peak - before,
            "planned_bytes": planned.peak_bytes, "planned_seconds": planned.seconds}


def main(specs: list[str]) -> None:
    for spec in specs:
        size, block, history = (int(x) for x in spec.split(":"))
        iterations = history + 2
        output = subprocess.run([sys.executable, __file__, "--one", str(size), str(block), str(history),
                                 str(iterations)], capture_output=True, text=True, check=True).stdout
        row = json.loads(output)
        pixels = row["width"] * row["height"]
        print(f"{row['width']}x{row['height']} block {block} history {history}: "
              f"peak {row['peak_bytes'] / 2**20:.0f} MiB"
              f" ({row['peak_bytes'] / pixels:.0f} B/px; planned {format_bytes(row['planned_bytes'])}), "
              f"{row['seconds']:.0f} s for {iterations} iterations (planned {row['planned_seconds']:.0f} s)",
              flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        print(json.dumps(measure(*(int(x) for x in sys.argv[2:6]))))
    else:
        main(sys.argv[1:])
