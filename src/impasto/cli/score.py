"""`impasto score`: quality figures of a result against its photo and painting."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..score import score

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    score = commands.add_parser(
        "score",
        help="quality figures of a result, to compare runs",
        description="How close IMAGE is to the painting's style and to the photo's content: per-layer Gram "
        "distances and the conv4_2 content distance (VGG-19), a colour-distribution distance to the painting "
        "and the correlation of edges with the photo.",
        epilog="example: impasto score out.png --content photo.jpg --style painting.jpg",
    )
    score.add_argument("image", help="the stylised image")
    score.add_argument("--content", required=True, metavar="IMAGE", help="the photo")
    score.add_argument("--style", required=True, metavar="IMAGE", help="the painting")
    score.add_argument("--json", action="store_true", help="print the figures as JSON")
    score.add_argument("--device", default="cpu", metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    score.set_defaults(handler=_score)


def _score(args: argparse.Namespace) -> int:
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
    return 0
