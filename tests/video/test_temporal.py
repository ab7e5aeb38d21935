"""The temporal loss and its long-term weights."""

import pytest
import torch
import torch.nn.functional as F

from impasto.video.temporal import TemporalLoss, TemporalTarget, closest_first


def test_closest_first_ties_each_pixel_to_the_nearest_visible_frame() -> None:
    c1 = torch.tensor([1.0, 0.0, 0.0, 0.5])
    c2 = torch.tensor([1.0, 1.0, 0.0, 1.0])
    c4 = torch.tensor([1.0, 1.0, 1.0, 1.0])
    assert [w.tolist() for w in closest_first([c1, c2, c4])] == [[1, 0, 0, 0.5], [0, 1, 0, 0.5], [0, 0, 1, 0]]


def test_zero_at_the_target_and_only_where_trusted() -> None:
    target = torch.rand(1, 3, 8, 12)
    weight = torch.zeros(1, 1, 8, 12)
    weight[..., :6] = 1
    loss = TemporalLoss([TemporalTarget(target, weight)], weight=10.0)
    assert loss(target).item() == 0
    moved = target.clone()
    moved[..., 6:] += 0.3  # only where the weight is 0
    assert loss(moved).item() == 0
    moved[..., 0, 0] += 0.5
    assert loss(moved).item() == pytest.approx(10 * 3 * 0.25 / target.pow(2).sum().item(), rel=1e-5)


def test_relative_loss_is_the_same_at_any_size() -> None:
    small = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    large = F.interpolate(small, scale_factor=4, mode="nearest")
    ones = torch.ones(1, 1, 1, 1)
    losses = [TemporalLoss([TemporalTarget(t, ones.expand(1, 1, *t.shape[-2:]))], 1.0)(t * 0.9).item()
              for t in (small, large)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    assert losses[0] == pytest.approx(0.01, rel=1e-5)  # the relative squared error of 10% less
    paper = TemporalLoss([TemporalTarget(small, ones.expand(1, 1, 16, 16))], 1.0, relative=False)
    assert paper(small + 0.1).item() == pytest.approx(0.01, rel=1e-4)  # 1/D sum (x - w)^2
