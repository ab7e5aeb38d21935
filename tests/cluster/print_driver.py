"""The driver of tests/cluster/test_print_on_ray.py, run in a process of its own (it connects to the
test cluster): a tiled level's loss and gradient on 2 workers and in this process; a short run on
the workers and in this process; the same run with a worker killed in the middle of a step. Prints
the figures as one line of JSON."""

from __future__ import annotations

import json
import os
import signal
import sys

import torch

from impasto import Progress
from impasto.cluster import RayBlocks, connect
from impasto.config import TransferConfig
from impasto.images import EXAMPLES, load_image, resize_longest, to_tensor
from impasto.objective import StyleImage
from impasto.pipeline import plan_transfer, transfer
from impasto.tiled import TiledObjective
from impasto.vgg import load_vgg19

# Layers to conv3_1 (a 16 px halo): crops of 32 px blocks are cut inside a 96x72 image on all sides.
CONFIG = TransferConfig(size=96, levels=2, iterations=6, seed=0, precision="fp32", palette_weight=0.0,
                        content_layers="conv2_2", style_layers="conv1_1,conv2_1,conv3_1", tile_size=32)
PHOTO, PAINTING = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"


def level(blocks: RayBlocks) -> dict[str, float]:
    """A tiled level's loss terms and gradient, on the workers against in this process."""
    content = to_tensor(resize_longest(load_image(PHOTO, 10**8), 96))
    styles = [StyleImage(to_tensor(resize_longest(load_image(PAINTING, 10**8), 80)))]
    start = (content + 0.05 * torch.randn(content.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    shape = (start.shape[-2], start.shape[-1])
    vgg = load_vgg19()
    results = []
    for evaluator in (None, blocks):
        objective = TiledObjective(vgg, content, styles, CONFIG, shape, 32, evaluator=evaluator)
        image = start.clone().requires_grad_(True)
        terms = objective.evaluate(image)
        assert image.grad is not None
        results.append((torch.stack([terms.total, terms.content, terms.style]).double(), image.grad.double()))
    (here, here_grad), (there, there_grad) = results
    return {"terms": ((there - here).abs() / here.abs()).max().item(),
            "gradient": ((there_grad - here_grad).norm() / here_grad.norm()).item(),
            "blocks": len(objective._blocks(start))}


def main() -> None:
    torch.set_num_threads(1)
    ray = connect(sys.argv[1])
    blocks = RayBlocks(ray, CONFIG, threads=1)
    blocks.make()
    figures = {"workers": len(blocks.actors), **level(blocks)}
    workers = blocks.workers(None, more_steps=False)
    figures["spread"] = [level.workers for level in plan_transfer(PHOTO, CONFIG, workers=workers).levels]
    alone = transfer(PHOTO, PAINTING, CONFIG).image
    spread = transfer(PHOTO, PAINTING, CONFIG, workers=workers).image
    figures["run"] = (spread - alone).abs().max().item()
    killed: list[int] = []

    def kill_one(event: Progress) -> None:  # a worker killed at the second block of level 2's third step
        if not killed and event.level == 2 and event.step >= 5 and event.block == 2:
            killed.append(blocks.pids[blocks.actors[0]])
            os.kill(killed[0], signal.SIGKILL)

    again = transfer(PHOTO, PAINTING, CONFIG, kill_one, workers=workers)
    figures.update(killed=len(killed), left=len(blocks.actors), killed_run=(again.image - alone).abs().max().item(),
                   steps=again.steps)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
