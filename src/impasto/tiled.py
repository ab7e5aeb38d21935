"""The objective evaluated block by block: the same loss and pixel gradient as `Objective`, up to float
rounding, in the memory of one block's activations (Galerne, Raad, Lezama & Morel, "Scaling
Painting Style Transfer", EGSR 2024).

Every style statistic is a sum over the positions of a layer: the Gram matrix G = sum_p f_p f_p^T,
and for 'w2' the weighted sums S0 = sum w_p, S1 = sum w_p f_p, S2 = sum w_p f_p f_p^T (masks weigh the
positions by their guide). The content loss and TV are sums over positions too. So an evaluation is:

1. pass 1, without gradients: each block's features at the positions it owns; their statistics
   summed over the blocks give the image's, hence the style loss, and (by autograd on those few
   C x C matrices) dL/dS, the loss's slope with respect to each statistic;
2. pass 2: each block again, with gradients, back-propagating the surrogate sum <dL/dS, S_block> +
   its content and TV terms, whose gradient with respect to the block's features is exactly the
   full loss's (the global statistics held fixed); its pixel gradient is added into the image's.

**Blocks and halo.** A block owns a rectangle of pixels; its edges lie on multiples of 16 px (the
stride of pool4, the coarsest grid of the layers impasto uses), except at the image's right and
bottom edges. So at a layer of stride s (1, 2, 4, 8, 16) the block owns the positions whose top-left
pixel it owns: every position of the image's feature map belongs to exactly one block, and the
pools of a crop align with the image's. The network runs on the block's crop: its rectangle grown
by a halo on each side (clipped at the image's edges, where the crop's zero padding is the
image's). A position's response is wrong only within the halo's reach of a crop edge inside the
image: a 3x3 convolution adds one position of wrong values, a 2x2 pool halves them (rounding up).
Up to conv5_1 that is 5 positions at stride 16, 80 px; up to conv4_2, 5 at stride 8, 40 px, rounded
up to 48 so the crop stays on the 16 px grid (`halo`). Each block back-propagates only from the
positions it owns, whose responses are exact functions of its crop's pixels, so the whole crop's
pixel gradient is exact and is added in full. A crop is its block plus up to 2 x 80 px each way.

The cost: pass 1 is a forward, pass 2 a forward and a backward, over the crops: about 1.5 x the
untiled evaluation times the crops' overlap ((block + 2 halo) / block)^2 where the halos are inside
the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from .config import TransferConfig
from .errors import ConfigError, Interrupted
from .losses import at_least_float32, content_loss, gaussian_w2, gram_matrix, style_layer_loss
from .objective import LayerStatistics, LossTerms, Objective, StyleImage, _StyleTarget
from .vgg import LAYERS, VGG19

__all__ = [
    "ALIGN",
    "Block",
    "BlockEvaluator",
    "Blockwise",
    "LocalBlocks",
    "Slopes",
    "Sums",
    "TiledObjective",
    "blocks",
    "check_tileable",
    "edges",
    "halo",
    "stride",
]

ALIGN = 16
"""px: block edges and halos are multiples of this, the stride of the deepest pooling used (pool4)."""

BlockCallback = Callable[[int, int], bool | None]
"""Told (block, blocks) before each block is computed, counted over both passes, 1-based; returning
True stops the evaluation there (`Interrupted` is raised, without an image: the optimiser has it)."""


def stride(layer: str) -> int:
    """Pixels between neighbouring positions of `layer` (canonical name): 2 ** the pools before it."""
    return 2 ** sum(name.startswith("pool") for name in LAYERS[: LAYERS.index(layer) + 1])


def check_tileable(layers: Sequence[str]) -> None:
    """Refuse layers whose positions lie further apart than the blocks' grid (pool5's, 32 px): a block
    edge could cut one of their positions in two.

    Raises:
        ConfigError: naming the layer and the way out.
    """
    for name in layers:
        if stride(name) > ALIGN:
            raise ConfigError(
                f"{name} cannot be computed in blocks: its positions are {stride(name)} px apart, the blocks' grid "
                f"{ALIGN} px; use layers up to conv5_4, or a --memory-budget (and no --tile-size) that runs every "
                f"level whole"
            )


def halo(layers: Sequence[str]) -> int:
    """The margin, in px (a multiple of `ALIGN`), that makes the responses of `layers` exact at every
    position a block owns (see the module's docstring)."""
    deepest = max(LAYERS.index(name) for name in layers)
    wrong = 0  # positions from a crop edge whose responses differ from the image's
    for name in LAYERS[: deepest + 1]:
        wrong = wrong + 1 if name.startswith("conv") else math.ceil(wrong / 2)
    margin = wrong * stride(LAYERS[deepest])
    return ALIGN * math.ceil(margin / ALIGN)


@dataclass(frozen=True)
class Block:
    """A rectangle of pixels a block owns, [top, bottom) x [left, right), and its crop, the region
    the network runs on (the rectangle with its halo, within the image)."""

    top: int
    bottom: int
    left: int
    right: int
    crop_top: int
    crop_bottom: int
    crop_left: int
    crop_right: int

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """The crop of `image` (N, C, H, W)."""
        return image[..., self.crop_top: self.crop_bottom, self.crop_left: self.crop_right]

    def owned(self, feature: torch.Tensor, layer: str) -> torch.Tensor:
        """The positions this block owns of `feature` (N, C, h, w), `layer`'s responses to the crop."""
        s = stride(layer)
        return feature[..., (self.top - self.crop_top) // s: (self.bottom - self.crop_top) // s,
                       (self.left - self.crop_left) // s: (self.right - self.crop_left) // s]

    def owned_of_image(self, feature: torch.Tensor, layer: str) -> torch.Tensor:
        """The positions this block owns of `feature` (N, C, h, w), `layer`'s map of the whole image."""
        s = stride(layer)
        return feature[..., self.top // s: self.bottom // s, self.left // s: self.right // s]


def edges(length: int, size: int) -> list[int]:
    """The edges of the blocks along one side of `length` px: about `size` px apart, as equal as the
    16 px grid allows, from 0 to `length`."""
    count = max(1, math.ceil(length / size))
    cells = length / ALIGN
    inner = {ALIGN * round(cells * i / count) for i in range(1, count)}
    return [0, *sorted(edge for edge in inner if 0 < edge < length), length]


def blocks(shape: tuple[int, int], size: int, margin: int) -> list[Block]:
    """The blocks that cover an image of `shape` (H, W), about `size` px each way (see `edges`),
    with crops grown by `margin` px."""
    height, width = shape
    rows, columns = edges(height, size), edges(width, size)
    return [
        Block(top, bottom, left, right, max(0, top - margin), min(height, bottom + margin),
              max(0, left - margin), min(width, right + margin))
        for top, bottom in zip(rows, rows[1:], strict=False)
        for left, right in zip(columns, columns[1:], strict=False)
    ]


class Blockwise:
    """What computing a block takes besides the network, its crop and its content targets: the
    weights, the layers, the style targets (a few MB) and the content norms, and nothing image-sized
    but the masks' guides. It pickles: a worker of `impasto.cluster` is sent it once a level.

    `values`: the whole image's number of values (TV's 'relative' divisor)."""

    def __init__(self, objective: Objective, values: int) -> None:
        self.content_layers = objective.content_layers
        self.content_norms: dict[str, float] = {}
        self.style_targets = objective.style_targets
        self.layers = objective.layers
        self.style_layers = sorted({name for group in self.style_targets for name in group})
        self.content_weight, self.style_weight = objective.content_weight, objective.style_weight
        self.tv_weight, self.relative, self.values = objective.tv_weight, objective.relative, values

    def content_targets(self, vgg: VGG19, crop: torch.Tensor, block: Block) -> dict[str, torch.Tensor]:
        """The content image's responses at the positions `block` owns, from its `crop`, in the
        network's precision."""
        with torch.no_grad():
            return {name: f.clone() for name, f in _features(vgg, crop, block, list(self.content_layers)).items()}

    def norm_parts(self, targets: dict[str, torch.Tensor]) -> dict[str, float]:
        """The block's share of each content layer's norm (its targets' 0.5 sum of squares)."""
        return {name: 0.5 * at_least_float32(target).pow(2).sum().item() for name, target in targets.items()}

    def statistics(
        self, vgg: VGG19, crop: torch.Tensor, block: Block, targets: dict[str, torch.Tensor] | None
    ) -> tuple[list[dict[str, list[torch.Tensor]]], torch.Tensor, torch.Tensor]:
        """Pass 1 for one block: its share of each style target's statistics (float64), and, given
        the block's content `targets` (an evaluation without gradients), its unweighted content and
        TV terms (else zeros)."""
        layers = self.style_layers if targets is None else self.layers
        zero = torch.zeros((), dtype=torch.float64, device=crop.device)
        with torch.no_grad():
            features = _features(vgg, crop, block, layers)
            sums = [{name: [part.double() for part in _block_sums(target, features[name], block, name)]
                     for name, target in group.items()} for group in self.style_targets]
            if targets is None:
                return sums, zero, zero
            return sums, self.content(features, block, targets).double(), self.tv(crop, block).double()

    def gradient(
        self, vgg: VGG19, crop: torch.Tensor, block: Block, slopes: list[dict[str, list[torch.Tensor | None]]],
        targets: dict[str, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pass 2 for one block: the gradient of the loss with respect to its `crop`'s pixels, the
        style statistics' `slopes` held fixed, and its unweighted content and TV terms (float64)."""
        crop = crop.detach().requires_grad_(True)
        with torch.enable_grad():
            features = _features(vgg, crop, block, self.layers)
            block_content = self.content(features, block, targets)
            block_tv = self.tv(crop, block)
            surrogate = self.content_weight * block_content + self.tv_weight * block_tv
            for group, group_slopes in zip(self.style_targets, slopes, strict=True):
                for name, target in group.items():
                    parts = _block_sums(target, features[name], block, name)
                    for slope, part in zip(group_slopes[name], parts, strict=True):
                        if slope is not None:
                            surrogate = surrogate + self.style_weight * (slope.to(part.dtype) * part).sum()
            surrogate.backward()
        assert crop.grad is not None
        return crop.grad, block_content.detach().double(), block_tv.detach().double()

    def content(
        self, features: dict[str, torch.Tensor], block: Block, targets: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """The block's share of the (unweighted) content loss."""
        total = torch.zeros((), device=next(iter(features.values())).device if features else None)
        for name, target in targets.items():
            weight = self.content_layers[name]
            total = total + weight * content_loss(features[name], at_least_float32(target)) / self.content_norms[name]
        return total

    def tv(self, crop: torch.Tensor, block: Block) -> torch.Tensor:
        """The block's share of the (unweighted) TV loss, from its `crop`: the differences from each
        pixel it owns to its right and lower neighbours (the crop holds them: its halo is at least 16 px)."""
        if self.tv_weight == 0:
            return torch.zeros((), device=crop.device)
        top, left = block.crop_top, block.crop_left
        height, width = crop.shape[-2:]
        rows = slice(block.top - top, block.bottom - top)
        columns = slice(block.left - left, block.right - left)
        down = crop[..., block.top - top: min(block.bottom - top + 1, height), columns]
        across = crop[..., rows, block.left - left: min(block.right - left + 1, width)]
        tv = (across[..., 1:] - across[..., :-1]).pow(2).sum() + (down[..., 1:, :] - down[..., :-1, :]).pow(2).sum()
        return tv / (self.values if self.relative else 1)


Sums = list[dict[str, list[torch.Tensor]]]
"""A block's share of each style group's statistics, by layer (see `_block_sums`), in float64."""
Slopes = list[dict[str, list[torch.Tensor | None]]]
"""The loss's slope with respect to each statistic of `Sums` (None: a statistic it does not use)."""
Told = Callable[[], None]
"""Called as each block's result is taken (it may raise `Interrupted`)."""


class BlockEvaluator(Protocol):
    """Where a tiled level's blocks are computed: in this process (`LocalBlocks`), or on workers
    (`impasto.cluster.RayBlocks`). Each method yields its blocks' results in block order, whatever
    order they were computed in, so that the objective adds them up as one process would."""

    def start(self, work: Blockwise, grid: Sequence[Block], content: torch.Tensor | None) -> list[dict[str, float]]:
        """A new level: hold `work` and the content targets of `grid`'s blocks, made from `content`
        (1, 3, H, W) (none if None); returns each block's share of the content norms, in block
        order. `work.content_norms` is set from them before the first evaluation."""
        ...

    def statistics(self, image: torch.Tensor, grid: Sequence[Block], terms: bool,
                   told: Told) -> Iterator[tuple[Sums, torch.Tensor, torch.Tensor]]:
        """Pass 1 over `image`'s blocks (`Blockwise.statistics`; with `terms`, their content and TV)."""
        ...

    def gradients(self, image: torch.Tensor, grid: Sequence[Block], slopes: Slopes,
                  told: Told) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Pass 2 over `image`'s blocks, after `statistics` on the same image (`Blockwise.gradient`)."""
        ...


class LocalBlocks:
    """The blocks computed one after another in this process, with `vgg`."""

    def __init__(self, vgg: VGG19) -> None:
        self.vgg = vgg
        self.work: Blockwise | None = None
        self.targets: dict[tuple[int, int], dict[str, torch.Tensor]] = {}
        """The content targets of each block, by its top left corner."""

    def start(self, work: Blockwise, grid: Sequence[Block], content: torch.Tensor | None) -> list[dict[str, float]]:
        self.work, self.targets = work, {}
        if content is None or not work.content_layers:
            return []
        self.targets = {(block.top, block.left): work.content_targets(self.vgg, block.crop(content), block)
                        for block in grid}
        return [work.norm_parts(targets) for targets in self.targets.values()]

    def statistics(self, image: torch.Tensor, grid: Sequence[Block], terms: bool,
                   told: Told) -> Iterator[tuple[Sums, torch.Tensor, torch.Tensor]]:
        assert self.work is not None
        for block in grid:
            told()
            yield self.work.statistics(self.vgg, block.crop(image), block, self._targets(block) if terms else None)

    def gradients(self, image: torch.Tensor, grid: Sequence[Block], slopes: Slopes,
                  told: Told) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        assert self.work is not None
        for block in grid:
            told()
            yield self.work.gradient(self.vgg, block.crop(image), block, slopes, self._targets(block))

    def _targets(self, block: Block) -> dict[str, torch.Tensor]:
        return self.targets[block.top, block.left] if self.targets else {}


class TiledObjective(Objective):
    """`Objective` computed block by block: the same targets, loss and pixel gradient, in the memory
    of one block's activations. The arguments are `Objective`'s, and `block`, the blocks' side in px
    (rounded up to a multiple of `ALIGN`); `on_block` is told before each block is computed (as each
    block's result is taken, where `evaluator` computes them elsewhere: by default `LocalBlocks`,
    in this process). The content targets are the evaluator's: this process holds them only where
    it computes the blocks."""

    def __init__(
        self,
        vgg: VGG19,
        content: torch.Tensor | None,
        styles: Sequence[StyleImage],
        config: TransferConfig,
        image_shape: tuple[int, int],
        block: int,
        on_block: BlockCallback | None = None,
        terms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
        evaluator: BlockEvaluator | None = None,
    ) -> None:
        self.block = ALIGN * math.ceil(max(block, ALIGN) / ALIGN)
        self.on_block = on_block
        self.evaluator = LocalBlocks(vgg) if evaluator is None else evaluator
        used = [*(config.content_layers if config.alpha > 0 else ()),
                *(config.style_layers if config.beta > 0 and styles else ())]
        check_tileable(used)
        self.margin = halo(used) if used else ALIGN  # TV alone needs one pixel past the block
        super().__init__(vgg, content, styles, config, image_shape, terms)
        self.work = Blockwise(self, 3 * image_shape[0] * image_shape[1])
        parts = self.evaluator.start(self.work, blocks(image_shape, self.block, self.margin),
                                     content if self.content_layers else None)
        # Summed in block order, whatever computed the blocks.
        self.work.content_norms = {name: sum(part[name] for part in parts) if self.relative else 1.0
                                   for name in self.content_layers}
        self.content_norms = self.work.content_norms

    # Targets: the style images' statistics, block by block; the content's are the evaluator's.

    def _blocks(self, image: torch.Tensor) -> list[Block]:
        return blocks((image.shape[-2], image.shape[-1]), self.block, self.margin)

    def _content_targets(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        return {}  # made by the evaluator, for the blocks it computes (see __init__)

    def _statistics(self, image: torch.Tensor, layers: list[str]) -> dict[str, LayerStatistics]:
        # Sums over the blocks, in float64: G (1, C, C), sum f (C,), and the number of positions.
        dtype = at_least_float32(image).dtype
        sums: dict[str, list[torch.Tensor]] = {}
        for block in self._blocks(image):
            with torch.no_grad():
                features = _features(self.vgg, block.crop(image), block, layers)
            for name, f in features.items():
                f = at_least_float32(f)
                parts = [gram_matrix(f).double(), f.sum((0, 2, 3)).double(), torch.tensor(float(f[0, 0].numel()))]
                sums[name] = parts if name not in sums else [a + b for a, b in zip(sums[name], parts, strict=True)]
        statistics = {}
        for name, (gram, first, count) in sums.items():
            mean = first / count
            cov = gram[0] / count - torch.outer(mean, mean)
            w2 = (mean.to(dtype), cov.to(dtype)) if self.w2 else (None, None)
            statistics[name] = LayerStatistics((gram / count).to(dtype), *w2)
        return statistics

    # The loss and its gradient.

    def __call__(self, image: torch.Tensor) -> LossTerms:
        """Loss of `image`, (1, 3, H, W) in [0, 1], with its breakdown (no graph: see `evaluate`)."""
        with torch.no_grad():
            return self._evaluate(image, gradient=False)

    def evaluate(self, image: torch.Tensor) -> LossTerms:
        """The loss of `image` (1, 3, H, W), a leaf that requires grad, with its gradient accumulated
        into `image.grad` block by block."""
        return self._evaluate(image, gradient=True)

    def _evaluate(self, image: torch.Tensor, gradient: bool) -> LossTerms:
        grid = self._blocks(image)
        passes = (1 if self.style_targets else 0) + (1 if gradient else 0) or 1
        count = 0

        def told() -> None:
            nonlocal count
            count += 1
            if self.on_block is not None and self.on_block(count, passes * len(grid)):
                raise Interrupted(f"stopped at block {count} of {passes * len(grid)}", None, 0)

        # Pass 1: the style statistics of the whole image (and, without gradients, the other terms),
        # summed in block order.
        sums: Sums = [{} for _ in self.style_targets]
        content = tv = torch.zeros((), dtype=torch.float64, device=image.device)
        if self.style_targets or not gradient:
            for block_sums, block_content, block_tv in self.evaluator.statistics(image.detach(), grid, not gradient,
                                                                                   told):
                for group_sums, group_block in zip(sums, block_sums, strict=True):
                    for name, parts in group_block.items():
                        previous = group_sums.get(name)
                        group_sums[name] = parts if previous is None else \
                            [a + b.to(a.device) for a, b in zip(previous, parts, strict=True)]
                content, tv = content + block_content.to(content.device), tv + block_tv.to(tv.device)
        style, slopes = self._style_and_slopes(sums)

        # Pass 2: each block's share of the gradient, with the statistics' slopes held fixed, added
        # into the image's in block order.
        if gradient:
            if image.grad is None:
                image.grad = torch.zeros_like(image)
            for block, (crop_grad, block_content, block_tv) in zip(
                    grid, self.evaluator.gradients(image.detach(), grid, slopes, told), strict=True):
                block.crop(image.grad).add_(crop_grad.to(image.grad.device))
                content, tv = content + block_content.to(content.device), tv + block_tv.to(tv.device)
        dtype = at_least_float32(image).dtype
        content, style, tv = ((weight * term).to(dtype) for weight, term in
                              ((self.content_weight, content), (self.style_weight, style), (self.tv_weight, tv)))
        # The terms on the pixels need no blocks: the palette's and the edges' images are averaged down to
        # a few thousand pixels, and the extra terms (video's temporal one) compare pixels with pixels.
        if self.edges is not None:
            edges = self.edges
            content = content + self._on_pixels(lambda x: self.content_weight * edges(x), image, gradient).to(dtype)
        if self.palette is not None:
            palette = self.palette
            style = style + self._on_pixels(lambda x: self.palette_weight * palette(x), image, gradient).to(dtype)
        extra = sum((self._on_pixels(term, image, gradient).to(dtype) for term in self.terms),
                    torch.zeros((), dtype=dtype))
        return LossTerms((content + style + tv + extra).detach(), content, style, tv)

    def _on_pixels(
        self, term: Callable[[torch.Tensor], torch.Tensor], image: torch.Tensor, gradient: bool
    ) -> torch.Tensor:
        """A (weighted) term of the whole image's pixels, its gradient added into `image.grad` if asked."""
        if not gradient:
            return term(image)
        leaf = image.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = term(leaf)
            (slope,) = torch.autograd.grad(loss, leaf)
        assert image.grad is not None
        image.grad.add_(slope)
        return loss.detach()

    def _style_and_slopes(self, sums: Sums) -> tuple[torch.Tensor, Slopes]:
        """The (unweighted) style loss from the image's statistics, and its slope with respect to each."""
        style = torch.zeros((), dtype=torch.float64, device=self.vgg.mean.device)
        leaves = [{name: [part.requires_grad_(True) for part in parts] for name, parts in group.items()}
                  for group in sums]
        with torch.enable_grad():
            for group, group_leaves in zip(self.style_targets, leaves, strict=True):
                for name, target in group.items():
                    style = style + target.weight * _loss_of_sums(target, group_leaves[name]) / target.norm
            if style.requires_grad:
                style.backward()
        slopes: Slopes = [{name: [part.grad for part in parts] for name, parts in group.items()} for group in leaves]
        return style.detach(), slopes


def _features(vgg: VGG19, crop: torch.Tensor, block: Block, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """The responses at `layers` at the positions `block` owns, from its `crop`."""
    if not layers:
        return {}
    return {name: block.owned(f, name) for name, f in vgg(crop, layers).items()}


def _block_sums(target: _StyleTarget, feature: torch.Tensor, block: Block, layer: str) -> list[torch.Tensor]:
    """The statistics of a block's owned responses `feature` (1, C, h, w) that `target` needs: the
    (guided) Gram matrix, or for 'w2' the weighted sums S0, S1 and S2."""
    guide = None if target.guide is None else block.owned_of_image(target.guide, layer)
    if target.w2 is None:
        guided = feature if guide is None else feature * guide.to(feature.dtype)
        return [gram_matrix(guided)]
    flat = at_least_float32(feature).flatten(2)[0]  # (C, m)
    weights = torch.ones_like(flat[:1]) if guide is None else guide.pow(2).flatten(2)[0].to(flat.dtype)  # (1, m)
    weighted = flat * weights
    return [weights.sum(), weighted.sum(1), weighted @ flat.T]


def _loss_of_sums(target: _StyleTarget, sums: list[torch.Tensor]) -> torch.Tensor:
    """E_l, or the W2 distance, from the image's statistics (see `_block_sums`)."""
    if target.w2 is None:
        return style_layer_loss(sums[0], target.gram.double(), target.positions)
    total, first, second = sums
    mean = first / total
    cov = second / total - torch.outer(mean, mean)
    target_mean, target_root = target.w2
    return gaussian_w2(mean, cov, target_mean.double(), target_root.double())
