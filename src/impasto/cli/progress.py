"""The commands' progress bars, all drawn by tqdm on stderr.

On a terminal the bars are redrawn in place, at most ten times a second: one bar for an
optimisation (`StepBar`: transfer, reconstruct, figure) and, where frames or items hold
iterations, a bar of those over a bar of the current one's iterations (`CountBar`: video's frames,
batch's items). On a pipe or in a log file nothing is redrawn: the outer bar is written, in the
same format, as a line of its own each tenth of the way, so a log gets about ten lines, not a
stream of carriage returns.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from tqdm import tqdm

from ..optimize import Progress

__all__ = ["CountBar", "StepBar"]


class _Tqdm(tqdm):
    """tqdm with one more field for the bar format, `stats` (tqdm's documented way to add one)."""

    def __init__(self, *args: Any, stats: str = "", **options: Any) -> None:
        self.stats = stats  # before tqdm's own __init__, which draws the bar
        super().__init__(*args, **options)

    @property
    def format_dict(self) -> dict[str, Any]:
        return {**super().format_dict, "stats": self.stats}


class _Bar:
    """A bar's state (`desc`, `n` of `total`, `stats`) shown on `stream`: by a tqdm bar on a terminal;
    on a pipe, if `lines`, as tqdm formats it, a line whenever `show` is given a new key."""

    def __init__(self, stream: TextIO | None, quiet: bool, lines: bool, bar_format: str, **options: Any) -> None:
        self.stream = stream or sys.stderr
        self.live = not quiet and self.stream.isatty()
        self.lines = not quiet and not self.live and lines
        self.format, self.options = bar_format, options
        self.desc, self.stats, self.n, self.total = "", "", 0, 0
        self.started = time.perf_counter()
        self.key: object = None  # of the last line written on a pipe
        self.bar: _Tqdm | None = None  # made by the first `show`

    def show(self, key: object) -> None:
        """Draw the state: on a terminal as often as tqdm allows; on a pipe as a line if `key` is not
        the last line's."""
        if self.live:
            if self.bar is None:
                # miniters=0: every call may redraw, as often as tqdm's mininterval (0.1 s) allows.
                self.bar = _Tqdm(total=self.total, initial=self.n, desc=self.desc, stats=self.stats, file=self.stream,
                                 bar_format=self.format, dynamic_ncols=True, miniters=0, **self.options)
            self.bar.set_description_str(self.desc, refresh=False)
            self.bar.stats = self.stats
            if self.bar.total != self.total or self.n < self.bar.n:  # a new round: the next frame's iterations
                self.bar.reset(total=self.total)
                self.bar.n = self.n
                self.bar.refresh()
            else:
                self.bar.update(self.n - self.bar.n)
        elif self.lines and key != self.key:
            self.key = key
            line = tqdm.format_meter(self.n, self.total, time.perf_counter() - self.started, prefix=self.desc,
                                     bar_format=self.format, ascii=".#", stats=self.stats)
            self.stream.write(line + "\n")
            self.stream.flush()

    def restart(self) -> None:
        """Leave the bar's line as it is on a terminal and go on in a new one below."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class StepBar(_Bar):
    """An optimisation's bar, from its Progress events: the level and its size, the block on a level
    computed in blocks, the step, the loss and its terms, it/s, and the time left, the events' own
    (they weigh each level's steps by its pixels, which a count of steps cannot)."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, *, position: int = 0,
                 lines: bool = True) -> None:
        """`position` 1 and `lines` False: the inner bar of a CountBar, cleared when done and not on a pipe."""
        super().__init__(stream, quiet, lines, "{desc}{n_fmt}/{total_fmt} [{bar:24}] {stats}", position=position,
                         leave=position == 0)
        self.prefix: str | None = None

    def update(self, event: Progress, prefix: str = "") -> None:
        """Show `event`; a new `prefix` (a figure's panel) keeps the last one's line and starts another."""
        if self.prefix is not None and prefix != self.prefix:
            self.restart()
        self.prefix = prefix
        height, width = event.image.shape[-2:]
        level = f"level {event.level}/{event.levels} {width}x{height} " if event.levels > 1 else ""
        level += f"block {event.block}/{event.blocks} " if event.blocks else ""
        self.desc = f"{prefix} {level}" if prefix else level
        self.n, self.total = event.step, event.total
        eta = "?" if event.eta == math.inf else tqdm.format_interval(event.eta)
        tv = f", tv {event.tv:.3g}" if event.tv else ""
        self.stats = (f"loss {event.loss:.3g} (content {event.content:.3g}, style {event.style:.3g}{tv}) "
                      f"{event.rate:.2f} it/s ETA {eta}")
        self.show((prefix, 10 * event.step // max(event.total, 1)))


class CountBar(_Bar):
    """Frames or items done of `total`, the time spent and left, and `stats` (of the last one done);
    on a terminal, the iterations of the current one in a StepBar below it."""

    def __init__(self, total: int, name: str, quiet: bool = False, stream: TextIO | None = None,
                 stats: str = "") -> None:
        super().__init__(stream, quiet, True, "{desc} {n_fmt}/{total_fmt} [{bar:24}] {elapsed}<{remaining} {stats}",
                         position=0)
        self.desc, self.total, self.stats, self.quiet = name, total, stats, quiet
        self.steps: StepBar | None = None  # made at the first iteration: a batch's items send none
        self.show(None)

    def step(self, event: Progress, prefix: str = "") -> None:
        """An iteration of the current frame or item, or with a `prefix`, of another task (a network's
        training)."""
        if self.steps is None:
            self.steps = StepBar(self.quiet, self.stream, position=1, lines=False)
        self.steps.update(event, prefix)

    def advance(self, stats: str) -> None:
        """One more done; `stats` replaces the last."""
        self.n, self.stats = self.n + 1, stats
        self.show(10 * self.n // max(self.total, 1))

    def write(self, line: str) -> None:
        """`line` above the bars, which stay (also with `quiet`: a line of news, not of progress)."""
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream)

    def close(self) -> None:
        if self.steps is not None:
            self.steps.close()
        super().close()
