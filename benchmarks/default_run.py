"""The whole default run at 512 px against the same run with settings changed, against an earlier
checkout's default run and against pastiche's iterations, interleaved in one run so that all see the
same machine: what a change of the defaults or of the code costs.

Variants run in this process; an earlier checkout (`--baseline`, e.g. a `git worktree` of the
commit before a change) runs in a fresh process per repeat with its own `src` first on the path,
timed from the call of its `transfer` (start-up and the weights' loading excluded).

    python benchmarks/default_run.py --repeats 3 --variant "before issue 10" style_weight=10 palette_weight=0
    python benchmarks/default_run.py --baseline /tmp/old --pastiche /path/to/venv/bin/pastiche
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from speed import pastiche_seconds
from tuning import setting

import impasto
from impasto.images import EXAMPLES

PHOTO, PAINTING = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"
TIMED = """
import sys, time, impasto
from impasto.images import EXAMPLES
photo, painting, size = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg", int(sys.argv[1])
impasto.transfer(photo, painting, impasto.TransferConfig(size=64, iterations=2, seed=0))
start = time.perf_counter()
impasto.transfer(photo, painting, impasto.TransferConfig(size=size, seed=0))
print(time.perf_counter() - start)
"""


def baseline_seconds(checkout: Path, size: int) -> float:
    """The default run of the checkout `checkout` (its `src` first on the path), in a fresh process."""
    environment = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    done = subprocess.run([sys.executable, "-c", TIMED, str(size)], env=environment, cwd=checkout, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "FIELD=VALUE"),
                        help="a name and the TransferConfig fields it changes (repeatable)")
    parser.add_argument("--baseline", type=Path, help="an earlier checkout whose default run to time alike")
    parser.add_argument("--pastiche", help="pastiche's command, from its own virtual environment")
    args = parser.parse_args()
    variants = {"default": {}, **{name: dict(map(setting, changes)) for name, *changes in args.variant}}
    impasto.transfer(PHOTO, PAINTING, impasto.TransferConfig(size=64, iterations=2, seed=0))  # load the weights
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    baseline: list[float] = []
    pastiche: list[float] = []
    for _ in range(args.repeats):
        for name, changes in variants.items():
            start = time.perf_counter()
            impasto.transfer(PHOTO, PAINTING, impasto.TransferConfig(size=args.size, seed=0, **changes))
            seconds[name].append(time.perf_counter() - start)
        if args.baseline:
            baseline.append(baseline_seconds(args.baseline, args.size))
        if args.pastiche:
            pastiche.append(pastiche_seconds(args.pastiche, args.size, 5))
    default = min(seconds["default"])
    per_step = f" | in pastiche's steps ({min(pastiche):.3f} s each)" if pastiche else ""
    print(f"| run at {args.size} px | settings changed | best of {args.repeats} (s) | against the default{per_step} |")
    print("|---|---|---|---|" + ("---|" if pastiche else ""))
    rows = [(name, str(variants[name] or "-"), min(times)) for name, times in seconds.items()]
    if baseline:
        rows.append((f"default of {args.baseline}", "-", min(baseline)))
    for name, changes, best in rows:
        steps = f" | {best / min(pastiche):.1f}" if pastiche else ""
        print(f"| {name} | {changes} | {best:.1f} | {best / default:.2f}x{steps} |")


if __name__ == "__main__":
    main()
