"""`impasto transfer`: paint a photo in the style of one or more paintings."""

from __future__ import annotations

import argparse
from typing import Any

from ..color import COLOR_MATCH_METHODS
from ..config import COLOR_MODES, INIT_MODES, NORMALIZATIONS, PRESETS, STYLE_LOSSES, TransferConfig
from ..errors import ConfigError
from ..images import BIT_DEPTHS, check_bit_depth, check_output_path
from ..memory import parse_bytes
from ..pipeline import plan_transfer, transfer
from .common import (
    DEFAULTS,
    config_from_args,
    layers_text,
    optimisation_options,
    output_option,
    run_and_save,
    system_options,
)

__all__ = ["add_parser", "transfer_options"]


def add_parser(commands: Any) -> None:
    run = commands.add_parser(
        "transfer",
        help="paint a photo in the style of one or more paintings",
        description="Paint CONTENT in the style of STYLE (several styles are blended).",
        epilog="example: impasto transfer photo.jpg starry_night.jpg -o out.png --size 256",
    )
    run.add_argument("content", help="the photo (content image)")
    run.add_argument("styles", nargs="+", metavar="STYLE", help="the painting(s) (style images)")
    output_option(run)
    run.add_argument(
        "--dry-run", action="store_true",
        help="print the plan (levels, blocks, predicted peak memory and time) and exit without running",
    )
    transfer_options(run)
    print_file = run.add_argument_group("print files")
    print_file.add_argument(
        "--bit-depth", type=int, choices=BIT_DEPTHS, default=8,
        help="bits per channel of the output; 16: a 16-bit PNG or TIFF (by its extension)",
    )
    print_file.add_argument("--dpi", type=int, metavar="N", help="resolution stored in the file (e.g. 300)")
    print_file.add_argument(
        "--work-dir", metavar="DIR", help="keep each finished level here: the same command run again starts after "
        "the last one (after a lost process or machine)",
    )
    cluster = run.add_argument_group("cluster (Ray): the blocks of print-size levels on many workers")
    cluster.add_argument(
        "--address", metavar="auto|HOST:PORT",
        help="the Ray cluster whose workers compute the blocks: auto (the one `ray start` began on this machine, "
        "e.g. over its GPUs) or its head's HOST:PORT; needs impasto[ray] and, on a cluster with tokens, its token "
        "(docs/batch.md)",
    )
    cluster.add_argument(
        "--threads", type=int, default=1, metavar="N", help="CPU threads of each worker on CPU nodes (a GPU node: one "
        "worker a GPU)",
    )
    cluster.add_argument("--workers", type=int, metavar="N", help="at most N workers (default: all the cluster holds)")
    cluster.add_argument(
        "--same-steps", action="store_true", help="keep the schedule's steps: do not spend the workers' speed on "
        "more steps at the finest levels",
    )
    run.set_defaults(handler=_transfer)


def transfer_options(run: argparse.ArgumentParser) -> None:
    """The settings of a transfer, from --preset to the system options: shared by the commands that
    stylise (transfer, and those that run it on many images or frames)."""
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
        "--strength",
        type=float,
        default=d.strength,
        metavar="S",
        help="how far toward the painting: 0 keeps the photo, 1 is the painting alone; 0.5 leaves alpha and beta "
        "as they are, each step multiplies beta/alpha by S/(1-S)",
    )
    weights.add_argument(
        "--content-weight", type=float, default=d.content_weight, metavar="ALPHA", help="alpha; 0 = texture synthesis"
    )
    weights.add_argument("--style-weight", type=float, default=d.style_weight, metavar="BETA", help="beta")
    weights.add_argument("--tv-weight", type=float, default=d.tv_weight, metavar="W", help="total-variation smoothing")
    weights.add_argument(
        "--palette-weight",
        type=float,
        default=d.palette_weight,
        metavar="W",
        help="pull toward the painting's palette (the distribution of its colours); 0: off",
    )
    weights.add_argument(
        "--laplacian-weight",
        type=float,
        default=d.laplacian_weight,
        metavar="W",
        help="keep the photo's edges (its Laplacian, where it has edges; flat regions stay free for the "
        "painting's strokes); 0: off",
    )
    weights.add_argument(
        "--laplacian-side",
        type=int,
        default=d.laplacian_side,
        metavar="N",
        help="the scale of the edges --laplacian-weight keeps: the longest side in px they are compared at",
    )
    weights.add_argument(
        "--laplacian-finest",
        type=float,
        default=d.laplacian_finest,
        metavar="SHARE",
        help="the share of --laplacian-weight at the finest level, from 0 (the painting's texture over the lines "
        "the coarser levels laid down) to 1 (the photo's detail kept there too)",
    )
    weights.add_argument(
        "--anchor-side",
        type=int,
        default=d.anchor_side,
        metavar="N",
        help="levels larger than N px also match the objective at N px on the image scaled down to it, so that a "
        "large output keeps the painting's strokes at the scale they have at N px; 0: off",
    )
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
        default=layers_text(d.content_layers),
        metavar="LAYERS",
        help="comma-separated layers, optionally name:weight",
    )
    weights.add_argument(
        "--style-layers",
        default=layers_text(d.style_layers),
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
    optimisation_options(run, d, init=True)
    system_options(run, d)
    memory = run.add_argument_group("memory (large sizes run in blocks, with the same result)")
    memory.add_argument(
        "--memory-budget", type=_memory_size, metavar="SIZE",
        help="the most memory the whole process may hold, e.g. 4G or 1500M, as a container's limit counts it "
        "(Python, torch, the network and the inputs included; on a GPU, what torch holds there); default: what "
        "the process holds plus what the device has free",
    )
    memory.add_argument(
        "--tile-size", type=int, metavar="N", help="compute levels larger than N px in blocks of N px (default: "
        "only where the budget needs it)",
    )


def _memory_size(text: str) -> int:
    try:
        return parse_bytes(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _transfer(args: argparse.Namespace) -> int:
    config = config_from_args(args, TransferConfig.from_preset(args.preset))
    if args.dpi is not None and args.dpi <= 0:
        raise ConfigError(f"--dpi must be a positive whole number, got {args.dpi}")
    init_file = [] if config.init in INIT_MODES else [config.init]
    output = check_output_path(args.output, [args.content, *args.styles, *init_file, *(config.masks or ())])
    check_bit_depth(output, args.bit_depth)
    if args.threads < 1 or (args.workers is not None and args.workers < 1):
        raise ConfigError(f"--threads and --workers must be at least 1, got {args.threads}, {args.workers}")
    blocks = None if args.address is None else _ray_blocks(args, config)
    workers = None if blocks is None else blocks.workers(config.memory_budget, not args.same_steps)
    try:
        plan = plan_transfer(args.content, config, workers=workers)  # refuses a size that cannot fit, before any work
        if args.dry_run:
            print(plan.describe())
            return 0
        record = {"content": str(args.content), "styles": [str(s) for s in args.styles]}
        return run_and_save(
            args, config, output, record, lambda callback: transfer(
                args.content, args.styles, config, callback, workers=workers, work_dir=args.work_dir),
            bit_depth=args.bit_depth, dpi=args.dpi,
        )
    finally:
        if blocks is not None:
            blocks.shutdown()


def _ray_blocks(args: argparse.Namespace, config: TransferConfig) -> Any:
    """The cluster's workers (`impasto.cluster.RayBlocks`), made and probed unless only planning."""
    try:
        from ..cluster import RayBlocks, connect
    except ModuleNotFoundError as error:
        if error.name != "ray":
            raise
        raise ConfigError(f"--address needs {error.name}: pip install 'impasto[ray]'") from None
    blocks = RayBlocks(connect(args.address), config, args.threads, args.workers)
    if not args.dry_run:
        blocks.make()
    return blocks
