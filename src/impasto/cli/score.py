"""`impasto score`: quality figures of a result against its photo and painting."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import ConfigError
from ..score import score
from .common import EXIT_USAGE
from .video import VIDEO_EXTRA

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    score = commands.add_parser(
        "score",
        help="quality figures of a result, to compare runs",
        description="How close IMAGE is to the painting's style and to the photo's content: per-layer Gram "
        "distances and the conv4_2 content distance (VGG-19), a colour-distribution distance to the painting, "
        "the correlation of edges with the photo and a texture distance to the painting by random filters.",
        epilog="example: impasto score out.png --content photo.jpg --style painting.jpg; for a clip: impasto "
        "score --video out.mp4 --content clip.mp4 --style painting.jpg",
    )
    score.add_argument("image", nargs="?", help="the stylised image")
    score.add_argument("--video", metavar="CLIP", help="score a stylised clip instead (needs impasto[video]): its "
                       "warping error E_warp against the --content clip, and the figures per frame")
    score.add_argument("--start", type=float, default=0.0, metavar="SECONDS",
                       help="with --video: where in the --content clip the stylised one begins")
    score.add_argument("--content", required=True, metavar="IMAGE", help="the photo")
    score.add_argument("--style", required=True, metavar="IMAGE", help="the painting")
    score.add_argument("--json", action="store_true", help="print the figures as JSON")
    score.add_argument("--device", default="cpu", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    score.set_defaults(handler=_score)


def _score(args: argparse.Namespace) -> int:
    if (args.image is None) == (args.video is None):
        raise ConfigError("give a stylised image, or --video CLIP (not both)")
    if args.video is not None:
        return _score_video(args)
    result = score(args.image, args.content, args.style, args.device)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(f"{args.image}")
    print("style    relative Gram distance to the painting, per layer (lower: closer to its style)")
    for name, value in result.style.items():
        print(f"  {name}  {value:.4f}")
    print(f"  mean     {result.style_mean:.4f}")
    print(f"content  relative distance to the photo at conv4_2 (lower: more of its content)  {result.content:.4f}")
    print(f"colour   sliced Wasserstein distance of RGB to the painting (lower: closer palette)  {result.color:.4f}")
    print(f"edges    correlation of edge strength with the photo (higher: more of its structure)  {result.edges:.4f}")
    print(f"outlines the same at a quarter of the size (0.5 or more: the main elements survive)  {result.outlines:.4f}")
    print(f"structure the photo's strongest edges kept (1: as in the photo, 0: by chance; 0.8 or more: its finer "
          f"lines too)  {result.structure:.4f}")
    print(f"texture  distance to the painting's fine texture, by random filters and not VGG (lower: closer to its "
          f"brushwork)  {result.texture:.4f}")
    return 0


def _score_video(args: argparse.Namespace) -> int:
    try:
        from ..video.score import score_video
    except ModuleNotFoundError as error:
        if error.name not in VIDEO_EXTRA:
            raise
        print(f"impasto: error: score --video needs {error.name}: pip install 'impasto[video]'", file=sys.stderr)
        return EXIT_USAGE
    result = score_video(args.video, args.content, args.style, args.device, start=args.start)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    print(f"{args.video} ({len(result.style)} frames)")
    print(f"E_warp   warping error between consecutive frames, where the flow of the input holds (lower: "
          f"steadier)  {result.e_warp:.5f}")
    print(f"style    mean relative Gram distance to the painting, mean over frames  {result.style_mean:.4f}")
    print(f"content  relative conv4_2 distance to the input frame, mean over frames  {result.content_mean:.4f}")
    return 0
