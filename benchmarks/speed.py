"""Seconds per iteration: impasto in fp32, fp32 channels-last and bf16, against pastiche and against
this machine's convolution ceiling, all measured in this one run.

One iteration = one L-BFGS step: VGG-19 forward to conv5_1 plus a backward to the pixels, with the
default losses (content conv4_2, style conv1_1..conv5_1). The ceiling is what the iteration's
convolutions alone would take: twice the time of the forward 3x3 convolutions of VGG-19 up to
conv5_1 at that size (the backward to the pixels costs one more pass of the same convolutions;
weights need no gradient), timed one layer at a time in the given precision, channels-last.

pastiche (PyPI, 1.6.0) runs from its own virtual environment, given by --pastiche (its `pastiche`
command); its time per iteration is (t(N + 5 steps) - t(N steps)) / 5, so start-up cancels out.

    python benchmarks/speed.py --pastiche /path/to/venv/bin/pastiche
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from impasto import TransferConfig
from impasto.images import EXAMPLES, load_image, resize_longest, to_tensor
from impasto.objective import Objective, StyleImage
from impasto.optimize import optimize
from impasto.vgg import CONV_LAYERS, feature_size, load_vgg19

PHOTO, PAINTING = EXAMPLES / "tubingen.jpg", EXAMPLES / "starry_night.jpg"
VARIANTS = {"fp32": (torch.float32, False), "fp32 channels-last": (torch.float32, True),
            "bf16 channels-last": (torch.bfloat16, True)}


def impasto_seconds(size: int, dtype: torch.dtype, channels_last: bool, warmup: int, steps: int) -> float:
    """Seconds per L-BFGS iteration of the default objective at `size` px."""
    content = to_tensor(resize_longest(load_image(PHOTO, 10**8), size), "cpu")
    style = to_tensor(resize_longest(load_image(PAINTING, 10**8), size), "cpu")
    vgg = load_vgg19(dtype=dtype, channels_last=channels_last)
    config = TransferConfig(size=size, levels=1)
    objective = Objective(vgg, content, [StyleImage(style)], config, tuple(content.shape[-2:]))
    elapsed: dict[int, float] = {}
    optimize(objective, content, warmup + steps, config, lambda event: elapsed.__setitem__(event.step, event.elapsed))
    return (elapsed[warmup + steps] - elapsed[warmup]) / steps


def ceiling_seconds(size: int, dtype: torch.dtype, repeats: int = 3) -> tuple[float, float]:
    """(seconds, GFLOP) of the iteration's convolutions alone: 2 x the forward 3x3 convolutions."""
    vgg = load_vgg19(dtype=dtype, channels_last=True)
    image_size = tuple(to_tensor(resize_longest(load_image(PHOTO, 10**8), size), "cpu").shape[-2:])
    seconds = flops = 0.0
    for name in CONV_LAYERS[: CONV_LAYERS.index("conv5_1") + 1]:
        conv = vgg.convs[name]
        height, width = feature_size(name, image_size)
        x = torch.rand(1, conv.in_channels, height, width, dtype=dtype).contiguous(memory_format=torch.channels_last)
        weight, bias = conv.weight.to(dtype), conv.bias.to(dtype)
        with torch.no_grad():
            F.conv2d(x, weight, bias, padding=1)  # warm-up: oneDNN builds its kernel
            start = time.perf_counter()
            for _ in range(repeats):
                F.conv2d(x, weight, bias, padding=1)
        seconds += (time.perf_counter() - start) / repeats
        flops += 2 * conv.in_channels * conv.out_channels * 9 * height * width
    return 2 * seconds, 2 * flops / 1e9


def pastiche_seconds(command: str, size: int, steps: int) -> float:
    """pastiche's seconds per iteration at `size` px (longest side)."""
    def run(n: int) -> float:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            subprocess.run([command, "--content", str(PHOTO), "--styles", str(PAINTING), "--size", str(size),
                            "--num-steps", str(n), "--no-verbose", "--seed", "0", "--output",
                            str(Path(folder) / "out.png")], check=True, capture_output=True)
            return time.perf_counter() - start
    return (run(2 + steps) - run(2)) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--pastiche", help="pastiche's command, from its own virtual environment")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| size | variant | s / iteration | pastiche / impasto | impasto / ceiling | ceiling (s) |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        theirs = pastiche_seconds(args.pastiche, size, args.steps) if args.pastiche else None
        if theirs is not None:
            print(f"| {size} | pastiche 1.6.0 | {theirs:.3f} | 1.00 | | |", flush=True)
        for name, (dtype, channels_last) in VARIANTS.items():
            ours = impasto_seconds(size, dtype, channels_last, args.warmup, args.steps)
            ceiling, gflop = ceiling_seconds(size, dtype)
            ratio = f"{theirs / ours:.2f}" if theirs is not None else "-"
            print(f"| {size} | impasto {name} | {ours:.3f} | {ratio} | {ours / ceiling:.2f} | "
                  f"{ceiling:.3f} ({gflop:.0f} GFLOP, {gflop / ceiling:.0f} GFLOP/s) |", flush=True)


if __name__ == "__main__":
    main()
