"""The whole default run at 512 px against the same run with settings changed, interleaved in one
process so that both see the same machine: what a change of the defaults costs.

    python benchmarks/default_run.py --repeats 3 --variant "before issue 10" style_weight=10 palette_weight=0
"""

from __future__ import annotations

import argparse
import time

from tuning import setting

import impasto
from impasto.images import EXAMPLES

PHOTO, PAINTING = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "FIELD=VALUE"),
                        help="a name and the TransferConfig fields it changes (repeatable)")
    args = parser.parse_args()
    variants = {"default": {}, **{name: dict(map(setting, changes)) for name, *changes in args.variant}}
    impasto.transfer(PHOTO, PAINTING, impasto.TransferConfig(size=64, iterations=2, seed=0))  # load the weights
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, changes in variants.items():
            start = time.perf_counter()
            impasto.transfer(PHOTO, PAINTING, impasto.TransferConfig(size=args.size, seed=0, **changes))
            seconds[name].append(time.perf_counter() - start)
    print(f"| run at {args.size} px | settings changed | best of {args.repeats} (s) | against the default |")
    print("|---|---|---|---|")
    for name, times in seconds.items():
        print(f"| {name} | {variants[name] or '-'} | {min(times):.1f} | {min(times) / min(seconds['default']):.2f}x |")


if __name__ == "__main__":
    main()
