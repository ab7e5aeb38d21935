"""`impasto video` and `impasto score --video` from the command line: outputs, audio, bad input."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from impasto.cli import main
from impasto.video.io import open_clip, read_frames
from tests.video.clips import pan, write_clip
from tests.video.conftest import PAINTING, Run

FAST = ["--iterations", "4", "--later-iterations", "2", "--seed", "0", "-q"]


@pytest.fixture(scope="module")
def talking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds at 29.97 fps of a pan, 64x48, with an AAC tone."""
    frames = pan(60, (64, 48), step=(0.3, 0.1))[0]
    return write_clip(tmp_path_factory.mktemp("talking") / "talking.mp4", frames, Fraction(30000, 1001), audio=True)


def test_keeps_the_rate_and_copies_the_audio_of_the_part_asked_for(talking: Path, tmp_path, capsys) -> None:
    out = tmp_path / "out.mp4"
    assert main(["video", str(talking), str(PAINTING), "-o", str(out), "--start", "0.5", "--duration", "0.2",
                 *FAST]) == 0
    assert "wrote" in capsys.readouterr().err and not (tmp_path / "out.mp4.work").exists()
    made = open_clip(out)
    assert (made.width, made.height, made.rate, made.audio) == (64, 48, Fraction(30000, 1001), True)
    assert len(list(read_frames(out))) == 6  # 0.5 s to 0.7 s at 29.97 fps: frames 15 to 20
    with av.open(str(talking)) as source, av.open(str(out)) as ours:
        theirs = {bytes(p) for p in source.demux(audio=0) if p.size}
        copied = [bytes(p) for p in ours.demux(audio=0) if p.size]
        assert ours.streams.audio[0].codec_context.name == "aac"
        assert copied and all(packet in theirs for packet in copied)  # the packets themselves: not re-encoded
        duration = float(ours.streams.audio[0].duration * ours.streams.audio[0].time_base)
        assert 0.15 < duration < 0.3


@pytest.mark.parametrize(("source", "output", "codec"), [(".mp4", ".webm", "opus"), (".webm", ".mov", "aac")])
def test_audio_the_output_cannot_hold_as_it_is_is_re_encoded(source: str, output: str, codec: str, tmp_path) -> None:
    """AAC at 44.1 kHz into WebM (Opus takes 48 kHz only); Opus into MOV (which lists it but refuses it)."""
    clip = write_clip(tmp_path / f"clip{source}", pan(3, (32, 24))[0], Fraction(15), audio=True)
    out = tmp_path / f"out{output}"
    assert main(["video", str(clip), str(PAINTING), "-o", str(out), "--size", "32", *FAST]) == 0
    with av.open(str(out)) as made:
        assert made.streams.audio[0].codec_context.name == codec
        assert any(packet.size for packet in made.demux(audio=0))


def test_an_image_sequence_of_odd_size(tmp_path) -> None:
    frames = pan(3, (65, 49))[0]
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"frame{index:03d}.png")
    out = tmp_path / "out.mkv"
    assert main(["video", str(tmp_path / "frame%03d.png"), str(PAINTING), "-o", str(out), *FAST]) == 0
    made = open_clip(out)
    assert (made.width, made.height, made.audio) == (64, 48, False)  # 4:2:0 needs even sides
    assert len(list(read_frames(out))) == 3


def test_size_caps_and_max_frames(talking: Path, tmp_path) -> None:
    out = tmp_path / "out.mp4"
    assert main(["video", str(talking), str(PAINTING), "-o", str(out), "--size", "32", "--max-frames", "2",
                 "--independent", *FAST]) == 0
    made = open_clip(out)
    assert (made.width, made.height) == (32, 24) and len(list(read_frames(out))) == 2


def test_score_video(runs: dict[str, Run], capsys) -> None:
    run = runs["pan"]
    assert main(["score", "--video", str(run.output), "--content", str(run.clip), "--style", str(PAINTING)]) == 0
    text = capsys.readouterr().out
    assert "E_warp" in text and "style" in text and "content" in text
    assert main(["score", "--video", str(run.output), "--content", str(run.clip), "--style", str(PAINTING),
                 "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["e_warp"] == pytest.approx(run.e_warp(), rel=1e-4)
    assert len(figures["style"]) == len(figures["content"]) == 5 and 0 < figures["content_mean"] < 1


def _bad(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    truncated = tmp_path / "truncated.mp4"
    clip = write_clip(tmp_path / "clip.mp4", pan(3, (64, 48))[0])
    truncated.write_bytes(clip.read_bytes()[:300])
    out = str(tmp_path / "out.mp4")
    return {
        "not a video": ([str(text), str(PAINTING), "-o", out], "not a video ffmpeg can read"),
        "empty": ([str(empty), str(PAINTING), "-o", out], "empty file"),
        "missing": ([str(tmp_path / "nope.mp4"), str(PAINTING), "-o", out], "does not exist"),
        "truncated": ([str(truncated), str(PAINTING), "-o", out], "truncated.mp4"),
        "no frames": ([str(clip), str(PAINTING), "-o", out, "--start", "5"], "no frames"),
        "output folder": ([str(clip), str(PAINTING), "-o", str(tmp_path / "no" / "out.mp4")], "does not exist"),
        "output format": ([str(clip), str(PAINTING), "-o", str(tmp_path / "out.png")], "video extension"),
        "output is input": ([str(clip), str(PAINTING), "-o", str(clip)], "also an input"),
        "temporal frames": ([str(clip), str(PAINTING), "-o", out, "--temporal-frames", "1,x"], "whole numbers"),
        "passes": ([str(clip), str(PAINTING), "-o", out, "--passes", "2", "--independent"], "independent"),
        "style": ([str(clip), str(tmp_path / "nope.jpg"), "-o", out], "does not exist"),
    }


@pytest.mark.parametrize("case", ["not a video", "empty", "missing", "truncated", "no frames", "output folder",
                                  "output format", "output is input", "temporal frames", "passes", "style"])
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path, capsys) -> None:
    argv, message = _bad(tmp_path)[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["video", *argv, *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("impasto: error:") and len(err.splitlines()) == 1 and message in err, err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no output, no partial file, no work dir


def test_an_existing_output_is_replaced_whole_or_not_at_all(tmp_path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", pan(3, (64, 48))[0])
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier video")
    assert main(["video", str(clip), str(tmp_path / "missing.jpg"), "-o", str(out), *FAST]) == 2
    assert out.read_bytes() == b"an earlier video"
    assert main(["video", str(clip), str(PAINTING), "-o", str(out), *FAST]) == 0
    assert np.asarray(next(read_frames(out))[0]).shape == (48, 64, 3)
