"""Peak memory of a style transfer against its output size, and the straight line through it.

Each size runs in a fresh process: the VGG-19 weights are loaded first (a server holds them after
its first job), then a default transfer runs at the output size only (levels=1: the last level of a
coarse-to-fine schedule is the largest) for long enough that L-BFGS's history is full (100 pairs of
image-sized vectors). The figure is the peak resident set during the run minus the resident set
before it, so it is what one more run costs a process that already has torch and the weights.
`impasto.memory` holds the fitted constants.

    python benchmarks/memory.py                    # 128, 256, 384 and 512 px on the CPU, fp32
    python benchmarks/memory.py --precision auto --sizes 256 512 --device cuda
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys


def resident_bytes() -> int:
    """The current resident set of this process."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(size: int, device: str, iterations: int, precision: str) -> dict[str, float]:
    """Run one transfer at `size` px; its output pixels and the bytes it added at its peak."""
    import torch

    import impasto
    from impasto.images import EXAMPLES
    from impasto.vgg import load_vgg19

    config = impasto.TransferConfig(size=size, iterations=iterations, levels=1, seed=0, device=device,
                                    precision=precision)
    load_vgg19(device=device)
    on_gpu = device.startswith("cuda")
    if on_gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = resident_bytes()
    result = impasto.transfer(EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg", config)
    peak = torch.cuda.max_memory_allocated() if on_gpu else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    height, width = result.image.shape[-2:]
    return {"width": width, "height": height, "added": peak - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 384, 512])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iterations", type=int, default=105, help="over 100, so L-BFGS's history is full")
    parser.add_argument("--precision", default="fp32", help="fp32 (the most memory), bf16 or auto")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.device, args.iterations, args.precision)))
        return
    points = []
    print("| output | pixels | added at peak (MiB) |")
    print("|---|---|---|")
    for size in args.sizes:
        child = [sys.executable, __file__, "--child", str(size), "--device", args.device,
                 "--iterations", str(args.iterations), "--precision", args.precision]
        figures = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        pixels = figures["width"] * figures["height"]
        points.append((pixels, figures["added"]))
        print(f"| {figures['width']}x{figures['height']} | {pixels} | {figures['added'] / 2**20:.0f} |", flush=True)
    # Least squares: added = fixed + per_pixel * pixels.
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    per_pixel = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    fixed = mean_y - per_pixel * mean_x
    print(f"\nfit: {fixed / 2**20:.0f} MiB + {per_pixel:.0f} bytes per output pixel")


if __name__ == "__main__":
    main()
