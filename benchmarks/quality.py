"""Quality against time: impasto's default run at 512 px versus pastiche after the same wall time
and versus pastiche's full default run (1000 L-BFGS steps), by `impasto score`, with the images
side by side.

For each bundled painting with the bundled photo:
- impasto: `impasto.transfer` with the default settings at 512 px, seed 0; wall time from the call
  to the result (the weights load included, the Python start-up not).
- pastiche, equal time: pastiche's seconds per step are measured at 512 px (as in speed.py), then
  pastiche runs as many steps as fit in impasto's wall time (its own defaults otherwise, seed 0).
- pastiche, full run: its default 1000 steps at 512 px, too long to repeat here (20 minutes a
  painting on 2 cores: 19 min 40 s for The Scream on a quiet machine), kept in
  benchmarks/pastiche/<painting>.png; made with
  `pastiche --seed 0 --size 512 --content tubingen.jpg --styles <painting>.jpg --output <painting>.png`.

    python benchmarks/quality.py --pastiche /path/to/venv/bin/pastiche --out docs/images
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from PIL import Image, ImageDraw

import impasto
from impasto.images import EXAMPLES
from impasto.score import Score, score

PHOTO = EXAMPLES / "tubingen.jpg"
PAINTINGS = ("starry_night", "the_scream", "shipwreck")
FULL_RUNS = Path(__file__).parent / "pastiche"


def pastiche(command: str, painting: str, steps: int, output: Path) -> float:
    """Run pastiche for `steps` steps at 512 px; returns its wall time."""
    start = time.perf_counter()
    subprocess.run([command, "--content", str(PHOTO), "--styles", str(EXAMPLES / f"{painting}.jpg"), "--size", "512",
                    "--num-steps", str(steps), "--no-verbose", "--seed", "0", "--output", str(output)],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def row(name: str, figures: Score, seconds: float | str) -> str:
    time_text = f"{seconds:.0f}" if isinstance(seconds, float) else seconds
    return (f"| {name} | {time_text} | {figures.style_mean:.3f} | "
            f"{' / '.join(f'{v:.2f}' for v in figures.style.values())} | {figures.content:.3f} | "
            f"{figures.color:.4f} | {figures.edges:.3f} |")


def side_by_side(panels: list[tuple[str, Path]], path: Path) -> None:
    """The images in a row, each captioned underneath."""
    images = [Image.open(p).convert("RGB") for _, p in panels]
    height = min(image.height for image in images)
    images = [image.resize((round(image.width * height / image.height), height)) for image in images]
    sheet = Image.new("RGB", (sum(image.width for image in images) + 8 * (len(images) - 1), height + 28), "white")
    draw, x = ImageDraw.Draw(sheet), 0
    for (caption, _), image in zip(panels, images, strict=True):
        sheet.paste(image, (x, 0))
        draw.text((x + 4, height + 8), caption, fill="black")
        x += image.width + 8
    sheet.save(path, quality=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pastiche", required=True, help="pastiche's command, from its own virtual environment")
    parser.add_argument("--paintings", nargs="+", default=list(PAINTINGS), choices=PAINTINGS)
    parser.add_argument("--out", type=Path, default=Path("out/quality"), help="where the side-by-side images go")
    args = parser.parse_args()
    work = Path("out/quality")
    work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    probe = work / "probe.png"
    per_step = (pastiche(args.pastiche, PAINTINGS[0], 7, probe) - pastiche(args.pastiche, PAINTINGS[0], 2, probe)) / 5
    print(f"pastiche: {per_step:.2f} s per step at 512 px")
    print("| run | seconds | style (mean) | style conv1_1 / 2_1 / 3_1 / 4_1 / 5_1 | content | colour | edges |")
    print("|---|---|---|---|---|---|---|")
    for painting in args.paintings:
        style = EXAMPLES / f"{painting}.jpg"
        ours = work / f"impasto_{painting}.png"
        start = time.perf_counter()
        result = impasto.transfer(PHOTO, style, impasto.TransferConfig(seed=0))
        seconds = time.perf_counter() - start
        impasto.save_image(result.image, ours, result.metadata(content=str(PHOTO), styles=[str(style)]))
        steps = max(1, int(seconds / per_step))
        equal = work / f"pastiche_{steps}_{painting}.png"
        equal_seconds = pastiche(args.pastiche, painting, steps, equal)
        full = FULL_RUNS / f"{painting}.png"
        print(row(f"{painting}: impasto default", score(ours, PHOTO, style), seconds))
        print(row(f"{painting}: pastiche, {steps} steps", score(equal, PHOTO, style), equal_seconds))
        panels = [("photo", PHOTO), (f"impasto default, {seconds:.0f} s", ours),
                  (f"pastiche, {steps} steps ({equal_seconds:.0f} s)", equal)]
        if full.is_file():
            print(row(f"{painting}: pastiche, 1000 steps", score(full, PHOTO, style), "~1180"), flush=True)
            panels.append(("pastiche, 1000 steps (~20 min)", full))
        else:
            print(f"| {painting}: pastiche, 1000 steps | not in {FULL_RUNS} | | | | | |", flush=True)
        side_by_side(panels, args.out / f"vs_pastiche_{painting}.jpg")


if __name__ == "__main__":
    main()
