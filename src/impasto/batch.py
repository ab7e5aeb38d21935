"""Many transfers from one command: photos, folders and globs, a grid of settings or a manifest ->
items with deterministic output names; which items are done already (resume); the index and the
contact sheet of the results.

Nothing here runs a transfer or knows how items are scheduled (`impasto.cluster` does, on Ray), and
nothing here parses option values: the caller turns an item's options (CLI long names -> text) into a
`TransferConfig`, so a batch refuses exactly what `impasto transfer` refuses.

    photo.jpg + starry_night.jpg, --grid style-weight=3,10
        -> OUTDIR/photo__starry_night__style-weight=3.png, OUTDIR/photo__starry_night__style-weight=10.png
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .config import TransferConfig
from .errors import ConfigError, ImageError, ImpastoError
from .files import atomic_file
from .images import read_metadata, save_image
from .pipeline import Result

__all__ = [
    "IMAGE_SUFFIXES",
    "INDEX_NAME",
    "SHEET_NAME",
    "Item",
    "Row",
    "contact_sheet",
    "expand_images",
    "grid_combinations",
    "is_done",
    "parse_grid",
    "plan_items",
    "read_manifest",
    "save_result",
    "write_index",
]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
"""What a folder or a glob expands to (files named on the command line are taken whatever their name)."""
INDEX_NAME = "index.jsonl"
SHEET_NAME = "contact_sheet.jpg"

Configure = Callable[[Mapping[str, str]], TransferConfig]
"""An item's options (long option names without dashes -> the text given) -> its settings."""


@dataclass(frozen=True)
class Row:
    """One photo with its style(s) and its own options: a line of a manifest, or a photo of the command line."""

    photo: Path
    styles: tuple[Path, ...]
    options: dict[str, str] = field(default_factory=dict)
    where: str = ""
    """Where the row comes from, for errors (e.g. 'batch.csv line 3'); empty for the command line."""


@dataclass(frozen=True)
class Item:
    """One transfer of a batch."""

    photo: Path
    styles: tuple[Path, ...]
    options: dict[str, str]
    """The options that set this item apart (grid values, a manifest row's columns), as given."""
    output: Path
    config: TransferConfig | None
    """The settings, seed included if one was given; None when they are invalid (see `error`)."""
    error: str | None = None

    @property
    def label(self) -> str:
        """'photo.jpg + starry_night.jpg (style-weight=3)': how messages name the item."""
        options = ", ".join(f"{name}={value}" for name, value in self.options.items())
        return f"{self.photo} + {' + '.join(map(str, self.styles))}" + (f" ({options})" if options else "")

    @property
    def record(self) -> dict[str, Any]:
        """The inputs stored in the output's metadata, as `impasto transfer` stores them."""
        return {"content": str(self.photo), "styles": [str(style) for style in self.styles]}


def expand_images(specs: Iterable[str], role: str = "photo") -> list[Path]:
    """Files as given, folders to the images in them, globs (`*`, `?`, `[...]`, `**`) to the images
    they match; sorted within each folder or glob, duplicates dropped.

    Raises:
        ImageError: a path that does not exist, or a folder or glob without images.
    """
    found: dict[Path, None] = {}
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            where = f"folder {spec!r}"
        elif path.exists():
            matches = [path]
            where = ""
        elif glob.has_magic(spec):
            matches = sorted(Path(p) for p in glob.glob(spec, recursive=True)
                             if Path(p).is_file() and Path(p).suffix.lower() in IMAGE_SUFFIXES)
            where = f"pattern {spec!r}"
        else:
            raise ImageError(f"{role} {spec!r} does not exist: check the path")
        if not matches:
            kinds = ", ".join(sorted(IMAGE_SUFFIXES))
            raise ImageError(f"the {where} has no images ({kinds}): check the {role}s you gave")
        found.update(dict.fromkeys(matches))
    return list(found)


def parse_grid(specs: Sequence[str]) -> list[tuple[str, list[str]]]:
    """`--grid` values 'style-weight=3,10' -> [('style-weight', ['3', '10'])], in the order given.

    Raises:
        ConfigError: no '=', no values, or an option given twice.
    """
    grid: list[tuple[str, list[str]]] = []
    for spec in specs:
        name, equals, values = spec.partition("=")
        name = option_name(name)
        choices = [value.strip() for value in values.split(",")]
        if not equals or not name or not all(choices):
            raise ConfigError(
                f"--grid takes OPTION=VALUE,VALUE,..., e.g. style-weight=3,10, got {spec!r} (settings whose values "
                f"contain commas go in a --manifest)"
            )
        if any(name == known for known, _ in grid):
            raise ConfigError(f"--grid {name} is given twice: give all its values at once, e.g. {name}=1,2")
        grid.append((name, choices))
    return grid


def option_name(name: str) -> str:
    """'--style_weight' -> 'style-weight': an option's long name as the CLI spells it."""
    return name.strip().lstrip("-").replace("_", "-")


def grid_combinations(grid: Sequence[tuple[str, list[str]]]) -> list[dict[str, str]]:
    """The product of the grid's values, the last option varying fastest; [{}] for no grid."""
    combinations: list[dict[str, str]] = [{}]
    for name, values in grid:
        combinations = [{**combination, name: value} for combination in combinations for value in values]
    return combinations


def read_manifest(path: str | os.PathLike[str]) -> list[Row]:
    """The rows of a CSV file (a header line) or a JSON lines file (`.jsonl`, `.ndjson`, `.json`):
    `photo`, `style` (several separated by ';' in CSV, or a JSON list) and any transfer options by
    their long names (`style-weight`, `size`, ...); empty cells are not set. Relative paths are
    relative to the manifest's folder.

    Raises:
        ConfigError: a missing file, a row without a photo or a style, or a line that is not JSON.
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise ConfigError(f"manifest {str(manifest)!r} does not exist or is not a file: check --manifest")
    text = manifest.read_text(encoding="utf-8-sig")
    records: list[tuple[str, dict[str, Any]]] = []
    if manifest.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ConfigError(f"{manifest} line {number} is not JSON ({error.msg}): one object per line") from None
            if not isinstance(record, dict):
                raise ConfigError(f"{manifest} line {number} is not a JSON object: one object per line")
            records.append((f"{manifest} line {number}", record))
    else:
        reader = csv.DictReader(text.splitlines())
        for number, record in enumerate(reader, 2):
            cells = {key: value for key, value in record.items() if key and value not in ("", None)}
            records.append((f"{manifest} line {number}", cells))
    rows = []
    for where, record in records:
        options = {option_name(key): value for key, value in record.items()}
        photo, style = options.pop("photo", None), options.pop("style", options.pop("styles", None))
        if not photo or not style:
            raise ConfigError(f"{where} needs a photo and a style (columns or keys 'photo' and 'style')")
        styles = style if isinstance(style, list) else str(style).split(";")
        rows.append(Row(_relative_to(manifest, str(photo)),
                        tuple(_relative_to(manifest, str(s).strip()) for s in styles if str(s).strip()),
                        {name: _text(value) for name, value in options.items()}, where))
    if not rows:
        raise ConfigError(f"manifest {str(manifest)!r} has no rows: one per photo, with a header line for CSV")
    return rows


def _relative_to(manifest: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else manifest.parent / path


def _text(value: Any) -> str:
    """A JSON value as the CLI would have received it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def plan_items(rows: Sequence[Row], grid: Sequence[tuple[str, list[str]]], out_dir: Path,
               configure: Configure) -> list[Item]:
    """Every row times every grid combination, each with its output path in `out_dir` and its
    settings; an item whose settings are invalid carries the error instead (it fails, the others run)."""
    items = []
    for row in rows:
        for combination in grid_combinations(grid):
            options = {**row.options, **combination}
            try:
                config: TransferConfig | None = configure(options)
                error = None
            except ImpastoError as problem:
                config, error = None, f"{row.where + ': ' if row.where else ''}{problem}"
            items.append(Item(row.photo, row.styles, options, out_dir / _name(row.photo, row.styles, options),
                              config, error))
    return _distinct_names(items)


def _name(photo: Path, styles: Sequence[Path], options: Mapping[str, str]) -> str:
    """'photo__starry_night+scream__size=256_style-weight=3.png'."""
    parts = [_slug(photo.stem), "+".join(_slug(style.stem) for style in styles)]
    if options:
        parts.append("_".join(f"{name}={_slug(value)}" for name, value in options.items()))
    return "__".join(parts) + ".png"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "x"


def _distinct_names(items: list[Item]) -> list[Item]:
    """Items whose names clash (photos of the same name in two folders) get a hash of their inputs."""
    seen: dict[Path, int] = {}
    for item in items:
        seen[item.output] = seen.get(item.output, 0) + 1
    distinct = []
    for item in items:
        if seen[item.output] > 1:
            key = json.dumps([str(item.photo.resolve()), [str(s.resolve()) for s in item.styles], item.options])
            digest = hashlib.sha1(key.encode()).hexdigest()[:8]
            item = Item(item.photo, item.styles, item.options,
                        item.output.with_name(f"{item.output.stem}__{digest}.png"), item.config, item.error)
        distinct.append(item)
    names = [item.output for item in distinct]
    duplicates = sorted({str(name) for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"the batch has the same item twice ({duplicates[0]}): give each photo, style and "
                          f"setting once")
    return distinct


def is_done(item: Item) -> bool:
    """Whether `item.output` holds this item's finished result: a PNG whose metadata has the same
    settings (the same seed if the item sets one) and says the run finished (it may have taken
    fewer iterations than set, where `early_stop` ended levels early)."""
    if item.config is None or not item.output.is_file():
        return False
    try:
        meta = read_metadata(item.output)
    except Exception:  # noqa: BLE001 - an unreadable file is simply not a result: it is made again
        return False
    wanted = json.loads(json.dumps(item.config.to_dict()))
    found = meta.get("settings")
    if not isinstance(found, dict):
        return False
    if item.config.seed is None:  # no seed given: any drawn seed will do
        found = {**found, "seed": None}
    return found == wanted and meta.get("finished") is True


def save_result(item: Item, result: Result) -> None:
    """Write an item's result atomically, with its settings, seed and iterations taken in the PNG, as
    `impasto transfer` does."""
    save_image(result.image, item.output, result.metadata(**item.record))


def write_index(path: Path, entries: Iterable[Mapping[str, Any]]) -> None:
    """The results as JSON lines, written atomically."""
    with atomic_file(path, "w", encoding="utf-8") as file:
        for entry in entries:
            file.write(json.dumps(entry, sort_keys=True) + "\n")


def contact_sheet(items: Sequence[Item], path: Path, cell: int = 192) -> None:
    """One image of all results: a row per photo and style(s), a column per combination of
    options, each cell the result (or the reason it is missing) under its column's label."""
    rows = list(dict.fromkeys((item.photo, item.styles) for item in items))
    columns = list(dict.fromkeys(_options_text(item.options) for item in items))
    font = ImageFont.load_default(size=12)
    label_width, header, pad = cell, 32, 4
    sheet = Image.new("RGB", (label_width + len(columns) * (cell + pad) + pad,
                              header + len(rows) * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for x, text in enumerate(columns):
        draw.text((label_width + pad + x * (cell + pad), 8), _fit(draw, text or "(as given)", font, cell),
                  fill="black", font=font)
    for y, (photo, styles) in enumerate(rows):
        top = header + pad + y * (cell + pad)
        for line, text in enumerate([photo.name, *(f"+ {style.name}" for style in styles)]):
            draw.text((pad, top + line * 16), _fit(draw, text, font, label_width - 2 * pad), fill="black", font=font)
    for item in items:
        x = label_width + pad + columns.index(_options_text(item.options)) * (cell + pad)
        y = header + pad + rows.index((item.photo, item.styles)) * (cell + pad)
        try:
            with Image.open(item.output) as result:
                picture = ImageOps.contain(result.convert("RGB"), (cell, cell))
            sheet.paste(picture, (x + (cell - picture.width) // 2, y + (cell - picture.height) // 2))
        except (OSError, ValueError):
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=(235, 235, 235))
            draw.text((x + pad, y + cell // 2), "failed", fill=(160, 0, 0), font=font)
    save_image(sheet, path)


def _options_text(options: Mapping[str, str]) -> str:
    return " ".join(f"{name}={value}" for name, value in options.items())


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    """`text`, shortened with '…' to fit `width` px."""
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…"
    return text
