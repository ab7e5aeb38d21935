"""`impasto batch`: many photos, paintings and settings, one Ray task per item (needs impasto[ray]).

Settings are parsed as `impasto transfer` parses them: a --grid value or a manifest cell goes
through the same option's type and choices, and a preset named in a grid or a row is its item's
starting point. Mistakes on the command line (an unknown option, a bad grid value, a missing photo)
stop the batch before it starts, with exit code 2; a manifest row with a bad setting, a photo that
cannot be decoded and a task that keeps dying fail their item only (exit code 1 at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..batch import (
    INDEX_NAME,
    SHEET_NAME,
    Item,
    Row,
    contact_sheet,
    expand_images,
    is_done,
    parse_grid,
    plan_items,
    read_manifest,
    save_result,
    write_index,
)
from ..config import TransferConfig
from ..errors import ConfigError, ImageError
from ..images import read_metadata
from .common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, config_from_args
from .progress import CountBar
from .transfer import transfer_options

__all__ = ["add_parser"]

RAY_EXTRA = ("ray",)
"""The modules of the optional extra impasto[ray]."""
DEFAULT_THREADS = 1
"""CPU threads per task: on 2 busy cores, two tasks of one thread made 5x the items per minute of one
task of two threads, whose threads wait for each other whenever a core is taken (benchmarks/RESULTS.md)."""
_FIELDS = {f.name for f in dataclasses.fields(TransferConfig)}


def add_parser(commands: Any) -> None:
    batch = commands.add_parser(
        "batch",
        help="paint many photos with many paintings and settings, on this machine or a Ray cluster "
        "(needs impasto[ray])",
        description="Paint each PHOTO (files, folders, globs) in the style of each --style, for every combination "
        "of the --grid values, or the rows of a --manifest, one Ray task per item. Results go to OUTDIR with "
        "names made of the photo, the style and the grid values, each with its settings in the PNG; "
        f"{INDEX_NAME} lists them and {SHEET_NAME} shows them. Rerunning the command skips the items already "
        "done with the same settings.",
        epilog="example: impasto batch photos/ --style starry_night.jpg --grid style-weight=3,10,30 -o out/ "
        "--size 256 --seed 0",
    )
    batch.add_argument("photos", nargs="*", metavar="PHOTO", help="photos: files, folders or globs ('album/*.jpg')")
    batch.add_argument(
        "--style",
        dest="style_specs",
        action="append",
        default=[],
        metavar="STYLE",
        help="a painting (file, folder or glob): each is its own item; a,b blends two; repeat for more",
    )
    batch.add_argument("-o", "--output-dir", required=True, metavar="OUTDIR", help="folder of the results")
    batch.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="OPTION=V1,V2",
        help="run every value of a transfer option, e.g. style-weight=3,10; repeat for the product of several",
    )
    batch.add_argument(
        "--manifest",
        metavar="FILE",
        help="CSV (with a header) or JSON lines: photo, style (a;b to blend) and any transfer options per row",
    )
    cluster = batch.add_argument_group("cluster (Ray)")
    cluster.add_argument(
        "--address",
        metavar="auto|HOST:PORT",
        help="the Ray cluster: auto (the one `ray start` began on this machine) or its head's HOST:PORT "
        "(default: a local Ray instance with this machine's CPUs and GPUs)",
    )
    cluster.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        metavar="N",
        help="CPU threads of each task on CPU nodes: a node with C cores runs C/N tasks at once",
    )
    cluster.add_argument(
        "--retries", type=int, default=2, metavar="N", help="how often an item whose worker died is run again"
    )
    transfer_options(batch)
    batch.set_defaults(handler=lambda args: _batch(args, batch))


def _batch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.threads < 1 or args.retries < 0:
        raise ConfigError(f"--threads must be at least 1 and --retries at least 0, got {args.threads}, {args.retries}")
    if args.save_every:
        raise ConfigError("--save-every does not apply to a batch: drop it")
    configure = _configurator(args, parser)
    configure({})  # the command line's own settings: a mistake there is a usage error
    grid = parse_grid(args.grid)
    for name, values in grid:
        for value in values:
            configure({name: value})
    rows = _rows(args)
    out_dir = _output_dir(args.output_dir)
    items = plan_items(rows, grid, out_dir, configure)
    try:
        from ..cluster import Pool, connect
    except ModuleNotFoundError as error:
        if error.name not in RAY_EXTRA:
            raise
        print(f"impasto: error: impasto batch needs {error.name}: pip install 'impasto[ray]'", file=sys.stderr)
        return EXIT_USAGE

    status: dict[Path, dict[str, Any]] = {}
    for item in items:
        if item.error is not None:
            status[item.output] = {"status": "failed", "error": item.error}
            print(f"impasto: failed: {item.label}: {item.error}", file=sys.stderr)
        elif is_done(item):
            status[item.output] = {"status": "existing", "seed": read_metadata(item.output).get("seed")}
    todo = [item for item in items if item.output not in status]
    print(f"impasto batch: {len(items)} items: {sum(s['status'] == 'existing' for s in status.values())} done "
          f"already, {len(todo)} to run", file=sys.stderr)
    pool = Pool(connect(args.address), args.threads, args.retries) if todo else None
    out_dir.mkdir(exist_ok=True)  # only now: a batch that cannot start leaves no folder behind
    interrupted = False
    if pool is not None:
        where = "on a local Ray instance" if args.address is None else f"on the Ray cluster at {args.address}"
        per_task = "a GPU each" if pool.gpus else f"{args.threads} thread{'s' if args.threads > 1 else ''} each"
        print(f"impasto batch: {where}: {pool.slots} at a time ({per_task})", file=sys.stderr)
        bar = CountBar(len(todo), "items", args.quiet, stats=f"done 0, failed 0, running {min(len(todo), pool.slots)}")
        counts = {"done": 0, "failed": 0}
        try:
            with contextlib.closing(pool.run(todo)) as outcomes:
                for outcome in outcomes:
                    if outcome.error is not None:
                        status[outcome.item.output] = {"status": "failed", "error": outcome.error}
                        bar.write(f"impasto: failed: {outcome.item.label}: {outcome.error}")
                        counts["failed"] += 1
                    else:
                        assert outcome.result is not None
                        save_result(outcome.item, outcome.result)
                        status[outcome.item.output] = {"status": "done", "seed": outcome.result.config.seed,
                                                       "seconds": round(outcome.seconds, 2),
                                                       **({"workers": outcome.workers} if outcome.workers else {})}
                        counts["done"] += 1
                    running = min(len(todo) - counts["done"] - counts["failed"], pool.slots)
                    bar.advance(f"done {counts['done']}, failed {counts['failed']}, running {running}")
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
    entries = [_entry(item, status.get(item.output, {"status": "cancelled"})) for item in items]
    write_index(out_dir / INDEX_NAME, entries)
    contact_sheet(items, out_dir / SHEET_NAME)
    failed = sum(entry["status"] == "failed" for entry in entries)
    made = sum(entry["status"] == "done" for entry in entries)
    kept = len(items) - made - failed
    summary = f"{made} made, {kept} kept or not run, {failed} failed; index in {out_dir / INDEX_NAME}"
    if interrupted:
        print(f"\nimpasto: interrupted: cancelled the remaining items; {summary}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"impasto batch: {summary}", file=sys.stderr)
    return EXIT_FAILED if failed else 0


def _configurator(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Any:
    """options (long names -> text) -> the settings of the command line with those options changed."""
    actions = {string: action for action in parser._actions for string in action.option_strings}

    def configure(options: Mapping[str, str]) -> TransferConfig:
        values = argparse.Namespace(**vars(args))
        for name, text in options.items():
            action = actions.get(f"--{name}")
            if action is None or (action.dest not in _FIELDS and action.dest != "preset"):
                raise ConfigError(f"unknown setting {name!r}: use the long name of a transfer option, e.g. "
                                  f"style-weight or size")
            setattr(values, action.dest, _value(action, name, text))
        # The seed only if one was given: each task draws its own, and a rerun takes any drawn one as done.
        return config_from_args(values, TransferConfig.from_preset(values.preset)).replace(seed=values.seed)

    return configure


def _value(action: argparse.Action, name: str, text: str) -> Any:
    """`text` as the option `action` would have parsed it."""
    if action.nargs == 0:  # a flag
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ConfigError(f"{name} takes true or false, got {text!r}")
        return text.lower() in ("true", "yes", "1")
    try:
        value = action.type(text) if callable(action.type) else text
    except (ValueError, argparse.ArgumentTypeError):
        raise ConfigError(f"{name}: {text!r} is not a valid {getattr(action.type, '__name__', 'value')}") from None
    if action.choices is not None and value not in action.choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, action.choices))}, got {text!r}")
    return text.split(";") if isinstance(action, argparse._AppendAction) else value


def _rows(args: argparse.Namespace) -> list[Row]:
    rows = read_manifest(args.manifest) if args.manifest else []
    if args.photos:
        if not args.style_specs:
            raise ConfigError("give the paintings with --style (or photos and paintings in a --manifest)")
        styles: list[tuple[Path, ...]] = []
        for spec in args.style_specs:
            if "," in spec and not os.path.exists(spec):
                styles.append(tuple(expand_images([part], "style")[0] for part in spec.split(",")))
            else:
                styles.extend((path,) for path in expand_images([spec], "style"))
        rows += [Row(photo, group) for photo in expand_images(args.photos) for group in styles]
    elif not rows:
        raise ConfigError("give photos and --style, or a --manifest")
    return rows


def _output_dir(name: str) -> Path:
    """The results' folder, checked; the batch makes it once it starts."""
    folder = Path(name)
    if folder.exists() and not folder.is_dir():
        raise ImageError(f"--output-dir {name!r} is a file: give a folder")
    if not folder.parent.is_dir():
        raise ImageError(f"the folder above --output-dir {name!r} does not exist: create it or choose another")
    if not os.access(folder if folder.exists() else folder.parent, os.W_OK):
        raise ImageError(f"--output-dir {name!r} is not writable: choose another folder")
    return folder


def _entry(item: Item, status: dict[str, Any]) -> dict[str, Any]:
    """A line of the index: the item, its output's name in OUTDIR, and done, existing, failed or cancelled."""
    return {"photo": str(item.photo), "styles": [str(s) for s in item.styles], "options": item.options,
            "output": item.output.name, "seed": None, "seconds": None, "error": None, **status}
