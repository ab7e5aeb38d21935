"""Does a step of `--strength` mean the same on every pair? Reads tuning grids run at several
strengths and prints, per photo x painting, the content and style distances at each strength
relative to those at the middle one, then their spread across the pairs.

    for s in 0.25 0.5 0.75; do
        python benchmarks/tuning.py --size 256 --set strength=$s --out out/tuning/strength_$s
    done
    python benchmarks/strength.py out/tuning/strength_0.25 out/tuning/strength_0.5 out/tuning/strength_0.75
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def read_grid(folder: Path) -> tuple[float, dict[tuple[str, str], dict[str, float]]]:
    """The grid's strength (from its folder name, `..._S`) and its scores by (photo, painting)."""
    strength = float(folder.name.rsplit("_", 1)[1])
    rows = (json.loads(line) for line in (folder / "scores.jsonl").read_text().splitlines())
    return strength, {(row["photo"], row["painting"]): row for row in rows}


def main(folders: list[str]) -> None:
    grids = sorted(read_grid(Path(folder)) for folder in folders)
    middle_strength, middle = grids[len(grids) // 2]
    others = [(s, grid) for s, grid in grids if s != middle_strength]
    columns = " | ".join(f"{figure} at {s:g} / {middle_strength:g}" for s, _ in others
                         for figure in ("content", "style"))
    print(f"| photo | painting | {columns} |")
    print("|---|---|" + "---|" * (2 * len(others)))
    ratios: dict[str, list[float]] = {}
    for pair, base in middle.items():
        cells = []
        for strength, grid in others:
            for figure, key in (("content", "content"), ("style", "style_mean")):
                ratio = grid[pair][key] / base[key]
                ratios.setdefault(f"{figure} at {strength:g}", []).append(ratio)
                cells.append(f"{ratio:.2f}")
        print(f"| {pair[0]} | {pair[1]} | {' | '.join(cells)} |")
    print()
    print("| ratio | min | max | mean | spread (stdev / mean) |")
    print("|---|---|---|---|---|")
    for name, values in ratios.items():
        mean = statistics.mean(values)
        print(f"| {name} / {middle_strength:g} | {min(values):.2f} | {max(values):.2f} | {mean:.2f} | "
              f"{statistics.stdev(values) / mean:.1%} |")


if __name__ == "__main__":
    main(sys.argv[1:])
