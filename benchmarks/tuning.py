"""The tuning grid: every photo with every painting of ../shared/images, stylised with one set of
settings and scored by `impasto score`. Defaults are chosen on the whole grid, never on one pair.

For each pair the table gives the mean relative Gram distance to the painting (style), the relative
conv4_2 distance to the photo (content), the correlation of edge strength with the photo (edges)
and of the outlines at a quarter of the size (outlines: 0.5 or more kept the main elements), whether
the photo's strongest edges are still among the result's (structure: 1 as in the photo, 0 by chance),
the distance to the painting's fine texture by a random-filter network (texture: 0 is the painting's),
the sliced Wasserstein colour distance to the painting (colour) and, beside it, that of the photo
simply recoloured to the painting's colour mean and covariance (recoloured: the bar a result's
palette must beat), and the run's seconds. Images go to --out; a JSON line per pair to --out/scores.jsonl.

    python benchmarks/tuning.py --size 512 --out out/tuning/default
    python benchmarks/tuning.py --size 256 --out out/tuning/sw3 --set style_weight=3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import impasto
from impasto.color import match_colors
from impasto.images import load_image, resize_longest, to_tensor
from impasto.score import score

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"
PHOTOS = ("tubingen", "brad_pitt", "lion", "taj_mahal")
PAINTINGS = ("starry_night", "the_scream", "shipwreck", "picasso_selfport1907", "udnie", "wave")


def setting(text: str) -> tuple[str, object]:
    """'style_weight=3' -> ('style_weight', 3.0); values are parsed as JSON, else kept as text."""
    name, _, value = text.partition("=")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def recoloured(photo: Path, painting: Path, size: int, path: Path) -> Path:
    """The photo at `size` with the painting's colour mean and covariance, written to `path`."""
    content = to_tensor(resize_longest(load_image(photo, 10**8), size))
    style = to_tensor(resize_longest(load_image(painting, 10**8), size))
    impasto.save_image(match_colors(content, style), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--images", type=Path, default=IMAGES, help="the folder of the photos and paintings")
    parser.add_argument("--photos", nargs="+", default=list(PHOTOS))
    parser.add_argument("--paintings", nargs="+", default=list(PAINTINGS))
    parser.add_argument("--set", type=setting, action="append", default=[], metavar="NAME=VALUE",
                        help="a TransferConfig field, e.g. style_weight=3 (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("out/tuning"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    config = impasto.TransferConfig(size=args.size, seed=0, **dict(args.set))
    print(f"size {args.size}, settings changed: {dict(args.set) or 'none (the defaults)'}")
    print("| photo | painting | style | content | edges | outlines | structure | texture | colour | recoloured "
          "| seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with open(args.out / "scores.jsonl", "w") as scores:
        for photo_name in args.photos:
            for painting_name in args.paintings:
                photo, painting = args.images / f"{photo_name}.jpg", args.images / f"{painting_name}.jpg"
                start = time.perf_counter()
                result = impasto.transfer(photo, painting, config)
                seconds = time.perf_counter() - start
                name = f"{photo_name}_{painting_name}"
                path = args.out / f"{name}.png"
                impasto.save_image(result.image, path)
                figures = score(path, photo, painting)
                bar = score(recoloured(photo, painting, args.size, args.out / f"{name}_recoloured.png"),
                            photo, painting).color
                row = {"photo": photo_name, "painting": painting_name, **figures.to_dict(), "recoloured": bar,
                       "seconds": seconds}
                scores.write(json.dumps(row) + "\n")
                print(f"| {photo_name} | {painting_name} | {figures.style_mean:.3f} | {figures.content:.3f} | "
                      f"{figures.edges:.3f} | {figures.outlines:.3f} | {figures.structure:.3f} | "
                      f"{figures.texture:.3f} | {figures.color:.4f} | {bar:.4f} | "
                      f"{seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
