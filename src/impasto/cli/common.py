"""What the commands share: the parser with one-line errors, option groups, settings from the options,
running one optimisation with a progress bar (`progress`), and the exit codes."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

from ..config import OPTIMIZERS, PADDINGS, POOLINGS, PRECISIONS, TransferConfig
from ..errors import ConfigError, Interrupted, OptimizationError
from ..images import save_image
from ..optimize import PATIENCE, Progress, ProgressCallback
from ..pipeline import Result, run_metadata
from .progress import StepBar

__all__ = [
    "DEFAULTS",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "HelpFormatter",
    "Parser",
    "config_from_args",
    "defer_defaults",
    "layers_text",
    "optimisation_options",
    "output_option",
    "run_and_save",
    "size_spec",
    "system_options",
]

DEFAULTS = TransferConfig()
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only where it has one and the help does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        no_default = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if no_default or "default" in text:
            return text
        return super()._get_help_string(action) or text


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to look, no usage dump."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        # Let '-1e3' be a (negative) value rather than an option, as Python 3.14 does (cpython#124693).
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def defer_defaults(parser: argparse.ArgumentParser) -> None:
    """Options that set a TransferConfig field default to None, so a command's base config (a
    preset, the figures' settings) fills what the user did not give; the help still shows the value."""
    fields = {f.name for f in dataclasses.fields(TransferConfig)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                defer_defaults(sub)
        elif action.dest in fields and action.default is not None:
            action.help = f"{action.help} (default: {action.default})"
            action.default = None


def output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="output image (.png keeps the settings in its metadata)"
    )


def optimisation_options(parser: argparse.ArgumentParser, d: TransferConfig, init: bool) -> None:
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--iterations", type=int, default=d.iterations, metavar="N", help="optimisation steps in all")
    optim.add_argument(
        "--levels",
        type=int,
        metavar="N",
        help="coarse-to-fine: optimise at N sizes, each twice the one before (default: the coarsest about 128 px; "
        "1: only at --size)",
    )
    if init:
        optim.add_argument("--init", default=d.init, metavar="{noise,content,style,FILE}", help="start image")
    optim.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="optimiser")
    optim.add_argument(
        "--learning-rate", type=float, metavar="LR", help="step size (default: 1 for lbfgs, 0.02 for adam)"
    )
    optim.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="random seed; a seed repeats a run exactly (default: drawn, and stored in the PNG)",
    )
    optim.add_argument("--history-size", type=int, default=d.history_size, metavar="N", help="L-BFGS memory")
    optim.add_argument(
        "--average-iterates",
        action=argparse.BooleanOptionalAction,
        default=d.average_iterates,
        help="adam: return the running average of the iterates",
    )
    optim.add_argument(
        "--early-stop",
        type=float,
        default=d.early_stop,
        metavar="F",
        help=f"end a level when the loss fell by less than this fraction in {PATIENCE} iterations (0: never)",
    )
    optim.add_argument("--pooling", choices=POOLINGS, default=d.pooling, help="VGG pooling")
    optim.add_argument("--padding", choices=PADDINGS, default=d.padding, help="how convolutions pad the borders")


def system_options(parser: argparse.ArgumentParser, d: TransferConfig, save_every: bool = True) -> None:
    system = parser.add_argument_group("system")
    system.add_argument("--device", default=d.device, metavar="DEVICE", help="auto, cpu, cuda, cuda:N or mps")
    system.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=d.precision,
        help="network arithmetic; auto: bf16 where the device computes it natively",
    )
    system.add_argument("--weights", metavar="FILE", help="VGG-19 state dict file (default: the bundled Caffe weights)")
    system.add_argument(
        "--max-pixels", type=int, default=d.max_pixels, metavar="N", help="refuse input images with more pixels"
    )
    if save_every:
        system.add_argument(
            "--save-every",
            type=int,
            default=d.save_every,
            metavar="N",
            help="also write OUTPUT_<step> every N iterations (0: never)",
        )
    system.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def layers_text(layers: Mapping[str, float]) -> str:
    return ",".join(layers)


def size_spec(text: str) -> int | tuple[int, int]:
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected N (longest side) or WxH, e.g. 256 or 512x128, got {text!r}")
    width, height = match.groups()
    return int(width) if height is None else (int(width), int(height))


def config_from_args(args: argparse.Namespace, base: TransferConfig = DEFAULTS, **overrides: Any) -> TransferConfig:
    """`base` with every option the command has and the user set (or that defaults to a value)."""
    fields = {f.name for f in dataclasses.fields(TransferConfig)}
    options = {name: value for name, value in vars(args).items() if name in fields and value is not None}
    options.update(overrides)
    for name in ("style_blend", "style_scale"):
        if isinstance(options.get(name), str):
            options[name] = tuple(_number(w, f"--{name.replace('_', '-')}") for w in options[name].split(","))
    if options.get("masks") is not None:
        options["masks"] = tuple(options["masks"])
    return base.replace(**options).with_seed()


def _number(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated numbers, got {text!r}") from None


def run_and_save(
    args: argparse.Namespace,
    config: TransferConfig,
    output: Path,
    record: dict[str, Any],
    run: Callable[[ProgressCallback], Result],
    bit_depth: int = 8,
    dpi: int | None = None,
) -> int:
    """Run one optimisation with a progress bar and intermediate images; write the result (with
    `bit_depth` bits per channel and `dpi`)."""
    bar = StepBar(args.quiet)
    started = time.perf_counter()
    save = functools.partial(save_image, bit_depth=bit_depth, dpi=dpi)

    def on_progress(event: Progress) -> None:
        bar.update(event)
        if event.blocks:  # a block of an iteration in progress: only the bar hears of it
            return
        if config.save_every and event.step % config.save_every == 0 and event.step < event.total:
            path = output.with_name(f"{output.stem}_{event.step:04d}{output.suffix}")
            save(event.image, path, run_metadata(config, event.step, False, **record))

    try:
        result = run(on_progress)
    except OptimizationError as error:
        bar.close()
        if error.image is None:
            raise
        save(error.image, output, run_metadata(config, error.step, False, **record))
        if isinstance(error, Interrupted):
            print(f"impasto: interrupted: wrote the image after {error.step} iterations to {output}", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(
            f"impasto: error: {error}; wrote the last good image ({error.step} iterations) to {output}", file=sys.stderr
        )
        return EXIT_FAILED
    bar.close()
    save(result.image, output, result.metadata(**record))
    height, width = result.image.shape[-2:]
    print(
        f"wrote {output} ({width}x{height}, {result.steps} iterations in "
        f"{time.perf_counter() - started:.0f} s, seed {result.config.seed})",
        file=sys.stderr,
    )
    return 0
