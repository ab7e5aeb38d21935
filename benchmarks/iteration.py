"""Seconds per iteration and peak memory of the default settings at one size, at several sizes.

One iteration is a VGG-19 forward up to conv5_1 plus a backward to the pixels (one L-BFGS step).
Each size runs in a fresh process, at that size only (one level), for as many iterations as fill
L-BFGS's history, so its peak memory is that of the largest level of a default run of that size.

    python benchmarks/iteration.py                 # 256, 512 and 1024 px on the default device
    python benchmarks/iteration.py --sizes 512 --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys


def measure(size: int, device: str, warmup: int, steps: int) -> dict[str, float | str]:
    """Time `steps` iterations after `warmup` at `size` px with the default settings; run on until
    the L-BFGS history is full for the peak memory."""
    import torch

    import impasto
    from impasto.images import EXAMPLES

    defaults = impasto.TransferConfig()
    iterations = max(warmup + steps, defaults.history_size + 2)
    config = defaults.replace(size=size, iterations=iterations, levels=1, seed=0, device=device)
    elapsed: dict[int, float] = {}
    result = impasto.transfer(EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg", config,
                              lambda event: elapsed.__setitem__(event.step, event.elapsed))
    seconds = (elapsed[warmup + steps] - elapsed[warmup]) / steps
    height, width = result.image.shape[-2:]
    figures: dict[str, float | str] = {"size": f"{width}x{height}", "s_per_iteration": seconds}
    figures["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if torch.cuda.is_available() and device != "cpu":
        figures["peak_gpu_gib"] = torch.cuda.max_memory_allocated() / 2**30
        figures["device"] = torch.cuda.get_device_name()
    else:
        figures["device"] = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.device, args.warmup, args.steps)))
        return
    print("| size | s / iteration | peak RSS (GiB) | peak GPU (GiB) | device |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        child = [sys.executable, __file__, "--child", str(size), "--device", args.device,
                 "--warmup", str(args.warmup), "--steps", str(args.steps)]
        figures = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        gpu = f"{figures['peak_gpu_gib']:.2f}" if "peak_gpu_gib" in figures else "-"
        print(f"| {figures['size']} | {figures['s_per_iteration']:.3f} | {figures['peak_rss_gib']:.2f} | {gpu} "
              f"| {figures['device']} |", flush=True)


if __name__ == "__main__":
    main()
