"""Print sizes on a memory budget: the plan's predicted peak and time beside the measured ones, for
the whole run and for each level of its schedule.

Each size runs in a fresh process: `impasto.transfer` of the bundled tubingen.jpg as
starry_night.jpg (or the images given), and the result written to out/print_SIZE.png as the CLI
writes it. A thread samples the process's RSS every 5 ms; each phase's peak is the highest sample
while it ran, the whole process's (what `--memory-budget` counts); the peak RSS is read from the
kernel too. The prediction is `impasto.pipeline.plan_transfer`'s in the same process just before the
run: the run's peak plus what the process held before it (the network it loads included).

    python benchmarks/print_size.py 1024:1G:20 2048:2G:12    # size:budget:iterations
    python benchmarks/print_size.py --content photo.jpg --style painting.jpg 8192:8G:165
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from impasto import levels
from impasto.config import TransferConfig
from impasto.images import EXAMPLES, save_image
from impasto.memory import format_bytes, parse_bytes
from impasto.objective import Objective
from impasto.pipeline import plan_transfer, transfer
from impasto.vgg import VGG19


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def measure(content: Path, style: Path, config: TransferConfig, out: Path) -> dict[str, object]:
    """Run one transfer in this process: its plan, and the peak RSS and time of each phase: loading
    the network and the images and planning, each level, writing the file.

    A level starts when the pipeline builds its objective (`levels._objective`, wrapped here), so
    its peak includes its targets and its first step."""
    plan = plan_transfer(content, config)
    shapes = {(level.height, level.width): index for index, level in enumerate(plan.levels, 1)}
    phase, peaks, starts = 0, [0] * (len(shapes) + 2), [0.0] * (len(shapes) + 2)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peaks[phase] = max(peaks[phase], _rss())

    def begin(index: int) -> None:
        nonlocal phase
        phase, starts[index] = index, time.perf_counter()

    build = levels._objective

    def objective(vgg: VGG19, current: Any, *args: Any) -> Objective:
        if shapes[current.shape] != phase:
            begin(shapes[current.shape])
        return build(vgg, current, *args)

    levels._objective = objective  # type: ignore[assignment]
    sampler = threading.Thread(target=sample, daemon=True)
    begin(0)
    sampler.start()
    result = transfer(content, style, config)
    begin(len(shapes) + 1)
    save_image(result.image, out, result.metadata())
    end = time.perf_counter()
    done.set()
    sampler.join()
    return {"peaks": peaks, "seconds": [b - a for a, b in zip(starts, [*starts[1:], end], strict=True)],
            "total": end - starts[0], "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "held": plan.runtime.held, "plan": [(level.describe(), level.peak_bytes, level.seconds)
                                                for level in plan.levels], "planned_seconds": plan.seconds}


def run(content: Path, style: Path, size: int, budget: str, iterations: int, out: Path) -> None:
    command = [sys.executable, __file__, "--one", str(content), str(style), str(size), budget, str(iterations),
               str(out)]
    process = subprocess.run(command, capture_output=True, text=True)
    if process.returncode != 0:
        print(f"| {size} | {budget} | failed (exit {process.returncode}): {process.stderr.strip()[-300:]} |")
        return
    measured = json.loads(process.stdout)
    plan, held = measured["plan"], measured["held"]
    predicted = held + max(peak for _, peak, _ in plan)
    print(f"| {size} px | {budget} | {len(plan)} levels; finest {plan[-1][0]} | {format_bytes(predicted)} | "
          f"{format_bytes(max(measured['peaks']))} | {format_bytes(measured['maxrss'])} | "
          f"{measured['planned_seconds']:.0f} s | {measured['total']:.0f} s | {iterations} |")
    peaks, seconds = measured["peaks"], measured["seconds"]
    print(f"|   loading and planning | | | | {format_bytes(peaks[0])} | | | {seconds[0]:.0f} s | |")
    for index, (describe, peak, planned_seconds) in enumerate(plan, 1):
        print(f"|   level {index}: {describe} | | | {format_bytes(held + peak)} | "
              f"{format_bytes(peaks[index])} | | {planned_seconds:.0f} s | {seconds[index]:.0f} s | |")
    print(f"|   writing the file | | | | {format_bytes(peaks[-1])} | | | {seconds[-1]:.0f} s | |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("specs", nargs="+", metavar="SIZE:BUDGET:ITERATIONS")
    parser.add_argument("--content", type=Path, default=EXAMPLES / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=EXAMPLES / "starry_night.jpg")
    args = parser.parse_args()
    print("| output | budget | plan | predicted peak (whole process) | measured peak (sampled) | peak RSS (kernel) "
          "| predicted time | time | iterations |")
    print("|---|---|---|---|---|---|---|---|---|")
    for spec in args.specs:
        size, budget, iterations = spec.split(":")
        Path("out").mkdir(exist_ok=True)
        run(args.content, args.style, int(size), budget, int(iterations), Path(f"out/print_{size}.png"))


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        content, style, size, budget, iterations, out = sys.argv[2:8]
        config = TransferConfig(size=int(size), memory_budget=parse_bytes(budget), iterations=int(iterations), seed=0)
        print(json.dumps(measure(Path(content), Path(style), config, Path(out))))
    else:
        main()
