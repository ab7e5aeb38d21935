"""impasto video on a camera pan across tubingen: seconds per frame (first, later), how many steps
later frames need, and the warping error E_warp with the style and content figures, for the default
settings, --passes 2 and --independent, all measured in this one run.

The clip: `--frames` frames of `--size` px (4:3) panning by (1.3, 0.4) px per frame at that size,
sampled bicubically from tubingen.jpg (H.264, crf 0). The painting: starry_night.jpg.

    python benchmarks/video.py --size 256 --frames 8
    python benchmarks/video.py --size 256 --curve 80     # content + style of later frames, step by step
    python benchmarks/video.py --size 256 --docs docs/images  # also the side-by-side GIF of the README
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test clips

from tests.video.clips import pan, write_clip  # noqa: E402

from impasto import TransferConfig  # noqa: E402
from impasto.images import EXAMPLES  # noqa: E402
from impasto.video import FrameProgress, VideoConfig, score_video, stylize_video  # noqa: E402
from impasto.video.io import read_frames  # noqa: E402

PAINTING = EXAMPLES / "starry_night.jpg"


def run(clip: Path, out: Path, video: VideoConfig) -> tuple[list[float], list[list[float]], float]:
    """Stylise `clip`: seconds per frame, content + style per step of each frame, wall time."""
    seconds: list[float] = []
    curves: list[list[float]] = [[]]

    def record(event: FrameProgress) -> None:
        if event.step is None:
            seconds.append(event.seconds)
            curves.append([])
        else:
            curves[-1].append(event.step.content + event.step.style)

    started = time.perf_counter()
    stylize_video(clip, PAINTING, out, TransferConfig(seed=0), video, work_dir=out.with_suffix(".work"),
                  callback=record)
    return seconds, curves[:-1], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--curve", type=int, default=0, metavar="N",
                        help="only: run later frames for N steps and print content + style per step")
    parser.add_argument("--runs", default="default,passes,independent",
                        help="which of default, passes (--passes 2), independent to run")
    parser.add_argument("--docs", type=Path, help="write the side-by-side GIF (default | independent) here")
    parser.add_argument("--work", type=Path, default=Path("out/bench_video"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    size = (args.size, args.size * 3 // 4)
    clip = write_clip(args.work / f"pan_{args.size}.mp4", pan(args.frames, size, step=(1.3, 0.4))[0])

    if args.curve:
        _, curves, _ = run(clip, args.work / f"curve_{args.size}.mp4", VideoConfig(later_iterations=args.curve))
        later = np.array([c for c in curves[1:] if len(c) == args.curve])
        mean = later.mean(0)
        print(f"later frames at {size[0]}x{size[1]}: content + style per step (mean of {len(later)} frames), "
              f"relative to step {args.curve}")
        for step in (1, 5, 10, 15, 20, 30, 40, 60, 80, 120):
            if step <= args.curve:
                print(f"  step {step:3d}  {mean[step - 1]:.4f}  {mean[step - 1] / mean[-1]:.3f}")
        print(f"  first frame's final content + style: {curves[0][-1]:.4f}")
        return

    print(f"pan across tubingen, {args.frames} frames of {size[0]}x{size[1]}, starry_night, seed 0")
    print("| run | first frame s | later frames s (mean) | wall s | E_warp | style (mean) | content (mean) |")
    print("|---|---|---|---|---|---|---|")
    outputs = {}
    runs = {"default": ("default", VideoConfig()), "passes": ("--passes 2", VideoConfig(passes=2)),
            "independent": ("--independent", VideoConfig(independent=True))}
    for label, video in (runs[name] for name in args.runs.split(",")):
        out = args.work / f"{label.strip('-').replace(' ', '')}_{args.size}.mp4"
        seconds, _, wall = run(clip, out, video)
        figures = score_video(out, clip, PAINTING)
        outputs[label] = out
        later = statistics.mean(seconds[1:args.frames]) if args.frames > 1 else float("nan")
        print(f"| {label} | {seconds[0]:.1f} | {later:.1f} | {wall:.0f} | {figures.e_warp:.5f} | "
              f"{figures.style_mean:.4f} | {figures.content_mean:.4f} |", flush=True)
    if args.docs and {"default", "--independent"} <= set(outputs):
        side_by_side(outputs["default"], outputs["--independent"], args.docs / "video_pan_starry_night.gif")


def side_by_side(default: Path, independent: Path, gif: Path) -> None:
    """A looping GIF: the default run on the left, independent frames on the right, labelled."""
    frames = []
    for (left, _), (right, _) in zip(read_frames(default), read_frames(independent), strict=True):
        canvas = Image.new("RGB", (left.width + right.width + 8, left.height + 18), "white")
        canvas.paste(left, (0, 18))
        canvas.paste(right, (left.width + 8, 18))
        draw = ImageDraw.Draw(canvas)
        draw.text((4, 3), "impasto video (default)", fill="black")
        draw.text((left.width + 12, 3), "--independent", fill="black")
        frames.append(canvas)
    gif.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    print(f"wrote {gif}")


if __name__ == "__main__":
    main()
