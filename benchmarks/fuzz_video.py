"""`impasto video` on damaged clips, in one process: every clip must be styled or refused with exit
code 2 and one line naming the file, with no traceback and nothing left behind.

Each case makes a small real clip with PyAV (3-6 frames of a pan across tubingen, 32-64 px, in MP4,
MKV, WebM, GIF or MOV, with one of a few encoders, some with an audio track), damages it (bytes
flipped, the file truncated, a piece cut out, header bytes set large) and runs it through the CLI's
`main(argv)` at tiny settings, with stderr captured at the file descriptor (so ffmpeg's own log
lines count too). A case is reproducible from the seed and its number alone.

    python benchmarks/fuzz_video.py --count 1000 --seed 0
    python benchmarks/fuzz_video.py --count 50 --keep /tmp/bad   # keeps the clips that broke a rule
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test clips

from tests.video.clips import pan, write_clip  # noqa: E402

from impasto.cli import main as impasto  # noqa: E402
from impasto.images import EXAMPLES  # noqa: E402
from impasto.video.io import OUTPUT_FORMATS, read_frames  # noqa: E402

ENCODERS = {
    ".mp4": ("libx264", "mpeg4"),
    ".mkv": ("libx264", "libvpx", "ffv1"),
    ".webm": ("libvpx-vp9", "libvpx"),
    ".gif": ("gif",),
    ".mov": ("libx264", "mjpeg"),
}
"""The containers of the clips, and the encoders each is made with."""
DAMAGES = ("flip", "truncate", "cut", "header")
RATES = (Fraction(10), Fraction(15), Fraction(24), Fraction(30000, 1001))
SETTINGS = ["--size", "32", "--preset", "fast", "--iterations", "2", "--levels", "1", "--later-iterations", "1",
            "--max-frames", "2", "--seed", "0", "--device", "cpu", "-q"]
"""impasto video at its cheapest, so that a styled clip costs well under a second."""


@dataclass(frozen=True)
class Case:
    """One damaged clip and how it is run."""

    number: int
    container: str
    encoder: str
    frames: int
    size: tuple[int, int]
    rate: Fraction
    audio: bool
    damage: str
    output: str
    """The output's extension."""
    resume: bool
    """Whether --work-dir names a folder that exists already (and must be left as it was if refused)."""
    seed: int


@dataclass(frozen=True)
class Outcome:
    case: Case
    code: int | None
    """The exit code; None where an exception escaped `main`."""
    stderr: str
    problems: tuple[str, ...]
    """The rules broken; empty for a clip styled or refused as it should be."""
    message: str
    """The refusal's line, with the clip's path as CLIP."""


def make_case(seed: int, number: int) -> Case:
    """The case `number` of the run seeded `seed` (the same whatever the count)."""
    rng = random.Random(f"{seed}:{number}")
    container = rng.choice(list(ENCODERS))
    width = rng.choice((32, 40, 48, 56, 64))
    return Case(number, container, rng.choice(ENCODERS[container]), rng.randint(3, 6), (width, width * 3 // 4 // 2 * 2),
                rng.choice(RATES), container != ".gif" and rng.random() < 0.5, rng.choice(DAMAGES),
                rng.choice(list(OUTPUT_FORMATS)), rng.random() < 0.2, rng.getrandbits(32))


def damage(data: bytes, kind: str, rng: random.Random) -> bytes:
    """`data` damaged as `kind` says: random bytes flipped, the end cut off, a piece cut out of it, or
    header bytes (among the first 64) set to 0xff, as large as a byte goes."""
    damaged = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 32)):
            damaged[rng.randrange(len(damaged))] ^= rng.randint(1, 255)
    elif kind == "truncate":
        del damaged[rng.randrange(len(damaged)):]
    elif kind == "cut":
        start = rng.randrange(len(damaged))
        del damaged[start:start + rng.randint(1, max(1, len(damaged) // 4))]
    elif kind == "header":
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(min(64, len(damaged)))] = 0xFF
    else:
        raise ValueError(f"unknown damage {kind!r}: one of {', '.join(DAMAGES)}")
    return bytes(damaged)


def make_clip(case: Case, path: Path) -> Path:
    """The damaged clip of `case` at `path`."""
    clean = path.with_name(f"clean{case.container}")
    write_clip(clean, pan(case.frames, case.size)[0], case.rate, case.audio, case.encoder)
    path.write_bytes(damage(clean.read_bytes(), case.damage, random.Random(case.seed)))
    clean.unlink()
    return path


def run_case(case: Case, folder: Path, style: Path) -> Outcome:
    """Make the clip of `case` in the empty `folder`, run `impasto video` on it with the painting
    `style`, and check what it printed and left."""
    clip = make_clip(case, folder / f"clip{case.container}")
    out = folder / f"out{case.output}"
    argv = ["video", str(clip), str(style), "-o", str(out), *SETTINGS]
    if case.resume:
        work = folder / "earlier.work"
        work.mkdir()
        (work / "notes.txt").write_text("a folder the user made\n")
        argv += ["--work-dir", str(work)]
    before = _listing(folder)
    code, stderr, escaped = call(argv)
    after = _listing(folder)
    problems = []
    if escaped is not None:
        problems.append(f"traceback: {escaped.strip().splitlines()[-1]}")
    elif "Traceback" in stderr:
        problems.append("traceback printed")
    lines = stderr.strip().splitlines()
    message = lines[0].replace(str(clip), "CLIP") if lines else ""
    if code == 2:
        if len(lines) != 1 or not lines[0].startswith("impasto: error: ") or str(clip) not in lines[0]:
            problems.append(f"not one line naming the clip: {stderr.strip()!r}")
        if after != before:
            problems.append(f"left behind: {', '.join(sorted(after ^ before))}")
    elif code == 0:
        made = {entry for entry in after - before if not entry.startswith("earlier.work/")}
        if made != {out.name}:
            problems.append(f"styled, but made {', '.join(sorted(made)) or 'nothing'}")
        elif not any(True for _ in read_frames(out)):
            problems.append("styled, but the output holds no frame")
    elif code is not None:
        problems.append(f"exit code {code}: {stderr.strip()!r}")
    return Outcome(case, code, stderr, tuple(problems), message)


def call(argv: list[str]) -> tuple[int | None, str, str | None]:
    """`impasto argv` in this process: (exit code, all it wrote to stderr, the traceback of an exception
    that escaped, if one did). Captured at file descriptor 2, so that C libraries' output is caught."""
    text, code, escaped = io.StringIO(), None, None
    with tempfile.TemporaryFile() as native:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(native.fileno(), 2)
        try:
            with contextlib.redirect_stderr(text):
                code = impasto(argv)
        except SystemExit as error:
            code = error.code if isinstance(error.code, int) else 1
        except Exception:
            escaped = traceback.format_exc()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        native.seek(0)
        return code, text.getvalue() + native.read().decode(errors="replace"), escaped


def small_style(folder: Path) -> Path:
    """The Starry Night at 64 px, so that loading the painting costs nothing."""
    path = folder / "style.png"
    with Image.open(EXAMPLES / "starry_night.jpg") as image:
        image.convert("RGB").resize((64, 51), Image.Resampling.LANCZOS).save(path)
    return path


def fuzz(seed: int, numbers: Iterable[int], root: Path, keep: Path | None = None) -> list[Outcome]:
    """The cases `numbers` of the run seeded `seed`, each in a folder of its own under `root` (removed
    after); those that break a rule leave a copy of their clip in `keep`."""
    style = small_style(root)
    outcomes = []
    for number in numbers:
        case = make_case(seed, number)
        folder = root / f"case{number:05d}"
        folder.mkdir()
        outcome = run_case(case, folder, style)
        if outcome.problems and keep is not None:
            shutil.copy(folder / f"clip{case.container}", keep / f"seed{seed}_case{number:05d}{case.container}")
        shutil.rmtree(folder)
        outcomes.append(outcome)
    return outcomes


def _listing(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def _table(outcomes: list[Outcome]) -> str:
    rows = [
        "| container | damage | clips | styled | refused | rules broken |",
        "|---|---|---|---|---|---|",
    ]
    groups = collections.defaultdict(list)
    for outcome in outcomes:
        groups[outcome.case.container, outcome.case.damage].append(outcome)
        groups[outcome.case.container, "all"].append(outcome)
        groups["all", "all"].append(outcome)
    for container in [*ENCODERS, "all"]:
        for kind in [*DAMAGES, "all"] if container != "all" else ["all"]:
            group = groups[container, kind]
            if group:
                rows.append(f"| {container} | {kind} | {len(group)} | {sum(o.code == 0 for o in group)} | "
                            f"{sum(o.code == 2 for o in group)} | {sum(bool(o.problems) for o in group)} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="clips to make and run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch's CPU threads")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy the clips that broke a rule here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz_video.") as root:
        outcomes = fuzz(args.seed, range(args.count), Path(root), args.keep)
    seconds = time.perf_counter() - started
    print(_table(outcomes))
    each = seconds / max(len(outcomes), 1)
    print(f"\n{len(outcomes)} clips in {seconds:.0f} s ({each:.2f} s each), seed {args.seed}")
    messages = collections.Counter(o.message.split(" (")[0] for o in outcomes if o.code == 2)
    print("\nrefusals, by message:")
    for message, number in messages.most_common():
        print(f"{number:6d}  {message}")
    broken = [o for o in outcomes if o.problems]
    for outcome in broken:
        print(f"\ncase {outcome.case.number} {outcome.case}: {'; '.join(outcome.problems)}")
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
