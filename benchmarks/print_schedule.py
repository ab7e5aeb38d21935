"""How many steps does a level above 512 px need once the coarser levels have laid out the picture?

For each size S: the default run at S/2 (coarse to fine), upsampled, is the start of one level at
S run for `--steps` L-BFGS steps; its content + style loss after each step (that of the image the
step started from) is printed relative to the last. The automatic schedule's steps above 512 px
(`TransferConfig.stages`) were decided from this: benchmarks/RESULTS.md, "Print size".

    python benchmarks/print_schedule.py --sizes 1024 2048 --steps 40
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import impasto
from impasto.images import EXAMPLES

PHOTO, PAINTING = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"
SHOWN = (1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 60)


def finest_level(size: int, steps: int, coarse: torch.Tensor) -> list[float]:
    """Content + style at each of `steps` steps of one level at `size`, from `coarse` upsampled."""
    losses: list[float] = []

    def record(event: impasto.Progress) -> None:
        if not event.blocks:
            losses.append(event.content + event.style)

    height, width = (2 * side for side in coarse.shape[-2:])
    init = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False).clamp(0, 1)
    impasto.transfer(PHOTO, PAINTING, impasto.TransferConfig(size=size, levels=1, iterations=steps, seed=0), record,
                     init=init)
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    shown = [step for step in SHOWN if step <= args.steps]
    print(f"| size | default steps at this level | {' | '.join(f'step {step}' for step in shown)} | s / step |")
    print("|---|---|" + "---|" * len(shown) + "---|")
    for size in args.sizes:
        coarse = impasto.transfer(PHOTO, PAINTING, impasto.TransferConfig(size=size // 2, seed=0)).image
        start = time.perf_counter()
        losses = finest_level(size, args.steps, coarse)
        seconds = (time.perf_counter() - start) / args.steps
        default = impasto.TransferConfig(size=size).stages()[-1][1]
        cells = " | ".join(f"{losses[step - 1] / losses[-1]:.3f}" for step in shown)
        print(f"| {size} | {default} | {cells} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
