"""Print sizes on a memory budget: the plan's predicted peak and time beside the measured ones.

Each size runs `impasto transfer` in a fresh process (the bundled tubingen.jpg as starry_night.jpg,
or the images given), whose peak RSS is read from the kernel (wait4); the prediction is
`impasto.pipeline.plan_transfer`'s. The output is out/print_SIZE.png.

    python benchmarks/print_size.py 1024:1G:20 2048:2G:12    # size:budget:iterations
    python benchmarks/print_size.py --content photo.jpg --style painting.jpg 8192:8G:165
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from impasto.config import TransferConfig
from impasto.images import EXAMPLES
from impasto.memory import format_bytes, parse_bytes
from impasto.pipeline import plan_transfer


def run(content: Path, style: Path, size: int, budget: str, iterations: int, out: Path) -> None:
    config = TransferConfig(size=size, memory_budget=parse_bytes(budget), iterations=iterations, seed=0)
    plan = plan_transfer(content, config)
    finest = plan.levels[-1]
    layout = "whole" if finest.block is None else f"{finest.blocks} x {finest.block} px"
    command = [sys.executable, "-m", "impasto", "transfer", str(content), str(style), "-o", str(out), "--size",
               str(size), "--memory-budget", budget, "--iterations", str(iterations), "--seed", "0", "-q"]
    start = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    peak = usage.ru_maxrss * 1024
    print(f"| {finest.width}x{finest.height} | {budget} | {len(plan.levels)} levels, finest {layout}, history "
          f"{finest.history} | {format_bytes(plan.peak_bytes)} | {format_bytes(peak)} | {plan.seconds:.0f} s | "
          f"{seconds:.0f} s | {iterations} | {'ok' if status == 0 else f'exit {status}'} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", metavar="SIZE:BUDGET:ITERATIONS")
    parser.add_argument("--content", type=Path, default=EXAMPLES / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=EXAMPLES / "starry_night.jpg")
    args = parser.parse_args()
    print("| output | budget | plan | predicted peak | peak RSS | predicted time | time | iterations | |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.specs:
        size, budget, iterations = spec.split(":")
        run(args.content, args.style, int(size), budget, int(iterations), Path(f"out/print_{size}.png"))


if __name__ == "__main__":
    main()
