"""Calibrates the planner's CPU times (`impasto.memory`'s PROBES_PER_PIXEL and BLOCK_STEP_COST): the
probe's time on this CPU, a whole level's and a level in blocks, each a one-level run of the default
settings in a fresh process with the network loaded first. Run on idle cores.

    python benchmarks/time_model.py --whole 512:10 --blocks 1024:144:3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from impasto import memory
from impasto.config import TransferConfig
from impasto.images import EXAMPLES
from impasto.pipeline import transfer
from impasto.tiled import halo
from impasto.vgg import load_vgg19


def measure(size: int, iterations: int, block: int | None) -> dict[str, float]:
    load_vgg19()
    config = TransferConfig(size=size, levels=1, iterations=iterations, tile_size=block, seed=0, early_stop=0,
                            memory_budget=2**40)
    start = time.perf_counter()
    image = transfer(EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg", config).image
    seconds = time.perf_counter() - start
    height, width = image.shape[-2:]
    margin = halo([*config.content_layers, *config.style_layers])
    crop_pixels = width * height if block is None else \
        sum(memory.crop_lengths(height, block, margin)) * sum(memory.crop_lengths(width, block, margin))
    runtime = memory.resolve_runtime(config, network_held=True)
    probe = memory.cpu_probe_seconds(runtime.dtype, torch.get_num_threads())
    return {"width": width, "height": height, "crop_pixels": crop_pixels, "seconds": seconds, "probe": probe,
            "precision": runtime.precision}


def _run(size: int, iterations: int, block: int | None) -> dict[str, float]:
    args = [sys.executable, __file__, "--one", str(size), str(iterations), str(block or 0)]
    return json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--whole", default="512:10", help="SIZE:ITERATIONS of the whole level")
    parser.add_argument("--blocks", default="1024:144:3", help="SIZE:BLOCK:ITERATIONS of the level in blocks")
    args = parser.parse_args()
    size, iterations = (int(x) for x in args.whole.split(":"))
    whole = _run(size, iterations, None)
    per_pixel = whole["seconds"] / (whole["crop_pixels"] * (iterations + 1))
    print(f"probe: {whole['probe'] * 1e3:.1f} ms ({whole['precision']}, {torch.get_num_threads()} threads)")
    print(f"whole {whole['width']}x{whole['height']}, {iterations} iterations: {whole['seconds']:.1f} s, "
          f"{per_pixel:.3g} s an iteration a pixel = {per_pixel / whole['probe']:.3g} probes "
          f"(PROBES_PER_PIXEL {memory.PROBES_PER_PIXEL:.3g})")
    size, block, iterations = (int(x) for x in args.blocks.split(":"))
    tiled = _run(size, iterations, block)
    untiled_rate = per_pixel / whole["probe"] * tiled["probe"]
    cost = (tiled["seconds"] / (untiled_rate * tiled["crop_pixels"]) - 1) / iterations
    print(f"blocks {tiled['width']}x{tiled['height']} in {block} px, {iterations} iterations: "
          f"{tiled['seconds']:.1f} s, {tiled['crop_pixels'] / 1e6:.2f} M crop pixels an evaluation: "
          f"an iteration costs {cost:.2f} untiled ones a crop pixel (BLOCK_STEP_COST {memory.BLOCK_STEP_COST})")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--one":
        size, iterations, block = (int(x) for x in sys.argv[2:5])
        print(json.dumps(measure(size, iterations, block or None)))
    else:
        main()
