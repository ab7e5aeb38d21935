"""How many steps the finest level needs to be sharp close up: what workers' speed buys (issue 34).

The default run at S/2, upsampled, starts one level at S run for k x its default steps at that size
(`TransferConfig(size=S).stages()[-1]`), k in `--factors`; the largest k is the reference, "a longer
single-machine run". Each result is scored (`impasto.score`) on crops at full resolution (the
`--crop` px square at the centre and at a corner of the image, of the photo and of the painting
resized to S), and the figures' distance to the reference's is printed with the seconds taken.

    python benchmarks/print_steps.py --size 1024 --factors 1 2 4 8
"""

from __future__ import annotations

import argparse
import time

import torch.nn.functional as F
from PIL import Image

import impasto
from impasto.images import EXAMPLES, load_image, resize_longest, to_pil
from impasto.score import Score, score

PHOTO, PAINTING = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"


def crops(image: Image.Image, side: int) -> list[Image.Image]:
    """The centre and the top-left corner squares of `side` px."""
    width, height = image.size
    left, top = (width - side) // 2, (height - side) // 2
    return [image.crop((left, top, left + side, top + side)), image.crop((0, 0, side, side))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--crop", type=int, default=256)
    args = parser.parse_args()
    steps = impasto.TransferConfig(size=args.size).stages()[-1][1]
    coarse = impasto.transfer(PHOTO, PAINTING, impasto.TransferConfig(size=args.size // 2, seed=0)).image
    photo = resize_longest(load_image(PHOTO, 10**9), args.size)
    painting = resize_longest(load_image(PAINTING, 10**9), args.size)
    results = {}
    for factor in args.factors:
        start = time.perf_counter()
        init = F.interpolate(coarse, size=(photo.height, photo.width), mode="bicubic", align_corners=False).clamp(0, 1)
        config = impasto.TransferConfig(size=args.size, levels=1, iterations=steps * factor, seed=0)
        image = to_pil(impasto.transfer(PHOTO, PAINTING, config, init=init).image)
        seconds = time.perf_counter() - start
        scores = [score(ours, theirs, art) for ours, theirs, art in
                  zip(crops(image, args.crop), crops(photo, args.crop), crops(painting, args.crop), strict=True)]
        results[factor] = (seconds, scores)
    reference = results[max(args.factors)][1]
    print(f"finest level {args.size} px, default {steps} steps; crops of {args.crop} px (centre, corner); "
          f"distance to the {max(args.factors)}x run's figures")
    print("| steps | seconds | style (centre, corner) | texture | content | edges | structure | style - ref |"
          " texture - ref | content - ref | structure - ref |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for factor, (seconds, scores) in results.items():
        def cells(name: str, of: list) -> str:
            return ", ".join(f"{figure(s, name):.3f}" for s in of)

        gaps = {name: ", ".join(f"{figure(s, name) - figure(r, name):+.3f}" for s, r in zip(scores, reference,
                                                                                        strict=True))
                for name in ("style_mean", "texture", "content", "structure")}
        print(f"| {steps * factor} ({factor}x) | {seconds:.0f} | {cells('style_mean', scores)} | "
              f"{cells('texture', scores)} | {cells('content', scores)} | {cells('edges', scores)} | "
              f"{cells('structure', scores)} | {gaps['style_mean']} | {gaps['texture']} | {gaps['content']} | "
              f"{gaps['structure']} |", flush=True)


def figure(result: Score, name: str) -> float:
    value = getattr(result, name)
    return float(value() if callable(value) else value)

if __name__ == "__main__":
    main()
