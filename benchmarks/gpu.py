"""The GPU figures: the default 512 px run's time, and print sizes planned and run on the GPU, with
the peak GPU memory torch allocated beside the plan's prediction and the budget.

    python benchmarks/gpu.py --content photo.jpg --style painting.jpg 4096:auto 8192:16G --out out/gpu

A budget too small for the full L-BFGS history on the GPU (8192:6G on an H200) plans it in the
host's memory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import impasto
from impasto.images import EXAMPLES, save_image
from impasto.memory import format_bytes, parse_bytes
from impasto.pipeline import plan_transfer


def timed(content: Path, style: Path, config: impasto.TransferConfig) -> tuple[torch.Tensor, float, int]:
    """The run's image, its seconds from the call to a finished GPU, and its peak allocated GPU memory."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    image = impasto.transfer(content, style, config).image
    torch.cuda.synchronize()
    return image, time.perf_counter() - start, torch.cuda.max_memory_allocated()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="*", metavar="SIZE:BUDGET", help="BUDGET: a size such as 16G, or auto")
    parser.add_argument("--content", type=Path, default=EXAMPLES / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=EXAMPLES / "starry_night.jpg")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("out/gpu"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(torch.cuda.get_device_name(), "torch", torch.__version__, flush=True)
    photo, painting = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"
    timed(photo, painting, impasto.TransferConfig(size=64, iterations=2, seed=0, device="cuda"))  # warm up
    runs = [timed(photo, painting, impasto.TransferConfig(size=512, seed=0, device="cuda"))[1:]
            for _ in range(args.repeats)]
    steps = impasto.TransferConfig().iterations
    print(f"default 512 px run ({steps} steps): best of {args.repeats} {min(s for s, _ in runs):.2f} s, "
          f"all {', '.join(f'{s:.2f}' for s, _ in runs)} s; peak {format_bytes(runs[0][1])}", flush=True)
    for spec in args.specs:
        size, budget = spec.split(":")
        config = impasto.TransferConfig(size=int(size), seed=0, device="cuda",
                                        memory_budget=None if budget == "auto" else parse_bytes(budget))
        plan = plan_transfer(args.content, config)
        finest = plan.levels[-1]
        layout = "whole" if finest.block is None else f"{finest.blocks} blocks of {finest.block} px"
        history = f"history {finest.history}" + (" in host memory" if finest.host_bytes else "")
        image, seconds, peak = timed(args.content, args.style, config)
        print(f"| {finest.width}x{finest.height} | {format_bytes(plan.budget)} | {len(plan.levels)} levels, finest "
              f"{layout}, {history} | {format_bytes(plan.peak_bytes)} | {format_bytes(peak)} | "
              f"{seconds:.1f} s |", flush=True)
        height, width = image.shape[-2:]
        save_image(image[..., height // 2 - 384: height // 2 + 384, width // 2 - 512: width // 2 + 512],
                   args.out / f"gpu_{size}_{budget}_crop.png")
        save_image(torch.nn.functional.interpolate(image, size=(768, 1024), mode="area"),
                   args.out / f"gpu_{size}_{budget}_whole.png")


if __name__ == "__main__":
    main()
