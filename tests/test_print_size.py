"""Print size end to end: a transfer in blocks gives the untiled image, a level that runs out of memory
is redone in smaller blocks, a history planned in host memory is kept there, the CLI's plan, refusals
and 16-bit print files."""

from __future__ import annotations

import io
import weakref

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageCms

import impasto
from impasto import levels, memory
from impasto.cli import main
from impasto.config import TransferConfig
from impasto.errors import ConfigError, Interrupted
from impasto.images import save_image, to_pil
from impasto.memory import ACTIVATION_BYTES, FIXED_BYTES, NETWORK_BYTES
from impasto.objective import Objective
from impasto.pipeline import plan_transfer, transfer
from impasto.score import score
from impasto.tiled import TiledObjective

SHORT = TransferConfig(size=96, levels=2, iterations=4, seed=0, precision="fp32")


def test_a_short_transfer_in_blocks_gives_the_untiled_image(content_path, style_path) -> None:
    events: list[impasto.Progress] = []
    # Without the palette: its loss matches sorted colours, so its gradient jumps where two pixels
    # swap places, and a rounding difference can send L-BFGS elsewhere (test_tiled checks the tiled
    # palette's loss and gradient; they equal the untiled ones). Layers to conv3_1, whose 16 px halo
    # leaves the crops of 32 px blocks cut inside the 96x72 image (the default's 80 px would not).
    config = SHORT.replace(palette_weight=0.0, content_layers="conv2_2", style_layers="conv1_1,conv2_1,conv3_1")
    whole = transfer(content_path, style_path, config).image
    tiled = transfer(content_path, style_path, config.replace(tile_size=32), events.append).image
    # L-BFGS multiplies rounding differences by about 30 a step (so does a run of the untiled
    # objective perturbed by 1e-7): a few steps keep them far under one 8-bit level.
    assert (whole - tiled).abs().max() < 0.5 / 255
    assert [(e.level, e.block, e.blocks) for e in events if e.blocks][:2] == [(1, 1, 8), (1, 2, 8)]
    assert {e.blocks for e in events if e.level == 2} == {0, 18}  # 96x72 in 3 x 3 blocks, two passes


def test_a_level_larger_than_the_anchor_side_keeps_the_strokes_the_painting_has_there(content_path,
                                                                                      style_path) -> None:
    # A 192 px run judged at 96 px, the side its anchor is at: without the objective there, its
    # finest level repaints the strokes at its own scale (VGG's receptive fields are fixed in
    # pixels), finer than the painting's at 96 px (measured: style 0.465 without, 0.344 with).
    config = TransferConfig(size=192, iterations=20, seed=0, anchor_side=96)
    judged = {}
    for anchor in (0, 96):
        result = transfer(content_path, style_path, config.replace(anchor_side=anchor))
        small = torch.nn.functional.interpolate(result.image, size=(72, 96), mode="area")
        judged[anchor] = score(to_pil(small), content_path, style_path)
    assert judged[96].style_mean < 0.85 * judged[0].style_mean
    assert judged[96].texture < judged[0].texture
    assert judged[96].structure > 0.9  # the photo's lines are kept


def test_no_finished_iteration_image_is_kept_while_blocks_are_computed(content_path, style_path) -> None:
    # Kept through the next iteration's blocks, it would be one more image-sized tensor at the peak
    # of a print-size level.
    finished: list[weakref.ref[torch.Tensor]] = []
    alive: list[bool] = []

    def on_progress(event: impasto.Progress) -> None:
        if event.blocks:
            alive.append(any(image() is not None for image in finished))
        else:
            finished.append(weakref.ref(event.image))

    transfer(content_path, style_path, SHORT.replace(tile_size=32), on_progress)
    # Blocks of 4 and 9 (two passes), two steps a level; the run's first step has no event to repeat.
    assert len(finished) == 4 and len(alive) == 8 + 2 * 18 and not any(alive)


def test_a_layer_that_cannot_be_tiled_is_refused_before_any_work(content_path) -> None:
    with pytest.raises(ConfigError, match="pool5 cannot be computed in blocks"):
        plan_transfer(content_path, SHORT.replace(style_layers="conv1_1,pool5", tile_size=32))
    assert plan_transfer(content_path, SHORT.replace(style_layers="conv1_1,pool5")).levels[-1].block is None


def test_a_stop_asked_at_a_block_takes_effect_within_the_iteration(content_path, style_path) -> None:
    """Cancelling a print-size run must not wait for the rest of an iteration's blocks (minutes)."""
    seen: list[tuple[int, int, int]] = []

    def on_progress(event: impasto.Progress) -> bool:
        seen.append((event.level, event.step, event.block))
        return event.level == 2 and event.block == 3  # stop at the third block of level 2's first step

    with pytest.raises(Interrupted) as stopped:
        transfer(content_path, style_path, SHORT.replace(tile_size=32), on_progress)
    assert seen[-1] == (2, 2, 3)  # no block after the one that said stop
    assert stopped.value.step == 2 and stopped.value.image is not None  # level 1's two steps
    assert stopped.value.image.shape == (1, 3, 72, 96)


def test_a_level_out_of_memory_is_redone_in_smaller_blocks(content_path, style_path, monkeypatch) -> None:
    blocks_used: list[int | None] = []
    original_whole, original_tiled = Objective.evaluate, TiledObjective.evaluate

    def whole(self: Objective, image: torch.Tensor):  # the untiled level 2 runs out of memory at once
        if image.shape[-1] == 96:
            blocks_used.append(None)
            raise torch.OutOfMemoryError("out of memory (simulated)")
        return original_whole(self, image)

    def tiled(self: TiledObjective, image: torch.Tensor):  # and so do its first blocks, at the second step
        blocks_used.append(self.block)
        if self.block == 48 and blocks_used.count(48) == 2:
            raise torch.OutOfMemoryError("out of memory (simulated)")
        return original_tiled(self, image)

    monkeypatch.setattr(Objective, "evaluate", whole)
    monkeypatch.setattr(TiledObjective, "evaluate", tiled)
    steps: list[int] = []
    result = transfer(content_path, style_path, SHORT, lambda event: steps.append(event.step) if not event.blocks
                      else None)
    assert blocks_used == [None, 48, 48, 16]  # level 2 (2 steps): whole; 48 px blocks; its step 2 in 16 px ones
    assert steps == [1, 2, 3, 4] and result.image.shape == (1, 3, 72, 96)


def test_a_history_planned_in_host_memory_is_kept_there(content_path, style_path, monkeypatch) -> None:
    """A GPU's plan, with the CPU's memory standing in for its host's: the finest level, whole, fits
    the budget only without its history, which the optimiser then keeps in the host's memory."""
    budget = FIXED_BYTES + ACTIVATION_BYTES * 96 * 72 + NETWORK_BYTES  # for a process that holds nothing yet
    monkeypatch.setattr(memory, "process_bytes", lambda device: 0)
    monkeypatch.setattr(memory, "host_bytes", lambda device: 64 * 2**30)
    plan = plan_transfer(content_path, SHORT.replace(memory_budget=budget))
    assert [(level.block, level.host_bytes > 0) for level in plan.levels] == [(None, False), (None, True)]
    places: list[torch.device | None] = []
    optimize = levels.optimize
    monkeypatch.setattr(levels, "optimize", lambda *args: places.append(args[5]) or optimize(*args))
    image = transfer(content_path, style_path, SHORT.replace(memory_budget=budget)).image
    assert places == [None, torch.device("cpu")]
    assert torch.equal(image, transfer(content_path, style_path, SHORT).image)


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys, content_path, style_path) -> None:
    out = tmp_path / "out.png"
    code = main(["transfer", str(content_path), str(style_path), "-o", str(out), "--size", "4096",
                 "--memory-budget", "4G", "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert "level 6/6: 4096x3072" in text and "blocks of" in text and "within a budget of 4.0 GiB" in text


def test_a_size_that_cannot_fit_is_refused_at_once(tmp_path, capsys, content_path, style_path) -> None:
    out = tmp_path / "out.png"
    # The budget bounds the whole process (here the test suite's, which holds the network and more).
    held = memory.process_bytes(torch.device("cpu")) + memory.NETWORK_BYTES
    budget = held + 2**30
    code = main(["transfer", str(content_path), str(style_path), "-o", str(out), "--size", "20000",
                 "--memory-budget", str(budget)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists() and "\n" not in err
    assert f"does not fit in the memory budget of {memory.format_bytes(budget)}" in err
    assert "held before the run" in err and "the largest --size that fits is" in err


@pytest.mark.parametrize(("options", "message"), [
    (["--memory-budget", "lots"], "memory size"),
    (["--tile-size", "8"], "tile_size must be"),
    (["--bit-depth", "16", "-o", "out.jpg"], "16 bits per channel need a .png, .tif or .tiff"),
    (["--dpi", "0"], "--dpi must be a positive"),
    (["--anchor-side", "8"], "the anchor image is 8x6 px, too small for conv5_1"),
    (["--anchor-side", "-1"], "anchor_side must be"),
])
def test_bad_print_options_get_one_line(tmp_path, capsys, content_path, style_path, options, message,
                                        monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert _exit_code(["transfer", str(content_path), str(style_path), "-o", "out.png", *options]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _exit_code(argv: list[str]) -> int:
    """main's exit code, whether it returns it or argparse exits."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


@pytest.mark.parametrize("name", ["print.png", "print.tif"])
def test_16_bit_files_keep_the_float_image_the_resolution_profile_and_settings(tmp_path, name) -> None:
    image = torch.rand(1, 3, 30, 40, generator=torch.Generator().manual_seed(0))
    path = tmp_path / name
    save_image(image, path, {"version": "1", "seed": 3}, bit_depth=16, dpi=300)
    expected = (image[0].permute(1, 2, 0).numpy() * 65535).round().astype(np.uint16)
    if name.endswith(".png"):
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        pixels = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(height, width, 3)
        assert info["bitdepth"] == 16
    else:
        pixels = tifffile.imread(path)
    assert pixels.dtype == np.uint16 and np.array_equal(pixels, expected)  # no 8-bit rounding on the way
    with Image.open(path) as opened:
        assert round(opened.info["dpi"][0]) == 300
        profile = ImageCms.ImageCmsProfile(io.BytesIO(opened.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert impasto.read_metadata(path) == {"version": "1", "seed": 3}


def test_the_cli_writes_a_16_bit_tiff_at_300_dpi(tmp_path, content_path, style_path) -> None:
    out = tmp_path / "poster.tif"
    assert main(["transfer", str(content_path), str(style_path), "-o", str(out), "--size", "48", "--iterations",
                 "2", "--bit-depth", "16", "--dpi", "300", "--tile-size", "32", "-q"]) == 0
    assert tifffile.imread(out).dtype == np.uint16
    assert impasto.read_metadata(out)["settings"]["tile_size"] == 32
