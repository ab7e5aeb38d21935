"""The progress bars (impasto.cli.progress) on a terminal and on a pipe, from events like the
optimiser's."""

from __future__ import annotations

import io

import torch

from impasto.cli.progress import CountBar, StepBar
from impasto.optimize import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _event(step: int, total: int, level: int = 1, levels: int = 2, side: int = 48) -> Progress:
    return Progress(step, total, 1.5, 0.5, 1.0, 0.0, 0.1 * step, torch.zeros(1, 3, side * 3 // 4, side),
                    level=level, levels=levels)


def test_on_a_pipe_a_line_each_tenth_and_no_carriage_return() -> None:
    pipe = io.StringIO()
    bar = StepBar(stream=pipe)
    for step in range(1, 41):
        bar.update(_event(step, 40, level=1 if step <= 20 else 2, side=48 if step <= 20 else 96))
    bar.close()
    lines = pipe.getvalue().splitlines()
    assert "\r" not in pipe.getvalue()
    assert [line.split(" ")[3] for line in lines] == [f"{step}/40" for step in (1, *range(4, 41, 4))]
    assert lines[0].startswith("level 1/2 48x36 1/40 [....")
    assert lines[-1].startswith(f"level 2/2 96x72 40/40 [{'#' * 24}]")
    assert "loss 1.5 (content 0.5, style 1) 10.00 it/s ETA 00:00" in lines[-1]


def test_on_a_terminal_one_bar_redrawn_in_place() -> None:
    terminal = Terminal()
    bar = StepBar(stream=terminal)
    for step in range(1, 21):
        bar.update(_event(step, 20))
    bar.close()
    text = terminal.getvalue()
    assert text.count("\n") == 1 and text.count("\r") >= 2  # drawn at the start and at the close, in one line
    assert "level 1/2 48x36 20/20" in text.split("\r")[-1]


def test_quiet_draws_nothing() -> None:
    for stream in (io.StringIO(), Terminal()):
        bar = CountBar(3, "frames", quiet=True, stream=stream)
        bar.step(_event(1, 10))
        bar.advance("loss 1")
        bar.close()
        assert stream.getvalue() == ""


def test_frames_over_the_iterations_of_the_current_frame() -> None:
    terminal = Terminal()
    bars = CountBar(2, "frames", stream=terminal)
    for frame in range(2):
        for step in range(1, 11):
            bars.step(_event(step, 10, levels=1))
        bars.advance(f"loss 0.{frame + 1}")
    bars.write("a line of news")
    bars.close()
    text = terminal.getvalue()
    assert text.split("\r")[-1].startswith("frames 2/2 [") and text.endswith(" loss 0.2\n")  # the frames' bar stays
    assert "\r10/10 [" in text and "a line of news\n" in text  # the iterations' bar is cleared when done
    pipe = io.StringIO()
    bars = CountBar(2, "frames", stream=pipe)
    for frame in range(2):
        bars.step(_event(1, 10, levels=1))  # the iterations stay off a pipe
        bars.advance(f"loss 0.{frame + 1}")
    bars.close()
    lines = pipe.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == ["frames 1/2", "frames 2/2"] and lines[1].endswith(" loss 0.2")
