"""`impasto reconstruct content|style`: what one layer keeps of an image (the paper's Figure 1)."""

from __future__ import annotations

import argparse
from typing import Any

from ..images import check_output_path
from ..pipeline import reconstruct_content, synthesize_texture
from .common import (
    DEFAULTS,
    Parser,
    config_from_args,
    layers_text,
    optimisation_options,
    output_option,
    run_and_save,
    size_spec,
    system_options,
)

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    reconstruct = commands.add_parser(
        "reconstruct",
        help="what a layer keeps of an image: content reconstruction or texture synthesis",
        description="Reconstruct an image from white noise, from one layer's responses (content) or from "
        "Gram matrices (style): the paper's Figure 1.",
    )
    kinds = reconstruct.add_subparsers(dest="kind", required=True, parser_class=Parser, metavar="KIND")
    content = kinds.add_parser(
        "content",
        help="match one layer's responses",
        epilog="example: impasto reconstruct content photo.jpg --layer conv4_2 -o layout.png --size 256",
    )
    content.add_argument("image", help="the image to reconstruct")
    output_option(content)
    content.add_argument("--layer", default="conv4_2", help="the layer whose responses are matched")
    content.add_argument(
        "--size", type=int, default=DEFAULTS.size, metavar="N", help="longest side of the output in px"
    )
    content.set_defaults(handler=_reconstruct_content)
    style = kinds.add_parser(
        "style",
        help="texture synthesis: match Gram matrices",
        epilog="example: impasto reconstruct style painting.jpg --layers conv1_1,conv2_1,conv3_1 --size 512x128 "
        "-o strip.png",
    )
    style.add_argument("image", help="the painting whose texture is synthesised")
    output_option(style)
    style.add_argument(
        "--layers", default=layers_text(DEFAULTS.style_layers), metavar="LAYERS", help="comma-separated style layers"
    )
    style.add_argument(
        "--size",
        type=size_spec,
        default=DEFAULTS.size,
        metavar="N|WxH",
        help="output size: longest side (the painting's aspect ratio) or width x height",
    )
    style.add_argument(
        "--style-scale",
        type=float,
        default=DEFAULTS.style_scale,
        metavar="S",
        help="painting size relative to the output's longest side",
    )
    style.set_defaults(handler=_reconstruct_style)
    for kind in (content, style):
        optimisation_options(kind, DEFAULTS, init=False)
        system_options(kind, DEFAULTS)


def _reconstruct_content(args: argparse.Namespace) -> int:
    config = config_from_args(args).replace(content_layers=args.layer)
    output = check_output_path(args.output, [args.image])
    record = {"reconstruct": "content", "image": str(args.image), "layer": args.layer}
    return run_and_save(
        args,
        config,
        output,
        record,
        lambda callback: reconstruct_content(args.image, args.layer, config, callback=callback),
    )


def _reconstruct_style(args: argparse.Namespace) -> int:
    size = args.size if isinstance(args.size, tuple) else None  # else the painting's aspect ratio
    config = config_from_args(args, size=max(size) if size else args.size or DEFAULTS.size)
    output = check_output_path(args.output, [args.image])
    record = {"reconstruct": "style", "image": str(args.image), "layers": args.layers,
              "output_size": args.size or config.size}
    return run_and_save(
        args,
        config,
        output,
        record,
        lambda callback: synthesize_texture(args.image, args.layers, size, config, callback=callback),
    )
