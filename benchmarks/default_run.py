"""The whole default run at 512 px against the same run with settings changed, against an earlier
checkout's default run and against pastiche's iterations, interleaved in one run so that all see the
same machine: what a change of the defaults or of the code costs.

Every run is a fresh process with a checkout's `src` first on the path (this one's; for
`--baseline`, an earlier one, e.g. a `git worktree` of the commit before a change), timed from the
call of its `transfer` (start-up and the weights' loading excluded).

    python benchmarks/default_run.py --repeats 3 --variant "before issue 10" style_weight=10 palette_weight=0
    python benchmarks/default_run.py --baseline /tmp/old --pastiche /path/to/venv/bin/pastiche
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from speed import pastiche_seconds
from tuning import setting

CHECKOUT = Path(__file__).resolve().parents[1]
TIMED = """
import json, sys, time, impasto
from impasto.images import EXAMPLES
photo, painting, size = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg", int(sys.argv[1])
impasto.transfer(photo, painting, impasto.TransferConfig(size=64, iterations=2, seed=0))
start = time.perf_counter()
impasto.transfer(photo, painting, impasto.TransferConfig(size=size, seed=0, **json.loads(sys.argv[2])))
print(time.perf_counter() - start)
"""


def seconds(checkout: Path, size: int, changes: dict[str, object]) -> float:
    """A run of `checkout` (its `src` first on the path) with `changes` to the defaults, in a fresh process."""
    environment = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    done = subprocess.run([sys.executable, "-c", TIMED, str(size), json.dumps(changes)], env=environment,
                          cwd=checkout, check=True, capture_output=True, text=True)
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
    times: dict[str, list[float]] = {name: [] for name in variants}
    baseline: list[float] = []
    pastiche: list[float] = []
    for _ in range(args.repeats):
        for name, changes in variants.items():
            times[name].append(seconds(CHECKOUT, args.size, changes))
        if args.baseline:
            baseline.append(seconds(args.baseline, args.size, {}))
        if args.pastiche:
            pastiche.append(pastiche_seconds(args.pastiche, args.size, 5))
    default = min(times["default"])
    per_step = f" | in pastiche's steps ({min(pastiche):.3f} s each)" if pastiche else ""
    print(f"| run at {args.size} px | settings changed | best of {args.repeats} (s) | against the default{per_step} |")
    print("|---|---|---|---|" + ("---|" if pastiche else ""))
    rows = [(name, str(variants[name] or "-"), min(runs)) for name, runs in times.items()]
    if baseline:
        rows.append((f"default of {args.baseline}", "-", min(baseline)))
    for name, changes, best in rows:
        steps = f" | {best / min(pastiche):.1f}" if pastiche else ""
        print(f"| {name} | {changes} | {best:.1f} | {best / default:.2f}x{steps} |")


if __name__ == "__main__":
    main()
