"""impasto.batch without Ray: inputs to items, names, manifests, resume, and the batch command's
usage errors (which come before it connects to Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from impasto.batch import (
    Row,
    expand_images,
    grid_combinations,
    is_done,
    parse_grid,
    plan_items,
    read_manifest,
    save_result,
)
from impasto.cli import main
from impasto.config import TransferConfig
from impasto.errors import ConfigError, ImageError
from impasto.images import read_metadata, save_image
from impasto.pipeline import Result, run_metadata


@pytest.fixture
def album(tmp_path: Path) -> Path:
    for name in ("b.jpg", "a.png", "notes.txt", "sub/c.jpg"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        if name.endswith("txt"):
            (tmp_path / name).write_text("not an image")
        else:
            Image.new("RGB", (40, 30), "gray").save(tmp_path / name)
    return tmp_path


def configure(options):
    """A stand-in for the CLI's parsing (tested below through the command)."""
    try:
        return TransferConfig(size=int(options.get("size", 64)), style_weight=float(options.get("style-weight", 10)),
                              seed=0)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def test_folders_and_globs_expand_to_their_images_sorted_once(album) -> None:
    assert expand_images([str(album)]) == [album / "a.png", album / "b.jpg"]
    assert expand_images([f"{album}/**/*.jpg", str(album / "b.jpg")]) == [album / "b.jpg", album / "sub/c.jpg"]
    assert expand_images([str(album / "notes.txt")]) == [album / "notes.txt"], "a named file is taken as it is"
    with pytest.raises(ImageError, match="photo '.*missing.jpg' does not exist"):
        expand_images([str(album / "missing.jpg")])
    with pytest.raises(ImageError, match="pattern .* has no images"):
        expand_images([f"{album}/*.gif"])


def test_a_grid_is_the_product_of_its_values_in_order() -> None:
    grid = parse_grid(["style-weight=3,10", "--size=64,128"])
    assert grid == [("style-weight", ["3", "10"]), ("size", ["64", "128"])]
    assert grid_combinations(grid) == [{"style-weight": "3", "size": "64"}, {"style-weight": "3", "size": "128"},
                                       {"style-weight": "10", "size": "64"}, {"style-weight": "10", "size": "128"}]
    assert grid_combinations([]) == [{}]
    for bad in ("style-weight", "size=", "size=1,,2"):
        with pytest.raises(ConfigError, match="--grid takes OPTION=VALUE"):
            parse_grid([bad])
    with pytest.raises(ConfigError, match="given twice"):
        parse_grid(["size=1", "size=2"])


def test_names_are_made_of_photo_style_and_values_and_never_clash(album, tmp_path) -> None:
    rows = [Row(album / "b.jpg", (album / "a.png",)), Row(album / "sub/c.jpg", (album / "a.png", album / "b.jpg")),
            Row(album / "sub" / "b.jpg", (album / "a.png",))]
    items = plan_items(rows, parse_grid(["style-weight=3,1e2"]), tmp_path / "out", configure)
    names = [item.output.name for item in items]
    assert names[2:4] == ["c__a+b__style-weight=3.png", "c__a+b__style-weight=1e2.png"]
    assert names[0].startswith("b__a__style-weight=3__") and names[4].startswith("b__a__style-weight=3__")
    assert len(set(names)) == 6
    assert names == [item.output.name for item in plan_items(rows, parse_grid(["style-weight=3,1e2"]),
                                                             tmp_path / "out", configure)], "deterministic"


def test_a_manifest_row_gives_photo_styles_and_options_and_a_bad_row_fails_alone(album) -> None:
    csv = album / "jobs.csv"
    csv.write_text("photo,style,style-weight,size\nb.jpg,a.png;sub/c.jpg,3,\nsub/c.jpg,a.png,,oops\n")
    rows = read_manifest(csv)
    assert rows[0] == Row(album / "b.jpg", (album / "a.png", album / "sub/c.jpg"), {"style-weight": "3"},
                          f"{csv} line 2")
    items = plan_items(rows, [], album / "out", configure)
    assert items[0].config is not None and items[0].config.style_weight == 3
    assert items[1].config is None and items[1].error.startswith(f"{csv} line 3: ")
    lines = album / "jobs.jsonl"
    lines.write_text(json.dumps({"photo": "b.jpg", "style": ["a.png"], "average_iterates": True}) + "\n\n")
    assert read_manifest(lines) == [Row(album / "b.jpg", (album / "a.png",), {"average-iterates": "true"},
                                        f"{lines} line 1")]
    lines.write_text('{"photo": "b.jpg"}\n')
    with pytest.raises(ConfigError, match="line 1 needs a photo and a style"):
        read_manifest(lines)


def test_an_item_is_done_only_with_the_same_settings_and_a_finished_run(album, tmp_path) -> None:
    [item] = plan_items([Row(album / "b.jpg", (album / "a.png",))], [], tmp_path, configure)
    assert item.config is not None and not is_done(item)
    save_result(item, Result(torch.rand(1, 3, 8, 8), item.config, item.config.iterations - 5))  # an early stop
    assert is_done(item)
    assert read_metadata(item.output)["iterations_done"] == item.config.iterations - 5
    [other] = plan_items([Row(album / "b.jpg", (album / "a.png",), {"style-weight": "3"})], [], tmp_path, configure)
    assert not is_done(type(item)(item.photo, item.styles, {}, item.output, other.config))
    save_image(torch.rand(1, 3, 8, 8), item.output, run_metadata(item.config, 3, False))  # an interrupted run's
    assert not is_done(item), "an unfinished run"
    save_result(item, Result(torch.rand(1, 3, 8, 8), item.config.replace(seed=5), item.config.iterations))
    assert not is_done(item), "another seed than the one asked for"
    unseeded = type(item)(item.photo, item.styles, {}, item.output, item.config.replace(seed=None))
    assert is_done(unseeded), "no seed asked for: any seed will do"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "colour=1,2"], "unknown setting 'colour': use the long name of a transfer option"),
        (["--grid", "size=big"], "size: 'big' is not a valid int"),
        (["--grid", "pooling=max,min"], "pooling must be one of max, avg, got 'min'"),
        (["--threads", "0"], "--threads must be at least 1"),
        (["--save-every", "5"], "--save-every does not apply to a batch"),
    ],
)
def test_command_line_mistakes_stop_the_batch_before_it_starts(album, tmp_path, capsys, args, message) -> None:
    code = main(["batch", str(album / "b.jpg"), "--style", str(album / "a.png"), "-o", str(tmp_path / "out"), *args])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"impasto: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_a_missing_photo_or_style_is_a_usage_error(album, tmp_path, capsys) -> None:
    assert main(["batch", str(album / "nope.jpg"), "--style", str(album / "a.png"), "-o", str(tmp_path)]) == 2
    assert "photo" in capsys.readouterr().err
    assert main(["batch", str(album / "b.jpg"), "-o", str(tmp_path)]) == 2
    assert "give the paintings with --style" in capsys.readouterr().err
