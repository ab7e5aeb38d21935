"""The coarse-to-fine schedule, level by level: each level's plan (whole or in blocks, within the
memory budget), its start image (the previous level's result, upsampled), its objective and its
optimisation, the recovery of a level that runs out of memory (redone in smaller blocks from where
it was), and progress events counted over the whole run.

`pipeline.py` says what the levels are (the images at each size); this module runs them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from PIL import Image

from .config import INIT_MODES, TransferConfig
from .device import Runtime, prepare_device
from .errors import ConfigError, ImageError, OptimizationError, OutOfMemory
from .images import load_image, to_tensor
from .memory import LevelPlan, Plan, plan_level, plan_run
from .objective import Objective, StyleImage
from .optimize import Optimized, Progress, ProgressCallback, optimize
from .tiled import ALIGN, TiledObjective
from .vgg import VGG19, load_vgg19, min_input_side
from .workers import Workers, more_steps, spread_level

__all__ = ["Checkpoint", "Level", "plan_levels", "run_levels"]


class Checkpoint(Protocol):
    """Where a run keeps its finished levels, to start after them when it is run again (`resume.py`)."""

    def finished(self) -> tuple[int, torch.Tensor, int] | None:
        """The levels finished, the last one's image (1, 3, H, W) and the steps taken; None: none."""
        ...

    def save(self, levels: int, image: torch.Tensor, steps: int) -> None:
        """Keep `image`, the result of the first `levels` levels, which took `steps` steps."""
        ...


@dataclass
class Level:
    """What one level of the coarse-to-fine schedule optimises against."""

    shape: tuple[int, int]
    """(height, width) of the image at this level."""
    content: torch.Tensor | None
    styles: list[StyleImage]
    finish: Callable[[torch.Tensor], torch.Tensor] = lambda image: image
    """Post-processes every image that leaves (progress previews, the result, the last good image)."""

    def targets_taken(self) -> Level:
        """This level without its images, once the objective holds their targets: a print-size level's
        content and style images would take 24 bytes a pixel during the optimisation."""
        return dataclasses.replace(self, content=None, styles=[])


def run_levels(
    config: TransferConfig,
    runtime: Runtime,
    level: Callable[[int], Level],
    shape: Callable[[int], tuple[int, int]],
    callback: ProgressCallback | None,
    start_image: torch.Tensor | None = None,
    terms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    workers: Workers | None = None,
    checkpoint: Checkpoint | None = None,
) -> Optimized:
    """Minimise the objective level by level of the coarse-to-fine schedule, on `runtime`'s device
    and within its budget: at each, `level(side)` gives the images at that longest side, and the
    previous level's result, upsampled, is the start (at the first, `start_image` resized, or the
    config's init). `shape(side)` is the level's (height, width), for the plan: known without making
    the level's images. Returns the last level's image, on the CPU, and the iterations taken in all.

    `workers`: the levels the planner spreads over them compute their blocks there (`workers.py`).
    `checkpoint`: each finished level is saved there, and a run that has finished levels there
    starts after the last of them.

    Raises:
        OptimizationError: with the last good image (finished as a level's are) and its step.
    """
    content_layers = list(config.content_layers) if config.alpha > 0 else []
    style_layers = list(config.style_layers) if config.beta > 0 else []
    stages, plan = plan_levels(config, runtime, shape, workers)
    device = runtime.device
    prepare_device(device)
    vgg = load_vgg19(config.weights, config.pooling, device, config.padding, runtime.dtype)
    image: torch.Tensor | None = None
    relay: _Relay | None = None
    anchor: _Anchor | None = None
    steps_before, taken, elapsed_before, start = 0, 0, 0.0, time.perf_counter()
    finished = None if checkpoint is None else checkpoint.finished()
    if finished is not None:  # the levels before `done` are in the checkpoint
        done_levels, image, taken = finished
        image, steps_before = image.to(device), sum(count for _, count in stages[:done_levels])
    for index, ((side, iterations), planned) in enumerate(zip(stages, plan.levels, strict=True)):
        if finished is not None and index < finished[0]:
            continue
        current = level(side)
        _check_sizes(current, content_layers, style_layers)
        level_terms = list(terms)
        if planned.anchor is not None:  # the objective at `anchor_side` too, made at the first such level
            anchor = anchor or _Anchor(vgg, level(config.anchor_side), _level_config(config, len(stages) - 1,
                                                                                    len(stages)))
            level_terms.append(anchor)
        if image is None and start_image is not None:
            image = F.interpolate(start_image.to(device), size=current.shape, mode="bilinear", antialias=True)
        elif image is None:
            image = _initial_image(config, current.shape, device, current.content, current.styles)
        else:
            image = F.interpolate(image, size=current.shape, mode="bicubic", align_corners=False)
        done = 0
        while True:  # a level that runs out of memory is redone in smaller blocks from where it was
            relay = None if callback is None else _Relay(
                callback, config, plan, index, steps_before + done, elapsed_before, current.finish, image,
                None if relay is None else relay.last)
            try:
                objective = _objective(vgg, current, _level_config(config, index, len(stages)), planned, relay,
                                       level_terms, workers)
                current = current.targets_taken()
                image, steps = optimize(objective, image, iterations - done,
                                        config.replace(history_size=planned.history), relay,
                                        torch.device("cpu") if planned.host_bytes else None)
                taken += done + steps
                break
            except OutOfMemory as error:
                smaller = _smaller(planned, config, runtime)
                if smaller is None or error.image is None:
                    error.image = None if error.image is None else current.finish(error.image).cpu()
                    error.step += taken + done
                    raise
                image, done, planned, current = error.image, done + error.step, smaller, level(side)
            except OptimizationError as error:
                error.image = None if error.image is None else current.finish(error.image).cpu()
                error.step += taken + done
                raise
            elapsed_before = time.perf_counter() - start
        steps_before += iterations
        elapsed_before = time.perf_counter() - start
        if checkpoint is not None and index + 1 < len(stages):
            checkpoint.save(index + 1, image, taken)
    assert image is not None
    return Optimized(current.finish(image).cpu(), taken)


def plan_levels(
    config: TransferConfig, runtime: Runtime, shape: Callable[[int], tuple[int, int]], workers: Workers | None = None,
) -> tuple[list[tuple[int, int]], Plan]:
    """The run's schedule, (longest side, iterations) per level, and its plan: each level whole or in
    blocks, within `runtime`'s budget, and with `workers`, the tiled levels they are faster at on
    them, with more steps where `workers.more_steps` (see `workers.py`)."""
    content_layers = list(config.content_layers) if config.alpha > 0 else []
    style_layers = list(config.style_layers) if config.beta > 0 else []
    stages = _schedule(config, shape, [*content_layers, *style_layers])
    if config.anchor_side and any(side > config.anchor_side for side, _ in stages):
        _check_size("anchor", shape(config.anchor_side), [*content_layers, *style_layers], "--anchor-side (0: off)")

    def plan(stages: list[tuple[int, int]]) -> Plan:
        driver = plan_run(config, [(shape(side)[1], shape(side)[0], count) for side, count in stages], runtime)
        if workers is None:
            return driver
        return Plan(tuple(spread_level(level, config, runtime, workers) for level in driver.levels), runtime)

    planned = plan(stages)
    if workers is not None and workers.more_steps:
        alone = plan_run(config, [(level.width, level.height, level.iterations) for level in planned.levels], runtime)
        more = more_steps(stages, [one.seconds / spread.seconds if spread.workers else 1.0
                                   for one, spread in zip(alone.levels, planned.levels, strict=True)])
        if more != stages:
            stages, planned = more, plan(more)
    return stages, planned


def _objective(
    vgg: VGG19,
    current: Level,
    config: TransferConfig,
    planned: LevelPlan,
    relay: _Relay | None,
    terms: Sequence[Callable[[torch.Tensor], torch.Tensor]],
    workers: Workers | None,
) -> Objective:
    """The level's objective, whole or in the plan's blocks (`relay` hears of each block), computed
    by `workers` where the plan spreads the level, with the extra `terms` on the pixels."""
    if planned.block is None:
        return Objective(vgg, current.content, current.styles, config, current.shape, terms)
    on_block = None if relay is None else relay.on_block
    evaluator = workers.evaluator if workers is not None and planned.workers else None
    return TiledObjective(vgg, current.content, current.styles, config, current.shape, planned.block, on_block,
                          terms, evaluator)


def _level_config(config: TransferConfig, index: int, levels: int) -> TransferConfig:
    """The settings of level `index` of `levels`: the finest of several weighs the Laplacian term by
    `laplacian_finest`, so that it paints the painting's texture over the lines the coarser ones laid."""
    if index < levels - 1 or levels == 1:
        return config
    return config.replace(laplacian_weight=config.laplacian_weight * config.laplacian_finest)


class _Anchor:
    """The objective at `config.anchor_side`, of the image scaled down to that side: a larger level,
    which minimises this besides its own, adds detail at its own scale without repainting the
    strokes the painting has at that side (VGG-19's receptive fields are fixed in pixels, so alone
    the level would paint them smaller)."""

    def __init__(self, vgg: VGG19, level: Level, config: TransferConfig) -> None:
        self.objective = Objective(vgg, level.content, level.styles, config, level.shape)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.objective(F.interpolate(image, size=self.objective.image_shape, mode="area")).total


def _smaller(planned: LevelPlan, config: TransferConfig, runtime: Runtime) -> LevelPlan | None:
    """The level's plan in blocks half the size (or, untiled, half its longest side), None if under
    `ALIGN` px: a recovery goes below the planner's smallest blocks rather than fail."""
    side = (planned.block or max(planned.width, planned.height)) // 2 // ALIGN * ALIGN
    if side < ALIGN:
        return None
    unbounded = dataclasses.replace(runtime, budget=2**62)
    smaller = plan_level(planned.width, planned.height, planned.iterations, unbounded,
                         config.replace(history_size=planned.history), side)
    # The history stays where the plan put it.
    return None if smaller is None else dataclasses.replace(smaller, host_bytes=planned.host_bytes)


class _Relay:
    """Passes the events of level `index` on to `callback`, counted over the whole schedule, and
    tells it of each block a tiled level computes: the last event again (in the level's first step,
    `previous`, the last of the level before), with `block` set, and `image` the one being optimised
    (the last event's is not kept, so that it is not one more image-sized tensor while the blocks
    are computed)."""

    def __init__(
        self,
        callback: ProgressCallback,
        config: TransferConfig,
        plan: Plan,
        index: int,
        steps_before: int,
        elapsed_before: float,
        finish: Callable[[torch.Tensor], torch.Tensor],
        image: torch.Tensor,
        previous: Progress | None,
    ) -> None:
        self.callback, self.config, self.plan, self.index = callback, config, plan, index
        self.steps_before, self.elapsed_before, self.finish, self.image = steps_before, elapsed_before, finish, image
        self.started = time.perf_counter()
        self.last = None if previous is None else dataclasses.replace(previous, image=image, level=index + 1)
        # The plan's predicted times weigh the levels (and blocks cost more per pixel) in the ETA.
        self.costs = [level.seconds for level in plan.levels]
        self.total = sum(level.iterations for level in plan.levels)
        planned = plan.levels[index]
        self.level_steps_before = steps_before - sum(level.iterations for level in plan.levels[:index])
        self.per_step = self.costs[index] / max(planned.iterations, 1)

    def _work(self, steps: float) -> float:
        return (sum(self.costs[: self.index]) + self.per_step * (self.level_steps_before + steps)) / \
            max(sum(self.costs), 1e-9)

    def __call__(self, event: Progress) -> bool | None:
        relayed = dataclasses.replace(
            event, step=self.steps_before + event.step, total=self.total,
            elapsed=self.elapsed_before + event.elapsed, image=self.finish(event.image), level=self.index + 1,
            levels=len(self.plan.levels), work=self._work(event.step))
        self.last = dataclasses.replace(relayed, image=self.image)
        return self.callback(relayed)

    def on_block(self, block: int, blocks: int) -> bool | None:
        """Tells the callback of a block; its answer (True: stop) stops the run within the iteration."""
        if self.last is None:
            return None
        done = self.last.step - self.steps_before
        elapsed = self.elapsed_before + time.perf_counter() - self.started
        return self.callback(dataclasses.replace(self.last, elapsed=elapsed, block=block, blocks=blocks,
                                          work=self._work(done + (block - 1) / blocks)))


def _schedule(
    config: TransferConfig, shape: Callable[[int], tuple[int, int]], layers: list[str]
) -> list[tuple[int, int]]:
    """`config.stages()`, with an automatic schedule's levels too small for `layers` merged into the
    first that is large enough."""
    stages = config.stages()
    if config.levels is not None or not layers:
        return stages
    needed = min_input_side(layers)
    while len(stages) > 1 and min(shape(stages[0][0])) < needed:
        (_, count), (side, next_count) = stages[0], stages[1]
        stages = [(side, count + next_count), *stages[2:]]
    return stages


def _check_sizes(level: Level, content_layers: list[str], style_layers: list[str]) -> None:
    _check_size("output" if level.content is None else "content", level.shape,
                [*content_layers, *style_layers], "--size")
    for style in level.styles:
        _check_size("style", (style.image.shape[-2], style.image.shape[-1]), style_layers, "--size or --style-scale")


def _check_size(role: str, shape: tuple[int, int], layers: list[str], option: str) -> None:
    if not layers:
        return
    deepest = max(layers, key=lambda name: min_input_side([name]))
    needed = min_input_side([deepest])
    height, width = shape
    if min(height, width) < needed:
        raise ImageError(
            f"the {role} image is {width}x{height} px, too small for {deepest}, which needs at least "
            f"{needed} px on each side: raise {option}{' or lower --levels' if role in ('content', 'output') else ''}"
        )


def _initial_image(
    config: TransferConfig,
    shape: tuple[int, int],
    device: torch.device,
    content: torch.Tensor | None,
    styles: list[StyleImage],
) -> torch.Tensor:
    if config.init == "noise":
        # White noise around mid-grey, drawn on the CPU so a seed gives the same start on any device.
        assert config.seed is not None, "a seed is drawn before the optimisation"
        generator = torch.Generator().manual_seed(config.seed)
        return (0.5 + 0.1 * torch.randn((1, 3, *shape), generator=generator)).to(device)
    if config.init == "content" and content is not None:
        return content.clone()
    if config.init == "style" and styles:
        return F.interpolate(styles[0].image, size=shape, mode="bilinear", antialias=True, align_corners=False)
    if config.init in INIT_MODES:
        raise ConfigError(f"init {config.init!r} needs a {config.init} image")
    image = load_image(config.init, config.max_pixels, "init")
    return to_tensor(image.resize((shape[1], shape[0]), Image.Resampling.LANCZOS), device)
