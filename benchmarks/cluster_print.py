"""One print over many workers: the overhead per step of Ray actors against the single-process tiled
evaluation, and a model of the speed-up on N nodes from what was measured.

For each size, one level of the default settings in blocks of `--block` px: the single-process tiled
objective (this process, `--threads` threads) and the same objective on 2 Ray actors of 1 thread each
on a local Ray instance (loopback), each evaluated `--steps` times (an evaluation is a step's work:
pass 1 and pass 2 over every block) after its targets. It prints per size: seconds a step each way,
the workers' own compute (the sum of their blocks' seconds, as they timed them), the driver's
overhead a step (the actors' step less the busiest worker's compute), the compute a crop pixel, and
the bytes a step moves; then the modelled speed-up on N nodes (`model`).

    python benchmarks/cluster_print.py --sizes 2048 4096 --steps 2
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from impasto.cluster import RayBlocks, connect
from impasto.config import TransferConfig
from impasto.images import EXAMPLES, load_image, resize_longest, to_tensor
from impasto.memory import crop_lengths, resolve_runtime
from impasto.objective import StyleImage
from impasto.tiled import TiledObjective, halo
from impasto.vgg import load_vgg19
from impasto.workers import CALL_SECONDS, deal, statistic_values

PHOTO, PAINTING = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"
BANDWIDTHS = {"1 Gbit/s": 1.25e8, "10 Gbit/s": 1.25e9}


def level(size: int, config: TransferConfig) -> tuple[torch.Tensor, list[StyleImage], torch.Tensor]:
    content = to_tensor(resize_longest(load_image(PHOTO, 10**9), size))
    style = to_tensor(resize_longest(load_image(PAINTING, 10**9), size))
    noise = torch.randn(content.shape, generator=torch.Generator().manual_seed(0))
    return content, [StyleImage(style)], (content + 0.05 * noise).clamp(0, 1)


def timed_steps(objective: TiledObjective, start: torch.Tensor, steps: int) -> float:
    """Seconds a step: `steps` evaluations of `objective` (loss and gradient)."""
    began = time.perf_counter()
    for _ in range(steps):
        image = start.clone().requires_grad_(True)
        objective.evaluate(image)
    return (time.perf_counter() - began) / steps


def moved_bytes(config: TransferConfig, shape: tuple[int, int], block: int, workers: int) -> tuple[int, int]:
    """Bytes a step moves between the driver and the workers, and the crop pixels of a step."""
    margin = halo([*config.content_layers, *config.style_layers])
    crops = [h * w for h in crop_lengths(shape[0], block, margin) for w in crop_lengths(shape[1], block, margin)]
    return 24 * sum(crops) + 8 * statistic_values(config, shape) * (len(crops) + workers), sum(crops)


def model(per_pixel: float, overhead: float, crops: list[int], moved: int, nodes: int, bandwidth: float) -> float:
    """A step's seconds on `nodes` workers: the busiest one's crop pixels x `per_pixel`, the bytes
    through the driver's link, and the driver's `overhead` a block."""
    load = max(sum(crops[i] for i in indices) for indices in deal(crops, nodes))
    return per_pixel * load + moved / bandwidth + overhead * len(crops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--block", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="threads of the single process")
    args = parser.parse_args()
    config = TransferConfig(seed=0)
    torch.set_num_threads(args.threads)
    # Ray lowers its workers' priority (nice 15) by default: on a machine shared with other work, the
    # actors would then lose the cores to it and the single process would not.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray = connect(None)
    blocks = RayBlocks(ray, config, threads=1, count=2)
    blocks.make()
    runtime = resolve_runtime(config, network_held=False)
    vgg = load_vgg19(config.weights, config.pooling, runtime.device, config.padding, runtime.dtype)
    print(f"precision {runtime.precision}; single process {args.threads} threads; 2 actors of 1 thread")
    print("| size | blocks | single process s/step | 2 actors s/step | ratio | workers' compute s/step (busiest) "
          "| driver overhead s/step | s a crop Mpx (1 thread) | MB moved a step |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for size in args.sizes:
        content, styles, start = level(size, config)
        shape = (start.shape[-2], start.shape[-1])
        alone = TiledObjective(vgg, content, styles, config, shape, args.block)
        single = timed_steps(alone, start, args.steps)
        del alone
        spread = TiledObjective(vgg, content, styles, config, shape, args.block, evaluator=blocks)
        blocks.busy.clear()
        actors = timed_steps(spread, start, args.steps)
        del spread
        margin = halo([*config.content_layers, *config.style_layers])
        crops = [h * w for h in crop_lengths(shape[0], args.block, margin)
                 for w in crop_lengths(shape[1], args.block, margin)]
        busiest = max(blocks.busy.values()) / args.steps  # the workers' own timing of their blocks
        per_pixel = sum(blocks.busy.values()) / args.steps / sum(crops)
        moved, _ = moved_bytes(config, shape, args.block, 2)
        overhead = max(actors - busiest, 0.0)
        rows.append((size, crops, moved, per_pixel, overhead))
        print(f"| {shape[1]}x{shape[0]} | {len(crops)} | {single:.1f} | {actors:.1f} | {actors / single:.2f} | "
              f"{busiest:.1f} | {overhead:.1f} | {per_pixel * 1e6:.2f} | {moved / 1e6:.0f} |", flush=True)
    print("\nModelled speed-up on N nodes of one such worker each, against one process of one such worker "
          "(compute a crop pixel as measured; the driver's overhead a block as measured, at least "
          f"CALL_SECONDS x 2 = {2 * CALL_SECONDS * 1e3:.0f} ms):")
    print("| size | link | " + " | ".join(f"N={n}" for n in (1, 2, 4, 8, 16)) + " |")
    print("|---|---|" + "---|" * 5)
    for size, crops, moved, per_pixel, overhead in rows:
        per_block = max(overhead / len(crops), 2 * CALL_SECONDS)
        alone = per_pixel * sum(crops)
        for link, bandwidth in BANDWIDTHS.items():
            cells = " | ".join(f"{alone / model(per_pixel, per_block, crops, moved, n, bandwidth):.1f}"
                               for n in (1, 2, 4, 8, 16))
            print(f"| {size} | {link} | {cells} |")
    blocks.shutdown()


if __name__ == "__main__":
    main()
