"""The `impasto` command: argv -> TransferConfig -> pipeline -> file, with a progress bar.

One module per command, each with an `add_parser(commands)` that registers its options and handler;
`common` holds what they share. `impasto serve` imports the web app (the optional extra
impasto[web]) only when it starts.

Exit codes: 0 done, 1 the optimisation failed (NaN), 2 a usage error (bad option, image, path,
device or weights), 130 interrupted (Ctrl-C; the current image is written).
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import ImpastoError
from . import batch, figure, info, reconstruct, score, serve, transfer, video
from .common import EXIT_INTERRUPTED, EXIT_USAGE, Parser, defer_defaults

__all__ = ["build_parser", "main"]

COMMANDS = (transfer, video, batch, reconstruct, figure, score, serve, info)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="impasto", description="Neural style transfer (Gatys, Ecker & Bethge, CVPR 2016).")
    parser.add_argument("--version", action="version", version=f"impasto {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    for name in ("transfer", "video", "batch", "reconstruct", "figure"):  # the commands that build a TransferConfig
        defer_defaults(commands.choices[name])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ImpastoError as error:
        print(f"impasto: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nimpasto: interrupted before the optimisation started; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED
