"""Whether a large run keeps the painting: default runs at each `--sizes`, with and without
`--anchor-side` (issue 35's item 4), each scaled down to 512 px (area) and scored there
(`impasto.score`: style the mean of the five layers' distances, texture, content, structure).

Each run is the CLI in a process of its own (`--memory-budget` bounds it), timed with its peak RSS.
The results are kept in `--out` to be looked at.

    python benchmarks/print_style.py --sizes 512 1024 2048 3072 --memory-budget 2G \\
        --pair src/impasto/examples/tubingen.jpg src/impasto/examples/starry_night.jpg
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch.nn.functional as F

from impasto.images import load_image, to_pil, to_tensor
from impasto.score import score

JUDGED_AT = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=2, metavar=("PHOTO", "PAINTING"), required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 3072])
    parser.add_argument("--anchor-sides", type=int, nargs="+", default=[0, 512], help="0: without")
    parser.add_argument("--memory-budget", default="2G")
    parser.add_argument("--out", type=Path, default=Path("/tmp/print_style"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photo, painting = (Path(p) for p in args.pair)
    print(f"{photo.stem} x {painting.stem}, seed 0, --memory-budget {args.memory_budget}; judged at {JUDGED_AT} px")
    print("| size | anchor side | seconds | peak RSS | style | texture | content | structure |")
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for anchor in args.anchor_sides if size > JUDGED_AT else args.anchor_sides[:1]:
            output = args.out / f"{photo.stem}_{painting.stem}_{size}_anchor{anchor}.png"
            start = time.perf_counter()
            run = subprocess.run(
                ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "impasto", "transfer", str(photo), str(painting),
                 "-o", str(output), "--size", str(size), "--seed", "0", "--anchor-side", str(anchor),
                 "--memory-budget", args.memory_budget, "--quiet"],
                capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - start
            peak = int(run.stderr.strip().splitlines()[-1]) / 2**20  # KiB -> GiB
            image = to_tensor(load_image(output, 10**9))
            height, width = image.shape[-2:]
            shape = (round(height * JUDGED_AT / max(height, width)), round(width * JUDGED_AT / max(height, width)))
            small = to_pil(F.interpolate(image, size=shape, mode="area"))
            judged = score(small, photo, painting)
            print(f"| {size} | {anchor or '-'} | {seconds:.0f} | {peak:.2f} GiB | {judged.style_mean:.3f} | "
                  f"{judged.texture:.3f} | {judged.content:.3f} | {judged.structure:.3f} |", flush=True)


if __name__ == "__main__":
    main()
