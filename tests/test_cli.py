"""The impasto command end to end, with the real core on tiny images."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import impasto
from impasto.cli import main
from impasto.images import load_image, to_tensor

TINY = ["--size", "48", "--iterations", "3", "--device", "cpu"]


def test_transfer_writes_a_png_with_its_settings(tmp_path, capsys, content_path, style_path) -> None:
    out = tmp_path / "out.png"
    assert main(["transfer", str(content_path), str(style_path), "-o", str(out), *TINY, "--seed", "7",
                 "--style-layers", "conv1_1:0.5,relu2_1:0.5", "--preserve-colors", "luminance"]) == 0
    err = capsys.readouterr().err
    assert "3/3" in err and "it/s" in err and "ETA" in err
    assert f"wrote {out} (48x36, 3 iterations" in err
    meta = impasto.read_metadata(out)
    assert meta["version"] == impasto.__version__ and meta["seed"] == 7
    assert meta["settings"]["style_layers"] == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert meta["settings"]["preserve_colors"] == "luminance"
    assert meta["content"] == str(content_path) and meta["styles"] == [str(style_path)]


def test_metadata_replays_the_same_image(tmp_path, content_path, style_path) -> None:
    out = tmp_path / "out.png"
    assert main(["transfer", str(content_path), str(style_path), "-o", str(out), *TINY, "--init", "noise", "-q"]) == 0
    meta = impasto.read_metadata(out)
    replay = impasto.stylize(meta["content"], meta["styles"], impasto.TransferConfig(**meta["settings"]))
    assert torch.equal(to_tensor(replay), to_tensor(load_image(out, 10**6)))


def test_several_styles_with_blend_and_save_every(tmp_path, content_path, style_path, scream_path) -> None:
    out = tmp_path / "blend.png"
    code = main(["transfer", str(content_path), str(style_path), str(scream_path), "-o", str(out),
                 "--size", "48", "--iterations", "4", "--style-blend", "3,1", "--save-every", "2", "-q"])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blend.png", "blend_0002.png"]
    assert impasto.read_metadata(out)["settings"]["style_blend"] == [3.0, 1.0]
    assert impasto.read_metadata(tmp_path / "blend_0002.png")["iterations_done"] == 2


def test_help_and_info(capsys) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["transfer", "--help"])
    assert exit.value.code == 0
    text = capsys.readouterr().out
    for option in ("--output", "--size", "--iterations", "--seed", "--init", "--optimizer", "--content-weight",
                   "--style-weight", "--tv-weight", "--content-layers", "--style-layers", "--style-blend",
                   "--style-scale", "--pooling", "--preserve-colors", "--device", "--weights", "--save-every",
                   "--max-pixels"):
        assert option in text
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "torch" in text and "cpu" in text and "vgg19_weights" in text


def test_ctrl_c_writes_the_current_image_and_exits_130(tmp_path, content_path, style_path) -> None:
    out = tmp_path / "out.png"
    process = subprocess.Popen(
        [sys.executable, "-m", "impasto", "transfer", str(content_path), str(style_path), "-o", str(out),
         "--size", "48", "--iterations", "100000"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # A suite started in the background by a shell inherits SIGINT ignored: give the CLI a terminal's.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    first_line = process.stderr.readline()  # the first progress line: the optimisation is running
    assert "/100000" in first_line, first_line
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted" in rest and "Traceback" not in rest
    meta = impasto.read_metadata(out)
    assert meta["iterations_done"] > 0
    assert load_image(out, 10**6).size == (48, 36)


def test_reconstruct_content_and_style(tmp_path, capsys, content_path, style_path) -> None:
    content_out, style_out = tmp_path / "content.png", tmp_path / "texture.png"
    assert main(["reconstruct", "content", str(content_path), "--layer", "relu3_2", "-o", str(content_out),
                 "--size", "48", "--iterations", "2", "--seed", "1", "-q"]) == 0
    assert main(["reconstruct", "style", str(style_path), "--layers", "conv1_1,conv2_1", "--size", "80x32",
                 "-o", str(style_out), "--iterations", "2", "-q"]) == 0
    content_meta, style_meta = impasto.read_metadata(content_out), impasto.read_metadata(style_out)
    assert content_meta["reconstruct"] == "content" and content_meta["settings"]["content_layers"] == {"conv3_2": 1.0}
    assert content_meta["settings"]["init"] == "noise" and content_meta["settings"]["style_weight"] == 0
    assert style_meta["settings"]["style_layers"] == {"conv1_1": 0.5, "conv2_1": 0.5}
    assert load_image(style_out, 10**6).size == (80, 32)
    assert load_image(content_out, 10**6).size == (48, 36)


def test_reconstruct_errors_are_one_line(tmp_path, capsys, style_path) -> None:
    out = tmp_path / "x.png"
    for argv, words in [
        (["--layers", "conv9_1"], "unknown layer 'conv9_1'"),
        (["--layers", ","], "valid layers: conv1_1"),
        (["--size", "12x12"], "too small for conv5_1"),
    ]:
        assert main(["reconstruct", "style", str(style_path), "-o", str(out), "--iterations", "1", *argv]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_figure_writes_a_labelled_grid(tmp_path, capsys, content_path, style_path) -> None:
    out = tmp_path / "fig.png"
    assert main(["figure", "layers", "--content", str(content_path), "--style", str(style_path),
                 "--size", "32", "--iterations", "2", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "panel 1/2 (content conv2_2)" in err and "panel 2/2 (content conv4_2)" in err
    assert impasto.read_metadata(out)["figure"] == "layers"
    assert load_image(out, 10**7).width >= 640


def test_transfer_with_masks_scale_split_and_color_match(tmp_path, content_path, style_path, scream_path) -> None:
    sky, town = content_path.with_name("tubingen_sky.png"), content_path.with_name("tubingen_town.png")
    styles = [str(style_path), str(scream_path)]
    for options in (["--mask", str(sky), "--mask", str(town)],
                    ["--scale-split", "conv3_1", "--style-scale", "1,2"],
                    ["--preserve-colors", "match", "--color-match", "chol"]):
        out = tmp_path / "out.png"
        assert main(["transfer", str(content_path), *styles, "-o", str(out), *TINY, "-q", *options]) == 0
        settings = impasto.read_metadata(out)["settings"]
        assert settings["masks"] == ([str(sky), str(town)] if "--mask" in options else None)
        assert settings["scale_split"] == ("conv3_1" if "--scale-split" in options else None)
        assert settings["style_scale"] == ([1.0, 2.0] if "--style-scale" in options else 1.0)
        assert settings["color_match"] == ("chol" if "--color-match" in options else "pca")


def test_figure_controls_and_mask_misuse(tmp_path, capsys) -> None:
    out = tmp_path / "controls.png"
    assert main(["figure", "controls", "--size", "32", "--iterations", "1", "-q", "-o", str(out)]) == 0
    assert impasto.read_metadata(out)["styles"][1].endswith("the_scream.jpg")
    capsys.readouterr()
    assert main(["figure", "layers", "--mask", "x.png", "-o", str(tmp_path / "x.png")]) == 2
    assert "--mask applies to the controls figure only" in capsys.readouterr().err


def test_output_files_get_the_usual_permissions(tmp_path, content_path, style_path) -> None:
    out = tmp_path / "out.png"
    umask = os.umask(0o022)
    try:
        assert main(["transfer", str(content_path), str(style_path), "-o", str(out), *TINY, "-q"]) == 0
    finally:
        os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_preset_is_the_base_and_options_given_override_it(tmp_path, content_path, style_path) -> None:
    out = tmp_path / "out.png"
    assert main(["transfer", str(content_path), str(style_path), "-o", str(out), *TINY, "-q",
                 "--preset", "paper", "--pooling", "max"]) == 0
    settings = impasto.read_metadata(out)["settings"]
    assert settings["normalization"] == "paper" and settings["init"] == "noise" and settings["levels"] == 1
    assert settings["pooling"] == "max" and settings["iterations"] == 3 and settings["size"] == 48


def test_the_progress_shows_the_level(tmp_path, capsys, content_path, style_path) -> None:
    out = tmp_path / "out.png"
    assert main(["transfer", str(content_path), str(style_path), "-o", str(out), "--size", "96", "--levels", "2",
                 "--iterations", "4", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "level 1/2 48x36" in err and "level 2/2 96x72" in err
