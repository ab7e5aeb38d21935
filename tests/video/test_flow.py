"""Optical flow, warping and the consistency check against clips with known motion."""

import numpy as np
import pytest
import torch

from impasto.errors import ConfigError
from impasto.video.flow import consistency, flow_and_mask, optical_flow, warp
from tests.video.clips import pan, sprite, zoom

BORDER = 6  # px: the flow near the frame's edge has too little image to go on


def endpoint_error(flow: np.ndarray, truth: np.ndarray) -> float:
    return float(np.linalg.norm(flow - truth, axis=-1)[BORDER:-BORDER, BORDER:-BORDER].mean())


def test_dis_flow_of_a_subpixel_pan() -> None:
    frames, truth = pan(3, step=(0.6, 0.35))
    assert endpoint_error(optical_flow(frames[2], frames[1]), truth[1]) < 0.25  # measured 0.13 px


def test_dis_flow_of_a_zoom() -> None:
    frames, truth = zoom(3, factor=1.03)
    assert endpoint_error(optical_flow(frames[2], frames[1]), truth[1]) < 0.3  # measured 0.16 px; up to 1.4 px true


def test_farneback_flow_of_a_pan() -> None:
    frames, truth = pan(3, step=(0.6, 0.35))
    assert endpoint_error(optical_flow(frames[2], frames[1], "farneback"), truth[1]) < 0.8  # measured 0.45 px


def test_unknown_flow_method() -> None:
    frames, _ = pan(2)
    with pytest.raises(ConfigError, match="dis, farneback"):
        optical_flow(frames[1], frames[0], "deepflow")


def test_consistency_finds_the_disoccluded_background() -> None:
    frames, flows, uncovered = sprite(4)
    flow, mask = flow_and_mask(frames[2], frames[1])
    assert endpoint_error(flow, flows[1]) < 1.0  # measured 0.54 px, most of it at the sprite's edges
    assert mask[uncovered[1]].mean() < 0.4  # measured 0.24: the strip the sprite left is not to be trusted
    assert mask[40:, 60:].mean() > 0.95  # the still background away from the sprite is
    assert mask.mean() > 0.8


def test_consistency_of_the_true_flow_marks_what_leaves_the_frame() -> None:
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = 3.0  # every pixel moves 3 px right: the last three columns leave the frame
    mask = consistency(flow, -flow, blur=0)
    assert (mask[:, :-3] == 1).all() and (mask[:, -3:] == 0).all()


def test_consistency_marks_motion_boundaries() -> None:
    flow = np.zeros((20, 30, 2), np.float32)
    flow[:, 15:, 1] = 2.0  # the right half moves down: a motion boundary at column 15
    back = -flow.copy()
    mask = consistency(flow, back, blur=0)
    assert (mask[2:-3, 14:16] == 0).all() and (mask[:, :12] == 1).all()


def test_warp_brings_the_previous_frame_into_this_one() -> None:
    frames, truth = pan(3, step=(2.4, 1.3))
    previous, current = (torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in frames[1:])
    warped = warp(previous, truth[1])
    error = (warped - current).abs()[..., BORDER:-BORDER, BORDER:-BORDER].mean()
    assert error < 0.3 * (previous - current).abs()[..., BORDER:-BORDER, BORDER:-BORDER].mean()
