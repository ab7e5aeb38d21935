"""Bad input, to the CLI and to the API.

Every bad path, file, image or setting must give one line on stderr naming the problem and the way
out, a non-zero exit (2 for usage errors, 1 for a failed optimisation), no traceback, and no partial
or clobbered output file. Unusual but valid images (grayscale, palette, alpha, CMYK, 16-bit,
EXIF-rotated) are not errors: they load as RGB.
"""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import impasto
from impasto.cli import main

TINY = ["--size", "32", "--iterations", "1", "--quiet", "--device", "cpu"]


def transfer(*args: str | Path) -> int:
    """`impasto transfer ARGS` with tiny settings (ARGS come last, so they override TINY)."""
    return main(["transfer", *TINY, *map(str, args)])


def one_line(err: str) -> str:
    """The single line of `err`, checked: one non-empty line, from impasto, no traceback."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("impasto"), lines[0]
    return lines[0]


def clean_folder(folder: Path, *expected: str) -> None:
    """`folder` holds exactly the files `expected`: no partial output, no hidden temporary files."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(expected)


def jpeg_bytes(path: Path) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels and holds none: a cheap decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# --- bad input images: exit 2, one line, nothing written --------------------------------------


def _missing(path: Path, example: Path) -> None:
    pass


def _folder(path: Path, example: Path) -> None:
    path.mkdir()


def _empty(path: Path, example: Path) -> None:
    path.write_bytes(b"")


def _not_an_image(path: Path, example: Path) -> None:
    path.write_text("this is a text file, not a picture\n")


def _truncated_jpeg(path: Path, example: Path) -> None:
    data = jpeg_bytes(example)
    path.write_bytes(data[: len(data) // 2])


def _too_many_pixels(path: Path, example: Path) -> None:
    Image.new("RGB", (1000, 1000), "gray").save(path)  # 1 Mpx, over --max-pixels 500000


def _too_small(path: Path, example: Path) -> None:
    Image.new("RGB", (200, 6), "gray").save(path)  # 64x2 at --size 64; conv5_1 needs 16 px


BAD_IMAGES = {  # name: (make(path, example photo), extra options, words the message must contain)
    "missing": (_missing, [], ["does not exist", "check the path"]),
    "folder": (_folder, [], ["is a folder", "image file"]),
    "zero bytes": (_empty, [], ["empty file", "0 bytes"]),
    "not an image": (_not_an_image, [], ["not an image file"]),
    "truncated jpeg": (_truncated_jpeg, [], ["truncated or corrupt", "re-export"]),
    "too many pixels": (_too_many_pixels, ["--max-pixels", "500000"], ["1,000,000 pixels", "500,000", "--max-pixels"]),
    "too small": (_too_small, ["--size", "64"], ["64x2", "conv5_1", "16 px", "raise --size"]),
}


@pytest.mark.parametrize("role", ["content", "style"])
@pytest.mark.parametrize("case", BAD_IMAGES)
def test_bad_image_is_a_one_line_usage_error(case, role, tmp_path, out_dir, content_path, style_path, capsys):
    make, options, words = BAD_IMAGES[case]
    bad = tmp_path / ("bad.jpg" if case == "truncated jpeg" else "bad.png")
    make(bad, content_path)
    content, style = (bad, style_path) if role == "content" else (content_path, bad)

    code = transfer(content, style, "-o", out_dir / "out.png", *options)

    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert f"{role} image" in line
    for word in words:
        assert word in line
    clean_folder(out_dir)


def test_failed_run_keeps_an_existing_output(tmp_path, out_dir, style_path, capsys):
    output = out_dir / "out.png"
    Image.new("RGB", (8, 8), "blue").save(output)
    before = output.read_bytes()

    code = transfer(tmp_path / "missing.jpg", style_path, "-o", output)

    assert code == 2
    one_line(capsys.readouterr().err)
    assert output.read_bytes() == before
    clean_folder(out_dir, "out.png")


# --- bad settings: exit 2, one line -----------------------------------------------------------


BAD_SETTINGS = [  # (options, words the message must contain)
    (["--size", "0"], ["size must be a positive whole number", "got 0"]),
    (["--size", "-64"], ["size must be a positive whole number", "got -64"]),
    (["--iterations", "-1"], ["iterations must be zero or a positive whole number", "got -1"]),
    (["--content-weight", "-1"], ["content_weight must be zero or a positive number"]),
    (["--style-weight", "-1000"], ["style_weight must be zero or a positive number"]),
    (["--tv-weight", "-0.5"], ["tv_weight must be zero or a positive number"]),
    (["--palette-weight", "-1"], ["palette_weight must be zero or a positive number"]),
    (["--strength", "1.5"], ["strength must be a number from 0 (the photo) to 1 (the painting)", "got 1.5"]),
    (["--strength", "-0.1"], ["strength must be a number from 0", "got -0.1"]),
    (["--style-weight", "nan"], ["style_weight", "got nan"]),
    (["--max-pixels", "0"], ["max_pixels must be a positive whole number"]),
    (["--style-layers", "conv4_5"], ["unknown layer 'conv4_5'", "did you mean conv4_4?", "conv1_1, conv1_2"]),
    (["--content-layers", "relu4_9"], ["unknown layer 'relu4_9'", "did you mean", "valid layers: conv1_1"]),
]


@pytest.mark.parametrize("options, words", BAD_SETTINGS, ids=[" ".join(options) for options, _ in BAD_SETTINGS])
def test_bad_setting_is_a_one_line_usage_error(options, words, out_dir, content_path, style_path, capsys):
    code = transfer(content_path, style_path, "-o", out_dir / "out.png", *options)

    line = one_line(capsys.readouterr().err)
    assert code == 2
    for word in words:
        assert word in line
    clean_folder(out_dir)


def test_negative_weight_in_scientific_notation_names_the_weight(out_dir, content_path, style_path, capsys):
    code = transfer(content_path, style_path, "-o", out_dir / "out.png", "--style-weight", "-1e3")

    assert code == 2
    assert "style_weight must be zero or a positive number" in one_line(capsys.readouterr().err)
    clean_folder(out_dir)


def test_zero_content_weight_is_texture_synthesis(out_dir, content_path, style_path, capsys):
    code = transfer(content_path, style_path, "-o", out_dir / "texture.png", "--content-weight", "0")

    assert code == 0, capsys.readouterr().err
    assert Image.open(out_dir / "texture.png").size == (32, 24)
    clean_folder(out_dir, "texture.png")


@pytest.mark.parametrize(
    "argv",
    [
        ["--size", "abc"],
        ["--iterations", "1.5"],
        ["--optimizer", "sgd"],
        ["--no-such-option"],
    ],
    ids=" ".join,
)
def test_argparse_error_is_one_line_exit_2(argv, out_dir, content_path, style_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        transfer(content_path, style_path, "-o", out_dir / "out.png", *argv)

    assert exit_.value.code == 2
    assert "--help" in one_line(capsys.readouterr().err)
    clean_folder(out_dir)


@pytest.mark.parametrize(
    "argv", [[], ["transfer"], ["transfer", "a.jpg", "b.jpg"], ["paint"]], ids=lambda argv: " ".join(argv) or "none"
)
def test_missing_command_or_argument_is_one_line_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)

    assert exit_.value.code == 2
    one_line(capsys.readouterr().err)


# --- bad output paths: exit 2, one line, nothing written, inputs untouched --------------------


@pytest.mark.parametrize(
    "output, words",
    [
        ("nope/out.png", ["output folder", "does not exist", "create it"]),
        ("/proc/impasto_out.png", ["output folder '/proc' is not writable", "choose another path"]),
        ("out.xyz", ["needs the extension of a format that holds RGB images", ".png"]),
        ("out", ["needs the extension of a format"]),
    ],
)
def test_bad_output_path_is_a_one_line_usage_error(output, words, out_dir, content_path, style_path, capsys):
    target = out_dir / output  # an absolute `output` stays as it is

    code = transfer(content_path, style_path, "-o", target)

    line = one_line(capsys.readouterr().err)
    assert code == 2
    for word in words:
        assert word in line
    assert not target.exists()
    clean_folder(out_dir)


def test_output_that_is_a_folder_is_a_usage_error(out_dir, content_path, style_path, capsys):
    (out_dir / "out.png").mkdir()

    code = transfer(content_path, style_path, "-o", out_dir / "out.png")

    assert code == 2
    assert "is a folder" in one_line(capsys.readouterr().err)
    assert (out_dir / "out.png").is_dir()
    clean_folder(out_dir, "out.png")


@pytest.mark.parametrize("which", ["content", "style", "content, spelt differently"])
def test_output_equal_to_an_input_is_refused_and_leaves_it_intact(which, out_dir, content_path, style_path, capsys):
    content, style = out_dir / "photo.jpg", out_dir / "painting.jpg"
    shutil.copy(content_path, content)
    shutil.copy(style_path, style)
    before = {path: path.read_bytes() for path in (content, style)}
    output = {"content": content, "style": style, "content, spelt differently": out_dir / "x" / ".." / "photo.jpg"}
    (out_dir / "x").mkdir()

    code = transfer(content, style, "-o", output[which])

    assert code == 2
    assert "is also an input image" in one_line(capsys.readouterr().err)
    assert {path: path.read_bytes() for path in (content, style)} == before
    clean_folder(out_dir, "photo.jpg", "painting.jpg", "x")


@pytest.mark.parametrize("extension", [".xbm", ".h5"])
def test_output_format_that_cannot_hold_rgb_is_refused_up_front(extension, out_dir, content_path, style_path, capsys):
    code = transfer(content_path, style_path, "-o", out_dir / f"out{extension}")

    assert code == 2
    assert extension in one_line(capsys.readouterr().err)
    clean_folder(out_dir)


# --- pixel limit (decompression bomb) ---------------------------------------------------------


def test_decompression_bomb_is_refused_before_decoding(tmp_path, out_dir, style_path, capsys):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(10_000, 10_000))  # 100 Mpx in 57 bytes

    code = transfer(bomb, style_path, "-o", out_dir / "out.png", "--max-pixels", "1000000")

    assert code == 2
    line = one_line(capsys.readouterr().err)
    assert "10000x10000 = 100,000,000 pixels" in line and "--max-pixels" in line
    clean_folder(out_dir)


@pytest.mark.parametrize("limit", [10**6, 10**9])
def test_max_pixels_is_the_only_pixel_limit(limit, tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(20_000, 10_000))  # 200 Mpx, no pixel data

    with pytest.raises(impasto.ImageError) as error:
        impasto.load_image(bomb, max_pixels=limit)

    if limit < 200_000_000:
        assert "over the limit of 1,000,000" in str(error.value) and "--max-pixels" in str(error.value)
    else:  # allowed by the limit, so refused only for its missing pixel data
        assert "truncated or corrupt" in str(error.value)


# --- NaN / inf during the optimisation: exit 1, one line, the last good image written -----------


def test_overflowing_loss_exits_1_and_writes_the_last_good_image(out_dir, content_path, style_path, capsys):
    output = out_dir / "out.png"

    code = transfer(content_path, style_path, "-o", output, "--normalization", "paper", "--style-weight", "1e38")

    line = one_line(capsys.readouterr().err)
    assert code == 1
    assert "the loss became inf" in line and "lower the weights" in line and str(output) in line
    assert Image.open(output).size == (32, 24)
    assert impasto.read_metadata(output)["iterations_done"] == 0
    clean_folder(out_dir, "out.png")


# --- unusual but valid images load as RGB -----------------------------------------------------


def _l(path):
    Image.new("L", (40, 30), 128).save(path.with_suffix(".png"))
    return path.with_suffix(".png"), (128, 128, 128)


def _p(path):
    Image.new("RGB", (40, 30), (255, 0, 0)).convert("P").save(path.with_suffix(".png"))
    return path.with_suffix(".png"), (255, 0, 0)


def _rgba(path):
    Image.new("RGBA", (40, 30), (0, 0, 255, 0)).save(path.with_suffix(".png"))  # transparent: on white
    return path.with_suffix(".png"), (255, 255, 255)


def _la(path):
    Image.new("LA", (40, 30), (64, 255)).save(path.with_suffix(".png"))
    return path.with_suffix(".png"), (64, 64, 64)


def _cmyk(path):
    Image.new("CMYK", (40, 30), (255, 0, 0, 0)).save(path.with_suffix(".jpg"))  # cyan
    return path.with_suffix(".jpg"), (0, 255, 255)


def _i16(path):
    Image.fromarray(np.full((30, 40), 128 * 257, dtype=np.uint16)).save(path.with_suffix(".png"))
    assert Image.open(path.with_suffix(".png")).mode == "I;16"
    return path.with_suffix(".png"), (128, 128, 128)


VALID_MODES = {"L": _l, "P": _p, "RGBA": _rgba, "LA": _la, "CMYK": _cmyk, "I;16": _i16}


@pytest.mark.parametrize("mode", VALID_MODES)
def test_unusual_mode_loads_as_rgb(mode, tmp_path):
    path, colour = VALID_MODES[mode](tmp_path / "image")
    assert Image.open(path).mode == mode

    image = impasto.load_image(path, max_pixels=10**8)

    assert image.mode == "RGB" and image.size == (40, 30)
    assert np.abs(np.asarray(image, dtype=int) - colour).max() <= 3  # JPEG (CMYK) is lossy


def test_exif_rotated_jpeg_loads_upright(tmp_path):
    stored = Image.new("RGB", (40, 30), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 30))  # left half red, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    stored.save(tmp_path / "rotated.jpg", exif=exif)

    image = impasto.load_image(tmp_path / "rotated.jpg", max_pixels=10**8)

    assert image.mode == "RGB" and image.size == (30, 40)
    pixels = np.asarray(image, dtype=int)
    assert pixels[5, 15, 0] > 200 and pixels[35, 15, 2] > 200  # the stored left half is now on top


@pytest.mark.parametrize("mode", ["I;16", "CMYK"])
def test_unusual_mode_runs_end_to_end(mode, tmp_path, out_dir, style_path, capsys):
    path, _ = VALID_MODES[mode](tmp_path / "image")

    code = transfer(path, style_path, "-o", out_dir / "out.png")

    assert code == 0, capsys.readouterr().err
    assert Image.open(out_dir / "out.png").size == (32, 24)
    clean_folder(out_dir, "out.png")


# --- the API rejects the same settings --------------------------------------------------------


BAD_CONFIGS = [  # (TransferConfig keywords, words the message must contain)
    ({"size": 0}, ["size must be a positive whole number, got 0"]),
    ({"style_layers": "conv9_1"}, ["unknown layer 'conv9_1'", "valid layers:", "conv5_4"]),
    ({"iterations": -1}, ["iterations must be zero or a positive whole number, got -1"]),
    ({"content_weight": -1}, ["content_weight must be zero or a positive number, got -1"]),
]


@pytest.mark.parametrize("setting, words", BAD_CONFIGS, ids=[str(setting) for setting, _ in BAD_CONFIGS])
def test_config_rejects_bad_setting(setting, words):
    with pytest.raises(impasto.ConfigError) as error:
        impasto.TransferConfig(**setting)

    for word in words:
        assert word in str(error.value)


def test_config_accepts_zero_content_weight():
    assert impasto.TransferConfig(content_weight=0).content_weight == 0
