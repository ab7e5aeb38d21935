"""Quality levers, measured: each setting against the defaults, by `impasto score` and by time.

For the bundled photo with each painting, every variant runs the default schedule and iterations
at --size px, changing one setting; the table gives the score figures (style: mean relative Gram
distance over conv1_1..conv5_1, lower is closer to the painting; content: relative conv4_2 distance,
lower keeps more of the photo; colour: sliced Wasserstein distance of RGB to the painting; edges:
correlation of edge strength with the photo) and the wall time of the run. Outputs go to --out.

    python benchmarks/levers.py --size 256 --out out/levers
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import impasto
from impasto.images import EXAMPLES
from impasto.score import score

VARIANTS: dict[str, dict[str, object]] = {
    "default": {},
    "paper normalisation (alpha/beta 1e-3)": {"normalization": "paper", "style_weight": 1e3},
    "one level (no coarse-to-fine)": {"levels": 1},
    "fp32 (not bf16)": {"precision": "fp32"},
    "avg pooling (rescaled)": {"pooling": "avg"},
    "reflect padding": {"padding": "reflect"},
    "tv weight 10": {"tv_weight": 10.0},
    "noise init": {"init": "noise"},
    "L-BFGS history 100": {"history_size": 100},
    "adam": {"optimizer": "adam"},
    "adam, iterate averaging": {"optimizer": "adam", "average_iterates": True},
    "w2 style loss": {"style_loss": "w2"},
    "early stop 0.005": {"early_stop": 0.005},
}
PAINTINGS = ("starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--paintings", nargs="+", default=list(PAINTINGS[:2]))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, metavar="NAME")
    parser.add_argument("--out", type=Path, default=Path("out/levers"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photo = EXAMPLES / "tubingen.jpg"
    print(f"size {args.size}, defaults: {impasto.TransferConfig().to_dict()}")
    print("| variant | painting | style | content | colour | edges | iterations | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.variants:
        for painting in args.paintings:
            config = impasto.TransferConfig(size=args.size, seed=0, **VARIANTS[name])  # type: ignore[arg-type]
            events: list[impasto.Progress] = []
            start = time.perf_counter()
            result = impasto.transfer(photo, EXAMPLES / painting, config, events.append)
            seconds = time.perf_counter() - start
            path = args.out / f"{name.split(' (')[0].replace(' ', '_').replace(',', '')}_{Path(painting).stem}.png"
            impasto.save_image(result.image, path)
            figures = score(path, photo, EXAMPLES / painting)
            print(f"| {name} | {Path(painting).stem} | {figures.style_mean:.3f} | {figures.content:.3f} | "
                  f"{figures.color:.4f} | {figures.edges:.3f} | {len(events)} | {seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
