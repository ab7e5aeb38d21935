"""`impasto video`: stylise a clip, its frames held together by optical flow (the optional extra
impasto[video], imported only when the command runs)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..config import TransferConfig
from ..errors import ConfigError, Interrupted, OptimizationError
from ..video.config import (
    CARRY,
    FLOW_METHODS,
    MAX_SIDE,
    MODES,
    TRAIN_STEPS_BASE,
    TRAIN_STEPS_MAX,
    TRAIN_STEPS_PER_FRAME,
    VideoConfig,
)
from .common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, config_from_args
from .progress import CountBar
from .transfer import transfer_options

__all__ = ["VIDEO_EXTRA", "add_parser"]

VIDEO_EXTRA = ("av", "cv2")
"""The modules of the optional extra impasto[video]."""


def add_parser(commands: Any) -> None:
    d = VideoConfig()
    run = commands.add_parser(
        "video",
        help="paint a clip in the style of a painting, frame by frame, without flicker (needs impasto[video])",
        description="Paint every frame of INPUT in the style of STYLE (Ruder et al. 2016): each frame starts from "
        "the previous one warped along the optical flow and is held to it by a temporal loss. The output keeps "
        "the input's frame count, frame rate and audio. Finished frames are kept in --work-dir: run the same "
        "command again after a stop to continue.",
        epilog="example: impasto video clip.mp4 starry_night.jpg -o out.mp4 --max-frames 30",
    )
    run.add_argument("input", help="the clip: any file ffmpeg reads (MP4, MOV, WebM, GIF, ...) or a pattern "
                     "such as frames/%%04d.png")
    run.add_argument("styles", nargs="+", metavar="STYLE", help="the painting(s) (style images)")
    run.add_argument("-o", "--output", required=True, metavar="FILE", help="output video: .mp4 (H.264), .mov, "
                     ".mkv or .webm")
    transfer_options(run)
    run.set_defaults(size=None)  # the clip's own size, at most MAX_SIDE
    for action in run._actions:
        if action.dest == "size":
            action.help = f"longest side of the frames in px (default: the clip's, at most {MAX_SIDE})"
        elif action.dest == "iterations":
            action.help = "optimisation steps of the first frame"
    video = run.add_argument_group("video (Ruder, Dosovitskiy & Brox 2016)")
    video.add_argument("--temporal-weight", type=float, default=d.temporal_weight, metavar="W",
                       help="weight of the temporal loss, the same at any size; 0: off")
    video.add_argument("--temporal-frames", default=",".join(map(str, d.temporal_frames)), metavar="J,J,...",
                       help="hold frame i to frames i-J, e.g. 1,2,4 for long-term consistency")
    video.add_argument("--later-iterations", type=int, default=d.later_iterations, metavar="N",
                       help="optimisation steps of each later frame, which starts from the previous one warped")
    video.add_argument("--passes", type=int, default=d.passes, metavar="N",
                       help="runs through the clip, alternately forward and backward (better under fast motion)")
    video.add_argument("--flow", choices=FLOW_METHODS, default=d.flow, help="OpenCV optical flow")
    video.add_argument("--independent", action="store_true",
                       help="stylise each frame on its own, from its content frame (the flickering baseline)")
    keyframes = run.add_argument_group("keyframes mode (--mode keyframes)")
    keyframes.add_argument("--mode", choices=MODES, default=d.mode,
                           help="frames: every frame optimised (steadiest, slowest); keyframes: keyframes optimised, "
                           "the frames between painted by a network trained on the clip and carried along the flow "
                           "(docs/video.md compares them)")
    keyframes.add_argument("--keyframes", metavar="I,I,...", help="the frames to paint by optimisation, from 0 "
                           "(default: chosen from the flow)")
    keyframes.add_argument("--keyframe-every", type=int, default=d.keyframe_every, metavar="N",
                           help="most frames between automatic keyframes")
    keyframes.add_argument("--keyframe-coverage", type=float, default=d.keyframe_coverage, metavar="SHARE",
                           help="a new keyframe where less of the frame than this can be traced back to the last")
    keyframes.add_argument("--train-steps", type=int, metavar="N", help="training steps of the network (default: "
                           f"{TRAIN_STEPS_BASE} + {TRAIN_STEPS_PER_FRAME} a frame, at most {TRAIN_STEPS_MAX})")
    keyframes.add_argument("--refine", type=int, default=d.refine, metavar="N",
                           help="optimisation steps of each frame between keyframes, from what it is painted with")
    keyframes.add_argument("--carry", choices=CARRY, default=d.carry,
                           help="keyframe: the last keyframe's strokes carried along the flow, the network's where "
                           "the flow cannot reach; network: the network's painting, blended with the previous frame")
    video.add_argument("--start", type=float, default=d.start, metavar="SECONDS", help="where to begin in the clip")
    video.add_argument("--duration", type=float, metavar="SECONDS", help="how much of the clip (default: to its end)")
    video.add_argument("--max-frames", type=int, metavar="N", help="at most N frames (default: all)")
    video.add_argument("--work-dir", metavar="DIR", help="where finished frames and flows are kept, to resume "
                       "(default: OUTPUT.work, removed when the video is written)")
    run.set_defaults(handler=_video)


def _video(args: argparse.Namespace) -> int:
    if args.save_every:
        raise ConfigError("--save-every does not apply to video: the work dir keeps every finished frame")
    # No seed drawn here: a resumed run takes the one its work dir holds.
    config = config_from_args(args, TransferConfig.from_preset(args.preset)).replace(seed=args.seed)
    video = VideoConfig(
        size=args.size, temporal_weight=args.temporal_weight,
        temporal_frames=_frames(args.temporal_frames, "--temporal-frames", "1,2,4"),
        later_iterations=args.later_iterations, passes=args.passes, flow=args.flow, independent=args.independent,
        start=args.start, duration=args.duration, max_frames=args.max_frames, mode=args.mode,
        keyframes=None if args.keyframes is None else _frames(args.keyframes, "--keyframes", "0,120,240"),
        keyframe_every=args.keyframe_every, keyframe_coverage=args.keyframe_coverage, train_steps=args.train_steps,
        refine=args.refine, carry=args.carry,
    )
    try:
        from ..video.run import FrameProgress, stylize_video
    except ModuleNotFoundError as error:
        if error.name not in VIDEO_EXTRA:
            raise
        print(f"impasto: error: impasto video needs {error.name}: pip install 'impasto[video]'", file=sys.stderr)
        return EXIT_USAGE

    bars: list[CountBar] = []  # made at the first event, which tells how many frames

    def on_progress(event: FrameProgress) -> None:
        if not bars:
            bars.append(CountBar(event.frames, "frames", args.quiet))
        if event.step is not None:
            bars[0].step(event.step, "training the network" if event.stage == "training" else "")
        else:
            bars[0].advance("resumed" if event.loss is None else f"loss {event.loss:.3g}, {event.seconds:.1f} s")

    started = time.perf_counter()
    try:
        result = stylize_video(args.input, args.styles, args.output, config, video, work_dir=args.work_dir,
                               callback=on_progress)
    except (OptimizationError, KeyboardInterrupt) as error:
        for bar in bars:
            bar.close()
        work = args.work_dir or f"{args.output}.work"
        if isinstance(error, (Interrupted, KeyboardInterrupt)):
            print(f"impasto: interrupted: the finished frames are kept in {work}; run the same command again to "
                  f"continue", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"impasto: error: {error}; the finished frames are kept in {work}", file=sys.stderr)
        return EXIT_FAILED
    for bar in bars:
        bar.close()
    width, height = result.size
    resumed = f", {result.resumed} resumed from {args.work_dir or 'the work dir'}" if result.resumed else ""
    print(f"wrote {result.output} ({result.frames} frames, {width}x{height}, in {time.perf_counter() - started:.0f} s"
          f"{resumed}, seed {result.config.seed})", file=sys.stderr)
    return 0


def _frames(text: str, option: str, example: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated whole numbers, e.g. {example}; got {text!r}") from None
