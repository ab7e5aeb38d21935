"""`impasto figure NAME`: the paper's figures as labelled grids."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from ..errors import ConfigError, Interrupted, OptimizationError
from ..figures import FIGURE_DEFAULTS, FIGURES, make_figure
from ..images import EXAMPLES, check_output_path, save_image
from ..optimize import Progress
from ..pipeline import run_metadata
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    config_from_args,
    optimisation_options,
    output_option,
    system_options,
)
from .progress import StepBar

PAINTINGS = ("starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    figure = commands.add_parser(
        "figure",
        help="make one of the paper's figures as a labelled grid",
        description="Make one of the paper's figures: reconstructions (Fig. 1), styles (Fig. 3), tradeoff "
        "(Fig. 4), layers (Fig. 5), init (Fig. 6), or controls (Gatys et al. 2017: spatial, scale and "
        "colour control). Defaults are the paper's settings at a size a "
        "CPU makes in minutes; the bundled images are used unless you give others.",
        epilog="example: impasto figure reconstructions --size 128 -o fig1.png",
    )
    figure.add_argument("name", choices=FIGURES, metavar="NAME", help=f"one of: {', '.join(FIGURES)}")
    output_option(figure)
    figure.add_argument("--content", metavar="IMAGE", help="the photo (default: the bundled photo of Tübingen)")
    figure.add_argument(
        "--style",
        dest="styles",
        action="append",
        metavar="IMAGE",
        help="a painting; repeat for several (default: the bundled paintings)",
    )
    figure.add_argument(
        "--mask",
        dest="masks",
        action="append",
        metavar="IMAGE",
        help="controls: the mask of each of the two styles (default with the bundled photo: its sky and the rest)",
    )
    figure.add_argument(
        "--size", type=int, default=FIGURE_DEFAULTS.size, metavar="N", help="longest side of each panel in px"
    )
    optimisation_options(figure, FIGURE_DEFAULTS, init=False)
    system_options(figure, FIGURE_DEFAULTS, save_every=False)
    figure.set_defaults(handler=_figure)


def _figure(args: argparse.Namespace) -> int:
    config = config_from_args(args, FIGURE_DEFAULTS)
    if args.masks and args.name != "controls":
        raise ConfigError(f"--mask applies to the controls figure only, not to {args.name}")
    default_count = {"styles": 3, "controls": 2}.get(args.name, 1)
    styles = args.styles or [str(EXAMPLES / name) for name in PAINTINGS[:default_count]]
    content = args.content or str(EXAMPLES / "tubingen.jpg")
    output = check_output_path(args.output, [content, *styles, *(args.masks or ())])
    bar = StepBar(args.quiet)
    started = time.perf_counter()

    def on_progress(number: int, total: int, caption: str, event: Progress) -> None:
        bar.update(event, prefix=f"panel {number}/{total} ({caption})")

    try:
        image = make_figure(args.name, content, styles, config, on_progress, args.masks)
    except OptimizationError as error:
        bar.close()
        reason = "interrupted" if isinstance(error, Interrupted) else f"error: {error}"
        print(f"impasto: {reason}; no figure written", file=sys.stderr)
        return EXIT_INTERRUPTED if isinstance(error, Interrupted) else EXIT_FAILED
    bar.close()
    save_image(
        image,
        output,
        run_metadata(config, config.iterations, True, figure=args.name, content=content,
                     styles=[str(s) for s in styles]),
    )
    print(
        f"wrote {output} ({image.width}x{image.height}, figure {args.name} in "
        f"{time.perf_counter() - started:.0f} s, seed {config.seed})",
        file=sys.stderr,
    )
    return 0
